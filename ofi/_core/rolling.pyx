"""Rolling statistics: streaming classes and batch loops over the inline kernels of rolling.pxd.

Public wrappers with input checks live in ``ofi.orderflow.rolling``; these functions trust their
arguments (contiguous float64 / int64, equal lengths, valid windows).
"""
cimport cython
from libc.stdint cimport int64_t
from libc.math cimport NAN, INFINITY, sqrt, fabs

import numpy as np

from ofi._core.rolling cimport (
    Moments, moments_init, moments_free, moments_reset, moments_push, moments_mean, moments_var,
    moments_zscore, OLS, OLSFit, ols_init, ols_free, ols_reset, ols_push, ols_fit, ols_store, Ewm,
    ewm_init,
    ewm_push, TimeSum, timesum_init, timesum_free, timesum_reset, timesum_push, timesum_advance,
)


def duration_ns(str name, value):
    """A positive duration as int nanoseconds: an int is taken as ns; a ``datetime.timedelta`` or
    ``numpy.timedelta64`` is converted; a float is refused (seconds or ns? say which)."""
    import datetime
    import numbers
    from ofi.errors import InvalidInputError
    if isinstance(value, datetime.timedelta):
        ns = (value.days * 86400 + value.seconds) * 1_000_000_000 + value.microseconds * 1000
    elif isinstance(value, np.timedelta64):
        ns = int(value.astype("timedelta64[ns]").astype(np.int64))
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
        ns = int(value)
    else:
        raise InvalidInputError(f"{name} must be an int of nanoseconds or a timedelta, got {value!r}")
    if ns <= 0 or ns >= 2**62:
        raise InvalidInputError(f"{name} must be a positive duration, got {value!r}")
    return ns


# ------------------------------------------------------------------------------------ batch
def rolling_moments(const double[::1] x, Py_ssize_t window, int ddof, Py_ssize_t min_periods):
    """Rolling mean, variance and z-score of x over the last `window` values (current included)."""
    cdef Py_ssize_t i, n = x.shape[0]
    cdef Moments m
    mean = np.empty(n)
    var = np.empty(n)
    z = np.empty(n)
    cdef double[::1] om = mean, ov = var, oz = z
    moments_init(&m, window)
    try:
        with nogil:
            for i in range(n):
                moments_push(&m, x[i])
                if m.count >= min_periods:
                    om[i] = moments_mean(&m)
                    ov[i] = moments_var(&m, ddof)
                    oz[i] = moments_zscore(&m, x[i], ddof)
                else:
                    om[i] = NAN
                    ov[i] = NAN
                    oz[i] = NAN
    finally:
        moments_free(&m)
    return mean, var, z


def ewm_moments(const double[::1] x, double alpha):
    """Exponentially weighted mean and variance after each value."""
    cdef Py_ssize_t i, n = x.shape[0]
    cdef Ewm e
    mean = np.empty(n)
    var = np.empty(n)
    cdef double[::1] om = mean, ov = var
    ewm_init(&e, alpha)
    with nogil:
        for i in range(n):
            ewm_push(&e, x[i])
            om[i] = e.mean
            ov[i] = e.var
    return mean, var


def rolling_ols(const double[::1] x, const double[::1] y, Py_ssize_t window, bint intercept,
                Py_ssize_t min_periods):
    """Rolling least squares of y on x: slope, intercept, slope t-stat and R^2 after each pair."""
    cdef Py_ssize_t i, n = x.shape[0]
    cdef OLS o
    cdef OLSFit f
    out = np.empty((4, n))
    cdef double[:, ::1] r = out
    ols_init(&o, window)
    try:
        with nogil:
            for i in range(n):
                ols_push(&o, x[i], y[i])
                ols_store(&o, intercept, min_periods, &r[0, 0], n, i)
    finally:
        ols_free(&o)
    return out


def time_window_sum(const int64_t[::1] ts, const double[::1] x, int64_t width):
    """Sum and count of the values stamped in (ts[i] - width, ts[i]] after each value."""
    cdef Py_ssize_t i, n = ts.shape[0]
    cdef TimeSum w
    cdef int rc = 0
    total = np.empty(n)
    count = np.empty(n, dtype=np.int64)
    cdef double[::1] ot = total
    cdef int64_t[::1] oc = count
    timesum_init(&w, width)
    try:
        with nogil:
            for i in range(n):
                rc = timesum_push(&w, ts[i], x[i])
                if rc < 0:
                    break
                ot[i] = w.total
                oc[i] = w.count
    finally:
        timesum_free(&w)
    if rc < 0:
        raise MemoryError()
    return total, count


# ------------------------------------------------------------------------------------ streaming
@cython.final
cdef class RollingMoments:
    """Mean, variance and z-score over the last ``window`` values, O(1) per value."""
    cdef Moments m
    cdef readonly Py_ssize_t window
    cdef readonly int ddof

    def __cinit__(self, Py_ssize_t window, int ddof=1):
        moments_init(&self.m, window)
        self.window = window
        self.ddof = ddof

    def __dealloc__(self):
        moments_free(&self.m)

    def push(self, double x):
        if not fabs(x) < INFINITY:
            from ofi.errors import InvalidInputError
            raise InvalidInputError(f"x must be a finite number, got {x!r}")
        moments_push(&self.m, x)

    def reset(self):
        moments_reset(&self.m)

    @property
    def count(self):
        return self.m.count

    @property
    def full(self):
        return self.m.count == self.window

    @property
    def mean(self):
        return moments_mean(&self.m)

    @property
    def var(self):
        return moments_var(&self.m, self.ddof)

    @property
    def std(self):
        return sqrt(moments_var(&self.m, self.ddof))

    def zscore(self, double x):
        """(x - mean) / std of the window (NaN when empty or constant)."""
        return moments_zscore(&self.m, x, self.ddof)


@cython.final
cdef class RollingOLS:
    """Least squares of y on x over the last ``window`` pairs, O(1) per pair."""
    cdef OLS o
    cdef readonly Py_ssize_t window
    cdef readonly bint intercept

    def __cinit__(self, Py_ssize_t window, bint intercept=True):
        ols_init(&self.o, window)
        self.window = window
        self.intercept = intercept

    def __dealloc__(self):
        ols_free(&self.o)

    def push(self, double x, double y):
        if not (fabs(x) < INFINITY and fabs(y) < INFINITY):
            from ofi.errors import InvalidInputError
            raise InvalidInputError(f"x and y must be finite numbers, got {x!r}, {y!r}")
        ols_push(&self.o, x, y)

    def reset(self):
        ols_reset(&self.o)

    @property
    def count(self):
        return self.o.count

    def fit(self):
        """(slope, intercept, t_stat, r2, n) of the current window; NaN fields when undefined."""
        cdef OLSFit f = ols_fit(&self.o, self.intercept)
        return (f.slope, f.intercept, f.t_stat, f.r2, f.n)


@cython.final
cdef class EwmMoments:
    """Exponentially weighted mean and variance: mean += alpha * (x - mean)."""
    cdef Ewm e

    def __cinit__(self, double alpha):
        if not (0.0 < alpha <= 1.0):
            from ofi.errors import InvalidInputError
            raise InvalidInputError(f"alpha must be in (0, 1], got {alpha!r}")
        ewm_init(&self.e, alpha)

    def push(self, double x):
        if not fabs(x) < INFINITY:
            from ofi.errors import InvalidInputError
            raise InvalidInputError(f"x must be a finite number, got {x!r}")
        ewm_push(&self.e, x)

    @property
    def alpha(self):
        return self.e.alpha

    @property
    def count(self):
        return self.e.count

    @property
    def mean(self):
        return self.e.mean

    @property
    def var(self):
        return self.e.var


@cython.final
cdef class TimeWindowSum:
    """Sum of the values stamped in (t - width, t], where t is the latest time seen."""
    cdef TimeSum w

    def __cinit__(self, int64_t width):
        timesum_init(&self.w, width)

    def __dealloc__(self):
        timesum_free(&self.w)

    def push(self, int64_t ts, double v):
        if not fabs(v) < INFINITY:
            from ofi.errors import InvalidInputError
            raise InvalidInputError(f"v must be a finite number, got {v!r}")
        if self.w.count and ts < self.w.ts[(self.w.start + self.w.count - 1) & (self.w.cap - 1)]:
            from ofi.errors import InvalidInputError
            raise InvalidInputError(f"ts must not decrease, got {ts}")
        if timesum_push(&self.w, ts, v) < 0:
            raise MemoryError()

    def advance(self, int64_t now):
        """Drop values that left the window by time ``now`` without adding one."""
        timesum_advance(&self.w, now)

    def reset(self):
        timesum_reset(&self.w)

    @property
    def width(self):
        return self.w.width

    @property
    def total(self):
        return self.w.total

    @property
    def count(self):
        return self.w.count
