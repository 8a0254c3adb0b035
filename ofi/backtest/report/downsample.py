"""Min/max-per-bucket downsampling: long series cut to a few thousand points that keep their shape
(a spike or a drawdown trough survives), for the JSON report's equity curve and the charts."""
from __future__ import annotations

import numpy as np

from ofi.errors import InvalidInputError

__all__ = ["minmax_indices"]


def minmax_indices(values: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of at most ``max_points`` rows of ``values`` that keep its shape: the first and last
    rows and, in each of ``(max_points - 2) // 2`` equal runs of rows, the row of the minimum and
    the row of the maximum.

    Parameters
    ----------
    values : ndarray, shape (n,)
        Any real series (NaN is ignored when looking for extremes).
    max_points : int
        At least 4.

    Returns
    -------
    ndarray of int64, sorted, unique. All of ``arange(n)`` when ``n <= max_points``. The global
    minimum and maximum are always among them. Deterministic: depends only on ``values``.

    Raises
    ------
    InvalidInputError
        ``max_points`` < 4 or ``values`` not 1-D.
    """
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 4:
        raise InvalidInputError(f"max_points must be an int >= 4, got {max_points!r}")
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise InvalidInputError(f"values must be 1-D, got shape {v.shape}")
    n = len(v)
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    n_buckets = (max_points - 2) // 2
    k = -(-n // n_buckets)                 # rows per bucket, rounded up
    n_buckets = -(-n // k)
    pad = n_buckets * k - n
    nan = np.isnan(v)
    lo = np.where(nan, np.inf, v)
    hi = np.where(nan, -np.inf, v)
    if pad:
        # Padding repeats the last row; argmin/argmax return the first occurrence, so a padded
        # slot is never chosen over the real row it copies.
        lo = np.concatenate([lo, np.full(pad, lo[-1])])
        hi = np.concatenate([hi, np.full(pad, hi[-1])])
    base = np.arange(n_buckets, dtype=np.int64) * k
    i_lo = base + np.argmin(lo.reshape(n_buckets, k), axis=1)
    i_hi = base + np.argmax(hi.reshape(n_buckets, k), axis=1)
    idx = np.concatenate([np.array([0, n - 1], dtype=np.int64), i_lo, i_hi])
    return np.unique(np.minimum(idx, n - 1))
