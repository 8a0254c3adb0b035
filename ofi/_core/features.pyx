"""The feature kernel: every feature of ``ofi.features`` in one compiled pass.

One ``FeatureKernel`` holds the whole state (time windows, bars, rolling statistics, VPIN, the
integrated-OFI weights). Its three event functions (``_on_book``, ``_on_trade``, ``_extract``) are
plain C; the streaming methods (``update_book``, ``update_trade``, ``extract_into``) and the batch
driver (``transform_into``, a nogil loop over a tape) call the very same functions in the same
order, so live and batch feature matrices are identical bit for bit. The definitions are in
``ofi/features/registry.py`` (and docs/features.md); ``_extract`` writes each feature to its named
slot ``out[F_<SLOT>]`` from ``feature_slots.pxd``, which is generated from the registry
(``python -m ofi.features --slots``), so the kernel has no slot order of its own.
"""
cimport cython
from libc.stdint cimport int64_t, int8_t
from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memset, memmove, memcpy
from libc.math cimport NAN, INFINITY, sqrt, log, fabs, isnan

import numpy as np
cimport numpy as cnp

from ofi._core.book cimport OrderBook, Side, LevelSrc, MsgMeta, tape_message, st_fatal, book_quoted, ST_NOMEM
from ofi._core.events cimport TapeRow, Trade, KIND_BOOK, KIND_TRADE, FLAG_END, FLAG_BEGIN
from ofi._core.rolling cimport (Moments, moments_init, moments_free, moments_reset, moments_push,
                                moments_mean, moments_var, moments_zscore, OLS, OLSFit, ols_init,
                                ols_free, ols_reset, ols_push, ols_fit)
from ofi._core.flow cimport level_ofi, VARIANT_CKS
# F_<SLOT> (each feature's index in the vector), N_FEATURES and the group sizes, generated from the registry
from ofi._core.feature_slots cimport *
from ofi._core.vpin cimport VpinState, vpin_init, vpin_free, vpin_add, vpin_reset
from ofi._core.vpin import MAX_BUCKETS_PER_ROW
from ofi.errors import InvalidInputError

cnp.import_array()

DEF NH = 4                 # time horizons
DEF LARGE_MIN = 20         # earlier sizes before the large-trade test runs
DEF CDF_MIN = 20           # VPIN values before vpin_cdf
DEF POWER_ITERS = 20

N_FEATURE_SLOTS = N_FEATURES

# book ring columns
DEF B_E1 = 0
DEF B_EM = 1
DEF B_D1 = 2
DEF B_DM = 3
DEF B_R2 = 4
DEF B_RNZ = 5              # 1 where r != 0: a window of zero returns sums to exactly 0
DEF B_SPREAD = 6
DEF B_MID = 7
DEF B_LEVELS = 8           # then e^1 .. e^L
# trade ring columns
DEF T_SIGNED = 0
DEF T_VOL = 1
DEF T_COUNT = 2
DEF T_NOTIONAL = 3
DEF T_COLS = 4
# activity ring columns
DEF A_COUNT = 0
DEF A_BOOK = 1
DEF A_LEVELS = 2
DEF A_LAT = 3
DEF A_LATN = 4
DEF A_COLS = 5


# ------------------------------------------------------------------------------------ time windows
# Rows stamped with the clock, summed over NH right-closed windows (now - width[h], now] at once.
# Row indices are absolute (a row keeps its index while it lives; slot = index & (cap - 1)), so a
# window is just [tail[h], head). The row before tail[h] is kept too: it is the state at now - h.
# Sums are add/subtract, recomputed exactly once as many rows have left as the window holds
# (amortised O(1)), and zeroed exactly when a window empties. The add/subtract is compensated
# (Neumaier): what a large value that has since left would round away is kept in `comp`, so a
# window of small values after an outlier still sums to them.
ctypedef struct Ring:
    int64_t* ts
    double* v
    double* sum          # NH x C
    double* comp         # NH x C compensation terms; a window's sum is sum + comp
    Py_ssize_t C
    Py_ssize_t cap
    int64_t head
    int64_t base         # oldest retained row
    int64_t first        # first row of the current history
    int64_t width[NH]
    int64_t tail[NH]
    int64_t since[NH]


cdef int ring_init(Ring* r, Py_ssize_t C, const int64_t* widths) except -1:
    cdef int h
    r.C = C
    r.cap = 256
    r.ts = <int64_t*>malloc(r.cap * sizeof(int64_t))
    r.v = <double*>malloc(r.cap * C * sizeof(double))
    r.sum = <double*>calloc(2 * NH * C, sizeof(double))
    r.comp = r.sum + NH * C if r.sum != NULL else NULL
    if r.ts == NULL or r.v == NULL or r.sum == NULL:
        ring_free(r)
        raise MemoryError()
    for h in range(NH):
        r.width[h] = widths[h]
    r.head = 0
    ring_reset(r)
    return 0


cdef void ring_free(Ring* r) noexcept nogil:
    free(r.ts)
    free(r.v)
    free(r.sum)
    r.ts = NULL
    r.v = NULL
    r.sum = NULL
    r.comp = NULL


cdef void ring_reset(Ring* r) noexcept nogil:
    cdef int h
    r.base = r.head
    r.first = r.head
    for h in range(NH):
        r.tail[h] = r.head
        r.since[h] = 0
    memset(r.sum, 0, 2 * NH * r.C * sizeof(double))


cdef inline void neu_add(double* s, double* c, double x) noexcept nogil:
    cdef double t = s[0] + x
    if fabs(s[0]) >= fabs(x):
        c[0] += (s[0] - t) + x
    else:
        c[0] += (x - t) + s[0]
    s[0] = t


cdef inline double ring_sum(const Ring* r, int h, Py_ssize_t c) noexcept nogil:
    return r.sum[h * r.C + c] + r.comp[h * r.C + c]


cdef inline double* ring_totals(const Ring* r, int h, double* out) noexcept nogil:
    """The window's C sums (sum + compensation) into out; returns out."""
    cdef Py_ssize_t c
    for c in range(r.C):
        out[c] = r.sum[h * r.C + c] + r.comp[h * r.C + c]
    return out


cdef inline double* ring_row(const Ring* r, int64_t i) noexcept nogil:
    return r.v + (i & (r.cap - 1)) * r.C


cdef int ring_grow(Ring* r) noexcept nogil:
    cdef Py_ssize_t cap2 = r.cap * 2, C = r.C
    cdef int64_t i
    cdef int64_t* ts2 = <int64_t*>malloc(cap2 * sizeof(int64_t))
    cdef double* v2 = <double*>malloc(cap2 * C * sizeof(double))
    if ts2 == NULL or v2 == NULL:
        free(ts2)
        free(v2)
        return -1
    for i in range(r.base, r.head):
        ts2[i & (cap2 - 1)] = r.ts[i & (r.cap - 1)]
        memcpy(v2 + (i & (cap2 - 1)) * C, r.v + (i & (r.cap - 1)) * C, C * sizeof(double))
    free(r.ts)
    free(r.v)
    r.ts = ts2
    r.v = v2
    r.cap = cap2
    return 0


cdef int ring_push(Ring* r, int64_t ts, const double* row) noexcept nogil:
    """Append a row stamped ts (>= every earlier stamp); -1 when out of memory."""
    cdef Py_ssize_t c, C = r.C
    cdef int h
    cdef double* dst
    if r.head - r.base >= r.cap:
        if ring_grow(r) < 0:
            return -1
    r.ts[r.head & (r.cap - 1)] = ts
    dst = ring_row(r, r.head)
    memcpy(dst, row, C * sizeof(double))
    for h in range(NH):
        for c in range(C):
            neu_add(&r.sum[h * C + c], &r.comp[h * C + c], row[c])
    r.head += 1
    return 0


cdef void ring_advance(Ring* r, int64_t now) noexcept nogil:
    cdef int h
    cdef Py_ssize_t c, C = r.C
    cdef int64_t cutoff, i, t
    cdef double* s
    cdef double* k
    cdef double* row
    for h in range(NH):
        cutoff = now - r.width[h]
        t = r.tail[h]
        s = r.sum + h * C
        k = r.comp + h * C
        while t < r.head and r.ts[t & (r.cap - 1)] <= cutoff:
            row = ring_row(r, t)
            for c in range(C):
                neu_add(&s[c], &k[c], -row[c])
            t += 1
            r.since[h] += 1
        if t == r.tail[h]:
            continue
        r.tail[h] = t
        if t == r.head:
            memset(s, 0, C * sizeof(double))
            memset(k, 0, C * sizeof(double))
            r.since[h] = 0
        elif r.since[h] >= r.head - t:
            memset(s, 0, C * sizeof(double))
            memset(k, 0, C * sizeof(double))
            for i in range(t, r.head):
                row = ring_row(r, i)
                for c in range(C):
                    neu_add(&s[c], &k[c], row[c])
            r.since[h] = 0
    # widths increase, so the last window's tail is the smallest; keep the row before it
    t = r.tail[NH - 1] - 1
    if t > r.base:
        r.base = t


cdef inline int64_t ring_count(const Ring* r, int h) noexcept nogil:
    return r.head - r.tail[h]


# ------------------------------------------------------------------------------------ sorted window
# The last `cap` values in arrival order plus the same values sorted: quantiles and ranks in
# O(log n) search + O(n) memmove per push (n ~ 1000: a few hundred ns, cheap next to a trade).
ctypedef struct SortedWin:
    double* ring
    double* srt
    Py_ssize_t cap
    Py_ssize_t count
    Py_ssize_t head


cdef int sorted_init(SortedWin* w, Py_ssize_t cap) except -1:
    w.ring = <double*>malloc(cap * sizeof(double))
    w.srt = <double*>malloc(cap * sizeof(double))
    if w.ring == NULL or w.srt == NULL:
        sorted_free(w)
        raise MemoryError()
    w.cap = cap
    w.count = 0
    w.head = 0
    return 0


cdef void sorted_free(SortedWin* w) noexcept nogil:
    free(w.ring)
    free(w.srt)
    w.ring = NULL
    w.srt = NULL


cdef inline Py_ssize_t upper_bound(const double* a, Py_ssize_t n, double x) noexcept nogil:
    """First index with a[i] > x."""
    cdef Py_ssize_t lo = 0, hi = n, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef inline Py_ssize_t lower_bound(const double* a, Py_ssize_t n, double x) noexcept nogil:
    cdef Py_ssize_t lo = 0, hi = n, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef void sorted_push(SortedWin* w, double x) noexcept nogil:
    cdef Py_ssize_t j
    if w.count == w.cap:
        j = lower_bound(w.srt, w.count, w.ring[w.head])
        memmove(w.srt + j, w.srt + j + 1, (w.count - j - 1) * sizeof(double))
        w.count -= 1
    j = upper_bound(w.srt, w.count, x)
    memmove(w.srt + j + 1, w.srt + j, (w.count - j) * sizeof(double))
    w.srt[j] = x
    w.count += 1
    w.ring[w.head] = x
    w.head += 1
    if w.head == w.cap:
        w.head = 0


cdef inline double sorted_quantile(const SortedWin* w, double q) noexcept nogil:
    """numpy's default (linear) quantile of the held values."""
    cdef double pos = q * (w.count - 1)
    cdef Py_ssize_t lo = <Py_ssize_t>pos
    cdef double frac = pos - lo
    if lo + 1 >= w.count:
        return w.srt[w.count - 1]
    return w.srt[lo] + frac * (w.srt[lo + 1] - w.srt[lo])


# ------------------------------------------------------------------------------------ Roll pairs
# Trade price changes are whole ticks, so the autocovariance is kept in exact integer sums and
# rounded once: a zero covariance is exactly 0 (a float residue of -1e-16 would read as a spread of
# 2e-8 ticks after the square root). Exact while |dp| < 2^18 and the window <= 4096 pairs (every
# sum and n * sum_xy stays below 2^61); a pair with a larger change makes the value NaN while it is
# in the window.
DEF ROLL_BIG = 262144      # 2^18
ROLL_MAX_WINDOW = 4096

ctypedef struct RollPairs:
    int64_t* x
    int64_t* y
    Py_ssize_t cap
    Py_ssize_t count
    Py_ssize_t head
    Py_ssize_t big           # pairs in the window with |dx| or |dy| >= 2^18 (not in the sums)
    int64_t sx
    int64_t sy
    int64_t sxy


cdef inline bint roll_small(int64_t a, int64_t b) noexcept nogil:
    return -ROLL_BIG < a < ROLL_BIG and -ROLL_BIG < b < ROLL_BIG


cdef void roll_reset(RollPairs* r) noexcept nogil:
    r.count = 0
    r.head = 0
    r.big = 0
    r.sx = 0
    r.sy = 0
    r.sxy = 0


cdef void roll_push(RollPairs* r, int64_t a, int64_t b) noexcept nogil:
    cdef int64_t oa, ob
    if r.count == r.cap:
        oa = r.x[r.head]
        ob = r.y[r.head]
        if roll_small(oa, ob):
            r.sx -= oa
            r.sy -= ob
            r.sxy -= oa * ob
        else:
            r.big -= 1
        r.count -= 1
    r.x[r.head] = a
    r.y[r.head] = b
    if roll_small(a, b):
        r.sx += a
        r.sy += b
        r.sxy += a * b
    else:
        r.big += 1
    r.count += 1
    r.head += 1
    if r.head == r.cap:
        r.head = 0


cdef inline double roll_spread(const RollPairs* r) noexcept nogil:
    """2 sqrt(max(0, -cov)) in ticks over a full window, NaN otherwise."""
    cdef int64_t n = r.count
    cdef double cov
    if n < r.cap or r.big > 0:
        return NAN
    cov = <double>(n * r.sxy - r.sx * r.sy) / <double>(n * (n - 1))
    return 2.0 * sqrt(-cov) if cov < 0.0 else 0.0


# ------------------------------------------------------------------------------------ indicators
# Shared with ofi.features.indicators (the batch functions below).
ctypedef struct Ema:
    double alpha
    double value
    int64_t count

ctypedef struct Rsi:
    Py_ssize_t period
    int64_t count        # changes seen
    double gain          # Wilder averages once count >= period, running sums before
    double loss


cdef inline void ema_reset(Ema* e) noexcept nogil:
    e.value = NAN
    e.count = 0


cdef inline void ema_push(Ema* e, double x) noexcept nogil:
    if e.count == 0:
        e.value = x
    else:
        e.value += e.alpha * (x - e.value)
    e.count += 1


cdef inline void rsi_reset(Rsi* r) noexcept nogil:
    r.count = 0
    r.gain = 0.0
    r.loss = 0.0


cdef inline void rsi_push(Rsi* r, double change) noexcept nogil:
    cdef double g = change if change > 0.0 else 0.0
    cdef double l = -change if change < 0.0 else 0.0
    cdef double p = <double>r.period
    if r.count < r.period:
        r.gain += g
        r.loss += l
        r.count += 1
        if r.count == r.period:
            r.gain /= p
            r.loss /= p
    else:
        r.gain = (g + (p - 1.0) * r.gain) / p
        r.loss = (l + (p - 1.0) * r.loss) / p
        r.count += 1


cdef inline double rsi_value(const Rsi* r) noexcept nogil:
    cdef double s = r.gain + r.loss
    if r.count < r.period or not (s > 0.0):
        return NAN
    return 100.0 * r.gain / s


cdef inline double ema_cross(const Ema* f, const Ema* s, Py_ssize_t slow) noexcept nogil:
    if s.count < slow or s.value == 0.0:
        return NAN
    return 1e4 * (f.value - s.value) / s.value


# ------------------------------------------------------------------------------------ book reads
ctypedef struct BookView:
    const Side* bid
    const Side* ask
    bint valid
    int64_t epoch
    int64_t t
    int64_t ts_exch
    int64_t ts_local
    int64_t levels_applied
    double mid_price        # the book's mid_price(): the tick sum converted once, halved exactly


cdef inline void view_book(OrderBook book, BookView* v) noexcept nogil:
    v.bid = &book.sides[0]
    v.ask = &book.sides[1]
    v.valid = book_quoted(book)
    v.epoch = book.epoch
    v.ts_exch = book.ts_exch
    v.ts_local = book.ts_local
    v.t = book.ts_local if book.ts_local != 0 else book.ts_exch
    v.levels_applied = book.levels_applied
    v.mid_price = NAN
    if v.valid:
        v.mid_price = 0.5 * book.price_of(book.sides[0].e[book.sides[0].n - 1].key
                                          - book.sides[1].e[book.sides[1].n - 1].key)


cdef inline double z_component(double z) noexcept nogil:
    """min(max(z, 0) / 3, 1), NaN for NaN: a z-score as a toxicity component in [0, 1]."""
    if isnan(z):
        return NAN
    return min(max(z, 0.0) / 3.0, 1.0)


cdef inline int64_t floor_div(int64_t a, int64_t b) noexcept nogil:
    cdef int64_t q = a // b
    if (a % b != 0) and ((a < 0) != (b < 0)):
        q -= 1
    return q


@cython.final
cdef class FeatureKernel:
    """The feature state machine behind ``ofi.features.FeatureEngine`` (see that class)."""
    # configuration
    cdef readonly int L
    cdef int k2
    cdef int64_t H[NH]
    cdef double Hs[NH]
    cdef int64_t bar_ns
    cdef double bar_s
    cdef Py_ssize_t bar_cap
    cdef Py_ssize_t spread_window, zscore_bars, impact_bars, vol_bars, roll_window
    cdef Py_ssize_t ema_slow, momentum_short, momentum_long, pca_min
    cdef double lt_q
    cdef Py_ssize_t lt_horizon
    cdef double tox_w[6]
    # clock
    cdef bint started
    cdef readonly int64_t now
    cdef int64_t start
    cdef int64_t bar_end
    # book history
    cdef bint has_epoch
    cdef int64_t epoch
    cdef bint book_valid
    cdef int64_t n_states
    cdef int64_t hist_start
    cdef bint any_book
    cdef int64_t last_book_t
    cdef int64_t levels_seen
    cdef double* lv            # 8 L: previous bp, bq, ap, aq, current bp, bq, ap, aq
    cdef double* row           # scratch ring row
    cdef double* tot           # scratch window totals of the book ring
    cdef double prev_mid
    cdef double last_spread
    cdef double last_spread_change
    cdef double last_e1
    cdef double cum_ofi
    cdef Ring bring
    cdef Ring tring
    cdef Ring aring
    cdef Moments spread_m
    # bars
    cdef double bar_ofi1
    cdef double* bar_em
    cdef double bar_depth
    cdef int64_t bar_states
    cdef double bar_hi
    cdef double bar_lo
    cdef double bar_signed
    cdef double bar_vol
    cdef bint has_close
    cdef double prev_close
    cdef Moments ofi_bars
    cdef Moments amihud_m
    cdef Moments park_m
    cdef Moments boll_m
    cdef double boll_anchor     # first close of the history: the window holds close - anchor, so
                                # prices of ~1e6 ticks keep full precision in the moments
    cdef OLS kyle
    cdef Ema ema_f
    cdef Ema ema_s
    cdef Rsi rsi
    cdef double* closes        # ring of the last momentum_long + 1 closes
    cdef Py_ssize_t closes_n
    cdef Py_ssize_t closes_head
    # integrated-OFI weights
    cdef int64_t pca_n
    cdef double* pca_s         # L sums, L*L cross sums, L weights, L scratch, L*L covariance
    cdef double* pca_S
    cdef double* w
    cdef double* wtmp
    cdef double* cov
    cdef bint w_ok
    # trades
    cdef bint has_trade
    cdef bint has_dp
    cdef int64_t last_tprice
    cdef int64_t last_dp
    cdef int64_t last_trade_t
    cdef SortedWin sizes
    cdef SortedWin vpins
    cdef int8_t* large_ring
    cdef Py_ssize_t large_n
    cdef Py_ssize_t large_head
    cdef Py_ssize_t large_count
    cdef VpinState vp
    cdef double max_trade       # a larger trade would complete more than 1e9 VPIN buckets
    cdef RollPairs roll
    cdef double last_latency

    def __cinit__(self, int orderbook_levels, double vpin_bucket_size, Py_ssize_t vpin_num_buckets,
                  Py_ssize_t history_window, Py_ssize_t spread_window, horizons_ns, int64_t bar_ns,
                  Py_ssize_t zscore_bars, Py_ssize_t impact_bars, Py_ssize_t vol_bars, Py_ssize_t roll_window,
                  double large_trade_quantile, Py_ssize_t large_trade_horizon, Py_ssize_t ema_fast,
                  Py_ssize_t ema_slow, Py_ssize_t rsi_period, Py_ssize_t bollinger_period,
                  Py_ssize_t momentum_short, Py_ssize_t momentum_long, Py_ssize_t pca_min_bars,
                  toxicity_weights):
        # The arguments come checked from FeatureConfig; these guards keep a direct caller from
        # building a kernel that would write out of bounds.
        cdef int h
        cdef Py_ssize_t L = orderbook_levels, longest
        if L < 3 or len(horizons_ns) != NH or bar_ns <= 0 or ema_slow <= ema_fast or ema_fast < 1 \
                or momentum_long <= momentum_short or momentum_short < 1 or rsi_period < 1 \
                or min(history_window, spread_window, zscore_bars, vol_bars, bollinger_period, pca_min_bars) < 2 \
                or min(impact_bars, roll_window) < 3 or roll_window > ROLL_MAX_WINDOW or large_trade_horizon < 1 \
                or len(toxicity_weights) != 6:
            raise InvalidInputError("FeatureKernel: invalid configuration (build it from a FeatureConfig)")
        self.L = L
        self.k2 = min(5, L - 1)
        for h in range(NH):
            self.H[h] = horizons_ns[h]
            self.Hs[h] = self.H[h] / 1e9
            if self.H[h] <= 0 or (h > 0 and self.H[h] <= self.H[h - 1]):
                raise InvalidInputError("FeatureKernel: horizons must be increasing and > 0")
        for h in range(6):
            self.tox_w[h] = toxicity_weights[h]
        self.bar_ns = bar_ns
        self.bar_s = bar_ns / 1e9
        self.spread_window = spread_window
        self.zscore_bars = zscore_bars
        self.impact_bars = impact_bars
        self.vol_bars = vol_bars
        self.roll_window = roll_window
        self.ema_slow = ema_slow
        self.momentum_short = momentum_short
        self.momentum_long = momentum_long
        self.pca_min = pca_min_bars
        self.lt_q = large_trade_quantile
        self.lt_horizon = large_trade_horizon
        longest = max(zscore_bars, impact_bars, vol_bars, ema_slow, rsi_period + 1, bollinger_period,
                      momentum_long + 1)
        self.bar_cap = max(1000, 2 * longest)
        self.ema_f.alpha = 2.0 / (ema_fast + 1.0)
        self.ema_s.alpha = 2.0 / (ema_slow + 1.0)
        self.rsi.period = rsi_period

        self.lv = <double*>malloc(8 * L * sizeof(double))
        self.row = <double*>malloc((B_LEVELS + L) * sizeof(double))
        self.tot = <double*>malloc((B_LEVELS + L) * sizeof(double))
        self.bar_em = <double*>malloc(L * sizeof(double))
        self.closes = <double*>malloc((momentum_long + 1) * sizeof(double))
        self.pca_s = <double*>malloc((3 * L + 2 * L * L) * sizeof(double))
        self.large_ring = <int8_t*>malloc(large_trade_horizon * sizeof(int8_t))
        self.roll.x = <int64_t*>malloc(roll_window * sizeof(int64_t))
        self.roll.y = <int64_t*>malloc(roll_window * sizeof(int64_t))
        self.roll.cap = roll_window
        if (self.lv == NULL or self.row == NULL or self.tot == NULL or self.bar_em == NULL
                or self.closes == NULL or self.pca_s == NULL or self.large_ring == NULL
                or self.roll.x == NULL or self.roll.y == NULL):
            raise MemoryError()
        self.pca_S = self.pca_s + L
        self.w = self.pca_S + L * L
        self.wtmp = self.w + L
        self.cov = self.wtmp + L
        self.large_n = large_trade_horizon
        cdef int64_t hz[NH]
        for h in range(NH):
            hz[h] = self.H[h]
        ring_init(&self.bring, B_LEVELS + L, hz)
        ring_init(&self.tring, T_COLS, hz)
        ring_init(&self.aring, A_COLS, hz)
        moments_init(&self.spread_m, spread_window)
        moments_init(&self.ofi_bars, zscore_bars)
        moments_init(&self.amihud_m, impact_bars)
        moments_init(&self.park_m, vol_bars)
        moments_init(&self.boll_m, bollinger_period)
        ols_init(&self.kyle, impact_bars)
        sorted_init(&self.sizes, history_window)
        sorted_init(&self.vpins, history_window)
        vpin_init(&self.vp, vpin_bucket_size, vpin_num_buckets)
        self.max_trade = MAX_BUCKETS_PER_ROW * vpin_bucket_size
        self.reset()

    def __dealloc__(self):
        free(self.lv)
        free(self.row)
        free(self.tot)
        free(self.bar_em)
        free(self.closes)
        free(self.pca_s)
        free(self.large_ring)
        free(self.roll.x)
        free(self.roll.y)
        ring_free(&self.bring)
        ring_free(&self.tring)
        ring_free(&self.aring)
        moments_free(&self.spread_m)
        moments_free(&self.ofi_bars)
        moments_free(&self.amihud_m)
        moments_free(&self.park_m)
        moments_free(&self.boll_m)
        ols_free(&self.kyle)
        sorted_free(&self.sizes)
        sorted_free(&self.vpins)
        vpin_free(&self.vp)

    def reset(self):
        """Forget every event: the state of a new kernel."""
        cdef Py_ssize_t i, L = self.L
        self.started = False
        self.now = 0
        self.start = 0
        self.bar_end = 0
        self.has_epoch = False
        self.epoch = 0
        self.any_book = False
        self.last_book_t = 0
        self.levels_seen = 0
        self._restart_history()
        self.book_valid = False
        ring_reset(&self.tring)
        ring_reset(&self.aring)
        self.pca_n = 0
        memset(self.pca_s, 0, (3 * L + 2 * L * L) * sizeof(double))
        for i in range(L):
            self.w[i] = 1.0
        self.w_ok = False
        self.has_trade = False
        self.has_dp = False
        self.last_tprice = 0
        self.last_dp = 0
        self.last_trade_t = 0
        self.sizes.count = 0
        self.sizes.head = 0
        self.vpins.count = 0
        self.vpins.head = 0
        self.large_head = 0
        self.large_count = 0
        for i in range(self.large_n):
            self.large_ring[i] = -1       # not evaluated
        vpin_reset(&self.vp)
        roll_reset(&self.roll)
        self.last_latency = NAN

    # ---------------------------------------------------------------- state changes (C)
    cdef void _restart_history(self) noexcept nogil:
        ring_reset(&self.bring)
        moments_reset(&self.spread_m)
        moments_reset(&self.ofi_bars)
        moments_reset(&self.amihud_m)
        moments_reset(&self.park_m)
        moments_reset(&self.boll_m)
        ols_reset(&self.kyle)
        ema_reset(&self.ema_f)
        ema_reset(&self.ema_s)
        rsi_reset(&self.rsi)
        self.closes_n = 0
        self.closes_head = 0
        self.n_states = 0
        self.hist_start = self.now
        self.prev_mid = NAN
        self.last_spread = NAN
        self.last_spread_change = NAN
        self.last_e1 = NAN
        self.cum_ofi = 0.0
        self.has_close = False
        self.prev_close = NAN
        self._reset_bar_book()

    cdef inline void _reset_bar_book(self) noexcept nogil:
        self.bar_ofi1 = 0.0
        memset(self.bar_em, 0, self.L * sizeof(double))
        self.bar_depth = 0.0
        self.bar_states = 0
        self.bar_hi = -INFINITY
        self.bar_lo = INFINITY

    cdef void _pca_update(self) noexcept nogil:
        cdef Py_ssize_t L = self.L, i, j, it
        cdef double n = <double>self.pca_n, mx, acc, sgn
        for i in range(L):
            for j in range(L):
                self.cov[i * L + j] = (self.pca_S[i * L + j] - self.pca_s[i] * self.pca_s[j] / n) / (n - 1.0)
        for it in range(POWER_ITERS):
            mx = 0.0
            for i in range(L):
                acc = 0.0
                for j in range(L):
                    acc += self.cov[i * L + j] * self.w[j]
                self.wtmp[i] = acc
                if fabs(acc) > mx:
                    mx = fabs(acc)
            if not (mx > 0.0):
                self.w_ok = False
                return
            for i in range(L):
                self.w[i] = self.wtmp[i] / mx
        acc = 0.0
        mx = 0.0
        for i in range(L):
            acc += self.w[i]
            mx += fabs(self.w[i])
        sgn = -1.0 if acc < 0.0 else 1.0
        for i in range(L):
            self.w[i] = sgn * self.w[i] / mx
        self.w_ok = True

    cdef void _close_bar(self) noexcept nogil:
        cdef Py_ssize_t L = self.L, i, j
        cdef double close, R, hi, lo, x, Q
        if self.n_states > 0:
            close = self.prev_mid
            moments_push(&self.ofi_bars, self.bar_ofi1)
            if self.bar_states > 0:
                Q = self.bar_depth / self.bar_states
                if Q > 0.0:
                    for i in range(L):
                        self.wtmp[i] = self.bar_em[i] / Q
                    for i in range(L):
                        self.pca_s[i] += self.wtmp[i]
                        for j in range(L):
                            self.pca_S[i * L + j] += self.wtmp[i] * self.wtmp[j]
                    self.pca_n += 1
            if self.has_close:
                R = 1e4 * log(close / self.prev_close)
                ols_push(&self.kyle, self.bar_signed, R)
                if self.bar_vol > 0.0:
                    moments_push(&self.amihud_m, fabs(R) / self.bar_vol)
                rsi_push(&self.rsi, close - self.prev_close)
                hi = self.bar_hi if self.bar_hi > self.prev_close else self.prev_close
                lo = self.bar_lo if self.bar_lo < self.prev_close else self.prev_close
                x = log(hi / lo)
                moments_push(&self.park_m, x * x)
            ema_push(&self.ema_f, close)
            ema_push(&self.ema_s, close)
            if self.boll_m.count == 0:
                self.boll_anchor = close
            moments_push(&self.boll_m, close - self.boll_anchor)
            self.closes[self.closes_head] = close
            self.closes_head += 1
            if self.closes_head == self.momentum_long + 1:
                self.closes_head = 0
            if self.closes_n < self.momentum_long + 1:
                self.closes_n += 1
            self.prev_close = close
            self.has_close = True
            self._reset_bar_book()
        if self.pca_n >= self.pca_min:
            self._pca_update()
        self.bar_signed = 0.0
        self.bar_vol = 0.0

    cdef void _clock(self, int64_t t) noexcept nogil:
        cdef int64_t k, j, m
        if not self.started:
            if t == 0:          # no time at all (e.g. a message rejected before any snapshot)
                return
            self.started = True
            self.now = t
            self.start = t
            self.hist_start = t
            self.bar_end = -floor_div(-t, self.bar_ns) * self.bar_ns     # ceil to the grid
            self.bar_signed = 0.0
            self.bar_vol = 0.0
        elif t > self.now:
            self.now = t
        if self.bar_end < self.now:
            k = (self.now - self.bar_end + self.bar_ns - 1) // self.bar_ns
            m = k if k < self.bar_cap else self.bar_cap
            for j in range(m):
                self._close_bar()
            self.bar_end += k * self.bar_ns
        ring_advance(&self.bring, self.now)
        ring_advance(&self.tring, self.now)
        ring_advance(&self.aring, self.now)

    cdef int _activity(self, bint is_book, double levels, int64_t ts_exch, int64_t ts_local) noexcept nogil:
        cdef double a[A_COLS]
        if ts_exch != 0 and ts_local != 0:
            self.last_latency = (ts_local - ts_exch) / 1e6
            a[A_LAT] = self.last_latency
            a[A_LATN] = 1.0
        else:
            self.last_latency = NAN
            a[A_LAT] = 0.0
            a[A_LATN] = 0.0
        a[A_COUNT] = 1.0
        a[A_BOOK] = 1.0 if is_book else 0.0
        a[A_LEVELS] = levels
        return ring_push(&self.aring, self.now, a)

    cdef int _on_book(self, const BookView* b) noexcept nogil:
        """One book message (the book after it, valid or not); -1 when out of memory."""
        cdef Py_ssize_t L = self.L, i, nb, na
        cdef int64_t lv_new
        cdef double* pbp = self.lv
        cdef double* pbq = self.lv + L
        cdef double* pap = self.lv + 2 * L
        cdef double* paq = self.lv + 3 * L
        cdef double* bp = self.lv + 4 * L
        cdef double* bq = self.lv + 5 * L
        cdef double* ap = self.lv + 6 * L
        cdef double* aq = self.lv + 7 * L
        cdef double mid, spread, em, d1, dm, r, x
        cdef double* row = self.row
        cdef double* e = self.row + B_LEVELS      # the level OFIs go straight into the ring row
        self._clock(b.t)
        if self.started:            # a book message without any time has no "when"
            self.any_book = True
            self.last_book_t = self.now
        lv_new = b.levels_applied - self.levels_seen
        if lv_new < 0:
            lv_new = 0
        self.levels_seen = b.levels_applied
        if not b.valid:
            self.book_valid = False
            return self._activity(True, <double>lv_new, b.ts_exch, b.ts_local)
        if not self.has_epoch or b.epoch != self.epoch:
            self._restart_history()
            self.has_epoch = True
            self.epoch = b.epoch
        self.book_valid = True
        nb = b.bid.n if b.bid.n < L else L
        na = b.ask.n if b.ask.n < L else L
        dm = 0.0
        for i in range(L):
            if i < nb:
                bp[i] = <double>b.bid.e[b.bid.n - 1 - i].key
                bq[i] = b.bid.e[b.bid.n - 1 - i].size
            else:
                bp[i] = -INFINITY
                bq[i] = 0.0
            if i < na:
                ap[i] = <double>(-b.ask.e[b.ask.n - 1 - i].key)
                aq[i] = b.ask.e[b.ask.n - 1 - i].size
            else:
                ap[i] = INFINITY
                aq[i] = 0.0
            dm += bq[i] + aq[i]
        dm /= 2.0 * L
        d1 = 0.5 * (bq[0] + aq[0])
        mid = 0.5 * (bp[0] + ap[0])
        spread = ap[0] - bp[0]
        em = 0.0
        if self.n_states > 0:
            for i in range(L):
                x = level_ofi(bp[i], bq[i], ap[i], aq[i], pbp[i], pbq[i], pap[i], paq[i], VARIANT_CKS)
                e[i] = x
                em += x
            r = 1e4 * log(mid / self.prev_mid)
            self.last_spread_change = spread - self.last_spread
            self.last_e1 = e[0]
            self.cum_ofi += e[0]
        else:
            memset(e, 0, L * sizeof(double))
            r = 0.0
        row[B_E1] = e[0]
        row[B_EM] = em
        row[B_D1] = d1
        row[B_DM] = dm
        row[B_R2] = r * r
        row[B_RNZ] = 1.0 if r != 0.0 else 0.0
        row[B_SPREAD] = spread
        row[B_MID] = mid
        if ring_push(&self.bring, self.now, row) < 0:
            return -1
        moments_push(&self.spread_m, spread)
        self.bar_ofi1 += e[0]
        for i in range(L):
            self.bar_em[i] += e[i]
        self.bar_depth += dm
        self.bar_states += 1
        if mid > self.bar_hi:
            self.bar_hi = mid
        if mid < self.bar_lo:
            self.bar_lo = mid
        memcpy(self.lv, self.lv + 4 * L, 4 * L * sizeof(double))
        self.prev_mid = mid
        self.last_spread = spread
        self.n_states += 1
        return self._activity(True, <double>lv_new, b.ts_exch, b.ts_local)

    cdef int _on_trade(self, int64_t price_ticks, double size, int side, int64_t ts_exch,
                       int64_t ts_local) noexcept nogil:
        """One trade (size finite >= 0, side +1 / -1, checked by the caller); -1 when out of memory,
        -2 (nothing changed) for a size that would complete more than 1e9 VPIN buckets."""
        cdef double row[T_COLS]
        cdef double price = <double>price_ticks, signed = side * size
        cdef int64_t dp
        cdef int8_t large
        if size > self.max_trade:
            return -2
        self._clock(ts_local if ts_local != 0 else ts_exch)
        row[T_SIGNED] = signed
        row[T_VOL] = size
        row[T_COUNT] = 1.0
        row[T_NOTIONAL] = price * size
        if ring_push(&self.tring, self.now, row) < 0:
            return -1
        if self.sizes.count >= LARGE_MIN:
            large = 1 if size > sorted_quantile(&self.sizes, self.lt_q) else 0
            if self.large_ring[self.large_head] == 1:
                self.large_count -= 1
            self.large_ring[self.large_head] = large
            self.large_count += large
            self.large_head += 1
            if self.large_head == self.large_n:
                self.large_head = 0
        sorted_push(&self.sizes, size)
        if vpin_add(&self.vp, size, 1.0 if side > 0 else 0.0, 0, NULL) > 0 and not isnan(self.vp.vpin):
            sorted_push(&self.vpins, self.vp.vpin)
        if self.has_trade:
            dp = price_ticks - self.last_tprice
            if self.has_dp:
                roll_push(&self.roll, self.last_dp, dp)
            self.last_dp = dp
            self.has_dp = True
        self.last_tprice = price_ticks
        self.has_trade = True
        self.last_trade_t = self.now
        self.bar_signed += signed
        self.bar_vol += size
        return self._activity(False, 0.0, ts_exch, ts_local)

    # ---------------------------------------------------------------- the feature vector (C)
    cdef inline bint _hist_warm(self, int h) noexcept nogil:
        return self.book_valid and self.now - self.hist_start >= self.H[h]

    cdef inline bint _engine_warm(self, int h) noexcept nogil:
        return self.started and self.now - self.start >= self.H[h]

    cdef void _extract(self, const BookView* b, double* out) noexcept nogil:
        """Write the feature vector to out: each feature to its slot F_<SLOT> (feature_slots.pxd)."""
        cdef Py_ssize_t L = self.L, i, nb = 0, na = 0
        cdef int h, kk
        cdef int ks[3]
        cdef const Side* bs = b.bid
        cdef const Side* as_ = b.ask
        cdef bint bv = b.valid, hv = self.book_valid
        cdef double m = NAN, pb1 = NAN, pa1 = NAN, qb1 = NAN, qa1 = NAN, x, y, mean, n, cnt
        cdef double Db[3]
        cdef double Da[3]
        cdef double sb, sa, spb, spa, cross, pbL, paL, mu, sigma, spread_z, tox, wsum
        cdef double comp[6]
        cdef double ofi_z1, timb2, large
        cdef double tt[8]
        cdef double* s
        cdef double* prow
        cdef OLSFit f
        ks[0] = 1
        ks[1] = self.k2
        ks[2] = <int>L
        for kk in range(3):
            Db[kk] = NAN
            Da[kk] = NAN
        # ---- book shape
        if bv:
            nb = bs.n if bs.n < L else L
            na = as_.n if as_.n < L else L
            pb1 = <double>bs.e[bs.n - 1].key
            qb1 = bs.e[bs.n - 1].size
            pa1 = <double>(-as_.e[as_.n - 1].key)
            qa1 = as_.e[as_.n - 1].size
            m = 0.5 * (pb1 + pa1)
            sb = 0.0
            sa = 0.0
            kk = 0
            for i in range(nb):
                sb += bs.e[bs.n - 1 - i].size
                while kk < 3 and ks[kk] == i + 1:
                    Db[kk] = sb
                    kk += 1
            kk = 0
            for i in range(na):
                sa += as_.e[as_.n - 1 - i].size
                while kk < 3 and ks[kk] == i + 1:
                    Da[kk] = sa
                    kk += 1
        if bv:
            out[F_MID_PRICE] = b.mid_price
            out[F_SPREAD_TICKS] = pa1 - pb1
            out[F_SPREAD_BPS] = 1e4 * (pa1 - pb1) / m
            out[F_MICROPRICE_OFFSET_BPS] = 1e4 * ((pb1 * qa1 + pa1 * qb1) / (qb1 + qa1) - m) / m
        else:
            out[F_MID_PRICE] = out[F_SPREAD_TICKS] = out[F_SPREAD_BPS] = out[F_MICROPRICE_OFFSET_BPS] = NAN
        for kk in range(N_DEPTH_BID_K):
            out[F_DEPTH_BID_K1 + kk * DEPTH_BID_K_STRIDE] = Db[kk]
            out[F_DEPTH_ASK_K1 + kk * DEPTH_ASK_K_STRIDE] = Da[kk]
        for kk in range(N_DEPTH_IMBALANCE_K):
            out[F_DEPTH_IMBALANCE_K1 + kk] = (Db[kk] - Da[kk]) / (Db[kk] + Da[kk])
        # slopes, VAMP, weighted mid and gaps need L levels on both sides (on their own side)
        if bv and nb == L:
            pbL = <double>bs.e[bs.n - L].key
            out[F_BOOK_SLOPE_BID] = Db[2] / (1e4 * (m - pbL) / m)
            out[F_LEVEL_GAP_BID_TICKS] = (pb1 - pbL) / (L - 1.0)
        else:
            out[F_BOOK_SLOPE_BID] = NAN
            out[F_LEVEL_GAP_BID_TICKS] = NAN
        if bv and na == L:
            paL = <double>(-as_.e[as_.n - L].key)
            out[F_BOOK_SLOPE_ASK] = Da[2] / (1e4 * (paL - m) / m)
            out[F_LEVEL_GAP_ASK_TICKS] = (paL - pa1) / (L - 1.0)
        else:
            out[F_BOOK_SLOPE_ASK] = NAN
            out[F_LEVEL_GAP_ASK_TICKS] = NAN
        out[F_BOOK_SLOPE_LOG_RATIO] = log(out[F_BOOK_SLOPE_BID] / out[F_BOOK_SLOPE_ASK])
        if bv and nb == L and na == L:
            cross = 0.0
            spb = 0.0
            spa = 0.0
            for i in range(L):
                x = <double>bs.e[bs.n - 1 - i].key
                y = <double>(-as_.e[as_.n - 1 - i].key)
                cross += x * as_.e[as_.n - 1 - i].size + y * bs.e[bs.n - 1 - i].size
                spb += x * bs.e[bs.n - 1 - i].size
                spa += y * as_.e[as_.n - 1 - i].size
            out[F_VAMP_OFFSET_BPS] = 1e4 * (cross / (Da[2] + Db[2]) - m) / m
            out[F_WEIGHTED_MID_OFFSET_BPS] = 1e4 * (0.5 * (spb / Db[2] + spa / Da[2]) - m) / m
        else:
            out[F_VAMP_OFFSET_BPS] = NAN
            out[F_WEIGHTED_MID_OFFSET_BPS] = NAN
        # ---- order flow
        for h in range(N_OFI_H):
            out[F_OFI_H0 + h] = ring_sum(&self.bring, h, B_E1) if self._hist_warm(h) else NAN
        out[F_OFI_LAST] = self.last_e1 if hv and self.n_states >= 2 else NAN
        out[F_OFI_CUMULATIVE] = self.cum_ofi if hv and self.n_states >= 1 else NAN
        mu = NAN
        sigma = NAN
        if hv and self.ofi_bars.count == self.ofi_bars.cap:
            mu = moments_mean(&self.ofi_bars)
            sigma = sqrt(moments_var(&self.ofi_bars, 1))
        for h in range(N_OFI_ZSCORE_H):
            x = NAN
            if self._hist_warm(h) and sigma > 0.0:
                n = <double>self.H[h] / <double>self.bar_ns
                x = (ring_sum(&self.bring, h, B_E1) - n * mu) / (sigma * sqrt(n))
            out[F_OFI_ZSCORE_H0 + h] = x
        ofi_z1 = out[F_OFI_ZSCORE_H1]                       # a toxicity component
        s = ring_totals(&self.bring, 1, self.tot)
        cnt = <double>ring_count(&self.bring, 1)
        if self._hist_warm(1) and cnt > 0:
            mean = s[B_D1] / cnt
            out[F_OFI_NORMALIZED_H1] = s[B_E1] / mean if mean > 0.0 else NAN
            out[F_MLOFI_H1] = s[B_EM]
            mean = s[B_DM] / cnt
            out[F_MLOFI_NORMALIZED_H1] = s[B_EM] / (L * mean) if mean > 0.0 else NAN
            x = NAN
            if mean > 0.0 and self.w_ok and self.pca_n >= self.pca_min:
                x = 0.0
                for i in range(L):
                    x += self.w[i] * s[B_LEVELS + i]
                x /= mean
            out[F_INTEGRATED_OFI_H1] = x
        else:
            out[F_OFI_NORMALIZED_H1] = NAN
            out[F_MLOFI_H1] = s[B_EM] if self._hist_warm(1) else NAN
            out[F_MLOFI_NORMALIZED_H1] = NAN
            out[F_INTEGRATED_OFI_H1] = NAN
        # ---- trade flow
        for h in range(N_SIGNED_VOLUME_H):
            out[F_SIGNED_VOLUME_H0 + h] = ring_sum(&self.tring, h, T_SIGNED) if self._engine_warm(h) else NAN
        for h in range(1, 1 + N_TRADE_IMBALANCE_H):
            s = ring_totals(&self.tring, h, tt)
            out[F_TRADE_IMBALANCE_H1 + (h - 1)] = (s[T_SIGNED] / s[T_VOL]
                                                   if self._engine_warm(h) and s[T_VOL] > 0.0 else NAN)
        timb2 = out[F_TRADE_IMBALANCE_H2]                   # a toxicity component
        for h in range(1, 1 + N_TRADE_COUNT_H):
            out[F_TRADE_COUNT_H1 + (h - 1)] = ring_sum(&self.tring, h, T_COUNT) if self._engine_warm(h) else NAN
        out[F_TRADE_INTENSITY_H1] = ring_sum(&self.tring, 1, T_COUNT) / self.Hs[1] if self._engine_warm(1) else NAN
        s = ring_totals(&self.tring, 2, tt)
        out[F_MEAN_TRADE_SIZE_H2] = s[T_VOL] / s[T_COUNT] if self._engine_warm(2) and s[T_COUNT] > 0.0 else NAN
        large = (1.0 if self.large_count > 0 else 0.0) if self.large_ring[0] >= 0 else NAN
        out[F_LARGE_TRADE_FLAG] = large
        if bv and self._engine_warm(2) and s[T_VOL] > 0.0:
            x = s[T_NOTIONAL] / s[T_VOL]
            out[F_VWAP_DEVIATION_BPS_H2] = 1e4 * (m - x) / x
        else:
            out[F_VWAP_DEVIATION_BPS_H2] = NAN
        out[F_LAST_TRADE_OFFSET_BPS] = 1e4 * (<double>self.last_tprice - m) / m if bv and self.has_trade else NAN
        out[F_TIME_SINCE_TRADE_S] = (self.now - self.last_trade_t) / 1e9 if self.has_trade else NAN
        # ---- toxicity and impact
        out[F_VPIN] = self.vp.vpin
        out[F_VPIN_CDF] = (<double>upper_bound(self.vpins.srt, self.vpins.count, self.vp.vpin) / self.vpins.count
                           if self.vpins.count >= CDF_MIN and not isnan(self.vp.vpin) else NAN)
        if hv and self.kyle.count == self.kyle.cap:
            f = ols_fit(&self.kyle, True)
            out[F_KYLE_LAMBDA] = f.slope
            out[F_KYLE_LAMBDA_T] = f.t_stat
        else:
            out[F_KYLE_LAMBDA] = NAN
            out[F_KYLE_LAMBDA_T] = NAN
        out[F_AMIHUD] = moments_mean(&self.amihud_m) if hv and self.amihud_m.count == self.amihud_m.cap else NAN
        out[F_ROLL_SPREAD_TICKS] = roll_spread(&self.roll)
        # the toxicity index: ToxicityIndex's mapping of components computed above
        spread_z = NAN
        if hv and self.spread_m.count == self.spread_m.cap:
            spread_z = moments_zscore(&self.spread_m, self.last_spread, 1)
        comp[0] = out[F_VPIN]
        comp[1] = z_component(fabs(ofi_z1))
        comp[2] = z_component(spread_z)
        comp[3] = fabs((Db[1] - Da[1]) / (Db[1] + Da[1]))     # depth imbalance at the middle depth
        comp[4] = fabs(timb2)
        comp[5] = large
        tox = 0.0
        wsum = 0.0
        for i in range(6):
            tox += self.tox_w[i] * comp[i]
            wsum += self.tox_w[i]
        out[F_TOXICITY_INDEX] = tox / wsum
        # ---- volatility
        for h in range(1, 1 + N_REALIZED_VOL_H):
            s = ring_totals(&self.bring, h, self.tot)
            if self._hist_warm(h):
                out[F_REALIZED_VOL_H1 + (h - 1)] = sqrt(s[B_R2]) if s[B_RNZ] > 0.5 and s[B_R2] > 0.0 else 0.0
            else:
                out[F_REALIZED_VOL_H1 + (h - 1)] = NAN
        out[F_PARKINSON_VOL] = (sqrt(moments_mean(&self.park_m) / (4.0 * log(2.0))) * 1e4
                                if hv and self.park_m.count == self.park_m.cap else NAN)
        for h in range(N_MID_RETURN_H):
            if self._hist_warm(h) and self.bring.tail[h] > self.bring.first:
                prow = ring_row(&self.bring, self.bring.tail[h] - 1)
                out[F_MID_RETURN_H0 + h] = 1e4 * log(self.prev_mid / prow[B_MID])
            else:
                out[F_MID_RETURN_H0 + h] = NAN
        # ---- spread dynamics
        out[F_SPREAD_ZSCORE] = spread_z
        out[F_SPREAD_CHANGE] = self.last_spread_change if hv and self.n_states >= 2 else NAN
        if self._hist_warm(1) and self.bring.tail[1] > self.bring.first:
            prow = ring_row(&self.bring, self.bring.tail[1] - 1)
            out[F_SPREAD_CHANGE_H1] = self.last_spread - prow[B_SPREAD]
        else:
            out[F_SPREAD_CHANGE_H1] = NAN
        if hv and self.spread_m.count == self.spread_m.cap:
            out[F_SPREAD_MEAN_RATIO] = self.last_spread / moments_mean(&self.spread_m)
        else:
            out[F_SPREAD_MEAN_RATIO] = NAN
        # ---- indicators
        if hv:
            out[F_EMA_CROSSOVER_BPS] = ema_cross(&self.ema_f, &self.ema_s, self.ema_slow)
            out[F_RSI] = rsi_value(&self.rsi)
            out[F_BOLLINGER_POSITION] = (0.5 * moments_zscore(&self.boll_m, self.prev_close - self.boll_anchor, 1)
                                         if self.boll_m.count == self.boll_m.cap else NAN)
            out[F_MOMENTUM_SHORT_BPS] = self._momentum(self.momentum_short)
            out[F_MOMENTUM_LONG_BPS] = self._momentum(self.momentum_long)
        else:
            out[F_EMA_CROSSOVER_BPS] = out[F_RSI] = out[F_BOLLINGER_POSITION] = NAN
            out[F_MOMENTUM_SHORT_BPS] = out[F_MOMENTUM_LONG_BPS] = NAN
        # ---- activity
        s = ring_totals(&self.aring, 1, tt)
        if self._engine_warm(1):
            out[F_MESSAGE_RATE_H1] = s[A_COUNT] / self.Hs[1]
            out[F_BOOK_UPDATE_RATE_H1] = s[A_BOOK] / self.Hs[1]
            out[F_LEVEL_UPDATE_RATE_H1] = s[A_LEVELS] / self.Hs[1]
        else:
            out[F_MESSAGE_RATE_H1] = out[F_BOOK_UPDATE_RATE_H1] = out[F_LEVEL_UPDATE_RATE_H1] = NAN
        out[F_FEED_LATENCY_MS] = self.last_latency
        s = ring_totals(&self.aring, 2, tt)
        out[F_FEED_LATENCY_MEAN_MS_H2] = s[A_LAT] / s[A_LATN] if self._engine_warm(2) and s[A_LATN] > 0.5 else NAN
        out[F_TIME_SINCE_BOOK_S] = (self.now - self.last_book_t) / 1e9 if self.any_book else NAN

    cdef inline double _momentum(self, Py_ssize_t n) noexcept nogil:
        cdef Py_ssize_t size = self.momentum_long + 1, last, back
        if self.closes_n < n + 1:
            return NAN
        last = (self.closes_head - 1 + size) % size
        back = (self.closes_head - 1 - n + 2 * size) % size
        return 1e4 * log(self.closes[last] / self.closes[back])

    # ---------------------------------------------------------------- streaming driver
    def update_book(self, OrderBook book not None):
        """Take the book after one book message (applied, ignored or rejected)."""
        cdef BookView v
        view_book(book, &v)
        if self._on_book(&v) < 0:
            raise MemoryError()

    def update_trade(self, Trade trade not None):
        """Take one public trade."""
        cdef int rc = self._on_trade(trade.price_ticks, trade.size, trade.side, trade.ts_exch, trade.ts_local)
        if rc == -2:
            raise InvalidInputError(self._huge(trade.size))
        if rc < 0:
            raise MemoryError()

    def _huge(self, size):
        return (f"trade size {size!r} would fill more than {MAX_BUCKETS_PER_ROW:.0e} VPIN buckets of "
                f"vpin_bucket_size={self.vp.bucket_volume!r}; trade refused")

    def extract_into(self, OrderBook book not None, double[::1] out not None):
        """Write the vector for ``book`` and the current state into ``out`` (length N_FEATURE_SLOTS)."""
        cdef BookView v
        if out.shape[0] != N_FEATURES:
            raise InvalidInputError(f"out must have {N_FEATURES} slots, got {out.shape[0]}")
        view_book(book, &v)
        self._extract(&v, &out[0])

    def slots_written(self):
        """How many slots ``_extract`` writes: N_FEATURES of the slot header this build was compiled
        with (the engine compares it with the registry, which catches a build older than the registry)."""
        return N_FEATURES

    # ---------------------------------------------------------------- batch driver
    def transform_into(self, OrderBook book not None, tape, Py_ssize_t start, Py_ssize_t stop,
                       double[:, ::1] out not None, int64_t[::1] ts_out not None,
                       int8_t[::1] kind_out not None, Py_ssize_t row):
        """Run tape rows [start, stop) (a message that starts before stop runs to its end) and write one
        feature row per event from output row ``row`` on.

        Returns ``(next_tape_row, next_output_row)``. Raises on a malformed message, a bad size or
        a trade row with a bad side or size; gaps and crossed books behave as in replay_tape's
        ``on_gap="skip"`` (the book goes stale until the next snapshot, a row is still written)."""
        cdef cnp.ndarray arr = tape
        cdef Py_ssize_t n = cnp.PyArray_DIM(arr, 0)
        cdef const TapeRow* rows = <const TapeRow*>cnp.PyArray_DATA(arr)
        cdef Py_ssize_t i = start, jn, r = row, cap = out.shape[0], err_row = -1
        cdef int st, err = 0
        cdef LevelSrc src
        cdef MsgMeta meta
        cdef BookView v
        cdef double* o
        if out.shape[1] != N_FEATURES or ts_out.shape[0] < cap or kind_out.shape[0] < cap:
            raise InvalidInputError("transform_into: output arrays have the wrong shape")
        if stop > n:
            stop = n
        o = &out[0, 0]
        with nogil:
            while i < stop:
                if rows[i].kind == KIND_BOOK:
                    jn = tape_message(rows, n, i, &src, &meta)
                    if jn < 0:
                        err = -100
                        err_row = i
                        break
                if r >= cap:
                    err = -102
                    err_row = i
                    break
                if rows[i].kind == KIND_BOOK:
                    st = book.apply_message(&src, &meta)
                    if st_fatal(st):
                        err = st
                        err_row = i
                        break
                    view_book(book, &v)
                    if self._on_book(&v) < 0:
                        err = ST_NOMEM
                        err_row = i
                        break
                    kind_out[r] = KIND_BOOK
                    i = jn
                elif rows[i].kind == KIND_TRADE:
                    if not (rows[i].side == 1 or rows[i].side == -1) or not (rows[i].size >= 0.0 and rows[i].size < INFINITY):
                        err = -101
                        err_row = i
                        break
                    st = self._on_trade(rows[i].price_ticks, rows[i].size, rows[i].side, rows[i].ts_exch,
                                        rows[i].ts_local)
                    if st < 0:
                        err = ST_NOMEM if st == -1 else -104
                        err_row = i
                        break
                    kind_out[r] = KIND_TRADE
                    i += 1
                else:
                    err = -103
                    err_row = i
                    break
                view_book(book, &v)
                self._extract(&v, o + r * N_FEATURES)
                ts_out[r] = self.now
                r += 1
        if err == -100:
            raise InvalidInputError(
                f"tape row {err_row}: book message rows must run from a FLAG_BEGIN row to a FLAG_END row")
        if err == -101:
            raise InvalidInputError(f"tape row {err_row}: a trade needs side +1 or -1 and a finite size >= 0, "
                                    f"got side {rows[err_row].side}, size {rows[err_row].size}")
        if err == -102:
            raise InvalidInputError("transform_into: output rows exhausted")
        if err == -104:
            raise InvalidInputError(f"tape row {err_row}: {self._huge(rows[err_row].size)}")
        if err == -103:
            raise InvalidInputError(f"tape row {err_row}: unknown kind {rows[err_row].kind}")
        if err == ST_NOMEM:
            raise MemoryError()
        if err != 0:
            meta.u = rows[err_row].update_id
            try:
                book.raise_status(err, &meta)
            except Exception as exc:
                exc.args = (f"tape row {err_row}: {exc.args[0]}",) + exc.args[1:]
                raise
        return i, r


# ------------------------------------------------------------------------------------ indicator batch
# The same Ema / Rsi / Moments code the kernel runs on bar closes, over a whole series.
def ema_series(const double[::1] x, Py_ssize_t span):
    cdef Py_ssize_t n = x.shape[0], i
    cdef Ema e
    out = np.empty(n, dtype=np.float64)
    cdef double[::1] o = out
    e.alpha = 2.0 / (span + 1.0)
    ema_reset(&e)
    with nogil:
        for i in range(n):
            ema_push(&e, x[i])
            o[i] = e.value
    return out


def ema_crossover_series(const double[::1] x, Py_ssize_t fast, Py_ssize_t slow):
    cdef Py_ssize_t n = x.shape[0], i
    cdef Ema f, s
    out = np.empty(n, dtype=np.float64)
    cdef double[::1] o = out
    f.alpha = 2.0 / (fast + 1.0)
    s.alpha = 2.0 / (slow + 1.0)
    ema_reset(&f)
    ema_reset(&s)
    with nogil:
        for i in range(n):
            ema_push(&f, x[i])
            ema_push(&s, x[i])
            o[i] = ema_cross(&f, &s, slow)
    return out


def rsi_series(const double[::1] x, Py_ssize_t period):
    cdef Py_ssize_t n = x.shape[0], i
    cdef Rsi r
    out = np.empty(n, dtype=np.float64)
    cdef double[::1] o = out
    r.period = period
    rsi_reset(&r)
    with nogil:
        for i in range(n):
            if i > 0:
                rsi_push(&r, x[i] - x[i - 1])
            o[i] = rsi_value(&r)
    return out


def bollinger_series(const double[::1] x, Py_ssize_t period):
    cdef Py_ssize_t n = x.shape[0], i
    cdef Moments m
    out = np.empty(n, dtype=np.float64)
    cdef double[::1] o = out
    cdef double anchor = x[0] if n > 0 else 0.0     # as in the kernel: full precision at large prices
    moments_init(&m, period)
    try:
        with nogil:
            for i in range(n):
                moments_push(&m, x[i] - anchor)
                o[i] = 0.5 * moments_zscore(&m, x[i] - anchor, 1) if m.count == m.cap else NAN
    finally:
        moments_free(&m)
    return out


# ------------------------------------------------------------------------------------ inline driver
cdef int feature_step_book(object kernel, OrderBook book, double* out) except -1:
    cdef FeatureKernel k = <FeatureKernel>kernel
    cdef BookView v
    view_book(book, &v)
    if k._on_book(&v) < 0:
        raise MemoryError()
    k._extract(&v, out)
    return 0


cdef int feature_step_trade(object kernel, int64_t price_ticks, double size, int side, int64_t ts_exch,
                            int64_t ts_local) except -1:
    cdef FeatureKernel k = <FeatureKernel>kernel
    cdef int rc = k._on_trade(price_ticks, size, side, ts_exch, ts_local)
    if rc == -2:
        raise InvalidInputError(k._huge(size))
    if rc < 0:
        raise MemoryError()
    return 0
