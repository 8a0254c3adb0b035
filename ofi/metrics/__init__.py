"""Evaluation metrics in plain numpy (scikit-learn compatible; sklearn is not a dependency).

See docs/metrics.md for the formulas and the deviations from ``sklearn.metrics``.
"""
from ofi.metrics.classification import (
    CalibrationTable,
    accuracy,
    brier_score,
    calibration_table,
    classification_report,
    confusion_matrix,
    f1,
    log_loss,
    precision,
    recall,
    roc_auc,
)

__all__ = [
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "log_loss",
    "brier_score",
    "confusion_matrix",
    "CalibrationTable",
    "calibration_table",
    "classification_report",
]
