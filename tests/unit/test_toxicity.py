"""Toxicity index, weight fitting and markouts: hand-derived numbers, the streaming index on the
simulated market, and bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ofi import OrderBook, Trade
from ofi.errors import InvalidInputError
from ofi.orderflow.toxicity import (
    COMPONENTS,
    DEFAULT_WEIGHTS,
    MarkoutTracker,
    ToxicityIndex,
    fit_toxicity_weights,
    markouts,
    realized_spread,
    toxicity_index,
)

S = 1_000_000_000


def test_default_weights_sum_to_one_and_index_by_hand():
    assert DEFAULT_WEIGHTS.sum() == pytest.approx(1.0)
    c = np.array([[0.2, 0.5, 0.0, 1.0, 0.4, 1.0],
                  [np.nan, 0.5, 0.0, 1.0, 0.4, 1.0]])
    # 0.3*0.2 + 0.2*0.5 + 0 + 0.1*1 + 0.15*0.4 + 0.1*1 = 0.06 + 0.1 + 0.1 + 0.06 + 0.1 = 0.42
    idx = toxicity_index(c)
    assert idx[0] == pytest.approx(0.42, abs=1e-15) and math.isnan(idx[1])
    # custom weights by name; missing names weigh 0: (1*0.2 + 1*0.4) / 2 = 0.3
    assert toxicity_index(c[:1], {"vpin": 1.0, "trade_imb": 1.0})[0] == pytest.approx(0.3)


def test_fit_recovers_the_relevant_components():
    rng = np.random.default_rng(0)
    c = rng.uniform(size=(4000, len(COMPONENTS)))
    y = 1.0 + 2.0 * c[:, 0] + 1.0 * c[:, 4] + 0.05 * rng.normal(size=4000)
    fit = fit_toxicity_weights(c, y)
    np.testing.assert_allclose(fit.weights, [2 / 3, 0, 0, 0, 1 / 3, 0], atol=0.01)
    assert fit.r2 > 0.95 and fit.n == 4000
    assert set(fit.as_dict()) == set(COMPONENTS)
    with pytest.raises(InvalidInputError, match="no component"):
        fit_toxicity_weights(c, -c.sum(axis=1))


def test_markouts_and_realized_spread_by_hand():
    mid_ts = np.array([0, 10, 20]) * S
    mid = np.array([100.0, 101.0, 99.0])
    ts, px, side = np.array([5 * S]), np.array([100.5]), np.array([1.0])
    m = markouts(ts, px, side, mid_ts, mid, [5 * S, 15 * S, 20 * S])
    # t+5 s = 10 s -> mid 101: (101 - 100.5)/100.5 bps; t+15 = 20 s -> 99; t+20 = 25 s: beyond data
    assert m[0, 0] == pytest.approx(0.5 / 100.5 * 1e4)
    assert m[0, 1] == pytest.approx(-1.5 / 100.5 * 1e4)
    assert math.isnan(m[0, 2])
    # realised spread: mid at the trade 100; 2 * (100.5 - 101) / 100 = -100 bps (maker lost)
    rs = realized_spread(ts, px, side, mid_ts, mid, [5 * S])
    assert rs[0, 0] == pytest.approx(-100.0)
    # a taker sell mirrors the sign
    assert markouts(ts, px, -side, mid_ts, mid, [5 * S])[0, 0] == pytest.approx(-0.5 / 100.5 * 1e4)


def test_markout_tracker_equals_batch():
    rng = np.random.default_rng(2)
    mid_ts = np.cumsum(rng.integers(1, S, 3000))
    mid = 100 + np.cumsum(rng.normal(scale=0.01, size=3000))
    tr_ts = np.sort(rng.integers(mid_ts[0], mid_ts[-1], 500))
    tr_px = np.interp(tr_ts, mid_ts, mid) + rng.choice([-0.005, 0.005], 500)
    side = rng.choice([-1, 1], 500)
    hs = [S, 10 * S]
    batch = markouts(tr_ts, tr_px, side.astype(float), mid_ts, mid, hs)
    tracker = MarkoutTracker(hs)
    j = 0
    for t, m in zip(mid_ts, mid):
        while j < len(tr_ts) and tr_ts[j] <= t:
            tracker.add_trade(int(tr_ts[j]), float(tr_px[j]), int(side[j]))
            j += 1
        tracker.update_mid(int(t), float(m))
    means = tracker.mean()
    counts = tracker.count()
    for k, h in enumerate(hs):
        resolved = tr_ts + h < mid_ts[-1]
        assert counts[h] == resolved.sum()
        assert means[h] == pytest.approx(batch[resolved, k].mean(), rel=1e-9)


def test_streaming_index_on_the_simulated_market():
    from ofi.sim.market import SimulatedMarket

    market = SimulatedMarket(symbol="BTCUSDT", tick_size="0.1", qty_step="0.001", depth=50, seed=3)
    book = OrderBook("BTCUSDT", tick_size="0.1")
    tox = ToxicityIndex(bucket_volume=2.0, n_buckets=10, ofi_interval=S, ofi_zscore_window=10,
                        spread_window=50)
    values = []
    for fr in market.generate(n_messages=6000):
        if fr.kind == "book":
            book.apply_frame(fr.raw)
            values.append(tox.update(book))
        elif fr.kind == "trade":
            for t in Trade.from_frame(fr.raw, "0.1"):
                values.append(tox.add_trade(t))
    v = np.array(values)
    assert math.isnan(v[0])                       # nothing is warm at the start
    ok = v[~np.isnan(v)]
    assert len(ok) > 1000
    assert (ok >= 0).all() and (ok <= 1).all()
    c = tox.components()
    assert ((c >= 0) & (c <= 1)).all()


def test_bad_input():
    with pytest.raises(InvalidInputError):
        toxicity_index(np.ones((2, 5)))
    with pytest.raises(InvalidInputError):
        toxicity_index(np.ones((2, 6)), weights=[0, 0, 0, 0, 0, 0])
    with pytest.raises(InvalidInputError):
        toxicity_index(np.ones((2, 6)), weights={"vpn": 1.0})
    with pytest.raises(InvalidInputError):
        ToxicityIndex(large_trade_quantile=1.5)
    with pytest.raises(InvalidInputError):
        markouts([2, 1], [1.0, 1.0], [1.0, 1.0], [0], [1.0], [S])
    with pytest.raises(InvalidInputError):
        markouts([1], [1.0], [0.0], [0], [1.0], [S])
    with pytest.raises(InvalidInputError):
        MarkoutTracker([S]).add_trade(1, 100.0, 0)


def test_large_trade_flag_uses_the_quantile_of_the_previous_sizes():
    # the flag of trade i compares its size with numpy's quantile of the sizes before it (at most
    # large_trade_history of them), computed here the slow way
    from ofi.orderflow.toxicity import _quantile_sorted
    rng = np.random.default_rng(11)
    sizes = np.round(rng.exponential(size=400) * 10, 3)
    tox = ToxicityIndex(large_trade_history=50, large_trade_horizon=1)
    for i, size in enumerate(sizes):
        tox.add_trade(Trade("BTCUSDT", 100.0, float(size), 1, 1, str(i), 1000))
        prev = sizes[max(0, i - 50):i]
        if len(prev) >= 20:
            assert tox._large[-1] == (size > np.quantile(prev, 0.95)), i
    for n, q in ((20, 0.95), (57, 0.5), (1000, 0.123)):
        x = np.sort(rng.exponential(size=n))
        assert _quantile_sorted(list(x), q) == np.quantile(x, q)
