"""Reports of a :class:`~ofi.backtest.result.BacktestResult`: a terminal summary, a JSON document and
one self-contained HTML page of charts.

- :func:`print_summary` (``text.py``) prints a rich table of the main metrics.
- :func:`to_json` / :func:`write_json` (``json.py``) give a deterministic JSON document: the same
  result gives the same bytes (sorted keys, floats as Python ``repr``, NaN/inf as ``null``, nothing
  from the clock).
- :func:`write_html` (``html.py``) writes one HTML file with five PNG charts (``charts.py``)
  embedded as base64 (matplotlib, Agg, no pyplot state touched), a metrics table and the config;
  no JavaScript, no external resource.

Long arrays are cut down to at most a few thousand points with a min/max-per-bucket rule
(:func:`minmax_indices`, ``downsample.py``), so a spike or a drawdown trough survives
downsampling; markouts are grouped by VPIN decile in ``deciles.py``; the summary rows the terminal
and the HTML page share are built in ``summary.py``. The charts and the JSON schema are described
in ``docs/reports.md``.

matplotlib and rich are imported when a chart or a table is made, not on import of this package.
"""
from ofi.backtest.report.charts import PLOT_MAX_POINTS
from ofi.backtest.report.deciles import MIN_DECILE_FILLS, VpinDeciles, markouts_by_vpin_decile
from ofi.backtest.report.downsample import minmax_indices
from ofi.backtest.report.html import write_html
from ofi.backtest.report.json import JSON_MAX_POINTS, REPORT_FORMAT, REPORT_VERSION, to_json, write_json
from ofi.backtest.report.text import print_summary

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
