"""Compatibility path of the stream events: they live in :mod:`ofi.venues.events`."""
from __future__ import annotations

from ofi.venues.events import (
    BookUpdate,
    Connected,
    Error,
    Gap,
    Overflow,
    Reconnect,
    Rejected,
    Resync,
    StreamEvent,
    Subscribed,
    TradeEvent,
)

__all__ = [
    "BookUpdate",
    "TradeEvent",
    "Gap",
    "Resync",
    "Overflow",
    "Connected",
    "Reconnect",
    "Subscribed",
    "Rejected",
    "Error",
    "StreamEvent",
]
