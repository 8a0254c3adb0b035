"""What a backtest returns: :class:`BacktestResult`, the schema the backtester fills and the reports
(:mod:`ofi.backtest.report`) read.

Arrays are numpy structured arrays with fixed dtypes (the module constants below), so a result can be
saved with ``np.save``, sliced, and read column by column (``result.fills["price"]``). Times are
``int64`` nanoseconds since the epoch (UTC); prices and amounts are ``float64`` in the instrument's
quote currency; quantities in base units. ``build_*`` helpers make zero-filled arrays of a given
length for the backtester to fill.

Ordering rules (checked by :meth:`BacktestResult.validate`):

- ``equity["ts_ns"]``, ``fills["ts_ns"]`` and ``series["ts_ns"]`` never decrease (equal times are
  allowed: several book events can share a nanosecond stamp);
- trades are listed in the order they closed: ``trades["exit_ts"]`` never decreases and every trade
  has ``entry_ts <= exit_ts``.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from ofi._core.backtest import EQUITY_DTYPE
from ofi.errors import InvalidInputError
from ofi.validation import MARKOUT_HORIZONS_NS, MARKOUT_LABELS

__all__ = [
    "EQUITY_DTYPE",
    "FILL_DTYPE",
    "TRADE_DTYPE",
    "MARKOUT_HORIZONS_NS",
    "MARKOUT_LABELS",
    "SERIES_KEYS",
    "METRIC_KEYS",
    "BacktestResult",
    "build_equity",
    "build_fills",
    "build_trades",
]

# EQUITY_DTYPE, one row per book event (or per sampled event): account state marked to the mid,
# ``equity = cash + position * mid`` (quote currency), ``position`` signed base units; fields
# ts_ns i8, equity f8, cash f8, position f8, mid f8. Defined by the event loop that records the
# rows (ofi/_core/backtest.pyx), whose C row it matches.

#: One row per fill (a partial fill is its own row). ``side`` is +1 for a buy, -1 for a sell;
#: ``qty > 0`` in base units; ``fee`` in quote currency (negative for a maker rebate);
#: ``maker`` is 1 for a passive (maker) fill, 0 for an aggressive one; ``position_after`` is the
#: signed position once the fill is booked.
FILL_DTYPE = np.dtype([
    ("ts_ns", np.int64),
    ("order_id", np.int64),
    ("side", np.int8),
    ("price", np.float64),
    ("qty", np.float64),
    ("fee", np.float64),
    ("maker", np.uint8),
    ("position_after", np.float64),
])

#: One row per round trip (a position opened and closed, or the closed part of it). ``side`` is the
#: side of the entry (+1 long, -1 short); ``gross_pnl = side * (exit_price - entry_price) * qty``;
#: ``fees`` is the entry and exit fees attributed to this quantity; ``net_pnl = gross_pnl - fees``.
TRADE_DTYPE = np.dtype([
    ("entry_ts", np.int64),
    ("exit_ts", np.int64),
    ("side", np.int8),
    ("qty", np.float64),
    ("entry_price", np.float64),
    ("exit_price", np.float64),
    ("gross_pnl", np.float64),
    ("fees", np.float64),
    ("net_pnl", np.float64),
])

# The horizons of the columns of ``BacktestResult.markouts`` (100 ms, 1 s, 10 s after each fill) and
# their short names in the JSON report and the charts: defined once, in ``ofi.validation``.

#: Series the charts read from ``BacktestResult.series`` (all optional; other keys are kept and ignored).
SERIES_KEYS = ("ts_ns", "mid", "ofi", "vpin")

#: The metric names the summary table (terminal and HTML) reads, per row, first present wins. The
#: first name of each is what :meth:`ofi.metrics.trading.TradingMetrics.summary` writes; the others
#: are accepted aliases. Units: ``net_pnl``, ``fees``, ``max_drawdown`` and ``turnover`` in quote
#: currency; ``return_pct``, ``max_drawdown_pct`` (of the peak), ``win_rate`` and ``exposure``
#: (share of the time with a position) as fractions; ``sharpe_daily`` / ``sortino_daily`` from
#: daily returns, annualised with sqrt(365). ``turnover`` is also shown as a multiple of
#: ``initial_capital`` when that is present.
METRIC_KEYS = {
    "net_pnl": ("net_pnl",),
    "return": ("return_pct", "total_return", "return"),
    "sharpe": ("sharpe_daily", "sharpe", "sharpe_ratio"),
    "sortino": ("sortino_daily", "sortino", "sortino_ratio"),
    "max_drawdown_pct": ("max_drawdown_pct",),
    "max_drawdown": ("max_drawdown",),
    "n_trades": ("n_trades", "total_trades"),
    "win_rate": ("win_rate",),
    "profit_factor": ("profit_factor",),
    "fees": ("fees", "fill_fees", "total_fees"),
    "exposure": ("exposure",),
    "turnover": ("turnover",),
    "initial_capital": ("initial_capital",),
}


def build_equity(n: int = 0) -> np.ndarray:
    """A zero-filled equity array of ``n`` rows (dtype :data:`EQUITY_DTYPE`)."""
    return np.zeros(_count("n", n), dtype=EQUITY_DTYPE)


def build_fills(n: int = 0) -> np.ndarray:
    """A zero-filled fills array of ``n`` rows (dtype :data:`FILL_DTYPE`)."""
    return np.zeros(_count("n", n), dtype=FILL_DTYPE)


def build_trades(n: int = 0) -> np.ndarray:
    """A zero-filled round-trip array of ``n`` rows (dtype :data:`TRADE_DTYPE`)."""
    return np.zeros(_count("n", n), dtype=TRADE_DTYPE)


def _count(name: str, n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise InvalidInputError(f"{name} must be an int >= 0, got {n!r}")
    return int(n)


@dataclass(eq=False)
class BacktestResult:
    """The outcome of one backtest run, as the reports read it.

    Parameters
    ----------
    symbol : str
        Instrument, e.g. ``"BTCUSDT"``.
    config : dict
        The backtest configuration, JSON-serialisable: str keys; numbers, strings, bools, None,
        lists, tuples, dicts; numpy scalars and numeric arrays; ``Decimal`` (written as its string).
    equity : ndarray, shape (n_rows,), dtype :data:`EQUITY_DTYPE`
        Account state per book event (or sampled), time-ordered.
    fills : ndarray, shape (n_fills,), dtype :data:`FILL_DTYPE`
        Every fill, time-ordered.
    trades : ndarray, shape (n_trades,), dtype :data:`TRADE_DTYPE`
        Round trips, in the order they closed.
    metrics : dict
        Summary numbers (str keys, JSON-serialisable; NaN and inf are written as null). See
        :data:`METRIC_KEYS` for the names the terminal summary shows.
    series : dict, optional
        Extra series for the charts: ``"ts_ns"`` (int64, never decreasing) and any of ``"mid"``,
        ``"ofi"`` (e.g. OFI over 10 s) and ``"vpin"``, 1-D numeric arrays of the same length.
        Not written to the JSON report.
    markouts : ndarray, shape (n_fills, 3), float, optional
        Per fill, the mid move after 100 ms / 1 s / 10 s in basis points, signed so that positive
        is in the fill's favour: ``side * (mid(t + h) - price) / price * 1e4``. NaN when unknown
        (e.g. the data ends before the horizon).

    Notes
    -----
    Construction does not check anything (the backtester fills arrays in place); call
    :meth:`validate`, which the report writers do first.
    """

    symbol: str
    config: dict
    equity: np.ndarray
    fills: np.ndarray
    trades: np.ndarray
    metrics: dict
    series: dict = field(default_factory=dict)
    markouts: np.ndarray | None = None

    def __repr__(self) -> str:
        def rows(a: Any) -> str:
            return f"{len(a)} rows" if isinstance(a, np.ndarray) else type(a).__name__
        series = sorted(self.series) if isinstance(self.series, dict) else self.series
        mk = None if self.markouts is None else getattr(self.markouts, "shape", "?")
        return (f"BacktestResult(symbol={self.symbol!r}, equity={rows(self.equity)}, "
                f"fills={rows(self.fills)}, trades={rows(self.trades)}, "
                f"metrics={len(self.metrics) if isinstance(self.metrics, dict) else '?'} keys, "
                f"series={series}, markouts={mk})")

    # ------------------------------------------------------------------ checks
    def validate(self) -> BacktestResult:
        """Check types, dtypes, lengths and time order; return ``self``.

        Raises
        ------
        InvalidInputError
            Naming the field, the value found and what was expected: a dtype other than the
            module's constant, an array that is not 1-D, series of unequal lengths, markouts not of
            shape ``(len(fills), 3)``, times that decrease, a trade that exits before it enters,
            a side other than +1/-1, a config/metrics value that is not JSON-serialisable.
        """
        if not isinstance(self.symbol, str) or not self.symbol:
            raise InvalidInputError(f"symbol must be a non-empty str, got {self.symbol!r}")
        for name in ("config", "metrics", "series"):
            value = getattr(self, name)
            if not isinstance(value, dict):
                raise InvalidInputError(f"{name} must be a dict, got {type(value).__name__}")
        _json_value("config", self.config)
        _json_value("metrics", self.metrics)

        _check_table("equity", self.equity, EQUITY_DTYPE)
        _check_table("fills", self.fills, FILL_DTYPE)
        _check_table("trades", self.trades, TRADE_DTYPE)
        _check_sorted("equity['ts_ns']", self.equity["ts_ns"])
        _check_sorted("fills['ts_ns']", self.fills["ts_ns"])
        _check_sides("fills['side']", self.fills["side"])
        _check_sides("trades['side']", self.trades["side"])
        _check_sorted("trades['exit_ts']", self.trades["exit_ts"])
        bad = np.flatnonzero(self.trades["entry_ts"] > self.trades["exit_ts"])
        if bad.size:
            i = int(bad[0])
            raise InvalidInputError(
                f"trades[{i}] exits before it enters: entry_ts={int(self.trades['entry_ts'][i])} > "
                f"exit_ts={int(self.trades['exit_ts'][i])}; expected entry_ts <= exit_ts")

        self._validate_series()
        self._validate_markouts()
        return self

    def _validate_series(self) -> None:
        s = self.series
        if not s:
            return
        for k in s:
            if not isinstance(k, str):
                raise InvalidInputError(f"series keys must be str, got {k!r}")
        if "ts_ns" not in s:
            raise InvalidInputError(f"series has {sorted(s)} but no 'ts_ns'; expected a 'ts_ns' "
                                    "int64 array the other series are stamped with")
        n = None
        for k, v in s.items():
            if not isinstance(v, np.ndarray):
                raise InvalidInputError(f"series[{k!r}] must be a numpy array, got {type(v).__name__}")
            if v.ndim != 1:
                raise InvalidInputError(f"series[{k!r}] must be 1-D, got shape {v.shape}")
            if k == "ts_ns":
                if v.dtype != np.int64:
                    raise InvalidInputError(f"series['ts_ns'] must have dtype int64, got {v.dtype}")
            elif v.dtype.kind not in "fiub":
                raise InvalidInputError(f"series[{k!r}] must be numeric, got dtype {v.dtype}")
            if n is None:
                n = len(v)
            elif len(v) != n:
                lens = {kk: len(vv) for kk, vv in s.items() if isinstance(vv, np.ndarray)}
                raise InvalidInputError(f"series arrays must have equal lengths, got {lens}")
        _check_sorted("series['ts_ns']", s["ts_ns"])

    def _validate_markouts(self) -> None:
        m = self.markouts
        if m is None:
            return
        if not isinstance(m, np.ndarray):
            raise InvalidInputError(f"markouts must be a numpy array or None, got {type(m).__name__}")
        want = (len(self.fills), len(MARKOUT_HORIZONS_NS))
        if m.shape != want:
            raise InvalidInputError(f"markouts must have shape (len(fills), 3) = {want}, got {m.shape}")
        if m.dtype.kind != "f":
            raise InvalidInputError(f"markouts must have a float dtype (bps, NaN when unknown), got {m.dtype}")


def _check_result(result: Any) -> None:
    # what every report writer (ofi.backtest.report) does first
    if not isinstance(result, BacktestResult):
        raise InvalidInputError(f"result must be a BacktestResult, got {type(result).__name__}")
    result.validate()


def _check_table(name: str, arr: Any, dtype: np.dtype) -> None:
    if not isinstance(arr, np.ndarray):
        raise InvalidInputError(f"{name} must be a numpy structured array, got {type(arr).__name__}")
    if arr.dtype != dtype:
        raise InvalidInputError(f"{name} must have dtype {dtype.descr}, got {arr.dtype.descr!r}; "
                                f"build it with build_{name}(n)")
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be 1-D, got shape {arr.shape}")


def _check_sorted(name: str, ts: np.ndarray) -> None:
    if len(ts) < 2:
        return
    bad = np.flatnonzero(ts[1:] < ts[:-1])
    if bad.size:
        i = int(bad[0]) + 1
        raise InvalidInputError(f"{name} must never decrease, got {int(ts[i])} at index {i} after "
                                f"{int(ts[i - 1])}")


def _check_sides(name: str, side: np.ndarray) -> None:
    bad = np.flatnonzero((side != 1) & (side != -1))
    if bad.size:
        i = int(bad[0])
        raise InvalidInputError(f"{name} must be +1 or -1, got {int(side[i])} at index {i}")


def _json_value(path: str, value: Any) -> Any:
    """``value`` as plain JSON data (dict/list/str/int/float/bool/None), deterministically.

    numpy scalars and arrays become Python numbers and lists, tuples lists, ``Decimal`` its exact
    string; NaN and +-inf become None. Raises InvalidInputError, naming the path, for anything else
    (and for dict keys that are not str, whose sorted order would be ill-defined).
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        if isinstance(value, (np.bool_, np.integer, np.floating)):
            return _json_value(path, value.item())
        raise InvalidInputError(f"{path} is not JSON-serialisable: {type(value).__name__} {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else None
    if isinstance(value, numbers.Real):  # Fraction and the like
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidInputError(f"{path} keys must be str, got {k!r}")
            out[k] = _json_value(f"{path}[{k!r}]", v)
        return out
    if isinstance(value, (list, tuple)):
        return [_json_value(f"{path}[{i}]", v) for i, v in enumerate(value)]
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return _json_value(path, value.tolist())
    raise InvalidInputError(f"{path} is not JSON-serialisable: {type(value).__name__} {value!r:.80}")
