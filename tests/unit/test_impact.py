"""Price impact and spread estimators (``ofi.orderflow.impact``): hand-derived numbers, the
streaming ``KyleLambda``, synthetic markets with a known lambda, and bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ofi import Trade
from ofi.errors import InvalidInputError, OfiError
from ofi.orderflow import impact as I
from reference import impact as ref

NAN = math.nan


def same(a, b):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def trade(price, size, side, ts=0):
    return Trade("BTCUSDT", price, size, side, ts, "t", 0)


# ================================================================================ tick rule
def test_tick_rule_by_hand():
    p = [10.0, 10.0, 11.0, 11.0, 10.0, 10.0, 12.0]
    same(I.tick_rule(p), [0, 0, 1, 1, -1, -1, 1])
    same(I.tick_rule(p, first=1), [1, 1, 1, 1, -1, -1, 1])
    same(I.tick_rule(p, first=-1)[:2], [-1, -1])
    assert I.tick_rule(p).dtype == np.int8
    assert I.tick_rule([]).shape == (0,)


# ================================================================================ bars
TS = [1, 2, 10, 11, 25]
PX = [100.0, 101.0, 99.0, 102.0, 103.0]
SZ = [1.0, 2.0, 3.0, 4.0, 5.0]
SD = [1, -1, 1, -1, 1]


def test_time_bars_are_right_closed_and_skip_empty_intervals():
    b = I.trade_bars(TS, PX, SZ, SD, interval_ns=10)
    # (0, 10] holds ts 1, 2, 10; (10, 20] holds 11; (20, 30] holds 25
    same(b.ts, [10, 20, 30])
    same(b.n_trades, [3, 1, 1])
    same(b.open, [100.0, 102.0, 103.0])
    same(b.high, [101.0, 102.0, 103.0])
    same(b.low, [99.0, 102.0, 103.0])
    same(b.close, [99.0, 102.0, 103.0])
    same(b.volume, [6.0, 4.0, 5.0])
    same(b.dollar_volume, [100.0 + 202.0 + 297.0, 408.0, 515.0])
    same(b.sv, [1.0 - 2.0 + 3.0, -4.0, 5.0])
    same(b.sdv, [100.0 - 202.0 + 297.0, -408.0, 515.0])
    assert b.ssq[0] == pytest.approx(math.sqrt(100) - math.sqrt(202) + math.sqrt(297), rel=1e-15)
    assert len(b) == 3
    # an interval with no trade makes no bar: 40 and 50 are skipped
    b = I.trade_bars([5, 55], [1.0, 2.0], [1.0, 1.0], [1, 1], interval_ns=10)
    same(b.ts, [10, 60])


def test_count_volume_and_dollar_bars():
    b = I.trade_bars(TS, PX, SZ, SD, trades_per_bar=2)
    same(b.n_trades, [2, 2, 1])
    same(b.ts, [2, 11, 25])           # time of the bar's last trade
    same(b.close, [101.0, 102.0, 103.0])
    b = I.trade_bars(TS, PX, SZ, SD, volume_per_bar=3.0)
    same(b.n_trades, [2, 1, 1, 1])    # 1 + 2 reaches 3, then every trade fills a bar
    b = I.trade_bars(TS, PX, SZ, SD, dollar_per_bar=250.0)
    same(b.n_trades, [2, 1, 1, 1])
    same(b.dollar_volume, [302.0, 297.0, 408.0, 515.0])
    b = I.trade_bars(TS, PX, SZ, SD, volume_per_bar=100.0)
    same(b.n_trades, [5])             # the incomplete last bar is returned


def test_bars_match_the_twin():
    rng = np.random.default_rng(0)
    n = 3000
    ts = np.cumsum(rng.integers(0, 50, n))
    px = 100 + np.round(np.cumsum(rng.normal(0, 0.05, n)), 2)
    sz = rng.exponential(1.0, n)
    sd = rng.choice([-1, 0, 1], n)
    for kw in ({"interval_ns": 400}, {"trades_per_bar": 7}, {"volume_per_bar": 5.0},
               {"dollar_per_bar": 900.0}):
        got = I.trade_bars(ts, px, sz, sd, **kw)
        want = ref.trade_bars(ts, px, sz, sd, **kw)
        for name in ("ts", "n_trades", "open", "high", "low", "close"):
            same(getattr(got, name), getattr(want, name))
        for name in ("volume", "dollar_volume", "sv", "sdv", "ssq"):
            np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-12,
                                       atol=1e-9)


# ================================================================================ Kyle
CLOSE = [10.0, 11.0, 13.0, 12.0, 12.5]
FLOW = [0.0, 1.0, 2.0, -1.0, 1.0]


def test_kyle_lambda_by_hand():
    # pairs (x, dp): (1, 1), (2, 2), (-1, -1), (1, .5). Sxx 19/4, Sxy 37/8, Syy 75/16 ->
    # lambda 37/38, RSS 7/38, R^2 1369/1425, t = (37/38) / sqrt((7/38) / 2 / (19/4)) = 37/(2 sqrt 7)
    r = I.kyle_lambda(CLOSE, FLOW, window=4)
    same(r.n, [0, 1, 2, 3, 4])
    assert np.isnan(r.value[:4]).all()
    assert r.value[4] == pytest.approx(37 / 38, rel=1e-14)
    assert r.intercept[4] == pytest.approx(0.625 - 37 / 38 * 0.75, rel=1e-13)
    assert r.r2[4] == pytest.approx(1369 / 1425, rel=1e-13)
    assert r.t_stat[4] == pytest.approx(37 / (2 * math.sqrt(7)), rel=1e-12)
    # through the origin: lambda = sum xy / sum xx = (1 + 4 + 1 + .5) / 7
    r = I.kyle_lambda(CLOSE, FLOW, window=4, intercept=False)
    assert r.value[4] == pytest.approx(6.5 / 7, rel=1e-14) and r.intercept[4] == 0.0
    # min_periods: defined from 3 pairs on
    r = I.kyle_lambda(CLOSE, FLOW, window=4, min_periods=3)
    assert np.isnan(r.value[:3]).all() and np.isfinite(r.value[3:]).all()
    # exact fit over the first 3 pairs: lambda 1, t undefined (no residual) -> NaN, R^2 1
    assert r.value[3] == pytest.approx(1.0) and math.isnan(r.t_stat[3]) and r.r2[3] == 1.0


def test_kyle_lambda_log_and_flows_from_bars():
    b = I.trade_bars(TS, PX, SZ, SD, trades_per_bar=1)
    for x in ("sv", "sdv", "ssq"):
        got = I.kyle_lambda(b, x=x, window=3, min_periods=3)
        want = I.kyle_lambda(b.close, getattr(b, x), window=3, min_periods=3)
        same(got.value, want.value)
    lg = I.kyle_lambda(b, window=3, log=True)
    tw, _ = ref.kyle_lambda(b.close, b.sv, window=3, log=True)
    np.testing.assert_allclose(lg.value, tw[0], rtol=1e-12)


def test_kyle_zero_variance_window_is_nan_not_inf():
    # constant flow: slope undefined
    r = I.kyle_lambda([1.0, 2.0, 1.5, 3.0, 2.0], [5.0] * 5, window=3)
    assert np.isnan(r.value).all() and not np.isinf(r.t_stat).any()
    # constant price: lambda 0, t and R^2 undefined
    r = I.kyle_lambda([7.0] * 6, [1.0, -2.0, 3.0, 1.0, -1.0, 2.0], window=3)
    assert (r.value[3:] == 0.0).all() and np.isnan(r.t_stat).all() and np.isnan(r.r2).all()
    # flat after a jump: the flat window is exact (no residue of the jump)
    p = np.r_[np.cumsum(np.random.default_rng(2).normal(0, 10, 40)) + 100, np.full(6, 100.0)]
    f = np.random.default_rng(3).normal(size=46)
    r = I.kyle_lambda(p, f, window=5)
    assert r.value[-1] == 0.0 and math.isnan(r.t_stat[-1])


# ================================================================================ Amihud, Hasbrouck
def test_amihud_mean_by_hand_skips_zero_dollar_volume():
    close = [100.0, 101.0, 250.0, 99.0]
    dv = [1e6, 2e6, 0.0, 4e6]
    r = I.amihud_lambda(close, dv, window=2, min_periods=1)
    a = math.log(101 / 100) / 2e6
    b = abs(math.log(99 / 101)) / 4e6  # measured from the last bar that traded (250 is skipped)
    assert math.isnan(r.value[0])
    assert r.value[1] == pytest.approx(a, rel=1e-14)
    assert r.value[2] == r.value[1]  # DV = 0: row repeats the estimate, n does not grow
    assert r.value[3] == pytest.approx((a + b) / 2, rel=1e-14)
    same(r.n, [0, 1, 1, 2])
    assert np.isnan(r.t_stat).all() and np.isnan(r.r2).all()


def test_amihud_regression_matches_twin():
    rng = np.random.default_rng(4)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, 300)))
    dv = rng.exponential(1e6, 300)
    dv[rng.random(300) < 0.1] = 0.0
    got = I.amihud_lambda(close, dv, window=30, method="regression")
    want, n = ref.amihud_lambda(close, dv, window=30, method="regression")
    same(got.n, n)
    np.testing.assert_allclose(got.value, want[0], rtol=1e-9)
    np.testing.assert_allclose(got.t_stat, want[2], rtol=1e-7)


def test_hasbrouck_regresses_signed_returns():
    close = [100.0, 101.0, 100.0, 102.0, 101.0, 103.0]
    ssq = [0.0, 10.0, -12.0, 15.0, -8.0, 20.0]
    r = I.hasbrouck_lambda(close, ssq, window=5)
    x = np.array(ssq[1:])
    y = np.diff(np.log(close))
    slope = np.sum((x - x.mean()) * (y - y.mean())) / np.sum((x - x.mean()) ** 2)
    assert r.value[5] == pytest.approx(slope, rel=1e-12)
    assert r.value[5] > 0  # up moves with buying, down moves with selling


# ================================================================================ Roll
def test_roll_spread_by_hand():
    # dp = 1, -1, 1, -1: pairs (1, -1), (-1, 1), (1, -1); cov = -4/3 -> spread 2 sqrt(4/3)
    s = I.roll_spread([10.0, 11.0, 10.0, 11.0, 10.0], window=3)
    assert np.isnan(s[:4]).all()
    assert s[4] == pytest.approx(2 * math.sqrt(4 / 3), rel=1e-14)
    # trending: cov(dp_t, dp_{t-1}) = +1 > 0 -> 0 by default, NaN on request; never 2 sqrt(|cov|)
    trend = [1.0, 2.0, 4.0, 7.0, 11.0]
    assert I.roll_spread(trend, window=3)[4] == 0.0
    assert math.isnan(I.roll_spread(trend, window=3, when_positive="nan")[4])
    assert ref.mlfinlab_roll_measure(trend, 3)[4] == pytest.approx(2.0)  # what mlfinlab reports
    # constant price: cov 0, spread 0
    assert I.roll_spread([5.0] * 6, window=3)[5] == 0.0


# ================================================================================ Corwin-Schultz
def test_corwin_schultz_by_hand():
    high = [101.0, 102.0, 101.5, 103.0]
    low = [99.0, 100.5, 100.0, 101.0]
    r = I.corwin_schultz(high, low, window=2)
    assert np.isnan(r.spread[:2]).all()
    b1 = math.log(101 / 99) ** 2 + math.log(102 / 100.5) ** 2
    b2 = math.log(102 / 100.5) ** 2 + math.log(101.5 / 100) ** 2
    beta = (b1 + b2) / 2
    gamma = math.log(102 / 100) ** 2
    den = 3 - 2 * math.sqrt(2)
    alpha = max(0.0, (math.sqrt(2) - 1) * math.sqrt(beta) / den - math.sqrt(gamma / den))
    assert r.spread[2] == pytest.approx(2 * (math.exp(alpha) - 1) / (1 + math.exp(alpha)), rel=1e-12)
    k2 = math.sqrt(8 / math.pi)
    sig = (2 ** -0.5 - 1) * math.sqrt(beta) / (k2 * den) + math.sqrt(gamma / (k2 ** 2 * den))
    assert r.sigma[2] == pytest.approx(max(0.0, sig), rel=1e-12)
    # a two-bar range much wider than the single bars: alpha < 0 -> spread 0, never negative
    r = I.corwin_schultz([10.1, 11.1, 12.1], [10.0, 11.0, 12.0], window=2)
    assert r.spread[2] == 0.0
    bars = I.trade_bars(TS, PX, SZ, SD, trades_per_bar=1)
    same(I.corwin_schultz(bars, window=2).spread, I.corwin_schultz(bars.high, bars.low, window=2).spread)


# ================================================================================ streaming KyleLambda
def test_kyle_streaming_per_trade():
    k = I.KyleLambda(window=4)
    assert k.add_trade(trade(10.0, 1.0, 1)) is None  # no previous price
    out = [k.add_trade(trade(p, abs(f), 1 if f > 0 else -1)) for p, f in zip(CLOSE[1:], FLOW[1:])]
    assert all(math.isnan(v) for v in out[:3])
    assert out[3] == pytest.approx(37 / 38, rel=1e-14) and k.value == out[3]
    lam, icpt, t, r2, n = k.fit()
    assert (lam, n) == (out[3], 4) and t == pytest.approx(37 / (2 * math.sqrt(7)), rel=1e-12)
    assert k.count == 4 and k.n_trades == 5 and k.n_bars == 0
    assert k.add(12.5, 0.0, 0) == k.value  # a zero-size / unsigned trade still moves the price
    k.reset()
    assert k.count == 0 and math.isnan(k.value) and k.add(1.0, 1.0, 1) is None


def test_kyle_streaming_time_bars_and_timer():
    k = I.KyleLambda(window=3, intercept=False, interval_ns=10, min_periods=2)
    got = [k.add(p, s, d, t) for t, p, s, d in zip(TS, PX, SZ, SD)]
    # bar (0,10] completes at ts 11 (first bar: no pair), bar (10,20] at ts 25: pair (-4, 102-99)
    assert got[:3] == [None, None, None] and got[3] is None
    assert math.isnan(got[4]) and k.count == 1 and k.n_bars == 2
    assert k.advance(30) is None          # 30 is still inside (20, 30]
    v = k.advance(31)                     # past its end: the bar closes on the timer
    assert v is not None and k.count == 2 and k.n_bars == 3
    assert k.flush() is None              # nothing open
    bars = I.trade_bars(TS, PX, SZ, SD, interval_ns=10)
    assert v == I.kyle_lambda(bars, window=3, intercept=False, min_periods=2).value[-1]
    assert v == pytest.approx((-4.0 * 3.0 + 5.0 * 1.0) / (16.0 + 25.0), rel=1e-14)
    with pytest.raises(InvalidInputError, match="must not decrease"):
        k.add(100.0, 1.0, 1, 29)          # before the timer tick


def test_kyle_streaming_update_and_update_many():
    a, b = I.KyleLambda(window=3), I.KyleLambda(window=3)
    for dp, sv in [(1.0, 1.0), (2.0, 2.0), (-1.0, -1.0), (0.5, 1.0)]:
        last = a.update(dp, sv)
    assert last == b.update_many(np.array([1.0, 2.0, -1.0, 0.5]), np.array([1.0, 2.0, -1.0, 1.0]))
    with pytest.raises(InvalidInputError, match="row 1"):
        b.update_many(np.array([1.0, NAN]), np.array([1.0, 1.0]))
    assert b.count == 3 and b.value == last  # all or nothing
    with pytest.raises(InvalidInputError):
        b.update_many(np.array([1.0, 2.0]), np.array([1.0]))
    with pytest.raises(InvalidInputError):
        a.update(math.inf, 1.0)


@pytest.mark.parametrize("kwargs", [
    {"window": 2}, {"window": 1, "intercept": False}, {"window": 0}, {"window": 2.5},
    {"window": True}, {"window": 5, "min_periods": 6}, {"window": 5, "min_periods": 0},
    {"x": "volume"}, {"interval_ns": 0}, {"interval_ns": 1.5}, {"interval_ns": -5},
])
def test_kyle_streaming_bad_config(kwargs):
    with pytest.raises(InvalidInputError):
        I.KyleLambda(**kwargs)


def test_kyle_streaming_rejects_bad_trades_without_changing_state():
    k = I.KyleLambda(window=3)
    k.add(10.0, 1.0, 1)
    for args in [(NAN, 1.0, 1), (0.0, 1.0, 1), (-1.0, 1.0, 1), (math.inf, 1.0, 1), (10.0, -1.0, 1),
                 (10.0, NAN, 1), (10.0, 1.0, 2), (10.0, 1.0, -3)]:
        with pytest.raises(InvalidInputError):
            k.add(*args)
    assert k.n_trades == 1 and k.count == 0
    with pytest.raises(InvalidInputError, match="ofi.Trade"):
        k.add_trade((10.0, 1.0, 1))
    with pytest.raises(InvalidInputError):
        k.add_trade(None)
    assert "KyleLambda(window=3" in repr(k)


# ================================================================================ synthetic markets
LAMBDA = 0.05


def _synthetic_trades(n, seed, lam=LAMBDA, noise=0.03):
    """Trades whose price moves lambda * b * v plus independent noise (a linear-impact market)."""
    rng = np.random.default_rng(seed)
    side = rng.choice([-1, 1], n)
    size = rng.exponential(1.0, n)
    dp = lam * side * size + rng.normal(0.0, noise, n)
    price = 1000.0 + np.cumsum(dp)
    ts = np.cumsum(rng.integers(1, 2_000_000, n)).astype(np.int64)  # ~1 ms apart on average
    return ts, price, size, side


def test_synthetic_market_gives_back_the_true_lambda_batch_and_streaming():
    n = 200_000
    ts, price, size, side = _synthetic_trades(n, seed=42)
    est = I.kyle_lambda(price, side * size, window=n - 1).value[-1]  # n trades, n - 1 pairs
    assert abs(est / LAMBDA - 1) < 0.01
    k = I.KyleLambda(window=n - 1)
    for t in [trade(p, s, int(d), int(ts_)) for p, s, d, ts_ in zip(price.tolist(), size.tolist(),
                                                                   side.tolist(), ts.tolist())]:
        k.add_trade(t)
    assert k.value == est  # bit for bit
    assert abs(k.value / LAMBDA - 1) < 0.01
    # per 10-ms bar (~10 trades): the bar close moves lambda * SV + the bar's summed noise
    bars = I.trade_bars(ts, price, size, side, interval_ns=10_000_000)
    bar_est = I.kyle_lambda(bars, window=len(bars) - 1).value[-1]
    kb = I.KyleLambda(window=len(bars) - 1, interval_ns=10_000_000)
    for p, s, d, t in zip(price.tolist(), size.tolist(), side.tolist(), ts.tolist()):
        kb.add(p, s, d, t)
    kb.flush()
    assert kb.value == bar_est and kb.n_bars == len(bars)
    assert abs(bar_est / LAMBDA - 1) < 0.01


def test_synthetic_market_mlfinlab_conventions_miss_the_true_lambda():
    """mlfinlab's bar-based Kyle (mean |dp| / V with b = sign(dp)) and its trade-based Hasbrouck
    (abs(r) on b sqrt(DV)) do not estimate the lambda of a linear-impact market."""
    n = 100_000
    ts, price, size, side = _synthetic_trades(n, seed=7)
    ours = I.kyle_lambda(price, side * size, window=n - 1).value[-1]
    theirs = np.nanmean(ref.mlfinlab_bar_kyle(price, size, window=20))
    assert abs(ours / LAMBDA - 1) < 0.01
    assert abs(theirs / LAMBDA - 1) > 0.5  # noise |e| / V inflates it
    # Hasbrouck with a known lambda on signed sqrt dollar volume
    rng = np.random.default_rng(8)
    lam_h = 2e-6
    dv = price * size
    r = lam_h * side * np.sqrt(dv) + rng.normal(0, 2e-5, n)
    close = 1000.0 * np.exp(np.cumsum(r))
    ssq = side * np.sqrt(close * size)
    ours_h = I.hasbrouck_lambda(close, ssq, window=n - 1).value[-1]
    theirs_h, _ = ref.mlfinlab_trades_hasbrouck(np.r_[0.0, np.diff(np.log(close))], close * size, side)
    assert abs(ours_h / lam_h - 1) < 0.02
    assert abs(theirs_h / lam_h) < 0.1  # abs(r) is uncorrelated with the sign of the flow


# ================================================================================ bad input
GOOD = dict(ts=TS, price=PX, volume=SZ, side=SD)


@pytest.mark.parametrize("call", [
    lambda: I.trade_bars(**{**GOOD, "price": [100.0, NAN, 99.0, 102.0, 103.0]}, interval_ns=10),
    lambda: I.trade_bars(**{**GOOD, "price": [100.0, 0.0, 99.0, 102.0, 103.0]}, interval_ns=10),
    lambda: I.trade_bars(**{**GOOD, "volume": [1.0, -2.0, 3.0, 4.0, 5.0]}, interval_ns=10),
    lambda: I.trade_bars(**{**GOOD, "ts": [1, 2, 10, 9, 25]}, interval_ns=10),
    lambda: I.trade_bars(**{**GOOD, "side": [1, -1, 1, 2, 1]}, interval_ns=10),
    lambda: I.trade_bars(**{**GOOD, "side": [1, -1, 1]}, interval_ns=10),
    lambda: I.trade_bars(**GOOD),
    lambda: I.trade_bars(**GOOD, interval_ns=10, trades_per_bar=2),
    lambda: I.trade_bars(**GOOD, interval_ns=0),
    lambda: I.trade_bars(**GOOD, interval_ns=0.5),
    lambda: I.trade_bars(**GOOD, trades_per_bar=0),
    lambda: I.trade_bars(**GOOD, dollar_per_bar=-1.0),
    lambda: I.kyle_lambda(CLOSE, FLOW[:4]),
    lambda: I.kyle_lambda(CLOSE, [0.0, NAN, 1.0, 1.0, 1.0], window=3),
    lambda: I.kyle_lambda(CLOSE, FLOW, window=2),
    lambda: I.kyle_lambda(CLOSE, FLOW, window=1, intercept=False),
    lambda: I.kyle_lambda(CLOSE, FLOW, window=3, min_periods=4),
    lambda: I.kyle_lambda(CLOSE, window=3),
    lambda: I.kyle_lambda([1.0, -1.0, 2.0], [1.0, 1.0, 1.0], window=3, log=True),
    lambda: I.kyle_lambda(CLOSE, FLOW, window=3, x="vol"),
    lambda: I.kyle_lambda(I.trade_bars(**GOOD, interval_ns=10), FLOW, window=3),
    lambda: I.hasbrouck_lambda(CLOSE, FLOW, window=1),
    lambda: I.hasbrouck_lambda([1.0, 0.0, 2.0], [1.0, 1.0, 1.0], window=3),
    lambda: I.amihud_lambda(CLOSE, [1.0, -1.0, 1.0, 1.0, 1.0]),
    lambda: I.amihud_lambda(CLOSE, [1.0] * 5, window=1),
    lambda: I.amihud_lambda(CLOSE, [1.0] * 5, method="median"),
    lambda: I.roll_spread(CLOSE, window=1),
    lambda: I.roll_spread([1.0, NAN, 2.0], window=2),
    lambda: I.roll_spread(CLOSE, window=3, when_positive="abs"),
    lambda: I.roll_spread(CLOSE, window=3, min_periods=1),
    lambda: I.corwin_schultz([2.0, 3.0], [2.5, 2.0], window=2),
    lambda: I.corwin_schultz([2.0, 3.0], [1.0], window=2),
    lambda: I.corwin_schultz([2.0, 3.0], window=2),
    lambda: I.corwin_schultz([2.0, 3.0], [1.0, 0.0], window=2),
    lambda: I.corwin_schultz([2.0, 3.0], [1.0, 2.0], window=1),
    lambda: I.tick_rule([1.0, NAN]),
    lambda: I.tick_rule([1.0, 2.0], first=2),
    lambda: I.tick_rule(None),
])
def test_bad_input_raises_invalid_input(call):
    with pytest.raises(InvalidInputError) as info:
        call()
    assert isinstance(info.value, OfiError) and str(info.value)


def test_core_functions_check_lengths_themselves():
    """The compiled batch functions trust dtypes but never read past an array."""
    from ofi._core import impact as core

    with pytest.raises(InvalidInputError):
        core.regression_lambda(np.ones(5), np.ones(4), 3, True, 0, 3, False)
    with pytest.raises(InvalidInputError):
        core.trade_bars(np.ones(3, np.int64), np.ones(3), np.ones(3), np.ones(2, np.int64), 0, 10, 0.0)
    with pytest.raises(InvalidInputError):
        core.corwin_schultz(np.ones(3), np.ones(2), 2, 2)


def test_empty_inputs():
    empty = np.array([], float)
    assert len(I.trade_bars([], [], [], [], interval_ns=10)) == 0
    assert len(I.kyle_lambda(empty, empty)) == 0
    assert I.roll_spread(empty).shape == (0,)
    assert len(I.corwin_schultz(empty, empty)) == 0
    assert len(I.amihud_lambda(empty, empty)) == 0


# ---------------------------------------------------------------------------- per-bar streaming
def _bars(n=3000, seed=9):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(scale=1e-3, size=n)))
    ssq = rng.normal(scale=50, size=n)
    dv = rng.uniform(0, 1e6, size=n)
    dv[rng.uniform(size=n) < 0.05] = 0.0
    high = close * (1 + rng.uniform(0, 2e-3, n))
    low = close * (1 - rng.uniform(0, 2e-3, n))
    return close, ssq, dv, high, low


def _nan_eq(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


@pytest.mark.parametrize("window,min_periods", [(20, None), (50, 10)])
def test_per_bar_streaming_classes_equal_batch(window, min_periods):
    from ofi.orderflow import (AmihudLambda, CorwinSchultzSpread, HasbrouckLambda, RollSpread, TickRule,
                               amihud_lambda, corwin_schultz, hasbrouck_lambda, roll_spread, tick_rule)
    close, ssq, dv, high, low = _bars()
    h = HasbrouckLambda(window, min_periods=min_periods)
    got = [h.update(c, q) for c, q in zip(close, ssq)]
    assert got[0] is None
    assert _nan_eq(got[1:], hasbrouck_lambda(close, ssq, window=window, min_periods=min_periods).value[1:])
    a = AmihudLambda(window, min_periods=min_periods)
    got = [a.update(c, d) for c, d in zip(close, dv)]
    assert _nan_eq(got, amihud_lambda(close, dv, window=window, min_periods=min_periods).value)
    r = RollSpread(window, min_periods=min_periods)
    got = [r.update(c) for c in close]
    assert _nan_eq(got, roll_spread(close, window=window, min_periods=min_periods))
    cs = CorwinSchultzSpread(window, min_periods=min_periods)
    got = np.array([cs.update(hi, lo) for hi, lo in zip(high, low)])
    want = corwin_schultz(high, low, window=window, min_periods=min_periods)
    assert _nan_eq(got[:, 0], want.spread) and _nan_eq(got[:, 1], want.sigma)
    t = TickRule()
    assert [t.update(c) for c in close] == tick_rule(close).tolist()


def test_per_bar_streaming_bad_input():
    from ofi.orderflow import AmihudLambda, CorwinSchultzSpread, HasbrouckLambda, RollSpread, TickRule
    for make, call in ((lambda: HasbrouckLambda(5), lambda o: o.update(-1.0, 1.0)),
                       (lambda: HasbrouckLambda(5), lambda o: o.update(1.0, np.nan)),
                       (lambda: AmihudLambda(5), lambda o: o.update(1.0, -5.0)),
                       (lambda: RollSpread(5), lambda o: o.update(np.inf)),
                       (lambda: CorwinSchultzSpread(5), lambda o: o.update(1.0, 2.0)),
                       (lambda: TickRule(), lambda o: o.update(np.nan))):
        with pytest.raises(InvalidInputError):
            call(make())
    for bad in (lambda: HasbrouckLambda(1), lambda: RollSpread(5, when_positive="abs"),
                lambda: AmihudLambda(5, min_periods=6), lambda: TickRule(2), lambda: CorwinSchultzSpread(0)):
        with pytest.raises(InvalidInputError):
            bad()
