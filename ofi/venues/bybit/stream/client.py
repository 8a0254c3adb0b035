"""The Bybit V5 public websocket stream: :class:`BybitStream`, its arguments and its counters.

One stream is one connection (Bybit serves each category on its own URL) for any number of
symbols and book depths, plus their public trades. It is a facade over three parts, each in its
own module: the socket thread (``transport``), the bounded queue between the threads and its
overflow policy (``queue``), and the per-frame handler that applies frames in the consumer's
thread (``handler``, also behind :func:`~ofi.venues.bybit.stream.replay.replay_frames`).
"""
from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

from ofi.errors import InvalidInputError
from ofi.data.recording import RecordingWriter
from ofi.spec import InstrumentSpec
from ofi.validation import is_symbol
from ofi.venues.bybit.stream.checks import _check_category, _check_int, _check_number, _tick_sizes
from ofi.venues.bybit.stream.handler import _FrameHandler
from ofi.venues.bybit.stream.queue import EVENT, FRAME, _FrameQueue
from ofi.venues.bybit.stream.replay import replay_recording
from ofi.venues.bybit.stream.transport import FrameRecorder, _Session
from ofi.venues.bybit.symbols import BOOK_DEPTHS, CATEGORIES
from ofi.venues.bybit.topics import book_topic, parse_topic, trade_topic
from ofi.venues.events import BookUpdate, Overflow, Reconnect, StreamEvent, TradeEvent

if TYPE_CHECKING:  # pragma: no cover
    from ofi._core.book import OrderBook

__all__ = ["BybitStream", "StreamStats", "stream_url"]

MAINNET_URL = "wss://stream.bybit.com/v5/public/{category}"
TESTNET_URL = "wss://stream-testnet.bybit.com/v5/public/{category}"
_MAX_ARGS_CHARS = 21_000  # Bybit: total args of one public connection


def stream_url(category: str = "linear", *, testnet: bool = False) -> str:
    """The public websocket endpoint of a category (bybit-v5.md section 1.2).

    Parameters
    ----------
    category : str
        ``"linear"`` (default), ``"inverse"``, ``"spot"`` or ``"option"``.
    testnet : bool, keyword-only
        The ``stream-testnet.bybit.com`` endpoint instead of mainnet's.

    Returns
    -------
    str
        ``wss://stream.bybit.com/v5/public/{category}`` (or the testnet host).

    Raises
    ------
    InvalidInputError
        If ``category`` is not one of Bybit's categories.
    """
    _check_category(category)
    return (TESTNET_URL if testnet else MAINNET_URL).format(category=category)


# ------------------------------------------------------------------------------------- stats
@dataclass(frozen=True, slots=True)
class StreamStats:
    """Counters of a stream (a snapshot; see :meth:`BybitStream.stats`).

    Attributes
    ----------
    frames_received, bytes_received : int
        Websocket data frames (and their payload bytes) received on every connection.
    book_frames_dropped, trade_frames_dropped, events_dropped : int
        What the queue's overflow policy dropped (all reported in :class:`Overflow` events).
    queue_len, queue_high_water, queue_bound : int
        Items waiting now, the most ever waiting, and the bound that can never be exceeded.
    connections, reconnects : int
        Connections opened; reconnect attempts.
    pings_sent, pongs_received : int
        Heartbeats.
    gaps, resyncs : int
        Sequence gaps seen by the books; resyncs started (gap, crossed, overflow).
    resubscribes_sent : int
        Topics re-subscribed (unsubscribe + subscribe) by the socket thread.
    duplicates_ignored : int
        Book deltas with ``u <= last u`` (duplicates, late frames), ignored.
    stale_dropped : int
        Deltas dropped while their book waited for a fresh snapshot.
    trades_deduplicated : int
        Trades left out because their id was already delivered.
    decode_errors : int
        Frames rejected whole (malformed, truncated, off-grid price, unsupported topic).
    frames_recorded : int
        Frames written by the recorder.
    """

    frames_received: int
    bytes_received: int
    book_frames_dropped: int
    trade_frames_dropped: int
    events_dropped: int
    queue_len: int
    queue_high_water: int
    queue_bound: int
    connections: int
    reconnects: int
    pings_sent: int
    pongs_received: int
    gaps: int
    resyncs: int
    resubscribes_sent: int
    duplicates_ignored: int
    stale_dropped: int
    trades_deduplicated: int
    decode_errors: int
    frames_recorded: int


# ------------------------------------------------------------------------------------ stream
class BybitStream:
    """Live Bybit V5 public order books and trades over one websocket connection.

    One stream holds one connection (Bybit serves each category on its own URL), for any
    number of symbols and book depths, plus their public trades.

    Parameters
    ----------
    symbols : str or sequence of str
        Symbols, e.g. ``["BTCUSDT", "ETHUSDT"]``.
    category : str, keyword-only
        ``"linear"`` (default), ``"inverse"``, ``"spot"`` or ``"option"``.
    depth : int, sequence of int or None, keyword-only
        Book depth(s) per symbol: 1, 50, 200 or 1000 (option: 25 or 100). Each depth is its
        own topic and book. None subscribes no books.
    trades : bool, keyword-only
        Also subscribe ``publicTrade`` (default True).
    tick_sizes : mapping of str to tick size or InstrumentSpec, keyword-only
        Price grid per symbol (Bybit ``priceFilter.tickSize``). A symbol without one uses
        :data:`FALLBACK_TICK_SIZE` (1e-10), which holds every Bybit price exactly but puts
        ``price_ticks`` in units of 1e-10.
    testnet : bool, keyword-only
        Use ``stream-testnet.bybit.com``.
    ws_url : str, keyword-only
        Endpoint override (e.g. a local fake server); wins over ``category``/``testnet``.
    record_to : path-like, keyword-only
        Record every received frame, raw and before any parsing, with its local receive time
        to this directory, through the class's ``recorder`` (``ofi.api.stream.BybitStream``
        binds :class:`ofi.data.recording.RecordingWriter`: one gzip JSON-lines file per symbol
        and hour; pongs and subscribe replies go under ``_control``).
    record_flush_every : int, keyword-only
        Frames between two flushes of the recorder (default 1: a process killed with SIGKILL
        loses at most the frame being written). Larger values trade durability for speed; the
        recorder is flushed at least every second anyway.
    queue_size : int, keyword-only
        Bound on book frames waiting for the consumer (default 10,000); see
        ``ofi.venues.bybit.stream.queue`` for the overflow policy.
    trade_queue_size : int, keyword-only
        Separate bound on waiting trade frames and connection events (default 100,000).
    copy_books : bool, keyword-only
        Give each :class:`BookUpdate` its own ``book.copy()`` instead of the live book.
    strict_sequence : bool, keyword-only
        Require ``u == last_u + 1`` (default). False accepts any increasing ``u``.
    dedupe_trades : int, keyword-only
        How many recent trade ids to remember for de-duplication (0 disables it).
    ping_interval_s : float, keyword-only
        Seconds between ``{"op":"ping"}`` heartbeats (Bybit recommends 20).
    pong_timeout_s : float, keyword-only
        The connection is dead if nothing (pong or data) arrives this long after a ping.
    idle_timeout_s : float, keyword-only
        The connection is dead after this long without any frame; default
        ``ping_interval_s + pong_timeout_s``.
    connect_timeout_s : float, keyword-only
        Timeout of the TCP/TLS/websocket handshake.
    reconnect_delay_s, reconnect_delay_max_s : float, keyword-only
        Exponential backoff between reconnect attempts: attempt ``n`` waits
        ``min(max, initial * 2**(n-1))`` times a jitter factor in [0.5, 1).
    backoff_reset_s : float, keyword-only
        A connection that lived this long resets the backoff (default 30).
    max_reconnects : int or None, keyword-only
        Give up after this many consecutive failed attempts (None: never); the iteration then ends.
    resync_delay_s, resync_delay_max_s : float, keyword-only
        Backoff between two resubscribes of one topic (pain point: resubscribe storms).
    snapshot_timeout_s : float, keyword-only
        Resubscribe a topic whose snapshot has not come this long after subscribing; also
        the time after which an unanswered subscribe is reported.
    max_args_per_request : int, keyword-only
        Topics per subscribe request (Bybit spot allows 10; default 10 everywhere).
    poll_interval_s : float, keyword-only
        How often the socket thread checks its timers when no frame arrives.
    seed : int, keyword-only
        Seed of the reconnect jitter (tests).
    on_frame : callable, keyword-only
        Called as ``on_frame(ts_local_ns, raw)`` with every received data frame, in the
        consumer's thread (while events are pulled), just before the frame is decoded: e.g.
        ``ofi.backtest.PaperTrader.on_frame`` to paper-trade the live feed. An exception it
        raises propagates to the consumer.

    Attributes
    ----------
    recorder : callable or None
        Class attribute: what ``record_to`` opens, called as ``recorder(record_to, flush_every=n)``
        and returning a :class:`~ofi.venues.bybit.stream.transport.FrameRecorder`:
        :class:`ofi.data.recording.RecordingWriter` (a subclass may bind another writer).

    Raises
    ------
    InvalidInputError
        If an argument is invalid (unknown category, a depth the category does not serve,
        ``record_to`` on a subclass whose ``recorder`` is None...).

    Notes
    -----
    The socket thread only receives, stamps, records and queues frames; decoding and
    ``OrderBook.apply_frame`` run in the consumer's thread when it pulls events. Nothing raised in
    the socket thread escapes it: it becomes an :class:`Error` event. An exception raised by your
    own code (or your callback in :meth:`run`) propagates to you and is never taken for a
    disconnect.

    Examples
    --------
    >>> with BybitStream(["BTCUSDT"], depth=50, tick_sizes={"BTCUSDT": "0.1"}) as stream:  # doctest: +SKIP
    ...     for ev in stream:
    ...         if isinstance(ev, BookUpdate):
    ...             print(ev.book.mid_price())
    """

    recorder: ClassVar[Callable[..., FrameRecorder] | None] = RecordingWriter
    replay = staticmethod(replay_recording)

    def __init__(
        self,
        symbols: str | Sequence[str],
        *,
        category: str = "linear",
        depth: int | Sequence[int] | None = 50,
        trades: bool = True,
        tick_sizes: Mapping[str, Any] | None = None,
        testnet: bool = False,
        ws_url: str | None = None,
        record_to: str | os.PathLike[str] | None = None,
        record_flush_every: int = 1,
        queue_size: int = 10_000,
        trade_queue_size: int = 100_000,
        copy_books: bool = False,
        strict_sequence: bool = True,
        dedupe_trades: int = 20_000,
        ping_interval_s: float = 20.0,
        pong_timeout_s: float = 10.0,
        idle_timeout_s: float | None = None,
        connect_timeout_s: float = 10.0,
        reconnect_delay_s: float = 0.5,
        reconnect_delay_max_s: float = 30.0,
        backoff_reset_s: float = 30.0,
        max_reconnects: int | None = None,
        resync_delay_s: float = 0.25,
        resync_delay_max_s: float = 30.0,
        snapshot_timeout_s: float = 10.0,
        max_args_per_request: int = 10,
        poll_interval_s: float = 0.05,
        seed: int | None = None,
        on_frame: Callable[[int, Any], Any] | None = None,
    ) -> None:
        if isinstance(symbols, str):
            symbols = [symbols]
        if not isinstance(symbols, Sequence) or not symbols:
            raise InvalidInputError(f"symbols must be a symbol or a non-empty sequence of symbols, got {symbols!r}")
        syms: list[str] = []
        for s in symbols:
            if not is_symbol(s):
                raise InvalidInputError(f"symbols must be letters, digits, '-' or '_', got {s!r}")
            if s not in syms:
                syms.append(s)
        _check_category(category)
        if depth is None:
            depths: list[int] = []
        else:
            raw_depths = [depth] if isinstance(depth, int) and not isinstance(depth, bool) else depth
            if not isinstance(raw_depths, Sequence):
                raise InvalidInputError(f"depth must be an int, a sequence of ints or None, got {depth!r}")
            depths = []
            for d in raw_depths:
                if isinstance(d, bool) or not isinstance(d, int) or d not in BOOK_DEPTHS[category]:
                    raise InvalidInputError(
                        f"depth {d!r} is not served on {category}: expected one of {BOOK_DEPTHS[category]} "
                        "(Bybit removed depth 500 for futures in Nov 2025)")
                if d not in depths:
                    depths.append(d)
        if not isinstance(trades, bool):
            raise InvalidInputError(f"trades must be a bool, got {trades!r}")
        topics: list[str] = []
        for s in syms:
            topics += [book_topic(d, s) for d in depths]
            if trades:
                t = trade_topic(s, category)
                if t not in topics:
                    topics.append(t)
        if not topics:
            raise InvalidInputError("nothing to subscribe: give depth=... and/or trades=True")
        if sum(len(t) for t in topics) > _MAX_ARGS_CHARS:
            raise InvalidInputError(
                f"the topics' args total {sum(len(t) for t in topics)} characters; Bybit allows "
                f"{_MAX_ARGS_CHARS} per connection: split the symbols over several streams")
        ticks = _tick_sizes(tick_sizes)
        if ws_url is None:
            url = stream_url(category, testnet=testnet)
        elif not isinstance(ws_url, str) or not ws_url.startswith(("ws://", "wss://")):
            raise InvalidInputError(f"ws_url must be a ws:// or wss:// URL, got {ws_url!r}")
        else:
            url = ws_url
        if record_to is not None and not isinstance(record_to, (str, os.PathLike)):
            raise InvalidInputError(f"record_to must be a directory path, got {record_to!r}")
        recorder = type(self).recorder
        if record_to is not None and recorder is None:
            raise InvalidInputError(
                f"record_to needs a recorder, and {type(self).__qualname__}.recorder is None")
        ping = _check_number(ping_interval_s, "ping_interval_s")
        pong = _check_number(pong_timeout_s, "pong_timeout_s")
        idle = _check_number(idle_timeout_s, "idle_timeout_s", allow_none=True)
        poll = _check_number(poll_interval_s, "poll_interval_s")
        self._cfg: dict[str, Any] = {
            "record_to": record_to,
            "recorder": recorder,
            "record_flush_every": _check_int(record_flush_every, "record_flush_every", 1),
            "queue_size": _check_int(queue_size, "queue_size", 2),
            "trade_queue_size": _check_int(trade_queue_size, "trade_queue_size", 1),
            "ping_interval_s": ping,
            "pong_timeout_s": pong,
            "idle_timeout_s": idle if idle is not None else ping + pong,
            "connect_timeout_s": _check_number(connect_timeout_s, "connect_timeout_s"),
            "reconnect_delay_s": _check_number(reconnect_delay_s, "reconnect_delay_s", allow_zero=True),
            "reconnect_delay_max_s": _check_number(reconnect_delay_max_s, "reconnect_delay_max_s", allow_zero=True),
            "backoff_reset_s": _check_number(backoff_reset_s, "backoff_reset_s", allow_zero=True),
            "max_reconnects": _check_int(max_reconnects, "max_reconnects", 0, allow_none=True),
            "resync_delay_s": _check_number(resync_delay_s, "resync_delay_s", allow_zero=True),
            "resync_delay_max_s": _check_number(resync_delay_max_s, "resync_delay_max_s", allow_zero=True),
            "snapshot_timeout_s": _check_number(snapshot_timeout_s, "snapshot_timeout_s"),
            "max_args_per_request": _check_int(max_args_per_request, "max_args_per_request", 1),
            "poll_interval_s": min(poll, ping),
            "seed": seed,
        }
        _check_int(dedupe_trades, "dedupe_trades", 0)
        if on_frame is not None and not callable(on_frame):
            raise InvalidInputError(f"on_frame must be callable, got {on_frame!r}")
        self._on_frame = on_frame
        self.symbols: tuple[str, ...] = tuple(syms)
        self.category = category
        self.topics: tuple[str, ...] = tuple(topics)
        self.url = url
        self._q = _FrameQueue()
        self._session = _Session(self._cfg, url, topics, self._q)
        self._handler = _FrameHandler(
            tick_sizes=ticks, category=category, strict_sequence=bool(strict_sequence), copy_books=bool(copy_books),
            dedupe_trades=dedupe_trades, known_topics=topics, resync=self._session.request_resync,
        )
        self._pending: deque[Any] = deque()
        self._lock = threading.Lock()
        self._started = False
        self._closed = False
        self._ended = False

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> BybitStream:
        """Open the connection in the background (idempotent; iteration starts it too).

        Raises
        ------
        InvalidInputError
            If the stream was closed, or ``record_to`` cannot be created.
        """
        with self._lock:
            if self._closed:
                raise InvalidInputError("start() on a closed BybitStream")
            if not self._started:
                try:
                    self._session.start()
                except OSError as exc:
                    raise InvalidInputError(f"record_to={self._cfg['record_to']!r} cannot be written: {exc}") from exc
                self._started = True
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Stop the socket thread, close the connection and the recorder. Idempotent.

        Callable from any thread (also from inside the iteration). Events not consumed yet are
        discarded (a recording has every received frame).
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._q.close()
        if self._started:
            self._session.stop(timeout)

    @property
    def closed(self) -> bool:
        """True after :meth:`close`, or once the stream gave up reconnecting."""
        return self._closed or self._ended

    def __enter__(self) -> BybitStream:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("running" if self._started else "not started")
        return f"BybitStream({list(self.symbols)!r}, category={self.category!r}, topics={len(self.topics)}, {state})"

    # ---------------------------------------------------------------- consuming
    def next_event(self, timeout: float | None = None) -> StreamEvent | None:
        """The next event, or None on timeout or when the stream is closed/ended.

        Applies the frames it pulls from the queue (in this thread). Starts the stream if needed.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait; None waits until an event comes or the stream closes.
        """
        pending = self._pending
        if pending:
            return pending.popleft()
        if not self._started and not self._closed:
            self.start()
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        q = self._q
        while not self._ended:
            if deadline is None:
                item = q.get(None)
            else:
                item = q.get(max(0.0, deadline - time.monotonic()))
            if item is None:
                return None
            self._process(item, pending)
            if pending:
                return pending.popleft()
            if deadline is not None and time.monotonic() >= deadline:
                return None
        return None

    def __iter__(self) -> Iterator[StreamEvent]:
        """Events until :meth:`close` (or until the stream gives up reconnecting)."""
        while True:
            ev = self.next_event(None)
            if ev is None:
                return
            yield ev

    def _process(self, item: tuple[int, int, Any], out: deque) -> None:
        code, ts, payload = item
        if code <= FRAME:
            if self._on_frame is not None:
                self._on_frame(ts, payload)
            self._handler.handle(payload, ts, out)
        elif code == EVENT:
            if type(payload) is Reconnect:
                self._handler.on_reconnect()
                out.append(payload)
            elif type(payload) is Overflow:
                out.append(payload)
                self._handler.on_overflow(payload.book_frames_dropped, ts, out)
            else:
                out.append(payload)
        else:
            self._ended = True

    def run(
        self,
        on_book: Callable[[BookUpdate], Any] | None = None,
        on_trade: Callable[[TradeEvent], Any] | None = None,
        on_event: Callable[[StreamEvent], Any] | None = None,
        *,
        duration_s: float | None = None,
        max_events: int | None = None,
    ) -> int:
        """Callback adapter: pull events in this thread and hand each to a callback.

        Book updates go to ``on_book``, trades to ``on_trade``, everything else to ``on_event``
        (a missing callback skips its events). Returns when ``duration_s`` passed, after
        ``max_events`` events, or when the stream closes (a callback may call :meth:`close`).
        An exception raised by a callback propagates out of ``run`` unchanged; the connection is
        not touched (use the stream as a context manager to close it on the way out).

        Returns
        -------
        int
            Events delivered.
        """
        wait_s = _check_number(duration_s, "duration_s", allow_zero=True, allow_none=True)
        deadline = None if wait_s is None else time.monotonic() + wait_s
        limit = _check_int(max_events, "max_events", 0, allow_none=True)
        n = 0
        while limit is None or n < limit:
            if deadline is None:
                ev = self.next_event(None)
                if ev is None:
                    break
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                ev = self.next_event(remaining)
                if ev is None:
                    if self.closed:
                        break
                    continue
            n += 1
            if type(ev) is BookUpdate:
                if on_book is not None:
                    on_book(ev)
            elif type(ev) is TradeEvent:
                if on_trade is not None:
                    on_trade(ev)
            elif on_event is not None:
                on_event(ev)
        return n

    # ---------------------------------------------------------------- state
    @property
    def books(self) -> dict[str, OrderBook]:
        """The live books by topic (read them from the consuming thread)."""
        return dict(self._handler.books)

    def book(self, symbol: str, depth: int | None = None) -> OrderBook:
        """The live book of ``symbol`` (at ``depth``, needed when several depths are subscribed).

        Raises
        ------
        InvalidInputError
            If the stream has no such book.
        """
        found = [(t, b) for t, b in self._handler.books.items()
                 if parse_topic(t)[2] == symbol and (depth is None or t == book_topic(depth, symbol))]
        if len(found) != 1:
            raise InvalidInputError(
                f"no single book for symbol={symbol!r}, depth={depth!r}; books: {sorted(self._handler.books)}")
        return found[0][1]

    @property
    def rejected_topics(self) -> frozenset[str]:
        """Topics Bybit refused (never resubscribed)."""
        return frozenset(self._session.rejected)

    def stats(self) -> StreamStats:
        """Counters of the connection, the queue and the books (see :class:`StreamStats`)."""
        s = self._session
        h = self._handler
        q = self._q
        return StreamStats(
            frames_received=s.frames, bytes_received=s.bytes, book_frames_dropped=s.book_dropped,
            trade_frames_dropped=s.trades_dropped, events_dropped=s.events_dropped, queue_len=len(q),
            queue_high_water=q.high_water, queue_bound=self._cfg["queue_size"] + self._cfg["trade_queue_size"] + 4,
            connections=s.connections, reconnects=s.reconnects, pings_sent=s.pings, pongs_received=s.pongs,
            gaps=h.gaps, resyncs=h.resyncs, resubscribes_sent=s.resubscribes, duplicates_ignored=h.duplicates,
            stale_dropped=h.stale_dropped, trades_deduplicated=h.trades_deduplicated,
            decode_errors=h.decode_errors, frames_recorded=s.recorded,
        )
