"""Replaying frames through the live stream's per-frame handler.

A replay gives the book and trade events a live consumer saw, given it kept up (frames the live
queue shed are in a recording). :func:`replay_recording` reads a recording with ``ofi.data`` and feeds
it to :func:`replay_frames`.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ofi.data.recording import read_recording
from ofi.venues.bybit.stream.checks import _check_category, _check_int, _tick_sizes
from ofi.venues.bybit.stream.handler import _FrameHandler
from ofi.venues.events import Error, StreamEvent

__all__ = ["replay_frames", "replay_recording"]


def replay_frames(
    frames: Iterable[Any],
    *,
    tick_sizes: Mapping[str, Any] | None = None,
    category: str = "linear",
    strict_sequence: bool = True,
    copy_books: bool = False,
    dedupe_trades: int = 20_000,
) -> Iterator[StreamEvent]:
    """Feed frames through the stream's per-frame handler and yield its events.

    Parameters
    ----------
    frames : iterable
        Raw frames (``str``/``bytes``, local time 0) or ``(ts_local, raw)`` pairs such as
        :class:`ofi.data.recording.RecordedFrame`.
    tick_sizes, category, strict_sequence, copy_books, dedupe_trades
        As for :class:`~ofi.venues.bybit.stream.BybitStream`.

    Returns
    -------
    Iterator of events
        :class:`BookUpdate`, :class:`TradeEvent`, :class:`Gap`, :class:`Resync` and
        :class:`Error` exactly as the live consumer would get them for these frames (a replay
        cannot resubscribe: after a gap the book waits for the next snapshot in the data).
        Control replies (pongs, subscribe replies) yield nothing. Books are created per topic
        as their frames appear.

    Raises
    ------
    InvalidInputError
        If ``category``, ``tick_sizes`` or ``dedupe_trades`` is invalid (when iteration starts).
    """
    _check_category(category)
    handler = _FrameHandler(tick_sizes=_tick_sizes(tick_sizes), category=category, strict_sequence=strict_sequence,
                            copy_books=copy_books, dedupe_trades=_check_int(dedupe_trades, "dedupe_trades", 0),
                            known_topics=None, resync=None)
    out: list = []
    for fr in frames:
        if isinstance(fr, (str, bytes, bytearray, memoryview)):
            handler.handle(fr, 0, out)
        else:
            handler.handle(fr[1], fr[0], out)
        if out:
            yield from out
            out.clear()


def replay_recording(path: str | os.PathLike[str], **kwargs: Any) -> Iterator[StreamEvent]:
    """Replay a recording (file or directory) through the stream's per-frame handler.

    Parameters
    ----------
    path : path-like
        What ``BybitStream(record_to=...)`` (or ``ofi record``) wrote, or one of its files.
    **kwargs
        ``tick_sizes``, ``category``, ``strict_sequence``, ``copy_books``, ``dedupe_trades`` as
        for :func:`replay_frames`.

    Returns
    -------
    Iterator of events
        The events of :func:`replay_frames`; then one :class:`Error` (``where="recording"``)
        per file found cut off (a recorder killed mid-write: every complete frame was replayed).
        Replaying what a live stream recorded gives the same book updates (same update ids,
        same books) the live consumer saw, provided the live queue never overflowed.

    Raises
    ------
    InvalidInputError
        If ``path`` does not exist, or a file holds a complete line that is not a frame.
    """
    reader = read_recording(Path(path) if not isinstance(path, Path) else path, warn=False)
    yield from replay_frames(reader, **kwargs)
    for cut in reader.truncated:
        yield Error(f"{cut.path} is cut off after {cut.frames} complete frames "
                    f"({cut.partial_bytes} bytes of a partial frame dropped)", "recording", None, None, 0)
