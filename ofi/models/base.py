"""What every ofi model shares: the model card, compiled predict, writing its file."""
from __future__ import annotations

import datetime as _dt
import os
import platform
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ofi._version import __version__
from ofi.errors import InvalidInputError
from ofi.models._format import write_model_file
from ofi.models._inputs import as_matrix

__all__ = ["ModelCard", "CompiledModel"]


def library_versions() -> dict[str, str]:
    out = {"ofi": __version__, "numpy": np.__version__, "python": platform.python_version()}
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


class CompiledModel:
    """Base of the ofi models: a compiled predictor (``_c``) plus a model card.

    ``predict_proba`` accepts a ``FeatureVector`` or a 1-D array (one row: returns shape
    (n_classes,)), or a 2-D array / ``FeatureFrame`` (returns (n, n_classes), rows in parallel
    over ``n_threads``)."""

    kind = "base"
    # What a model file holds for this kind: array name -> dtype, and the arrays that may be absent.
    _FILE_ARRAYS: ClassVar[Mapping[str, Any]] = {}
    _FILE_OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    def __init__(self):
        self._c = None
        self.card: ModelCard | None = None
        self.classes_: np.ndarray | None = None
        self._names_ok = None          # the last FeatureVector.names object checked
        self._k = 0                    # columns of predict_proba

    def _bind(self, compiled, card: ModelCard) -> None:
        """Make ``compiled`` (a Forest or Linear with ``n_classes``) and ``card`` this model's state."""
        self._c = compiled
        self.card = card
        self.classes_ = np.asarray(card.classes)
        self._names_ok = None
        self._k = compiled.n_classes

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
    # A model writes its own arrays through ofi.models._format, which sits below this module; the
    # kinds give their arrays (_file_parts) and rebuild from them (_from_file), and ofi.models.io,
    # the top of the package, maps a file's kind back to its class. So base never imports io.
    def save(self, path) -> None:
        """Write ``path`` (JSON with the model card) and its ``.npz`` arrays; see docs/models.md."""
        self._write(path)

    def _write(self, path) -> Path:
        if not self.is_fitted:
            raise InvalidInputError("save_model needs a trained ofi model")
        arrays, meta = self._file_parts()
        return write_model_file(path, kind=self.kind, card=self.card.to_dict(), meta=meta, arrays=arrays,
                                dtypes=self._FILE_ARRAYS)

    def _file_parts(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The arrays and the JSON-able metadata a model file holds for this model."""
        raise InvalidInputError(f"cannot save a model of kind {self.kind!r}")

    @classmethod
    def _from_file(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any], card: ModelCard) -> "CompiledModel":
        """A trained model rebuilt from what :meth:`_file_parts` gave (checked by the compiled
        constructors; raises InvalidInputError, KeyError, TypeError or ValueError)."""
        raise NotImplementedError(f"{cls.__name__} cannot be read from a model file")


def _threads(n) -> int:
    if n is None:
        return max(1, os.cpu_count() or 1)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidInputError(f"n_threads must be an integer >= 1 or None, got {n!r}")
    return int(n)
