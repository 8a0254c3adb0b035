"""Training and prediction inputs every model kind checks the same way: the feature matrix, the
class labels, and what the model card records about them (feature names, training period)."""
from __future__ import annotations

import numpy as np

from ofi.errors import InvalidInputError
from ofi.validation import MAX_CLASSES

__all__ = ["as_matrix", "class_labels", "card_inputs"]


def as_matrix(X, n_features: int | None, name: str = "X") -> np.ndarray:
    """Training / batch input as a C-contiguous float64 (n, F) array; FeatureFrame and
    DataFrame-like objects are unwrapped. NaN and +-inf are kept: both are valid split inputs."""
    if X is None:
        raise InvalidInputError(f"{name} must be a 2-D array of numbers, got None")
    X = getattr(X, "values", X)
    try:
        arr = np.ascontiguousarray(np.asarray(X, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must be an array of numbers: {exc}") from None
    if arr.ndim != 2:
        raise InvalidInputError(f"{name} must be 2-D (n_samples, n_features), got shape {arr.shape}")
    if n_features is not None and arr.shape[1] != n_features:
        raise InvalidInputError(f"{name} has {arr.shape[1]} features, the model reads {n_features}")
    return arr


def class_labels(y, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``y`` (an array or a ``LabelSet``) as a 1-D array of n labels, and its sorted classes
    (2 to ``MAX_CLASSES`` of them)."""
    if y is None:
        raise InvalidInputError("y must be an array of class labels, got None")
    y = np.asarray(getattr(y, "y", y))
    if y.ndim != 1 or len(y) != n:
        raise InvalidInputError(f"y must be 1-D with {n} labels (one per row of X), got shape {y.shape}")
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise InvalidInputError("y contains NaN: drop the rows whose label is not defined (LabelSet.valid)")
    classes = np.unique(y)
    if len(classes) < 2:
        raise InvalidInputError(f"y must contain at least 2 classes, got {classes.tolist()}")
    if len(classes) > MAX_CLASSES:
        raise InvalidInputError(f"at most {MAX_CLASSES} classes are supported, got {len(classes)}")
    return y, classes


def card_inputs(X, feature_names, n_features: int) -> tuple[list[str], dict]:
    """The feature names (given, else ``X.names``, else ``f0..``) and the training period
    (from ``X.ts_ns`` when X is a FeatureFrame) that the model card records."""
    names = feature_names if feature_names is not None else getattr(X, "names", None)
    if names is None:
        names = [f"f{i}" for i in range(n_features)]
    names = [str(s) for s in names]
    if len(names) != n_features or len(set(names)) != n_features:
        raise InvalidInputError(f"feature_names must be {n_features} distinct names, got {len(names)}")
    period = {}
    ts = getattr(X, "ts_ns", None)
    if ts is not None and len(ts):
        period = {"start_ns": int(np.min(ts)), "end_ns": int(np.max(ts)), "n_samples": int(len(ts))}
    return names, period
