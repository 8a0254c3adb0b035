"""Evaluation metrics in plain numpy, equal to ``sklearn.metrics`` where those are defined (which
the tests check); see docs/metrics.md for the formulas and the deviations."""
from ofi.metrics import classification
from ofi.metrics.classification import *  # noqa: F401,F403

__all__ = list(classification.__all__)
