# A strict, allocation-free JSON scanner (RFC 8259) for venue frame decoders.
#
# It reads a frame in place: strings come back as spans of the input (no copy), numbers are checked
# and read straight into int64, and anything a decoder does not want is validated and skipped with
# a depth limit. Every function is ``noexcept nogil`` and returns -1 on error after recording it in
# the Scanner (code, position, field); the decoder turns that into a message (ofi._core.decoder).
#
# A decoder walks an object with the one member loop below and switches on the key:
#
#     if open_object(s, F_MYOBJ) < 0: return -1
#     rc = members_first(s, &key)
#     while rc > 0:
#         if span_is(s.p, key, b"price", 5): ...read the value...
#         elif skip_value(s, depth) < 0: return -1
#         rc = members_next(s, &key, F_MYOBJ)
#     if rc < 0: return -1
#
# and an array with elements_first / elements_next the same way.
from libc.stdint cimport int64_t, uint64_t, INT64_MAX
from libc.string cimport memcmp

# Error codes; a venue decoder numbers its own from ERR_VENUE.
cdef enum:
    ERR_OK = 0
    ERR_EXPECT = 1          # expected a given character (Scanner.expect)
    ERR_EOF = 2             # input ends early
    ERR_VALUE = 3           # not a JSON value
    ERR_STRING = 4          # bad string (control character, bad escape)
    ERR_NUMBER = 5          # bad JSON number
    ERR_DEPTH = 6           # nesting deeper than MAX_DEPTH
    ERR_TRAILING = 7        # bytes after the closing brace
    ERR_DECIMAL = 8         # price/size string is not a plain decimal
    ERR_OFF_GRID = 9        # price not a multiple of the tick size
    ERR_RANGE = 10          # number out of range
    ERR_NOT_INT = 11        # expected an integer
    ERR_NOT_STRING = 12     # expected a string
    ERR_MISSING = 13        # required field absent
    ERR_NOMEM = 14
    ERR_SHAPE = 15          # a field has the wrong JSON type
    ERR_NOT_BOOL = 16
    ERR_DUPKEY = 17         # a key the decoder reads appears twice
    ERR_VENUE = 64

# Field ids for messages; a venue decoder numbers its own from F_VENUE and names them.
cdef enum:
    F_NONE = 0
    F_PRICE = 1
    F_SIZE = 2
    F_LEVEL = 3
    F_VENUE = 16

cdef enum:
    MAX_DEPTH = 32          # skip_value refuses deeper nesting (no recursion without a bound)

# The largest time in ms whose value in ns fits int64 (INT64_MAX // 1_000_000).
cdef extern from *:
    """
    #define OFI_MAX_MS ((int64_t)9223372036854LL)
    """
    const int64_t MAX_MS "OFI_MAX_MS"

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
    Span span              # the offending string, for decimal errors


cdef inline void scanner_init(Scanner* s, const unsigned char* p, Py_ssize_t n) noexcept nogil:
    s.p = p
    s.i = 0
    s.n = n
    s.err = ERR_OK
    s.err_pos = 0
    s.field = F_NONE
    s.expect = 0
    s.span.off = 0
    s.span.len = 0


cdef inline int fail(Scanner* s, int code, int field) noexcept nogil:
    """Record the first error (code, position, field) and return -1."""
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


cdef inline bint span_is(const unsigned char* p, Span sp, const char* lit, Py_ssize_t n) noexcept nogil:
    return sp.len == n and memcmp(p + sp.off, lit, n) == 0


cdef inline bint span_starts(const unsigned char* p, Span sp, const char* lit, Py_ssize_t n) noexcept nogil:
    return sp.len >= n and memcmp(p + sp.off, lit, n) == 0


cdef inline int scan_string(Scanner* s, Span* out, int field) noexcept nogil:
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


cdef inline int scan_number(Scanner* s) noexcept nogil:
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


cdef inline int scan_literal(Scanner* s, const char* lit, Py_ssize_t n) noexcept nogil:
    if s.i + n > s.n:
        return fail(s, ERR_EOF, F_NONE)
    if memcmp(s.p + s.i, lit, n) != 0:
        return fail(s, ERR_VALUE, F_NONE)
    s.i += n
    return 0


# ---- the member and element loops ---------------------------------------------------------------

cdef inline int open_object(Scanner* s, int field) noexcept nogil:
    """Consume the '{' of an object that ``field`` must hold (ERR_SHAPE naming it otherwise)."""
    if peek(s) != 123:
        return fail(s, ERR_SHAPE, field)
    s.i += 1
    return 0


cdef inline int open_array(Scanner* s, int field) noexcept nogil:
    """Consume the '[' of an array that ``field`` must hold (ERR_SHAPE naming it otherwise)."""
    if peek(s) != 91:
        return fail(s, ERR_SHAPE, field)
    s.i += 1
    return 0


cdef inline int member_key(Scanner* s, Span* key) noexcept nogil:
    if scan_string(s, key, F_NONE) < 0:
        return -1
    if expect(s, 58) < 0:
        return -1
    return 1


cdef inline int members_first(Scanner* s, Span* key) noexcept nogil:
    """Right after an object's '{': 1 with the first key read (and its ':'), or 0 for ``{}`` ('}' consumed)."""
    if peek(s) == 125:
        s.i += 1
        return 0
    return member_key(s, key)


cdef inline int members_next(Scanner* s, Span* key, int field) noexcept nogil:
    """After a member's value: 1 with the next key read, or 0 at the closing '}' (consumed);
    -1 if neither ',' nor '}' follows (``field`` names the object)."""
    cdef int c = peek(s)
    if c == 44:
        s.i += 1
        return member_key(s, key)
    if c == 125:
        s.i += 1
        return 0
    s.expect = 125
    return fail(s, ERR_EOF if c == -1 else ERR_EXPECT, field)


cdef inline int elements_first(Scanner* s) noexcept nogil:
    """Right after an array's '[': 1 if an element follows, or 0 for ``[]`` (']' consumed)."""
    if peek(s) == 93:
        s.i += 1
        return 0
    return 1


cdef inline int elements_next(Scanner* s, int field) noexcept nogil:
    """After an element: 1 if another follows (',' consumed), or 0 at the closing ']' (consumed);
    -1 if neither follows (``field`` names the array)."""
    cdef int c = peek(s)
    if c == 44:
        s.i += 1
        return 1
    if c == 93:
        s.i += 1
        return 0
    s.expect = 93
    return fail(s, ERR_EOF if c == -1 else ERR_EXPECT, field)


cdef inline int skip_value(Scanner* s, int depth) noexcept nogil:
    """Skip any JSON value, validating it; ``depth`` is the value's nesting level (ERR_DEPTH past MAX_DEPTH)."""
    cdef int c, rc
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
        rc = members_first(s, &sp)
        while rc > 0:
            if skip_value(s, depth + 1) < 0:
                return -1
            rc = members_next(s, &sp, F_NONE)
        return rc
    if c == 91:  # [
        s.i += 1
        rc = elements_first(s)
        while rc > 0:
            if skip_value(s, depth + 1) < 0:
                return -1
            rc = elements_next(s, F_NONE)
        return rc
    if c == 116:
        return scan_literal(s, b"true", 4)
    if c == 102:
        return scan_literal(s, b"false", 5)
    if c == 110:
        return scan_literal(s, b"null", 4)
    if c == 45 or (48 <= c <= 57):
        return scan_number(s)
    return fail(s, ERR_VALUE, F_NONE)


# ---- typed values ---------------------------------------------------------------------------------

cdef inline int scan_int(Scanner* s, int64_t* out, int field) noexcept nogil:
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


cdef inline int scan_ms(Scanner* s, int64_t* out, int field) noexcept nogil:
    """An integer time in ms, >= 0, whose value in ns (ms * 1e6) fits int64."""
    if scan_int(s, out, field) < 0:
        return -1
    if out[0] > MAX_MS or out[0] < 0:
        return fail(s, ERR_RANGE, field)
    return 0


cdef inline int scan_bool(Scanner* s, int* out, int field) noexcept nogil:
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
