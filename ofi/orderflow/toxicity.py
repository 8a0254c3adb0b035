"""Order-flow toxicity: a composite index of six measures, weights learned from history, and the
markout / realised-spread measures that say whether a maker was picked off.

The index is descriptive (how one-sided and informed the recent flow looks), not a crash
predictor; see Andersen & Bondarenko (2014) on VPIN.

Components, each mapped to [0, 1] (``COMPONENTS`` gives the order):

================  =====================================================================  ==========
name              value                                                                  default w
================  =====================================================================  ==========
``vpin``          VPIN (Easley, Lopez de Prado & O'Hara 2012), already in [0, 1]           0.30
``ofi_z``         min(abs(z) / 3, 1) of the latest interval OFI's z-score                   0.20
``spread_z``      min(max(z, 0) / 3, 1) of the spread's z-score (only wide spreads count)   0.15
``depth_imb``     abs(bid depth - ask depth) / (bid + ask) over the top ``depth_levels``    0.10
``trade_imb``     abs(buy - sell) / (buy + sell) taker volume over the last ``trade_window`` 0.15
``large_trade``   1 if one of the last ``large_trade_horizon`` trades was larger than the    0.10
                  ``large_trade_quantile`` of the trade sizes seen before it, else 0
================  =====================================================================  ==========

index = sum_i w_i c_i / sum_i w_i, in [0, 1]. It is NaN while any component is undefined (VPIN
before ``n_buckets`` buckets, z-scores before their windows fill, no trades yet): never a made-up
neutral value.
"""
from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from dataclasses import dataclass

import numpy as np

from ofi._core.rolling import RollingMoments
from ofi.errors import InvalidInputError
from ofi.validation import (
    duration_ns,
    float_array,
    positive_float,
    positive_int,
    same_length,
    timestamps,
)
from ofi.orderflow.ofi import OrderFlowCalculator
from ofi.orderflow.vpin import VpinCalculator

__all__ = [
    "COMPONENTS",
    "DEFAULT_WEIGHTS",
    "ToxicityIndex",
    "ToxicityFit",
    "toxicity_index",
    "fit_toxicity_weights",
    "markouts",
    "realized_spread",
    "MarkoutTracker",
]

COMPONENTS = ("vpin", "ofi_z", "spread_z", "depth_imb", "trade_imb", "large_trade")
DEFAULT_WEIGHTS = np.array([0.30, 0.20, 0.15, 0.10, 0.15, 0.10])


def _quantile_sorted(s: list[float], q: float) -> float:
    """``numpy.quantile(s, q)`` (linear method, numpy's own lerp) of an already sorted list."""
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    a, b, t = s[lo], s[hi], pos - lo
    d = b - a
    return b - d * (1.0 - t) if t >= 0.5 else a + d * t


def _weights(weights) -> np.ndarray:
    if weights is None:
        return DEFAULT_WEIGHTS.copy()
    if isinstance(weights, dict):
        unknown = set(weights) - set(COMPONENTS)
        if unknown:
            raise InvalidInputError(f"weights: unknown components {sorted(unknown)}; known: {COMPONENTS}")
        weights = [weights.get(k, 0.0) for k in COMPONENTS]
    w = float_array("weights", weights, nonnegative=True)
    if w.shape != (len(COMPONENTS),):
        raise InvalidInputError(f"weights must have {len(COMPONENTS)} entries ({COMPONENTS}), got {w.shape}")
    if not w.sum() > 0:
        raise InvalidInputError("weights must not all be zero")
    return w


def toxicity_index(components, weights=None) -> np.ndarray:
    """The index for rows of components (shape (n, 6), order ``COMPONENTS``); NaN rows stay NaN."""
    c = float_array("components", components, ndim=2, allow_nan=True)
    if c.shape[1] != len(COMPONENTS):
        raise InvalidInputError(f"components must have {len(COMPONENTS)} columns, got {c.shape[1]}")
    w = _weights(weights)
    return c @ w / w.sum()


@dataclass(frozen=True)
class ToxicityFit:
    """Weights learned by :func:`fit_toxicity_weights` (sum 1), the fit's R^2 and sample size."""

    weights: np.ndarray
    r2: float
    n: int

    def as_dict(self) -> dict[str, float]:
        return dict(zip(COMPONENTS, map(float, self.weights)))


def fit_toxicity_weights(components, adverse_move) -> ToxicityFit:
    """Learn the component weights from history.

    Non-negative least squares of the forward adverse price move on the components (with an
    intercept that is not part of the index), weights rescaled to sum to 1.

    Parameters
    ----------
    components : array_like, shape (n, 6)
        Component rows (``ToxicityIndex.components()`` recorded over time); rows with NaN are
        dropped.
    adverse_move : array_like, shape (n,)
        The target: e.g. the absolute mid move over the next horizon in bps (what a maker quoting
        at that moment would have lost), taken strictly after each row's time (no look-ahead in
        the features; the target is the future on purpose).
    """
    from scipy.optimize import nnls

    c = float_array("components", components, ndim=2, allow_nan=True)
    y = float_array("adverse_move", adverse_move, allow_nan=True)
    same_length(components=c, adverse_move=y)
    if c.shape[1] != len(COMPONENTS):
        raise InvalidInputError(f"components must have {len(COMPONENTS)} columns, got {c.shape[1]}")
    ok = ~(np.isnan(c).any(axis=1) | np.isnan(y))
    c, y = c[ok], y[ok]
    if len(y) < len(COMPONENTS) + 2:
        raise InvalidInputError(f"need at least {len(COMPONENTS) + 2} complete rows, got {len(y)}")
    # centre (the intercept) then NNLS on the slopes
    cm, ym = c.mean(axis=0), y.mean()
    w, _ = nnls(c - cm, y - ym)
    if not w.sum() > 0:
        raise InvalidInputError("no component is positively related to the adverse move: "
                                "keep the default weights")
    resid = (y - ym) - (c - cm) @ w
    ss = ((y - ym) ** 2).sum()
    r2 = float(1 - (resid ** 2).sum() / ss) if ss > 0 else math.nan
    return ToxicityFit(w / w.sum(), r2, int(len(y)))


class ToxicityIndex:
    """Streaming composite toxicity index fed by book states and trades.

    Parameters
    ----------
    bucket_volume, n_buckets : float, int
        VPIN buckets (see :class:`~ofi.orderflow.VpinCalculator`).
    weights : sequence of 6 floats or dict, optional
        Component weights (``DEFAULT_WEIGHTS``), e.g. from :func:`fit_toxicity_weights`.
    ofi_interval, ofi_zscore_window : OFI intervals and the z-score window over them.
    spread_window : int
        Book states in the spread z-score window.
    depth_levels : int
        Levels per side for the depth imbalance.
    trade_window : int
        Trades in the trade-imbalance window.
    large_trade_quantile, large_trade_history, large_trade_horizon :
        A trade is large when its size exceeds this quantile of the previous
        ``large_trade_history`` trade sizes; the flag is on while one of the last
        ``large_trade_horizon`` trades was large.
    """

    def __init__(self, bucket_volume: float = 50.0, n_buckets: int = 50, *, weights=None,
                 ofi_interval=10_000_000_000, ofi_zscore_window: int = 30, spread_window: int = 100,
                 depth_levels: int = 5, trade_window: int = 100, large_trade_quantile: float = 0.95,
                 large_trade_history: int = 1000, large_trade_horizon: int = 10):
        self.weights = _weights(weights)
        self.vpin = VpinCalculator(bucket_volume, n_buckets)
        self.ofi = OrderFlowCalculator(interval=duration_ns("ofi_interval", ofi_interval), windows=(),
                                       zscore_window=ofi_zscore_window)
        self.spread = RollingMoments(positive_int("spread_window", spread_window, minimum=2))
        self.depth_levels = positive_int("depth_levels", depth_levels)
        self.trade_window = positive_int("trade_window", trade_window)
        q = positive_float("large_trade_quantile", large_trade_quantile)
        if not q < 1:
            raise InvalidInputError(f"large_trade_quantile must be in (0, 1), got {large_trade_quantile!r}")
        self.large_trade_quantile = q
        self._sizes: deque[float] = deque(maxlen=positive_int("large_trade_history", large_trade_history,
                                                               minimum=2))
        self._sorted: list[float] = []     # the same sizes, kept sorted: a quantile in O(1) per trade
        self._large: deque[bool] = deque(maxlen=positive_int("large_trade_horizon", large_trade_horizon))
        self._trades: deque[tuple[float, float]] = deque()
        self._buy = 0.0
        self._sell = 0.0
        self._spread_z = math.nan
        self._depth_imb = math.nan

    # ---- feeding
    def update(self, book) -> float:
        """Take a book state (after each message); returns the index (NaN until all components exist)."""
        self.ofi.update(book)
        if book.ready and book.n_bids and book.n_asks:
            s = book.spread()
            self.spread.push(s)
            z = self.spread.zscore(s) if self.spread.full else math.nan
            self._spread_z = z
            b, a = book.depth(self.depth_levels)
            self._depth_imb = abs(b - a) / (b + a) if b + a > 0 else math.nan
        return self.value

    def add_trade(self, trade) -> float:
        """Take a public trade (taker side known); returns the index."""
        self.vpin.add_trade(trade)
        size = trade.size
        if trade.side > 0:
            self._buy += size
        else:
            self._sell += size
        self._trades.append((size, trade.side))
        if len(self._trades) > self.trade_window:
            old_size, old_side = self._trades.popleft()
            if old_side > 0:
                self._buy -= old_size
            else:
                self._sell -= old_size
            if len(self._trades) % 1024 == 0:       # re-add to shed rounding drift
                self._buy = math.fsum(s for s, d in self._trades if d > 0)
                self._sell = math.fsum(s for s, d in self._trades if d < 0)
        if len(self._sizes) >= 20:
            self._large.append(size > _quantile_sorted(self._sorted, self.large_trade_quantile))
        if len(self._sizes) == self._sizes.maxlen:
            del self._sorted[bisect_left(self._sorted, self._sizes[0])]
        self._sizes.append(size)
        insort(self._sorted, size)
        return self.value

    # ---- reading
    def components(self) -> np.ndarray:
        """The six components in ``COMPONENTS`` order (NaN where undefined)."""
        z = self.ofi.z_score()
        ofi_z = min(abs(z) / 3.0, 1.0) if z is not None else math.nan
        sz = self._spread_z
        spread_z = min(max(sz, 0.0) / 3.0, 1.0) if not math.isnan(sz) else math.nan
        tot = self._buy + self._sell
        trade_imb = min(abs(self._buy - self._sell) / tot, 1.0) if self._trades and tot > 0 else math.nan
        large = float(any(self._large)) if self._large else math.nan
        return np.array([self.vpin.vpin, ofi_z, spread_z, self._depth_imb, trade_imb, large])

    @property
    def value(self) -> float:
        """The index in [0, 1]; NaN while a component is undefined."""
        c = self.components()
        if np.isnan(c).any():
            return math.nan
        return float(c @ self.weights / self.weights.sum())

    def set_weights(self, weights) -> None:
        self.weights = _weights(weights)


# ------------------------------------------------------------------------------------ markouts
def _mid_asof(mid_ts, mid, t):
    """Mid of the last quote at or before each time in t (NaN before the first quote)."""
    i = np.searchsorted(mid_ts, t, side="right") - 1
    out = np.where(i >= 0, mid[np.maximum(i, 0)], np.nan)
    return out


def _markout_inputs(trade_ts, trade_price, trade_side, mid_ts, mid, horizons):
    tt = timestamps("trade_ts", trade_ts)
    tp = float_array("trade_price", trade_price)
    sd = float_array("trade_side", trade_side)
    same_length(trade_ts=tt, trade_price=tp, trade_side=sd)
    if not np.isin(sd, (-1.0, 1.0)).all():
        raise InvalidInputError("trade_side must be +1 (taker buy) or -1 (taker sell)")
    mt = timestamps("mid_ts", mid_ts)
    m = float_array("mid", mid)
    same_length(mid_ts=mt, mid=m)
    if (tp <= 0).any() or (m <= 0).any():
        raise InvalidInputError("prices must be > 0")
    hs = [duration_ns("horizons", h) for h in horizons]
    if not hs:
        raise InvalidInputError("horizons must not be empty")
    return tt, tp, sd, mt, m, hs


def markouts(trade_ts, trade_price, trade_side, mid_ts, mid, horizons) -> np.ndarray:
    """Taker markouts in bps: side * (mid(t + h) - price) / price * 1e4 for each trade and horizon.

    Positive = the taker gained = the maker who filled the trade lost (adverse selection).
    mid(t + h) is the last mid at or before t + h (as-of); NaN when t + h is after the last mid
    (the future is not known yet) or before the first.

    Returns
    -------
    ndarray, shape (n_trades, n_horizons)
    """
    tt, tp, sd, mt, m, hs = _markout_inputs(trade_ts, trade_price, trade_side, mid_ts, mid, horizons)
    out = np.empty((len(tt), len(hs)))
    last = mt[-1] if len(mt) else -1
    for j, h in enumerate(hs):
        fut = _mid_asof(mt, m, tt + h)
        fut[tt + h > last] = np.nan
        out[:, j] = sd * (fut - tp) / tp * 1e4
    return out


def realized_spread(trade_ts, trade_price, trade_side, mid_ts, mid, horizons) -> np.ndarray:
    """Realised spread in bps: 2 * side * (price - mid(t + h)) / mid(t) * 1e4 per trade and horizon
    (what the liquidity provider kept after the price moved; the effective spread is h = 0)."""
    tt, tp, sd, mt, m, hs = _markout_inputs(trade_ts, trade_price, trade_side, mid_ts, mid, horizons)
    now = _mid_asof(mt, m, tt)
    out = np.empty((len(tt), len(hs)))
    last = mt[-1] if len(mt) else -1
    for j, h in enumerate(hs):
        fut = _mid_asof(mt, m, tt + h)
        fut[tt + h > last] = np.nan
        out[:, j] = 2 * sd * (tp - fut) / now * 1e4
    return out


class MarkoutTracker:
    """Streaming markouts: trades wait until the book clock passes t + h, then their markout
    (as :func:`markouts`, with the last mid at or before t + h) enters a running mean per horizon."""

    def __init__(self, horizons=(1_000_000_000, 10_000_000_000, 60_000_000_000)):
        self.horizons = [duration_ns("horizons", h) for h in horizons]
        self._pending = [deque() for _ in self.horizons]
        self._sum = [0.0] * len(self.horizons)
        self._n = [0] * len(self.horizons)
        self._last_mid = math.nan
        self._last_ts = None

    def add_trade(self, ts_ns: int, price: float, side: int) -> None:
        if side not in (1, -1) or not price > 0:
            raise InvalidInputError(f"side must be +1/-1 and price > 0, got side={side!r}, price={price!r}")
        for q, h in zip(self._pending, self.horizons):
            q.append((ts_ns + h, price, side))

    def update_mid(self, ts_ns: int, mid: float) -> None:
        """A new mid at ts_ns: resolve every trade whose horizon ended before it."""
        if self._last_ts is not None and ts_ns < self._last_ts:
            raise InvalidInputError(f"ts_ns must not decrease, got {ts_ns} after {self._last_ts}")
        for j, q in enumerate(self._pending):
            while q and q[0][0] < ts_ns:
                _, price, side = q.popleft()
                if not math.isnan(self._last_mid):
                    self._sum[j] += side * (self._last_mid - price) / price * 1e4
                    self._n[j] += 1
        self._last_mid = mid
        self._last_ts = ts_ns

    def mean(self) -> dict[int, float]:
        """Mean markout in bps per horizon (ns); NaN before a trade has been resolved."""
        return {h: (s / n if n else math.nan) for h, s, n in zip(self.horizons, self._sum, self._n)}

    def count(self) -> dict[int, int]:
        return dict(zip(self.horizons, self._n))
