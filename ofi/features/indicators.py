"""Technical indicators on a price series (bar closes), the same compiled code the feature engine
runs on its bars: EMA and EMA crossover, Wilder's RSI, Bollinger position, momentum.

Every function takes a 1-D array of finite prices and returns a float64 array of the same length,
NaN where the indicator is not yet defined.
"""
from __future__ import annotations

import numpy as np

from ofi._core.features import bollinger_series, ema_crossover_series, ema_series, rsi_series
from ofi.errors import InvalidInputError
from ofi.validation import float_array, positive_int

__all__ = ["ema", "ema_crossover_bps", "rsi", "bollinger_position", "momentum_bps"]


def ema(x, span: int) -> np.ndarray:
    """Exponential moving average, alpha = 2 / (span + 1), seeded with x[0] (defined from index 0)."""
    return ema_series(float_array("x", x), positive_int("span", span))


def ema_crossover_bps(x, fast: int = 12, slow: int = 26) -> np.ndarray:
    """1e4 (EMA_fast - EMA_slow) / EMA_slow; NaN before index slow - 1."""
    fast = positive_int("fast", fast)
    slow = positive_int("slow", slow, minimum=fast + 1)
    return ema_crossover_series(float_array("x", x), fast, slow)


def rsi(x, period: int = 14) -> np.ndarray:
    """Wilder's RSI in [0, 100] on the changes x[i] - x[i-1].

    The first average gain / loss is the mean of the first ``period`` changes, then
    avg <- (change + (period - 1) avg) / period. RSI = 100 G / (G + L); NaN before index ``period``
    and where both averages are 0 (a flat series has no RSI, rather than a made-up 50)."""
    return rsi_series(float_array("x", x), positive_int("period", period))


def bollinger_position(x, period: int = 20) -> np.ndarray:
    """(x - mean) / (2 sd) over the last ``period`` values (ddof 1): 0 at the middle band, +-1 at the
    bands. NaN before index period - 1 and where the window is constant."""
    return bollinger_series(float_array("x", x), positive_int("period", period, minimum=2))


def momentum_bps(x, n: int = 10) -> np.ndarray:
    """1e4 ln(x[i] / x[i - n]); NaN before index n. Prices must be > 0."""
    arr = float_array("x", x)
    n = positive_int("n", n)
    if arr.size and not (arr > 0).all():
        i = int(np.flatnonzero(~(arr > 0))[0])
        raise InvalidInputError(f"x must be > 0 for a log return, got {arr[i]!r} at index {i}")
    out = np.full(len(arr), np.nan)
    if len(arr) > n:
        out[n:] = 1e4 * np.log(arr[n:] / arr[:-n])
    return out
