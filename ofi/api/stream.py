"""Compatibility path of the Bybit websocket stream: it lives in :mod:`ofi.venues.bybit.stream`, its
events in :mod:`ofi.venues.events`."""
from __future__ import annotations

from ofi.venues.bybit.stream import (BybitStream, FALLBACK_TICK_SIZE, StreamStats, replay_frames, replay_recording,
                                     stream_url)
from ofi.venues.bybit.symbols import BOOK_DEPTHS
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
    "BybitStream",
    "StreamStats",
    "replay_recording",
    "replay_frames",
    "stream_url",
    "BOOK_DEPTHS",
    "FALLBACK_TICK_SIZE",
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
