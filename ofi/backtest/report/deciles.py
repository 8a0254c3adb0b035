"""Markouts by VPIN decile at fill time: whether fills are picked off when order flow is toxic
(the JSON report's ``markouts_by_vpin_decile`` and the HTML report's decile chart)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ofi.backtest.result import BacktestResult

__all__ = ["MIN_DECILE_FILLS", "VpinDeciles", "markouts_by_vpin_decile"]

#: Fewest fills with a VPIN value and a markout before the VPIN-decile chart is drawn.
MIN_DECILE_FILLS = 20


@dataclass(frozen=True)
class VpinDeciles:
    """Mean markout of the fills in each VPIN decile (VPIN as of each fill's time).

    Attributes
    ----------
    edges : ndarray, shape (11,), float64
        Decile edges: quantiles 0, 0.1, ..., 1 of VPIN over the fills used. Decile ``d`` holds the
        fills with ``edges[d] <= vpin < edges[d + 1]`` (the last decile includes its upper edge).
    count : ndarray, shape (10,), int64
        Fills per decile.
    n : ndarray, shape (10, 3), int64
        Fills per decile with a known markout at each horizon (100 ms, 1 s, 10 s).
    mean_bps : ndarray, shape (10, 3), float64
        Mean markout in bps per decile and horizon; NaN where ``n`` is 0.
    """

    edges: np.ndarray
    count: np.ndarray
    n: np.ndarray
    mean_bps: np.ndarray


def markouts_by_vpin_decile(result: BacktestResult, *,
                            min_fills: int = MIN_DECILE_FILLS) -> VpinDeciles | None:
    """Mean markout per VPIN decile at fill time, or None when there is not enough data.

    VPIN at a fill is the last ``series["vpin"]`` value stamped at or before the fill
    (``series["ts_ns"] <= fill ts_ns``, an as-of lookup: no look-ahead). Fills before the first
    VPIN value, with a NaN VPIN, or with no known markout are left out. Deciles are equal-count
    bins of VPIN over the remaining fills (``np.quantile``, linear), so each bar rests on about a
    tenth of the fills.

    Returns None when ``result.markouts`` is None, ``series`` has no ``"vpin"``, or fewer than
    ``min_fills`` fills remain. Does not validate ``result``; the report writers do.
    """
    s = result.series
    m = result.markouts
    if m is None or "vpin" not in s or "ts_ns" not in s or len(result.fills) == 0:
        return None
    ts = s["ts_ns"]
    vpin_series = np.asarray(s["vpin"], dtype=np.float64)
    pos = np.searchsorted(ts, result.fills["ts_ns"], side="right") - 1
    vpin = np.full(len(pos), np.nan)
    ok = pos >= 0
    vpin[ok] = vpin_series[pos[ok]]
    m = np.asarray(m, dtype=np.float64)
    known = np.isfinite(m)
    use = np.isfinite(vpin) & known.any(axis=1)
    if int(use.sum()) < max(int(min_fills), 1):
        return None
    v = vpin[use]
    mk = m[use]
    kn = known[use]
    edges = np.quantile(v, np.linspace(0.0, 1.0, 11))
    decile = np.clip(np.searchsorted(edges[1:-1], v, side="right"), 0, 9)
    count = np.bincount(decile, minlength=10).astype(np.int64)
    n = np.zeros((10, mk.shape[1]), dtype=np.int64)
    mean = np.full((10, mk.shape[1]), np.nan)
    for h in range(mk.shape[1]):
        sel = kn[:, h]
        n[:, h] = np.bincount(decile[sel], minlength=10)
        total = np.bincount(decile[sel], weights=mk[sel, h], minlength=10)
        has = n[:, h] > 0
        mean[has, h] = total[has] / n[has, h]
    return VpinDeciles(edges=edges, count=count, n=n, mean_bps=mean)
