"""The JSON report of a :class:`~ofi.backtest.result.BacktestResult`: :func:`to_json` and
:func:`write_json`, a deterministic document (the same result gives the same bytes: sorted keys,
floats as Python ``repr``, NaN/inf as ``null``, nothing from the clock). The schema is in
``docs/reports.md``.
"""
from __future__ import annotations

import json  # the standard library's (imports are absolute; this module is ofi.backtest.report.json)
import math
import os
from pathlib import Path

import numpy as np

from ofi.backtest.report.deciles import markouts_by_vpin_decile
from ofi.backtest.report.downsample import minmax_indices
from ofi.backtest.result import (
    MARKOUT_HORIZONS_NS,
    MARKOUT_LABELS,
    BacktestResult,
    _check_result,
    _json_value,
)

__all__ = ["REPORT_FORMAT", "REPORT_VERSION", "JSON_MAX_POINTS", "to_json", "write_json"]

#: ``"format"`` and ``"version"`` of the JSON document; the version changes when the schema does.
REPORT_FORMAT = "ofi.backtest.report"
REPORT_VERSION = 1
#: Most equity rows written to the JSON report (min/max-per-bucket downsampling, first and last kept).
JSON_MAX_POINTS = 2000

_FILL_COLUMNS = ("ts_ns", "order_id", "side", "price", "qty", "fee", "maker", "position_after")
_TRADE_COLUMNS = ("entry_ts", "exit_ts", "side", "qty", "entry_price", "exit_price", "gross_pnl",
                  "fees", "net_pnl")
_EQUITY_COLUMNS = ("ts_ns", "equity", "cash", "position", "mid")


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
