"""VPIN: hand-derived numbers, edge cases of microstructure.md 4.6, bad input, the streaming class."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm, t as student_t

from ofi._core.events import Trade
from ofi.errors import InvalidInputError
from ofi.orderflow.vpin import VpinCalculator, VpinResult, vpin_cdf, vpin_series
from reference import vpin as ref

NAN = math.nan


def trade(size, side=1, price=100.0):
    return Trade("TEST", price, size, side, 0, "t", 1000)


def assert_bits(a, b):
    """Equal arrays, NaN where NaN, bit for bit."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    assert a.dtype == b.dtype
    assert np.array_equal(a.view(np.uint8), b.view(np.uint8))


# ------------------------------------------------------------------------------------ buckets
def test_hand_example_overflow_and_window():
    # V = 2, n = 2. Row 0 (3 buy) fills bucket 0 and carries 1 into bucket 1; row 1 (1 sell)
    # completes bucket 1 (1 buy / 1 sell); row 2 (2 buy) is bucket 2; row 3 (2 sell) bucket 3.
    r = vpin_series(None, [3.0, 1.0, 2.0, 2.0], 2.0, 2, side=[1, -1, 1, -1])
    assert isinstance(r, VpinResult) and len(r) == 4
    np.testing.assert_array_equal(r.buy_volume, [2, 1, 2, 0])
    np.testing.assert_array_equal(r.sell_volume, [0, 1, 0, 2])
    np.testing.assert_array_equal(r.imbalance, [2, 0, 2, 2])
    np.testing.assert_array_equal(r.end_index, [0, 1, 2, 3])
    # VPIN = (|S-B| of the last two buckets) / (2 V)
    np.testing.assert_array_equal(r.vpin, [NAN, 0.5, 0.5, 1.0])
    assert r.progress == 0.0 and r.end_ts is None
    assert r.buy_volume.dtype == np.float64 and r.end_index.dtype == np.int64
    assert (r.bucket_volume, r.n_buckets, r.classification) == (2.0, 2, "aggressor")
    assert math.isnan(r.sigma)


def test_one_row_fills_several_buckets_and_keeps_its_side():
    # 0.5 sell, then one buy of 10.5 with V = 2: bucket 0 = 0.5 sell + 1.5 buy, then 4 full buy
    # buckets, 1 left open; every bucket ends at row 1.
    r = vpin_series(None, [0.5, 10.5], 2.0, 3, side=[-1, 1])
    np.testing.assert_array_equal(r.buy_volume, [1.5, 2, 2, 2, 2])
    np.testing.assert_array_equal(r.sell_volume, [0.5, 0, 0, 0, 0])
    np.testing.assert_array_equal(r.end_index, [1] * 5)
    np.testing.assert_allclose(r.vpin, [NAN, NAN, (1 + 2 + 2) / 6, 1, 1])
    assert r.progress == pytest.approx(0.5)


def test_fractional_volumes_close_a_bucket_within_eps():
    # ten trades of 0.1 sum to 0.9999999999999999 in floats: the bucket of V = 1 still closes.
    assert sum([0.1] * 10) < 1.0
    r = vpin_series(None, [0.1] * 10, 1.0, 1, side=[1] * 10)
    assert len(r) == 1 and r.end_index[0] == 9
    assert r.vpin[0] == 1.0


def test_last_incomplete_bucket_is_excluded_and_reported_as_progress():
    r = vpin_series(None, [1.0, 1.0, 1.0], 2.0, 1, side=[1, -1, 1])
    assert len(r) == 1
    assert r.vpin[0] == 0.0
    assert r.progress == 0.5


def test_nan_until_n_buckets():
    r = vpin_series(None, np.ones(10), 1.0, 4, side=np.ones(10))
    assert np.isnan(r.vpin[:3]).all() and (r.vpin[3:] == 1.0).all()


def test_zero_volume_rows_and_empty_input():
    r = vpin_series(None, [0.0, 0.0], 1.0, 1, side=[1, -1])
    assert len(r) == 0 and r.progress == 0.0
    r = vpin_series(None, [], 1.0, 1, side=[])
    assert len(r) == 0 and r.vpin.dtype == np.float64 and r.end_index.dtype == np.int64


def test_end_ts():
    r = vpin_series(None, [1.0, 1.0, 1.0], 1.0, 1, side=[1, 1, -1], ts=[10, 20, 20])
    np.testing.assert_array_equal(r.end_ts, [10, 20, 20])
    r = vpin_series(None, [1.0, 1.0], 1.0, 1, side=[1, 1],
                    ts=np.array(["2024-01-01T00:00:00", "2024-01-01T00:00:01"], dtype="datetime64[s]"))
    assert r.end_ts[1] - r.end_ts[0] == 1_000_000_000


def test_running_sums_do_not_drift():
    # 200k buckets through a ring of 7: every value equals a fresh sum of its window.
    rng = np.random.default_rng(3)
    v = rng.uniform(0.0, 3.0, 400_000)
    s = rng.choice([-1.0, 1.0], v.size)
    r = vpin_series(None, v, 1.3, 7, side=s)
    vol = r.buy_volume + r.sell_volume
    win_imb = np.convolve(r.imbalance, np.ones(7), "valid")
    win_vol = np.convolve(vol, np.ones(7), "valid")
    np.testing.assert_allclose(r.vpin[6:], win_imb / win_vol, rtol=0, atol=1e-12)
    assert np.nanmin(r.vpin) >= 0.0 and np.nanmax(r.vpin) <= 1.0


# ------------------------------------------------------------------------------------ classifiers
def test_tick_rule_fractions():
    # before any change 0.5; up 1; unchanged keeps the last sign; down 0
    r = vpin_series([10, 10, 11, 11, 10, 10], [1.0] * 6, 1.0, 1, "tick")
    np.testing.assert_array_equal(r.buy_volume, [0.5, 0.5, 1, 1, 0, 0])
    np.testing.assert_array_equal(r.vpin, [0, 0, 1, 1, 1, 1])


def test_bvc_normal_hand_example():
    price = [10.0, 10.0, 11.0, 10.0]
    r = vpin_series(price, [5.0] * 4, 5.0, 1, "bvc", sigma=1.0)
    # bar 0 has no dP; dP = 0, +1, -1
    np.testing.assert_allclose(r.buy_volume, [2.5, 5 * norm.cdf(1.0), 5 * norm.cdf(-1.0)], rtol=1e-15)
    np.testing.assert_array_equal(r.end_index, [1, 2, 3])
    assert r.sigma == 1.0


def test_bvc_drops_empty_bars_before_dp():
    # the empty bar's stale 99 is ignored: dP = 11 - 10 = 1, not 89 then -88
    r = vpin_series([10.0, 99.0, 11.0], [1.0, 0.0, 1.0], 1.0, 1, "bvc", sigma=2.0)
    assert r.buy_volume[0] == pytest.approx(norm.cdf(0.5), rel=1e-15)
    np.testing.assert_array_equal(r.end_index, [2])


def test_bvc_full_sample_sigma_is_std_of_dp():
    price = np.array([1.0, 2.0, 4.0, 3.0, 3.0, 7.0])
    r = vpin_series(price, np.ones(6), 1.0, 1, "bvc")
    dp = np.diff(price)
    sd = np.std(dp, ddof=1)
    assert r.sigma == sd
    np.testing.assert_allclose(r.buy_volume, norm.cdf(dp / sd), rtol=1e-14)


def test_bvc_zero_variance_gives_half():
    r = vpin_series(np.full(20, 5.0), np.ones(20), 1.0, 3, "bvc")
    assert r.sigma == 0.0
    assert (r.buy_volume == 0.5).all() and (r.sell_volume == 0.5).all()
    assert np.isfinite(r.vpin[2:]).all() and (r.vpin[2:] == 0.0).all()
    r = vpin_series(np.full(20, 5.0), np.ones(20), 1.0, 3, "bvc_t", df=2.0)
    assert (r.buy_volume == 0.5).all()


def test_bvc_with_fewer_than_two_changes_classifies_nothing():
    r = vpin_series([1.0, 2.0], [1.0, 1.0], 1.0, 1, "bvc")
    assert len(r) == 0 and math.isnan(r.sigma)


def test_bvc_student_t():
    price = np.array([1.0, 1.5, 0.5, 0.7, 2.0])
    r = vpin_series(price, np.ones(5), 1.0, 1, "bvc_t", sigma=0.5, df=3.0)
    np.testing.assert_allclose(r.buy_volume, student_t.cdf(np.diff(price) / 0.5, 3.0), rtol=1e-13)


def test_bvc_rolling_sigma_has_no_look_ahead():
    rng = np.random.default_rng(1)
    price = 100 + np.cumsum(rng.normal(size=60))
    vol = rng.uniform(0.5, 2.0, 60)
    a = vpin_series(price, vol, 1.0, 3, "bvc", sigma_window=5)
    # bar 0 and the next 5 (whose changes fill the window) are not bucketed
    assert a.end_index.min() >= 6
    price2 = price.copy()
    price2[40:] += rng.normal(scale=50.0, size=20)     # change the future only
    b = vpin_series(price2, vol, 1.0, 3, "bvc", sigma_window=5)
    early = a.end_index < 40
    np.testing.assert_array_equal(a.buy_volume[early], b.buy_volume[: early.sum()])
    rows, frac, _ = ref.bvc_fractions(price, vol, sigma_window=5)
    want = ref.bucketize(vol[rows], frac, 1.0, 3, rows=rows)
    np.testing.assert_allclose(a.buy_volume, want["buy"], rtol=1e-12)
    assert math.isnan(a.sigma)


def test_bvc_normal_alias():
    p, v = [1.0, 2.0, 1.5, 3.0], [1.0] * 4
    assert_bits(vpin_series(p, v, 1.0, 1, "bvc_normal").vpin, vpin_series(p, v, 1.0, 1, "bvc").vpin)


# ------------------------------------------------------------------------------------ CDF
def test_vpin_cdf():
    x = np.array([NAN, 0.3, 0.1, 0.3, 0.2])
    np.testing.assert_array_equal(vpin_cdf(x, "full"), [NAN, 1.0, 0.25, 1.0, 0.5])
    np.testing.assert_array_equal(vpin_cdf(x, "expanding"), [NAN, 1.0, 0.5, 1.0, 0.5])
    np.testing.assert_array_equal(vpin_cdf(x), vpin_cdf(x, "expanding"))
    assert np.isnan(vpin_cdf([NAN, NAN], "full")).all()
    assert vpin_cdf([], "expanding").shape == (0,)
    rng = np.random.default_rng(0)
    y = rng.choice([0.1, 0.2, 0.25, NAN], 300)
    np.testing.assert_array_equal(vpin_cdf(y, "full"), ref.empirical_cdf(y))
    np.testing.assert_array_equal(vpin_cdf(y, "expanding"), ref.expanding_cdf(y))


# ------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kwargs, name", [
    (dict(volume=[1.0, NAN]), "volume"),
    (dict(volume=[1.0, -1.0]), "volume"),
    (dict(volume=[1.0, math.inf]), "volume"),
    (dict(volume=[[1.0]]), "volume"),
    (dict(side=[1, 1, 1]), "length"),
    (dict(side=[1, 0]), "side"),
    (dict(side=[1, NAN]), "side"),
    (dict(side=None), "side"),
    (dict(bucket_volume=0.0), "bucket_volume"),
    (dict(bucket_volume=-1.0), "bucket_volume"),
    (dict(bucket_volume=NAN), "bucket_volume"),
    (dict(bucket_volume="1"), "bucket_volume"),
    (dict(bucket_volume=1e-12), "bucket_volume"),
    (dict(n_buckets=0), "n_buckets"),
    (dict(n_buckets=1.5), "n_buckets"),
    (dict(n_buckets=True), "n_buckets"),
    (dict(classification="bulk"), "classification"),
    (dict(classification=None), "classification"),
    (dict(sigma=1.0), "sigma"),
    (dict(df=3.0), "df"),
    (dict(classification="tick", price=None), "price"),
    (dict(classification="tick", price=[1.0, NAN]), "price"),
    (dict(classification="bvc", sigma=0.0), "sigma"),
    (dict(classification="bvc", sigma=-1.0), "sigma"),
    (dict(classification="bvc", sigma_window=1), "sigma_window"),
    (dict(classification="bvc", sigma=1.0, sigma_window=3), "sigma"),
    (dict(classification="bvc", price=None), "price"),
    (dict(classification="bvc_t"), "df"),
    (dict(classification="bvc_t", df=0.0), "df"),
    (dict(ts=[2, 1]), "ts"),
    (dict(ts=[1, 2, 3]), "length"),
])
def test_bad_input_names_the_argument(kwargs, name):
    args = dict(price=[1.0, 2.0], volume=[1.0, 1.0], bucket_volume=1.0, n_buckets=1,
                classification="aggressor", side=[1, -1])
    args.update(kwargs)
    with pytest.raises(InvalidInputError, match=name):
        vpin_series(**args)


def test_bad_cdf_input():
    with pytest.raises(InvalidInputError, match="method"):
        vpin_cdf([0.1], "paper")
    with pytest.raises(InvalidInputError, match="vpin"):
        vpin_cdf([0.1, math.inf])


# ------------------------------------------------------------------------------------ streaming
def test_streaming_hand_example():
    c = VpinCalculator(2.0, 2)
    assert math.isnan(c.vpin) and not c.ready and c.buckets == 0 and c.progress == 0.0
    assert c.add_trade(trade(3.0, 1)) is None              # bucket 0 only
    assert c.buckets == 1 and c.progress == 0.5 and c.last_buy_volume == 2.0
    assert c.add_trade(trade(1.0, -1)) == 0.5
    assert c.add_trade(trade(0.5, 1)) is None               # open bucket, no new value
    assert c.vpin == 0.5 and c.ready and c.progress == 0.25
    assert c.add_trade(trade(9.5, 1)) == 1.0                # completes 5 buckets at once
    assert c.buckets == 7 and c.rows == 4
    assert "VpinCalculator(bucket_volume=2.0" in repr(c)
    c.reset()
    assert c.buckets == 0 and math.isnan(c.vpin) and c.rows == 0 and c.progress == 0.0


def test_streaming_tick_and_add():
    c = VpinCalculator(1.0, 1, "tick")
    out = [c.add_trade(trade(1.0, 1, p)) for p in [10, 10, 11, 11, 10]]
    assert out == [0.0, 0.0, 1.0, 1.0, 1.0]
    c = VpinCalculator(1.0, 1)
    assert c.add(1.0, 0.25) == 0.5
    assert c.add(0.0, 1.0) is None


def test_streaming_bvc_bars_match_batch():
    rng = np.random.default_rng(7)
    price = 50 + np.cumsum(rng.normal(size=500))
    vol = rng.exponential(2.0, 500)
    vol[rng.random(500) < 0.1] = 0.0
    for kw in (dict(sigma=1.3), dict(sigma_window=20)):
        for cls, extra in (("bvc", {}), ("bvc_t", dict(df=4.0))):
            b = vpin_series(price, vol, 3.0, 10, cls, **kw, **extra)
            c = VpinCalculator(3.0, 10, cls, **kw, **extra)
            got = [c.add_bar(p, v) for p, v in zip(price, vol)]
            assert_bits(np.array([NAN if x is None else x for x in got]), _per_row(b, len(vol)))
            c2 = VpinCalculator(3.0, 10, cls, **kw, **extra)
            arr = c2.add_bars(price, vol)
            assert_bits(arr, _per_row(b, len(vol)))
            assert c.buckets == c2.buckets == len(b)
            assert c.progress == c2.progress == b.progress


def _last_per_row(r):
    """row -> VPIN after the last bucket that row completed (only rows with a ready VPIN)."""
    out = {}
    for i, v in zip(r.end_index.tolist(), r.vpin.tolist()):
        out[i] = v
    return {i: v for i, v in out.items() if not math.isnan(v)}


def _per_row(r, n):
    a = np.full(n, NAN)
    for i, v in _last_per_row(r).items():
        a[i] = v
    return a


def test_streaming_bad_rows_leave_state_untouched():
    c = VpinCalculator(2.0, 1)
    c.add_trade(trade(1.0, 1))
    state = (c.buckets, c.progress, c.rows)
    for bad in (NAN, -1.0, math.inf):
        with pytest.raises(InvalidInputError, match="volume"):
            c.add(bad, 0.5)
    with pytest.raises(InvalidInputError, match="buy_fraction"):
        c.add(1.0, 1.5)
    with pytest.raises(InvalidInputError, match="buy_fraction"):
        c.add(1.0, NAN)
    with pytest.raises(InvalidInputError, match="trade.size"):
        c.add_trade(trade(1e12, 1))          # more than 1e9 buckets of V = 2 in one row
    for bad in (None, 1.0, (1.0, 1)):
        with pytest.raises(InvalidInputError, match="trade must be an ofi.Trade"):
            c.add_trade(bad)
    for bad in (None, "1", b"1", True, [1.0]):
        with pytest.raises(InvalidInputError, match="volume"):
            c.add(bad, 0.5)
        with pytest.raises(InvalidInputError, match="buy_fraction"):
            c.add(1.0, bad)
    with pytest.raises(InvalidInputError, match="size"):
        c.add_trades([1.0, NAN], side=[1, 1])
    with pytest.raises(InvalidInputError, match="side"):
        c.add_trades([1.0, 1.0], side=[1, 2])
    with pytest.raises(InvalidInputError, match="length"):
        c.add_trades([1.0, 1.0], side=[1])
    with pytest.raises(InvalidInputError, match="side"):
        c.add_trades([1.0])
    with pytest.raises(InvalidInputError, match="add_bar"):
        c.add_bar(1.0, 1.0)
    assert (c.buckets, c.progress, c.rows) == state
    t = VpinCalculator(1.0, 1, "tick")
    with pytest.raises(InvalidInputError, match="price"):
        t.add_trades([1.0], price=[NAN])
    with pytest.raises(InvalidInputError, match="price"):
        t.add_trade(trade(1.0, 1, math.inf))
    assert t.rows == 0
    b = VpinCalculator(1.0, 1, "bvc", sigma=1.0)
    with pytest.raises(InvalidInputError, match="add_bar"):
        b.add_trade(trade(1.0))
    with pytest.raises(InvalidInputError, match="add_bar"):
        b.add_trades([1.0], side=[1])
    with pytest.raises(InvalidInputError, match="price"):
        b.add_bar(NAN, 1.0)
    with pytest.raises(InvalidInputError, match="price"):
        b.add_bar(None, 1.0)
    with pytest.raises(InvalidInputError, match="volume"):
        b.add_bar(1.0, "2")
    with pytest.raises(InvalidInputError, match="volume"):
        b.add_bar(1.0, -1.0)
    with pytest.raises(InvalidInputError, match="price"):
        b.add_bars([1.0, NAN], [1.0, 1.0])
    assert b.rows == 0


@pytest.mark.parametrize("args, kwargs, name", [
    ((0.0, 5), {}, "bucket_volume"),
    ((-1.0, 5), {}, "bucket_volume"),
    ((NAN, 5), {}, "bucket_volume"),
    ((1.0, 0), {}, "n_buckets"),
    ((1.0, 2.5), {}, "n_buckets"),
    ((1.0, 5, "bulk"), {}, "classification"),
    ((1.0, 5, "bvc"), {}, "sigma"),
    ((1.0, 5, "bvc"), dict(sigma=0.0), "sigma"),
    ((1.0, 5, "bvc"), dict(sigma=-2.0), "sigma"),
    ((1.0, 5, "bvc"), dict(sigma_window=1), "sigma_window"),
    ((1.0, 5, "bvc"), dict(sigma=1.0, sigma_window=5), "sigma"),
    ((1.0, 5, "bvc_t"), dict(sigma=1.0), "df"),
    ((1.0, 5, "bvc_t"), dict(sigma=1.0, df=-1.0), "df"),
    ((1.0, 5), dict(sigma=1.0), "sigma"),
    ((1.0, 5, "tick"), dict(df=3.0), "df"),
])
def test_streaming_bad_config(args, kwargs, name):
    with pytest.raises(InvalidInputError, match=name):
        VpinCalculator(*args, **kwargs)


def test_streaming_attributes():
    c = VpinCalculator(bucket_volume=50.0, n_buckets=50)
    assert (c.bucket_volume, c.n_buckets, c.classification) == (50.0, 50, "aggressor")
    assert c.sigma is None and c.sigma_window is None and c.df is None
    c = VpinCalculator(5, 3, "bvc_normal", sigma_window=10)
    assert (c.classification, c.sigma_window) == ("bvc", 10)
    c = VpinCalculator(5, 3, "bvc_t", sigma=2, df=3)
    assert (c.sigma, c.df) == (2.0, 3.0)
