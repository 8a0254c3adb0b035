"""Latency models for the backtester: constant, lognormal, or resampled from measured values."""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from ofi.errors import InvalidInputError

__all__ = ["Latency"]


@dataclass(frozen=True)
class Latency:
    """A latency in nanoseconds: a constant, or a draw per request from a distribution.

    Use the constructors: ``Latency.constant(ns)``, ``Latency.lognormal(median_ns, sigma)`` (log of
    the latency ~ N(ln median, sigma^2)) or ``Latency.empirical(samples_ns)`` (uniform resampling of
    measured latencies, e.g. ``ts_local - ts_exch`` of a recording). Draws come from the backtest's
    seeded generator, so a run is reproducible.
    """

    kind: str = "constant"
    value_ns: int = 0
    sigma: float = 0.0
    samples: tuple = ()

    @staticmethod
    def constant(ns) -> "Latency":
        return Latency("constant", _ns("latency", ns))

    @staticmethod
    def lognormal(median_ns, sigma: float) -> "Latency":
        if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real) or not 0 <= sigma < 10:
            raise InvalidInputError(f"sigma must be in [0, 10), got {sigma!r}")
        return Latency("lognormal", _ns("median_ns", median_ns), float(sigma))

    @staticmethod
    def empirical(samples_ns) -> "Latency":
        arr = np.asarray(samples_ns)
        if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr.astype(np.float64)).all() or (arr < 0).any():
            raise InvalidInputError("samples_ns must be a non-empty 1-D array of finite latencies >= 0")
        return Latency("empirical", 0, 0.0, tuple(int(x) for x in arr))

    @property
    def fixed_ns(self) -> int | None:
        """The latency when every draw gives it without using the generator, else None."""
        if self.kind == "constant" or (self.kind == "lognormal" and self.sigma == 0.0):
            return self.value_ns
        return None

    def draw(self, rng: np.random.Generator) -> int:
        fixed = self.fixed_ns
        if fixed is not None:
            return fixed
        if self.kind == "lognormal":
            return int(round(math.exp(math.log(max(self.value_ns, 1)) + self.sigma * rng.standard_normal())))
        return self.samples[int(rng.integers(len(self.samples)))]

    def to_dict(self) -> dict:
        d = {"kind": self.kind}
        if self.kind != "empirical":
            d["value_ns"] = self.value_ns
        if self.kind == "lognormal":
            d["sigma"] = self.sigma
        if self.kind == "empirical":
            d["n_samples"] = len(self.samples)
        return d


def _ns(name, v) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v < 0:
        raise InvalidInputError(f"{name} must be a number of nanoseconds >= 0, got {v!r}")
    return int(v)


def as_latency(name: str, v) -> Latency:
    """A Latency, or a number of nanoseconds for a constant one."""
    if isinstance(v, Latency):
        return v
    try:
        return Latency.constant(v)
    except InvalidInputError:
        raise InvalidInputError(f"{name} must be a Latency or nanoseconds >= 0, got {v!r}") from None
