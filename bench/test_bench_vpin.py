"""VPIN benchmarks: ``ofi``'s compiled kernel beside the pure-Python twin and a numpy-vectorised
baseline (both in ``tests/reference/vpin.py``), on simulated Bybit BTCUSDT trades.

Data: ``ofi.sim.SimulatedMarket`` (seed fixed, depth 50, 50 taker orders/s) publicTrade frames,
decoded once (untimed) into ``ofi.Trade`` objects and into numpy arrays; sizes are 0.001-lot
BTC fills, heavy-tailed. V = total volume / 1000 (about 100 trades a bucket), n = 50.

Every benchmark times a whole pass (``benchmark.pedantic``, fresh state each round), divides the
median by the number of trades and asserts the final VPIN against ``vpin_series``.

Knobs: ``OFI_BENCH_VPIN_TRADES`` (trades wanted, default 100000), ``OFI_BENCH_SEED``.
Run: ``pytest bench/test_bench_vpin.py --benchmark-only -p no:cacheprovider``.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import pytest
from conftest import SEED, record

from reference import vpin as ref

N_TRADES = int(os.environ.get("OFI_BENCH_VPIN_TRADES", "100000"))
N_BUCKETS = 50
BUCKETS_WANTED = 1000
ROUNDS_FAST = 15
ROUNDS_PEER = 5
ROUNDS_TWIN = 3

GROUP1 = "vpin-add-trade"
TARGET1_NS = 80.0
GROUP2 = "vpin-series"


@dataclass
class TradeTape:
    trades: list          # ofi.Trade objects
    size: np.ndarray      # float64
    side: np.ndarray      # int64, +1 / -1
    price: np.ndarray     # float64
    V: float
    expected: object      # vpin_series result (aggressor)

    @property
    def n(self) -> int:
        return len(self.trades)


@pytest.fixture(scope="module")
def tape() -> TradeTape:
    try:
        from ofi.orderflow.vpin import vpin_series
        from ofi.sim.market import SimulatedMarket
        from ofi import Trade
    except ImportError as exc:  # pragma: no cover - depends on the build
        pytest.skip(f"ofi is not importable ({exc}); build it with `python setup.py build_ext --inplace`")
    market = SimulatedMarket(seed=SEED, depth=50, trade_rate=50.0)
    trades = []
    while len(trades) < N_TRADES:
        for fr in market.generate(n_messages=20_000):
            if fr.kind == "trade":
                trades += Trade.from_frame(fr.raw, market.tick_size)
    trades = trades[:N_TRADES]
    size = np.array([t.size for t in trades])
    side = np.array([t.side for t in trades], dtype=np.int64)
    price = np.array([t.price for t in trades])
    V = float(size.sum() / BUCKETS_WANTED)
    expected = vpin_series(price, size, V, N_BUCKETS, side=side)
    assert len(expected) >= BUCKETS_WANTED - 1
    return TradeTape(trades, size, side, price, V, expected)


def _check(vpin: float, buckets: int, tape: TradeTape, exact: bool = True) -> None:
    want = tape.expected
    assert buckets == len(want)
    if exact:
        assert vpin == want.vpin[-1]
    else:
        assert math.isclose(vpin, want.vpin[-1], rel_tol=0, abs_tol=1e-9)


def _record(benchmark, tape, impl, label, unit="trade", **extra):
    record(benchmark, impl=impl, label=label, unit=unit, n_units=tape.n, messages=tape.n, levels=0,
           buckets=len(tape.expected), bucket_volume=round(tape.V, 6), n_buckets=N_BUCKETS, **extra)


# ============================================================================================
# 1. vpin-add-trade: one trade at a time (the live path)
# ============================================================================================
def ours_add_all(calc, trades):
    add = calc.add_trade
    for t in trades:
        add(t)
    return calc


def twin_add_all(calc, trades):
    add = calc.add_trade
    for t in trades:
        add(t)
    return calc


@pytest.mark.benchmark(group=GROUP1)
def test_add_trade_ours(benchmark, tape):
    from ofi.orderflow.vpin import VpinCalculator

    def setup():
        return (VpinCalculator(tape.V, N_BUCKETS), tape.trades), {}

    calc = benchmark.pedantic(ours_add_all, setup=setup, rounds=ROUNDS_FAST, warmup_rounds=1)
    _check(calc.vpin, calc.buckets, tape)
    _record(benchmark, tape, "ours", "ofi VpinCalculator.add_trade(trade) (1 call/trade)",
            target_ns=TARGET1_NS)


@pytest.mark.benchmark(group=GROUP1)
def test_add_trade_ours_arrays(benchmark, tape):
    from ofi.orderflow.vpin import VpinCalculator

    def setup():
        return (VpinCalculator(tape.V, N_BUCKETS),), {}

    def run(calc):
        calc.add_trades(tape.size, side=tape.side)
        return calc

    calc = benchmark.pedantic(run, setup=setup, rounds=ROUNDS_FAST, warmup_rounds=1)
    _check(calc.vpin, calc.buckets, tape)
    _record(benchmark, tape, "ours-alt", "ofi VpinCalculator.add_trades(size, side) (1 call)")


@pytest.mark.benchmark(group=GROUP1)
def test_add_trade_reftwin(benchmark, tape):
    def setup():
        return (ref.RefVpinCalculator(tape.V, N_BUCKETS), tape.trades), {}

    calc = benchmark.pedantic(twin_add_all, setup=setup, rounds=ROUNDS_TWIN)
    _check(calc.vpin, calc.buckets, tape, exact=False)
    _record(benchmark, tape, "reftwin", "tests/reference RefVpinCalculator.add_trade (pure Python)")


@pytest.mark.benchmark(group=GROUP1)
def test_add_trade_numpy(benchmark, tape):
    def run():
        return ref.vpin_numpy(tape.size, (tape.side + 1) * 0.5, tape.V, N_BUCKETS)

    buy, _, vp, _ = benchmark.pedantic(run, rounds=ROUNDS_PEER, warmup_rounds=1)
    _check(vp[-1], len(buy), tape, exact=False)
    _record(benchmark, tape, "numpy", "numpy vectorised over the whole arrays (batch, not streaming)")


# ============================================================================================
# 2. vpin-series: the batch function over arrays, per input row
# ============================================================================================
@pytest.mark.benchmark(group=GROUP2)
def test_series_ours(benchmark, tape):
    from ofi.orderflow.vpin import vpin_series

    r = benchmark.pedantic(vpin_series, args=(tape.price, tape.size, tape.V, N_BUCKETS),
                           kwargs={"side": tape.side}, rounds=ROUNDS_FAST, warmup_rounds=1)
    _check(r.vpin[-1], len(r), tape)
    _record(benchmark, tape, "ours", "ofi vpin_series(..., side=side) (aggressor)", unit="row")


@pytest.mark.benchmark(group=GROUP2)
def test_series_ours_tick(benchmark, tape):
    from ofi.orderflow.vpin import vpin_series

    r = benchmark.pedantic(vpin_series, args=(tape.price, tape.size, tape.V, N_BUCKETS, "tick"),
                           rounds=ROUNDS_FAST, warmup_rounds=1)
    assert len(r) == len(tape.expected)
    _record(benchmark, tape, "ours-alt", "ofi vpin_series(..., 'tick') (tick rule)", unit="row")


@pytest.mark.benchmark(group=GROUP2)
def test_series_numpy(benchmark, tape):
    def run():
        return ref.vpin_numpy(tape.size, (tape.side + 1) * 0.5, tape.V, N_BUCKETS)

    buy, _, vp, _ = benchmark.pedantic(run, rounds=ROUNDS_PEER, warmup_rounds=1)
    _check(vp[-1], len(buy), tape, exact=False)
    _record(benchmark, tape, "numpy", "numpy vectorised (cumsum + interpolation)", unit="row")


@pytest.mark.benchmark(group=GROUP2)
def test_series_reftwin(benchmark, tape):
    def run():
        return ref.bucketize(tape.size, (tape.side + 1) * 0.5, tape.V, N_BUCKETS)

    want = benchmark.pedantic(run, rounds=ROUNDS_TWIN)
    _check(want["vpin"][-1], len(want["vpin"]), tape, exact=False)
    _record(benchmark, tape, "reftwin", "tests/reference bucketize (pure Python loops)", unit="row")
