"""The HTML report: :func:`write_html`, one self-contained page (the charts embedded as base64 PNG,
a metrics table, the config; no JavaScript, no external resource)."""
from __future__ import annotations

import html  # the standard library's (imports are absolute; this module is ofi.backtest.report.html)
import json
import os
from pathlib import Path

from ofi.backtest.report.charts import render_charts
from ofi.backtest.report.deciles import MIN_DECILE_FILLS
from ofi.backtest.report.summary import format_value, period_text, summary_rows
from ofi.backtest.result import BacktestResult, _check_result, _json_value

__all__ = ["write_html"]


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
    for label, value, keys in summary_rows(result):
        used.update(keys)
        rows.append(f"<tr><td>{html.escape(label)}</td><td class=\"v\">{html.escape(value)}</td></tr>")
    main = "<table class=\"metrics\"><tr><th>Metric</th><th>Value</th></tr>" + "".join(rows) + "</table>"
    other = [k for k in sorted(result.metrics) if k not in used]
    extra = ""
    if other:
        extra = ("<table class=\"metrics\"><tr><th>All other metrics</th><th>Value</th></tr>"
                 + "".join(f"<tr><td>{html.escape(k)}</td><td class=\"v\">"
                           f"{html.escape(format_value(result.metrics[k], k))}</td></tr>" for k in other)
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
    charts = render_charts(result)
    parts = [
        "<!DOCTYPE html>",
        "<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class=\"sub\">{html.escape(result.symbol)} &middot; {html.escape(period_text(result))} &middot; "
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
