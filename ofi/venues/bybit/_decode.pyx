"""Bybit V5 public websocket frames -> the core's neutral events (compiled).

The V5 grammar: a frame is ``{"topic", "type", "ts", "cts", "data", ...}`` in any key order, or a
control reply (``op``/``success``). ``orderbook.*`` data is ``{"s", "b", "a", "u", "seq"}`` with
levels as ``["price", "size"]`` decimal strings; ``publicTrade.*`` data is a list of
``{"T", "s", "S", "v", "p", "i", "seq", "BT", "RPI"}``. Everything else a decoder needs (the JSON
scanner, decimal conversion, scratch arrays, frames -> tape) is the core's (``ofi._core.decoder``).
"""
cimport cython
from libc.stdint cimport int64_t

from ofi._core.decimal cimport decimal_price, decimal_size
from ofi._core.decoder cimport (FrameDecoder, TradeRec, push_level, next_trade, FRAME_BOOK, FRAME_TRADE, FRAME_CONTROL,
                               FRAME_OTHER)
from ofi._core.jsonscan cimport (
    Scanner, Span, fail, skip_ws, expect, span_is, span_starts, scan_string, scan_int, scan_ms, scan_bool,
    skip_value, open_object, open_array, members_first, members_next, elements_first, elements_next,
    ERR_DECIMAL, ERR_DUPKEY, ERR_MISSING, ERR_RANGE, ERR_TRAILING, ERR_VENUE, F_NONE, F_PRICE, F_SIZE, F_LEVEL,
    F_VENUE,
)

from ofi._core.decoder import shared_decoder
from ofi.errors import InvalidInputError
from ofi.venues.bybit import topics
from ofi.venues.bybit.topics import book_topic_symbol, unsupported_topic_message

__all__ = ["BybitDecoder", "decoder_for", "unsupported_topic_message"]

# Bybit's own errors.
cdef enum:
    ERR_TYPE = ERR_VENUE        # "type" is not snapshot/delta
    ERR_SIDE = ERR_VENUE + 1    # trade side not Buy/Sell
    ERR_NOTOPIC = ERR_VENUE + 2 # neither topic nor op

# Bybit's fields, for messages.
cdef enum:
    F_U = F_VENUE
    F_SEQ = F_VENUE + 1
    F_TS = F_VENUE + 2
    F_CTS = F_VENUE + 3
    F_TYPE = F_VENUE + 4
    F_DATA = F_VENUE + 5
    F_TOPIC = F_VENUE + 6
    F_T = F_VENUE + 7
    F_S = F_VENUE + 8
    F_SIDE = F_VENUE + 9
    F_ID = F_VENUE + 10
    F_BT = F_VENUE + 11

_FIELD_NAMES = {
    F_U: "data.u", F_SEQ: "seq", F_TS: "ts", F_CTS: "cts", F_TYPE: "type", F_DATA: "data", F_TOPIC: "topic",
    F_T: "trade T", F_S: "symbol s", F_SIDE: "trade side S", F_ID: "trade id i", F_BT: "BT/RPI flag",
}

# The frame's "type".
cdef enum:
    TYPE_NONE = 0
    TYPE_SNAPSHOT = 1
    TYPE_DELTA = 2
    TYPE_OTHER = 3

# The topic prefixes as C strings for the scanner, from topics.py where they are spelled.
cdef bytes _BOOK_PREFIX = topics.BOOK_PREFIX.encode()
cdef bytes _TRADE_PREFIX = topics.TRADE_PREFIX.encode()
cdef const char* BOOK_PFX = _BOOK_PREFIX
cdef const char* TRADE_PFX = _TRADE_PREFIX
cdef Py_ssize_t BOOK_PFX_LEN = len(_BOOK_PREFIX)
cdef Py_ssize_t TRADE_PFX_LEN = len(_TRADE_PREFIX)

cdef int64_t NS_PER_MS = 1000000


def decoder_for(tick_size):
    """The BybitDecoder shared per tick size (``ofi._core.decoder.shared_decoder``)."""
    return shared_decoder(BybitDecoder, tick_size)


@cython.final
cdef class BybitDecoder(FrameDecoder):
    """Decodes Bybit V5 public websocket frames of one instrument: ``orderbook.<depth>.<symbol>``,
    ``publicTrade.<symbol>`` and control replies (subscribe, pong).

    Parameters
    ----------
    tick_size : str, float or Decimal
        The instrument's tick size; prices are converted to integer ticks of it.
    """
    @staticmethod
    def frame_symbol(text):
        """The symbol at the end of a frame's topic (``orderbook.50.BTCUSDT`` -> ``BTCUSDT``), or None."""
        return topics.frame_symbol(text)

    # What the frame has shown so far (checked once it is read whole).
    cdef int type_code
    cdef bint has_u
    cdef bint has_ts
    cdef bint has_data

    cdef int scan_frame(self, Scanner* s) noexcept nogil:
        cdef Span key, sp
        cdef Span data
        cdef int rc
        cdef bint control = False
        cdef bint has_topic = False
        cdef Py_ssize_t data_end = 0
        cdef Py_ssize_t n_saved
        cdef int64_t ms
        cdef const unsigned char* p = s.p
        self.type_code = TYPE_NONE
        self.has_u = False
        self.has_ts = False
        self.has_data = False
        data.off = -1
        data.len = 0
        if expect(s, 123) < 0:
            return -1
        rc = members_first(s, &key)
        while rc > 0:
            if span_is(p, key, b"topic", 5):
                if has_topic:
                    return fail(s, ERR_DUPKEY, F_TOPIC)
                if scan_string(s, &self.msg.channel, F_TOPIC) < 0:
                    return -1
                has_topic = True
                if self.msg.channel.len == 0:
                    return fail(s, ERR_NOTOPIC, F_TOPIC)
                self.msg.kind = self._classify()
            elif span_is(p, key, b"type", 4):
                if scan_string(s, &sp, F_TYPE) < 0:
                    return -1
                if span_is(p, sp, b"snapshot", 8):
                    self.type_code = TYPE_SNAPSHOT
                elif span_is(p, sp, b"delta", 5):
                    self.type_code = TYPE_DELTA
                else:
                    self.type_code = TYPE_OTHER
            elif span_is(p, key, b"ts", 2):
                if scan_ms(s, &ms, F_TS) < 0:
                    return -1
                self.msg.ts_exch = ms * NS_PER_MS
                self.has_ts = True
            elif span_is(p, key, b"cts", 3):
                if scan_ms(s, &ms, F_CTS) < 0:
                    return -1
                self.msg.ts_engine = ms * NS_PER_MS
            elif span_is(p, key, b"data", 4):
                if self.has_data:
                    return fail(s, ERR_DUPKEY, F_DATA)
                self.has_data = True
                if has_topic:
                    if self._scan_data(s) < 0:
                        return -1
                else:
                    # The topic comes later: remember where the data is and read it then.
                    skip_ws(s)
                    data.off = s.i
                    if skip_value(s, 1) < 0:
                        return -1
                    data_end = s.i
            elif span_is(p, key, b"op", 2):
                if scan_string(s, &sp, F_NONE) < 0:
                    return -1
                control = True
            elif span_is(p, key, b"success", 7):
                control = True
                if skip_value(s, 1) < 0:
                    return -1
            elif skip_value(s, 1) < 0:
                return -1
            rc = members_next(s, &key, F_NONE)
        if rc < 0:
            return -1
        skip_ws(s)
        if s.i != s.n:
            return fail(s, ERR_TRAILING, F_NONE)
        if not has_topic:
            if not control:
                return fail(s, ERR_NOTOPIC, F_NONE)
            self.msg.kind = FRAME_CONTROL
            return 0
        if data.off >= 0 and (self.msg.kind == FRAME_BOOK or self.msg.kind == FRAME_TRADE):
            n_saved = s.n
            s.i = data.off
            s.n = data_end
            if self._scan_data(s) < 0:
                return -1
            s.n = n_saved
        if (self.msg.kind == FRAME_BOOK or self.msg.kind == FRAME_TRADE) and not self.has_ts:
            return fail(s, ERR_MISSING, F_TS)
        if self.msg.kind == FRAME_BOOK:
            if not self.has_data:
                return fail(s, ERR_MISSING, F_DATA)
            if self.type_code == TYPE_NONE:
                return fail(s, ERR_MISSING, F_TYPE)
            if self.type_code == TYPE_OTHER:
                return fail(s, ERR_TYPE, F_TYPE)
            if not self.has_u:
                return fail(s, ERR_MISSING, F_U)
            self.msg.has_update_id = True
            # u == 1: Bybit's book service restarted, the message is a snapshot whatever its type.
            self.msg.snapshot = self.type_code == TYPE_SNAPSHOT or self.msg.update_id == 1
        elif self.msg.kind == FRAME_TRADE:
            if not self.has_data:
                return fail(s, ERR_MISSING, F_DATA)
        return 0

    cdef int _classify(self) noexcept nogil:
        if span_starts(self.buf, self.msg.channel, BOOK_PFX, BOOK_PFX_LEN):
            return FRAME_BOOK
        if span_starts(self.buf, self.msg.channel, TRADE_PFX, TRADE_PFX_LEN):
            return FRAME_TRADE
        return FRAME_OTHER

    cdef int _scan_data(self, Scanner* s) noexcept nogil:
        if self.msg.kind == FRAME_BOOK:
            return self._scan_book_data(s)
        if self.msg.kind == FRAME_TRADE:
            return self._scan_trades(s)
        return skip_value(s, 1)

    cdef int _scan_book_data(self, Scanner* s) noexcept nogil:
        cdef Span key
        cdef int rc
        cdef const unsigned char* p = s.p
        if open_object(s, F_DATA) < 0:
            return -1
        rc = members_first(s, &key)
        while rc > 0:
            if span_is(p, key, b"b", 1):
                if self._scan_levels(s, 1) < 0:
                    return -1
            elif span_is(p, key, b"a", 1):
                if self._scan_levels(s, -1) < 0:
                    return -1
            elif span_is(p, key, b"u", 1):
                if self.has_u:
                    return fail(s, ERR_DUPKEY, F_U)
                if scan_int(s, &self.msg.update_id, F_U) < 0:
                    return -1
                if self.msg.update_id < 0:
                    return fail(s, ERR_RANGE, F_U)
                self.has_u = True
            elif span_is(p, key, b"seq", 3):
                if scan_int(s, &self.msg.seq, F_SEQ) < 0:
                    return -1
            elif span_is(p, key, b"s", 1):
                if scan_string(s, &self.msg.symbol, F_S) < 0:
                    return -1
            elif skip_value(s, 2) < 0:
                return -1
            rc = members_next(s, &key, F_DATA)
        return rc

    cdef int _scan_levels(self, Scanner* s, int side) noexcept nogil:
        """``[["price", "size"], ...]``: each level straight to ticks and a float64 size."""
        cdef Span ps, qs
        cdef int64_t ticks
        cdef double size
        cdef int rc
        if expect(s, 91) < 0:
            s.field = F_LEVEL
            return -1
        rc = elements_first(s)
        while rc > 0:
            if expect(s, 91) < 0:
                s.field = F_LEVEL
                return -1
            if scan_string(s, &ps, F_PRICE) != 0:
                return fail(s, ERR_DECIMAL, F_PRICE)
            if expect(s, 44) < 0:
                return -1
            if scan_string(s, &qs, F_SIZE) != 0:
                return fail(s, ERR_DECIMAL, F_SIZE)
            if expect(s, 93) < 0:
                s.field = F_LEVEL
                return -1
            if decimal_price(s, ps, &self.grid, &ticks) < 0:
                return -1
            if decimal_size(s, qs, &size) < 0:
                return -1
            if push_level(self, s, ticks, size, side) < 0:
                return -1
            rc = elements_next(s, F_LEVEL)
        return rc

    cdef int _scan_trades(self, Scanner* s) noexcept nogil:
        cdef int rc
        if open_array(s, F_DATA) < 0:
            return -1
        rc = elements_first(s)
        while rc > 0:
            if self._scan_trade(s) < 0:
                return -1
            rc = elements_next(s, F_DATA)
        return rc

    cdef int _scan_trade(self, Scanner* s) noexcept nogil:
        cdef Span key, sp, ps, qs
        cdef int rc
        cdef int have = 0
        cdef int64_t ms
        cdef const unsigned char* p = s.p
        cdef TradeRec* t = next_trade(self, s)
        if t == NULL:
            return -1
        ps.off = 0
        ps.len = 0
        qs.off = 0
        qs.len = 0
        if open_object(s, F_DATA) < 0:
            return -1
        rc = members_first(s, &key)
        while rc > 0:
            if span_is(p, key, b"p", 1):
                if scan_string(s, &ps, F_PRICE) != 0:
                    return fail(s, ERR_DECIMAL, F_PRICE)
                have |= 1
            elif span_is(p, key, b"v", 1):
                if scan_string(s, &qs, F_SIZE) != 0:
                    return fail(s, ERR_DECIMAL, F_SIZE)
                have |= 2
            elif span_is(p, key, b"S", 1):
                if scan_string(s, &sp, F_SIDE) < 0:
                    return -1
                if span_is(p, sp, b"Buy", 3):
                    t.side = 1
                elif span_is(p, sp, b"Sell", 4):
                    t.side = -1
                else:
                    return fail(s, ERR_SIDE, F_SIDE)
                have |= 4
            elif span_is(p, key, b"T", 1):
                if scan_ms(s, &ms, F_T) < 0:
                    return -1
                t.ts_exch = ms * NS_PER_MS
                have |= 8
            elif span_is(p, key, b"i", 1):
                if scan_string(s, &t.trade_id, F_ID) < 0:
                    return -1
                have |= 16
            elif span_is(p, key, b"s", 1):
                if scan_string(s, &t.symbol, F_S) < 0:
                    return -1
            elif span_is(p, key, b"seq", 3):
                if scan_int(s, &t.seq, F_SEQ) < 0:
                    return -1
            elif span_is(p, key, b"BT", 2):
                if scan_bool(s, &t.block, F_BT) < 0:
                    return -1
            elif span_is(p, key, b"RPI", 3):
                if scan_bool(s, &t.rpi, F_BT) < 0:
                    return -1
            elif skip_value(s, 3) < 0:
                return -1
            rc = members_next(s, &key, F_DATA)
        if rc < 0:
            return -1
        if have != 31:
            if not (have & 1):
                return fail(s, ERR_MISSING, F_PRICE)
            if not (have & 2):
                return fail(s, ERR_MISSING, F_SIZE)
            if not (have & 4):
                return fail(s, ERR_MISSING, F_SIDE)
            if not (have & 8):
                return fail(s, ERR_MISSING, F_T)
            return fail(s, ERR_MISSING, F_ID)
        if decimal_price(s, ps, &self.grid, &t.price_ticks) < 0:
            return -1
        if decimal_size(s, qs, &t.size) < 0:
            return -1
        self.msg.n_trades += 1
        return 0

    # ---- Bybit's rules and messages ----------------------------------------------------------

    cdef int check_book_channel(self, str symbol) except -1:
        """A book binds to ``orderbook.<depth>.<its symbol>``."""
        topic = self.span_str(self.msg.channel)
        if book_topic_symbol(topic) != symbol:
            raise InvalidInputError(
                f"frame topic {topic!r} is not {topics.BOOK_PREFIX}<depth>.{symbol} for this book (symbol {symbol!r})")
        return 0

    cdef str kind_message(self, int wanted):
        topic = self.span_str(self.msg.channel)
        if wanted == FRAME_BOOK:
            if self.msg.kind == FRAME_TRADE:
                return f"apply_frame takes orderbook frames; got {topic!r} (decode trades with Trade.from_frame)"
            if self.msg.kind == FRAME_CONTROL:
                return "apply_frame takes orderbook frames; got a control reply (subscribe/pong)"
        elif wanted == FRAME_TRADE:
            if self.msg.kind == FRAME_CONTROL:
                return "expected a publicTrade frame, got a control reply"
            return f"expected a publicTrade frame, got topic {topic!r}"
        return unsupported_topic_message(topic)

    cdef str field_name(self, int field):
        name = _FIELD_NAMES.get(field)
        return name if name is not None else FrameDecoder.field_name(self, field)

    cdef str error_message(self, int code, str field, str where):
        if code == ERR_TYPE:
            return f"malformed frame: orderbook 'type' must be \"snapshot\" or \"delta\"{where}"
        if code == ERR_SIDE:
            return f"malformed frame: trade side S must be \"Buy\" or \"Sell\"{where}"
        if code == ERR_NOTOPIC:
            return "malformed frame: a V5 frame needs a 'topic' (data) or an 'op'/'success' (control reply)"
        return FrameDecoder.error_message(self, code, field, where)
