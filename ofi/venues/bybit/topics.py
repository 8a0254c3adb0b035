"""Bybit V5 public topic grammar: the topic names of the public stream and the rules on them.

``orderbook.<depth>.<symbol>`` (depth: a number, ``full`` or ``rpi``) carries book messages,
``publicTrade.<symbol>`` trades (``publicTrade.<base coin>`` on options); the frame decoder
(``_decode.pyx``) reads its prefixes from here, so each is spelled once.
"""
from __future__ import annotations

__all__ = ["BOOK_PREFIX", "TRADE_PREFIX", "NAMED_BOOK_DEPTHS", "book_topic_symbol", "unsupported_topic_message"]

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
