"""The L2 order book: sorted C arrays per side, integer price ticks, exact on exchange data.

Every message (a raw frame decoded by the book's venue decoder, numpy arrays or a slice of a tape)
goes through one kernel,
``OrderBook.apply_message``: sequence gate, then the levels, then the crossed-book check,
all or nothing. Deltas keep an undo log so a message that would cross the book, or carries a
bad size, is rolled back; snapshots are built in spare arrays and swapped in.
"""
cimport cython
from libc.stdint cimport int64_t, int8_t, uint8_t, uint16_t, uint32_t, uint64_t, INT64_MIN, INT64_MAX
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memmove, memcpy, memcmp
from libc.math cimport NAN, INFINITY

import numpy as np
cimport numpy as cnp

from ofi._core.decimal cimport ticks_to_float, ticks_sum_to_float_exact
from ofi._core.decoder cimport FrameDecoder, Decoded, FRAME_BOOK
from ofi._core.events cimport Level, TapeRow, KIND_BOOK, FLAG_BEGIN, FLAG_END, FLAG_SNAPSHOT
from ofi._core.decoder import default_decoder, new_decoder
from ofi._core.events import TAPE_DTYPE
from ofi.errors import BookIntegrityError, InvalidInputError, SequenceGapError
from ofi.spec import InstrumentSpec

cnp.import_array()


cdef extern from *:
    """
    #include <stdint.h>
    /* One branch-free search step over entries of 16 bytes with an int64 key first: b + k if
       b[k].key < key, else b. A conditional move keeps the step at a load and one cycle; the
       compilers turn the plain C below into a branch when it is unrolled. */
    static CYTHON_INLINE const char* ofi_search_step(const char* b, int k, int64_t key) {
    #if defined(__GNUC__) && defined(__x86_64__)
        const char* t = b + 16 * (intptr_t)k;
        __asm__("cmpq %[key], %[mem]; cmovl %[t], %[b]"
                : [b] "+r" (b)
                : [mem] "m" (*(const int64_t*)t), [key] "r" (key), [t] "r" (t)
                : "cc");
        return b;
    #else
        return *(const int64_t*)(b + 16 * (intptr_t)k) < key ? b + 16 * (intptr_t)k : b;
    #endif
    }
    """
    const char* ofi_search_step(const char* b, int k, int64_t key) noexcept nogil


cdef bint _entry_layout_ok() noexcept:
    """ofi_search_step's assumption: an Entry is 16 bytes, its key first."""
    cdef Entry probe
    return sizeof(Entry) == 16 and <const char*>&probe.key == <const char*>&probe


assert _entry_layout_ok()


cdef inline Py_ssize_t lower_bound(const Entry* e, Py_ssize_t n, int64_t key) noexcept nogil:
    """First index i with e[i].key >= key (branch-free halving)."""
    cdef const Entry* base = e
    cdef Py_ssize_t half
    if n == 0:
        return 0
    while n > 1:
        half = n >> 1
        base = base + half if base[half].key < key else base
        n -= half
    return (base - e) + (base[0].key < key)


cdef inline Py_ssize_t search(const Entry* e, Py_ssize_t n, int64_t key) noexcept nogil:
    """The position of key in a side (lower_bound), shortest near the top of the book where most
    updates land: a key above the 16th best entry takes four branch-free steps among the best 16
    (a new best level included, at n), a new worst level (the depth window's edge) none, any other
    key a full search.

    Each level's search depends only on the side, not on the previous level's result, so the CPU
    overlaps the searches of consecutive levels; a "finger" starting from the previous level's
    position measured 40% slower for breaking that independence."""
    cdef const Entry* b
    if n > 16:
        if e[n - 16].key < key:
            b = e + n - 16
            b = <const Entry*>ofi_search_step(<const char*>b, 8, key)
            b = <const Entry*>ofi_search_step(<const char*>b, 4, key)
            b = <const Entry*>ofi_search_step(<const char*>b, 2, key)
            b = <const Entry*>ofi_search_step(<const char*>b, 1, key)
            return (b - e) + 1
        if key < e[0].key:
            return 0
        return lower_bound(e, n, key)
    if n > 0 and key > e[n - 1].key:
        return n
    return lower_bound(e, n, key)


cdef int side_reserve(Side* sd, Py_ssize_t need) noexcept nogil:
    """Make room for ``need`` entries with slack at both ends, the live block centred."""
    cdef Py_ssize_t cap = sd.cap if sd.cap > 0 else 64
    cdef Py_ssize_t lo
    cdef Entry* buf
    while cap < 2 * need + 8:
        cap *= 2
    if cap != sd.cap:
        buf = <Entry*>realloc(sd.buf, cap * sizeof(Entry))
        if buf == NULL:
            return -1
        sd.buf = buf
        sd.cap = cap
    lo = (sd.cap - sd.n) >> 1
    if sd.n:
        memmove(sd.buf + lo, sd.buf + sd.lo, sd.n * sizeof(Entry))
    sd.lo = lo
    sd.e = sd.buf + lo
    return 0


cdef inline void side_reset(Side* sd) noexcept nogil:
    """Empty the side, the next appends starting at the front of the buffer."""
    sd.n = 0
    sd.lo = 0
    sd.e = sd.buf


cdef inline bint size_bits_ok(uint64_t bits) noexcept nogil:
    """A size's IEEE bits are finite and >= 0 (NaN, infinities and negatives fail; -0.0 passes):
    below the exponent of infinity, or the sign bit alone. One unsigned compare on the hot path."""
    return bits < 0x7FF0000000000000ULL or bits == 0x8000000000000000ULL


cdef inline bint size_ok(double size) noexcept nogil:
    cdef uint64_t bits
    memcpy(&bits, &size, 8)
    return size_bits_ok(bits)


cdef inline void move_up(Entry* e, Py_ssize_t count) noexcept nogil:
    """e[1..count] = e[0..count-1] (overlapping, copied from the end)."""
    cdef Py_ssize_t j
    if count > 16:
        memmove(e + 1, e, count * sizeof(Entry))
        return
    j = count
    while j > 0:
        e[j] = e[j - 1]
        j -= 1


cdef inline void move_down(Entry* e, Py_ssize_t count) noexcept nogil:
    """e[0..count-1] = e[1..count] (overlapping, copied from the start)."""
    cdef Py_ssize_t j
    if count > 16:
        memmove(e, e + 1, count * sizeof(Entry))
        return
    for j in range(count):
        e[j] = e[j + 1]


ctypedef struct Cursor:
    # A side's state in locals while levels are applied to it.
    Entry* e
    Py_ssize_t n
    Py_ssize_t lo
    Py_ssize_t cap


cdef inline void cursor_load(Cursor* c, const Side* sd) noexcept nogil:
    c.e = sd.e
    c.n = sd.n
    c.lo = sd.lo
    c.cap = sd.cap


cdef inline void cursor_store(const Cursor* c, Side* sd) noexcept nogil:
    sd.e = c.e
    sd.n = c.n
    sd.lo = c.lo


cdef inline int put_at(Cursor* c, Side* sd, int64_t key, double size, bint zero, Py_ssize_t pos,
                       double* old) noexcept nogil:
    """Set the absolute size at key, given pos = lower_bound(key): 0 deletes (deleting an absent
    key is a no-op). ``old`` gets the previous size (0 if absent). Returns -1 if memory runs out,
    before anything changed."""
    cdef Entry* e = c.e
    cdef Py_ssize_t n = c.n
    # The size is known long before the search ends: branching on it first means a mispredicted
    # delete is caught early, and the late "found" branch is rarely wrong for a non-zero size.
    if zero:
        if pos < n and e[pos].key == key:
            old[0] = e[pos].size
            if pos < n - 1 - pos:       # fewer entries below: shift them up one
                move_up(e, pos)
                c.e = e + 1
                c.lo += 1
            else:
                move_down(e + pos, n - pos - 1)
            c.n = n - 1
        else:
            old[0] = 0.0
        return 0
    if pos < n and e[pos].key == key:
        old[0] = e[pos].size
        e[pos].size = size
        return 0
    old[0] = 0.0
    # Insert: shift whichever part of the block is shorter, recentring first if that end is full.
    if (c.lo == 0) if pos < n - pos else (c.lo + n >= c.cap):
        cursor_store(c, sd)
        if side_reserve(sd, n + 1) < 0:
            return -1
        cursor_load(c, sd)
        e = c.e
    if pos < n - pos:
        e -= 1
        c.lo -= 1
        move_down(e, pos)
    else:
        move_up(e + pos, n - pos)
    e[pos].key = key
    e[pos].size = size
    c.e = e
    c.n = n + 1
    return 0


cdef inline int side_set(Side* sd, int64_t key, double size, double* old) noexcept nogil:
    """put_at for one level (undo replay, unusual snapshots)."""
    cdef Cursor c
    cdef int rc
    cursor_load(&c, sd)
    rc = put_at(&c, sd, key, size, size == 0.0, search(c.e, c.n, key), old)
    cursor_store(&c, sd)
    return rc


cdef inline uint32_t row_word(uint8_t kind, int8_t side, uint16_t flags) noexcept nogil:
    """The 32 bits of a tape row holding kind, side and flags (adjacent), as one load reads them."""
    cdef TapeRow r
    cdef uint32_t w
    r.kind = kind
    r.side = side
    r.flags = flags
    memcpy(&w, &r.kind, 4)
    return w


ctypedef fused Row:
    Level
    TapeRow


cdef inline Py_ssize_t apply_run(Side* sd, int sidx, int side, const Row* rows, Py_ssize_t i, Py_ssize_t n,
                                 Undo* undo, Py_ssize_t* nu, int* status, uint32_t ks_mask,
                                 uint32_t end_mask) noexcept nogil:
    """Apply the run of same-side levels starting at row i (i < n, a level of this side: the
    caller has read it) of a delta, recording old sizes in ``undo``; returns the row after the run.
    The side's state lives in locals for the run. Specialised per row layout (decoder levels, tape
    rows), so field offsets are constants.

    Tape rows: the run also stops before a row whose kind, side and flag bits under ``ks_mask``
    differ from a plain book row of this side, and after a row with a flag under ``end_mask``
    (one load per row).

    The loop is written for few instructions per level (most levels take the short search among
    the best 16, where the instruction count is the cost): row and undo pointers, and the size
    checked and tested for zero as an integer (size_bits_ok)."""
    cdef Cursor c
    cdef Undo* u = undo + nu[0]
    cdef const Row* r = rows + i
    cdef const Row* rend = rows + n
    cdef int64_t key
    cdef uint64_t sbits
    cdef double size, old
    cdef uint32_t w = 0, expect = 0, stop
    if Row is TapeRow:
        expect = row_word(KIND_BOOK, side, 0) & ks_mask
        memcpy(&w, &r.kind, 4)
    cursor_load(&c, sd)
    while True:
        memcpy(&sbits, &r.size, 8)
        if not size_bits_ok(sbits):
            status[0] = ST_BAD_SIZE
            break
        memcpy(&size, &sbits, 8)
        key = r.price_ticks
        if side < 0:
            key = -key
        if put_at(&c, sd, key, size, (sbits << 1) == 0, search(c.e, c.n, key), &old) < 0:
            status[0] = ST_NOMEM
            break
        u.key = key
        u.old_size = old
        u.sidx = sidx
        u += 1
        r += 1
        if r == rend:
            break
        if Row is TapeRow:
            stop = w & end_mask
            memcpy(&w, &r.kind, 4)
            if ((w & ks_mask) ^ expect) | stop:
                break
        else:
            if r.side != side:
                break
    cursor_store(&c, sd)
    nu[0] = u - undo
    return r - rows


cdef inline bint ascending(const Side* sd) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(1, sd.n):
        if sd.e[i].key <= sd.e[i - 1].key:
            return False
    return True


cdef inline bint descending(const Side* sd) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(1, sd.n):
        if sd.e[i].key >= sd.e[i - 1].key:
            return False
    return sd.n > 1


cdef inline bint crossed(const Side* b, const Side* a) noexcept nogil:
    """Best bid >= best ask (crossed or locked)."""
    return b.n > 0 and a.n > 0 and b.e[b.n - 1].key >= -a.e[a.n - 1].key


cdef inline double sum_top(const Side* sd, Py_ssize_t k) noexcept nogil:
    cdef Py_ssize_t i, lo
    cdef double acc = 0.0
    lo = sd.n - k if k < sd.n else 0
    i = sd.n - 1
    while i >= lo:
        acc += sd.e[i].size
        i -= 1
    return acc


cdef inline void level_src(const Level* lv, Py_ssize_t n, LevelSrc* src) noexcept nogil:
    """A LevelSrc over the decoder's Level scratch array."""
    src.base = <const char*>lv
    src.stride = sizeof(Level)
    src.tape = False
    src.lazy = False
    src.n = n
    src.off_price = <Py_ssize_t>(<const char*>&lv[0].price_ticks - <const char*>lv)
    src.off_size = <Py_ssize_t>(<const char*>&lv[0].size - <const char*>lv)
    src.off_side = <Py_ssize_t>(<const char*>&lv[0].side - <const char*>lv)


cdef inline void tape_src(const TapeRow* rows, Py_ssize_t i, Py_ssize_t n, bint lazy, LevelSrc* src,
                          MsgMeta* meta) noexcept nogil:
    """src and meta for the book message whose rows start at tape row i (n rows, or the rest of the
    tape when ``lazy``)."""
    src.base = <const char*>&rows[i]
    src.stride = sizeof(TapeRow)
    src.tape = True
    src.lazy = lazy
    src.n = n
    src.off_price = <Py_ssize_t>(<const char*>&rows[0].price_ticks - <const char*>rows)
    src.off_size = <Py_ssize_t>(<const char*>&rows[0].size - <const char*>rows)
    src.off_side = <Py_ssize_t>(<const char*>&rows[0].side - <const char*>rows)
    meta.snapshot = (rows[i].flags & FLAG_SNAPSHOT) != 0
    meta.has_u = rows[i].update_id >= 0
    meta.u = rows[i].update_id
    meta.seq = rows[i].seq
    meta.ts_exch = rows[i].ts_exch
    meta.cts = 0
    meta.ts_local = rows[i].ts_local


cdef Py_ssize_t tape_message(const TapeRow* rows, Py_ssize_t n, Py_ssize_t i, LevelSrc* src,
                             MsgMeta* meta) noexcept nogil:
    cdef Py_ssize_t j = i
    cdef uint32_t w
    # One 32-bit load and one compare per row (kind, side and flags are adjacent): a middle row
    # is a book row with neither BEGIN nor END.
    cdef uint32_t mask = row_word(0xFF, 0, FLAG_BEGIN | FLAG_END)
    cdef uint32_t middle = row_word(KIND_BOOK, 0, 0)
    if i < 0 or i >= n or rows[i].kind != KIND_BOOK or not (rows[i].flags & FLAG_BEGIN):
        return -1
    if not (rows[i].flags & FLAG_END):
        j = i + 1
        while True:
            if j >= n:
                return -1
            memcpy(&w, &rows[j].kind, 4)
            if (w & mask) != middle:
                break
            j += 1
        if (w & mask) != row_word(KIND_BOOK, 0, FLAG_END):
            return -1
    tape_src(rows, i, j - i + 1, False, src, meta)
    return j + 1


cdef Py_ssize_t tape_message_lazy(const TapeRow* rows, Py_ssize_t n, Py_ssize_t i, LevelSrc* src,
                                  MsgMeta* meta) noexcept nogil:
    """``tape_message`` without the pass that finds a delta's END row: the delta's length is found
    while it is applied (see ``OrderBook._levels_lazy``). src.lazy is set and src.n is the number
    of tape rows left; once apply_message has reached the END row, src.lazy is cleared and src.n
    is the message's length. A message that was not applied (stale, gap, duplicate, rolled back)
    may still be lazy: ``tape_message`` then finds (and checks) its end. Snapshots, ``u == 1``
    resets and one-row messages are located whole, as by ``tape_message``. Returns 0, or -1 if
    row i does not start a well-formed book message."""
    if (i < 0 or i >= n or rows[i].kind != KIND_BOOK or not (rows[i].flags & FLAG_BEGIN)
            or (rows[i].flags & (FLAG_SNAPSHOT | FLAG_END)) or rows[i].update_id == 1):
        return -1 if tape_message(rows, n, i, src, meta) < 0 else 0
    tape_src(rows, i, n - i, True, src, meta)
    return 0


cdef int64_t as_i64(object v, str name, int64_t lo) except? -2:
    """A Python integer as int64 >= lo, or InvalidInputError naming the argument."""
    cdef int64_t out
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise InvalidInputError(f"{name} must be an integer, got {v!r}")
    try:
        out = v
    except OverflowError:
        raise InvalidInputError(f"{name}={v!r} does not fit a signed 64-bit integer") from None
    if out < lo:
        raise InvalidInputError(f"{name} must be >= {lo}, got {v!r}")
    return out


cdef inline Py_ssize_t as_k(object k, str name) except -1:
    cdef Py_ssize_t v
    if type(k) is int:               # exact int: the common case, no isinstance walk
        try:
            v = k
        except OverflowError:
            v = 0
        if v >= 1:
            return v
    elif isinstance(k, (int, np.integer)) and not isinstance(k, bool):
        return as_k(int(k), name)
    raise InvalidInputError(f"{name} must be an integer >= 1, got {k!r}")


cdef object as_array(object a, int type_num, str name):
    """Coerce to a 1-D C-contiguous array of int64 or float64, refusing lossy conversions."""
    cdef cnp.ndarray arr
    if cnp.PyArray_Check(a):
        arr = <cnp.ndarray>a
        if (cnp.PyArray_TYPE(arr) == type_num and cnp.PyArray_NDIM(arr) == 1
                and cnp.PyArray_IS_C_CONTIGUOUS(arr)):
            return arr
    if a is None:
        raise InvalidInputError(f"{name} must be a 1-D array, got None")
    try:
        arr = np.asarray(a)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must be a 1-D numeric array: {exc}") from None
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be 1-D, got shape {np.shape(arr)}")
    if type_num == cnp.NPY_INT64:
        if arr.dtype.kind not in "iu" and not (arr.size == 0 and arr.dtype.kind == "f"):
            raise InvalidInputError(f"{name} must hold integer price ticks, got dtype {arr.dtype}")
        if arr.dtype.kind == "u" and arr.size and int(arr.max()) > INT64_MAX:
            raise InvalidInputError(f"{name} holds a value above the int64 range: {int(arr.max())}")
    elif arr.dtype.kind not in "iuf":
        raise InvalidInputError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64 if type_num == cnp.NPY_INT64 else np.float64)


cdef class OrderBook:
    """A local L2 order book for one instrument and one book channel (e.g. Bybit's ``orderbook.50.BTCUSDT``).

    Parameters
    ----------
    symbol : str
        Instrument symbol; frames for another symbol are rejected.
    tick_size : str, float or Decimal, optional
        Price grid (required unless ``spec`` is given). Prices are stored as int64 ticks.
    spec : InstrumentSpec, optional
        Instrument specification (tick size, quantity step).
    strict_sequence : bool, default True
        Require ``u == last_u + 1`` for every delta; with False any increasing ``u`` is accepted.
    decoder : FrameDecoder or callable, optional
        The venue's frame decoder for :meth:`apply_frame`: an instance for this tick size (the book
        uses it as scratch space: one book per decoder), or a factory called with the tick size (a
        FrameDecoder subclass). Default: ``ofi._core.decoder.default_decoder`` (Bybit V5, registered
        by ``import ofi``).

    Notes
    -----
    Sizes are float64 in base units; prices are returned as floats equal to ``float(str(price))``.
    A message is applied whole or not at all: malformed input raises ``InvalidInputError``, a gap
    ``SequenceGapError`` (the book becomes stale until the next snapshot), a crossed or locked result
    ``BookIntegrityError`` (rolled back, stale). Reads on an empty side return NaN.
    """

    def __cinit__(self, *args, **kwargs):
        cdef int i
        for i in range(2):
            self.sides[i].buf = NULL
            self.sides[i].e = NULL
            self.sides[i].lo = 0
            self.sides[i].n = 0
            self.sides[i].cap = 0
            self.spare[i] = self.sides[i]
            if side_reserve(&self.sides[i], 128) < 0 or side_reserve(&self.spare[i], 128) < 0:
                raise MemoryError()
        self.undo_cap = 256
        self.undo = <Undo*>malloc(self.undo_cap * sizeof(Undo))
        if self.undo == NULL:
            raise MemoryError()

    def __dealloc__(self):
        cdef int i
        for i in range(2):
            free(self.sides[i].buf)
            free(self.spare[i].buf)
        free(self.undo)

    def __init__(self, symbol, tick_size=None, *, spec=None, bint strict_sequence=True, decoder=None):
        if not isinstance(symbol, str) or not symbol:
            raise InvalidInputError(f"symbol must be a non-empty string, got {symbol!r}")
        if spec is None:
            if tick_size is None:
                raise InvalidInputError("OrderBook needs tick_size=... (or spec=InstrumentSpec(...))")
            spec = InstrumentSpec(symbol, tick_size)
        elif not isinstance(spec, InstrumentSpec):
            raise InvalidInputError(f"spec must be an InstrumentSpec, got {type(spec).__name__}")
        elif tick_size is not None and spec.tick_size != InstrumentSpec(symbol, tick_size).tick_size:
            raise InvalidInputError(f"tick_size={tick_size!r} disagrees with spec.tick_size={spec.tick_size}")
        if decoder is None:
            dec = default_decoder(spec.tick_size)
        elif isinstance(decoder, FrameDecoder):
            dec = decoder
            if dec.tick_size != spec.tick_size:
                raise InvalidInputError(f"decoder.tick_size={dec.tick_size} disagrees with the book's tick size "
                                        f"{spec.tick_size}")
        elif callable(decoder):
            dec = new_decoder(decoder, spec.tick_size)
        else:
            raise InvalidInputError(f"decoder must be a FrameDecoder or a factory of them, got {type(decoder).__name__}")
        self.symbol = symbol
        self._symbol_b = symbol.encode()
        self.spec = spec
        self.dec = dec
        self.grid = self.dec.grid
        self.strict_sequence = strict_sequence
        self._channel_b = None
        self.update_id = -1
        self.seq = -1

    # ---- the kernel ------------------------------------------------------------------------------

    cdef double price_of(self, int64_t ticks) noexcept nogil:
        return ticks_to_float(ticks, &self.grid)

    cdef int apply_message(self, LevelSrc* src, MsgMeta* meta) noexcept nogil:
        """Apply one message whole or not at all; returns an ST_* status."""
        cdef Py_ssize_t i, nu = 0
        cdef double old
        cdef int side, sidx, st = ST_APPLIED
        cdef Side tmp
        cdef Undo* grown
        if meta.has_u and meta.u == 1:
            meta.snapshot = True            # u == 1: the venue's book service restarted (Bybit)
        if not meta.snapshot:
            # The sequence gate. A lazy tape message's rows are checked first (_settle_lazy), so a
            # malformed one changes nothing, not even a counter.
            if not self._has_snapshot:
                if not self._settle_lazy(src):
                    return ST_MALFORMED
                self.rejected += 1
                return ST_NO_SNAPSHOT
            if self._stale:
                if not self._settle_lazy(src):
                    return ST_MALFORMED
                self.rejected += 1
                return ST_STALE
            if meta.has_u:
                if meta.u <= self.update_id:
                    if not self._settle_lazy(src):
                        return ST_MALFORMED
                    self.ignored += 1
                    return ST_IGNORED
                if self.strict_sequence and meta.u != self.update_id + 1:
                    if not self._settle_lazy(src):
                        return ST_MALFORMED
                    self._stale = True
                    self.gaps += 1
                    self.rejected += 1
                    return ST_GAP
            if src.lazy:
                st = self._levels_lazy(src, &nu)
            else:
                if src.n > self.undo_cap:
                    grown = <Undo*>realloc(self.undo, src.n * sizeof(Undo))
                    if grown == NULL:
                        return ST_NOMEM
                    self.undo = grown
                    self.undo_cap = src.n
                i = 0
                while i < src.n:
                    side = (<const signed char*>(src.base + i * src.stride + src.off_side))[0]
                    if side == 0:
                        i += 1
                        continue
                    if side != 1 and side != -1:
                        st = ST_BAD_SIDE
                        self.bad_row = i
                        break
                    sidx = (1 - side) >> 1
                    if src.tape:
                        i = apply_run(&self.sides[sidx], sidx, side, <const TapeRow*>src.base, i, src.n,
                                      self.undo, &nu, &st, row_word(0, -1, 0), 0)
                    else:
                        i = apply_run(&self.sides[sidx], sidx, side, <const Level*>src.base, i, src.n,
                                      self.undo, &nu, &st, 0, 0)
                    if st != ST_APPLIED:
                        self.bad_row = i
                        break
            if st == ST_APPLIED and crossed(&self.sides[0], &self.sides[1]):
                st = ST_CROSSED
            if st != ST_APPLIED:
                i = nu - 1
                while i >= 0:       # capacity never shrinks, so restoring cannot fail
                    side_set(&self.sides[self.undo[i].sidx], self.undo[i].key, self.undo[i].old_size, &old)
                    i -= 1
                if st == ST_MALFORMED or not self._settle_lazy(src):
                    return ST_MALFORMED     # not a message at all: the caller raises
                self.rejected += 1
                if st == ST_CROSSED:
                    self._stale = True
                return st
        else:
            st = self._build_snapshot(src)
            if st != ST_APPLIED:
                self.rejected += 1
                if st == ST_CROSSED:
                    self._stale = True
                return st
            for sidx in range(2):
                tmp = self.sides[sidx]
                self.sides[sidx] = self.spare[sidx]
                self.spare[sidx] = tmp
            # A new history unless this snapshot continues a healthy one (Bybit's depth-1 stream
            # is all snapshots, re-pushed with the same u when nothing changed): order-flow
            # measures must not difference across an epoch change.
            if (not self._has_snapshot or self._stale or not meta.has_u or meta.u == 1
                    or meta.u < self.update_id):
                self.epoch += 1
            self._has_snapshot = True
            self._stale = False
        if meta.has_u:
            self.update_id = meta.u
        self.seq = meta.seq
        self.ts_exch = meta.ts_exch
        self.cts = meta.cts
        self.ts_local = meta.ts_local
        self.messages += 1
        # An empty message is one marker row with side 0 (tapes); it carries no level.
        if not (src.n == 1 and (<const signed char*>(src.base + src.off_side))[0] == 0):
            self.levels_applied += src.n
        return ST_APPLIED

    cdef int _levels_lazy(self, LevelSrc* src, Py_ssize_t* nu) noexcept nogil:
        """The levels of a tape delta whose length is not known yet (``tape_message_lazy``): its
        rows are checked while they are applied, in one pass, and ``src.n`` becomes the message's
        length once its END row is reached (``src.lazy`` cleared). Returns an ST_* status;
        ST_MALFORMED if the rows do not run from the BEGIN row to an END row."""
        cdef const TapeRow* rows = <const TapeRow*>src.base
        cdef Py_ssize_t i = 0, lim, n = src.n
        cdef int side, st = ST_APPLIED
        cdef Undo* grown
        # A run stops before a row that is not a plain book row of its side (BEGIN included: only
        # row 0 may carry it) and after the END row.
        cdef uint32_t ks_mask = row_word(0xFF, -1, FLAG_BEGIN), end_mask = row_word(0, 0, FLAG_END)
        while True:
            if i >= n or rows[i].kind != KIND_BOOK or (i > 0 and (rows[i].flags & FLAG_BEGIN)):
                return ST_MALFORMED
            if nu[0] == self.undo_cap:
                grown = <Undo*>realloc(self.undo, 2 * self.undo_cap * sizeof(Undo))
                if grown == NULL:
                    return ST_NOMEM
                self.undo = grown
                self.undo_cap *= 2
            side = rows[i].side
            if side == 0:
                i += 1
            elif side != 1 and side != -1:
                self.bad_row = i
                return ST_BAD_SIDE
            else:
                # Bounded by the undo log's room; the loop grows it and goes on.
                lim = i + (self.undo_cap - nu[0])
                # The side as a constant in each copy: no key negation test per level.
                if side > 0:
                    i = apply_run(&self.sides[0], 0, 1, rows, i, lim if lim < n else n,
                                  self.undo, nu, &st, ks_mask, end_mask)
                else:
                    i = apply_run(&self.sides[1], 1, -1, rows, i, lim if lim < n else n,
                                  self.undo, nu, &st, ks_mask, end_mask)
                if st != ST_APPLIED:
                    self.bad_row = i
                    return st
            if rows[i - 1].flags & FLAG_END:
                src.n = i
                src.lazy = False
                return ST_APPLIED

    cdef bint _settle_lazy(self, LevelSrc* src) noexcept nogil:
        """Before a lazy tape message is counted as refused (sequence gate, rolled back): find and
        check its END row as ``tape_message`` does. False if its rows do not form a book message;
        otherwise src.n becomes its length and src.lazy is cleared. True at once for other sources."""
        cdef LevelSrc whole
        cdef MsgMeta unused
        if not src.lazy:
            return True
        if tape_message(<const TapeRow*>src.base, src.n, 0, &whole, &unused) < 0:
            return False
        src.n = whole.n
        src.lazy = False
        return True

    cdef int _build_snapshot(self, LevelSrc* src) noexcept nogil:
        """Fill the spare sides from src (any order, zero sizes dropped, last duplicate wins)."""
        cdef Py_ssize_t i, j, n
        cdef const char* row
        cdef int64_t price
        cdef double size
        cdef Entry tmp_e
        cdef int side, sidx
        cdef bint plain = True
        cdef Side* sd
        side_reset(&self.spare[0])
        side_reset(&self.spare[1])
        for i in range(src.n):
            row = src.base + i * src.stride
            side = (<const signed char*>(row + src.off_side))[0]
            if side == 0:
                continue
            if side != 1 and side != -1:
                self.bad_row = i
                return ST_BAD_SIDE
            price = (<const int64_t*>(row + src.off_price))[0]
            size = (<const double*>(row + src.off_size))[0]
            if not size_ok(size):
                self.bad_row = i
                return ST_BAD_SIZE
            if size == 0.0:
                plain = False
            sidx = (1 - side) >> 1
            sd = &self.spare[sidx]
            if sd.lo + sd.n == sd.cap and side_reserve(sd, sd.n + 1) < 0:
                return ST_NOMEM
            sd.e[sd.n].key = price if side > 0 else -price
            sd.e[sd.n].size = size
            sd.n += 1
        for sidx in range(2):
            sd = &self.spare[sidx]
            n = sd.n
            if not plain or not (ascending(sd) or descending(sd)):
                # Zero sizes, duplicates or an unusual order: rebuild level by level.
                if self._rebuild_side(sidx, src) < 0:
                    return ST_NOMEM
                continue
            if descending(sd):      # venues send snapshots best first (Bybit does): reverse in place
                i = 0
                j = n - 1
                while i < j:
                    tmp_e = sd.e[i]
                    sd.e[i] = sd.e[j]
                    sd.e[j] = tmp_e
                    i += 1
                    j -= 1
            if side_reserve(sd, n) < 0:     # centre the block, slack at both ends
                return ST_NOMEM
        if crossed(&self.spare[0], &self.spare[1]):
            return ST_CROSSED
        return ST_APPLIED

    cdef int _rebuild_side(self, int sidx, LevelSrc* src) noexcept nogil:
        cdef Py_ssize_t i
        cdef const char* row
        cdef int side
        cdef int64_t price
        cdef double old
        cdef Side* sd = &self.spare[sidx]
        side_reset(sd)
        if side_reserve(sd, 0) < 0:
            return -1
        for i in range(src.n):
            row = src.base + i * src.stride
            side = (<const signed char*>(row + src.off_side))[0]
            if side == 0 or ((1 - side) >> 1) != sidx:
                continue
            price = (<const int64_t*>(row + src.off_price))[0]
            if side_set(sd, price if side > 0 else -price, (<const double*>(row + src.off_size))[0], &old) < 0:
                return -1
        return 0

    cdef int raise_status(self, int status, MsgMeta* meta) except -1:
        if status >= 0:
            return 0
        if status == ST_NO_SNAPSHOT:
            raise SequenceGapError(
                f"{self.symbol}: delta u={meta.u} arrived before any snapshot; waiting for a snapshot",
                None, meta.u)
        if status == ST_STALE:
            raise SequenceGapError(
                f"{self.symbol}: book is stale (after a gap or a crossed book at u={self.update_id}); "
                f"delta u={meta.u} dropped until the next snapshot", None, meta.u)
        if status == ST_GAP:
            raise SequenceGapError(
                f"{self.symbol}: update id gap: expected u={self.update_id + 1}, received u={meta.u}; "
                f"book kept as of u={self.update_id} and marked stale until the next snapshot",
                self.update_id + 1, meta.u)
        if status == ST_CROSSED:
            raise BookIntegrityError(
                f"{self.symbol}: message u={meta.u} would leave the book crossed or locked; rolled back "
                f"to u={self.update_id} and marked stale until the next snapshot")
        if status == ST_BAD_SIZE:
            raise InvalidInputError(
                f"{self.symbol}: size at level {self.bad_row} of message u={meta.u} must be finite "
                f"and >= 0; message rejected")
        if status == ST_BAD_SIDE:
            raise InvalidInputError(
                f"{self.symbol}: side at level {self.bad_row} of message u={meta.u} must be 1 (bid), "
                f"-1 (ask) or 0 (no level); message rejected")
        raise MemoryError("out of memory while applying a book message")

    # ---- drivers ---------------------------------------------------------------------------------

    def apply_frame(self, raw, int64_t ts_local=0):
        """Apply one raw book frame of the book's venue (Bybit V5 ``orderbook.*`` by default).

        Parameters
        ----------
        raw : str, bytes, bytearray or memoryview
            The frame exactly as received.
        ts_local : int, optional
            Local receive time in ns since the epoch.

        Returns
        -------
        bool
            True if applied, False if it was a duplicate or older delta (``u <= update_id``).

        Raises
        ------
        InvalidInputError
            Malformed frame, price off the tick grid, other symbol or channel, or not a book frame.
        SequenceGapError
            A delta that does not continue ``u``, or arrives before a snapshot or while stale.
        BookIntegrityError
            The message would cross or lock the book (rolled back, book marked stale).
        """
        cdef FrameDecoder dec = self.dec
        cdef Decoded* msg
        cdef LevelSrc src
        cdef MsgMeta meta
        cdef int st
        try:
            dec.parse(raw)
            msg = &dec.msg
            if msg.kind != FRAME_BOOK:
                raise InvalidInputError(dec.kind_message(FRAME_BOOK))
            if self._channel_b is None:
                dec.check_book_channel(self.symbol)
            elif msg.channel.len != len(self._channel_b) or memcmp(dec.buf + msg.channel.off,
                                                                   <const char*>self._channel_b, msg.channel.len) != 0:
                raise InvalidInputError(
                    f"frame topic {dec.span_str(msg.channel)!r} does not match this book's topic "
                    f"{self._channel_b.decode()!r} (keep one book per topic)")
            if msg.symbol.len != len(self._symbol_b) or memcmp(dec.buf + msg.symbol.off, <const char*>self._symbol_b,
                                                               msg.symbol.len) != 0:
                raise InvalidInputError(
                    f"frame symbol {dec.span_str(msg.symbol)!r} does not match this book's symbol {self.symbol!r}")
        except InvalidInputError:
            self.rejected += 1
            raise
        level_src(dec.levels, msg.n_levels, &src)
        meta.snapshot = msg.snapshot
        meta.has_u = msg.has_update_id
        meta.u = msg.update_id if msg.has_update_id else -1
        meta.seq = msg.seq
        meta.ts_exch = msg.ts_exch
        meta.cts = msg.ts_engine if msg.ts_engine >= 0 else 0
        meta.ts_local = ts_local
        st = self.apply_message(&src, &meta)
        if st < 0:
            self.raise_status(st, &meta)
        if self._channel_b is None and st == ST_APPLIED:
            self._channel_b = (<const char*>dec.buf)[msg.channel.off:msg.channel.off + msg.channel.len]
        return st == ST_APPLIED

    def apply_levels(self, bid_ticks, bid_sizes, ask_ticks, ask_sizes, bint snapshot=False,
                     update_id=-1, ts_exch=0, ts_local=0, *, seq=-1, cts=0):
        """Apply one message given as arrays of price ticks and absolute sizes.

        Parameters
        ----------
        bid_ticks, ask_ticks : int64 ndarray, shape (n,), (m,)
            Prices in ticks.
        bid_sizes, ask_sizes : float64 ndarray, shape (n,), (m,)
            Absolute sizes (0 deletes the level), finite and >= 0.
        snapshot : bool
            Replace the whole book.
        update_id : int
            The venue's book update id (Bybit ``u``); -1 skips the sequence check. ``u == 1`` is a reset.
        ts_exch, ts_local : int
            Exchange and local times in ns.
        seq : int, keyword-only
            The venue's cross sequence, kept as ``self.seq`` (-1: none).
        cts : int, keyword-only
            The matching engine's time in ns, kept as ``self.cts`` (0: none).

        Returns
        -------
        bool
            True if applied, False if ignored as a duplicate/older update id.
        """
        cdef int64_t u, te, tl, sq, ct
        try:
            u = as_i64(update_id, "update_id", -1)
            te = as_i64(ts_exch, "ts_exch", INT64_MIN)
            tl = as_i64(ts_local, "ts_local", INT64_MIN)
            sq = as_i64(seq, "seq", INT64_MIN)
            ct = as_i64(cts, "cts", INT64_MIN)
        except InvalidInputError:
            self.rejected += 1
            raise
        return self._apply_arrays(bid_ticks, bid_sizes, ask_ticks, ask_sizes, snapshot, u, te, tl, sq, ct)

    def apply_delta(self, update_id, bid_ticks, bid_sizes, ask_ticks, ask_sizes):
        """``apply_levels(..., snapshot=False, update_id=update_id)`` with positional arguments only:
        the cheapest call for a live loop (no keyword parsing). Returns True if applied."""
        return self._apply_arrays(bid_ticks, bid_sizes, ask_ticks, ask_sizes, False,
                                  self._update_id_arg(update_id), 0, 0)

    def apply_snapshot(self, update_id, bid_ticks, bid_sizes, ask_ticks, ask_sizes):
        """Replace the whole book (``apply_levels(..., snapshot=True, update_id=update_id)``)."""
        return self._apply_arrays(bid_ticks, bid_sizes, ask_ticks, ask_sizes, True,
                                  self._update_id_arg(update_id), 0, 0)

    cdef int64_t _update_id_arg(self, object update_id) except? -2:
        try:
            return as_i64(update_id, "update_id", -1)
        except InvalidInputError:
            self.rejected += 1
            raise

    def apply_tape(self, tape, start):
        """Apply the book message that starts at row ``start`` of a tape; return the row after it.

        One call per message, for loops that read the book between messages (``replay_tape`` runs
        the whole tape in one call instead). Book message starts are
        ``ofi.data.tape.message_starts(tape)``.

        Raises
        ------
        InvalidInputError
            ``tape`` is not a 1-D contiguous TAPE_DTYPE array, or row ``start`` does not begin a
            book message.
        SequenceGapError, BookIntegrityError
            As for :meth:`apply_frame`.
        """
        cdef cnp.ndarray arr
        cdef LevelSrc src
        cdef MsgMeta meta
        cdef Py_ssize_t nxt
        cdef int st
        if not (cnp.PyArray_Check(tape) and <object>cnp.PyArray_DESCR(<cnp.ndarray>tape) is TAPE_DTYPE
                and cnp.PyArray_NDIM(<cnp.ndarray>tape) == 1 and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>tape)):
            if not (isinstance(tape, np.ndarray) and tape.dtype == TAPE_DTYPE and tape.ndim == 1
                    and tape.flags.c_contiguous):
                self.rejected += 1
                raise InvalidInputError("tape must be a 1-D C-contiguous array of ofi.data.tape.TAPE_DTYPE")
        arr = <cnp.ndarray>tape
        nxt = tape_message(<const TapeRow*>cnp.PyArray_DATA(arr), cnp.PyArray_DIM(arr, 0),
                           <Py_ssize_t>as_i64(start, "start", 0), &src, &meta)
        if nxt < 0:
            self.rejected += 1
            raise InvalidInputError(f"tape row {start} does not start a book message (kind 1, FLAG_BEGIN ... FLAG_END)")
        st = self.apply_message(&src, &meta)
        if st < 0:
            self.raise_status(st, &meta)
        return nxt

    cdef object _apply_arrays(self, bid_ticks, bid_sizes, ask_ticks, ask_sizes, bint snapshot,
                              int64_t update_id, int64_t ts_exch, int64_t ts_local, int64_t seq=-1,
                              int64_t cts=0):
        cdef cnp.ndarray bt, bs, at, as_
        cdef Py_ssize_t nb, na, i
        cdef const int64_t* pt
        cdef const double* ps
        cdef Level* lv
        cdef LevelSrc src
        cdef MsgMeta meta
        cdef int st
        try:
            bt = as_array(bid_ticks, cnp.NPY_INT64, "bid_ticks")
            bs = as_array(bid_sizes, cnp.NPY_FLOAT64, "bid_sizes")
            at = as_array(ask_ticks, cnp.NPY_INT64, "ask_ticks")
            as_ = as_array(ask_sizes, cnp.NPY_FLOAT64, "ask_sizes")
            nb = cnp.PyArray_DIM(bt, 0)
            na = cnp.PyArray_DIM(at, 0)
            if cnp.PyArray_DIM(bs, 0) != nb:
                raise InvalidInputError(f"bid_ticks and bid_sizes differ in length: {nb} != {cnp.PyArray_DIM(bs, 0)}")
            if cnp.PyArray_DIM(as_, 0) != na:
                raise InvalidInputError(f"ask_ticks and ask_sizes differ in length: {na} != {cnp.PyArray_DIM(as_, 0)}")
        except InvalidInputError:
            self.rejected += 1
            raise
        if self.dec.reserve_levels(nb + na) < 0:
            raise MemoryError()
        lv = self.dec.levels
        pt = <const int64_t*>cnp.PyArray_DATA(bt)
        ps = <const double*>cnp.PyArray_DATA(bs)
        for i in range(nb):
            lv[i].price_ticks = pt[i]
            lv[i].size = ps[i]
            lv[i].side = 1
        pt = <const int64_t*>cnp.PyArray_DATA(at)
        ps = <const double*>cnp.PyArray_DATA(as_)
        for i in range(na):
            lv[nb + i].price_ticks = pt[i]
            lv[nb + i].size = ps[i]
            lv[nb + i].side = -1
        level_src(lv, nb + na, &src)
        meta.snapshot = snapshot
        meta.has_u = update_id != -1
        meta.u = update_id
        meta.seq = seq
        meta.ts_exch = ts_exch
        meta.cts = cts
        meta.ts_local = ts_local
        st = self.apply_message(&src, &meta)
        if st < 0:
            self.raise_status(st, &meta)
        return st == ST_APPLIED

    # ---- reads -----------------------------------------------------------------------------------

    def best_bid(self):
        """Best bid price (float), NaN if there are no bids."""
        cdef Side* sd = &self.sides[0]
        return self.price_of(sd.e[sd.n - 1].key) if sd.n else NAN

    def best_ask(self):
        """Best ask price (float), NaN if there are no asks."""
        cdef Side* sd = &self.sides[1]
        return self.price_of(-sd.e[sd.n - 1].key) if sd.n else NAN

    def size_at(self, int side, int64_t price_ticks):
        """Visible size at ``price_ticks`` on the bid (``side`` +1) or ask (-1) side; 0.0 if absent."""
        cdef Side* sd
        cdef int64_t key
        cdef Py_ssize_t i
        if side != 1 and side != -1:
            raise InvalidInputError(f"side must be +1 (bids) or -1 (asks), got {side}")
        sd = &self.sides[0 if side == 1 else 1]
        key = price_ticks if side == 1 else -price_ticks
        i = lower_bound(sd.e, sd.n, key)
        return sd.e[i].size if i < sd.n and sd.e[i].key == key else 0.0

    def level(self, int side, Py_ssize_t i):
        """``(price_ticks, size)`` of the i-th best level (0: the best) on the bid (``side`` +1)
        or ask (-1) side; None past the last level. One level without building arrays."""
        cdef Side* sd
        if side != 1 and side != -1:
            raise InvalidInputError(f"side must be +1 (bids) or -1 (asks), got {side}")
        if i < 0:
            raise InvalidInputError(f"i must be >= 0, got {i}")
        sd = &self.sides[0 if side == 1 else 1]
        if i >= sd.n:
            return None
        return (sd.e[sd.n - 1 - i].key if side == 1 else -sd.e[sd.n - 1 - i].key), sd.e[sd.n - 1 - i].size

    def best_bid_size(self):
        cdef Side* sd = &self.sides[0]
        return sd.e[sd.n - 1].size if sd.n else NAN

    def best_ask_size(self):
        cdef Side* sd = &self.sides[1]
        return sd.e[sd.n - 1].size if sd.n else NAN

    def best_bid_ticks(self):
        """Best bid in ticks, None if there are no bids."""
        cdef Side* sd = &self.sides[0]
        return sd.e[sd.n - 1].key if sd.n else None

    def best_ask_ticks(self):
        cdef Side* sd = &self.sides[1]
        return -sd.e[sd.n - 1].key if sd.n else None

    def bbo(self):
        """``(bid_price, bid_size, ask_price, ask_size)``; NaN for an empty side."""
        cdef Side* b = &self.sides[0]
        cdef Side* a = &self.sides[1]
        return (self.price_of(b.e[b.n - 1].key) if b.n else NAN, b.e[b.n - 1].size if b.n else NAN,
                self.price_of(-a.e[a.n - 1].key) if a.n else NAN, a.e[a.n - 1].size if a.n else NAN)

    def mid_price(self):
        """(best bid + best ask) / 2, computed exactly in ticks and rounded once; NaN if a side is empty."""
        cdef Side* b = &self.sides[0]
        cdef Side* a = &self.sides[1]
        if b.n == 0 or a.n == 0:
            return NAN
        return self._mid()

    cdef double _mid(self) noexcept:
        # The tick sum is exact, price_of rounds once, and halving a double is exact.
        cdef int64_t bt = self.sides[0].e[self.sides[0].n - 1].key
        cdef int64_t at = -self.sides[1].e[self.sides[1].n - 1].key
        if -(1LL << 62) < bt < (1LL << 62) and -(1LL << 62) < at < (1LL << 62):
            return 0.5 * self.price_of(bt + at)
        return 0.5 * ticks_sum_to_float_exact(bt, at, &self.grid)

    def microprice(self):
        """Size-weighted mid: (bid * ask_size + ask * bid_size) / (bid_size + ask_size)."""
        cdef Side* b = &self.sides[0]
        cdef Side* a = &self.sides[1]
        cdef double pb, pa, qb, qa
        if b.n == 0 or a.n == 0:
            return NAN
        pb = self.price_of(b.e[b.n - 1].key)
        pa = self.price_of(-a.e[a.n - 1].key)
        qb = b.e[b.n - 1].size
        qa = a.e[a.n - 1].size
        return (pb * qa + pa * qb) / (qb + qa)

    def spread(self):
        """best ask - best bid in price units (exact in ticks, then scaled); NaN if a side is empty."""
        cdef Side* b = &self.sides[0]
        cdef Side* a = &self.sides[1]
        if b.n == 0 or a.n == 0:
            return NAN
        return self.price_of(-a.e[a.n - 1].key - b.e[b.n - 1].key)

    def spread_bps(self):
        """Spread over mid in basis points: spread() / mid_price() * 1e4 (both exact, rounded once)."""
        cdef Side* b = &self.sides[0]
        cdef Side* a = &self.sides[1]
        if b.n == 0 or a.n == 0:
            return NAN
        return self.price_of(-a.e[a.n - 1].key - b.e[b.n - 1].key) / self._mid() * 1e4

    def bid_depth(self, k):
        """Sum of bid sizes over the top k levels (fewer if the side is shorter)."""
        return sum_top(&self.sides[0], as_k(k, "k"))

    def ask_depth(self, k):
        """Sum of ask sizes over the top k levels."""
        return sum_top(&self.sides[1], as_k(k, "k"))

    def depth(self, k):
        """``(bid_depth(k), ask_depth(k))``."""
        cdef Py_ssize_t kk = as_k(k, "k")
        return (sum_top(&self.sides[0], kk), sum_top(&self.sides[1], kk))

    def depth_imbalance(self, k):
        """(B - A) / (B + A) over the top k levels per side, in [-1, 1]; NaN when both are empty."""
        cdef Py_ssize_t kk = as_k(k, "k")
        cdef double b = sum_top(&self.sides[0], kk)
        cdef double a = sum_top(&self.sides[1], kk)
        if b + a == 0.0:
            return NAN
        return (b - a) / (b + a)

    cdef object _side_array(self, int sidx, object n):
        cdef Side* sd = &self.sides[sidx]
        cdef Py_ssize_t m = sd.n if n is None else min(as_k(n, "n"), sd.n)
        cdef cnp.ndarray out = np.empty((m, 2), dtype=np.float64)
        cdef double* o = <double*>cnp.PyArray_DATA(out)
        cdef Py_ssize_t i
        for i in range(m):
            o[2 * i] = self.price_of(sd.e[sd.n - 1 - i].key if sidx == 0 else -sd.e[sd.n - 1 - i].key)
            o[2 * i + 1] = sd.e[sd.n - 1 - i].size
        return out

    def bids(self, n=None):
        """Top n bid levels, best first, as a float64 array of shape (n', 2): [price, size]."""
        return self._side_array(0, n)

    def asks(self, n=None):
        """Top n ask levels, best first, as a float64 array of shape (n', 2): [price, size]."""
        return self._side_array(1, n)

    def top_levels(self, n):
        """``(bid_ticks, bid_sizes, ask_ticks, ask_sizes)`` of the top n levels, best first (int64, float64)."""
        cdef Py_ssize_t k = as_k(n, "n"), i, m
        cdef int sidx
        cdef int64_t sign
        cdef Side* sd
        cdef cnp.ndarray t, q
        cdef int64_t* pt
        cdef double* pq
        out = []
        for sidx in range(2):
            sd = &self.sides[sidx]
            sign = 1 if sidx == 0 else -1
            m = min(k, sd.n)
            t = np.empty(m, dtype=np.int64)
            q = np.empty(m, dtype=np.float64)
            pt = <int64_t*>cnp.PyArray_DATA(t)
            pq = <double*>cnp.PyArray_DATA(q)
            for i in range(m):
                pt[i] = sign * sd.e[sd.n - 1 - i].key
                pq[i] = sd.e[sd.n - 1 - i].size
            out.append(t)
            out.append(q)
        return tuple(out)

    # ---- state -----------------------------------------------------------------------------------

    @property
    def n_bids(self):
        return self.sides[0].n

    @property
    def n_asks(self):
        return self.sides[1].n

    def __len__(self):
        return self.sides[0].n + self.sides[1].n

    @property
    def stale(self):
        """True after a gap or an integrity error, until the next snapshot."""
        return self._stale

    @property
    def ready(self):
        """True once a snapshot has been applied and the book is not stale."""
        return self._has_snapshot and not self._stale

    @property
    def topic(self):
        """The book channel (Bybit: topic) this book is bound to (set by the first applied frame), or None."""
        return None if self._channel_b is None else self._channel_b.decode()

    @property
    def tick_size(self):
        return float(self.spec.tick_size)

    def clear(self):
        """Empty the book and forget its sequence state (the next message must be a snapshot)."""
        side_reset(&self.sides[0])
        side_reset(&self.sides[1])
        side_reserve(&self.sides[0], 0)
        side_reserve(&self.sides[1], 0)
        self._has_snapshot = False
        self._stale = False
        self.update_id = -1
        self.seq = -1
        self.epoch += 1

    def copy(self):
        """An independent copy (levels, sequence state, topic and counters)."""
        cdef OrderBook other = OrderBook(self.symbol, spec=self.spec, strict_sequence=self.strict_sequence,
                                         decoder=type(self.dec))
        cdef int sidx
        for sidx in range(2):
            side_reset(&other.sides[sidx])
            if side_reserve(&other.sides[sidx], self.sides[sidx].n) < 0:
                raise MemoryError()
            memcpy(other.sides[sidx].e, self.sides[sidx].e, self.sides[sidx].n * sizeof(Entry))
            other.sides[sidx].n = self.sides[sidx].n
        other._channel_b = self._channel_b
        other.update_id = self.update_id
        other.seq = self.seq
        other.ts_exch = self.ts_exch
        other.cts = self.cts
        other.ts_local = self.ts_local
        other._has_snapshot = self._has_snapshot
        other._stale = self._stale
        other.messages = self.messages
        other.rejected = self.rejected
        other.gaps = self.gaps
        other.ignored = self.ignored
        other.levels_applied = self.levels_applied
        other.epoch = self.epoch
        return other

    def check_integrity(self):
        """Verify the internal invariants; raises BookIntegrityError if any fails."""
        cdef Py_ssize_t i
        cdef int sidx
        cdef Side* sd
        for sidx in range(2):
            sd = &self.sides[sidx]
            for i in range(sd.n):
                if not (sd.e[i].size > 0.0 and size_ok(sd.e[i].size)):
                    raise BookIntegrityError(f"{self.symbol}: non-positive size at level {i} of side {sidx}")
                if i and sd.e[i].key <= sd.e[i - 1].key:
                    raise BookIntegrityError(f"{self.symbol}: side {sidx} is not strictly sorted at {i}")
        if crossed(&self.sides[0], &self.sides[1]):
            raise BookIntegrityError(f"{self.symbol}: book is crossed or locked")
        return True

    def __repr__(self):
        return (f"OrderBook({self.symbol!r}, tick_size={self.spec.tick_size}, bids={self.sides[0].n}, "
                f"asks={self.sides[1].n}, best_bid={self.best_bid()}, best_ask={self.best_ask()}, "
                f"u={self.update_id}, stale={self._stale})")
