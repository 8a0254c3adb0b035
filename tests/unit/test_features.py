"""The feature engine (``ofi.features``): every family on small hand-built books and trades whose
expected numbers are derived by hand in the comments, warm-up boundaries to the nanosecond, gaps and
resyncs, no look-ahead, transform == streaming on the simulated market, the registry and its
generated document, the configuration and bad input.

Conventions used below (from ``ofi/features/registry.py``): prices in ticks of 0.1, times in ns;
T = 1000 s is a multiple of every bar width used, so bar ends fall on T + k s. A window of length h
is (now - h, now]; a book-history window is warm once now - (first state of the history) >= h, a
trade / activity window once now - (first event) >= h. Small configurations (horizons 1, 2, 3, 4 s,
L = 3 levels, 1 s bars) make every warm-up reachable by hand; feature names carry the horizons:
h0 = 1s, h1 = 2s, h2 = 3s, h3 = 4s.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

import ofi.features
from ofi import OrderBook, Trade
from ofi.data.tape import KIND_TRADE, frames_to_tape, message_starts
from ofi.errors import InvalidInputError, OfiError, SequenceGapError
from ofi.features import FeatureConfig, FeatureEngine, feature_names, feature_specs
from ofi.features import indicators as ind
from ofi._core.features import N_FEATURE_SLOTS
from ofi.features import registry
from ofi.features.registry import FeatureSpec, markdown_table, slot_header

S = 1_000_000_000           # ns per second
MS = 1_000_000              # ns per millisecond
T = 1000 * S                # the start of every hand-built scenario
TICK = "0.1"
NAN = math.nan
ROOT = Path(__file__).resolve().parents[2]

BOOK_FAMILIES = ("book shape", "order flow", "volatility", "spread dynamics")


def small(**kw) -> FeatureConfig:
    base = dict(orderbook_levels=3, horizons=(1.0, 2.0, 3.0, 4.0), bar_seconds=1.0)
    base.update(kw)
    return FeatureConfig(**base)


def price(ticks: int) -> float:
    """The float a Bybit decimal string would give for this tick count (tick 0.1)."""
    return float(Decimal(ticks) * Decimal(TICK))


def at(seconds: float) -> int:
    """T + seconds, in ns (seconds given with at most 3 decimals, so the result is exact)."""
    return T + int(round(seconds * 1000)) * MS


class Feed:
    """A book and an engine driven together; each call returns the FeatureVector after its event."""

    def __init__(self, config: FeatureConfig | None = None, **kw):
        self.config = config if config is not None else small(**kw)
        self.engine = FeatureEngine(self.config)
        self.book = OrderBook("BTCUSDT", tick_size=TICK)
        self.u = 100
        self.n_trades = 0

    def _apply(self, t, bids, asks, snapshot, lat, u):
        if u is None:
            self.u += 1
            u = self.u
        bt = np.array([p for p, _ in bids], dtype=np.int64)
        bs = np.array([q for _, q in bids], dtype=np.float64)
        at_ = np.array([p for p, _ in asks], dtype=np.int64)
        as_ = np.array([q for _, q in asks], dtype=np.float64)
        self.book.apply_levels(bt, bs, at_, as_, snapshot=snapshot, update_id=u, ts_exch=t - lat, ts_local=t)
        self.engine.update_orderbook(self.book)
        return self.engine.extract_features(self.book)

    def snapshot(self, t, bids, asks, lat=0, u=None):
        return self._apply(t, bids, asks, True, lat, u)

    def delta(self, t, bids=(), asks=(), lat=0, u=None):
        return self._apply(t, bids, asks, False, lat, u)

    def trade(self, t, side, size, ticks, lat=0, ts_local=None):
        self.n_trades += 1
        tl = t if ts_local is None else ts_local
        tr = Trade("BTCUSDT", price(ticks), float(size), side, t - lat, f"t{self.n_trades}", ticks, ts_local=tl)
        self.engine.update_trade(tr)
        return self.engine.extract_features(self.book)

    def features(self):
        return self.engine.extract_features(self.book)


def isnan(fv, name) -> bool:
    return math.isnan(fv[name])


def approx(x, rel=1e-12, abs_=1e-12):
    return pytest.approx(x, rel=rel, abs=abs_)


# ================================================================================ registry, API
def test_names_equal_the_registry_and_the_vector_is_a_mapping():
    names = feature_names()
    assert len(names) == 75 and len(set(names)) == len(names)
    assert len(names) >= 60
    assert [s.name for s in feature_specs()] == list(names)
    fv = FeatureEngine().extract_features(OrderBook("BTCUSDT", tick_size=TICK))
    assert fv.names == names
    assert fv.values.dtype == np.float64 and fv.values.shape == (75,)
    assert fv.valid.dtype == np.bool_ and fv.valid.shape == (75,)
    assert list(fv.keys()) == list(names) and len(fv) == 75
    assert fv["mid_price"] is not None and "ofi_1s" in fv and "no_such_feature" not in fv
    # an engine that saw nothing and an empty book: every feature is missing, none made up
    assert np.isnan(fv.values).all() and not fv.valid.any()


def test_names_follow_the_configuration():
    cfg = small()
    names = FeatureEngine(cfg).extract_features(OrderBook("BTCUSDT", tick_size=TICK)).names
    assert names == feature_names(cfg)
    for n in ("ofi_1s", "ofi_2s", "ofi_3s", "ofi_4s", "depth_bid_2", "depth_ask_3", "book_slope_bid_3",
              "mlofi_2s", "signed_volume_3s", "realized_vol_4s", "mid_return_4s", "spread_change_2s",
              "message_rate_2s", "feed_latency_mean_3s_ms", "vwap_deviation_bps_3s"):
        assert n in names, n
    # the default configuration's names for comparison: 1 s, 10 s, 1 min, 5 min, L = 10
    d = feature_names()
    for n in ("ofi_5m", "mlofi_10s", "depth_bid_5", "depth_ask_10", "book_slope_bid_10", "rsi_14"):
        assert n in d, n


def test_docs_features_md_is_the_generated_table():
    text = (ROOT / "docs" / "features.md").read_text(encoding="utf-8")
    assert text == markdown_table(), "docs/features.md is stale: python -m ofi.features.registry > docs/features.md"


# ============================================================================ slots (the kernel's side)
def test_feature_slots_pxd_is_the_generated_header():
    # the kernel writes out[F_<SLOT>] with the indices of this header: committed, it must be the
    # registry's current output, so the compiled vector and the registry's order cannot drift apart
    text = (ROOT / "ofi" / "_core" / "feature_slots.pxd").read_text(encoding="utf-8")
    assert text == slot_header(), ("ofi/_core/feature_slots.pxd is stale: "
                                   "python -m ofi.features --slots > ofi/_core/feature_slots.pxd, then rebuild")
    out = subprocess.run([sys.executable, "-m", "ofi.features", "--slots"], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout == text
    assert "    F_MID_PRICE = 0\n" in text and f"    N_FEATURES = {N_FEATURE_SLOTS}\n" in text
    # bid and ask depths alternate: member i of DEPTH_BID_K is F_DEPTH_BID_K1 + 2 i
    assert "    N_DEPTH_BID_K = 3\n    DEPTH_BID_K_STRIDE = 2\n" in text
    assert "    N_OFI_H = 4\n" in text and "N_OFI_H_STRIDE" not in text


def test_slot_ids_are_unique_and_the_same_for_every_configuration():
    slots = [s.slot for s in feature_specs()]
    assert len(slots) == len(set(slots)) == N_FEATURE_SLOTS
    for cfg in (small(), small(orderbook_levels=5, momentum_short=3, rsi_period=7),
                FeatureConfig(horizons=(0.5, 30.0, 120.0, 3600.0))):
        assert [s.slot for s in feature_specs(cfg)] == slots
        assert feature_names(cfg) != feature_names()
    assert slots[:4] == ["MID_PRICE", "SPREAD_TICKS", "SPREAD_BPS", "MICROPRICE_OFFSET_BPS"]
    by_name = {s.name: s.slot for s in feature_specs()}
    assert by_name["ofi_zscore_1s"] == "OFI_ZSCORE_H0" and by_name["depth_imbalance_5"] == "DEPTH_IMBALANCE_K2"
    assert by_name["momentum_10_bps"] == "MOMENTUM_SHORT_BPS"


@pytest.mark.parametrize("slots, match", [
    (["A_H0", "A_H0"], "more than one feature"),
    (["MID_price"], "upper-case"),
    (["A_H0", "B", "A_H1", "A_H2", "C", "D", "A_H3"], "evenly spaced"),     # strides 2, 1, 3
    (["A_K1", "A_K3"], "consecutive"),
])
def test_slot_header_refuses_a_registry_the_kernel_could_not_follow(monkeypatch, slots, match):
    specs = [FeatureSpec(name=s.lower(), family="book shape", unit="", definition="", warmup="", slot=s)
             for s in slots]
    monkeypatch.setattr(registry, "feature_specs", lambda config=None: specs)
    with pytest.raises(RuntimeError, match=match):
        slot_header()


def test_the_kernel_writes_every_slot():
    # named slots have no running count to check: a slot that _extract forgot would keep whatever
    # the caller's buffer held, so fill it with a sentinel and look after every kind of event
    f = Feed()
    sentinel = -123456.75
    out = np.empty(N_FEATURE_SLOTS)

    def check():
        out.fill(sentinel)
        f.engine._k.extract_into(f.book, out)
        assert not (out == sentinel).any(), [f.engine.names[i] for i in np.flatnonzero(out == sentinel)]

    check()                                                     # nothing seen, empty book
    f.snapshot(at(0), [(1000, 2.0), (999, 1.0), (998, 3.0)], [(1002, 1.0), (1003, 2.0), (1004, 1.0)])
    check()
    for k in range(1, 60):
        f.trade(at(0.1 * k), 1 if k % 3 else -1, 0.5 + k % 4, 1000 + k % 5, lat=2 * MS)
        f.delta(at(0.1 * k + 0.05), [(1000, 1.0 + k % 3)], [(1002, 2.0 + k % 2)], lat=MS)
        check()
    f.delta(at(6.5), [(1000, 0.0), (999, 0.0), (998, 0.0)])    # one side empty: the book is not valid
    check()


def test_mapping_values_equal_the_array():
    f = Feed()
    fv = f.snapshot(T, [(1000, 2.0)], [(1002, 1.0)])
    for i, n in enumerate(fv.names):
        v = fv[n]
        assert (math.isnan(v) and math.isnan(fv.values[i])) or v == fv.values[i]
    np.testing.assert_array_equal(fv.valid, ~np.isnan(fv.values))


# ================================================================================= book shape
# Book (ticks, size), L = 3; a 4th level per side that the L = 3 features must ignore:
#   bids 1000 x 2, 999 x 3, 996 x 5, (990 x 100)      asks 1002 x 1, 1003 x 4, 1005 x 7, (1010 x 100)
SHAPE_BIDS = [(1000, 2.0), (999, 3.0), (996, 5.0), (990, 100.0)]
SHAPE_ASKS = [(1002, 1.0), (1003, 4.0), (1005, 7.0), (1010, 100.0)]


def test_book_shape_by_hand():
    fv = Feed().snapshot(T, SHAPE_BIDS, SHAPE_ASKS)
    m = 1001.0                                              # (1000 + 1002) / 2 ticks
    assert fv["mid_price"] == approx(100.1)                 # 1001 * 0.1
    assert fv["spread_ticks"] == 2.0
    assert fv["spread_bps"] == approx(2e4 / 1001)           # 1e4 * 2 / 1001 = 19.98
    # microprice (1000 * 1 + 1002 * 2) / 3 = 3004/3 -> 1e4 (1/3) / 1001 = 3.33
    assert fv["microprice_offset_bps"] == approx(1e4 * (1 / 3) / 1001, rel=1e-9)
    # depths: top 1 = 2 | 1, top min(5, L-1) = 2 levels = 5 | 5, top 3 = 10 | 12
    assert (fv["depth_bid_1"], fv["depth_ask_1"]) == (2.0, 1.0)
    assert (fv["depth_bid_2"], fv["depth_ask_2"]) == (5.0, 5.0)
    assert (fv["depth_bid_3"], fv["depth_ask_3"]) == (10.0, 12.0)
    assert fv["depth_imbalance_1"] == approx(1 / 3)         # (2 - 1) / 3
    assert fv["depth_imbalance_2"] == 0.0                   # (5 - 5) / 10
    assert fv["depth_imbalance_3"] == approx(-1 / 11)       # (10 - 12) / 22
    # slopes: bid 10 / (1e4 (1001 - 996) / 1001) = 10 * 1001 / 5e4 = 0.2002
    #         ask 12 / (1e4 (1005 - 1001) / 1001) = 12 * 1001 / 4e4 = 0.3003; ln ratio = ln(2/3)
    assert fv["book_slope_bid_3"] == approx(0.2002, rel=1e-9)
    assert fv["book_slope_ask_3"] == approx(0.3003, rel=1e-9)
    assert fv["book_slope_log_ratio_3"] == approx(math.log(2 / 3), rel=1e-9)
    # VAMP: (1000*1 + 999*4 + 996*7 + 1002*2 + 1003*3 + 1005*5) / (12 + 10) = 22006 / 22
    #   -> 1e4 (22006/22 - 1001) / 1001 = 1e4 (-16/22) / 1001 = -7.265
    assert fv["vamp_offset_bps_3"] == approx(1e4 * (-16 / 22) / m, rel=1e-9)
    # weighted mid: VWAP^b = (2000 + 2997 + 4980) / 10 = 997.7, VWAP^a = (1002 + 4012 + 7035) / 12
    #   = 12049/12; W - 1001 = (59862 + 60245)/120 - 1001 = -13/120 -> 1e4 (-13/120) / 1001
    assert fv["weighted_mid_offset_bps_3"] == approx(1e4 * (-13 / 120) / m, rel=1e-9)
    # gaps: (1000 - 996) / 2 = 2, (1005 - 1002) / 2 = 1.5
    assert fv["level_gap_bid_ticks_3"] == 2.0
    assert fv["level_gap_ask_ticks_3"] == 1.5
    for s in feature_specs(small()):
        if s.family == "book shape":
            assert fv.valid[fv.names.index(s.name)], s.name


def test_book_shape_reads_the_book_passed_in():
    f = Feed()
    f.snapshot(T, SHAPE_BIDS, SHAPE_ASKS)
    other = OrderBook("BTCUSDT", tick_size=TICK)
    other.apply_snapshot(7, np.array([500], np.int64), np.array([1.0]), np.array([504], np.int64), np.array([3.0]))
    fv = f.engine.extract_features(other)
    assert fv["spread_ticks"] == 4.0 and fv["mid_price"] == approx(50.2)
    assert fv["depth_bid_1"] == 1.0 and math.isnan(fv["depth_bid_2"])


def test_depths_need_the_levels():
    # two bid levels, three ask levels: the top-2 bid depth exists, the top-3 one does not
    fv = Feed().snapshot(T, [(1000, 2.0), (999, 3.0)], [(1002, 1.0), (1003, 4.0), (1005, 7.0)])
    assert fv["depth_bid_2"] == 5.0 and fv["depth_ask_3"] == 12.0
    assert isnan(fv, "depth_bid_3") and isnan(fv, "depth_imbalance_3")
    assert fv["depth_imbalance_2"] == 0.0 and fv["spread_ticks"] == 2.0


def test_one_sided_or_empty_book_has_no_book_shape():
    f = Feed()
    fv = f.snapshot(T, [(1000, 2.0)], [])                   # asks empty: not a valid state
    for s in feature_specs(small()):
        if s.family == "book shape":
            assert isnan(fv, s.name), s.name


# ================================================================================= order flow
# Five states of a 3-level book (ticks x size), one every 0.5 s from T:
#   s0 T+0.0 snapshot  B 1000x2 999x3 998x4             A 1001x1 1002x4 1003x5
#   s1 T+0.5 bid 1000 -> 5                              e^i = (3, 0, 0)  bid = : 5-2
#   s2 T+1.0 ask 1001 deleted, 1004x6 added: A 1002x4 1003x5 1004x6
#            every ask level moved up: V_i = -q_prev -> e^i = (1, 4, 5)
#   s3 T+1.5 bid 1001x2 added: B 1001x2 1000x5 999x3   every bid level moved up: W_i = q -> (2, 5, 3)
#   s4 T+2.0 bid 1001 deleted, 1000 -> 1; ask 1002 -> 7: B 1000x1 999x3 998x4
#            bids moved down: W_i = -q_prev = (-2, -5, -3); ask 1 =: V = 7-4 = 3  -> (-5, -5, -3)
# e = e^1: 0, 3, 1, 2, -5; multi-level sums: 0, 3, 10, 10, -13.
def ofi_feed():
    f = Feed()
    out = [f.snapshot(at(0), [(1000, 2.0), (999, 3.0), (998, 4.0)], [(1001, 1.0), (1002, 4.0), (1003, 5.0)])]
    out.append(f.delta(at(0.5), bids=[(1000, 5.0)]))
    out.append(f.delta(at(1.0), asks=[(1001, 0.0), (1004, 6.0)]))
    out.append(f.delta(at(1.5), bids=[(1001, 2.0)]))
    out.append(f.delta(at(2.0), bids=[(1001, 0.0), (1000, 1.0)], asks=[(1002, 7.0)]))
    return f, out


def test_ofi_windows_last_and_cumulative_by_hand():
    _, (v0, v1, v2, v3, v4) = ofi_feed()
    # s0: the first state has e = 0; no predecessor for ofi_last; cumulative 0
    assert isnan(v0, "ofi_last") and v0["ofi_cumulative"] == 0.0 and isnan(v0, "ofi_1s")
    # s1 (history 0.5 s): 1 s window not warm
    assert v1["ofi_last"] == 3.0 and v1["ofi_cumulative"] == 3.0 and isnan(v1, "ofi_1s")
    # s2 (history 1.0 s): ofi_1s over (T, T+1]: s1 + s2 = 3 + 1 = 4 (s0 at T is out)
    assert v2["ofi_1s"] == 4.0 and v2["ofi_last"] == 1.0 and v2["ofi_cumulative"] == 4.0
    # s3: (T+0.5, T+1.5]: s2 + s3 = 1 + 2 = 3 (s1 stamped T+0.5 is out: right-closed window)
    assert v3["ofi_1s"] == 3.0 and isnan(v3, "ofi_2s") and v3["ofi_cumulative"] == 6.0
    # s4: (T+1, T+2]: 2 - 5 = -3; (T, T+2]: 3 + 1 + 2 - 5 = 1; 3 s and 4 s not warm
    assert v4["ofi_1s"] == -3.0 and v4["ofi_2s"] == 1.0
    assert isnan(v4, "ofi_3s") and isnan(v4, "ofi_4s")
    assert v4["ofi_last"] == -5.0 and v4["ofi_cumulative"] == 1.0


def test_multi_level_and_normalised_ofi_by_hand():
    _, (*_, v4) = ofi_feed()
    # mlofi_2s over s1..s4: 3 + 10 + 10 - 13 = 10
    assert v4["mlofi_2s"] == 10.0
    # CKS depth: (q^b_1 + q^a_1)/2 per state s1..s4 = (5+1)/2, (5+4)/2, (2+4)/2, (1+7)/2 = 3, 4.5, 3, 4;
    # mean 3.625 -> 1 / 3.625 = 8/29
    assert v4["ofi_normalized_2s"] == approx(8 / 29)
    # CCZ Q per state = sum_i (q^b_i + q^a_i) / 6: (12+10)/6, (12+15)/6, (10+15)/6, (8+18)/6;
    # mean = 100/24; mlofi / (L Q) = 10 / (3 * 100/24) = 0.8
    assert v4["mlofi_normalized_2s"] == approx(0.8)
    # default pca_min_bars = 30 bars: the integrated OFI is still missing
    assert isnan(v4, "integrated_ofi_2s")


def test_an_absent_level_is_price_inf_size_zero():
    f = Feed()
    f.snapshot(at(0), [(1000, 2.0), (999, 3.0), (998, 4.0)], [(1001, 1.0), (1002, 4.0), (1003, 5.0)])
    # delete the best ask: asks 1002x4, 1003x5 and no level 3. Level 3: price +inf >= 1003 -> V = -5, e^3 = 5;
    # levels 1, 2 moved up -> e^1 = 1, e^2 = 4; then re-add 1004 x 6 at level 3: +inf -> 1004, p <= pp:
    # V = 6 -> e^3 = -6
    v1 = f.delta(at(0.5), asks=[(1001, 0.0)])
    assert v1["ofi_last"] == 1.0 and v1["ofi_cumulative"] == 1.0
    v2 = f.delta(at(1.0), asks=[(1004, 6.0)])
    assert v2["ofi_last"] == 0.0
    # mlofi over (T, T+2]: needs 2 s of history
    v3 = f.delta(at(2.0), bids=[(1000, 2.0)])               # nothing changes at 1000: e = 0
    assert v3["mlofi_2s"] == (1 + 4 + 5) + (0 + 0 - 6) + 0


def test_ofi_zscore_and_integrated_ofi_by_hand():
    # Book: bids 1000 x q, 999 x q (both levels move together), ask 1002 x 1; L = 3 (bid level 3 and ask
    # levels 2, 3 absent). First event at T+0.5, so bar 1 is (T, T+1].
    #   s0 T+0.5 q=1            bar 1 OFI 0
    #   s1 T+1.5 q=2  e^1 = e^2 = 1     bar 2 OFI 1
    #   s2 T+2.5 q=5  e = 3             bar 3 OFI 3
    #   s3 T+3.5 q=7  e = 2             bar 4 OFI 2
    #   s4 T+4.2 q=4  e = -3            (closes bar 4 first)
    f = Feed(zscore_bars=3, pca_min_bars=2)
    book = lambda q: ([(1000, q), (999, q)], [(1002, 1.0)])  # noqa: E731
    v0 = f.snapshot(at(0.5), *book(1.0))
    v1 = f.snapshot(at(1.5), *book(2.0))
    v2 = f.snapshot(at(2.5), *book(5.0))
    v3 = f.snapshot(at(3.5), *book(7.0))
    v4 = f.snapshot(at(4.2), *book(4.0))
    assert [v["ofi_last"] for v in (v1, v2, v3, v4)] == [1.0, 3.0, 2.0, -3.0]
    # fewer than 3 bars at s2 (bars 1, 2 closed)
    for v in (v0, v1, v2):
        assert isnan(v, "ofi_zscore_1s") and isnan(v, "ofi_zscore_2s")
    # s3: bars [0, 1, 3]: mu 4/3, sigma sqrt(((-4/3)^2 + (-1/3)^2 + (5/3)^2) / 2) = sqrt(7/3)
    #   ofi_1s over (T+2.5, T+3.5] = 2:  z = (2 - 4/3) / sqrt(7/3)
    #   ofi_2s over (T+1.5, T+3.5] = 3 + 2 = 5, n = 2: z = (5 - 8/3) / (sqrt(7/3) sqrt 2)
    sd = math.sqrt(7 / 3)
    assert v3["ofi_1s"] == 2.0 and v3["ofi_2s"] == 5.0
    assert v3["ofi_zscore_1s"] == approx((2 / 3) / sd)
    assert v3["ofi_zscore_2s"] == approx((7 / 3) / (sd * math.sqrt(2)))
    # s4: bars [1, 3, 2]: mu 2, sigma 1; ofi_1s (T+3.2, T+4.2] = 2 - 3 = -1 -> z = -3;
    #   ofi_2s (T+2.2, T+4.2] = 3 + 2 - 3 = 2 -> z = (2 - 4) / sqrt 2
    assert v4["ofi_1s"] == -1.0 and v4["ofi_2s"] == 2.0
    assert v4["ofi_zscore_1s"] == approx(-3.0)
    assert v4["ofi_zscore_2s"] == approx(-2 / math.sqrt(2))
    # Integrated OFI. Bar vectors OFI^i / Q_bar: (0,0,0), (1,1,0)/Q, (3,3,0)/Q', ...: the covariance is
    # v [[1,1,0],[1,1,0],[0,0,0]], whose first component from ones is (1,1,0) -> w = (1/2, 1/2, 0).
    # Q per state = (q + q + 1) / 6. Not warm at s1 (1 s of history, 1 bar).
    assert isnan(v1, "integrated_ofi_2s")
    # s2 (2 bars, 2 s of history): window (T+0.5, T+2.5] = s1, s2: OFI^1 = OFI^2 = 1 + 3 = 4;
    #   Q = (5/6 + 11/6) / 2 = 4/3 -> (0.5 * 4 + 0.5 * 4) / (4/3) = 3
    assert v2["integrated_ofi_2s"] == approx(3.0)
    # s4: window s2, s3, s4: OFI^1 = OFI^2 = 3 + 2 - 3 = 2; Q = (11 + 15 + 9) / 18 = 35/18
    #   integrated = 2 / (35/18) = 36/35; mlofi_normalized = 4 / (3 * 35/18) = 24/35
    #   ofi_normalized: (q^b_1 + q^a_1)/2 = 3, 4, 2.5 -> 2 / (9.5/3) = 12/19
    assert v4["mlofi_2s"] == 4.0
    assert v4["integrated_ofi_2s"] == approx(36 / 35, rel=1e-9)
    assert v4["mlofi_normalized_2s"] == approx(24 / 35)
    assert v4["ofi_normalized_2s"] == approx(12 / 19)


# ================================================================================= trade flow
# Book 1000 x 2 | 1002 x 2 (mid 1001) at T, then trades (side, size, price ticks):
#   tr1 T+0.5 buy 1.0 @1002   tr2 T+1.0 sell 2.0 @1000   tr3 T+2.0 buy 0.5 @1002
#   tr4 T+2.5 sell 0.25 @1001 tr5 T+3.0 buy 1.5 @1002
def trade_feed():
    f = Feed()
    f.snapshot(at(0), [(1000, 2.0)], [(1002, 2.0)])
    out = [f.trade(at(0.5), 1, 1.0, 1002), f.trade(at(1.0), -1, 2.0, 1000), f.trade(at(2.0), 1, 0.5, 1002),
           f.trade(at(2.5), -1, 0.25, 1001), f.trade(at(3.0), 1, 1.5, 1002)]
    return f, out


def test_trade_windows_by_hand():
    f, (v1, v2, v3, v4, v5) = trade_feed()
    # tr1 (0.5 s since the first event): nothing warm yet
    assert isnan(v1, "signed_volume_1s") and isnan(v1, "trade_count_2s")
    # tr2 at T+1: 1 s window (T, T+1]: +1 - 2 = -1
    assert v2["signed_volume_1s"] == -1.0 and isnan(v2, "signed_volume_2s")
    # tr3 at T+2: (T+1, T+2] = +0.5 (tr2 at T+1 is out); (T, T+2] = 1 - 2 + 0.5 = -0.5
    assert v3["signed_volume_1s"] == 0.5 and v3["signed_volume_2s"] == -0.5
    assert v3["trade_count_2s"] == 3.0 and v3["trade_imbalance_2s"] == approx(-0.5 / 3.5)
    # tr4 at T+2.5: (T+0.5, T+2.5]: -2 + 0.5 - 0.25 = -1.75 (tr1 at T+0.5 is out)
    assert v4["signed_volume_2s"] == -1.75 and isnan(v4, "signed_volume_3s")
    # tr5 at T+3: 1 s (T+2, T+3]: -0.25 + 1.5 = 1.25; 2 s (T+1, T+3]: 0.5 - 0.25 + 1.5 = 1.75;
    # 3 s (T, T+3] (warm exactly now): 1 - 2 + 0.5 - 0.25 + 1.5 = 0.75
    assert v5["signed_volume_1s"] == 1.25 and v5["signed_volume_2s"] == 1.75 and v5["signed_volume_3s"] == 0.75
    # volumes: 2 s 0.5 + 0.25 + 1.5 = 2.25; 3 s 5.25
    assert v5["trade_imbalance_2s"] == approx(1.75 / 2.25)
    assert v5["trade_imbalance_3s"] == approx(0.75 / 5.25)
    assert v5["trade_count_2s"] == 3.0 and v5["trade_count_3s"] == 5.0
    assert v5["trade_intensity_2s"] == 1.5                 # 3 trades / 2 s
    assert v5["mean_trade_size_3s"] == approx(1.05)         # 5.25 / 5
    # VWAP over 3 s: (1002*1 + 1000*2 + 1002*.5 + 1001*.25 + 1002*1.5) / 5.25 = 5256.25 / 5.25;
    # 1e4 (1001 - VWAP) / VWAP = 1e4 (5255.25 - 5256.25) / 5256.25
    assert v5["vwap_deviation_bps_3s"] == approx(-1e4 / 5256.25, rel=1e-9)
    assert v5["last_trade_offset_bps"] == approx(1e4 * 1 / 1001, rel=1e-9)   # (1002 - 1001) / 1001
    assert v5["time_since_trade_s"] == 0.0
    assert isnan(v5, "large_trade_flag")                    # fewer than 20 earlier sizes
    # a book message at T+3.25 moves the clock: 0.25 s since the last trade; the windows slide:
    # 1 s (T+2.25, T+3.25]: -0.25 + 1.5 = 1.25, 3 s (T+0.25, T+3.25]: all five = 0.75
    v6 = f.delta(at(3.25), bids=[(1000, 3.0)])
    assert v6["time_since_trade_s"] == 0.25
    assert v6["signed_volume_1s"] == 1.25 and v6["signed_volume_3s"] == 0.75


def test_empty_warm_trade_window_sums_to_zero():
    f = Feed()
    f.snapshot(at(0), [(1000, 2.0)], [(1002, 2.0)])
    v = f.delta(at(3.0), bids=[(1000, 3.0)])
    assert v["signed_volume_1s"] == 0.0 and v["signed_volume_3s"] == 0.0
    assert v["trade_count_2s"] == 0.0 and v["trade_intensity_2s"] == 0.0
    assert isnan(v, "time_since_trade_s") and isnan(v, "last_trade_offset_bps")


def test_large_trade_flag_by_hand():
    # history_window 20, quantile 0.5 (median, numpy's linear interpolation), horizon 1
    f = Feed(history_window=20, large_trade_quantile=0.5, large_trade_horizon=1)
    f.snapshot(at(0), [(1000, 100.0)], [(1002, 100.0)])
    t = at(0)
    for k in range(1, 21):                                  # sizes 1..20: at most 19 earlier sizes
        t += 10 * MS
        assert isnan(f.trade(t, 1, float(k), 1002), "large_trade_flag")
    # trade 21, size 10.5: median of 1..20 = 10.5; not strictly larger -> 0
    assert f.trade(t + 10 * MS, 1, 10.5, 1002)["large_trade_flag"] == 0.0
    # trade 22, size 10.8: the last 20 sizes are 2..20, 10.5 -> median (10.5 + 11) / 2 = 10.75 -> large
    assert f.trade(t + 20 * MS, -1, 10.8, 1000)["large_trade_flag"] == 1.0
    # trade 23, size 10.85: last 20 = 3..20, 10.5, 10.8 -> median (10.8 + 11) / 2 = 10.9 -> not large
    # (all 22 sizes would give (10.5 + 10.8) / 2 = 10.65 and a large trade: the history is capped)
    assert f.trade(t + 30 * MS, 1, 10.85, 1002)["large_trade_flag"] == 0.0


def test_large_trade_flag_horizon():
    f = Feed(history_window=20, large_trade_quantile=0.5, large_trade_horizon=2)
    f.snapshot(at(0), [(1000, 100.0)], [(1002, 100.0)])
    t = at(0)
    for k in range(1, 21):
        t += 10 * MS
        f.trade(t, 1, float(k), 1002)
    flags = []
    for size in (10.5, 10.8, 10.85, 1.0):                   # not, large, not, not (as above)
        t += 10 * MS
        flags.append(f.trade(t, 1, size, 1002)["large_trade_flag"])
    # over the last 2 evaluated trades: [no] 0, [no, yes] 1, [yes, no] 1, [no, no] 0
    assert flags == [0.0, 1.0, 1.0, 0.0]


# ===================================================================== toxicity and impact
def test_vpin_by_hand():
    # V = 1, n = 2, trades classified by the taker side (buy fraction 1 / 0)
    f = Feed(vpin_bucket_size=1.0, vpin_num_buckets=2)
    f.snapshot(at(0), [(1000, 100.0)], [(1002, 100.0)])
    # buy 1.5: bucket 1 = 1 buy (|S - B| = 1), 0.5 buy carried; one bucket -> NaN
    assert isnan(f.trade(at(0.1), 1, 1.5, 1002), "vpin")
    # sell 0.5: bucket 2 = 0.5 buy + 0.5 sell (0) -> (1 + 0) / 2 = 0.5
    assert f.trade(at(0.2), -1, 0.5, 1000)["vpin"] == 0.5
    # sell 1.75: bucket 3 = 1 sell (1), 0.75 sell carried -> (0 + 1) / 2 = 0.5
    assert f.trade(at(0.3), -1, 1.75, 1000)["vpin"] == 0.5
    # buy 0.25: bucket 4 = 0.75 sell + 0.25 buy (0.5) -> (1 + 0.5) / 2 = 0.75
    assert f.trade(at(0.4), 1, 0.25, 1002)["vpin"] == 0.75
    # buy 0.5 fills nothing: VPIN unchanged
    assert f.trade(at(0.5), 1, 0.5, 1002)["vpin"] == 0.75
    # buy 1.5 on top of the open 0.5 buy: 0.5 of it completes bucket 5 (1 buy: 1), the other 1.0
    # fills bucket 6 (1): one trade completes two buckets -> (1 + 1) / 2 = 1
    assert f.trade(at(0.6), 1, 1.5, 1002)["vpin"] == 1.0


def test_vpin_cdf_by_hand():
    # V = 1, n = 2, history_window 20: bucket imbalances 1, then 19 x 0, then 0.5, then 0
    f = Feed(vpin_bucket_size=1.0, vpin_num_buckets=2, history_window=20)
    f.snapshot(at(0), [(1000, 100.0)], [(1002, 100.0)])
    t = [at(0)]

    def tr(side, size):
        t[0] += 10 * MS
        return f.trade(t[0], side, size, 1002 if side > 0 else 1000)

    tr(1, 1.0)                                              # bucket 1: imbalance 1
    for k in range(2, 21):                                  # buckets 2..20: 0.5 buy + 0.5 sell, imbalance 0
        tr(1, 0.5)
        v = tr(-1, 0.5)
    # VPIN values so far: after bucket 2: (1 + 0)/2 = 0.5; after buckets 3..20: 0 (18 values) -> 19 values
    assert v["vpin"] == 0.0 and isnan(v, "vpin_cdf")
    tr(1, 0.75)
    v = tr(-1, 0.25)                                        # bucket 21: imbalance 0.5 -> VPIN 0.25
    # 20 values [0.5, 0 x 18, 0.25]: share <= 0.25 = 19/20
    assert v["vpin"] == 0.25 and v["vpin_cdf"] == approx(0.95)
    tr(1, 0.5)
    v = tr(-1, 0.5)                                         # bucket 22: imbalance 0 -> VPIN (0.5 + 0)/2 = 0.25
    # the last 20 values: [0 x 18, 0.25, 0.25] -> 20/20 (all 21 values would give 20/21)
    assert v["vpin"] == 0.25 and v["vpin_cdf"] == 1.0


def kyle_feed(**kw):
    # impact_bars 3, vol_bars 2, 1 s bars; first event at T+0.5: bar 1 = (T, T+1].
    #   s0 T+0.5 999|1001 mid 1000; tr T+0.7 buy 7       bar 1 close 1000 (no previous close: no pair,
    #                                                    but its volume 7 is reset all the same)
    #   tr T+1.2 buy 1 (closes bar 1); s1 T+1.5 mid 1001 bar 2: x = +1, vol 1, close 1001
    #   tr T+2.2 buy 2;  s2 T+2.5 mid 1003              bar 3: x = +2, vol 2, close 1003
    #   tr T+3.2 sell 1; s3 T+3.5 mid 1002              bar 4: x = -1, vol 1, close 1002
    #   tr T+4.2 buy 0.5 closes bar 4
    f = Feed(impact_bars=3, vol_bars=2, **kw)
    out = {}
    f.snapshot(at(0.5), [(999, 5.0)], [(1001, 5.0)])
    f.trade(at(0.7), 1, 7.0, 1001)
    out["b1"] = f.trade(at(1.2), 1, 1.0, 1001)
    f.snapshot(at(1.5), [(1000, 5.0)], [(1002, 5.0)])
    out["b2"] = f.trade(at(2.2), 1, 2.0, 1002)
    f.snapshot(at(2.5), [(1002, 5.0)], [(1004, 5.0)])
    out["b3"] = f.trade(at(3.2), -1, 1.0, 1002)
    f.snapshot(at(3.5), [(1001, 5.0)], [(1003, 5.0)])
    out["b4"] = f.trade(at(4.2), 1, 0.5, 1003)
    return f, out


def ols(x, y):
    """Slope and its t statistic of y = a + b x (plain formulas)."""
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxx = sum((a - mx) ** 2 for a in x)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    b = sxy / sxx
    a = my - b * mx
    ssr = sum((yy - a - b * xx) ** 2 for xx, yy in zip(x, y))
    return b, b / math.sqrt(ssr / (n - 2) / sxx)


def test_kyle_lambda_amihud_parkinson_by_hand():
    _, v = kyle_feed()
    R2, R3, R4 = (1e4 * math.log(1001 / 1000), 1e4 * math.log(1003 / 1001), 1e4 * math.log(1002 / 1003))
    # after bar 3: two returns -> Kyle and Amihud not warm; Parkinson has 2 bars:
    #   bar 2: H/L over {1001} and the previous close 1000 -> ln(1001/1000); bar 3: ln(1003/1001)
    assert isnan(v["b3"], "kyle_lambda") and isnan(v["b3"], "kyle_lambda_t") and isnan(v["b3"], "amihud")
    assert isnan(v["b2"], "parkinson_vol")
    p3 = 1e4 * math.sqrt((math.log(1001 / 1000) ** 2 + math.log(1003 / 1001) ** 2) / 2 / (4 * math.log(2)))
    assert v["b3"]["parkinson_vol"] == approx(p3, rel=1e-9)
    # after bar 4: pairs (x, R) = (1, R2), (2, R3), (-1, R4)
    b, t = ols([1.0, 2.0, -1.0], [R2, R3, R4])
    assert v["b4"]["kyle_lambda"] == approx(b, rel=1e-9)
    assert v["b4"]["kyle_lambda_t"] == approx(t, rel=1e-9)
    # Amihud: mean(|R2| / 1, |R3| / 2, |R4| / 1)
    assert v["b4"]["amihud"] == approx((abs(R2) + abs(R3) / 2 + abs(R4)) / 3, rel=1e-9)
    # Parkinson over bars 3, 4: bar 4 H/L over {1002} and the previous close 1003 -> ln(1003/1002)
    p4 = 1e4 * math.sqrt((math.log(1003 / 1001) ** 2 + math.log(1003 / 1002) ** 2) / 2 / (4 * math.log(2)))
    assert v["b4"]["parkinson_vol"] == approx(p4, rel=1e-9)


def test_a_new_book_history_restarts_bar_statistics_and_keeps_trade_features():
    # the Kyle scenario with VPIN buckets of 1 (n = 2): buy 7 -> 7 buckets, buy 1 -> 1, buy 2 -> 2, sell 1 -> 1
    # (all one-sided: VPIN 1), buy 0.5 stays in the open bucket
    f, v = kyle_feed(vpin_bucket_size=1.0, vpin_num_buckets=2)
    assert not isnan(v["b4"], "kyle_lambda") and v["b4"]["vpin"] == 1.0
    epoch = f.book.epoch
    # a snapshot with an older update id at T+4.4: a new book history (epoch + 1)
    w = f.snapshot(at(4.4), [(1001, 5.0)], [(1003, 5.0)], u=50)
    f.u = 50
    assert f.book.epoch == epoch + 1
    # kept: trade windows (T+3.4, T+4.4]: +0.5; VPIN; activity (T+2.4, T+4.4]: s2, tr, s3, tr, the snapshot
    assert w["signed_volume_1s"] == 0.5 and w["vpin"] == 1.0
    assert w["message_rate_2s"] == 2.5
    # restarted: the first state of the new history
    assert w["ofi_cumulative"] == 0.0 and isnan(w, "ofi_last") and isnan(w, "spread_change")
    # VPIN's open bucket (0.5 buy) was kept: a sell of 0.5 completes it (imbalance 0) -> (1 + 0) / 2
    assert f.trade(at(4.6), -1, 0.5, 1001)["vpin"] == 0.5
    # bar 5 (T+4, T+5] closes: the new history has no previous close: no return, no Parkinson term
    w = f.trade(at(5.3), 1, 1.0, 1003)
    assert isnan(w, "kyle_lambda") and isnan(w, "amihud") and isnan(w, "parkinson_vol")


def test_an_invalid_book_message_changes_no_history():
    f = Feed()
    f.snapshot(at(0), [(1000, 2.0)], [(1002, 2.0)])
    # the only ask is deleted: a one-sided book is not a state; every book feature is missing meanwhile
    v = f.delta(at(0.5), asks=[(1002, 0.0)])
    for s in feature_specs(f.config):
        if s.family in BOOK_FAMILIES:
            assert isnan(v, s.name), s.name
    # ask 1002 x 3 again: differenced against the last state (ask 1002 x 2): V = 3 - 2 = 1 -> e = -1
    # (against the one-sided book it would be V = 3, e = -3); (T, T+1] holds this one state
    v = f.delta(at(1.0), asks=[(1002, 3.0)])
    assert v["ofi_last"] == -1.0 and v["ofi_cumulative"] == -1.0 and v["ofi_1s"] == -1.0
    assert v["spread_change"] == 0.0


def test_a_long_silence_is_skipped_not_replayed():
    # 1 ms bars and 1e7 s (1e10 bars) of silence: at most max(1000, 2 x the longest bar window) bars close
    # per event, so this returns at once. The mid never moves, so every close is 1001:
    # momentum 0, EMA crossover 0, Parkinson 0, Amihud 0; RSI and Bollinger have no value (flat).
    f = Feed(bar_seconds=0.001)
    f.snapshot(T, [(1000, 5.0)], [(1002, 5.0)])
    for k in range(1, 101):                                 # 100 trades over 100 bars
        f.trade(T + k * MS, 1 if k % 2 else -1, 1.0, 1002 if k % 2 else 1000)
    v = f.delta(T + 10 ** 7 * S, bids=[(1000, 5.0)])
    assert v["momentum_10_bps"] == 0.0 and v["momentum_60_bps"] == 0.0
    assert v["ema_crossover_bps"] == 0.0
    assert v["parkinson_vol"] == 0.0 and v["amihud"] == 0.0
    assert isnan(v, "rsi_14") and isnan(v, "bollinger_position_20")
    assert v["time_since_trade_s"] == approx(1e7 - 0.1) and v["signed_volume_1s"] == 0.0
    assert v["time_since_book_s"] == 0.0 and v["ofi_1s"] == 0.0


def test_roll_spread_on_a_bid_ask_bounce():
    # roll_window 3; prices 1000 1002 1000 1002 1000: dp = 2 -2 2 -2; pairs (dp_t-1, dp_t):
    # (2,-2) (-2,2) (2,-2): means 2/3, -2/3; sum of products of deviations
    # (4/3)(-4/3) + (-8/3)(8/3) + (4/3)(-4/3) = -96/9; sample cov (ddof 1) = -16/3 -> 2 sqrt(16/3)
    f = Feed(roll_window=3)
    f.snapshot(at(0), [(999, 100.0)], [(1003, 100.0)])
    got = [f.trade(at(0.1 * (k + 1)), 1 if p > 1001 else -1, 1.0, p)["roll_spread_ticks"]
           for k, p in enumerate([1000, 1002, 1000, 1002, 1000])]
    assert all(math.isnan(g) for g in got[:4])              # 0, 0, 1, 2 pairs
    assert got[4] == approx(2 * math.sqrt(16 / 3))
    # next trade 1001: dp = 1; last 3 pairs (-2,2) (2,-2) (-2,1): x mean -2/3, y mean 1/3:
    # (-4/3)(5/3) + (8/3)(-7/3) + (-4/3)(2/3) = -84/9 -> cov -14/3 -> 2 sqrt(14/3)
    assert f.trade(at(0.6), -1, 1.0, 1001)["roll_spread_ticks"] == approx(2 * math.sqrt(14 / 3))
    # a trend: prices 1002, 1003, 1004 -> dp 1, 1, 1; pairs (1,1) (1,1) (1,1) after one more (2 more dp):
    f.trade(at(0.7), 1, 1.0, 1002)
    f.trade(at(0.8), 1, 1.0, 1003)
    v = f.trade(at(0.9), 1, 1.0, 1004)
    # last 3 pairs (1,1) (1,1) (1,1): cov 0 -> 2 sqrt(max(0, -0)) = 0 (up to the rounding of running sums)
    assert v["roll_spread_ticks"] == approx(0.0, abs_=1e-6)


# ================================================================================= volatility
# Best levels only, one state per snapshot (increasing update ids: one history):
#   s0 T+0.0 999|1001 mid 1000    spread 2
#   s1 T+0.5 1000|1001 mid 1000.5 spread 1
#   s2 T+1.0 1000|1003 mid 1001.5 spread 3
#   s3 T+2.0 999|1003  mid 1001   spread 4
#   s4 T+2.5 1000|1003 mid 1001.5 spread 3
#   s5 T+4.0 same as s4
PATH = [(0.0, 999, 1001), (0.5, 1000, 1001), (1.0, 1000, 1003), (2.0, 999, 1003), (2.5, 1000, 1003),
        (4.0, 1000, 1003)]


def path_feed(**kw):
    f = Feed(spread_window=3, **kw)
    return [f.snapshot(at(s), [(b, 1.0)], [(a, 1.0)]) for s, b, a in PATH]


def r(m1, m0):
    return 1e4 * math.log(m1 / m0)


def test_realized_vol_and_mid_returns_by_hand():
    v0, v1, v2, v3, v4, v5 = path_feed()
    r1, r2, r3, r4 = r(1000.5, 1000), r(1001.5, 1000.5), r(1001, 1001.5), r(1001.5, 1001)
    # s2 at T+1: mid at T is 1000 -> 1e4 ln(1001.5/1000); 2 s not warm
    assert v2["mid_return_1s"] == approx(r(1001.5, 1000), rel=1e-9)
    assert isnan(v2, "mid_return_2s") and isnan(v2, "realized_vol_2s")
    # s3 at T+2: mid at T+1 = 1001.5 (s2), at T = 1000 (s0)
    assert v3["mid_return_1s"] == approx(r(1001, 1001.5), rel=1e-9)
    assert v3["mid_return_2s"] == approx(r(1001, 1000), rel=1e-9)
    assert isnan(v3, "mid_return_3s")
    assert v3["realized_vol_2s"] == approx(math.sqrt(r1 ** 2 + r2 ** 2 + r3 ** 2), rel=1e-9)
    # s4 at T+2.5: (T+0.5, T+2.5] holds s2, s3, s4 (s1 stamped T+0.5 is out)
    assert v4["realized_vol_2s"] == approx(math.sqrt(r2 ** 2 + r3 ** 2 + r4 ** 2), rel=1e-9)
    assert isnan(v4, "realized_vol_3s")
    # mid at T+1.5: the last state at or before it is s2 (1001.5) -> 0; at T+0.5: s1 exactly (1000.5)
    assert v4["mid_return_1s"] == 0.0
    assert v4["mid_return_2s"] == approx(r(1001.5, 1000.5), rel=1e-9)
    # s5 at T+4 (r5 = 0): 4 s (T, T+4] = s1..s5; 3 s (T+1, T+4] = s3, s4, s5
    assert v5["realized_vol_4s"] == approx(math.sqrt(r1 ** 2 + r2 ** 2 + r3 ** 2 + r4 ** 2), rel=1e-9)
    assert v5["realized_vol_3s"] == approx(math.sqrt(r3 ** 2 + r4 ** 2), rel=1e-9)
    assert v5["mid_return_4s"] == approx(r(1001.5, 1000), rel=1e-9)
    assert v5["mid_return_3s"] == 0.0                       # mid at T+1 = 1001.5
    # the first state has no return; before 2 s of history there is no window
    assert isnan(v0, "realized_vol_2s") and isnan(v1, "mid_return_1s")


# ============================================================================ spread dynamics
def test_spread_dynamics_by_hand():
    v0, v1, v2, v3, v4, _ = path_feed()
    assert isnan(v0, "spread_change") and isnan(v0, "spread_zscore") and isnan(v0, "spread_mean_ratio")
    # s1: 2 states, window of 3 not full
    assert v1["spread_change"] == -1.0 and isnan(v1, "spread_zscore") and isnan(v1, "spread_mean_ratio")
    # s2: spreads [2, 1, 3]: mean 2, sd 1 -> z 1; ratio 3/2; change +2; 2 s history not yet
    assert v2["spread_zscore"] == approx(1.0) and v2["spread_mean_ratio"] == approx(1.5)
    assert v2["spread_change"] == 2.0 and isnan(v2, "spread_change_2s")
    # s3: [1, 3, 4]: mean 8/3, var ((5/3)^2 + (1/3)^2 + (4/3)^2)/2 = 7/3 -> z (4/3)/sqrt(7/3); ratio 4/(8/3);
    # spread 2 s ago (T: s0) = 2 -> +2
    assert v3["spread_zscore"] == approx((4 / 3) / math.sqrt(7 / 3))
    assert v3["spread_mean_ratio"] == approx(1.5)
    assert v3["spread_change"] == 1.0 and v3["spread_change_2s"] == 2.0
    # s4: [3, 4, 3]: mean 10/3, var 1/3 -> z (-1/3)/sqrt(1/3); ratio 3/(10/3) = 0.9; change -1;
    # spread at T+0.5 (s1) = 1 -> +2
    assert v4["spread_zscore"] == approx(-(1 / 3) / math.sqrt(1 / 3))
    assert v4["spread_mean_ratio"] == approx(0.9)
    assert v4["spread_change"] == -1.0 and v4["spread_change_2s"] == 2.0


# ================================================================================ indicators
IND = dict(ema_fast=1, ema_slow=2, rsi_period=2, bollinger_period=3, momentum_short=1, momentum_long=2)
IND_NAMES = ("ema_crossover_bps", "rsi_2", "bollinger_position_3", "momentum_1_bps", "momentum_2_bps")


def ind_values(fv):
    return np.array([fv[n] for n in IND_NAMES])


def test_indicators_on_bar_closes_by_hand():
    # First event at T+0.5 -> bar 1 = (T, T+1]. Mid per state; each state closes the bar before it.
    #   T+0.5 1000 | T+1.5 1002 | T+2.5 1001 | T+3.5 1004, T+3.8 1008 | trade T+4.5
    # closes: bar 1 1000, bar 2 1002, bar 3 1001, bar 4 1008 (the last state of (T+3, T+4])
    f = Feed(**IND)
    mids = [(0.5, 1000), (1.5, 1002), (2.5, 1001), (3.5, 1004)]
    vs = [f.snapshot(at(s), [(m - 1, 1.0)], [(m + 1, 1.0)]) for s, m in mids]
    v3 = vs[3]
    # after 3 closes [1000, 1002, 1001]:
    #   EMA_1 = close; EMA_2 (alpha 2/3): 1000, 3004/3, 3004/3 + (2/3)(1001 - 3004/3) = 9010/9
    #   crossover = 1e4 (1001 - 9010/9) / (9010/9) = -1e4 / 9010
    #   RSI_2: changes +2, -1: G = 1, L = 0.5 -> 100 / 1.5
    #   Bollinger_3: [1000, 1002, 1001] mean 1001, sd 1 -> 0
    #   momentum_1 = 1e4 ln(1001/1002), momentum_2 = 1e4 ln(1001/1000)
    assert v3["ema_crossover_bps"] == approx(-1e4 / 9010, rel=1e-9)
    assert v3["rsi_2"] == approx(200 / 3)
    assert v3["bollinger_position_3"] == approx(0.0, abs_=1e-9)
    assert v3["momentum_1_bps"] == approx(r(1001, 1002), rel=1e-9)
    assert v3["momentum_2_bps"] == approx(r(1001, 1000), rel=1e-9)
    # warm-up: 1 close -> nothing; 2 closes -> crossover and momentum_1 only
    assert np.isnan(ind_values(vs[1])).all()
    v2 = vs[2]
    assert v2["ema_crossover_bps"] == approx(1e4 * 2 / 3004, rel=1e-9)   # (1002 - 3004/3) / (3004/3)
    assert v2["momentum_1_bps"] == approx(r(1002, 1000), rel=1e-9)
    assert isnan(v2, "rsi_2") and isnan(v2, "bollinger_position_3") and isnan(v2, "momentum_2_bps")
    # a state inside the open bar changes no indicator (bar features change only at a close)
    v3b = f.snapshot(at(3.8), [(1007, 1.0)], [(1009, 1.0)])
    assert np.array_equal(ind_values(v3b), ind_values(v3), equal_nan=True)
    # the trade at T+4.5 closes bar 4 at 1008:
    #   EMA_2 = 9010/9 + (2/3)(1008 - 9010/9) = 27154/27 -> 1e4 (1008 - 27154/27)/(27154/27) = 620000/27154
    #   RSI: change +7: G = (7 + 1)/2 = 4, L = (0 + 0.5)/2 = 0.25 -> 100 * 4 / 4.25
    #   Bollinger [1002, 1001, 1008]: mean 3011/3, deviations -5/3 -8/3 13/3, var 258/18 -> (13/3)/(2 sqrt(43/3))
    v4 = f.trade(at(4.5), 1, 1.0, 1009)
    assert v4["ema_crossover_bps"] == approx(620000 / 27154, rel=1e-9)
    assert v4["rsi_2"] == approx(400 / 4.25)
    assert v4["bollinger_position_3"] == approx((13 / 3) / (2 * math.sqrt(43 / 3)), rel=1e-9)
    assert v4["momentum_1_bps"] == approx(r(1008, 1001), rel=1e-9)
    assert v4["momentum_2_bps"] == approx(r(1008, 1002), rel=1e-9)
    # the batch indicators on the same closes (ticks; the engine may use prices: ratios agree to rounding)
    closes = np.array([1000.0, 1002.0, 1001.0, 1008.0])
    assert v4["ema_crossover_bps"] == approx(ind.ema_crossover_bps(closes, 1, 2)[-1])
    assert v4["rsi_2"] == approx(ind.rsi(closes, 2)[-1])
    assert v4["bollinger_position_3"] == approx(ind.bollinger_position(closes, 3)[-1])
    assert v4["momentum_1_bps"] == approx(ind.momentum_bps(closes, 1)[-1])
    assert v4["momentum_2_bps"] == approx(ind.momentum_bps(closes, 2)[-1])


def test_indicators_restart_with_the_book_history():
    f = Feed(**IND)
    for s, m in [(0.5, 1000), (1.5, 1002), (2.5, 1001), (3.5, 1004)]:
        f.snapshot(at(s), [(m - 1, 1.0)], [(m + 1, 1.0)])
    f.trade(at(4.5), 1, 1.0, 1005)                          # closes bar 4 at 1004
    # a snapshot with an older update id starts a new history (book epoch changes) at T+4.6, mid 1001
    epoch = f.book.epoch
    f.snapshot(at(4.6), [(1000, 1.0)], [(1002, 1.0)], u=50)
    assert f.book.epoch == epoch + 1
    f.u = 50
    # bar 5 (T+4, T+5] closes at 1001: the first close of the new history -> every indicator missing
    v5 = f.trade(at(5.5), 1, 1.0, 1002)
    assert np.isnan(ind_values(v5)).all()
    # bar 6 closes at 1003: closes [1001, 1003] -> EMA_2 = 1001 + (2/3) 2 = 3007/3:
    # crossover 1e4 (1003 - 3007/3)/(3007/3) = 2e4/3007; momentum_1 = 1e4 ln(1003/1001); nothing else yet
    f.snapshot(at(5.7), [(1002, 1.0)], [(1004, 1.0)])
    v6 = f.trade(at(6.5), 1, 1.0, 1004)
    assert v6["ema_crossover_bps"] == approx(2e4 / 3007, rel=1e-9)
    assert v6["momentum_1_bps"] == approx(r(1003, 1001), rel=1e-9)
    assert isnan(v6, "rsi_2") and isnan(v6, "momentum_2_bps") and isnan(v6, "bollinger_position_3")


# ================================================================================== activity
def activity_feed():
    # (time, event, latency): e0 T snapshot of 4 levels (10 ms); e1 T+0.5 trade (2 ms);
    # e2 T+1 delta of 3 levels (4 ms); e3 T+2 delta of 1 level (6 ms); e4 T+3 trade (8 ms)
    f = Feed()
    v = [f.snapshot(at(0), [(1000, 1.0), (999, 1.0)], [(1002, 1.0), (1003, 1.0)], lat=10 * MS)]
    v.append(f.trade(at(0.5), 1, 1.0, 1002, lat=2 * MS))
    v.append(f.delta(at(1.0), bids=[(1000, 2.0), (999, 0.0)], asks=[(1002, 3.0)], lat=4 * MS))
    v.append(f.delta(at(2.0), bids=[(1000, 1.0)], lat=6 * MS))
    v.append(f.trade(at(3.0), -1, 1.0, 1000, lat=8 * MS))
    return f, v


def test_activity_by_hand():
    f, (v0, v1, v2, v3, v4) = activity_feed()
    assert v0["feed_latency_ms"] == 10.0 and v0["time_since_book_s"] == 0.0
    assert v1["feed_latency_ms"] == 2.0 and v1["time_since_book_s"] == 0.5
    assert isnan(v2, "message_rate_2s") and v2["feed_latency_ms"] == 4.0
    # e3 at T+2: (T, T+2] holds e1, e2, e3 -> 3 / 2 s; book messages e2, e3 -> 2 / 2; levels 3 + 1 -> 4 / 2
    assert v3["message_rate_2s"] == 1.5
    assert v3["book_update_rate_2s"] == 1.0
    assert v3["level_update_rate_2s"] == 2.0
    assert v3["feed_latency_ms"] == 6.0 and isnan(v3, "feed_latency_mean_3s_ms")
    # e4 at T+3: (T+1, T+3] holds e3, e4 (e2 at T+1 is out): 2 / 2, 1 / 2, 1 / 2;
    # latency mean over (T, T+3]: (2 + 4 + 6 + 8) / 4 = 5
    assert v4["message_rate_2s"] == 1.0
    assert v4["book_update_rate_2s"] == 0.5
    assert v4["level_update_rate_2s"] == 0.5
    assert v4["feed_latency_ms"] == 8.0 and v4["feed_latency_mean_3s_ms"] == 5.0
    assert v4["time_since_book_s"] == 1.0
    # a trade with no local time: its time is its exchange time T+3.5 and it has no latency.
    # (T+1.5, T+3.5] holds e3, e4, e5 -> 3 / 2; latency mean over (T+0.5, T+3.5]: (4 + 6 + 8) / 3
    tr = Trade("BTCUSDT", price(1002), 1.0, 1, at(3.5), "x", 1002, ts_local=0)
    f.engine.update_trade(tr)
    v5 = f.features()
    assert v5["message_rate_2s"] == 1.5
    assert v5["time_since_trade_s"] == 0.0 and v5["time_since_book_s"] == 1.5
    assert v5["feed_latency_mean_3s_ms"] == 6.0


# ========================================================================== warm-up boundaries
def test_windows_warm_exactly_at_their_length():
    f = Feed()
    f.snapshot(T, [(1000, 2.0)], [(1002, 2.0)])
    # 0.999999999 s after the first event: neither the book-history nor the trade window is warm
    v = f.trade(T + S - 1, 1, 1.0, 1002)
    assert isnan(v, "signed_volume_1s") and isnan(v, "ofi_1s") and isnan(v, "trade_count_2s")
    v = f.delta(T + S - 1, bids=[(1000, 3.0)])              # e = +1 at T + 1 s - 1 ns
    assert isnan(v, "ofi_1s") and isnan(v, "signed_volume_1s")
    # exactly 1 s: warm. (T, T+1s] holds the delta (+1) and the trade (+1)
    v = f.delta(T + S, bids=[(1000, 5.0)])                  # e = +2
    assert v["ofi_1s"] == 3.0 and v["signed_volume_1s"] == 1.0
    assert isnan(v, "ofi_2s") and isnan(v, "signed_volume_2s")
    # a trade stamped before the clock counts as now: stamped T (would be outside (T, T+1]) -> still in
    v = f.trade(T, -1, 0.5, 1000)
    assert v["signed_volume_1s"] == 0.5 and v["time_since_trade_s"] == 0.0


def test_book_history_warm_up_starts_at_the_first_state_not_the_first_event():
    # trades from T, the first book state at T+0.5: the 1 s book window is warm at T+1.5, the trade one at T+1
    f = Feed()
    f.engine.update_trade(Trade("BTCUSDT", price(1002), 1.0, 1, T, "a", 1002, ts_local=T))
    f.snapshot(at(0.5), [(1000, 2.0)], [(1002, 2.0)])
    v = f.trade(at(1.0), 1, 1.0, 1002)
    assert v["signed_volume_1s"] == 1.0 and isnan(v, "ofi_1s")   # (T, T+1]: only the second trade
    v = f.delta(at(1.499), bids=[(1000, 3.0)])
    assert isnan(v, "ofi_1s")
    v = f.delta(at(1.5), bids=[(1000, 4.0)])
    assert v["ofi_1s"] == 2.0                               # (T+0.5, T+1.5]: +1 +1


def test_an_event_without_a_time_does_not_start_the_clock():
    # A delta before any snapshot raises SequenceGapError and leaves the book without any time (ts 0);
    # the engine is told anyway, as for every book message. Time 0 is "unknown", not 1970: the first
    # timed event is the snapshot at T+0.1, so at T+0.5 no 1 s trade or activity window is warm yet.
    f = Feed()
    with pytest.raises(SequenceGapError):
        f.delta(at(0), bids=[(1000, 1.0)])
    assert f.book.ts_local == 0 and f.book.ts_exch == 0
    f.engine.update_orderbook(f.book)
    f.snapshot(at(0.1), [(1000, 2.0)], [(1002, 2.0)])
    v = f.trade(at(0.5), 1, 1.0, 1002)
    assert isnan(v, "signed_volume_1s") and isnan(v, "trade_count_2s")
    assert isnan(v, "message_rate_2s") and isnan(v, "book_update_rate_2s")
    assert v["time_since_book_s"] == approx(0.4)
    # with no timed book message at all, "seconds since the last book message" cannot be the seconds
    # since 1970 (here T + 0.5 = 1000.5 s): missing, or at most the 0.5 s the engine has run
    g = Feed()
    with pytest.raises(SequenceGapError):
        g.delta(at(0), bids=[(1000, 1.0)])
    g.engine.update_orderbook(g.book)
    w = g.trade(at(0.5), 1, 1.0, 1002)
    assert isnan(w, "time_since_book_s") or w["time_since_book_s"] <= 0.5, w["time_since_book_s"]


def test_state_window_sums_are_exact_after_an_outlier_leaves():
    # e: s1 +1e17 (1e17 - 1 rounds to 1e17), s2 -1e17, then 1, 2, 0, 0; every e is an integer and the
    # windows below hold only the small ones, so their sums are exact small integers. A running sum
    # that adds 1e17, -1e17, 1, 2 and later subtracts 1e17 and -1e17 returns 0 instead (3 - 1e17 rounds
    # to -1e17): what was added while the outlier was inside is lost until the window is recomputed.
    f = Feed()
    f.snapshot(at(0), [(1000, 1.0)], [(1002, 1.0)])
    f.delta(at(0.1), bids=[(1000, 1e17)])
    f.delta(at(0.2), bids=[(1000, 1.0)])
    f.delta(at(1.05), bids=[(1000, 2.0)])                   # e 1
    f.delta(at(1.15), bids=[(1000, 4.0)])                   # e 2
    v = f.delta(at(1.25), bids=[(1000, 4.0)])               # e 0
    assert v["ofi_1s"] == 3.0                               # (T+0.25, T+1.25]: 1 + 2 + 0
    v = f.delta(at(2.25), bids=[(1000, 4.0)])               # e 0
    # (T+0.25, T+2.25]: 1 + 2 + 0 + 0 = 3; depth (q^b_1 + q^a_1)/2 = 1.5, 2.5, 2.5, 2.5 -> 3 / (9/4)
    assert v["ofi_2s"] == 3.0
    assert v["ofi_normalized_2s"] == approx(4 / 3)
    # the trade windows already get this right: trades +1e17, -1e17, +1, +2 (VPIN buckets of 1e16)
    g = Feed(vpin_bucket_size=1e16)
    g.snapshot(at(0), [(1000, 1.0)], [(1002, 1.0)])
    for t, side, size in ((0.1, 1, 1e17), (0.2, -1, 1e17), (1.05, 1, 1.0), (1.15, 1, 2.0)):
        g.trade(at(t), side, size, 1002 if side > 0 else 1000)
    assert g.delta(at(1.25), bids=[(1000, 2.0)])["signed_volume_1s"] == 3.0


def test_a_huge_trade_is_refused_or_handled_at_once():
    # One absurd trade (1e17 with the default VPIN bucket of 50: 2e15 buckets) must not stall the engine:
    # VpinCalculator refuses rows that would fill more than 1e9 buckets; the engine must either refuse it
    # (InvalidInputError) or handle it without walking every bucket. Run in a child so a stall fails, not hangs.
    code = (
        "from ofi import Trade\n"
        "from ofi.errors import InvalidInputError\n"
        "from ofi.features import FeatureEngine\n"
        "eng = FeatureEngine()\n"
        "try:\n"
        "    eng.update_trade(Trade('BTCUSDT', 100.0, 1e17, 1, 10**12, 'a', 1000, ts_local=10**12))\n"
        "except InvalidInputError:\n"
        "    print('refused')\n"
        "else:\n"
        "    print('handled')\n"
    )
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("update_trade(size=1e17) did not return within 10 s (VPIN walks 2e15 buckets one by one)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() in ("refused", "handled")


# ============================================================================== gaps and resync
def test_gap_makes_book_features_missing_until_resync_and_warm_up():
    f = Feed()
    f.snapshot(at(0), [(1000, 2.0)], [(1002, 2.0)])                 # u 101
    f.trade(at(0.2), 1, 1.0, 1002)
    f.delta(at(0.5), bids=[(1000, 3.0)])                            # u 102, e 1
    f.delta(at(1.0), bids=[(1000, 4.0)])                            # u 103, e 1
    f.trade(at(1.2), -1, 0.5, 1000)
    v = f.delta(at(2.0), bids=[(1000, 6.0)])                        # u 104, e 2
    assert v["ofi_1s"] == 2.0 and v["ofi_2s"] == 4.0 and v["mid_price"] == approx(100.1)
    # u 106 skips 105: SequenceGapError, the book is stale; the engine is told anyway
    f.u += 1
    with pytest.raises(SequenceGapError):
        f.delta(at(2.5), bids=[(1000, 7.0)])
    assert f.book.stale
    f.engine.update_orderbook(f.book)
    v = f.features()
    specs = feature_specs(f.config)
    for s in specs:
        if s.family in BOOK_FAMILIES:
            assert isnan(v, s.name), s.name
            assert not v.valid[v.names.index(s.name)], s.name
    assert isnan(v, "last_trade_offset_bps")                # needs the current book
    # trade features stay: now = T+2 (the stale message carries the old time).
    # (T+1, T+2]: -0.5; (T, T+2]: +1 - 0.5; 2 trades; imbalance 0.5 / 1.5; last trade 0.8 s ago
    assert v["signed_volume_1s"] == -0.5 and v["signed_volume_2s"] == 0.5
    assert v["trade_count_2s"] == 2.0 and v["trade_imbalance_2s"] == approx(1 / 3)
    assert v["time_since_trade_s"] == approx(0.8, rel=1e-12)
    assert v.valid[v.names.index("signed_volume_2s")]
    np.testing.assert_array_equal(v.valid, ~np.isnan(v.values))
    # a trade while stale: trade windows move on, the book stays missing. (T+1.6, T+2.6]: +0.25
    v = f.trade(at(2.6), 1, 0.25, 1002)
    assert v["signed_volume_1s"] == 0.25 and isnan(v, "mid_price") and isnan(v, "ofi_cumulative")
    # resync at T+3 (u 200), a different book: shape is back at once, the history starts again
    v = f.snapshot(at(3.0), [(1001, 1.0)], [(1003, 1.0)], u=200)
    f.u = 200
    assert v["mid_price"] == approx(100.2) and v["spread_ticks"] == 2.0 and v["depth_bid_1"] == 1.0
    # first state of the new history: e = 0 (not differenced against the pre-gap book)
    assert v["ofi_cumulative"] == 0.0 and isnan(v, "ofi_last") and isnan(v, "ofi_1s")
    assert isnan(v, "spread_change") and isnan(v, "mid_return_1s") and isnan(v, "realized_vol_2s")
    assert v["signed_volume_1s"] == 0.25                    # (T+2, T+3]
    # u 201 at T+3.5: bid 1001 -> 3: e = 2; the 1 s window waits for T+4
    v = f.delta(at(3.5), bids=[(1001, 3.0)])
    assert v["ofi_last"] == 2.0 and v["ofi_cumulative"] == 2.0 and isnan(v, "ofi_1s")
    assert v["spread_change"] == 0.0
    # u 202 at T+4: ask 1003 -> 0.5: V = -0.5, e = 0.5; (T+3, T+4] = 2 + 0.5
    v = f.delta(at(4.0), asks=[(1003, 0.5)])
    assert v["ofi_1s"] == 2.5 and v["ofi_cumulative"] == 2.5 and isnan(v, "ofi_2s")
    assert v["mid_return_1s"] == 0.0                        # mid 1002 now and at T+3


# ==================================================================================== reset
def test_reset_forgets_everything():
    f, _ = ofi_feed()                                       # cumulative OFI 1, clock at T+2
    f.engine.reset()
    # a new book (epoch 1, like the first one) from T+10: after reset the engine must not difference it
    # against the old book's last state nor add to the old cumulative OFI
    g = Feed(f.config)
    g.engine = f.engine
    again = [g.snapshot(at(10), [(1000, 2.0)], [(1002, 1.0)]), g.delta(at(11), bids=[(1000, 3.0)])]
    h = Feed(f.config)
    want = [h.snapshot(at(10), [(1000, 2.0)], [(1002, 1.0)]), h.delta(at(11), bids=[(1000, 3.0)])]
    for a, b in zip(again, want):
        assert np.array_equal(a.values, b.values, equal_nan=True)
    # by hand: first state e = 0, then bid 1000 2 -> 3: e = 1; (T+10, T+11] = 1; 1 s of history
    assert again[0]["ofi_cumulative"] == 0.0 and isnan(again[0], "ofi_last")
    assert again[1]["ofi_cumulative"] == 1.0 and again[1]["ofi_1s"] == 1.0 and isnan(again[1], "ofi_2s")


# ========================================================= transform, streaming, no look-ahead
def sim_frames(seconds=20.0, seed=1):
    from ofi.sim import SimulatedMarket
    return SimulatedMarket(seed=seed, depth=50).generate(duration_s=seconds)


SIM_CFG = dict(orderbook_levels=5, horizons=(0.5, 1.0, 2.0, 4.0), bar_seconds=0.25, vpin_bucket_size=0.5,
               vpin_num_buckets=5, history_window=50, spread_window=20, zscore_bars=5, impact_bars=5,
               vol_bars=5, roll_window=10, large_trade_horizon=3, ema_fast=2, ema_slow=4, rsi_period=3,
               bollinger_period=4, momentum_short=2, momentum_long=5, pca_min_bars=5)


def stream(frames, config):
    """Feed the frames one by one as a live loop would: the vector after every book message and trade."""
    eng = FeatureEngine(config)
    book = OrderBook("BTCUSDT", tick_size=TICK)
    rows, ts, kind = [], [], []
    for fr in frames:
        if fr.kind == "book":
            book.apply_frame(fr.raw, fr.ts_local)
            eng.update_orderbook(book)
            rows.append(eng.extract_features(book).values.copy())
            ts.append(book.ts_local or book.ts_exch)
            kind.append(1)
        else:
            for t in Trade.from_frame(fr.raw, TICK, fr.ts_local):
                eng.update_trade(t)
                rows.append(eng.extract_features(book).values.copy())
                ts.append(t.ts_local or t.ts_exch)
                kind.append(2)
    return np.array(rows), np.array(ts, dtype=np.int64), np.array(kind)


@pytest.fixture(scope="module")
def sim():
    frames = sim_frames()
    return frames, frames_to_tape(frames, TICK)


@pytest.mark.parametrize("cfg", [SIM_CFG, {}], ids=["small", "default"])
def test_transform_equals_streaming_bit_for_bit(sim, cfg):
    frames, tape = sim
    config = FeatureConfig(**cfg)
    ff = FeatureEngine(config).transform(tape, tick_size=TICK)
    values, ts, kind = stream(frames, config)
    n_events = len(message_starts(tape)) + int((tape["kind"] == KIND_TRADE).sum())
    assert ff.values.shape == (n_events, len(feature_names(config))) == values.shape
    assert ff.names == feature_names(config)
    np.testing.assert_array_equal(ff.kind, kind)
    np.testing.assert_array_equal(ff.ts_ns, ts)
    np.testing.assert_array_equal(ff.valid, ~np.isnan(ff.values))
    bad = ~((ff.values == values) | (np.isnan(ff.values) & np.isnan(values)))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        pytest.fail(f"row {i} (kind {kind[i]}) {ff.names[j]}: transform {ff.values[i, j]!r} != stream {values[i, j]!r}")
    # the module-level function is the same computation
    ff2 = ofi.features.transform(tape, config=config, tick_size=TICK)
    assert np.array_equal(ff2.values, ff.values, equal_nan=True)
    if cfg:
        # the small configuration warms every feature up on 20 s of simulated market
        never = [n for n, ok in zip(ff.names, ff.valid.any(axis=0)) if not ok]
        assert never == [], never


def test_without_local_times_events_are_stamped_with_exchange_time(sim):
    # raw frames only (a capture without receive times): ts_local is 0 everywhere, so every event's time
    # is its exchange time, in transform and in streaming alike; latency is unknown
    frames, _ = sim
    frames = [type(fr)(0, fr.raw, fr.kind) for fr in frames[:400]]
    tape = frames_to_tape([fr.raw for fr in frames], TICK)
    assert (tape["ts_local"] == 0).all()
    config = FeatureConfig(**SIM_CFG)
    ff = FeatureEngine(config).transform(tape, tick_size=TICK)
    values, ts, kind = stream(frames, config)
    starts = message_starts(tape)
    want_ts = np.sort(np.concatenate([tape["ts_exch"][starts], tape["ts_exch"][tape["kind"] == KIND_TRADE]]))
    np.testing.assert_array_equal(np.sort(ff.ts_ns), want_ts)
    np.testing.assert_array_equal(ff.ts_ns, ts)
    assert np.array_equal(ff.values, values, equal_nan=True)
    lat = ff.names.index("feed_latency_ms")
    assert np.isnan(ff.values[:, lat]).all()


def test_transform_has_no_look_ahead(sim):
    frames, tape = sim
    config = FeatureConfig(**SIM_CFG)
    k = len(frames) // 2
    a = FeatureEngine(config).transform(frames_to_tape(frames[:k], TICK), tick_size=TICK)
    b = FeatureEngine(config).transform(frames_to_tape(frames[:k + 1], TICK), tick_size=TICK)
    n = a.values.shape[0]
    assert b.values.shape[0] > n
    assert np.array_equal(a.values, b.values[:n], equal_nan=True)
    # plant a huge trade 10 s after the end of the full tape: every earlier row is unchanged
    planted = np.concatenate([tape, tape[tape["kind"] == KIND_TRADE][-1:].copy()])
    planted["ts_local"][-1] = tape["ts_local"].max() + 10 * S
    planted["ts_exch"][-1] = tape["ts_exch"].max() + 10 * S
    planted["size"][-1] = 1e6
    full = FeatureEngine(config).transform(tape, tick_size=TICK)
    more = FeatureEngine(config).transform(planted, tick_size=TICK)
    m = full.values.shape[0]
    assert more.values.shape[0] == m + 1
    assert np.array_equal(full.values, more.values[:m], equal_nan=True)
    assert not np.array_equal(full.values[-1], more.values[-1], equal_nan=True)


def test_toxicity_index_is_the_weighted_mean_of_its_components(sim):
    _, tape = sim
    config = FeatureConfig(**SIM_CFG)
    ff = FeatureEngine(config).transform(tape, tick_size=TICK)
    col = {n: ff.values[:, i] for i, n in enumerate(ff.names)}
    comp = np.column_stack([
        col["vpin"],
        np.minimum(np.abs(col["ofi_zscore_1s"]) / 3, 1),
        np.minimum(np.maximum(col["spread_zscore"], 0) / 3, 1),
        np.abs(col["depth_imbalance_4"]),
        np.abs(col["trade_imbalance_2s"]),
        col["large_trade_flag"],
    ])
    want = comp @ np.array([0.30, 0.20, 0.15, 0.10, 0.15, 0.10])
    got = col["toxicity_index"]
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert ok.sum() > 100
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-12, atol=1e-12)
    assert ((got[ok] >= 0) & (got[ok] <= 1)).all()


def test_transform_of_an_empty_tape():
    ff = FeatureEngine(small()).transform(frames_to_tape([], TICK), tick_size=TICK)
    assert ff.values.shape == (0, len(feature_names(small()))) and ff.ts_ns.shape == (0,)


# ============================================================================= configuration
@pytest.mark.parametrize("kw", [
    dict(orderbook_levels=2), dict(orderbook_levels=1001), dict(orderbook_levels=3.0), dict(orderbook_levels=True),
    dict(vpin_bucket_size=0), dict(vpin_bucket_size=-1.0), dict(vpin_bucket_size=math.inf),
    dict(vpin_bucket_size=math.nan), dict(vpin_bucket_size="50"), dict(vpin_num_buckets=0),
    dict(history_window=1), dict(spread_window=1), dict(zscore_bars=1), dict(impact_bars=2), dict(roll_window=2),
    dict(vol_bars=1), dict(bollinger_period=1), dict(pca_min_bars=1), dict(rsi_period=0), dict(large_trade_horizon=0),
    dict(horizons=(1.0, 2.0, 3.0)), dict(horizons=(1.0, 1.0, 2.0, 3.0)), dict(horizons=(4.0, 3.0, 2.0, 1.0)),
    dict(horizons=(0.0, 1.0, 2.0, 3.0)), dict(horizons=("a", 1.0, 2.0, 3.0)), dict(horizons=5),
    dict(horizons=(1e-10, 1.0, 2.0, 3.0)), dict(bar_seconds=0), dict(bar_seconds=-1.0), dict(bar_seconds=math.inf),
    dict(ema_fast=12, ema_slow=12), dict(ema_fast=5, ema_slow=3), dict(momentum_short=10, momentum_long=10),
    dict(large_trade_quantile=0.0), dict(large_trade_quantile=1.0), dict(large_trade_quantile=True),
], ids=lambda kw: ",".join(f"{k}={v!r}" for k, v in kw.items()))
def test_config_refuses_bad_fields(kw):
    with pytest.raises(InvalidInputError):
        FeatureConfig(**kw)


def test_config_error_names_the_field():
    with pytest.raises(InvalidInputError, match="roll_window"):
        FeatureConfig(roll_window=1)


def test_config_hash_is_stable_and_follows_every_field():
    a, b = FeatureConfig(), FeatureConfig()
    assert a.hash == b.hash and len(a.hash) == 16 and int(a.hash, 16) >= 0
    assert FeatureConfig.from_dict(a.to_dict()).hash == a.hash
    changed = dict(orderbook_levels=11, vpin_bucket_size=51.0, vpin_num_buckets=49, history_window=999,
                   spread_window=99, horizons=(1.0, 10.0, 60.0, 301.0), bar_seconds=2.0, zscore_bars=61,
                   impact_bars=59, vol_bars=61, roll_window=201, large_trade_quantile=0.9, large_trade_horizon=11,
                   ema_fast=11, ema_slow=27, rsi_period=15, bollinger_period=21, momentum_short=9,
                   momentum_long=61, pca_min_bars=31)
    import dataclasses
    assert set(changed) == {fld.name for fld in dataclasses.fields(FeatureConfig)}
    seen = {a.hash}
    for k, v in changed.items():
        h = FeatureConfig(**{k: v}).hash
        assert h not in seen, k
        seen.add(h)
    # ints and floats of the same value are the same configuration
    assert FeatureConfig(vpin_bucket_size=50).hash == a.hash
    assert FeatureConfig(horizons=[1, 10, 60, 300]).hash == a.hash


def test_config_hash_is_the_same_in_another_process():
    code = "from ofi.features.config import FeatureConfig as C; print(C().hash, C(orderbook_levels=3).hash)"
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == [FeatureConfig().hash, FeatureConfig(orderbook_levels=3).hash]


def test_config_from_dict_refuses_unknown_fields_and_non_dicts():
    with pytest.raises(InvalidInputError, match="unknown"):
        FeatureConfig.from_dict({"levels": 3})
    with pytest.raises(InvalidInputError):
        FeatureConfig.from_dict([("orderbook_levels", 3)])


# ================================================================================= bad input
def test_transform_refuses_a_book_level_with_a_side_other_than_bid_or_ask(sim):
    tape = sim[1].copy()
    row = int(np.flatnonzero(tape["kind"] == 1)[7])          # a level of the snapshot
    tape["side"][row] = 4
    with pytest.raises(InvalidInputError, match="tape row 0: .*side at level 7"):
        FeatureEngine(small()).transform(tape, tick_size=TICK)


def test_boundary_inputs_raise_a_clear_error():
    eng = FeatureEngine(small())
    book = OrderBook("BTCUSDT", tick_size=TICK)
    with pytest.raises(InvalidInputError):
        eng.extract_features(None)
    with pytest.raises(InvalidInputError):
        eng.extract_features("book")
    with pytest.raises(InvalidInputError):
        eng.update_trade("x")
    with pytest.raises(InvalidInputError):
        eng.update_trade(None)
    with pytest.raises(InvalidInputError):
        eng.update_orderbook(None)
    with pytest.raises(InvalidInputError):
        eng.update_orderbook(Trade("BTCUSDT", 1.0, 1.0, 1, T, "a", 10))
    for bad in (np.zeros(3), np.zeros(3, dtype=np.int64), [1, 2, 3], None, "tape"):
        with pytest.raises(InvalidInputError):
            eng.transform(bad, tick_size=TICK)
    with pytest.raises(InvalidInputError):
        eng.transform(np.zeros((2, 2), dtype=frames_to_tape([], TICK).dtype), tick_size=TICK)
    with pytest.raises(InvalidInputError):
        ofi.features.transform(np.zeros(3), tick_size=TICK)
    with pytest.raises(InvalidInputError):
        FeatureEngine(config="small")
    # the engine is still usable after refusing input
    assert eng.extract_features(book).values.shape == (len(feature_names(small())),)


def test_errors_are_ofi_errors():
    with pytest.raises(OfiError):
        FeatureEngine().update_trade(3)
