"""Tests of ofi.sim: the simulated market must look like Bybit's linear V5 feed.

Every check replays the frames with its own dict-based book (Decimal parsing, no ofi core),
so these tests run before the compiled core exists.
"""
from __future__ import annotations

import json
import re
import statistics
from decimal import Decimal

import pytest

from ofi.errors import InvalidInputError
from ofi.sim import PUSH_INTERVAL_MS, SimFrame, SimulatedMarket

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TRADE_KEYS = ["T", "s", "S", "v", "p", "L", "i", "BT", "RPI", "seq"]


class Replay:
    """An independent L2 book: dicts of price ticks -> Decimal size, checks every invariant."""

    def __init__(self, tick: str, step: str, depth: int):
        self.tick = Decimal(tick)
        self.step = Decimal(step)
        self.depth = depth
        self.bids: dict[int, Decimal] = {}
        self.asks: dict[int, Decimal] = {}
        self.u: int | None = None
        self.seq = -1
        self.ts = 0
        self.ts_local = 0
        self._ticks: dict[str, int] = {}
        self.deltas: list[dict] = []  # per delta: entries with (side, ticks, size, was_present, rank_before)

    def ticks(self, price: str) -> int:
        t = self._ticks.get(price)
        if t is None:
            q = Decimal(price) / self.tick
            assert q == q.to_integral_value(), f"price {price} off the {self.tick} grid"
            t = self._ticks[price] = int(q)
        return t

    def size(self, text: str) -> Decimal:
        d = Decimal(text)
        assert d >= 0
        assert (d / self.step) == (d / self.step).to_integral_value(), f"size {text} off the {self.step} grid"
        return d

    def apply(self, frame: SimFrame) -> dict:
        assert frame.ts_local > self.ts_local, "ts_local must increase strictly"
        self.ts_local = frame.ts_local
        msg = json.loads(frame.raw)
        assert msg["ts"] >= self.ts, "exchange send times must not go back"
        self.ts = msg["ts"]
        lat_ms = (frame.ts_local - msg["ts"] * 1_000_000) / 1e6
        assert 0 <= lat_ms < 100, lat_ms
        if frame.kind == "trade":
            seqs = {t["seq"] for t in msg["data"]}
            assert len(seqs) == 1, "one taker order, one cross sequence"
            s = seqs.pop()
            assert s > self.seq
            self.seq = s
            return msg
        assert frame.kind == "book"
        data = msg["data"]
        assert msg["cts"] <= msg["ts"]
        assert data["seq"] > self.seq
        self.seq = data["seq"]
        if msg["type"] == "snapshot":
            if self.u is not None and data["u"] != self.u:
                assert data["u"] == self.u + 1
            self.u = data["u"]
            bl = [(self.ticks(p), self.size(s)) for p, s in data["b"]]
            al = [(self.ticks(p), self.size(s)) for p, s in data["a"]]
            assert [t for t, _ in bl] == sorted((t for t, _ in bl), reverse=True), "snapshot bids descending"
            assert [t for t, _ in al] == sorted(t for t, _ in al), "snapshot asks ascending"
            assert all(s > 0 for _, s in bl + al)
            self.bids = dict(bl)
            self.asks = dict(al)
        else:
            assert msg["type"] == "delta"
            assert self.u is not None, "delta before snapshot"
            assert data["u"] == self.u + 1, f"u {data['u']} does not follow {self.u}"
            self.u = data["u"]
            entries = []
            top_b = sorted(self.bids, reverse=True)
            top_a = sorted(self.asks)
            for side, book, order in (("b", self.bids, top_b), ("a", self.asks, top_a)):
                ticks = [self.ticks(p) for p, _ in data[side]]
                assert len(set(ticks)) == len(ticks), "a price appears once per side"
                assert ticks == sorted(ticks, reverse=(side == "b")), "deltas are sorted like Bybit's"
                for p, s in data[side]:
                    t = self.ticks(p)
                    size = self.size(s)
                    present = t in book
                    if size == 0:
                        assert s == "0", "deletes are printed as '0'"
                        assert present, "delete of an absent level"
                        del book[t]
                    else:
                        assert book.get(t) != size, "no-op update"
                        book[t] = size
                    rank = sum(1 for x in order[:25] if (x > t if side == "b" else x < t))
                    entries.append((side, t, size, present, rank))
            self.deltas.append({"msg": msg, "entries": entries})
        assert len(self.bids) == self.depth, f"{len(self.bids)} bids, expected {self.depth}"
        assert len(self.asks) == self.depth, f"{len(self.asks)} asks, expected {self.depth}"
        assert max(self.bids) < min(self.asks), "crossed or locked book"
        return msg

    def book(self) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        return (
            [(t, float(self.bids[t])) for t in sorted(self.bids, reverse=True)],
            [(t, float(self.asks[t])) for t in sorted(self.asks)],
        )


def replay(market: SimulatedMarket, frames: list[SimFrame], tick="0.1", step="0.001") -> Replay:
    rp = Replay(tick, step, market.depth)
    for f in frames:
        rp.apply(f)
    return rp


# ---------------------------------------------------------------------------- format
def test_first_frame_is_a_bybit_linear_snapshot():
    m = SimulatedMarket(seed=1)
    f = m.generate(n_messages=1)[0]
    assert isinstance(f, SimFrame) and f.kind == "book"
    assert f.raw.startswith(
        '{"topic":"orderbook.200.BTCUSDT","type":"snapshot","ts":1700000000000,"data":{"s":"BTCUSDT","b":[["'
    )
    msg = json.loads(f.raw)
    assert list(msg) == ["topic", "type", "ts", "data", "cts"]
    assert list(msg["data"]) == ["s", "b", "a", "u", "seq"]
    assert len(msg["data"]["b"]) == len(msg["data"]["a"]) == 200
    for p, s in msg["data"]["b"] + msg["data"]["a"]:
        assert re.fullmatch(r"\d+\.\d\d", p), p  # derivatives print 2 decimals on a 0.1 tick
        assert re.fullmatch(r"\d+\.\d{3}", s), s
        assert Decimal(s) > 0
    assert msg["data"]["b"][0][0] == "60000.00"
    assert " " not in f.raw, "Bybit frames are compact JSON"


def test_price_and_size_formatting_follows_the_grid():
    m = SimulatedMarket()
    assert m.format_price(600001) == "60000.10"
    assert m.format_price(600000) == "60000.00"
    xrp = SimulatedMarket("XRPUSDT", tick_size="0.0001", qty_step="1", depth=50, start_price=1.9531, seed=3)
    msg = json.loads(xrp.generate(n_messages=1)[0].raw)
    assert msg["topic"] == "orderbook.50.XRPUSDT"
    assert msg["data"]["b"][0][0] == "1.9531"
    assert all(re.fullmatch(r"\d\.\d{4}", p) and re.fullmatch(r"[1-9]\d*", s) for p, s in msg["data"]["a"])
    wide = SimulatedMarket("ETHUSDT", tick_size="0.05", qty_step="0.01", start_price=3000.0, price_scale=3, seed=0)
    assert wide.format_price(60001) == "3000.050"
    coarse = SimulatedMarket("XUSDT", tick_size="5", qty_step="10", depth=50, start_price=100000.0)
    assert coarse.format_price(3) == "15.00"
    assert json.loads(coarse.generate(n_messages=1)[0].raw)["data"]["a"][0][1].endswith("0")


def test_depth_one_is_snapshot_only_with_ts_before_type():
    m = SimulatedMarket(depth=1, seed=4)
    frames = m.generate(duration_s=5)
    book = [f for f in frames if f.kind == "book"]
    assert len(book) > 50
    rp = Replay("0.1", "0.001", 1)
    for f in frames:
        msg = rp.apply(f)
        if f.kind == "book":
            assert msg["type"] == "snapshot"
            assert list(msg)[:3] == ["topic", "ts", "type"]
    assert rp.book() == m.true_book()
    gaps = [b - a for a, b in zip(
        [json.loads(f.raw)["ts"] for f in book], [json.loads(f.raw)["ts"] for f in book[1:]])]
    assert min(gaps) >= 5 and statistics.median(gaps) < 40  # 10 ms slots, pushed when the top changes


def test_level_one_repeats_unchanged_top_after_three_seconds_with_same_u():
    m = SimulatedMarket(depth=1, seed=5, trade_rate=0.0, volatility=0.0)
    m._noise = lambda target: None  # freeze the book: only the 3 s keep-alive snapshot remains
    frames = m.generate(duration_s=10)
    msgs = [json.loads(f.raw) for f in frames]
    settled = msgs[-3:]  # the first pushes may still re-quote a wide spread at the fair price
    assert [y["ts"] - x["ts"] for x, y in zip(settled, settled[1:])] == pytest.approx([3000, 3000], abs=5)
    assert settled[-1]["ts"] - msgs[0]["ts"] > 8000
    assert len({x["data"]["u"] for x in settled}) == 1
    assert len({x["data"]["seq"] for x in msgs}) == len(msgs)


# ------------------------------------------------------------------------ invariants
@pytest.mark.parametrize("depth,seconds,seed", [(50, 30, 0), (200, 120, 1), (200, 60, 7), (1000, 60, 2)])
def test_replay_keeps_exact_depth_contiguous_u_and_never_crosses(depth, seconds, seed):
    m = SimulatedMarket(depth=depth, seed=seed)
    frames = m.generate(duration_s=seconds)
    rp = replay(m, frames)  # asserts every invariant frame by frame
    n_book = sum(f.kind == "book" for f in frames)
    assert n_book >= 0.9 * seconds * 1000 / PUSH_INTERVAL_MS[depth]
    assert rp.book() == m.true_book()
    assert len(rp.deltas) == n_book - 1  # one snapshot, then deltas only


def test_push_cadence_and_timing_per_depth():
    for depth, cadence in PUSH_INTERVAL_MS.items():
        if depth == 1:
            continue
        m = SimulatedMarket(depth=depth, seed=11)
        frames = m.generate(duration_s=20)
        book = [json.loads(f.raw) for f in frames if f.kind == "book"]
        gaps = [b["ts"] - a["ts"] for a, b in zip(book, book[1:])]
        assert statistics.median(gaps) == pytest.approx(cadence, abs=cadence * 0.1)
        assert min(gaps) > 0.5 * cadence
        lags = [x["ts"] - x["cts"] for x in book]
        assert 1 <= min(lags) and max(lags) <= 15
        lat = [(f.ts_local - json.loads(f.raw)["ts"] * 1_000_000) / 1e6 for f in frames]
        assert 2.9 < statistics.median(lat) < 8.0  # a few ms of network latency, jittered
        assert statistics.pstdev(lat) > 0.3


def test_delta_composition_is_realistic():
    m = SimulatedMarket(depth=200, seed=0)
    rp = replay(m, m.generate(duration_s=180))
    entries = [e for d in rp.deltas for e in d["entries"]]
    per_delta = len(entries) / len(rp.deltas)
    zeros = sum(1 for e in entries if e[2] == 0) / len(entries)
    new = sum(1 for e in entries if e[2] != 0 and not e[3]) / len(entries)
    top20 = sum(1 for e in entries if e[4] < 20) / len(entries)
    assert 24 <= per_delta <= 36, per_delta
    assert 0.05 <= zeros <= 0.2, zeros
    assert 0.05 <= new <= 0.2, new
    assert top20 >= 0.6, top20
    sizes = [len(d["entries"]) for d in rp.deltas]
    assert statistics.pstdev(sizes) > 2  # not a constant count


def test_mid_follows_a_random_walk_and_spread_is_mostly_one_tick():
    m = SimulatedMarket(depth=50, seed=3)
    rp = Replay("0.1", "0.001", 50)
    mids, spreads = [], []
    for f in m.frames(duration_s=60):
        rp.apply(f)
        if f.kind == "book":
            b, a = max(rp.bids), min(rp.asks)
            mids.append((a + b) / 2)
            spreads.append(a - b)
    assert max(mids) - min(mids) > 20  # it moves (ticks)
    steps = [y - x for x, y in zip(mids, mids[1:])]
    assert sum(s > 0 for s in steps) > 0.1 * len(steps) and sum(s < 0 for s in steps) > 0.1 * len(steps)
    assert statistics.median(spreads) == 1
    assert statistics.mean(spreads) < 3
    flat = SimulatedMarket(depth=50, seed=3, volatility=0.0, trade_rate=0.0)
    rp = replay(flat, flat.generate(duration_s=30))
    assert 599_990 < max(rp.bids) and min(rp.asks) < 600_010


# ---------------------------------------------------------------------------- trades
def test_trade_frames_have_bybit_shape():
    m = SimulatedMarket(seed=8)
    frames = m.generate(duration_s=60)
    trades = [json.loads(f.raw) for f in frames if f.kind == "trade"]
    assert len(trades) > 300
    last_p = None
    last_dir = None
    for msg in trades:
        assert list(msg) == ["topic", "type", "ts", "data"]
        assert msg["topic"] == "publicTrade.BTCUSDT" and msg["type"] == "snapshot"
        for t in msg["data"]:
            assert list(t) == TRADE_KEYS
            assert t["s"] == "BTCUSDT" and t["S"] in ("Buy", "Sell")
            assert t["BT"] is False and t["RPI"] is False
            assert UUID_RE.match(t["i"]), t["i"]
            assert re.fullmatch(r"\d+\.\d\d", t["p"]) and re.fullmatch(r"\d+\.\d{3}", t["v"])
            assert Decimal(t["v"]) > 0
            assert t["T"] <= msg["ts"]
            p = Decimal(t["p"])
            if last_p is None or p != last_p:
                expect = "PlusTick" if last_p is None or p > last_p else "MinusTick"
            else:
                expect = "ZeroPlusTick" if last_dir == "PlusTick" else "ZeroMinusTick"
            assert t["L"] == expect
            if expect in ("PlusTick", "MinusTick"):
                last_dir = expect
            last_p = p
        prices = [Decimal(t["p"]) for t in msg["data"]]
        buy = msg["data"][0]["S"] == "Buy"
        assert prices == sorted(prices, reverse=not buy), "a sweep walks away from the touch"
    ids = [t["i"] for msg in trades for t in msg["data"]]
    assert len(set(ids)) == len(ids)


def test_trades_consume_the_best_level_and_the_next_delta_shows_it():
    m = SimulatedMarket(depth=200, seed=9, trade_rate=20.0)
    frames = m.generate(duration_s=60)
    rp = Replay("0.1", "0.001", 200)
    pending: list[dict] = []
    checked = transient = unexplained = fills = 0
    for f in frames:
        before_b, before_a = dict(rp.bids), dict(rp.asks)
        msg = rp.apply(f)
        if f.kind == "trade":
            pending.append(msg)
            continue
        if msg["type"] != "delta":
            continue
        changed_b = {rp.ticks(p) for p, _ in msg["data"]["b"]}
        changed_a = {rp.ticks(p) for p, _ in msg["data"]["a"]}
        # levels untouched by this push were resting all along: the taker met them first if better
        steady_a = [t for t in before_a if t not in changed_a]
        steady_b = [t for t in before_b if t not in changed_b]
        for tr in pending:
            first = tr["data"][0]
            t0 = rp.ticks(first["p"])
            if first["S"] == "Buy":
                assert t0 <= min(steady_a), "a buy must lift the best ask"
                assert t0 > max(steady_b)
                touched = changed_a
            else:
                assert t0 >= max(steady_b), "a sell must hit the best bid"
                assert t0 < min(steady_a)
                touched = changed_b
            before, after = (before_a, rp.asks) if first["S"] == "Buy" else (before_b, rp.bids)
            for fill in tr["data"]:
                t = rp.ticks(fill["p"])
                # the consumed level shows in the next delta, unless it was quoted and taken
                # between two pushes (then the net change, all Bybit sends, is nothing), or a
                # later size update of the same push happened to restore its size
                if t not in touched:
                    transient += 1
                    unexplained += t in before or t in after
                fills += 1
            checked += 1
        pending = []
    assert checked > 500
    assert transient < 0.2 * fills
    assert unexplained <= 0.01 * fills


# ----------------------------------------------------------- determinism and streaming
def test_same_seed_same_stream_other_seed_other_stream():
    a = SimulatedMarket(seed=42).generate(n_messages=3000)
    b = SimulatedMarket(seed=42).generate(n_messages=3000)
    c = SimulatedMarket(seed=43).generate(n_messages=3000)
    assert a == b
    assert [f.raw for f in a] != [f.raw for f in c]
    assert a[0].raw != c[0].raw


def test_frames_continue_across_calls_and_true_book_tracks_what_was_yielded():
    whole = SimulatedMarket(seed=5).generate(n_messages=2000)
    m = SimulatedMarket(seed=5)
    rp = Replay("0.1", "0.001", 200)
    got: list[SimFrame] = []
    for n in (1, 2, 3, 5, 8, 13, 21, 400, 7, 1540):
        part = m.generate(n_messages=n)
        assert len(part) == n
        got += part
        for f in part:
            rp.apply(f)
        assert rp.book() == m.true_book()  # even when a call stops between a trade and its delta
    assert got == whole
    # duration limits hold back the first frame past the horizon for the next call
    d = SimulatedMarket(seed=5)
    first = d.generate(duration_s=1.0)
    second = d.generate(duration_s=1.0)
    assert first + second == whole[: len(first) + len(second)]
    assert json.loads(first[-1].raw)["ts"] <= 1_700_000_001_000 < json.loads(second[0].raw)["ts"]
    assert SimulatedMarket().true_book() == ([], [])
    assert SimulatedMarket().generate(n_messages=0) == []


def test_frames_is_lazy_and_endless_without_limits():
    m = SimulatedMarket(seed=0)
    it = m.frames()
    got = [next(it) for _ in range(10)]
    assert got == SimulatedMarket(seed=0).generate(n_messages=10)


def test_generates_100k_frames_without_trouble():
    # feeds benchmarks; the speed itself is measured in bench/, here only that it completes sanely
    frames = SimulatedMarket(depth=50, seed=1).generate(n_messages=20_000)
    assert len(frames) == 20_000
    assert sum(f.kind == "book" for f in frames) > 10_000


# ------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"symbol": ""}, "symbol"),
        ({"symbol": "BTC.USDT"}, "symbol"),
        ({"symbol": 5}, "symbol"),
        ({"tick_size": "0"}, "tick_size"),
        ({"tick_size": "abc"}, "tick_size"),
        ({"qty_step": -1}, "qty_step"),
        ({"depth": 500}, "depth"),
        ({"depth": 0}, "depth"),
        ({"depth": 200.0}, "depth"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"seed": True}, "seed"),
        ({"start_price": 0.0}, "start_price"),
        ({"start_price": float("nan")}, "start_price"),
        ({"start_price": 100.0}, "start_price"),  # 1000 ticks < 20 * depth
        ({"trade_rate": -1.0}, "trade_rate"),
        ({"trade_rate": float("inf")}, "trade_rate"),
        ({"start_ts_ms": -5}, "start_ts_ms"),
        ({"volatility": -0.1}, "volatility"),
        ({"levels_per_delta": 0}, "levels_per_delta"),
        ({"latency_ms": float("nan")}, "latency_ms"),
        ({"price_scale": 0}, "price_scale"),
        ({"price_scale": 30}, "price_scale"),
    ],
)
def test_invalid_arguments_are_named(kwargs, name):
    with pytest.raises(InvalidInputError, match=name):
        SimulatedMarket(**kwargs)


def test_invalid_limits_are_named():
    m = SimulatedMarket()
    with pytest.raises(InvalidInputError, match="n_messages"):
        m.frames(n_messages=-1)
    with pytest.raises(InvalidInputError, match="duration_s"):
        m.frames(duration_s=float("nan"))
    with pytest.raises(InvalidInputError, match="n_messages or duration_s"):
        m.generate()
    with pytest.raises(ValueError):  # InvalidInputError is also a ValueError
        m.generate(duration_s=-1)
