"""Supervised labels for order-flow models: the forward mid-price move and triple-barrier labels.

Every label function returns a :class:`LabelSet`: one label per sample (per feature row), the
sample time ``t0``, the time ``t1`` at which the label becomes known (the end of its window, which
purged cross-validation needs), a ``valid`` mask (False where the window runs past the data) and a
JSON-serialisable ``definition`` that a model card stores. Definitions, formulas and a worked
example: docs/validation.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ofi.errors import InvalidInputError
from ofi.validation import float_array, positive_float, positive_int, timestamps

__all__ = ["LabelSet", "forward_move_labels", "triple_barrier_labels"]

_INT64_MIN = int(np.iinfo(np.int64).min)
# Positions scanned one by one before the block search takes over (see _first_at_or_above).
_BLOCK = 32
# Moves in ticks are rounded to this many decimals, so that float noise on prices that sit on the
# tick grid (100.3 - 100.2 = 0.10000000000000853) cannot push an exact dead-zone move across it.
_TICK_DECIMALS = 6


@dataclass(frozen=True, eq=False)
class LabelSet:
    """Labels of n samples, with the windows they were computed over.

    Attributes
    ----------
    y : ndarray of int8, shape (n,)
        The label: -1 down / 0 flat / +1 up (three classes), or 0 / 1 (two classes; see the
        function that made it for what 1 means). 0 where ``valid`` is False.
    t0 : ndarray of int64, shape (n,)
        Sample time (ns): the time of the feature row the label belongs to.
    t1 : ndarray of int64, shape (n,)
        End of the label window (ns): the time of the last price the label reads, i.e. when the
        label becomes known. ``t1 >= t0``. For an invalid row, the end of its window clipped to
        the data (a lower bound on when the label would be known).
    valid : ndarray of bool, shape (n,)
        False where the label cannot be known from the data (its window runs past the last event,
        or a price it needs is NaN). Such rows must not be used for training or scoring.
    move_bps : ndarray of float64, shape (n,)
        The return that decided the label, ``1e4 (p1 / p0 - 1)`` in basis points (p1 the price at
        ``t1``); NaN where ``valid`` is False. Handy as a sample weight (``abs(move_bps)``).
    definition : dict
        JSON-serialisable description of the label (``kind``, ``horizon``, ``unit``, dead zone or
        barriers, ``classes``, ``binary``); models store it in their model card.
    classes : tuple of int
        The label values, ascending: ``(-1, 0, 1)`` or ``(0, 1)``.
    """

    y: np.ndarray
    t0: np.ndarray
    t1: np.ndarray
    valid: np.ndarray
    move_bps: np.ndarray
    definition: dict
    classes: tuple

    def __len__(self) -> int:
        return len(self.y)

    def counts(self) -> dict[int, int]:
        """Number of valid samples per class, ``{class: count}`` (every class present, maybe 0)."""
        yv = self.y[self.valid]
        return {int(c): int(np.count_nonzero(yv == c)) for c in self.classes}

    def __repr__(self) -> str:
        return (f"LabelSet({self.definition.get('kind')}, n={len(self)}, valid={int(self.valid.sum())}, "
                f"counts={self.counts()})")


# ------------------------------------------------------------------------------------------ checks
def _classes(value) -> int:
    if isinstance(value, bool) or value not in (2, 3):
        raise InvalidInputError(f"classes must be 2 or 3, got {value!r}")
    return int(value)


def _prices(name: str, x, n_ts: int) -> np.ndarray:
    """Finite prices > 0, NaN allowed (an unknown price: the rows that need it become invalid)."""
    arr = float_array(name, x, allow_nan=True)
    if len(arr) != n_ts:
        raise InvalidInputError(f"ts_ns and {name} must have the same length, got ts_ns={n_ts}, {name}={len(arr)}")
    bad = arr <= 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(f"{name} must be > 0 (or NaN for unknown), got {arr[i]!r} at index {i}")
    return arr


def _nonnegative(name: str, value) -> float:
    return positive_float(name, value, allow_zero=True)


def _window_end(ts: np.ndarray, horizon_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """For each sample i: the last index j with ``ts[j] <= ts[i] + horizon_ns`` and whether
    ``ts[i] + horizon_ns`` lies past the last event (then j = n - 1 and the window is cut short).

    ``ts[i] + horizon_ns`` is formed only where it stays <= ts[-1], so it cannot overflow int64.
    """
    n = len(ts)
    limit = int(ts[-1]) - horizon_ns          # a sample's window fits iff ts[i] <= limit
    if limit < _INT64_MIN:
        past = np.ones(n, dtype=bool)
    else:
        past = ts > limit
    end = np.full(n, ts[-1], dtype=np.int64)
    fits = ~past
    end[fits] = ts[fits] + np.int64(horizon_ns)
    jend = np.searchsorted(ts, end, side="right").astype(np.int64) - 1
    return jend, past


def _first_at_or_above(x: np.ndarray, thr: np.ndarray, start: np.ndarray, block: int = _BLOCK) -> np.ndarray:
    """For each row r: the smallest k >= start[r] with ``x[k] >= thr[r]``; ``len(x)`` when none.

    NaN never matches (neither in ``x`` nor in ``thr``). Vectorised, O(n (block + log n)) time
    and O(n) memory: the ``block`` positions from start[r] are compared one offset at a time; past
    them, a binary lifting over a sparse table of block maxima finds the first aligned block that
    holds a match, and that block is scanned. ``start`` must lie in [0, len(x)].
    """
    n = len(x)
    m = len(thr)
    out = np.full(m, n, dtype=np.int64)
    if n == 0 or m == 0:
        return out
    nb = -(-n // block)
    xp = np.full((nb + 1) * block, np.nan)      # one NaN block of padding: start + d stays in range
    xp[:n] = x
    # 1) positions start .. start + block - 1 (this covers everything before the first aligned
    #    block that begins at or after start)
    found = np.zeros(m, dtype=bool)
    for d in range(block):
        k = start + d
        hit = (xp[k] >= thr) & ~found
        out[hit] = k[hit]
        found |= hit
    rows = np.flatnonzero(~found)
    if rows.size == 0:
        return out
    # 2) the first block b >= ceil(start / block) whose maximum reaches the threshold
    table = [np.fmax.reduce(xp[: nb * block].reshape(nb, block), axis=1)]   # fmax: NaN is ignored
    while (1 << len(table)) <= nb:            # level l: maxima of 2**l blocks, for 2**l <= nb
        prev, h = table[-1], 1 << (len(table) - 1)
        table.append(np.fmax(prev[:-h], prev[h:]))
    t = thr[rows]
    pos = (start[rows] + block - 1) // block
    for lvl in range(len(table) - 1, -1, -1):
        level = table[lvl]
        can = pos < len(level)                   # a jump of 2**lvl blocks from pos stays inside
        idx = np.flatnonzero(can)
        miss = ~(level[pos[idx]] >= t[idx])      # no match in blocks pos .. pos + 2**lvl - 1
        pos[idx[miss]] += 1 << lvl
    has = pos < nb
    has[has] = table[0][pos[has]] >= t[has]
    rows, pos, t = rows[has], pos[has], t[has]
    # 3) the first match inside that block (there is one)
    first = np.full(rows.size, -1, dtype=np.int64)
    for d in range(block - 1, -1, -1):
        k = pos * block + d
        first = np.where(xp[k] >= t, k, first)
    out[rows] = first
    return out


# ------------------------------------------------------------------------------------------ labels
def forward_move_labels(ts_ns, mid, *, horizon_ns=None, horizon_events=None, dead_zone_bps=None,
                        dead_zone_ticks=None, tick_size=None, classes=3) -> LabelSet:
    """Label each sample by the mid-price move over the next horizon, with a dead zone.

    Parameters
    ----------
    ts_ns : array_like of int64, shape (n,)
        Sample times (ns), non-decreasing; one sample per row (e.g. ``FeatureFrame.ts_ns``).
    mid : array_like of float64, shape (n,)
        Mid price after each sample's event (price units); > 0, or NaN where unknown.
    horizon_ns : int, optional
        Time horizon h > 0 (ns). Exactly one of ``horizon_ns`` and ``horizon_events`` is given.
    horizon_events : int, optional
        Event horizon H >= 1 (rows).
    dead_zone_bps : float, optional
        Dead zone d >= 0 in basis points of the starting mid. At most one of ``dead_zone_bps``
        and ``dead_zone_ticks``; neither means d = 0.
    dead_zone_ticks : float, optional
        Dead zone d >= 0 in ticks (may be fractional: a mid moves in half ticks); needs
        ``tick_size``.
    tick_size : float, optional
        Tick size (price units, > 0); only with ``dead_zone_ticks``.
    classes : {3, 2}
        3: y in {-1, 0, +1}; 2: y = 1 for "up", 0 for "flat or down".

    Returns
    -------
    LabelSet
        ``definition["kind"] == "forward_move"``.

    Notes
    -----
    For sample i with p0 = mid[i], the end of the window is

    * time horizon: j = the last row with ``ts[j] <= ts[i] + h`` (the last mid at or before
      t0 + h); the row is valid only when ``ts[i] + h <= ts[-1]`` (later mids would be unknown);
    * event horizon: j = i + H; valid only when ``i + H <= n - 1``;

    p1 = mid[j], t1 = ts[j]. The move is ``m = 1e4 (p1 / p0 - 1)`` bps (bps dead zone) or
    ``m = round((p1 - p0) / tick_size, 6)`` ticks (tick dead zone), and

    ``y = +1 if m > d, -1 if m < -d, 0 otherwise`` (a move of exactly d is flat).

    Rows with a NaN p0 or p1 are invalid. Invalid rows have y = 0 and ``move_bps`` NaN.

    Raises
    ------
    InvalidInputError
        Unequal lengths, decreasing ``ts_ns``, a mid <= 0 or infinite, both or neither horizon, a
        horizon <= 0, both dead zones, a negative dead zone, ``dead_zone_ticks`` without a
        ``tick_size`` (or the reverse), ``classes`` not 2 or 3.
    """
    ts = timestamps("ts_ns", ts_ns)
    p = _prices("mid", mid, len(ts))
    k = _classes(classes)
    if (horizon_ns is None) == (horizon_events is None):
        raise InvalidInputError("give exactly one of horizon_ns and horizon_events, got "
                                f"horizon_ns={horizon_ns!r}, horizon_events={horizon_events!r}")
    if dead_zone_bps is not None and dead_zone_ticks is not None:
        raise InvalidInputError(f"give at most one of dead_zone_bps and dead_zone_ticks, got "
                                f"dead_zone_bps={dead_zone_bps!r}, dead_zone_ticks={dead_zone_ticks!r}")
    if dead_zone_ticks is not None:
        if tick_size is None:
            raise InvalidInputError("dead_zone_ticks needs tick_size (price units per tick), got tick_size=None")
        dz, dz_unit = _nonnegative("dead_zone_ticks", dead_zone_ticks), "ticks"
        tick = positive_float("tick_size", tick_size)
    else:
        if tick_size is not None:
            raise InvalidInputError(f"tick_size is only used with dead_zone_ticks, got tick_size={tick_size!r} "
                                    "without dead_zone_ticks")
        dz = 0.0 if dead_zone_bps is None else _nonnegative("dead_zone_bps", dead_zone_bps)
        dz_unit, tick = "bps", None
    n = len(ts)
    if horizon_ns is not None:
        h, unit = positive_int("horizon_ns", horizon_ns), "ns"
    else:
        h, unit = positive_int("horizon_events", horizon_events), "events"
    cls = (-1, 0, 1) if k == 3 else (0, 1)
    definition = {
        "kind": "forward_move", "price": "mid", "horizon": h, "unit": unit,
        "dead_zone": dz, "dead_zone_unit": dz_unit, "tick_size": tick,
        "classes": list(cls), "binary": "1 = up (move > dead zone), 0 = flat or down" if k == 2 else None,
        "window": "p1 = last mid at or before t0 + horizon" if unit == "ns" else "p1 = mid[i + horizon]",
    }
    if n == 0:
        return _empty(definition, cls)

    i = np.arange(n, dtype=np.int64)
    if unit == "ns":
        j, past = _window_end(ts, h)
        in_data = ~past
    else:
        j = np.minimum(i + h, n - 1) if h < n else np.full(n, n - 1, dtype=np.int64)
        in_data = i + min(h, n) <= n - 1
    p1 = p[j]
    valid = in_data & np.isfinite(p) & np.isfinite(p1)
    with np.errstate(invalid="ignore"):
        move_bps = np.where(valid, 1e4 * (p1 / p - 1.0), np.nan)
        move = move_bps if dz_unit == "bps" else np.round((p1 - p) / tick, _TICK_DECIMALS)
        up = valid & (move > dz)
        down = valid & (move < -dz)
    if k == 3:
        y = up.astype(np.int8) - down.astype(np.int8)
    else:
        y = up.astype(np.int8)
    return LabelSet(y=y, t0=ts, t1=ts[j], valid=valid, move_bps=move_bps, definition=definition, classes=cls)


def triple_barrier_labels(ts_ns, price, *, upper_bps, lower_bps, horizon_ns, classes=3) -> LabelSet:
    """Triple-barrier labels (Lopez de Prado, *Advances in Financial Machine Learning*, 2018, ch. 3).

    Parameters
    ----------
    ts_ns : array_like of int64, shape (n,)
        Sample times (ns), non-decreasing.
    price : array_like of float64, shape (n,)
        Price after each event (e.g. the mid); > 0, or NaN where unknown.
    upper_bps : float or None
        Profit-taking barrier u > 0 in bps: ``U = p0 (1 + u / 1e4)``. None: no upper barrier.
    lower_bps : float or None
        Stop-loss barrier l > 0 in bps: ``L = p0 (1 - l / 1e4)``. None: no lower barrier.
        At least one of the two barriers is given.
    horizon_ns : int
        Vertical barrier h > 0 (ns) after the sample.
    classes : {3, 2}
        3: +1 upper first, -1 lower first, 0 vertical barrier; 2: 1 when the upper barrier is
        touched first, 0 otherwise (lower first or vertical: "the trade would not have paid").

    Returns
    -------
    LabelSet
        ``definition["kind"] == "triple_barrier"``.

    Notes
    -----
    For sample i with p0 = price[i], the window is the rows k > i with ``ts[k] <= ts[i] + h``
    (events later in the tape but stamped the same ns as the sample count as after it: they were
    not known when row i was computed). The label is decided by the first k in the window with
    ``price[k] >= U`` (+1) or ``price[k] <= L`` (-1), and t1 = ts[k]; when there is none, y = 0 at
    the vertical barrier, with t1 the last time <= ``ts[i] + h`` (t1 = t0 if no event follows
    within h). NaN prices inside a window never touch a barrier.

    A row is valid when p0 is finite and either a barrier was touched or the whole window lies in
    the data (``ts[i] + h <= ts[-1]``): a touch is known as soon as it happens, a vertical-barrier
    label only once the horizon has passed. ``move_bps = 1e4 (price[k] / p0 - 1)`` at the row that
    decided the label.

    Complexity: O(n (b + log n)) vectorised numpy with b = 32 and O(n) memory (a sparse table
    of block maxima and a binary lifting, see the module source); about a second for 1e6 rows.

    Raises
    ------
    InvalidInputError
        Unequal lengths, decreasing ``ts_ns``, a price <= 0 or infinite, a barrier <= 0 or not a
        number, both barriers None, ``horizon_ns`` <= 0, ``classes`` not 2 or 3.
    """
    ts = timestamps("ts_ns", ts_ns)
    p = _prices("price", price, len(ts))
    k = _classes(classes)
    if upper_bps is None and lower_bps is None:
        raise InvalidInputError("give at least one barrier: upper_bps and lower_bps are both None")
    u = None if upper_bps is None else positive_float("upper_bps", upper_bps)
    lo = None if lower_bps is None else positive_float("lower_bps", lower_bps)
    h = positive_int("horizon_ns", horizon_ns)
    cls = (-1, 0, 1) if k == 3 else (0, 1)
    definition = {
        "kind": "triple_barrier", "price": "price", "upper_bps": u, "lower_bps": lo, "horizon": h,
        "unit": "ns", "classes": list(cls),
        "binary": "1 = upper barrier touched first, 0 = lower barrier first or vertical barrier"
        if k == 2 else None,
        "reference": "Lopez de Prado (2018), Advances in Financial Machine Learning, ch. 3",
    }
    n = len(ts)
    if n == 0:
        return _empty(definition, cls)

    i = np.arange(n, dtype=np.int64)
    jend, past = _window_end(ts, h)
    start = i + 1
    if u is not None:
        ku = _first_at_or_above(p, p * (1.0 + u * 1e-4), start)
    else:
        ku = np.full(n, n, dtype=np.int64)
    if lo is not None:
        kl = _first_at_or_above(-p, -(p * (1.0 - lo * 1e-4)), start)
    else:
        kl = np.full(n, n, dtype=np.int64)
    hit_u = ku <= jend
    hit_l = kl <= jend
    first_u = hit_u & (~hit_l | (ku < kl))
    first_l = hit_l & ~first_u
    touch = first_u.astype(np.int8) - first_l.astype(np.int8)
    kk = np.where(first_u, ku, np.where(first_l, kl, jend))
    valid = np.isfinite(p) & ((touch != 0) | ~past)
    with np.errstate(invalid="ignore"):
        move_bps = np.where(valid, 1e4 * (p[kk] / p - 1.0), np.nan)
    touch[~valid] = 0
    y = touch if k == 3 else (touch == 1).astype(np.int8)
    return LabelSet(y=y, t0=ts, t1=ts[kk], valid=valid, move_bps=move_bps, definition=definition, classes=cls)


def _empty(definition: dict[str, Any], cls: tuple) -> LabelSet:
    z = np.zeros(0, dtype=np.int64)
    return LabelSet(y=np.zeros(0, dtype=np.int8), t0=z, t1=z.copy(), valid=np.zeros(0, dtype=bool),
                    move_bps=np.zeros(0), definition=definition, classes=cls)
