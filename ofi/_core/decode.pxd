cimport cython
# C layout shared by the frame decoder, the book and the replay loop.
from libc.stdint cimport int64_t, uint64_t, uint8_t, int8_t, uint16_t, uint32_t

cdef enum:
    KIND_BOOK = 1
    KIND_TRADE = 2
    FLAG_SNAPSHOT = 1
    FLAG_BEGIN = 2
    FLAG_END = 4
    FLAG_BLOCK = 8
    FLAG_RPI = 16

cdef enum:
    FRAME_BOOK = 1
    FRAME_TRADE = 2
    FRAME_CONTROL = 3
    FRAME_OTHER = 4

cdef enum:
    TYPE_NONE = 0
    TYPE_SNAPSHOT = 1
    TYPE_DELTA = 2
    TYPE_OTHER = 3

# One row of a tape: a level change of a book message or one trade (see ofi/data/tape.py).
ctypedef struct TapeRow:
    int64_t ts_exch
    int64_t ts_local
    int64_t price_ticks
    double size
    int64_t update_id
    int64_t seq
    uint8_t kind
    int8_t side
    uint16_t flags
    uint32_t _pad

ctypedef struct Level:
    int64_t price_ticks
    double size
    int8_t side

ctypedef struct TradeRec:
    int64_t price_ticks
    double size
    int64_t ts_ms
    int64_t seq
    Py_ssize_t id_off
    Py_ssize_t id_len
    Py_ssize_t sym_off
    Py_ssize_t sym_len
    int side
    int block
    int rpi

ctypedef struct Span:
    Py_ssize_t off
    Py_ssize_t len

ctypedef struct Scanner:
    const unsigned char* p
    Py_ssize_t i
    Py_ssize_t n
    int err
    Py_ssize_t err_pos
    int field
    unsigned char expect
    Span span

ctypedef struct FrameInfo:
    int kind
    int type_code
    bint has_u
    bint has_seq
    bint has_ts
    bint has_cts
    bint has_data
    int64_t u
    int64_t seq
    int64_t ts_ms
    int64_t cts_ms
    Span topic
    Span symbol
    Span op
    Py_ssize_t n_levels
    Py_ssize_t n_trades


cdef inline double ticks_sum_to_float_exact(int64_t a, int64_t b, int64_t mant, int scale) noexcept with gil:
    """(a + b) * mant / 10**scale correctly rounded, with Python ints (no overflow, one rounding)."""
    cdef object ten = 10
    return ((<object>a + <object>b) * <object>mant) / (ten ** scale)


cdef inline double ticks_to_float(int64_t ticks, int64_t mant, double div, int64_t limit,
                                  int scale) noexcept nogil:
    """ticks * mant / 10**scale, equal to float(str(price)): below 2**53 the product is exact and
    one division by an exact power of ten rounds correctly; beyond, an exact slow path."""
    if -limit <= ticks <= limit:
        return <double>(ticks * mant) / div
    return ticks_sum_to_float_exact(ticks, 0, mant, scale)


@cython.final
cdef class Trade:
    cdef readonly str symbol
    cdef readonly double price
    cdef readonly double size
    cdef readonly int side
    cdef readonly int64_t ts_exch
    cdef readonly str trade_id
    cdef readonly int64_t price_ticks
    cdef readonly int64_t seq
    cdef readonly bint block_trade
    cdef readonly bint rpi
    cdef readonly int64_t ts_local


@cython.final
cdef class FrameDecoder:
    cdef int64_t tick_mant
    cdef int tick_scale
    cdef double tick_div
    cdef int64_t tick_limit
    cdef Level* levels
    cdef Py_ssize_t levels_cap
    cdef TradeRec* trades
    cdef Py_ssize_t trades_cap
    cdef FrameInfo info
    cdef const unsigned char* buf
    cdef Py_ssize_t buflen
    cdef object owner
    cdef int err
    cdef Py_ssize_t err_pos
    cdef int err_field
    cdef Span err_span
    cdef unsigned char err_expect
    cdef readonly object tick_size

    cdef int parse(self, object raw) except -1
    cdef double price_of(self, int64_t ticks) noexcept nogil
    cdef str span_str(self, Span sp)
    cdef str _message(self)
    cdef int _raise_scan_error(self, Scanner* s) except -1
    cdef int reserve_levels(self, Py_ssize_t need) noexcept nogil
    cdef int _push_level(self, Scanner* s, int64_t ticks, double size, int side) noexcept nogil
    cdef int _scan_levels(self, Scanner* s, int side) noexcept nogil
    cdef int _scan_book_data(self, Scanner* s) noexcept nogil
    cdef int _scan_trade(self, Scanner* s) noexcept nogil
    cdef int _scan_trades(self, Scanner* s) noexcept nogil
    cdef int _classify(self) noexcept nogil
    cdef int _scan_data(self, Scanner* s) noexcept nogil
    cdef int _scan(self, Scanner* s) noexcept nogil
    cdef list make_trades(self, int64_t ts_local)
