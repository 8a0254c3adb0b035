"""Bybit's public historical archives: their addresses, the download, and their loaders.

=====================================  =======================================================
Bybit trades ``{SYM}{date}.csv.gz``    :func:`load_bybit_trades` / :func:`iter_bybit_trades`
Bybit order book ``*_ob200.data.zip``  :func:`load_bybit_orderbook` / :func:`iter_bybit_orderbook`
=====================================  =======================================================

Every loader streams its file (plain, gzip or a one-member zip, detected from the first bytes,
not the name; ``ofi.data.files``) in chunks: ``iter_*`` yields tape chunks in bounded memory,
each ending on a whole book message, and ``load_*`` concatenates them. :func:`download` fetches
the public files; :func:`bybit_trades_url` and :func:`bybit_orderbook_url` build their addresses.
Conventions (units, what is dropped, sorting) are in ``docs/archives.md``.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import date as _date, datetime as _datetime
from pathlib import Path
from typing import Any

import numpy as np

from ofi.venues.bybit._decode import BybitDecoder
from ofi._progress import Progress, Reporter
from ofi.data.download import download_file, is_http_url
from ofi.data.files import (DEFAULT_CHUNK_LINES, DEFAULT_CHUNK_ROWS, FLOAT, INT, INT64_MAX, READ_ERRORS, STR,
                            Prices, Source, Table, check_chunk_rows, check_optional_str, check_range,
                            check_sizes, concat_chunks, iter_source, narrow_ids, seconds_column, side_column,
                            trade_rows, where)
from ofi.data.tape import FLAG_RPI
from ofi.errors import InvalidInputError
from ofi.venues.bybit.symbols import is_bybit_symbol

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
]

BYBIT_TRADES_BASE_URL = "https://public.bybit.com"
BYBIT_ORDERBOOK_BASE_URL = "https://quote-saver.bycsi.com"

_FRAME_ERR_RE = re.compile(r"^frame (\d+): (.*)$", re.S)
_DERIV_COLUMNS = ("timestamp", "symbol", "side", "size", "price")
_SPOT_COLUMNS = ("id", "timestamp", "price", "volume", "side")


# ---- addresses and download ----------------------------------------------------------------------

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
    if not is_bybit_symbol(value):
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
    """Download one file (streamed to disk, with progress): a URL or one of Bybit's public archives.

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
    progress, overwrite, timeout, chunk_size, session :
        As :func:`ofi.data.download.download_file` (``session``: a ``requests.Session`` reused
        over many days).

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
    elif is_http_url(source):
        url = source
    else:
        raise InvalidInputError(f"source must be an http(s) URL or 'trades'/'orderbook', got {source!r}")
    return download_file(url, dest, progress=progress, overwrite=overwrite, timeout=timeout,
                         chunk_size=chunk_size, session=session)


# ---- trades --------------------------------------------------------------------------------------

def _symbols_check(values: np.ndarray, expected: str | None, name: str, lines: np.ndarray) -> str:
    want = str(values[0]) if expected is None else expected
    bad = values != want
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        hint = "" if expected is not None else " (the file's first symbol; a tape holds one instrument)"
        raise InvalidInputError(f"{where(name, lines, i, 'symbol')}: {str(values[i])!r} is not {want!r}{hint}")
    return want


def iter_bybit_trades(path: str | os.PathLike, tick_size: Any, *, symbol: str | None = None,
                      return_ids: bool = False, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                      progress: Progress = None) -> Iterator[Any]:
    """Tape chunks of a Bybit public trades CSV, in file order (see :func:`load_bybit_trades`).

    Yields
    ------
    ndarray of TAPE_DTYPE, or (tape, ids) with ``return_ids=True``
        At most ``chunk_rows`` trades each. Not sorted: use :func:`load_bybit_trades` for time order.
    """
    n = check_chunk_rows(chunk_rows)
    prices = Prices(tick_size)
    if symbol is not None:
        _symbol(symbol)
    return iter_source(path, None, progress,
                       lambda src, rep: _bybit_trade_chunks(src, prices, symbol, bool(return_ids), n, rep))


def _bybit_trade_chunks(src: Source, prices: Prices, symbol: str | None, return_ids: bool, n: int,
                        rep: Reporter) -> Iterator[Any]:
    table = Table(src, "Bybit trades")
    cols = table.col
    if all(c in cols for c in _DERIV_COLUMNS):
        spot = False
        id_col = "trdMatchID"
        kinds = {"timestamp": STR, "symbol": STR, "side": STR, "size": FLOAT, "price": STR}
    elif all(c in cols for c in _SPOT_COLUMNS):
        spot = True
        id_col = "id"
        kinds = {"timestamp": INT, "side": STR, "volume": FLOAT, "price": STR, "rpi": STR}
    else:
        raise InvalidInputError(
            f"{src.name}, line 1: not a Bybit trades header; expected "
            f"'timestamp,symbol,side,size,price,tickDirection,trdMatchID,...' (derivatives) or "
            f"'id,timestamp,price,volume,side[,rpi]' (spot), got {','.join(table.header[:12])!r}")
    if return_ids:
        kinds[id_col] = STR
    table.setup(kinds, ())
    name = src.name
    want = symbol
    for c, lines in table.chunks(n):
        if spot:
            ts = c["timestamp"]
            check_range(ts, name, lines, "timestamp", "ms", INT64_MAX // 1_000_000)
            ts = ts * 1_000_000
            sizes = check_sizes(c["volume"], name, lines, "volume", positive=True)
            sides = side_column(c["side"], name, lines, "side", {"buy": 1, "sell": -1, "Buy": 1, "Sell": -1})
            flags: Any = 0
            if "rpi" in c:
                rpi = c["rpi"]
                flags = np.where((rpi == "1") | (rpi == "true") | (rpi == "True"), FLAG_RPI, 0).astype(np.uint16)
        else:
            want = _symbols_check(c["symbol"], want, name, lines)
            ts = seconds_column(c["timestamp"], name, lines, "timestamp")
            sizes = check_sizes(c["size"], name, lines, "size", positive=True)
            sides = side_column(c["side"], name, lines, "side", {"Buy": 1, "Sell": -1})
            flags = 0
        ticks = prices.column(c["price"], name, lines)
        tape = trade_rows(ts, ts, ticks, sizes, sides, flags)
        rep.update(src.position())
        yield (tape, narrow_ids(c[id_col])) if return_ids else tape


def load_bybit_trades(path: str | os.PathLike, tick_size: Any, *, symbol: str | None = None,
                      sort: bool = True, return_ids: bool = False, chunk_rows: int = DEFAULT_CHUNK_ROWS,
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
    out = concat_chunks(iter_bybit_trades(path, tick_size, symbol=symbol, return_ids=return_ids,
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



# ---- order-book archives -------------------------------------------------------------------------

def iter_bybit_orderbook(path: str | os.PathLike, tick_size: Any, *, symbol: str | None = None,
                         member: str | None = None, chunk_lines: int = DEFAULT_CHUNK_LINES,
                         progress: Progress = None) -> Iterator[np.ndarray]:
    """Tape chunks of a Bybit order-book archive, each ending on a whole message
    (see :func:`load_bybit_orderbook`)."""
    n = check_chunk_rows(chunk_lines, "chunk_lines")
    decoder = BybitDecoder(tick_size)
    check_optional_str(symbol, "symbol")
    check_optional_str(member, "member")
    return iter_source(path, member, progress, lambda src, rep: _orderbook_chunks(src, decoder, symbol, n, rep))


def _orderbook_chunks(src: Source, decoder: BybitDecoder, symbol: str | None, n: int,
                      rep: Reporter) -> Iterator[np.ndarray]:
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
    except READ_ERRORS as exc:
        raise InvalidInputError(f"{src.name}, line {lineno + 1}: file is truncated or corrupt ({exc})") from None
    if batch:
        tape = _frames_chunk(decoder, batch, linenos, symbol, src.name)
        rep.update(src.position())
        if len(tape):
            yield tape


def _frames_chunk(decoder: BybitDecoder, batch: list[bytes], linenos: list[int], symbol: str | None,
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
                         member: str | None = None, chunk_lines: int = DEFAULT_CHUNK_LINES,
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
    return concat_chunks(iter_bybit_orderbook(path, tick_size, symbol=symbol, member=member,
                                        chunk_lines=chunk_lines, progress=progress), False)
