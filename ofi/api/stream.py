"""Bybit V5 public websocket stream: books and trades for several symbols on one connection.

Threads and data flow::

    socket thread (websocket-client handshake)             consumer thread (yours)
    read frame -> ts_local -> [recorder] -> classify ---> bounded queue ---> decode + OrderBook.apply_frame
    ping every 20 s, dead-connection check, reconnect,                      -> typed events (ofi.api.events)
    subscribe in batches of 10, replies by req_id, resync requests  <------ gap / crossed -> resync(topic)

The socket thread never parses a book: it stamps each frame with its local receive time,
records it (``record_to=``) exactly as received, and queues it. Frames are decoded and applied
in the thread that pulls events, so the consumer never sees a half-applied or crossed book and
a slow consumer is handled by the queue's overflow policy alone:

- **Book frames** are queued while fewer than ``queue_size`` book frames wait. When that bound
  is reached the socket thread *sheds* book frames (drops them, counting per topic) until the
  consumer has drained the queue to half of it; then it queues one :class:`Overflow` event and
  resubscribes every topic it dropped frames of. The consumer gets the Overflow, a
  :class:`Resync` (reason ``"overflow"``) per topic, and later a fresh snapshot (a
  :class:`BookUpdate` with ``reset=True``): it always ends on the latest book, never on a wrong one.
- **Trade frames** (and connection events) never count against ``queue_size``; they have their
  own reserve of ``trade_queue_size``. Only if that is full too are they dropped, and the next
  :class:`Overflow` event says how many (``trade_frames_dropped``, ``events_dropped``): trades
  are never lost silently.
- So the queue never holds more than ``queue_size + trade_queue_size + 4`` items (the 4: the
  end-of-stream marker and the last errors before it).

Live frames and recorded frames go through the same per-frame handler: :func:`replay_recording`
(also :meth:`BybitStream.replay`) and :func:`replay_frames` reproduce the book and trade events a
live consumer saw, given it kept up (frames the live queue shed are in the recording).
"""
from __future__ import annotations

import json
import math
import os
import random
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

from ofi._core.book import OrderBook
from ofi._core.decode import decoder_for
from ofi.api import events as _events
from ofi.api.events import (
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
from ofi.errors import BookIntegrityError, ExchangeError, InvalidInputError, SequenceGapError
from ofi.spec import InstrumentSpec, parse_step

__all__ = [
    "BybitStream",
    "StreamStats",
    "replay_recording",
    "replay_frames",
    "stream_url",
    "BOOK_DEPTHS",
    "FALLBACK_TICK_SIZE",
    *_events.__all__,  # the events, re-exported for convenience
]

MAINNET_URL = "wss://stream.bybit.com/v5/public/{category}"
TESTNET_URL = "wss://stream-testnet.bybit.com/v5/public/{category}"

#: Orderbook depths Bybit serves per category (bybit-v5.md section 6.1; 500 was removed in 2025).
BOOK_DEPTHS: dict[str, tuple[int, ...]] = {
    "spot": (1, 50, 200, 1000),
    "linear": (1, 50, 200, 1000),
    "inverse": (1, 50, 200, 1000),
    "option": (25, 100),
}

#: Price grid used for a symbol without a tick size: holds every Bybit price exactly (prices up to
#: about 9.2e8); only tick-denominated values (``price_ticks``) are then in units of 1e-10.
FALLBACK_TICK_SIZE = Decimal("1e-10")

_MAX_ARGS_CHARS = 21_000  # Bybit: total args of one public connection
_SYMBOL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_TOPIC_KEY = '"topic":"'
_SNAPSHOT_KEY = '"type":"snapshot"'
_HEAD = 320  # the "type" key sits in the first few hundred characters of every Bybit frame
_REPLY_TOPICS_RE = re.compile(r"topic:\s*([^\s]+)")
_READ_CHUNK = 1 << 16
_MAX_FRAME = 1 << 24  # 16 MiB: far above a 1000-level snapshot; a bigger length is a broken stream
_TOPIC_RE = re.compile(r'"topic"\s*:\s*"([^"\\]*)"')
_TYPE_SNAPSHOT_RE = re.compile(r'"type"\s*:\s*"snapshot"')


def _topic_of(raw: str) -> str | None:
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


def _is_snapshot(raw: str) -> bool:
    """True if the frame says ``"type":"snapshot"`` (Bybit writes it before ``data``)."""
    if raw.find(_SNAPSHOT_KEY, 0, _HEAD) >= 0:
        return True
    return raw.find('"snapshot"', 0, _HEAD) >= 0 and _TYPE_SNAPSHOT_RE.search(raw, 0, _HEAD) is not None

# queue item codes: (code, ts_local, payload)
_BOOK = 0
_FRAME = 1
_EVENT = 2
_END = 3


def _fast_init(cls: type) -> Callable[..., Any]:
    """A positional constructor for a frozen slotted dataclass that skips ``object.__setattr__``
    per field (about half the cost of the generated ``__init__`` on the hot path)."""
    from dataclasses import fields

    setters = [cls.__dict__[f.name].__set__ for f in fields(cls)]
    new = object.__new__

    def make(*values: Any) -> Any:
        obj = new(cls)
        for setter, value in zip(setters, values):
            setter(obj, value)
        return obj

    if len(setters) == 8:  # BookUpdate: unrolled
        s0, s1, s2, s3, s4, s5, s6, s7 = setters

        def make8(a: Any, b: Any, c: Any, d: Any, e: Any, f: Any, g: Any, h: Any) -> Any:
            obj = new(cls)
            s0(obj, a)
            s1(obj, b)
            s2(obj, c)
            s3(obj, d)
            s4(obj, e)
            s5(obj, f)
            s6(obj, g)
            s7(obj, h)
            return obj

        return make8
    if len(setters) == 4:  # TradeEvent: unrolled
        t0, t1, t2, t3 = setters

        def make4(a: Any, b: Any, c: Any, d: Any) -> Any:
            obj = new(cls)
            t0(obj, a)
            t1(obj, b)
            t2(obj, c)
            t3(obj, d)
            return obj

        return make4
    return make


_book_update = _fast_init(BookUpdate)
_trade_event = _fast_init(TradeEvent)


def stream_url(category: str = "linear", *, testnet: bool = False) -> str:
    """The public websocket endpoint of a category (bybit-v5.md section 1.2)."""
    if category not in BOOK_DEPTHS:
        raise InvalidInputError(f"category must be one of {sorted(BOOK_DEPTHS)}, got {category!r}")
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


# ------------------------------------------------------------------------------------- queue
class _FrameQueue:
    """A deque between one producer (the socket thread) and one consumer.

    Counters are written by one side each (``*_in`` by the producer, ``*_out`` by the consumer),
    so their difference is the exact number of waiting items without a lock. The condition
    is only used when the consumer has to wait.
    """

    __slots__ = ("_items", "_cond", "_waiting", "closed", "book_in", "book_out", "res_in", "res_out",
                 "high_water")

    def __init__(self) -> None:
        self._items: deque[tuple[int, int, Any]] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._waiting = False
        self.closed = False
        self.book_in = 0
        self.book_out = 0
        self.res_in = 0
        self.res_out = 0
        self.high_water = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: tuple[int, int, Any]) -> None:
        self._items.append(item)
        if item[0] == _BOOK:
            self.book_in += 1
        else:
            self.res_in += 1
        n = len(self._items)
        if n > self.high_water:
            self.high_water = n
        if self._waiting:
            with self._cond:
                self._cond.notify()

    def get(self, timeout: float | None) -> tuple[int, int, Any] | None:
        """Next item; None on timeout or once closed."""
        if self.closed:
            return None
        try:
            item = self._items.popleft()
        except IndexError:
            item = self._wait(timeout)
            if item is None:
                return None
        if item[0] == _BOOK:
            self.book_out += 1
        else:
            self.res_out += 1
        return item

    def _wait(self, timeout: float | None) -> tuple[int, int, Any] | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._waiting = True
            try:
                while True:
                    if self.closed:
                        return None
                    if self._items:
                        return self._items.popleft()
                    if deadline is None:
                        self._cond.wait(0.25)
                    else:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            return None
                        self._cond.wait(min(remaining, 0.25))
            finally:
                self._waiting = False

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


# ----------------------------------------------------------------------------------- handler
class _Route:
    __slots__ = ("kind", "symbol", "book", "decoder", "depth1")

    def __init__(self, kind: int, symbol: str, book: OrderBook | None, decoder: Any, depth1: bool) -> None:
        self.kind = kind  # 0 book, 1 trades
        self.symbol = symbol
        self.book = book
        self.decoder = decoder
        self.depth1 = depth1


def _tick_spec(symbol: str, tick_sizes: Mapping[str, Any] | None, category: str) -> InstrumentSpec:
    v = tick_sizes.get(symbol) if tick_sizes else None
    if isinstance(v, InstrumentSpec):
        return v
    return InstrumentSpec(symbol, FALLBACK_TICK_SIZE if v is None else v, category=category)


class _FrameHandler:
    """Turns raw frames into events: the one code path of live streams and replays.

    Runs in the consumer's thread. Books are keyed by topic (one per depth and symbol).
    """

    _MAX_LAZY_ROUTES = 10_000

    def __init__(
        self,
        *,
        tick_sizes: Mapping[str, Any] | None,
        category: str,
        strict_sequence: bool,
        copy_books: bool,
        dedupe_trades: int,
        known_topics: Iterable[str] | None,
        resync: Callable[[str], None] | None,
    ) -> None:
        self._ticks = dict(tick_sizes) if tick_sizes else {}
        self._category = category
        self._strict = strict_sequence
        self._copy = copy_books
        self._dedupe = dedupe_trades
        self._resync_cb = resync
        self._routes: dict[str, _Route] = {}
        self._known = None if known_topics is None else set(known_topics)
        self.books: dict[str, OrderBook] = {}
        self.resyncing: set[str] = set()
        self._seen: set[str] = set()
        self._ring: deque[str] = deque()
        self._unsupported: set[str] = set()
        self.gaps = 0
        self.resyncs = 0
        self.duplicates = 0
        self.stale_dropped = 0
        self.trades_deduplicated = 0
        self.decode_errors = 0
        if self._known is not None:
            for topic in sorted(self._known):
                self._route(topic)

    # ---------------------------------------------------------------- routing
    def _route(self, topic: str) -> _Route | None:
        r = self._routes.get(topic)
        if r is not None:
            return r
        if self._known is not None and topic not in self._known:
            return None
        if len(self._routes) >= self._MAX_LAZY_ROUTES:
            return None
        parts = topic.split(".")
        if parts[0] == "orderbook" and len(parts) == 3 and parts[1].isdigit() and _SYMBOL_RE.match(parts[2]):
            symbol = parts[2]
            book = OrderBook(symbol, spec=_tick_spec(symbol, self._ticks, self._category),
                             strict_sequence=self._strict)
            r = _Route(0, symbol, book, None, parts[1] == "1")
            self.books[topic] = book
        elif parts[0] == "publicTrade" and len(parts) == 2 and _SYMBOL_RE.match(parts[1]):
            symbol = parts[1]
            r = _Route(1, symbol, None, decoder_for(_tick_spec(symbol, self._ticks, self._category).tick_size), False)
        else:
            return None
        self._routes[topic] = r
        return r

    # ----------------------------------------------------------------- frames
    def handle(self, raw: Any, ts: int, out: Any) -> None:
        """Apply one raw frame; append the resulting events to ``out``. Never raises."""
        try:
            if type(raw) is not str:
                try:
                    raw = bytes(raw).decode("utf-8")
                except (UnicodeDecodeError, TypeError):
                    self.decode_errors += 1
                    out.append(Error(f"frame is not UTF-8 text ({len(raw)} bytes); dropped", "decode", None, None, ts))
                    return
            i = raw.find(_TOPIC_KEY)
            if i >= 0:
                i += 9
                j = raw.find('"', i)
                topic = raw[i:j] if j >= 0 else None
            else:
                topic = _topic_of(raw)
            if topic is None:
                self._other(raw, ts, out)
                return
            r = self._routes.get(topic)
            if r is None:
                r = self._route(topic)
                if r is None:
                    self._unhandled(topic, ts, out)
                    return
            if r.kind:
                self._trades(r, topic, raw, ts, out)
                return
            book = r.book
            # A snapshot on a deep topic restarts the book's history (resubscribe, reconnect, or
            # trouble at Bybit): order-flow measures must not difference across it. Depth 1 is
            # snapshot-only; there the book itself tells a continuing history from a restart.
            if not r.depth1 and raw.find("snapshot", 0, _HEAD) >= 0 and _is_snapshot(raw):
                book.clear()
            epoch = book.epoch
            try:
                applied = book.apply_frame(raw, ts)
            except SequenceGapError as exc:
                if topic in self.resyncing:
                    self.stale_dropped += 1
                    return
                self.gaps += 1
                out.append(Gap(topic, r.symbol, exc.expected, exc.received, ts))
                self._start_resync(topic, r.symbol, "gap", ts, out, True)
                return
            except BookIntegrityError as exc:
                out.append(Error(str(exc), "book", topic, exc, ts))
                if topic not in self.resyncing:
                    self._start_resync(topic, r.symbol, "crossed", ts, out, True)
                return
            except InvalidInputError as exc:
                self.decode_errors += 1
                out.append(Error(f"{topic}: frame rejected, book untouched: {exc}", "decode", topic, exc, ts))
                return
            if not applied:
                self.duplicates += 1
                return
            if self.resyncing:
                self.resyncing.discard(topic)
            out.append(_book_update(topic, r.symbol, book.copy() if self._copy else book, book.update_id, book.seq,
                                    book.epoch != epoch, book.ts_exch, ts))
        except Exception as exc:  # a bug must not kill the consumer: report it
            self.decode_errors += 1
            out.append(Error(f"internal error while handling a frame: {exc!r}", "internal", None, exc, ts))

    def _unhandled(self, topic: str, ts: int, out: Any) -> None:
        self.decode_errors += 1
        if topic not in self._unsupported:
            if len(self._unsupported) < 1000:
                self._unsupported.add(topic)
            out.append(Error(f"frame of topic {topic!r} is not handled by this stream; dropped "
                             f"(further frames of it are counted in stats().decode_errors)",
                             "decode", topic, None, ts))

    def _trades(self, r: _Route, topic: str, raw: str, ts: int, out: list) -> None:
        try:
            trades = r.decoder.decode_trades(raw, ts)
        except InvalidInputError as exc:
            self.decode_errors += 1
            out.append(Error(f"{topic}: frame rejected: {exc}", "decode", topic, exc, ts))
            return
        cap = self._dedupe
        if cap:
            seen = self._seen
            ring = self._ring
            kept = []
            for t in trades:
                tid = t.trade_id
                if tid:
                    if tid in seen:
                        self.trades_deduplicated += 1
                        continue
                    seen.add(tid)
                    ring.append(tid)
                    if len(ring) > cap:
                        seen.discard(ring.popleft())
                kept.append(t)
            trades = kept
        if trades:
            out.append(_trade_event(topic, r.symbol, trades, ts))

    def _other(self, raw: str, ts: int, out: list) -> None:
        try:
            obj = json.loads(raw)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and ("op" in obj or "success" in obj or obj.get("type") == "COMMAND_RESP"):
            return  # a control reply: the live session handled it; a replay has nothing to do
        self.decode_errors += 1
        out.append(Error(f"unrecognised frame dropped: {raw[:80]!r}", "decode", None, None, ts))

    # ---------------------------------------------------------------- resyncs
    def _start_resync(self, topic: str, symbol: str, reason: str, ts: int, out: list, request: bool) -> None:
        self.resyncing.add(topic)
        self.resyncs += 1
        out.append(Resync(topic, symbol, reason, ts))
        if request and self._resync_cb is not None:
            self._resync_cb(topic)

    def on_reconnect(self) -> None:
        """Every book waits for the new connection's snapshot (its frames are dropped quietly)."""
        self.resyncing.update(self.books)

    def on_overflow(self, topics: Iterable[str], ts: int, out: list) -> None:
        """The queue shed frames of these topics; the socket thread already resubscribed them."""
        for topic in topics:
            r = self._routes.get(topic)
            if r is not None and r.kind == 0 and topic not in self.resyncing:
                self._start_resync(topic, r.symbol, "overflow", ts, out, False)


# ----------------------------------------------------------------------------------- session
class _Pending:
    __slots__ = ("op", "topics", "sent")

    def __init__(self, op: str, topics: tuple[str, ...], sent: float) -> None:
        self.op = op
        self.topics = topics
        self.sent = sent


class _Session:
    """The socket thread: connection, heartbeat, subscriptions, recorder, queue policy."""

    def __init__(self, owner: BybitStream) -> None:
        cfg = owner._cfg
        self._cfg = cfg
        self._url = owner.url
        self._q = owner._q
        self._topics: list[str] = list(owner.topics)
        self._book_topics = {t for t in self._topics if t.startswith("orderbook.")}
        self.rejected: set[str] = set()
        self._cmds: deque[str] = deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ws: Any = None
        self._rng = random.Random(cfg["seed"])
        self._last_ts = 0
        # queue policy
        self._book_cap = cfg["queue_size"]
        self._low_water = cfg["queue_size"] // 2
        self._res_cap = cfg["trade_queue_size"]
        self._shedding = False
        self._dropped: dict[str, int] = {}
        self._drops_pending = False
        self._trades_dropped_pending = 0
        self._events_dropped_pending = 0
        # connection state
        self._pending: dict[str, _Pending] = {}
        self._awaiting: dict[str, float] = {}
        self._resync_due: dict[str, float] = {}
        self._resync_backoff: dict[str, list[float]] = {}  # topic -> [backoff_s, last_sent]
        self._req = 0
        self._last_rx = 0.0
        self._ping_sent: float | None = None
        self._next_ping = 0.0
        # recorder (written and closed by this thread only)
        self._writer: Any = None
        self._record_to = cfg["record_to"]
        self._flush_every = cfg["record_flush_every"]
        self._last_flush = 0.0
        # stats
        self.frames = 0
        self.bytes = 0
        self.book_dropped = 0
        self.trades_dropped = 0
        self.events_dropped = 0
        self.connections = 0
        self.reconnects = 0
        self.pings = 0
        self.pongs = 0
        self.resubscribes = 0
        self.recorded = 0

    # ------------------------------------------------------------- lifecycle
    def start(self) -> None:
        if self._record_to is not None:
            from ofi.data.recording import RecordingWriter

            # opened here so that a bad path fails in start(), in the caller's thread
            self._writer = RecordingWriter(self._record_to, None, flush_every=self._flush_every,
                                           flush_interval_s=1.0)
        self._thread = threading.Thread(target=self._main, name="ofi-bybit-stream", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> bool:
        self._stop.set()
        ws = self._ws
        if ws is not None:
            try:
                ws.abort()
            except Exception:  # best effort: the thread notices the stop flag within a poll
                pass
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
            return not t.is_alive()
        return True

    def request_resync(self, topic: str) -> None:
        """Called from the consumer thread; the socket thread sends unsubscribe + subscribe."""
        self._cmds.append(topic)

    def _main(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # nothing escapes this thread
            self._emit(Error(f"stream thread stopped by {exc!r}", "internal", None, exc, self._now_ns()), force=True)
        finally:
            w = self._writer
            self._writer = None
            if w is not None:
                try:
                    w.close()
                except Exception as exc:
                    self._emit(Error(f"recorder close failed: {exc!r}", "recorder", None, exc, self._now_ns()),
                               force=True)
            self._q.put((_END, self._now_ns(), None))

    def _loop(self) -> None:
        import websocket  # websocket-client

        cfg = self._cfg
        attempt = 0
        while not self._stop.is_set():
            t_open = time.monotonic()
            connected = False
            try:
                ws = websocket.create_connection(
                    self._url,
                    timeout=cfg["connect_timeout_s"],
                    skip_utf8_validation=True,
                    enable_multithread=True,
                    sockopt=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
                )
            except Exception as exc:
                reason = f"connect to {self._url} failed: {exc}"
                self._emit(Error(reason, "connection", None, exc, self._now_ns()))
            else:
                connected = True
                self._ws = ws
                try:
                    reason = self._session(ws)
                except Exception as exc:  # a socket error we did not foresee: reconnect
                    reason = f"connection failed: {exc!r}"
                    self._emit(Error(reason, "connection", None, exc, self._now_ns()))
                finally:
                    self._ws = None
                    try:
                        ws.send_close()  # polite on a close or a stop; harmless on a dead link
                    except Exception:
                        pass
                    try:
                        ws.shutdown()
                    except Exception:
                        pass
            if self._stop.is_set():
                return
            if connected and time.monotonic() - t_open >= cfg["backoff_reset_s"]:
                attempt = 0
            attempt += 1
            if cfg["max_reconnects"] is not None and attempt > cfg["max_reconnects"]:
                self._emit(Error(f"giving up after {attempt - 1} reconnect attempts: {reason}", "connection",
                                 None, None, self._now_ns()), force=True)
                return
            base = min(cfg["reconnect_delay_max_s"], cfg["reconnect_delay_s"] * 2.0 ** (attempt - 1))
            delay = base * (0.5 + 0.5 * self._rng.random())
            self.reconnects += 1
            self._emit(Reconnect(reason, attempt, delay, self._now_ns()))
            self._stop.wait(delay)

    # -------------------------------------------------------------- one connection
    def _session(self, ws: Any) -> str:
        """Run one connection until it ends; return why it ended.

        websocket-client did the handshake and sends our requests; frames are read here, straight
        from its socket, in 64 KiB chunks (its own reader makes several system calls and objects
        per frame, which halves the throughput).
        """
        cfg = self._cfg
        ws.settimeout(cfg["poll_interval_s"])
        self.connections += 1
        self._pending.clear()
        self._awaiting.clear()
        self._resync_due.clear()
        self._cmds.clear()  # the subscribe below resyncs every topic anyway
        now = time.monotonic()
        self._last_rx = now
        self._ping_sent = None
        self._next_ping = now + cfg["ping_interval_s"]
        self._emit(Connected(self._url, self.connections, self._now_ns()))
        self._send(ws, "subscribe", [t for t in self._topics if t not in self.rejected], now)
        check_every = cfg["poll_interval_s"]
        next_check = now + check_every
        stop = self._stop
        sock = ws.sock
        recv = sock.recv
        buf = bytearray(b"".join(getattr(getattr(ws, "frame_buffer", None), "recv_buffer", None) or ()))
        frag_op = 0
        frags: list[bytes] = []
        on_frame = self._on_frame
        while not stop.is_set():
            try:
                chunk = recv(_READ_CHUNK)
            except (socket.timeout, TimeoutError):
                chunk = None
            except OSError as exc:
                return f"socket error: {exc}"
            now = time.monotonic()
            if chunk is not None:
                if not chunk:
                    return "the server closed the connection"
                buf += chunk
                self._last_rx = now
                # parse every complete frame in the buffer (RFC 6455 section 5.2)
                n = len(buf)
                p = 0
                mv = memoryview(buf)
                try:
                    while n - p >= 2:
                        b0 = buf[p]
                        b1 = buf[p + 1]
                        ln = b1 & 0x7F
                        h = p + 2
                        if ln == 126:
                            if n - p < 4:
                                break
                            ln = (buf[p + 2] << 8) | buf[p + 3]
                            h = p + 4
                        elif ln == 127:
                            if n - p < 10:
                                break
                            ln = int.from_bytes(buf[p + 2:p + 10], "big")
                            h = p + 10
                        if ln > _MAX_FRAME:
                            return f"protocol error: a {ln}-byte frame (limit {_MAX_FRAME})"
                        mask = b1 & 0x80
                        if mask:
                            h += 4
                        if n - h < ln:
                            break
                        payload: Any = mv[h:h + ln]
                        if mask:  # servers must not mask; unmask anyway
                            key = bytes(buf[h - 4:h]) * (ln // 4 + 1)
                            payload = (int.from_bytes(payload, "big") ^ int.from_bytes(key[:ln], "big")).to_bytes(
                                ln, "big")
                        p = h + ln
                        op = b0 & 0x0F
                        if op == 1 or op == 2:
                            if b0 & 0x80:
                                on_frame(payload, op)
                            else:
                                frag_op = op
                                frags = [bytes(payload)]
                        elif op == 0:
                            if not frag_op:
                                return "protocol error: a continuation frame without a first fragment"
                            frags.append(bytes(payload))
                            if sum(len(f) for f in frags) > _MAX_FRAME:
                                return f"protocol error: a fragmented message over {_MAX_FRAME} bytes"
                            if b0 & 0x80:
                                whole = b"".join(frags)
                                frags = []
                                op, frag_op = frag_op, 0
                                on_frame(whole, op)
                        elif op == 8:
                            return f"the server closed the connection ({_close_reason(bytes(payload))})"
                        elif op == 9:
                            try:
                                ws.pong(bytes(payload))
                            except Exception as exc:
                                return f"answering a ping failed: {exc}"
                        elif op != 10:
                            return f"protocol error: unknown opcode {op}"
                        payload = None
                finally:
                    mv.release()
                if p:
                    del buf[:p]
            if self._cmds:
                self._take_commands(ws, now)
            if now >= next_check:
                next_check = now + check_every
                dead = self._timers(ws, now)
                if dead:
                    return dead
        return "closed"

    def _on_frame(self, data: Any, opcode: int) -> None:
        """One received message (``data`` bytes-like; ``opcode`` 1 text, 2 binary)."""
        ts = time.time_ns()
        if ts <= self._last_ts:
            ts = self._last_ts + 1
        self._last_ts = ts
        self.frames += 1
        self.bytes += len(data)
        raw: str | bytes
        if opcode == 1:  # text
            try:
                raw = str(data, "utf-8")
            except UnicodeDecodeError:
                raw = bytes(data)
        else:
            raw = bytes(data)
        w = self._writer
        if w is not None:
            try:
                w.write(raw, ts)
                self.recorded += 1
            except Exception as exc:
                self._writer = None
                self._emit(Error(f"recorder failed, recording stopped: {exc!r}", "recorder", None, exc, ts))
                try:
                    w.close()
                except Exception:
                    pass
        if type(raw) is str:
            topic = _topic_of(raw)
            if topic is not None:
                q = self._q
                if topic.startswith("orderbook."):
                    if self._awaiting and topic in self._awaiting and (_is_snapshot(raw) or '"u":1,' in raw):
                        del self._awaiting[topic]
                    if not self._drops_pending and q.book_in - q.book_out < self._book_cap:
                        q.put((_BOOK, ts, raw))  # the common case; _put_book has the whole policy
                    else:
                        self._put_book(ts, raw, topic)
                elif not self._drops_pending and q.res_in - q.res_out < self._res_cap:
                    q.put((_FRAME, ts, raw))
                else:
                    self._put_frame(ts, raw)
                return
            if self._on_control(raw, ts):
                return
        self._put_frame(ts, raw)  # garbage or unknown: the consumer reports it

    # ----------------------------------------------------------------- queue policy
    def _put_book(self, ts: int, raw: str, topic: str) -> None:
        q = self._q
        if self._shedding:
            if q.book_in - q.book_out <= self._low_water:
                self._report_overflow(ts)
            if self._shedding:  # still far behind (or the reserve is full): keep shedding
                self._drop_book(topic)
                return
        elif q.book_in - q.book_out >= self._book_cap:
            self._shedding = True
            self._drop_book(topic)
            return
        elif self._drops_pending:
            self._report_overflow(ts)
        q.put((_BOOK, ts, raw))

    def _drop_book(self, topic: str) -> None:
        self._dropped[topic] = self._dropped.get(topic, 0) + 1
        self.book_dropped += 1
        self._drops_pending = True

    def _put_frame(self, ts: int, raw: Any) -> None:
        q = self._q
        if q.res_in - q.res_out >= self._res_cap:
            self.trades_dropped += 1
            self._trades_dropped_pending += 1
            self._drops_pending = True
            return
        if self._drops_pending:
            self._report_overflow(ts)  # only once the consumer has caught up
        q.put((_FRAME, ts, raw))

    def _emit(self, ev: Any, force: bool = False) -> None:
        q = self._q
        if not force and q.res_in - q.res_out >= self._res_cap:
            self.events_dropped += 1
            self._events_dropped_pending += 1
            self._drops_pending = True
            return
        q.put((_EVENT, getattr(ev, "ts_local", 0), ev))

    def _report_overflow(self, ts: int) -> None:
        """Queue one Overflow event for everything dropped so far, and resubscribe those topics."""
        q = self._q
        if q.res_in - q.res_out >= self._res_cap or q.book_in - q.book_out > self._low_water:
            return  # not yet: the consumer is still far behind
        dropped = self._dropped
        self._dropped = {}
        self._shedding = False
        self._drops_pending = False
        ev = Overflow(dropped, self._trades_dropped_pending, self._events_dropped_pending, ts)
        self._trades_dropped_pending = 0
        self._events_dropped_pending = 0
        self._emit(ev, force=True)  # at most one outstanding at a time: bounded
        now = time.monotonic()
        for topic in dropped:
            self._schedule_resync(topic, now)

    # ------------------------------------------------------------ subscriptions
    def _send(self, ws: Any, op: str, topics: Sequence[str], now: float, batch: int | None = None) -> None:
        """Send ``op`` for ``topics`` in batches within Bybit's args limit; track each req_id."""
        n = batch or self._cfg["max_args_per_request"]
        for k in range(0, len(topics), n):
            batch = tuple(topics[k:k + n])
            self._req += 1
            rid = f"ofi-{self._req}"
            if len(self._pending) > 4 * len(self._topics) + 64:  # replies that never came
                self._pending.clear()
            self._pending[rid] = _Pending(op, batch, now)
            ws.send(json.dumps({"req_id": rid, "op": op, "args": list(batch)}, separators=(",", ":")))
            if op == "subscribe":
                deadline = now + self._cfg["snapshot_timeout_s"]
                for t in batch:
                    if t in self._book_topics:
                        self._awaiting[t] = deadline

    def _on_control(self, raw: str, ts: int) -> bool:
        try:
            obj = json.loads(raw)
        except ValueError:
            return False
        if not isinstance(obj, dict):
            return False
        op = obj.get("op")
        if obj.get("ret_msg") == "pong" or op == "pong":
            self.pongs += 1
            return True
        if op in ("subscribe", "unsubscribe") or obj.get("type") == "COMMAND_RESP":
            self._on_reply(obj, ts)
            return True
        return op == "ping"

    def _on_reply(self, obj: dict, ts: int) -> None:
        rid = obj.get("req_id") or None
        pend = self._pending.pop(rid, None) if isinstance(rid, str) else None
        op = obj.get("op") or (pend.op if pend is not None else "subscribe")
        msg = str(obj.get("ret_msg") or "")
        if obj.get("type") == "COMMAND_RESP":  # option / spread: topics listed in data
            data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
            if op == "unsubscribe" or (pend is not None and pend.op == "unsubscribe"):
                return
            ok = tuple(str(t) for t in data.get("successTopics") or ())
            fail = tuple(str(t) for t in data.get("failTopics") or ())
            if pend is None:  # these replies carry no req_id: settle the requests by their topics
                answered = set(ok) | set(fail)
                for k in [k for k, p in self._pending.items() if p.op == "subscribe" and answered & set(p.topics)]:
                    del self._pending[k]
            if ok:
                self._emit(Subscribed(ok, rid, ts))
            if fail:
                self._reject(fail, rid, msg or "failTopics", ts)
            return
        if pend is None or pend.op == "unsubscribe" or op == "unsubscribe":
            if pend is None and obj.get("success") is False:
                self._emit(Error(f"Bybit refused a request we cannot match (req_id={rid!r}): {msg}", "subscribe",
                                 None, None, ts))
            return  # an unsubscribe of a resync: a failure ("not subscribed") is harmless
        if obj.get("success") is True:
            self._emit(Subscribed(pend.topics, rid, ts))
            return
        if "args size" in msg.lower() and len(pend.topics) > 1:  # too many args at once: halve the batch
            if self._ws is not None:
                try:
                    self._send(self._ws, "subscribe", pend.topics, time.monotonic(), (len(pend.topics) + 1) // 2)
                except Exception:
                    pass  # the connection is failing; the reconnect resubscribes them
            return
        named = _named_topics(msg, pend.topics)
        if "already subscribed" in msg.lower():
            done = named or pend.topics
            self._emit(Subscribed(done, rid, ts))
        else:
            done = named or pend.topics
            self._reject(done, rid, msg, ts)
        rest = [t for t in pend.topics if t not in done]
        if rest and self._ws is not None:  # the others of the batch: ask again on their own
            try:
                self._send(self._ws, "subscribe", rest, time.monotonic())
            except Exception:
                pass  # the connection is failing; the reconnect resubscribes them

    def _reject(self, topics: tuple[str, ...], rid: str | None, msg: str, ts: int) -> None:
        self.rejected.update(topics)
        for t in topics:
            self._awaiting.pop(t, None)
            self._resync_due.pop(t, None)
        self._emit(Rejected(topics, rid, msg, ts))
        exc = ExchangeError(f"Bybit rejected {', '.join(topics)}: {msg}", ret_msg=msg, endpoint=self._url)
        self._emit(Error(str(exc), "subscribe", topics[0], exc, ts))

    def _take_commands(self, ws: Any, now: float) -> None:
        cmds = self._cmds
        while cmds:
            try:
                topic = cmds.popleft()
            except IndexError:
                break
            self._schedule_resync(topic, now)
        self._fire_resyncs(ws, now)

    def _schedule_resync(self, topic: str, now: float) -> None:
        if topic not in self._book_topics or topic in self.rejected or topic in self._resync_due:
            return
        cfg = self._cfg
        st = self._resync_backoff.get(topic)
        if st is None:
            st = self._resync_backoff[topic] = [cfg["resync_delay_s"], -math.inf]
        if now - st[1] > 4.0 * max(st[0], 1.0):
            st[0] = cfg["resync_delay_s"]  # calm for a while: back to the shortest delay
        self._resync_due[topic] = max(now, st[1] + st[0])

    def _fire_resyncs(self, ws: Any, now: float) -> None:
        if not self._resync_due:
            return
        due = [t for t, when in self._resync_due.items() if when <= now]
        if not due:
            return
        for t in due:
            del self._resync_due[t]
            st = self._resync_backoff[t]
            st[1] = now
            st[0] = min(st[0] * 2.0 if st[0] > 0 else 0.05, self._cfg["resync_delay_max_s"])
        self.resubscribes += len(due)
        self._send(ws, "unsubscribe", due, now)
        self._send(ws, "subscribe", due, now)

    # ------------------------------------------------------------------- timers
    def _timers(self, ws: Any, now: float) -> str | None:
        cfg = self._cfg
        if now >= self._next_ping:
            try:
                self._req += 1
                ws.send(json.dumps({"req_id": f"ofi-{self._req}", "op": "ping"}, separators=(",", ":")))
            except Exception as exc:
                return f"sending a ping failed: {exc}"
            self.pings += 1
            if self._ping_sent is None or self._last_rx >= self._ping_sent:
                self._ping_sent = now
            self._next_ping = now + cfg["ping_interval_s"]
        if self._ping_sent is not None and self._last_rx < self._ping_sent:
            if now - self._ping_sent > cfg["pong_timeout_s"]:
                return f"no pong and no data within {cfg['pong_timeout_s']:g} s of a ping"
        if now - self._last_rx > cfg["idle_timeout_s"]:
            return f"no data for {cfg['idle_timeout_s']:g} s"
        if self._drops_pending:
            self._report_overflow(self._now_ns())
        if self._awaiting:
            late = [t for t, deadline in self._awaiting.items() if deadline < now]
            for t in late:
                del self._awaiting[t]
                self._emit(Error(f"no snapshot for {t} within {cfg['snapshot_timeout_s']:g} s of subscribing; "
                                 "resubscribing", "subscribe", t, None, self._now_ns()))
                self._schedule_resync(t, now)
        if self._resync_due:
            try:
                self._fire_resyncs(ws, now)
            except Exception as exc:
                return f"sending a resubscribe failed: {exc}"
        if self._pending:
            limit = cfg["snapshot_timeout_s"]
            old = [rid for rid, p in self._pending.items() if now - p.sent > limit]
            for rid in old:
                p = self._pending.pop(rid)
                if p.op == "subscribe":
                    self._emit(Error(f"no reply to subscribe {rid} ({', '.join(p.topics)}) within {limit:g} s",
                                     "subscribe", p.topics[0], None, self._now_ns()))
        w = self._writer
        if w is not None and now - self._last_flush >= 1.0:
            self._last_flush = now
            try:
                w.flush()
            except Exception as exc:
                self._writer = None
                self._emit(Error(f"recorder failed, recording stopped: {exc!r}", "recorder", None, exc,
                                 self._now_ns()))
        return None

    def _now_ns(self) -> int:
        return time.time_ns()


def _close_reason(frame: Any) -> str:
    data = frame if isinstance(frame, (bytes, bytearray)) else (getattr(frame, "data", b"") or b"")
    if len(data) >= 2:
        code = int.from_bytes(data[:2], "big")
        text = data[2:].decode("utf-8", "replace")
        return f"code {code}{': ' + text if text else ''}"
    return "no close code"


def _named_topics(msg: str, topics: tuple[str, ...]) -> tuple[str, ...]:
    """Topics of a request that an error message names (``...,topic:a,b``)."""
    named: list[str] = []
    for m in _REPLY_TOPICS_RE.finditer(msg):
        for part in re.split(r"[,|;]", m.group(1)):
            part = part.strip().strip("\"'[]")
            if part in topics and part not in named:
                named.append(part)
    return tuple(named)


# ----------------------------------------------------------------------------------- stream
def _check_number(value: Any, name: str, lo: float, strict: bool = True, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (
            value <= lo if strict else value < lo):
        op = ">" if strict else ">="
        raise InvalidInputError(f"{name} must be a finite number {op} {lo}, got {value!r}")
    return float(value)


def _check_int(value: Any, name: str, lo: int, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise InvalidInputError(f"{name} must be an int >= {lo}, got {value!r}")
    return value


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
        to this directory (:class:`ofi.data.recording.RecordingWriter`: one gzip JSON-lines file
        per symbol and hour; pongs and subscribe replies go under ``_control``).
    record_flush_every : int, keyword-only
        Frames between two flushes of the recorder (default 1: a process killed with SIGKILL
        loses at most the frame being written). Larger values trade durability for speed; the
        recorder is flushed at least every second anyway.
    queue_size : int, keyword-only
        Bound on book frames waiting for the consumer (default 10,000); see the module
        docstring for the overflow policy.
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

    Raises
    ------
    InvalidInputError
        If an argument is invalid (unknown category, a depth the category does not serve...).

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
            if not isinstance(s, str) or not _SYMBOL_RE.match(s):
                raise InvalidInputError(f"symbols must be letters, digits, '-' or '_', got {s!r}")
            if s not in syms:
                syms.append(s)
        if category not in BOOK_DEPTHS:
            raise InvalidInputError(f"category must be one of {sorted(BOOK_DEPTHS)}, got {category!r}")
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
            topics += [f"orderbook.{d}.{s}" for d in depths]
            if trades:
                t = f"publicTrade.{s.split('-')[0] if category == 'option' else s}"
                if t not in topics:
                    topics.append(t)
        if not topics:
            raise InvalidInputError("nothing to subscribe: give depth=... and/or trades=True")
        if sum(len(t) for t in topics) > _MAX_ARGS_CHARS:
            raise InvalidInputError(
                f"the topics' args total {sum(len(t) for t in topics)} characters; Bybit allows "
                f"{_MAX_ARGS_CHARS} per connection: split the symbols over several streams")
        ticks: dict[str, Any] = {}
        if tick_sizes is not None:
            if not isinstance(tick_sizes, Mapping):
                raise InvalidInputError(f"tick_sizes must be a mapping symbol -> tick size, got {tick_sizes!r}")
            for k, v in tick_sizes.items():
                if isinstance(v, InstrumentSpec):
                    ticks[k] = v
                else:
                    ticks[k] = parse_step(v, f"tick_sizes[{k!r}]")
        if ws_url is None:
            url = stream_url(category, testnet=testnet)
        elif not isinstance(ws_url, str) or not ws_url.startswith(("ws://", "wss://")):
            raise InvalidInputError(f"ws_url must be a ws:// or wss:// URL, got {ws_url!r}")
        else:
            url = ws_url
        if record_to is not None and not isinstance(record_to, (str, os.PathLike)):
            raise InvalidInputError(f"record_to must be a directory path, got {record_to!r}")
        ping = _check_number(ping_interval_s, "ping_interval_s", 0.0)
        pong = _check_number(pong_timeout_s, "pong_timeout_s", 0.0)
        idle = _check_number(idle_timeout_s, "idle_timeout_s", 0.0, allow_none=True)
        poll = _check_number(poll_interval_s, "poll_interval_s", 0.0)
        self._cfg: dict[str, Any] = {
            "record_to": record_to,
            "record_flush_every": _check_int(record_flush_every, "record_flush_every", 1),
            "queue_size": _check_int(queue_size, "queue_size", 2),
            "trade_queue_size": _check_int(trade_queue_size, "trade_queue_size", 1),
            "ping_interval_s": ping,
            "pong_timeout_s": pong,
            "idle_timeout_s": idle if idle is not None else ping + pong,
            "connect_timeout_s": _check_number(connect_timeout_s, "connect_timeout_s", 0.0),
            "reconnect_delay_s": _check_number(reconnect_delay_s, "reconnect_delay_s", 0.0, strict=False),
            "reconnect_delay_max_s": _check_number(reconnect_delay_max_s, "reconnect_delay_max_s", 0.0, strict=False),
            "backoff_reset_s": _check_number(backoff_reset_s, "backoff_reset_s", 0.0, strict=False),
            "max_reconnects": _check_int(max_reconnects, "max_reconnects", 0, allow_none=True),
            "resync_delay_s": _check_number(resync_delay_s, "resync_delay_s", 0.0, strict=False),
            "resync_delay_max_s": _check_number(resync_delay_max_s, "resync_delay_max_s", 0.0, strict=False),
            "snapshot_timeout_s": _check_number(snapshot_timeout_s, "snapshot_timeout_s", 0.0),
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
        self._session = _Session(self)
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
        if code <= _FRAME:
            if self._on_frame is not None:
                self._on_frame(ts, payload)
            self._handler.handle(payload, ts, out)
        elif code == _EVENT:
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
        deadline = None if duration_s is None else time.monotonic() + _check_number(duration_s, "duration_s", 0.0,
                                                                                     strict=False)
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
                 if t.rsplit(".", 1)[-1] == symbol and (depth is None or t == f"orderbook.{depth}.{symbol}")]
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

    # ---------------------------------------------------------------- replay
    @staticmethod
    def replay(path: str | os.PathLike[str], **kwargs: Any) -> Iterator[StreamEvent]:
        """Replay a recording through the live per-frame handler; see :func:`replay_recording`."""
        return replay_recording(path, **kwargs)


# ------------------------------------------------------------------------------------ replay
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
        As for :class:`BybitStream`.

    Returns
    -------
    Iterator of events
        :class:`BookUpdate`, :class:`TradeEvent`, :class:`Gap`, :class:`Resync` and
        :class:`Error` exactly as the live consumer would get them for these frames (a replay
        cannot resubscribe: after a gap the book waits for the next snapshot in the data).
        Control replies (pongs, subscribe replies) yield nothing. Books are created per topic
        as their frames appear.
    """
    if category not in BOOK_DEPTHS:
        raise InvalidInputError(f"category must be one of {sorted(BOOK_DEPTHS)}, got {category!r}")
    ticks = {}
    for k, v in (tick_sizes or {}).items():
        ticks[k] = v if isinstance(v, InstrumentSpec) else parse_step(v, f"tick_sizes[{k!r}]")
    handler = _FrameHandler(tick_sizes=ticks, category=category, strict_sequence=strict_sequence,
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
    from ofi.data.recording import read_recording

    reader = read_recording(Path(path) if not isinstance(path, Path) else path, warn=False)
    yield from replay_frames(reader, **kwargs)
    for cut in reader.truncated:
        yield Error(f"{cut.path} is cut off after {cut.frames} complete frames "
                    f"({cut.partial_bytes} bytes of a partial frame dropped)", "recording", None, None, 0)
