"""Parity: the compiled impact estimators against the pure-Python twins (``reference.impact``),
and streaming ``KyleLambda`` against batch ``kyle_lambda``, bit for bit, over more than 1M trades.

Random trade streams: prices on a tick grid (a random walk with many zero changes, as real tapes),
exponential sizes, aggressor sides including 0 (unknown), non-decreasing ns timestamps with ties.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ofi import Trade
from ofi.orderflow import impact as I
from reference import impact as ref
from reference.rolling import slope_atol

PARITY = settings(max_examples=120, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def same(a, b):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@st.composite
def trade_streams(draw, max_n=300):
    n = draw(st.integers(0, max_n))
    seed = draw(st.integers(0, 2**32 - 1))
    tick = draw(st.sampled_from([0.01, 0.1, 0.5, 1.0]))
    p_move = draw(st.sampled_from([0.05, 0.3, 0.9]))
    rng = np.random.default_rng(seed)
    moves = rng.choice([-2, -1, 1, 2], n) * (rng.random(n) < p_move)
    price = (1000 + np.cumsum(moves)) * tick
    size = np.round(rng.exponential(2.0, n), 3)
    side = rng.choice([-1, 1, 1, -1, 0] if draw(st.booleans()) else [-1, 1], n)
    ts = np.cumsum(rng.integers(0, draw(st.sampled_from([1, 50, 10_000])), n)).astype(np.int64)
    return ts, price, size, side


def _cond(v, window, floor=1e-6):
    """Rows whose window is not numerically degenerate: its variance is not rounding noise of the
    level of the values in or recently out of the window (see tests/unit/test_rolling.py)."""
    v = np.asarray(v, float)
    out = np.zeros(len(v), bool)
    for i in range(len(v)):
        w = v[max(0, i - window + 1): i + 1]
        w = w[~np.isnan(w)]
        recent = v[max(0, i - 2 * window): i + 1]
        recent = recent[~np.isnan(recent)]
        if len(w) > 1:
            s = float(np.max(np.abs(recent)))
            out[i] = np.var(w) > floor * s * s
    return out


def _pairs_view(close, x, mode):
    """Per-row (x, y) of the regression, NaN where a row pushes nothing (row 0)."""
    close = np.asarray(close, float)
    if len(close) == 0:
        return close, close
    lv = close if mode == "diff" else np.log(close)
    y = np.r_[np.nan, np.diff(lv)]
    xx = np.asarray(x, float).copy()
    xx[0] = np.nan
    return xx, y


def assert_regression_close(got, want, counts, close, x, window, intercept, mode="diff"):
    same(got.n, counts)
    xs, ys = _pairs_view(close, x, mode)
    okx = _cond(xs, window) if intercept else np.ones(len(xs), bool)
    oky = _cond(ys, window)
    rows = okx & ~np.isnan(want[0])
    atol = slope_atol(xs, ys, window, intercept)[rows]
    assert (np.abs(got.value[rows] - want[0][rows]) <= 1e-7 * np.abs(want[0][rows]) + atol).all()
    fitted = rows & oky & (np.nan_to_num(want[3], nan=1.0) < 1 - 1e-6)
    np.testing.assert_allclose(got.t_stat[fitted], want[2][fitted], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.r2[fitted], want[3][fitted], rtol=1e-6, atol=1e-9)
    # where the twin is undefined because x is exactly constant, so are we
    assert np.isnan(got.value[np.isnan(want[0]) & okx]).all()
    assert not np.isinf(np.r_[got.value, got.intercept, got.t_stat, got.r2]).any()


# ================================================================================ hypothesis
@PARITY
@given(stream=trade_streams(), rule=st.sampled_from(["interval_ns", "trades_per_bar",
                                                      "volume_per_bar", "dollar_per_bar"]))
def test_trade_bars_parity(stream, rule):
    ts, price, size, side = stream
    arg = {"interval_ns": 997, "trades_per_bar": 3, "volume_per_bar": 7.5,
           "dollar_per_bar": 5000.0}[rule]
    got = I.trade_bars(ts, price, size, side, **{rule: arg})
    want = ref.trade_bars(ts, price, size, side, **{rule: arg})
    for name in ("ts", "n_trades", "open", "high", "low", "close"):
        same(getattr(got, name), getattr(want, name))
    for name in ("volume", "dollar_volume", "sv", "sdv", "ssq"):
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-12, atol=1e-9)


@PARITY
@given(stream=trade_streams(), window=st.integers(3, 25), intercept=st.booleans(),
       log=st.booleans(), x=st.sampled_from(["sv", "sdv", "ssq"]), data=st.data())
def test_kyle_lambda_parity_per_trade(stream, window, intercept, log, x, data):
    ts, price, size, side = stream
    flow = {"sv": side * size, "sdv": side * price * size, "ssq": side * np.sqrt(price * size)}[x]
    mp = data.draw(st.integers(1, window))
    got = I.kyle_lambda(price, flow, window=window, intercept=intercept, log=log, min_periods=mp)
    want, counts = ref.kyle_lambda(price, flow, window, intercept, log, mp)
    assert_regression_close(got, want, counts, price, flow, window, intercept,
                            "log" if log else "diff")


@PARITY
@given(stream=trade_streams(), window=st.integers(3, 15), intercept=st.booleans())
def test_hasbrouck_and_amihud_parity_on_bars(stream, window, intercept):
    ts, price, size, side = stream
    bars = I.trade_bars(ts, price, size, side, trades_per_bar=4)
    got = I.hasbrouck_lambda(bars, window=window, intercept=intercept)
    want, counts = ref.hasbrouck_lambda(bars.close, bars.ssq, window, intercept)
    assert_regression_close(got, want, counts, bars.close, bars.ssq, window, intercept, "log")
    got = I.amihud_lambda(bars, window=window)
    mean, counts = ref.amihud_lambda(bars.close, bars.dollar_volume, window)
    same(got.n, counts)
    np.testing.assert_allclose(got.value, mean, rtol=1e-9, atol=0)


@PARITY
@given(close=st.lists(st.integers(990, 1010), max_size=200), window=st.integers(2, 25),
       tick=st.sampled_from([0.25, 0.01, 1.0]), when=st.sampled_from(["zero", "nan"]))
def test_roll_spread_parity(close, window, tick, when):
    c = np.asarray(close, float) * tick
    got = I.roll_spread(c, window=window, when_positive=when)
    want = ref.roll_spread(c, window, when)
    cov = ref.roll_autocov(c, window)
    scale = np.nanmax(np.abs(np.diff(c))) if len(c) > 1 else 1.0
    # Where |cov| is rounding noise the sign (zero vs. a tiny spread) may differ; compare the rest.
    clear = ~np.isnan(cov) & (np.abs(cov) > 1e-9 * scale * scale)
    same(np.isnan(got[clear]), np.isnan(want[clear]))
    np.testing.assert_allclose(got[clear], want[clear], rtol=1e-6, atol=0)
    assert (np.isnan(got) == np.isnan(cov))[np.isnan(cov)].all()
    assert not (got < 0).any() and not np.isinf(got).any()


@PARITY
@given(hl=st.lists(st.tuples(st.floats(1.0, 1e4), st.floats(0.0, 0.05)), max_size=150),
       window=st.integers(2, 25))
def test_corwin_schultz_parity(hl, window):
    high = np.array([h for h, _ in hl], float)
    low = high * (1 - np.array([w for _, w in hl], float))
    got = I.corwin_schultz(high, low, window=window)
    spread, sigma = ref.corwin_schultz(high, low, window)
    same(np.isnan(got.spread), np.isnan(spread))
    np.testing.assert_allclose(got.spread, spread, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(got.sigma, sigma, rtol=1e-7, atol=1e-12)
    assert (got.spread[~np.isnan(got.spread)] >= 0).all()


@PARITY
@given(price=st.lists(st.integers(0, 5), max_size=100), first=st.sampled_from([-1, 0, 1]))
def test_tick_rule_parity(price, first):
    p = np.asarray(price, float)
    same(I.tick_rule(p, first=first), ref.tick_rule(list(p), first))


@PARITY
@given(stream=trade_streams(max_n=200), window=st.integers(3, 12), intercept=st.booleans(),
       interval=st.sampled_from([None, 500, 20_000]), x=st.sampled_from(["sv", "ssq"]))
def test_streaming_kyle_parity_with_twin(stream, window, intercept, interval, x):
    ts, price, size, side = stream
    ours = I.KyleLambda(window=window, intercept=intercept, interval_ns=interval, x=x)
    twin = ref.RefKyleLambda(window=window, intercept=intercept, interval_ns=interval, x=x)
    got, want = [], []
    for t, p, s, d in zip(ts.tolist(), price.tolist(), size.tolist(), side.tolist()):
        got.append(ours.add(p, s, d, t))
        want.append(twin.add(p, s, d, t))
    got.append(ours.flush())
    want.append(twin.flush())
    assert [g is None for g in got] == [w is None for w in want]
    g = np.array([v for v in got if v is not None], float)
    w = np.array([v for v in want if v is not None], float)
    # undefined in the twin (x constant) -> undefined here, otherwise equal up to rounding
    ok = ~np.isnan(w) & (np.abs(w) < 1e12)
    np.testing.assert_allclose(g[ok], w[ok], rtol=1e-6, atol=1e-9 * (np.max(np.abs(w[ok]), initial=0) + 1))
    assert ours.count == len(twin.pairs)


# ================================================================================ streaming == batch
N_BIG = 1_200_000


@pytest.fixture(scope="module")
def big_stream():
    rng = np.random.default_rng(20240601)
    n = N_BIG
    moves = rng.choice([-1, 1], n) * (rng.random(n) < 0.3)
    price = (600_000 + np.cumsum(moves)) * 0.1          # BTC-like, 0.1 tick
    size = np.round(rng.exponential(0.05, n), 3)
    side = np.where(rng.random(n) < 0.5, 1, -1).astype(np.int64)
    ts = (1_700_000_000_000 + np.cumsum(rng.integers(0, 3, n))).astype(np.int64) * 1_000_000  # ms
    return ts, price, size, side


@pytest.mark.parametrize("x,log,intercept", [("sv", False, True), ("ssq", True, False)])
def test_streaming_equals_batch_per_trade_over_1m_trades(big_stream, x, log, intercept):
    ts, price, size, side = big_stream
    k = I.KyleLambda(window=500, intercept=intercept, x=x, log=log)
    add = k.add
    out = [add(p, s, d) for p, s, d in zip(price.tolist(), size.tolist(), side.tolist())]
    assert out[0] is None and all(v is not None for v in out[1:])
    flow = side * size if x == "sv" else side * np.sqrt(price * size)
    batch = I.kyle_lambda(price, flow, window=500, intercept=intercept, log=log)
    stream = np.array(out[1:], float)
    assert np.array_equal(stream, batch.value[1:], equal_nan=True)  # bit for bit
    assert np.isfinite(stream[600:]).mean() > 0.99
    assert k.fit()[:4] == tuple(float(batch.__dict__[f][-1])
                                for f in ("value", "intercept", "t_stat", "r2"))


def test_streaming_equals_batch_time_bars_over_1m_trades(big_stream):
    ts, price, size, side = big_stream
    interval = 100_000_000  # 100 ms
    k = I.KyleLambda(window=200, interval_ns=interval)
    add = k.add
    out = [add(p, s, d, t) for p, s, d, t in zip(price.tolist(), size.tolist(), side.tolist(),
                                                  ts.tolist())]
    out.append(k.flush())
    pushed = np.array([v for v in out if v is not None], float)
    bars = I.trade_bars(ts, price, size, side, interval_ns=interval)
    batch = I.kyle_lambda(bars, window=200)
    assert k.n_bars == len(bars) and len(pushed) == len(bars) - 1
    assert np.array_equal(pushed, batch.value[1:], equal_nan=True)
    assert np.isfinite(pushed[250:]).all()


def test_add_trade_equals_add_and_batch(big_stream):
    ts, price, size, side = big_stream
    m = 200_000
    trades = [Trade("BTCUSDT", p, s, d, t, "", 0) for p, s, d, t in
              zip(price[:m].tolist(), size[:m].tolist(), side[:m].tolist(), ts[:m].tolist())]
    k = I.KyleLambda(window=300, interval_ns=10_000_000)
    out = [k.add_trade(t) for t in trades]
    out.append(k.flush())
    pushed = np.array([v for v in out if v is not None], float)
    bars = I.trade_bars(ts[:m], price[:m], size[:m], side[:m], interval_ns=10_000_000)
    assert np.array_equal(pushed, I.kyle_lambda(bars, window=300).value[1:], equal_nan=True)
    assert math.isfinite(k.value)
