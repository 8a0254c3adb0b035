# VPIN volume buckets (Easley, Lopez de Prado & O'Hara 2012, eq. 9) as a plain C struct plus
# inline functions, so the feature kernel can embed VPIN by value, like the rolling statistics.
#
# Input is one row at a time: a volume and the fraction of it that was bought (1 / 0 for a taker
# buy / sell, the tick rule's sign, or a bulk-volume-classification probability). A row fills the
# current bucket and carries its overflow into the next one(s); every piece keeps the row's
# fraction. A bucket is complete once it holds at least V - eps (eps = 1e-9 V, so float sizes that
# sum to V up to rounding close it). VPIN = sum of the last n imbalances |V^S - V^B| / sum of the
# same n buckets' volumes (= n V up to eps); NaN until n buckets are complete. The running sums
# are recomputed exactly every n buckets, so their drift never outlives one window.
from libc.stdint cimport int64_t
from libc.stdlib cimport malloc, free
from libc.math cimport NAN, fabs
from ofi._core.rolling cimport alloc_pair, free_pair


ctypedef struct VpinState:
    double bucket_volume    # V
    double eps              # 1e-9 * V
    double cur_v            # volume in the open bucket
    double cur_b            # buy volume in the open bucket
    double* imb             # ring: |V^S - V^B| of the last n completed buckets
    double* vol             # ring: volumes of the same buckets
    Py_ssize_t n            # window length in buckets
    Py_ssize_t head         # next ring slot
    Py_ssize_t since        # replacements since the ring sums were last recomputed
    int64_t buckets         # completed buckets so far
    double sum_imb
    double sum_vol
    double last_buy         # V^B of the bucket completed last
    double last_sell        # V^S of the bucket completed last
    double vpin             # VPIN after the bucket completed last (NaN while buckets < n)


# Where a batch driver wants one row per completed bucket; a NULL VpinOut* writes nothing.
# `count` keeps counting past `cap` (nothing is written there), so a driver can detect overflow.
ctypedef struct VpinOut:
    double* buy
    double* sell
    double* imbalance
    double* vpin
    int64_t* end_index
    Py_ssize_t cap
    Py_ssize_t count


cdef inline int vpin_init(VpinState* s, double bucket_volume, Py_ssize_t n) except -1:
    if not (bucket_volume > 0.0) or n < 1:
        from ofi.errors import InvalidInputError
        raise InvalidInputError(f"bucket_volume must be > 0 and n >= 1, got {bucket_volume!r}, {n}")
    alloc_pair(&s.imb, &s.vol, n)
    s.bucket_volume = bucket_volume
    s.eps = 1e-9 * bucket_volume
    s.n = n
    vpin_reset(s)
    return 0


cdef inline void vpin_free(VpinState* s) noexcept nogil:
    free_pair(&s.imb, &s.vol)


cdef inline void vpin_reset(VpinState* s) noexcept nogil:
    s.cur_v = 0.0
    s.cur_b = 0.0
    s.head = 0
    s.since = 0
    s.buckets = 0
    s.sum_imb = 0.0
    s.sum_vol = 0.0
    s.last_buy = NAN
    s.last_sell = NAN
    s.vpin = NAN


cdef inline void _vpin_recompute(VpinState* s) noexcept nogil:
    cdef Py_ssize_t i
    cdef double a = 0.0, b = 0.0
    for i in range(s.n):
        a += s.imb[i]
        b += s.vol[i]
    s.sum_imb = a
    s.sum_vol = b
    s.since = 0


cdef inline void _vpin_close(VpinState* s) noexcept nogil:
    """Complete the open bucket: push its imbalance into the ring and update VPIN."""
    cdef double buy = s.cur_b, v = s.cur_v
    cdef double sell = v - buy
    cdef double x = fabs(sell - buy)
    cdef double r
    if s.buckets < s.n:
        s.sum_imb += x
        s.sum_vol += v
    else:
        s.sum_imb += x - s.imb[s.head]
        s.sum_vol += v - s.vol[s.head]
        s.since += 1
    s.imb[s.head] = x
    s.vol[s.head] = v
    s.head += 1
    if s.head == s.n:
        s.head = 0
    if s.since >= s.n:
        _vpin_recompute(s)
    s.buckets += 1
    s.last_buy = buy
    s.last_sell = sell
    s.cur_v = 0.0
    s.cur_b = 0.0
    if s.buckets >= s.n:
        # Each imbalance is <= its bucket's volume; clamping only removes rounding of the sums.
        r = s.sum_imb / s.sum_vol
        if r > 1.0:
            r = 1.0
        elif not (r >= 0.0):
            r = 0.0
        s.vpin = r
    else:
        s.vpin = NAN


cdef inline Py_ssize_t vpin_add(VpinState* s, double volume, double buy_fraction, int64_t row,
                                VpinOut* out) noexcept nogil:
    """Add one row (volume >= 0, buy_fraction in [0, 1]; the caller checks both) and return how
    many buckets it completed; with ``out`` set, append one entry per completed bucket, tagged
    with ``row``. The last completed bucket is also left in ``s.last_*`` / ``s.vpin``."""
    cdef double rem = volume, room, take
    cdef double V = s.bucket_volume
    cdef Py_ssize_t k = 0, j
    # Fast path: the row fits in the open bucket without completing it.
    if s.cur_v + volume < V - s.eps:
        s.cur_v += volume
        s.cur_b += buy_fraction * volume
        return 0
    while rem > 0.0:
        room = V - s.cur_v
        take = rem if rem < room else room
        s.cur_v += take
        s.cur_b += buy_fraction * take
        rem -= take
        if s.cur_v >= V - s.eps:
            _vpin_close(s)
            k += 1
            if out != NULL:
                j = out.count
                if j < out.cap:
                    out.buy[j] = s.last_buy
                    out.sell[j] = s.last_sell
                    out.imbalance[j] = fabs(s.last_sell - s.last_buy)
                    out.vpin[j] = s.vpin
                    out.end_index[j] = row
                out.count = j + 1
    return k


cdef inline double vpin_progress(const VpinState* s) noexcept nogil:
    """Fill of the open (incomplete) bucket as a fraction of V, in [0, 1)."""
    return s.cur_v / s.bucket_volume
