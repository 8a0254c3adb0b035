"""The base of every venue's frame decoder, and the default-decoder registry.

A venue decoder (``ofi/venues/<venue>/_decode.pyx``) subclasses :class:`FrameDecoder` and overrides
one virtual method to decode a frame (``scan_frame``: the venue's grammar, written with the JSON
scanner of ``jsonscan.pxd`` and the decimal conversions of ``decimal.pxd``), plus the venue's rule
for which channel a book may bind to and its messages. Everything else lives here once: the tick
grid, the frame buffer, scratch arrays of levels and trades that the book and the tape builder read
(a malformed frame is rejected whole before any state changes), error messages, the Python API
(``decode``, ``decode_trades``, ``parse_level``) and frames -> tape.

Decimal strings go straight to integers: a price ``"75848.74"`` becomes 7584874 ticks of 0.01,
exactly; a price that is not a whole number of ticks is an error, never rounded. Sizes become the
same float64 that ``float(str)`` gives.
"""
cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_Check
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Check
from cpython.unicode cimport PyUnicode_Check
from libc.stdlib cimport malloc, realloc, free
from libc.stdint cimport int64_t

import json
import reprlib

import numpy as np
cimport numpy as cnp

from ofi._core.decimal cimport POW10D, decimal_price, decimal_size, ticks_to_float
from ofi._core.events cimport (Level, TapeRow, Trade, bind_trade_decoder, KIND_BOOK, KIND_TRADE, FLAG_BEGIN,
                               FLAG_END, FLAG_SNAPSHOT, FLAG_BLOCK, FLAG_RPI)
from ofi._core.jsonscan cimport (
    Scanner, Span, scanner_init, fail, MAX_DEPTH, MAX_MS,
    ERR_OK, ERR_EXPECT, ERR_EOF, ERR_VALUE, ERR_STRING, ERR_NUMBER, ERR_DEPTH, ERR_TRAILING, ERR_DECIMAL,
    ERR_OFF_GRID, ERR_RANGE, ERR_NOT_INT, ERR_NOT_STRING, ERR_MISSING, ERR_NOMEM, ERR_SHAPE, ERR_NOT_BOOL,
    ERR_DUPKEY, ERR_VENUE, F_NONE, F_PRICE, F_SIZE, F_LEVEL,
)

from ofi._core.events import TAPE_DTYPE
from ofi.errors import InvalidInputError
from ofi.spec import parse_step

cnp.import_array()

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object, Py_ssize_t*) except NULL

cdef enum:
    ERR_NO_GRAMMAR = ERR_VENUE - 1      # the base class decodes nothing

_FIELD_NAMES = {F_NONE: "frame", F_PRICE: "price", F_SIZE: "size", F_LEVEL: "book level"}


# ---- the default decoder ----------------------------------------------------------------------------

_default_factory = None
cdef dict _shared = {}          # factory -> {tick size key -> decoder}


def set_default_decoder(factory):
    """Make ``factory`` the frame decoder used where none is named.

    That is ``OrderBook(symbol, tick_size)`` without ``decoder=``, ``ofi.data.tape.frames_to_tape``,
    ``ofi.frames.decode_frame`` and ``Trade.from_frame``. ``import ofi`` registers Bybit's V5 decoder.

    Parameters
    ----------
    factory : callable
        Called with a tick size, returns a :class:`FrameDecoder` (a FrameDecoder subclass is one).

    Returns
    -------
    The factory registered before (None if none was).

    Raises
    ------
    InvalidInputError
        ``factory`` is not callable.
    """
    global _default_factory
    if not callable(factory):
        raise InvalidInputError(f"factory must be callable (e.g. a FrameDecoder subclass), got {factory!r}")
    previous = _default_factory
    _default_factory = factory
    return previous


def default_decoder(tick_size, *, bint shared=False):
    """A decoder from the registered default factory for ``tick_size``.

    A new one, or with ``shared=True`` the one shared per tick size (see :func:`shared_decoder`).

    Raises
    ------
    InvalidInputError
        No default decoder is registered, or the tick size is invalid.
    """
    if shared:
        return _shared_default_decoder(tick_size)
    return new_decoder(_registered_factory(), tick_size)


cpdef FrameDecoder shared_decoder(object factory, object tick_size):
    """One decoder per factory and tick size, shared by its callers (decoders hold only scratch
    space, filled and read within one call; do not share one between threads)."""
    cdef dict per_tick = _shared.get(factory)
    if per_tick is None:
        per_tick = _shared[factory] = {}
    key = tick_size if type(tick_size) is str else (repr(tick_size) if isinstance(tick_size, float)
                                                    else str(tick_size))
    dec = per_tick.get(key)
    if dec is None:
        if len(per_tick) > 256:
            per_tick.clear()
        dec = per_tick[key] = new_decoder(factory, tick_size)
    return dec


cpdef FrameDecoder new_decoder(object factory, object tick_size):
    """``factory(tick_size)``, checked to be a FrameDecoder."""
    dec = factory(tick_size)
    if not isinstance(dec, FrameDecoder):
        raise InvalidInputError(f"decoder factory {factory!r} returned {type(dec).__name__}, not a FrameDecoder")
    return dec


cdef object _registered_factory():
    if _default_factory is None:
        raise InvalidInputError("no default frame decoder is registered: `import ofi` registers Bybit's, or "
                                "call ofi._core.decoder.set_default_decoder(factory)")
    return _default_factory


cdef object _shared_default_decoder(object tick_size):
    return shared_decoder(_registered_factory(), tick_size)


def frame_symbol_rule():
    """The default decoder's rule for which symbol a raw frame belongs to (``FrameDecoder.frame_symbol``).

    A recording files each frame under ``rule(text)`` (``ofi.data.recording.RecordingWriter`` looks the
    rule up once); it is None for a frame of no symbol (a control reply). A registered factory without
    such a rule gets the base class's, which says None for every frame.
    """
    return getattr(_registered_factory(), "frame_symbol", FrameDecoder.frame_symbol)


bind_trade_decoder(_shared_default_decoder)


# ---- the decoder ------------------------------------------------------------------------------------

cdef class FrameDecoder:
    """Decodes raw frames of one instrument into scratch arrays: the base of a venue's decoder.

    Parameters
    ----------
    tick_size : str, float or Decimal
        The instrument's tick size; prices are converted to integer ticks of it.

    Notes
    -----
    The base class decodes no frame (a venue's subclass does, e.g. Bybit's
    ``ofi.venues.bybit._decode.BybitDecoder``); ``parse_level`` and the scratch arrays work on it.
    """

    def __cinit__(self, *args, **kwargs):
        self.levels_cap = 64
        self.levels = <Level*>malloc(self.levels_cap * sizeof(Level))
        self.trades_cap = 16
        self.trades = <TradeRec*>malloc(self.trades_cap * sizeof(TradeRec))
        if self.levels == NULL or self.trades == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.levels)
        free(self.trades)

    def __init__(self, tick_size):
        d = parse_step(tick_size, "tick_size")
        sign, digits, exponent = d.as_tuple()
        mant = int("".join(map(str, digits)))
        if exponent >= 0:
            mant *= 10 ** exponent
            scale = 0
        else:
            scale = -exponent
        if mant >= 10 ** 18:
            raise InvalidInputError(f"tick_size={tick_size!r} is too large")
        if scale > 22:
            raise InvalidInputError(f"tick_size={tick_size!r} has more than 22 decimals")
        self.grid.mant = mant
        self.grid.scale = scale
        self.grid.div = POW10D[scale]
        self.grid.limit = (2 ** 53) // mant
        self.tick_size = d

    @property
    def tick_float(self):
        return float(self.tick_size)

    @staticmethod
    def frame_symbol(text):
        """The symbol a raw frame (str) belongs to, or None for a control frame. The base knows no frame
        layout and says None; a venue's decoder overrides it."""
        return None

    # ---- what a venue decoder overrides ----------------------------------------------------------

    cdef int scan_frame(self, Scanner* s) noexcept nogil:
        return fail(s, ERR_NO_GRAMMAR, F_NONE)

    cdef int check_book_channel(self, str symbol) except -1:
        return 0

    cdef str kind_message(self, int wanted):
        channel = self.span_str(self.msg.channel)
        if self.msg.kind == FRAME_CONTROL:
            got = "a control reply"
        elif self.msg.kind == FRAME_OTHER:
            return f"unsupported channel {channel!r}"
        else:
            got = f"{'a book' if self.msg.kind == FRAME_BOOK else 'a trade'} frame on {channel!r}"
        return f"expected {'a book' if wanted == FRAME_BOOK else 'a trade'} frame, got {got}"

    cdef str field_name(self, int field):
        return _FIELD_NAMES.get(field, "frame")

    cdef str error_message(self, int code, str field, str where):
        if code == ERR_EXPECT:
            return f"malformed frame: expected {chr(self.failed.expect)!r}{where}"
        if code == ERR_EOF:
            return f"malformed frame: frame ends early (truncated?) after {self.buflen} bytes"
        if code == ERR_VALUE:
            return f"malformed frame: not a JSON value{where}"
        if code == ERR_STRING:
            return f"malformed frame: bad string (control character or escape){where}"
        if code == ERR_NUMBER:
            return f"malformed frame: bad JSON number in {field}{where}"
        if code == ERR_DEPTH:
            return f"malformed frame: nesting deeper than {MAX_DEPTH}{where}"
        if code == ERR_TRAILING:
            return f"malformed frame: unexpected bytes after the end of the JSON object{where}"
        if code == ERR_DECIMAL:
            return (f"malformed frame: {field} {self.span_str(self.failed.span)!r} is not a plain decimal "
                    f"string (digits with an optional '.', no sign or exponent for sizes){where}")
        if code == ERR_OFF_GRID:
            return (f"price {self.span_str(self.failed.span)!r} is not a multiple of tick_size "
                    f"{self.tick_size} (never rounded){where}")
        if code == ERR_RANGE:
            if self.failed.span.len:
                return f"{field} {self.span_str(self.failed.span)!r} is out of the supported range{where}"
            return (f"malformed frame: {field} is out of range (integers must fit int64, update ids and "
                    f"times must be >= 0, times in ms below {MAX_MS} so that their value in ns fits "
                    f"int64){where}")
        if code == ERR_NOT_INT:
            return f"malformed frame: {field} must be a JSON integer{where}"
        if code == ERR_NOT_STRING:
            return f"malformed frame: {field} must be a JSON string{where}"
        if code == ERR_NOT_BOOL:
            return f"malformed frame: {field} must be true or false{where}"
        if code == ERR_MISSING:
            return f"malformed frame: required field {field} is missing"
        if code == ERR_SHAPE:
            return f"malformed frame: {field} has the wrong JSON type for this channel{where}"
        if code == ERR_DUPKEY:
            return f"malformed frame: field {field} appears twice{where}"
        if code == ERR_NOMEM:
            return "out of memory while decoding a frame"
        if code == ERR_NO_GRAMMAR:
            return f"{type(self).__name__} decodes no frames: use a venue's decoder (a FrameDecoder subclass)"
        return f"malformed frame (error {code}){where}"

    # ---- shared machinery ------------------------------------------------------------------------

    cdef double price_of(self, int64_t ticks) noexcept nogil:
        return ticks_to_float(ticks, &self.grid)

    cdef str span_str(self, Span sp):
        return (<const char*>self.buf)[sp.off:sp.off + sp.len].decode("utf-8", "replace")

    cdef int parse(self, object raw) except -1:
        """Decode one frame; on success ``self.msg``, ``self.levels`` and ``self.trades`` hold it."""
        cdef Py_ssize_t n
        cdef const unsigned char* p
        cdef const unsigned char[::1] view
        cdef Scanner s
        if PyBytes_Check(raw):
            p = <const unsigned char*>PyBytes_AS_STRING(raw)
            n = PyBytes_GET_SIZE(raw)
        elif PyUnicode_Check(raw):
            try:
                p = <const unsigned char*>PyUnicode_AsUTF8AndSize(raw, &n)
            except UnicodeError:
                raise InvalidInputError("frame is a str that cannot be encoded as UTF-8") from None
        elif PyByteArray_Check(raw):
            p = <const unsigned char*>PyByteArray_AS_STRING(raw)
            n = PyByteArray_GET_SIZE(raw)
        elif raw is None:
            raise InvalidInputError("frame must be str or bytes, got None")
        else:
            try:
                view = raw
            except (TypeError, ValueError, BufferError):
                raise InvalidInputError(
                    f"frame must be str, bytes, bytearray or a contiguous byte buffer, got {type(raw).__name__}"
                ) from None
            n = view.shape[0]
            p = &view[0] if n > 0 else <const unsigned char*>b""
        self.owner = raw
        self.buf = p
        self.buflen = n
        self.msg.kind = 0
        self.msg.channel.off = 0
        self.msg.channel.len = 0
        self.msg.symbol.off = 0
        self.msg.symbol.len = 0
        self.msg.snapshot = False
        self.msg.has_update_id = False
        self.msg.update_id = 0
        self.msg.seq = -1
        self.msg.ts_exch = 0
        self.msg.ts_engine = -1
        self.msg.n_levels = 0
        self.msg.n_trades = 0
        scanner_init(&s, p, n)
        # The scan keeps the GIL: a frame takes about a microsecond, and shared decoders
        # (shared_decoder) must not be re-entered by another thread mid-frame. The one virtual
        # call per frame: the venue's grammar.
        if self.scan_frame(&s) < 0:
            self.raise_scan_error(&s)
        return 0

    cdef int raise_scan_error(self, Scanner* s) except -1:
        """Keep the scanner's error state (for the message) and raise InvalidInputError."""
        self.buf = s.p
        self.buflen = s.n
        self.failed = s[0]
        raise InvalidInputError(self.message())

    cdef str message(self):
        pos = self.failed.err_pos
        lo = max(0, pos - 24)
        ctx = (<const char*>self.buf)[lo:min(self.buflen, pos + 24)].decode("utf-8", "replace")
        return self.error_message(self.failed.err, self.field_name(self.failed.field),
                                  f" at byte {pos} (near {ctx!r})")

    cdef int reserve_levels(self, Py_ssize_t need) noexcept nogil:
        """Room for ``need`` levels in the scratch array; -1 if memory runs out."""
        cdef Py_ssize_t cap = self.levels_cap
        cdef Level* grown
        if need <= cap:
            return 0
        while cap < need:
            cap *= 2
        grown = <Level*>realloc(self.levels, cap * sizeof(Level))
        if grown == NULL:
            return -1
        self.levels = grown
        self.levels_cap = cap
        return 0

    cdef int reserve_trades(self, Py_ssize_t need) noexcept nogil:
        """Room for ``need`` trades in the scratch array; -1 if memory runs out."""
        cdef Py_ssize_t cap = self.trades_cap
        cdef TradeRec* grown
        if need <= cap:
            return 0
        while cap < need:
            cap *= 2
        grown = <TradeRec*>realloc(self.trades, cap * sizeof(TradeRec))
        if grown == NULL:
            return -1
        self.trades = grown
        self.trades_cap = cap
        return 0

    cdef list make_trades(self, int64_t ts_local):
        cdef Py_ssize_t i
        cdef TradeRec* t
        cdef Trade tr
        cdef const char* buf = <const char*>self.buf
        out = []
        for i in range(self.msg.n_trades):
            t = &self.trades[i]
            tr = Trade.__new__(Trade)
            try:
                tr.symbol = buf[t.symbol.off:t.symbol.off + t.symbol.len].decode("utf-8")
                tr.trade_id = buf[t.trade_id.off:t.trade_id.off + t.trade_id.len].decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInputError("malformed frame: trade symbol or id is not valid UTF-8") from None
            tr.price = self.price_of(t.price_ticks)
            tr.size = t.size
            tr.side = t.side
            tr.ts_exch = t.ts_exch
            tr.price_ticks = t.price_ticks
            tr.seq = t.seq
            tr.block_trade = t.block
            tr.rpi = t.rpi
            tr.ts_local = ts_local
            out.append(tr)
        return out

    # ---- Python-level access (tests, ofi.frames) -------------------------------------------------

    def decode(self, raw, int64_t ts_local=0):
        """Decode one frame.

        Returns
        -------
        tuple
            ``("book", channel, symbol, snapshot, update_id, seq, ts_exch, ts_engine, bid_ticks,
            bid_sizes, ask_ticks, ask_sizes)``, ``("trade", channel, ts_exch, list[Trade])`` or
            ``("control", obj)`` (the frame's JSON). Times in ns; ``seq`` and ``ts_engine`` are -1
            when the frame has none.

        Raises
        ------
        InvalidInputError
            Malformed frame, price off the tick grid, or a channel the decoder does not support.
        """
        cdef Py_ssize_t i, nb = 0, na = 0
        cdef Level* lv
        self.parse(raw)
        kind = self.msg.kind
        if kind == FRAME_CONTROL:
            try:
                obj = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:  # pragma: no cover - the scanner is stricter
                raise InvalidInputError(f"malformed control frame: {exc}") from None
            return ("control", obj)
        if kind == FRAME_OTHER:
            raise InvalidInputError(self.kind_message(0))
        channel = self.span_str(self.msg.channel)
        if kind == FRAME_BOOK:
            for i in range(self.msg.n_levels):
                if self.levels[i].side > 0:
                    nb += 1
                else:
                    na += 1
            bt = np.empty(nb, dtype=np.int64)
            bs = np.empty(nb, dtype=np.float64)
            at = np.empty(na, dtype=np.int64)
            as_ = np.empty(na, dtype=np.float64)
            nb = 0
            na = 0
            for i in range(self.msg.n_levels):
                lv = &self.levels[i]
                if lv.side > 0:
                    bt[nb] = lv.price_ticks
                    bs[nb] = lv.size
                    nb += 1
                else:
                    at[na] = lv.price_ticks
                    as_[na] = lv.size
                    na += 1
            return ("book", channel, self.span_str(self.msg.symbol), self.msg.snapshot, self.msg.update_id,
                    self.msg.seq, self.msg.ts_exch, self.msg.ts_engine, bt, bs, at, as_)
        return ("trade", channel, self.msg.ts_exch, self.make_trades(ts_local))

    def decode_trades(self, raw, int64_t ts_local=0):
        """The trades of one trade frame (the fast path behind ``Trade.from_frame``)."""
        self.parse(raw)
        if self.msg.kind != FRAME_TRADE:
            raise InvalidInputError(self.kind_message(FRAME_TRADE))
        return self.make_trades(ts_local)

    def parse_level(self, price, size):
        """``(price_ticks, size)`` of one ``[price, size]`` pair of decimal strings (REST books)."""
        cdef Scanner s
        cdef Span sp
        cdef int64_t ticks
        cdef double q
        if not isinstance(price, str) or not isinstance(size, str):
            raise InvalidInputError(f"a level must be a pair of decimal strings, got "
                                    f"[{reprlib.repr(price)}, {reprlib.repr(size)}]")  # bounded: any depth
        pb = price.encode()
        qb = size.encode()
        self.owner = (pb, qb)   # an error keeps buf pointing into these bytes
        scanner_init(&s, <const unsigned char*>PyBytes_AS_STRING(pb), PyBytes_GET_SIZE(pb))
        sp.off = 0
        sp.len = s.n
        if decimal_price(&s, sp, &self.grid, &ticks) < 0:
            self.raise_scan_error(&s)
        scanner_init(&s, <const unsigned char*>PyBytes_AS_STRING(qb), PyBytes_GET_SIZE(qb))
        sp.len = s.n
        if decimal_size(&s, sp, &q) < 0:
            self.raise_scan_error(&s)
        return ticks, q

    def to_tape(self, frames, *, symbol=None):
        """Convert raw frames to a tape (see ``ofi.data.tape.frames_to_tape``)."""
        cdef Py_ssize_t n = 0, cap = 4096, i, need
        cdef cnp.ndarray out = np.empty(cap, dtype=TAPE_DTYPE)
        cdef TapeRow* rows
        cdef TapeRow* r
        cdef TradeRec* t
        cdef int64_t ts_local
        cdef int flags0
        cdef Py_ssize_t count = 0
        for item in frames:
            if isinstance(item, tuple):
                ts_local = item[0]
                raw = item[1]
            else:
                raw = getattr(item, "raw", item)
                ts_local = getattr(item, "ts_local", 0)
            try:
                self.parse(raw)
            except InvalidInputError as exc:
                raise InvalidInputError(f"frame {count}: {exc}") from None
            count += 1
            kind = self.msg.kind
            if kind == FRAME_CONTROL:
                continue
            if kind == FRAME_OTHER:
                raise InvalidInputError(f"frame {count - 1}: " + self.kind_message(0))
            if symbol is not None and kind == FRAME_BOOK and self.span_str(self.msg.symbol) != symbol:
                raise InvalidInputError(
                    f"frame {count - 1}: symbol {self.span_str(self.msg.symbol)!r} is not {symbol!r}")
            need = self.msg.n_levels if kind == FRAME_BOOK else self.msg.n_trades
            if kind == FRAME_BOOK and need == 0:
                need = 1
            if n + need > cap:
                while n + need > cap:
                    cap *= 2
                out = np.resize(out, cap)
            rows = <TapeRow*>cnp.PyArray_DATA(out)
            if kind == FRAME_BOOK:
                # A message without levels still gets one row (side 0) so that replay sees it.
                flags0 = FLAG_SNAPSHOT if self.msg.snapshot else 0
                for i in range(need):
                    r = &rows[n + i]
                    r.ts_exch = self.msg.ts_exch
                    r.ts_local = ts_local
                    r.update_id = self.msg.update_id if self.msg.has_update_id else -1
                    r.seq = self.msg.seq
                    r.kind = KIND_BOOK
                    r.flags = flags0
                    r._pad = 0
                    if self.msg.n_levels:
                        r.price_ticks = self.levels[i].price_ticks
                        r.size = self.levels[i].size
                        r.side = self.levels[i].side
                    else:
                        r.price_ticks = 0
                        r.size = 0.0
                        r.side = 0
                rows[n].flags |= FLAG_BEGIN
                rows[n + need - 1].flags |= FLAG_END
                n += need
            else:
                for i in range(self.msg.n_trades):
                    t = &self.trades[i]
                    r = &rows[n + i]
                    r.ts_exch = t.ts_exch
                    r.ts_local = ts_local
                    r.price_ticks = t.price_ticks
                    r.size = t.size
                    r.update_id = -1
                    r.seq = t.seq
                    r.kind = KIND_TRADE
                    r.side = t.side
                    r.flags = FLAG_BEGIN | FLAG_END | (FLAG_BLOCK if t.block else 0) | (FLAG_RPI if t.rpi else 0)
                    r._pad = 0
                n += self.msg.n_trades
        return out[:n].copy()

