"""Reading historical data files: plain, gzip or one-member zip sources, with progress, parsed in
chunks into typed columns (CSV) or lines (JSON lines), with exact line numbers in every error.

The vendor loaders (``ofi.data.tardis``, ``ofi.venues.bybit.archives``) are built from these
pieces: :class:`Source` (format detected from the first bytes, not the name), :func:`iter_source`
(arguments checked at call time, the file opened when iteration starts), :class:`Table` (a CSV
header and its rows in chunks, a vectorised fast path and an exact slow path), the column checks,
:class:`Prices` (decimal strings to int64 ticks, never rounded) and the tape-chunk helpers.
"""
from __future__ import annotations

import csv
import gzip
import io
import os
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np

from ofi._core.decoder import FrameDecoder
from ofi.data.tape import FLAG_BEGIN, FLAG_END, KIND_TRADE, empty_tape
from ofi._progress import Progress, Reporter
from ofi.errors import InvalidInputError
from ofi.spec import parse_step
from ofi.validation import NS_PER_SECOND

__all__ = [
    "READ_ERRORS", "DEFAULT_CHUNK_ROWS", "DEFAULT_CHUNK_LINES", "INT64_MAX", "INT", "FLOAT", "STR",
    "Source", "iter_source", "check_optional_str", "check_chunk_rows", "Table", "where", "check_sizes",
    "check_range", "Prices", "seconds_column", "side_column", "concat_chunks", "narrow_ids", "trade_rows",
]

DEFAULT_CHUNK_ROWS = 1 << 16
DEFAULT_CHUNK_LINES = 1 << 12
INT64_MAX = 2**63 - 1
# What a cut or damaged gzip/zip raises while it is read.
READ_ERRORS = (EOFError, OSError, zipfile.BadZipFile, zlib.error)


class _Counting(io.RawIOBase):
    """Counts the bytes read through it (decompressed bytes of a zip member)."""

    def __init__(self, f: Any):
        self._f = f
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._f.read(len(b))
        n = len(data)
        b[:n] = data
        self.count += n
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


class Source:
    """A binary stream over a plain, gzip or zip file, with a position for progress."""

    def __init__(self, path: str | os.PathLike, member: str | None = None):
        if not isinstance(path, (str, os.PathLike)):
            raise InvalidInputError(f"path must be a file path, got {path!r}")
        self.path = os.fspath(path)
        self.name = self.path
        self._zip = None
        self._raw = open(self.path, "rb")     # a missing file raises FileNotFoundError
        try:
            magic = self._raw.peek(4)[:4]
            if magic[:2] == b"\x1f\x8b":
                self.stream = gzip.GzipFile(fileobj=self._raw, mode="rb")
                self.total = os.fstat(self._raw.fileno()).st_size
                self.position = self._raw.tell
            elif magic == b"PK\x03\x04":
                try:
                    self._zip = zipfile.ZipFile(self._raw)
                except zipfile.BadZipFile as exc:
                    raise InvalidInputError(f"{self.path}: not a readable zip archive ({exc})") from None
                info = self._member(member)
                self.name = f"{self.path}[{info.filename}]"
                counter = _Counting(self._zip.open(info))
                self.stream = io.BufferedReader(counter, 1 << 16)
                self.total = info.file_size
                self.position = lambda: counter.count
            else:
                if member is not None:
                    raise InvalidInputError(f"{self.path} is not a zip file, so member={member!r} does not apply")
                self.stream = self._raw
                self.total = os.fstat(self._raw.fileno()).st_size
                self.position = self._raw.tell
        except BaseException:
            self.close()
            raise

    def _member(self, member: str | None) -> zipfile.ZipInfo:
        assert self._zip is not None
        files = [i for i in self._zip.infolist() if not i.is_dir()]
        names = [i.filename for i in files]
        if member is not None:
            for i in files:
                if i.filename == member:
                    return i
            raise InvalidInputError(f"{self.path} has no member {member!r}; it holds {names}")
        if len(files) == 1:
            return files[0]
        data = [i for i in files if i.filename.endswith((".data", ".csv"))]
        if len(data) == 1:
            return data[0]
        raise InvalidInputError(f"{self.path} holds {len(files)} files {names[:10]}; pass member=... to pick one")

    def close(self) -> None:
        for obj in (getattr(self, "stream", None), self._zip, getattr(self, "_raw", None)):
            if obj is not None:
                try:
                    obj.close()
                except Exception:  # pragma: no cover - closing after a failure
                    pass

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def iter_source(path: Any, member: str | None, progress: Progress,
                body: Callable[[Source, Reporter], Iterator[Any]]) -> Iterator[Any]:
    """Check the arguments now; open the file and run ``body`` when iteration starts."""
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidInputError(f"path must be a file path, got {path!r}")
    rep = Reporter(progress, os.path.basename(os.fspath(path)))
    return _running(path, member, rep, body)


def _running(path: Any, member: str | None, rep: Reporter,
             body: Callable[[Source, Reporter], Iterator[Any]]) -> Iterator[Any]:
    with Source(path, member) as src:
        rep.start(src.total)
        try:
            yield from body(src, rep)
        finally:
            rep.close()


def check_optional_str(value: Any, name: str) -> None:
    """Raise unless ``value`` is None or a non-empty string (``symbol=``, ``member=``)."""
    if value is not None and (not isinstance(value, str) or not value):
        raise InvalidInputError(f"{name} must be a non-empty string or None, got {value!r}")


def check_chunk_rows(chunk_rows: Any, name: str = "chunk_rows") -> int:
    """``chunk_rows`` (or the argument ``name``) as a positive int."""
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer)) or chunk_rows < 1:
        raise InvalidInputError(f"{name} must be a positive int, got {chunk_rows!r}")
    return int(chunk_rows)


# Column kinds of a CSV table: parsed by numpy.loadtxt in the fast path, by the csv module and
# per-value checks in the exact slow path (used for a chunk the fast path cannot take whole).
INT, FLOAT, STR, _SKIP = "int", "float", "str", "skip"
# Widest text field the fast path takes, per column (default 32); a longer one goes the slow way.
_STR_WIDTHS = {"side": 8, "is_snapshot": 8, "rpi": 8, "id": 64, "trdMatchID": 64}
_BLOCK_BYTES = 1 << 22
_FAST = True               # tests switch the fast path off to check both paths agree


def _lines(src: Source) -> Iterator[list[str]]:
    """Lists of complete lines (no line ends) of the source, block by block."""
    tail = b""
    first = True
    while True:
        try:
            block = src.stream.read(_BLOCK_BYTES)
        except READ_ERRORS as exc:
            raise InvalidInputError(f"{src.name}: file is truncated or corrupt ({exc})") from None
        if not block:
            break
        data = tail + block
        if first:
            data = data.removeprefix(b"\xef\xbb\xbf")      # UTF-8 byte-order mark
            first = False
        k = data.rfind(b"\n")                               # never inside a UTF-8 sequence
        if k < 0:
            tail = data
            continue
        tail = data[k + 1:]
        yield data[:k].decode("utf-8", errors="replace").replace("\r\n", "\n").split("\n")
    if tail:
        yield [tail.decode("utf-8", errors="replace").rstrip("\r")]


class Table:
    """A CSV file's header and its rows in chunks of typed columns, with exact line numbers."""

    def __init__(self, src: Source, what: str):
        self.src = src
        self.what = what
        self.name = src.name
        self._blocks = _lines(src)
        self._block: list[str] = []
        self._pos = 0
        self._next_line = 1
        header_line = self._take(1)
        if not header_line:
            raise InvalidInputError(f"{src.name}: empty file, expected a {what} CSV header")
        try:
            header = next(csv.reader(header_line))
        except (csv.Error, StopIteration) as exc:
            raise InvalidInputError(f"{src.name}, line 1: unreadable CSV header ({exc})") from None
        self.header = [h.strip() for h in header]
        self.width = len(self.header)
        self.col: dict[str, int] = {}
        for i, h in enumerate(self.header):
            self.col.setdefault(h, i)

    def setup(self, kinds: dict[str, str], required: tuple[str, ...]) -> None:
        """Check the header has ``required`` and choose how each column is parsed."""
        missing = [c for c in required if c not in self.col]
        if missing:
            raise InvalidInputError(
                f"{self.name}, line 1: {self.what} header lacks column(s) {missing}; got {self.header[:12]}")
        self.kinds = {name: kind for name, kind in kinds.items() if name in self.col}
        fields = []
        for i, h in enumerate(self.header):
            kind = self.kinds.get(h, _SKIP) if self.col[h] == i else _SKIP
            width = _STR_WIDTHS.get(h, 32)
            fields.append((f"f{i}", {INT: "i8", FLOAT: "f8", STR: f"U{width}", _SKIP: "U1"}[kind]))
        self._dtype = np.dtype(fields)

    def _take(self, n: int) -> list[str]:
        out: list[str] = []
        while len(out) < n:
            if self._pos >= len(self._block):
                block = next(self._blocks, None)
                if block is None:
                    break
                self._block, self._pos = block, 0
                continue
            piece = self._block[self._pos:self._pos + n - len(out)]
            self._pos += len(piece)
            out = out + piece if out else piece
        return out

    def chunks(self, n: int) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray]]:
        """(columns by name, line numbers) of at most n non-blank rows per chunk."""
        while True:
            start = self._next_line + 1
            lines = self._take(n)
            if not lines:
                return
            self._next_line += len(lines)
            if "" in lines:                        # blank lines: skipped, numbering kept
                keep = [i for i, ln in enumerate(lines) if ln]
                lines = [lines[i] for i in keep]
                linenos = start + np.array(keep, dtype=np.int64)
                if not lines:
                    continue
            else:
                linenos = np.arange(start, start + len(lines), dtype=np.int64)
            cols = self._fast(lines) if _FAST else None
            if cols is None:
                cols = self._slow(lines, linenos)
            yield cols, linenos

    def _fast(self, lines: list[str]) -> dict[str, np.ndarray] | None:
        try:
            arr = np.loadtxt(lines, delimiter=",", dtype=self._dtype, comments=None, quotechar='"', ndmin=1)
        except (ValueError, TypeError, OverflowError, UnicodeError):
            return None
        if len(arr) != len(lines):                 # pragma: no cover - loadtxt skipped a line
            return None
        cols = {}
        for name, kind in self.kinds.items():
            c = np.ascontiguousarray(arr[f"f{self.col[name]}"])
            if kind == STR and len(c) and (np.char.str_len(c) >= _STR_WIDTHS.get(name, 32)).any():
                return None                         # maybe cut at the field width
            cols[name] = c
        return cols

    def _slow(self, lines: list[str], linenos: np.ndarray) -> dict[str, np.ndarray]:
        name = self.name
        try:
            rows = list(csv.reader(lines))
        except csv.Error as exc:
            raise InvalidInputError(f"{name}, lines {linenos[0]}-{linenos[-1]}: unreadable CSV ({exc})") from None
        for i, r in enumerate(rows):
            if len(r) != self.width:
                raise InvalidInputError(f"{name}, line {linenos[i]}: {len(r)} fields, the header has {self.width}")
        c = list(zip(*rows))
        cols = {}
        for col, kind in self.kinds.items():
            values = c[self.col[col]]
            if kind == INT:
                cols[col] = _int_column(values, name, linenos, col)
            elif kind == FLOAT:
                cols[col] = _float_column(values, name, linenos, col)
            else:
                cols[col] = np.array(values, dtype=str)
        return cols


def where(name: str, lines: np.ndarray, i: int, column: str) -> str:
    """``"<file>, line <n>, column '<column>'"`` for row ``i`` of a chunk: how every error starts."""
    return f"{name}, line {int(lines[i])}, column {column!r}"


def _int_column(values: tuple, name: str, lines: np.ndarray, column: str) -> np.ndarray:
    try:
        return np.array(values, dtype=np.int64)
    except (ValueError, OverflowError, TypeError):
        for i, v in enumerate(values):
            try:
                np.array([v], dtype=np.int64)
            except (ValueError, OverflowError, TypeError):
                raise InvalidInputError(
                    f"{where(name, lines, i, column)}: {v!r} is not an integer (int64)") from None
        raise  # pragma: no cover - every value converted alone


def _float_column(values: tuple, name: str, lines: np.ndarray, column: str) -> np.ndarray:
    try:
        return np.array(values, dtype=np.float64)
    except (ValueError, TypeError):
        for i, v in enumerate(values):
            try:
                float(v)
            except (ValueError, TypeError):
                raise InvalidInputError(f"{where(name, lines, i, column)}: {v!r} is not a number") from None
        raise  # pragma: no cover


def check_sizes(sizes: np.ndarray, name: str, lines: np.ndarray, column: str, *, positive: bool) -> np.ndarray:
    """``sizes``, once every value is finite and > 0 (``positive``) or >= 0."""
    bad = ~np.isfinite(sizes) | ((sizes <= 0.0) if positive else (sizes < 0.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        need = "a finite number > 0" if positive else "a finite number >= 0"
        raise InvalidInputError(f"{where(name, lines, i, column)}: {sizes[i]!r}, expected {need}")
    return sizes


def check_range(values: np.ndarray, name: str, lines: np.ndarray, column: str, unit: str, limit: int) -> None:
    """Raise unless every value is in [0, limit] (a time that would overflow int64 ns)."""
    bad = (values < 0) | (values > limit)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(f"{where(name, lines, i, column)}: {values[i]} {unit} is out of range")


_POW10 = np.array([10**k for k in range(19)], dtype=np.uint64)


def _fixed_point(col: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Plain decimal strings (digits, at most one '.') -> exact integers value * 10**scale.

    Returns (uint64 values, ok mask); a row is not ok when it is not a plain decimal, has a
    non-zero digit below 10**-scale, or does not fit int64. Vectorised over the characters.
    """
    n = len(col)
    w = int(np.char.str_len(col).max()) if n else 0
    if w == 0:
        return np.zeros(n, dtype=np.uint64), np.zeros(n, dtype=bool)
    m = col.view(np.uint32).reshape(n, col.dtype.itemsize // 4)[:, :w]     # up to the longest value
    used = m != 0
    length = used.sum(axis=1, dtype=np.int16)
    j = np.arange(w, dtype=np.int16)
    isdig = (m >= 48) & (m <= 57)
    isdot = m == 46
    ok = ((used == (j < length[:, None])).all(axis=1) & (isdig | isdot | ~used).all(axis=1)
          & (isdot.sum(axis=1) <= 1) & isdig.any(axis=1))
    dot = np.where(isdot.any(axis=1), isdot.argmax(axis=1), length).astype(np.int16)[:, None]
    e = np.where(j < dot, dot - 1 - j, dot - j) + np.int16(scale)      # power of ten of each character
    digit = np.where(isdig, m - 48, 0).astype(np.uint8)
    ok &= ~((digit != 0) & ((e < 0) | (e > 18))).any(axis=1)
    value = (digit * _POW10[np.clip(e, 0, 18)]).sum(axis=1, dtype=np.uint64)   # < 10**19: no wrap
    ok &= value <= INT64_MAX
    return np.where(ok, value, 0), ok


class Prices:
    """Exact decimal price strings -> int64 ticks, never rounded: vectorised over a chunk, with
    the frame decoder's parser (and a cache) for the rows the vectorised path does not take."""

    _CACHE_MAX = 1 << 20

    def __init__(self, tick_size: Any):
        self.tick = parse_step(tick_size, "tick_size")
        exponent = self.tick.as_tuple().exponent
        self.scale = max(0, -int(exponent))
        self.mantissa = int(self.tick.scaleb(self.scale))
        self.decoder = FrameDecoder(tick_size)
        self.cache: dict[str, int] = {}

    def column(self, values: np.ndarray, name: str, lines: np.ndarray, column: str = "price") -> np.ndarray:
        scaled, ok = _fixed_point(values, self.scale)
        ticks = (scaled // np.uint64(self.mantissa)).astype(np.int64)
        ok &= (scaled % np.uint64(self.mantissa) == 0) & (ticks > 0)
        if not ok.all():
            if len(self.cache) > self._CACHE_MAX:
                self.cache.clear()
            for i in np.flatnonzero(~ok).tolist():
                ticks[i] = self.one(str(values[i]), name, lines, i, column)
        return ticks

    def one(self, v: str, name: str, lines: np.ndarray, i: int, column: str) -> int:
        t = self.cache.get(v)
        if t is None:
            try:
                t = self.decoder.parse_level(v, "0")[0]
            except InvalidInputError:
                t = -1
            if t <= 0:
                raise InvalidInputError(f"{where(name, lines, i, column)}: {self._why(v)}") from None
            self.cache[v] = t
        return t

    def _why(self, v: str) -> str:
        try:
            d = Decimal(v)
        except (InvalidOperation, TypeError, ValueError):
            return f"{v!r} is not a decimal price"
        if not d.is_finite() or d <= 0:
            return f"price {v!r} must be a positive decimal"
        if d % self.tick != 0:
            return f"price {v!r} is not a multiple of tick_size {self.tick} (never rounded)"
        return f"price {v!r} is not a plain decimal string (digits with an optional '.')"


def _seconds_to_ns(s: str) -> int:
    """Epoch seconds as a decimal string -> int ns, exactly (no float on the way)."""
    try:
        d = Decimal(s.strip()) * NS_PER_SECOND
    except InvalidOperation:
        raise ValueError(f"{s!r} is not a decimal number of seconds") from None
    if not d.is_finite() or d < 0 or d != d.to_integral_value():
        raise ValueError(f"{s!r} is not a non-negative number of seconds with at most 9 decimals")
    if d > INT64_MAX:
        raise ValueError(f"{s!r} seconds is out of range")
    return int(d)


def seconds_column(values: np.ndarray, name: str, lines: np.ndarray, column: str) -> np.ndarray:
    """Epoch seconds as decimal strings -> int64 ns, exactly."""
    ns, ok = _fixed_point(values, 9)
    out = ns.astype(np.int64)
    for i in np.flatnonzero(~ok).tolist():
        try:
            out[i] = _seconds_to_ns(str(values[i]))
        except ValueError as exc:
            raise InvalidInputError(f"{where(name, lines, i, column)}: {exc}") from None
    return out


def side_column(values: np.ndarray, name: str, lines: np.ndarray, column: str,
                mapping: dict[str, int]) -> np.ndarray:
    """Side strings -> int8 signs through ``mapping``; any other text is an error."""
    out = np.zeros(len(values), dtype=np.int8)
    known = np.zeros(len(values), dtype=bool)
    for text, sign in mapping.items():
        m = values == text
        out[m] = sign
        known |= m
    if not known.all():
        i = int(np.flatnonzero(~known)[0])
        raise InvalidInputError(
            f"{where(name, lines, i, column)}: {str(values[i])!r}, expected one of {sorted(mapping)}")
    return out


def concat_chunks(chunks: Iterable[Any], with_ids: bool) -> Any:
    """One tape (and one ids array, ``with_ids``) from the chunks of an ``iter_*`` loader."""
    tapes, ids = [], []
    for c in chunks:
        if with_ids:
            tapes.append(c[0])
            ids.append(c[1])
        else:
            tapes.append(c)
    tape = np.concatenate(tapes) if tapes else empty_tape(0)
    if not with_ids:
        return tape
    return tape, (np.concatenate(ids) if ids else np.array([], dtype=str))


def narrow_ids(ids: np.ndarray) -> np.ndarray:
    """A str array at the width of its longest value (ids are 36-char UUIDs, not 64)."""
    width = int(np.char.str_len(ids).max()) if len(ids) else 1
    return ids.astype(f"U{max(width, 1)}")


def trade_rows(ts_exch: np.ndarray, ts_local: np.ndarray, ticks: np.ndarray, sizes: np.ndarray,
               sides: np.ndarray, extra_flags: np.ndarray | int = 0) -> np.ndarray:
    """KIND_TRADE tape rows, one whole message each (BEGIN|END), without update id or sequence."""
    out = empty_tape(len(ts_exch))
    out["ts_exch"] = ts_exch
    out["ts_local"] = ts_local
    out["price_ticks"] = ticks
    out["size"] = sizes
    out["update_id"] = -1
    out["seq"] = -1
    out["kind"] = KIND_TRADE
    out["side"] = sides
    out["flags"] = FLAG_BEGIN | FLAG_END | extra_flags
    return out

