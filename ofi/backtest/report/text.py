"""The terminal report: :func:`print_summary`, a rich table of the main metrics (rich is imported
when the table is made, not on import)."""
from __future__ import annotations

import os
from typing import Any, Iterable

from ofi.backtest.report.summary import period_text, summary_rows
from ofi.backtest.result import BacktestResult, _check_result

__all__ = ["print_summary"]


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
    for label, value, _ in summary_rows(result):
        table.add_row(label, value)
    console.print(table)
    console.print(f"Period: {period_text(result)}; {len(result.fills):,} fills, "
                  f"{len(result.equity):,} equity rows", highlight=False)
    if written is not None:
        paths = [written] if isinstance(written, (str, os.PathLike)) else list(written)
        if paths:
            console.print("Reports written to: " + ", ".join(str(p) for p in paths),
                          highlight=False, soft_wrap=True)
