# Decimal strings to the core's numbers, and back: prices to integer ticks (exact; a price off the
# tick grid is an error, never rounded), sizes to the float64 ``float(str)`` gives, ticks to the
# float64 ``float(str(price))`` gives. Shared by every venue's decoder and by the book.
from libc.stdint cimport int64_t, uint64_t, INT64_MAX
from libc.string cimport memcpy

from ofi._core.jsonscan cimport Scanner, Span, fail, ERR_DECIMAL, ERR_OFF_GRID, ERR_RANGE, F_PRICE, F_SIZE

cdef extern from "Python.h":
    double PyOS_string_to_double(const char*, char**, object) except? -1.0

# Exact powers of ten: 10**k as a double is exact up to k = 22, as an int64 up to k = 18.
cdef extern from *:
    """
    static const double ofi_pow10d[23] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    static const int64_t ofi_pow10i[19] = {1LL, 10LL, 100LL, 1000LL, 10000LL, 100000LL, 1000000LL,
        10000000LL, 100000000LL, 1000000000LL, 10000000000LL, 100000000000LL, 1000000000000LL,
        10000000000000LL, 100000000000000LL, 1000000000000000LL, 10000000000000000LL,
        100000000000000000LL, 1000000000000000000LL};
    """
    const double* POW10D "ofi_pow10d"
    const int64_t* POW10I "ofi_pow10i"

# A tick size ``mant * 10**-scale`` (mant < 10**18), with what price conversions need precomputed.
ctypedef struct TickGrid:
    int64_t mant
    int scale
    double div          # 10**scale as a double (exact: scale <= 22)
    int64_t limit       # |ticks| up to this: ticks * mant is below 2**53, exact in a double


cdef inline double ticks_sum_to_float_exact(int64_t a, int64_t b, const TickGrid* g) noexcept with gil:
    """(a + b) * mant / 10**scale correctly rounded, with Python ints (no overflow, one rounding)."""
    cdef object ten = 10
    return ((<object>a + <object>b) * <object>g.mant) / (ten ** g.scale)


cdef inline double ticks_to_float(int64_t ticks, const TickGrid* g) noexcept nogil:
    """ticks * mant / 10**scale, equal to float(str(price)): below 2**53 the product is exact and
    one division by an exact power of ten rounds correctly; beyond, an exact slow path."""
    if -g.limit <= ticks <= g.limit:
        return <double>(ticks * g.mant) / g.div
    return ticks_sum_to_float_exact(ticks, 0, g)


cdef inline int decimal_price(Scanner* s, Span sp, const TickGrid* g, int64_t* out) noexcept nogil:
    """Exact conversion of the decimal string at ``sp`` (an optional '-', digits, an optional '.'
    and digits) to integer ticks of the grid; ERR_OFF_GRID if it is not a whole number of ticks."""
    cdef const unsigned char* p = s.p + sp.off
    cdef Py_ssize_t i = 0
    cdef Py_ssize_t n = sp.len
    cdef int neg = 0
    cdef int64_t mant = 0
    cdef int ndig = 0
    cdef int frac = 0
    cdef int int_digits = 0
    cdef int frac_digits = 0
    cdef bint dot = False
    cdef unsigned char c
    cdef int64_t num, den
    cdef int k
    if n > 0 and p[0] == 45:
        neg = 1
        i = 1
    while i < n:
        c = p[i]
        if 48 <= c <= 57:
            if dot:
                frac += 1
                frac_digits += 1
            else:
                int_digits += 1
            if mant != 0 or c != 48:
                if ndig >= 18:
                    s.span = sp
                    return fail(s, ERR_RANGE, F_PRICE)
                mant = mant * 10 + (c - 48)
                ndig += 1
        elif c == 46 and not dot:
            dot = True
        else:
            s.span = sp
            return fail(s, ERR_DECIMAL, F_PRICE)
        i += 1
    if int_digits == 0 or (dot and frac_digits == 0):
        s.span = sp
        return fail(s, ERR_DECIMAL, F_PRICE)
    if mant == 0:
        out[0] = 0
        return 0
    if g.scale >= frac:
        k = g.scale - frac
        if k > 18 or mant > INT64_MAX // POW10I[k]:
            s.span = sp
            return fail(s, ERR_RANGE, F_PRICE)
        num = mant * POW10I[k]
        den = g.mant
    else:
        k = frac - g.scale
        num = mant
        if k > 18 or g.mant > INT64_MAX // POW10I[k]:
            s.span = sp
            return fail(s, ERR_OFF_GRID, F_PRICE)
        den = g.mant * POW10I[k]
    if num % den != 0:
        s.span = sp
        return fail(s, ERR_OFF_GRID, F_PRICE)
    out[0] = -(num // den) if neg else num // den
    return 0


cdef inline int decimal_size(Scanner* s, Span sp, double* out) noexcept nogil:
    """The non-negative decimal string at ``sp`` to the float64 ``float(str)`` would give."""
    cdef const unsigned char* p = s.p + sp.off
    cdef Py_ssize_t i = 0
    cdef Py_ssize_t n = sp.len
    cdef uint64_t mant = 0
    cdef int ndig = 0
    cdef int frac = 0
    cdef int int_digits = 0
    cdef int frac_digits = 0
    cdef bint dot = False
    cdef bint slow = False
    cdef unsigned char c
    cdef char tmp[64]
    while i < n:
        c = p[i]
        if 48 <= c <= 57:
            if dot:
                frac += 1
                frac_digits += 1
            else:
                int_digits += 1
            if mant != 0 or c != 48:
                if ndig >= 19:
                    slow = True
                else:
                    mant = mant * 10 + (c - 48)
                    ndig += 1
        elif c == 46 and not dot:
            dot = True
        else:
            s.span = sp
            return fail(s, ERR_DECIMAL, F_SIZE)
        i += 1
    if int_digits == 0 or (dot and frac_digits == 0):
        s.span = sp
        return fail(s, ERR_DECIMAL, F_SIZE)
    if not slow and mant <= 9007199254740992ULL and frac <= 22:
        out[0] = <double>mant / POW10D[frac]
        return 0
    # Rare: more than 15 significant digits. Python's own correctly rounded parser.
    if n >= 63:
        s.span = sp
        return fail(s, ERR_RANGE, F_SIZE)
    memcpy(tmp, p, n)
    tmp[n] = 0
    with gil:
        out[0] = PyOS_string_to_double(tmp, NULL, None)
    return 0
