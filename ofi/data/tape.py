"""The tape: normalised market events as a numpy structured array.

One row per level change of a book message or per trade, with exchange and local times (ns),
kind, side, price in ticks, size, update id, cross sequence and flags. Tapes are built from raw
frames, saved as ``.npy`` (memory-mappable), optionally converted to Parquet, and replayed through
the same book kernel as live frames. :func:`save_tape_chunks` writes a tape too big for memory
chunk by chunk.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ofi._core.book import OrderBook
from ofi._core.decoder import default_decoder
from ofi._core.events import (
    TAPE_DTYPE,
    TAPE_FLAG_BEGIN as FLAG_BEGIN,
    TAPE_FLAG_BLOCK as FLAG_BLOCK,
    TAPE_FLAG_END as FLAG_END,
    TAPE_FLAG_RPI as FLAG_RPI,
    TAPE_FLAG_SNAPSHOT as FLAG_SNAPSHOT,
    TAPE_KIND_BOOK as KIND_BOOK,
    TAPE_KIND_TRADE as KIND_TRADE,
)
from ofi._core.replay import TOB_DTYPE, replay_tape_into
from ofi.errors import InvalidInputError
from ofi.validation import check_tape as _check_tape

__all__ = [
    "TAPE_DTYPE", "TOB_DTYPE", "KIND_BOOK", "KIND_TRADE", "FLAG_SNAPSHOT", "FLAG_BEGIN", "FLAG_END",
    "FLAG_BLOCK", "FLAG_RPI", "frames_to_tape", "message_starts", "replay_tape", "save_tape", "load_tape", "to_parquet",
    "empty_tape", "save_tape_chunks",
]


def empty_tape(n: int = 0) -> np.ndarray:
    """A zero-filled tape of n rows."""
    return np.zeros(n, dtype=TAPE_DTYPE)


def frames_to_tape(frames: Iterable[Any], tick_size: Any, *, symbol: str | None = None) -> np.ndarray:
    """Convert raw frames of one instrument to a tape (Bybit V5 frames: the default decoder).

    Parameters
    ----------
    frames : iterable
        Raw frames (str/bytes), ``(ts_local_ns, raw)`` pairs, or objects with ``ts_local`` and ``raw``
        attributes (recorded or simulated frames).
    tick_size : str, float or Decimal
        The instrument's tick size.
    symbol : str, optional
        If given, book frames for another symbol are an error.

    Returns
    -------
    ndarray of TAPE_DTYPE
        Book messages become runs of KIND_BOOK rows (FLAG_BEGIN on the first, FLAG_END on the last,
        FLAG_SNAPSHOT on all rows of a snapshot); a message without levels becomes one row with
        side 0. Trades become KIND_TRADE rows. Control frames are skipped.

    Raises
    ------
    InvalidInputError
        A malformed frame or unsupported topic; the message names the frame's index.
    """
    return default_decoder(tick_size).to_tape(frames, symbol=symbol)


def replay_tape(tape: np.ndarray, tick_size: Any = None, *, book: OrderBook | None = None,
                symbol: str = "UNKNOWN", on_gap: str = "raise") -> np.ndarray:
    """Apply every book message of a tape to a book in one compiled loop.

    Parameters
    ----------
    tape : ndarray of TAPE_DTYPE
    tick_size : optional
        Tick size for a new book (ignored when ``book`` is given).
    book : OrderBook, optional
        Book to update in place (e.g. to continue a live book); a new one by default.
    on_gap : {"raise", "skip"}
        "raise": a gap, stale delta or crossed book raises (the error names the tape row).
        "skip": such messages are recorded with status -1 and NaN sizes, and replay goes on;
        the book recovers at the next snapshot.

    Returns
    -------
    ndarray of TOB_DTYPE
        One row per book message: ts_exch, ts_local, update_id, bid_ticks, bid_size, ask_ticks,
        ask_size, status (1 applied, 0 duplicate ignored, -1 rejected). An empty or stale side has
        size NaN and ticks -1.
    """
    tape = _check_tape(tape)
    if on_gap not in ("raise", "skip"):
        raise InvalidInputError(f"on_gap must be 'raise' or 'skip', got {on_gap!r}")
    if book is None:
        if tick_size is None:
            raise InvalidInputError("replay_tape needs tick_size=... or book=...")
        book = OrderBook(symbol, tick_size)
    elif not isinstance(book, OrderBook):
        raise InvalidInputError(f"book must be an OrderBook, got {type(book).__name__}")
    return replay_tape_into(book, tape, on_gap == "skip")


def message_starts(tape: np.ndarray) -> np.ndarray:
    """Row indices where the tape's book messages begin (for ``OrderBook.apply_tape`` loops)."""
    tape = _check_tape(tape)
    return np.flatnonzero((tape["kind"] == KIND_BOOK) & ((tape["flags"] & FLAG_BEGIN) != 0))


def save_tape(path: str | os.PathLike, tape: np.ndarray) -> None:
    """Save a tape as ``.npy`` (load it back memory-mapped with :func:`load_tape`)."""
    np.save(path, _check_tape(tape), allow_pickle=False)


def load_tape(path: str | os.PathLike, mmap: bool = True) -> np.ndarray:
    """Load a ``.npy`` tape, memory-mapped by default."""
    arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    if arr.dtype != TAPE_DTYPE:
        raise InvalidInputError(f"{os.fspath(path)} does not hold a tape (dtype {arr.dtype})")
    return arr


def to_parquet(tape: np.ndarray, path: str | os.PathLike) -> None:
    """Write a tape to Parquet (needs the ``parquet`` extra: pyarrow)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ImportError("to_parquet needs pyarrow: pip install 'order-flow-imbalance[parquet]'") from None
    tape = _check_tape(tape)
    table = pa.table({name: tape[name] for name in TAPE_DTYPE.names if not name.startswith("_")})
    pq.write_table(table, path)


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
        Target ``.npy`` file; read it back memory-mapped with :func:`load_tape`.
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
