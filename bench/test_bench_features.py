"""Feature-engine benchmarks: ``FeatureEngine`` beside the pure-Python twin of the same 75 features
(``tests/reference/features.py``, the executable specification), on simulated Bybit BTCUSDT data.

Data: ``ofi.sim.SimulatedMarket`` (seed fixed, depth 50, push every 20 ms, about 10 taker orders
a second), as frames for the live path and as a tape for the batch path. The long tape
(``OFI_BENCH_FEATURE_MESSAGES`` book messages, default 1,000,000, plus its trades) is built once and
cached as ``.npy`` in ``OFI_BENCH_CACHE`` (default ``~/.cache/ofi-bench``).

Groups:

* ``features-extract``: one ``extract_features(book)`` call on a warmed engine (the vector a bot
  reads after each book update). The per-call p50 / p99 over a replay are recorded too
  (``extra_info``), beside the targets 5 us / 15 us.
* ``features-event``: the live path per event: ``update_orderbook`` or ``update_trade`` then
  ``extract_features``.
* ``features-transform``: ``FeatureEngine.transform`` over the long tape, per book message (target:
  1M book messages in <= 3 s, i.e. 3 us each, trades included); the twin runs a prefix.

Run: ``pytest bench/test_bench_features.py --benchmark-only -p no:cacheprovider``.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import SEED, record

N_LONG = int(os.environ.get("OFI_BENCH_FEATURE_MESSAGES", "1000000"))
N_LIVE_SECONDS = 600          # simulated seconds of the live-path stream (~30k book messages)
N_TWIN_EVENTS = 6000
CACHE = Path(os.environ.get("OFI_BENCH_CACHE", str(Path.home() / ".cache" / "ofi-bench")))

GROUP_EXTRACT = "features-extract"
GROUP_EVENT = "features-event"
GROUP_TRANSFORM = "features-transform"
TARGET_EXTRACT_P50_NS = 5000.0
TARGET_EXTRACT_P99_NS = 15000.0
TARGET_TRANSFORM_NS = 3000.0


def _market():
    from ofi.sim import SimulatedMarket
    return SimulatedMarket(seed=SEED, depth=50)


@pytest.fixture(scope="module")
def live():
    """Events of a 10-minute stream: ("book", raw, ts_local) and ("trade", Trade) in arrival order."""
    from ofi import Trade
    m = _market()
    events = []
    for f in m.generate(duration_s=N_LIVE_SECONDS):
        if f.kind == "book":
            events.append(("book", f.raw, f.ts_local))
        else:
            events.extend(("trade", t) for t in Trade.from_frame(f.raw, m.tick_size, f.ts_local))
    return m.tick_size, events


def _feed(engine, book, events):
    """Replay events into (engine, book); returns per-extract latencies (ns) of book events."""
    lat = []
    pc = time.perf_counter_ns
    for ev in events:
        if ev[0] == "book":
            book.apply_frame(ev[1], ev[2])
            engine.update_orderbook(book)
            t0 = pc()
            engine.extract_features(book)
            lat.append(pc() - t0)
        else:
            engine.update_trade(ev[1])
            engine.extract_features(book)
    return np.array(lat, dtype=np.int64)


@pytest.fixture(scope="module")
def long_tape():
    from ofi.data.tape import frames_to_tape
    path = CACHE / f"features-seed{SEED}-{N_LONG}.npy"
    if path.exists():
        return str(_market().tick_size), np.load(path)
    m = _market()
    parts, n_book = [], 0
    while n_book < N_LONG:
        frames = m.generate(n_messages=100_000)
        t = frames_to_tape(frames, m.tick_size)
        parts.append(t)
        n_book += sum(1 for f in frames if f.kind == "book")
    tape = np.concatenate(parts)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, tape)
    return str(m.tick_size), tape


def _n_book(tape) -> int:
    from ofi.data.tape import FLAG_END, KIND_BOOK
    return int(np.count_nonzero((tape["kind"] == KIND_BOOK) & ((tape["flags"] & FLAG_END) != 0)))


# ============================================================================================
# 1. features-extract
# ============================================================================================
@pytest.mark.benchmark(group=GROUP_EXTRACT)
def test_extract_ours(benchmark, live):
    from ofi import FeatureEngine, OrderBook
    tick, events = live
    engine, book = FeatureEngine(), OrderBook("BTCUSDT", tick)
    lat = _feed(engine, book, events)[1000:]      # per-call latency over the replay (warm engine)
    p50, p99 = float(np.median(lat)), float(np.percentile(lat, 99))
    n = 10_000

    def run():
        ex = engine.extract_features
        for _ in range(n):
            fv = ex(book)
        return fv

    fv = benchmark.pedantic(run, rounds=7, warmup_rounds=1)
    assert fv.values.shape == (engine.n_features,) and fv["mid_price"] == book.mid_price()
    assert fv.valid.sum() >= 60
    record(benchmark, impl="ours", label="ofi FeatureEngine.extract_features(book), 75 features",
           unit="call", n_units=n, messages=n, levels=0, replay_p50_ns=p50, replay_p99_ns=p99,
           target_ns=TARGET_EXTRACT_P50_NS, target_p99_ns=TARGET_EXTRACT_P99_NS)


@pytest.mark.benchmark(group=GROUP_EXTRACT)
def test_extract_reftwin(benchmark, live):
    from ofi import OrderBook
    from reference.features import ReferenceFeatureEngine
    tick, events = live
    engine, book = ReferenceFeatureEngine(), OrderBook("BTCUSDT", tick)
    events = events[:N_TWIN_EVENTS]
    for ev in events:
        if ev[0] == "book":
            book.apply_frame(ev[1], ev[2])
            engine.update_orderbook(book)
        else:
            engine.update_trade(ev[1])
    n = 200

    def run():
        for _ in range(n):
            x = engine.extract(book)
        return x

    x = benchmark.pedantic(run, rounds=3)
    assert len(x) == 75
    record(benchmark, impl="reftwin", label="tests/reference ReferenceFeatureEngine.extract (pure Python)",
           unit="call", n_units=n, messages=n, levels=0)


# ============================================================================================
# 2. features-event: update + extract per event (the live loop)
# ============================================================================================
def _prepared(tick, events):
    """Books already applied (copies), so the timed loop holds only the feature work."""
    from ofi import OrderBook
    book = OrderBook("BTCUSDT", tick)
    out = []
    for ev in events:
        if ev[0] == "book":
            book.apply_frame(ev[1], ev[2])
            out.append((True, book.copy()))
        else:
            out.append((False, ev[1]))
    return out


@pytest.mark.benchmark(group=GROUP_EVENT)
def test_event_ours(benchmark, live):
    from ofi import FeatureEngine
    tick, events = live
    prepared = _prepared(tick, events[:60_000])
    last_book = next(b for is_book, b in reversed(prepared) if is_book)

    def setup():
        return (FeatureEngine(),), {}

    def run(engine):
        ub, ut, ex = engine.update_orderbook, engine.update_trade, engine.extract_features
        book = None
        for is_book, x in prepared:
            if is_book:
                book = x
                ub(x)
            else:
                ut(x)
            fv = ex(book)
        return fv

    fv = benchmark.pedantic(run, setup=setup, rounds=5, warmup_rounds=1)
    assert fv["mid_price"] == last_book.mid_price()
    record(benchmark, impl="ours", label="ofi update_orderbook / update_trade + extract_features",
           unit="event", n_units=len(prepared), messages=len(prepared), levels=0)


@pytest.mark.benchmark(group=GROUP_EVENT)
def test_event_reftwin(benchmark, live):
    from reference.features import ReferenceFeatureEngine
    tick, events = live
    prepared = _prepared(tick, events[:N_TWIN_EVENTS])

    def setup():
        return (ReferenceFeatureEngine(),), {}

    def run(engine):
        book = None
        for is_book, x in prepared:
            if is_book:
                book = x
                engine.update_orderbook(x)
            else:
                engine.update_trade(x)
            v = engine.extract(book)
        return v

    v = benchmark.pedantic(run, setup=setup, rounds=2)
    assert len(v) == 75
    record(benchmark, impl="reftwin", label="tests/reference twin update + extract (pure Python)",
           unit="event", n_units=len(prepared), messages=len(prepared), levels=0)


# ============================================================================================
# 3. features-transform: the batch pass over a tape
# ============================================================================================
@pytest.mark.benchmark(group=GROUP_TRANSFORM)
def test_transform_ours(benchmark, long_tape):
    from ofi.features import transform
    tick, tape = long_tape
    n_book = _n_book(tape)
    ff = benchmark.pedantic(transform, args=(tape, tick), kwargs={"progress": False}, rounds=3,
                            warmup_rounds=1)
    n_trades = int(np.count_nonzero(tape["kind"] == 2))
    assert len(ff) == n_book + n_trades
    # the first rows of a prefix are the first rows of the whole (no look-ahead, deterministic)
    from ofi.data.tape import message_starts
    cut = int(message_starts(tape)[5000])
    head = transform(tape[:cut], tick, progress=False)
    assert np.array_equal(head.values[:-1], ff.values[:len(head) - 1], equal_nan=True)
    record(benchmark, impl="ours", label=f"ofi transform(tape): {n_book} book messages + {n_trades} trades",
           unit="book message", n_units=n_book, messages=n_book, levels=0, events=len(ff),
           target_ns=TARGET_TRANSFORM_NS)


@pytest.mark.benchmark(group=GROUP_TRANSFORM)
def test_transform_reftwin(benchmark, long_tape):
    from reference.features import ReferenceFeatureEngine
    from ofi.data.tape import message_starts
    tick, tape = long_tape
    cut = tape[:int(message_starts(tape)[N_TWIN_EVENTS])]      # whole messages only
    n_book = _n_book(cut)

    ts, X, kind = benchmark.pedantic(lambda: ReferenceFeatureEngine().run_tape(cut, tick), rounds=1)
    assert X.shape[1] == 75
    record(benchmark, impl="reftwin", label="tests/reference twin run_tape (pure Python), a prefix",
           unit="book message", n_units=n_book, messages=n_book, levels=0)
