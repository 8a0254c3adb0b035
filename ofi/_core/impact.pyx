"""Price-impact and spread estimators: Kyle / Amihud / Hasbrouck lambdas, Roll, Corwin-Schultz,
the tick rule, and the trade-to-bar aggregation that feeds them (spec §5, AFML ch. 19).

Every estimator is written once as ``cdef inline ... noexcept nogil`` steps over the rolling
kernels of ``rolling.pxd``; the batch functions below and the streaming :class:`KyleLambda` call
the same steps in the same order, so their outputs are identical bit for bit.

Public wrappers with input checks live in ``ofi.orderflow.impact``. The batch functions here trust
their arguments (C-contiguous float64 / int64, valid windows) except for equal lengths, which they
check so that a direct call can never read past an array.
"""
cimport cython
from libc.stdint cimport int64_t, int8_t
from libc.math cimport NAN, INFINITY, sqrt, log, fabs, exp

import numbers

import numpy as np

from ofi._core.rolling cimport (
    count_arg, min_periods_arg,
    Moments, moments_init, moments_free, moments_push, moments_mean,
    OLS, OLSFit, ols_init, ols_free, ols_reset, ols_push, ols_fit, ols_store,
)
from ofi._core.events cimport Trade
from ofi.errors import InvalidInputError

# What the regression's y is, from consecutive prices.
cdef enum:
    Y_DIFF = 0          # p_t - p_{t-1}
    Y_LOGDIFF = 1       # ln p_t - ln p_{t-1}
    Y_ABSLOGDIFF = 2    # |ln p_t - ln p_{t-1}|

# Which signed flow of a bar is the regressor.
cdef enum:
    X_SV = 0            # sum b v
    X_SDV = 1           # sum b p v
    X_SSQ = 2           # sum b sqrt(p v)

# How trades are grouped into bars.
cdef enum:
    BAR_TIME = 0        # (t_k - interval, t_k], t_k a multiple of interval
    BAR_TICKS = 1       # every `count` trades
    BAR_VOLUME = 2      # close once the bar's volume reaches `threshold`
    BAR_DOLLAR = 3      # close once the bar's dollar volume reaches `threshold`

# 3 - 2 sqrt(2) and sqrt(8 / pi), Corwin-Schultz / Beckers-Parkinson constants.
cdef double CS_DEN = 3.0 - 2.0 * sqrt(2.0)
cdef double CS_K2 = sqrt(8.0 / 3.141592653589793)
cdef double SQRT2_M1 = sqrt(2.0) - 1.0
cdef double ISQRT2_M1 = 1.0 / sqrt(2.0) - 1.0


# ==================================================================================== kernels
ctypedef struct Diff:
    double prev         # previous price (or ln price)
    int ymode
    bint has_prev


cdef inline void diff_init(Diff* d, int ymode) noexcept nogil:
    d.prev = 0.0
    d.ymode = ymode
    d.has_prev = 0


cdef inline bint diff_step(Diff* d, double price, double* y) noexcept nogil:
    """Store the change since the previous price in y[0]; False (y untouched) on the first price."""
    cdef double level = price if d.ymode == Y_DIFF else log(price)
    cdef bint ok = d.has_prev
    if ok:
        y[0] = level - d.prev
        if d.ymode == Y_ABSLOGDIFF:
            y[0] = fabs(y[0])
    d.prev = level
    d.has_prev = 1
    return ok


cdef inline bint regression_step(OLS* o, Diff* d, double price, double x) noexcept nogil:
    """One (price, flow) observation of a lambda regression: push (x, change) once a previous price
    exists. The only step Kyle, Hasbrouck and Amihud's regression form take per row."""
    cdef double y
    if diff_step(d, price, &y):
        ols_push(o, x, y)
        return 1
    return 0


cdef inline double trade_flow(int xkind, double price, double size, double side) noexcept nogil:
    if xkind == X_SV:
        return side * size
    if xkind == X_SDV:
        return side * price * size
    return side * sqrt(price * size)


cdef inline int64_t ceil_div(int64_t a, int64_t b) noexcept nogil:
    # cdivision: `//` truncates toward zero; b > 0.
    cdef int64_t q = a // b
    if a % b != 0 and a > 0:
        q += 1
    return q


# ---------------------------------------------------------------- bars from trades
ctypedef struct Bar:
    int64_t ts          # time bars: end of the interval t_k; other bars: time of the last trade
    int64_t n           # trades in the bar
    double open
    double high
    double low
    double close
    double volume       # sum v
    double dollar       # sum p v
    double sv           # sum b v
    double sdv          # sum b p v
    double ssq          # sum b sqrt(p v)

ctypedef struct BarAcc:
    int mode
    int64_t interval    # ns (time bars) or trades per bar
    double threshold    # volume / dollar bars
    int64_t bar_id      # time bars: ceil(ts / interval) of the open bar
    Bar cur


cdef inline void bar_clear(Bar* b) noexcept nogil:
    b.ts = 0
    b.n = 0
    b.open = NAN
    b.high = NAN
    b.low = NAN
    b.close = NAN
    b.volume = 0.0
    b.dollar = 0.0
    b.sv = 0.0
    b.sdv = 0.0
    b.ssq = 0.0


cdef inline void baracc_init(BarAcc* a, int mode, int64_t interval, double threshold) noexcept nogil:
    a.mode = mode
    a.interval = interval
    a.threshold = threshold
    a.bar_id = 0
    bar_clear(&a.cur)


cdef inline void bar_add(Bar* b, int64_t ts, double price, double size, double side) noexcept nogil:
    cdef double dv = price * size
    if b.n == 0:
        b.open = price
        b.high = price
        b.low = price
    else:
        if price > b.high:
            b.high = price
        if price < b.low:
            b.low = price
    b.close = price
    b.n += 1
    b.ts = ts
    b.volume += size
    b.dollar += dv
    b.sv += side * size
    b.sdv += side * price * size
    b.ssq += side * sqrt(dv)


cdef inline bint baracc_feed(BarAcc* a, Bar* out, int64_t ts, double price, double size,
                             double side) noexcept nogil:
    """Add one trade (times must not decrease). True when a bar completed; it is copied to out.

    A time bar completes when a trade of a later interval arrives (that trade opens the next bar);
    the other kinds complete with the trade that fills them."""
    cdef int64_t bid
    if a.mode == BAR_TIME:
        bid = ceil_div(ts, a.interval)
        if a.cur.n > 0 and bid != a.bar_id:
            out[0] = a.cur
            out.ts = a.bar_id * a.interval
            bar_clear(&a.cur)
            a.bar_id = bid
            bar_add(&a.cur, ts, price, size, side)
            return 1
        a.bar_id = bid
        bar_add(&a.cur, ts, price, size, side)
        return 0
    bar_add(&a.cur, ts, price, size, side)
    if ((a.mode == BAR_TICKS and a.cur.n >= a.interval)
            or (a.mode == BAR_VOLUME and a.cur.volume >= a.threshold)
            or (a.mode == BAR_DOLLAR and a.cur.dollar >= a.threshold)):
        out[0] = a.cur
        bar_clear(&a.cur)
        return 1
    return 0


cdef inline bint baracc_flush(BarAcc* a, Bar* out) noexcept nogil:
    """Emit the open bar, if it holds any trade."""
    if a.cur.n == 0:
        return 0
    out[0] = a.cur
    if a.mode == BAR_TIME:
        out.ts = a.bar_id * a.interval
    bar_clear(&a.cur)
    return 1


cdef inline double bar_flow(const Bar* b, int xkind) noexcept nogil:
    if xkind == X_SV:
        return b.sv
    if xkind == X_SDV:
        return b.sdv
    return b.ssq


# ---------------------------------------------------------------- Roll
ctypedef struct Roll:
    OLS o               # pairs (dp_{t-1}, dp_t)
    Diff d
    double prev_dp
    bint has_dp


cdef inline void roll_step(Roll* r, double price) noexcept nogil:
    cdef double dp
    if diff_step(&r.d, price, &dp):
        if r.has_dp:
            ols_push(&r.o, r.prev_dp, dp)
        r.prev_dp = dp
        r.has_dp = 1


cdef inline double roll_value(const Roll* r, bint positive_nan) noexcept nogil:
    """2 sqrt(max(0, -cov)) with cov the first-order autocovariance (ddof 1) of the window."""
    cdef double cov
    if r.o.count < 2:
        return NAN
    cov = r.o.cxy / (r.o.count - 1)
    if cov > 0.0:
        return NAN if positive_nan else 0.0
    return 2.0 * sqrt(-cov)


# ---------------------------------------------------------------- Corwin-Schultz
ctypedef struct CorwinSchultz:
    Moments beta        # rolling mean of ln(H/L)^2 summed over two bars
    double prev_high
    double prev_low
    double prev_hl2
    bint has_prev


cdef inline void cs_step(CorwinSchultz* c, double high, double low, Py_ssize_t min_periods,
                         double* spread, double* sigma) noexcept nogil:
    cdef double hl = log(high / low), hl2 = hl * hl, beta, gamma, g, alpha, e, s
    spread[0] = NAN
    sigma[0] = NAN
    if c.has_prev:
        moments_push(&c.beta, c.prev_hl2 + hl2)
        g = log((high if high > c.prev_high else c.prev_high) / (low if low < c.prev_low else c.prev_low))
        gamma = g * g
        if c.beta.count >= min_periods:
            beta = moments_mean(&c.beta)
            if beta < 0.0:  # rounding of a constant-zero window
                beta = 0.0
            alpha = SQRT2_M1 * sqrt(beta) / CS_DEN - sqrt(gamma / CS_DEN)
            if alpha < 0.0:
                alpha = 0.0
            e = exp(alpha)
            spread[0] = 2.0 * (e - 1.0) / (1.0 + e)
            s = ISQRT2_M1 * sqrt(beta) / (CS_K2 * CS_DEN) + sqrt(gamma / (CS_K2 * CS_K2 * CS_DEN))
            sigma[0] = s if s > 0.0 else 0.0
    c.prev_high = high
    c.prev_low = low
    c.prev_hl2 = hl2
    c.has_prev = 1


# ==================================================================================== batch
cdef int _check_same(Py_ssize_t a, Py_ssize_t b, str what) except -1:
    if a != b:
        raise InvalidInputError(f"{what} must have the same length, got {a} and {b}")
    return 0


def trade_bars(const int64_t[::1] ts, const double[::1] price, const double[::1] size,
               const int64_t[::1] side, int mode, int64_t interval, double threshold):
    """Group trades into bars; returns (ts, n, fields) with fields (10, n_bars) in the order
    open high low close volume dollar sv sdv ssq. The last, possibly incomplete, bar is included."""
    cdef Py_ssize_t i, k = 0, n = ts.shape[0]
    cdef BarAcc acc
    cdef Bar b
    _check_same(n, price.shape[0], "ts and price")
    _check_same(n, size.shape[0], "ts and size")
    _check_same(n, side.shape[0], "ts and side")
    out_ts = np.empty(n, dtype=np.int64)
    out_n = np.empty(n, dtype=np.int64)
    fields = np.empty((9, n))
    cdef int64_t[::1] ots = out_ts, on = out_n
    cdef double[:, ::1] f = fields
    baracc_init(&acc, mode, interval, threshold)
    with nogil:
        for i in range(n + 1):
            if i < n:
                if not baracc_feed(&acc, &b, ts[i], price[i], size[i], <double>side[i]):
                    continue
            elif not baracc_flush(&acc, &b):
                break
            ots[k] = b.ts
            on[k] = b.n
            f[0, k] = b.open
            f[1, k] = b.high
            f[2, k] = b.low
            f[3, k] = b.close
            f[4, k] = b.volume
            f[5, k] = b.dollar
            f[6, k] = b.sv
            f[7, k] = b.sdv
            f[8, k] = b.ssq
            k += 1
    return out_ts[:k].copy(), out_n[:k].copy(), np.ascontiguousarray(fields[:, :k])


def regression_lambda(const double[::1] price, const double[::1] x, Py_ssize_t window,
                      bint intercept, int ymode, Py_ssize_t min_periods, bint skip_zero_x):
    """Rolling OLS of the price change (ymode) on x, one row per input row.

    Returns (fit, n): fit (4, len) = slope, intercept, t-stat, R^2 (NaN before ``min_periods``
    pairs); n = pairs in the window. Row 0 has no price change. With ``skip_zero_x`` a row whose
    x is 0 is skipped entirely (not pushed, not a reference price for the next change)."""
    cdef Py_ssize_t i, n = price.shape[0]
    cdef OLS o
    cdef OLSFit fit
    cdef Diff d
    _check_same(n, x.shape[0], "price and x")
    out = np.empty((4, n))
    nobs = np.empty(n, dtype=np.int64)
    cdef double[:, ::1] r = out
    cdef int64_t[::1] no = nobs
    ols_init(&o, window)
    diff_init(&d, ymode)
    try:
        with nogil:
            for i in range(n):
                if not (skip_zero_x and x[i] == 0.0):
                    regression_step(&o, &d, price[i], x[i])
                ols_store(&o, intercept, min_periods, &r[0, 0], n, i)
                no[i] = o.count
    finally:
        ols_free(&o)
    return out, nobs


def amihud_mean(const double[::1] price, const double[::1] dollar_volume, Py_ssize_t window,
                Py_ssize_t min_periods):
    """Rolling mean of |ln p_t - ln p_{t-1}| / DV_t over the last ``window`` bars with DV > 0
    (bars with DV = 0 are skipped entirely). Returns (mean, n)."""
    cdef Py_ssize_t i, n = price.shape[0]
    cdef Moments m
    cdef Diff d
    cdef double y
    _check_same(n, dollar_volume.shape[0], "price and dollar_volume")
    out = np.empty(n)
    nobs = np.empty(n, dtype=np.int64)
    cdef double[::1] r = out
    cdef int64_t[::1] no = nobs
    moments_init(&m, window)
    diff_init(&d, Y_ABSLOGDIFF)
    try:
        with nogil:
            for i in range(n):
                if dollar_volume[i] > 0.0 and diff_step(&d, price[i], &y):
                    moments_push(&m, y / dollar_volume[i])
                r[i] = moments_mean(&m) if m.count >= min_periods else NAN
                no[i] = m.count
    finally:
        moments_free(&m)
    return out, nobs


def roll_spread(const double[::1] price, Py_ssize_t window, Py_ssize_t min_periods,
                bint positive_nan):
    """Roll's spread 2 sqrt(max(0, -cov(dp_t, dp_{t-1}))) over the last ``window`` pairs."""
    cdef Py_ssize_t i, n = price.shape[0]
    cdef Roll rs
    out = np.empty(n)
    cdef double[::1] r = out
    ols_init(&rs.o, window)
    diff_init(&rs.d, Y_DIFF)
    rs.has_dp = 0
    rs.prev_dp = 0.0
    try:
        with nogil:
            for i in range(n):
                roll_step(&rs, price[i])
                r[i] = roll_value(&rs, positive_nan) if rs.o.count >= min_periods else NAN
    finally:
        ols_free(&rs.o)
    return out


def corwin_schultz(const double[::1] high, const double[::1] low, Py_ssize_t window,
                   Py_ssize_t min_periods):
    """Corwin-Schultz spread and Beckers-Parkinson sigma per row (AFML snippets 19.1-19.2)."""
    cdef Py_ssize_t i, n = high.shape[0]
    cdef CorwinSchultz c
    _check_same(n, low.shape[0], "high and low")
    spread = np.empty(n)
    sigma = np.empty(n)
    cdef double[::1] osp = spread, osg = sigma
    moments_init(&c.beta, window)
    c.has_prev = 0
    c.prev_high = c.prev_low = c.prev_hl2 = 0.0
    try:
        with nogil:
            for i in range(n):
                cs_step(&c, high[i], low[i], min_periods, &osp[i], &osg[i])
    finally:
        moments_free(&c.beta)
    return spread, sigma


def tick_rule(const double[::1] price, int first):
    """b_t = sign(p_t - p_{t-1}) when the price moved, else b_{t-1}; ``first`` until it first moves."""
    cdef Py_ssize_t i, n = price.shape[0]
    cdef int8_t b = <int8_t>first
    out = np.empty(n, dtype=np.int8)
    cdef int8_t[::1] r = out
    with nogil:
        for i in range(n):
            if i > 0:
                if price[i] > price[i - 1]:
                    b = 1
                elif price[i] < price[i - 1]:
                    b = -1
            r[i] = b
    return out


# ==================================================================================== streaming
@cython.final
cdef class KyleLambda:
    """Kyle's lambda, streaming: rolling OLS of the price change on signed order flow.

    Two ways to feed it (spec §5.4):

    * per trade (``interval_ns=None``, default): each trade after the first pushes the pair
      ``x = side * size`` (or ``side * price * size`` for ``x="sdv"``, ``side * sqrt(price * size)``
      for ``x="ssq"``) and ``y = price - previous price`` (``ln price - ln previous`` with
      ``log=True``);
    * per time bar (``interval_ns`` given): trades are summed into bars ``(t_k - interval, t_k]`` of
      exchange time (``t_k`` a multiple of ``interval_ns``), and when a bar completes (a trade of a
      later bar arrives, or :meth:`advance` / :meth:`flush` is called) the pair (bar's SV / SDV /
      SSQ, change of the bar close) is pushed. Intervals without trades produce no bar.

    Feeding trades and then :meth:`flush` gives, bar by bar, exactly (bit for bit)
    ``kyle_lambda(trade_bars(..., interval_ns=...), x=..., window=..., ...)``; per-trade mode gives
    ``kyle_lambda(price, side * size, ...)``.

    Parameters
    ----------
    window : int, default 20
        Pairs in the regression window; >= 3 with an intercept, >= 2 without.
    intercept : bool, default True
        ``dp = alpha + lambda x + e``; False fits through the origin (AFML eq. 19.4.1 form).
    interval_ns : int, optional
        Time-bar length in ns; None for one pair per trade.
    x : {"sv", "sdv", "ssq"}, default "sv"
        The regressor: signed volume, signed dollar volume or signed sqrt dollar volume.
    log : bool, default False
        Regress the change of ``ln price`` (scale-free lambda).
    min_periods : int, optional
        Pairs needed before :attr:`value` is defined; default ``window``.

    Methods
    -------
    add_trade(trade) -> float | None
        Add one :class:`ofi.Trade` (price > 0, size >= 0, side +1 / -1 / 0; in time-bar mode
        ``ts_exch`` must not decrease). Returns the new lambda (NaN until warm) when a pair was
        pushed, else None.
    add(price, size, side, ts_exch=0) -> float | None
        The same without a Trade object.
    update(price_change, signed_volume) -> float
        Push one explicit pair.
    update_many(price_change, signed_volume) -> float
        Push many explicit pairs (float64 arrays), all or nothing.
    advance(now_ns) -> float | None
        Close the open time bar if ``now_ns`` is past its end (timer without trades).
    flush() -> float | None
        Close the open time bar now (end of data).
    fit() -> (lambda, intercept, t_stat, r2, n)
        The current window's regression; NaN fields before ``min_periods`` pairs or when the
        regressor is constant.
    reset()

    Attributes
    ----------
    value : float
        lambda of the current window (NaN before ``min_periods`` pairs or when undefined).
    count : int
        Pairs in the window.
    n_trades, n_bars : int
        Trades accepted; time bars completed.

    Raises
    ------
    InvalidInputError
        Bad configuration; a trade with a non-finite / non-positive price, negative size, a side
        outside {-1, 0, +1}, or (time bars) a time before the previous one. A rejected trade
        changes nothing.
    """
    cdef OLS o
    cdef Diff d
    cdef BarAcc acc
    cdef Bar bar
    cdef int xkind
    cdef bint by_time
    cdef bint has_ts
    cdef int64_t last_ts
    cdef readonly Py_ssize_t window
    cdef readonly Py_ssize_t min_periods
    cdef readonly bint intercept
    cdef readonly bint log
    cdef readonly str x
    cdef readonly object interval_ns
    cdef readonly int64_t n_trades
    cdef readonly int64_t n_bars

    def __cinit__(self, window=20, intercept=True, *, interval_ns=None, x="sv", log=False,
                  min_periods=None):
        window = count_arg("window", window, 3 if intercept else 2)      # 3 points fit a line and its error
        min_periods = min_periods_arg(min_periods, window, 1)
        if x == "sv":
            self.xkind = X_SV
        elif x == "sdv":
            self.xkind = X_SDV
        elif x == "ssq":
            self.xkind = X_SSQ
        else:
            raise InvalidInputError(f"x must be 'sv', 'sdv' or 'ssq', got {x!r}")
        if interval_ns is not None:
            if (isinstance(interval_ns, bool) or not isinstance(interval_ns, numbers.Integral)
                    or not (0 < interval_ns < 2 ** 62)):
                raise InvalidInputError(f"interval_ns must be a positive int of nanoseconds or None, "
                                        f"got {interval_ns!r}")
        ols_init(&self.o, window)
        self.window = window
        self.min_periods = min_periods
        self.intercept = bool(intercept)
        self.log = bool(log)
        self.x = x
        self.interval_ns = interval_ns
        self.by_time = interval_ns is not None
        diff_init(&self.d, Y_LOGDIFF if self.log else Y_DIFF)
        baracc_init(&self.acc, BAR_TIME, interval_ns if self.by_time else 1, 0.0)
        self.has_ts = 0
        self.last_ts = 0
        self.n_trades = 0
        self.n_bars = 0

    def __dealloc__(self):
        ols_free(&self.o)

    def __repr__(self):
        return (f"KyleLambda(window={self.window}, intercept={self.intercept}, "
                f"interval_ns={self.interval_ns!r}, x={self.x!r}, log={self.log}, "
                f"min_periods={self.min_periods}; count={self.o.count}, value={self.value!r})")

    cdef inline double _value(self) noexcept nogil:
        if self.o.count < self.min_periods:
            return NAN
        return ols_fit(&self.o, self.intercept).slope

    cdef object _push_bar(self):
        # self.bar was just completed
        self.n_bars += 1
        if regression_step(&self.o, &self.d, self.bar.close, bar_flow(&self.bar, self.xkind)):
            return self._value()
        return None

    cdef object _add(self, double price, double size, int side, int64_t ts):
        cdef double x
        if not (price > 0.0 and price < INFINITY):
            raise InvalidInputError(f"price must be a finite number > 0, got {price!r}")
        if not (size >= 0.0 and size < INFINITY):
            raise InvalidInputError(f"size must be a finite number >= 0, got {size!r}")
        if side < -1 or side > 1:
            raise InvalidInputError(f"side must be +1 (taker buy), -1 (taker sell) or 0, got {side}")
        if not self.by_time:
            self.n_trades += 1
            x = trade_flow(self.xkind, price, size, <double>side)
            if regression_step(&self.o, &self.d, price, x):
                return self._value()
            return None
        if self.has_ts and ts < self.last_ts:
            raise InvalidInputError(f"ts_exch must not decrease, got {ts} after {self.last_ts}")
        self.has_ts = 1
        self.last_ts = ts
        self.n_trades += 1
        if baracc_feed(&self.acc, &self.bar, ts, price, size, <double>side):
            return self._push_bar()
        return None

    def add_trade(self, trade):
        """Add one :class:`ofi.Trade`; the new lambda (float, NaN until warm) when the trade
        completed a pair, else None."""
        if type(trade) is not Trade:
            raise InvalidInputError(f"trade must be an ofi.Trade, got {type(trade).__name__}")
        cdef Trade t = <Trade>trade
        return self._add(t.price, t.size, t.side, t.ts_exch)

    def add(self, double price, double size, int side, int64_t ts_exch=0):
        """``add_trade`` without a Trade object: price, size (>= 0), side (+1 / -1 / 0), ts in ns."""
        return self._add(price, size, side, ts_exch)

    def update(self, double price_change, double signed_volume):
        """Push one explicit (price change, signed volume) pair; returns the new lambda."""
        if not (fabs(price_change) < INFINITY and fabs(signed_volume) < INFINITY):
            raise InvalidInputError(f"price_change and signed_volume must be finite, got "
                                    f"{price_change!r}, {signed_volume!r}")
        ols_push(&self.o, signed_volume, price_change)
        return self._value()

    def update_many(self, const double[::1] price_change, const double[::1] signed_volume):
        """Push many explicit pairs (contiguous float64 arrays) in order; returns the last lambda.
        All-or-nothing: a non-finite value raises before any pair is pushed."""
        cdef Py_ssize_t i, bad = -1, n = price_change.shape[0]
        _check_same(n, signed_volume.shape[0], "price_change and signed_volume")
        with nogil:
            for i in range(n):
                if not (fabs(price_change[i]) < INFINITY and fabs(signed_volume[i]) < INFINITY):
                    bad = i
                    break
            if bad < 0:
                for i in range(n):
                    ols_push(&self.o, signed_volume[i], price_change[i])
        if bad >= 0:
            raise InvalidInputError(f"price_change and signed_volume must be finite; row {bad} is "
                                    f"({price_change[bad]!r}, {signed_volume[bad]!r})")
        return self._value()

    def flush(self):
        """Close the open time bar now (end of data); the new lambda, or None if nothing was pushed."""
        if self.by_time and baracc_flush(&self.acc, &self.bar):
            return self._push_bar()
        return None

    def advance(self, int64_t now_ns):
        """Close the open time bar if ``now_ns`` is past its end (a timer tick without a trade).
        Later trades must not be stamped before ``now_ns``. The new lambda, or None."""
        if self.has_ts and now_ns < self.last_ts:
            return None
        self.has_ts = 1
        self.last_ts = now_ns
        if (self.by_time and self.acc.cur.n > 0
                and ceil_div(now_ns, self.acc.interval) != self.acc.bar_id):
            baracc_flush(&self.acc, &self.bar)
            return self._push_bar()
        return None

    def reset(self):
        """Forget everything (window, previous price, open bar, counters)."""
        ols_reset(&self.o)
        diff_init(&self.d, self.d.ymode)
        baracc_init(&self.acc, BAR_TIME, self.acc.interval, 0.0)
        self.has_ts = 0
        self.last_ts = 0
        self.n_trades = 0
        self.n_bars = 0

    @property
    def value(self):
        """Lambda of the current window; NaN before ``min_periods`` pairs or when undefined."""
        return self._value()

    @property
    def count(self):
        """Pairs in the window."""
        return self.o.count

    def fit(self):
        """(lambda, intercept, t_stat, r2, n) of the current window; NaN fields before
        ``min_periods`` pairs or when undefined, n = pairs in the window."""
        cdef OLSFit f
        if self.o.count < self.min_periods:
            return (NAN, NAN, NAN, NAN, self.o.count)
        f = ols_fit(&self.o, self.intercept)
        return (f.slope, f.intercept, f.t_stat, f.r2, f.n)


# ------------------------------------------------------------------------- per-bar streaming
cdef inline int _check_price(double price, str name) except -1:
    if not (price > 0.0 and price < INFINITY):
        raise InvalidInputError(f"{name} must be a finite number > 0, got {price!r}")
    return 0


@cython.final
cdef class HasbrouckLambda:
    """Hasbrouck's lambda per bar, streaming: rolling OLS of the bar's log return on its signed
    root dollar volume sum_t b_t sqrt(p_t v_t) (AFML 19.4.3; ``hasbrouck_lambda`` in batch, the
    same kernel). ``update(close, ssq)`` once per bar returns the lambda (NaN until
    ``min_periods`` pairs), or None for the first bar."""
    cdef OLS o
    cdef Diff d
    cdef readonly Py_ssize_t window
    cdef readonly Py_ssize_t min_periods
    cdef readonly bint intercept

    def __cinit__(self, window=20, intercept=True, *, min_periods=None):
        self.window = count_arg("window", window, 2)
        self.min_periods = min_periods_arg(min_periods, self.window, 1)
        self.intercept = bool(intercept)
        ols_init(&self.o, self.window)
        diff_init(&self.d, Y_LOGDIFF)

    def __dealloc__(self):
        ols_free(&self.o)

    def update(self, double close, double ssq):
        _check_price(close, "close")
        if not fabs(ssq) < INFINITY:
            raise InvalidInputError(f"ssq must be finite, got {ssq!r}")
        if not regression_step(&self.o, &self.d, close, ssq):
            return None
        return self.value

    @property
    def value(self):
        if self.o.count < self.min_periods:
            return NAN
        return ols_fit(&self.o, self.intercept).slope

    def fit(self):
        """(lambda, intercept, t_stat, r2, n) of the current window."""
        cdef OLSFit f
        if self.o.count < self.min_periods:
            return (NAN, NAN, NAN, NAN, self.o.count)
        f = ols_fit(&self.o, self.intercept)
        return (f.slope, f.intercept, f.t_stat, f.r2, f.n)


@cython.final
cdef class AmihudLambda:
    """Amihud's illiquidity per bar, streaming: mean of |ln p_t - ln p_t-1| / DV_t over the last
    ``window`` bars with dollar volume > 0 (bars with DV = 0 are skipped, as in the batch
    ``amihud_lambda(method="mean")``). ``update(close, dollar_volume)`` returns the mean (NaN
    until ``min_periods`` bars)."""
    cdef Moments m
    cdef Diff d
    cdef readonly Py_ssize_t window
    cdef readonly Py_ssize_t min_periods

    def __cinit__(self, window=20, *, min_periods=None):
        self.window = count_arg("window", window, 1)
        self.min_periods = min_periods_arg(min_periods, self.window, 1)
        moments_init(&self.m, self.window)
        diff_init(&self.d, Y_ABSLOGDIFF)

    def __dealloc__(self):
        moments_free(&self.m)

    def update(self, double close, double dollar_volume):
        cdef double y
        _check_price(close, "close")
        if not (dollar_volume >= 0.0 and dollar_volume < INFINITY):
            raise InvalidInputError(f"dollar_volume must be a finite number >= 0, got {dollar_volume!r}")
        if dollar_volume > 0.0 and diff_step(&self.d, close, &y):
            moments_push(&self.m, y / dollar_volume)
        return self.value

    @property
    def value(self):
        return moments_mean(&self.m) if self.m.count >= self.min_periods else NAN


@cython.final
cdef class RollSpread:
    """Roll's spread, streaming: 2 sqrt(max(0, -cov(dp_t, dp_t-1))) over the last ``window`` pairs
    of price changes; 0 (``when_positive="zero"``) or NaN when the autocovariance is positive,
    never abs(). ``update(price)`` returns the spread (NaN until ``min_periods`` pairs)."""
    cdef Roll r
    cdef readonly Py_ssize_t window
    cdef readonly Py_ssize_t min_periods
    cdef bint positive_nan

    def __cinit__(self, window=20, *, when_positive="zero", min_periods=None):
        self.window = count_arg("window", window, 2)
        self.min_periods = min_periods_arg(min_periods, self.window, 2)
        if when_positive not in ("zero", "nan"):
            raise InvalidInputError(f"when_positive must be 'zero' or 'nan', got {when_positive!r}")
        self.positive_nan = when_positive == "nan"
        ols_init(&self.r.o, self.window)
        diff_init(&self.r.d, Y_DIFF)
        self.r.has_dp = 0
        self.r.prev_dp = 0.0

    def __dealloc__(self):
        ols_free(&self.r.o)

    def update(self, double price):
        if not fabs(price) < INFINITY:
            raise InvalidInputError(f"price must be finite, got {price!r}")
        roll_step(&self.r, price)
        return self.value

    @property
    def value(self):
        return roll_value(&self.r, self.positive_nan) if self.r.o.count >= self.min_periods else NAN


@cython.final
cdef class CorwinSchultzSpread:
    """Corwin-Schultz spread and Beckers-Parkinson sigma from bar highs and lows, streaming
    (AFML snippets 19.1-19.2; ``corwin_schultz`` in batch). ``update(high, low)`` returns
    (spread, sigma), NaN until ``min_periods`` two-bar sums."""
    cdef CorwinSchultz c
    cdef readonly Py_ssize_t window
    cdef readonly Py_ssize_t min_periods

    def __cinit__(self, window=20, *, min_periods=None):
        self.window = count_arg("window", window, 1)
        self.min_periods = min_periods_arg(min_periods, self.window, 1)
        moments_init(&self.c.beta, self.window)
        self.c.has_prev = 0
        self.c.prev_high = self.c.prev_low = self.c.prev_hl2 = 0.0

    def __dealloc__(self):
        moments_free(&self.c.beta)

    def update(self, double high, double low):
        cdef double spread, sigma
        _check_price(low, "low")
        if not (high >= low and high < INFINITY):
            raise InvalidInputError(f"high must be finite and >= low, got high={high!r}, low={low!r}")
        cs_step(&self.c, high, low, self.min_periods, &spread, &sigma)
        return (spread, sigma)


@cython.final
cdef class TickRule:
    """The tick rule, streaming: +1 after an uptick, -1 after a downtick, the previous sign after
    a zero tick, ``first`` until the price first moves (``tick_rule`` in batch)."""
    cdef double prev
    cdef bint has_prev
    cdef int sign

    def __cinit__(self, int first=0):
        if first not in (-1, 0, 1):
            raise InvalidInputError(f"first must be -1, 0 or 1, got {first}")
        self.sign = first
        self.has_prev = 0

    def update(self, double price):
        if not fabs(price) < INFINITY:
            raise InvalidInputError(f"price must be finite, got {price!r}")
        if self.has_prev:
            if price > self.prev:
                self.sign = 1
            elif price < self.prev:
                self.sign = -1
        self.prev = price
        self.has_prev = 1
        return self.sign
