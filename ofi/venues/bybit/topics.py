"""Bybit V5's public topic grammar: topic names, the rules on them, and reading a frame's topic and type.

``orderbook.<depth>.<symbol>`` (depth: a number, ``full`` or ``rpi``) carries book messages,
``publicTrade.<symbol>`` trades (``publicTrade.<base coin>`` on options); bybit-v5.md section 6. The frame
decoder (``_decode.pyx``) reads its prefixes from here, so each is spelled once. Frames name their topic and
type in the first few hundred characters (``{"topic":"orderbook.50.BTCUSDT","type":"snapshot",...}``), so
the stream classifies a frame by looking there, without parsing it.
"""
from __future__ import annotations

import re

from ofi.validation import is_symbol

__all__ = ["BOOK_PREFIX", "TRADE_PREFIX", "NAMED_BOOK_DEPTHS", "book_topic_symbol", "unsupported_topic_message",
           "BOOK", "TRADES", "book_topic", "trade_topic", "parse_topic", "topic_of", "is_snapshot",
           "is_book_restart", "named_topics", "frame_symbol"]

#: Prefix of order-book topics (``orderbook.50.BTCUSDT``).
BOOK_PREFIX = "orderbook."
#: Prefix of public-trade topics (``publicTrade.BTCUSDT``).
TRADE_PREFIX = "publicTrade."
#: Book depths that are names, not numbers: ``orderbook.full.<symbol>`` (delta-only, seeded from
#: REST ``/v5/market/full_orderbook``) and ``orderbook.rpi.<symbol>`` (bybit-v5.md section 6.1).
NAMED_BOOK_DEPTHS = ("full", "rpi")

# Topics the decoder refuses, by prefix, with what to say about them.
_UNSUPPORTED = {
    "tickers": "tickers (use the REST tickers endpoint; ticker deltas are not a book)",
    "kline": "kline",
    "liquidation": "liquidation",
    "allLiquidation": "allLiquidation",
    "system": "system status",
}


def book_topic_symbol(topic: str) -> str | None:
    """The symbol of an order-book topic ``orderbook.<depth>.<symbol>``, or None if ``topic`` is not one.

    >>> book_topic_symbol("orderbook.50.BTCUSDT"), book_topic_symbol("orderbook.full.BTCUSDT")
    ('BTCUSDT', 'BTCUSDT')
    >>> book_topic_symbol("publicTrade.BTCUSDT") is None, book_topic_symbol("orderbook.x.BTCUSDT") is None
    (True, True)
    """
    parts = topic.split(".")
    if len(parts) != 3 or f"{parts[0]}." != BOOK_PREFIX or not parts[2]:
        return None
    depth = parts[1]
    if not ((depth.isascii() and depth.isdigit()) or depth in NAMED_BOOK_DEPTHS):
        return None
    return parts[2]


def unsupported_topic_message(topic: str) -> str:
    """The error message for a frame whose topic the decoder does not handle."""
    prefix = topic.split(".", 1)[0]
    what = _UNSUPPORTED.get(prefix, prefix)
    return (f"unsupported topic {topic!r}: the decoder handles {BOOK_PREFIX}* and {TRADE_PREFIX}* frames "
            f"and control replies, not {what}")


# ---- stream-side topic grammar
BOOK = 0   # parse_topic kinds
TRADES = 1

_TOPIC_KEY = '"topic":"'
_SNAPSHOT_KEY = '"type":"snapshot"'
_HEAD = 320  # the "type" key sits in the first few hundred characters of every Bybit frame
_TOPIC_RE = re.compile(r'"topic"\s*:\s*"([^"\\]*)"')
_TYPE_SNAPSHOT_RE = re.compile(r'"type"\s*:\s*"snapshot"')
_U_IS_ONE_RE = re.compile(r'"u"\s*:\s*1\s*[,}]')
_REPLY_TOPICS_RE = re.compile(r"topic:\s*([^\s]+)")


def book_topic(depth: int, symbol: str) -> str:
    """``orderbook.{depth}.{symbol}``."""
    return f"{BOOK_PREFIX}{depth}.{symbol}"


def trade_topic(symbol: str, category: str) -> str:
    """``publicTrade.{symbol}``; an option's trades are published per base coin (``BTC-27DEC24-...`` -> ``BTC``)."""
    return f"{TRADE_PREFIX}{symbol.split('-')[0] if category == 'option' else symbol}"


def parse_topic(topic: str) -> tuple[int, int | None, str] | None:
    """``(BOOK, depth, symbol)`` or ``(TRADES, None, symbol)``; None for any other topic."""
    symbol = book_topic_symbol(topic)
    if symbol is not None:                  # the stream subscribes numbered depths of valid symbols only
        depth = topic.split(".")[1]
        return (BOOK, int(depth), symbol) if depth.isdigit() and is_symbol(symbol) else None
    parts = topic.split(".")
    if f"{parts[0]}." == TRADE_PREFIX and len(parts) == 2 and is_symbol(parts[1]):
        return TRADES, None, parts[1]
    return None


def topic_of(raw: str) -> str | None:
    """The ``topic`` of a frame (fast path for Bybit's compact JSON), None if it has none."""
    i = raw.find(_TOPIC_KEY)
    if i >= 0:
        i += 9
        j = raw.find('"', i)
        return raw[i:j] if j >= 0 else None
    if '"topic"' not in raw:
        return None
    m = _TOPIC_RE.search(raw)  # JSON with spaces (not Bybit's, but valid)
    return m.group(1) if m else None


def is_snapshot(raw: str) -> bool:
    """True if the frame says ``"type":"snapshot"`` (Bybit writes it before ``data``)."""
    if raw.find('"snapshot"', 0, _HEAD) < 0:
        return False
    return raw.find(_SNAPSHOT_KEY, 0, _HEAD) >= 0 or _TYPE_SNAPSHOT_RE.search(raw, 0, _HEAD) is not None


def is_book_restart(raw: str) -> bool:
    """True if a book frame replaces the whole book: a snapshot, or a ``u == 1`` message (Bybit restarted)."""
    return is_snapshot(raw) or _U_IS_ONE_RE.search(raw) is not None


def named_topics(msg: str, topics: tuple[str, ...]) -> tuple[str, ...]:
    """Topics of a request that a reply's error message names (``...,topic:a,b``)."""
    named: list[str] = []
    for m in _REPLY_TOPICS_RE.finditer(msg):
        for part in re.split(r"[,|;]", m.group(1)):
            part = part.strip().strip("\"'[]")
            if part in topics and part not in named:
                named.append(part)
    return tuple(named)


def frame_symbol(raw: str) -> str | None:
    """The symbol at the end of a frame's topic (a recording files the frame under it), None without one."""
    topic = topic_of(raw)
    if topic is None:
        return None
    symbol = topic.rsplit(".", 1)[-1]
    return symbol if is_symbol(symbol) else None
