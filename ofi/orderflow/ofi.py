"""Order Flow Imbalance: best level (Cont, Kukanov & Stoikov 2014), multi-level (Xu, Gould & Howison
2019), depth-normalised and integrated (Cont, Cucuringu & Zhang 2023).

Streaming: :class:`OrderFlowCalculator` (best level) and :class:`MultiLevelOFI` (M levels) are fed
an :class:`~ofi.OrderBook` after every message. Batch: :func:`ofi_events`, :func:`ofi_intervals`,
:func:`ofi_window_sum`, :func:`price_impact`, :func:`integration_weights`, :func:`integrated_ofi`.
Both run the same compiled kernels (``ofi/_core/flow.pyx``), so they give identical numbers.

Conventions (``../shared/reference/microstructure.md`` §1-3 and docs/orderflow.md):

* e_n uses the non-strict inequalities of CKS: an unchanged price contributes the size change.
  ``variant="ccz"`` selects CCZ's printed per-level form (a worsened price counts the *current*
  queue instead of the removed one).
* The first state of a chain (the first state seen, the first after a gap, a resync or Bybit's
  ``u = 1`` reset, i.e. a new :attr:`OrderBook.epoch`) has no e_n: it only sets the previous state.
* A crossed or locked state, or (best level) a side missing, is skipped: it neither yields e_n nor
  becomes the previous state.
* Intervals are right-closed, (t_{k-1}, t_k], on the grid k * interval of exchange time; the state
  is carried across boundaries, so interval sums add up to the event sums. An interval with no
  event has OFI 0, dmid 0 and depth NaN. The last interval of a batch may be partial.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ofi._core import flow as _flow
from ofi._core import rolling as _rolling
from ofi._core.flow import MultiLevelOFI, OrderFlowCalculator
from ofi.errors import InvalidInputError
from ofi.validation import (
    duration_ns,
    float_array,
    positive_float,
    positive_int,
    same_length,
    timestamps,
)

__all__ = [
    "OrderFlowCalculator",
    "MultiLevelOFI",
    "IntervalOFI",
    "ImpactFit",
    "ofi_events",
    "ofi_intervals",
    "ofi_window_sum",
    "price_impact",
    "integration_weights",
    "integrated_ofi",
]

_VARIANTS = {"cks": 0, "ccz": 1}
_NO_RESET = np.zeros(0, dtype=np.uint8)


def _variant(variant: str) -> int:
    try:
        return _VARIANTS[variant]
    except (KeyError, TypeError):
        raise InvalidInputError(f"variant must be 'cks' or 'ccz', got {variant!r}") from None


def _reset_mask(reset, n: int) -> np.ndarray:
    if reset is None:
        return _NO_RESET
    r = np.ascontiguousarray(reset)
    if r.ndim != 1 or len(r) != n:
        raise InvalidInputError(f"reset must be a 1-D boolean array of length {n}, got shape {r.shape}")
    if r.dtype != np.bool_:
        raise InvalidInputError(f"reset must be boolean, got dtype {r.dtype}")
    return r.view(np.uint8)


def _book_arrays(bid_price, bid_size, ask_price, ask_size):
    """Checked (n, M) float64 arrays and whether the input was 1-D (best level only)."""
    bp = float_array("bid_price", bid_price, ndim=(1, 2), allow_nan=True)
    bq = float_array("bid_size", bid_size, ndim=(1, 2), nonnegative=True)
    ap = float_array("ask_price", ask_price, ndim=(1, 2), allow_nan=True)
    aq = float_array("ask_size", ask_size, ndim=(1, 2), nonnegative=True)
    shapes = {a.shape for a in (bp, bq, ap, aq)}
    if len(shapes) != 1:
        raise InvalidInputError("bid_price, bid_size, ask_price and ask_size must have the same shape, "
                                f"got {bp.shape}, {bq.shape}, {ap.shape}, {aq.shape}")
    if np.isinf(bp).any() or np.isinf(ap).any():
        raise InvalidInputError("prices must be finite numbers (NaN marks a missing level)")
    return bp, bq, ap, aq, bp.ndim == 1


def _best_level_arrays(*arrays):
    """Four equal-length 1-D float64 C-contiguous arrays without copying or scanning, or None."""
    out = []
    for a in arrays:
        if not (isinstance(a, np.ndarray) and a.ndim == 1):
            return None
        if a.dtype != np.float64 or not a.flags.c_contiguous:
            a = np.ascontiguousarray(a, dtype=np.float64) if a.dtype.kind in "fiu" else None
            if a is None:
                return None
        out.append(a)
    if len({len(a) for a in out}) != 1:
        return None
    return out


def _check_out(out, shape):
    if out is not None and not (isinstance(out, np.ndarray) and out.dtype == np.float64
                                and out.shape == shape and out.flags.c_contiguous
                                and out.flags.writeable):
        raise InvalidInputError(f"out must be a writeable C-contiguous float64 array of shape {shape}")


def _missing_as_infinite(bp, bq, ap, aq):
    """Rank-indexed levels with the XGH convention: a missing bid is (-inf, 0), a missing ask
    (+inf, 0). A level is missing when its price is NaN or its size is 0."""
    miss_b = np.isnan(bp) | (bq == 0)
    miss_a = np.isnan(ap) | (aq == 0)
    if miss_b.any() or miss_a.any():
        bp, bq, ap, aq = bp.copy(), bq.copy(), ap.copy(), aq.copy()
        bp[miss_b], bq[miss_b] = -np.inf, 0.0
        ap[miss_a], aq[miss_a] = np.inf, 0.0
    return bp, bq, ap, aq


def ofi_events(bid_price, bid_size, ask_price, ask_size, variant: str = "cks", reset=None,
               out: np.ndarray | None = None) -> np.ndarray:
    """Per-event order flow e_n between consecutive book states.

    Parameters
    ----------
    bid_price, bid_size, ask_price, ask_size : array_like, shape (n,) or (n, M)
        Best-level states (1-D) or M rank-indexed levels per state (2-D, level 1 first). Prices in
        any consistent unit (ticks or price); compare exactly, so pass ticks or prices parsed the
        same way. 2-D: a missing level has price NaN or size 0.
    variant : {"cks", "ccz"}
        CKS/XGH (default) or CCZ's printed per-level form.
    reset : array_like of bool, shape (n,), optional
        True where a new chain starts (a snapshot after a gap, a reconnect): no e_n there.
    out : ndarray of float64, shape (n,), optional
        Best level only: write the result here (reusing a buffer across chunks of a long tape
        saves the page faults of a fresh 8-byte-per-row array, about half the time at 10M rows).

    Returns
    -------
    ndarray of float64, shape (n,) or (n, M)
        e_n (per level for 2-D input); NaN for the first state of each chain and for skipped
        states (crossed or locked; 1-D also a missing side or a size of 0).

    Raises
    ------
    InvalidInputError
        Shapes differ, a size is negative or NaN, a price is infinite, an unknown variant.
    """
    v = _variant(variant)
    fast = _best_level_arrays(bid_price, bid_size, ask_price, ask_size)
    if fast is not None:
        # The kernel checks the values itself in a vectorised pass; on a malformed row the full
        # checks below find it and raise with its index.
        bp, bq, ap, aq = fast
        r = _reset_mask(reset, len(bp))
        _check_out(out, bp.shape)
        e, n_bad = _flow.l1_events(bp, bq, ap, aq, r, v, out)
        if not n_bad:
            return e
    bp, bq, ap, aq, one_d = _book_arrays(bid_price, bid_size, ask_price, ask_size)
    r = _reset_mask(reset, len(bp))
    if one_d:
        _check_out(out, bp.shape)
        e, n_bad = _flow.l1_events(bp, bq, ap, aq, r, v, out)
        if n_bad:
            raise AssertionError("the kernel flagged a malformed row that the checks did not find")
        return e
    if out is not None:
        raise InvalidInputError("out is supported for best-level (1-D) input only")
    return _flow.ml_events(*_missing_as_infinite(bp, bq, ap, aq), r, v)


@dataclass(frozen=True)
class IntervalOFI:
    """Fixed-interval aggregates (one row per interval (end_ns - interval, end_ns]).

    Attributes
    ----------
    end_ns : int64 (K,)
        Right end t_k of each interval, ns.
    ofi : float64 (K,) or (K, M)
        OFI_k = sum of e_n over the interval (per level for multi-level input).
    dmid : float64 (K,)
        Mid-price change over the interval, in ticks when ``tick_size`` was given, else in the
        price unit of the input.
    depth : float64 (K,)
        Average depth: mean over the interval's states of sum_m (q_b^m + q_a^m) / (2 M) (for M = 1
        CKS's average depth at the best quotes; for M levels CCZ's Q^M). NaN without events.
    n_events : int64 (K,)
        Number of e_n in the interval.
    """

    end_ns: np.ndarray
    ofi: np.ndarray
    dmid: np.ndarray
    depth: np.ndarray
    n_events: np.ndarray

    @property
    def normalized(self) -> np.ndarray:
        """OFI_k / depth_k (CCZ's ofi^{m,h}; NaN for intervals without events)."""
        d = self.depth if self.ofi.ndim == 1 else self.depth[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            out = self.ofi / d
        out[~np.isfinite(out)] = np.nan
        return out

    def __len__(self) -> int:
        return len(self.end_ns)


def ofi_intervals(ts, bid_price, bid_size, ask_price, ask_size, interval, variant: str = "cks",
                  tick_size=None, reset=None) -> IntervalOFI:
    """OFI aggregated over fixed intervals of exchange time, with the mid change and depth.

    Parameters
    ----------
    ts : array_like of int64 (ns) or datetime64, shape (n,)
        Time of each state, non-decreasing, >= 0.
    bid_price, bid_size, ask_price, ask_size : array_like, (n,) or (n, M)
        As in :func:`ofi_events`.
    interval : int (ns) or timedelta
        Interval length; intervals are (k * interval - interval, k * interval].
    variant : {"cks", "ccz"}
    tick_size : float, optional
        Divide the mid change by it (dmid in ticks, as in CKS); otherwise dmid is in price units.
    reset : array_like of bool, optional
        As in :func:`ofi_events`; the mid change of an interval with a chain break sums the
        changes within each chain.

    Returns
    -------
    IntervalOFI
        Every interval from the first state's to the last state's, empty ones included.
    """
    v = _variant(variant)
    width = duration_ns("interval", interval)
    t = timestamps("ts", ts)
    bp, bq, ap, aq, one_d = _book_arrays(bid_price, bid_size, ask_price, ask_size)
    same_length(ts=t, bid_price=bp)
    if len(t) and t[0] < 0:
        raise InvalidInputError(f"ts must be >= 0 (ns since the epoch), got {t[0]}")
    r = _reset_mask(reset, len(t))
    if one_d:
        b2, bq2, a2, aq2 = (x[:, None] for x in (bp, bq, ap, aq))
    else:
        b2, bq2, a2, aq2 = _missing_as_infinite(bp, bq, ap, aq)
    b2, bq2, a2, aq2 = (np.ascontiguousarray(x) for x in (b2, bq2, a2, aq2))
    if len(t):
        k_max = int(-(-int(t[-1]) // width) - (-(-int(t[0]) // width))) + 1
    else:
        k_max = 0
    if k_max > 100_000_000:
        raise InvalidInputError(f"interval={width} ns over this span gives {k_max} intervals; "
                                "choose a longer interval")
    end, ofi, dmid, depth, n = _flow.intervals(t, b2, bq2, a2, aq2, r, width, v, one_d, k_max)
    if tick_size is not None:
        dmid = dmid / positive_float("tick_size", tick_size)
    return IntervalOFI(end.copy(), ofi[:, 0].copy() if one_d else ofi.copy(), dmid.copy(),
                       depth.copy(), n.copy())


def ofi_window_sum(ts, e, window) -> np.ndarray:
    """Sum of e_n over the trailing time window (t - window, t] at each event.

    NaN entries of ``e`` (chain starts, skipped states) contribute nothing and get NaN in the
    output; this is :meth:`OrderFlowCalculator.window` in batch (identical numbers when the
    chain has no break).
    """
    width = duration_ns("window", window)
    t = timestamps("ts", ts)
    x = float_array("e", e, allow_nan=True)
    same_length(ts=t, e=x)
    ok = ~np.isnan(x)
    out = np.full(len(x), np.nan)
    if ok.any():
        total, _ = _rolling.time_window_sum(np.ascontiguousarray(t[ok]), np.ascontiguousarray(x[ok]), width)
        out[ok] = total
    return out


@dataclass(frozen=True)
class ImpactFit:
    """Least-squares fit dmid = alpha + beta * OFI (scalars, or arrays for a rolling fit)."""

    beta: float | np.ndarray
    alpha: float | np.ndarray
    t_stat: float | np.ndarray
    r2: float | np.ndarray
    n: int | np.ndarray


def price_impact(ofi, dmid, window: int | None = None) -> ImpactFit:
    """CKS's price-impact regression dmid_k = alpha + beta * OFI_k + eps_k.

    Parameters
    ----------
    ofi, dmid : array_like, shape (K,)
        Interval OFI and mid change (e.g. from :func:`ofi_intervals`, dmid in ticks). Intervals
        with NaN in either are dropped.
    window : int, optional
        None: one fit over all intervals. An int >= 3: a rolling fit over the last ``window``
        intervals, one row per interval (NaN until ``window`` intervals), the same kernel as
        :meth:`OrderFlowCalculator.price_impact`.

    Returns
    -------
    ImpactFit
        beta (price change per unit of OFI), alpha, the classical t-statistic of beta, R^2, n.
        NaN where the fit is undefined (fewer than 3 points, OFI constant).
    """
    x = float_array("ofi", ofi, allow_nan=True)
    y = float_array("dmid", dmid, allow_nan=True)
    same_length(ofi=x, dmid=y)
    if window is None:
        ok = ~(np.isnan(x) | np.isnan(y))
        x, y = np.ascontiguousarray(x[ok]), np.ascontiguousarray(y[ok])
        if len(x) < 3:
            return ImpactFit(np.nan, np.nan, np.nan, np.nan, len(x))
        res = _rolling.rolling_ols(x, y, len(x), True, len(x))
        return ImpactFit(float(res[0, -1]), float(res[1, -1]), float(res[2, -1]), float(res[3, -1]), len(x))
    w = positive_int("window", window, minimum=3)
    if np.isnan(x).any() or np.isnan(y).any():
        raise InvalidInputError("a rolling price_impact needs ofi and dmid without NaN")
    res = _rolling.rolling_ols(x, y, w, True, w)
    n = np.minimum(np.arange(1, len(x) + 1), w)
    return ImpactFit(res[0], res[1], res[2], res[3], n)


def integration_weights(normalized_ofi) -> tuple[np.ndarray, float]:
    """First principal component of multi-level normalised OFI (CCZ 2023 integrated OFI).

    Parameters
    ----------
    normalized_ofi : array_like, shape (K, M)
        Per-interval ofi^{m} = OFI^m / Q^M (e.g. ``ofi_intervals(...).normalized``), fitted on
        history only (never on the data being scored). Rows with NaN are dropped.

    Returns
    -------
    (weights, explained) : (ndarray (M,), float)
        w_1, the eigenvector of the largest eigenvalue of the covariance, with the sign fixed so
        that sum(w_1) > 0 and scaled so that sum |w_1| = 1; and that eigenvalue's share of the
        total variance.
    """
    x = float_array("normalized_ofi", normalized_ofi, ndim=2, allow_nan=True)
    x = x[~np.isnan(x).any(axis=1)]
    if x.shape[0] < 2 or x.shape[1] < 1:
        raise InvalidInputError(f"normalized_ofi needs at least 2 complete rows, got {x.shape[0]}")
    cov = np.atleast_2d(np.cov(x, rowvar=False))
    vals, vecs = np.linalg.eigh(cov)
    if not vals[-1] > 0:
        raise InvalidInputError("normalized_ofi has zero variance: no principal component")
    w = vecs[:, -1]
    if w.sum() < 0:
        w = -w
    return w / np.abs(w).sum(), float(vals[-1] / vals.sum())


def integrated_ofi(normalized_ofi, weights) -> np.ndarray:
    """ofi^I = w . ofi / sum |w| per row (CCZ 2023); rows with NaN give NaN."""
    x = float_array("normalized_ofi", normalized_ofi, ndim=2, allow_nan=True)
    w = float_array("weights", weights)
    if w.shape[0] != x.shape[1]:
        raise InvalidInputError(f"weights must have {x.shape[1]} entries, got {w.shape[0]}")
    s = 0.0
    for v in np.abs(w):     # in level order, as MultiLevelOFI.set_weights sums them
        s += float(v)
    if not s > 0:
        raise InvalidInputError("weights must not be all zero")
    return _flow.integrate(x, np.ascontiguousarray(w / s))
