"""Bybit V5's topic grammar: building topic names, reading a frame's topic and type.

Public topics are ``orderbook.{depth}.{symbol}`` and ``publicTrade.{symbol}`` (options:
``publicTrade.{baseCoin}``); bybit-v5.md section 6. Frames name their topic and type in the first
few hundred characters (``{"topic":"orderbook.50.BTCUSDT","type":"snapshot",...}``), so the stream
classifies a frame by looking there, without parsing it.
"""
from __future__ import annotations

import re

from ofi.validation import is_symbol

# ---- stream-side topic grammar
BOOK_PREFIX = "orderbook."
TRADE_PREFIX = "publicTrade."
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
    parts = topic.split(".")
    if parts[0] == "orderbook" and len(parts) == 3 and parts[1].isascii() and parts[1].isdigit() \
            and is_symbol(parts[2]):
        return BOOK, int(parts[1]), parts[2]
    if parts[0] == "publicTrade" and len(parts) == 2 and is_symbol(parts[1]):
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
