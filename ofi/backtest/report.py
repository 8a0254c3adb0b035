"""Reports of a :class:`~ofi.backtest.result.BacktestResult`: a terminal summary, a JSON document and
one self-contained HTML page of charts.

- :func:`print_summary` prints a rich table of the main metrics.
- :func:`to_json` / :func:`write_json` give a deterministic JSON document: the same result gives the
  same bytes (sorted keys, floats as Python ``repr``, NaN/inf as ``null``, nothing from the clock).
- :func:`write_html` writes one HTML file with five PNG charts embedded as base64 (matplotlib, Agg,
  no pyplot state touched), a metrics table and the config; no JavaScript, no external resource.

Long arrays are cut down to at most a few thousand points with a min/max-per-bucket rule
(:func:`minmax_indices`), so a spike or a drawdown trough survives downsampling. The charts and the
JSON schema are described in ``docs/reports.md``.

matplotlib and rich are imported when a chart or a table is made, not on import of this module.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ofi.backtest.result import (
    MARKOUT_HORIZONS_NS,
    MARKOUT_LABELS,
    METRIC_KEYS,
    BacktestResult,
    _json_value,
)
from ofi.errors import InvalidInputError

__all__ = [
    "REPORT_FORMAT",
    "REPORT_VERSION",
    "JSON_MAX_POINTS",
    "PLOT_MAX_POINTS",
    "MIN_DECILE_FILLS",
    "VpinDeciles",
    "markouts_by_vpin_decile",
    "minmax_indices",
    "to_json",
    "write_json",
    "write_html",
    "print_summary",
]

#: ``"format"`` and ``"version"`` of the JSON document; the version changes when the schema does.
REPORT_FORMAT = "ofi.backtest.report"
REPORT_VERSION = 1
#: Most equity rows written to the JSON report (min/max-per-bucket downsampling, first and last kept).
JSON_MAX_POINTS = 2000
#: Most points per line in a chart (about two per horizontal pixel at 1200 px).
PLOT_MAX_POINTS = 2400
#: Fewest fills with a VPIN value and a markout before the VPIN-decile chart is drawn.
MIN_DECILE_FILLS = 20

_FILL_COLUMNS = ("ts_ns", "order_id", "side", "price", "qty", "fee", "maker", "position_after")
_TRADE_COLUMNS = ("entry_ts", "exit_ts", "side", "qty", "entry_price", "exit_price", "gross_pnl",
                  "fees", "net_pnl")
_EQUITY_COLUMNS = ("ts_ns", "equity", "cash", "position", "mid")


# ============================================================================ downsampling
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


# ============================================================================ VPIN deciles
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


# ============================================================================ JSON
def _column(a: np.ndarray) -> list:
    """A numpy column as a JSON list: Python ints, or floats with NaN/inf as None."""
    if a.dtype.kind in "iub":
        return a.tolist()
    out = a.astype(np.float64).tolist()
    if not np.isfinite(a).all():
        out = [x if math.isfinite(x) else None for x in out]
    return out


def _table(arr: np.ndarray, columns: tuple[str, ...]) -> dict:
    return {c: _column(arr[c]) for c in columns}


def _document(result: BacktestResult, max_points: int) -> dict:
    eq = result.equity
    idx = minmax_indices(eq["equity"], max_points)
    fills = _table(result.fills, _FILL_COLUMNS)
    for h, label in enumerate(MARKOUT_LABELS):
        key = f"markout_{label}_bps"
        if result.markouts is None:
            fills[key] = [None] * len(result.fills)
        else:
            fills[key] = _column(np.asarray(result.markouts[:, h], dtype=np.float64))
    dec = markouts_by_vpin_decile(result)
    deciles = None
    if dec is not None:
        deciles = {
            "vpin_edges": _column(dec.edges),
            "count": _column(dec.count),
            "n": {label: _column(dec.n[:, h]) for h, label in enumerate(MARKOUT_LABELS)},
            "mean_bps": {label: _column(dec.mean_bps[:, h]) for h, label in enumerate(MARKOUT_LABELS)},
        }
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "symbol": result.symbol,
        "config": _json_value("config", result.config),
        "metrics": _json_value("metrics", result.metrics),
        "period": {
            "start_ts_ns": int(eq["ts_ns"][0]) if len(eq) else None,
            "end_ts_ns": int(eq["ts_ns"][-1]) if len(eq) else None,
        },
        "counts": {"equity_rows": len(eq), "fills": len(result.fills), "trades": len(result.trades)},
        "equity": {
            "downsample": {"method": "minmax", "column": "equity", "max_points": max_points,
                           "rows_in": len(eq), "rows_out": len(idx)},
            **_table(eq[idx], _EQUITY_COLUMNS),
        },
        "fills": fills,
        "trades": _table(result.trades, _TRADE_COLUMNS),
        "markout_horizons_ns": list(MARKOUT_HORIZONS_NS),
        "markouts_by_vpin_decile": deciles,
    }


def to_json(result: BacktestResult, *, max_points: int = JSON_MAX_POINTS) -> str:
    """The JSON report of ``result`` as a str (ASCII, compact, sorted keys, one trailing newline).

    Deterministic: equal results give byte-identical text (no clock, no machine-dependent
    formatting; floats are Python ``repr``, which round-trips exactly). Tables are column-oriented
    (``{"price": [...], "qty": [...]}``); the equity curve is cut to at most ``max_points`` rows by
    :func:`minmax_indices` on the equity column. The schema is in ``docs/reports.md``.

    Parameters
    ----------
    result : BacktestResult
    max_points : int, default 2000
        Most equity rows written (>= 4).

    Raises
    ------
    InvalidInputError
        ``result`` fails :meth:`BacktestResult.validate` or ``max_points`` < 4.
    """
    _check_result(result)
    doc = _document(result, max_points)
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False) + "\n"


def write_json(result: BacktestResult, path: str | os.PathLike, *,
               max_points: int = JSON_MAX_POINTS) -> Path:
    """Write :func:`to_json` to ``path`` (ASCII bytes; parent folders must exist); return the path."""
    text = to_json(result, max_points=max_points)
    p = Path(path)
    p.write_bytes(text.encode("ascii"))
    return p


def _check_result(result: Any) -> None:
    if not isinstance(result, BacktestResult):
        raise InvalidInputError(f"result must be a BacktestResult, got {type(result).__name__}")
    result.validate()


# ============================================================================ formatting
def _num(v: Any) -> float | None:
    if v is None or isinstance(v, (str, bool, dict, list, tuple)):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _fmt_money(v: float) -> str:
    return f"{v:,.2f}"


def _fmt_pct(v: float) -> str:
    return f"{100.0 * v:,.2f}%"


def _fmt_ratio(v: float) -> str:
    return f"{v:,.2f}"


def _fmt_int(v: float) -> str:
    return f"{int(round(v)):,}"


def _fmt_times(v: float) -> str:
    return f"{v:,.2f}x"


def _metric(result: BacktestResult, name: str) -> tuple[float | None, str | None]:
    """(finite value or None, key used) of summary metric ``name`` (see ``METRIC_KEYS``)."""
    for key in METRIC_KEYS[name]:
        if key in result.metrics:
            return _num(result.metrics[key]), key
    return None, None


def _summary_rows(result: BacktestResult) -> list[tuple[str, str, tuple[str, ...]]]:
    """(label, formatted value, metric keys used) for the summary table.

    ``n_trades`` and ``fees`` fall back to ``len(trades)`` and the sum of fill fees when absent.
    """
    def one(name, fmt):
        v, key = _metric(result, name)
        return ("n/a" if v is None else fmt(v)), ((key,) if key else ())

    rows = []
    for label, name, fmt in (("Net PnL", "net_pnl", _fmt_money), ("Return", "return", _fmt_pct),
                             ("Sharpe (annualised)", "sharpe", _fmt_ratio),
                             ("Sortino (annualised)", "sortino", _fmt_ratio)):
        rows.append((label, *one(name, fmt)))
    pct, k1 = _metric(result, "max_drawdown_pct")
    money, k2 = _metric(result, "max_drawdown")
    parts = ([_fmt_pct(pct)] if pct is not None else []) + ([_fmt_money(money)] if money is not None else [])
    dd = "n/a" if not parts else parts[0] if len(parts) == 1 else f"{parts[0]} ({parts[1]})"
    rows.append(("Max drawdown", dd, tuple(k for k in (k1, k2) if k)))
    v, key = _metric(result, "n_trades")
    if key is None:
        v = float(len(result.trades))
    rows.append(("Trades", "n/a" if v is None else _fmt_int(v), (key,) if key else ()))
    rows.append(("Win rate", *one("win_rate", _fmt_pct)))
    rows.append(("Profit factor", *one("profit_factor", _fmt_ratio)))
    v, key = _metric(result, "fees")
    if key is None and len(result.fills):
        v = float(result.fills["fee"].sum())
    rows.append(("Fees", "n/a" if v is None else _fmt_money(v), (key,) if key else ()))
    rows.append(("Exposure", *one("exposure", _fmt_pct)))
    turn, key = _metric(result, "turnover")
    cap, _ = _metric(result, "initial_capital")
    if turn is None:
        text = "n/a"
    elif cap:
        text = f"{_fmt_money(turn)} ({_fmt_times(turn / cap)} capital)"
    else:
        text = _fmt_money(turn)
    rows.append(("Turnover", text, (key,) if key else ()))
    return rows


def _fmt_any(v: Any, key: str = "") -> str:
    if v is None:
        return "n/a"
    if key.endswith(("_ts", "_ts_ns")) and isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        ts = int(v)  # a time stamp in ns: shown as UTC to the millisecond
        sec, ns = divmod(ts, 1_000_000_000)
        when = datetime.fromtimestamp(sec, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        return f"{when}.{ns // 1_000_000:03d} UTC"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    f = _num(v)
    if f is not None:
        return f"{f:,.6g}"
    if isinstance(v, float):
        return "n/a"
    return str(v)


def _utc(ts_ns: int) -> str:
    return datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _period(result: BacktestResult) -> str:
    ts = result.equity["ts_ns"]
    if not len(ts):
        return "no equity rows"
    span = (int(ts[-1]) - int(ts[0])) / 1e9
    return f"{_utc(int(ts[0]))} to {_utc(int(ts[-1]))} ({span / 3600.0:,.2f} h)"


# ============================================================================ terminal
def print_summary(result: BacktestResult, console: Any = None, *,
                  written: Iterable[str | os.PathLike] | str | os.PathLike | None = None) -> None:
    """Print a rich table of the main metrics, and where the reports were written.

    Rows: net PnL, return, Sharpe, Sortino, max drawdown (% of peak and quote currency), trades,
    win rate, profit factor, fees, exposure, turnover; the metric names read are those of
    :meth:`ofi.metrics.trading.TradingMetrics.summary`, with the aliases listed in
    :data:`ofi.backtest.result.METRIC_KEYS`. "n/a" when absent or not finite; trades and fees are
    counted from the arrays when absent.

    Parameters
    ----------
    result : BacktestResult
    console : rich.console.Console, optional
        Where to print; a new ``Console()`` (stdout) by default.
    written : path or iterable of paths, optional
        Report files to name in a closing line.

    Raises
    ------
    InvalidInputError
        ``result`` fails :meth:`BacktestResult.validate`.
    """
    _check_result(result)
    from rich.console import Console
    from rich.table import Table

    if console is None:
        console = Console()
    table = Table(title=f"{result.symbol} backtest", title_justify="left")
    table.add_column("Metric")
    table.add_column("Value", justify="right")
    for label, value, _ in _summary_rows(result):
        table.add_row(label, value)
    console.print(table)
    console.print(f"Period: {_period(result)}; {len(result.fills):,} fills, "
                  f"{len(result.equity):,} equity rows", highlight=False)
    if written is not None:
        paths = [written] if isinstance(written, (str, os.PathLike)) else list(written)
        if paths:
            console.print("Reports written to: " + ", ".join(str(p) for p in paths),
                          highlight=False, soft_wrap=True)


# ============================================================================ charts
_GREEN = "#1a9850"
_RED = "#d73027"
_BLUE = "#2166ac"
_GREY = "#777777"
_HORIZON_COLORS = ("#9ecae1", "#4292c6", "#08519c")
_DPI = 100
_WIDTH_IN = 12.0


def _figure(height_in: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(_WIDTH_IN, height_in), dpi=_DPI, layout="constrained")


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _times(ts_ns: np.ndarray) -> np.ndarray:
    return ts_ns.astype("datetime64[ns]")


def _time_axis(ax) -> None:
    import matplotlib.dates as mdates

    loc = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
    ax.set_xlabel("time (UTC)")


def _chart_equity(result: BacktestResult) -> str | None:
    eq = result.equity
    if len(eq) < 2:
        return None
    e = eq["equity"]
    peak = np.fmax.accumulate(e)
    dd = e - peak
    pct = bool(np.all(peak[np.isfinite(peak)] > 0))
    if pct:
        dd = dd / peak * 100.0
    fig = _figure(6.0)
    ax1, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=(2, 1))
    i = minmax_indices(e, PLOT_MAX_POINTS)
    ax1.plot(_times(eq["ts_ns"][i]), e[i], color=_BLUE, lw=1.0)
    ax1.set_ylabel("equity")
    ax1.set_title(f"{result.symbol}: equity (marked to mid) and drawdown", loc="left")
    ax1.grid(alpha=0.3)
    j = minmax_indices(dd, PLOT_MAX_POINTS)
    t = _times(eq["ts_ns"][j])
    ax2.fill_between(t, dd[j], 0.0, color=_RED, alpha=0.35, lw=0)
    ax2.plot(t, dd[j], color=_RED, lw=0.8)
    if np.isfinite(dd).any():
        k = int(np.nanargmin(dd))
        right = k > len(dd) // 2  # keep the label inside the axes
        ax2.annotate(f"max DD {dd[k]:,.2f}{'%' if pct else ''}", (_times(eq["ts_ns"][k:k + 1])[0], dd[k]),
                     xytext=(-8 if right else 8, 2), textcoords="offset points", fontsize=9,
                     color=_RED, va="bottom", ha="right" if right else "left")
    ax2.set_ylabel("drawdown (%)" if pct else "drawdown")
    ax2.grid(alpha=0.3)
    _time_axis(ax2)
    return _png(fig)


def _chart_price(result: BacktestResult) -> str | None:
    eq = result.equity
    mid = eq["mid"]
    if len(eq) < 2 or not np.isfinite(mid).any():
        return None
    fig = _figure(4.5)
    ax = fig.subplots()
    i = minmax_indices(mid, PLOT_MAX_POINTS)
    ax.plot(_times(eq["ts_ns"][i]), mid[i], color=_GREY, lw=0.8, label="mid")
    f = result.fills
    if len(f):
        after = f["position_after"]
        before = after - f["side"] * f["qty"]
        flip = np.sign(after) * np.sign(before) < 0
        entry = (np.abs(after) > np.abs(before)) | flip
        buy = f["side"] > 0
        t = _times(f["ts_ns"])
        for sel, marker, color, label, filled in (
                (entry & buy, "^", _GREEN, "entry, buy", True),
                (entry & ~buy, "v", _RED, "entry, sell", True),
                (~entry & buy, "o", _GREEN, "exit, buy", False),
                (~entry & ~buy, "o", _RED, "exit, sell", False)):
            if sel.any():
                ax.scatter(t[sel], f["price"][sel], marker=marker, s=22 if filled else 18,
                           c=color if filled else "none", edgecolors=color, linewidths=0.8,
                           label=f"{label} ({int(sel.sum()):,})", zorder=3)
    ax.set_title(f"{result.symbol}: mid price with fills (entries filled triangles, exits circles)",
                 loc="left")
    ax.set_ylabel("price")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8, ncols=5)
    _time_axis(ax)
    return _png(fig)


def _chart_ofi(result: BacktestResult) -> str | None:
    s = result.series
    if "ofi" not in s or "ts_ns" not in s or len(s["ts_ns"]) < 2:
        return None
    ts = s["ts_ns"]
    ofi = np.asarray(s["ofi"], dtype=np.float64)
    if "mid" in s:
        mid = np.asarray(s["mid"], dtype=np.float64)
    elif len(result.equity):  # mid as of each series time, from the equity rows
        eq = result.equity
        pos = np.searchsorted(eq["ts_ns"], ts, side="right") - 1
        mid = np.where(pos >= 0, eq["mid"][np.maximum(pos, 0)], np.nan)
    else:
        mid = np.full(len(ts), np.nan)
    if not np.isfinite(ofi).any():
        return None
    fig = _figure(4.5)
    ax = fig.subplots()
    i = minmax_indices(mid, PLOT_MAX_POINTS)
    ax.plot(_times(ts[i]), mid[i], color="black", lw=0.9, label="mid")
    ax.set_ylabel("mid price")
    ax2 = ax.twinx()
    j = minmax_indices(ofi, PLOT_MAX_POINTS)
    tj = _times(ts[j])
    o = ofi[j]
    # two single polygons (clipped at 0) instead of where=: one region per sign change is slow
    ax2.fill_between(tj, np.fmax(o, 0.0), 0.0, color=_GREEN, alpha=0.4, lw=0)
    ax2.fill_between(tj, np.fmin(o, 0.0), 0.0, color=_RED, alpha=0.4, lw=0)
    ax2.axhline(0.0, color=_GREY, lw=0.6)
    ax2.set_ylabel("OFI")
    lim = np.nanmax(np.abs(o)) if np.isfinite(o).any() else 1.0
    lim = lim if lim > 0 else 1.0
    ax2.set_ylim(-1.05 * lim, 1.05 * lim)
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.set_title(f"{result.symbol}: order-flow imbalance (right, green buy pressure / red sell) "
                 "against mid (left)", loc="left")
    ax.grid(alpha=0.3)
    _time_axis(ax)
    return _png(fig)


def _chart_deciles(dec: VpinDeciles | None) -> str | None:
    if dec is None:
        return None
    fig = _figure(4.5)
    ax = fig.subplots()
    x = np.arange(10)
    w = 0.27
    for h, label in enumerate(MARKOUT_LABELS):
        y = dec.mean_bps[:, h]
        ax.bar(x + (h - 1) * w, np.nan_to_num(y, nan=0.0), width=w, color=_HORIZON_COLORS[h],
               label=f"+{label}")
    ax.axhline(0.0, color="black", lw=0.8)
    e = dec.edges
    ax.set_xticks(x, [f"D{d + 1}\n{e[d]:.3g}-{e[d + 1]:.3g}\nn={int(dec.count[d]):,}" for d in x],
                  fontsize=8)
    ax.set_xlabel("VPIN decile at fill time (range, fills)")
    ax.set_ylabel("mean markout (bps, + = in the fill's favour)")
    ax.set_title("Markouts by VPIN decile: adverse selection shows as negative bars at high VPIN",
                 loc="left")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(title="horizon", fontsize=8)
    return _png(fig)


def _chart_pnl(result: BacktestResult) -> str | None:
    pnl = result.trades["net_pnl"]
    pnl = pnl[np.isfinite(pnl)]
    if len(pnl) < 2:
        return None
    n_bins = int(min(60, max(10, round(math.sqrt(len(pnl))))))
    # The range covers the central 99% of trades; the rest are counted in the edge bins (and said
    # so), otherwise one outlier squeezes the whole distribution into a couple of bars.
    lo, hi = (float(q) for q in np.quantile(pnl, (0.005, 0.995)))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    width = (hi - lo) / n_bins
    bins = width * np.arange(math.floor(lo / width), math.ceil(hi / width) + 1)  # 0 is an edge
    clipped = int(np.count_nonzero((pnl < bins[0]) | (pnl > bins[-1])))
    shown = np.clip(pnl, bins[0], bins[-1])
    fig = _figure(4.0)
    ax = fig.subplots()
    ax.hist(shown[pnl < 0], bins=bins, color=_RED, alpha=0.85, label="losing")
    ax.hist(shown[pnl >= 0], bins=bins, color=_GREEN, alpha=0.85, label="winning")
    mean = float(pnl.mean())
    ax.axvline(0.0, color="black", lw=0.8)
    ax.axvline(mean, color=_BLUE, lw=1.2, ls="--", label=f"mean {mean:,.4g}")
    wins = pnl[pnl > 0]
    losses = pnl[pnl < 0]
    text = (f"trades {len(pnl):,}\nwin rate {100.0 * len(wins) / len(pnl):.1f}%\n"
            f"avg win {wins.mean() if len(wins) else float('nan'):,.4g}\n"
            f"avg loss {losses.mean() if len(losses) else float('nan'):,.4g}\n"
            f"median {float(np.median(pnl)):,.4g}"
            + (f"\n{clipped:,} beyond the range, counted in the edge bins" if clipped else ""))
    ax.text(0.01, 0.97, text, transform=ax.transAxes, va="top", fontsize=9,
            bbox={"boxstyle": "round", "fc": "white", "ec": _GREY, "alpha": 0.9})
    ax.set_xlabel("net PnL per round trip (after fees)")
    ax.set_ylabel("trades")
    ax.set_title("Trade PnL distribution", loc="left")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    return _png(fig)


# ============================================================================ HTML
_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px auto;
       max-width: 1240px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin: 28px 0 4px; }
p.sub, p.how { color: #555; margin: 2px 0 8px; font-size: 14px; }
p.empty { padding: 24px; background: #f5f5f5; border: 1px dashed #bbb; color: #555; }
table.metrics { border-collapse: collapse; font-size: 14px; }
table.metrics td, table.metrics th { padding: 3px 14px 3px 6px; border-bottom: 1px solid #e4e4e4; }
table.metrics th { text-align: left; background: #f2f2f2; }
table.metrics td.v { text-align: right; font-variant-numeric: tabular-nums; }
.cols { display: flex; gap: 40px; flex-wrap: wrap; align-items: flex-start; }
img { width: 100%; max-width: 1200px; height: auto; border: 1px solid #eee; }
pre { background: #f7f7f7; padding: 10px; font-size: 12px; overflow-x: auto; }
"""

_SECTIONS = (
    ("equity", "Equity and drawdown",
     "Top: account equity marked to the mid. Bottom: distance below the running peak. "
     "Depth and length of the troughs matter more than the end point."),
    ("price", "Price with entries and exits",
     "Mid price with every fill: filled triangles open or add to a position (up = buy, down = sell), "
     "hollow circles reduce or close one. Look for entries that buy tops or sell bottoms."),
    ("ofi", "OFI against price",
     "Order-flow imbalance (right axis) over the mid (left axis). OFI that leads the price is what a "
     "signal built on it trades."),
    ("deciles", "Markouts by VPIN decile",
     "Mean mid move after each fill (100 ms, 1 s, 10 s; positive = in the fill's favour), grouped by "
     "VPIN at fill time into ten equal-count bins. Bars that fall as VPIN rises mean fills get picked "
     "off when flow is toxic."),
    ("pnl", "Trade PnL distribution",
     "Net PnL per round trip after fees. A few large losses against many small wins is a fat left "
     "tail: check it against the win rate and profit factor."),
)

_MISSING = {
    "equity": "not enough data: fewer than 2 equity rows",
    "price": "not enough data: no finite mid price in the equity rows",
    "ofi": "not enough data: series has no 'ofi' (with 'ts_ns')",
    "deciles": (f"not enough data: needs markouts, series 'vpin' (with 'ts_ns') and at least "
                f"{MIN_DECILE_FILLS} fills with both"),
    "pnl": "not enough data: fewer than 2 trades",
}


def _metrics_html(result: BacktestResult) -> str:
    rows = []
    used = set()
    for label, value, keys in _summary_rows(result):
        used.update(keys)
        rows.append(f"<tr><td>{html.escape(label)}</td><td class=\"v\">{html.escape(value)}</td></tr>")
    main = "<table class=\"metrics\"><tr><th>Metric</th><th>Value</th></tr>" + "".join(rows) + "</table>"
    other = [k for k in sorted(result.metrics) if k not in used]
    extra = ""
    if other:
        extra = ("<table class=\"metrics\"><tr><th>All other metrics</th><th>Value</th></tr>"
                 + "".join(f"<tr><td>{html.escape(k)}</td><td class=\"v\">"
                           f"{html.escape(_fmt_any(result.metrics[k], k))}</td></tr>" for k in other)
                 + "</table>")
    return f"<div class=\"cols\">{main}{extra}</div>"


def write_html(result: BacktestResult, path: str | os.PathLike, *, title: str | None = None) -> Path:
    """Write one self-contained HTML report of ``result`` to ``path``; return the path.

    Five charts, each a PNG embedded as ``data:image/png;base64`` (matplotlib, Agg canvas):
    equity and drawdown, price with entries and exits, OFI against price, markouts by VPIN decile,
    trade PnL distribution; then a metrics table and the config. A chart whose data is missing is
    replaced by a "not enough data" note saying what it needs. No script, no external link: the
    file opens offline in any browser. Lines are cut to at most :data:`PLOT_MAX_POINTS` points by
    :func:`minmax_indices` (spikes survive). About 0.65 s for a day of 1M equity rows and 2000
    fills on a 2-core machine (``bench/test_bench_report.py``; target < 2 s).

    Parameters
    ----------
    result : BacktestResult
    path : str or PathLike
        Output file (parent folders must exist).
    title : str, optional
        Page title; ``"<symbol> backtest report"`` by default.

    Raises
    ------
    InvalidInputError
        ``result`` fails :meth:`BacktestResult.validate`.
    """
    _check_result(result)
    title = title if title is not None else f"{result.symbol} backtest report"
    charts = {
        "equity": _chart_equity(result),
        "price": _chart_price(result),
        "ofi": _chart_ofi(result),
        "deciles": _chart_deciles(markouts_by_vpin_decile(result)),
        "pnl": _chart_pnl(result),
    }
    parts = [
        "<!DOCTYPE html>",
        "<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class=\"sub\">{html.escape(result.symbol)} &middot; {html.escape(_period(result))} &middot; "
        f"{len(result.fills):,} fills &middot; {len(result.trades):,} round trips</p>",
        "<h2>Metrics</h2>",
        _metrics_html(result),
    ]
    for key, heading, how in _SECTIONS:
        parts.append(f"<h2>{html.escape(heading)}</h2><p class=\"how\">{html.escape(how)}</p>")
        png = charts[key]
        if png is None:
            parts.append(f"<p class=\"empty\">{html.escape(_MISSING[key])}</p>")
        else:
            parts.append(f"<img alt=\"{html.escape(heading)}\" src=\"data:image/png;base64,{png}\">")
    cfg = json.dumps(_json_value("config", result.config), sort_keys=True, indent=2, allow_nan=False)
    parts.append(f"<h2>Config</h2><pre>{html.escape(cfg)}</pre>")
    parts.append("</body></html>\n")
    p = Path(path)
    p.write_text("\n".join(parts), encoding="utf-8")
    return p
