"""Evaluation metrics in plain numpy: classification scores equal to ``sklearn.metrics`` where those
are defined (which the tests check), and trading metrics (PnL, Sharpe / Sortino, drawdown, exposure,
turnover, markouts); see docs/metrics.md for the formulas, conventions and deviations."""
from ofi.metrics import classification, trading
from ofi.metrics.classification import *  # noqa: F401,F403
from ofi.metrics.trading import *  # noqa: F401,F403

__all__ = list(classification.__all__) + list(trading.__all__)
