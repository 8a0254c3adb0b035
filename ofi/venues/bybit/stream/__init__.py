"""Bybit V5's public websocket stream: live order books and trades, and replays of recorded frames.

One concept per module: ``client`` (:class:`BybitStream`, its arguments and :class:`StreamStats`),
``transport`` (the socket thread: connection, heartbeat, subscriptions, reconnects, frame
reassembly, recorder), ``queue`` (the bounded queue between the threads and its overflow policy),
``handler`` (one frame in, typed events out: the code path of live streams and replays),
``replay`` (:func:`replay_frames`, :func:`replay_recording`), ``checks`` (the arguments both share) and ``control`` (replies to our requests). The events are
venue-neutral, in :mod:`ofi.venues.events`; the topic grammar is :mod:`ofi.venues.bybit.topics`.
"""
from __future__ import annotations

from ofi.venues.bybit.stream.client import BybitStream, StreamStats, stream_url
from ofi.venues.bybit.stream.handler import FALLBACK_TICK_SIZE
from ofi.venues.bybit.stream.replay import replay_frames, replay_recording
from ofi.venues.bybit.stream.transport import FrameRecorder

__all__ = ["BybitStream", "StreamStats", "stream_url", "replay_frames", "replay_recording", "FALLBACK_TICK_SIZE",
           "FrameRecorder"]
