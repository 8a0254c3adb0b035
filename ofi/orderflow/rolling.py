"""Rolling statistics over numpy arrays: mean, variance, z-score, EWMA, least squares, time-window sums.

Thin, validated wrappers over the compiled kernels of ``ofi._core.rolling`` (the same kernels every
order-flow estimator embeds). Windows hold the last ``window`` values, the current one included;
a row is NaN until ``min_periods`` values are in the window (default: a full window).

Numerics: sliding moments use Welford's add/remove updates and are recomputed exactly (two passes
over the ring) once per window length, and whenever an update cancels most of the spread (a
dominant value left the window), so rounding never accumulates: after 1e7 and 1e8 values of
``1e9 + N(0, 1)`` the last window's variance matches a fresh two-pass computation to ~1e-12 and
~4e-15 relative, where naive running sums of x and x**2 lose every digit (a negative variance).
A window whose variance is zero (or rounding noise of a constant window) gives NaN z-scores and
NaN regression slopes, never inf.

The streaming classes are the same kernels fed one value at a time, re-exported here:
:class:`RollingMoments`, :class:`RollingOLS`, :class:`EwmMoments`, :class:`TimeWindowSum`.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ofi._core import rolling as _k
from ofi._core.rolling import EwmMoments, RollingMoments, RollingOLS, TimeWindowSum
from ofi.errors import InvalidInputError
from ofi.validation import (
    min_periods as _min_periods,
    duration_ns,
    float_array,
    positive_int,
    same_length,
    timestamps,
)

__all__ = [
    "rolling_mean",
    "rolling_var",
    "rolling_std",
    "rolling_zscore",
    "ewma",
    "ewm_var",
    "rolling_ols",
    "OLSResult",
    "time_window_sum",
    "WindowSum",
    "RollingMoments",
    "RollingOLS",
    "EwmMoments",
    "TimeWindowSum",
]


def _ddof(ddof) -> int:
    if isinstance(ddof, bool) or not isinstance(ddof, numbers.Integral) or not 0 <= ddof <= 1:
        raise InvalidInputError(f"ddof must be 0 or 1, got {ddof!r}")
    return int(ddof)


def _moments(x, window, ddof, min_periods, *, min_window: int):
    arr = float_array("x", x)
    w = positive_int("window", window, minimum=min_window)
    d = _ddof(ddof)
    mp = _min_periods(min_periods, w)
    return _k.rolling_moments(arr, w, d, mp)


def rolling_mean(x, window: int, *, min_periods: int | None = None) -> np.ndarray:
    """Mean of the last ``window`` values, the current one included.

    Parameters
    ----------
    x : array_like, shape (n,)
        Finite numbers (coerced to float64).
    window : int
        Window length, >= 1.
    min_periods : int, optional
        Values needed before a row is defined (1 <= min_periods <= window); default ``window``.

    Returns
    -------
    numpy.ndarray, float64, shape (n,)
        ``mean(x[i-window+1 : i+1])``; NaN while fewer than ``min_periods`` values were seen.

    Raises
    ------
    InvalidInputError
        ``x`` not 1-D or not finite, ``window`` < 1, ``min_periods`` out of range.
    """
    return _moments(x, window, 1, min_periods, min_window=1)[0]


def rolling_var(x, window: int, *, ddof: int = 1, min_periods: int | None = None) -> np.ndarray:
    """Variance of the last ``window`` values: ``sum((x - mean)**2) / (k - ddof)`` over the k values held.

    Parameters
    ----------
    x : array_like, shape (n,)
        Finite numbers.
    window : int
        Window length, >= 2.
    ddof : {1, 0}
        Delta degrees of freedom (1: sample variance, as pandas; 0: population).
    min_periods : int, optional
        Default ``window``. Rows with k <= ddof values are NaN.

    Returns
    -------
    numpy.ndarray, float64, shape (n,)
        Non-negative; exactly 0 for a constant window.

    Raises
    ------
    InvalidInputError
        Bad ``x``, ``window`` < 2, ``ddof`` not 0/1, ``min_periods`` out of range.
    """
    return _moments(x, window, ddof, min_periods, min_window=2)[1]


def rolling_std(x, window: int, *, ddof: int = 1, min_periods: int | None = None) -> np.ndarray:
    """Standard deviation of the last ``window`` values, ``sqrt(rolling_var(...))``.

    Same parameters, result shape and errors as :func:`rolling_var`.
    """
    return np.sqrt(_moments(x, window, ddof, min_periods, min_window=2)[1])


def rolling_zscore(x, window: int, *, ddof: int = 1, min_periods: int | None = None) -> np.ndarray:
    """z-score of each value against its window: ``(x[i] - mean) / std`` of ``x[i-window+1 : i+1]``.

    The current value is part of its own window (as in ``pandas``' ``(x - x.rolling(w).mean()) /
    x.rolling(w).std()``).

    Parameters
    ----------
    x : array_like, shape (n,)
        Finite numbers.
    window : int
        Window length, >= 2.
    ddof : {1, 0}
        Degrees of freedom of the standard deviation.
    min_periods : int, optional
        Default ``window``.

    Returns
    -------
    numpy.ndarray, float64, shape (n,)
        NaN (never inf) where the window's variance is zero, or only rounding noise of a constant
        window (std below 1e-12 of |mean|).

    Raises
    ------
    InvalidInputError
        As :func:`rolling_var`.
    """
    return _moments(x, window, ddof, min_periods, min_window=2)[2]


def _alpha(alpha, span, halflife, com) -> float:
    given = {k: v for k, v in (("alpha", alpha), ("span", span), ("halflife", halflife), ("com", com))
             if v is not None}
    if len(given) != 1:
        raise InvalidInputError("give exactly one of alpha, span, halflife, com; got "
                                + (", ".join(given) or "none"))
    (name, value), = given.items()
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise InvalidInputError(f"{name} must be a finite number, got {value!r}")
    v = float(value)
    if name == "alpha":
        if not 0.0 < v <= 1.0:
            raise InvalidInputError(f"alpha must be in (0, 1], got {value!r}")
        return v
    if name == "span":
        if v < 1.0:
            raise InvalidInputError(f"span must be >= 1, got {value!r}")
        return 2.0 / (v + 1.0)
    if name == "halflife":
        if v <= 0.0:
            raise InvalidInputError(f"halflife must be > 0, got {value!r}")
        return 1.0 - math.exp(math.log(0.5) / v)
    if v < 0.0:
        raise InvalidInputError(f"com must be >= 0, got {value!r}")
    return 1.0 / (1.0 + v)


def ewma(x, *, alpha: float | None = None, span: float | None = None,
         halflife: float | None = None, com: float | None = None) -> np.ndarray:
    """Exponentially weighted moving average, ``m_0 = x_0``, ``m_t = m_{t-1} + alpha (x_t - m_{t-1})``.

    This is pandas' ``ewm(..., adjust=False).mean()``. Give exactly one decay parameter:
    ``alpha`` in (0, 1], ``span`` >= 1 (``alpha = 2 / (span + 1)``), ``halflife`` > 0 in rows
    (``alpha = 1 - 0.5 ** (1 / halflife)``) or ``com`` >= 0 (``alpha = 1 / (1 + com)``).

    Parameters
    ----------
    x : array_like, shape (n,)
        Finite numbers.

    Returns
    -------
    numpy.ndarray, float64, shape (n,)

    Raises
    ------
    InvalidInputError
        Bad ``x``; not exactly one decay parameter, or one out of range.
    """
    arr = float_array("x", x)
    return _k.ewm_moments(arr, _alpha(alpha, span, halflife, com))[0]


def ewm_var(x, *, alpha: float | None = None, span: float | None = None,
            halflife: float | None = None, com: float | None = None) -> np.ndarray:
    """Exponentially weighted variance (West 1979, biased):
    ``v_t = (1 - alpha) (v_{t-1} + alpha (x_t - m_{t-1})**2)``, ``v_0 = 0``.

    This is pandas' ``ewm(..., adjust=False).var(bias=True)``. Parameters and errors as :func:`ewma`.

    Returns
    -------
    numpy.ndarray, float64, shape (n,)
    """
    arr = float_array("x", x)
    return _k.ewm_moments(arr, _alpha(alpha, span, halflife, com))[1]


@dataclass(frozen=True)
class OLSResult:
    """Rolling least squares ``y = intercept + slope x + e``, one row per input row.

    Attributes
    ----------
    slope, intercept, t_stat, r2 : numpy.ndarray, float64, shape (n,)
        ``t_stat`` is the slope over its classical standard error, ``sqrt(RSS / dof / Sxx)``, with
        ``dof = k - 2`` (``k - 1`` through the origin). ``r2`` is the centred R^2 with an intercept
        and the uncentred one through the origin. ``intercept`` is 0 through the origin.
        All NaN before ``min_periods`` pairs or when x is constant (zero variance); ``t_stat`` is
        NaN for an exact fit (zero residuals) and ``r2`` when y is constant.
    n : numpy.ndarray, int64, shape (n,)
        Pairs in the window.
    """

    slope: np.ndarray
    intercept: np.ndarray
    t_stat: np.ndarray
    r2: np.ndarray
    n: np.ndarray

    def __len__(self) -> int:
        return len(self.slope)


def rolling_ols(x, y, window: int, *, intercept: bool = True,
                min_periods: int | None = None) -> OLSResult:
    """Least squares of ``y`` on ``x`` over the last ``window`` pairs, O(1) per row.

    Centred co-moments (Welford add/remove, recomputed exactly once per window length);
    ``slope = Sxy / Sxx``.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Finite numbers, equal lengths.
    window : int
        >= 3 with an intercept, >= 2 through the origin.
    intercept : bool
        Fit ``y = a + b x`` (default) or ``y = b x``.
    min_periods : int, optional
        Default ``window``.

    Returns
    -------
    OLSResult

    Raises
    ------
    InvalidInputError
        Bad or mismatched arrays, ``window`` too small, ``min_periods`` out of range.
    """
    xa = float_array("x", x)
    ya = float_array("y", y)
    n = same_length(x=xa, y=ya)
    w = positive_int("window", window, minimum=3 if intercept else 2)
    mp = _min_periods(min_periods, w)
    out = _k.rolling_ols(xa, ya, w, bool(intercept), mp)
    counts = np.minimum(np.arange(1, n + 1, dtype=np.int64), w)
    return OLSResult(out[0].copy(), out[1].copy(), out[2].copy(), out[3].copy(), counts)


class WindowSum(NamedTuple):
    """Sum and count of the values in the time window ending at each row."""

    total: np.ndarray
    count: np.ndarray


def time_window_sum(ts, x, width_ns) -> WindowSum:
    """Sum of the values stamped in ``(ts[i] - width_ns, ts[i]]`` at each row (right-closed, as CCZ).

    Parameters
    ----------
    ts : array_like of int64 ns (or datetime64), shape (n,)
        Non-decreasing times.
    x : array_like, shape (n,)
        Finite values.
    width_ns : int or datetime.timedelta or numpy.timedelta64
        Window width, > 0 (an int is nanoseconds; floats are refused to avoid unit mix-ups).

    Returns
    -------
    WindowSum
        ``total`` float64 and ``count`` int64, shape (n,). Rows with equal times each see the
        values up to and including themselves.

    Raises
    ------
    InvalidInputError
        Unsorted or non-integer times, bad values, mismatched lengths, bad width.
    """
    t = timestamps("ts", ts)
    xa = float_array("x", x)
    same_length(ts=t, x=xa)
    width = duration_ns("width_ns", width_ns)
    total, count = _k.time_window_sum(t, xa, width)
    return WindowSum(total, count)
