cimport cython
from libc.stdint cimport int64_t
from ofi._core.decimal cimport TickGrid
from ofi._core.decoder cimport FrameDecoder
from ofi._core.events cimport Level, TapeRow

ctypedef struct Entry:
    int64_t key
    double size

# One side of the book: entries e[0..n) with keys strictly ascending, the best level last
# (bids: key = price ticks, asks: key = -price ticks). The live block sits inside a larger buffer
# with slack at both ends (a gap buffer), so an insert or delete moves whichever part of the block
# is shorter: changes at the top of the book and at the bottom of a venue's depth window are cheap.
ctypedef struct Side:
    Entry* buf
    Entry* e
    Py_ssize_t lo
    Py_ssize_t n
    Py_ssize_t cap

ctypedef struct Undo:
    int64_t key
    double old_size
    int sidx

# A strided view of (price ticks, size, side) triples: decoder levels (also array copies) or tape
# rows (``tape``), the two layouts the delta kernel is specialised for.
ctypedef struct LevelSrc:
    const char* base
    bint tape
    bint lazy           # tape rows whose END is found while applying (tape_message_lazy)
    Py_ssize_t stride
    Py_ssize_t n
    Py_ssize_t off_price
    Py_ssize_t off_size
    Py_ssize_t off_side

ctypedef struct MsgMeta:
    bint snapshot
    bint has_u
    int64_t u
    int64_t seq
    int64_t ts_exch
    int64_t cts
    int64_t ts_local

# Results of apply_message.
cdef enum:
    ST_APPLIED = 1
    ST_IGNORED = 0
    ST_NOMEM = -1
    ST_NO_SNAPSHOT = -2
    ST_STALE = -3
    ST_GAP = -4
    ST_CROSSED = -5
    ST_BAD_SIZE = -6
    ST_MALFORMED = -7   # tape rows that do not form a book message (lazy tape messages only)
    ST_BAD_SIDE = -8    # a level whose side is not 1 (bid), -1 (ask) or 0 (no level)


# A status that stops a tape driver even where sequence problems (gap, stale, crossed) are skipped:
# the input itself is wrong, or memory ran out.
cdef inline bint st_fatal(int st) noexcept nogil:
    return st == ST_NOMEM or st == ST_BAD_SIZE or st == ST_BAD_SIDE


# Locate the book message that starts at tape row i: fills src/meta and returns the row after
# it, or -1 if row i does not start a well-formed book message.
cdef Py_ssize_t tape_message(const TapeRow* rows, Py_ssize_t n, Py_ssize_t i, LevelSrc* src,
                             MsgMeta* meta) noexcept nogil
cdef Py_ssize_t tape_message_lazy(const TapeRow* rows, Py_ssize_t n, Py_ssize_t i, LevelSrc* src,
                                  MsgMeta* meta) noexcept nogil


@cython.final
cdef class OrderBook:
    cdef Side sides[2]
    cdef Side spare[2]
    cdef Undo* undo
    cdef Py_ssize_t undo_cap
    cdef FrameDecoder dec
    cdef readonly str symbol
    cdef bytes _symbol_b
    cdef bytes _channel_b         # the channel the book is bound to (its first applied frame's), or None
    cdef readonly object spec
    cdef TickGrid grid
    cdef readonly int64_t update_id
    cdef readonly int64_t seq
    cdef readonly int64_t ts_exch
    cdef readonly int64_t cts
    cdef readonly int64_t ts_local
    cdef bint _has_snapshot
    cdef bint _stale
    cdef readonly bint strict_sequence
    cdef readonly int64_t messages
    cdef readonly int64_t rejected
    cdef readonly int64_t gaps
    cdef readonly int64_t ignored
    cdef readonly int64_t levels_applied
    cdef readonly int64_t epoch
    cdef int64_t bad_row          # the level of the message a BAD_SIZE / BAD_SIDE status names

    cdef int apply_message(self, LevelSrc* src, MsgMeta* meta) noexcept nogil
    cdef int raise_status(self, int status, MsgMeta* meta) except -1
    cdef int _levels_lazy(self, LevelSrc* src, Py_ssize_t* nu) noexcept nogil
    cdef bint _settle_lazy(self, LevelSrc* src) noexcept nogil
    cdef int _build_snapshot(self, LevelSrc* src) noexcept nogil
    cdef int _rebuild_side(self, int sidx, LevelSrc* src) noexcept nogil
    cdef double _mid(self) noexcept
    cdef int64_t _update_id_arg(self, object update_id) except? -2
    cdef object _side_array(self, int sidx, object n)
    cdef object _apply_arrays(self, bid_ticks, bid_sizes, ask_ticks, ask_sizes, bint snapshot,
                              int64_t update_id, int64_t ts_exch, int64_t ts_local, int64_t seq=*,
                              int64_t cts=*)
    cdef double price_of(self, int64_t ticks) noexcept nogil


# A book whose quotes can be read: a snapshot applied, not stale, both sides non-empty (``ready``
# plus a best bid and ask), for kernels that read the sides directly.
cdef inline bint book_quoted(OrderBook b) noexcept nogil:
    return b._has_snapshot and not b._stale and b.sides[0].n > 0 and b.sides[1].n > 0
