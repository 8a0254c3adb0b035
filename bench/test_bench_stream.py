"""Websocket stream benchmarks: frames per second through ``BybitStream`` (socket thread, queue,
decode, book, events) on loopback against the fake Bybit server, and the per-frame handling
beside pybit's and cryptofeed's on the same frames.

Data: ``ofi.sim.SimulatedMarket("BTCUSDT", depth=50, seed)`` linear frames (snapshot, ~60 %
book deltas, the rest publicTrade), ``OFI_BENCH_STREAM_FRAMES`` of them (default 20000).

Groups (unit: one websocket frame):

- ``stream-loopback``: the fake server (``tests/fakes/ws_server.py``, in a subprocess so it
  does not share our GIL) sends every frame as fast as it can; timed from "go" until the
  consumer has pulled the event of the last frame. ours: ``BybitStream`` iterated in this
  thread; floor: a raw socket reader counting bytes (the server's own ceiling: ours runs at
  about that speed, so this group measures the server as much as us); peer: pybit's
  ``WebSocket`` machinery (websocket-client ``WebSocketApp`` thread, ``json.loads``, its list
  book and ``deepcopy`` per book message, our callback).
- ``stream-handler``: no socket, the frames already received. ours: the consumer half
  (``replay_frames``: route, ``OrderBook.apply_frame`` / ``decode_trades``, dedupe, typed
  event); ours-alt: the socket-thread half too (stamp, classify, bounded queue) + the consumer
  half; floor: bare ``apply_frame`` / ``decode_trades`` calls; peers: pybit's
  ``_on_message`` and cryptofeed's ``Bybit.message_handler`` with no-op callbacks.

The decode + queue overhead per frame is ``ours-alt - floor`` of ``stream-handler`` (printed, and
kept in the JSON ``extra_info`` of ``test_handler_ours_with_queue``).
Every benchmark asserts the final book against the simulator's own book.

Run: ``pytest bench/test_bench_stream.py --benchmark-only -p no:cacheprovider``.
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import SEED, record

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "tests"
N_FRAMES = int(os.environ.get("OFI_BENCH_STREAM_FRAMES", "20000"))
SYMBOL = "BTCUSDT"
TICK = "0.1"
TOPIC = f"orderbook.50.{SYMBOL}"
GROUP_LOOP = "stream-loopback"
GROUP_HANDLER = "stream-handler"
_OVERHEAD: dict[str, float] = {}

_SERVER = r"""
import sys
sys.path.insert(0, sys.argv[1])
from fakes.ws_server import FakeBybitWs
frames = open(sys.argv[2]).read().splitlines()
srv = FakeBybitWs(frames=frames, rate=None, track_books=False)
srv.pause()
srv.start()
print(srv.port, flush=True)
sys.stdin.readline()          # "go"
srv.resume()
sys.stdin.readline()          # EOF or "stop"
srv.stop()
"""


class Data:
    def __init__(self) -> None:
        from ofi.sim import SimulatedMarket

        market = SimulatedMarket(SYMBOL, tick_size=TICK, depth=50, seed=SEED)
        self.frames = market.generate(n_messages=N_FRAMES)
        self.raws = [f.raw for f in self.frames]
        self.n = len(self.raws)
        self.n_book = sum(f.kind == "book" for f in self.frames)
        self.n_trade = self.n - self.n_book
        self.true_bids, self.true_asks = market.true_book()
        fd, path = tempfile.mkstemp(suffix=".jsonl", prefix="ofi-bench-stream-")
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(self.raws))
        self.path = path


@pytest.fixture(scope="module")
def data(ofi_core):
    d = Data()
    yield d
    os.unlink(d.path)


def _check_book(book, d: Data) -> None:
    bt, bs, at, as_ = book.top_levels(len(d.true_bids))
    assert list(zip(bt.tolist(), bs.tolist())) == d.true_bids
    assert list(zip(at.tolist(), as_.tolist())) == d.true_asks


# ------------------------------------------------------------------------------ loopback
class Server:
    """The fake server in its own process, paused until :meth:`go`."""

    def __init__(self, d: Data) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(TESTS), d.path],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.strip():
            self.stop()
            raise RuntimeError("the fake server did not start")
        self.url = f"ws://127.0.0.1:{int(line)}/v5/public/linear"

    def go(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@pytest.mark.benchmark(group=GROUP_LOOP)
def test_loopback_ours(benchmark, data):
    from ofi.api.events import BookUpdate, Subscribed, TradeEvent
    from ofi.api.stream import BybitStream

    state: dict = {}

    def setup():
        srv = Server(data)
        s = BybitStream(SYMBOL, depth=50, ws_url=srv.url, tick_sizes={SYMBOL: TICK}, queue_size=100_000)
        subscribed = 0
        deadline = time.monotonic() + 10
        while subscribed < 1 and time.monotonic() < deadline:  # one reply for both topics
            ev = s.next_event(0.5)
            subscribed += isinstance(ev, Subscribed)
        state.update(srv=srv, stream=s, open=True)
        return (), {}

    def run():
        s, srv = state["stream"], state["srv"]
        srv.go()
        nb = nt = 0
        book = None
        while nb < data.n_book or nt < data.n_trade:
            ev = s.next_event(5.0)
            if ev is None:
                raise RuntimeError(f"stalled after {nb} book and {nt} trade frames")
            if type(ev) is BookUpdate:
                nb += 1
                book = ev.book
            elif type(ev) is TradeEvent:
                nt += 1
        state["book"] = book

    def teardown():
        state["open"] = False
        state["stream"].close()
        state["srv"].stop()

    try:
        benchmark.pedantic(run, setup=setup, teardown=teardown, rounds=3, iterations=1)
    finally:
        if state.get("open"):                  # a round that raised before its teardown
            teardown()
    _check_book(state["book"], data)
    st = state["stream"].stats()
    assert st.book_frames_dropped == 0 and st.gaps == 0
    record(benchmark, impl="ours", label="BybitStream: socket thread (own frame reader) + queue + apply_frame + events",
           unit="frame", n_units=data.n, messages=data.n, levels=0)


@pytest.mark.benchmark(group=GROUP_LOOP)
def test_loopback_server_ceiling(benchmark, data):
    """How fast the fake server can send: a raw socket reader that only counts bytes."""
    import socket

    websocket = pytest.importorskip("websocket")
    total = sum(len(r.encode()) for r in data.raws)
    state: dict = {}

    def setup():
        srv = Server(data)
        ws = websocket.create_connection(srv.url)
        ws.send(json.dumps({"req_id": "1", "op": "subscribe", "args": [TOPIC, f"publicTrade.{SYMBOL}"]}))
        reply = ws.recv()
        assert '"success":true' in reply
        state.update(srv=srv, ws=ws, open=True)
        return (), {}

    def run():
        sock = state["ws"].sock
        sock.settimeout(10)
        state["srv"].go()
        got = 0
        while got < total:  # frame headers add a few bytes: >= total means every payload arrived
            chunk = sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError("closed")
            got += len(chunk)

    def teardown():
        state["open"] = False
        try:
            state["ws"].sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        state["srv"].stop()

    try:
        benchmark.pedantic(run, setup=setup, teardown=teardown, rounds=3, iterations=1)
    finally:
        if state.get("open"):                  # a round that raised before its teardown
            teardown()
    record(benchmark, impl="floor", label="server ceiling: the fake server's send rate (raw socket, bytes counted)",
           unit="frame", n_units=data.n, messages=data.n, levels=0)


@pytest.mark.benchmark(group=GROUP_LOOP)
def test_loopback_pybit(benchmark, data):
    pybit_ws = pytest.importorskip("pybit._websocket_stream", reason="pybit is not installed")
    state: dict = {}

    def setup():
        srv = Server(data)
        counts = {"book": 0, "trade": 0}

        def on_book(msg):
            counts["book"] += 1

        def on_trade(msg):
            counts["trade"] += 1

        mgr = pybit_ws._V5WebSocketManager("bench", testnet=False, ping_interval=20, ping_timeout=10)
        mgr._connect(srv.url)
        if not mgr.is_connected():  # pybit's subscribe() would wait forever
            srv.stop()
            raise RuntimeError("pybit did not connect to the fake server")
        mgr.subscribe("orderbook.50.{symbol}", on_book, SYMBOL)
        mgr.subscribe("publicTrade.{symbol}", on_trade, SYMBOL)
        time.sleep(0.3)  # the subscribe replies
        state.update(srv=srv, mgr=mgr, counts=counts, open=True)
        return (), {}

    def run():
        counts, srv = state["counts"], state["srv"]
        srv.go()
        deadline = time.monotonic() + 120
        while counts["book"] < data.n_book or counts["trade"] < data.n_trade:
            if time.monotonic() > deadline:
                raise RuntimeError(f"pybit stalled at {counts}")
            time.sleep(0.0005)

    def teardown():
        state["open"] = False
        state["mgr"].exit()
        state["srv"].stop()

    try:
        benchmark.pedantic(run, setup=setup, teardown=teardown, rounds=3, iterations=1)
    finally:
        if state.get("open"):                  # a round that raised before its teardown
            teardown()
    book = state["mgr"].data[TOPIC]
    # pybit keeps levels as unsorted [price, size] string lists: compare as sets
    tick = float(TICK)
    got_b = {(round(float(p) / tick), float(q)) for p, q in book["b"]}
    got_a = {(round(float(p) / tick), float(q)) for p, q in book["a"]}
    assert got_b == set(data.true_bids) and got_a == set(data.true_asks)
    record(benchmark, impl="pybit", label="pybit WebSocket machinery (WebSocketApp + json + list book + deepcopy)",
           unit="frame", n_units=data.n, messages=data.n, levels=0)


# ------------------------------------------------------------------------------ handler only
@pytest.mark.benchmark(group=GROUP_HANDLER)
def test_handler_floor(benchmark, data):
    from ofi import OrderBook
    from ofi.venues.bybit._decode import decoder_for

    dec = decoder_for(TICK)
    kinds = [f.kind == "book" for f in data.frames]
    out: dict = {}

    def run():
        book = OrderBook(SYMBOL, tick_size=TICK)
        for is_book, raw in zip(kinds, data.raws):
            if is_book:
                book.apply_frame(raw, 0)
            else:
                dec.decode_trades(raw, 0)
        out["book"] = book

    benchmark.pedantic(run, rounds=5, iterations=1)
    _check_book(out["book"], data)
    record(benchmark, impl="floor", label="bare OrderBook.apply_frame / decode_trades calls",
           unit="frame", n_units=data.n, messages=data.n, levels=0)
    _OVERHEAD["floor"] = benchmark.stats.stats.median / data.n * 1e9 if getattr(benchmark, "stats", None) else 0.0


@pytest.mark.benchmark(group=GROUP_HANDLER)
def test_handler_ours(benchmark, data):
    from ofi.api.events import BookUpdate
    from ofi.api.stream import replay_frames

    out: dict = {}

    def run():
        last = None
        for ev in replay_frames(data.raws, tick_sizes={SYMBOL: TICK}):
            if type(ev) is BookUpdate:
                last = ev
        out["book"] = last.book

    benchmark.pedantic(run, rounds=5, iterations=1)
    _check_book(out["book"], data)
    record(benchmark, impl="ours", label="consumer half: route + apply_frame/decode_trades + dedupe + event",
           unit="frame", n_units=data.n, messages=data.n, levels=0)
    _OVERHEAD["handler"] = benchmark.stats.stats.median / data.n * 1e9 if getattr(benchmark, "stats", None) else 0.0


@pytest.mark.benchmark(group=GROUP_HANDLER)
def test_handler_ours_with_queue(benchmark, data):
    from ofi.api.events import BookUpdate
    from ofi.api.stream import BybitStream

    encoded = [r.encode() for r in data.raws]
    out: dict = {}

    def setup():
        s = BybitStream(SYMBOL, depth=50, ws_url="ws://127.0.0.1:9", tick_sizes={SYMBOL: TICK},
                        queue_size=len(encoded) + 10)
        s._started = True  # no socket thread: its per-frame path is driven from here
        out["stream"] = s
        return (s,), {}

    def run(s):
        on_frame = s._session._on_frame
        nxt = s.next_event
        last = None
        for i in range(0, len(encoded), 256):  # the socket thread's half, then the consumer's
            for b in encoded[i:i + 256]:
                on_frame(b, 1)
            while True:
                ev = nxt(0)
                if ev is None:
                    break
                if type(ev) is BookUpdate:
                    last = ev
        out["book"] = last.book

    benchmark.pedantic(run, setup=setup, rounds=5, iterations=1)
    _check_book(out["book"], data)
    out["stream"].close()
    extra = {}
    if getattr(benchmark, "stats", None) is not None:
        _OVERHEAD["queue"] = benchmark.stats.stats.median / data.n * 1e9
        if {"floor", "handler"} <= _OVERHEAD.keys():
            f, h, q = _OVERHEAD["floor"], _OVERHEAD["handler"], _OVERHEAD["queue"]
            extra = dict(floor_ns=f, consumer_overhead_ns=h - f, socket_side_and_queue_ns=q - h,
                         decode_queue_overhead_ns=q - f)
            print(f"\nstream overhead per frame: apply_frame/decode_trades alone {f:,.0f} ns; consumer half "
                  f"+{h - f:,.0f} ns (route, dedupe, event); socket-thread half + queue +{q - h:,.0f} ns "
                  f"(stamp, decode UTF-8, classify, bounded queue); total overhead {q - f:,.0f} ns/frame")
    record(benchmark, impl="ours-alt", label="both halves without the socket: stamp + classify + queue + consumer",
           unit="frame", n_units=data.n, messages=data.n, levels=0, **extra)


@pytest.mark.benchmark(group=GROUP_HANDLER)
def test_handler_pybit(benchmark, data):
    pybit_ws = pytest.importorskip("pybit._websocket_stream", reason="pybit is not installed")
    out: dict = {}

    def setup():
        mgr = pybit_ws._V5WebSocketManager("bench", testnet=False)
        mgr._set_callback(TOPIC, lambda msg: None)
        mgr._set_callback(f"publicTrade.{SYMBOL}", lambda msg: None)
        out["mgr"] = mgr
        return (mgr,), {}

    def run(mgr):
        on_message = mgr._on_message
        for raw in data.raws:
            on_message(raw)

    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    book = out["mgr"].data[TOPIC]
    tick = float(TICK)
    assert {(round(float(p) / tick), float(q)) for p, q in book["b"]} == set(data.true_bids)
    record(benchmark, impl="pybit", label="pybit _on_message (json + list book + deepcopy + callback)",
           unit="frame", n_units=data.n, messages=data.n, levels=0)


@pytest.mark.benchmark(group=GROUP_HANDLER)
def test_handler_cryptofeed(benchmark, data):
    pytest.importorskip("cryptofeed", reason="cryptofeed is not installed")
    from decimal import Decimal

    from cryptofeed.defines import BYBIT, L2_BOOK, PERPETUAL, TRADES
    from cryptofeed.exchanges import Bybit
    from cryptofeed.symbols import Symbol, Symbols

    sym = Symbol("BTC", "USDT", type=PERPETUAL)
    Symbols.set(BYBIT, {sym.normalized: SYMBOL},
                {"tick_size": {sym.normalized: Decimal(TICK)}, "instrument_type": {sym.normalized: PERPETUAL}})

    async def noop(*args):
        return None

    class Conn:
        address = "wss://stream.bybit.com/v5/public/linear"
        uuid = "bench"

    out: dict = {}

    def setup():
        feed = Bybit(symbols=[sym.normalized], channels=[L2_BOOK, TRADES], callbacks={L2_BOOK: noop, TRADES: noop})
        out["feed"] = feed
        return (feed,), {}

    def run(feed):
        async def go():
            handler = feed.message_handler
            for raw in data.raws:
                await handler(raw, Conn, 0.0)

        asyncio.run(go())

    benchmark.pedantic(run, setup=setup, rounds=3, iterations=1)
    ob = out["feed"]._l2_book[sym.normalized].book
    bid, bid_size = ob.bids.index(0)
    assert (round(float(bid) / float(TICK)), float(bid_size)) == data.true_bids[0]
    record(benchmark, impl="cryptofeed",
           label="cryptofeed Bybit.message_handler (json Decimal + order_book + callback)",
           unit="frame", n_units=data.n, messages=data.n, levels=0)
