"""Reference decoder for Bybit V5 public frames: ``json`` + ``decimal``, plain dicts out.

This is the executable specification of ``ofi.frames.decode_frame`` (docs/core-api.md, "Frames").
It returns plain data instead of the core's frame classes:

``{"kind": "book", "topic", "symbol", "snapshot", "update_id", "seq", "ts_exch", "cts",
"bids": [(ticks, size), ...], "asks": [...]}``
    ``snapshot`` is ``type == "snapshot"`` as sent (the ``u == 1`` reset rule belongs to the
    book, see ``reference.book``). Levels keep frame order, duplicates included.
``{"kind": "trade", "topic", "ts_exch", "trades": [dict(symbol, price, size, side, ts_exch,
trade_id, price_ticks, seq, block_trade, rpi, ts_local), ...]}``
``{"kind": "control", "op", "success", "ret_msg", "conn_id", "req_id", "args", "data"}``

Times are ms on the wire and ns here (``ms * 1_000_000``); ``seq`` is -1 and ``cts`` 0 when
absent. Prices become exact int ticks (``Fraction(price) / Fraction(tick)`` must be a whole
number, else InvalidInputError naming the price and the tick); sizes are ``float(text)``.

Two kinds of rejection
----------------------
``InvalidInputError`` is raised for what the contract rejects: malformed JSON, a non-object
frame, unknown ``type``, an unsupported topic (the message names the topic and its prefix), a
price off the tick grid or out of int64, a negative / empty / non-finite size, ``u`` or
``seq`` out of int64, wrong field types.

:class:`StrictnessError` (a subclass of InvalidInputError) is raised where the contract does not
say what must happen and the twin chooses to refuse rather than guess: duplicate JSON keys,
numbers where Bybit sends strings, exponent / signed / leading-zero decimal strings (negative
prices included: spread instruments may have them), zero prices, negative ``u``/``seq``/``ts``,
missing ``b``/``a``/``u``/``ts``/``type``, unknown orderbook depths, extra items in a level,
invalid UTF-8, timestamps whose ns value overflows int64.

A frame without a topic is a control frame when it has ``op`` or ``success`` (Bybit's pong and
subscribe replies, in all their shapes) or ``type == "COMMAND_RESP"``. Parity and fuzz tests compare the core with
the twin only where the twin accepts, and require the core to reject too only for plain
InvalidInputError.
"""
from __future__ import annotations

import json
import math
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from ofi.errors import InvalidInputError

__all__ = [
    "StrictnessError",
    "INT64_MAX",
    "BOOK_DEPTHS",
    "to_tick_decimal",
    "parse_price",
    "parse_size",
    "loads",
    "decode_frame",
]

INT64_MAX = 2**63 - 1
NS_PER_MS = 1_000_000
# Depths Bybit has served on V5 (1/50/200/500/1000 futures and spot, 25/100 options) and the
# delta-only full book.
BOOK_DEPTHS = frozenset({"1", "25", "50", "100", "200", "500", "1000", "full"})

_PLAIN_DECIMAL = re.compile(r"(?:0|[1-9][0-9]*)(?:\.[0-9]+)?\Z")
_NUMBERISH = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")


class StrictnessError(InvalidInputError):
    """Rejected by a rule of the twin that the contract leaves open (see the module docstring)."""


# ----------------------------------------------------------------------------- numbers


def to_tick_decimal(tick_size: Any) -> Decimal:
    """The tick size as a positive finite Decimal (floats read through their repr)."""
    if isinstance(tick_size, bool):
        raise InvalidInputError(f"tick_size must be a positive number, got {tick_size!r}")
    try:
        if isinstance(tick_size, float):
            d = Decimal(repr(tick_size))
        elif isinstance(tick_size, (int, Decimal)):
            d = Decimal(tick_size)
        elif isinstance(tick_size, str):
            d = Decimal(tick_size.strip())
        else:
            raise TypeError
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidInputError(f"tick_size must be a positive decimal number, got {tick_size!r}") from None
    if not d.is_finite() or d <= 0:
        raise InvalidInputError(f"tick_size must be a finite positive number, got {tick_size!r}")
    return d


def parse_price(text: Any, tick: Decimal) -> int:
    """Exact integer ticks of a price string; off-grid, negative or out-of-int64 prices raise."""
    if not isinstance(text, str):
        raise StrictnessError(f"price must be a JSON string, got {text!r}")
    if not _PLAIN_DECIMAL.match(text):
        if _NUMBERISH.match(text):  # negative prices exist on spread instruments: left open
            raise StrictnessError(f"price must be a plain decimal string, got {text!r}")
        raise InvalidInputError(f"price must be a decimal string, got {text!r}")
    q = Fraction(text) / Fraction(tick)
    if q.denominator != 1:
        raise InvalidInputError(f"price {text} is not a multiple of tick_size {tick}")
    ticks = q.numerator
    if ticks > INT64_MAX:
        raise InvalidInputError(f"price {text} is out of range for tick_size {tick} (int64 ticks)")
    if ticks == 0:
        raise StrictnessError(f"price must be positive, got {text!r}")
    return ticks


def parse_size(text: Any) -> float:
    """``float(text)`` of a plain non-negative decimal string; negative, empty, non-finite raise."""
    if not isinstance(text, str):
        raise StrictnessError(f"size must be a JSON string, got {text!r}")
    if text == "":
        raise InvalidInputError("size must be a decimal string, got ''")
    if not _PLAIN_DECIMAL.match(text):
        if text.startswith("-") and _NUMBERISH.match(text):
            if float(text) == 0.0:
                raise StrictnessError(f"size must be a plain decimal string, got {text!r}")
            raise InvalidInputError(f"size must not be negative, got {text!r}")
        if _NUMBERISH.match(text):
            raise StrictnessError(f"size must be a plain decimal string, got {text!r}")
        raise InvalidInputError(f"size must be a decimal string, got {text!r}")
    value = float(text)
    if not math.isfinite(value):
        raise InvalidInputError(f"size {text!r} is not finite as a float64")
    return value


def _int_field(value: Any, name: str) -> int:
    """A JSON integer that fits int64; negative values are refused as a strictness rule."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{name} must be an integer, got {value!r}")
    if value < -INT64_MAX - 1 or value > INT64_MAX:
        raise InvalidInputError(f"{name}={value} is out of the int64 range")
    if value < 0:
        raise StrictnessError(f"{name}={value} is negative")
    return value


def _ms_field(value: Any, name: str) -> int:
    ms = _int_field(value, name)
    if ms * NS_PER_MS > INT64_MAX:
        raise StrictnessError(f"{name}={ms} ms overflows int64 nanoseconds")
    return ms * NS_PER_MS


# ----------------------------------------------------------------------------- JSON


def _no_duplicates(pairs: list) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise StrictnessError(f"duplicate JSON key {key!r}")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise InvalidInputError(f"malformed JSON: {name} is not valid JSON")


def loads(raw: Any) -> Any:
    """Strict JSON: str or UTF-8 bytes-like, no NaN/Infinity, no duplicate keys."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StrictnessError(f"frame is not valid UTF-8: {exc}") from None
    elif isinstance(raw, str):
        text = raw
    else:
        raise InvalidInputError(
            f"raw frame must be str, bytes, bytearray or memoryview, got {type(raw).__name__}"
        )
    try:
        return json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_float=Decimal,
            parse_constant=_reject_constant,
        )
    except (json.JSONDecodeError, ValueError, RecursionError, ArithmeticError) as exc:
        # ArithmeticError: decimal.InvalidOperation for numbers such as 1e400173... (Decimal
        # refuses exponents beyond its context), which are not frames either way.
        if isinstance(exc, InvalidInputError):
            raise
        raise InvalidInputError(f"malformed JSON frame: {exc}") from None


# ----------------------------------------------------------------------------- frames


def _require(obj: dict, key: str, where: str) -> Any:
    if key not in obj:
        raise StrictnessError(f"{where} has no {key!r}")
    return obj[key]


def _levels(value: Any, name: str, tick: Decimal) -> list[tuple[int, float]]:
    if not isinstance(value, list):
        raise InvalidInputError(f"data.{name} must be a list of [price, size], got {value!r:.80}")
    out = []
    for level in value:
        if not isinstance(level, list):
            raise InvalidInputError(f"data.{name} item must be [price, size], got {level!r:.80}")
        if len(level) != 2:
            if len(level) < 2:
                raise InvalidInputError(f"data.{name} item must be [price, size], got {level!r:.80}")
            raise StrictnessError(f"data.{name} item has more than 2 entries: {level!r:.80}")
        out.append((parse_price(level[0], tick), parse_size(level[1])))
    return out


def _decode_book(msg: dict, topic: str, tick: Decimal) -> dict:
    parts = topic.split(".")
    if len(parts) != 3 or not parts[2]:
        raise InvalidInputError(f"orderbook topic must be 'orderbook.<depth>.<symbol>', got {topic!r}")
    if parts[1] not in BOOK_DEPTHS:
        raise StrictnessError(f"unknown orderbook depth {parts[1]!r} in topic {topic!r}")
    kind = _require(msg, "type", "orderbook frame")
    if kind not in ("snapshot", "delta"):
        raise InvalidInputError(f"orderbook frame type must be 'snapshot' or 'delta', got {kind!r}")
    ts_exch = _ms_field(_require(msg, "ts", "orderbook frame"), "ts")
    cts = _ms_field(msg["cts"], "cts") if "cts" in msg else 0
    data = _require(msg, "data", "orderbook frame")
    if not isinstance(data, dict):
        raise InvalidInputError(f"orderbook data must be an object, got {data!r:.80}")
    symbol = _require(data, "s", "orderbook data")
    if not isinstance(symbol, str):
        raise InvalidInputError(f"data.s must be a string, got {symbol!r}")
    if symbol != parts[2]:
        raise InvalidInputError(f"data.s={symbol!r} does not match topic {topic!r}")
    update_id = _int_field(_require(data, "u", "orderbook data"), "data.u")
    seq = _int_field(data["seq"], "data.seq") if "seq" in data else -1
    bids = _levels(_require(data, "b", "orderbook data"), "b", tick)
    asks = _levels(_require(data, "a", "orderbook data"), "a", tick)
    return {
        "kind": "book",
        "topic": topic,
        "symbol": symbol,
        "snapshot": kind == "snapshot",
        "update_id": update_id,
        "seq": seq,
        "ts_exch": ts_exch,
        "cts": cts,
        "bids": bids,
        "asks": asks,
    }


def _decode_trades(msg: dict, topic: str, tick: Decimal, ts_local: int) -> dict:
    if topic.count(".") != 1 or not topic.split(".")[1]:
        raise InvalidInputError(f"trade topic must be 'publicTrade.<symbol>', got {topic!r}")
    kind = _require(msg, "type", "publicTrade frame")
    if kind != "snapshot":
        raise InvalidInputError(f"publicTrade frame type must be 'snapshot', got {kind!r}")
    ts_exch = _ms_field(_require(msg, "ts", "publicTrade frame"), "ts")
    data = _require(msg, "data", "publicTrade frame")
    if not isinstance(data, list):
        raise InvalidInputError(f"publicTrade data must be a list, got {data!r:.80}")
    trades = []
    for item in data:
        if not isinstance(item, dict):
            raise InvalidInputError(f"publicTrade data item must be an object, got {item!r:.80}")
        side_s = _require(item, "S", "trade")
        if side_s == "Buy":
            side = 1
        elif side_s == "Sell":
            side = -1
        else:
            raise InvalidInputError(f"trade S must be 'Buy' or 'Sell', got {side_s!r}")
        symbol = _require(item, "s", "trade")
        trade_id = _require(item, "i", "trade")
        if not isinstance(symbol, str) or not isinstance(trade_id, str):
            raise InvalidInputError(f"trade s and i must be strings, got {symbol!r}, {trade_id!r}")
        block, rpi = item.get("BT", False), item.get("RPI", False)
        if not isinstance(block, bool) or not isinstance(rpi, bool):
            raise InvalidInputError(f"trade BT and RPI must be booleans, got {block!r}, {rpi!r}")
        ticks = parse_price(_require(item, "p", "trade"), tick)
        size = parse_size(_require(item, "v", "trade"))
        trades.append(
            {
                "symbol": symbol,
                "price": float(Decimal(ticks) * tick),
                "size": size,
                "side": side,
                "ts_exch": _ms_field(_require(item, "T", "trade"), "T"),
                "trade_id": trade_id,
                "price_ticks": ticks,
                "seq": _int_field(item["seq"], "trade seq") if "seq" in item else -1,
                "block_trade": block,
                "rpi": rpi,
                "ts_local": ts_local,
            }
        )
    return {"kind": "trade", "topic": topic, "ts_exch": ts_exch, "trades": trades}


def _decode_control(msg: dict) -> dict:
    def opt(key: str, types: tuple) -> Any:
        value = msg.get(key)
        if value is not None and not isinstance(value, types):
            raise InvalidInputError(f"control frame field {key} has type {type(value).__name__}")
        return value

    return {
        "kind": "control",
        "op": opt("op", (str,)),
        "success": opt("success", (bool,)),
        "ret_msg": opt("ret_msg", (str,)),
        "conn_id": opt("conn_id", (str,)),
        "req_id": opt("req_id", (str,)),
        "args": opt("args", (list,)),
        "data": opt("data", (dict, list)),
    }


def decode_frame(raw: Any, tick_size: Any, ts_local: int = 0) -> dict:
    """Decode one raw V5 public frame into a plain dict (see the module docstring)."""
    tick = to_tick_decimal(tick_size)
    msg = loads(raw)
    if not isinstance(msg, dict):
        raise InvalidInputError(f"frame must be a JSON object, got {type(msg).__name__}")
    if "topic" not in msg:
        if "op" in msg or "success" in msg or msg.get("type") == "COMMAND_RESP":
            return _decode_control(msg)
        raise InvalidInputError(
            f"unsupported frame: neither a topic nor a control op (keys {sorted(msg)[:8]})"
        )
    topic = msg["topic"]
    if not isinstance(topic, str):
        raise InvalidInputError(f"topic must be a string, got {topic!r:.80}")
    prefix = topic.split(".", 1)[0]
    if prefix == "orderbook":
        return _decode_book(msg, topic, tick)
    if prefix == "publicTrade":
        return _decode_trades(msg, topic, tick, ts_local)
    raise InvalidInputError(f"unsupported topic {topic!r} (prefix {prefix!r})")
