"""Unit tests of ofi.api.stream: arguments, the per-frame handler, the queue policy, replies,
and short loopback sessions against the fake server (tests/fakes/ws_server.py)."""
from __future__ import annotations

import json
import threading
import time

import pytest

pytest.importorskip("ofi._core.book", reason="the compiled core is not built (python setup.py build_ext --inplace)")
pytest.importorskip("websocket", reason="websocket-client is not installed")
pytest.importorskip("websockets", reason="websockets is not installed")

from fakes.ws_server import FakeBybitWs, Faults, book_digest, levels_of  # noqa: E402
from support import frame  # noqa: E402

from ofi import OrderBook  # noqa: E402
from ofi.api import BybitStream as LazyBybitStream  # noqa: E402
from ofi.api.events import (  # noqa: E402
    BookUpdate,
    Connected,
    Error,
    Gap,
    Overflow,
    Reconnect,
    Rejected,
    Resync,
    Subscribed,
    TradeEvent,
)
from ofi.api.stream import (  # noqa: E402
    FALLBACK_TICK_SIZE,
    BybitStream,
    replay_frames,
    stream_url,
)
from ofi.errors import ExchangeError, InvalidInputError  # noqa: E402
from ofi.sim import SimulatedMarket  # noqa: E402
from ofi.venues.bybit.topics import named_topics as _named_topics  # noqa: E402

FAST = dict(ping_interval_s=0.2, pong_timeout_s=0.3, reconnect_delay_s=0.02, reconnect_delay_max_s=0.1,
            resync_delay_s=0.0, resync_delay_max_s=0.05, connect_timeout_s=2.0)


def sim_frames(n: int, seed: int = 0, depth: int = 50, symbol: str = "BTCUSDT"):
    m = SimulatedMarket(symbol, depth=depth, seed=seed)
    return m, m.generate(n_messages=n)


def drain(stream: BybitStream, seconds: float, until=None) -> list:
    """Events for at most ``seconds`` (or until ``until(events)`` is true)."""
    out: list = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ev = stream.next_event(0.05)
        if ev is not None:
            out.append(ev)
        if until is not None and until(out):
            break
    return out


# ------------------------------------------------------------------------------ arguments
def test_lazy_export_is_the_class():
    assert LazyBybitStream is BybitStream


def test_topics_and_urls():
    s = BybitStream(["BTCUSDT", "ETHUSDT"], depth=[1, 50])
    assert s.topics == ("orderbook.1.BTCUSDT", "orderbook.50.BTCUSDT", "publicTrade.BTCUSDT",
                        "orderbook.1.ETHUSDT", "orderbook.50.ETHUSDT", "publicTrade.ETHUSDT")
    assert s.url == "wss://stream.bybit.com/v5/public/linear"
    assert BybitStream("BTCUSDT", category="spot", testnet=True).url == "wss://stream-testnet.bybit.com/v5/public/spot"
    assert stream_url("inverse") == "wss://stream.bybit.com/v5/public/inverse"
    opt = BybitStream("BTC-13SEP24-58500-P", category="option", depth=25)
    assert opt.topics == ("orderbook.25.BTC-13SEP24-58500-P", "publicTrade.BTC")
    assert BybitStream("BTCUSDT", depth=None).topics == ("publicTrade.BTCUSDT",)
    assert BybitStream("BTCUSDT", trades=False).topics == ("orderbook.50.BTCUSDT",)
    assert not BybitStream("BTCUSDT").closed


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(symbols=[]), "symbols"),
        (dict(symbols=["BTC USDT"]), "symbols"),
        (dict(symbols="BTCUSDT", category="futures"), "category"),
        (dict(symbols="BTCUSDT", depth=500), "depth 500"),
        (dict(symbols="BTCUSDT", category="option", depth=50), "depth 50"),
        (dict(symbols="BTCUSDT", depth=True), "depth"),
        (dict(symbols="BTCUSDT", depth=None, trades=False), "nothing to subscribe"),
        (dict(symbols=[f"SYM{i:05d}USDT" for i in range(800)]), "21000"),
        (dict(symbols="BTCUSDT", ws_url="http://x"), "ws_url"),
        (dict(symbols="BTCUSDT", tick_sizes={"BTCUSDT": "-1"}), "tick_sizes"),
        (dict(symbols="BTCUSDT", queue_size=1), "queue_size"),
        (dict(symbols="BTCUSDT", ping_interval_s=0), "ping_interval_s"),
        (dict(symbols="BTCUSDT", max_reconnects=-1), "max_reconnects"),
        (dict(symbols="BTCUSDT", record_to=3), "record_to"),
    ],
)
def test_bad_arguments(kwargs, match):
    symbols = kwargs.pop("symbols")
    with pytest.raises(InvalidInputError, match=match):
        BybitStream(symbols, **kwargs)


def test_record_to_opens_the_class_recorder(tmp_path):
    from ofi.data.recording import RecordingWriter
    from ofi.venues.bybit.stream import BybitStream as VenueStream

    assert BybitStream is VenueStream and BybitStream.recorder is RecordingWriter   # the old path re-exports
    assert BybitStream("BTCUSDT", record_to=tmp_path)._cfg["recorder"] is RecordingWriter

    class NoRecorder(VenueStream):
        recorder = None

    with pytest.raises(InvalidInputError, match="record_to needs a recorder"):
        NoRecorder("BTCUSDT", record_to=tmp_path)


def test_start_after_close_and_idempotent_close():
    s = BybitStream("BTCUSDT")
    s.close()
    s.close()
    assert s.closed
    with pytest.raises(InvalidInputError, match="closed"):
        s.start()
    assert s.next_event(0.01) is None


def test_named_topics():
    topics = ("orderbook.500.BTCUSDT", "publicTrade.BTCUSDT")
    assert _named_topics("error:handler not found,topic:orderbook.500.BTCUSDT", topics) == ("orderbook.500.BTCUSDT",)
    assert _named_topics("error:handler not found", topics) == ()
    assert _named_topics("topic:publicTrade.BTCUSDT,orderbook.500.BTCUSDT", topics) == (
        "publicTrade.BTCUSDT", "orderbook.500.BTCUSDT")
    assert _named_topics("args size >10", topics) == ()


# ------------------------------------------------------------------------------ handler
def test_replay_frames_matches_a_direct_book():
    market, frames = sim_frames(400, seed=1)
    direct = OrderBook("BTCUSDT", tick_size="0.1")
    expected = []
    for f in frames:
        if f.kind == "book":
            direct.apply_frame(f.raw, f.ts_local)
            expected.append((direct.update_id, direct.bbo()))
    events = list(replay_frames([(f.ts_local, f.raw) for f in frames], tick_sizes={"BTCUSDT": "0.1"}))
    books = [e for e in events if isinstance(e, BookUpdate)]
    assert [e.update_id for e in books] == [u for u, _ in expected]
    assert books[0].reset and not any(e.reset for e in books[1:])
    assert levels_of(books[-1].book) == market.true_book()
    trades = [t for e in events if isinstance(e, TradeEvent) for t in e.trades]
    n_trades = sum(len(json.loads(f.raw)["data"]) for f in frames if f.kind == "trade")
    assert len(trades) == n_trades
    assert not [e for e in events if isinstance(e, (Error, Gap, Resync))]


def test_copy_books_gives_each_update_its_own_state():
    _, frames = sim_frames(200, seed=2)
    raws = [f.raw for f in frames]
    live = [e for e in replay_frames(raws, tick_sizes={"BTCUSDT": "0.1"}) if isinstance(e, BookUpdate)]
    copies = [e for e in replay_frames(raws, tick_sizes={"BTCUSDT": "0.1"}, copy_books=True)
              if isinstance(e, BookUpdate)]
    assert len({id(e.book) for e in live}) == 1
    assert len({id(e.book) for e in copies}) == len(copies)
    assert [e.book.update_id for e in copies] == [e.update_id for e in copies]


def test_gap_then_silence_until_snapshot():
    bids, asks = [("100.0", "1")], [("100.5", "1")]
    raws = [
        frame("snapshot", bids, asks, 10),
        frame("delta", [("100.1", "2")], [], 11),
        frame("delta", [("100.2", "2")], [], 13),  # gap: 12 missing
        frame("delta", [("100.3", "2")], [], 14),  # stale: dropped quietly
        frame("delta", [("100.4", "2")], [], 15),
        frame("snapshot", bids, asks, 20),  # the resync snapshot
        frame("delta", [("100.1", "3")], [], 21),
    ]
    ev = list(replay_frames(raws, tick_sizes={"TEST": "0.1"}))
    kinds = [type(e).__name__ for e in ev]
    assert kinds == ["BookUpdate", "BookUpdate", "Gap", "Resync", "BookUpdate", "BookUpdate"]
    gap = ev[2]
    assert (gap.topic, gap.expected, gap.received) == ("orderbook.50.TEST", 12, 13)
    assert ev[3].reason == "gap"
    assert ev[4].reset and ev[4].update_id == 20
    assert not ev[5].reset and ev[5].book.best_bid() == 100.1


def test_duplicates_restart_crossed_and_garbage():
    bids, asks = [("100.0", "1")], [("100.5", "1")]
    raws = [
        frame("snapshot", bids, asks, 10),
        frame("delta", [("100.1", "2")], [], 11),
        frame("delta", [("100.1", "2")], [], 11),  # duplicate
        '{"topic":"orderbook.50.TEST","type":"delta","ts":1,"data":{"s":',  # truncated
        "\x00garbage",
        b"\xff\xfe binary",
        "[1,2,3]",
        '{"success":true,"ret_msg":"pong","conn_id":"x","op":"ping"}',  # control: nothing
        '{"topic":"tickers.TEST","type":"snapshot","ts":1,"data":{}}',
        '{"topic":"tickers.TEST","type":"snapshot","ts":1,"data":{}}',  # reported once
        frame("delta", [("100.6", "1")], [], 12),  # crosses
        frame("delta", [("100.2", "1")], [], 13),  # stale after the crossed message
        frame("delta", [("99.0", "1")], [("101.0", "1")], 1),  # u == 1: Bybit restarted
        frame("delta", [("99.5", "1")], [], 2),
    ]
    ev = list(replay_frames(raws, tick_sizes={"TEST": "0.1"}, copy_books=True))
    kinds = [type(e).__name__ for e in ev]
    assert kinds == ["BookUpdate", "BookUpdate", "Error", "Error", "Error", "Error", "Error", "Error", "Resync",
                     "BookUpdate", "BookUpdate"]
    assert [e.where for e in ev if isinstance(e, Error)] == ["decode"] * 5 + ["book"]
    assert ev[8].reason == "crossed"
    restart = ev[9]
    assert restart.reset and restart.update_id == 1 and restart.book.bbo() == (99.0, 1.0, 101.0, 1.0)
    assert ev[10].update_id == 2


def test_trade_dedupe_is_bounded():
    def trade(i):
        return ('{"topic":"publicTrade.TEST","type":"snapshot","ts":1,"data":[{"T":1,"s":"TEST","S":"Buy",'
                '"v":"1","p":"100.0","L":"PlusTick","i":"id-%d","BT":false}]}' % i)

    raws = [trade(i) for i in range(5)] + [trade(3), trade(4)] + [trade(0)]
    ev = list(replay_frames(raws, tick_sizes={"TEST": "0.1"}, dedupe_trades=3))
    ids = [t.trade_id for e in ev for t in e.trades]
    # ids 3 and 4 are still remembered; id 0 was forgotten (only the last 3 are kept)
    assert ids == ["id-0", "id-1", "id-2", "id-3", "id-4", "id-0"]
    ev = list(replay_frames(raws, tick_sizes={"TEST": "0.1"}, dedupe_trades=0))
    assert len([t for e in ev for t in e.trades]) == 8


def test_unknown_tick_uses_the_fallback_grid():
    _, frames = sim_frames(50, seed=3)
    ev = [e for e in replay_frames([f.raw for f in frames]) if isinstance(e, BookUpdate)]
    assert ev[-1].book.spec.tick_size == FALLBACK_TICK_SIZE
    exact = [e for e in replay_frames([f.raw for f in frames], tick_sizes={"BTCUSDT": "0.1"})
             if isinstance(e, BookUpdate)]
    assert ev[-1].book.bbo() == exact[-1].book.bbo()


def test_depth1_snapshots_keep_their_history():
    m = SimulatedMarket("BTCUSDT", depth=1, seed=4)
    frames = m.generate(n_messages=200)
    ev = [e for e in replay_frames([f.raw for f in frames], tick_sizes={"BTCUSDT": "0.1"}) if isinstance(e, BookUpdate)]
    assert ev and ev[0].reset
    assert sum(e.reset for e in ev) == 1


# ------------------------------------------------------------------------------ queue policy (white box)
def _offline(**kw) -> BybitStream:
    """A stream whose socket thread never runs: frames are pushed through its per-frame path."""
    s = BybitStream("BTCUSDT", depth=50, ws_url="ws://127.0.0.1:9", tick_sizes={"BTCUSDT": "0.1"}, **kw)
    s._started = True
    return s


def test_overflow_sheds_book_frames_keeps_trades_and_resyncs():
    s = _offline(queue_size=10, trade_queue_size=1000)
    sess = s._session
    _, frames = sim_frames(300, seed=5)
    n_trades = 0
    for f in frames:
        sess._on_frame(f.raw.encode(), 1)
        n_trades += f.kind == "trade"
        assert s._q.book_in - s._q.book_out <= 10
    assert sess.book_dropped > 0 and sess._shedding
    events = []
    while True:
        ev = s.next_event(0)
        if ev is None:
            break
        events.append(ev)
    # the consumer drained to the low-water mark: the next book frame ends the shedding
    assert s.stats().queue_len == 0
    sess._on_frame(frames[-1].raw.encode(), 1)
    ev = drain(s, 0.2)
    overflow = [e for e in ev if isinstance(e, Overflow)]
    assert len(overflow) == 1
    assert overflow[0].book_frames_dropped == {"orderbook.50.BTCUSDT": sess.book_dropped}
    assert overflow[0].trade_frames_dropped == 0
    assert [e.reason for e in ev if isinstance(e, Resync)] == ["overflow"]
    assert "orderbook.50.BTCUSDT" in sess._resync_due  # the socket thread resubscribes it
    trades = [e for e in events + ev if isinstance(e, TradeEvent)]
    assert len(trades) == n_trades  # every trade frame came through
    st = s.stats()
    assert st.queue_high_water <= st.queue_bound
    s.close()


def test_trade_reserve_overflow_is_counted_and_reported():
    s = _offline(queue_size=10, trade_queue_size=5)
    sess = s._session
    _, frames = sim_frames(400, seed=6)
    trade_frames = [f for f in frames if f.kind == "trade"][:20]
    for f in trade_frames:
        sess._on_frame(f.raw.encode(), 1)
    assert s._q.res_in - s._q.res_out == 5
    assert sess.trades_dropped == 15
    got = drain(s, 0.2)
    assert len([e for e in got if isinstance(e, TradeEvent)]) == 5
    sess._on_frame(trade_frames[0].raw.encode(), 1)  # room again: the drop is reported first
    got = drain(s, 0.2)
    assert isinstance(got[0], Overflow) and got[0].trade_frames_dropped == 15
    s.close()


def test_reply_shapes():
    s = _offline()
    sess = s._session
    from ofi.venues.bybit.stream.transport import _Pending

    sess._pending = {"r1": _Pending("subscribe", ("orderbook.50.BTCUSDT", "publicTrade.BTCUSDT"), 0.0),
                     "r2": _Pending("subscribe", ("orderbook.50.BTCUSDT",), 0.0),
                     "r3": _Pending("unsubscribe", ("orderbook.50.BTCUSDT",), 0.0)}
    assert sess._on_control('{"success":true,"ret_msg":"","conn_id":"c","req_id":"r1","op":"subscribe"}', 1)
    assert sess._on_control('{"success":true,"ret_msg":"pong","conn_id":"c","req_id":"","op":"ping"}', 2)
    assert sess._on_control('{"args":["1672916271846"],"op":"pong"}', 3)
    assert sess._on_control('{"success":false,"ret_msg":"error:not subscribed","req_id":"r3","op":"unsubscribe"}', 4)
    assert sess._on_control('{"success":false,"ret_msg":"error:handler not found,topic:orderbook.50.BTCUSDT",'
                            '"req_id":"r2","op":"subscribe"}', 5)
    assert sess._on_control('{"success":true,"conn_id":"c","data":{"failTopics":["orderbook.100.X"],'
                            '"successTopics":["orderbook.25.Y"]},"type":"COMMAND_RESP"}', 6)
    assert not sess._on_control('{"hello":1}', 7)
    assert not sess._on_control("not json", 8)
    assert sess.pongs == 2
    ev = drain(s, 0.2)
    assert [type(e).__name__ for e in ev] == ["Subscribed", "Rejected", "Error", "Subscribed", "Rejected", "Error"]
    assert ev[0].topics == ("orderbook.50.BTCUSDT", "publicTrade.BTCUSDT") and ev[0].req_id == "r1"
    assert ev[1].topics == ("orderbook.50.BTCUSDT",)
    assert isinstance(ev[2].exception, ExchangeError) and "handler not found" in ev[2].exception.ret_msg
    assert ev[4].topics == ("orderbook.100.X",)
    assert s.rejected_topics == {"orderbook.50.BTCUSDT", "orderbook.100.X"}
    s.close()


@pytest.mark.parametrize("topics", ["5", "true", '{"a":1}', '"orderbook.1.X"'])
def test_a_command_reply_with_malformed_topic_lists_is_not_a_crash(topics):
    # successTopics / failTopics that are not lists (a number raised TypeError in the socket thread,
    # which forced a reconnect; a string was read character by character): no topic is settled.
    s = _offline()
    sess = s._session
    reply = '{"success":true,"data":{"failTopics":%s,"successTopics":%s},"type":"COMMAND_RESP"}' % (topics, topics)
    assert sess._on_control(reply, 1)
    assert [type(e).__name__ for e in drain(s, 0.1)] == []
    assert s.rejected_topics == set()
    s.close()


# ------------------------------------------------------------------------------ loopback sessions
@pytest.fixture
def server():
    srv = FakeBybitWs(["BTCUSDT", "ETHUSDT"], depth=50, rate=800, seed=11).start()
    yield srv
    srv.stop()
    assert srv.error is None


def test_live_books_match_the_server(server):
    with BybitStream(["BTCUSDT", "ETHUSDT"], ws_url=server.url, tick_sizes={"BTCUSDT": "0.1", "ETHUSDT": "0.1"},
                     **FAST) as s:
        ev = drain(s, 5.0, until=lambda e: sum(isinstance(x, BookUpdate) for x in e) >= 300)
        books = [e for e in ev if isinstance(e, BookUpdate)]
        assert len(books) >= 300
    assert isinstance(ev[0], Connected)
    assert {e.topics for e in ev if isinstance(e, Subscribed)} >= {("orderbook.50.BTCUSDT", "publicTrade.BTCUSDT",
                                                                    "orderbook.50.ETHUSDT", "publicTrade.ETHUSDT")}
    assert {e.topic for e in books if e.reset} == {"orderbook.50.BTCUSDT", "orderbook.50.ETHUSDT"}


def test_each_update_is_the_true_book(server):
    bad = []
    with BybitStream(["BTCUSDT"], ws_url=server.url, tick_sizes={"BTCUSDT": "0.1"}, **FAST) as s:
        n = 0
        for ev in s:
            if isinstance(ev, BookUpdate):
                n += 1
                if server.digest_at(ev.topic, ev.update_id, ev.seq) != book_digest(*levels_of(ev.book)):
                    bad.append(ev.update_id)
                if n >= 200:
                    break
    assert n == 200 and not bad


def test_rejected_topic_is_an_event_not_a_crash(server):
    with BybitStream(["BTCUSDT", "NOPEUSDT"], ws_url=server.url, tick_sizes={"BTCUSDT": "0.1"}, **FAST) as s:
        ev = drain(s, 5.0, until=lambda e: sum(isinstance(x, Rejected) for x in e) >= 2
                   and sum(isinstance(x, BookUpdate) for x in e) >= 20)
    rejected = {t for e in ev if isinstance(e, Rejected) for t in e.topics}
    assert rejected == {"orderbook.50.NOPEUSDT", "publicTrade.NOPEUSDT"}
    assert s.rejected_topics == rejected
    errors = [e for e in ev if isinstance(e, Error) and e.where == "subscribe"]
    assert len(errors) == 2 and all(isinstance(e.exception, ExchangeError) for e in errors)
    assert sum(isinstance(x, BookUpdate) for x in ev) >= 20  # the good topics still flow


def test_spot_subscribes_in_batches_of_ten():
    symbols = [f"S{i:02d}USDT" for i in range(12)]
    with FakeBybitWs(symbols, category="spot", depth=1, rate=400, seed=2) as srv:
        with BybitStream(symbols, category="spot", depth=[1, 50], ws_url=srv.url, **FAST) as s:
            ev = drain(s, 5.0, until=lambda e: len({t for x in e if isinstance(x, (Subscribed, Rejected))
                                                    for t in x.topics}) == 36)
        sizes = [len(a) for a in srv.subscribe_requests]
    assert sizes and max(sizes) <= 10
    ok = {t for e in ev if isinstance(e, Subscribed) for t in e.topics}
    rejected = {t for e in ev if isinstance(e, Rejected) for t in e.topics}
    assert ok == {f"orderbook.1.{x}" for x in symbols} | {f"publicTrade.{x}" for x in symbols}
    assert rejected == {f"orderbook.50.{x}" for x in symbols}  # the fake serves depth 1 only
    assert not [e for e in ev if isinstance(e, Rejected) and "args size" in e.message]


def test_ping_pong_and_silent_server_reconnects():
    with FakeBybitWs(["BTCUSDT"], rate=None, max_frames=1, faults=Faults(pong=False), seed=1) as srv:
        with BybitStream("BTCUSDT", ws_url=srv.url, **FAST) as s:
            ev = drain(s, 5.0, until=lambda e: any(isinstance(x, Reconnect) for x in e))
            st = s.stats()
    rec = [e for e in ev if isinstance(e, Reconnect)]
    assert rec and ("no pong" in rec[0].reason or "no data" in rec[0].reason)
    assert st.pings_sent >= 1 and srv.stats["pings"] >= 1 and st.pongs_received == 0
    with FakeBybitWs(["BTCUSDT"], rate=None, max_frames=1, seed=1) as srv:
        with BybitStream("BTCUSDT", ws_url=srv.url, **FAST) as s:
            ev = drain(s, 1.0)
            st = s.stats()
    assert st.pongs_received >= 2 and not [e for e in ev if isinstance(e, Reconnect)]


def test_connection_refused_backs_off_and_gives_up():
    with socket_free_port() as port:
        t0 = time.monotonic()
        s = BybitStream("BTCUSDT", ws_url=f"ws://127.0.0.1:{port}/v5/public/linear", reconnect_delay_s=0.02,
                        reconnect_delay_max_s=0.08, max_reconnects=4, connect_timeout_s=1.0, seed=0)
        ev = list(s)  # the iteration ends when the stream gives up
        elapsed = time.monotonic() - t0
    rec = [e for e in ev if isinstance(e, Reconnect)]
    assert [e.attempt for e in rec] == [1, 2, 3, 4]
    assert all(0.5 * min(0.08, 0.02 * 2 ** (e.attempt - 1)) <= e.delay_s <= min(0.08, 0.02 * 2 ** (e.attempt - 1))
               for e in rec)
    assert [e for e in ev if isinstance(e, Error) and "giving up" in e.message]
    assert s.closed and elapsed < 5
    s.close()
    assert not s._session._thread.is_alive()


class socket_free_port:
    """A port nobody listens on (bound then closed)."""

    def __enter__(self) -> int:
        import socket

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        return self.port

    def __exit__(self, *exc) -> None:
        pass


def test_callback_exception_propagates_and_is_not_a_disconnect(server):
    class Boom(Exception):
        pass

    seen = []

    def on_book(ev):
        seen.append(ev)
        if len(seen) == 5:
            raise Boom("user code failed")

    with BybitStream("BTCUSDT", ws_url=server.url, tick_sizes={"BTCUSDT": "0.1"}, **FAST) as s:
        with pytest.raises(Boom):
            s.run(on_book=on_book, duration_s=5.0)
        assert s._session._thread.is_alive() and not s.closed
        more = s.run(on_book=seen.append, max_events=50, duration_s=5.0)
        st = s.stats()
    assert more == 50 and len(seen) > 5
    assert st.connections == 1 and st.reconnects == 0


def test_close_from_another_thread_ends_iteration(server):
    s = BybitStream("BTCUSDT", ws_url=server.url, tick_sizes={"BTCUSDT": "0.1"}, **FAST)
    timer = threading.Timer(0.5, s.close)
    timer.start()
    t0 = time.monotonic()
    n = sum(1 for _ in s)
    assert n > 0 and time.monotonic() - t0 < 3
    timer.join()  # close() returns once the socket thread has stopped
    assert s.closed and not s._session._thread.is_alive()


def test_run_dispatches_to_callbacks(server):
    books, trades, other = [], [], []
    with BybitStream("BTCUSDT", ws_url=server.url, tick_sizes={"BTCUSDT": "0.1"}, **FAST) as s:
        n = s.run(books.append, trades.append, other.append, max_events=300, duration_s=5.0)
    assert n == len(books) + len(trades) + len(other) == 300
    assert books and trades and isinstance(other[0], Connected)
    assert all(isinstance(e, BookUpdate) for e in books) and all(isinstance(e, TradeEvent) for e in trades)
    assert s.book("BTCUSDT") is books[-1].book
    with pytest.raises(InvalidInputError):
        s.book("ETHUSDT")


def test_option_replies_and_pongs():
    """Option streams answer with COMMAND_RESP (no req_id) and ``{"op":"pong"}``."""
    symbol = "BTC-27DEC24-60000-C"
    market = SimulatedMarket(symbol, depth=50, seed=12)
    frames = [f.raw.replace(f"orderbook.50.{symbol}", f"orderbook.25.{symbol}")
              .replace(f"publicTrade.{symbol}", "publicTrade.BTC") for f in market.generate(n_messages=3000)]
    with FakeBybitWs(category="option", frames=frames, rate=1000) as srv:
        with BybitStream(symbol, category="option", depth=25, ws_url=srv.url, snapshot_timeout_s=0.4,
                         **FAST) as s:
            ev = drain(s, 1.2)
            st = s.stats()
    assert {t for e in ev if isinstance(e, Subscribed) for t in e.topics} == {f"orderbook.25.{symbol}",
                                                                               "publicTrade.BTC"}
    assert not [e for e in ev if isinstance(e, Error)]  # no "no reply" or "no snapshot" false alarms
    assert sum(isinstance(e, BookUpdate) for e in ev) > 100 and sum(isinstance(e, TradeEvent) for e in ev) > 10
    assert st.pongs_received >= 3


def test_an_exception_in_the_socket_thread_becomes_an_event(server, monkeypatch):
    escaped = []
    monkeypatch.setattr(threading, "excepthook", lambda args: escaped.append(args))
    with BybitStream("BTCUSDT", ws_url=server.url, tick_sizes={"BTCUSDT": "0.1"}, **FAST) as s:
        real = s._session._timers
        calls = {"n": 0}

        def broken(ws, now):
            calls["n"] += 1
            if calls["n"] == 3:
                raise RuntimeError("bug in the socket thread")
            return real(ws, now)

        s._session._timers = broken
        ev = drain(s, 5.0, until=lambda e: sum(isinstance(x, Connected) for x in e) >= 2
                   and isinstance(e[-1], BookUpdate))
        alive = s._session._thread.is_alive()
    errors = [e for e in ev if isinstance(e, Error)]
    assert errors and isinstance(errors[0].exception, RuntimeError) and errors[0].where == "connection"
    assert any(isinstance(e, Reconnect) and "bug in the socket thread" in e.reason for e in ev)
    assert isinstance(ev[-1], BookUpdate) and alive  # it reconnected and data flows again
    assert not escaped


def test_args_size_error_halves_the_batch():
    """A user who raised max_args_per_request past spot's limit still gets every topic."""
    symbols = [f"S{i:02d}USDT" for i in range(8)]
    with FakeBybitWs(symbols, category="spot", depth=1, rate=200, seed=3) as srv:
        with BybitStream(symbols, category="spot", depth=1, ws_url=srv.url, max_args_per_request=16,
                         **FAST) as s:
            ev = drain(s, 5.0, until=lambda e: len({t for x in e if isinstance(x, Subscribed) for t in x.topics}) == 16)
        sizes = [len(a) for a in srv.subscribe_requests]
    assert sizes[0] == 16 and max(sizes[1:]) <= 8
    assert len({t for x in ev if isinstance(x, Subscribed) for t in x.topics}) == 16
    assert not [x for x in ev if isinstance(x, Rejected)]
