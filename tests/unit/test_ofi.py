"""OFI family: hand-derived worked examples (CKS e_n, intervals, XGH multi-level rows, CCZ
normalised and integrated values), the streaming calculators fed by a real OrderBook, and bad input.

Every expected number below is derived by hand in the comment next to it from the case tables of
../shared/reference/microstructure.md §1.1, §2.1 and §3.1.
"""
from __future__ import annotations

import datetime
import math

import numpy as np
import pytest

from ofi import OrderBook
from ofi.errors import InvalidInputError, OfiError
from ofi.orderflow import (
    MultiLevelOFI,
    OrderFlowCalculator,
    integrated_ofi,
    integration_weights,
    ofi_events,
    ofi_intervals,
    ofi_window_sum,
    price_impact,
)

S = 1_000_000_000  # ns per second

# The L1 worked example: every bid case (>, =, <) and every ask case (<, =, >).
#       bp    bq   ap    aq
L1 = [(10.0, 5.0, 12.0, 3.0),   # 0: first state, no e_n
      (10.0, 6.0, 12.0, 3.0),   # 1: bid =, W = 6-5 = 1; ask =, V = 0                    -> 1
      (10.0, 4.0, 11.5, 1.0),   # 2: bid =, W = 4-6 = -2; ask improved <, V = +1          -> -3
      (11.0, 2.0, 12.0, 2.0),   # 3: bid >, W = +2; ask worse >: CKS V = -1 (prev q)      -> 3
      #                              CCZ V = -2 (current q)                               -> 4
      (11.0, 3.0, 12.0, 2.0),   # 4: bid =, W = 1; ask =, V = 0                           -> 1
      (10.0, 7.0, 12.0, 2.0),   # 5: bid <: CKS W = -3 (prev q), CCZ W = -7; ask = 0       -> -3 / -7
      (10.0, 7.0, 11.0, 4.0),   # 6: bid =, W = 0; ask <, V = +4                          -> -4
      (10.0, 1.0, 11.0, 4.0)]   # 7: bid =, W = -6; ask =, V = 0                          -> -6
L1_CKS = [math.nan, 1, -3, 3, 1, -3, -4, -6]
L1_CCZ = [math.nan, 1, -3, 4, 1, -7, -4, -6]


def cols(rows):
    return [np.array(c) for c in zip(*rows)]


def test_l1_worked_example_cks_and_ccz():
    bp, bq, ap, aq = cols(L1)
    np.testing.assert_array_equal(ofi_events(bp, bq, ap, aq), L1_CKS)
    np.testing.assert_array_equal(ofi_events(bp, bq, ap, aq, variant="ccz"), L1_CCZ)


def test_strict_inequalities_would_fail_this_example():
    # the common bug: strict > / < in all four terms drops the '=' case (size changes at unchanged
    # prices); on this example it would give 0 at event 1 instead of 1.
    bp, bq, ap, aq = cols(L1[:2])
    assert ofi_events(bp, bq, ap, aq)[1] == 1.0


def test_invalid_states_are_skipped_and_not_used_as_previous():
    rows = [L1[0],
            (12.0, 1.0, 12.0, 1.0),     # locked: skipped
            (13.0, 1.0, 12.0, 1.0),     # crossed: skipped
            (math.nan, 1.0, 12.0, 1.0),  # bid side missing: skipped
            (10.0, 0.0, 12.0, 1.0),     # zero-size best bid: skipped
            L1[1]]                      # differenced against row 0 -> 1
    bp, bq, ap, aq = cols(rows)
    e = ofi_events(bp, bq, ap, aq)
    assert np.isnan(e[:5]).all() and e[5] == 1.0


def test_reset_breaks_the_chain():
    bp, bq, ap, aq = cols(L1)
    reset = np.zeros(len(L1), bool)
    reset[3] = True
    e = ofi_events(bp, bq, ap, aq, reset=reset)
    assert np.isnan(e[3])
    np.testing.assert_array_equal(e[4:], L1_CKS[4:])
    np.testing.assert_array_equal(e[1:3], L1_CKS[1:3])


def test_duplicate_state_gives_zero():
    bp, bq, ap, aq = cols([L1[0], L1[0]])
    assert ofi_events(bp, bq, ap, aq)[1] == 0.0


def test_interval_worked_example():
    # ts = 0, 4, 8, ... 28 s; interval 10 s on the grid: (-10, 0], (0, 10], (10, 20], (20, 30].
    ts = np.arange(8, dtype=np.int64) * 4 * S
    bp, bq, ap, aq = cols(L1)
    r = ofi_intervals(ts, bp, bq, ap, aq, 10 * S, tick_size=0.5)
    np.testing.assert_array_equal(r.end_ns, [0, 10 * S, 20 * S, 30 * S])
    # (-10, 0]: only the first state (no e_n); (0,10]: 1 - 3; (10,20]: 3 + 1 - 3; (20,30]: -4 - 6
    np.testing.assert_array_equal(r.ofi, [0, -2, 1, -10])
    np.testing.assert_array_equal(r.n_events, [0, 2, 3, 2])
    # mid 11 -> 10.75 (row 2) -> 11 (row 5) -> 10.5 (row 7); in ticks of 0.5
    np.testing.assert_array_equal(r.dmid, [0, -0.5, 0.5, -1.0])
    # depth: mean of (bq + aq)/2 over the interval's events:
    # (4.5 + 2.5)/2 = 3.5; (2 + 2.5 + 4.5)/3 = 3; (5.5 + 2.5)/2 = 4
    assert np.isnan(r.depth[0])
    np.testing.assert_array_equal(r.depth[1:], [3.5, 3.0, 4.0])
    # interval sums add up to the event sums
    assert r.ofi.sum() == np.nansum(L1_CKS)
    np.testing.assert_array_equal(r.normalized[1:], [-2 / 3.5, 1 / 3.0, -10 / 4.0])


def test_interval_grid_is_right_closed_and_keeps_empty_intervals():
    ts = np.array([1, 5 * S, 35 * S], dtype=np.int64)   # nothing in (10, 30]
    bp, bq, ap, aq = cols([L1[0], L1[1], L1[2]])
    r = ofi_intervals(ts, bp, bq, ap, aq, datetime.timedelta(seconds=10))
    np.testing.assert_array_equal(r.end_ns, [10 * S, 20 * S, 30 * S, 40 * S])
    np.testing.assert_array_equal(r.ofi, [1, 0, 0, -3])
    np.testing.assert_array_equal(r.n_events, [1, 0, 0, 1])
    np.testing.assert_array_equal(r.dmid, [0, 0, 0, -0.25])
    # an event exactly on a boundary belongs to the interval that ends there
    r2 = ofi_intervals(np.array([1, 10 * S], dtype=np.int64), *cols([L1[0], L1[1]]), 10 * S)
    np.testing.assert_array_equal(r2.end_ns, [10 * S])
    np.testing.assert_array_equal(r2.ofi, [1])


# The 3-level worked example (XGH): the rank shift after the best ask is depleted.
B0 = [(99.0, 5.0), (98.0, 7.0), (97.0, 9.0)]
A0 = [(100.0, 4.0), (101.0, 6.0), (102.0, 8.0)]
A1 = [(101.0, 6.0), (102.0, 8.0), (103.0, 10.0)]      # best ask 100 emptied
B2 = [(99.5, 2.0), (99.0, 5.0), (98.0, 7.0)]          # a new best bid 99.5
B3 = [(99.5, 2.0), (99.0, 3.0), (98.0, 7.0)]          # level 2 bid 5 -> 3
ML_STATES = [(B0, A0), (B0, A1), (B2, A1), (B3, A1)]


def ml_arrays(states):
    bp = np.array([[p for p, _ in b] for b, _ in states])
    bq = np.array([[q for _, q in b] for b, _ in states])
    ap = np.array([[p for p, _ in a] for _, a in states])
    aq = np.array([[q for _, q in a] for _, a in states])
    return bp, bq, ap, aq


def test_mlofi_worked_rows():
    e = ofi_events(*ml_arrays(ML_STATES))
    assert np.isnan(e[0]).all()
    # row 1: every ask level worsened (>): V = -q_prev -> e = +4, +6, +8 (the rank-shift artefact)
    np.testing.assert_array_equal(e[1], [4, 6, 8])
    # row 2: every bid level improved (>): W = +q_cur -> 2, 5, 7
    np.testing.assert_array_equal(e[2], [2, 5, 7])
    # row 3: level-2 bid 5 -> 3 at the same price
    np.testing.assert_array_equal(e[3], [0, -2, 0])
    # CCZ counts the current queue when the price worsens: 6, 8, 10
    np.testing.assert_array_equal(ofi_events(*ml_arrays(ML_STATES), variant="ccz")[1], [6, 8, 10])
    # level 1 alone is the CKS best-level e_n
    bp, bq, ap, aq = ml_arrays(ML_STATES)
    np.testing.assert_array_equal(ofi_events(bp[:, 0], bq[:, 0], ap[:, 0], aq[:, 0])[1:], e[1:, 0])


def test_mlofi_missing_levels():
    # ask level 2 missing (NaN price) at state 0, appears at 101 x 6 at state 1: V = +6 -> e = -6;
    # bid level 2 present (98 x 7), then gone (size 0): W = -7 -> e = -7; total level 2: -13
    bp = np.array([[99.0, 98.0], [99.0, 98.0]])
    bq = np.array([[5.0, 7.0], [5.0, 0.0]])
    ap = np.array([[100.0, np.nan], [100.0, 101.0]])
    aq = np.array([[4.0, 0.0], [4.0, 6.0]])
    np.testing.assert_array_equal(ofi_events(bp, bq, ap, aq)[1], [0, -13])
    # two missing levels contribute 0
    bp2 = np.array([[99.0, np.nan], [99.0, np.nan]])
    bq2 = np.array([[5.0, 0.0], [6.0, 0.0]])
    np.testing.assert_array_equal(ofi_events(bp2, bq2, ap[:, :1].repeat(2, 1) * [1, np.nan],
                                             aq[:, :1].repeat(2, 1) * [1, 0])[1], [1, 0])


def test_normalised_and_integrated_worked_values():
    ts = np.array([1, 2, 3, 4], dtype=np.int64) * S
    r = ofi_intervals(ts, *ml_arrays(ML_STATES), 60 * S)
    assert len(r) == 1
    # OFI^m = [4+2+0, 6+5-2, 8+7+0] = [6, 9, 15]
    np.testing.assert_array_equal(r.ofi[0], [6, 9, 15])
    # Q^3 = mean over the 3 events of sum_m (qb + qa) / 6: (21+24)/6, (14+24)/6, (12+24)/6
    #     = 7.5, 38/6, 6 -> (7.5 + 38/6 + 6) / 3 = 119/18
    assert r.depth[0] == pytest.approx(119 / 18, rel=1e-15)
    np.testing.assert_allclose(r.normalized[0], np.array([108, 162, 270]) / 119, rtol=1e-15)
    # integrated with w = [1, 2, 1]: (108 + 324 + 270) / 119 / 4 = 702 / 476
    assert integrated_ofi(r.normalized, [1, 2, 1])[0] == pytest.approx(702 / 476, rel=1e-15)


def test_integration_weights_first_principal_component():
    rng = np.random.default_rng(1)
    f = rng.normal(size=2000)
    # three levels loading 1, 2, 3 on one factor plus small noise: PC1 ~ (1, 2, 3) / 6
    x = np.outer(f, [1.0, 2.0, 3.0]) + 0.01 * rng.normal(size=(2000, 3))
    w, explained = integration_weights(x)
    np.testing.assert_allclose(w, np.array([1, 2, 3]) / 6, atol=2e-3)
    assert explained > 0.99
    # the sign is fixed so the weights sum positive, whatever eigh returns
    w2, _ = integration_weights(-x)
    np.testing.assert_allclose(w2, w, atol=1e-12)
    assert abs(np.abs(w).sum() - 1) < 1e-12


def test_price_impact_recovers_a_known_slope():
    rng = np.random.default_rng(7)
    ofi = rng.normal(scale=100, size=5000)
    dmid = 0.5 + 0.02 * ofi + rng.normal(scale=0.1, size=5000)
    fit = price_impact(ofi, dmid)
    assert fit.beta == pytest.approx(0.02, rel=0.01)
    assert fit.alpha == pytest.approx(0.5, abs=0.01)
    assert fit.r2 > 0.9 and fit.t_stat > 100 and fit.n == 5000
    # rolling: the last row equals the fit on the last window
    roll = price_impact(ofi, dmid, window=500)
    last = price_impact(ofi[-500:], dmid[-500:])
    assert roll.beta[-1] == pytest.approx(last.beta, rel=1e-9)
    assert np.isnan(roll.beta[:499]).all()
    # a constant OFI gives NaN, not inf
    assert math.isnan(price_impact(np.ones(10), np.arange(10.0)).beta)


# ---------------------------------------------------------------------------- streaming, books
def book_with(states, tick="0.5"):
    """An OrderBook and a function that moves it to each best-level state by full snapshots with
    contiguous u (so the chain continues), ts in seconds."""
    book = OrderBook("BTCUSDT", tick_size=tick)
    tick_f = float(tick)

    def put(i, u=None, ts=None):
        bp, bq, ap, aq = states[i]
        book.apply_levels(np.array([round(bp / tick_f)]), np.array([bq]), np.array([round(ap / tick_f)]),
                          np.array([aq]), snapshot=True, update_id=u if u is not None else i + 2,
                          ts_exch=(ts if ts is not None else i * 4) * S)
        return book
    return book, put


def test_calculator_on_a_book_matches_the_worked_example():
    calc = OrderFlowCalculator(interval=10 * S)
    book, put = book_with(L1)
    got = [calc.update(put(i)) for i in range(len(L1))]
    assert got[0] is None
    assert got[1:] == L1_CKS[1:]
    assert calc.cumulative() == -11
    # all events are within the last minute
    assert calc.ofi_1min() == -11 and calc.ofi_5min() == -11
    # closed intervals so far: (-10, 0], (0, 10], (10, 20]; the one ending at 30 s is open
    assert calc.last_interval() == (20 * S, 1.0, 0.5, 3.0, 3)
    assert calc.open_interval() == (30 * S, -10.0, 2)


def test_calculator_breaks_the_chain_on_a_new_book_epoch():
    calc = OrderFlowCalculator()
    book, put = book_with(L1)
    calc.update(put(0))
    assert calc.update(put(1)) == 1.0
    # a gap: the delta is refused, the book goes stale, the calculator returns None
    with pytest.raises(OfiError):
        book.apply_levels(np.array([20]), np.array([1.0]), np.array([], dtype=np.int64),
                          np.array([]), update_id=100)
    assert book.stale and calc.update(book) is None
    # the resync snapshot starts a new epoch: no e_n across the gap
    epoch = book.epoch
    put(2, u=200)
    assert book.epoch == epoch + 1
    assert calc.update(book) is None
    assert calc.update(put(3, u=201)) == 3.0
    assert calc.breaks == 1
    # Bybit's u = 1 (service restart) is a new epoch too
    put(4, u=1)
    assert calc.update(book) is None


def test_depth1_snapshots_continue_the_chain():
    # Bybit's orderbook.1 sends only snapshots; with increasing u they continue one history.
    calc = OrderFlowCalculator()
    book, put = book_with(L1)
    e = [calc.update(put(i, u=10 + 3 * i)) for i in range(len(L1))]
    assert e[1:] == L1_CKS[1:]


def test_windows_slide_by_exchange_time():
    calc = OrderFlowCalculator(windows=(10 * S, 60 * S))
    # one state per second, e_n = +1 each time (bid size grows by 1)
    for i in range(100):
        calc.update_quote(i * S, 100.0, 1.0 + i, 101.0, 1.0)
    # (89 s, 99 s] holds 10 events; (39, 99] holds 60
    assert calc.window(10 * S) == 10.0
    assert calc.window(60 * S) == 60.0
    assert calc.cumulative() == 99.0
    with pytest.raises(InvalidInputError, match="not configured"):
        calc.window(30 * S)


def test_z_score_against_hand_numbers():
    calc = OrderFlowCalculator(interval=S, zscore_window=3, history=10)
    # interval OFIs: 1, 2, 3, then 10 (the closing states step the bid size)
    sizes = [1.0, 2.0, 4.0, 7.0, 17.0, 17.0]
    for i, q in enumerate(sizes):
        calc.update_quote(i * S + 1, 100.0, q, 101.0, 1.0)
    # closed intervals: (0,1s]: first state only -> 0; then 1, 2, 3, 10 ... the last 3 closed are
    # 2, 3, 10 (the 17 -> 17 interval is still open): mean 5, sample sd sqrt(19) -> z = 5/sqrt(19)
    assert calc.z_score() == pytest.approx(5 / math.sqrt(19), rel=1e-12)
    # n = 4 over 1, 2, 3, 10: mean 4, var (9 + 4 + 1 + 36)/3 = 50/3 -> z = 6/sqrt(50/3)
    assert calc.z_score(4) == pytest.approx(6 / math.sqrt(50 / 3), rel=1e-12)
    assert calc.z_score(10) is None          # not enough intervals yet
    with pytest.raises(InvalidInputError):
        calc.z_score(11)                     # beyond history


def test_zero_variance_window_gives_none_not_inf():
    calc = OrderFlowCalculator(interval=S, zscore_window=3)
    for i in range(10):
        calc.update_quote(i * S + 1, 100.0, 5.0, 101.0, 1.0)   # e_n = 0 everywhere
    assert calc.z_score() is None
    assert calc.z_score(5) is None


def test_window_sum_batch_equals_streaming():
    rng = np.random.default_rng(3)
    n = 5000
    ts = np.cumsum(rng.integers(1, 3 * S, n)).astype(np.int64)
    bp = 1000 + np.cumsum(rng.integers(-1, 2, n)).astype(float)
    ap = bp + rng.integers(1, 3, n)
    bq = rng.integers(1, 20, n).astype(float)
    aq = rng.integers(1, 20, n).astype(float)
    calc = OrderFlowCalculator(windows=(60 * S,))
    w = []
    for i in range(n):
        calc.update_quote(int(ts[i]), bp[i], bq[i], ap[i], aq[i])
        w.append(calc.window(60 * S))
    batch = ofi_window_sum(ts, ofi_events(bp, bq, ap, aq), 60 * S)
    assert w[0] is None
    np.testing.assert_array_equal(np.array(w[1:], dtype=float), batch[1:])


def test_calculator_refuses_mixed_inputs_and_bad_config():
    calc = OrderFlowCalculator()
    calc.update_quote(1, 1.0, 1.0, 2.0, 1.0)
    book, put = book_with(L1)
    with pytest.raises(InvalidInputError, match="mixed"):
        calc.update(put(0))
    for kw in ({"interval": 0}, {"interval": 1.5}, {"windows": (0,)}, {"zscore_window": 1},
               {"variant": "strict"}, {"history": True}, {"windows": (S, S)}):
        with pytest.raises(InvalidInputError):
            OrderFlowCalculator(**kw)
    with pytest.raises(TypeError):
        calc.update(None)


# ---------------------------------------------------------------------------- multi-level streaming
def ml_book_states(states, tick="0.5"):
    book = OrderBook("BTCUSDT", tick_size=tick)
    t = float(tick)

    def put(i, ts):
        b, a = states[i]
        book.apply_levels(np.array([round(p / t) for p, _ in b]), np.array([q for _, q in b]),
                          np.array([round(p / t) for p, _ in a]), np.array([q for _, q in a]),
                          snapshot=True, update_id=i + 2, ts_exch=ts)
        return book
    return book, put


def test_multilevel_streaming_worked_example():
    mo = MultiLevelOFI(levels=3, interval=60 * S)
    book, put = ml_book_states(ML_STATES)
    assert mo.update(put(0, 1 * S)) is False and np.isnan(mo.last).all()
    assert mo.update(put(1, 2 * S)) is True
    np.testing.assert_array_equal(mo.last, [4, 6, 8])
    mo.update(put(2, 3 * S))
    np.testing.assert_array_equal(mo.last, [2, 5, 7])
    mo.update(put(3, 4 * S))
    np.testing.assert_array_equal(mo.cumulative, [6, 9, 15])
    assert mo.last_interval() is None
    # the next state after 60 s closes the interval
    mo.update(put(3, 61 * S))
    end, ofi_k, depth, dmid, n = mo.last_interval()
    assert end == 60 * S and n == 3
    np.testing.assert_array_equal(ofi_k, [6, 9, 15])
    assert depth == pytest.approx(119 / 18, rel=1e-15)
    mo.set_weights(np.array([1.0, 2.0, 1.0]))
    assert mo.integrated() == pytest.approx(702 / 476, rel=1e-15)
    # dmid: mid 100 - 0.0 ... in ticks of 0.5: (99+100)/2 = 99.5 -> (99.5+101)/2 = 100.25: +1.5 ticks
    assert dmid == pytest.approx(1.5, rel=1e-15)


def test_multilevel_levels_beyond_the_book_are_missing():
    mo = MultiLevelOFI(levels=4, interval=S)
    book, put = ml_book_states(ML_STATES)
    mo.update(put(0, 1))
    mo.update(put(1, 2))
    # level 4 is missing on both sides both times: 0
    assert mo.last[3] == 0.0
    with pytest.raises(ValueError):
        mo.last[0] = 1.0   # read-only view


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad", [
    dict(bid_size=[1.0, -1.0]),
    dict(bid_size=[1.0, np.nan]),
    dict(bid_price=[1.0, np.inf]),
    dict(bid_price=[1.0]),
    dict(ask_size="x"),
    dict(bid_price=None),
])
def test_ofi_events_bad_input(bad):
    args = dict(bid_price=[1.0, 1.0], bid_size=[1.0, 1.0], ask_price=[2.0, 2.0], ask_size=[1.0, 1.0])
    args.update(bad)
    with pytest.raises(InvalidInputError):
        ofi_events(**args)


def test_ofi_intervals_bad_input():
    one = [1.0, 1.0]
    with pytest.raises(InvalidInputError, match="non-decreasing"):
        ofi_intervals([2, 1], one, one, [2.0, 2.0], one, S)
    with pytest.raises(InvalidInputError, match="same length"):
        ofi_intervals([1, 2, 3], one, one, [2.0, 2.0], one, S)
    with pytest.raises(InvalidInputError, match="interval"):
        ofi_intervals([1, 2], one, one, [2.0, 2.0], one, 0)
    with pytest.raises(InvalidInputError, match="interval"):
        ofi_intervals([1, 2], one, one, [2.0, 2.0], one, 0.5)
    with pytest.raises(InvalidInputError, match="variant"):
        ofi_events(one, one, [2.0, 2.0], one, variant="naive")
    with pytest.raises(InvalidInputError, match="reset"):
        ofi_events(one, one, [2.0, 2.0], one, reset=[1, 0])
    with pytest.raises(InvalidInputError):
        price_impact([1.0, 2.0], [1.0])
    with pytest.raises(InvalidInputError):
        integration_weights(np.ones((5, 3)))


@pytest.mark.parametrize("col, value", [(0, np.inf), (2, -np.inf), (1, -1.0), (3, np.nan), (1, np.nan)])
@pytest.mark.parametrize("n", [5, 5000])
def test_ofi_events_malformed_numpy_rows_are_found_by_the_kernel(col, value, n):
    # the numpy fast path leaves the value checks to the kernel; a malformed row anywhere (here
    # in the second block of a long input too) must still raise with its index
    cols_ = [np.full(n, 100.0), np.full(n, 1.0), np.full(n, 101.0), np.full(n, 1.0)]
    cols_[col][n - 2] = value
    with pytest.raises(InvalidInputError, match=f"index {n - 2}"):
        ofi_events(*cols_)


def test_ofi_events_long_input_with_a_late_invalid_row_matches_the_twin():
    from reference import flow as ref
    rng = np.random.default_rng(4)
    n = 7000
    bp = 100 + np.cumsum(rng.integers(-1, 2, n)).astype(float)
    ap = bp + 1
    bq = rng.integers(1, 5, n).astype(float)
    aq = rng.integers(1, 5, n).astype(float)
    ap[5000] = bp[5000]          # one locked state deep in the third block
    got = ofi_events(bp, bq, ap, aq)
    want = ref.ofi_events(bp, bq, ap, aq)
    np.testing.assert_array_equal(got, want)
    out = np.empty(n)
    assert ofi_events(bp, bq, ap, aq, out=out) is out
    with pytest.raises(InvalidInputError, match="out"):
        ofi_events(bp, bq, ap, aq, out=np.empty(n - 1))


def test_public_names_of_the_contract():
    import ofi
    import ofi.orderflow as of
    for name in ("OrderFlowCalculator", "VpinCalculator", "KyleLambda", "ToxicityIndex"):
        assert getattr(ofi, name) is getattr(of, name)
    assert all(hasattr(of, n) for n in of.__all__)
    calc = ofi.OrderFlowCalculator()
    assert calc.ofi_1min() is None and calc.ofi_5min() is None and calc.cumulative() is None
    assert calc.z_score(100) is None


@pytest.mark.parametrize("bad_rows", [[0], [1], [4095], [4096], [4097], [8192, 8193], []])
@pytest.mark.parametrize("variant", ["cks", "ccz"])
def test_block_boundaries_of_the_batch_fast_path(bad_rows, variant):
    from reference import flow as ref
    rng = np.random.default_rng(len(bad_rows) + 7)
    n = 9000
    bp = 100 + np.cumsum(rng.integers(-1, 2, n)).astype(float)
    ap = bp + rng.integers(1, 3, n)
    bq = rng.integers(1, 5, n).astype(float)
    aq = rng.integers(1, 5, n).astype(float)
    for r in bad_rows:
        bq[r] = 0.0          # a state without a best bid: skipped
    got = ofi_events(bp, bq, ap, aq, variant=variant)
    np.testing.assert_array_equal(got, ref.ofi_events(bp, bq, ap, aq, variant))


def test_book_epoch_counts_history_restarts():
    book, put = book_with(L1)
    assert book.epoch == 0
    put(0, u=5)
    assert book.epoch == 1                  # the first snapshot
    put(1, u=6)
    assert book.epoch == 1                  # a snapshot that continues the history
    put(2, u=6)
    assert book.epoch == 1                  # depth-1 re-push of the same u: the same history
    put(3, u=4)
    assert book.epoch == 2                  # u went backwards: a restart
    assert book.copy().epoch == 2
    book.clear()
    assert book.epoch == 3


def test_depth1_stream_of_the_simulator_is_one_chain():
    # orderbook.1 is snapshots only, re-pushed with the same u after 3 s without change
    from ofi.sim.market import SimulatedMarket
    market = SimulatedMarket(symbol="BTCUSDT", tick_size="0.1", qty_step="0.001", depth=1, seed=2)
    book = OrderBook("BTCUSDT", tick_size="0.1")
    calc = OrderFlowCalculator()
    n = 0
    for fr in market.generate(duration_s=120):
        if fr.kind == "book":
            book.apply_frame(fr.raw)
            calc.update(book)
            n += 1
    assert n > 100 and book.epoch == 1 and calc.breaks == 0 and calc.events == n - 1
