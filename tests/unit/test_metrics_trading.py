"""Trading metrics (``ofi.metrics.trading``): hand-derived cases with the arithmetic in comments,
hypothesis properties (the streaming accumulator equals the batch functions; PnL and fees add up;
markouts equal a brute-force scan), and bad input.

Expected values are written out by hand or computed with the standard library (``statistics``,
plain loops), never by the functions under test.
"""
from __future__ import annotations

import json
import math
import statistics

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import ofi.metrics as M
from ofi.errors import InvalidInputError
from ofi.metrics.trading import (
    NS_PER_DAY, DrawdownTracker, TradingMetrics, daily_returns, markouts, max_drawdown,
    profit_factor, sharpe, sortino,
)

S = 1_000_000_000  # 1 s in ns
H = 3600 * S
D = NS_PER_DAY
M0 = 19675 * D  # 2023-11-14 00:00 UTC; 1.7e18 ns (22:13:20 that day) falls inside it
SQ365 = math.sqrt(365)
FAST = settings(max_examples=150, deadline=None)


def same(a: float, b: float) -> bool:
    """Equal floats, NaN equal to NaN."""
    return (math.isnan(a) and math.isnan(b)) or a == b


# ====================================================================== exports
def test_names_are_exported_from_ofi_metrics():
    for name in ("DrawdownTracker", "TradingMetrics", "max_drawdown", "sharpe", "sortino",
                 "profit_factor", "daily_returns", "markouts"):
        assert name in M.__all__ and getattr(M, name) is getattr(M.trading, name)
    assert "accuracy" in M.__all__  # the classification names stay
    assert len(set(M.__all__)) == len(M.__all__)


# ====================================================================== drawdown, by hand
def test_max_drawdown_by_hand():
    # peaks 100 120 120 130 130; drawdowns 0 0 30 0 26 -> 30 at index 2, peak at index 1
    # fractions 30/120 = 0.25, 26/130 = 0.2 -> 0.25
    assert max_drawdown([100.0, 120.0, 90.0, 130.0, 104.0]) == (30.0, 0.25, 1, 2)


def test_max_drawdown_abs_and_fraction_at_different_points():
    # peaks 100 110 110 200 200; drawdowns 0 0 22 0 30
    # largest amount: 30 at index 4 (peak index 3); largest fraction: 22/110 = 0.2 (30/200 = 0.15)
    assert max_drawdown([100.0, 110.0, 88.0, 200.0, 170.0]) == (30.0, 0.2, 3, 4)


def test_max_drawdown_pnl_curve_and_non_positive_peaks():
    # cumulative PnL from 0: peaks 0 5 5 5, drawdowns 0 0 8 3; fractions only where peak > 0:
    # 8/5 = 1.6, 3/5 = 0.6
    assert max_drawdown([0.0, 5.0, -3.0, 2.0]) == (8.0, 1.6, 1, 2)
    # the peak never exceeds 0: no fraction is defined
    dd, pct, p, t = max_drawdown([0.0, -1.0, -2.0])
    assert (dd, p, t) == (2.0, 0, 2) and math.isnan(pct)


def test_max_drawdown_equal_high_moves_the_peak_and_flat_curves():
    # 100 90 100 80: the trough at index 3 is 20 below the high touched last at index 2
    assert max_drawdown([100.0, 90.0, 100.0, 80.0]) == (20.0, 0.2, 2, 3)
    assert max_drawdown([1.0, 2.0, 3.0]) == (0.0, 0.0, 0, 0)
    assert max_drawdown([5.0]) == (0.0, 0.0, 0, 0)


def test_drawdown_tracker_by_hand_with_times():
    dd = DrawdownTracker()
    assert math.isnan(dd.max_drawdown) and dd.peak_index == -1 and dd.n_updates == 0
    steps = [(10, 100.0), (20, 120.0), (30, 90.0), (40, 130.0), (50, 104.0)]
    got = [dd.update(t, e) for t, e in steps]
    assert got == [0.0, 0.0, 30.0, 0.0, 26.0]
    assert dd.peak == 130.0 and dd.drawdown == 26.0 and dd.drawdown_pct == 0.2
    assert (dd.max_drawdown, dd.max_drawdown_pct) == (30.0, 0.25)
    assert (dd.peak_index, dd.trough_index) == (1, 2)
    assert (dd.max_drawdown_peak_ts_ns, dd.max_drawdown_trough_ts_ns) == (20, 30)
    assert dd.peak_ts_ns == 40 and dd.n_updates == 5


# ====================================================================== ratios, by hand
R = [0.01, -0.02, 0.03, 0.0]


def test_sharpe_by_hand():
    # mean = 0.02 / 4 = 0.005; deviations .005 -.025 .025 -.005; squares sum
    # 2.5e-5 + 6.25e-4 + 6.25e-4 + 2.5e-5 = 1.3e-3; sample variance 1.3e-3 / 3
    want = 0.005 / math.sqrt(1.3e-3 / 3)
    assert sharpe(R) == pytest.approx(want, rel=1e-12)
    assert sharpe(R, periods_per_year=365) == pytest.approx(want * SQ365, rel=1e-12)
    # ddof=0: population variance 1.3e-3 / 4
    assert sharpe(R, ddof=0) == pytest.approx(0.005 / math.sqrt(1.3e-3 / 4), rel=1e-12)


def test_sortino_by_hand():
    # min(r, 0)^2 = 0, 4e-4, 0, 0 -> mean over all 4 periods 1e-4 -> downside deviation 0.01
    assert sortino(R) == pytest.approx(0.005 / 0.01, rel=1e-12)
    assert sortino(R, periods_per_year=365) == pytest.approx(0.5 * SQ365, rel=1e-12)
    # target 0.01: r - T = 0, -.03, .02, -.01 -> squares below 0: 9e-4 + 1e-4 = 1e-3, / 4
    want = (0.005 - 0.01) / math.sqrt(1e-3 / 4)
    assert sortino(R, target=0.01) == pytest.approx(want, rel=1e-12)


def test_ratios_undefined_are_nan():
    assert math.isnan(sharpe([]))
    assert math.isnan(sharpe([0.01]))  # one value, ddof 1
    assert math.isnan(sharpe([0.1, 0.1, 0.1]))  # zero variance (exactly equal values)
    assert math.isnan(sharpe([0.0, 4e-300]))  # distinct, but the std underflows to 0
    assert math.isnan(sortino([]))
    assert math.isnan(sortino([0.01, 0.02]))  # nothing below the target


def test_profit_factor_by_hand():
    # wins 10 + 20 = 30, losses 5 + 10 = 15, the zero trade counts on neither side
    assert profit_factor([10.0, -5.0, 20.0, -10.0, 0.0]) == 2.0
    assert profit_factor([1.0, 0.0]) == math.inf
    assert math.isnan(profit_factor([0.0]))
    assert math.isnan(profit_factor([]))


# ====================================================================== daily returns, by hand
def test_daily_returns_across_utc_midnight():
    ts = [M0 + D - S,      # day 0, 23:59:59
          M0 + D - 1,      # day 0, 23:59:59.999999999 -> day 0 close 101
          M0 + D,          # day 1, 00:00:00 exactly
          M0 + D + 12 * H,  # day 1 close 103.02
          M0 + 3 * D + 1]  # day 3 (day 2 has nothing) close 98
    eq = [100.0, 101.0, 99.0, 103.02, 98.0]
    days, r = daily_returns(ts, eq)
    assert days.dtype == np.int64 and days.tolist() == [M0, M0 + D, M0 + 2 * D, M0 + 3 * D]
    # first day against the first equity 100: 101/100 - 1; then 103.02/101 - 1 = 0.02;
    # day 2 keeps 103.02 (0); day 3: 98/103.02 - 1
    np.testing.assert_allclose(r, [0.01, 0.02, 0.0, 98.0 / 103.02 - 1.0], rtol=1e-12, atol=1e-15)
    assert r[2] == 0.0
    # against an initial capital of 50: 101/50 - 1 = 1.02
    assert daily_returns(ts, eq, initial=50.0)[1][0] == pytest.approx(1.02, rel=1e-14)
    d0, r0 = daily_returns([], [])
    assert d0.size == 0 and r0.size == 0


# ====================================================================== markouts, by hand
def test_markouts_by_hand():
    t0 = 1_700_000_000_000_000_000
    ms = 1_000_000
    mid_ts = [t0 - ms, t0 + 50 * ms, t0 + 100 * ms, t0 + 999 * ms, t0 + 5 * S]
    mid = [99.99, 100.02, 100.05, 100.10, 99.90]
    # buy at 100.00: mid at t0+100ms (exactly at) 100.05 -> +0.05 = 5 bps;
    # at t0+1s the last mid is t0+999ms's 100.10 -> +10 bps; t0+10s is after the series -> NaN
    # sell at 100.10 at t0: -(100.05 - 100.10) = +0.05 -> 0.05/100.10*1e4 bps; -(100.10-100.10) = 0
    # buy at 100.00 at t0+5s: 100 ms later the series has ended -> NaN at every horizon
    # buy at t0-2ms: 100 ms later (t0+98ms) the mid is t0+50ms's 100.02 -> 2 bps; 1 s later
    # (t0+998ms) the mid is still t0+100ms's 100.05 (t0+999ms comes 1 ms later) -> 5 bps
    got = markouts([t0, t0, t0 + 5 * S, t0 - 2 * ms], [1, "Sell", +1, 1],
                   [100.0, 100.10, 100.0, 100.0], mid_ts, mid)
    want = [[5.0, 10.0, np.nan],
            [0.05 / 100.10 * 1e4, 0.0, np.nan],
            [np.nan, np.nan, np.nan],
            [2.0, 5.0, np.nan]]
    assert got.shape == (4, 3)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    # in price units, and a zero horizon (the mid at the fill time itself)
    got = markouts([t0], [1], [100.0], mid_ts, mid, horizons_ns=(0, 100 * ms), in_bps=False)
    # at t0 the last mid is t0-1ms's 99.99 -> -0.01; then +0.05
    np.testing.assert_allclose(got, [[-0.01, 0.05]], rtol=1e-9, atol=1e-12)
    # a horizon before the first mid -> NaN; no fills -> (0, 3)
    assert np.isnan(markouts([t0 - 10 * S], [1], [100.0], mid_ts, mid, horizons_ns=[0])).all()
    assert markouts([], [], [], mid_ts, mid).shape == (0, 3)


# ====================================================================== accumulator, by hand
def scripted():
    """Three trades over four UTC days (day 2 without events), with the fills behind them."""
    tm = TradingMetrics()
    ev = []  # (ts, equity, position_notional)

    def eq(ts, e, pos):
        ev.append((ts, e, pos))
        tm.on_equity(ts, e, pos)

    eq(M0 + 20 * H, 1000.0, 0.0)                              # start, flat
    tm.on_fill(M0 + 21 * H, +1, 2.0, 100.0, 0.10, False)      # buy 2 @ 100, fee 0.10
    eq(M0 + 21 * H, 999.9, 200.0)
    eq(M0 + 23 * H, 1019.9, 220.0)                            # marked at 110: +20
    tm.on_fill(M0 + D + H, "Sell", 2.0, 95.0, 0.05, True)     # sell 2 @ 95 -> -10 - 0.05
    tm.on_round_trip(M0 + 21 * H, M0 + D + H, 1, 2.0, 100.0, 95.0, -10.0, 0.15)
    eq(M0 + D + H, 989.85, 0.0)
    tm.on_fill(M0 + D + 2 * H, -1, 1.0, 95.0, 0.05, True)     # short 1 @ 95
    eq(M0 + D + 2 * H, 989.80, -95.0)
    tm.on_fill(M0 + D + 4 * H, "buy", 1.0, 90.0, 0.05, False)  # cover @ 90: +5 - 0.05
    tm.on_round_trip(M0 + D + 2 * H, M0 + D + 4 * H, "Sell", 1.0, 95.0, 90.0, fees=0.10)
    eq(M0 + D + 4 * H, 994.75, 0.0)
    tm.on_fill(M0 + 3 * D + H, 1, 1.0, 100.0, -0.01, True)    # buy 1 @ 100, rebate 0.01
    eq(M0 + 3 * D + H, 994.76, 100.0)
    tm.on_fill(M0 + 3 * D + 2 * H, -1, 1.0, 103.0, 0.02, False)  # sell @ 103: +3 - 0.02
    tm.on_round_trip(M0 + 3 * D + H, M0 + 3 * D + 2 * H, 1, 1.0, 100.0, 103.0, 3.0, 0.01)
    eq(M0 + 3 * D + 2 * H, 997.74, 0.0)
    return tm, ev


def test_trading_metrics_by_hand():
    tm, _ = scripted()
    s = tm.summary(1000.0)
    json.dumps(s, allow_nan=False)
    ap = lambda x: pytest.approx(x, rel=1e-12, abs=1e-12)  # noqa: E731

    # trades: nets -10 - 0.15 = -10.15, 5 - 0.10 = 4.9 (gross defaulted: -1 * 1 * (90 - 95)),
    # 3 - 0.01 = 2.99
    assert s["gross_pnl"] == ap(-2.0) and s["fees"] == ap(0.26) and s["net_pnl"] == ap(-2.26)
    assert (s["n_trades"], s["n_wins"], s["n_losses"]) == (3, 2, 1)
    assert s["win_rate"] == ap(2 / 3)
    assert s["avg_win"] == ap((4.9 + 2.99) / 2) and s["avg_loss"] == ap(-10.15)
    assert s["profit_factor"] == ap(7.89 / 10.15)
    # per-trade returns: net / (qty * entry price)
    rt = [-10.15 / 200.0, 4.9 / 95.0, 2.99 / 100.0]
    assert s["sharpe_per_trade"] == ap(statistics.mean(rt) / statistics.stdev(rt))
    assert s["sortino_per_trade"] == ap(statistics.mean(rt) / math.sqrt(rt[0] ** 2 / 3))

    # equity: closes day0 1019.9, day1 994.75, day2 (none) 994.75, day3 997.74
    rd = [1019.9 / 1000.0 - 1, 994.75 / 1019.9 - 1, 0.0, 997.74 / 994.75 - 1]
    assert s["n_days"] == 4
    assert s["sharpe_daily"] == ap(statistics.mean(rd) / statistics.stdev(rd) * SQ365)
    assert s["sortino_daily"] == ap(statistics.mean(rd) / math.sqrt(rd[1] ** 2 / 4) * SQ365)
    assert s["final_equity"] == 997.74 and s["equity_pnl"] == ap(-2.26)
    assert s["return_pct"] == ap(-0.00226)
    assert (s["start_ts"], s["end_ts"]) == (M0 + 20 * H, M0 + 3 * D + 2 * H)
    # peak 1019.9 (day 0, 23:00), trough 989.80 (day 1, 02:00)
    assert s["max_drawdown"] == ap(30.1) and s["max_drawdown_pct"] == ap(30.1 / 1019.9)
    assert (s["max_drawdown_peak_ts"], s["max_drawdown_trough_ts"]) == (M0 + 23 * H, M0 + D + 2 * H)
    # elapsed day 0 20:00 -> day 3 02:00 = 2 days + 6 h = 54 h;
    # annualised (997.74 / 1000) ^ (365 * 24 / 54) - 1 ~ -0.307
    ann = 0.99774 ** (365 * 24 / 54) - 1
    assert s["annualized_return"] == ap(ann)
    assert s["calmar"] == ap(ann / (30.1 / 1019.9))
    # exposed: 21h-23h, 23h-(D+1h), (D+2h)-(D+4h), (3D+1h)-(3D+2h) = 2 + 2 + 2 + 1 = 7 h of 54 h
    assert s["exposure"] == ap(7 / 54)

    # fills: 200 + 190 + 95 + 90 + 100 + 103 = 778; fees .10+.05+.05+.05-.01+.02 = .26
    assert s["turnover"] == ap(778.0) and s["fill_fees"] == ap(0.26)
    assert (s["n_fills"], s["n_maker_fills"], s["maker_share"]) == (6, 3, 0.5)
    assert s["fill_qty"] == 8.0


def test_trading_metrics_empty_and_undefined_are_none():
    s = TradingMetrics().summary(1000.0)
    json.dumps(s, allow_nan=False)
    assert s["n_trades"] == 0 and s["net_pnl"] == 0.0 and s["n_fills"] == 0 and s["n_days"] == 0
    for k in ("win_rate", "avg_win", "avg_loss", "profit_factor", "sharpe_daily", "sortino_daily",
              "sharpe_per_trade", "max_drawdown", "max_drawdown_pct", "calmar", "exposure",
              "maker_share", "final_equity", "start_ts", "annualized_return"):
        assert s[k] is None, k
    # only winners: profit factor would be +inf -> None; one equity point: no elapsed time
    tm = TradingMetrics()
    tm.on_round_trip(0, 1, 1, 1.0, 100.0, 101.0)
    tm.on_equity(5, 1001.0)
    s = tm.summary(1000.0)
    assert s["profit_factor"] is None and s["win_rate"] == 1.0 and s["exposure"] is None
    assert s["max_drawdown"] == 0.0 and s["calmar"] is None and s["n_days"] == 1
    # a day closing at equity <= 0: no daily ratios, the rest still reported
    tm.on_equity(6, -5.0)
    s = tm.summary(1000.0)
    assert s["sharpe_daily"] is None and s["annualized_return"] == -1.0
    with pytest.raises(InvalidInputError, match="equity > 0"):
        tm.daily_returns(1000.0)


# ====================================================================== properties
equity_values = st.lists(
    st.one_of(st.sampled_from([0.0, -1.0, 50.0, 100.0, 100.0, 120.0]),
              st.floats(-1e6, 1e6, allow_nan=False)), min_size=1, max_size=60)


@FAST
@given(equity_values)
def test_tracker_equals_batch_recomputation(values):
    dd = DrawdownTracker()
    peak = -math.inf
    for e in values:
        got = dd.update(e)
        peak = max(peak, e)
        assert got == peak - e and dd.peak == peak
    a, p, pi, ti = max_drawdown(values)
    assert a == dd.max_drawdown and same(p, dd.max_drawdown_pct)
    assert (pi, ti) == (dd.peak_index, dd.trough_index)
    # the defining properties, by brute force over all pairs i <= j
    assert a == max(values[i] - values[j] for j in range(len(values)) for i in range(j + 1))
    assert values[pi] - values[ti] == a and pi <= ti


steps = st.lists(
    st.tuples(st.sampled_from([0, 1, S, H, 7 * H, D - 1, D, 3 * D + 5]),
              st.floats(1.0, 1e4, allow_nan=False),
              st.sampled_from([0.0, 0.0, 250.0, -80.0])),
    min_size=1, max_size=40)


@FAST
@given(st.integers(0, 2 * D), steps, st.floats(10.0, 1e4))
def test_accumulator_equals_batch_functions(start, path, capital):
    tm = TradingMetrics()
    ts, eq, pos = [], [], []
    t = M0 + start
    for dt, e, p in path:
        t += dt
        ts.append(t)
        eq.append(e)
        pos.append(p)
        tm.on_equity(t, e, p)
    s = tm.summary(capital)
    json.dumps(s, allow_nan=False)
    a, pct, pi, ti = max_drawdown(eq)
    assert s["max_drawdown"] == a and s["max_drawdown_pct"] == (None if math.isnan(pct) else pct)
    assert (s["max_drawdown_peak_ts"], s["max_drawdown_trough_ts"]) == (ts[pi], ts[ti])
    days, r = daily_returns(ts, eq, initial=capital)
    d2, r2 = tm.daily_returns(capital)
    assert np.array_equal(days, d2) and np.array_equal(r, r2)
    assert s["n_days"] == len(r) == (ts[-1] // D - ts[0] // D + 1)
    # daily returns compound to the whole return
    assert math.prod(1.0 + x for x in r) == pytest.approx(eq[-1] / capital, rel=1e-9)
    sh = sharpe(r, periods_per_year=365)
    assert s["sharpe_daily"] == (None if math.isnan(sh) else sh)
    so = sortino(r, periods_per_year=365)
    assert s["sortino_daily"] == (None if math.isnan(so) else so)
    # exposure by a plain loop: the position after event k holds until event k + 1
    exposed = sum(ts[k + 1] - ts[k] for k in range(len(ts) - 1) if pos[k] != 0.0)
    elapsed = ts[-1] - ts[0]
    assert s["exposure"] == (exposed / elapsed if elapsed else None)
    if s["exposure"] is not None:
        assert 0.0 <= s["exposure"] <= 1.0


trades = st.lists(
    st.tuples(st.sampled_from([1, -1]), st.floats(0.001, 50.0), st.floats(1.0, 1e5),
              st.floats(1.0, 1e5), st.floats(0.0, 5.0), st.floats(-1.0, 5.0), st.booleans()),
    min_size=0, max_size=30)


@FAST
@given(trades)
def test_pnl_and_fees_add_up(rows):
    tm = TradingMetrics()
    nets, fill_fees, turnover = [], [], []
    for k, (side, q, p0, p1, f0, f1, maker) in enumerate(rows):
        tm.on_fill(k, side, q, p0, f0, maker)
        tm.on_fill(k + 1, -side, q, p1, f1, not maker)
        tm.on_round_trip(k, k + 1, side, q, p0, p1, fees=f0 + f1)
        nets.append(side * q * (p1 - p0) - (f0 + f1))
        fill_fees += [f0, f1]
        turnover += [q * p0, q * p1]
    s = tm.summary(1000.0)
    json.dumps(s, allow_nan=False)
    tol = 1e-9 * (1.0 + math.fsum(abs(x) for x in nets))
    assert s["net_pnl"] == pytest.approx(math.fsum(nets), abs=tol)
    assert s["net_pnl"] == pytest.approx(s["gross_pnl"] - s["fees"], abs=tol)
    assert s["fees"] == pytest.approx(math.fsum(fill_fees), abs=1e-9)
    assert s["fill_fees"] == pytest.approx(s["fees"], abs=1e-9)
    assert s["turnover"] == pytest.approx(math.fsum(turnover), rel=1e-12)
    assert s["n_fills"] == 2 * len(rows) and s["n_trades"] == len(rows)
    wins = [x for x in nets if x > 0]
    losses = [x for x in nets if x < 0]
    assert (s["n_wins"], s["n_losses"]) == (len(wins), len(losses))
    if rows:
        assert 0.0 <= s["win_rate"] <= 1.0 and s["maker_share"] == 0.5
    if wins:
        assert s["avg_win"] > 0
    if losses:
        assert s["avg_loss"] < 0
        assert s["profit_factor"] == pytest.approx(math.fsum(wins) / -math.fsum(losses), rel=1e-9)
    else:
        assert s["profit_factor"] is None


@FAST
@given(st.lists(st.tuples(st.integers(0, 50), st.sampled_from([1, -1]), st.floats(1.0, 200.0)),
                max_size=15),
       st.lists(st.tuples(st.integers(0, 5), st.floats(1.0, 200.0)), max_size=15),
       st.lists(st.integers(0, 20), min_size=1, max_size=4, unique=True))
def test_markouts_equal_a_brute_force_scan(fills, mids, horizons):
    mid_ts, mid, t = [], [], 0
    for dt, m in mids:  # non-decreasing, equal times allowed
        t += dt
        mid_ts.append(t)
        mid.append(m)
    got = markouts([f[0] for f in fills], [f[1] for f in fills], [f[2] for f in fills],
                   mid_ts, mid, horizons_ns=horizons, in_bps=False)
    assert got.shape == (len(fills), len(horizons))
    for i, (ft, side, price) in enumerate(fills):
        for k, h in enumerate(horizons):
            target = ft + h
            seen = [m for mt, m in zip(mid_ts, mid) if mt <= target]  # last one wins on ties
            if not seen or mid_ts[-1] < target:
                assert math.isnan(got[i, k])
            else:
                assert got[i, k] == side * (seen[-1] - price)


@FAST
@given(st.lists(st.integers(-5000, 5000).map(lambda bp: bp / 1e4), min_size=2, max_size=40),
       st.floats(0.01, 100.0))
def test_ratios_are_scale_free_and_annualise_by_sqrt(r, c):
    base = sharpe(r)
    if math.isnan(base):
        assert len(set(r)) == 1
        return
    assert sharpe([c * x for x in r]) == pytest.approx(base, rel=1e-9, abs=1e-12)
    assert sharpe(r, periods_per_year=365) == pytest.approx(base * SQ365, rel=1e-12)
    so = sortino(r)
    if not math.isnan(so):
        assert sortino([c * x for x in r]) == pytest.approx(so, rel=1e-9, abs=1e-12)
        assert sortino(r, 252) == pytest.approx(so * math.sqrt(252), rel=1e-12)


# ====================================================================== bad input
def test_unsorted_times_are_refused():
    tm = TradingMetrics()
    tm.on_equity(10, 100.0)
    with pytest.raises(InvalidInputError, match=r"ts_ns must be non-decreasing, got 9 after 10"):
        tm.on_equity(9, 100.0)
    dd = DrawdownTracker()
    dd.update(10, 1.0)
    with pytest.raises(InvalidInputError, match="non-decreasing"):
        dd.update(5, 1.0)
    with pytest.raises(InvalidInputError, match=r"ts_ns must be non-decreasing, got 1 at index 2"):
        daily_returns([1, 2, 1], [1.0, 1.0, 1.0])
    with pytest.raises(InvalidInputError, match="mid_ts must be non-decreasing"):
        markouts([0], [1], [1.0], [3, 2], [1.0, 1.0])
    with pytest.raises(InvalidInputError, match="exit_ts must be >= entry_ts"):
        tm.on_round_trip(10, 9, 1, 1.0, 1.0, 1.0)


def test_non_finite_numbers_are_refused():
    with pytest.raises(InvalidInputError, match="equity must be a finite number, got nan"):
        TradingMetrics().on_equity(0, math.nan)
    with pytest.raises(InvalidInputError, match="equity must be a finite number"):
        DrawdownTracker().update(math.inf)
    with pytest.raises(InvalidInputError, match="equity must be finite, got nan at index 1"):
        max_drawdown([1.0, math.nan])
    with pytest.raises(InvalidInputError, match=r"equity must be finite and > 0, got 0.0 at index 0"):
        daily_returns([0], [0.0])
    with pytest.raises(InvalidInputError, match="returns must be finite"):
        sharpe([0.1, math.nan])
    with pytest.raises(InvalidInputError, match="position_notional"):
        TradingMetrics().on_equity(0, 1.0, math.nan)
    with pytest.raises(InvalidInputError, match="fee must be a finite number, got '0.1'"):
        TradingMetrics().on_fill(0, 1, 1.0, 1.0, "0.1")


def test_mismatched_lengths_are_refused():
    with pytest.raises(InvalidInputError, match="ts_ns=2, equity=3"):
        daily_returns([0, 1], [1.0, 1.0, 1.0])
    with pytest.raises(InvalidInputError, match="fill_ts=1, fill_side=2, fill_price=1"):
        markouts([0], [1, -1], [1.0], [0], [1.0])
    with pytest.raises(InvalidInputError, match="mid_ts=2, mid=1"):
        markouts([0], [1], [1.0], [0, 1], [1.0])


def test_quantities_prices_and_sides_are_checked():
    tm = TradingMetrics()
    with pytest.raises(InvalidInputError, match=r"qty must be > 0, got -1.0"):
        tm.on_fill(0, 1, -1.0, 100.0)
    with pytest.raises(InvalidInputError, match=r"qty must be > 0, got 0"):
        tm.on_round_trip(0, 1, 1, 0, 100.0, 101.0)
    with pytest.raises(InvalidInputError, match="entry_price must be > 0"):
        tm.on_round_trip(0, 1, 1, 1.0, -100.0, 101.0)
    with pytest.raises(InvalidInputError, match=r"side must be \+1 / -1 or 'Buy' / 'Sell', got 0"):
        tm.on_fill(0, 0, 1.0, 100.0)
    with pytest.raises(InvalidInputError, match="fill_side must hold"):
        markouts([0], [2], [1.0], [0], [1.0])
    with pytest.raises(InvalidInputError, match=r"fill_side\[0\]"):
        markouts([0], ["up"], [1.0], [0], [1.0])
    with pytest.raises(InvalidInputError, match="fill_price must be finite and > 0"):
        markouts([0], [1], [0.0], [0], [1.0])
    assert tm.summary(1.0)["n_fills"] == 0  # nothing half-recorded


def test_times_and_parameters_are_checked():
    with pytest.raises(InvalidInputError, match="ts_ns must be an integer time in ns"):
        TradingMetrics().on_equity(1.7e18, 1.0)
    with pytest.raises(InvalidInputError, match="ts_ns must hold integer ns since the epoch"):
        daily_returns([1.0], [1.0])
    with pytest.raises(InvalidInputError, match="horizons_ns must be >= 0"):
        markouts([0], [1], [1.0], [0], [1.0], horizons_ns=[-1])
    with pytest.raises(InvalidInputError, match="horizons_ns must be a non-empty"):
        markouts([0], [1], [1.0], [0], [1.0], horizons_ns=[0.1])
    with pytest.raises(InvalidInputError, match="overflows int64"):
        markouts([2 ** 63 - 10], [1], [1.0], [0], [1.0])
    with pytest.raises(InvalidInputError, match="periods_per_year must be > 0"):
        sharpe([0.1, 0.2], periods_per_year=0)
    with pytest.raises(InvalidInputError, match="ddof must be an integer >= 0"):
        sharpe([0.1, 0.2], ddof=-1)
    with pytest.raises(InvalidInputError, match="initial_capital must be > 0, got 0"):
        TradingMetrics().summary(0)
    with pytest.raises(InvalidInputError, match="initial must be > 0"):
        daily_returns([0], [1.0], initial=-1.0)
    with pytest.raises(InvalidInputError, match="at least one value"):
        max_drawdown([])
    with pytest.raises(InvalidInputError, match="equity must be 1-D"):
        max_drawdown([[1.0, 2.0]])
    dd = DrawdownTracker()
    dd.update(1.0)
    with pytest.raises(InvalidInputError, match="same way every time"):
        dd.update(5, 1.0)
    with pytest.raises(InvalidInputError, match="update takes"):
        dd.update()
    assert issubclass(InvalidInputError, ValueError)


# ---------------------------------------------------------------------------- batch = sequential
_DD_FIELDS = ("_n", "_timed", "peak", "peak_ts_ns", "_peak_i", "drawdown", "drawdown_pct", "max_drawdown",
              "max_drawdown_pct", "peak_index", "trough_index", "max_drawdown_peak_ts_ns",
              "max_drawdown_trough_ts_ns", "last_ts_ns", "equity")
_TM_FIELDS = ("_start_ts", "_last_ts", "_last_equity", "_last_exposed", "_exposed_ns", "_day", "_days", "_closes")


def _state(tm):
    def norm(v):
        return "nan" if isinstance(v, float) and math.isnan(v) else v
    return ({f: norm(getattr(tm.drawdown, f)) for f in _DD_FIELDS},
            {f: norm(getattr(tm, f)) for f in _TM_FIELDS})


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 3 * 3_600_000_000_000), st.sampled_from([-3.0, -1.0, 0.0, 0.0, 1.0, 2.5]),
                                 st.sampled_from([0.0, 0.0, 1.0, -2.0])), min_size=1, max_size=60),
       cuts=st.lists(st.integers(0, 60), max_size=4), start=st.sampled_from([-50.0, 0.0, 100.0]))
def test_equity_batch_equals_one_row_at_a_time(steps, cuts, start):
    """The backtest engine feeds equity rows in batches; every piece of state (drawdown, its
    indexes and times, exposure, the daily closes) must be what row-by-row updates give, across
    ties, new highs, equities at or below zero, UTC day changes and any split into batches."""
    ts = np.cumsum([s[0] for s in steps]).astype(np.int64) + 1_700_000_000_000_000_000 - 2 * 3_600_000_000_000
    eq = start + np.cumsum([s[1] for s in steps])
    pos = np.array([s[2] for s in steps])
    one = TradingMetrics()
    for t, e, p in zip(ts.tolist(), eq.tolist(), pos.tolist()):
        one.on_equity(t, e, p)
    many = TradingMetrics()
    bounds = sorted({0, len(ts), *(c for c in cuts if c <= len(ts))})
    for a, b in zip(bounds[:-1], bounds[1:]):
        many._equity_batch(ts[a:b], eq[a:b], pos[a:b])
    assert _state(many) == _state(one)
    # through JSON, so that NaN equals NaN
    assert json.dumps(many.summary(100.0), default=str) == json.dumps(one.summary(100.0), default=str)


def test_a_fill_is_a_taker_fill_unless_said_otherwise():
    # two fills without `maker`, one with maker=True: 1 maker fill of 3, share 1/3
    tm = TradingMetrics()
    tm.on_fill(M0, +1, 1.0, 100.0, 0.055)
    s = tm.summary(1000.0)
    assert (s["n_fills"], s["n_maker_fills"], s["maker_share"]) == (1, 0, 0.0)
    tm.on_fill(M0 + 1, -1, 1.0, 101.0)
    tm.on_fill(M0 + 2, +1, 2.0, 100.0, 0.04, maker=True)
    s = tm.summary(1000.0)
    assert (s["n_fills"], s["n_maker_fills"]) == (3, 1) and s["maker_share"] == pytest.approx(1 / 3, abs=1e-15)
    # turnover 100 + 101 + 200 = 401; fees 0.055 + 0 + 0.04 = 0.095
    assert s["turnover"] == pytest.approx(401.0, abs=1e-12) and s["fill_fees"] == pytest.approx(0.095, abs=1e-15)


# ====================================================================== pinned details
# (messages name the argument and show the value; bounds at their exact edge)
def test_validation_messages_name_the_argument_and_the_value():
    tm = TradingMetrics()
    with pytest.raises(InvalidInputError, match=r"^fee must be a finite number, got None$"):
        tm.on_fill(0, 1, 1.0, 1.0, None)                      # float(None) fails: the except path
    with pytest.raises(InvalidInputError, match=r"^ts_ns must be an integer time in ns since the epoch, got 1\.5$"):
        tm.on_equity(1.5, 1.0)
    with pytest.raises(InvalidInputError, match=r"^exit_ts must be an integer time in ns since the epoch, got 1\.5$"):
        tm.on_round_trip(0, 1.5, 1, 1.0, 1.0, 1.0)
    with pytest.raises(InvalidInputError, match=r"^side must be \+1 / -1 or 'Buy' / 'Sell', got 'up'$"):
        tm.on_round_trip(0, 1, "up", 1.0, 1.0, 1.0)
    with pytest.raises(InvalidInputError, match=r"^fees must be a finite number, got nan$"):
        tm.on_round_trip(0, 1, 1, 1.0, 1.0, 1.0, fees=math.nan)
    with pytest.raises(InvalidInputError, match=r"^ddof must be an integer >= 0, got -1$"):
        sharpe([0.1, 0.2], ddof=-1)
    with pytest.raises(InvalidInputError, match=r"^returns must be finite"):
        sortino([0.1, math.nan])
    with pytest.raises(InvalidInputError, match=r"^equity must hold at least one value, got an empty array$"):
        max_drawdown([])
    assert tm.summary(1.0)["n_trades"] == 0 and tm.summary(1.0)["n_fills"] == 0


def test_tracker_form_messages():
    untimed, timed = DrawdownTracker(), DrawdownTracker()
    untimed.update(1.0)
    timed.update(0, 1.0)
    with pytest.raises(InvalidInputError, match=r"^update must be called the same way every time: this tracker "
                                                r"was started with \(equity\) only$"):
        untimed.update(5, 1.0)
    with pytest.raises(InvalidInputError, match=r"^update must be called the same way every time: this tracker "
                                                r"was started with \(ts_ns, equity\)$"):
        timed.update(1.0)


def test_unsigned_times_up_to_the_int64_limit():
    # uint64 times: 2**63 - 1 is the largest int64 and is kept (its day starts at
    # (2**63 - 1) // D * D); 2**63 does not fit and is refused
    top = 2 ** 63 - 1
    days, r = daily_returns(np.array([top], dtype=np.uint64), [1.0])
    assert days.tolist() == [top // D * D] and r.tolist() == [0.0]
    with pytest.raises(InvalidInputError, match=r"^ts_ns holds 9223372036854775808, beyond the int64 range"):
        daily_returns(np.array([2 ** 63], dtype=np.uint64), [1.0])


def test_markouts_refuse_non_positive_mids_and_bad_horizons():
    with pytest.raises(InvalidInputError, match=r"^mid must be finite and > 0, got 0\.0 at index 1$"):
        markouts([0], [1], [1.0], [0, 1], [1.0, 0.0])
    with pytest.raises(InvalidInputError, match=r"^mid must be finite and > 0, got -2\.0 at index 0$"):
        markouts([0], [1], [1.0], [0], [-2.0])
    for bad in (5, np.zeros(0, dtype=np.int64), [[1, 2]], [], ["1"]):
        with pytest.raises(InvalidInputError, match=r"^horizons_ns must be a non-empty 1-D sequence of integer ns"):
            markouts([0], [1], [1.0], [0], [1.0], horizons_ns=bad)


def test_equity_batch_takes_what_on_equity_takes():
    # on_equity accepts any integer time (an np.int32 here) and any real equity and notional
    # (Decimal here, as parsed from exchange JSON) and works in floats; the batch path must give
    # the same state for the same rows, i.e. convert to float64 first: 0.3 - 0.1 in floats is
    # 0.19999999999999998 (in decimals 0.2), and a notional of 1E-400 is 0.0 as a float (flat)
    from decimal import Decimal
    ts = np.array([0, 7, 9, 12], dtype=np.int32)
    eq = [Decimal("0.3"), Decimal("0.1"), Decimal("0.35"), Decimal("0.35")]
    pos = [Decimal("0"), Decimal("1E-400"), Decimal("-2.5"), Decimal("0")]
    one = TradingMetrics()
    for t, e, p in zip(ts, eq, pos):
        one.on_equity(t, e, p)
    many = TradingMetrics()
    many._equity_batch(ts, eq, pos)
    assert _state(many) == _state(one)
    assert many.summary(100.0) == one.summary(100.0)
    # by hand: drawdown 0.3 - 0.1 (floats) from index 0 to 1; exposed from 9 to 12 of 0..12
    assert one.drawdown.max_drawdown == 0.3 - 0.1 != 0.2
    assert (one.drawdown.peak_index, one.drawdown.trough_index) == (0, 1)
    assert one.summary(100.0)["exposure"] == 0.25


def test_equity_batches_across_days_and_empty_batches():
    # rows: day 0 at 01:00, 02:00 | day 0 03:00, day 1 01:00, day 2 01:00 (the second batch starts
    # in the day the first ended); empty batches before, between and after change nothing
    ts = np.array([H, 2 * H, 3 * H, D + H, 2 * D + H], dtype=np.int64) + M0
    eq = np.array([100.0, 101.0, 102.0, 103.0, 104.0])
    pos = np.array([0.0, 5.0, 0.0, 0.0, 0.0])
    none = (np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0))
    tm = TradingMetrics()
    tm._equity_batch(*none)
    assert _state(tm) == _state(TradingMetrics())
    tm._equity_batch(ts[:2], eq[:2], pos[:2])
    tm._equity_batch(*none)
    tm._equity_batch(ts[2:], eq[2:], pos[2:])
    tm._equity_batch(*none)
    one = TradingMetrics()
    for t, e, p in zip(ts.tolist(), eq.tolist(), pos.tolist()):
        one.on_equity(t, e, p)
    assert _state(tm) == _state(one)
    # closes 102, 103, 104 on days 0, 1, 2; against 100: 2 %, 103/102 - 1, 104/103 - 1
    days, r = tm.daily_returns(100.0)
    assert days.tolist() == [M0, M0 + D, M0 + 2 * D]
    np.testing.assert_allclose(r, [0.02, 103 / 102 - 1, 104 / 103 - 1], rtol=1e-12)
    assert tm._exposed_ns == H                  # exposed from 02:00 to 03:00


@pytest.mark.parametrize("call, message", [
    (lambda: markouts([0], None, [1.0], [0], [1.0]),
     "fill_side must be a 1-D array of +1 / -1 or 'Buy' / 'Sell', got None"),
    (lambda: markouts([0], np.array([True]), [1.0], [0], [1.0]),
     "fill_side must hold +1 / -1 or 'Buy' / 'Sell', got dtype bool"),
    (lambda: markouts([0, 1], [1, 2], [1.0, 1.0], [0], [1.0]), "fill_side must hold +1 / -1, got 2 at index 1"),
    (lambda: markouts([0], [[1]], [1.0], [0], [1.0]), "fill_side must be 1-D, got shape (1, 1)"),
    (lambda: daily_returns([5, 7, 6], [1.0, 1.0, 1.0]), "ts_ns must be non-decreasing, got 6 at index 2 after 7"),
    (lambda: TradingMetrics().on_fill(0, 1, math.nan, 1.0), "qty must be a finite number, got nan"),
    (lambda: TradingMetrics().on_fill(0, 1, 1.0, -2.0), "price must be > 0, got -2.0"),
])
def test_messages_word_for_word(call, message):
    with pytest.raises(InvalidInputError) as e:
        call()
    assert str(e.value) == message


def test_empty_daily_returns_keep_their_dtypes():
    days, r = daily_returns([], [])
    assert days.dtype == np.int64 and r.dtype == np.float64
    days, r = TradingMetrics().daily_returns(100.0)
    assert days.dtype == np.int64 and r.dtype == np.float64 and days.size == r.size == 0


@pytest.mark.parametrize("call, message", [
    (lambda: daily_returns(None, []), "ts_ns must be a 1-D array of int64 ns times, got None"),
    (lambda: daily_returns([[1]], [1.0]), "ts_ns must be a 1-D array of int64 ns times, got shape (1, 1)"),
    (lambda: markouts([0.5], [1], [1.0], [0], [1.0]),
     "fill_ts must hold integer ns since the epoch (int64), got dtype float64"),
    (lambda: markouts([0], [1], [1.0], [0.5], [1.0]),
     "mid_ts must hold integer ns since the epoch (int64), got dtype float64"),
])
def test_time_array_messages_word_for_word(call, message):
    with pytest.raises(InvalidInputError) as e:
        call()
    assert str(e.value) == message


def test_ragged_times_are_refused_with_the_name():
    with pytest.raises(InvalidInputError, match=r"^ts_ns must be a 1-D array of int64 ns times: "):
        daily_returns([[1], [1, 2]], [1.0])


def test_narrow_integer_times_are_widened_to_int64():
    # int32 times (small, but integers) are taken as int64: 0 and 5 ns fall in day 0, close 2.0,
    # measured against the first equity 1.0 -> +100 %
    days, r = daily_returns(np.array([0, 5], dtype=np.int32), [1.0, 2.0])
    assert days.tolist() == [0] and days.dtype == np.int64 and r.tolist() == [1.0]
    # markouts: a buy at 1.0 at t=0, the mid 1.5 at t=3; horizon 3 -> +0.5 in price units
    got = markouts(np.array([0], dtype=np.int32), [1], [1.0], np.array([0, 3], dtype=np.int16), [1.0, 1.5],
                   horizons_ns=np.array([3], dtype=np.int8), in_bps=False)
    assert got.tolist() == [[0.5]]


def test_reprs():
    dd = DrawdownTracker()
    assert repr(dd) == "DrawdownTracker(n_updates=0, peak=nan, drawdown=nan, max_drawdown=nan, max_drawdown_pct=nan)"
    for e in (100.0, 120.0, 90.0):          # peak 120, drawdown 30 = 0.25 of the peak
        dd.update(e)
    assert repr(dd) == ("DrawdownTracker(n_updates=3, peak=120.0, drawdown=30.0, max_drawdown=30.0, "
                        "max_drawdown_pct=0.25)")
    tm = TradingMetrics()
    tm.on_equity(0, 100.0)
    tm.on_equity(1, 101.0)
    tm.on_fill(0, 1, 1.0, 100.0)
    tm.on_round_trip(0, 1, 1, 1.0, 100.0, 101.0)
    tm.on_round_trip(1, 2, -1, 1.0, 101.0, 100.0)
    assert repr(tm) == "TradingMetrics(equity_updates=2, fills=1, round_trips=2)"


def test_markouts_keep_integer_ns_at_epoch_scale():
    # at 1.7e18 ns a float64 has a 256 ns resolution; t0 + h and t0 + h + 1 must stay apart:
    # the mid at t0 + 100 ms is the one stamped t0 (100.0), the 101.0 comes 1 ns too late
    t0 = 1_700_000_000_000_000_000
    h = 100_000_000
    got = markouts([t0], [1], [100.0], [t0, t0 + h + 1], [100.0, 101.0], horizons_ns=(h,), in_bps=False)
    assert got.tolist() == [[0.0]]


def test_markout_horizon_messages_and_the_int64_edge():
    with pytest.raises(InvalidInputError) as e:
        markouts([0], [1], [1.0], [0], [1.0], horizons_ns=[5, 0, -3])
    assert str(e.value) == "horizons_ns must be >= 0, got -3"          # the first negative one
    # fill_ts + h == 2**63 - 1 exactly still fits in int64 (mid series ends earlier: NaN)
    top = 2 ** 63 - 1
    assert np.isnan(markouts([top - 10], [1], [1.0], [0], [1.0], horizons_ns=[10])).all()
    with pytest.raises(InvalidInputError) as e:
        markouts([top - 10], [1], [1.0], [0], [1.0], horizons_ns=[11])
    assert str(e.value) == f"fill_ts + horizons_ns overflows int64: {top - 10} + 11"


def test_profit_factor_small_amounts():
    # wins 0.5 + 2 = 2.5, losses 1 (the 0.5 win is not a loss) -> 2.5
    assert profit_factor([0.5, 2.0, -1.0]) == 2.5
    # losses below 1 still count: 1 / 0.5 = 2
    assert profit_factor([1.0, -0.5]) == 2.0
    with pytest.raises(InvalidInputError) as e:
        profit_factor([1.0, math.nan])
    assert str(e.value) == "pnl must be finite, got nan at index 1"


def test_profit_factor_zero_trades_change_nothing_to_the_bit():
    # numpy sums in 8 partial sums, so an extra 0.0 among the summed values would shift the
    # grouping: sum(1e16, 1 x 7) is 1e16 + 6 in that order but 1e16 + 8 with a 0.0 first.
    # Zero trades are on neither side, so the sums are over the wins / losses alone.
    wins = [1e16] + [1.0] * 7
    assert profit_factor([0.0] + wins + [-1.0]) == float(np.sum(np.array(wins))) == 1.0000000000000006e16
    losses = [-1e16] + [-1.0] * 7
    assert profit_factor([3.0, 0.0] + losses) == 3.0 / -float(np.sum(np.array(losses)))


def test_sharpe_ddof_edges():
    r = [0.01, 0.02]
    assert math.isnan(sharpe(r, ddof=2))        # n - ddof = 0: undefined (not mean / inf = 0)
    assert math.isnan(sharpe([0.01], ddof=0))    # one value: no spread
    # ddof=0 on two values: population std 0.005, mean 0.015 -> 3
    assert sharpe(r, ddof=0) == pytest.approx(3.0, rel=1e-12)
    for bad, shown in ((1.5, "1.5"), (True, "True"), (np.bool_(False), "False")):
        with pytest.raises(InvalidInputError) as e:
            sharpe(r, ddof=bad)
        assert str(e.value) == f"ddof must be an integer >= 0, got {shown}"
    assert sharpe(r, ddof=np.int64(1)) == sharpe(r)


def test_sortino_of_one_period_and_target_message():
    # one return -1 % against target 0: DD = 0.01, (mean - 0) / DD = -1
    assert sortino([-0.01]) == -1.0
    with pytest.raises(InvalidInputError) as e:
        sortino([0.1], target=math.nan)
    assert str(e.value) == "target must be a finite number, got nan"


def test_empty_ratios_raise_no_warning():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(sortino([])) and math.isnan(sharpe([])) and math.isnan(sharpe([], ddof=0))
        assert math.isnan(sharpe([0.01, 0.02], ddof=2)) and math.isnan(profit_factor([]))


def test_fresh_tracker_state():
    dd = DrawdownTracker()
    assert math.isnan(dd.peak) and math.isnan(dd.equity) and math.isnan(dd.drawdown)
    assert math.isnan(dd.drawdown_pct) and math.isnan(dd.max_drawdown_pct)
    assert dd.peak_index == -1 and dd.trough_index == -1
    assert dd.peak_ts_ns is None and dd.max_drawdown_peak_ts_ns is None
    assert dd.max_drawdown_trough_ts_ns is None and dd.last_ts_ns is None
    # untimed updates leave the times None
    dd.update(5.0)
    dd.update(4.0)
    assert dd.peak_ts_ns is None and dd.max_drawdown_trough_ts_ns is None and dd.last_ts_ns is None
    assert (dd.equity, dd.drawdown, dd.drawdown_pct, dd.trough_index) == (4.0, 1.0, 0.2, 1)


def test_tracker_time_message():
    with pytest.raises(InvalidInputError) as e:
        DrawdownTracker().update(1.5, 1.0)
    assert str(e.value) == "ts_ns must be an integer time in ns since the epoch, got 1.5"
    dd = DrawdownTracker()
    dd.update(10, 1.0)
    with pytest.raises(InvalidInputError) as e:
        dd.update(9, 1.0)
    assert str(e.value) == "ts_ns must be non-decreasing, got 9 after 10"


def test_accumulator_messages_and_defaults():
    tm = TradingMetrics()
    for call, message in (
            (lambda: tm.on_fill(1.5, 1, 1.0, 1.0), "ts_ns must be an integer time in ns since the epoch, got 1.5"),
            (lambda: tm.on_equity(0, 1.0, math.inf), "position_notional must be a finite number, got inf"),
            (lambda: tm.daily_returns(0), "initial_capital must be > 0, got 0"),
            (lambda: tm.summary(-1.0), "initial_capital must be > 0, got -1.0")):
        with pytest.raises(InvalidInputError) as e:
            call()
        assert str(e.value) == message
    # without a notional the account is flat: exposure 0 over [0, 10]
    tm.on_equity(0, 100.0)
    tm.on_equity(10, 100.0)
    assert tm.summary(100.0)["exposure"] == 0.0
    # a day closing at exactly 0 has no defined next return: refused, with the value
    tm.on_equity(20, 0.0)
    with pytest.raises(InvalidInputError) as e:
        tm.daily_returns(100.0)
    assert str(e.value) == "daily returns need equity > 0 at every UTC day's close, got 0.0"
    assert tm.summary(100.0)["sharpe_daily"] is None


def test_round_trip_details():
    tm = TradingMetrics()
    for call, message in (
            (lambda: tm.on_round_trip(0.5, 1, 1, 1.0, 1.0, 1.0),
             "entry_ts must be an integer time in ns since the epoch, got 0.5"),
            (lambda: tm.on_round_trip(0, 1, 1, 1.0, 1.0, 0.0), "exit_price must be > 0, got 0.0"),
            (lambda: tm.on_round_trip(0, 1, 1, 1.0, 1.0, 1.0, math.nan), "gross_pnl must be a finite number, got nan"),
            (lambda: tm.on_round_trip(0, 1, 1, 1.0, 1.0, 1.0, "1"), "gross_pnl must be a finite number, got '1'")):
        with pytest.raises(InvalidInputError) as e:
            call()
        assert str(e.value) == message
    # entered and exited in the same ns: allowed. A given gross PnL (an inverse contract, funding)
    # replaces side * qty * (exit - entry) = 1 * 2 * (101 - 100) = 2
    tm.on_round_trip(5, 5, 1, 2.0, 100.0, 101.0, gross_pnl=7.5, fees=0.5)
    s = tm.summary(1000.0)
    assert (s["gross_pnl"], s["fees"], s["net_pnl"], s["n_trades"], s["initial_capital"]) == (7.5, 0.5, 7.0, 1, 1000.0)
    assert s["avg_win"] == 7.0 and s["avg_loss"] is None


def test_summary_raises_no_warning_without_wins_or_losses():
    import warnings
    tm = TradingMetrics()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = tm.summary(1000.0)
        assert s["avg_win"] is None and s["avg_loss"] is None
        tm.on_round_trip(0, 1, 1, 1.0, 100.0, 100.0)          # a flat trade: neither a win nor a loss
        s = tm.summary(1000.0)
        assert (s["n_trades"], s["n_wins"], s["n_losses"], s["win_rate"]) == (1, 0, 0, 0.0)
        assert s["avg_win"] is None and s["avg_loss"] is None and s["profit_factor"] is None


def test_exposure_over_one_nanosecond():
    tm = TradingMetrics()
    tm.on_equity(0, 100.0, 5.0)
    tm.on_equity(1, 100.0)
    assert tm.summary(100.0)["exposure"] == 1.0


def test_markouts_in_price_units_do_not_compute_bps():
    # a fill price of 1e-306 is finite and > 0; its bps scale 1e4 / 1e-306 would overflow, and
    # in price units it is not needed: no warning, the plain difference 2e-306 - 1e-306
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = markouts([0], [1], [1e-306], [0], [2e-306], horizons_ns=[0], in_bps=False)
    assert got.tolist() == [[2e-306 - 1e-306]]


# ---------------------------------------------------------------------------- deterministic twins
# of what the hypothesis properties above find by search: each case fails on its own
def _rows(tm, ts, eq, pos):
    for t, e, p in zip(ts, eq, pos):
        tm.on_equity(int(t), float(e), float(p))
    return tm


@pytest.mark.parametrize("batches", [
    [[100.0], [110.0, 120.0, 90.0]],        # a second batch with a new peak at its index 1 (row 2)
    [[100.0, 95.0], [80.0]],                # its largest drawdown peaks in the batch before (row 0)
    [[100.0], [110.0, 105.0]],              # a new peak at the second batch's first row
    [[100.0], [90.0]],                      # the previous peak carries over: drawdown 10
    [[5.0], [1.0, 4.0, 2.0]],               # ends with drawdown 2 below 4 (dd[-2] = 0, peak[1] = 5)
    [[1.0], [2.0, 4.0, 3.0]],               # ends 1 below 4 (peak[1] = 2)
    [[-5.0, -6.0, 3.0]],                    # the last row a first positive peak: 0 / 3 = 0.0
    [[0.0, 3.0]],                           # the peak before the last is 0
    [[0.0, -1.0]],                          # peak 0: no fraction (NaN), not 1 / 0
    [[0.0, -1.0, 5.0, 4.0]],                # fractions only where the peak is > 0: 1 / 5
    [[-1.0], [-2.0, -3.0]],                 # never above 0
    [[7.0]], [[7.0], [6.0]], [[7.0], [8.0]],  # batches of one row
])
def test_equity_batches_by_hand(batches):
    flat = [e for b in batches for e in b]
    ts = [M0 + 10 * i for i in range(len(flat))]
    pos = [0.0] * len(flat)
    one = _rows(TradingMetrics(), ts, flat, pos)
    many = TradingMetrics()
    k = 0
    for b in batches:
        many._equity_batch(np.array(ts[k:k + len(b)], dtype=np.int64), np.array(b), np.zeros(len(b)))
        k += len(b)
    assert _state(many) == _state(one)
    d = many.drawdown
    # by hand from the definitions: running peak, drawdown = peak - last, the fraction of the
    # peak only where the peak is > 0
    peak = max(flat)
    assert d.peak == peak and d.drawdown == peak - flat[-1] and d.equity == flat[-1]
    if peak > 0.0:
        assert d.drawdown_pct == (peak - flat[-1]) / peak and math.copysign(1.0, d.drawdown_pct) == 1.0
    else:
        assert math.isnan(d.drawdown_pct)
    amount = max(max(flat[:j + 1]) - flat[j] for j in range(len(flat)))
    trough = next(j for j in range(len(flat)) if max(flat[:j + 1]) - flat[j] == amount)
    top = max(i for i in range(trough + 1) if flat[i] == max(flat[:trough + 1]))
    assert (d.max_drawdown, d.trough_index, d.peak_index) == (amount, trough, top)
    assert (d.max_drawdown_peak_ts_ns, d.max_drawdown_trough_ts_ns) == (ts[top], ts[trough])
    last_top = max(i for i in range(len(flat)) if flat[i] == peak)
    assert d.peak_ts_ns == ts[last_top]
    fracs = [(max(flat[:j + 1]) - flat[j]) / max(flat[:j + 1]) for j in range(len(flat)) if max(flat[:j + 1]) > 0]
    assert same(d.max_drawdown_pct, max(fracs) if fracs else math.nan)


def test_tracker_peaks_at_or_below_zero_and_equal_times():
    dd = DrawdownTracker()
    dd.update(10, 0.0)
    assert dd.update(10, -1.0) == 1.0                # equal times are allowed; peak 0: no fraction
    assert math.isnan(dd.drawdown_pct) and math.isnan(dd.max_drawdown_pct)
    dd.update(11, 0.5)
    assert dd.update(11, 0.25) == 0.25               # a peak of 0.5 (<= 1) has fractions: 0.25 / 0.5
    assert dd.drawdown_pct == 0.5 and dd.max_drawdown_pct == 0.5
    assert max_drawdown([0.5, 0.25]) == (0.25, 0.5, 0, 1)
    tm = TradingMetrics()
    tm.on_equity(5, 1.0)
    tm.on_equity(5, 2.0)                              # equal times: allowed, the later value counts
    assert tm.summary(1.0)["final_equity"] == 2.0


def test_equity_batches_exposure_and_days():
    # rows (hour, equity, notional): the notional after a row holds until the next row
    # batch 1: day 0 01:00 (+5), 02:00 (0), 03:00 (+1) | batch 2: 04:00 (0), day 1 01:00 (+2),
    # day 1 02:00 (-2), day 2 01:00 (0)
    ts = [M0 + H, M0 + 2 * H, M0 + 3 * H, M0 + 4 * H, M0 + D + H, M0 + D + 2 * H, M0 + 2 * D + H]
    eq = [100.0, 101.0, 99.0, 98.0, 102.0, 103.0, 104.0]
    pos = [5.0, 0.0, 1.0, 0.0, 2.0, -2.0, 0.0]
    one = _rows(TradingMetrics(), ts, eq, pos)
    many = TradingMetrics()
    many._equity_batch(np.array(ts[:3]), np.array(eq[:3]), np.array(pos[:3]))
    assert many._last_exposed is True and many._exposed_ns == H           # 01:00 -> 02:00
    many._equity_batch(np.array(ts[3:]), np.array(eq[3:]), np.array(pos[3:]))
    assert _state(many) == _state(one)
    # exposed 01-02 h, 03-04 h (across the batches), day 1 01:00 -> day 2 01:00 = 1 + 1 + 24 h
    assert many._exposed_ns == 26 * H and many._days == [M0 // D, M0 // D + 1, M0 // D + 2]
    assert many._closes == [98.0, 103.0, 104.0] and many._last_exposed is False
    s = many.summary(100.0)
    assert s["exposure"] == pytest.approx(26 / 48, rel=1e-12) and s["n_days"] == 3


def test_default_gross_pnl_scales_with_qty_and_side():
    tm = TradingMetrics()
    tm.on_round_trip(0, 1, -1, 2.0, 100.0, 95.0)                      # -1 * 2 * (95 - 100) = +10
    tm.on_round_trip(1, 2, "Buy", 4.0, 50.0, 49.5, fees=0.25)         # 4 * (49.5 - 50) = -2
    s = tm.summary(1000.0)
    assert (s["gross_pnl"], s["fees"], s["net_pnl"]) == (8.0, 0.25, 7.75)
    assert (s["avg_win"], s["avg_loss"], s["profit_factor"]) == (10.0, -2.25, 10.0 / 2.25)


def test_summary_with_equity_below_one_and_an_overflowing_annualisation():
    # capital 1, closes 0.5 (day 0) and 0.6 (day 1): daily returns -0.5 and 0.2
    tm = TradingMetrics()
    tm.on_equity(M0, 0.5)
    tm.on_equity(M0 + D, 0.6)
    r = [-0.5, 0.6 / 0.5 - 1.0]
    s = tm.summary(1.0)
    assert s["sharpe_daily"] == pytest.approx(statistics.mean(r) / statistics.stdev(r) * SQ365, rel=1e-12)
    assert s["sortino_daily"] == pytest.approx(statistics.mean(r) / math.sqrt(0.25 / 2) * SQ365, rel=1e-12)
    # 100x in one second: (100) ** (seconds in a year) overflows -> +inf, reported as None
    big = TradingMetrics()
    big.on_equity(0, 1.0)
    big.on_equity(S, 100.0)
    s = big.summary(1.0)
    assert s["annualized_return"] is None and s["calmar"] is None and s["return_pct"] == 99.0
