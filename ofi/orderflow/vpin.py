"""VPIN, the volume-synchronised probability of informed trading (Easley, Lopez de Prado & O'Hara
2012, *Review of Financial Studies* 25(5)), batch functions over numpy arrays.

``vpin_series`` buckets a whole series; :class:`VpinCalculator` (compiled, re-exported here) does
the same row by row for live use, with identical numbers. ``vpin_cdf`` gives the empirical CDF of
VPIN values that the paper's alarms use. Conventions: docs/vpin.md.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ofi._core import vpin as _k
from ofi._core.vpin import VpinCalculator
from ofi.errors import InvalidInputError
from ofi.validation import float_array, positive_float, positive_int, same_length, timestamps

__all__ = ["VpinCalculator", "VpinResult", "vpin_series", "vpin_cdf", "CLASSIFICATIONS"]

#: Accepted values of ``classification`` ("bvc_normal" is also accepted as an alias of "bvc").
CLASSIFICATIONS = ("aggressor", "tick", "bvc", "bvc_t")

# vpin_series refuses inputs that would fill more buckets than this (about 4 GB of results):
# almost always a bucket_volume given in the wrong unit.
MAX_BUCKETS = 100_000_000


@dataclass(frozen=True, eq=False)
class VpinResult:
    """Per-bucket output of :func:`vpin_series`; every array has one entry per completed bucket.

    Attributes
    ----------
    buy_volume, sell_volume : ndarray of float64, shape (m,)
        V^B and V^S of each completed bucket (V^B + V^S = bucket volume, V up to 1e-9 V).
    imbalance : ndarray of float64, shape (m,)
        |V^S - V^B|.
    vpin : ndarray of float64, shape (m,)
        VPIN after each bucket: sum of the last ``n_buckets`` imbalances / their buckets' total
        volume, in [0, 1]; NaN for the first ``n_buckets - 1`` buckets.
    end_index : ndarray of int64, shape (m,)
        Index of the input row whose volume completed the bucket (one row may complete several).
    end_ts : ndarray of int64, shape (m,), or None
        ``ts[end_index]`` when ``ts`` was given (ns), else None.
    bucket_volume : float
        V.
    n_buckets : int
        n.
    classification : str
        The classification used ("aggressor", "tick", "bvc" or "bvc_t").
    sigma : float
        The fixed sigma of bar price changes used by bvc (given, or the full-sample std); NaN for
        a rolling sigma and for trade classifications.
    progress : float
        Fill of the last, incomplete bucket as a fraction of V (excluded from VPIN).
    """

    buy_volume: np.ndarray
    sell_volume: np.ndarray
    imbalance: np.ndarray
    vpin: np.ndarray
    end_index: np.ndarray
    end_ts: np.ndarray | None
    bucket_volume: float
    n_buckets: int
    classification: str
    sigma: float
    progress: float

    def __len__(self) -> int:
        return len(self.vpin)


def _classification(value) -> str:
    if value == "bvc_normal":
        return "bvc"
    if isinstance(value, str) and value in CLASSIFICATIONS:
        return value
    raise InvalidInputError(f"classification must be one of {', '.join(map(repr, CLASSIFICATIONS))}, "
                            f"got {value!r}")


def vpin_series(price, volume, bucket_volume, n_buckets, classification="aggressor", *, side=None,
                sigma=None, sigma_window=None, df=None, ts=None) -> VpinResult:
    """VPIN over equal-volume buckets of a trade or time-bar series (ELO 2012, eq. 9).

    ``VPIN_tau = sum_{i=tau-n+1..tau} |V^S_i - V^B_i| / sum_{i=tau-n+1..tau} V_i``, where every
    bucket holds ``V = bucket_volume`` (the denominator is the buckets' actual volume, n V up to
    1e-9 V per bucket).

    Parameters
    ----------
    price : array_like of float, shape (N,), or None
        Trade prices ("tick") or each time bar's last price ("bvc", "bvc_t"); may be None for
        "aggressor" (checked when given).
    volume : array_like of float, shape (N,)
        Trade sizes or bar volumes in base units, finite and >= 0. A row larger than the room left
        in the open bucket completes it and carries the excess into the next bucket(s), each piece
        keeping the row's classification.
    bucket_volume : float
        V > 0 (paper: average daily volume / 50; for 24/7 crypto, average 24 h volume / 50).
    n_buckets : int
        n >= 1, buckets per VPIN value (paper: 50).
    classification : {"aggressor", "tick", "bvc", "bvc_t"}, default "aggressor"
        How each row's volume is split:

        - "aggressor": the taker side, ``side`` +1 (buy) / -1 (sell); exact for Bybit trades.
        - "tick": tick rule on ``price`` (up-tick buy, down-tick sell, unchanged: previous sign);
          rows before the first price change count as half buy (fraction 0.5).
        - "bvc": bulk volume classification of time bars (eq. 7), buy fraction Z(dP / sigma) with
          Z the standard normal CDF and dP the change from the previous non-empty bar. Empty bars
          are dropped before dP is taken; the first non-empty bar has no dP and is dropped.
          dP = 0 gives 0.5 (Z(0/0) := 0.5).
        - "bvc_t": as "bvc" with the Student-t CDF of ``df`` degrees of freedom (ELO 2016).
    side : array_like, shape (N,), optional
        Taker sides, +1 or -1; required for "aggressor".
    sigma : float, optional
        bvc: the std of bar price changes. Default: the full-sample std (ddof=1) of dP, as in
        the paper; this looks ahead (use ``sigma_window`` or a given sigma for live-like results).
        With fewer than two price changes the full-sample sigma is undefined and no bar is
        classified.
    sigma_window : int, optional
        bvc: instead, the std (ddof=1) of the ``sigma_window`` (>= 2) changes *before* each bar,
        no look-ahead (rolling.pxd ``Moments``); bars before the window is full are not bucketed.
    df : float, optional
        Degrees of freedom (> 0) for "bvc_t"; required there (scipy.special.stdtr).
    ts : array_like of int64 (ns) or datetime64, shape (N,), optional
        Row times, non-decreasing; gives :attr:`VpinResult.end_ts`.

    Returns
    -------
    VpinResult
        Per completed bucket: buy / sell volume, imbalance, VPIN (NaN for the first n - 1
        buckets) and the completing row's index; the last incomplete bucket is excluded.

    Raises
    ------
    InvalidInputError
        NaN / inf / negative volume, non-finite price, mismatched lengths, bucket_volume <= 0,
        n_buckets < 1, an unknown classification, sigma <= 0, sigma_window < 2, df <= 0, a side
        other than +-1, a missing required array, decreasing ``ts``, or an input that would fill
        more than 1e8 buckets. The message names the argument.

    Notes
    -----
    Bit for bit equal to feeding the same rows to :class:`VpinCalculator` (``add_trade``,
    ``add_trades``, ``add_bar``; rolling sigma only). See docs/vpin.md.

    Examples
    --------
    >>> r = vpin_series(None, [3.0, 1.0, 2.0, 2.0], 2.0, 2, side=[1, -1, 1, -1])
    >>> r.buy_volume, r.sell_volume, r.end_index
    (array([2., 1., 2., 0.]), array([0., 1., 0., 2.]), array([0, 1, 2, 3]))
    >>> r.vpin
    array([nan, 0.5, 0.5, 1. ])
    """
    cls = _classification(classification)
    V = positive_float("bucket_volume", bucket_volume)
    n = positive_int("n_buckets", n_buckets)
    vol = float_array("volume", volume, nonnegative=True)
    arrays = {"volume": vol}
    px = None
    if price is not None:
        px = arrays["price"] = float_array("price", price)
    sd = None
    if side is not None:
        sd = arrays["side"] = float_array("side", side)
    t = None
    if ts is not None:
        t = arrays["ts"] = timestamps("ts", ts)
    same_length(**arrays)

    bvc = cls in ("bvc", "bvc_t")
    if not bvc and (sigma is not None or sigma_window is not None):
        raise InvalidInputError(f"sigma and sigma_window apply to classification 'bvc' or 'bvc_t', "
                                f"not {cls!r}")
    if cls != "bvc_t" and df is not None:
        raise InvalidInputError(f"df applies to classification 'bvc_t', not {cls!r}")
    if cls == "bvc_t":
        if df is None:
            raise InvalidInputError("classification='bvc_t' needs df (degrees of freedom > 0)")
        df = positive_float("df", df)
    if sigma is not None:
        if sigma_window is not None:
            raise InvalidInputError("give sigma or sigma_window, not both")
        sigma = positive_float("sigma", sigma)
    if sigma_window is not None:
        sigma_window = positive_int("sigma_window", sigma_window, minimum=2)

    rows = None
    used_sigma = math.nan
    if cls == "aggressor":
        if sd is None:
            raise InvalidInputError("side is required for classification='aggressor' "
                                    "(+1 taker buy, -1 taker sell)")
        bad = (sd != 1.0) & (sd != -1.0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InvalidInputError(f"side must be +1 or -1, got {sd[i]!r} at index {i}")
        frac = (sd + 1.0) * 0.5
        row_vol = vol
    elif cls == "tick":
        if px is None:
            raise InvalidInputError("price is required for classification='tick'")
        frac = _k.tick_fractions(px)
        row_vol = vol
    else:
        if px is None:
            raise InvalidInputError(f"price is required for classification={cls!r}")
        if sigma_window is not None:
            rows, z = _k.bvc_z(px, vol, math.nan, sigma_window)
        else:
            if sigma is None:
                dp = np.diff(px[vol > 0])
                sigma = float(np.std(dp, ddof=1)) if dp.size >= 2 else math.nan
            used_sigma = sigma
            if math.isnan(sigma):
                rows, z = np.empty(0, np.int64), np.empty(0)
            else:
                rows, z = _k.bvc_z(px, vol, sigma, 0)
        if cls == "bvc":
            frac = _k.normal_cdf(z)
        else:
            from scipy.special import stdtr
            frac = np.ascontiguousarray(stdtr(df, z), dtype=np.float64)
        row_vol = np.ascontiguousarray(vol[rows])

    total = float(row_vol.sum())            # pairwise: relative error ~1e-15, far inside the margin
    cap_f = total / (V * (1.0 - 2e-9)) + 2.0
    if cap_f > MAX_BUCKETS:
        raise InvalidInputError(f"bucket_volume={bucket_volume!r} is too small for this input: it "
                                f"would fill about {total / V:.3g} buckets (limit {MAX_BUCKETS:.0e})")
    buy, sell, imb, vp, end, progress = _k.vpin_buckets(row_vol, frac, rows, V, n, int(cap_f))
    return VpinResult(
        buy_volume=buy, sell_volume=sell, imbalance=imb, vpin=vp, end_index=end,
        end_ts=None if t is None else t[end], bucket_volume=V, n_buckets=n, classification=cls,
        sigma=float(used_sigma), progress=float(progress),
    )


def vpin_cdf(vpin, method="expanding") -> np.ndarray:
    """Empirical CDF of VPIN values, CDF(VPIN) in the paper's alarms (CDF > 0.9).

    Parameters
    ----------
    vpin : array_like of float, shape (m,)
        VPIN values in time order; NaN (warm-up) allowed.
    method : {"expanding", "full"}, default "expanding"
        "expanding": the fraction of the non-NaN values up to and including i that are <= vpin[i]
        (no look-ahead; for live use and backtests). "full": the fraction of all non-NaN values in
        the sample that are <= vpin[i], as in the paper ("over the entire sample period"); this
        looks ahead.

    Returns
    -------
    ndarray of float64, shape (m,)
        Values in (0, 1]; NaN where ``vpin`` is NaN.

    Raises
    ------
    InvalidInputError
        ``vpin`` not 1-D numeric or holding +-inf; an unknown ``method``.
    """
    x = float_array("vpin", vpin, allow_nan=True)
    if method == "full":
        ok = ~np.isnan(x)
        s = np.sort(x[ok])
        out = np.full(x.shape, np.nan)
        if s.size:
            out[ok] = np.searchsorted(s, x[ok], side="right") / s.size
        return out
    if method == "expanding":
        return _k.expanding_ecdf(x)
    raise InvalidInputError(f"method must be 'expanding' or 'full', got {method!r}")
