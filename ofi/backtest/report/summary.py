"""The metrics summary both the terminal table and the HTML page show: labelled, formatted rows
(:func:`summary_rows`), any other metric as text (:func:`format_value`), and the period covered
(:func:`period_text`)."""
from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

import numpy as np

from ofi.backtest.result import METRIC_KEYS, BacktestResult

__all__ = ["summary_rows", "format_value", "period_text"]


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


def summary_rows(result: BacktestResult) -> list[tuple[str, str, tuple[str, ...]]]:
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


def format_value(v: Any, key: str = "") -> str:
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


def period_text(result: BacktestResult) -> str:
    ts = result.equity["ts_ns"]
    if not len(ts):
        return "no equity rows"
    span = (int(ts[-1]) - int(ts[0])) / 1e9
    return f"{_utc(int(ts[0]))} to {_utc(int(ts[-1]))} ({span / 3600.0:,.2f} h)"
