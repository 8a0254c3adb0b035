# Rolling statistics shared by every order-flow kernel (OFI z-scores, VPIN's rolling sigma, Kyle's
# lambda, the toxicity index, later the feature kernel). Each statistic is a plain C struct plus
# inline functions, so a kernel embeds it by value and pays no call or Python overhead per event.
#
# Stability: sliding moments use Welford's add/remove updates and, every `cap` replacements, are
# recomputed exactly (two passes) from the ring of values the struct keeps anyway. The drift of
# running sums therefore never outlives one window (amortised O(1)), and over 1e8 events the result
# stays within a few ulps of a fresh two-pass computation. Streaming classes and batch functions call
# these same functions in the same order, so their outputs are identical bit for bit.
from libc.stdint cimport int64_t
from libc.stdlib cimport malloc, free, realloc
from libc.math cimport NAN, sqrt, fabs


# ---------------------------------------------------------------- configuration checks
# Shared by the streaming classes' constructors (the core cannot import ofi.validation).
cdef inline Py_ssize_t count_arg(str name, object value, Py_ssize_t minimum) except -1:
    """An int in [minimum, 2**31 - 1] (not a bool), or InvalidInputError naming it."""
    import numbers
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum \
            or value > 2**31 - 1:
        from ofi.errors import InvalidInputError
        raise InvalidInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


cdef inline Py_ssize_t min_periods_arg(object value, Py_ssize_t window, Py_ssize_t minimum) except -1:
    """``min_periods``: ``window`` when None, else an int in [minimum, window]."""
    import numbers
    if value is None:
        return window
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or not minimum <= value <= window):
        from ofi.errors import InvalidInputError
        raise InvalidInputError(f"min_periods must be an integer in [{minimum}, window={window}], "
                                f"got {value!r}")
    return value


# ---------------------------------------------------------------- mean / variance over n values
ctypedef struct Moments:
    double* buf         # ring of the last `cap` values
    Py_ssize_t cap      # window length n
    Py_ssize_t count    # values held (<= cap)
    Py_ssize_t head     # next write position
    Py_ssize_t since    # replacements since the last exact recompute
    double mean
    double m2           # sum of squared deviations from the mean
    double last         # the newest value and how many values in a row have equalled it:
    Py_ssize_t run      # a window of equal values has variance exactly 0, whatever the rounding


cdef inline int moments_init(Moments* m, Py_ssize_t window) except -1:
    if window < 1:
        from ofi.errors import InvalidInputError
        raise InvalidInputError(f"window must be >= 1, got {window}")
    m.buf = <double*>malloc(window * sizeof(double))
    if m.buf == NULL:
        raise MemoryError()
    m.cap = window
    moments_reset(m)
    return 0


cdef inline void moments_free(Moments* m) noexcept nogil:
    free(m.buf)
    m.buf = NULL


cdef inline void moments_reset(Moments* m) noexcept nogil:
    m.count = 0
    m.head = 0
    m.since = 0
    m.mean = 0.0
    m.m2 = 0.0
    m.last = 0.0
    m.run = 0


cdef inline void moments_recompute(Moments* m) noexcept nogil:
    cdef Py_ssize_t i
    cdef double s = 0.0, d, q = 0.0
    for i in range(m.count):
        s += m.buf[i]
    s /= m.count
    for i in range(m.count):
        d = m.buf[i] - s
        q += d * d
    m.mean = s
    m.m2 = q
    m.since = 0


cdef inline void moments_push(Moments* m, double x) noexcept nogil:
    """Append x; once the window is full, x replaces the oldest value."""
    cdef double old, d, mean_old, m2_old
    if m.run > 0 and x == m.last:
        m.run += 1
    else:
        m.run = 1
        m.last = x
    if m.count < m.cap:
        m.buf[m.head] = x
        m.count += 1
        d = x - m.mean
        m.mean += d / m.count
        m.m2 += d * (x - m.mean)
    else:
        old = m.buf[m.head]
        m.buf[m.head] = x
        mean_old = m.mean
        m2_old = m.m2
        d = x - old
        m.mean = mean_old + d / m.count
        m.m2 += d * (x - m.mean + old - mean_old)
        m.since += 1
        # Also recompute when the update cancelled most of m2 (a dominant value left): the residue
        # of ~eps * m2_old would otherwise pose as the variance of a (near-)constant window.
        if m.since >= m.cap or m.m2 < 1e-6 * m2_old:
            moments_recompute(m)
    m.head += 1
    if m.head == m.cap:
        m.head = 0


cdef inline double moments_mean(const Moments* m) noexcept nogil:
    if m.count == 0:
        return NAN
    return m.mean


cdef inline double moments_var(const Moments* m, int ddof) noexcept nogil:
    """Variance with `ddof` delta degrees of freedom; NaN with fewer than ddof + 1 values."""
    if m.count <= ddof:
        return NAN
    if m.m2 <= 0.0 or m.run >= m.count:
        return 0.0
    return m.m2 / (m.count - ddof)


cdef inline double moments_zscore(const Moments* m, double x, int ddof) noexcept nogil:
    """(x - mean) / std of the window; NaN when the window is empty or has zero variance."""
    cdef double v = moments_var(m, ddof)
    # A variance this small against the mean is rounding noise of a constant window.
    if not (v > 1e-24 * (m.mean * m.mean)) or v == 0.0:
        return NAN
    return (x - m.mean) / sqrt(v)


# ---------------------------------------------------------------- rolling OLS of y on x
ctypedef struct OLS:
    double* xs
    double* ys
    Py_ssize_t cap
    Py_ssize_t count
    Py_ssize_t head
    Py_ssize_t since
    double mx
    double my
    double cxx          # centred co-moments (Welford)
    double cxy
    double cyy
    double xlast        # the newest x and how many x in a row have equalled it: a window of
    Py_ssize_t xrun     # equal x has no slope, exactly, whatever the rounding of cxx

ctypedef struct OLSFit:
    double slope
    double intercept
    double t_stat       # slope / its classical standard error
    double r2           # centred R^2 with an intercept, uncentred through the origin
    Py_ssize_t n


cdef inline int alloc_pair(double** a, double** b, Py_ssize_t n) except -1:
    """Two arrays of n doubles, both or neither (MemoryError)."""
    a[0] = <double*>malloc(n * sizeof(double))
    b[0] = <double*>malloc(n * sizeof(double))
    if a[0] == NULL or b[0] == NULL:
        free(a[0])
        free(b[0])
        a[0] = NULL
        b[0] = NULL
        raise MemoryError()
    return 0


cdef inline void free_pair(double** a, double** b) noexcept nogil:
    free(a[0])
    free(b[0])
    a[0] = NULL
    b[0] = NULL


cdef inline int ols_init(OLS* o, Py_ssize_t window) except -1:
    if window < 2:
        from ofi.errors import InvalidInputError
        raise InvalidInputError(f"window must be >= 2, got {window}")
    alloc_pair(&o.xs, &o.ys, window)
    o.cap = window
    ols_reset(o)
    return 0


cdef inline void ols_free(OLS* o) noexcept nogil:
    free_pair(&o.xs, &o.ys)


cdef inline void ols_reset(OLS* o) noexcept nogil:
    o.xlast = 0.0
    o.xrun = 0
    o.count = 0
    o.head = 0
    o.since = 0
    o.mx = 0.0
    o.my = 0.0
    o.cxx = 0.0
    o.cxy = 0.0
    o.cyy = 0.0


cdef inline void ols_recompute(OLS* o) noexcept nogil:
    cdef Py_ssize_t i
    cdef double sx = 0.0, sy = 0.0, dx, dy, qxx = 0.0, qxy = 0.0, qyy = 0.0
    for i in range(o.count):
        sx += o.xs[i]
        sy += o.ys[i]
    sx /= o.count
    sy /= o.count
    for i in range(o.count):
        dx = o.xs[i] - sx
        dy = o.ys[i] - sy
        qxx += dx * dx
        qxy += dx * dy
        qyy += dy * dy
    o.mx = sx
    o.my = sy
    o.cxx = qxx
    o.cxy = qxy
    o.cyy = qyy
    o.since = 0


cdef inline void ols_push(OLS* o, double x, double y) noexcept nogil:
    """Append (x, y); once the window is full, it replaces the oldest pair."""
    cdef double dx, dy, xo, yo, n, cxx_old = 0.0, cyy_old = 0.0
    if o.xrun > 0 and x == o.xlast:
        o.xrun += 1
    else:
        o.xrun = 1
        o.xlast = x
    if o.count == o.cap:
        cxx_old = o.cxx
        cyy_old = o.cyy
        # Remove the oldest pair (inverse Welford step), then add the new one below.
        xo = o.xs[o.head]
        yo = o.ys[o.head]
        n = <double>o.count
        dx = xo - o.mx
        dy = yo - o.my
        o.mx -= dx / (n - 1.0)
        o.my -= dy / (n - 1.0)
        o.cxx -= dx * (xo - o.mx)
        o.cxy -= dx * (yo - o.my)
        o.cyy -= dy * (yo - o.my)
        o.count -= 1
        o.since += 1
    o.xs[o.head] = x
    o.ys[o.head] = y
    o.count += 1
    n = <double>o.count
    dx = x - o.mx
    dy = y - o.my
    o.mx += dx / n
    o.my += dy / n
    o.cxx += dx * (x - o.mx)
    o.cxy += dx * (y - o.my)
    o.cyy += dy * (y - o.my)
    o.head += 1
    if o.head == o.cap:
        o.head = 0
    # As in moments_push: a removal that cancelled most of cxx or cyy leaves a residue that would
    # pose as the spread of a (near-)constant x or y; recompute exactly.
    if o.since >= o.cap or o.cxx < 1e-6 * cxx_old or o.cyy < 1e-6 * cyy_old:
        ols_recompute(o)


cdef inline OLSFit ols_fit(const OLS* o, bint intercept) noexcept nogil:
    """The least-squares fit of the current window; every field NaN when it is undefined (fewer
    than 3 points with an intercept or 2 without, or x constant / all zero)."""
    cdef OLSFit f
    cdef double n = <double>o.count, sxx, sxy, syy, rss, dof
    f.n = o.count
    f.slope = NAN
    f.intercept = NAN
    f.t_stat = NAN
    f.r2 = NAN
    if intercept:
        sxx = o.cxx
        sxy = o.cxy
        syy = o.cyy
        dof = n - 2.0
        # x constant: cxx is zero up to rounding relative to the raw second moment
        if o.count < 3 or o.xrun >= o.count or not (sxx > 1e-15 * (sxx + n * o.mx * o.mx)):
            return f
        f.slope = sxy / sxx
        f.intercept = o.my - f.slope * o.mx
    else:
        sxx = o.cxx + n * o.mx * o.mx
        sxy = o.cxy + n * o.mx * o.my
        syy = o.cyy + n * o.my * o.my
        dof = n - 1.0
        if o.count < 2 or (o.xrun >= o.count and o.xlast == 0.0) or not (sxx > 0.0):
            return f
        f.slope = sxy / sxx
        f.intercept = 0.0
    rss = syy - f.slope * sxy
    if rss < 0.0:
        rss = 0.0
    if syy > 0.0:
        f.r2 = 1.0 - rss / syy
    if rss > 0.0:
        f.t_stat = f.slope * sqrt(sxx) / sqrt(rss / dof)
    return f


cdef inline void ols_store(const OLS* o, bint intercept, Py_ssize_t min_periods, double* out,
                           Py_ssize_t n, Py_ssize_t i) noexcept nogil:
    """Row i of a (4, n) C-contiguous output (slope, intercept, t-stat, R^2): the current fit, or
    NaN while the window holds fewer than min_periods pairs."""
    cdef OLSFit f
    if o.count >= min_periods:
        f = ols_fit(o, intercept)
    else:
        f.slope = f.intercept = f.t_stat = f.r2 = NAN
    out[i] = f.slope
    out[n + i] = f.intercept
    out[2 * n + i] = f.t_stat
    out[3 * n + i] = f.r2


# ---------------------------------------------------------------- exponentially weighted moments
ctypedef struct Ewm:
    double alpha
    double mean
    double var          # exponentially weighted variance (West 1979), biased
    int64_t count


cdef inline void ewm_init(Ewm* e, double alpha) noexcept nogil:
    e.alpha = alpha
    e.mean = NAN
    e.var = NAN
    e.count = 0


cdef inline void ewm_push(Ewm* e, double x) noexcept nogil:
    cdef double d
    if e.count == 0:
        e.mean = x
        e.var = 0.0
    else:
        d = x - e.mean
        e.mean += e.alpha * d
        e.var = (1.0 - e.alpha) * (e.var + e.alpha * d * d)
    e.count += 1


# ---------------------------------------------------------------- sum over a time window
# Values stamped with int64 times; the window (t - width, t] is right-closed, as in CCZ.
# A growable ring; the sum is maintained with add/subtract and recomputed exactly whenever as many
# values have left as the window holds (amortised O(1)), so it never drifts.
ctypedef struct TimeSum:
    int64_t* ts
    double* vs
    Py_ssize_t cap      # allocated slots (power of two)
    Py_ssize_t start    # oldest value
    Py_ssize_t count
    Py_ssize_t since
    int64_t width
    double total


cdef inline int timesum_init(TimeSum* w, int64_t width) except -1:
    if width <= 0:
        from ofi.errors import InvalidInputError
        raise InvalidInputError(f"width must be > 0 ns, got {width}")
    w.cap = 64
    w.ts = <int64_t*>malloc(w.cap * sizeof(int64_t))
    w.vs = <double*>malloc(w.cap * sizeof(double))
    if w.ts == NULL or w.vs == NULL:
        free(w.ts)
        free(w.vs)
        w.ts = NULL
        w.vs = NULL
        raise MemoryError()
    w.width = width
    timesum_reset(w)
    return 0


cdef inline void timesum_free(TimeSum* w) noexcept nogil:
    free(w.ts)
    free(w.vs)
    w.ts = NULL
    w.vs = NULL


cdef inline void timesum_reset(TimeSum* w) noexcept nogil:
    w.start = 0
    w.count = 0
    w.since = 0
    w.total = 0.0


cdef inline int timesum_grow(TimeSum* w) noexcept nogil:
    # Unroll the ring into a buffer twice the size.
    cdef Py_ssize_t i, j, cap2 = w.cap * 2
    cdef int64_t* ts2 = <int64_t*>malloc(cap2 * sizeof(int64_t))
    cdef double* vs2 = <double*>malloc(cap2 * sizeof(double))
    if ts2 == NULL or vs2 == NULL:
        free(ts2)
        free(vs2)
        return -1
    for i in range(w.count):
        j = (w.start + i) & (w.cap - 1)
        ts2[i] = w.ts[j]
        vs2[i] = w.vs[j]
    free(w.ts)
    free(w.vs)
    w.ts = ts2
    w.vs = vs2
    w.cap = cap2
    w.start = 0
    return 0


cdef inline void timesum_recompute(TimeSum* w) noexcept nogil:
    cdef Py_ssize_t i
    cdef double s = 0.0
    for i in range(w.count):
        s += w.vs[(w.start + i) & (w.cap - 1)]
    w.total = s
    w.since = 0


cdef inline void timesum_advance(TimeSum* w, int64_t now) noexcept nogil:
    """Drop values stamped at or before now - width."""
    cdef int64_t cutoff = now - w.width
    cdef Py_ssize_t mask = w.cap - 1
    while w.count > 0 and w.ts[w.start] <= cutoff:
        w.total -= w.vs[w.start]
        w.start = (w.start + 1) & mask
        w.count -= 1
        w.since += 1
    if w.count == 0:
        w.total = 0.0
        w.since = 0
    elif w.since >= w.count:
        timesum_recompute(w)


cdef inline int timesum_push(TimeSum* w, int64_t ts, double v) noexcept nogil:
    """Add v stamped ts (times must not decrease) and drop what left the window; -1 on no memory."""
    cdef Py_ssize_t j
    if w.count == w.cap:
        if timesum_grow(w) < 0:
            return -1
    j = (w.start + w.count) & (w.cap - 1)
    w.ts[j] = ts
    w.vs[j] = v
    w.count += 1
    w.total += v
    timesum_advance(w, ts)
    return 0
