"""Kyle's lambda benchmarks: ``ofi`` beside the pure-Python twin, a pure-Python O(1) streaming
estimator and numpy-vectorised batch baselines, on one seeded linear-impact market.

The market: trades on a 0.1 tick grid whose price moves ``LAMBDA * side * size`` plus noise
(rounded to the tick), so every contender can be checked against the true lambda and against
ours. Every benchmark times a whole pass (``benchmark.pedantic``, fresh state from an untimed
``setup`` each round) and divides the median by the number of trades / rows.

Groups (unit):

* ``kyle-stream`` (trade): one streaming update per trade, window 100 trades, reading the lambda
  after every trade. ours: ``KyleLambda.add_trade(Trade)``; ours-alt: ``KyleLambda.add(price, size,
  side)``; py-welford: a pure-Python class with O(1) add/remove co-moments; twin:
  ``reference.impact.RefKyleLambda`` (refits the window from scratch, O(window) per trade).
* ``kyle-batch`` (row): rolling lambda over every row of a trade tape, window 100. ours:
  ``kyle_lambda(price, side * size, window=100)``; numpy-swv: ``sliding_window_view`` two-pass
  per window (chunked to bound memory); numpy-cumsum: running sums via ``cumsum`` (fast, the
  naive O(1) formula that loses digits on long streams); twin: ``reference.impact.kyle_lambda``.

Run: ``pytest bench/test_bench_impact.py --benchmark-only`` (``OFI_BENCH_TRADES``, default 200000).
"""
from __future__ import annotations

import math
import os
from collections import deque

import numpy as np
import pytest
from conftest import record
from numpy.lib.stride_tricks import sliding_window_view

N_TRADES = int(os.environ.get("OFI_BENCH_TRADES", "200000"))
N_TWIN = 20_000         # the twin refits a 100-pair window per trade: a shorter stream
WINDOW = 100
LAMBDA = 0.02           # price units per unit of signed size
ROUNDS_FAST = 15
ROUNDS_PEER = 5
ROUNDS_TWIN = 3


@pytest.fixture(scope="module")
def market():
    rng = np.random.default_rng(7)
    n = N_TRADES
    side = np.where(rng.random(n) < 0.5, 1, -1).astype(np.int64)
    size = np.round(rng.exponential(2.0, n), 3)
    dp_ticks = np.round((LAMBDA * side * size + rng.normal(0.0, 0.02, n)) / 0.1)
    price = np.round((650_000 + np.cumsum(dp_ticks)) * 0.1, 1)
    ts = (1_700_000_000_000 + np.cumsum(rng.integers(0, 5, n))) * 1_000_000
    flow = side * size
    return {"price": price, "size": size, "side": side, "ts": ts.astype(np.int64), "flow": flow}


@pytest.fixture(scope="module")
def trades(market):
    from ofi import Trade

    return [Trade("BTCUSDT", p, s, d, t, "", 0) for p, s, d, t in
            zip(market["price"].tolist(), market["size"].tolist(), market["side"].tolist(),
                market["ts"].tolist())]


@pytest.fixture(scope="module")
def expected(market):
    """ours, batch: every contender is checked against it."""
    from ofi.orderflow.impact import kyle_lambda

    r = kyle_lambda(market["price"], market["flow"], window=WINDOW)
    whole = kyle_lambda(market["price"], market["flow"], window=N_TRADES - 1).value[-1]
    assert abs(whole / LAMBDA - 1) < 0.05  # tick rounding attenuates it a little
    return r.value


class PyWelfordKyle:
    """What a careful pure-Python user writes: O(1) Welford add/remove of the co-moments."""

    def __init__(self, window):
        self.window = window
        self.xs: deque = deque()
        self.ys: deque = deque()
        self.mx = self.my = self.cxx = self.cxy = 0.0
        self.prev = None

    def add(self, price, size, side):
        prev, self.prev = self.prev, price
        if prev is None:
            return None
        x, y = side * size, price - prev
        if len(self.xs) == self.window:
            xo, yo = self.xs.popleft(), self.ys.popleft()
            n = len(self.xs)
            dx = xo - self.mx
            self.mx -= dx / n
            self.my -= (yo - self.my) / n
            self.cxx -= dx * (xo - self.mx)
            self.cxy -= dx * (yo - self.my)
        self.xs.append(x)
        self.ys.append(y)
        n = len(self.xs)
        dx = x - self.mx
        self.mx += dx / n
        self.my += (y - self.my) / n
        self.cxx += dx * (x - self.mx)
        self.cxy += dx * (y - self.my)
        if n < self.window or self.cxx <= 0.0:
            return math.nan
        return self.cxy / self.cxx


def _check_stream(values, expected, n):
    got = np.array([math.nan if v is None else v for v in values], float)
    np.testing.assert_allclose(got[WINDOW + 1:], expected[WINDOW + 1: n], rtol=1e-6, atol=1e-12)


# ============================================================================================
# kyle-stream
# ============================================================================================
G_STREAM = "kyle-stream"


def _rec_stream(benchmark, impl, label, n):
    record(benchmark, impl=impl, label=label, unit="trade", n_units=n, messages=n, levels=0,
           window=WINDOW)


@pytest.mark.benchmark(group=G_STREAM)
def test_kyle_stream_ours(benchmark, trades, expected):
    from ofi.orderflow.impact import KyleLambda

    def run(k):
        add = k.add_trade
        return [add(t) for t in trades]

    out = benchmark.pedantic(run, setup=lambda: ((KyleLambda(window=WINDOW),), {}),
                             rounds=ROUNDS_FAST, warmup_rounds=1)
    assert np.array_equal(np.array(out[1:], float), expected[1:], equal_nan=True)
    _rec_stream(benchmark, "ours", "ofi KyleLambda.add_trade(Trade) (per trade)", len(trades))


@pytest.mark.benchmark(group=G_STREAM)
def test_kyle_stream_ours_floats(benchmark, market, expected):
    from ofi.orderflow.impact import KyleLambda

    cols = (market["price"].tolist(), market["size"].tolist(), market["side"].tolist())

    def run(k):
        add = k.add
        return [add(p, s, d) for p, s, d in zip(*cols)]

    out = benchmark.pedantic(run, setup=lambda: ((KyleLambda(window=WINDOW),), {}),
                             rounds=ROUNDS_FAST, warmup_rounds=1)
    assert np.array_equal(np.array(out[1:], float), expected[1:], equal_nan=True)
    _rec_stream(benchmark, "ours-alt", "ofi KyleLambda.add(price, size, side)", N_TRADES)


@pytest.mark.benchmark(group=G_STREAM)
def test_kyle_stream_py_welford(benchmark, market, expected):
    cols = (market["price"].tolist(), market["size"].tolist(), market["side"].tolist())

    def run(k):
        add = k.add
        return [add(p, s, d) for p, s, d in zip(*cols)]

    out = benchmark.pedantic(run, setup=lambda: ((PyWelfordKyle(WINDOW),), {}),
                             rounds=ROUNDS_PEER, warmup_rounds=1)
    _check_stream(out, expected, N_TRADES)
    _rec_stream(benchmark, "py-welford", "pure-Python O(1) Welford add/remove", N_TRADES)


@pytest.mark.benchmark(group=G_STREAM)
def test_kyle_stream_twin(benchmark, market, expected):
    from reference.impact import RefKyleLambda

    cols = (market["price"][:N_TWIN].tolist(), market["size"][:N_TWIN].tolist(),
            market["side"][:N_TWIN].tolist())

    def run(k):
        add = k.add
        return [add(p, s, d) for p, s, d in zip(*cols)]

    out = benchmark.pedantic(run, setup=lambda: ((RefKyleLambda(window=WINDOW),), {}),
                             rounds=ROUNDS_TWIN, warmup_rounds=0)
    _check_stream(out, expected, N_TWIN)
    _rec_stream(benchmark, "twin", "pure-Python twin RefKyleLambda (refit per trade)", N_TWIN)


# ============================================================================================
# kyle-batch
# ============================================================================================
G_BATCH = "kyle-batch"


def _rec_batch(benchmark, impl, label, n, **extra):
    record(benchmark, impl=impl, label=label, unit="row", n_units=n, messages=n, levels=0,
           window=WINDOW, **extra)


def numpy_swv(price, flow, window, chunk=50_000):
    """Rolling OLS slope with sliding_window_view, two-pass per window, in row chunks."""
    dp = np.diff(price)
    x = flow[1:]
    out = np.full(len(price), np.nan)
    for lo in range(0, len(dp) - window + 1, chunk):
        hi = min(len(dp), lo + chunk + window - 1)
        xw = sliding_window_view(x[lo:hi], window)
        yw = sliding_window_view(dp[lo:hi], window)
        dx = xw - xw.mean(axis=1, keepdims=True)
        dy = yw - yw.mean(axis=1, keepdims=True)
        sxx = np.einsum("ij,ij->i", dx, dx)
        sxy = np.einsum("ij,ij->i", dx, dy)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[lo + window: lo + window + len(sxx)] = np.where(sxx > 0, sxy / sxx, np.nan)
    return out


def numpy_cumsum(price, flow, window):
    """Rolling OLS slope from running sums (n Sxy - Sx Sy) / (n Sxx - Sx^2) via cumsum."""
    dp = np.diff(price)
    x = flow[1:]

    def rs(a):
        c = np.concatenate([[0.0], np.cumsum(a)])
        return c[window:] - c[:-window]

    sx, sy, sxx, sxy = rs(x), rs(dp), rs(x * x), rs(x * dp)
    den = window * sxx - sx * sx
    out = np.full(len(price), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[window:] = np.where(den > 0, (window * sxy - sx * sy) / den, np.nan)
    return out


@pytest.mark.benchmark(group=G_BATCH)
def test_kyle_batch_ours(benchmark, market, expected):
    from ofi.orderflow.impact import kyle_lambda

    price, flow = market["price"], market["flow"]
    r = benchmark.pedantic(lambda: kyle_lambda(price, flow, window=WINDOW), rounds=ROUNDS_FAST,
                           warmup_rounds=1)
    assert np.array_equal(r.value, expected, equal_nan=True)
    _rec_batch(benchmark, "ours", "ofi kyle_lambda(price, side*size, window=100) (+t, R^2, n)",
               N_TRADES)


@pytest.mark.benchmark(group=G_BATCH)
def test_kyle_batch_numpy_swv(benchmark, market, expected):
    price, flow = market["price"], market["flow"]
    out = benchmark.pedantic(lambda: numpy_swv(price, flow, WINDOW), rounds=ROUNDS_PEER,
                             warmup_rounds=1)
    np.testing.assert_allclose(out[WINDOW:], expected[WINDOW:], rtol=1e-7, atol=1e-12)
    _rec_batch(benchmark, "numpy-swv", "numpy sliding_window_view two-pass (slope only)", N_TRADES)


@pytest.mark.benchmark(group=G_BATCH)
def test_kyle_batch_numpy_cumsum(benchmark, market, expected):
    price, flow = market["price"], market["flow"]
    out = benchmark.pedantic(lambda: numpy_cumsum(price, flow, WINDOW), rounds=ROUNDS_FAST,
                             warmup_rounds=1)
    # running sums over a 200k-row tape already lose digits against the two-pass slope
    np.testing.assert_allclose(out[WINDOW:], expected[WINDOW:], rtol=1e-3, atol=1e-9)
    err = np.nanmax(np.abs(out[WINDOW:] - expected[WINDOW:]) / np.abs(expected[WINDOW:]))
    _rec_batch(benchmark, "numpy-cumsum", "numpy cumsum running sums (slope only, naive)",
               N_TRADES, max_rel_err=float(err))


@pytest.mark.benchmark(group=G_BATCH)
def test_kyle_batch_twin(benchmark, market, expected):
    from reference.impact import kyle_lambda as ref_kyle

    price, flow = market["price"][:N_TWIN], market["flow"][:N_TWIN]
    out, _ = benchmark.pedantic(lambda: ref_kyle(price, flow, WINDOW), rounds=ROUNDS_TWIN,
                                warmup_rounds=0)
    np.testing.assert_allclose(out[0], expected[:N_TWIN], rtol=1e-7, atol=1e-12)
    _rec_batch(benchmark, "twin", "pure-Python twin reference.impact.kyle_lambda", N_TWIN)
