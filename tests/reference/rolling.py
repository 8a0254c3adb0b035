"""Reference rolling statistics: the executable specification of ``ofi._core.rolling``.

Every row is computed afresh from its own window with two passes (mean first, then squared
deviations), so nothing can drift; slow (O(window) per row) on purpose. NaN rules are the
kernel's:

* fewer than ``min_periods`` values in the window -> NaN;
* variance with ``k <= ddof`` values -> NaN; a constant window has variance exactly 0;
* z-score NaN when the variance is 0 or below ``1e-24 * mean**2`` (rounding noise of a constant
  window), never inf;
* least squares: NaN slope / intercept / t / R^2 with fewer than 3 pairs (2 through the origin) or
  when x is constant (``Sxx <= 1e-12 * (Sxx + k * mean_x**2)`` with an intercept, ``Sxx == 0``
  through the origin); ``RSS = max(0, Syy - slope * Sxy)``; R^2 NaN when ``Syy == 0``; t NaN when
  ``RSS == 0``.
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np

NAN = float("nan")

__all__ = ["rolling_moments", "ewm_moments", "window_ols", "rolling_ols", "time_window_sum",
           "RefRollingOLS"]


def _mean_m2(values) -> tuple[float, float]:
    k = len(values)
    mean = math.fsum(values) / k
    m2 = math.fsum((v - mean) ** 2 for v in values)
    return mean, m2


def rolling_moments(x, window: int, ddof: int = 1, min_periods: int | None = None):
    """(mean, var, z) per row as float64 arrays."""
    x = [float(v) for v in x]
    mp = window if min_periods is None else min_periods
    n = len(x)
    mean, var, z = np.full(n, NAN), np.full(n, NAN), np.full(n, NAN)
    for i in range(n):
        w = x[max(0, i - window + 1): i + 1]
        if len(w) < mp:
            continue
        m, m2 = _mean_m2(w)
        mean[i] = m
        if len(w) > ddof:
            v = m2 / (len(w) - ddof)
            var[i] = v
            if v > 1e-24 * m * m and v != 0.0:
                z[i] = (x[i] - m) / math.sqrt(v)
    return mean, var, z


def ewm_moments(x, alpha: float):
    """m_0 = x_0, m_t = m + alpha (x - m); v_0 = 0, v_t = (1 - alpha)(v + alpha (x - m_{t-1})**2)."""
    n = len(x)
    mean, var = np.full(n, NAN), np.full(n, NAN)
    m = v = NAN
    for i, xi in enumerate(map(float, x)):
        if i == 0:
            m, v = xi, 0.0
        else:
            d = xi - m
            m = m + alpha * d
            v = (1.0 - alpha) * (v + alpha * d * d)
        mean[i], var[i] = m, v
    return mean, var


def window_ols(xs, ys, intercept: bool = True) -> tuple[float, float, float, float]:
    """(slope, intercept, t_stat, r2) of one window, two-pass."""
    k = len(xs)
    if intercept:
        if k < 3:
            return NAN, NAN, NAN, NAN
        mx = math.fsum(xs) / k
        my = math.fsum(ys) / k
        sxx = math.fsum((a - mx) ** 2 for a in xs)
        sxy = math.fsum((a - mx) * (b - my) for a, b in zip(xs, ys))
        syy = math.fsum((b - my) ** 2 for b in ys)
        if not sxx > 1e-12 * (sxx + k * mx * mx):
            return NAN, NAN, NAN, NAN
        slope = sxy / sxx
        icpt = my - slope * mx
        dof = k - 2
    else:
        if k < 2:
            return NAN, NAN, NAN, NAN
        sxx = math.fsum(a * a for a in xs)
        sxy = math.fsum(a * b for a, b in zip(xs, ys))
        syy = math.fsum(b * b for b in ys)
        if not sxx > 0.0:
            return NAN, NAN, NAN, NAN
        slope = sxy / sxx
        icpt = 0.0
        dof = k - 1
    rss = max(0.0, syy - slope * sxy)
    r2 = 1.0 - rss / syy if syy > 0.0 else NAN
    t = slope * math.sqrt(sxx) / math.sqrt(rss / dof) if rss > 0.0 else NAN
    return slope, icpt, t, r2


def rolling_ols(x, y, window: int, intercept: bool = True, min_periods: int | None = None):
    """(4, n) array of slope, intercept, t, r2 per row and the int64 window counts."""
    x = [float(v) for v in x]
    y = [float(v) for v in y]
    mp = window if min_periods is None else min_periods
    n = len(x)
    out = np.full((4, n), NAN)
    counts = np.zeros(n, dtype=np.int64)
    for i in range(n):
        lo = max(0, i - window + 1)
        counts[i] = i + 1 - lo
        if counts[i] >= mp:
            out[:, i] = window_ols(x[lo: i + 1], y[lo: i + 1], intercept)
    return out, counts


def time_window_sum(ts, x, width: int):
    """Sum and count of the values stamped in (ts[i] - width, ts[i]] among rows 0..i."""
    n = len(ts)
    total = np.zeros(n)
    count = np.zeros(n, dtype=np.int64)
    for i in range(n):
        vals = [float(x[j]) for j in range(i + 1) if int(ts[j]) > int(ts[i]) - width]
        total[i] = math.fsum(vals)
        count[i] = len(vals)
    return total, count


class RefRollingOLS:
    """Streaming least squares over the last ``window`` pairs, refitted from scratch on each read."""

    def __init__(self, window: int, intercept: bool = True):
        self.window = window
        self.intercept = intercept
        self.xs: deque[float] = deque(maxlen=window)
        self.ys: deque[float] = deque(maxlen=window)

    def push(self, x: float, y: float) -> None:
        self.xs.append(float(x))
        self.ys.append(float(y))

    @property
    def count(self) -> int:
        return len(self.xs)

    def fit(self) -> tuple[float, float, float, float, int]:
        return (*window_ols(list(self.xs), list(self.ys), self.intercept), len(self.xs))


def slope_atol(x, y, window, intercept, c=1e-11):
    """Per-row absolute tolerance of a rolling slope: rounding in the co-moments is about
    eps * k * max|x| * max|y| (values in the window or recently out of it), divided by Sxx."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    out = np.full(len(x), np.inf)
    for i in range(len(x)):
        lo, rlo = max(0, i - window + 1), max(0, i - 2 * window)
        w = x[lo: i + 1]
        w = w[~np.isnan(w)]
        if len(w) < 2:
            continue
        sxx = float(np.sum((w - w.mean()) ** 2)) if intercept else float(w @ w)
        xr, yr = x[rlo: i + 1], y[rlo: i + 1]
        big = float(np.nanmax(np.abs(xr))) * float(np.nanmax(np.abs(yr)))
        out[i] = c * len(w) * big / sxx if sxx > 0 else np.inf
    return out
