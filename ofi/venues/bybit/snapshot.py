"""Bybit's REST order-book snapshot (``GET /v5/market/orderbook``) as an OrderBook.

The REST response shape is Bybit's: ``{"retCode", "retMsg", "result": {"s", "b", "a", "u", "ts",
"seq", "cts"}}`` with levels as ``["price", "size"]`` decimal strings. The book it builds is the
core's, bound to Bybit's frame decoder, so that websocket deltas continue it.
"""
from __future__ import annotations

import reprlib
from typing import Any

import numpy as np

from ofi._core.book import OrderBook
from ofi.errors import ExchangeError, InvalidInputError
from ofi.spec import InstrumentSpec
from ofi.validation import JSONLimitError, json_loads
from ofi.venues.bybit._decode import BybitDecoder, decoder_for

__all__ = ["book_from_rest"]

_ENDPOINT = "/v5/market/orderbook"

#: The largest response accepted, in bytes. Bybit's largest book response (``/v5/market/full_orderbook``,
#: up to 10,000 levels a side, ~40 bytes a level) is under 1 MiB.
MAX_PAYLOAD_BYTES = 16 * 2**20


def book_from_rest(payload: dict | str | bytes, tick_size: Any = None, *, spec: InstrumentSpec | None = None,
                   symbol: str | None = None) -> OrderBook:
    """Build a book from a ``GET /v5/market/orderbook`` (or ``/v5/market/full_orderbook``) response.

    Parameters
    ----------
    payload : dict, str or bytes
        The whole response envelope or its ``result`` object.
    tick_size, spec : see :class:`ofi.OrderBook`.
    symbol : str, optional
        Expected symbol (default: the response's ``s``).

    Returns
    -------
    OrderBook
        Holding the snapshot (``update_id`` = ``u``, ``seq``, ``ts_exch`` and ``cts`` in ns), bound to
        Bybit's frame decoder so that ``apply_frame`` continues it with websocket deltas.

    Raises
    ------
    ExchangeError
        The envelope carries a non-zero ``retCode``.
    InvalidInputError
        Missing fields, malformed levels, prices off the grid; a payload larger than
        ``MAX_PAYLOAD_BYTES`` or nested too deeply to parse.
    """
    # Values from the payload appear in messages through reprlib.repr: bounded in length and depth.
    if isinstance(payload, (str, bytes, bytearray)):
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise InvalidInputError(f"payload is {len(payload)} bytes, more than MAX_PAYLOAD_BYTES="
                                    f"{MAX_PAYLOAD_BYTES}: not an order-book response")
        try:
            payload = json_loads(payload)
        except JSONLimitError as exc:
            raise InvalidInputError(f"payload is not an order-book response: {exc}") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"payload is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InvalidInputError(f"payload must be a dict (the REST response), got {type(payload).__name__}")
    result = payload
    if "retCode" in payload:
        if payload.get("retCode") != 0:
            raise ExchangeError(
                f"Bybit error {reprlib.repr(payload.get('retCode'))}: {reprlib.repr(payload.get('retMsg'))} "
                f"({_ENDPOINT})",
                ret_code=payload.get("retCode"), ret_msg=payload.get("retMsg"), endpoint=_ENDPOINT)
        result = payload.get("result")
    if not isinstance(result, dict):
        raise InvalidInputError("payload has no 'result' object")
    for key in ("s", "b", "a"):
        if key not in result:
            raise InvalidInputError(f"orderbook result lacks field {key!r}")
    s = result["s"]
    if not isinstance(s, str):
        raise InvalidInputError(f"result.s must be the symbol, a string; got {reprlib.repr(s)}")
    if symbol is not None and s != symbol:
        raise InvalidInputError(f"response symbol {s!r} is not the requested {symbol!r}")
    book = OrderBook(symbol or s, tick_size, spec=spec, decoder=BybitDecoder)
    dec = decoder_for(book.spec.tick_size)
    levels = {}
    for side_key in ("b", "a"):
        rows = result[side_key]
        if not isinstance(rows, list):
            raise InvalidInputError(f"result.{side_key} must be a list of [price, size] pairs")
        ticks = np.empty(len(rows), dtype=np.int64)
        sizes = np.empty(len(rows), dtype=np.float64)
        for i, row in enumerate(rows):
            if not (isinstance(row, (list, tuple)) and len(row) == 2):
                raise InvalidInputError(f"result.{side_key}[{i}] must be a [price, size] pair, got "
                                        f"{reprlib.repr(row)}")
            ticks[i], sizes[i] = dec.parse_level(row[0], row[1])
        levels[side_key] = (ticks, sizes)
    u = result.get("u", -1)
    if not isinstance(u, int):
        raise InvalidInputError(f"result.u must be an integer, got {reprlib.repr(u)}")
    ts = result.get("ts", 0)
    seq = result.get("seq")
    cts = result.get("cts")
    book.apply_levels(levels["b"][0], levels["b"][1], levels["a"][0], levels["a"][1], True,
                      u if u >= 0 else -1, int(ts) * 1_000_000 if isinstance(ts, int) else 0, 0,
                      seq=seq if isinstance(seq, int) else -1,
                      cts=cts * 1_000_000 if isinstance(cts, int) else 0)
    return book
