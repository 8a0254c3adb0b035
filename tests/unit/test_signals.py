"""SignalGenerator (``ofi.strategy.signals``): every rule by hand (tables of features, probability,
spread and position -> signal and reasons), the cooldown's boundaries, the probability of an up move
for binary and three-class models, a real GradientBoostingModel, and bad input."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ofi.errors import InvalidInputError, OfiError
from ofi.features.engine import FeatureVector
from ofi.strategy import Signal, SignalConfig, SignalGenerator, SignalResult

NAN = math.nan
NAMES = ("ofi_zscore_10s", "spread_bps", "vpin", "realized_vol_1m")


def fv(z=0.0, *, ts_ns=0, vpin=0.3, spread=1.0, vol=5.0):
    """A real FeatureVector with the few features these tests read."""
    values = np.array([z, spread, vpin, vol], dtype=np.float64)
    return FeatureVector(values, NAMES, {n: i for i, n in enumerate(NAMES)}, ts_ns)


class StubModel:
    """The two things SignalGenerator needs of a model: ``classes_`` and ``predict_proba``."""

    def __init__(self, classes=(0, 1), proba=None):
        self.classes_ = np.asarray(classes)
        self.proba = proba
        self.calls = 0

    def set_p(self, p_up):
        self.proba = [1.0 - p_up, p_up]

    def predict_proba(self, features):
        self.calls += 1
        return np.asarray(self.proba, dtype=np.float64)


def gen_with(p=None, *, classes=(0, 1), **cfg):
    """A generator without cooldown unless asked, with a stub model answering P(up) = p."""
    cfg.setdefault("cooldown_ns", 0)
    g = SignalGenerator(SignalConfig(**cfg))
    if p is not None:
        m = StubModel(classes)
        if isinstance(p, (list, tuple)):
            m.proba = list(p)
        else:
            m.set_p(p)
        g.set_model(m)
    return g


def run(g, z=0.0, *, spread=1.0, mid=100.0, position=0.0, ts_ns=0, **kw):
    return g.generate(fv(z, ts_ns=ts_ns, **kw), mid, spread, position=position, ts_ns=ts_ns)


L, S, H, C = Signal.LONG, Signal.SHORT, Signal.HOLD, Signal.CLOSE


# ================================================================================ the enum and config
def test_signal_values():
    assert (int(L), int(S), int(H), int(C)) == (1, -1, 0, 2)
    assert Signal(1) is L and Signal(-1) is S
    assert issubclass(Signal, int)


def test_config_defaults_and_frozen():
    c = SignalConfig()
    assert (c.prob_threshold_long, c.prob_threshold_short, c.ofi_threshold, c.max_spread_bps) == (0.55, 0.45, 1.5, 10.0)
    assert c.cooldown_ns == 1_000_000_000 and c.ofi_feature == "ofi_zscore_10s" and c.close_on == "reversal"
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.ofi_threshold = 2.0
    assert SignalConfig(required_features=["vpin"]).required_features == ("vpin",)
    assert SignalConfig(max_spread_bps=math.inf).max_spread_bps == math.inf


@pytest.mark.parametrize("kw, words", [
    ({"prob_threshold_long": 0.4, "prob_threshold_short": 0.45}, "below prob_threshold_long"),
    ({"prob_threshold_long": 0.5, "prob_threshold_short": 0.5}, "below prob_threshold_long"),
    ({"prob_threshold_long": 1.2}, "prob_threshold_long"),
    ({"prob_threshold_long": 0.0, "prob_threshold_short": -0.1}, "prob_threshold_long"),
    ({"prob_threshold_short": -0.1}, "prob_threshold_short"),
    ({"prob_threshold_short": NAN}, "prob_threshold_short"),
    ({"prob_threshold_long": "0.6"}, "prob_threshold_long"),
    ({"ofi_threshold": 0.0}, "ofi_threshold"),
    ({"ofi_threshold": -1.0}, "ofi_threshold"),
    ({"ofi_threshold": math.inf}, "ofi_threshold"),
    ({"ofi_threshold": True}, "ofi_threshold"),
    ({"max_spread_bps": 0.0}, "max_spread_bps"),
    ({"max_spread_bps": NAN}, "max_spread_bps"),
    ({"cooldown_ns": -1}, "cooldown_ns"),
    ({"cooldown_ns": 1.5}, "cooldown_ns"),
    ({"ofi_feature": ""}, "ofi_feature"),
    ({"ofi_feature": None}, "ofi_feature"),
    ({"required_features": "vpin"}, "required_features"),
    ({"required_features": ("vpin", 3)}, "required_features"),
    ({"close_on": "always"}, "close_on"),
])
def test_config_rejects(kw, words):
    with pytest.raises(InvalidInputError, match=words):
        SignalConfig(**kw)
    with pytest.raises(ValueError):          # InvalidInputError is also a ValueError
        SignalConfig(**kw)


def test_generator_rejects_other_config():
    with pytest.raises(InvalidInputError, match="SignalConfig"):
        SignalGenerator({"ofi_threshold": 1.5})


# ================================================================================ rules, flat
# (z, spread, mid) -> (signal, reasons), without a model
OFI_ONLY = [
    (2.0, 1.0, 100.0, L, ("ofi_long",)),
    (1.5, 1.0, 100.0, L, ("ofi_long",)),                 # z == T is enough
    (1.4999, 1.0, 100.0, H, ("ofi_neutral",)),
    (0.0, 1.0, 100.0, H, ("ofi_neutral",)),
    (-1.4999, 1.0, 100.0, H, ("ofi_neutral",)),
    (-1.5, 1.0, 100.0, S, ("ofi_short",)),
    (-7.0, 1.0, 100.0, S, ("ofi_short",)),
    (2.0, 10.0, 100.0, L, ("ofi_long",)),                # spread == max is allowed
    (2.0, 10.000001, 100.0, H, ("wide_spread",)),
    (2.0, math.inf, 100.0, H, ("wide_spread",)),
    (NAN, 1.0, 100.0, H, ("nan:ofi_zscore_10s",)),
    (2.0, NAN, 100.0, H, ("nan:spread_bps",)),
    (2.0, 1.0, NAN, H, ("nan:mid_price",)),
    (NAN, NAN, NAN, H, ("nan:mid_price", "nan:spread_bps", "nan:ofi_zscore_10s")),
    (NAN, 50.0, 100.0, H, ("nan:ofi_zscore_10s", "wide_spread")),
]


@pytest.mark.parametrize("z, spread, mid, want, reasons", OFI_ONLY)
def test_rules_without_model(z, spread, mid, want, reasons):
    g = gen_with()
    r = run(g, z, spread=spread, mid=mid)
    assert isinstance(r, SignalResult)
    assert r.signal is want and r.reasons == reasons
    assert math.isnan(r.probability)
    assert r.mid_price == mid or (math.isnan(mid) and math.isnan(r.mid_price))
    assert r.ofi_zscore == z or (math.isnan(z) and math.isnan(r.ofi_zscore))


# (p, z, spread) -> (signal, reasons), with a binary model; L = 0.55, S = 0.45, T = 1.5
WITH_MODEL = [
    (0.55, 0.0, 1.0, L, ("prob_long",)),                 # p == L is enough
    (0.9, 0.0, 1.0, L, ("prob_long",)),
    (0.5499, 0.0, 1.0, H, ("prob_neutral",)),
    (0.5, 3.0, 1.0, H, ("prob_neutral",)),               # with a model, OFI alone does not enter
    (0.5, -3.0, 1.0, H, ("prob_neutral",)),
    (0.4501, 0.0, 1.0, H, ("prob_neutral",)),
    (0.45, 0.0, 1.0, S, ("prob_short",)),                # p == S is enough
    (0.1, 0.0, 1.0, S, ("prob_short",)),
    (0.9, -1.5, 1.0, L, ("prob_long",)),                 # z == -T is not "below -T": no veto
    (0.9, -1.5001, 1.0, H, ("prob_long", "ofi_veto")),
    (0.9, 5.0, 1.0, L, ("prob_long",)),                  # OFI agreeing
    (0.1, 1.5, 1.0, S, ("prob_short",)),
    (0.1, 1.5001, 1.0, H, ("prob_short", "ofi_veto")),
    (0.7, NAN, 1.0, H, ("nan:ofi_zscore_10s",)),
    (NAN, 0.0, 1.0, H, ("nan:probability",)),
    (0.7, 0.0, 12.0, H, ("wide_spread",)),
    (0.7, 0.0, 10.0, L, ("prob_long",)),
]


@pytest.mark.parametrize("p, z, spread, want, reasons", WITH_MODEL)
def test_rules_with_model(p, z, spread, want, reasons):
    g = gen_with(p)
    r = run(g, z, spread=spread)
    assert r.signal is want and r.reasons == reasons
    assert r.probability == p or (math.isnan(p) and math.isnan(r.probability))


def test_required_features():
    g = gen_with(required_features=("vpin", "realized_vol_1m"))
    assert run(g, 2.0).signal is L
    r = run(g, 2.0, vpin=NAN, vol=NAN)
    assert r.signal is H and r.reasons == ("nan:vpin", "nan:realized_vol_1m")
    with pytest.raises(InvalidInputError, match="'not_a_feature'"):
        run(gen_with(required_features=("not_a_feature",)), 2.0)


def test_custom_ofi_feature_and_thresholds():
    g = gen_with(ofi_feature="vpin", ofi_threshold=0.25)
    r = run(g, 0.0, vpin=0.3)
    assert r.signal is L and r.ofi_zscore == 0.3
    g = gen_with(0.61, prob_threshold_long=0.6, prob_threshold_short=0.3)
    assert run(g).signal is L
    g.model.set_p(0.35)
    assert run(g).signal is H
    g.model.set_p(0.3)
    assert run(g).signal is S


# ================================================================================ rules, in a position
# (close_on, position, p, z) -> (signal, reasons); p None: no model
IN_POSITION = [
    ("reversal", 1.0, 0.3, 0.0, C, ("prob_short", "reversal")),
    ("reversal", 1.0, 0.45, 0.0, C, ("prob_short", "reversal")),
    ("reversal", 1.0, 0.3, 2.0, C, ("prob_short", "ofi_veto", "reversal")),   # exits ignore the veto
    ("reversal", 1.0, 0.5, 0.0, H, ("prob_neutral",)),
    ("reversal", 1.0, 0.7, 0.0, H, ("prob_long", "in_position")),
    ("reversal", 1.0, 0.7, -2.0, H, ("prob_long", "ofi_veto", "in_position")),
    ("reversal", -0.5, 0.7, 0.0, C, ("prob_long", "reversal")),
    ("reversal", -0.5, 0.3, 0.0, H, ("prob_short", "in_position")),
    ("reversal", -0.5, 0.46, 0.0, H, ("prob_neutral",)),
    ("band", 1.0, 0.5, 0.0, C, ("prob_neutral", "band_exit")),
    ("band", 1.0, 0.5499, 0.0, C, ("prob_neutral", "band_exit")),
    ("band", 1.0, 0.55, 0.0, H, ("prob_long", "in_position")),
    ("band", 1.0, 0.3, 0.0, C, ("prob_short", "reversal")),
    ("band", -2.0, 0.4501, 0.0, C, ("prob_neutral", "band_exit")),
    ("band", -2.0, 0.45, 0.0, H, ("prob_short", "in_position")),
    ("none", 1.0, 0.3, 0.0, H, ("prob_short",)),
    ("none", 1.0, 0.5, 0.0, H, ("prob_neutral",)),
    ("none", -1.0, 0.9, 0.0, H, ("prob_long",)),
    ("reversal", 1.0, None, -1.5, C, ("ofi_short", "reversal")),
    ("reversal", 1.0, None, 0.0, H, ("ofi_neutral",)),
    ("reversal", 1.0, None, 2.0, H, ("ofi_long", "in_position")),
    ("reversal", -1.0, None, 1.5, C, ("ofi_long", "reversal")),
    ("band", 1.0, None, 1.4999, C, ("ofi_neutral", "band_exit")),
    ("band", -1.0, None, -1.0, C, ("ofi_neutral", "band_exit")),
    ("band", 1.0, None, 1.5, H, ("ofi_long", "in_position")),
]


@pytest.mark.parametrize("close_on, position, p, z, want, reasons", IN_POSITION)
def test_rules_in_position(close_on, position, p, z, want, reasons):
    g = gen_with(p, close_on=close_on)
    r = run(g, z, position=position)
    assert r.signal is want and r.reasons == reasons


def test_gates_apply_to_close():
    g = gen_with(0.3)
    r = run(g, 0.0, position=1.0, spread=20.0)
    assert r.signal is H and r.reasons == ("wide_spread",)
    r = run(g, NAN, position=1.0)
    assert r.signal is H and r.reasons == ("nan:ofi_zscore_10s",)


# ================================================================================ cooldown
def test_cooldown_boundaries():
    g = gen_with(cooldown_ns=1_000)
    assert g.last_signal_ns is None
    r = run(g, 2.0, ts_ns=10_000)
    assert r.signal is L and r.ts_ns == 10_000 and g.last_signal_ns == 10_000
    r = run(g, 2.0, ts_ns=10_999)                          # 999 ns later: still cooling down
    assert r.signal is H and r.reasons == ("cooldown",)
    r = run(g, 2.0, ts_ns=10_999, spread=30.0)
    assert r.reasons == ("wide_spread", "cooldown")
    assert g.last_signal_ns == 10_000                      # HOLDs do not restart the clock
    r = run(g, 2.0, ts_ns=11_000)                          # exactly cooldown_ns later: allowed
    assert r.signal is L and g.last_signal_ns == 11_000


def test_hold_does_not_start_cooldown_and_close_does():
    g = gen_with(cooldown_ns=100)
    assert run(g, 0.0, ts_ns=0).signal is H
    assert run(g, 2.0, ts_ns=1).signal is L                 # no cooldown after a HOLD
    assert run(g, -2.0, position=1.0, ts_ns=50).reasons == ("cooldown",)
    assert run(g, -2.0, position=1.0, ts_ns=101).signal is C
    assert g.last_signal_ns == 101
    r = run(g, -2.0, ts_ns=200)
    assert r.signal is H and r.reasons == ("cooldown",)
    assert run(g, -2.0, ts_ns=201).signal is S


def test_cooldown_clock_from_feature_vector_and_reset():
    g = gen_with(cooldown_ns=5)
    assert g.generate(fv(2.0, ts_ns=100), 100.0, 1.0).signal is L          # ts_ns from the vector
    assert g.generate(fv(2.0, ts_ns=104), 100.0, 1.0).signal is H
    assert g.generate(fv(2.0, ts_ns=104), 100.0, 1.0, ts_ns=105).signal is L  # an explicit ts_ns wins
    with pytest.raises(InvalidInputError, match="earlier than the last signal"):
        g.generate(fv(2.0), 100.0, 1.0, ts_ns=104)
    g.reset()
    assert g.last_signal_ns is None
    assert g.generate(fv(2.0), 100.0, 1.0, ts_ns=0).signal is L


def test_ts_needed_only_with_cooldown():
    g = gen_with(cooldown_ns=1)
    with pytest.raises(InvalidInputError, match="ts_ns"):
        g.generate({"ofi_zscore_10s": 2.0}, 100.0, 1.0)
    r = gen_with(cooldown_ns=0).generate({"ofi_zscore_10s": 2.0}, 100.0, 1.0)
    assert r.signal is L and r.ts_ns is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([NAN, -3.0, -1.5, 0.0, 1.0, 1.5, 3.0]),
                          st.sampled_from([NAN, 0.1, 0.45, 0.5, 0.55, 0.9]),
                          st.sampled_from([1.0, 11.0]),
                          st.sampled_from([-1.0, 0.0, 1.0]),
                          st.integers(0, 300)), max_size=30),
       st.sampled_from(["reversal", "band", "none"]))
def test_deterministic(steps, close_on):
    """The cooldown is the only state: a non-HOLD result never comes within it of the previous one."""
    g1 = gen_with(0.5, close_on=close_on, cooldown_ns=200)
    t, prev = 0, None
    for z, p, spread, pos, dt in steps:
        t += dt
        g1.model.set_p(p)
        r1 = run(g1, z, spread=spread, position=pos, ts_ns=t)
        if r1.signal is not H:
            assert prev is None or t - prev >= 200
            assert g1.last_signal_ns == t
            prev = t
    assert g1.last_signal_ns == prev


# ================================================================================ models
@pytest.mark.parametrize("classes, proba, p", [
    ((0, 1), [0.3, 0.7], 0.7),
    ((1, 0), [0.7, 0.3], 0.7),
    ((-1, 1), [0.2, 0.8], 0.8),
    ((-1, 0, 1), [0.2, 0.5, 0.3], 0.6),                    # 0.3 / (0.3 + 0.2)
    ((1, -1, 0), [0.3, 0.2, 0.5], 0.6),
    ((-1, 0, 1), [0.25, 0.5, 0.25], 0.5),
    ((-1.0, 0.0, 1.0), [0.6, 0.2, 0.2], 0.25),
])
def test_probability_of_up(classes, proba, p):
    g = gen_with(list(proba), classes=classes)
    assert g.probability(fv()) == pytest.approx(p, abs=1e-15)
    assert run(g).probability == pytest.approx(p, abs=1e-15)


def test_three_class_without_a_move_is_nan():
    g = gen_with([0.0, 1.0, 0.0], classes=(-1, 0, 1))
    r = run(g, 2.0)
    assert math.isnan(r.probability) and r.signal is H and r.reasons == ("nan:probability",)


@pytest.mark.parametrize("model, words", [
    (object(), "predict_proba"),
    (StubModel(classes=(0, 1, 2)), "classes_"),
    (StubModel(classes=(-1, 0)), "classes_"),
    (StubModel(classes=("down", "up")), "classes_"),
    (StubModel(classes=(0.5, 1)), "classes_"),
])
def test_set_model_rejects(model, words):
    with pytest.raises(InvalidInputError, match=words):
        SignalGenerator().set_model(model)


def test_set_model_rejects_untrained_and_none_removes():
    from ofi import GradientBoostingModel
    g = SignalGenerator()
    with pytest.raises(InvalidInputError, match="not trained"):
        g.set_model(GradientBoostingModel())
    g = gen_with(0.9)
    assert g.model is not None and run(g, 0.0).signal is L
    g.set_model(None)
    assert g.model is None and run(g, 0.0).signal is H and math.isnan(run(g).probability)


def test_model_output_of_wrong_length():
    g = gen_with([0.2, 0.3, 0.5])                           # binary classes, three columns
    with pytest.raises(InvalidInputError, match="predict_proba returned 3"):
        run(g)


def test_probability_computed_even_when_gated():
    g = gen_with(0.8, cooldown_ns=10)
    run(g, 0.0, ts_ns=0)
    r = run(g, 0.0, ts_ns=5, spread=50.0)
    assert r.signal is H and r.probability == 0.8 and g.model.calls == 2


def _train(y_of, seed):
    from threadpoolctl import threadpool_limits

    from ofi import GradientBoostingModel
    rng = np.random.default_rng(seed)
    n = 400
    X = np.column_stack([rng.normal(0, 2, n), rng.uniform(0.5, 3, n), rng.normal(0, 1, n), rng.uniform(1, 9, n)])
    with threadpool_limits(1):      # a tiny fit: OpenMP threads only cost time here
        return GradientBoostingModel(learning_rate=0.3, min_samples_leaf=10).train(
            X, y_of(X), n_trees=15, max_depth=3, feature_names=list(NAMES))


@pytest.fixture(scope="module")
def gbm():
    """Binary: 1 when the OFI z-score (plus a little noise) is positive."""
    return _train(lambda X: (X[:, 0] + 0.3 * X[:, 2] > 0).astype(int), 7)


def test_real_gradient_boosting_model(gbm):
    g = SignalGenerator(SignalConfig(cooldown_ns=0))
    g.set_model(gbm)
    up, down = fv(3.0), fv(-3.0)
    p_up, p_down = gbm.predict_proba(up)[1], gbm.predict_proba(down)[1]
    assert p_up > 0.9 and p_down < 0.1
    r = g.generate(up, 100.0, 1.0)
    assert r.signal is L and r.probability == p_up and r.reasons == ("prob_long",)
    r = g.generate(down, 100.0, 1.0)
    assert r.signal is S and r.probability == p_down
    r = g.generate(down, 100.0, 1.0, position=0.01)
    assert r.signal is C and r.reasons == ("prob_short", "reversal")
    # a plain dict goes to the model in its own column order
    d = {"realized_vol_1m": 5.0, "vpin": 0.3, "spread_bps": 1.0, "ofi_zscore_10s": 3.0}
    assert g.probability(d) == p_up
    with pytest.raises(InvalidInputError, match="'vpin'"):
        g.probability({"ofi_zscore_10s": 3.0, "spread_bps": 1.0, "realized_vol_1m": 5.0})
    # a FeatureVector from another feature set is refused by the model
    other = FeatureVector(np.zeros(2), ("ofi_zscore_10s", "x"), {"ofi_zscore_10s": 0, "x": 1}, 0)
    with pytest.raises(InvalidInputError):
        g.generate(other, 100.0, 1.0)


def test_real_three_class_model():
    m = _train(lambda X: np.where(X[:, 0] > 1, 1, np.where(X[:, 0] < -1, -1, 0)), 3)
    assert m.classes_.tolist() == [-1, 0, 1]
    g = SignalGenerator(SignalConfig(cooldown_ns=0))
    g.set_model(m)
    x = fv(3.0)
    pr = m.predict_proba(x)
    idx = {c: i for i, c in enumerate(m.classes_.tolist())}
    want = pr[idx[1]] / (pr[idx[1]] + pr[idx[-1]])
    r = g.generate(x, 100.0, 1.0)
    assert r.probability == pytest.approx(want, rel=1e-15) and r.signal is L


# ================================================================================ bad input
@pytest.mark.parametrize("features, mid, spread, kw, words", [
    (np.zeros(4), 100.0, 1.0, {}, "mapping"),
    ([("ofi_zscore_10s", 1.0)], 100.0, 1.0, {}, "mapping"),
    ({"spread_bps": 1.0}, 100.0, 1.0, {}, "'ofi_zscore_10s'"),
    ({"ofi_zscore_10s": "high"}, 100.0, 1.0, {}, "must be a number"),
    ({"ofi_zscore_10s": None}, 100.0, 1.0, {}, "must be a number"),
    ({"ofi_zscore_10s": 1.0}, 0.0, 1.0, {}, "mid_price"),
    ({"ofi_zscore_10s": 1.0}, -5.0, 1.0, {}, "mid_price"),
    ({"ofi_zscore_10s": 1.0}, math.inf, 1.0, {}, "mid_price"),
    ({"ofi_zscore_10s": 1.0}, "100", 1.0, {}, "mid_price"),
    ({"ofi_zscore_10s": 1.0}, None, 1.0, {}, "mid_price"),
    ({"ofi_zscore_10s": 1.0}, 100.0, -0.5, {}, "spread_bps"),
    ({"ofi_zscore_10s": 1.0}, 100.0, None, {}, "spread_bps"),
    ({"ofi_zscore_10s": 1.0}, 100.0, 1.0, {"position": NAN}, "position"),
    ({"ofi_zscore_10s": 1.0}, 100.0, 1.0, {"position": "long"}, "position"),
    ({"ofi_zscore_10s": 1.0}, 100.0, 1.0, {"ts_ns": 1.5}, "ts_ns"),
    ({"ofi_zscore_10s": 1.0}, 100.0, 1.0, {"ts_ns": True}, "ts_ns"),
])
def test_bad_input(features, mid, spread, kw, words):
    g = SignalGenerator(SignalConfig(cooldown_ns=0))
    with pytest.raises(OfiError, match=words):
        g.generate(features, mid, spread, **kw)
    assert g.last_signal_ns is None


def test_numpy_scalars_accepted():
    g = gen_with()
    r = g.generate({"ofi_zscore_10s": np.float32(2.0)}, np.float64(100.0), np.float64(1.0),
                   position=np.float64(0.0), ts_ns=np.int64(7))
    assert r.signal is L and r.ts_ns == 7 and type(r.ts_ns) is int
