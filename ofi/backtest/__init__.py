"""Event-driven backtesting: an exchange simulator with latency, queue positions and fees, the
strategy callbacks, and reports. See ofi/backtest/engine.py for the fill model."""
from ofi.backtest.engine import BacktestConfig, BacktestEngine, Context, Fill, Order, Strategy
from ofi.backtest.latency import Latency
from ofi.backtest.paper import PaperTrader
from ofi.backtest.report import print_summary, to_json, write_html, write_json
from ofi.backtest.result import BacktestResult
from ofi.backtest.strategies import ModelStrategy

__all__ = ["BacktestConfig", "BacktestEngine", "Strategy", "Context", "Fill", "Order", "Latency", "ModelStrategy", "PaperTrader",
           "BacktestResult", "to_json", "write_json", "write_html", "print_summary"]
