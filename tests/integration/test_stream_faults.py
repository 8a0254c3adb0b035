"""BybitStream against the fake Bybit server with every fault injected; recording, replay,
a recorder killed with SIGKILL, and the real captures through the stream's code path.

Every loop here is bounded in count and time; everything runs on 127.0.0.1.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import warnings
from collections import Counter

import pytest

pytest.importorskip("ofi._core.book", reason="the compiled core is not built (python setup.py build_ext --inplace)")
pytest.importorskip("websocket", reason="websocket-client is not installed")
pytest.importorskip("websockets", reason="websockets is not installed")

from fakes.ws_server import FakeBybitWs, Faults, book_digest, levels_of  # noqa: E402

from ofi import OrderBook, Trade  # noqa: E402
from ofi.api.events import (  # noqa: E402
    BookUpdate,
    Connected,
    Error,
    Gap,
    Overflow,
    Reconnect,
    Resync,
    TradeEvent,
)
from ofi.api.stream import BybitStream, replay_frames, replay_recording  # noqa: E402
from ofi.data.recording import TruncatedRecordingWarning, read_recording  # noqa: E402
from ofi.errors import OfiError  # noqa: E402

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
TICKS = {s: "0.1" for s in SYMBOLS}
FAST = dict(ping_interval_s=0.2, pong_timeout_s=0.3, reconnect_delay_s=0.02, reconnect_delay_max_s=0.1,
            backoff_reset_s=0.5, resync_delay_s=0.0, resync_delay_max_s=0.05, connect_timeout_s=2.0, seed=7)
EVERY_FAULT = Faults(drop=0.0012, silent=0.001, skip=0.006, duplicate=0.006, reorder=0.006, cross=0.004,
                     truncate=0.004, garbage=0.006, restart=0.003, slow=0.004, slow_s=0.04,
                     reject_topics=frozenset({"publicTrade.ETHUSDT"}))


class Checker:
    """Checks every event as the consumer gets it, against the server's truth."""

    def __init__(self, server: FakeBybitWs) -> None:
        self.server = server
        self.kinds: Counter = Counter()
        self.books = 0
        self.crossed = 0
        self.wrong: list = []
        self.gaps: list = []
        self.resyncs: list = []
        self.errors: list = []
        self.trade_ids: list = []
        self.conn = 0
        self.after_resync: dict = {}
        self.resync_checked = 0

    def __call__(self, ev) -> None:
        self.kinds[type(ev).__name__] += 1
        if isinstance(ev, BookUpdate):
            self.books += 1
            b = ev.book
            if not b.best_bid() < b.best_ask():
                self.crossed += 1
            truth = self.server.digest_at(ev.topic, ev.update_id, ev.seq)
            if truth != book_digest(*levels_of(b)):
                self.wrong.append((ev.topic, ev.update_id, ev.seq, truth is None))
            if self.after_resync.pop(ev.topic, False):
                assert ev.reset, "the first update after a resync must start a new history"
                self.resync_checked += 1
        elif isinstance(ev, TradeEvent):
            self.trade_ids += [t.trade_id for t in ev.trades]
        elif isinstance(ev, Connected):
            self.conn = ev.connection
        elif isinstance(ev, Gap):
            self.gaps.append((self.conn, ev.topic, ev.expected, ev.received))
        elif isinstance(ev, Resync):
            self.resyncs.append((self.conn, ev.topic, ev.reason))
            self.after_resync[ev.topic] = True
        elif isinstance(ev, Error):
            self.errors.append(ev)


def consume(stream: BybitStream, server: FakeBybitWs, check: Checker, seconds: float, *, slow_s: float = 0.0,
            max_events: int = 200_000, at: dict | None = None) -> None:
    """Consume for ``seconds`` while the server streams (calling ``at[t]()`` once ``t`` seconds
    have passed), then pause the server and drain to quiet."""
    t0 = time.monotonic()
    t_end = t0 + seconds
    todo = sorted((at or {}).items())
    n = 0
    while time.monotonic() < t_end and n < max_events:
        while todo and time.monotonic() - t0 >= todo[0][0]:
            todo.pop(0)[1]()
        ev = stream.next_event(0.05)
        if ev is not None:
            n += 1
            check(ev)
            if slow_s and isinstance(ev, BookUpdate):
                time.sleep(slow_s)
    server.pause()
    quiet_since = None
    t_stop = time.monotonic() + 20.0
    while time.monotonic() < t_stop and n < max_events:
        ev = stream.next_event(0.05)
        if ev is not None:
            n += 1
            check(ev)
            quiet_since = None
        elif server.idle() and stream.stats().queue_len == 0:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > 0.4:
                break


# ------------------------------------------------------------------------------ faults
def test_every_fault_repeatedly():
    with FakeBybitWs(SYMBOLS, depth=50, rate=900, seed=3, faults=EVERY_FAULT) as server:
        with BybitStream(SYMBOLS, depth=50, ws_url=server.url, tick_sizes=TICKS, **FAST) as stream:
            check = Checker(server)
            # on top of the random faults, one of each connection fault for sure
            consume(stream, server, check, 8.0, at={2.0: server.drop_all, 4.0: server.silence_all,
                                                    6.0: server.drop_all, 7.0: server.silence_all})
            st = stream.stats()
        assert server.error is None
        injected = dict(server.stats)
    print("injected:", injected, "\nstream:", st)
    # every fault type went in, more than once
    for fault in ("drop", "silent", "skip", "duplicate", "reorder", "cross", "truncate", "garbage", "restart", "slow"):
        assert injected[fault] >= 2, (fault, injected)
    assert server.frames_produced >= 5000
    # a rejected topic is reported once and never asked for again, on any connection
    assert check.kinds["Rejected"] == 1 and stream.rejected_topics == {"publicTrade.ETHUSDT"}
    assert sum(a.count("publicTrade.ETHUSDT") for a in server.subscribe_requests) == 1
    assert [e for e in check.errors if e.where == "subscribe"][0].topic == "publicTrade.ETHUSDT"
    assert check.books >= 2000
    # the consumer never saw a crossed or wrong book: every update equals the truth at its (u, seq)
    assert check.crossed == 0
    assert check.wrong == []
    # every gap was reported, on the very frame that broke the sequence, and no other
    assert sorted(check.gaps) == sorted(server.expected_gaps)
    assert len(check.gaps) >= 10
    crossed = [(c, t) for c, t, r in check.resyncs if r == "crossed"]
    assert sorted(crossed) == sorted((c, t) for c, t, _u in server.expected_crossed)
    assert check.resync_checked >= len(check.gaps)  # books came back after resyncs, each equal to the truth
    # the connection faults were survived by reconnecting
    # (a connection can be both silenced and then dropped before the client gives up on it, so
    # count connections, not faults: every connection after the first followed a Reconnect; the
    # four forced faults, 1-2 s apart, end at least four connections)
    assert check.kinds["Reconnect"] >= server.stats["connections"] - 1
    assert server.stats["connections"] >= 5
    assert check.kinds["Connected"] == server.stats["connections"]
    # nothing escaped the socket thread; all errors are reports
    assert not [e for e in check.errors if e.where == "internal"]
    assert {e.where for e in check.errors} <= {"decode", "book", "connection", "subscribe"}
    assert st.queue_high_water <= st.queue_bound
    assert st.book_frames_dropped == 0


def test_ten_times_too_slow_consumer_stays_bounded():
    faults = Faults(skip=0.004, duplicate=0.004, restart=0.002, reorder=0.004)
    with FakeBybitWs(["BTCUSDT"], depth=50, rate=900, seed=5, faults=faults, keep_sent=True) as server:
        with BybitStream("BTCUSDT", depth=50, ws_url=server.url, tick_sizes=TICKS, queue_size=100,
                         trade_queue_size=20_000, dedupe_trades=2_000, **FAST) as stream:
            check = Checker(server)
            bound_violations = []
            samples = 0

            orig = check.__call__

            def check_and_sample(ev):
                nonlocal samples
                orig(ev)
                q = stream._q
                samples += 1
                if q.book_in - q.book_out > 100:
                    bound_violations.append(q.book_in - q.book_out)

            # ~600 book frames/s arrive; 15 ms per book update is ~65/s: ten times too slow
            consume(stream, server, check_and_sample, 3.5, slow_s=0.015)
            st = stream.stats()
            handler, session = stream._handler, stream._session
            sizes = dict(ring=len(handler._ring), seen=len(handler._seen), resyncing=len(handler.resyncing),
                         pending_events=len(stream._pending), pending_req=len(session._pending),
                         dropped=len(session._dropped), awaiting=len(session._awaiting), cmds=len(session._cmds))
    assert server.error is None
    assert st.book_frames_dropped > 500  # the policy had to act, repeatedly
    assert check.kinds["Overflow"] >= 3
    assert not bound_violations and samples > 100
    assert st.queue_high_water <= 100 + 20_000 + 4
    assert sizes["ring"] <= 2_000 and sizes["seen"] <= 2_000
    assert sizes["resyncing"] <= 1 and sizes["dropped"] <= 1 and sizes["awaiting"] <= 1 and sizes["cmds"] <= 1
    assert sizes["pending_events"] <= 4 and sizes["pending_req"] <= 4
    # still never a crossed or wrong book, and each overflow ended on a fresh snapshot (checked as it
    # came: the first update after a resync starts a new history); only the last overflow's resync may
    # be cut off, when it falls after the server's pause (seen on a loaded machine: 4 of 5)
    assert check.crossed == 0 and check.wrong == []
    assert check.resync_checked >= check.kinds["Overflow"] - 1
    # trades are never lost: every trade the server sent arrived once, in order
    sent = [t["i"] for raw in server.sent_frames(1) if raw.startswith('{"topic":"publicTrade')
            for t in json.loads(raw)["data"]]
    assert st.trade_frames_dropped == 0
    assert check.trade_ids == sent and len(sent) > 300


# ------------------------------------------------------------------------------ recording and replay
def _key(ev):
    if isinstance(ev, BookUpdate):
        return ("book", ev.topic, ev.update_id, ev.seq, ev.reset, ev.book.bbo())
    if isinstance(ev, TradeEvent):
        return ("trade", ev.topic, tuple(t.trade_id for t in ev.trades))
    if isinstance(ev, Gap):
        return ("gap", ev.topic, ev.expected, ev.received)
    if isinstance(ev, Resync) and ev.reason != "overflow":
        return ("resync", ev.topic, ev.reason)
    if isinstance(ev, Error) and ev.where in ("decode", "book"):
        return ("error", ev.where, ev.topic)
    return None


def test_replaying_the_recording_reproduces_the_live_sequence(tmp_path):
    faults = Faults(drop=0.002, skip=0.006, duplicate=0.006, reorder=0.006, cross=0.004, truncate=0.004,
                    garbage=0.006, restart=0.004)
    live: list = []
    with FakeBybitWs(SYMBOLS, depth=50, rate=900, seed=8, faults=faults) as server:
        with BybitStream(SYMBOLS, depth=50, ws_url=server.url, tick_sizes=TICKS, record_to=tmp_path,
                         **FAST) as stream:
            def keep(ev):
                k = _key(ev)
                if k is not None:
                    live.append(k)

            consume(stream, server, keep, 3.0)
            st = stream.stats()
    assert st.book_frames_dropped == 0 and st.frames_recorded == st.frames_received
    replayed = [k for k in map(_key, replay_recording(tmp_path, tick_sizes=TICKS)) if k is not None]
    assert sum(k[0] == "book" for k in live) > 1000
    assert sum(k[0] == "gap" for k in live) >= 3 and st.reconnects >= 1
    assert replayed == live
    # the recording keeps every frame as received, control frames included
    frames = list(read_recording(tmp_path))
    assert len(frames) == st.frames_received
    assert any('"op":"ping"' in f.raw or '"ret_msg":"pong"' in f.raw for f in frames if isinstance(f.raw, str))
    assert [f.ts_local for f in frames] == sorted(f.ts_local for f in frames)


def _kill_recorder(server: FakeBybitWs, out, *, quiesce: bool) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "ofi.cli", "record", "BTCUSDT", "--out", str(out), "--ws-url", server.url,
           "--depth", "50"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(server.sent.get(1, ())) < 300:
            time.sleep(0.02)
        assert len(server.sent.get(1, ())) >= 300, "the recorder did not connect"
        if quiesce:
            server.pause()
            assert server.wait_idle(5)
            time.sleep(0.5)  # the recorder has received (and written) everything sent
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    return proc


def _data_frames(out) -> tuple[list, list]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reader = read_recording(out)
        frames = [f.raw for f in reader if isinstance(f.raw, str) and f.raw.startswith('{"topic"')]
    assert reader.truncated, "a killed recorder leaves its files unfinished: the reader must report the cut"
    assert any(issubclass(w.category, TruncatedRecordingWarning) for w in caught)
    return frames, reader.truncated


def test_recorder_killed_with_sigkill_keeps_every_received_frame(tmp_path):
    # 1. killed when every sent frame had been received: nothing may be missing
    with FakeBybitWs(["BTCUSDT"], depth=50, rate=600, seed=9, keep_sent=True) as server:
        _kill_recorder(server, tmp_path / "a", quiesce=True)
        sent = server.sent_frames(1)
    frames, _cuts = _data_frames(tmp_path / "a")
    assert frames == sent
    # 2. killed mid-stream at full speed: the recording is an unbroken prefix of what was sent
    with FakeBybitWs(["BTCUSDT"], depth=50, rate=None, seed=10, keep_sent=True) as server:
        _kill_recorder(server, tmp_path / "b", quiesce=False)
        sent = server.sent_frames(1)
    frames, _cuts = _data_frames(tmp_path / "b")
    assert len(frames) >= 100  # (frames still in the kernel's buffers when it died were never received)
    assert frames == sent[: len(frames)]
    # the cut recording still replays through the stream's code path, the cut reported last
    events = list(replay_recording(tmp_path / "b", tick_sizes=TICKS))
    assert isinstance(events[-1], Error) and events[-1].where == "recording"
    assert sum(isinstance(e, BookUpdate) for e in events) >= 100
    assert not [e for e in events if isinstance(e, (Gap, Resync))]


# ------------------------------------------------------------------------------ real captures
def _bbo(book) -> tuple:
    return tuple(None if x != x else x for x in book.bbo())  # NaN (empty side) compares equal as None


def _direct(frames: list[str], tick_sizes: dict) -> tuple[list, int]:
    """Oracle: each book topic applied straight to its own OrderBook; trades counted."""
    books: dict[str, OrderBook] = {}
    seq = []
    n_trades = 0
    for raw in frames:
        obj = json.loads(raw)
        topic = obj.get("topic", "") if isinstance(obj, dict) else ""
        if topic.startswith("orderbook."):
            sym = topic.split(".")[2]
            book = books.setdefault(topic, OrderBook(sym, tick_size=tick_sizes.get(sym, "1e-10")))
            try:
                if book.apply_frame(raw):
                    seq.append((topic, book.update_id, _bbo(book)))
            except OfiError:
                pass
        elif topic.startswith("publicTrade."):
            n_trades += len(Trade.from_frame(raw, tick_sizes.get(topic.split(".")[1], "1e-10")))
    return seq, n_trades


def _stream_path(frames: list[str], tick_sizes: dict) -> tuple[list, int, list]:
    seq = []
    n_trades = 0
    errors = []
    for ev in replay_frames(frames, tick_sizes=tick_sizes, dedupe_trades=0, copy_books=True):
        if isinstance(ev, BookUpdate):
            seq.append((ev.topic, ev.update_id, _bbo(ev.book)))
        elif isinstance(ev, TradeEvent):
            n_trades += len(ev.trades)
        elif isinstance(ev, Error):
            errors.append(ev)
    return seq, n_trades, errors


@pytest.mark.realdata
def test_real_xrp_capture_through_the_stream_path(xrp_frames):
    ticks = {"XRPUSDT": "0.0001"}
    events = list(replay_frames(xrp_frames, tick_sizes=ticks))
    books = [e for e in events if isinstance(e, BookUpdate)]
    assert len(books) == 50 and books[0].reset and not any(e.reset for e in books[1:])
    assert not [e for e in events if not isinstance(e, BookUpdate)]
    seq, _ = _direct(xrp_frames, ticks)
    assert [(e.topic, e.update_id) for e in books] == [(t, u) for t, u, _ in seq]
    final = OrderBook("XRPUSDT", tick_size="0.0001")
    for raw in xrp_frames:
        final.apply_frame(raw)
    assert levels_of(books[-1].book) == levels_of(final)


@pytest.mark.realdata
def test_every_v5_capture_through_the_stream_path(v5_jsonl):
    assert v5_jsonl
    for name, lines in v5_jsonl.items():
        frames = [ln for ln in lines if ln.lstrip().startswith("{")]
        seq, n_trades = _direct(frames, {})
        got, got_trades, errors = _stream_path(frames, {})
        assert got == seq, name
        assert got_trades == n_trades, name
        # the only errors reported are the topics the stream does not handle (tickers, liquidations)
        assert all(e.where == "decode" and "is not handled by this stream" in e.message for e in errors), name


@pytest.mark.realdata
def test_a_capture_streamed_live_through_the_fake_server(v5_jsonl):
    """The tardis spot capture (ob.1 + ob.50 + trades) played by the server, received live."""
    name = next(n for n in v5_jsonl if "spot" in n)
    frames = [ln for ln in v5_jsonl[name] if ln.startswith("{")]
    topics = {json.loads(f)["topic"] for f in frames}
    symbols = sorted({t.split(".")[-1] for t in topics})
    server = FakeBybitWs(category="spot", frames=frames, rate=200)
    server.pause()
    with server:
        with BybitStream(symbols, category="spot", depth=[1, 50], ws_url=server.url, **FAST) as stream:
            ev = []
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and len(
                    {t for e in ev if type(e).__name__ in ("Subscribed", "Rejected") for t in e.topics}) < 6:
                e = stream.next_event(0.05)
                if e is not None:
                    ev.append(e)
            server.resume()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not (server.frames_produced >= len(frames) and server.idle()
                                                       and stream.stats().queue_len == 0):
                e = stream.next_event(0.05)
                if e is not None:
                    ev.append(e)
            ev += [e for e in iter(lambda: stream.next_event(0.2), None)]
    got = [(e.topic, e.update_id) for e in ev if isinstance(e, BookUpdate)]
    seq, n_trades = _direct(frames, {})
    assert len(symbols) == 2 and len(stream.topics) == 6
    assert got == [(t, u) for t, u, _ in seq] and len(got) == 4
    assert sum(len(e.trades) for e in ev if isinstance(e, TradeEvent)) == n_trades
    assert not [e for e in ev if isinstance(e, (Gap, Overflow, Reconnect))]
