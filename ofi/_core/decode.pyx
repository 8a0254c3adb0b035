"""Bybit V5 websocket frame decoder.

A strict, allocation-free JSON scanner specialised for V5 public frames. It reads the raw
frame (str or bytes) once, in any key order, and writes book levels (price in integer ticks,
size as float64) and trades into scratch arrays owned by the decoder. Nothing is applied
anywhere here: the book (``book.pyx``) and the tape builder consume the scratch arrays, so a
malformed frame is rejected whole before any state changes.

Decimal strings go straight to integers: a price ``"75848.74"`` becomes 7584874 ticks of 0.01,
exactly; a price that is not a whole number of ticks is an error, never rounded. Sizes become
the same float64 that ``float(str)`` gives (one correctly rounded division).
"""
cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_Check
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE, PyByteArray_Check
from cpython.unicode cimport PyUnicode_Check
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcmp, memcpy
from libc.stdint cimport int64_t, uint64_t, INT64_MAX
from libc.math cimport INFINITY

import json

import numpy as np
cimport numpy as cnp

from ofi.errors import InvalidInputError
from ofi.spec import parse_step

cnp.import_array()

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object, Py_ssize_t*) except NULL
    double PyOS_string_to_double(const char*, char**, object) except? -1.0

# Error codes of the scanner; messages are built in Python from the code, position and field.
cdef enum:
    ERR_OK = 0
    ERR_EXPECT = 1          # expected a given character
    ERR_EOF = 2             # frame ends early
    ERR_VALUE = 3           # not a JSON value
    ERR_STRING = 4          # bad string (control character, bad escape)
    ERR_NUMBER = 5          # bad JSON number
    ERR_DEPTH = 6           # nesting too deep
    ERR_TRAILING = 7        # bytes after the closing brace
    ERR_DECIMAL = 8         # price/size string is not a plain decimal
    ERR_OFF_GRID = 9        # price not a multiple of the tick size
    ERR_RANGE = 10          # number out of int64 range
    ERR_NOT_INT = 11        # expected an integer
    ERR_NOT_STRING = 12     # expected a string
    ERR_MISSING = 13        # required field absent
    ERR_TYPE = 14           # "type" is not snapshot/delta
    ERR_SIDE = 15           # trade side not Buy/Sell
    ERR_NOMEM = 16
    ERR_SHAPE = 17          # data has the wrong JSON type
    ERR_NOTOPIC = 18        # neither topic nor op
    ERR_NOT_BOOL = 19
    ERR_DUPKEY = 20         # a key we read appears twice

# Field names for messages.
cdef enum:
    F_NONE = 0
    F_PRICE = 1
    F_SIZE = 2
    F_U = 3
    F_SEQ = 4
    F_TS = 5
    F_CTS = 6
    F_TYPE = 7
    F_DATA = 8
    F_TOPIC = 9
    F_T = 10
    F_S = 11
    F_SIDE = 12
    F_ID = 13
    F_LEVEL = 14
    F_BT = 15

_FIELD_NAMES = {
    F_NONE: "frame", F_PRICE: "price", F_SIZE: "size", F_U: "data.u", F_SEQ: "seq", F_TS: "ts",
    F_CTS: "cts", F_TYPE: "type", F_DATA: "data", F_TOPIC: "topic", F_T: "trade T",
    F_S: "symbol s", F_SIDE: "trade side S", F_ID: "trade id i", F_LEVEL: "book level", F_BT: "BT/RPI flag",
}

cdef enum:
    MAX_DEPTH = 32

cdef int64_t MAX_MS = 9223372036854  # INT64_MAX // 1_000_000: the largest ms time with an int64 ns value

cdef double[23] POW10D
cdef int64_t[19] POW10I
cdef int _k
POW10D[0] = 1.0
POW10I[0] = 1
for _k in range(1, 23):
    POW10D[_k] = POW10D[_k - 1] * 10.0
for _k in range(1, 19):
    POW10I[_k] = POW10I[_k - 1] * 10


cdef inline int fail(Scanner* s, int code, int field) noexcept nogil:
    if s.err == ERR_OK:
        s.err = code
        s.err_pos = s.i
        s.field = field
    return -1


cdef inline void skip_ws(Scanner* s) noexcept nogil:
    cdef unsigned char c
    while s.i < s.n:
        c = s.p[s.i]
        if c == 32 or c == 10 or c == 13 or c == 9:
            s.i += 1
        else:
            return


cdef inline int peek(Scanner* s) noexcept nogil:
    """Next non-blank byte, or -1 at the end."""
    skip_ws(s)
    if s.i < s.n:
        return s.p[s.i]
    return -1


cdef inline int expect(Scanner* s, unsigned char c) noexcept nogil:
    skip_ws(s)
    if s.i < s.n and s.p[s.i] == c:
        s.i += 1
        return 0
    s.expect = c
    if s.i >= s.n:
        return fail(s, ERR_EOF, F_NONE)
    return fail(s, ERR_EXPECT, F_NONE)


cdef inline int is_hex(unsigned char c) noexcept nogil:
    return (48 <= c <= 57) or (65 <= c <= 70) or (97 <= c <= 102)


cdef int scan_string(Scanner* s, Span* out, int field) noexcept nogil:
    """Scan a JSON string at the cursor; ``out`` gets the raw contents. Returns 1 if it holds escapes."""
    cdef Py_ssize_t i
    cdef unsigned char c
    cdef int escaped = 0
    skip_ws(s)
    if s.i >= s.n:
        return fail(s, ERR_EOF, field)
    if s.p[s.i] != 34:
        return fail(s, ERR_NOT_STRING, field)
    i = s.i + 1
    while True:
        if i >= s.n:
            s.i = i
            return fail(s, ERR_EOF, field)
        c = s.p[i]
        if c == 34:
            break
        if c == 92:
            escaped = 1
            if i + 1 >= s.n:
                s.i = i
                return fail(s, ERR_EOF, field)
            c = s.p[i + 1]
            if c == 117:  # \uXXXX
                if i + 5 >= s.n:
                    s.i = i
                    return fail(s, ERR_EOF, field)
                if not (is_hex(s.p[i + 2]) and is_hex(s.p[i + 3]) and is_hex(s.p[i + 4]) and is_hex(s.p[i + 5])):
                    s.i = i
                    return fail(s, ERR_STRING, field)
                i += 6
                continue
            if c == 34 or c == 92 or c == 47 or c == 98 or c == 102 or c == 110 or c == 114 or c == 116:
                i += 2
                continue
            s.i = i
            return fail(s, ERR_STRING, field)
        if c < 32:
            s.i = i
            return fail(s, ERR_STRING, field)
        i += 1
    out.off = s.i + 1
    out.len = i - s.i - 1
    s.i = i + 1
    return escaped


cdef int scan_number(Scanner* s) noexcept nogil:
    """Validate a JSON number at the cursor (RFC 8259 grammar) and move past it."""
    cdef Py_ssize_t i = s.i
    cdef Py_ssize_t start
    if i < s.n and s.p[i] == 45:
        i += 1
    if i >= s.n:
        s.i = i
        return fail(s, ERR_EOF, F_NONE)
    if s.p[i] == 48:
        i += 1
    elif 49 <= s.p[i] <= 57:
        while i < s.n and 48 <= s.p[i] <= 57:
            i += 1
    else:
        s.i = i
        return fail(s, ERR_NUMBER, F_NONE)
    if i < s.n and s.p[i] == 46:
        i += 1
        start = i
        while i < s.n and 48 <= s.p[i] <= 57:
            i += 1
        if i == start:
            s.i = i
            return fail(s, ERR_NUMBER, F_NONE)
    if i < s.n and (s.p[i] == 101 or s.p[i] == 69):
        i += 1
        if i < s.n and (s.p[i] == 43 or s.p[i] == 45):
            i += 1
        start = i
        while i < s.n and 48 <= s.p[i] <= 57:
            i += 1
        if i == start:
            s.i = i
            return fail(s, ERR_NUMBER, F_NONE)
    s.i = i
    return 0


cdef int scan_literal(Scanner* s, const char* lit, Py_ssize_t n) noexcept nogil:
    if s.i + n > s.n:
        return fail(s, ERR_EOF, F_NONE)
    if memcmp(s.p + s.i, lit, n) != 0:
        return fail(s, ERR_VALUE, F_NONE)
    s.i += n
    return 0


cdef int skip_value(Scanner* s, int depth) noexcept nogil:
    """Skip any JSON value, validating it."""
    cdef int c
    cdef Span sp
    if depth > MAX_DEPTH:
        return fail(s, ERR_DEPTH, F_NONE)
    c = peek(s)
    if c == -1:
        return fail(s, ERR_EOF, F_NONE)
    if c == 34:
        return 0 if scan_string(s, &sp, F_NONE) >= 0 else -1
    if c == 123:  # {
        s.i += 1
        if peek(s) == 125:
            s.i += 1
            return 0
        while True:
            if scan_string(s, &sp, F_NONE) < 0:
                return -1
            if expect(s, 58) < 0:
                return -1
            if skip_value(s, depth + 1) < 0:
                return -1
            c = peek(s)
            if c == 44:
                s.i += 1
                continue
            if c == 125:
                s.i += 1
                return 0
            s.expect = 125
            return fail(s, ERR_EOF if c == -1 else ERR_EXPECT, F_NONE)
    if c == 91:  # [
        s.i += 1
        if peek(s) == 93:
            s.i += 1
            return 0
        while True:
            if skip_value(s, depth + 1) < 0:
                return -1
            c = peek(s)
            if c == 44:
                s.i += 1
                continue
            if c == 93:
                s.i += 1
                return 0
            s.expect = 93
            return fail(s, ERR_EOF if c == -1 else ERR_EXPECT, F_NONE)
    if c == 116:
        return scan_literal(s, b"true", 4)
    if c == 102:
        return scan_literal(s, b"false", 5)
    if c == 110:
        return scan_literal(s, b"null", 4)
    if c == 45 or (48 <= c <= 57):
        return scan_number(s)
    return fail(s, ERR_VALUE, F_NONE)


cdef int scan_int(Scanner* s, int64_t* out, int field) noexcept nogil:
    """A JSON integer (no fraction, no exponent) that fits int64."""
    cdef Py_ssize_t i
    cdef int neg = 0
    cdef uint64_t v = 0
    cdef int d
    skip_ws(s)
    i = s.i
    if i < s.n and s.p[i] == 45:
        neg = 1
        i += 1
    if i >= s.n:
        s.i = i
        return fail(s, ERR_EOF, field)
    if not (48 <= s.p[i] <= 57):
        return fail(s, ERR_NOT_INT, field)
    if s.p[i] == 48 and i + 1 < s.n and 48 <= s.p[i + 1] <= 57:
        return fail(s, ERR_NUMBER, field)
    while i < s.n and 48 <= s.p[i] <= 57:
        d = s.p[i] - 48
        if v > (<uint64_t>INT64_MAX - <uint64_t>d) // 10:
            return fail(s, ERR_RANGE, field)
        v = v * 10 + <uint64_t>d
        i += 1
    if i < s.n and (s.p[i] == 46 or s.p[i] == 101 or s.p[i] == 69):
        return fail(s, ERR_NOT_INT, field)
    s.i = i
    out[0] = -<int64_t>v if neg else <int64_t>v
    return 0


cdef int scan_ms(Scanner* s, int64_t* out, int field) noexcept nogil:
    """An integer time in ms whose value in ns (ms * 1e6) fits int64."""
    if scan_int(s, out, field) < 0:
        return -1
    if out[0] > MAX_MS or out[0] < 0:
        return fail(s, ERR_RANGE, field)
    return 0


cdef int scan_bool(Scanner* s, int* out, int field) noexcept nogil:
    cdef int c = peek(s)
    if c == 116:
        out[0] = 1
        return scan_literal(s, b"true", 4)
    if c == 102:
        out[0] = 0
        return scan_literal(s, b"false", 5)
    if c == -1:
        return fail(s, ERR_EOF, field)
    return fail(s, ERR_NOT_BOOL, field)


cdef inline bint span_is(const unsigned char* p, Span sp, const char* lit, Py_ssize_t n) noexcept nogil:
    return sp.len == n and memcmp(p + sp.off, lit, n) == 0


cdef inline bint span_starts(const unsigned char* p, Span sp, const char* lit, Py_ssize_t n) noexcept nogil:
    return sp.len >= n and memcmp(p + sp.off, lit, n) == 0


cdef int decimal_price(Scanner* s, Span sp, int64_t tick_mant, int tick_scale, int64_t* out) noexcept nogil:
    """Exact conversion of a decimal string to integer ticks of ``tick_mant * 10**-tick_scale``."""
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
    if tick_scale >= frac:
        k = tick_scale - frac
        if k > 18 or mant > INT64_MAX // POW10I[k]:
            s.span = sp
            return fail(s, ERR_RANGE, F_PRICE)
        num = mant * POW10I[k]
        den = tick_mant
    else:
        k = frac - tick_scale
        num = mant
        if k > 18 or tick_mant > INT64_MAX // POW10I[k]:
            s.span = sp
            return fail(s, ERR_OFF_GRID, F_PRICE)
        den = tick_mant * POW10I[k]
    if num % den != 0:
        s.span = sp
        return fail(s, ERR_OFF_GRID, F_PRICE)
    out[0] = -(num // den) if neg else num // den
    return 0


cdef int decimal_size(Scanner* s, Span sp, double* out) noexcept nogil:
    """A non-negative decimal string to the float64 ``float(str)`` would give."""
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


cdef class Trade:
    """One public trade (Bybit ``publicTrade``).

    Attributes
    ----------
    symbol : str
    price : float
        Equal to ``float(p)`` of the exchange's decimal string.
    size : float
        Base units (contracts in USD for inverse contracts).
    side : int
        Taker side: +1 buy, -1 sell (Bybit ``S``).
    ts_exch : int
        Match time in ns since the epoch (Bybit ``T`` ms * 1e6).
    trade_id : str
        Bybit ``i`` (UUID on derivatives, numeric string on spot).
    price_ticks : int
        Price in integer ticks of the instrument's tick size.
    seq : int
        Cross sequence shared by the fills of one taker order; -1 when absent.
    block_trade, rpi : bool
        Bybit ``BT`` and ``RPI`` flags.
    ts_local : int
        Local receive time in ns (0 if unknown).
    """

    def __init__(self, str symbol, double price, double size, int side, int64_t ts_exch, str trade_id,
                 int64_t price_ticks, int64_t seq=-1, bint block_trade=False, bint rpi=False,
                 int64_t ts_local=0):
        if side != 1 and side != -1:
            raise InvalidInputError(f"side must be +1 (taker buy) or -1 (taker sell), got {side}")
        if not (size >= 0.0 and size < INFINITY):
            raise InvalidInputError(f"size must be finite and >= 0, got {size}")
        self.symbol = symbol
        self.price = price
        self.size = size
        self.side = side
        self.ts_exch = ts_exch
        self.trade_id = trade_id
        self.price_ticks = price_ticks
        self.seq = seq
        self.block_trade = block_trade
        self.rpi = rpi
        self.ts_local = ts_local

    @property
    def is_buy(self):
        """True when the taker bought (lifted the ask)."""
        return self.side > 0

    @property
    def signed_size(self):
        """size with the taker's sign (+ buy, - sell)."""
        return self.size * self.side

    @staticmethod
    def from_frame(raw, tick_size, int64_t ts_local=0):
        """Decode the trades of one ``publicTrade.*`` frame.

        Raises
        ------
        InvalidInputError
            Malformed frame, price off the tick grid, or not a publicTrade frame.
        """
        return decoder_for(tick_size).decode_trades(raw, ts_local)

    def _key(self):
        return (self.symbol, self.price, self.size, self.side, self.ts_exch, self.trade_id, self.price_ticks,
                self.seq, self.block_trade, self.rpi, self.ts_local)

    def __eq__(self, other):
        if not isinstance(other, Trade):
            return NotImplemented
        return self._key() == (<Trade>other)._key()

    def __hash__(self):
        return hash(self._key())

    def __reduce__(self):
        return (Trade, self._key())

    def __repr__(self):
        return (f"Trade({self.symbol!r}, price={self.price!r}, size={self.size!r}, "
                f"side={'buy' if self.side > 0 else 'sell'}, ts_exch={self.ts_exch}, trade_id={self.trade_id!r}, "
                f"seq={self.seq})")


_DECODERS = {}


def decoder_for(tick_size):
    """A shared FrameDecoder per tick size (decoders hold only scratch space)."""
    key = repr(tick_size) if isinstance(tick_size, float) else str(tick_size)
    dec = _DECODERS.get(key)
    if dec is None:
        if len(_DECODERS) > 256:
            _DECODERS.clear()
        dec = _DECODERS[key] = FrameDecoder(tick_size)
    return dec


cdef class FrameDecoder:
    """Parses raw V5 frames for one instrument into scratch arrays.

    Parameters
    ----------
    tick_size : str, float or Decimal
        The instrument's tick size; prices are converted to integer ticks of it.
    """

    def __cinit__(self):
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
        self.tick_mant = mant
        self.tick_scale = scale
        self.tick_div = POW10D[scale]
        self.tick_limit = (2 ** 53) // mant
        self.tick_size = d

    @property
    def tick_float(self):
        return float(self.tick_size)

    cdef double price_of(self, int64_t ticks) noexcept nogil:
        return ticks_to_float(ticks, self.tick_mant, self.tick_div, self.tick_limit, self.tick_scale)

    cdef str span_str(self, Span sp):
        return (<const char*>self.buf)[sp.off:sp.off + sp.len].decode("utf-8", "replace")

    cdef int parse(self, object raw) except -1:
        """Scan one frame; on success ``self.info``, ``self.levels`` and ``self.trades`` hold it."""
        cdef Py_ssize_t n
        cdef const unsigned char* p
        cdef const unsigned char[::1] view
        cdef Scanner s
        cdef int rc
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
        s.p = p
        s.i = 0
        s.n = n
        s.err = ERR_OK
        s.err_pos = 0
        s.field = F_NONE
        s.expect = 0
        s.span.off = 0
        s.span.len = 0
        # The scan keeps the GIL: a frame takes about a microsecond, and shared decoders
        # (decoder_for) must not be re-entered by another thread mid-frame.
        rc = self._scan(&s)
        if rc < 0:
            self._raise_scan_error(&s)
        return 0

    cdef int _raise_scan_error(self, Scanner* s) except -1:
        """Keep the scanner's error state (for the message) and raise InvalidInputError."""
        self.buf = s.p
        self.buflen = s.n
        self.err = s.err
        self.err_pos = s.err_pos
        self.err_field = s.field
        self.err_expect = s.expect
        self.err_span = s.span
        raise InvalidInputError(self._message())

    cdef str _message(self):
        cdef int code = self.err
        field = _FIELD_NAMES.get(self.err_field, "frame")
        pos = self.err_pos
        lo = max(0, pos - 24)
        ctx = (<const char*>self.buf)[lo:min(self.buflen, pos + 24)].decode("utf-8", "replace")
        where = f" at byte {pos} (near {ctx!r})"
        if code == ERR_EXPECT:
            return f"malformed frame: expected {chr(self.err_expect)!r}{where}"
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
            return (f"malformed frame: {field} {self.span_str(self.err_span)!r} is not a plain decimal "
                    f"string (digits with an optional '.', no sign or exponent for sizes){where}")
        if code == ERR_OFF_GRID:
            return (f"price {self.span_str(self.err_span)!r} is not a multiple of tick_size "
                    f"{self.tick_size} (never rounded){where}")
        if code == ERR_RANGE:
            if self.err_span.len:
                return f"{field} {self.span_str(self.err_span)!r} is out of the supported range{where}"
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
        if code == ERR_TYPE:
            return f"malformed frame: orderbook 'type' must be \"snapshot\" or \"delta\"{where}"
        if code == ERR_SIDE:
            return f"malformed frame: trade side S must be \"Buy\" or \"Sell\"{where}"
        if code == ERR_SHAPE:
            return f"malformed frame: {field} has the wrong JSON type for this topic{where}"
        if code == ERR_NOTOPIC:
            return "malformed frame: a V5 frame needs a 'topic' (data) or an 'op'/'success' (control reply)"
        if code == ERR_DUPKEY:
            return f"malformed frame: field {field} appears twice{where}"
        if code == ERR_NOMEM:
            return "out of memory while decoding a frame"
        return f"malformed frame (error {code}){where}"

    # ---- the scanner ---------------------------------------------------------------------------

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

    cdef int _push_level(self, Scanner* s, int64_t ticks, double size, int side) noexcept nogil:
        cdef Py_ssize_t k = self.info.n_levels
        if self.reserve_levels(k + 1) < 0:
            return fail(s, ERR_NOMEM, F_NONE)
        self.levels[k].price_ticks = ticks
        self.levels[k].size = size
        self.levels[k].side = side
        self.info.n_levels = k + 1
        return 0

    cdef int _scan_levels(self, Scanner* s, int side) noexcept nogil:
        cdef Span ps, qs
        cdef int64_t ticks
        cdef double size
        cdef int c
        if expect(s, 91) < 0:
            s.field = F_LEVEL
            return -1
        if peek(s) == 93:
            s.i += 1
            return 0
        while True:
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
            if decimal_price(s, ps, self.tick_mant, self.tick_scale, &ticks) < 0:
                return -1
            if decimal_size(s, qs, &size) < 0:
                return -1
            if self._push_level(s, ticks, size, side) < 0:
                return -1
            c = peek(s)
            if c == 44:
                s.i += 1
                continue
            if c == 93:
                s.i += 1
                return 0
            s.expect = 93
            return fail(s, ERR_EOF if c == -1 else ERR_EXPECT, F_LEVEL)

    cdef int _scan_book_data(self, Scanner* s) noexcept nogil:
        cdef Span key
        cdef int c
        cdef const unsigned char* p = s.p
        if peek(s) != 123:
            return fail(s, ERR_SHAPE, F_DATA)
        s.i += 1
        if peek(s) == 125:
            s.i += 1
            return 0
        while True:
            if scan_string(s, &key, F_NONE) < 0:
                return -1
            if expect(s, 58) < 0:
                return -1
            if span_is(p, key, b"b", 1):
                if self._scan_levels(s, 1) < 0:
                    return -1
            elif span_is(p, key, b"a", 1):
                if self._scan_levels(s, -1) < 0:
                    return -1
            elif span_is(p, key, b"u", 1):
                if self.info.has_u:
                    return fail(s, ERR_DUPKEY, F_U)
                if scan_int(s, &self.info.u, F_U) < 0:
                    return -1
                if self.info.u < 0:
                    return fail(s, ERR_RANGE, F_U)
                self.info.has_u = True
            elif span_is(p, key, b"seq", 3):
                if scan_int(s, &self.info.seq, F_SEQ) < 0:
                    return -1
                self.info.has_seq = True
            elif span_is(p, key, b"s", 1):
                if scan_string(s, &self.info.symbol, F_S) < 0:
                    return -1
            else:
                if skip_value(s, 2) < 0:
                    return -1
            c = peek(s)
            if c == 44:
                s.i += 1
                continue
            if c == 125:
                s.i += 1
                return 0
            s.expect = 125
            return fail(s, ERR_EOF if c == -1 else ERR_EXPECT, F_DATA)

    cdef int _scan_trade(self, Scanner* s) noexcept nogil:
        cdef Span key, sp, ps, qs
        cdef int c
        cdef int have = 0
        cdef const unsigned char* p = s.p
        cdef TradeRec* t
        cdef TradeRec* grown
        cdef Py_ssize_t k = self.info.n_trades
        if k == self.trades_cap:
            grown = <TradeRec*>realloc(self.trades, 2 * self.trades_cap * sizeof(TradeRec))
            if grown == NULL:
                return fail(s, ERR_NOMEM, F_NONE)
            self.trades = grown
            self.trades_cap *= 2
        t = &self.trades[k]
        t.seq = -1
        t.block = 0
        t.rpi = 0
        t.sym_off = 0
        t.sym_len = 0
        ps.off = 0
        ps.len = 0
        qs.off = 0
        qs.len = 0
        if peek(s) != 123:
            return fail(s, ERR_SHAPE, F_DATA)
        s.i += 1
        if peek(s) != 125:
            while True:
                if scan_string(s, &key, F_NONE) < 0:
                    return -1
                if expect(s, 58) < 0:
                    return -1
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
                    if scan_ms(s, &t.ts_ms, F_T) < 0:
                        return -1
                    have |= 8
                elif span_is(p, key, b"i", 1):
                    if scan_string(s, &sp, F_ID) < 0:
                        return -1
                    t.id_off = sp.off
                    t.id_len = sp.len
                    have |= 16
                elif span_is(p, key, b"s", 1):
                    if scan_string(s, &sp, F_S) < 0:
                        return -1
                    t.sym_off = sp.off
                    t.sym_len = sp.len
                elif span_is(p, key, b"seq", 3):
                    if scan_int(s, &t.seq, F_SEQ) < 0:
                        return -1
                elif span_is(p, key, b"BT", 2):
                    if scan_bool(s, &t.block, F_BT) < 0:
                        return -1
                elif span_is(p, key, b"RPI", 3):
                    if scan_bool(s, &t.rpi, F_BT) < 0:
                        return -1
                else:
                    if skip_value(s, 3) < 0:
                        return -1
                c = peek(s)
                if c == 44:
                    s.i += 1
                    continue
                if c == 125:
                    break
                s.expect = 125
                return fail(s, ERR_EOF if c == -1 else ERR_EXPECT, F_DATA)
        s.i += 1
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
        if decimal_price(s, ps, self.tick_mant, self.tick_scale, &t.price_ticks) < 0:
            return -1
        if decimal_size(s, qs, &t.size) < 0:
            return -1
        self.info.n_trades = k + 1
        return 0

    cdef int _scan_trades(self, Scanner* s) noexcept nogil:
        cdef int c
        if peek(s) != 91:
            return fail(s, ERR_SHAPE, F_DATA)
        s.i += 1
        if peek(s) == 93:
            s.i += 1
            return 0
        while True:
            if self._scan_trade(s) < 0:
                return -1
            c = peek(s)
            if c == 44:
                s.i += 1
                continue
            if c == 93:
                s.i += 1
                return 0
            s.expect = 93
            return fail(s, ERR_EOF if c == -1 else ERR_EXPECT, F_DATA)

    cdef int _classify(self) noexcept nogil:
        cdef const unsigned char* p = self.buf
        if self.info.topic.len > 0:
            if span_starts(p, self.info.topic, b"orderbook.", 10):
                return FRAME_BOOK
            if span_starts(p, self.info.topic, b"publicTrade.", 12):
                return FRAME_TRADE
            return FRAME_OTHER
        return FRAME_CONTROL

    cdef int _scan_data(self, Scanner* s) noexcept nogil:
        if self.info.kind == FRAME_BOOK:
            return self._scan_book_data(s)
        if self.info.kind == FRAME_TRADE:
            return self._scan_trades(s)
        return skip_value(s, 1)

    cdef int _scan(self, Scanner* s) noexcept nogil:
        cdef Span key, sp
        cdef Span data
        cdef int c
        cdef bint control = False
        cdef bint has_topic = False
        cdef Py_ssize_t data_end = 0
        cdef Py_ssize_t n_saved
        cdef const unsigned char* p = s.p
        self.info.kind = 0
        self.info.type_code = TYPE_NONE
        self.info.has_u = False
        self.info.has_seq = False
        self.info.has_ts = False
        self.info.has_cts = False
        self.info.has_data = False
        self.info.u = 0
        self.info.seq = -1
        self.info.ts_ms = 0
        self.info.cts_ms = 0
        self.info.topic.off = 0
        self.info.topic.len = 0
        self.info.symbol.off = 0
        self.info.symbol.len = 0
        self.info.op.off = 0
        self.info.op.len = 0
        self.info.n_levels = 0
        self.info.n_trades = 0
        data.off = -1
        data.len = 0
        if expect(s, 123) < 0:
            return -1
        if peek(s) != 125:
            while True:
                if scan_string(s, &key, F_NONE) < 0:
                    return -1
                if expect(s, 58) < 0:
                    return -1
                if span_is(p, key, b"topic", 5):
                    if has_topic:
                        return fail(s, ERR_DUPKEY, F_TOPIC)
                    if scan_string(s, &self.info.topic, F_TOPIC) < 0:
                        return -1
                    has_topic = True
                    if self.info.topic.len == 0:
                        return fail(s, ERR_NOTOPIC, F_TOPIC)
                    self.info.kind = self._classify()
                elif span_is(p, key, b"type", 4):
                    if scan_string(s, &sp, F_TYPE) < 0:
                        return -1
                    if span_is(p, sp, b"snapshot", 8):
                        self.info.type_code = TYPE_SNAPSHOT
                    elif span_is(p, sp, b"delta", 5):
                        self.info.type_code = TYPE_DELTA
                    else:
                        self.info.type_code = TYPE_OTHER
                elif span_is(p, key, b"ts", 2):
                    if scan_ms(s, &self.info.ts_ms, F_TS) < 0:
                        return -1
                    self.info.has_ts = True
                elif span_is(p, key, b"cts", 3):
                    if scan_ms(s, &self.info.cts_ms, F_CTS) < 0:
                        return -1
                    self.info.has_cts = True
                elif span_is(p, key, b"data", 4):
                    if self.info.has_data:
                        return fail(s, ERR_DUPKEY, F_DATA)
                    self.info.has_data = True
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
                    if scan_string(s, &self.info.op, F_NONE) < 0:
                        return -1
                    control = True
                elif span_is(p, key, b"success", 7):
                    control = True
                    if skip_value(s, 1) < 0:
                        return -1
                else:
                    if skip_value(s, 1) < 0:
                        return -1
                c = peek(s)
                if c == 44:
                    s.i += 1
                    continue
                if c == 125:
                    break
                s.expect = 125
                return fail(s, ERR_EOF if c == -1 else ERR_EXPECT, F_NONE)
        s.i += 1
        skip_ws(s)
        if s.i != s.n:
            return fail(s, ERR_TRAILING, F_NONE)
        if not has_topic:
            if not control:
                return fail(s, ERR_NOTOPIC, F_NONE)
            self.info.kind = FRAME_CONTROL
            return 0
        if data.off >= 0 and (self.info.kind == FRAME_BOOK or self.info.kind == FRAME_TRADE):
            n_saved = s.n
            s.i = data.off
            s.n = data_end
            if self._scan_data(s) < 0:
                return -1
            s.n = n_saved
        if (self.info.kind == FRAME_BOOK or self.info.kind == FRAME_TRADE) and not self.info.has_ts:
            return fail(s, ERR_MISSING, F_TS)
        if self.info.kind == FRAME_BOOK:
            if not self.info.has_data:
                return fail(s, ERR_MISSING, F_DATA)
            if self.info.type_code == TYPE_NONE:
                return fail(s, ERR_MISSING, F_TYPE)
            if self.info.type_code == TYPE_OTHER:
                return fail(s, ERR_TYPE, F_TYPE)
            if not self.info.has_u:
                return fail(s, ERR_MISSING, F_U)
        elif self.info.kind == FRAME_TRADE:
            if not self.info.has_data:
                return fail(s, ERR_MISSING, F_DATA)
        return 0

    # ---- Python-level access (tests, ofi.frames) -------------------------------------------------

    def decode(self, raw, int64_t ts_local=0):
        """Decode one frame.

        Returns
        -------
        tuple
            ``("book", topic, symbol, snapshot, u, seq, ts_ms, cts_ms, bid_ticks, bid_sizes, ask_ticks,
            ask_sizes)``, ``("trade", topic, ts_ms, list[Trade])`` or ``("control", dict)``.

        Raises
        ------
        InvalidInputError
            Malformed frame, price off the tick grid, or a topic the decoder does not support.
        """
        cdef Py_ssize_t i, nb = 0, na = 0
        cdef Level* lv
        self.parse(raw)
        kind = self.info.kind
        if kind == FRAME_CONTROL:
            try:
                obj = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:  # pragma: no cover - the scanner is stricter
                raise InvalidInputError(f"malformed control frame: {exc}") from None
            return ("control", obj)
        topic = self.span_str(self.info.topic)
        if kind == FRAME_OTHER:
            raise InvalidInputError(unsupported_topic_message(topic))
        if kind == FRAME_BOOK:
            for i in range(self.info.n_levels):
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
            for i in range(self.info.n_levels):
                lv = &self.levels[i]
                if lv.side > 0:
                    bt[nb] = lv.price_ticks
                    bs[nb] = lv.size
                    nb += 1
                else:
                    at[na] = lv.price_ticks
                    as_[na] = lv.size
                    na += 1
            return ("book", topic, self.span_str(self.info.symbol),
                    self.info.type_code == TYPE_SNAPSHOT, self.info.u,
                    self.info.seq if self.info.has_seq else -1, self.info.ts_ms,
                    self.info.cts_ms if self.info.has_cts else -1, bt, bs, at, as_)
        return ("trade", topic, self.info.ts_ms, self.make_trades(ts_local))

    def decode_trades(self, raw, int64_t ts_local=0):
        """The trades of one ``publicTrade.*`` frame (the fast path behind ``Trade.from_frame``)."""
        self.parse(raw)
        if self.info.kind != FRAME_TRADE:
            if self.info.kind == FRAME_CONTROL:
                raise InvalidInputError("expected a publicTrade frame, got a control reply")
            raise InvalidInputError(
                f"expected a publicTrade frame, got topic {self.span_str(self.info.topic)!r}")
        return self.make_trades(ts_local)

    def parse_level(self, price, size):
        """``(price_ticks, size)`` of one ``[price, size]`` pair of decimal strings (REST books)."""
        cdef Scanner s
        cdef Span sp
        cdef int64_t ticks
        cdef double q
        if not isinstance(price, str) or not isinstance(size, str):
            raise InvalidInputError(f"a level must be a pair of decimal strings, got [{price!r}, {size!r}]")
        pb = price.encode()
        qb = size.encode()
        self.owner = (pb, qb)   # an error keeps buf pointing into these bytes
        s.err = ERR_OK
        s.err_pos = 0
        s.i = 0
        s.expect = 0
        s.span.off = 0
        s.span.len = 0
        s.p = <const unsigned char*>PyBytes_AS_STRING(pb)
        s.n = len(pb)
        sp.off = 0
        sp.len = s.n
        if decimal_price(&s, sp, self.tick_mant, self.tick_scale, &ticks) < 0:
            self._raise_scan_error(&s)
        s.p = <const unsigned char*>PyBytes_AS_STRING(qb)
        s.n = len(qb)
        sp.len = s.n
        if decimal_size(&s, sp, &q) < 0:
            self._raise_scan_error(&s)
        return ticks, q

    cdef list make_trades(self, int64_t ts_local):
        cdef Py_ssize_t i
        cdef TradeRec* t
        cdef Trade tr
        cdef const char* buf = <const char*>self.buf
        out = []
        for i in range(self.info.n_trades):
            t = &self.trades[i]
            tr = Trade.__new__(Trade)
            try:
                tr.symbol = buf[t.sym_off:t.sym_off + t.sym_len].decode("utf-8")
                tr.trade_id = buf[t.id_off:t.id_off + t.id_len].decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInputError("malformed frame: trade symbol or id is not valid UTF-8") from None
            tr.price = self.price_of(t.price_ticks)
            tr.size = t.size
            tr.side = t.side
            tr.ts_exch = t.ts_ms * 1000000
            tr.price_ticks = t.price_ticks
            tr.seq = t.seq
            tr.block_trade = t.block
            tr.rpi = t.rpi
            tr.ts_local = ts_local
            out.append(tr)
        return out

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
            kind = self.info.kind
            if kind == FRAME_CONTROL:
                continue
            if kind == FRAME_OTHER:
                raise InvalidInputError(f"frame {count - 1}: " + unsupported_topic_message(self.span_str(self.info.topic)))
            if symbol is not None and kind == FRAME_BOOK and self.span_str(self.info.symbol) != symbol:
                raise InvalidInputError(
                    f"frame {count - 1}: symbol {self.span_str(self.info.symbol)!r} is not {symbol!r}")
            need = self.info.n_levels if kind == FRAME_BOOK else self.info.n_trades
            if kind == FRAME_BOOK and need == 0:
                need = 1
            if n + need > cap:
                while n + need > cap:
                    cap *= 2
                out = np.resize(out, cap)
            rows = <TapeRow*>cnp.PyArray_DATA(out)
            if kind == FRAME_BOOK:
                # A message without levels still gets one row (side 0) so that replay sees it.
                flags0 = FLAG_SNAPSHOT if (self.info.type_code == TYPE_SNAPSHOT or self.info.u == 1) else 0
                for i in range(need):
                    r = &rows[n + i]
                    r.ts_exch = self.info.ts_ms * 1000000
                    r.ts_local = ts_local
                    r.update_id = self.info.u
                    r.seq = self.info.seq if self.info.has_seq else -1
                    r.kind = KIND_BOOK
                    r.flags = flags0
                    r._pad = 0
                    if self.info.n_levels:
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
                for i in range(self.info.n_trades):
                    t = &self.trades[i]
                    r = &rows[n + i]
                    r.ts_exch = t.ts_ms * 1000000
                    r.ts_local = ts_local
                    r.price_ticks = t.price_ticks
                    r.size = t.size
                    r.update_id = -1
                    r.seq = t.seq
                    r.kind = KIND_TRADE
                    r.side = t.side
                    r.flags = FLAG_BEGIN | FLAG_END | (FLAG_BLOCK if t.block else 0) | (FLAG_RPI if t.rpi else 0)
                    r._pad = 0
                n += self.info.n_trades
        return out[:n].copy()


_UNSUPPORTED = {
    "tickers": "tickers (use the REST tickers endpoint; ticker deltas are not a book)",
    "kline": "kline",
    "liquidation": "liquidation",
    "allLiquidation": "allLiquidation",
    "system": "system status",
}


def unsupported_topic_message(topic):
    """The error message for a frame whose topic the decoder does not handle."""
    prefix = topic.split(".", 1)[0]
    what = _UNSUPPORTED.get(prefix, prefix)
    return (f"unsupported topic {topic!r}: the decoder handles orderbook.* and publicTrade.* frames "
            f"and control replies, not {what}")


TAPE_DTYPE = np.dtype(
    [
        ("ts_exch", np.int64),
        ("ts_local", np.int64),
        ("price_ticks", np.int64),
        ("size", np.float64),
        ("update_id", np.int64),
        ("seq", np.int64),
        ("kind", np.uint8),
        ("side", np.int8),
        ("flags", np.uint16),
        ("_pad", np.uint32),
    ],
    align=True,
)
assert TAPE_DTYPE.itemsize == sizeof(TapeRow), "TAPE_DTYPE does not match the C TapeRow layout"

# Constants for Python users of the tape.
TAPE_KIND_BOOK = KIND_BOOK
TAPE_KIND_TRADE = KIND_TRADE
TAPE_FLAG_SNAPSHOT = FLAG_SNAPSHOT
TAPE_FLAG_BEGIN = FLAG_BEGIN
TAPE_FLAG_END = FLAG_END
TAPE_FLAG_BLOCK = FLAG_BLOCK
TAPE_FLAG_RPI = FLAG_RPI
