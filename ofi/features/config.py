"""Feature-engine configuration: window lengths and the stable hash that model files store."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
from dataclasses import dataclass

from ofi.errors import InvalidInputError

__all__ = ["FeatureConfig", "FEATURE_SET_VERSION"]

#: Bumped whenever a feature's definition changes, so old model files are refused.
FEATURE_SET_VERSION = 1


def _int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not minimum <= value <= 2**31 - 1:
        raise InvalidInputError(f"FeatureConfig.{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _pos(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (0 < float(value) < math.inf):
        raise InvalidInputError(f"FeatureConfig.{name} must be a finite number > 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class FeatureConfig:
    """Windows of the feature engine. Every field is checked on construction.

    Parameters
    ----------
    orderbook_levels : int
        L, the book levels per side the book-shape and multi-level OFI features read (>= 3).
        Depth features use the top 1, ``min(5, L - 1)`` and L levels.
    vpin_bucket_size, vpin_num_buckets : float, int
        VPIN's bucket volume V (base units) and window n (buckets).
    history_window : int
        Trades in the large-trade quantile history and VPIN values in the VPIN-CDF history.
    spread_window : int
        Book states in the spread z-score window.
    horizons : tuple of 4 floats
        The time windows in seconds, increasing (default 1 s, 10 s, 1 min, 5 min); feature names
        carry them (``ofi_1s`` ... ``ofi_5m``).
    bar_seconds : float
        Width of the time bars (on the local-time grid) that the bar features sample.
    zscore_bars, impact_bars, vol_bars : int
        Bars in the OFI z-score statistics, in Kyle's lambda / Amihud, and in Parkinson volatility.
    roll_window : int
        Pairs of trade-price changes in the Roll spread's autocovariance (3 to 4096).
    large_trade_quantile : float
        A trade is large when its size exceeds this quantile of the previous ``history_window`` sizes.
    large_trade_horizon : int
        The flag is 1 while one of the last this-many trades was large.
    ema_fast, ema_slow, rsi_period, bollinger_period, momentum_short, momentum_long : int
        Indicator lengths, in bars.
    pca_min_bars : int
        Bars before the integrated-OFI weights (first principal component) are used.
    """

    orderbook_levels: int = 10
    vpin_bucket_size: float = 50.0
    vpin_num_buckets: int = 50
    history_window: int = 1000
    spread_window: int = 100
    horizons: tuple = (1.0, 10.0, 60.0, 300.0)
    bar_seconds: float = 1.0
    zscore_bars: int = 60
    impact_bars: int = 60
    vol_bars: int = 60
    roll_window: int = 200
    large_trade_quantile: float = 0.95
    large_trade_horizon: int = 10
    ema_fast: int = 12
    ema_slow: int = 26
    rsi_period: int = 14
    bollinger_period: int = 20
    momentum_short: int = 10
    momentum_long: int = 60
    pca_min_bars: int = 30

    def __post_init__(self) -> None:
        s = object.__setattr__
        s(self, "orderbook_levels", _int("orderbook_levels", self.orderbook_levels, 3))
        if self.orderbook_levels > 1000:
            raise InvalidInputError(f"FeatureConfig.orderbook_levels must be <= 1000, got {self.orderbook_levels}")
        s(self, "vpin_bucket_size", _pos("vpin_bucket_size", self.vpin_bucket_size))
        for name in ("vpin_num_buckets", "large_trade_horizon", "ema_fast", "rsi_period", "momentum_short"):
            s(self, name, _int(name, getattr(self, name), 1))
        for name in ("history_window", "spread_window", "zscore_bars", "vol_bars", "bollinger_period",
                     "pca_min_bars"):
            s(self, name, _int(name, getattr(self, name), 2))
        for name in ("impact_bars", "roll_window"):
            s(self, name, _int(name, getattr(self, name), 3))
        if self.roll_window > 4096:
            raise InvalidInputError(f"FeatureConfig.roll_window must be <= 4096 (exact integer sums), "
                                    f"got {self.roll_window}")
        s(self, "ema_slow", _int("ema_slow", self.ema_slow, 2))
        if self.ema_slow <= self.ema_fast:
            raise InvalidInputError(f"FeatureConfig.ema_slow must be > ema_fast={self.ema_fast}, got {self.ema_slow}")
        s(self, "momentum_long", _int("momentum_long", self.momentum_long, 2))
        if self.momentum_long <= self.momentum_short:
            raise InvalidInputError(
                f"FeatureConfig.momentum_long must be > momentum_short={self.momentum_short}, got {self.momentum_long}")
        s(self, "bar_seconds", _pos("bar_seconds", self.bar_seconds))
        q = self.large_trade_quantile
        if isinstance(q, bool) or not isinstance(q, numbers.Real) or not 0 < q < 1:
            raise InvalidInputError(f"FeatureConfig.large_trade_quantile must be in (0, 1), got {q!r}")
        s(self, "large_trade_quantile", float(q))
        h = self.horizons
        try:
            h = tuple(_pos("horizons", x) for x in h)
        except TypeError:
            raise InvalidInputError(f"FeatureConfig.horizons must be 4 increasing seconds, got {h!r}") from None
        if len(h) != 4 or any(a >= b for a, b in zip(h, h[1:])):
            raise InvalidInputError(f"FeatureConfig.horizons must be 4 increasing seconds, got {self.horizons!r}")
        if any(round(x * 1e9) < 1 for x in h) or round(self.bar_seconds * 1e9) < 1:
            raise InvalidInputError("FeatureConfig: horizons and bar_seconds must be at least 1 ns")
        s(self, "horizons", h)

    # ---- derived values the kernel uses
    @property
    def depth_levels(self) -> tuple[int, int, int]:
        """The three depth cut-offs: 1, ``min(5, L - 1)`` and L."""
        L = self.orderbook_levels
        return (1, min(5, L - 1), L)

    @property
    def horizons_ns(self) -> tuple[int, int, int, int]:
        return tuple(int(round(x * 1e9)) for x in self.horizons)

    @property
    def bar_ns(self) -> int:
        return int(round(self.bar_seconds * 1e9))

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["horizons"] = list(self.horizons)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureConfig":
        if not isinstance(d, dict):
            raise InvalidInputError(f"FeatureConfig.from_dict needs a dict, got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise InvalidInputError(f"FeatureConfig: unknown fields {sorted(unknown)}")
        d = dict(d)
        if "horizons" in d:
            d["horizons"] = tuple(d["horizons"])
        return cls(**d)

    @property
    def hash(self) -> str:
        """A stable 16-hex-digit digest of the fields and the feature-set version.

        Model files store it; an engine whose hash differs computes different features."""
        payload = json.dumps({"version": FEATURE_SET_VERSION, "config": self.to_dict()}, sort_keys=True,
                             separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
