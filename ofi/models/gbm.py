"""Gradient-boosted trees: trained with scikit-learn's HistGradientBoostingClassifier, answered by
ofi's compiled, branch-free tree inference (``ofi._core.trees``); LightGBM and XGBoost models
import into the same inference."""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ofi.errors import InvalidInputError
from ofi.models._forest import ForestArrays, from_lightgbm, from_sklearn_hgb, from_xgboost
from ofi.models._inputs import as_matrix, card_inputs, class_labels
from ofi.models.base import CompiledModel, ModelCard

__all__ = ["GradientBoostingModel"]


class GradientBoostingModel(CompiledModel):
    """Binary or multiclass gradient-boosted trees with microsecond inference.

    Parameters
    ----------
    learning_rate : float
    n_trees, max_depth : int
        Boosting iterations and the depth of each tree (edges from root to the deepest leaf).
    max_leaf_nodes, min_samples_leaf, l2_regularization, max_bins :
        As in ``sklearn.ensemble.HistGradientBoostingClassifier``.
    early_stopping : bool
        Stop when the validation loss (``validation_fraction`` of the rows) has not improved for
        ``n_iter_no_change`` iterations.
    class_weight : dict, "balanced" or None
    random_state : int
        Seed of the training (binning subsample, validation split): training is reproducible.

    Notes
    -----
    After training, the ensemble is flattened into fixed-width node arrays evaluated without
    branches (``ofi/_core/trees.pyx``); NaN goes where scikit-learn sends it, and
    ``predict_proba`` equals scikit-learn's to the last bits (the raw scores are summed in the same
    order). Categorical features are not supported.
    """

    kind = "gradient_boosting"
    _FILE_ARRAYS = {"thr": np.float64, "feat": np.int32, "nan_right": np.int32, "leaves": np.float64,
                    "tree_out": np.int32, "base": np.float64, "gain": np.float64}
    _FILE_OPTIONAL = frozenset({"gain"})

    def __init__(self, learning_rate: float = 0.1, *, n_trees: int = 100, max_depth: int | None = 6,
                 max_leaf_nodes: int | None = 31, min_samples_leaf: int = 20, l2_regularization: float = 0.0,
                 max_bins: int = 255, early_stopping: bool = False, validation_fraction: float = 0.1,
                 n_iter_no_change: int = 10, class_weight: Any = None, random_state: int = 0):
        super().__init__()
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real) or not learning_rate > 0:
            raise InvalidInputError(f"learning_rate must be > 0, got {learning_rate!r}")
        self.learning_rate = float(learning_rate)
        self.n_trees = n_trees
        self.max_depth = max_depth
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.max_bins = max_bins
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self.random_state = random_state
        self.estimator_ = None
        self._forest: ForestArrays | None = None

    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "learning_rate", "n_trees", "max_depth", "max_leaf_nodes", "min_samples_leaf", "l2_regularization",
            "max_bins", "early_stopping", "validation_fraction", "n_iter_no_change", "class_weight",
            "random_state")}

    # ---- training
    def train(self, X, y, n_trees: int = 100, max_depth: int | None = 6, **kw) -> "GradientBoostingModel":
        """Train ``n_trees`` trees of depth ``max_depth`` (the original design's signature); keyword
        arguments go to :meth:`fit`."""
        self.n_trees = n_trees
        self.max_depth = max_depth
        return self.fit(X, y, **kw)

    def fit(self, X, y, *, sample_weight=None, feature_names=None, feature_config_hash: str | None = None,
            label: dict | None = None, validation: dict | None = None) -> "GradientBoostingModel":
        """Train on X (n, F) (NaN allowed: it is routed, not imputed) and labels y.

        ``X`` may be a ``FeatureFrame`` (its names and time range go to the model card). The
        model card also records ``feature_config_hash`` (``FeatureConfig.hash``), the ``label``
        definition and ``validation`` metrics when given."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        arr = as_matrix(X, None)
        y, classes = class_labels(y, arr.shape[0])
        names, period = card_inputs(X, feature_names, arr.shape[1])
        n_trees = self.n_trees
        if isinstance(n_trees, bool) or not isinstance(n_trees, numbers.Integral) or n_trees < 1:
            raise InvalidInputError(f"n_trees must be an integer >= 1, got {n_trees!r}")
        md = self.max_depth
        if md is not None and (isinstance(md, bool) or not isinstance(md, numbers.Integral) or not 1 <= md <= 16):
            raise InvalidInputError(f"max_depth must be an integer in [1, 16] (compiled inference), got {md!r}")
        if md is None and self.max_leaf_nodes is None:
            raise InvalidInputError("max_depth and max_leaf_nodes cannot both be None")
        est = HistGradientBoostingClassifier(
            learning_rate=self.learning_rate, max_iter=int(n_trees), max_depth=md,
            max_leaf_nodes=self.max_leaf_nodes, min_samples_leaf=self.min_samples_leaf,
            l2_regularization=self.l2_regularization, max_bins=self.max_bins,
            early_stopping=bool(self.early_stopping), validation_fraction=self.validation_fraction,
            n_iter_no_change=self.n_iter_no_change, class_weight=self.class_weight,
            random_state=self.random_state, categorical_features=None)
        empty = np.isnan(arr).all(axis=0)
        if empty.any():
            # A column with no value at all (a feature never warm in this training window) cannot
            # be split on; scikit-learn's binning fails on it, so it trains as a constant column.
            arr = arr.copy()
            arr[:, empty] = 0.0
        try:
            est.fit(arr, y, sample_weight=sample_weight)
        except ValueError as exc:
            raise InvalidInputError(f"training failed: {exc}") from None
        self.estimator_ = est
        self._set_forest(from_sklearn_hgb(est), ModelCard(
            feature_names=names, classes=classes.tolist(), feature_config_hash=feature_config_hash,
            label=dict(label or {}), training_period=period, validation=dict(validation or {}),
            params={**self.get_params(), "n_trees_trained": int(est.n_iter_)}, source="scikit-learn"))
        return self

    def _set_forest(self, forest: ForestArrays, card: ModelCard) -> None:
        c = forest.build()
        if len(card.classes) != c.n_classes:
            raise InvalidInputError(f"{len(card.classes)} class labels for a model with {c.n_classes} outputs")
        if len(card.feature_names) != c.n_features:
            raise InvalidInputError(f"{len(card.feature_names)} feature names for a model reading {c.n_features}")
        self._forest = forest
        self._bind(c, card)

    # ---- model files
    def _file_parts(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return self._forest.arrays(), self._forest.meta()

    @classmethod
    def _from_file(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any], card: ModelCard
                   ) -> "GradientBoostingModel":
        model = cls()
        model._set_forest(ForestArrays.from_parts(arrays, meta), card)
        return model

    # ---- importers
    @classmethod
    def from_lightgbm(cls, booster, *, feature_names=None, classes=None, **card) -> "GradientBoostingModel":
        """A LightGBM Booster / LGBMClassifier in ofi's compiled inference (equal to its predict)."""
        fa = from_lightgbm(booster)
        return cls._imported(fa, booster, feature_names, classes, "lightgbm", card)

    @classmethod
    def from_xgboost(cls, model, *, feature_names=None, classes=None, **card) -> "GradientBoostingModel":
        """An XGBoost Booster / XGBClassifier in ofi's compiled inference (equal to its predict)."""
        fa = from_xgboost(model)
        return cls._imported(fa, model, feature_names, classes, "xgboost", card)

    @classmethod
    def _imported(cls, fa: ForestArrays, src, feature_names, classes, source: str, card: dict):
        m = cls()
        if classes is None:
            classes = getattr(src, "classes_", None)
        if classes is None:
            k = 2 if fa.link == 1 else len(fa.base)
            classes = list(range(k))
        if feature_names is None:
            feature_names = getattr(src, "feature_names_in_", None)
        names = [str(s) for s in feature_names] if feature_names is not None else [f"f{i}" for i in range(fa.n_features)]
        m._set_forest(fa, ModelCard(feature_names=names, classes=np.asarray(classes).tolist(), source=source, **card))
        return m

    # ---- explanation
    def top_features(self, n: int = 10, *, method: str = "gain", X=None, y=None, n_repeats: int = 5,
                     random_state: int = 0) -> list[tuple[str, float]]:
        """The n most important features as (name, importance), largest first.

        method="gain": each feature's share of the total split gain (sums to 1). method=
        "permutation": mean increase of the log loss on (X, y) when the feature's column is shuffled
        (``n_repeats`` times), computed with the compiled predict."""
        self._need_fitted()
        names = self.card.feature_names
        if method == "gain":
            g = self._forest.gain
            if g is None:
                raise InvalidInputError("this model carries no split gains; use method='permutation'")
            tot = g.sum()
            imp = g / tot if tot > 0 else np.zeros_like(g)
        elif method == "permutation":
            arr = as_matrix(X, self._c.n_features)
            y = np.asarray(y)
            if len(y) != arr.shape[0]:
                raise InvalidInputError("y must have one label per row of X")
            col = np.searchsorted(self.classes_, y)
            if not (col < len(self.classes_)).all() or not (self.classes_[np.minimum(col, len(self.classes_) - 1)] == y).all():
                raise InvalidInputError("y contains labels the model was not trained on")
            rng = np.random.default_rng(random_state)

            def loss(A):
                p = self.predict_proba(A)[np.arange(len(col)), col]
                return float(-np.mean(np.log(np.clip(p, 1e-15, 1.0))))

            base = loss(arr)
            imp = np.zeros(arr.shape[1])
            for j in range(arr.shape[1]):
                A = arr.copy()
                for _ in range(n_repeats):
                    A[:, j] = rng.permutation(arr[:, j])
                    imp[j] += loss(A) - base
            imp /= n_repeats
        else:
            raise InvalidInputError(f"method must be 'gain' or 'permutation', got {method!r}")
        order = np.argsort(-imp, kind="stable")[:max(0, int(n))]
        return [(names[i], float(imp[i])) for i in order]
