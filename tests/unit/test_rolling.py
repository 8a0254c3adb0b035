"""Rolling statistics: ``ofi.orderflow.rolling`` over the kernels of ``ofi._core.rolling``.

Hand-derived numbers, hypothesis parity against the two-pass twin (``reference.rolling``),
streaming == batch bit for bit, zero-variance windows, bad input, and a drift test over 1e7 values
offset by 1e9 (``OFI_SLOW=1`` runs 1e8).
"""
from __future__ import annotations

import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ofi.errors import InvalidInputError, OfiError
from ofi.orderflow import rolling as R
from reference.rolling import slope_atol
from reference import rolling as ref

NAN = math.nan
PARITY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def same(a, b):
    """Equal arrays with NaN in the same places (exact)."""
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# ================================================================================ hand-derived
def test_rolling_mean_by_hand():
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    same(R.rolling_mean(x, 3), [NAN, NAN, 2.0, 3.0, 4.0])
    same(R.rolling_mean(x, 3, min_periods=1), [1.0, 1.5, 2.0, 3.0, 4.0])
    same(R.rolling_mean(x, 1), x)


def test_rolling_var_std_by_hand():
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    same(R.rolling_var(x, 3), [NAN, NAN, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(R.rolling_var(x, 3, ddof=0)[2:], 2.0 / 3.0, rtol=1e-15)
    same(R.rolling_std(x, 3), [NAN, NAN, 1.0, 1.0, 1.0])
    # min_periods=1: one value has no sample variance (k <= ddof), two values 0.5
    same(R.rolling_var(x, 3, min_periods=1)[:2], [NAN, 0.5])


def test_rolling_zscore_by_hand():
    # window [3, 4, 10]: mean 17/3, sample var 129/9, z = (13/3) / sqrt(129/9)
    z = R.rolling_zscore([1.0, 2.0, 3.0, 4.0, 10.0], 3)
    assert math.isnan(z[1])
    assert z[2] == pytest.approx(1.0)  # window [1, 2, 3]: (3 - 2) / 1
    assert z[4] == pytest.approx((13 / 3) / math.sqrt(129 / 9), rel=1e-14)


def test_zero_variance_window_is_nan_not_inf():
    x = [5.0, 5.0, 5.0, 5.0, 7.0, 7.0, 7.0]
    var = R.rolling_var(x, 3)
    z = R.rolling_zscore(x, 3)
    assert var[2] == 0.0 and var[3] == 0.0 and var[6] == 0.0
    assert math.isnan(z[2]) and math.isnan(z[3]) and math.isnan(z[6])
    assert np.isfinite(z[4]) and np.isfinite(z[5])
    assert not np.isinf(z).any()
    # a constant window at a large level: rounding noise of the mean must not give a z-score
    big = np.full(50, 1e9 + 0.1)
    assert np.isnan(R.rolling_zscore(big, 10)[9:]).all()
    assert (R.rolling_var(big, 10)[9:] < 1e-12).all()  # rounding noise of the level 1e9 at most


def test_ewma_by_hand_and_decay_parameters():
    x = [1.0, 2.0, 3.0]
    same(R.ewma(x, alpha=0.5), [1.0, 1.5, 2.25])
    # v1 = .5 * (0 + .5 * 1) = .25; v2 = .5 * (.25 + .5 * 1.5**2) = .6875
    same(R.ewm_var(x, alpha=0.5), [0.0, 0.25, 0.6875])
    for kw in ({"span": 3}, {"halflife": 1}, {"com": 1}):
        np.testing.assert_allclose(R.ewma(x, **kw), [1.0, 1.5, 2.25], rtol=1e-15)
    # the biased weighted variance of the adjust=False weights, computed directly
    rng = np.random.default_rng(3)
    y = rng.normal(size=30)
    a = 0.2
    w = np.array([(1 - a) ** 29] + [a * (1 - a) ** (29 - i) for i in range(1, 30)])
    m = w @ y
    assert R.ewma(y, alpha=a)[-1] == pytest.approx(m, rel=1e-12)
    assert R.ewm_var(y, alpha=a)[-1] == pytest.approx(w @ (y - m) ** 2, rel=1e-12)


def test_rolling_ols_by_hand():
    # last window x [1, 2, 3], y [3, 5, 8]: Sxx 2, Sxy 5, Syy 114/9 -> slope 2.5, a 1/3,
    # RSS 1/6, R^2 1 - (1/6)/(114/9), t = 2.5 / sqrt((1/6) / 1 / 2)
    r = R.rolling_ols([0.0, 1.0, 2.0, 3.0], [1.0, 3.0, 5.0, 8.0], 3)
    assert math.isnan(r.slope[1]) and list(r.n) == [1, 2, 3, 3]
    assert r.slope[3] == pytest.approx(2.5, rel=1e-14)
    assert r.intercept[3] == pytest.approx(1 / 3, rel=1e-13)
    assert r.r2[3] == pytest.approx(1 - (1 / 6) / (114 / 9), rel=1e-12)
    assert r.t_stat[3] == pytest.approx(2.5 / math.sqrt(1 / 12), rel=1e-12)
    # exact fit: slope 2, t undefined (zero residuals) -> NaN, R^2 = 1
    r = R.rolling_ols([0.0, 1.0, 2.0], [1.0, 3.0, 5.0], 3)
    assert r.slope[2] == pytest.approx(2.0) and math.isnan(r.t_stat[2]) and r.r2[2] == 1.0
    # through the origin: x [1, 2], y [2, 4.5] -> slope 11/5, RSS 0.05, t = 2.2 / sqrt(0.05 / 5)
    r = R.rolling_ols([1.0, 2.0], [2.0, 4.5], 2, intercept=False)
    assert r.slope[1] == pytest.approx(2.2, rel=1e-14) and r.intercept[1] == 0.0
    assert r.t_stat[1] == pytest.approx(22.0, rel=1e-12)
    assert r.r2[1] == pytest.approx(1 - 0.05 / 24.25, rel=1e-12)


def test_rolling_ols_constant_x_is_nan():
    r = R.rolling_ols([2.0] * 6, [1.0, 2.0, 0.5, 3.0, 1.0, 2.0], 4)
    assert np.isnan(r.slope).all() and np.isnan(r.t_stat).all()
    assert not np.isinf(np.r_[r.slope, r.intercept, r.t_stat, r.r2]).any()


def test_time_window_sum_by_hand():
    ts = [0, 5, 10, 10, 20]
    total, count = R.time_window_sum(ts, [1.0, 2.0, 3.0, 4.0, 5.0], 10)
    same(total, [1.0, 3.0, 5.0, 9.0, 5.0])
    same(count, [1, 2, 2, 3, 1])
    import datetime as dt
    same(R.time_window_sum(ts, [1.0] * 5, dt.timedelta(microseconds=5)).count, [1, 2, 3, 4, 5])


# ================================================================================ bad input
@pytest.mark.parametrize("call", [
    lambda: R.rolling_mean([1.0, NAN, 2.0], 2),
    lambda: R.rolling_mean([1.0, math.inf], 2),
    lambda: R.rolling_mean(None, 2),
    lambda: R.rolling_mean([[1.0, 2.0]], 2),
    lambda: R.rolling_mean(["a", "b"], 2),
    lambda: R.rolling_mean([1.0, 2.0], 0),
    lambda: R.rolling_mean([1.0, 2.0], 2.0),
    lambda: R.rolling_mean([1.0, 2.0], True),
    lambda: R.rolling_var([1.0, 2.0], 1),
    lambda: R.rolling_var([1.0, 2.0], 2, ddof=2),
    lambda: R.rolling_zscore([1.0, 2.0], 2, min_periods=3),
    lambda: R.rolling_zscore([1.0, 2.0], 2, min_periods=0),
    lambda: R.ewma([1.0], alpha=0.0),
    lambda: R.ewma([1.0], alpha=1.5),
    lambda: R.ewma([1.0], alpha=0.5, span=3),
    lambda: R.ewma([1.0]),
    lambda: R.ewma([1.0], span=0.5),
    lambda: R.ewm_var([1.0], halflife=-1),
    lambda: R.rolling_ols([1.0, 2.0, 3.0], [1.0, 2.0], 3),
    lambda: R.rolling_ols([1.0, 2.0, 3.0], [1.0, 2.0, NAN], 3),
    lambda: R.rolling_ols([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 2),
    lambda: R.rolling_ols([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 1, intercept=False),
    lambda: R.time_window_sum([0, 10, 5], [1.0, 2.0, 3.0], 10),
    lambda: R.time_window_sum([0, 10], [1.0, 2.0, 3.0], 10),
    lambda: R.time_window_sum([0, 10], [1.0, 2.0], 1.5),
    lambda: R.time_window_sum([0, 10], [1.0, 2.0], 0),
    lambda: R.time_window_sum([0.5, 10], [1.0, 2.0], 10),
])
def test_bad_input_raises_invalid_input(call):
    with pytest.raises(InvalidInputError) as info:
        call()
    assert isinstance(info.value, OfiError) and isinstance(info.value, ValueError)
    assert str(info.value)


def test_messages_name_the_argument():
    with pytest.raises(InvalidInputError, match=r"x must be finite, got .*nan.* at index 1"):
        R.rolling_mean([1.0, NAN], 2)
    with pytest.raises(InvalidInputError, match=r"ts must be non-decreasing"):
        R.time_window_sum([0, 10, 5], [1.0, 2.0, 3.0], 10)
    with pytest.raises(InvalidInputError, match=r"same length.*x=3, y=2"):
        R.rolling_ols([1.0, 2.0, 3.0], [1.0, 2.0], 3)


def test_empty_input():
    assert R.rolling_mean([], 3).shape == (0,)
    assert len(R.rolling_ols([], [], 3)) == 0
    assert R.time_window_sum([], [], 5).total.shape == (0,)
    assert R.ewma([], alpha=0.3).shape == (0,)


def test_non_contiguous_and_integer_input_are_coerced():
    x = np.arange(20, dtype=np.int64)[::2]
    same(R.rolling_mean(x, 2), R.rolling_mean(np.ascontiguousarray(x, dtype=float), 2))


def test_streaming_classes_reexported_and_checked():
    m = R.RollingMoments(3)
    with pytest.raises(InvalidInputError):
        m.push(NAN)
    with pytest.raises(InvalidInputError):
        R.EwmMoments(0.0)
    w = R.TimeWindowSum(10)
    w.push(5, 1.0)
    with pytest.raises(InvalidInputError):
        w.push(4, 1.0)


# ================================================================================ streaming == batch
def test_streaming_equals_batch_bit_for_bit():
    rng = np.random.default_rng(7)
    x = np.cumsum(rng.normal(size=20_000)) + 50.0
    y = 0.3 * x + rng.normal(size=x.size)
    mean, var, z = R._k.rolling_moments(x, 97, 1, 97)
    m = R.RollingMoments(97)
    o = R.RollingOLS(97)
    batch = R.rolling_ols(x, y, 97)
    got_m, got_v, got_z, got_fit = [], [], [], []
    for xi, yi in zip(x.tolist(), y.tolist()):
        m.push(xi)
        o.push(xi, yi)
        got_m.append(m.mean)
        got_v.append(m.var)
        got_z.append(m.zscore(xi))
        got_fit.append(o.fit())
    w = slice(96, None)
    same(np.array(got_m)[w], mean[w])
    same(np.array(got_v)[w], var[w])
    same(np.array(got_z)[w], z[w])
    fit = np.array([f[:4] for f in got_fit]).T
    for row, col in zip(fit, (batch.slope, batch.intercept, batch.t_stat, batch.r2)):
        same(row[w], col[w])
    e = R.EwmMoments(0.1)
    for xi in x[:500].tolist():
        e.push(xi)
    assert e.mean == R.ewma(x[:500], alpha=0.1)[-1] and e.var == R.ewm_var(x[:500], alpha=0.1)[-1]


# ================================================================================ parity (hypothesis)
def _scale(x):
    return float(np.max(np.abs(x))) if len(x) else 1.0


def _well_conditioned(x, window, floor):
    """Rows whose window variance is not swamped by the magnitude of the values in the window or
    recently out of it.

    Deviations from the mean are only known to ~eps * max|x| (the level, or a large value that
    left: an add/remove update leaves a residue of that order until the exact recompute); rows
    whose true variance is below ``floor`` times max|x|**2 are compared in their own tests."""
    x = np.asarray(x, float)
    out = np.zeros(len(x), bool)
    for i in range(len(x)):
        w = x[max(0, i - window + 1): i + 1]
        recent = x[max(0, i - 2 * window): i + 1]
        s = float(np.max(np.abs(recent))) if len(w) else 0.0
        out[i] = len(w) > 1 and np.var(w) > floor * s * s
    return out


# Magnitudes from 1e-6 to 1e4 (and 0): products of co-moments stay far from under/overflow.
values = st.one_of(st.just(0.0), st.floats(1e-6, 1e4), st.floats(-1e4, -1e-6))


@PARITY
@given(x=st.lists(values, min_size=0, max_size=120), window=st.integers(2, 12),
       ddof=st.sampled_from([0, 1]), offset=st.sampled_from([0.0, 1e6]), data=st.data())
def test_moments_parity_with_twin(x, window, ddof, offset, data):
    x = np.asarray(x, float) + offset
    mp = data.draw(st.integers(1, window))
    mean = R.rolling_mean(x, window, min_periods=mp)
    var = R.rolling_var(x, window, ddof=ddof, min_periods=mp)
    z = R.rolling_zscore(x, window, ddof=ddof, min_periods=mp)
    rmean, rvar, rz = ref.rolling_moments(x, window, ddof, mp)
    scale = _scale(x)
    same(np.isnan(mean), np.isnan(rmean))
    np.testing.assert_allclose(mean, rmean, rtol=0, atol=1e-12 * scale + 1e-300)
    same(np.isnan(var), np.isnan(rvar))
    np.testing.assert_allclose(var, rvar, rtol=1e-9, atol=1e-12 * scale * scale)
    ok = _well_conditioned(x, window, 1e-8) & ~np.isnan(rz)
    np.testing.assert_allclose(z[ok], rz[ok], rtol=1e-6, atol=1e-9)
    # exactly constant windows (in the twin) give NaN z in the kernel as long as nothing larger
    # left the window recently (that case: test_constant_window_after_large_values_*)
    assert not np.isinf(z).any()


@PARITY
@given(x=st.lists(values, min_size=0, max_size=80), alpha=st.floats(0.01, 1.0))
def test_ewm_parity_with_twin(x, alpha):
    m, v = R.ewma(x, alpha=alpha), R.ewm_var(x, alpha=alpha)
    rm, rv = ref.ewm_moments(x, alpha)
    same(m, rm)  # same recursion, same operations
    same(v, rv)


pairs = st.tuples(values, values)


@PARITY
@given(xy=st.lists(pairs, min_size=0, max_size=100), window=st.integers(3, 12),
       intercept=st.booleans(), data=st.data())
def test_ols_parity_with_twin(xy, window, intercept, data):
    x = np.array([p[0] for p in xy], float)
    y = np.array([p[1] for p in xy], float)
    mp = data.draw(st.integers(1, window))
    got = R.rolling_ols(x, y, window, intercept=intercept, min_periods=mp)
    want, counts = ref.rolling_ols(x, y, window, intercept, mp)
    same(got.n, counts)
    okx = _well_conditioned(x, window, 1e-6) if intercept else np.ones(len(x), bool)
    oky = _well_conditioned(y, window, 1e-6)
    rows = okx & ~np.isnan(want[0])
    atol = slope_atol(x, y, window, intercept)[rows]
    assert (np.abs(got.slope[rows] - want[0][rows]) <= 1e-7 * np.abs(want[0][rows]) + atol).all()
    np.testing.assert_allclose(got.intercept[rows], want[1][rows], rtol=1e-7,
                               atol=1e-7 * (_scale(y) + 1.0))
    # t and R^2 need a y that varies and residuals that are not rounding noise
    fitted = rows & oky & (np.nan_to_num(want[3], nan=1.0) < 1 - 1e-6)
    np.testing.assert_allclose(got.t_stat[fitted], want[2][fitted], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.r2[fitted], want[3][fitted], rtol=1e-6, atol=1e-9)
    # before min_periods both are NaN everywhere
    early = counts < mp
    assert np.isnan(got.slope[early]).all() and np.isnan(want[0][early]).all()
    assert not np.isinf(np.r_[got.slope, got.intercept, got.t_stat, got.r2]).any()


@PARITY
@given(steps=st.lists(st.integers(0, 7), min_size=0, max_size=60),
       x=st.lists(values, min_size=60, max_size=60), width=st.integers(1, 20))
def test_time_window_sum_parity_with_twin(steps, x, width):
    ts = np.cumsum(np.asarray(steps, dtype=np.int64))
    xv = np.asarray(x[: len(ts)], float)
    total, count = R.time_window_sum(ts, xv, width)
    rt, rc = ref.time_window_sum(ts, xv, width)
    same(count, rc)
    np.testing.assert_allclose(total, rt, rtol=0, atol=1e-9 * (_scale(xv) + 1.0))


# ================================================================================ residue after a large value
def test_constant_window_after_large_values_is_exact():
    """An add/remove update after a dominant value left the window used to keep a residue of
    ~eps * large**2 in the centred sums until the next periodic recompute, posing as the variance
    of a constant window (z-score and slope finite garbage instead of NaN). rolling.pxd now
    recomputes exactly when an update cancels more than 6 digits."""
    x = np.array([1e6, 0.1, 0.1, 0.1, 0.1, 3.3, 7.7])
    assert R.rolling_var(x, 3)[3] < 1e-30  # 0 up to the rounding of 0.1 * 3 / 3
    assert math.isnan(R.rolling_zscore(x, 3)[3]) and math.isnan(R.rolling_zscore(x, 3)[4])
    # a level shift, then flat: the flat window is constant
    z = R.rolling_zscore([5.0, 5.0, 5.0, 5.0, 7.0, 7.0, 7.0], 3)
    assert math.isnan(z[6])
    rng = np.random.default_rng(1)
    xs = np.r_[rng.normal(0, 1e3, 46), np.full(6, 0.3)]
    r = R.rolling_ols(xs, rng.normal(size=52), 5)
    assert np.isnan(r.slope[-2:]).all() and np.isfinite(r.slope[-3])
    ys = np.r_[rng.normal(0, 1e3, 46), np.zeros(6)]
    r = R.rolling_ols(rng.normal(size=52), ys, 5)
    assert r.slope[-1] == 0.0 and math.isnan(r.t_stat[-1]) and math.isnan(r.r2[-1])


# ================================================================================ drift
def _naive_last_window_var(x: np.ndarray, window: int) -> float:
    """Running sums of x and x**2 with add/remove, the textbook O(1) update that drifts."""
    s1 = np.cumsum(x)
    s2 = np.cumsum(x * x)
    a1 = s1[-1] - s1[-window - 1]
    a2 = s2[-1] - s2[-window - 1]
    return (a2 - a1 * a1 / window) / (window - 1)


def _drift(n: int, window: int = 1000, chunk: int = 1_000_000):
    rng = np.random.default_rng(2024)
    m = R.RollingMoments(window)
    push = m.push
    tail = None
    for start in range(0, n, chunk):
        x = 1e9 + rng.standard_normal(min(chunk, n - start))
        for v in x.tolist():
            push(v)
        tail = x
    w = tail[-window:]
    return m, w


def test_moments_do_not_drift_over_1e7_values():
    n, window = 10_000_000, 1000
    m, w = _drift(n, window)
    two_pass_mean = math.fsum(w) / window
    two_pass_var = math.fsum((v - two_pass_mean) ** 2 for v in w) / (window - 1)
    assert abs(m.mean - two_pass_mean) <= 1e-15 * 1e9 * 10
    assert abs(m.var / two_pass_var - 1) < 1e-9
    # the naive running sums lose every digit on the same kind of data
    rng = np.random.default_rng(5)
    x = 1e9 + rng.standard_normal(2_000_000)
    naive = _naive_last_window_var(x, window)
    exact = np.var(x[-window:], ddof=1)
    assert abs(naive / exact - 1) > 1.0


def test_ols_does_not_drift_over_1e7_pairs():
    """Kyle's kernel (rolling.pxd OLS) fed 1e7 pairs with y offset by 1e9: the last window equals
    a fresh two-pass fit."""
    from ofi.orderflow.impact import KyleLambda

    n, window, chunk = 10_000_000, 1000, 1_000_000
    rng = np.random.default_rng(11)
    k = KyleLambda(window=window)
    for start in range(0, n, chunk):
        x = 1e3 + rng.standard_normal(chunk)
        y = 1e9 + 2.5 * x + rng.standard_normal(chunk)
        k.update_many(y, x)
    slope, icpt, t, r2, cnt = k.fit()
    want = ref.window_ols(x[-window:].tolist(), y[-window:].tolist(), True)
    assert cnt == window
    assert slope == pytest.approx(want[0], rel=1e-9)
    assert t == pytest.approx(want[2], rel=1e-7)
    assert r2 == pytest.approx(want[3], rel=1e-9)


@pytest.mark.skipif(os.environ.get("OFI_SLOW", "") in ("", "0"), reason="set OFI_SLOW=1 (~10 s)")
def test_moments_do_not_drift_over_1e8_values():
    m, w = _drift(100_000_000)
    mean = math.fsum(w) / len(w)
    var = math.fsum((v - mean) ** 2 for v in w) / (len(w) - 1)
    assert abs(m.var / var - 1) < 1e-9


def test_ols_small_relative_spread_of_x_is_not_taken_for_constant():
    # x with a coefficient of variation of 5e-7 is not constant: the slope is numpy's
    from ofi.orderflow.rolling import rolling_ols
    rng = np.random.default_rng(5)
    x = 1e5 + rng.normal(scale=0.05, size=400)
    y = 2.0 * x + rng.normal(scale=0.01, size=400)
    got = rolling_ols(x, y, 400)
    want = np.polyfit(x, y, 1)[0]
    assert got.slope[-1] == pytest.approx(want, rel=1e-6)
    # while a window of exactly equal x has no slope at all
    xc = np.r_[x[:10], np.full(50, 3.0)]
    assert np.isnan(rolling_ols(xc, np.arange(60.0), 50).slope[-1])


def test_ols_t_stat_stays_finite_at_extreme_scales():
    from ofi.orderflow.rolling import rolling_ols
    rng = np.random.default_rng(6)
    x = 1e10 * rng.normal(size=100)
    y = 1e-155 * (x / 1e10 + rng.normal(size=100))
    t = rolling_ols(x, y, 100).t_stat[-1]
    assert np.isfinite(t) and t > 3


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_streaming_classes_reject_non_finite_values(bad):
    from ofi.errors import InvalidInputError
    from ofi.orderflow.rolling import EwmMoments, RollingMoments, RollingOLS, TimeWindowSum
    with pytest.raises(InvalidInputError):
        RollingMoments(3).push(bad)
    with pytest.raises(InvalidInputError):
        RollingOLS(3).push(1.0, bad)
    with pytest.raises(InvalidInputError):
        EwmMoments(0.5).push(bad)
    with pytest.raises(InvalidInputError):
        TimeWindowSum(10).push(1, bad)
    with pytest.raises(InvalidInputError):
        RollingMoments(0)
