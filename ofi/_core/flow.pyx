"""Order Flow Imbalance: per-event e_n (CKS 2014), multi-level e^m_n (XGH 2019), fixed-interval
aggregation with the depth scale Q^M (CCZ 2023); streaming classes fed by an ``OrderBook`` and the
batch loops behind ``ofi.orderflow``. Both drive the same inline kernels (flow.pxd, rolling.pxd).

Public wrappers with input checks live in ``ofi.orderflow.ofi``; the batch functions here trust
their arguments (C-contiguous float64 (n, M) arrays, int64 times, valid parameters).
"""
cimport cython
from libc.stdint cimport int64_t, uint8_t
from libc.stdlib cimport malloc, free, calloc
from libc.string cimport memcpy
from libc.math cimport NAN, INFINITY, sqrt

import numpy as np
cimport numpy as cnp

from ofi._core.book cimport OrderBook, Side, book_quoted
from ofi._core.flow cimport (VARIANT_CKS, VARIANT_CCZ, bid_flow, ask_flow, level_ofi, IntervalAcc,
                             IntervalOut)
from ofi._core.rolling cimport (
    count_arg,
    Moments, moments_init, moments_free, moments_reset, moments_push, moments_zscore, OLS, OLSFit,
    ols_init, ols_free, ols_reset, ols_push, ols_fit, TimeSum, timesum_init, timesum_free,
    timesum_reset, timesum_push, timesum_advance,
)

cnp.import_array()

cdef enum:
    MAX_WINDOWS = 8
    # A silence longer than this many intervals restarts the interval statistics instead of
    # pushing millions of empty intervals (a clock jump, a day-long outage at a 1 ms interval).
    MAX_EMPTY_INTERVALS = 1000000


from ofi._core.rolling import duration_ns


cdef int parse_variant(object variant) except -1:
    if variant == "cks":
        return VARIANT_CKS
    if variant == "ccz":
        return VARIANT_CCZ
    from ofi.errors import InvalidInputError
    raise InvalidInputError(f"variant must be 'cks' or 'ccz', got {variant!r}")


# ------------------------------------------------------------------------------------ intervals
cdef int acc_init(IntervalAcc* a, int64_t width, int M) except -1:
    a.ofi = <double*>calloc(M, sizeof(double))
    if a.ofi == NULL:
        raise MemoryError()
    a.width = width
    a.M = M
    acc_reset(a)
    return 0


cdef void acc_free(IntervalAcc* a) noexcept nogil:
    free(a.ofi)
    a.ofi = NULL


cdef void acc_reset(IntervalAcc* a) noexcept nogil:
    cdef int m
    for m in range(a.M):
        a.ofi[m] = 0.0
    a.end = 0
    a.started = False
    a.depth_sum = 0.0
    a.n_events = 0
    a.mid_seg_start = NAN
    a.mid_last = NAN
    a.dmid_done = 0.0
    a.has_mid = False


cdef inline int64_t grid_end(int64_t ts, int64_t width) noexcept nogil:
    """t_k of the interval (t_k - width, t_k] that holds ts (ts >= 0)."""
    cdef int64_t q = ts // width
    if q * width == ts:
        return ts
    return (q + 1) * width


cdef inline int64_t acc_pending(const IntervalAcc* a, int64_t ts) noexcept nogil:
    """How many intervals close before an event at ts (the open one and any empty ones)."""
    if not a.started or ts <= a.end:
        return 0
    return (ts - a.end + a.width - 1) // a.width


cdef inline void acc_close(IntervalAcc* a, IntervalOut* out, double* ofi_out) noexcept nogil:
    """Emit the open interval and open the next one (state carried)."""
    cdef int m
    out.end = a.end
    out.ofi1 = a.ofi[0]
    out.n_events = a.n_events
    out.depth = a.depth_sum / a.n_events if a.n_events > 0 else NAN
    out.dmid = a.dmid_done + (a.mid_last - a.mid_seg_start) if a.has_mid else NAN
    if ofi_out != NULL:
        for m in range(a.M):
            ofi_out[m] = a.ofi[m]
    for m in range(a.M):
        a.ofi[m] = 0.0
    a.depth_sum = 0.0
    a.n_events = 0
    a.dmid_done = 0.0
    a.mid_seg_start = a.mid_last
    a.end += a.width


cdef inline void acc_chain_start(IntervalAcc* a, double mid) noexcept nogil:
    """The first state of a chain (the very first, or after a gap / reset): no e_n, new mid base."""
    if a.has_mid:
        a.dmid_done += a.mid_last - a.mid_seg_start
    a.mid_seg_start = mid
    a.mid_last = mid
    a.has_mid = True


cdef inline void acc_event(IntervalAcc* a, const double* e, double depth, double mid) noexcept nogil:
    cdef int m
    for m in range(a.M):
        a.ofi[m] += e[m]
    a.depth_sum += depth
    a.n_events += 1
    a.mid_last = mid


# ------------------------------------------------------------------------------------ batch
cdef inline void l1_pass(const double* bp, const double* bq, const double* ap, const double* aq,
                         double* e, Py_ssize_t start, Py_ssize_t stop, int variant) noexcept nogil:
    """e[i] against row i - 1 for rows [start, stop), start >= 1, NaN where row i is not a valid
    state (bid < ask, finite prices, both sizes > 0): the answer when no row is NaN. No branch in
    the loop (the NaN is a select), so it vectorises."""
    cdef Py_ssize_t i
    cdef double d
    for i in range(start, stop):
        d = ap[i] - bp[i]       # NaN or infinite when a price is
        e[i] = (level_ofi(bp[i], bq[i], ap[i], aq[i], bp[i - 1], bq[i - 1], ap[i - 1], aq[i - 1], variant)
                + (0.0 if (d > 0.0) & (d < INFINITY) & (bq[i] > 0.0) & (aq[i] > 0.0) else NAN))


cdef inline bint any_nan(const double* e, Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    # four independent sums of e * 0 (0, or NaN from a NaN or an inf): no reduction to vectorise,
    # and no dependency chain to wait on
    cdef Py_ssize_t i = start
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    while i + 4 <= stop:
        s0 += e[i] * 0.0
        s1 += e[i + 1] * 0.0
        s2 += e[i + 2] * 0.0
        s3 += e[i + 3] * 0.0
        i += 4
    while i < stop:
        s0 += e[i] * 0.0
        i += 1
    return (s0 + s1 + s2 + s3) != 0.0 or s0 != s0 or s1 != s1 or s2 != s2 or s3 != s3


cdef inline Py_ssize_t l1_malformed(const double* bp, const double* bq, const double* ap,
                                    const double* aq, Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    """How many rows in [start, stop) are malformed (a size NaN or negative, a price infinite),
    in one vectorisable pass."""
    cdef Py_ssize_t i, bad = 0
    for i in range(start, stop):
        bad += ((bq[i] < 0.0) | (aq[i] < 0.0) | (bq[i] != bq[i]) | (aq[i] != aq[i])
                | (bp[i] - bp[i] != 0.0) & (bp[i] == bp[i]) | (ap[i] - ap[i] != 0.0) & (ap[i] == ap[i]))
    return bad


cdef enum:
    # rows per block: the block's 32 KiB of output is still in L1/L2 when it is checked for NaN
    L1_BLOCK = 4096


cdef inline Py_ssize_t l1_blocks(const double* bp, const double* bq, const double* ap, const double* aq,
                          double* e, Py_ssize_t n, int variant) noexcept nogil:
    """The fast path, block by block: compute (invalid rows come out NaN), then look for a NaN
    while the block's output is still in cache. Returns the row where it stopped: n when done, or
    the start of the first block with an invalid or malformed row (the general loop redoes the
    rest from there)."""
    cdef Py_ssize_t lo, hi
    cdef double d = ap[0] - bp[0]
    if not ((d > 0.0) and (d < INFINITY) and bq[0] > 0.0 and aq[0] > 0.0):
        return 0
    e[0] = NAN
    lo = 1
    while lo < n:
        hi = lo + L1_BLOCK if n - lo > L1_BLOCK else n
        l1_pass(bp, bq, ap, aq, e, lo, hi, variant)
        if any_nan(e, lo, hi):
            return lo       # a row of this block is invalid or malformed: the general loop redoes it
        lo = hi
    return n


cdef void l1_chain(const double* bp, const double* bq, const double* ap, const double* aq, double* e,
                   Py_ssize_t start, Py_ssize_t n, const uint8_t* reset, int variant) noexcept nogil:
    """The general case from row ``start`` (rows before it valid, in one chain, already done):
    chains broken by resets, invalid rows skipped."""
    cdef Py_ssize_t i
    cdef bint has_prev = start > 0
    cdef double pbp = 0.0, pbq = 0.0, pap = 0.0, paq = 0.0
    if has_prev:
        pbp = bp[start - 1]
        pbq = bq[start - 1]
        pap = ap[start - 1]
        paq = aq[start - 1]
    for i in range(start, n):
        if reset != NULL and reset[i]:
            has_prev = False
        if not (bp[i] < ap[i] and bq[i] > 0.0 and aq[i] > 0.0):
            e[i] = NAN
            continue
        if has_prev:
            e[i] = level_ofi(bp[i], bq[i], ap[i], aq[i], pbp, pbq, pap, paq, variant)
        else:
            e[i] = NAN
            has_prev = True
        pbp = bp[i]
        pbq = bq[i]
        pap = ap[i]
        paq = aq[i]


def l1_events(const double[::1] bp, const double[::1] bq, const double[::1] ap,
              const double[::1] aq, const uint8_t[::1] reset, int variant, out=None):
    """CKS / CCZ e_n of the best level per row; NaN for the first row of a chain and for invalid
    rows (crossed or locked, a side missing: NaN price or size <= 0), which are skipped.
    ``out``: a float64 array of length n to write into (checked by the caller).

    Returns (e, n_bad): n_bad > 0 means a malformed row (size NaN or < 0, price infinite) and e
    is not to be used; the caller finds and reports it."""
    cdef Py_ssize_t n = bp.shape[0], done = 0, bad = 0
    cdef bint use_reset = reset.shape[0] > 0
    if out is None:
        out = np.empty(n)
    cdef double[::1] e = out
    if n == 0:
        return out, 0
    with nogil:
        if not use_reset:
            if variant == VARIANT_CKS:      # a literal, so each call is specialised when inlined
                done = l1_blocks(&bp[0], &bq[0], &ap[0], &aq[0], &e[0], n, VARIANT_CKS)
            else:
                done = l1_blocks(&bp[0], &bq[0], &ap[0], &aq[0], &e[0], n, VARIANT_CCZ)
        if done < n:
            bad = l1_malformed(&bp[0], &bq[0], &ap[0], &aq[0], done, n)
            if bad == 0:
                l1_chain(&bp[0], &bq[0], &ap[0], &aq[0], &e[0], done, n,
                         &reset[0] if use_reset else NULL, variant)
    return out, bad


cdef inline bint ml_valid(const double* bp, const double* ap) noexcept nogil:
    # Missing levels are +-inf (see the wrapper); only a crossed or locked best level is invalid.
    return bp[0] < ap[0]


def ml_events(const double[:, ::1] bp, const double[:, ::1] bq, const double[:, ::1] ap,
              const double[:, ::1] aq, const uint8_t[::1] reset, int variant):
    """Per-level e^m_n for (n, M) rank-indexed levels (missing: bid -inf / ask +inf, size 0)."""
    cdef Py_ssize_t i, n = bp.shape[0], M = bp.shape[1], m, prev = -1
    cdef bint use_reset = reset.shape[0] > 0
    out = np.empty((n, M))
    cdef double[:, ::1] e = out
    with nogil:
        for i in range(n):
            if use_reset and reset[i]:
                prev = -1
            if not ml_valid(&bp[i, 0], &ap[i, 0]) or prev < 0:
                for m in range(M):
                    e[i, m] = NAN
                if ml_valid(&bp[i, 0], &ap[i, 0]):
                    prev = i
                continue
            for m in range(M):
                e[i, m] = level_ofi(bp[i, m], bq[i, m], ap[i, m], aq[i, m], bp[prev, m], bq[prev, m],
                                    ap[prev, m], aq[prev, m], variant)
            prev = i
    return out


cdef inline void emit_interval(IntervalAcc* acc, double* ofi, int64_t* end, double* dmid, double* depth,
                               int64_t* n_events) noexcept nogil:
    cdef IntervalOut o
    acc_close(acc, &o, ofi)
    end[0] = o.end
    dmid[0] = o.dmid
    depth[0] = o.depth
    n_events[0] = o.n_events


def intervals(const int64_t[::1] ts, const double[:, ::1] bp, const double[:, ::1] bq,
              const double[:, ::1] ap, const double[:, ::1] aq, const uint8_t[::1] reset,
              int64_t width, int variant, bint l1_strict, Py_ssize_t max_intervals):
    """Fixed-interval OFI: (end, ofi (K, M), dmid, depth Q^M, n_events) over the grid k * width.

    Rows are states in time order; invalid rows are skipped; a reset row starts a new chain."""
    cdef Py_ssize_t i, n = bp.shape[0], M = bp.shape[1], m, k = 0, prev = -1
    cdef bint use_reset = reset.shape[0] > 0, valid
    cdef IntervalAcc acc
    cdef double mid, depth
    cdef double* e = <double*>malloc(M * sizeof(double))
    if e == NULL:
        raise MemoryError()
    ends = np.empty(max_intervals, dtype=np.int64)
    ofi = np.empty((max_intervals, M))
    dmid = np.empty(max_intervals)
    dep = np.empty(max_intervals)
    cnt = np.empty(max_intervals, dtype=np.int64)
    cdef int64_t[::1] o_end = ends, o_cnt = cnt
    cdef double[:, ::1] o_ofi = ofi
    cdef double[::1] o_dmid = dmid, o_dep = dep
    try:
        acc_init(&acc, width, M)
        with nogil:
            for i in range(n):
                if use_reset and reset[i]:
                    prev = -1
                if l1_strict:
                    valid = bp[i, 0] < ap[i, 0] and bq[i, 0] > 0.0 and aq[i, 0] > 0.0
                else:
                    valid = ml_valid(&bp[i, 0], &ap[i, 0])
                if not valid:
                    continue
                if not acc.started:
                    acc.end = grid_end(ts[i], width)
                    acc.started = True
                while ts[i] > acc.end and k < max_intervals:
                    emit_interval(&acc, &o_ofi[k, 0], &o_end[k], &o_dmid[k], &o_dep[k], &o_cnt[k])
                    k += 1
                mid = 0.5 * (bp[i, 0] + ap[i, 0])
                if prev < 0:
                    acc_chain_start(&acc, mid)
                else:
                    depth = 0.0
                    for m in range(M):
                        e[m] = level_ofi(bp[i, m], bq[i, m], ap[i, m], aq[i, m], bp[prev, m],
                                         bq[prev, m], ap[prev, m], aq[prev, m], variant)
                        depth += bq[i, m] + aq[i, m]
                    acc_event(&acc, e, depth / (2.0 * M), mid)
                prev = i
            if acc.started and k < max_intervals:
                emit_interval(&acc, &o_ofi[k, 0], &o_end[k], &o_dmid[k], &o_dep[k], &o_cnt[k])
                k += 1
    finally:
        acc_free(&acc)
        free(e)
    return ends[:k], ofi[:k], dmid[:k], dep[:k], cnt[:k]


def integrate(const double[:, ::1] x, const double[::1] w):
    """Row-wise sum_m w[m] * x[m] in level order (the streaming integrated OFI's arithmetic)."""
    cdef Py_ssize_t i, m, n = x.shape[0], M = x.shape[1]
    cdef double s
    out = np.empty(n)
    cdef double[::1] o = out
    with nogil:
        for i in range(n):
            s = 0.0
            for m in range(M):
                s += w[m] * x[i, m]
            o[i] = s
    return out


# ------------------------------------------------------------------------------------ streaming
cdef inline double neumaier_add(double* s, double* c, double x) noexcept nogil:
    cdef double t = s[0] + x
    if (s[0] if s[0] >= 0 else -s[0]) >= (x if x >= 0 else -x):
        c[0] += (s[0] - t) + x
    else:
        c[0] += (x - t) + s[0]
    s[0] = t
    return t + c[0]


@cython.final
cdef class OrderFlowCalculator:
    """Best-level Order Flow Imbalance of a live book (Cont, Kukanov & Stoikov 2014).

    See ``ofi.orderflow.OrderFlowCalculator`` for the documentation (this is the compiled class).
    """
    cdef readonly int variant
    cdef readonly int64_t interval_ns
    cdef readonly int zscore_window
    cdef readonly int history
    cdef readonly int impact_window
    cdef int n_windows
    cdef int64_t widths[MAX_WINDOWS]
    cdef TimeSum wins[MAX_WINDOWS]
    cdef IntervalAcc acc
    cdef Moments zs
    cdef OLS impact
    cdef double* hist
    cdef Py_ssize_t hist_count
    cdef Py_ssize_t hist_head
    # the previous state (prices as doubles of ticks for books, of the caller's units for quotes)
    cdef double pbp, pbq, pap, paq
    cdef bint has_prev
    cdef int mode                   # 0 unset, 1 books (ticks), 2 quotes (caller's units)
    cdef object _book
    cdef int64_t _epoch
    cdef int64_t last_ts
    cdef double cum, cum_c
    cdef bint has_e
    cdef readonly double last
    cdef IntervalOut last_interval_c
    cdef readonly int64_t intervals_closed
    cdef readonly int64_t events
    cdef readonly int64_t skipped
    cdef readonly int64_t breaks

    def __cinit__(self, interval=10_000_000_000, windows=(60_000_000_000, 300_000_000_000),
                  zscore_window=100, history=1000, impact_window=180, variant="cks"):
        cdef int i
        cdef int64_t interval_ns = duration_ns("interval", interval)
        widths = [duration_ns("windows", w) for w in windows]
        self.variant = parse_variant(variant)
        self.interval_ns = interval_ns
        self.zscore_window = count_arg("zscore_window", zscore_window, 2)
        self.history = count_arg("history", history, 2)
        self.impact_window = count_arg("impact_window", impact_window, 3)
        self.n_windows = 0
        if len(widths) > MAX_WINDOWS or len(set(widths)) != len(widths):
            from ofi.errors import InvalidInputError
            raise InvalidInputError(f"windows: at most {MAX_WINDOWS} distinct widths, got {windows!r}")
        acc_init(&self.acc, interval_ns, 1)
        moments_init(&self.zs, self.zscore_window)
        ols_init(&self.impact, self.impact_window)
        self.hist = <double*>malloc(self.history * sizeof(double))
        if self.hist == NULL:
            raise MemoryError()
        for i in range(len(widths)):
            timesum_init(&self.wins[i], widths[i])
            self.widths[i] = widths[i]
            self.n_windows += 1
        self.reset()

    def __dealloc__(self):
        cdef int i
        acc_free(&self.acc)
        moments_free(&self.zs)
        ols_free(&self.impact)
        free(self.hist)
        for i in range(self.n_windows):
            timesum_free(&self.wins[i])

    def reset(self):
        """Forget all state (as after construction)."""
        cdef int i
        acc_reset(&self.acc)
        moments_reset(&self.zs)
        ols_reset(&self.impact)
        for i in range(self.n_windows):
            timesum_reset(&self.wins[i])
        self.hist_count = 0
        self.hist_head = 0
        self.has_prev = False
        self.mode = 0
        self._book = None
        self._epoch = -1
        self.last_ts = 0
        self.cum = 0.0
        self.cum_c = 0.0
        self.has_e = False
        self.last = NAN
        self.intervals_closed = 0
        self.events = 0
        self.skipped = 0
        self.breaks = 0

    cdef int _set_mode(self, int mode) except -1:
        if self.mode == 0:
            self.mode = mode
        elif self.mode != mode:
            from ofi.errors import InvalidInputError
            raise InvalidInputError("update(book) and update_quote(...) cannot be mixed on one "
                                    "calculator (book prices are ticks, quote prices are floats)")
        return 0

    cdef void _on_interval(self, IntervalOut* o) noexcept nogil:
        moments_push(&self.zs, o.ofi1)
        self.hist[self.hist_head] = o.ofi1
        self.hist_head += 1
        if self.hist_head == self.history:
            self.hist_head = 0
        if self.hist_count < self.history:
            self.hist_count += 1
        ols_push(&self.impact, o.ofi1, o.dmid)
        self.last_interval_c = o[0]
        self.intervals_closed += 1

    cdef void _advance(self, int64_t ts) noexcept nogil:
        cdef IntervalOut o
        cdef int64_t pending = acc_pending(&self.acc, ts)
        if pending > MAX_EMPTY_INTERVALS:
            acc_close(&self.acc, &o, NULL)
            self._on_interval(&o)
            moments_reset(&self.zs)
            ols_reset(&self.impact)
            self.hist_count = 0
            self.hist_head = 0
            self.acc.end = grid_end(ts, self.acc.width)
            return
        while pending > 0:
            acc_close(&self.acc, &o, NULL)
            self._on_interval(&o)
            pending -= 1

    cdef object _step(self, int64_t ts, double bp, double bq, double ap, double aq, bint brk):
        cdef double e, mid = 0.5 * (bp + ap)
        cdef int i
        if ts < self.last_ts:
            ts = self.last_ts          # exchange time never runs backwards for the windows
        self.last_ts = ts
        if not self.acc.started:
            self.acc.end = grid_end(ts, self.acc.width)
            self.acc.started = True
        else:
            self._advance(ts)
        if brk or not self.has_prev:
            if self.has_prev:
                self.breaks += 1
                for i in range(self.n_windows):
                    timesum_reset(&self.wins[i])
            acc_chain_start(&self.acc, mid)
            self.pbp = bp
            self.pbq = bq
            self.pap = ap
            self.paq = aq
            self.has_prev = True
            return None
        e = level_ofi(bp, bq, ap, aq, self.pbp, self.pbq, self.pap, self.paq, self.variant)
        self.pbp = bp
        self.pbq = bq
        self.pap = ap
        self.paq = aq
        acc_event(&self.acc, &e, 0.5 * (bq + aq), mid)
        neumaier_add(&self.cum, &self.cum_c, e)
        for i in range(self.n_windows):
            timesum_push(&self.wins[i], ts, e)
        self.last = e
        self.has_e = True
        self.events += 1
        return e

    def update(self, OrderBook book not None):
        """e_n for the book's current state; None for the first state of a chain or a book that
        is not usable (no snapshot yet, stale after a gap, a side empty)."""
        cdef Side* b = &book.sides[0]
        cdef Side* a = &book.sides[1]
        cdef bint brk
        if self.mode != 1:
            self._set_mode(1)
        if not book_quoted(book):
            self.skipped += 1
            return None
        brk = book is not self._book or book.epoch != self._epoch
        if brk:
            self._book = book
            self._epoch = book.epoch
        return self._step(book.ts_exch, <double>b.e[b.n - 1].key, b.e[b.n - 1].size,
                          <double>(-a.e[a.n - 1].key), a.e[a.n - 1].size, brk)

    def update_quote(self, int64_t ts_ns, double bid_price, double bid_size, double ask_price,
                     double ask_size, bint reset=False):
        """e_n for a best-quote state given as numbers (prices in any consistent unit)."""
        if self.mode != 2:
            self._set_mode(2)
        if ts_ns < 0:
            from ofi.errors import InvalidInputError
            raise InvalidInputError(f"ts_ns must be >= 0, got {ts_ns}")
        if not (bid_price < ask_price and bid_size > 0.0 and ask_size > 0.0):
            self.skipped += 1
            return None
        return self._step(ts_ns, bid_price, bid_size, ask_price, ask_size, reset)

    cdef int _window_index(self, int64_t width) except -2:
        cdef int i
        for i in range(self.n_windows):
            if self.widths[i] == width:
                return i
        return -1

    def window(self, width):
        """Sum of e_n over (t - width, t] by exchange time (t = the latest state); None before
        the first e_n of the current chain. ``width_ns`` must be one of the configured windows."""
        cdef int64_t width_ns = duration_ns("width", width)
        cdef int i = self._window_index(width_ns)
        if i < 0:
            from ofi.errors import InvalidInputError
            raise InvalidInputError(
                f"window {width_ns} ns is not configured; configured: "
                f"{[self.widths[j] for j in range(self.n_windows)]} (pass it in windows=...)")
        if self.wins[i].count == 0:
            return None
        timesum_advance(&self.wins[i], self.last_ts)
        return self.wins[i].total

    def ofi_1min(self):
        """``window(60 s)``: OFI over the last minute of exchange time (None before the first e_n)."""
        return self.window(60_000_000_000)

    def ofi_5min(self):
        """``window(300 s)``: OFI over the last five minutes of exchange time."""
        return self.window(300_000_000_000)

    @property
    def windows_ns(self):
        return tuple(self.widths[i] for i in range(self.n_windows))

    def cumulative(self):
        """Sum of every e_n seen (compensated summation); None before the first."""
        if not self.has_e:
            return None
        return self.cum + self.cum_c

    def z_score(self, n=None):
        """z-score of the latest closed interval's OFI against the last ``n`` closed intervals
        (itself included); None until n intervals have closed or when they are all equal."""
        cdef Py_ssize_t k, i, j
        cdef double s = 0.0, q = 0.0, d, mean, var, x
        if n is None or n == self.zscore_window:
            if self.zs.count < self.zscore_window:
                return None
            x = self.last_interval_c.ofi1
            z = moments_zscore(&self.zs, x, 1)
            return None if z != z else z
        k = n
        if k < 2 or k > self.history:
            from ofi.errors import InvalidInputError
            raise InvalidInputError(f"n must be in [2, history={self.history}], got {n!r}")
        if self.hist_count < k:
            return None
        for i in range(k):
            j = (self.hist_head - 1 - i + self.history) % self.history
            s += self.hist[j]
        mean = s / k
        for i in range(k):
            j = (self.hist_head - 1 - i + self.history) % self.history
            d = self.hist[j] - mean
            q += d * d
        var = q / (k - 1)
        x = self.hist[(self.hist_head - 1 + self.history) % self.history]
        if not (var > 1e-24 * mean * mean) or var == 0.0:
            return None
        return (x - mean) / sqrt(var)

    def last_interval(self):
        """(end_ns, ofi, dmid, depth, n_events) of the latest closed interval, or None."""
        cdef IntervalOut o = self.last_interval_c
        if self.intervals_closed == 0:
            return None
        return (o.end, o.ofi1, o.dmid, o.depth, o.n_events)

    def open_interval(self):
        """(end_ns, ofi so far, n_events so far) of the interval in progress, or None."""
        if not self.acc.started:
            return None
        return (self.acc.end, self.acc.ofi[0], self.acc.n_events)

    def price_impact(self):
        """(beta, alpha, t_stat, r2, n) of dmid = alpha + beta * OFI over the last intervals."""
        cdef OLSFit f = ols_fit(&self.impact, True)
        return (f.slope, f.intercept, f.t_stat, f.r2, f.n)


@cython.final
cdef class MultiLevelOFI:
    """Per-level OFI over the M best rank-indexed levels of a live book (XGH 2019), with the CCZ
    (2023) depth scale and, given weights, the integrated OFI.

    See ``ofi.orderflow.MultiLevelOFI`` for the documentation (this is the compiled class).
    """
    cdef readonly int levels
    cdef readonly int variant
    cdef readonly int64_t interval_ns
    cdef double* prev           # 4M: bid px, bid qty, ask px, ask qty
    cdef double* cur
    cdef double* e
    cdef double* cum
    cdef double* last_ofi       # the latest closed interval: OFI^m_k
    cdef double* w              # integration weights (normalised to sum |w| = 1) or NULL
    cdef IntervalAcc acc
    cdef IntervalOut last_interval_c
    cdef bint has_prev
    cdef object _book
    cdef int64_t _epoch
    cdef int64_t last_ts
    cdef readonly int64_t events
    cdef readonly int64_t skipped
    cdef readonly int64_t breaks
    cdef readonly int64_t intervals_closed
    cdef object _e_view, _cum_view, _ofi_view

    def __cinit__(self, levels=10, interval=60_000_000_000, variant="cks"):
        cdef int64_t interval_ns = duration_ns("interval", interval)
        self.levels = count_arg("levels", levels, 1)
        self.variant = parse_variant(variant)
        self.interval_ns = interval_ns
        self.prev = <double*>calloc(4 * self.levels, sizeof(double))
        self.cur = <double*>calloc(4 * self.levels, sizeof(double))
        self.e = <double*>calloc(self.levels, sizeof(double))
        self.cum = <double*>calloc(self.levels, sizeof(double))
        self.last_ofi = <double*>calloc(self.levels, sizeof(double))
        if not (self.prev and self.cur and self.e and self.cum and self.last_ofi):
            raise MemoryError()
        self.w = NULL
        acc_init(&self.acc, interval_ns, self.levels)
        self._e_view = self._view(self.e)
        self._cum_view = self._view(self.cum)
        self._ofi_view = self._view(self.last_ofi)
        self.reset()

    cdef object _view(self, double* p):
        cdef cnp.npy_intp dims[1]
        dims[0] = self.levels
        cdef cnp.ndarray arr = cnp.PyArray_SimpleNewFromData(1, dims, cnp.NPY_DOUBLE, p)
        cnp.set_array_base(arr, self)
        arr.flags.writeable = False
        return arr

    def __dealloc__(self):
        free(self.prev)
        free(self.cur)
        free(self.e)
        free(self.cum)
        free(self.last_ofi)
        free(self.w)
        acc_free(&self.acc)

    def reset(self):
        cdef int m
        acc_reset(&self.acc)
        for m in range(self.levels):
            self.e[m] = NAN
            self.cum[m] = 0.0
            self.last_ofi[m] = NAN
        self.has_prev = False
        self._book = None
        self._epoch = -1
        self.last_ts = 0
        self.events = 0
        self.skipped = 0
        self.breaks = 0
        self.intervals_closed = 0

    def set_weights(self, const double[::1] weights):
        """Integration weights w_1 (len = levels); stored divided by sum |w| (CCZ eq. for ofi^I)."""
        cdef int m
        cdef double s = 0.0
        if weights.shape[0] != self.levels:
            from ofi.errors import InvalidInputError
            raise InvalidInputError(f"weights must have {self.levels} entries, got {weights.shape[0]}")
        for m in range(self.levels):
            s += weights[m] if weights[m] >= 0 else -weights[m]
        if not (s > 0.0) or s != s:
            from ofi.errors import InvalidInputError
            raise InvalidInputError("weights must be finite and not all zero")
        if self.w == NULL:
            self.w = <double*>malloc(self.levels * sizeof(double))
            if self.w == NULL:
                raise MemoryError()
        for m in range(self.levels):
            self.w[m] = weights[m] / s

    cdef void _read(self, OrderBook book) noexcept:
        cdef Side* b = &book.sides[0]
        cdef Side* a = &book.sides[1]
        cdef int m, M = self.levels
        cdef double* c = self.cur
        for m in range(M):
            if m < b.n:
                c[m] = <double>b.e[b.n - 1 - m].key
                c[M + m] = b.e[b.n - 1 - m].size
            else:
                c[m] = -INFINITY
                c[M + m] = 0.0
            if m < a.n:
                c[2 * M + m] = <double>(-a.e[a.n - 1 - m].key)
                c[3 * M + m] = a.e[a.n - 1 - m].size
            else:
                c[2 * M + m] = INFINITY
                c[3 * M + m] = 0.0

    def update(self, OrderBook book not None):
        """Per-level e^m for the book's current state into ``last`` (True), or False for the first
        state of a chain / an unusable book (``last`` is then NaN)."""
        cdef int m, M = self.levels
        cdef int64_t ts
        cdef double depth = 0.0, mid
        cdef double* c = self.cur
        cdef double* p = self.prev
        cdef double* tmp
        cdef IntervalOut o
        cdef int64_t pending
        cdef bint brk
        if not book_quoted(book):
            self.skipped += 1
            for m in range(M):
                self.e[m] = NAN
            return False
        brk = book is not self._book or book.epoch != self._epoch
        if brk:
            self._book = book
            self._epoch = book.epoch
        self._read(book)
        ts = book.ts_exch
        if ts < self.last_ts:
            ts = self.last_ts
        self.last_ts = ts
        mid = 0.5 * (c[0] + c[2 * M])
        if not self.acc.started:
            self.acc.end = grid_end(ts, self.acc.width)
            self.acc.started = True
        else:
            pending = acc_pending(&self.acc, ts)
            if pending > MAX_EMPTY_INTERVALS:
                acc_close(&self.acc, &o, self.last_ofi)
                self.last_interval_c = o
                self.intervals_closed += 1
                self.acc.end = grid_end(ts, self.acc.width)
            else:
                while pending > 0:
                    acc_close(&self.acc, &o, self.last_ofi)
                    self.last_interval_c = o
                    self.intervals_closed += 1
                    pending -= 1
        if brk or not self.has_prev:
            if self.has_prev:
                self.breaks += 1
            acc_chain_start(&self.acc, mid)
            self.prev = c
            self.cur = p
            self.has_prev = True
            for m in range(M):
                self.e[m] = NAN
            return False
        for m in range(M):
            self.e[m] = (bid_flow(c[m], c[M + m], p[m], p[M + m], self.variant)
                         - ask_flow(c[2 * M + m], c[3 * M + m], p[2 * M + m], p[3 * M + m], self.variant))
            self.cum[m] += self.e[m]
            depth += c[M + m] + c[3 * M + m]
        acc_event(&self.acc, self.e, depth / (2.0 * M), mid)
        self.prev = c
        self.cur = p
        self.events += 1
        return True

    @property
    def last(self):
        """e^m of the latest state (read-only view, updated in place; NaN when not computed)."""
        return self._e_view

    @property
    def cumulative(self):
        """Per-level sums of every e^m seen (read-only view, updated in place)."""
        return self._cum_view

    def last_interval(self):
        """(end_ns, OFI^m_k (copy), Q^M_k, dmid, n_events) of the latest closed interval, or None."""
        cdef IntervalOut o = self.last_interval_c
        if self.intervals_closed == 0:
            return None
        return (o.end, np.array(self._ofi_view), o.depth, o.dmid, o.n_events)

    def normalized(self):
        """OFI^m_k / Q^M_k of the latest closed interval (CCZ), a new array; None before one closed."""
        if self.intervals_closed == 0:
            return None
        return np.asarray(self._ofi_view) / self.last_interval_c.depth

    def integrated(self):
        """w . (OFI^m_k / Q^M_k) with the weights normalised to sum |w| = 1; NaN without weights or
        an interval; None before the first interval closed."""
        cdef int m
        cdef double s = 0.0, q = self.last_interval_c.depth
        if self.intervals_closed == 0:
            return None
        if self.w == NULL:
            from ofi.errors import InvalidInputError
            raise InvalidInputError("no integration weights: call set_weights() or fit them with "
                                    "ofi.orderflow.integration_weights()")
        for m in range(self.levels):
            s += self.w[m] * (self.last_ofi[m] / q)
        return s
