"""The compiled model-driven strategy against its Python twin.

``ModelStrategy(compiled=False)`` runs the public classes (``FeatureEngine``, the model's
``predict_proba``, ``SignalGenerator``, ``PositionManager``); the default runs
``ofi._core.strategy.StrategyKernel``. On the same tape and config the two must send the same
orders: the JSON reports are compared byte for byte, and every decision (signal, probability,
reasons) after every book message is compared too. The configs cover every model kind, every
sizing mode and close rule, each risk exit, required features, the watch-only start, sampled
latencies and a UTC midnight with a daily-loss halt on both sides of it.
"""
from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ofi.backtest import BacktestConfig, BacktestEngine, Latency, ModelStrategy
from ofi.backtest.report import to_json
from ofi.data.tape import KIND_BOOK, frames_to_tape
from ofi.errors import InvalidInputError
from ofi.features import FeatureEngine
from ofi.models import GradientBoostingModel, LogisticModel
from ofi.models.labels import forward_move_labels
from ofi.sim import SimulatedMarket
from ofi.strategy import PositionConfig, PositionManager, SignalConfig

MIDNIGHT_MS = 1_700_006_400_000          # 2023-11-15 00:00:00 UTC


@pytest.fixture(scope="module")
def models():
    m = SimulatedMarket(seed=41, depth=50)
    tick = str(m.tick_size)
    tape = frames_to_tape(m.generate(duration_s=300), tick)
    eng = FeatureEngine()
    ff = eng.transform(tape, tick, progress=False)
    lab3 = forward_move_labels(ff.ts_ns, ff.column("mid_price"), horizon_ns=5_000_000_000, dead_zone_ticks=1,
                               tick_size=float(tick))
    lab2 = forward_move_labels(ff.ts_ns, ff.column("mid_price"), horizon_ns=5_000_000_000, dead_zone_ticks=0,
                               tick_size=float(tick), classes=2)
    out = {}
    for name, lab in (("binary", lab2), ("three", lab3)):
        rows = (ff.kind == KIND_BOOK) & lab.valid
        out[name] = GradientBoostingModel(learning_rate=0.2, random_state=0).train(
            ff.values[rows], lab.y[rows], n_trees=30, max_depth=4, feature_names=ff.names,
            feature_config_hash=eng.config_hash)
    rows = (ff.kind == KIND_BOOK) & lab2.valid
    out["logistic"] = LogisticModel(C=0.1).fit(ff.values[rows], lab2.y[rows], feature_names=ff.names,
                                              feature_config_hash=eng.config_hash)
    return out


@pytest.fixture(scope="module")
def tapes():
    a = SimulatedMarket(seed=42, depth=50)
    b = SimulatedMarket(seed=43, depth=50, start_ts_ms=MIDNIGHT_MS - 240_000)
    return {"day": (frames_to_tape(a.generate(duration_s=420), str(a.tick_size)), str(a.tick_size)),
            "midnight": (frames_to_tape(b.generate(duration_s=480), str(b.tick_size)), str(b.tick_size))}


def _decision(s):
    r = s.last_signal
    if r is None:
        return None
    p = "nan" if math.isnan(r.probability) else r.probability
    z = "nan" if math.isnan(r.ofi_zscore) else r.ofi_zscore
    return int(r.signal), p, z, r.mid_price, r.spread_bps, r.ts_ns, r.reasons


class Spy(ModelStrategy):
    """Keeps every decision (after every book message) and the position state at each fill."""

    def on_start(self, ctx):
        super().on_start(ctx)
        self.log = []
        self.at_fill = []

    def on_book(self, ctx, book):
        super().on_book(ctx, book)
        self.log.append(_decision(self))

    def on_fill(self, ctx, fill):
        super().on_fill(ctx, fill)
        st_ = self.position_state
        self.at_fill.append(tuple("nan" if isinstance(v, float) and math.isnan(v) else v for v in st_.values()))


T_SPLIT_NS = (1_700_000_000_000 + 60_000) * 1_000_000

CASES = {
    "ofi-only, fixed, reversal": dict(
        model=None, signal=SignalConfig(ofi_threshold=1.0, cooldown_ns=500_000_000),
        position=PositionConfig(sizing="fixed", qty=0.01)),
    "binary GBM, fraction, band, stop and take-profit": dict(
        model="binary", signal=SignalConfig(prob_threshold_long=0.53, prob_threshold_short=0.47, close_on="band",
                                            cooldown_ns=200_000_000),
        position=PositionConfig(sizing="fraction", fraction=0.5, stop_loss_bps=0.5, take_profit_bps=0.8)),
    "three-class GBM, vol target, no close, holding time, required, watch first": dict(
        model="three", signal=SignalConfig(prob_threshold_long=0.52, prob_threshold_short=0.48, close_on="none",
                                           required_features=("vpin", "kyle_lambda")),
        position=PositionConfig(sizing="vol_target", target_vol_bps=50.0, max_notional=2_000.0,
                                max_holding_ns=15_000_000_000),
        trade_after_ns=T_SPLIT_NS),
    "logistic, odd quantity grid, wide-spread gate": dict(
        model="logistic", signal=SignalConfig(prob_threshold_long=0.51, prob_threshold_short=0.49, max_spread_bps=0.02,
                                              cooldown_ns=0),
        position=PositionConfig(sizing="fraction", fraction=0.37, qty_step="0.003", min_qty="0.009",
                                max_notional=1_500.0)),
}


def _run(tape, tick, case, compiled, engine_cfg, cls=Spy):
    kw = dict(case)
    name = kw.pop("model")
    models = kw.pop("_models")
    model = models[name] if name else None
    s = cls(model, compiled=compiled, **kw)
    assert s.compiled is compiled
    res = BacktestEngine(engine_cfg).run(s, tape, tick, symbol="BTCUSDT")
    return s, res


def _compare(tape, tick, case, engine_cfg, min_fills=4):
    py, res_py = _run(tape, tick, case, False, engine_cfg)
    cc, res_cc = _run(tape, tick, case, True, engine_cfg)
    assert py.n_book_messages == cc.n_book_messages > 1000
    assert len(res_py.fills) >= min_fills            # the case trades: the comparison means something
    first = next(i for i, (a, b) in enumerate(zip(py.log, cc.log)) if a != b) if py.log != cc.log else None
    assert first is None, f"decision {first} differs: {py.log[first]} != {cc.log[first]}"
    assert py.at_fill == cc.at_fill
    assert to_json(res_py) == to_json(res_cc)
    # A plain ModelStrategy takes the event loop's fast path (Spy's on_book override keeps the
    # loop off it): the kernel is called from C and only orders return to Python.
    plain, res_plain = _run(tape, tick, case, True, engine_cfg, cls=ModelStrategy)
    assert plain._compiled_kernel()[0] is not None
    assert plain.n_book_messages == py.n_book_messages
    assert to_json(res_plain) == to_json(res_py)
    return py, cc, res_py


@pytest.mark.parametrize("name", list(CASES))
def test_compiled_equals_python(models, tapes, name):
    tape, tick = tapes["day"]
    case = dict(CASES[name], _models=models)
    cfg = BacktestConfig(order_latency=2_000_000, feed_latency=500_000, slippage_bps=0.5)
    py, cc, res = _compare(tape, tick, case, cfg)
    assert len(res.trades) >= 2                          # positions were opened and closed
    if "holding" in name:
        # close_on="none": the holding time is the only exit, so every round trip but the last
        # (closed by flat_at_end) lasts 15 s plus at most a book interval and the latencies
        held = (res.trades["exit_ts"] - res.trades["entry_ts"])[:-1]
        assert len(held) and (held >= 15_000_000_000).all() and (held < 15_200_000_000).all()
        assert res.fills["ts_ns"][0] > T_SPLIT_NS         # watched until the split


def test_midnight_daily_loss_and_sampled_latency(models, tapes):
    """A daily-loss halt before midnight, lifted by the new UTC day; latencies drawn per request."""
    tape, tick = tapes["midnight"]
    case = dict(model="binary", _models=models,
                signal=SignalConfig(prob_threshold_long=0.51, prob_threshold_short=0.49, cooldown_ns=100_000_000),
                position=PositionConfig(sizing="fixed", qty=0.05, max_daily_loss=0.5))
    cfg = BacktestConfig(order_latency=Latency.lognormal(3_000_000, 0.5), feed_latency=Latency.lognormal(400_000, 0.3),
                         seed=7)
    py, cc, res = _compare(tape, tick, case, cfg)
    # One opening fill pays 0.05 * ~60000 * 0.00055 = ~1.65 in fees, beyond the 0.5 daily loss:
    # each day the first position halts trading at once, the halt closes it (daily_loss) and
    # nothing opens again until the next UTC day.
    rel = res.fills["ts_ns"] - MIDNIGHT_MS * 1_000_000
    before, after = rel[rel < 0], rel[rel >= 0]
    assert len(before) == 2 and len(after) == 2
    assert before[1] - before[0] < 1_000_000_000 and after[1] - after[0] < 1_000_000_000
    assert after[0] < 5_000_000_000                      # the new day lifted the halt at once
    assert all(row[-1] for row in py.at_fill)            # halted at every fill, in both (compared)
    assert [abs(row[0]) for row in py.at_fill] == [0.05, 0.0, 0.05, 0.0]    # open, closed, open, closed


def test_compiled_is_the_default_and_refuses_foreign_models(models):
    assert ModelStrategy(models["binary"]).compiled
    assert ModelStrategy().compiled
    assert not ModelStrategy(models["binary"], compiled=False).compiled

    class Foreign:
        classes_ = np.array([0, 1])

        def predict_proba(self, x):
            return np.array([0.5, 0.5])

    assert not ModelStrategy(Foreign()).compiled            # runs on the Python path
    with pytest.raises(InvalidInputError, match="compiled strategy"):
        ModelStrategy(Foreign(), compiled=True)
    with pytest.raises(InvalidInputError, match="compiled"):
        ModelStrategy(compiled="yes")
    with pytest.raises(InvalidInputError, match="no_such_feature"):
        ModelStrategy(signal=SignalConfig(required_features=("no_such_feature",)))


@settings(max_examples=300, deadline=None)
@given(mant=st.integers(1, 999), exp=st.integers(-8, 2), min_steps=st.integers(1, 5),
       q=st.floats(0.0, 1e6, allow_nan=False), k=st.integers(-10**7, 10**7), noise=st.sampled_from([0.0, 1e-17, -1e-17, 3e-13]))
def test_quantity_grid_matches_decimal(mant, exp, min_steps, q, k, noise):
    """round_qty and the fill snap are PositionManager's Decimal arithmetic, on any decimal grid."""
    step = Decimal(mant).scaleb(exp)
    pc = PositionConfig(sizing="fixed", qty=1.0, qty_step=step, min_qty=step * min_steps)
    pm = PositionManager(pc)
    kern = ModelStrategy(position=pc)._kernel
    assert kern.round_qty(q) == pm.round_qty(q)
    on_grid = float(k * step) + noise
    assert kern.snap(on_grid) == pm._snap(on_grid)
    # and the quantities are the decimal ones: 3 steps of 0.1 are 0.3, not 0.30000000000000004
    assert kern.round_qty(float(3 * step)) == float(3 * step) or 3 * step < pc.min_qty


@pytest.mark.parametrize("compiled", [True, False])
def test_position_config_flat_at_end_reaches_the_engine(tapes, compiled):
    """PositionConfig.flat_at_end closes the position at the end even when the engine's config
    does not; with both off the last position stays open."""
    tape, tick = tapes["day"]
    sig = SignalConfig(ofi_threshold=0.5, cooldown_ns=0, close_on="none")      # always in a position
    cfg = BacktestConfig(order_latency=1_000_000, flat_at_end=False)
    kept = BacktestEngine(cfg).run(ModelStrategy(signal=sig, compiled=compiled,
                                                 position=PositionConfig(sizing="fixed", qty=0.01, flat_at_end=False)),
                                   tape, tick)
    assert kept.equity["position"][-1] != 0.0
    closed = BacktestEngine(cfg).run(ModelStrategy(signal=sig, compiled=compiled,
                                                   position=PositionConfig(sizing="fixed", qty=0.01)), tape, tick)
    assert closed.equity["position"][-1] == 0.0
    assert len(closed.fills) == len(kept.fills) + 1          # the same run, plus the closing fill
    np.testing.assert_array_equal(closed.fills[:-1], kept.fills)
