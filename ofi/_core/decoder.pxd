# The base of every venue's frame decoder: what a decoder needs whatever the venue (the tick grid,
# the frame buffer, scratch arrays of levels and trades, the decoded frame with neutral names, error
# messages, the Python API, frames -> tape), and the virtual methods a venue overrides.
cimport cython
from libc.stdint cimport int64_t

from ofi._core.decimal cimport TickGrid
from ofi._core.events cimport Level
from ofi._core.jsonscan cimport Scanner, Span, fail, ERR_NOMEM, F_NONE

# What a frame is.
cdef enum:
    FRAME_BOOK = 1          # a book message: levels (self.levels), update id, snapshot or delta
    FRAME_TRADE = 2         # trades (self.trades)
    FRAME_CONTROL = 3       # a reply of the venue's protocol (subscribe, pong): no market data
    FRAME_OTHER = 4         # market data on a channel the decoder does not handle

# One trade of a trade frame; the symbol and id are spans of the frame.
ctypedef struct TradeRec:
    int64_t price_ticks
    double size
    int64_t ts_exch         # ns
    int64_t seq             # -1 when absent
    Span trade_id
    Span symbol
    int side                # +1 taker buy, -1 taker sell
    int block
    int rpi

# The frame last decoded, in the core's terms.
ctypedef struct Decoded:
    int kind                # FRAME_*
    Span channel            # the venue's name for the stream (topic, channel, stream)
    Span symbol             # the book's instrument (book frames)
    bint snapshot           # the message replaces the whole book
    bint has_update_id
    int64_t update_id
    int64_t seq             # -1 when absent
    int64_t ts_exch         # ns
    int64_t ts_engine       # ns, the matching engine's time when the venue sends one; -1 when absent
    Py_ssize_t n_levels
    Py_ssize_t n_trades


cdef class FrameDecoder:
    cdef TickGrid grid
    cdef Level* levels
    cdef Py_ssize_t levels_cap
    cdef TradeRec* trades
    cdef Py_ssize_t trades_cap
    cdef Decoded msg
    cdef const unsigned char* buf
    cdef Py_ssize_t buflen
    cdef object owner           # keeps the object behind buf alive
    cdef Scanner failed         # the scanner's state at the last error, for the message
    cdef readonly object tick_size

    # ---- shared machinery (final: direct calls) ----
    @cython.final
    cdef int parse(self, object raw) except -1
    @cython.final
    cdef double price_of(self, int64_t ticks) noexcept nogil
    @cython.final
    cdef str span_str(self, Span sp)
    @cython.final
    cdef int reserve_levels(self, Py_ssize_t need) noexcept nogil
    @cython.final
    cdef int reserve_trades(self, Py_ssize_t need) noexcept nogil
    @cython.final
    cdef int raise_scan_error(self, Scanner* s) except -1
    @cython.final
    cdef str message(self)
    @cython.final
    cdef list make_trades(self, int64_t ts_local)

    # ---- what a venue decoder overrides ----
    # Decode the frame in s (s.p == self.buf) into self.msg, self.levels and self.trades; -1 after
    # fail(s, ...) on any error. self.msg is reset before the call. Called once per frame.
    cdef int scan_frame(self, Scanner* s) noexcept nogil
    # May a book for ``symbol`` bind to the channel of the book frame just decoded? 0, or raise
    # InvalidInputError with the venue's rule.
    cdef int check_book_channel(self, str symbol) except -1
    # The message for a frame of the wrong kind: ``wanted`` is FRAME_BOOK (apply_frame), FRAME_TRADE
    # (decode_trades) or 0 (any market data: decode, to_tape, which refuse FRAME_OTHER only).
    cdef str kind_message(self, int wanted)
    # A field id's name in messages, and the text of a venue's own error codes (>= ERR_VENUE).
    cdef str field_name(self, int field)
    cdef str error_message(self, int code, str field, str where)


# Called by a venue's scan_frame for every level and trade: inline functions here, not methods (a
# method of another module is an indirect call; only growing the scratch array is one).

cdef inline int push_level(FrameDecoder d, Scanner* s, int64_t ticks, double size, int side) noexcept nogil:
    """Append a level to the book message being decoded; -1 (ERR_NOMEM) if memory runs out."""
    cdef Py_ssize_t k = d.msg.n_levels
    if k == d.levels_cap and d.reserve_levels(k + 1) < 0:
        return fail(s, ERR_NOMEM, F_NONE)
    d.levels[k].price_ticks = ticks
    d.levels[k].size = size
    d.levels[k].side = side
    d.msg.n_levels = k + 1
    return 0


cdef inline TradeRec* next_trade(FrameDecoder d, Scanner* s) noexcept nogil:
    """The record after the decoded trades (seq -1, no symbol or id, no flags) for the venue to fill
    and count (``d.msg.n_trades += 1``); NULL (ERR_NOMEM) if memory runs out."""
    cdef Py_ssize_t k = d.msg.n_trades
    cdef TradeRec* t
    if k == d.trades_cap and d.reserve_trades(k + 1) < 0:
        fail(s, ERR_NOMEM, F_NONE)
        return NULL
    t = &d.trades[k]
    t.seq = -1
    t.block = 0
    t.rpi = 0
    t.symbol.off = 0
    t.symbol.len = 0
    t.trade_id.off = 0
    t.trade_id.len = 0
    return t
