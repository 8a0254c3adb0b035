"""Tardis.dev downloadable CSV files loaded into tapes: the
``incremental_book_L2`` and ``trades`` files, for any exchange Tardis records.

=====================================  =======================================================
Tardis ``incremental_book_L2`` CSV     :func:`load_tardis_book` / :func:`iter_tardis_book`
Tardis ``trades`` CSV                  :func:`load_tardis_trades` / :func:`iter_tardis_trades`
=====================================  =======================================================

``iter_*`` yields tape chunks in bounded memory (each ending on a whole book message) and
``load_*`` concatenates them. Conventions (units, what is dropped, grouping of rows into messages)
are in ``docs/archives.md``.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from ofi._progress import Progress, Reporter
from ofi.data.files import (DEFAULT_CHUNK_ROWS, FLOAT, INT, INT64_MAX, STR, Prices, Source, Table,
                            check_chunk_rows, check_optional_str, check_range, check_sizes, concat_chunks,
                            iter_source, narrow_ids, side_column, trade_rows, where)
from ofi.data.tape import FLAG_BEGIN, FLAG_END, FLAG_SNAPSHOT, KIND_BOOK, empty_tape
from ofi.errors import InvalidInputError

__all__ = ["iter_tardis_book", "load_tardis_book", "iter_tardis_trades", "load_tardis_trades"]

_BOOK_COLUMNS = ("symbol", "timestamp", "local_timestamp", "is_snapshot", "side", "price", "amount")
_TRADE_COLUMNS = ("symbol", "timestamp", "local_timestamp", "id", "side", "price", "amount")


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
            f"{where(name, lines, i, 'symbol')}: {str(values[i])!r} after {first!r}; the file holds several "
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
                     chunk_rows: int = DEFAULT_CHUNK_ROWS, progress: Progress = None) -> Iterator[np.ndarray]:
    """Tape chunks of a Tardis ``incremental_book_L2`` CSV, each ending on a whole message
    (see :func:`load_tardis_book`)."""
    n = check_chunk_rows(chunk_rows)
    prices = Prices(tick_size)
    check_optional_str(symbol, "symbol")
    return iter_source(path, None, progress, lambda src, rep: _tardis_book_chunks(src, prices, symbol, n, rep))


def _tardis_book_chunks(src: Source, prices: Prices, symbol: str | None, n: int,
                        rep: Reporter) -> Iterator[np.ndarray]:
    table = Table(src, "Tardis incremental_book_L2")
    table.setup({"symbol": STR, "timestamp": INT, "local_timestamp": INT, "is_snapshot": STR, "side": STR,
                 "price": STR, "amount": FLOAT}, _BOOK_COLUMNS)
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
        check_range(ts, name, lines, "timestamp", "us", INT64_MAX // 1000)
        check_range(loc, name, lines, "local_timestamp", "us", INT64_MAX // 1000)
        snap = side_column(c["is_snapshot"], name, lines, "is_snapshot", {"true": 1, "false": 0}).astype(bool)
        side = side_column(c["side"], name, lines, "side", {"bid": 1, "ask": -1})
        ticks = prices.column(c["price"], name, lines)
        amount = check_sizes(c["amount"], name, lines, "amount", positive=False)

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
                     chunk_rows: int = DEFAULT_CHUNK_ROWS, progress: Progress = None) -> np.ndarray:
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
    return concat_chunks(iter_tardis_book(path, tick_size, symbol=symbol, chunk_rows=chunk_rows,
                                    progress=progress), False)


def iter_tardis_trades(path: str | os.PathLike, tick_size: Any, *, symbol: str | None = None,
                       unknown_side: str = "keep", return_ids: bool = False,
                       chunk_rows: int = DEFAULT_CHUNK_ROWS, progress: Progress = None) -> Iterator[Any]:
    """Tape chunks of a Tardis ``trades`` CSV (see :func:`load_tardis_trades`)."""
    n = check_chunk_rows(chunk_rows)
    if unknown_side not in ("keep", "drop", "raise"):
        raise InvalidInputError(f"unknown_side must be 'keep', 'drop' or 'raise', got {unknown_side!r}")
    prices = Prices(tick_size)
    check_optional_str(symbol, "symbol")
    return iter_source(path, None, progress, lambda src, rep: _tardis_trade_chunks(
        src, prices, symbol, unknown_side, bool(return_ids), n, rep))


def _tardis_trade_chunks(src: Source, prices: Prices, symbol: str | None, unknown_side: str, return_ids: bool,
                         n: int, rep: Reporter) -> Iterator[Any]:
    sides_map = {"buy": 1, "sell": -1}
    if unknown_side != "raise":
        sides_map["unknown"] = 0
    table = Table(src, "Tardis trades")
    kinds = {"symbol": STR, "timestamp": INT, "local_timestamp": INT, "side": STR, "price": STR,
             "amount": FLOAT}
    if return_ids:
        kinds["id"] = STR
    table.setup(kinds, _TRADE_COLUMNS)
    name = src.name
    state: dict = {}
    for c, lines in table.chunks(n):
        c, lines = _select(c, lines, _tardis_symbols(c["symbol"], symbol, state, name, lines))
        if not len(lines):
            continue
        sides = side_column(c["side"], name, lines, "side", sides_map)
        if unknown_side == "drop" and not sides.all():
            keep = sides != 0
            c, lines = _select(c, lines, keep)
            sides = sides[keep]
            if not len(lines):
                continue
        ts, loc = c["timestamp"], c["local_timestamp"]
        check_range(ts, name, lines, "timestamp", "us", INT64_MAX // 1000)
        check_range(loc, name, lines, "local_timestamp", "us", INT64_MAX // 1000)
        ticks = prices.column(c["price"], name, lines)
        sizes = check_sizes(c["amount"], name, lines, "amount", positive=True)
        tape = trade_rows(ts * 1000, loc * 1000, ticks, sizes, sides)
        rep.update(src.position())
        yield (tape, narrow_ids(c["id"])) if return_ids else tape
    _symbol_found(state, symbol, name)


def load_tardis_trades(path: str | os.PathLike, tick_size: Any, *, symbol: str | None = None,
                       unknown_side: str = "keep", return_ids: bool = False,
                       chunk_rows: int = DEFAULT_CHUNK_ROWS, progress: Progress = None) -> Any:
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
    return concat_chunks(iter_tardis_trades(path, tick_size, symbol=symbol, unknown_side=unknown_side,
                                      return_ids=return_ids, chunk_rows=chunk_rows, progress=progress),
                   return_ids)

