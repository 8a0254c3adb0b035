"""Feature-engine parity: the compiled ``FeatureEngine`` against the pure-Python twin
(tests/reference/features.py) on simulated markets and the real XRPUSDT capture.

Every event's 75 features are compared: the NaN masks exactly, the values to rtol 1e-9 plus an
absolute tolerance of 1e-9 times the column's largest magnitude (the kernel keeps running sums
that cancel, the twin sums each window afresh). ``transform`` must equal the streaming calls bit
for bit. The streams cover short horizons (everything warms within a few seconds), the default
configuration, dropped deltas (SequenceGapError, the book stale until a snapshot of the true book
resyncs it), a crossed book (BookIntegrityError), a snapshot that continues a healthy history,
local times missing on some frames (the exchange time, earlier than the clock, is used), a silence
longer than the bar-close cap, and a book shallower than ``orderbook_levels``.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ofi import OrderBook, Trade
from ofi.data.tape import FLAG_BEGIN, FLAG_BLOCK, FLAG_RPI, KIND_BOOK, KIND_TRADE, frames_to_tape
from ofi.errors import BookIntegrityError, SequenceGapError
from ofi.features import FeatureConfig, FeatureEngine, feature_names
from ofi.sim import SimulatedMarket
from reference.features import ReferenceFeatureEngine

TICK = "0.1"
S = 1_000_000_000
RTOL = 1e-9
ATOL_REL = 1e-9

# Short windows: every feature warms within a few seconds of a 20 ms (depth 50) feed.
SMALL = FeatureConfig(
    orderbook_levels=5, vpin_bucket_size=400.0, vpin_num_buckets=5, history_window=50, spread_window=10,
    horizons=(0.05, 0.2, 1.0, 3.0), bar_seconds=0.1, zscore_bars=5, impact_bars=5, vol_bars=5, roll_window=10,
    large_trade_horizon=3, ema_fast=2, ema_slow=4, rsi_period=3, bollinger_period=4, momentum_short=2,
    momentum_long=5, pca_min_bars=5)


# ---------------------------------------------------------------------------- simulated feeds
def sim_frames(seed, n_frames, *, depth=50, trade_rate=10.0, qty_step="1", drop=(), resync_after=(), cross=(),
               silence=None, zero_local=0.0):
    """``(ts_local, raw)`` frames of a simulated market with injected faults.

    drop : book-frame indices (0 = the first snapshot) not delivered: the next delta is a gap.
    resync_after : book-frame indices after which a snapshot of the simulator's true book is sent
        (same ``u``): a resync after a gap, else the continuation of a healthy history.
    cross : book-frame indices whose delta also adds a bid at the best ask (a crossed book).
    silence : (frame index, ns) - every local time from that frame on is shifted by ns.
    zero_local : share of frames delivered without a local time (``ts_local`` 0).
    """
    m = SimulatedMarket(seed=seed, depth=depth, trade_rate=trade_rate, qty_step=qty_step, tick_size=TICK)
    rng = np.random.default_rng(seed + 1)
    out = []
    n_book = -1
    shift = 0
    for k, f in enumerate(m.frames(n_messages=n_frames)):
        if silence is not None and k == silence[0]:
            shift = silence[1]
        ts = f.ts_local + shift
        raw = f.raw
        if f.kind == "book":
            n_book += 1
            if n_book in drop:
                continue
            if n_book in cross:
                d = json.loads(raw)
                _, asks = m.true_book()
                d["data"]["b"].append([m.format_price(asks[0][0]), "5"])
                raw = json.dumps(d)
        out.append((0 if rng.random() < zero_local else ts, raw))
        if f.kind == "book" and n_book in resync_after:
            d = json.loads(f.raw)
            bids, asks = m.true_book()
            snap = {"topic": d["topic"], "type": "snapshot", "ts": d["ts"],
                    "data": {"s": d["data"]["s"], "b": [[m.format_price(t), repr(q)] for t, q in bids],
                             "a": [[m.format_price(t), repr(q)] for t, q in asks], "u": d["data"]["u"],
                             "seq": d["data"]["seq"]}, "cts": d["cts"]}
            out.append((ts + 1, json.dumps(snap)))
    return out


def sim_tape(seed, n_frames, **kw):
    return frames_to_tape(sim_frames(seed, n_frames, **kw), TICK)


# ---------------------------------------------------------------------------- drivers
def event_starts(tape):
    kinds = tape["kind"]
    return np.flatnonzero((kinds == KIND_TRADE) | ((kinds == KIND_BOOK) & ((tape["flags"] & FLAG_BEGIN) != 0)))


def stream(engine, tape, tick=TICK, symbol="SIM"):
    """The compiled engine fed event by event; returns (ts, values, kind) like a FeatureFrame."""
    book = OrderBook(symbol, tick_size=tick)
    tick_f = book.tick_size
    ts, rows, kind = [], [], []
    for i in event_starts(tape).tolist():
        row = tape[i]
        if row["kind"] == KIND_TRADE:
            f = int(row["flags"])
            p = int(row["price_ticks"])
            engine.update_trade(Trade(symbol, p * tick_f, float(row["size"]), int(row["side"]), int(row["ts_exch"]),
                                      "", p, int(row["seq"]), bool(f & FLAG_BLOCK), bool(f & FLAG_RPI),
                                      int(row["ts_local"])))
            kind.append(2)
        else:
            try:
                book.apply_tape(tape, i)
            except (SequenceGapError, BookIntegrityError):
                pass                        # the book is stale: the engine is told all the same
            engine.update_orderbook(book)
            kind.append(1)
        fv = engine.extract_features(book)
        assert np.array_equal(fv.valid, ~np.isnan(fv.values))
        ts.append(fv.ts_ns)
        rows.append(fv.values)
    return np.array(ts, dtype=np.int64), np.array(rows).reshape(len(rows), -1), np.array(kind, dtype=np.int8)


# ---------------------------------------------------------------------------- comparison
def _scale(a, b):
    finite = np.concatenate([a[np.isfinite(a)], b[np.isfinite(b)]])
    return max(1.0, float(np.abs(finite).max())) if finite.size else 1.0


def assert_matches_twin(got, want, kind, ts, names, config, where=""):
    """NaN masks identical, values within rtol 1e-9 + 1e-9 * max(1, max |column|).

    ``kyle_lambda_t`` is not compared where the fit is exact up to rounding (|t| >= 1e3 sqrt(n - 2),
    i.e. R^2 >= 1 - 1e-6, or t NaN on one side only): there t = slope / sqrt(RSS / ...) divides by
    the rounding residue of RSS ~ eps Syy and is noise on both sides (as in test_impact_parity).
    """
    t_max = 1e3 * math.sqrt(config.impact_bars - 2)
    assert got.shape == want.shape, (got.shape, want.shape)
    problems = []
    for j, name in enumerate(names):
        a, b = got[:, j], want[:, j]
        na, nb = np.isnan(a), np.isnan(b)
        ok = (na & nb) | np.isclose(a, b, rtol=RTOL, atol=ATOL_REL * _scale(a, b))
        ok &= na == nb
        if name == "kyle_lambda_t":
            slope = names.index("kyle_lambda")
            fitted = ~np.isnan(got[:, slope]) & ~np.isnan(want[:, slope])
            ok |= fitted & ~((np.abs(a) < t_max) & (np.abs(b) < t_max))
        bad = np.flatnonzero(~ok)
        if bad.size:
            i = int(bad[0])
            problems.append((i, name, bad.size, got[i, j], want[i, j]))
    if problems:
        problems.sort()
        lines = [f"{where}: {len(problems)} features differ from the twin; first at event {problems[0][0]}"]
        for i, name, n_bad, g, w in problems[:12]:
            lines.append(f"  {name}: {n_bad} events, first {i} (kind {kind[i]}, ts {ts[i]}): "
                         f"kernel {g!r}, twin {w!r}")
        pytest.fail("\n".join(lines))


def assert_same_bits(a, b):
    assert a.shape == b.shape
    assert np.array_equal(a.view(np.uint64), b.view(np.uint64)) or np.array_equal(a, b, equal_nan=True)


def check_tape(config, tape, tick=TICK, *, streaming=True, where=""):
    """Twin vs transform (and transform vs streaming, bit for bit); returns the twin's rows."""
    twin = ReferenceFeatureEngine(config)
    ts, X, kind = twin.run_tape(tape, tick)
    names = feature_names(config)
    assert twin.names == names
    frame = FeatureEngine(config).transform(tape, tick)
    assert frame.names == names and frame.values.shape == (len(ts), len(names))
    np.testing.assert_array_equal(frame.ts_ns, ts)
    np.testing.assert_array_equal(frame.kind, kind)
    assert np.array_equal(frame.valid, ~np.isnan(frame.values))
    assert_matches_twin(frame.values, X, kind, ts, names, config, where or "transform")
    if streaming:
        s_ts, s_X, s_kind = stream(FeatureEngine(config), tape, tick)
        np.testing.assert_array_equal(s_ts, frame.ts_ns)
        np.testing.assert_array_equal(s_kind, frame.kind)
        assert_same_bits(s_X, frame.values)
    return ts, X, kind


def warm_share(X, names):
    return {n: float(np.mean(~np.isnan(X[:, j]))) for j, n in enumerate(names)}


# ---------------------------------------------------------------------------- simulated markets
@pytest.mark.parametrize("seed, trade_rate", [(1, 10.0), (2, 40.0)])
def test_small_windows_match_the_twin(seed, trade_rate):
    tape = sim_tape(seed, 2500, trade_rate=trade_rate)
    ts, X, kind = check_tape(SMALL, tape, where=f"seed {seed}")
    # the stream is long enough for every feature to warm up
    share = warm_share(X, feature_names(SMALL))
    assert min(share.values()) > 0.5, {n: v for n, v in share.items() if v <= 0.5}


def test_gaps_resyncs_a_crossed_book_missing_local_times_and_a_long_silence():
    tape = sim_tape(7, 3000, trade_rate=15.0, drop=(400, 1000, 1001), resync_after=(600, 1300, 1400, 1900),
                    cross=(1600,), silence=(2300, 150 * S), zero_local=0.05)
    ts, X, kind = check_tape(SMALL, tape, where="faults")
    names = feature_names(SMALL)
    ofi_last = X[:, names.index("ofi_last")]
    books = kind == 1
    # the book went stale three times (two gaps, one crossed book): book features NaN there
    stale = books & np.isnan(X[:, names.index("mid_price")])
    assert stale.sum() > 100
    assert np.isnan(ofi_last[stale]).all()
    # trade features survive a stale book
    assert not np.isnan(X[stale, names.index("time_since_book_s")]).any()


@settings(max_examples=20, deadline=None, phases=[Phase.explicit, Phase.generate], derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), trade_rate=st.sampled_from([0.0, 3.0, 30.0]),
       levels=st.sampled_from([3, 5, 10]), bar_seconds=st.sampled_from([0.03, 0.1, 0.25]),
       gap=st.integers(50, 500), resync_delay=st.integers(1, 200), zero_local=st.sampled_from([0.0, 0.1]))
def test_random_markets_and_configs_match_the_twin(seed, trade_rate, levels, bar_seconds, gap, resync_delay,
                                                   zero_local):
    config = FeatureConfig(
        orderbook_levels=levels, vpin_bucket_size=300.0, vpin_num_buckets=4, history_window=40, spread_window=8,
        horizons=(0.05, 0.3, 1.0, 2.5), bar_seconds=bar_seconds, zscore_bars=4, impact_bars=4, vol_bars=3,
        roll_window=6, large_trade_horizon=4, ema_fast=2, ema_slow=3, rsi_period=2, bollinger_period=3,
        momentum_short=1, momentum_long=3, pca_min_bars=4)
    tape = sim_tape(seed, 900, trade_rate=trade_rate, drop=(gap,), resync_after=(gap + resync_delay,),
                    zero_local=zero_local)
    check_tape(config, tape, where=f"seed {seed}")


def test_a_feed_whose_first_snapshot_is_lost():
    # the deltas before the resync are rejected by a book that never had a snapshot: its times are
    # still 0, so the first event is stamped 0 (the engine starts its clock there)
    tape = sim_tape(5, 800, trade_rate=20.0, drop=(0, 1), resync_after=(40,), zero_local=0.2)
    ts, X, kind = check_tape(SMALL, tape, where="first snapshot lost")
    names = feature_names(SMALL)
    assert np.isnan(X[:30, names.index("mid_price")]).all() and not np.isnan(X[-1, names.index("ofi_3s")])


def _book_frame(kind, u, bids, asks, ts_ms):
    return json.dumps({"topic": "orderbook.50.BTCUSDT", "type": kind, "ts": ts_ms,
                       "data": {"s": "BTCUSDT", "b": bids, "a": asks, "u": u, "seq": 1000 + u}, "cts": ts_ms - 1})


def _trade_frame(ts_ms, side, price, size):
    return json.dumps({"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": ts_ms, "data": [
        {"T": ts_ms - 1, "s": "BTCUSDT", "S": side, "v": size, "p": price, "L": "PlusTick", "i": f"t{ts_ms}",
         "BT": False, "seq": 1}]})


def test_a_quiet_book_gives_the_degenerate_values():
    # 8 levels a side, only level 8 changes (beyond L = 5), one identical buy every 37 messages:
    # every e^i is 0, the mid never moves, the bar OFIs have no variance and C w = 0
    t0 = 1_700_000_000_000
    bids = [[f"{100.0 - 0.1 * i:.1f}", "2"] for i in range(8)]
    asks = [[f"{100.1 + 0.1 * i:.1f}", "3"] for i in range(8)]
    frames = [((t0 + 3) * 10**6, _book_frame("snapshot", 1, bids, asks, t0))]
    for k in range(1, 400):
        ts = t0 + 20 * k
        frames.append(((ts + 3) * 10**6, _book_frame("delta", 1 + k, [["99.3", str(2 + k % 3)]],
                                                     [["100.8", str(3 + k % 2)]], ts)))
        if k % 37 == 0:
            frames.append(((ts + 5) * 10**6, _trade_frame(ts, "Buy", "100.1", "1")))
    ts, X, kind = check_tape(SMALL, frames_to_tape(frames, TICK), where="quiet book")
    last = dict(zip(feature_names(SMALL), X[-1]))
    for name in ("ofi_3s", "ofi_cumulative", "mlofi_200ms", "realized_vol_3s", "parkinson_vol", "mid_return_3s",
                 "kyle_lambda", "momentum_5_bps", "ema_crossover_bps", "spread_change_200ms"):
        assert last[name] == 0.0, name
    for name in ("ofi_zscore_200ms", "integrated_ofi_200ms", "kyle_lambda_t", "spread_zscore", "rsi_3",
                 "bollinger_position_4", "large_trade_flag", "vpin", "trade_imbalance_200ms"):
        assert math.isnan(last[name]), name
    assert last["feed_latency_ms"] == 3.0 and last["level_update_rate_200ms"] == 100.0


def test_bollinger_position_at_large_prices_keeps_full_precision():
    config = FeatureConfig(
        orderbook_levels=5, vpin_bucket_size=300.0, vpin_num_buckets=4, history_window=40, spread_window=2,
        horizons=(0.05, 0.3, 1.0, 2.5), bar_seconds=0.03, zscore_bars=4, impact_bars=4, vol_bars=3, roll_window=6,
        large_trade_horizon=4, ema_fast=2, ema_slow=3, rsi_period=1, bollinger_period=3, momentum_short=1,
        momentum_long=3, pca_min_bars=2)
    tape = sim_tape(45897, 900, trade_rate=0.0, drop=(481,), resync_after=(522,), zero_local=0.1)
    check_tape(config, tape, streaming=False, where="Bollinger at 6e5 ticks")


def test_a_book_shallower_than_the_levels_read():
    # L = 55 on a 50-level book: levels 51..55 are absent (price -inf / +inf, size 0) in every OFI,
    # and the L-level book-shape features are NaN
    config = FeatureConfig(orderbook_levels=55, horizons=(0.05, 0.2, 1.0, 3.0), bar_seconds=0.1, zscore_bars=5,
                           impact_bars=5, vol_bars=5, pca_min_bars=5, vpin_bucket_size=400.0, vpin_num_buckets=5)
    tape = sim_tape(3, 1500, trade_rate=10.0)
    ts, X, kind = check_tape(config, tape, where="L=55")
    names = feature_names(config)
    assert np.isnan(X[:, names.index("depth_bid_55")]).all()
    assert np.isnan(X[:, names.index("vamp_offset_bps_55")]).all()
    assert not np.isnan(X[-1, names.index("mlofi_normalized_200ms")])


def test_default_config_matches_the_twin():
    # depth 200 pushes every 100 ms (plus ~6 trade frames a second): ~375 s of feed, a gap at
    # ~310 s and a resync 5 s later, so the 5-minute windows warm up once and the restart is
    # visible in every book-history feature
    tape = sim_tape(11, 6000, depth=200, trade_rate=2.0, drop=(3100,), resync_after=(3150,))
    ts, X, kind = check_tape(FeatureConfig(), tape, where="default config")
    names = feature_names(FeatureConfig())
    assert (~np.isnan(X[:, names.index("ofi_5m")])).any()
    assert (~np.isnan(X[:, names.index("vpin_cdf")])).any()
    assert (~np.isnan(X[:, names.index("integrated_ofi_10s")])).any()


def test_warm_up_follows_the_clock():
    """Hand-checkable warm-up on a feed without faults: a trade or activity window of h is first
    defined at the first event h after the first event; a book-history window at the first event h
    after the first state; ofi_last from the second state on."""
    tape = sim_tape(5, 1200, trade_rate=20.0)
    ts, X, kind = check_tape(SMALL, tape, streaming=False, where="warm-up")
    names = feature_names(SMALL)
    t0 = ts[0]                               # the first event is the snapshot: the first state too
    for h, label in zip(SMALL.horizons_ns[:3], ("50ms", "200ms", "1s")):
        first = int(np.argmax(ts - t0 >= h))
        for name in (f"signed_volume_{label}", f"ofi_{label}", f"mid_return_{label}"):
            col = X[:, names.index(name)]
            assert np.isnan(col[:first]).all() and not np.isnan(col[first]), name
    assert np.isnan(X[0, names.index("ofi_last")]) and not np.isnan(X[1:, names.index("ofi_last")]).any()
    assert X[0, names.index("ofi_cumulative")] == 0.0
    # the trade counts are the counts of trades in the window, by hand
    label = "200ms"
    h = SMALL.horizons_ns[1]
    col = X[:, names.index(f"trade_count_{label}")]
    trade_ts = ts[kind == 2]
    for i in range(0, len(ts), 97):
        if ts[i] - t0 >= h:
            assert col[i] == np.count_nonzero((trade_ts[:np.count_nonzero(kind[:i + 1] == 2)] > ts[i] - h))


# ---------------------------------------------------------------------------- the real capture
REAL = FeatureConfig(orderbook_levels=10, horizons=(0.2, 0.5, 1.0, 2.0), bar_seconds=0.1, zscore_bars=5,
                     impact_bars=5, vol_bars=5, spread_window=10, ema_fast=2, ema_slow=4, rsi_period=3,
                     bollinger_period=4, momentum_short=2, momentum_long=5, pca_min_bars=5)


@pytest.mark.realdata
@pytest.mark.parametrize("local_times", [False, True])
def test_the_real_xrpusdt_capture_matches_the_twin(xrp_frames, local_times):
    # the capture holds 50 frames (1 snapshot + 49 deltas, ~4.8 s, no trades); without local
    # times the engine runs on the exchange times
    frames = xrp_frames
    if local_times:
        frames = [(1_733_011_200_700_000_000 + i * 100_000_000, raw) for i, raw in enumerate(xrp_frames)]
    tape = frames_to_tape(frames, "0.0001")
    ts, X, kind = check_tape(REAL, tape, "0.0001", where=f"XRPUSDT local_times={local_times}")
    names = feature_names(REAL)
    assert len(ts) == 50 and (kind == 1).all()
    last = dict(zip(names, X[-1]))
    assert last["mid_price"] == pytest.approx((1.9537 + 1.9538) / 2)
    # (the spread is one tick throughout: spread_zscore is NaN, its window has no variance)
    assert math.isnan(last["spread_zscore"]) and last["spread_mean_ratio"] == 1.0
    for name in ("ofi_2s", "realized_vol_1s", "mid_return_2s", "ofi_zscore_500ms", "book_update_rate_500ms"):
        assert not math.isnan(last[name]), name
    assert math.isnan(last["vpin"]) and math.isnan(last["time_since_trade_s"])
    assert math.isnan(last["feed_latency_ms"]) != local_times
