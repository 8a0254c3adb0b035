"""Historical data: Bybit's public daily archives and Tardis-style CSV, loaded into the tape.

Four file formats become tapes (``ofi.data.tape.TAPE_DTYPE``):

=====================================  =======================================================
Bybit trades ``{SYM}{date}.csv.gz``    :func:`load_bybit_trades` / :func:`iter_bybit_trades`
Bybit order book ``*_ob200.data.zip``  :func:`load_bybit_orderbook` / :func:`iter_bybit_orderbook`
Tardis ``incremental_book_L2`` CSV     :func:`load_tardis_book` / :func:`iter_tardis_book`
Tardis ``trades`` CSV                  :func:`load_tardis_trades` / :func:`iter_tardis_trades`
=====================================  =======================================================

Every loader streams its file (plain, gzip or a one-member zip, detected from the first bytes,
not the name) in chunks: ``iter_*`` yields tape chunks in bounded memory, each ending on a
whole book message, and ``load_*`` concatenates them. :func:`save_tape_chunks` writes chunks
straight to a memory-mappable ``.npy`` for files whose tape does not fit in memory.
:func:`download` fetches the public files; :func:`bybit_trades_url` and
:func:`bybit_orderbook_url` build their addresses. Conventions (units, what is dropped, sorting,
grouping of Tardis rows into messages) are in ``docs/archives.md``.
"""
from __future__ import annotations

import csv
import gzip
import io
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import date as _date, datetime as _datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np

from ofi._core.decode import FrameDecoder
from ofi.data.tape import (FLAG_BEGIN, FLAG_END, FLAG_RPI, FLAG_SNAPSHOT, KIND_BOOK, KIND_TRADE, TAPE_DTYPE,
                           empty_tape)
from ofi._progress import Progress, Reporter as _Reporter
from ofi.errors import ExchangeError, InvalidInputError, RateLimitError
from ofi.spec import parse_step

__all__ = [
    "BYBIT_TRADES_BASE_URL",
    "BYBIT_ORDERBOOK_BASE_URL",
    "bybit_trades_url",
    "bybit_orderbook_url",
    "download",
    "iter_bybit_trades",
    "load_bybit_trades",
    "iter_bybit_orderbook",
    "load_bybit_orderbook",
    "iter_tardis_book",
    "load_tardis_book",
    "iter_tardis_trades",
    "load_tardis_trades",
    "save_tape_chunks",
]

BYBIT_TRADES_BASE_URL = "https://public.bybit.com"
BYBIT_ORDERBOOK_BASE_URL = "https://quote-saver.bycsi.com"


_DEFAULT_CHUNK_ROWS = 1 << 16
_DEFAULT_CHUNK_LINES = 1 << 12
_NS_PER_S = 1_000_000_000
_SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]*$")
_FRAME_ERR_RE = re.compile(r"^frame (\d+): (.*)$", re.S)
# What a cut or damaged gzip/zip raises while it is read.
_READ_ERRORS = (EOFError, OSError, zipfile.BadZipFile, zlib.error)

_BYBIT_DERIV_COLUMNS = ("timestamp", "symbol", "side", "size", "price")
_BYBIT_SPOT_COLUMNS = ("id", "timestamp", "price", "volume", "side")
_TARDIS_BOOK_COLUMNS = ("symbol", "timestamp", "local_timestamp", "is_snapshot", "side", "price", "amount")
_TARDIS_TRADE_COLUMNS = ("symbol", "timestamp", "local_timestamp", "id", "side", "price", "amount")


# ---- URLs and download ---------------------------------------------------------------------------

def _date_str(value: Any) -> str:
    if isinstance(value, _datetime):
        return value.date().isoformat()
    if isinstance(value, _date):
        return value.isoformat()
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\d", value):
        try:
            return _date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise InvalidInputError(f"date must be a datetime.date or a 'YYYY-MM-DD' string, got {value!r}")


def _symbol(value: Any) -> str:
    if not isinstance(value, str) or not _SYMBOL_RE.match(value):
        raise InvalidInputError(f"symbol must be an upper-case Bybit symbol such as 'BTCUSDT', got {value!r}")
    return value


def bybit_trades_url(symbol: str, date: Any, *, category: str = "linear",
                     base_url: str = BYBIT_TRADES_BASE_URL) -> str:
    """Address of Bybit's public daily trades file.

    Parameters
    ----------
    symbol : str
        Upper-case symbol, e.g. ``"BTCUSDT"``.
    date : datetime.date, datetime or str ``"YYYY-MM-DD"``
        UTC day.
    category : {"linear", "inverse", "spot"}
        Derivatives (linear and inverse) share ``{base}/trading/{SYM}/{SYM}{date}.csv.gz``;
        spot is ``{base}/spot/{SYM}/{SYM}_{date}.csv.gz`` (a different CSV layout; see
        :func:`load_bybit_trades`).
    base_url : str
        Host, ``https://public.bybit.com`` by default (a local server in tests).

    Raises
    ------
    InvalidInputError
        Bad symbol, date or category.
    """
    sym, day = _symbol(symbol), _date_str(date)
    base = base_url.rstrip("/")
    if category in ("linear", "inverse"):
        return f"{base}/trading/{sym}/{sym}{day}.csv.gz"
    if category == "spot":
        return f"{base}/spot/{sym}/{sym}_{day}.csv.gz"
    raise InvalidInputError(f"category must be 'linear', 'inverse' or 'spot', got {category!r}")


def bybit_orderbook_url(symbol: str, date: Any, *, category: str = "linear", depth: int = 200,
                        base_url: str = BYBIT_ORDERBOOK_BASE_URL) -> str:
    """Address of Bybit's public daily order-book archive.

    ``{base}/orderbook/{category}/{SYM}/{date}_{SYM}_ob{depth}.data.zip``: a zip holding one
    ``.data`` file of websocket orderbook messages, one JSON object a line.

    Parameters
    ----------
    symbol : str
        Upper-case symbol.
    date : datetime.date, datetime or str ``"YYYY-MM-DD"``
        UTC day.
    category : {"linear", "inverse", "spot"}
    depth : int
        Book depth of the archive: 500 (linear, until Bybit retired the 500-level stream in
        2025) or 200 (spot, and linear since); the value is not checked against the server.
    base_url : str
        Host, ``https://quote-saver.bycsi.com`` by default.

    Raises
    ------
    InvalidInputError
        Bad symbol, date, category or depth.
    """
    sym, day = _symbol(symbol), _date_str(date)
    if category not in ("linear", "inverse", "spot"):
        raise InvalidInputError(f"category must be 'linear', 'inverse' or 'spot', got {category!r}")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise InvalidInputError(f"depth must be a positive int such as 200 or 500, got {depth!r}")
    return f"{base_url.rstrip('/')}/orderbook/{category}/{sym}/{day}_{sym}_ob{depth}.data.zip"


def download(source: str, dest: str | os.PathLike | None = None, *, symbol: str | None = None,
             date: Any = None, category: str = "linear", depth: int = 200, base_url: str | None = None,
             progress: Progress = True, overwrite: bool = False, timeout: float = 60.0,
             chunk_size: int = 1 << 20, session: Any = None) -> Path:
    """Download one file (streamed to disk, with progress).

    Parameters
    ----------
    source : str
        A URL (``http://`` or ``https://``), or ``"trades"`` / ``"orderbook"`` to build Bybit's
        public URL from ``symbol``, ``date``, ``category`` (and ``depth``) with
        :func:`bybit_trades_url` / :func:`bybit_orderbook_url`.
    dest : path-like, optional
        Target file, or an existing directory to put the URL's file name in. Default: the URL's
        file name in the current directory.
    base_url : str, optional
        Host override for ``"trades"`` / ``"orderbook"`` (e.g. a mirror or a test server).
    progress : bool or callable
        True: a progress line on stderr; a callable gets ``(done_bytes, total_bytes_or_None)``
        after each chunk; False/None: silent.
    overwrite : bool
        If False (default) an existing target is returned as is, without a request.
    timeout : float
        Seconds for the connection and for each read.
    session : requests.Session, optional
        Session to reuse (connection pooling over many days).

    Returns
    -------
    Path
        The downloaded file. Data is written to ``<dest>.part`` and renamed when complete, so an
        interrupted download never leaves a truncated file under the final name.

    Raises
    ------
    ExchangeError
        HTTP status >= 400 (``status`` and ``endpoint`` set; 404 means no file for that
        symbol/day), or fewer bytes than ``Content-Length``. :class:`RateLimitError` for 429/403.
    InvalidInputError
        Bad arguments.
    requests.RequestException
        Network failures (connection refused, timeout) propagate as raised by requests.
    """
    import requests

    if not isinstance(source, str):
        raise InvalidInputError(f"source must be a URL or 'trades'/'orderbook', got {source!r}")
    if source in ("trades", "orderbook"):
        if symbol is None or date is None:
            raise InvalidInputError(f"download({source!r}) needs symbol=... and date=...")
        if source == "trades":
            url = bybit_trades_url(symbol, date, category=category,
                                   base_url=base_url or BYBIT_TRADES_BASE_URL)
        else:
            url = bybit_orderbook_url(symbol, date, category=category, depth=depth,
                                      base_url=base_url or BYBIT_ORDERBOOK_BASE_URL)
    elif source.startswith(("http://", "https://")):
        url = source
    else:
        raise InvalidInputError(f"source must be an http(s) URL or 'trades'/'orderbook', got {source!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InvalidInputError(f"chunk_size must be a positive int, got {chunk_size!r}")
    name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "download"
    if dest is None:
        target = Path(name)
    else:
        target = Path(dest)
        if target.is_dir():
            target = target / name
    reporter = _Reporter(progress, target.name)
    if target.exists() and not overwrite:
        return target
    part = target.with_name(target.name + ".part")
    getter = session.get if session is not None else requests.get
    done = 0
    # identity: the bytes on disk are the file itself, and Content-Length counts them.
    with getter(url, stream=True, timeout=timeout, headers={"Accept-Encoding": "identity"}) as resp:
        if resp.status_code >= 400:
            cls = RateLimitError if resp.status_code in (403, 429) else ExchangeError
            raise cls(f"GET {url} failed: HTTP {resp.status_code} {resp.reason or ''}".rstrip(),
                      status=resp.status_code, endpoint=url)
        length = resp.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        reporter.start(total)
        try:
            with open(part, "wb") as fh:
                for chunk in resp.iter_content(chunk_size=chunk_size):
                    if chunk:
                        fh.write(chunk)
                        done += len(chunk)
                        reporter.update(done)
            if total is not None and done != total:
                raise ExchangeError(f"GET {url}: connection closed after {done} of {total} bytes",
                                    status=resp.status_code, endpoint=url)
            os.replace(part, target)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        finally:
            reporter.close()
    return target


# ---- reading files -------------------------------------------------------------------------------

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


class _Source:
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

    def __enter__(self) -> "_Source":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _run(path: Any, member: str | None, progress: Progress,
         body: Callable[[_Source, _Reporter], Iterator[Any]]) -> Iterator[Any]:
    """Check the arguments now; open the file and run ``body`` when iteration starts."""
    if not isinstance(path, (str, os.PathLike)):
        raise InvalidInputError(f"path must be a file path, got {path!r}")
    rep = _Reporter(progress, os.path.basename(os.fspath(path)))
    return _running(path, member, rep, body)


def _running(path: Any, member: str | None, rep: _Reporter,
             body: Callable[[_Source, _Reporter], Iterator[Any]]) -> Iterator[Any]:
    with _Source(path, member) as src:
        rep.start(src.total)
        try:
            yield from body(src, rep)
        finally:
            rep.close()


def _opt_str(value: Any, name: str) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise InvalidInputError(f"{name} must be a non-empty string or None, got {value!r}")


def _chunk_rows(chunk_rows: Any, name: str = "chunk_rows") -> int:
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, (int, np.integer)) or chunk_rows < 1:
        raise InvalidInputError(f"{name} must be a positive int, got {chunk_rows!r}")
    return int(chunk_rows)


# Column kinds of a CSV table: parsed by numpy.loadtxt in the fast path, by the csv module and
# per-value checks in the exact slow path (used for a chunk the fast path cannot take whole).
_INT, _FLOAT, _STR, _SKIP = "int", "float", "str", "skip"
# Widest text field the fast path takes, per column (default 32); a longer one goes the slow way.
_STR_WIDTHS = {"side": 8, "is_snapshot": 8, "rpi": 8, "id": 64, "trdMatchID": 64}
_BLOCK_BYTES = 1 << 22
_FAST = True               # tests switch the fast path off to check both paths agree


def _lines(src: _Source) -> Iterator[list[str]]:
    """Lists of complete lines (no line ends) of the source, block by block."""
    tail = b""
    first = True
    while True:
        try:
            block = src.stream.read(_BLOCK_BYTES)
        except _READ_ERRORS as exc:
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


class _Table:
    """A CSV file's header and its rows in chunks of typed columns, with exact line numbers."""

    def __init__(self, src: _Source, what: str):
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
            fields.append((f"f{i}", {_INT: "i8", _FLOAT: "f8", _STR: f"U{width}", _SKIP: "U1"}[kind]))
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
            if kind == _STR and len(c) and (np.char.str_len(c) >= _STR_WIDTHS.get(name, 32)).any():
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
            if kind == _INT:
                cols[col] = _int_column(values, name, linenos, col)
            elif kind == _FLOAT:
                cols[col] = _float_column(values, name, linenos, col)
            else:
                cols[col] = np.array(values, dtype=str)
        return cols


def _where(name: str, lines: np.ndarray, i: int, column: str) -> str:
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
                    f"{_where(name, lines, i, column)}: {v!r} is not an integer (int64)") from None
        raise  # pragma: no cover - every value converted alone


def _float_column(values: tuple, name: str, lines: np.ndarray, column: str) -> np.ndarray:
    try:
        return np.array(values, dtype=np.float64)
    except (ValueError, TypeError):
        for i, v in enumerate(values):
            try:
                float(v)
            except (ValueError, TypeError):
                raise InvalidInputError(f"{_where(name, lines, i, column)}: {v!r} is not a number") from None
        raise  # pragma: no cover


def _check_sizes(sizes: np.ndarray, name: str, lines: np.ndarray, column: str, *, positive: bool) -> np.ndarray:
    bad = ~np.isfinite(sizes) | ((sizes <= 0.0) if positive else (sizes < 0.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        need = "a finite number > 0" if positive else "a finite number >= 0"
        raise InvalidInputError(f"{_where(name, lines, i, column)}: {sizes[i]!r}, expected {need}")
    return sizes


def _check_range(values: np.ndarray, name: str, lines: np.ndarray, column: str, unit: str, limit: int) -> None:
    bad = (values < 0) | (values > limit)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(f"{_where(name, lines, i, column)}: {values[i]} {unit} is out of range")


_POW10 = np.array([10**k for k in range(19)], dtype=np.uint64)
_INT64_MAX = 2**63 - 1


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
    ok &= value <= _INT64_MAX
    return np.where(ok, value, 0), ok


class _Prices:
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
                raise InvalidInputError(f"{_where(name, lines, i, column)}: {self._why(v)}") from None
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
        d = Decimal(s.strip()) * _NS_PER_S
    except InvalidOperation:
        raise ValueError(f"{s!r} is not a decimal number of seconds") from None
    if not d.is_finite() or d < 0 or d != d.to_integral_value():
        raise ValueError(f"{s!r} is not a non-negative number of seconds with at most 9 decimals")
    if d > _INT64_MAX:
        raise ValueError(f"{s!r} seconds is out of range")
    return int(d)


def _seconds_column(values: np.ndarray, name: str, lines: np.ndarray, column: str) -> np.ndarray:
    ns, ok = _fixed_point(values, 9)
    out = ns.astype(np.int64)
    for i in np.flatnonzero(~ok).tolist():
        try:
            out[i] = _seconds_to_ns(str(values[i]))
        except ValueError as exc:
            raise InvalidInputError(f"{_where(name, lines, i, column)}: {exc}") from None
    return out


def _side_column(values: np.ndarray, name: str, lines: np.ndarray, column: str,
                 mapping: dict[str, int]) -> np.ndarray:
    out = np.zeros(len(values), dtype=np.int8)
    known = np.zeros(len(values), dtype=bool)
    for text, sign in mapping.items():
        m = values == text
        out[m] = sign
        known |= m
    if not known.all():
        i = int(np.flatnonzero(~known)[0])
        raise InvalidInputError(
            f"{_where(name, lines, i, column)}: {str(values[i])!r}, expected one of {sorted(mapping)}")
    return out


def _symbols_check(values: np.ndarray, expected: str | None, name: str, lines: np.ndarray) -> str:
    want = str(values[0]) if expected is None else expected
    bad = values != want
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        hint = "" if expected is not None else " (the file's first symbol; a tape holds one instrument)"
        raise InvalidInputError(f"{_where(name, lines, i, 'symbol')}: {str(values[i])!r} is not {want!r}{hint}")
    return want


def _concat(chunks: Iterable[Any], with_ids: bool) -> Any:
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


def _narrow(ids: np.ndarray) -> np.ndarray:
    """A str array at the width of its longest value (ids are 36-char UUIDs, not 64)."""
    width = int(np.char.str_len(ids).max()) if len(ids) else 1
    return ids.astype(f"U{max(width, 1)}")


def _trade_rows(ts_exch: np.ndarray, ts_local: np.ndarray, ticks: np.ndarray, sizes: np.ndarray,
                sides: np.ndarray, extra_flags: np.ndarray | int = 0) -> np.ndarray:
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


# ---- Bybit trades --------------------------------------------------------------------------------

def iter_bybit_trades(path: str | os.PathLike, tick_size: Any, *, symbol: str | None = None,
                      return_ids: bool = False, chunk_rows: int = _DEFAULT_CHUNK_ROWS,
                      progress: Progress = None) -> Iterator[Any]:
    """Tape chunks of a Bybit public trades CSV, in file order (see :func:`load_bybit_trades`).

    Yields
    ------
    ndarray of TAPE_DTYPE, or (tape, ids) with ``return_ids=True``
        At most ``chunk_rows`` trades each. Not sorted: use :func:`load_bybit_trades` for time order.
    """
    n = _chunk_rows(chunk_rows)
    prices = _Prices(tick_size)
    if symbol is not None:
        _symbol(symbol)
    return _run(path, None, progress,
                lambda src, rep: _bybit_trade_chunks(src, prices, symbol, bool(return_ids), n, rep))


def _bybit_trade_chunks(src: _Source, prices: _Prices, symbol: str | None, return_ids: bool, n: int,
                        rep: _Reporter) -> Iterator[Any]:
    table = _Table(src, "Bybit trades")
    cols = table.col
    if all(c in cols for c in _BYBIT_DERIV_COLUMNS):
        spot = False
        id_col = "trdMatchID"
        kinds = {"timestamp": _STR, "symbol": _STR, "side": _STR, "size": _FLOAT, "price": _STR}
    elif all(c in cols for c in _BYBIT_SPOT_COLUMNS):
        spot = True
        id_col = "id"
        kinds = {"timestamp": _INT, "side": _STR, "volume": _FLOAT, "price": _STR, "rpi": _STR}
    else:
        raise InvalidInputError(
            f"{src.name}, line 1: not a Bybit trades header; expected "
            f"'timestamp,symbol,side,size,price,tickDirection,trdMatchID,...' (derivatives) or "
            f"'id,timestamp,price,volume,side[,rpi]' (spot), got {','.join(table.header[:12])!r}")
    if return_ids:
        kinds[id_col] = _STR
    table.setup(kinds, ())
    name = src.name
    want = symbol
    for c, lines in table.chunks(n):
        if spot:
            ts = c["timestamp"]
            _check_range(ts, name, lines, "timestamp", "ms", _INT64_MAX // 1_000_000)
            ts = ts * 1_000_000
            sizes = _check_sizes(c["volume"], name, lines, "volume", positive=True)
            sides = _side_column(c["side"], name, lines, "side", {"buy": 1, "sell": -1, "Buy": 1, "Sell": -1})
            flags: Any = 0
            if "rpi" in c:
                rpi = c["rpi"]
                flags = np.where((rpi == "1") | (rpi == "true") | (rpi == "True"), FLAG_RPI, 0).astype(np.uint16)
        else:
            want = _symbols_check(c["symbol"], want, name, lines)
            ts = _seconds_column(c["timestamp"], name, lines, "timestamp")
            sizes = _check_sizes(c["size"], name, lines, "size", positive=True)
            sides = _side_column(c["side"], name, lines, "side", {"Buy": 1, "Sell": -1})
            flags = 0
        ticks = prices.column(c["price"], name, lines)
        tape = _trade_rows(ts, ts, ticks, sizes, sides, flags)
        rep.update(src.position())
        yield (tape, _narrow(c[id_col])) if return_ids else tape


def load_bybit_trades(path: str | os.PathLike, tick_size: Any, *, symbol: str | None = None,
                      sort: bool = True, return_ids: bool = False, chunk_rows: int = _DEFAULT_CHUNK_ROWS,
                      progress: Progress = None) -> Any:
    """Load a Bybit public daily trades file into a tape.

    Derivatives files (``public.bybit.com/trading/{SYM}/{SYM}{date}.csv.gz``) have the header
    ``timestamp,symbol,side,size,price,tickDirection,trdMatchID,grossValue,homeNotional,
    foreignNotional`` with ``timestamp`` in epoch seconds with a fraction (``1585180700.0647``).
    Spot files (``public.bybit.com/spot/...``) have ``id,timestamp,price,volume,side[,rpi]`` with
    ``timestamp`` in ms; both are recognised from the header.

    Parameters
    ----------
    path : path-like
        The file, gzip-compressed or not.
    tick_size : str, float or Decimal
        Instrument tick size; prices become int64 ticks exactly.
    symbol : str, optional
        Expected symbol; a row of another symbol is an error (by default the first row's symbol
        is expected throughout). Spot files carry no symbol column and are not checked.
    sort : bool
        Return rows in time order (default). Some years' files are newest-first: a file whose
        times never increase is reversed (restoring the order of same-time fills); any other
        disorder is fixed by a stable sort on time. False keeps file order.
    return_ids : bool
        Also return the trade ids (``trdMatchID``, spot ``id``) as a numpy str array aligned with
        the tape (the tape has no string column).
    chunk_rows : int
        Rows parsed per chunk.
    progress : bool or callable
        True: a progress line on stderr; a callable gets ``(bytes_read, file_size)`` per chunk.

    Returns
    -------
    ndarray of TAPE_DTYPE, or (tape, ids)
        One KIND_TRADE row per trade: ``ts_exch = ts_local`` = the file's time in ns (exact
        decimal conversion), ``side`` +1 taker buy / -1 taker sell, ``price_ticks``, ``size`` as in
        the file (contracts for inverse, as the websocket ``v``), ``update_id = seq = -1``,
        flags BEGIN|END (|RPI from a spot ``rpi`` column). ``tickDirection``, ``grossValue``,
        ``homeNotional`` and ``foreignNotional`` are dropped.

    Raises
    ------
    InvalidInputError
        Unknown header, a missing column, a row with the wrong number of fields, a bad
        timestamp, side, size or price (off the tick grid, never rounded), or another symbol;
        the message names the file, the line and the column.
    """
    out = _concat(iter_bybit_trades(path, tick_size, symbol=symbol, return_ids=return_ids,
                                    chunk_rows=chunk_rows, progress=progress), return_ids)
    if not sort:
        return out
    tape, ids = out if return_ids else (out, None)
    order = _time_order(tape["ts_exch"])
    if order is not None:
        tape = np.ascontiguousarray(tape[order])
        ids = np.ascontiguousarray(ids[order]) if ids is not None else None
    return (tape, ids) if return_ids else tape


def _time_order(ts: np.ndarray) -> Any:
    """None if ts is non-decreasing; a reversing slice if it never increases; else a stable argsort."""
    if len(ts) < 2:
        return None
    d = np.diff(ts)
    if (d >= 0).all():
        return None
    if (d <= 0).all():
        return slice(None, None, -1)
    return np.argsort(ts, kind="stable")


# ---- Bybit order book archives -------------------------------------------------------------------

def iter_bybit_orderbook(path: str | os.PathLike, tick_size: Any, *, symbol: str | None = None,
                         member: str | None = None, chunk_lines: int = _DEFAULT_CHUNK_LINES,
                         progress: Progress = None) -> Iterator[np.ndarray]:
    """Tape chunks of a Bybit order-book archive, each ending on a whole message
    (see :func:`load_bybit_orderbook`)."""
    n = _chunk_rows(chunk_lines, "chunk_lines")
    decoder = FrameDecoder(tick_size)
    _opt_str(symbol, "symbol")
    _opt_str(member, "member")
    return _run(path, member, progress, lambda src, rep: _orderbook_chunks(src, decoder, symbol, n, rep))


def _orderbook_chunks(src: _Source, decoder: FrameDecoder, symbol: str | None, n: int,
                      rep: _Reporter) -> Iterator[np.ndarray]:
    batch: list[bytes] = []
    linenos: list[int] = []
    lineno = 0
    try:
        for line in src.stream:
            lineno += 1
            line = line.strip()
            if not line:
                continue
            batch.append(line)
            linenos.append(lineno)
            if len(batch) >= n:
                tape = _frames_chunk(decoder, batch, linenos, symbol, src.name)
                rep.update(src.position())
                batch, linenos = [], []
                if len(tape):
                    yield tape
    except _READ_ERRORS as exc:
        raise InvalidInputError(f"{src.name}, line {lineno + 1}: file is truncated or corrupt ({exc})") from None
    if batch:
        tape = _frames_chunk(decoder, batch, linenos, symbol, src.name)
        rep.update(src.position())
        if len(tape):
            yield tape


def _frames_chunk(decoder: FrameDecoder, batch: list[bytes], linenos: list[int], symbol: str | None,
                  name: str) -> np.ndarray:
    try:
        tape = decoder.to_tape(batch, symbol=symbol)
    except InvalidInputError as exc:
        m = _FRAME_ERR_RE.match(str(exc))
        if m is None:  # pragma: no cover - to_tape always names the frame
            raise InvalidInputError(f"{name}: {exc}") from None
        raise InvalidInputError(f"{name}, line {linenos[int(m.group(1))]}: {m.group(2)}") from None
    # The archive has no receive time: ts_local is the exchange time.
    tape["ts_local"] = tape["ts_exch"]
    return tape


def load_bybit_orderbook(path: str | os.PathLike, tick_size: Any, *, symbol: str | None = None,
                         member: str | None = None, chunk_lines: int = _DEFAULT_CHUNK_LINES,
                         progress: Progress = None) -> np.ndarray:
    """Load a Bybit order-book archive (``*_ob200.data.zip``, ``*_ob500.data.zip``) into a tape.

    The archive is a zip holding one ``.data`` file; each line is a websocket ``orderbook.*``
    message (``{"topic", "type": "snapshot"|"delta", "ts", "data": {"s","b","a","u","seq"},
    "cts"}``). Lines are streamed from the zip and decoded by the same decoder as live frames
    (:func:`ofi.data.tape.frames_to_tape`), so the tape equals that of the same lines recorded
    live, except for ``ts_local``. A plain or gzip-compressed ``.data`` file is read the same way.

    Parameters
    ----------
    path : path-like
    tick_size : str, float or Decimal
    symbol : str, optional
        If given, a message for another symbol is an error.
    member : str, optional
        Zip member to read when the zip holds more than one file.
    chunk_lines : int
        Messages decoded per chunk.
    progress : bool or callable
        True: a progress line on stderr; a callable gets ``(bytes, total)`` per chunk
        (decompressed bytes of a zip member).

    Returns
    -------
    ndarray of TAPE_DTYPE
        As :func:`ofi.data.tape.frames_to_tape`; ``ts_local = ts_exch`` (the message ``ts``, ms
        -> ns) because the archive records no receive time. ``update_id`` is the message ``u``
        and ``seq`` its cross sequence, so :func:`ofi.data.tape.replay_tape` checks continuity.

    Raises
    ------
    InvalidInputError
        A malformed line, a price off the tick grid, another symbol, an unsupported topic, a
        corrupt or truncated archive; the message names the file and the line.
    """
    return _concat(iter_bybit_orderbook(path, tick_size, symbol=symbol, member=member,
                                        chunk_lines=chunk_lines, progress=progress), False)


# ---- Tardis CSV ----------------------------------------------------------------------------------

def _tardis_symbols(values: np.ndarray, symbol: str | None, state: dict, name: str,
                    lines: np.ndarray) -> np.ndarray | None:
    """Row mask for ``symbol`` (None: keep all); without ``symbol`` the file must hold one symbol."""
    if symbol is not None:
        mask = values == symbol
        if mask.all():
            state["found"] = True
            return None
        if mask.any():
            state["found"] = True
        elif len(state.setdefault("others", set())) < 20:
            state["others"].update(np.unique(values).tolist())
        return mask
    first = state.setdefault("symbol", str(values[0]))
    bad = values != first
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(
            f"{_where(name, lines, i, 'symbol')}: {str(values[i])!r} after {first!r}; the file holds several "
            f"symbols, pass symbol=... to pick one")
    return None


def _symbol_found(state: dict, symbol: str | None, name: str) -> None:
    if symbol is not None and not state.get("found") and state.get("others"):
        raise InvalidInputError(f"{name}: no rows for symbol {symbol!r}; the file holds {sorted(state['others'])[:20]}")


def _select(cols: dict[str, np.ndarray], lines: np.ndarray,
            mask: np.ndarray | None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    if mask is None:
        return cols, lines
    return {k: v[mask] for k, v in cols.items()}, lines[mask]


def iter_tardis_book(path: str | os.PathLike, tick_size: Any, *, symbol: str | None = None,
                     chunk_rows: int = _DEFAULT_CHUNK_ROWS, progress: Progress = None) -> Iterator[np.ndarray]:
    """Tape chunks of a Tardis ``incremental_book_L2`` CSV, each ending on a whole message
    (see :func:`load_tardis_book`)."""
    n = _chunk_rows(chunk_rows)
    prices = _Prices(tick_size)
    _opt_str(symbol, "symbol")
    return _run(path, None, progress, lambda src, rep: _tardis_book_chunks(src, prices, symbol, n, rep))


def _tardis_book_chunks(src: _Source, prices: _Prices, symbol: str | None, n: int,
                        rep: _Reporter) -> Iterator[np.ndarray]:
    table = _Table(src, "Tardis incremental_book_L2")
    table.setup({"symbol": _STR, "timestamp": _INT, "local_timestamp": _INT, "is_snapshot": _STR, "side": _STR,
                 "price": _STR, "amount": _FLOAT}, _TARDIS_BOOK_COLUMNS)
    name = src.name
    state: dict = {}
    carry: np.ndarray | None = None        # rows of the last, maybe unfinished, message
    prev: tuple[int, int, bool] | None = None
    seen: set[tuple[int, int]] = set()     # (side, ticks) of the current snapshot
    for c, lines in table.chunks(n):
        c, lines = _select(c, lines, _tardis_symbols(c["symbol"], symbol, state, name, lines))
        if not len(lines):
            continue
        ts, loc = c["timestamp"], c["local_timestamp"]
        _check_range(ts, name, lines, "timestamp", "us", _INT64_MAX // 1000)
        _check_range(loc, name, lines, "local_timestamp", "us", _INT64_MAX // 1000)
        snap = _side_column(c["is_snapshot"], name, lines, "is_snapshot", {"true": 1, "false": 0}).astype(bool)
        side = _side_column(c["side"], name, lines, "side", {"bid": 1, "ask": -1})
        ticks = prices.column(c["price"], name, lines)
        amount = _check_sizes(c["amount"], name, lines, "amount", positive=False)

        m = len(lines)
        new = np.empty(m, dtype=bool)
        if prev is None:
            new[0] = True
        else:
            new[0] = bool(snap[0]) != prev[2] or (not snap[0] and (ts[0] != prev[0] or loc[0] != prev[1]))
        new[1:] = (snap[1:] != snap[:-1]) | (~snap[1:] & ((ts[1:] != ts[:-1]) | (loc[1:] != loc[:-1])))
        # A snapshot is a run of is_snapshot rows; a level seen twice starts the next snapshot
        # (two snapshots back to back, e.g. a reconnect right after the first).
        for i in np.flatnonzero(snap).tolist():
            if new[i]:
                seen.clear()
            key = (int(side[i]), int(ticks[i]))
            if key in seen:
                new[i] = True
                seen.clear()
            seen.add(key)
        prev = (int(ts[-1]), int(loc[-1]), bool(snap[-1]))

        block = empty_tape(m)
        block["ts_exch"] = ts * 1000
        block["ts_local"] = loc * 1000
        block["price_ticks"] = ticks
        block["size"] = amount
        block["update_id"] = -1
        block["seq"] = -1
        block["kind"] = KIND_BOOK
        block["side"] = side
        block["flags"] = np.where(snap, FLAG_SNAPSHOT, 0)
        if carry is not None and len(carry):
            new = np.concatenate([np.zeros(len(carry), dtype=bool), new])
            new[0] = True
            block = np.concatenate([carry, block])
        starts = np.flatnonzero(new)
        flags = block["flags"]
        flags[starts] |= FLAG_BEGIN
        flags[starts[1:] - 1] |= FLAG_END
        last = int(starts[-1])
        carry = block[last:].copy()
        rep.update(src.position())
        if last:
            yield block[:last]
    _symbol_found(state, symbol, name)
    if carry is not None and len(carry):
        carry["flags"][-1] |= FLAG_END
        yield carry


def load_tardis_book(path: str | os.PathLike, tick_size: Any, *, symbol: str | None = None,
                     chunk_rows: int = _DEFAULT_CHUNK_ROWS, progress: Progress = None) -> np.ndarray:
    """Load a Tardis ``incremental_book_L2`` CSV into a tape.

    Columns ``exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount``:
    timestamps in µs since the epoch, ``side`` ``bid``/``ask``, ``amount`` the level's new absolute
    size (0 deletes it), ``is_snapshot`` ``true``/``false``.

    Rows become book messages so that :func:`ofi.data.tape.replay_tape` rebuilds the book:

    - a run of consecutive ``is_snapshot=true`` rows is one snapshot (FLAG_SNAPSHOT on every
      row), whatever their timestamps; a level repeated inside a run starts a new snapshot;
    - consecutive delta rows with the same ``timestamp`` and ``local_timestamp`` are one delta
      message (rows of one websocket message share both).

    Parameters
    ----------
    path : path-like
        The CSV, gzip-compressed or not.
    tick_size : str, float or Decimal
    symbol : str, optional
        Keep only this symbol's rows (for files holding several). Without it, the file must hold
        one symbol.
    chunk_rows : int
        CSV rows parsed per chunk.
    progress : bool or callable

    Returns
    -------
    ndarray of TAPE_DTYPE
        KIND_BOOK rows: ``ts_exch`` = timestamp × 1000 and ``ts_local`` = local_timestamp × 1000
        (ns), ``side`` +1 bid / -1 ask, ``price_ticks``, ``size`` = amount, FLAG_BEGIN/FLAG_END
        around each message. ``update_id = seq = -1``: Tardis CSV has no sequence numbers, so
        replay cannot detect gaps in it. ``exchange`` is dropped.

    Raises
    ------
    InvalidInputError
        Missing columns, bad field counts, numbers, sides, flags or off-grid prices, or a
        second symbol without ``symbol=``; the message names the file, the line and the column.
    """
    return _concat(iter_tardis_book(path, tick_size, symbol=symbol, chunk_rows=chunk_rows,
                                    progress=progress), False)


def iter_tardis_trades(path: str | os.PathLike, tick_size: Any, *, symbol: str | None = None,
                       unknown_side: str = "keep", return_ids: bool = False,
                       chunk_rows: int = _DEFAULT_CHUNK_ROWS, progress: Progress = None) -> Iterator[Any]:
    """Tape chunks of a Tardis ``trades`` CSV (see :func:`load_tardis_trades`)."""
    n = _chunk_rows(chunk_rows)
    if unknown_side not in ("keep", "drop", "raise"):
        raise InvalidInputError(f"unknown_side must be 'keep', 'drop' or 'raise', got {unknown_side!r}")
    prices = _Prices(tick_size)
    _opt_str(symbol, "symbol")
    return _run(path, None, progress,
                lambda src, rep: _tardis_trade_chunks(src, prices, symbol, unknown_side, bool(return_ids), n, rep))


def _tardis_trade_chunks(src: _Source, prices: _Prices, symbol: str | None, unknown_side: str, return_ids: bool,
                         n: int, rep: _Reporter) -> Iterator[Any]:
    sides_map = {"buy": 1, "sell": -1}
    if unknown_side != "raise":
        sides_map["unknown"] = 0
    table = _Table(src, "Tardis trades")
    kinds = {"symbol": _STR, "timestamp": _INT, "local_timestamp": _INT, "side": _STR, "price": _STR,
             "amount": _FLOAT}
    if return_ids:
        kinds["id"] = _STR
    table.setup(kinds, _TARDIS_TRADE_COLUMNS)
    name = src.name
    state: dict = {}
    for c, lines in table.chunks(n):
        c, lines = _select(c, lines, _tardis_symbols(c["symbol"], symbol, state, name, lines))
        if not len(lines):
            continue
        sides = _side_column(c["side"], name, lines, "side", sides_map)
        if unknown_side == "drop" and not sides.all():
            keep = sides != 0
            c, lines = _select(c, lines, keep)
            sides = sides[keep]
            if not len(lines):
                continue
        ts, loc = c["timestamp"], c["local_timestamp"]
        _check_range(ts, name, lines, "timestamp", "us", _INT64_MAX // 1000)
        _check_range(loc, name, lines, "local_timestamp", "us", _INT64_MAX // 1000)
        ticks = prices.column(c["price"], name, lines)
        sizes = _check_sizes(c["amount"], name, lines, "amount", positive=True)
        tape = _trade_rows(ts * 1000, loc * 1000, ticks, sizes, sides)
        rep.update(src.position())
        yield (tape, _narrow(c["id"])) if return_ids else tape
    _symbol_found(state, symbol, name)


def load_tardis_trades(path: str | os.PathLike, tick_size: Any, *, symbol: str | None = None,
                       unknown_side: str = "keep", return_ids: bool = False,
                       chunk_rows: int = _DEFAULT_CHUNK_ROWS, progress: Progress = None) -> Any:
    """Load a Tardis ``trades`` CSV into a tape, in file order.

    Columns ``exchange,symbol,timestamp,local_timestamp,id,side,price,amount``: timestamps in
    µs, ``side`` the taker side ``buy``/``sell``/``unknown``.

    Parameters
    ----------
    path : path-like
        The CSV, gzip-compressed or not.
    tick_size : str, float or Decimal
    symbol : str, optional
        Keep only this symbol's rows; without it the file must hold one symbol.
    unknown_side : {"keep", "drop", "raise"}
        ``unknown`` sides: kept as side 0 (consumers that need a sign, such as
        ``vpin_series(classification="aggressor")``, then reject them), dropped, or an error.
    return_ids : bool
        Also return the ``id`` column as a numpy str array aligned with the tape.
    chunk_rows : int
    progress : bool or callable

    Returns
    -------
    ndarray of TAPE_DTYPE, or (tape, ids)
        KIND_TRADE rows: ``ts_exch`` = timestamp × 1000, ``ts_local`` = local_timestamp × 1000 (ns),
        ``side`` +1 buy / -1 sell / 0 unknown, ``price_ticks``, ``size`` = amount,
        ``update_id = seq = -1``, flags BEGIN|END.

    Raises
    ------
    InvalidInputError
        As :func:`load_tardis_book`, plus ``unknown`` sides with ``unknown_side="raise"``.
    """
    return _concat(iter_tardis_trades(path, tick_size, symbol=symbol, unknown_side=unknown_side,
                                      return_ids=return_ids, chunk_rows=chunk_rows, progress=progress),
                   return_ids)


# ---- writing big tapes ---------------------------------------------------------------------------

_NPY_MAGIC = b"\x93NUMPY\x01\x00"


def _npy_header(n: int, width: int) -> bytes:
    descr = np.lib.format.dtype_to_descr(TAPE_DTYPE)
    text = "{'descr': %r, 'fortran_order': False, 'shape': (%d,), }" % (descr, n)
    text = text.ljust(width - 1) + "\n"
    return _NPY_MAGIC + struct.pack("<H", len(text)) + text.encode("latin1")


def save_tape_chunks(path: str | os.PathLike, chunks: Iterable[np.ndarray]) -> int:
    """Write tape chunks to one ``.npy`` file without holding them all in memory.

    Parameters
    ----------
    path : path-like
        Target ``.npy`` file; read it back memory-mapped with :func:`ofi.data.tape.load_tape`.
    chunks : iterable of ndarray of TAPE_DTYPE
        E.g. ``iter_bybit_orderbook(...)``. A pair ``(tape, ids)`` is not accepted.

    Returns
    -------
    int
        Rows written.

    Raises
    ------
    InvalidInputError
        A chunk that is not a 1-D TAPE_DTYPE array (the file is removed).
    """
    # The header is written with room for any row count, then rewritten with the real one;
    # magic + length + header is a multiple of 64 bytes, as numpy writes it.
    width = len(_npy_header(2**63 - 1, 0)) - len(_NPY_MAGIC) - 2
    width += (-(len(_NPY_MAGIC) + 2 + width)) % 64
    n = 0
    path = Path(path)
    try:
        with open(path, "wb") as fh:
            fh.write(_npy_header(0, width))
            for i, chunk in enumerate(chunks):
                if not isinstance(chunk, np.ndarray) or chunk.dtype != TAPE_DTYPE or chunk.ndim != 1:
                    raise InvalidInputError(
                        f"chunk {i} must be a 1-D numpy array of TAPE_DTYPE, got {type(chunk).__name__}"
                        f"{' of ' + str(chunk.dtype) if isinstance(chunk, np.ndarray) else ''}")
                fh.write(np.ascontiguousarray(chunk).tobytes())
                n += len(chunk)
            fh.seek(0)
            fh.write(_npy_header(n, width))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return n
