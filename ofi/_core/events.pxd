# The core's neutral market events, shared by the book, the replay loop, the kernels and every
# venue's frame decoder: a book level, a tape row, a trade. No venue's field names here.
cimport cython
from libc.stdint cimport int64_t, int8_t, uint8_t, uint16_t, uint32_t

# Tape row kinds and flags (Python names: TAPE_KIND_*, TAPE_FLAG_* in events.pyx).
cdef enum:
    KIND_BOOK = 1
    KIND_TRADE = 2
    FLAG_SNAPSHOT = 1
    FLAG_BEGIN = 2
    FLAG_END = 4
    FLAG_BLOCK = 8
    FLAG_RPI = 16

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

# One level of a book message: absolute size at a price; side +1 bid, -1 ask.
ctypedef struct Level:
    int64_t price_ticks
    double size
    int8_t side


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


# Trade.from_frame decodes with the default frame decoder, which lives above this module
# (ofi._core.decoder); the decoder module hands its lookup (tick size -> the shared default
# decoder) down here when it is imported.
ctypedef object (*DecoderLookup)(object tick_size)
cdef void bind_trade_decoder(DecoderLookup lookup) noexcept
