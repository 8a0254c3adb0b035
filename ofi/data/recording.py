"""Raw recordings: every websocket frame as received, with its local receive time.

A recording is a directory of gzip-compressed JSON-lines files, one per symbol and UTC hour
of the local receive time::

    {directory}/{symbol}/{YYYY-MM-DD}/{symbol}_{YYYY-MM-DDTHH}.jsonl.gz
    {directory}/{symbol}/{YYYY-MM-DD}/{symbol}_{YYYY-MM-DDTHH}.{n}.jsonl.gz   (n = 1, 2, ...)

A ``.{n}`` part is opened instead of appending when the hour's file already exists (a
restarted recorder), so a file cut by a crash is never extended. Each file starts with a
header line ``{"format":"ofi-recording","version":1,"symbol":...,"hour":...}``; every other
line is one frame::

    {"ts_local":1700000000123456789,"raw":"{\\"topic\\":\\"orderbook.50.BTCUSDT\\",...}"}
    {"ts_local":1700000000123456790,"raw":"...","bytes":true}

``raw`` is the frame text, JSON-escaped to ASCII, so any ``str`` round-trips exactly. A frame
received as ``bytes`` is decoded as UTF-8 with ``surrogateescape`` and marked ``"bytes":true``:
reading it back gives the identical bytes, even if they were not valid UTF-8.

The writer flushes the compressor with ``Z_SYNC_FLUSH`` every ``flush_every`` frames, every
``flush_interval_s`` seconds and on close, so a process killed mid-write leaves every flushed
frame readable: the reader yields every complete line of a cut file, then reports the cut
(:class:`TruncatedRecordingWarning` and :attr:`RecordingReader.truncated`), never raising. A
line that is complete but not a valid frame is corruption, and raises
:class:`ofi.errors.InvalidInputError` naming the file and the line.
"""
from __future__ import annotations

import gzip
import heapq
import json
import os
import re
import time
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

from ofi._core.decoder import frame_symbol_rule
from ofi.errors import InvalidInputError, OfiWarning
from ofi.validation import is_symbol, json_loads

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "RecordedFrame",
    "RecordingReader",
    "RecordingWriter",
    "TruncatedRecordingWarning",
    "Truncation",
    "read_recording",
    "recording_path",
]

FORMAT_NAME = "ofi-recording"
FORMAT_VERSION = 1
CONTROL_SYMBOL = "_control"  # frames without a topic (pongs, subscribe replies) when symbol=None

_NS_PER_HOUR = 3_600_000_000_000
_FILE_RE = re.compile(r"^(?P<symbol>.+)_(?P<hour>\d{4}-\d\d-\d\dT\d\d)(?:\.(?P<part>\d+))?\.jsonl\.gz$")
_READ_CHUNK = 1 << 16


class TruncatedRecordingWarning(OfiWarning):
    """A recording file ends mid-stream (its writer was killed or is still writing).

    Every complete frame before the cut was yielded; the rest of the file is lost.
    """


class RecordedFrame(NamedTuple):
    """One recorded frame.

    Attributes
    ----------
    ts_local : int
        Local receive time, ns since the epoch.
    raw : str or bytes
        The frame exactly as it was given to :meth:`RecordingWriter.write` (``bytes`` for a
        frame received as bytes, bytearray or memoryview).
    """

    ts_local: int
    raw: str | bytes


@dataclass(frozen=True, slots=True)
class Truncation:
    """Where a recording file was cut.

    Attributes
    ----------
    path : Path
        The file.
    frames : int
        Complete frames read from it before the cut.
    partial_bytes : int
        Decompressed bytes of an incomplete last line that were dropped (0 if the cut fell
        between lines).
    """

    path: Path
    frames: int
    partial_bytes: int


def _hour_label(hour: int) -> str:
    return datetime.fromtimestamp(hour * 3600, tz=timezone.utc).strftime("%Y-%m-%dT%H")


def recording_path(directory: str | os.PathLike[str], symbol: str, ts_local_ns: int, part: int = 0) -> Path:
    """Path of the file holding ``symbol``'s frames received in the UTC hour of ``ts_local_ns``.

    Parameters
    ----------
    directory : path-like
        Root of the recording.
    symbol : str
        Symbol (subdirectory and file prefix).
    ts_local_ns : int
        Any local receive time in the hour, ns since the epoch.
    part : int
        0 for the hour's first file, n >= 1 for the ``.{n}`` parts a restarted writer opens.
    """
    label = _hour_label(ts_local_ns // _NS_PER_HOUR)
    suffix = f".{part}" if part else ""
    return Path(directory) / symbol / label[:10] / f"{symbol}_{label}{suffix}.jsonl.gz"


class _OpenFile:
    __slots__ = ("hour", "path", "gz", "lines", "count")

    def __init__(self, hour: int, path: Path, gz: gzip.GzipFile) -> None:
        self.hour = hour
        self.path = path
        self.gz = gz
        self.lines: list[str] = []
        self.count = 0


class RecordingWriter:
    """Append raw frames to a recording, one gzip JSON-lines file per symbol and hour.

    Parameters
    ----------
    directory : path-like
        Root directory; created if missing.
    symbol : str, optional
        Symbol every frame is filed under. None: each frame goes to the symbol of its
        ``topic`` (``orderbook.50.BTCUSDT`` -> ``BTCUSDT``); frames without a topic (pongs,
        subscribe replies) go to ``_control``.
    flush_every : int, keyword-only
        Frames between two ``Z_SYNC_FLUSH`` flushes (per file). A killed process loses at
        most the frames since the last flush.
    flush_interval_s : float or None, keyword-only
        Also flush when this much wall time passed since the last flush (checked on write);
        None disables it.
    compresslevel : int, keyword-only
        zlib level 1-9.

    Raises
    ------
    InvalidInputError
        If an argument is invalid.

    Examples
    --------
    >>> with RecordingWriter(tmp_dir, "BTCUSDT") as w:          # doctest: +SKIP
    ...     w.write(raw_frame, time.time_ns())
    >>> for ts_local, raw in read_recording(tmp_dir):          # doctest: +SKIP
    ...     book.apply_frame(raw, ts_local)
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        symbol: str | None = None,
        *,
        flush_every: int = 100,
        flush_interval_s: float | None = 1.0,
        compresslevel: int = 6,
    ) -> None:
        if not isinstance(directory, (str, os.PathLike)):
            raise InvalidInputError(f"directory must be a path, got {directory!r}")
        if symbol is not None and not is_symbol(symbol):
            raise InvalidInputError(
                f"symbol must be None or letters, digits, '-' and '_' (a path component), got {symbol!r}"
            )
        if isinstance(flush_every, bool) or not isinstance(flush_every, int) or flush_every < 1:
            raise InvalidInputError(f"flush_every must be an int >= 1, got {flush_every!r}")
        if flush_interval_s is not None:
            if isinstance(flush_interval_s, bool) or not isinstance(flush_interval_s, (int, float)) or not (
                flush_interval_s >= 0 and flush_interval_s != float("inf")
            ):
                raise InvalidInputError(
                    f"flush_interval_s must be None or a finite number >= 0, got {flush_interval_s!r}"
                )
        if isinstance(compresslevel, bool) or not isinstance(compresslevel, int) or not 1 <= compresslevel <= 9:
            raise InvalidInputError(f"compresslevel must be an int in 1..9, got {compresslevel!r}")
        self._dir = Path(directory)
        self._dir.mkdir(parents=True, exist_ok=True)
        self._symbol = symbol
        self._symbol_of = frame_symbol_rule()       # which symbol a frame belongs to: the default venue's rule
        self._flush_every = flush_every
        self._flush_interval = flush_interval_s
        self._level = compresslevel
        self._files: dict[str, _OpenFile] = {}
        self._paths: list[Path] = []
        self._written = 0
        self._flushed = 0
        self._last_flush = time.monotonic()
        self._closed = False

    # -------------------------------------------------------------- properties
    @property
    def directory(self) -> Path:
        """Root directory of the recording."""
        return self._dir

    @property
    def paths(self) -> list[Path]:
        """Every file this writer opened, in opening order."""
        return list(self._paths)

    @property
    def frames_written(self) -> int:
        """Frames passed to :meth:`write`."""
        return self._written

    @property
    def frames_flushed(self) -> int:
        """Frames already flushed to the files: they survive a kill of this process."""
        return self._flushed

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    # ----------------------------------------------------------------- writing
    def write(self, raw: str | bytes | bytearray | memoryview, ts_local_ns: int) -> None:
        """Record one frame.

        Parameters
        ----------
        raw : str, bytes, bytearray or memoryview
            The frame exactly as received. It is read back as ``str`` if given as ``str``,
            else as ``bytes``.
        ts_local_ns : int
            Local receive time, ns since the epoch (e.g. ``time.time_ns()``); chooses the
            hour file.

        Raises
        ------
        InvalidInputError
            If ``raw`` or ``ts_local_ns`` has the wrong type or range, or the writer is closed.
        """
        if self._closed:
            raise InvalidInputError("write() on a closed RecordingWriter")
        if isinstance(ts_local_ns, bool) or not hasattr(ts_local_ns, "__index__"):
            raise InvalidInputError(f"ts_local_ns must be an int (ns since the epoch), got {ts_local_ns!r}")
        ts = ts_local_ns.__index__()
        if ts < 0:
            raise InvalidInputError(f"ts_local_ns must be >= 0, got {ts_local_ns!r}")
        if isinstance(raw, str):
            text = raw
            line = '{"ts_local":%d,"raw":%s}\n' % (ts, encode_basestring_ascii(text))
        elif isinstance(raw, (bytes, bytearray, memoryview)):
            text = bytes(raw).decode("utf-8", "surrogateescape")
            line = '{"ts_local":%d,"raw":%s,"bytes":true}\n' % (ts, encode_basestring_ascii(text))
        else:
            raise InvalidInputError(f"raw must be str, bytes, bytearray or memoryview, got {type(raw).__name__}")
        symbol = self._symbol if self._symbol is not None else (self._symbol_of(text) or CONTROL_SYMBOL)
        hour = ts // _NS_PER_HOUR
        f = self._files.get(symbol)
        if f is None or f.hour != hour:
            if f is not None:
                self._close_file(f)
            f = self._files[symbol] = self._open(symbol, hour, ts)
        f.lines.append(line)
        self._written += 1
        if len(f.lines) >= self._flush_every:
            self._flush_file(f)
        elif self._flush_interval is not None and time.monotonic() - self._last_flush >= self._flush_interval:
            self.flush()

    def flush(self) -> None:
        """Write every buffered frame and ``Z_SYNC_FLUSH`` each open file."""
        for f in self._files.values():
            self._flush_file(f)
        self._last_flush = time.monotonic()

    def close(self) -> None:
        """Flush and finish every file (gzip trailer). Idempotent."""
        if self._closed:
            return
        self._closed = True
        errors: list[BaseException] = []
        for f in self._files.values():
            try:
                self._close_file(f)
            except OSError as exc:  # close the others anyway
                errors.append(exc)
        self._files.clear()
        if errors:
            raise errors[0]

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._files)} open"
        return f"RecordingWriter({str(self._dir)!r}, symbol={self._symbol!r}, {self._written} frames, {state})"

    # ---------------------------------------------------------------- internals
    def _open(self, symbol: str, hour: int, ts: int) -> _OpenFile:
        part = 0
        while True:
            path = recording_path(self._dir, symbol, ts, part)
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fh = open(path, "xb")  # never append to (or clobber) an existing, maybe cut, file
            except FileExistsError:
                part += 1
                continue
            break
        gz = gzip.GzipFile(filename=path.name, mode="wb", compresslevel=self._level, fileobj=fh, mtime=0)
        header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "symbol": symbol, "hour": _hour_label(hour)}
        gz.write((json.dumps(header, separators=(",", ":")) + "\n").encode("ascii"))
        gz.flush(zlib.Z_SYNC_FLUSH)  # the header reaches the disk at once: an empty file means a kill at open
        self._paths.append(path)
        return _OpenFile(hour, path, gz)

    def _flush_file(self, f: _OpenFile) -> None:
        if f.lines:
            n = len(f.lines)
            f.gz.write("".join(f.lines).encode("ascii"))
            f.lines.clear()
            f.count += n
            f.gz.flush(zlib.Z_SYNC_FLUSH)  # also flushes the file object to the OS
            self._flushed += n

    def _close_file(self, f: _OpenFile) -> None:
        self._flush_file(f)
        fh = f.gz.fileobj
        f.gz.close()  # writes the trailer; does not close a fileobj it did not open
        if fh is not None:
            fh.close()


# ---------------------------------------------------------------------- reading
def _discover(root: Path) -> list[list[Path]]:
    """Files of a recording directory, grouped by symbol, each group in (hour, part) order."""
    groups: dict[str, list[tuple[str, int, str, Path]]] = {}
    for p in root.rglob("*.jsonl.gz"):
        if not p.is_file():
            continue
        m = _FILE_RE.match(p.name)
        if m:
            key = (m.group("symbol"), m.group("hour"), int(m.group("part") or 0), p.name)
        else:
            key = (p.stem, "", 0, p.name)
        groups.setdefault(key[0], []).append((key[1], key[2], key[3], p))
    return [[p for *_k, p in sorted(items)] for _sym, items in sorted(groups.items())]


class RecordingReader:
    """Iterator over the frames of a recording file or directory, in local-time order.

    Parameters
    ----------
    path : path-like
        One ``.jsonl.gz`` file, or a recording directory (searched recursively). Files of one
        symbol are read in (hour, part) order; symbols are merged by ``ts_local`` (ties keep
        symbol-name order). Within a file frames come in the order they were written.
    warn : bool, keyword-only
        Emit a :class:`TruncatedRecordingWarning` for each cut file (default True).

    Attributes
    ----------
    files : list of Path
        The files read, grouped by symbol.
    truncated : list of Truncation
        Cut files found so far (complete once iteration ends).
    frames_read : int
        Frames yielded so far.

    Raises
    ------
    InvalidInputError
        If ``path`` does not exist, or (during iteration) a file holds a complete line that
        is not a frame, or compressed data that is corrupt (not merely cut).
    """

    def __init__(self, path: str | os.PathLike[str], *, warn: bool = True) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise InvalidInputError(f"path must be a file or directory path, got {path!r}")
        p = Path(path)
        if p.is_dir():
            groups = _discover(p)
        elif p.is_file():
            groups = [[p]]
        else:
            raise InvalidInputError(f"path {str(p)!r} is neither a recording file nor a directory")
        self.path = p
        self.files: list[Path] = [f for g in groups for f in g]
        self.truncated: list[Truncation] = []
        self.frames_read = 0
        self._warn = warn
        streams = [self._read_group(g) for g in groups]
        if len(streams) == 1:
            self._it: Iterator[RecordedFrame] = streams[0]
        else:
            self._it = heapq.merge(*streams, key=lambda fr: fr.ts_local)

    def __iter__(self) -> RecordingReader:
        return self

    def __next__(self) -> RecordedFrame:
        fr = next(self._it)
        self.frames_read += 1
        return fr

    @property
    def is_truncated(self) -> bool:
        """True if a cut file was met so far."""
        return bool(self.truncated)

    def __repr__(self) -> str:
        return (
            f"RecordingReader({str(self.path)!r}, files={len(self.files)}, frames_read={self.frames_read}, "
            f"truncated={len(self.truncated)})"
        )

    def _read_group(self, paths: list[Path]) -> Iterator[RecordedFrame]:
        for p in paths:
            yield from self._read_file(p)

    def _read_file(self, path: Path) -> Iterator[RecordedFrame]:
        d = zlib.decompressobj(zlib.MAX_WBITS | 16)
        fed = False  # bytes given to the current gzip member's decompressor
        carry = b""
        lineno = 0
        frames = 0
        offset = 0
        with open(path, "rb") as fh:
            while True:
                data = fh.read(_READ_CHUNK)
                if not data:
                    break
                while data:
                    try:
                        out = d.decompress(data)
                    except zlib.error as exc:
                        raise InvalidInputError(
                            f"{path}: corrupt gzip data in bytes {offset}..{offset + len(data)}: {exc}"
                        ) from None
                    fed = True
                    if out:
                        lines = (carry + out).split(b"\n")
                        carry = lines.pop()
                        for line in lines:
                            lineno += 1
                            fr = _parse_line(line, path, lineno)
                            if fr is not None:
                                frames += 1
                                yield fr
                    if d.eof:  # end of a gzip member; another may follow
                        rest = d.unused_data
                        offset += len(data) - len(rest)
                        data = rest
                        d = zlib.decompressobj(zlib.MAX_WBITS | 16)
                        fed = False
                    else:
                        offset += len(data)
                        data = b""
        complete = not fed and offset > 0
        if complete:
            if carry:  # a last line without newline in a finished stream: take it if it parses
                fr = _parse_line(carry, path, lineno + 1)
                if fr is not None:
                    yield fr
            return
        cut = Truncation(path, frames, len(carry))
        self.truncated.append(cut)
        if self._warn:
            what = f"{len(carry)} bytes of a partial line dropped" if carry else "cut between lines"
            warnings.warn(
                TruncatedRecordingWarning(
                    f"{path} is cut off after {frames} complete frames ({what}); "
                    "its writer was killed or is still writing"
                ),
                stacklevel=3,
            )


def _parse_line(line: bytes, path: Path, lineno: int) -> RecordedFrame | None:
    """One frame of a line; None for the header or a blank line."""
    if not line.strip():
        return None
    try:
        obj = json_loads(line)          # deep nesting is a ValueError too, not a RecursionError
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        raise InvalidInputError(
            f"{path}, line {lineno}: not a recorded frame (expected a JSON object with ts_local and raw): "
            f"{line[:120]!r}"
        )
    ts = obj.get("ts_local")
    raw = obj.get("raw")
    if ts is None and obj.get("format") == FORMAT_NAME:
        version = obj.get("version")
        if version != FORMAT_VERSION:
            raise InvalidInputError(
                f"{path}, line {lineno}: recording format version {version!r} is not supported "
                f"(this ofi reads version {FORMAT_VERSION})"
            )
        return None
    if isinstance(ts, bool) or not isinstance(ts, int) or not isinstance(raw, str):
        raise InvalidInputError(
            f"{path}, line {lineno}: expected ts_local (int) and raw (string): {line[:120]!r}"
        )
    if obj.get("bytes") is True:
        return RecordedFrame(ts, raw.encode("utf-8", "surrogateescape"))
    return RecordedFrame(ts, raw)


def read_recording(path: str | os.PathLike[str], *, warn: bool = True) -> RecordingReader:
    """Read a recording file or directory; see :class:`RecordingReader`.

    Returns
    -------
    RecordingReader
        An iterator of :class:`RecordedFrame` ``(ts_local, raw)``; after iteration its
        ``truncated`` list names any file that was cut off.

    Examples
    --------
    >>> reader = read_recording("rec/")                          # doctest: +SKIP
    >>> for ts_local, raw in reader:                             # doctest: +SKIP
    ...     book.apply_frame(raw, ts_local)
    >>> reader.truncated                                         # doctest: +SKIP
    []
    """
    return RecordingReader(path, warn=warn)
