"""Trading signals from a feature vector: a model's probability of an up move, confirmed by the
order-flow z-score, gated by warm-up, spread and a cooldown. The rules are in
:class:`SignalGenerator` and docs/strategy.md."""
from __future__ import annotations

import enum
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ofi.errors import InvalidInputError

__all__ = ["Signal", "SignalConfig", "SignalResult", "SignalGenerator", "CLOSE_RULES"]

#: Values of ``SignalConfig.close_on``.
CLOSE_RULES = ("reversal", "band", "none")


class Signal(enum.IntEnum):
    """What the strategy wants now.

    ``LONG`` / ``SHORT`` open (or keep) a position on that side, ``CLOSE`` flattens the current
    position, ``HOLD`` changes nothing. The integer values are the side's sign (CLOSE is 2).
    """

    SHORT = -1
    HOLD = 0
    LONG = 1
    CLOSE = 2


def _real(value: Any, name: str, *, lo: float | None = None, lo_open: bool = False,
          hi: float | None = None, hi_open: bool = False, allow_inf: bool = False) -> float:
    """A float within [lo, hi] (open ends on request), or an InvalidInputError naming ``name``."""
    if type(value) is float and lo is None and hi is None and (allow_inf or math.isfinite(value)):
        return value                                    # the per-message path: plain finite floats
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(f"{name} must be a number, got {value!r}")
    v = float(value)
    bad = math.isnan(v) or (math.isinf(v) and not allow_inf)
    if lo is not None:
        bad = bad or (v <= lo if lo_open else v < lo)
    if hi is not None:
        bad = bad or (v >= hi if hi_open else v > hi)
    if bad:
        lo_s = "" if lo is None else f"{'>' if lo_open else '>='} {lo}"
        hi_s = "" if hi is None else f"{'<' if hi_open else '<='} {hi}"
        what = " and ".join(s for s in (lo_s, hi_s) if s) or "finite"
        raise InvalidInputError(f"{name} must be {'a number ' if allow_inf else 'a finite number '}{what}, "
                                f"got {value!r}")
    return v


def _int(value: Any, name: str, *, lo: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lo:
        raise InvalidInputError(f"{name} must be an integer >= {lo}, got {value!r}")
    return int(value)


@dataclass(frozen=True, slots=True)
class SignalConfig:
    """Thresholds of :class:`SignalGenerator` (validated on construction).

    Parameters
    ----------
    prob_threshold_long : float
        LONG when the model's probability of an up move is >= this. In (0, 1].
    prob_threshold_short : float
        SHORT when the probability is <= this. In [0, 1), strictly below ``prob_threshold_long``.
    ofi_threshold : float
        Order-flow z-score level (> 0, finite). Without a model: LONG when z >= it, SHORT when
        z <= -it. With a model: an entry is vetoed when z is strictly beyond -it against its side.
    max_spread_bps : float
        HOLD when the spread (bps of mid) is above this (> 0; ``inf`` turns the check off).
    cooldown_ns : int
        HOLD for this many ns after the last non-HOLD signal (>= 0; 0 turns it off). Default 1 s.
    ofi_feature : str
        Name of the order-flow z-score in the feature vector. Default ``"ofi_zscore_10s"``.
    required_features : tuple of str
        More features that must be defined (not NaN) for any signal, e.g. to wait until the
        model's most important inputs are warm. Default: none.
    close_on : {"reversal", "band", "none"}
        When a held position gets CLOSE (see :class:`SignalGenerator`). Default ``"reversal"``.

    Raises
    ------
    InvalidInputError
        If a value is of the wrong type or out of range, or the thresholds are not ordered.
    """

    prob_threshold_long: float = 0.55
    prob_threshold_short: float = 0.45
    ofi_threshold: float = 1.5
    max_spread_bps: float = 10.0
    cooldown_ns: int = 1_000_000_000
    ofi_feature: str = "ofi_zscore_10s"
    required_features: tuple[str, ...] = ()
    close_on: str = "reversal"

    def __post_init__(self) -> None:
        s = object.__setattr__
        s(self, "prob_threshold_long", _real(self.prob_threshold_long, "prob_threshold_long", lo=0.0, lo_open=True,
                                             hi=1.0))
        s(self, "prob_threshold_short", _real(self.prob_threshold_short, "prob_threshold_short", lo=0.0, hi=1.0,
                                              hi_open=True))
        if not self.prob_threshold_short < self.prob_threshold_long:
            raise InvalidInputError(
                f"prob_threshold_short ({self.prob_threshold_short}) must be below prob_threshold_long "
                f"({self.prob_threshold_long})")
        s(self, "ofi_threshold", _real(self.ofi_threshold, "ofi_threshold", lo=0.0, lo_open=True))
        s(self, "max_spread_bps", _real(self.max_spread_bps, "max_spread_bps", lo=0.0, lo_open=True, allow_inf=True))
        s(self, "cooldown_ns", _int(self.cooldown_ns, "cooldown_ns"))
        if not isinstance(self.ofi_feature, str) or not self.ofi_feature:
            raise InvalidInputError(f"ofi_feature must be a non-empty feature name, got {self.ofi_feature!r}")
        req = self.required_features
        if isinstance(req, str) or not isinstance(req, (tuple, list)) or not all(
                isinstance(n, str) and n for n in req):
            raise InvalidInputError(f"required_features must be a tuple of feature names, got {req!r}")
        s(self, "required_features", tuple(req))
        if self.close_on not in CLOSE_RULES:
            raise InvalidInputError(f"close_on must be one of {', '.join(CLOSE_RULES)}; got {self.close_on!r}")


@dataclass(frozen=True, slots=True)
class SignalResult:
    """One decision of :meth:`SignalGenerator.generate`.

    Attributes
    ----------
    signal : Signal
    probability : float
        The model's probability of an up move (see :class:`SignalGenerator`); NaN without a model.
    ofi_zscore : float
        The order-flow z-score read from the features (NaN when not warm).
    mid_price, spread_bps : float
        The inputs, as given.
    ts_ns : int or None
        The time of the decision (``ts_ns`` or the feature vector's clock).
    reasons : tuple of str
        Why, as short codes (see docs/strategy.md), in the order the rules were applied.
    """

    signal: Signal
    probability: float
    ofi_zscore: float
    mid_price: float
    spread_bps: float
    ts_ns: int | None
    reasons: tuple[str, ...]


class SignalGenerator:
    """Turns a feature vector into LONG / SHORT / CLOSE / HOLD.

    Parameters
    ----------
    config : SignalConfig, optional
        Thresholds; ``SignalConfig()`` when omitted.

    Notes
    -----
    Each call of :meth:`generate` applies these rules, in this order (``p`` the probability of an
    up move, ``z`` the feature ``config.ofi_feature``, ``L`` / ``S`` the long / short probability
    thresholds, ``T`` the OFI threshold):

    1. **Gates** (all are checked; any one gives HOLD with every reason that applies):
       ``nan:<input>`` when ``mid_price``, ``spread_bps``, ``z``, a ``required_features`` entry or
       (with a model) ``p`` is NaN; ``wide_spread`` when ``spread_bps > max_spread_bps``;
       ``cooldown`` when ``ts_ns - t_last < cooldown_ns``, ``t_last`` being the time of the last
       non-HOLD result (so a signal is allowed again exactly ``cooldown_ns`` later).
    2. **Side** with a model: up (``prob_long``) when ``p >= L``, down (``prob_short``) when
       ``p <= S``, none (``prob_neutral``) otherwise. An up side is vetoed (``ofi_veto``) when
       ``z < -T``, a down side when ``z > T``: order flow strongly against the model.
       Without a model: up (``ofi_long``) when ``z >= T``, down (``ofi_short``) when ``z <= -T``,
       none (``ofi_neutral``) otherwise; nothing is vetoed.
    3. **Flat** (``position == 0``): LONG / SHORT for an up / down side that is not vetoed, else HOLD.
    4. **In a position** (sign ``s``), by ``config.close_on``:
       ``"reversal"``: CLOSE (``reversal``) when the side is ``-s``, vetoed or not (the OFI
       confirmation guards entries, never exits); ``"band"``: also CLOSE (``band_exit``) when
       there is no side, i.e. ``p`` is back inside ``(S, L)`` (without a model: ``z`` inside
       ``(-T, T)``); ``"none"``: never CLOSE (exits are left to the position manager).
       Otherwise HOLD, with ``in_position`` when the side is ``s`` (no pyramiding).

    The probability of an up move is ``P(1)`` for a binary model with classes {0, 1} or {-1, 1}.
    For a three-class model {-1, 0, 1} it is ``P(1) / (P(1) + P(-1))``: the chance the move is up
    given that it leaves the dead zone (NaN when both are 0), so the same thresholds serve both
    kinds of model. The probability is computed on every call with a model, gated or not.

    The only state is the cooldown clock (``last_signal_ns``); the same calls in the same order
    give the same results. :meth:`reset` clears it.

    Examples
    --------
    >>> from ofi.strategy import SignalGenerator, SignalConfig, Signal
    >>> gen = SignalGenerator(SignalConfig(ofi_threshold=1.5, cooldown_ns=0))
    >>> r = gen.generate({"ofi_zscore_10s": 2.0}, 100.0, 1.0, ts_ns=0)
    >>> r.signal is Signal.LONG, r.reasons
    (True, ('ofi_long',))
    """

    def __init__(self, config: SignalConfig | None = None):
        if config is None:
            config = SignalConfig()
        elif not isinstance(config, SignalConfig):
            raise InvalidInputError(f"config must be a SignalConfig, got {type(config).__name__}")
        self.config = config
        self._model: Any = None
        self._names: tuple[str, ...] | None = None
        self._i_up = -1
        self._i_down = -1          # -1: binary model, p = P(up)
        self._n_classes = 0
        self._last_ns: int | None = None

    # ---- model
    @property
    def model(self) -> Any:
        """The model in use, or None (OFI-only rules)."""
        return self._model

    def set_model(self, model: Any) -> None:
        """Use ``model`` for the probability of an up move (None: back to OFI-only rules).

        Parameters
        ----------
        model : object with ``classes_`` and ``predict_proba(features)``, or None
            E.g. a trained ``GradientBoostingModel`` or ``LogisticModel``. ``predict_proba``
            must return one probability per class, in ``classes_`` order. Classes must be
            {0, 1}, {-1, 1} or {-1, 0, 1}.

        Raises
        ------
        InvalidInputError
            If the model is not trained, lacks ``predict_proba``, or has other classes.
        """
        if model is None:
            self._model, self._names, self._i_up, self._i_down, self._n_classes = None, None, -1, -1, 0
            return
        if not callable(getattr(model, "predict_proba", None)):
            raise InvalidInputError(f"model must have a predict_proba method, got {type(model).__name__}")
        if getattr(model, "is_fitted", True) is False:
            raise InvalidInputError(f"{type(model).__name__} is not trained yet: fit it before set_model")
        classes = getattr(model, "classes_", None)
        if classes is None:
            raise InvalidInputError(f"model must have classes_ (the order of predict_proba's columns), "
                                    f"{type(model).__name__} has none")
        try:
            cl = [int(c) if float(c) == int(c) else None for c in np.asarray(classes).ravel().tolist()]
        except (TypeError, ValueError):
            cl = [None]
        keys = sorted(c for c in cl if c is not None) if None not in cl else None
        if keys == [0, 1] or keys == [-1, 1]:
            i_up, i_down = cl.index(1), -1
        elif keys == [-1, 0, 1]:
            i_up, i_down = cl.index(1), cl.index(-1)
        else:
            raise InvalidInputError(
                f"model classes_ must be [0, 1], [-1, 1] or [-1, 0, 1], got {np.asarray(classes).tolist()!r}")
        card = getattr(model, "card", None)
        names = getattr(card, "feature_names", None)
        self._names = tuple(str(n) for n in names) if names is not None else None
        self._model, self._i_up, self._i_down, self._n_classes = model, i_up, i_down, len(cl)

    # ---- state
    @property
    def last_signal_ns(self) -> int | None:
        """Time of the last non-HOLD result (the cooldown clock), None before any."""
        return self._last_ns

    def reset(self) -> None:
        """Forget the cooldown clock (the model stays)."""
        self._last_ns = None

    # ---- decisions
    def probability(self, features: Mapping) -> float:
        """The model's probability of an up move for ``features`` (NaN without a model).

        Raises
        ------
        InvalidInputError
            If the features do not fit the model or its output has the wrong length.
        """
        model = self._model
        if model is None:
            return math.nan
        x: Any = features
        if self._names is not None and not (hasattr(features, "names") and isinstance(
                getattr(features, "values", None), np.ndarray)):
            # a plain mapping: the model's columns, in its order
            try:
                x = np.array([features[n] for n in self._names], dtype=np.float64)
            except KeyError as exc:
                raise InvalidInputError(f"features lack {exc.args[0]!r}, which the model reads") from None
            except (TypeError, ValueError):
                raise InvalidInputError("features must map names to numbers") from None
        proba = np.asarray(model.predict_proba(x), dtype=np.float64).ravel()
        if proba.shape[0] != self._n_classes:
            raise InvalidInputError(f"model.predict_proba returned {proba.shape[0]} values for one row, "
                                    f"expected {self._n_classes} (one per class)")
        up = float(proba[self._i_up])
        if self._i_down < 0:
            return up
        den = up + float(proba[self._i_down])
        return up / den if den > 0.0 else math.nan

    def generate(self, features: Mapping, mid_price: float, spread_bps: float, *, position: float = 0.0,
                 ts_ns: int | None = None) -> SignalResult:
        """Decide LONG / SHORT / CLOSE / HOLD now (rules: class docstring and docs/strategy.md).

        Parameters
        ----------
        features : Mapping name -> float
            A ``FeatureVector`` from ``FeatureEngine.extract_features`` (or a dict with at least
            ``config.ofi_feature``, the ``required_features`` and, with a model, its inputs).
        mid_price : float
            Mid price now (price units). NaN (no book) gives HOLD.
        spread_bps : float
            Quoted spread in bps of mid, >= 0. NaN gives HOLD.
        position : float, keyword-only
            Signed quantity held now (0 when flat).
        ts_ns : int, keyword-only
            Time of the decision, ns. Default: ``features.ts_ns``. Needed when ``cooldown_ns > 0``;
            must not be earlier than the last non-HOLD result.

        Returns
        -------
        SignalResult

        Raises
        ------
        InvalidInputError
            If ``features`` is not a mapping or lacks a feature, ``mid_price`` <= 0 or infinite,
            ``spread_bps`` < 0, ``position`` not finite, ``ts_ns`` missing (with a cooldown) or
            earlier than the last signal, or the model rejects the features.
        """
        cfg = self.config
        if not isinstance(features, Mapping):
            raise InvalidInputError(f"features must be a mapping name -> value (FeatureVector or dict), "
                                    f"got {type(features).__name__}")
        mid = _number(mid_price, "mid_price")
        if not (math.isnan(mid) or 0.0 < mid < math.inf):
            raise InvalidInputError(f"mid_price must be a finite number > 0 (or NaN when unknown), got {mid_price!r}")
        spread = _number(spread_bps, "spread_bps")
        if spread < 0.0:
            raise InvalidInputError(f"spread_bps must be >= 0 (or NaN when unknown), got {spread_bps!r}")
        pos = _real(position, "position")
        if ts_ns is None:
            ts_ns = getattr(features, "ts_ns", None)
            if ts_ns is None and cfg.cooldown_ns > 0:
                raise InvalidInputError("ts_ns is needed for the cooldown: pass ts_ns= or a FeatureVector "
                                        "(which carries ts_ns)")
        if ts_ns is not None:
            if isinstance(ts_ns, bool) or not isinstance(ts_ns, numbers.Integral):
                raise InvalidInputError(f"ts_ns must be an integer (ns since the epoch), got {ts_ns!r}")
            ts_ns = int(ts_ns)
        z = self._feature(features, cfg.ofi_feature)
        p = self.probability(features)
        has_model = self._model is not None

        # 1. gates
        reasons: list[str] = []
        if math.isnan(mid):
            reasons.append("nan:mid_price")
        if math.isnan(spread):
            reasons.append("nan:spread_bps")
        if math.isnan(z):
            reasons.append(f"nan:{cfg.ofi_feature}")
        for name in cfg.required_features:
            if math.isnan(self._feature(features, name)):
                reasons.append(f"nan:{name}")
        if has_model and math.isnan(p):
            reasons.append("nan:probability")
        if spread > cfg.max_spread_bps:
            reasons.append("wide_spread")
        last = self._last_ns
        if last is not None and ts_ns is not None:
            if ts_ns < last:
                raise InvalidInputError(f"ts_ns={ts_ns} is earlier than the last signal at {last}: time must "
                                        f"not go backwards (reset() to start over)")
            if ts_ns - last < cfg.cooldown_ns:
                reasons.append("cooldown")
        if reasons:
            return SignalResult(Signal.HOLD, p, z, mid, spread, ts_ns, tuple(reasons))

        # 2. side
        T = cfg.ofi_threshold
        vetoed = False
        if has_model:
            if p >= cfg.prob_threshold_long:
                side, vetoed = 1, z < -T
                reasons.append("prob_long")
            elif p <= cfg.prob_threshold_short:
                side, vetoed = -1, z > T
                reasons.append("prob_short")
            else:
                side = 0
                reasons.append("prob_neutral")
            if vetoed:
                reasons.append("ofi_veto")
        elif z >= T:
            side = 1
            reasons.append("ofi_long")
        elif z <= -T:
            side = -1
            reasons.append("ofi_short")
        else:
            side = 0
            reasons.append("ofi_neutral")

        # 3-4. entries and exits
        signal = Signal.HOLD
        if pos == 0.0:
            if side != 0 and not vetoed:
                signal = Signal.LONG if side > 0 else Signal.SHORT
        else:
            held = 1 if pos > 0.0 else -1
            if side == held:
                reasons.append("in_position")
            elif cfg.close_on != "none" and side == -held:
                signal = Signal.CLOSE
                reasons.append("reversal")
            elif cfg.close_on == "band" and side == 0:
                signal = Signal.CLOSE
                reasons.append("band_exit")
        if signal is not Signal.HOLD and ts_ns is not None:
            self._last_ns = ts_ns
        return SignalResult(signal, p, z, mid, spread, ts_ns, tuple(reasons))

    @staticmethod
    def _feature(features: Mapping, name: str) -> float:
        try:
            v = features[name]
        except KeyError:
            raise InvalidInputError(f"features have no {name!r} (a FeatureEngine feature name)") from None
        try:
            return float(v)
        except (TypeError, ValueError):
            raise InvalidInputError(f"feature {name!r} must be a number, got {v!r}") from None


def _number(value: Any, name: str) -> float:
    """Any real number as a float, NaN and +-inf included (the caller checks the range)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInputError(f"{name} must be a number, got {value!r}")
    return float(value)
