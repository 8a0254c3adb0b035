"""The HTML report's charts: equity and drawdown, price with entries and exits, OFI against price,
markouts by VPIN decile, trade PnL distribution, each a PNG (base64) drawn with matplotlib's Agg
canvas, imported when a chart is made."""
from __future__ import annotations

import base64
import io
import math

import numpy as np

from ofi.backtest.report.deciles import VpinDeciles, markouts_by_vpin_decile
from ofi.backtest.report.downsample import minmax_indices
from ofi.backtest.result import MARKOUT_LABELS, BacktestResult

__all__ = ["PLOT_MAX_POINTS", "render_charts"]

#: Most points per line in a chart (about two per horizontal pixel at 1200 px).
PLOT_MAX_POINTS = 2400

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


def render_charts(result: BacktestResult) -> dict[str, str | None]:
    """The five charts of the HTML report as base64 PNG, keyed ``"equity"``, ``"price"``,
    ``"ofi"``, ``"deciles"`` and ``"pnl"``; None where the data is missing.

    Lines are cut to at most :data:`PLOT_MAX_POINTS` points by :func:`minmax_indices`. Figures are
    made on matplotlib's Agg canvas (imported here, not on import of this module); no pyplot state
    is touched.
    """
    return {
        "equity": _chart_equity(result),
        "price": _chart_price(result),
        "ofi": _chart_ofi(result),
        "deciles": _chart_deciles(markouts_by_vpin_decile(result)),
        "pnl": _chart_pnl(result),
    }
