"""VPIN on real market data (../shared/data/reference, see its SOURCES.md), cross-checked against the
twin's ``vpin_elo`` (microstructure.md section 7, scipy's normal CDF, n V denominator).

Paper settings (ELO 2012): V = ADV / 50, n = 50, 1-minute time bars, bulk volume classification
with the full-sample std of bar price changes. The measured numbers are in docs/vpin.md.
"""
from __future__ import annotations

import csv

import numpy as np
import pytest

from ofi.orderflow.vpin import VpinCalculator, vpin_cdf, vpin_series
from reference import vpin as ref

pytestmark = pytest.mark.realdata

N = 50
PER_DAY = 50


def _csv(shared_dir, name):
    path = shared_dir / "data" / "reference" / name
    if not path.exists():
        pytest.skip(f"real data file not found: {path}")
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def flowrisk_bars(shared_dir, symbol):
    """(ts datetime64[s], close, volume) of the 1-minute bars."""
    rows = _csv(shared_dir, f"flowrisk_{symbol}_2018_11_22.csv")
    ts = np.array([r["date"] for r in rows], dtype="datetime64[s]")
    close = np.array([float(r["4. close"]) for r in rows])
    volume = np.array([float(r["5. volume"]) for r in rows])
    return ts, close, volume


@pytest.fixture(scope="module")
def es_ticks(shared_dir):
    rows = _csv(shared_dir, "es_ticks_100k.csv")
    ts = np.array([r["DateTime"] for r in rows], dtype="datetime64[ms]")
    price = np.array([float(r["Price"]) for r in rows])
    volume = np.array([float(r["Volume"]) for r in rows])
    return ts, price, volume


def minute_bars(ts, price, volume):
    """1-minute time bars: last price and total volume of each minute that has trades."""
    minute = ts.astype("datetime64[m]")
    _, start = np.unique(minute, return_index=True)
    last = np.r_[start[1:], len(price)] - 1
    return minute[start], price[last], np.add.reduceat(volume, start)


def check_against_elo(r, price, volume, V):
    end, vb, vs, vp = ref.vpin_elo(price, volume, V, N)
    np.testing.assert_array_equal(r.end_index, end)
    np.testing.assert_allclose(r.buy_volume, vb, rtol=1e-12, atol=1e-9 * V)
    np.testing.assert_allclose(r.sell_volume, vs, rtol=1e-12, atol=1e-9 * V)
    # ELO divide by n V; the kernel by the buckets' actual volume (= n V within 1e-9 V each)
    np.testing.assert_allclose(r.vpin, vp, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("symbol, days, buckets, mean", [
    ("AAPL", 8, 399, 0.2299),
    ("CBIO", 8, 399, 0.3920),
])
def test_flowrisk_minute_bars_bvc(shared_dir, symbol, days, buckets, mean):
    ts, close, volume = flowrisk_bars(shared_dir, symbol)
    assert len(np.unique(ts.astype("datetime64[D]"))) == days
    V = volume.sum() / days / PER_DAY                  # ADV / 50
    r = vpin_series(close, volume, V, N, "bvc")
    check_against_elo(r, close, volume, V)
    assert len(r) == buckets
    v = r.vpin[N - 1:]
    assert np.isfinite(v).all() and 0.0 < v.min() and v.max() < 1.0
    assert v.mean() == pytest.approx(mean, abs=5e-5)
    # the sigma is the sample std of the changes between non-empty bars (row 0 is empty)
    keep = volume > 0
    assert r.sigma == np.std(np.diff(close[keep]), ddof=1)
    # paper-style alarm: the full-sample CDF crosses 0.9 for about 10 % of the buckets
    cdf = vpin_cdf(r.vpin, "full")[N - 1:]
    assert np.mean(cdf > 0.9) == pytest.approx(0.1, abs=0.005)
    np.testing.assert_array_equal(cdf, ref.empirical_cdf(v))


def test_flowrisk_streaming_rolling_sigma_matches_batch(shared_dir):
    _, close, volume = flowrisk_bars(shared_dir, "AAPL")
    V = volume.sum() / 8 / PER_DAY
    r = vpin_series(close, volume, V, N, "bvc", sigma_window=390)   # one session of changes
    c = VpinCalculator(V, N, "bvc", sigma_window=390)
    got = [c.add_bar(p, v) for p, v in zip(close.tolist(), volume.tolist())]
    vals = [x for x in got if x is not None]
    ready = r.vpin[~np.isnan(r.vpin)]
    assert len(vals) == len(np.unique(r.end_index[~np.isnan(r.vpin)]))
    assert vals[-1] == ready[-1] and c.buckets == len(r)
    assert 0.0 < ready.min() and ready.max() < 1.0


def test_es_ticks_minute_bars_bvc(es_ticks):
    ts, price, volume = es_ticks
    assert (np.diff(ts.astype(np.int64)) >= 0).all()
    days = float((ts[-1] - ts[0]) / np.timedelta64(1, "D"))         # 1.46 days of trading
    V = volume.sum() / days / PER_DAY
    bar_ts, close, bar_vol = minute_bars(ts, price, volume)
    assert len(close) == 1680
    r = vpin_series(close, bar_vol, V, N, "bvc", ts=bar_ts.astype("datetime64[ns]"))
    check_against_elo(r, close, bar_vol, V)
    assert len(r) == 72
    v = r.vpin[N - 1:]
    assert v.mean() == pytest.approx(0.1874, abs=5e-5)
    assert (r.end_ts == bar_ts[r.end_index].astype("datetime64[ns]").astype(np.int64)).all()


def test_es_ticks_tick_rule(es_ticks):
    ts, price, volume = es_ticks
    days = float((ts[-1] - ts[0]) / np.timedelta64(1, "D"))
    V = volume.sum() / days / PER_DAY
    r = vpin_series(price, volume, V, N, "tick")
    want = ref.bucketize(volume, ref.tick_fractions(price), V, N)
    np.testing.assert_array_equal(r.end_index, want["end_index"])
    np.testing.assert_allclose(r.vpin, want["vpin"], rtol=0, atol=1e-12)
    assert len(r) == 73
    assert r.vpin[N - 1:].mean() == pytest.approx(0.1963, abs=5e-5)
    c = VpinCalculator(V, N, "tick")
    per_row = c.add_trades(volume, price=price)
    assert per_row[~np.isnan(per_row)][-1] == r.vpin[-1]
