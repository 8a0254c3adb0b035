"""A fake Bybit V5 public websocket server on 127.0.0.1, with fault injection.

It speaks the public protocol of bybit-v5.md section 5: ``{"op":"subscribe"|"unsubscribe",
"args":[...],"req_id":...}`` answered per request in the category's reply shape (linear echoes
the ``req_id``; spot answers ``ret_msg:"subscribe"`` and refuses more than 10 args with
``"args size >10"``; option answers ``COMMAND_RESP``), unknown topics refused with
``success:false, ret_msg:"error:handler not found,topic:..."`` (one named per reply, as Bybit
does), a repeated subscribe refused with ``"error:already subscribed,topic:..."``, and
``{"op":"ping"}`` answered with the category's pong.

Data comes from :class:`ofi.sim.SimulatedMarket` (one market per symbol, genuine V5 frames) or
from a list of raw frames (a recording, a capture). The server keeps its own book per topic
(pure Python, ``Decimal`` ticks), so on every subscribe it sends a fresh snapshot of the book
*as it is now* (with the current ``u``), then the deltas that follow, exactly like Bybit. It
remembers a digest of its book at every ``(u, seq)`` so a test can check any book a client
showed against the truth.

Fault injection (:class:`Faults`, each a probability per frame sent on a connection, drawn
from a seeded RNG per connection): dropped connections (clean close or cut), silent
connections (no data, no pongs), skipped ``u``, duplicated and reordered deltas, deltas that
would cross the book, garbage frames, truncated frames, ``u == 1`` restarts (market-wide),
slow delivery, rejected topics, no pongs. For each connection the server also runs a model of
what a correct client book does with the frames actually sent (live, last ``u``, gap,
crossed), so it knows exactly which gaps a client must report (:attr:`FakeBybitWs.expected_gaps`).

On demand (from the test's thread): :meth:`FakeBybitWs.drop_all`, :meth:`FakeBybitWs.silence_all`,
:meth:`FakeBybitWs.restart` (``u == 1`` of a topic), :meth:`FakeBybitWs.pause` / ``resume``;
:meth:`FakeBybitWs.from_recording` serves what ``BybitStream(record_to=...)`` wrote.

The asyncio loop runs in a background thread; everything is loopback only, and every loop
in here is bounded by ``max_frames`` or by :meth:`FakeBybitWs.stop`.
"""
from __future__ import annotations

import asyncio
import heapq
import json
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from ofi.sim import SimulatedMarket

__all__ = ["Faults", "FakeBybitWs", "book_digest", "levels_of"]

_CONN_QUEUE_PAUSE = 20_000  # the producer waits while a connection has this many frames queued


@dataclass
class Faults:
    """Fault probabilities, each per frame sent on a connection (0 disables a fault).

    Attributes
    ----------
    drop : float
        Cut the connection (alternately a clean close frame and a TCP close without one).
    silent : float
        The connection goes silent: no data, no pongs, no replies, until the client leaves.
    skip : float
        A book delta is not sent (a ``u`` gap).
    duplicate : float
        A book delta is sent twice.
    reorder : float
        A book delta is held back and sent after the next one of its topic.
    cross : float
        A book delta is replaced by one with an extra bid at the best ask (crosses the book).
    truncate : float
        A delta or trade frame is cut in the middle (invalid JSON; a lost delta is a gap).
    garbage : float
        An extra junk frame goes out before the frame (binary noise, non-JSON text, a JSON
        array, a half frame naming a topic, a frame of a topic nobody subscribed).
    restart : float
        Per book frame produced, market-wide: a ``u == 1`` restart (full book, type ``delta``
        or ``snapshot`` alternately), after which ``u`` counts on from 1.
    slow : float
        Delivery pauses ``slow_s`` before the frame (frames pile up, then burst).
    slow_s : float
        Length of a slow-delivery pause.
    reject_topics : frozenset of str
        Topics refused on subscribe even though the server knows them.
    pong : bool
        Answer pings (False: never, while data keeps flowing).
    """

    drop: float = 0.0
    silent: float = 0.0
    skip: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    cross: float = 0.0
    truncate: float = 0.0
    garbage: float = 0.0
    restart: float = 0.0
    slow: float = 0.0
    slow_s: float = 0.05
    reject_topics: frozenset = field(default_factory=frozenset)
    pong: bool = True


def levels_of(book: Any, n: int | None = None) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """``(bids, asks)`` of an :class:`ofi.OrderBook` as ``(price_ticks, size)`` lists, best first."""
    k = n if n is not None else max(len(book), 1)
    bt, bs, at, as_ = book.top_levels(k)
    return list(zip(bt.tolist(), bs.tolist())), list(zip(at.tolist(), as_.tolist()))


def book_digest(bids: Sequence[tuple[int, float]], asks: Sequence[tuple[int, float]]) -> int:
    """Digest of a book given as ``(price_ticks, size)`` lists, best first."""
    return hash((tuple(bids), tuple(asks)))


# ------------------------------------------------------------------------------- server book
class _ServerBook:
    """The server's true book of one topic, kept from the frames it produces."""

    def __init__(self, topic: str, symbol: str, tick: Decimal) -> None:
        self.topic = topic
        self.symbol = symbol
        self.tick = tick
        self.bids: dict[int, tuple[str, str]] = {}
        self.asks: dict[int, tuple[str, str]] = {}
        self.u = 0
        self.seq = 0
        self.ts = 0
        self.cts = 0
        self._ticks: dict[str, int] = {}

    def _t(self, price: str) -> int:
        t = self._ticks.get(price)
        if t is None:
            q = Decimal(price) / self.tick
            if q != q.to_integral_value():
                raise ValueError(f"{self.topic}: price {price} is off the {self.tick} grid")
            if len(self._ticks) > 200_000:
                self._ticks.clear()
            t = self._ticks[price] = int(q)
        return t

    def apply(self, obj: dict, u: int) -> None:
        data = obj["data"]
        if obj.get("type") == "snapshot" or u == 1:
            self.bids.clear()
            self.asks.clear()
        for side, lv in ((self.bids, data.get("b") or ()), (self.asks, data.get("a") or ())):
            for p, s in lv:
                t = self._t(p)
                if Decimal(s) == 0:
                    side.pop(t, None)
                else:
                    side[t] = (p, s)
        self.u = u
        self.seq = int(data.get("seq", self.seq))
        self.ts = int(obj.get("ts", self.ts))
        self.cts = int(obj.get("cts", self.cts))

    def levels(self) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        bids = [(t, float(self.bids[t][1])) for t in sorted(self.bids, reverse=True)]
        asks = [(t, float(self.asks[t][1])) for t in sorted(self.asks)]
        return bids, asks

    def digest(self) -> int:
        return book_digest(*self.levels())

    def snapshot_raw(self, *, type_: str = "snapshot", u: int | None = None) -> str:
        b = ",".join('["%s","%s"]' % self.bids[t] for t in sorted(self.bids, reverse=True))
        a = ",".join('["%s","%s"]' % self.asks[t] for t in sorted(self.asks))
        return '{"topic":"%s","type":"%s","ts":%d,"data":{"s":"%s","b":[%s],"a":[%s],"u":%d,"seq":%d},"cts":%d}' % (
            self.topic, type_, self.ts, self.symbol, b, a, self.u if u is None else u, self.seq, self.cts)


# ------------------------------------------------------------------------------- connection
class _ClientModel:
    """What a correct client book of one topic does with the frames this connection sent."""

    __slots__ = ("live", "last")

    def __init__(self) -> None:
        self.live = False
        self.last = -1


class _Conn:
    def __init__(self, no: int, ws: Any, seed: int) -> None:
        self.no = no
        self.ws = ws
        self.id = str(uuid.UUID(int=random.Random(seed).getrandbits(128)))
        self.q: asyncio.Queue = asyncio.Queue()
        self.subs: set[str] = set()
        self.rng = random.Random(seed)
        self.silent = False
        self.closed = False
        self.held: dict[str, tuple] = {}
        self.model: dict[str, _ClientModel] = {}
        self.sent: list[str] = []
        self.sent_frames = 0


# ---------------------------------------------------------------------------------- server
class FakeBybitWs:
    """A local fake of Bybit's public websocket for one category.

    Parameters
    ----------
    symbols : sequence of str
        Symbols simulated (one :class:`SimulatedMarket` each) when neither ``markets`` nor
        ``frames`` is given.
    category : str
        ``"linear"``, ``"inverse"``, ``"spot"`` or ``"option"``: the reply and pong shapes.
    depth : int
        Book depth of the simulated markets.
    seed : int
        Seed of the markets (symbol ``i`` uses ``seed + i``) and of the fault RNGs.
    markets : sequence of SimulatedMarket, optional
        Use these markets instead.
    frames : iterable of str, optional
        Play these raw frames (once, in order) instead of simulating.
    tick_sizes : mapping, optional
        Tick size per symbol for ``frames`` (default 1e-10, exact for any price).
    rate : float or None
        Frames produced per second (None: as fast as the connections take them).
    max_frames : int or None
        Stop producing after this many frames.
    faults : Faults, optional
        What to inject (default: nothing).
    track_books : bool
        Keep the server books and their history (needed for snapshots on subscribe; turn off
        only for pure-throughput benchmarks of a single connection).
    history : int
        How many past book states to remember per server (digests by ``(topic, u, seq)``).
    keep_sent : bool
        Keep every data frame sent intact per connection (:meth:`sent_frames`).
    trade_rate : float
        Poisson taker rate of the simulated markets.
    """

    def __init__(
        self,
        symbols: Sequence[str] = ("BTCUSDT",),
        *,
        category: str = "linear",
        depth: int = 50,
        seed: int = 0,
        markets: Sequence[SimulatedMarket] | None = None,
        frames: Iterable[str] | None = None,
        tick_sizes: dict[str, Any] | None = None,
        rate: float | None = 1000.0,
        max_frames: int | None = None,
        faults: Faults | None = None,
        track_books: bool = True,
        history: int = 100_000,
        keep_sent: bool = False,
        trade_rate: float = 10.0,
    ) -> None:
        self.category = category
        self.faults = faults or Faults()
        self.rate = rate
        self.max_frames = max_frames
        self.track_books = track_books
        self.keep_sent = keep_sent
        self._seed = seed
        self._ticks: dict[str, Decimal] = {}
        if frames is not None:
            frames = list(frames)
            self._frames_src: Iterable[str] | None = frames
            self.markets: list[SimulatedMarket] = []
            for k, v in (tick_sizes or {}).items():
                self._ticks[k] = Decimal(str(v))
            self._valid_topics: set[str] | None = set()
            for raw in frames:  # the topics the frames carry are the ones served
                i = raw.find('"topic":"')
                if i >= 0:
                    self._valid_topics.add(raw[i + 9:raw.find('"', i + 9)])
        else:
            self._frames_src = None
            if markets is None:
                markets = [SimulatedMarket(s, depth=depth, seed=seed + i, trade_rate=trade_rate)
                           for i, s in enumerate(symbols)]
            self.markets = list(markets)
            self._valid_topics = set()
            for m in self.markets:
                self._ticks[m.symbol] = m.tick_size
                self._valid_topics.update((m.topic, m.trade_topic))
        self._books: dict[str, _ServerBook] = {}
        self._offset: dict[str, int] = {}  # u renumbering after a u == 1 restart
        self._orig_u: dict[str, int] = {}
        self._hist: dict[tuple[str, int, int], int] = {}
        self._hist_keys: deque = deque()
        self._hist_cap = history
        self._lock = threading.Lock()
        self._conns: dict[int, _Conn] = {}
        self._conn_no = 0
        self._paused = False
        self._produced = 0
        self._rate_base = (0.0, 0)
        self._restarts_pending: list[str] = []
        self._drop_all = False
        self.expected_gaps: list[tuple[int, str, int, int]] = []
        self.expected_crossed: list[tuple[int, str, int]] = []
        self.subscribe_requests: list[list[str]] = []
        self.sent: dict[int, list[str]] = {}
        self.stats: dict[str, int] = {
            "connections": 0, "frames_produced": 0, "frames_sent": 0, "subscribes": 0, "unsubscribes": 0,
            "rejected": 0, "pings": 0, "pongs": 0, "drop": 0, "silent": 0, "skip": 0, "duplicate": 0,
            "reorder": 0, "cross": 0, "truncate": 0, "garbage": 0, "restart": 0, "slow": 0,
        }
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop_evt: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.port = 0

    @classmethod
    def from_recording(cls, path: Any, **kwargs: Any) -> FakeBybitWs:
        """A server that plays the data frames of an ofi recording (control frames left out)."""
        from ofi.data.recording import read_recording

        frames = [f.raw for f in read_recording(path) if isinstance(f.raw, str) and '"topic":"' in f.raw]
        return cls(frames=frames, **kwargs)

    # ---------------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v5/public/{self.category}"

    def start(self) -> FakeBybitWs:
        self._thread = threading.Thread(target=self._run, name="fake-bybit-ws", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError(f"fake server did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and self._stop_evt is not None and loop.is_running():
            loop.call_soon_threadsafe(self._stop_evt.set)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FakeBybitWs:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported through start() / error
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_evt = asyncio.Event()
        async with serve(self._handler, "127.0.0.1", 0, compression=None, max_size=None, ping_interval=None,
                         close_timeout=1) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            producer = asyncio.create_task(self._producer())
            self._ready.set()
            await self._stop_evt.wait()
            producer.cancel()
            for c in list(self._conns.values()):
                c.closed = True
                try:
                    c.ws.transport.abort()
                except Exception:
                    pass

    # ---------------------------------------------------------------- controls (any thread)
    def pause(self) -> None:
        """Stop producing frames (queued frames still go out)."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    @property
    def frames_produced(self) -> int:
        return self._produced

    def idle(self) -> bool:
        """True when no frame waits to be sent on any connection."""
        return all(c.q.empty() for c in list(self._conns.values()))

    def wait_produced(self, n: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._produced < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return self._produced >= n

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.idle() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.idle()

    def restart(self, topic: str) -> None:
        """Inject a ``u == 1`` restart of ``topic`` with the next frame produced."""
        self._restarts_pending.append(topic)

    def drop_all(self) -> None:
        """Cut every open connection now."""
        loop = self._loop
        if loop is not None:
            for c in list(self._conns.values()):
                loop.call_soon_threadsafe(self._cut, c, True)

    def silence_all(self) -> None:
        """Make every open connection go silent now (no data, no pongs) until the client leaves."""
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._silence_all)

    def _silence_all(self) -> None:
        for c in self._conns.values():
            if not c.closed and not c.silent:
                c.silent = True
                self.stats["silent"] += 1

    @property
    def open_connections(self) -> int:
        return sum(1 for c in self._conns.values() if not c.closed)

    def true_book(self, topic: str) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        """The server's current book of ``topic`` as ``(price_ticks, size)`` lists, best first."""
        with self._lock:
            return self._books[topic].levels()

    def book_state(self, topic: str) -> tuple[int, int]:
        """``(u, seq)`` of the server's current book of ``topic``."""
        with self._lock:
            b = self._books[topic]
            return b.u, b.seq

    def digest_at(self, topic: str, u: int, seq: int) -> int | None:
        """Digest of the true book of ``topic`` right after the message ``(u, seq)``."""
        with self._lock:
            return self._hist.get((topic, u, seq))

    def sent_frames(self, conn_no: int) -> list[str]:
        """Data frames sent intact on connection ``conn_no`` (1-based), with ``keep_sent``."""
        return list(self.sent.get(conn_no, ()))

    # ---------------------------------------------------------------- production
    def _feed(self) -> Iterable[tuple[str, str]]:
        if self._frames_src is not None:
            for raw in self._frames_src:
                yield ("book" if '"topic":"orderbook.' in raw else "other"), raw
            return
        its = [m.frames() for m in self.markets]
        merged = its[0] if len(its) == 1 else heapq.merge(*its, key=lambda f: f.ts_local)
        for f in merged:
            yield f.kind, f.raw

    async def _producer(self) -> None:
        loop = asyncio.get_running_loop()
        feed = iter(self._feed())
        self._rate_base = (loop.time(), 0)
        exhausted = False
        while True:
            if self._paused or exhausted or (self.max_frames is not None and self._produced >= self.max_frames):
                self._rate_base = (loop.time(), self._produced)
                await asyncio.sleep(0.005)
                continue
            if any(c.q.qsize() > _CONN_QUEUE_PAUSE for c in self._conns.values()):
                await asyncio.sleep(0.001)
                continue
            if self.rate is None:
                n = 256
            else:
                t0, n0 = self._rate_base
                n = int((loop.time() - t0) * self.rate) - (self._produced - n0)
            if self.max_frames is not None:
                n = min(n, self.max_frames - self._produced)
            for _ in range(min(n, 512)):
                try:
                    kind, raw = next(feed)
                except StopIteration:
                    exhausted = True
                    break
                self._produce(kind, raw)
            await asyncio.sleep(0.001 if self.rate is not None else 0)

    def _produce(self, kind: str, raw: str) -> None:
        self._produced += 1
        self.stats["frames_produced"] += 1
        i = raw.find('"topic":"')
        topic = raw[i + 9:raw.find('"', i + 9)] if i >= 0 else ""
        if kind != "book" or not self.track_books:
            self._broadcast(topic, ("data", topic, None, raw))
            return
        obj = json.loads(raw)
        orig_u = int(obj["data"]["u"])
        off = self._offset.get(topic, 0)
        u = orig_u - off
        if off:
            raw = raw.replace('"u":%d,' % orig_u, '"u":%d,' % u, 1)
        with self._lock:
            sb = self._books.get(topic)
            if sb is None:
                sym = topic.rsplit(".", 1)[-1]
                sb = self._books[topic] = _ServerBook(topic, sym, self._ticks.get(sym, Decimal("1e-10")))
            sb.apply(obj, u)
            self._remember(topic, sb)
        self._orig_u[topic] = orig_u
        snap = obj.get("type") == "snapshot" or u == 1
        self._broadcast(topic, ("snap" if snap else "delta", topic, u, raw))
        restart = topic in self._restarts_pending
        if restart:
            self._restarts_pending.remove(topic)
        elif self.faults.restart and self._restart_rng().random() < self.faults.restart:
            restart = True
        if restart:
            self.stats["restart"] += 1
            with self._lock:
                sb.u = 1
                self._remember(topic, sb)
                type_ = "delta" if self.stats["restart"] % 2 else "snapshot"
                rraw = sb.snapshot_raw(type_=type_, u=1)
            self._offset[topic] = orig_u - 1
            self._broadcast(topic, ("snap", topic, 1, rraw))

    def _restart_rng(self) -> random.Random:
        r = getattr(self, "_rrng", None)
        if r is None:
            r = self._rrng = random.Random(self._seed * 7919 + 1)
        return r

    def _remember(self, topic: str, sb: _ServerBook) -> None:
        key = (topic, sb.u, sb.seq)
        if key not in self._hist:
            self._hist_keys.append(key)
            if len(self._hist_keys) > self._hist_cap:
                self._hist.pop(self._hist_keys.popleft(), None)
        self._hist[key] = sb.digest()

    def _broadcast(self, topic: str, item: tuple) -> None:
        for c in self._conns.values():
            if not c.closed and topic in c.subs:
                c.q.put_nowait(item)

    # ---------------------------------------------------------------- connections
    async def _handler(self, ws: Any) -> None:
        self._conn_no += 1
        no = self._conn_no
        conn = _Conn(no, ws, self._seed * 1_000_003 + no)
        self._conns[no] = conn
        self.stats["connections"] += 1
        if self.keep_sent:
            self.sent[no] = conn.sent
        sender = asyncio.create_task(self._sender(conn))
        try:
            async for msg in ws:
                if conn.silent or conn.closed:
                    continue
                self._on_message(conn, msg)
        except ConnectionClosed:
            pass
        finally:
            conn.closed = True
            sender.cancel()
            self._conns.pop(no, None)

    def _ctrl(self, conn: _Conn, obj: dict) -> None:
        conn.q.put_nowait(("ctrl", None, None, json.dumps(obj, separators=(",", ":"))))

    def _on_message(self, conn: _Conn, msg: Any) -> None:
        try:
            obj = json.loads(msg)
        except ValueError:
            return
        if not isinstance(obj, dict):
            return
        op = obj.get("op")
        rid = obj.get("req_id")
        if op == "ping":
            self.stats["pings"] += 1
            if not self.faults.pong:
                return
            self.stats["pongs"] += 1
            if self.category == "option":
                self._ctrl(conn, {"args": [str(int(time.time() * 1000))], "op": "pong"})
            elif self.category == "spot":
                self._ctrl(conn, {"success": True, "ret_msg": "pong", "conn_id": conn.id, "op": "ping"})
            else:
                self._ctrl(conn, {"success": True, "ret_msg": "pong", "conn_id": conn.id, "req_id": rid or "",
                                  "op": "ping"})
            return
        if op not in ("subscribe", "unsubscribe"):
            return
        args = [a for a in obj.get("args") or [] if isinstance(a, str)]
        if op == "subscribe":
            self.stats["subscribes"] += 1
            self.subscribe_requests.append(list(args))
            if self.category == "spot" and len(args) > 10:
                self._reply(conn, op, rid, False, "args size >10")
                return
            valid = self._valid_topics or set()
            bad = [t for t in args if t not in valid or t in self.faults.reject_topics]
            dup = [t for t in args if t in conn.subs and t not in bad]
            good = [t for t in args if t not in bad and t not in dup]
            if self.category == "option":
                self._ctrl(conn, {"success": True, "conn_id": conn.id, "data": {"failTopics": bad + dup,
                                  "successTopics": good}, "type": "COMMAND_RESP"})
            elif bad:
                self.stats["rejected"] += 1
                self._reply(conn, op, rid, False, f"error:handler not found,topic:{bad[0]}")
            elif dup:
                self._reply(conn, op, rid, False, f"error:already subscribed,topic:{dup[0]}")
            else:
                self._reply(conn, op, rid, True, "subscribe" if self.category == "spot" else "")
            for t in good:
                conn.subs.add(t)
                if t.startswith("orderbook."):
                    with self._lock:
                        sb = self._books.get(t)
                        snap = sb.snapshot_raw() if sb is not None else None
                        u = sb.u if sb is not None else 0
                    if snap is not None:  # else the topic's first frame (a snapshot) is still to come
                        conn.q.put_nowait(("snap", t, u, snap))
        else:
            self.stats["unsubscribes"] += 1
            missing = [t for t in args if t not in conn.subs]
            for t in args:
                conn.subs.discard(t)
                conn.held.pop(t, None)
            if self.category == "option":
                self._ctrl(conn, {"success": True, "conn_id": conn.id, "data": {"failTopics": missing,
                                  "successTopics": [t for t in args if t not in missing]}, "type": "COMMAND_RESP"})
            else:
                msg = f"error:not subscribed,topic:{missing[0]}" if missing else ""
                self._reply(conn, op, rid, not missing, msg)

    def _reply(self, conn: _Conn, op: str, rid: Any, ok: bool, msg: str) -> None:
        obj: dict[str, Any] = {"success": ok, "ret_msg": msg, "conn_id": conn.id}
        if rid is not None or self.category != "spot":
            obj["req_id"] = rid if rid is not None else ""
        obj["op"] = op
        self._ctrl(conn, obj)

    def _cut(self, conn: _Conn, clean: bool) -> None:
        if conn.closed:
            return
        conn.closed = True
        self.stats["drop"] += 1
        if clean:
            asyncio.ensure_future(conn.ws.close(1001, "fake server: dropped"))
        else:
            try:
                conn.ws.transport.close()  # TCP FIN without a websocket close frame
            except Exception:
                pass

    # ---------------------------------------------------------------- sending with faults
    async def _send(self, conn: _Conn, data: Any) -> None:
        await conn.ws.send(data)

    def _garbage(self, conn: _Conn) -> Any:
        r = conn.rng.randrange(6)
        if r == 0:
            return bytes(conn.rng.getrandbits(8) for _ in range(conn.rng.randrange(1, 64)))
        if r == 1:
            return "\x00not json at all \ufffd"
        if r == 2:
            return "[1,2,3]"
        if r == 3:
            t = next(iter(sorted(conn.subs)), "orderbook.50.BTCUSDT")
            return '{"topic":"%s","type":"delta","ts":1,"data":{"s":' % t
        if r == 4:
            return '{"topic":"tickers.NOPE","type":"snapshot","ts":1,"data":{}}'
        return '{"topic":"'

    def _model_sent(self, conn: _Conn, kind: str, topic: str, u: int, crossed: bool = False) -> None:
        m = conn.model.get(topic)
        if m is None:
            m = conn.model[topic] = _ClientModel()
        if kind == "snap":
            m.live = True
            m.last = u
            return
        if not m.live:
            return
        if u <= m.last:
            return
        if u != m.last + 1:
            self.expected_gaps.append((conn.no, topic, m.last + 1, u))
            m.live = False
            return
        if crossed:
            self.expected_crossed.append((conn.no, topic, u))
            m.live = False
            return
        m.last = u

    async def _emit_data(self, conn: _Conn, item: tuple) -> None:
        """Send one data item intact (and update the client model)."""
        kind, topic, u, raw = item
        await self._send(conn, raw)
        conn.sent_frames += 1
        self.stats["frames_sent"] += 1
        if self.keep_sent:
            conn.sent.append(raw)
        if kind in ("snap", "delta"):
            self._model_sent(conn, kind, topic, u)

    async def _sender(self, conn: _Conn) -> None:
        f = self.faults
        rng = conn.rng
        clean_drop = True
        try:
            while not conn.closed:
                item = await conn.q.get()
                if conn.silent:
                    continue
                kind, topic, u, raw = item
                if kind == "ctrl":
                    await self._send(conn, raw)
                    continue
                if topic not in conn.subs:
                    continue  # unsubscribed meanwhile
                if f.drop and rng.random() < f.drop:
                    self._cut(conn, clean_drop)
                    clean_drop = not clean_drop
                    return
                if f.silent and rng.random() < f.silent:
                    conn.silent = True
                    self.stats["silent"] += 1
                    continue
                if f.slow and rng.random() < f.slow:
                    self.stats["slow"] += 1
                    await asyncio.sleep(f.slow_s)
                if f.garbage and rng.random() < f.garbage:
                    self.stats["garbage"] += 1
                    await self._send(conn, self._garbage(conn))
                if kind == "delta":
                    held = conn.held.pop(topic, None)
                    if f.skip and rng.random() < f.skip:
                        self.stats["skip"] += 1
                        if held is not None:
                            await self._emit_data(conn, held)
                        continue
                    if f.truncate and rng.random() < f.truncate:
                        self.stats["truncate"] += 1
                        await self._send(conn, raw[: max(1, len(raw) // 2)])
                        if held is not None:
                            await self._emit_data(conn, held)
                        continue
                    if f.cross and rng.random() < f.cross:
                        bad = self._crossed(topic, raw)
                        if bad is not None:
                            self.stats["cross"] += 1
                            await self._send(conn, bad)
                            self._model_sent(conn, "delta", topic, u, crossed=True)
                            if held is not None:
                                await self._emit_data(conn, held)
                            continue
                    if held is None and f.reorder and rng.random() < f.reorder:
                        self.stats["reorder"] += 1
                        conn.held[topic] = item
                        continue
                    await self._emit_data(conn, item)
                    if held is not None:
                        await self._emit_data(conn, held)
                    if f.duplicate and rng.random() < f.duplicate:
                        self.stats["duplicate"] += 1
                        await self._send(conn, raw)
                    continue
                if kind == "data" and f.truncate and rng.random() < f.truncate:
                    self.stats["truncate"] += 1
                    await self._send(conn, raw[: max(1, len(raw) // 2)])
                    continue
                if kind == "snap":
                    conn.held.pop(topic, None)
                await self._emit_data(conn, item)
        except (ConnectionClosed, asyncio.CancelledError):
            pass
        except Exception as exc:  # a bug in the fake: make it visible to the test
            self._error = exc
        finally:
            conn.closed = True

    def _crossed(self, topic: str, raw: str) -> str | None:
        # A bid at the server's *worst* ask: above any best ask the client can hold.
        with self._lock:
            sb = self._books.get(topic)
            ask = sb.asks[max(sb.asks)][0] if sb is not None and sb.asks else None
        if ask is None:
            return None
        obj = json.loads(raw)
        obj["data"]["b"] = list(obj["data"].get("b") or []) + [[ask, "1"]]
        obj["data"]["a"] = [lv for lv in obj["data"].get("a") or [] if lv[0] != ask]
        return json.dumps(obj, separators=(",", ":"))

    @property
    def error(self) -> BaseException | None:
        """An exception raised inside the server (None if all went well)."""
        return self._error
