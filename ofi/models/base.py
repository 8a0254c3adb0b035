"""What every ofi model shares: the model card, input coercion, compiled predict, file I/O."""
from __future__ import annotations

import datetime as _dt
import platform
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ofi.errors import InvalidInputError

__all__ = ["ModelCard", "CompiledModel"]


def library_versions() -> dict[str, str]:
    import ofi
    out = {"ofi": ofi.__version__, "numpy": np.__version__, "python": platform.python_version()}
    for mod in ("sklearn", "lightgbm", "xgboost"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:       # not installed: not part of this model's provenance
            pass
    return out


@dataclass
class ModelCard:
    """Everything needed to trust a model file.

    Attributes
    ----------
    feature_names : list of str
        The columns the model reads, in order.
    feature_config_hash : str or None
        ``FeatureConfig.hash`` of the engine that produced the training features; a model is
        refused by an engine whose hash differs.
    label : dict
        The label definition (``LabelSet.definition``: kind, horizon, dead zone, classes).
    training_period : dict
        ``{"start_ns": ..., "end_ns": ..., "n_samples": ...}`` of the training rows.
    validation : dict
        Validation metrics (e.g. per-fold purged walk-forward scores).
    classes : list
        Class labels, in the order of ``predict_proba``'s columns.
    params : dict
        Training parameters.
    versions : dict
        Library versions at training time.
    created : str
        ISO-8601 UTC time the model was trained.
    source : str
        "scikit-learn", "lightgbm" or "xgboost".
    """

    feature_names: list
    classes: list
    feature_config_hash: str | None = None
    label: dict = field(default_factory=dict)
    training_period: dict = field(default_factory=dict)
    validation: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    versions: dict = field(default_factory=library_versions)
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    source: str = "scikit-learn"

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))

    @classmethod
    def from_dict(cls, d: dict) -> "ModelCard":
        names = set(cls.__dataclass_fields__)
        if not isinstance(d, dict) or not {"feature_names", "classes"} <= set(d) or set(d) - names:
            raise InvalidInputError("model card: missing or unknown fields")
        return cls(**d)


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return [_jsonable(v) for v in x.tolist()]
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def as_matrix(X, n_features: int | None, name: str = "X") -> np.ndarray:
    """Training / batch input as a C-contiguous float64 (n, F) array (NaN allowed, inf refused? no:
    +-inf are valid split inputs); FeatureFrame and DataFrame-like objects are unwrapped."""
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


class CompiledModel:
    """Base of the ofi models: a compiled predictor (``_c``) plus a model card.

    ``predict_proba`` accepts a ``FeatureVector`` or a 1-D array (one row: returns shape
    (n_classes,)), or a 2-D array / ``FeatureFrame`` (returns (n, n_classes), rows in parallel
    over ``n_threads``)."""

    kind = "base"

    def __init__(self):
        self._c = None
        self.card: ModelCard | None = None
        self.classes_: np.ndarray | None = None
        self._names_ok = None          # the last FeatureVector.names object checked
        self._k = 0                    # columns of predict_proba

    # ---- state
    @property
    def is_fitted(self) -> bool:
        return self._c is not None

    def _need_fitted(self):
        if self._c is None:
            raise InvalidInputError(f"{type(self).__name__} is not trained yet: call fit() / train() or load()")

    @property
    def feature_names(self) -> list:
        self._need_fitted()
        return list(self.card.feature_names)

    @property
    def n_features(self) -> int:
        self._need_fitted()
        return self._c.n_features

    # ---- prediction
    def predict_proba(self, features, *, n_threads: int = 1) -> np.ndarray:
        """Class probabilities, columns in ``classes_`` order.

        Parameters
        ----------
        features : FeatureVector, 1-D or 2-D array, FeatureFrame
        n_threads : int
            Threads for a 2-D batch (a single row never uses threads).
        """
        c = self._c
        if c is None:
            self._need_fitted()
        if type(features) is np.ndarray and features.ndim == 1:
            # the live path: one float64 row; proba_one checks dtype, contiguity and length itself
            out = np.empty(self._k)
            try:
                c.proba_one(features, out)
                return out
            except InvalidInputError:
                pass                    # coerce below (another dtype, a strided view), or say why
        names = getattr(features, "names", None)
        if names is not None:
            if names is not self._names_ok:
                self._check_names(names)
            x = features.values
            if type(x) is np.ndarray and x.ndim == 1:        # a FeatureVector: the live path
                out = np.empty(self._k)
                try:
                    c.proba_one(x, out)
                    return out
                except InvalidInputError:
                    pass
        else:
            x = features
        try:
            arr = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"features must be numbers: {exc}") from None
        if arr.ndim == 1:
            out = np.empty(c.n_classes)
            c.proba_one(np.ascontiguousarray(arr), out)
            return out
        arr = as_matrix(arr, c.n_features)
        out = np.empty((arr.shape[0], c.n_classes))
        c.proba_batch(arr, out, _threads(n_threads))
        return out

    def predict(self, features, *, n_threads: int = 1):
        """The most probable class (a label from ``classes_``; an array for a batch)."""
        p = self.predict_proba(features, n_threads=n_threads)
        if p.ndim == 1:
            return self.classes_[int(np.argmax(p))]
        return self.classes_[np.argmax(p, axis=1)]

    def _check_names(self, names) -> None:
        if tuple(names) != tuple(self.card.feature_names):
            mine = list(self.card.feature_names)
            diff = next((i for i, (a, b) in enumerate(zip(names, mine)) if a != b), min(len(names), len(mine)))
            raise InvalidInputError(
                f"features do not match the model: {len(names)} features given, {len(mine)} expected; first "
                f"difference at column {diff}")
        self._names_ok = names

    # ---- files
    def save(self, path) -> None:
        """Write ``path`` (JSON with the model card) and its ``.npz`` arrays; see docs/models.md."""
        from ofi.models.io import save_model
        save_model(self, path)


def _threads(n) -> int:
    if n is None:
        import os
        return max(1, os.cpu_count() or 1)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidInputError(f"n_threads must be an integer >= 1 or None, got {n!r}")
    return int(n)
