"""VPIN (Easley, Lopez de Prado & O'Hara 2012): the volume-bucket kernel of vpin.pxd driven two ways,
a batch loop over arrays and the streaming :class:`VpinCalculator`, plus the trade-side
classifiers that feed it a buy fraction per row (tick rule, bulk volume classification).

The public batch function with input checks is ``ofi.orderflow.vpin.vpin_series``; the batch
helpers here trust their arguments (contiguous float64 / int64, equal lengths, valid sizes).
"""
cimport cython
from libc.stdint cimport int64_t
from libc.stdlib cimport calloc, free
from libc.math cimport NAN, INFINITY, erfc, sqrt

import numpy as np

from ofi._core.events cimport Trade
from ofi._core.rolling cimport (
    Moments, moments_init, moments_free, moments_reset, moments_push, moments_var, count_arg,
)
from ofi._core.vpin cimport (
    VpinState, VpinOut, vpin_init, vpin_free, vpin_reset, vpin_add, vpin_progress,
)

from ofi.errors import InvalidInputError

cdef enum:
    CLS_AGGRESSOR = 0
    CLS_TICK = 1
    CLS_BVC = 2
    CLS_BVC_T = 3

CLASSIFICATIONS = ("aggressor", "tick", "bvc", "bvc_t")
# A single row may complete at most this many buckets (a guard against a mistyped bucket_volume
# turning one trade into an endless loop).
MAX_BUCKETS_PER_ROW = 1e9

cdef double SQRT1_2 = 0.70710678118654752440


# ------------------------------------------------------------------------------------ classifiers
cdef inline double normal_cdf_c(double z) noexcept nogil:
    """Standard normal CDF, 0.5 * erfc(-z / sqrt(2)); exact 0 / 1 at -inf / +inf."""
    return 0.5 * erfc(-z * SQRT1_2)


# Tick rule (AFML 19.3.1): b_t = sign(p_t - p_{t-1}) if the price changed, else b_{t-1}. As a buy
# fraction: 1 after an up-tick, 0 after a down-tick, 0.5 before the first price change (no sign
# is known yet; the spec's b_0 is undefined).
ctypedef struct TickRule:
    double last_price
    double frac
    bint started


cdef inline void tick_reset(TickRule* t) noexcept nogil:
    t.last_price = NAN
    t.frac = 0.5
    t.started = False


cdef inline double tick_fraction(TickRule* t, double price) noexcept nogil:
    if t.started and price != t.last_price:
        t.frac = 1.0 if price > t.last_price else 0.0
    t.last_price = price
    t.started = True
    return t.frac


# Bulk volume classification (ELO 2012 eq. 7) on time bars: z = dP / sigma with dP the change
# from the previous non-empty bar. Empty bars are skipped before dP is taken (their price is
# stale); the first non-empty bar has no dP and is not classified. sigma is fixed (given, or the
# full-sample std of dP computed by the batch wrapper), or rolling: the sample std (ddof=1) of the
# last `window` dP strictly before the bar, so a bar never sees its own change; until `window`
# changes exist the bar is not classified. dP = 0 gives z = 0 (Z(0/0) := 0.5); dP != 0 with
# sigma = 0 gives z = +-inf.
ctypedef struct BvcState:
    double prev_price
    bint has_prev
    double sigma        # fixed sigma (>= 0), unused when rolling
    bint rolling
    Moments m           # past dP, when rolling


cdef int bvc_init(BvcState* b, double sigma, Py_ssize_t window) except -1:
    b.sigma = sigma
    b.rolling = window > 0
    b.m.buf = NULL
    if b.rolling:
        moments_init(&b.m, window)
    bvc_reset(b)
    return 0


cdef inline void bvc_free(BvcState* b) noexcept nogil:
    if b.rolling:
        moments_free(&b.m)


cdef inline void bvc_reset(BvcState* b) noexcept nogil:
    b.prev_price = NAN
    b.has_prev = False
    if b.rolling:
        moments_reset(&b.m)


cdef inline bint bvc_step(BvcState* b, double price, double volume, double* z) noexcept nogil:
    """Feed one bar; return True and set z when the bar is classified."""
    cdef double dp, sd
    if not (volume > 0.0):
        return False
    if not b.has_prev:
        b.prev_price = price
        b.has_prev = True
        return False
    dp = price - b.prev_price
    b.prev_price = price
    if b.rolling:
        if b.m.count < b.m.cap:
            moments_push(&b.m, dp)
            return False
        sd = sqrt(moments_var(&b.m, 1))
        moments_push(&b.m, dp)
    else:
        sd = b.sigma
    if dp == 0.0:
        z[0] = 0.0
    elif sd > 0.0:
        z[0] = dp / sd
    else:
        z[0] = INFINITY if dp > 0.0 else -INFINITY
    return True


# ------------------------------------------------------------------------------------ batch
def normal_cdf(const double[::1] z):
    """Standard normal CDF of each z (the C function the streaming class uses)."""
    cdef Py_ssize_t i, n = z.shape[0]
    out = np.empty(n)
    cdef double[::1] o = out
    with nogil:
        for i in range(n):
            o[i] = normal_cdf_c(z[i])
    return out


def tick_fractions(const double[::1] price):
    """Buy fraction of each trade by the tick rule (1 up, 0 down, 0.5 before any change)."""
    cdef Py_ssize_t i, n = price.shape[0]
    cdef TickRule t
    out = np.empty(n)
    cdef double[::1] o = out
    tick_reset(&t)
    with nogil:
        for i in range(n):
            o[i] = tick_fraction(&t, price[i])
    return out


def bvc_z(const double[::1] price, const double[::1] volume, double sigma, Py_ssize_t window):
    """(rows, z): the index and standardised price change of every classified bar.

    ``window > 0`` uses the rolling sigma of the ``window`` previous changes; otherwise ``sigma``
    (>= 0) is fixed.
    """
    cdef BvcState b
    bvc_init(&b, sigma, window)
    try:
        return bvc_z_from(&b, price, volume)
    finally:
        bvc_free(&b)


def vpin_buckets(const double[::1] volume, const double[::1] frac, rows, double bucket_volume,
                 Py_ssize_t n_buckets, Py_ssize_t cap):
    """Bucket the rows: volume[i] with buy fraction frac[i], tagged rows[i] (or i when ``rows`` is
    None). ``cap`` must bound the number of completed buckets (sum(volume) / (V (1 - 2e-9)) + 2).

    Returns (buy, sell, imbalance, vpin, end_index, progress).
    """
    cdef Py_ssize_t i, n = volume.shape[0]
    cdef VpinState s
    cdef VpinOut out
    cdef const int64_t[::1] rv
    cdef bint has_rows = rows is not None
    if has_rows:
        rv = rows
    buy = np.empty(cap)
    sell = np.empty(cap)
    imb = np.empty(cap)
    vp = np.empty(cap)
    end = np.empty(cap, dtype=np.int64)
    cdef double[::1] ob = buy, os_ = sell, oi = imb, ov = vp
    cdef int64_t[::1] oe = end
    out.buy = &ob[0] if cap else NULL
    out.sell = &os_[0] if cap else NULL
    out.imbalance = &oi[0] if cap else NULL
    out.vpin = &ov[0] if cap else NULL
    out.end_index = &oe[0] if cap else NULL
    out.cap = cap
    out.count = 0
    vpin_init(&s, bucket_volume, n_buckets)
    try:
        with nogil:
            if has_rows:
                for i in range(n):
                    vpin_add(&s, volume[i], frac[i], rv[i], &out)
            else:
                for i in range(n):
                    vpin_add(&s, volume[i], frac[i], i, &out)
        progress = vpin_progress(&s)
    finally:
        vpin_free(&s)
    if out.count > cap:  # pragma: no cover - cap is an upper bound by construction
        raise RuntimeError(f"vpin_buckets: {out.count} buckets exceed the capacity {cap}")
    k = out.count
    return buy[:k], sell[:k], imb[:k], vp[:k], end[:k], progress


def expanding_ecdf(const double[::1] x):
    """Empirical CDF of each x[i] among the non-NaN x[0..i] (itself included); NaN stays NaN."""
    cdef Py_ssize_t i, j, n = x.shape[0], m
    cdef int64_t seen = 0, c
    cdef int64_t* tree
    arr = np.asarray(x)
    ok = ~np.isnan(arr)
    uniq, inv = np.unique(arr[ok], return_inverse=True)
    ranks = np.full(n, -1, dtype=np.int64)
    ranks[ok] = inv.ravel() + 1                     # 1-based rank among the distinct values
    cdef const int64_t[::1] rk = ranks
    out = np.empty(n)
    cdef double[::1] o = out
    m = uniq.shape[0]
    tree = <int64_t*>calloc(m + 1, sizeof(int64_t))  # Fenwick tree of counts per rank
    if tree == NULL:
        raise MemoryError()
    try:
        with nogil:
            for i in range(n):
                if rk[i] < 0:
                    o[i] = NAN
                    continue
                j = rk[i]
                while j <= m:
                    tree[j] += 1
                    j += j & -j
                seen += 1
                c = 0
                j = rk[i]
                while j > 0:
                    c += tree[j]
                    j -= j & -j
                o[i] = <double>c / <double>seen
    finally:
        free(tree)
    return out


# ------------------------------------------------------------------------------------ streaming
cdef object _bad(str msg):
    return InvalidInputError(msg)


cdef double _number(str name, object x) except? -1.0:
    if type(x) is float:
        return <double>x
    if isinstance(x, (bool, str, bytes)) or x is None:
        raise _bad(f"{name} must be a number, got {x!r}")
    try:
        return float(x)
    except (TypeError, ValueError):
        raise _bad(f"{name} must be a number, got {x!r}") from None


cdef int _parse_classification(object classification) except -1:
    if classification == "aggressor":
        return CLS_AGGRESSOR
    if classification == "tick":
        return CLS_TICK
    if classification == "bvc" or classification == "bvc_normal":
        return CLS_BVC
    if classification == "bvc_t":
        return CLS_BVC_T
    raise _bad(f"classification must be one of {', '.join(map(repr, CLASSIFICATIONS))}, "
               f"got {classification!r}")


cdef double _positive(str name, object value) except? -1.0:
    import numbers
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _bad(f"{name} must be a number > 0, got {value!r}")
    cdef double v = float(value)
    if not (v > 0.0 and v < INFINITY):
        raise _bad(f"{name} must be a finite number > 0, got {value!r}")
    return v


cdef object _vector(str name, object x):
    """x as a 1-D C-contiguous float64 array, or InvalidInputError naming it."""
    try:
        a = np.ascontiguousarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise _bad(f"{name} must be an array of numbers: {exc}") from None
    if a.ndim != 1:
        raise _bad(f"{name} must be 1-D, got shape {a.shape}")
    return a


@cython.final
cdef class VpinCalculator:
    """Streaming VPIN over volume buckets (Easley, Lopez de Prado & O'Hara 2012, eq. 9).

    Parameters
    ----------
    bucket_volume : float
        V, the volume of one bucket in base units (paper: average daily volume / 50).
    n_buckets : int
        n, the number of completed buckets VPIN averages over (paper: 50).
    classification : {"aggressor", "tick", "bvc", "bvc_t"}
        How a row's volume is split into buys and sells. "aggressor": the taker side of each
        trade (Bybit's ``S``), exact. "tick": the tick rule on trade prices (0.5 before the first
        price change). "bvc" / "bvc_t": bulk volume classification of time bars fed with
        :meth:`add_bar`, buy fraction Z(dP / sigma) with the normal or Student-t CDF.
    sigma : float, optional
        Fixed sigma of bar price changes for "bvc" / "bvc_t".
    sigma_window : int, optional
        Instead of ``sigma``: the sample std (ddof=1) of the last ``sigma_window`` bar changes
        before each bar (no look-ahead); bars are not classified until that many changes exist.
    df : float, optional
        Degrees of freedom of the Student-t CDF; required for "bvc_t" (uses scipy).

    Notes
    -----
    A row fills the open bucket and carries its overflow into the next bucket(s); each piece keeps
    the row's buy fraction. VPIN = sum of |V^S - V^B| over the last n completed buckets / their
    total volume (= n V), in [0, 1]; NaN until n buckets are complete. The open bucket is left
    out (see :attr:`progress`). Identical, bit for bit, to ``ofi.orderflow.vpin_series`` on the same
    rows.

    Raises
    ------
    InvalidInputError
        On a bad argument, naming it.
    """
    cdef VpinState s
    cdef TickRule tick
    cdef BvcState bvc
    cdef int cls
    cdef double max_volume
    cdef int64_t nrows
    cdef object _stdtr
    cdef double _df
    cdef readonly double bucket_volume
    cdef readonly Py_ssize_t n_buckets
    cdef readonly str classification
    cdef readonly object sigma
    cdef readonly object sigma_window
    cdef readonly object df

    def __init__(self, bucket_volume, n_buckets, classification="aggressor", *, sigma=None,
                 sigma_window=None, df=None):
        cdef double V = _positive("bucket_volume", bucket_volume)
        cdef Py_ssize_t n = count_arg("n_buckets", n_buckets, 1)
        cdef int cls = _parse_classification(classification)
        cdef double sig = NAN
        cdef Py_ssize_t window = 0
        if self.s.imb != NULL:
            raise _bad("VpinCalculator is already initialised")
        if cls == CLS_BVC or cls == CLS_BVC_T:
            if sigma is not None and sigma_window is not None:
                raise _bad("give sigma or sigma_window, not both")
            if sigma is None and sigma_window is None:
                raise _bad(f"classification={classification!r} needs sigma or sigma_window when "
                           "streaming (the full-sample sigma needs the whole series: use "
                           "ofi.orderflow.vpin_series)")
            if sigma is not None:
                sig = _positive("sigma", sigma)
            else:
                window = count_arg("sigma_window", sigma_window, 2)
        elif sigma is not None or sigma_window is not None:
            raise _bad(f"sigma and sigma_window apply to classification 'bvc' or 'bvc_t', "
                       f"not {classification!r}")
        if cls == CLS_BVC_T:
            if df is None:
                raise _bad("classification='bvc_t' needs df (degrees of freedom > 0)")
            self._df = _positive("df", df)
            from scipy.special import stdtr
            self._stdtr = stdtr
        elif df is not None:
            raise _bad(f"df applies to classification 'bvc_t', not {classification!r}")
        vpin_init(&self.s, V, n)
        bvc_init(&self.bvc, sig, window)
        tick_reset(&self.tick)
        self.cls = cls
        self.max_volume = MAX_BUCKETS_PER_ROW * V
        self.nrows = 0
        self.bucket_volume = V
        self.n_buckets = n
        self.classification = "bvc" if cls == CLS_BVC else classification
        self.sigma = None if sigma is None else sig
        self.sigma_window = None if sigma_window is None else window
        self.df = None if df is None else self._df

    def __dealloc__(self):
        vpin_free(&self.s)
        bvc_free(&self.bvc)

    cdef inline object _result(self, Py_ssize_t completed):
        if completed and self.s.buckets >= self.s.n:
            return self.s.vpin
        return None

    cdef int _check_volume(self, str name, double volume) except -1:
        if not (volume >= 0.0 and volume <= self.max_volume):
            if volume > self.max_volume and volume < INFINITY:
                raise _bad(f"{name}={volume!r} would fill more than {MAX_BUCKETS_PER_ROW:.0e} buckets "
                           f"of bucket_volume={self.bucket_volume!r}")
            raise _bad(f"{name} must be a finite number >= 0, got {volume!r}")
        return 0

    def add_trade(self, object trade):
        """Add one trade.

        Parameters
        ----------
        trade : ofi.Trade
            Its ``size`` is the volume; the buy fraction comes from ``side`` ("aggressor": +1 -> 1,
            -1 -> 0) or from ``price`` ("tick"). The C fields are read directly.

        Returns
        -------
        float or None
            The new VPIN if this trade completed at least one bucket and n buckets exist (after
            the last bucket it completed), else None.

        Raises
        ------
        InvalidInputError
            ``trade`` not an ``ofi.Trade``, a NaN / negative / absurdly large size, a side other
            than +-1, a non-finite price ("tick"), or a bvc calculator. The state is untouched.
        """
        if type(trade) is not Trade:
            raise _bad(f"trade must be an ofi.Trade, got {type(trade).__name__}")
        cdef Trade tr = <Trade>trade
        cdef double size = tr.size, frac
        cdef int side
        cdef Py_ssize_t k
        if not (size >= 0.0 and size <= self.max_volume):
            self._check_volume("trade.size", size)
        if self.cls == CLS_AGGRESSOR:
            side = tr.side
            if side != 1 and side != -1:
                raise _bad(f"trade.side must be +1 or -1, got {side}")
            frac = (side + 1) * 0.5
        elif self.cls == CLS_TICK:
            if not (-INFINITY < tr.price < INFINITY):
                raise _bad(f"trade.price must be finite, got {tr.price!r}")
            frac = tick_fraction(&self.tick, tr.price)
        else:
            raise _bad(f"add_trade needs classification 'aggressor' or 'tick', this calculator "
                       f"uses {self.classification!r}: feed time bars with add_bar(price, volume)")
        k = vpin_add(&self.s, size, frac, self.nrows, NULL)
        self.nrows += 1
        if k and self.s.buckets >= self.s.n:
            return self.s.vpin
        return None

    def add(self, volume, buy_fraction):
        """Add one pre-classified row: ``volume`` of which ``buy_fraction`` (in [0, 1]) was bought.

        Bypasses the calculator's classification. Returns the new VPIN if a bucket completed and n
        buckets exist, else None.
        """
        cdef double v = _number("volume", volume)
        cdef double f = _number("buy_fraction", buy_fraction)
        self._check_volume("volume", v)
        if not (0.0 <= f <= 1.0):
            raise _bad(f"buy_fraction must be in [0, 1], got {buy_fraction!r}")
        cdef Py_ssize_t k = vpin_add(&self.s, v, f, self.nrows, NULL)
        self.nrows += 1
        return self._result(k)

    def add_bar(self, price, volume):
        """Add one time bar (its last price and total volume) for "bvc" / "bvc_t".

        Empty bars are skipped; the first non-empty bar and, with ``sigma_window``, the bars
        before the window is full only set the reference price / sigma and are not bucketed.
        Returns the new VPIN if a bucket completed and n buckets exist, else None.
        """
        cdef double p = _number("price", price)
        cdef double v = _number("volume", volume)
        cdef double z, frac
        cdef Py_ssize_t k = 0
        if self.cls != CLS_BVC and self.cls != CLS_BVC_T:
            raise _bad(f"add_bar needs classification 'bvc' or 'bvc_t', this calculator uses "
                       f"{self.classification!r}")
        if not (-INFINITY < p < INFINITY):
            raise _bad(f"price must be finite, got {price!r}")
        self._check_volume("volume", v)
        if bvc_step(&self.bvc, p, v, &z):
            if self.cls == CLS_BVC:
                frac = normal_cdf_c(z)
            else:
                frac = float(self._stdtr(self._df, z))
            k = vpin_add(&self.s, v, frac, self.nrows, NULL)
        self.nrows += 1
        return self._result(k)

    def add_trades(self, size, side=None, price=None):
        """Add many trades from arrays, as many :meth:`add_trade` calls would.

        Parameters
        ----------
        size : array_like of float, shape (N,)
            Trade sizes, finite and >= 0.
        side : array_like, shape (N,), optional
            Taker sides +1 / -1; required for "aggressor".
        price : array_like of float, shape (N,), optional
            Trade prices; required for "tick".

        Returns
        -------
        ndarray of float64, shape (N,)
            Per row, the new VPIN where that row completed a bucket and n buckets exist, NaN
            elsewhere.

        Raises
        ------
        InvalidInputError
            A bad or missing array (checked whole before any row is added: the state is untouched
            on error), or a bvc calculator.
        """
        cdef Py_ssize_t i, n, k
        cdef TickRule* tk = &self.tick
        sz = self._rows("size", size)
        n = sz.shape[0]
        if self.cls == CLS_AGGRESSOR:
            if side is None:
                raise _bad("side is required for classification 'aggressor'")
            sd = self._arr("side", side, n)
            if not np.all((sd == 1.0) | (sd == -1.0)):
                i = int(np.flatnonzero((sd != 1.0) & (sd != -1.0))[0])
                raise _bad(f"side must be +1 or -1, got {sd[i]!r} at index {i}")
            fr = (sd + 1.0) * 0.5
        elif self.cls == CLS_TICK:
            if price is None:
                raise _bad("price is required for classification 'tick'")
            fr = self._arr("price", price, n)
        else:
            raise _bad(f"add_trades needs classification 'aggressor' or 'tick', this calculator "
                       f"uses {self.classification!r}: use add_bars(price, volume)")
        out = np.empty(n)
        cdef const double[::1] v = sz, f = fr
        cdef double[::1] o = out
        cdef bint tick = self.cls == CLS_TICK
        cdef double x
        cdef VpinState* s = &self.s
        cdef int64_t base = self.nrows
        with nogil:
            for i in range(n):
                x = tick_fraction(tk, f[i]) if tick else f[i]
                k = vpin_add(s, v[i], x, base + i, NULL)
                o[i] = s.vpin if k and s.buckets >= s.n else NAN
        self.nrows = base + n
        return out

    def add_bars(self, price, volume):
        """Add many time bars from arrays ("bvc" / "bvc_t"); per-row output as :meth:`add_trades`."""
        cdef Py_ssize_t i, n, j, m
        if self.cls != CLS_BVC and self.cls != CLS_BVC_T:
            raise _bad(f"add_bars needs classification 'bvc' or 'bvc_t', this calculator uses "
                       f"{self.classification!r}")
        vol = self._rows("volume", volume)
        n = vol.shape[0]
        px = self._arr("price", price, n)
        out = np.full(n, NAN)
        rows, z = bvc_z_from(&self.bvc, px, vol)
        if self.cls == CLS_BVC:
            fr = normal_cdf(z)
        else:
            fr = np.ascontiguousarray(self._stdtr(self._df, z), dtype=np.float64)
        cdef const int64_t[::1] r = rows
        cdef const double[::1] f = fr, v = vol
        cdef double[::1] o = out
        cdef Py_ssize_t k
        cdef int64_t base = self.nrows
        m = r.shape[0]
        with nogil:
            for j in range(m):
                i = r[j]
                k = vpin_add(&self.s, v[i], f[j], base + i, NULL)
                if k and self.s.buckets >= self.s.n:
                    o[i] = self.s.vpin
        self.nrows += n
        return out

    cdef object _arr(self, str name, object x, Py_ssize_t n):
        a = _vector(name, x)
        if a.shape[0] != n:
            raise _bad(f"arrays must have the same length, got {name}={a.shape[0]}, size/volume={n}")
        bad = ~np.isfinite(a)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise _bad(f"{name} must be finite, got {a[i]!r} at index {i}")
        return a

    cdef object _rows(self, str name, object x):
        a = _vector(name, x)
        bad = ~((a >= 0.0) & (a <= self.max_volume))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            self._check_volume(f"{name}[{i}]", a[i])
        return a

    def reset(self):
        """Forget every row (buckets, open bucket, tick-rule and sigma state)."""
        vpin_reset(&self.s)
        bvc_reset(&self.bvc)
        tick_reset(&self.tick)
        self.nrows = 0

    @property
    def vpin(self):
        """VPIN after the last completed bucket; NaN until n buckets are complete."""
        return self.s.vpin

    @property
    def ready(self):
        """True once n buckets are complete."""
        return self.s.buckets >= self.s.n

    @property
    def buckets(self):
        """Number of completed buckets."""
        return self.s.buckets

    @property
    def progress(self):
        """Fill of the open (incomplete) bucket as a fraction of V, in [0, 1)."""
        return vpin_progress(&self.s)

    @property
    def rows(self):
        """Rows (trades, bars, ``add`` calls) fed so far."""
        return self.nrows

    @property
    def last_buy_volume(self):
        """V^B of the bucket completed last (NaN before the first)."""
        return self.s.last_buy

    @property
    def last_sell_volume(self):
        """V^S of the bucket completed last (NaN before the first)."""
        return self.s.last_sell

    def __repr__(self):
        return (f"VpinCalculator(bucket_volume={self.bucket_volume!r}, n_buckets={self.n_buckets}, "
                f"classification={self.classification!r}, buckets={self.s.buckets}, "
                f"vpin={self.s.vpin!r})")


cdef tuple bvc_z_from(BvcState* b, const double[::1] price, const double[::1] volume):
    cdef Py_ssize_t i, k = 0, n = price.shape[0]
    cdef double zz
    rows = np.empty(n, dtype=np.int64)
    z = np.empty(n)
    cdef int64_t[::1] orow = rows
    cdef double[::1] oz = z
    with nogil:
        for i in range(n):
            if bvc_step(b, price[i], volume[i], &zz):
                orow[k] = i
                oz[k] = zz
                k += 1
    return rows[:k], z[:k]
