"""Parity: the compiled ``ofi.OrderBook`` against the reference twin ``reference.RefBook``.

Random snapshot/delta streams (prices near a drifting mid, random decimal sizes incl. zeros,
deletes of absent levels, duplicate prices within a message, gaps, duplicate and old ``u``,
``u == 1`` resets, crossing messages, deltas before the first snapshot) go through both books, once
as real V5 JSON text (random key order and separators) via ``apply_frame`` and once as arrays via
``apply_levels``. After every message the outcome (applied / ignored / exception type) and the
whole book (every level, bit for bit) and every read must be identical.

The tape path (``frames_to_tape`` + ``replay_tape``) must give the twin's top of book after every
book message.
"""
from __future__ import annotations

import json
import math
import random
import struct
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from ofi import OrderBook
from ofi.data.tape import frames_to_tape, replay_tape
from ofi.errors import BookIntegrityError, InvalidInputError, OfiError, SequenceGapError
from reference.book import RefBook

SYMBOL = "XRPUSDT"
TOPIC = f"orderbook.50.{SYMBOL}"
TICKS = ["0.0001", "0.01", "0.1", "0.5", "1", "0.00000001", "0.25", "0.005"]
SEPARATORS = [(",", ":"), (", ", ": "), (" ,", " :"), (",\n", ":\t")]
PARITY = settings(max_examples=200, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@dataclass
class Msg:
    snapshot: bool
    u: int
    bids: list  # [(ticks, size_str, price_str)]
    asks: list
    ts_ms: int
    ts_local: int
    raw: str = ""
    kind: str = field(default="book")


@dataclass
class Stream:
    tick: str
    msgs: list


# ----------------------------------------------------------------------------- strategies
# Hypothesis draws the shape of a stream (tick, length, seed); the many per-level details come from
# random.Random(seed), which keeps generation fast (hypothesis draws cost ~10 us each). A failing
# example prints the whole stream (note()).


def size_string(rnd: random.Random, zero_percent: int) -> str:
    if rnd.randrange(100) < zero_percent:
        return rnd.choice(["0", "0.0", "0.000", "0.00000000"])
    digits = rnd.randint(1, 20) if rnd.randrange(4) == 0 else rnd.randint(1, 6)
    mantissa = rnd.randint(1, 10**digits - 1)
    return format(Decimal(mantissa).scaleb(-rnd.randint(0, 12)), "f")


def price_string(ticks: int, tick: Decimal, pad: int) -> str:
    d = Decimal(ticks) * tick
    s = format(d.normalize(), "f") if pad == 0 else format(d, "f")
    if pad == 2:
        s += "0" if "." in s else ".00"
    return s


def make_stream(tick: str, n_msgs: int, rnd: random.Random, clean: bool) -> Stream:
    tick_d = Decimal(tick)
    mid = rnd.randint(60, 3_000_000)
    u = rnd.randint(2, 10**7)
    ts = 1_733_011_200_000 + rnd.randint(0, 10**6)
    msgs = []
    for i in range(n_msgs):
        roll = rnd.randrange(100)
        snapshot = (clean or roll < 85) if i == 0 else roll < 15
        crossy = (not clean) and rnd.randrange(100) < 6
        if snapshot:
            mid = max(60, mid + rnd.randint(-10, 10))
            if rnd.randrange(100) < 5:
                u_msg = 1
            else:
                u_msg = max(0, u + rnd.randint(1 if clean else -3, 200))
            u = u_msg
            n_b, n_a, zero_p = rnd.randint(0, 30), rnd.randint(0, 30), 10
        else:
            mode = rnd.choice(["next"] * 9 + ["reset1"] if clean else ["next"] * 12 + ["dup", "old", "gap", "reset1"])
            if mode == "next":
                u += 1
                u_msg = u
            elif mode == "dup":
                u_msg = u
            elif mode == "old":
                u_msg = max(0, u - rnd.randint(1, 3))
            elif mode == "gap":
                u += rnd.randint(2, 5)
                u_msg = u
            else:
                u = u_msg = 1
            n_b, n_a, zero_p = rnd.randint(0, 12), rnd.randint(0, 12), 30
            if rnd.randrange(12) == 0:  # empty deltas (one marker row on a tape)
                n_b = n_a = 0
        reach = 3 if crossy else 0
        pad = rnd.randint(0, 2)
        bids = []
        for _ in range(n_b):
            t = rnd.randint(mid - 40, mid + reach)
            bids.append((t, size_string(rnd, zero_p), price_string(t, tick_d, pad)))
        asks = []
        for _ in range(n_a):
            t = rnd.randint(mid + 1 - reach, mid + 41)
            asks.append((t, size_string(rnd, zero_p), price_string(t, tick_d, pad)))
        ts += rnd.randint(0, 300)
        msg = Msg(snapshot, u_msg, bids, asks, ts, ts * 1_000_000 + rnd.randint(0, 10**7))
        msg.raw = frame_text(msg, rnd)
        msgs.append(msg)
    return Stream(tick, msgs)


def streams(clean: bool = False, max_msgs: int = 40):
    return st.builds(
        lambda tick, n, seed: make_stream(tick, n, random.Random(seed), clean),
        st.sampled_from(TICKS), st.integers(1, max_msgs), st.integers(0, 2**64),
    )


def frame_text(m: Msg, rnd: random.Random) -> str:
    data = {"s": SYMBOL, "b": [[p, s] for _, s, p in m.bids], "a": [[p, s] for _, s, p in m.asks], "u": m.u}
    if rnd.randrange(2):
        data["seq"] = rnd.randint(0, 2**40)
    top = {"topic": TOPIC, "type": "snapshot" if m.snapshot else "delta", "ts": m.ts_ms, "data": None}
    if rnd.randrange(2):
        top["cts"] = m.ts_ms - rnd.randint(0, 20)
    if rnd.randrange(10) == 0:
        top["id"] = f"{TOPIC}-{m.u}-{m.ts_ms}"
    data_order, top_order = list(data), list(top)
    rnd.shuffle(data_order)
    rnd.shuffle(top_order)
    top["data"] = {k: data[k] for k in data_order}
    return json.dumps({k: top[k] for k in top_order}, separators=rnd.choice(SEPARATORS))


def as_arrays(m: Msg):
    return (np.array([t for t, _, _ in m.bids], dtype=np.int64), np.array([float(s) for _, s, _ in m.bids]),
            np.array([t for t, _, _ in m.asks], dtype=np.int64), np.array([float(s) for _, s, _ in m.asks]))


# ----------------------------------------------------------------------------- comparisons


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def same_float(a, b) -> bool:
    return bits(float(a)) == bits(float(b))


def outcome(fn, *args, **kwargs):
    try:
        return ("ok", fn(*args, **kwargs), None)
    except SequenceGapError as exc:
        return ("err", SequenceGapError, (exc.expected, exc.received))
    except (InvalidInputError, BookIntegrityError) as exc:
        return ("err", type(exc), str(exc))


def assert_same_outcome(got, want, where: str):
    assert got[:2] == want[:2], f"{where}: core {got} != twin {want}"
    if want[1] is SequenceGapError and want[2][0] is not None:  # a real gap: expected/received too
        assert got[2] == want[2], f"{where}: core gap {got[2]} != twin gap {want[2]}"


FLOAT_READS = ("best_bid", "best_ask", "best_bid_size", "best_ask_size", "mid_price", "microprice",
               "spread", "spread_bps")


def assert_same_book(core: OrderBook, ref: RefBook, where: str, frame_path: bool = True,
                     counters: bool = True) -> None:
    cb, rb = core.bids(), ref.bids()
    ca, ra = core.asks(), ref.asks()
    assert cb.dtype == np.float64 and cb.shape == rb.shape and ca.shape == ra.shape, where
    assert cb.tobytes() == rb.tobytes(), f"{where}: bids differ\ncore={cb.tolist()}\ntwin={rb.tolist()}"
    assert ca.tobytes() == ra.tobytes(), f"{where}: asks differ\ncore={ca.tolist()}\ntwin={ra.tolist()}"
    for name in FLOAT_READS:
        c, r = getattr(core, name)(), getattr(ref, name)()
        assert same_float(c, r), f"{where}: {name} core={c!r} twin={r!r}"
    assert all(same_float(c, r) for c, r in zip(core.bbo(), ref.bbo())), f"{where}: bbo {core.bbo()} {ref.bbo()}"
    assert core.best_bid_ticks() == ref.best_bid_ticks() and core.best_ask_ticks() == ref.best_ask_ticks(), where
    for k in (1, 2, 5, 1000):
        for name in ("bid_depth", "ask_depth", "depth_imbalance"):
            c, r = getattr(core, name)(k), getattr(ref, name)(k)
            assert same_float(c, r), f"{where}: {name}({k}) core={c!r} twin={r!r}"
        assert all(same_float(c, r) for c, r in zip(core.depth(k), ref.depth(k))), where
    for n in (1, 3, 1000):
        for c, r in zip(core.top_levels(n), ref.top_levels(n)):
            assert c.dtype == r.dtype and c.tobytes() == r.tobytes(), f"{where}: top_levels({n})"
        assert core.bids(n).tobytes() == ref.bids(n).tobytes(), where
        assert core.asks(n).tobytes() == ref.asks(n).tobytes(), where
    props = ("update_id", "stale", "ready", "n_bids", "n_asks", "ts_exch", "ts_local")
    if counters:
        props += ("messages", "rejected", "gaps", "ignored")
    if frame_path:
        props += ("seq", "cts", "topic")
    for name in props:
        assert getattr(core, name) == getattr(ref, name), f"{where}: {name} core={getattr(core, name)!r} twin={getattr(ref, name)!r}"
    assert len(core) == len(ref), where


# ----------------------------------------------------------------------------- tests


@PARITY
@given(stream=streams(), strict=st.booleans())
def test_frame_and_levels_parity(stream: Stream, strict: bool):
    tick = stream.tick
    core_f, ref_f = OrderBook(SYMBOL, tick_size=tick, strict_sequence=strict), RefBook(SYMBOL, tick, strict)
    core_l, ref_l = OrderBook(SYMBOL, tick_size=tick, strict_sequence=strict), RefBook(SYMBOL, tick, strict)
    for i, m in enumerate(stream.msgs):
        note(f"message {i}: {m.raw}")
        want = outcome(ref_f.apply_frame, m.raw, ts_local=m.ts_local)
        assert want[1] is not InvalidInputError, f"generator made a frame the twin refuses: {want}"
        got = outcome(core_f.apply_frame, m.raw, ts_local=m.ts_local)
        assert_same_outcome(got, want, f"apply_frame #{i}")
        assert_same_book(core_f, ref_f, f"apply_frame #{i}")

        kw = dict(snapshot=m.snapshot, update_id=m.u, ts_exch=m.ts_ms * 1_000_000, ts_local=m.ts_local)
        want_l = outcome(ref_l.apply_levels, *as_arrays(m), **kw)
        got_l = outcome(core_l.apply_levels, *as_arrays(m), **kw)
        assert_same_outcome(got_l, want_l, f"apply_levels #{i}")
        assert want_l[:2] == want[:2]  # the twin agrees with itself across the two paths
        assert_same_book(core_l, ref_l, f"apply_levels #{i}", frame_path=False)
        core_f.check_integrity()
        core_l.check_integrity()


@PARITY
@given(stream=streams())
def test_levels_without_update_ids(stream: Stream):
    """update_id=-1: no sequence checks at all, only snapshot/delta, absolute sizes and crossing."""
    core, ref = OrderBook(SYMBOL, tick_size=stream.tick), RefBook(SYMBOL, stream.tick)
    for i, m in enumerate(stream.msgs):
        kw = dict(snapshot=m.snapshot, update_id=-1, ts_exch=m.ts_ms, ts_local=m.ts_local)
        want = outcome(ref.apply_levels, *as_arrays(m), **kw)
        got = outcome(core.apply_levels, *as_arrays(m), **kw)
        assert_same_outcome(got, want, f"apply_levels(update_id=-1) #{i}")
        assert_same_book(core, ref, f"apply_levels(update_id=-1) #{i}", frame_path=False)


def copy_parity_step(core: OrderBook, ref: RefBook, m: Msg):
    return outcome(core.apply_frame, m.raw), outcome(ref.apply_frame, m.raw)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=streams(max_msgs=12), cut=st.integers(0, 11))
def test_copy_continues_identically(stream: Stream, cut: int):
    core, ref = OrderBook(SYMBOL, tick_size=stream.tick), RefBook(SYMBOL, stream.tick)
    for m in stream.msgs[:cut]:
        outcome(core.apply_frame, m.raw)
        outcome(ref.apply_frame, m.raw)
    core2, ref2 = core.copy(), ref.copy()
    frozen = core.bids().tobytes(), core.asks().tobytes(), core.update_id, core.stale
    for i, m in enumerate(stream.msgs[cut:]):
        got, want = copy_parity_step(core2, ref2, m)
        assert_same_outcome(got, want, f"copy #{i}")
        assert_same_book(core2, ref2, f"copy #{i}")
    assert (core.bids().tobytes(), core.asks().tobytes(), core.update_id, core.stale) == frozen


# ----------------------------------------------------------------------------- tape


TRADE = ('{{"topic":"publicTrade.{sym}","type":"snapshot","ts":{ts},"data":[{{"T":{ts},"s":"{sym}","S":"Buy",'
         '"v":"5","p":"{p}","L":"PlusTick","i":"0cbf2330-952d-5d03-a462-4bf826c867af","BT":false}}]}}')
PONG = '{"success":true,"ret_msg":"pong","conn_id":"465772b1-7630-4fdc-a492-e003e6f0f260","req_id":"","op":"ping"}'


def with_noise(stream: Stream, data) -> list:
    """(ts_local, raw) pairs: the book frames, with trades and pongs sprinkled in between."""
    out = []
    for m in stream.msgs:
        if data.draw(st.integers(0, 9)) == 0:
            p = price_string(m.bids[0][0] if m.bids else 100, Decimal(stream.tick), 0)
            out.append((m.ts_local - 1, TRADE.format(sym=SYMBOL, ts=m.ts_ms, p=p)))
        if data.draw(st.integers(0, 19)) == 0:
            out.append((m.ts_local - 1, PONG))
        out.append((m.ts_local, m.raw))
    return out


def tob_of(ref: RefBook) -> tuple:
    if ref.stale:
        return (-1, math.nan, -1, math.nan)
    bt, at = ref.best_bid_ticks(), ref.best_ask_ticks()
    return (-1 if bt is None else bt, ref.best_bid_size(), -1 if at is None else at, ref.best_ask_size())


def tob_row(row) -> tuple:
    return (int(row["bid_ticks"]), float(row["bid_size"]), int(row["ask_ticks"]), float(row["ask_size"]))


def same_tob(a: tuple, b: tuple) -> bool:
    return a[0] == b[0] and a[2] == b[2] and same_float(a[1], b[1]) and same_float(a[3], b[3])


@PARITY
@given(stream=streams(clean=True), data=st.data())
def test_tape_replay_parity(stream: Stream, data):
    frames = with_noise(stream, data)
    tape = frames_to_tape(frames, stream.tick)
    tob = replay_tape(tape, stream.tick)
    ref = RefBook(SYMBOL, stream.tick)
    assert len(tob) == len(stream.msgs)
    for i, m in enumerate(stream.msgs):
        ref.apply_frame(m.raw, ts_local=m.ts_local)  # clean streams never raise
        row = tob[i]
        assert int(row["ts_exch"]) == m.ts_ms * 1_000_000 and int(row["ts_local"]) == m.ts_local, i
        assert int(row["update_id"]) == ref.update_id, f"row {i}: update_id {row['update_id']} != {ref.update_id}"
        assert same_tob(tob_row(row), tob_of(ref)), f"row {i}: tape {tob_row(row)} != twin {tob_of(ref)}"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=streams(), data=st.data())
def test_tape_replay_skip_mode_parity(stream: Stream, data):
    """on_gap="skip" (documented in ofi.data.tape.replay_tape): status 1 applied / 0 ignored / -1
    rejected per message, top of book as the twin's (-1/NaN when stale or empty)."""
    frames = with_noise(stream, data)
    tob = replay_tape(frames_to_tape(frames, stream.tick), stream.tick, on_gap="skip")
    ref = RefBook(SYMBOL, stream.tick)
    assert len(tob) == len(stream.msgs)
    for i, m in enumerate(stream.msgs):
        res = outcome(ref.apply_frame, m.raw, ts_local=m.ts_local)
        status = (1 if res[1] else 0) if res[0] == "ok" else -1
        assert int(tob[i]["status"]) == status, f"row {i}: status {tob[i]['status']} != {status} ({res})"
        assert same_tob(tob_row(tob[i]), tob_of(ref)), f"row {i}: tape {tob_row(tob[i])} != twin {tob_of(ref)}"


def test_tape_replay_raises_on_gap_by_default():
    tick = "1"
    snap = json.dumps({"topic": TOPIC, "type": "snapshot", "ts": 1,
                       "data": {"s": SYMBOL, "b": [["100", "1"]], "a": [["101", "1"]], "u": 10}})
    gap = json.dumps({"topic": TOPIC, "type": "delta", "ts": 2, "data": {"s": SYMBOL, "b": [], "a": [], "u": 12}})
    tape = frames_to_tape([snap, gap], tick)
    with pytest.raises(SequenceGapError):
        replay_tape(tape, tick)
    with pytest.raises(OfiError):
        frames_to_tape([snap, '{"topic":"tickers.XRPUSDT","type":"snapshot","ts":1,"data":{}}'], tick)
