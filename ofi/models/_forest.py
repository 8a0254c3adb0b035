"""Flattening tree ensembles into ``ofi._core.trees.Forest``: scikit-learn HistGradientBoosting,
LightGBM boosters and XGBoost models, each routed exactly as its library routes values.

Every converter produces the arrays of a *perfect* ensemble (see ``ofi/_core/trees.pyx``):
``thr``, ``feat``, ``nan_right`` of shape (n_trees, 2^D - 1), ``leaves`` (n_trees, 2^D),
``tree_out`` (n_trees,) and ``base`` (n_outputs,), plus the link and float32 flags. The same
arrays are what a model file stores, so a loaded model needs no tree library at all.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ofi._core.trees import LINK_LOGISTIC, LINK_SOFTMAX, Forest
from ofi.errors import InvalidInputError

__all__ = ["ForestArrays", "from_sklearn_hgb", "from_lightgbm", "from_xgboost", "MAX_DEPTH"]

MAX_DEPTH = 16


@dataclass
class ForestArrays:
    thr: np.ndarray
    feat: np.ndarray
    nan_right: np.ndarray
    leaves: np.ndarray
    tree_out: np.ndarray
    base: np.ndarray
    depth: int
    n_features: int
    link: int
    f32: bool = False
    acc32: bool = False
    gain: np.ndarray | None = None      # (n_features,) total split gain per feature, when known

    def build(self) -> Forest:
        return Forest(self.thr, self.feat, self.nan_right, self.leaves, self.tree_out, self.base, self.depth,
                      self.n_features, self.link, self.f32, self.acc32)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"thr": self.thr, "feat": self.feat, "nan_right": self.nan_right, "leaves": self.leaves,
               "tree_out": self.tree_out, "base": self.base}
        if self.gain is not None:
            out["gain"] = self.gain
        return out

    def meta(self) -> dict[str, Any]:
        return {"depth": self.depth, "n_features": self.n_features, "link": self.link, "f32": self.f32,
                "acc32": self.acc32, "n_trees": int(len(self.tree_out)), "n_outputs": int(len(self.base))}

    @classmethod
    def from_parts(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> "ForestArrays":
        return cls(arrays["thr"], arrays["feat"], arrays["nan_right"], arrays["leaves"], arrays["tree_out"],
                   arrays["base"], int(meta["depth"]), int(meta["n_features"]), int(meta["link"]),
                   bool(meta["f32"]), bool(meta["acc32"]), arrays.get("gain"))


# A tree as parallel lists: for node i, feature, threshold (go right iff x > thr), nan_right,
# left, right (-1 for a leaf) and the leaf value.
@dataclass
class _Tree:
    feature: list
    threshold: list
    nan_right: list
    left: list
    right: list
    value: list

    def depth(self) -> int:
        d, stack = 0, [(0, 0)]
        while stack:
            i, k = stack.pop()
            if self.left[i] < 0:
                d = max(d, k)
            else:
                stack.append((self.left[i], k + 1))
                stack.append((self.right[i], k + 1))
        return d


def _perfect(trees: list[_Tree], tree_out: list[int], base, n_features: int, link: int, *, f32=False,
             acc32=False, gain=None) -> ForestArrays:
    D = max((t.depth() for t in trees), default=0)
    if D > MAX_DEPTH:
        raise InvalidInputError(f"trees of depth {D} are deeper than the supported {MAX_DEPTH}")
    n, n_int, n_leaf = len(trees), (1 << D) - 1, 1 << D
    thr = np.full((n, n_int), np.inf)
    feat = np.zeros((n, n_int), dtype=np.int32)
    nanr = np.zeros((n, n_int), dtype=np.int32)
    leaves = np.zeros((n, n_leaf))
    for ti, t in enumerate(trees):
        stack = [(0, 0)]                      # (original node, perfect slot)
        while stack:
            i, p = stack.pop()
            if p >= n_int:
                if t.left[i] >= 0:
                    raise AssertionError("depth computation")
                leaves[ti, p - n_int] = t.value[i]
                continue
            if t.left[i] < 0:                 # an early leaf: padding sends everything left
                stack.append((i, 2 * p + 1))
                stack.append((i, 2 * p + 2))
                continue
            f = int(t.feature[i])
            if not 0 <= f < n_features:
                raise InvalidInputError(f"tree {ti} splits on feature {f}, outside [0, {n_features})")
            thr[ti, p] = t.threshold[i]
            feat[ti, p] = f
            nanr[ti, p] = 1 if t.nan_right[i] else 0
            stack.append((t.left[i], 2 * p + 1))
            stack.append((t.right[i], 2 * p + 2))
    return ForestArrays(thr, feat, nanr, leaves, np.asarray(tree_out, dtype=np.int32),
                        np.asarray(base, dtype=np.float64).reshape(-1), D, n_features, link, f32, acc32, gain)


# ------------------------------------------------------------------------------------ scikit-learn
def from_sklearn_hgb(model) -> ForestArrays:
    """A fitted ``HistGradientBoostingClassifier`` (numerical features)."""
    try:
        predictors = model._predictors
        baseline = np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1)
        n_features = int(model.n_features_in_)
    except AttributeError:
        raise InvalidInputError("expected a fitted sklearn HistGradientBoostingClassifier") from None
    if getattr(model, "is_categorical_", None) is not None and np.any(model.is_categorical_):
        raise InvalidInputError("categorical features are not supported by the compiled inference")
    K = len(baseline)
    trees, outs = [], []
    gain = np.zeros(n_features)
    for it in predictors:
        for k, pred in enumerate(it):
            nodes = pred.nodes
            if nodes["is_categorical"].any():
                raise InvalidInputError("categorical splits are not supported by the compiled inference")
            leaf = nodes["is_leaf"].astype(bool)
            left = np.where(leaf, -1, nodes["left"].astype(np.int64))
            right = np.where(leaf, -1, nodes["right"].astype(np.int64))
            trees.append(_Tree(nodes["feature_idx"].tolist(), nodes["num_threshold"].tolist(),
                               (nodes["missing_go_to_left"] == 0).tolist(), left.tolist(), right.tolist(),
                               nodes["value"].tolist()))
            outs.append(k)
            inner = ~leaf
            np.add.at(gain, nodes["feature_idx"][inner], nodes["gain"][inner])
    link = LINK_LOGISTIC if K == 1 else LINK_SOFTMAX
    return _perfect(trees, outs, baseline, n_features, link, gain=gain)


# ------------------------------------------------------------------------------------ LightGBM
def from_lightgbm(booster, n_features: int | None = None) -> ForestArrays:
    """A LightGBM ``Booster`` (or ``LGBMClassifier``) with a binary or multiclass objective.

    Routing follows LightGBM's NumericalDecision: missing type NaN sends NaN the default way;
    missing type None compares NaN as 0.0; zero-as-missing and categorical splits are refused."""
    booster = getattr(booster, "booster_", booster)
    try:
        dump = booster.dump_model()
    except AttributeError:
        raise InvalidInputError("expected a LightGBM Booster or a fitted LGBMClassifier") from None
    obj = str(dump.get("objective", ""))
    K = int(dump.get("num_class", 1))
    nf = int(dump.get("max_feature_idx", -1)) + 1 if n_features is None else int(n_features)
    scale = 1.0
    if obj.startswith("binary"):
        link = LINK_LOGISTIC
        for part in obj.split()[1:]:
            if part.startswith("sigmoid:"):
                scale = float(part.split(":", 1)[1])
        if K != 1:
            raise InvalidInputError(f"binary LightGBM model with num_class={K}")
    elif obj.startswith("multiclass") and not obj.startswith("multiclassova"):
        link = LINK_SOFTMAX
    else:
        raise InvalidInputError(f"LightGBM objective {obj!r} is not supported (binary or multiclass)")
    if scale != 1.0:
        raise InvalidInputError(f"LightGBM sigmoid scale {scale} != 1 is not supported")
    trees, outs = [], []
    gain = np.zeros(nf)
    for ti, info in enumerate(dump["tree_info"]):
        t = _Tree([], [], [], [], [], [])

        def add(node) -> int:
            i = len(t.left)
            for lst in (t.feature, t.threshold, t.nan_right, t.left, t.right, t.value):
                lst.append(0)
            if "leaf_value" in node:
                t.left[i] = t.right[i] = -1
                t.value[i] = float(node["leaf_value"])
                return i
            if node.get("decision_type", "<=") != "<=":
                raise InvalidInputError("LightGBM categorical splits are not supported")
            missing = node.get("missing_type", "None")
            thr = float(node["threshold"])
            if abs(thr) >= 1e300:            # the dump writes thresholds beyond +-1e300 as +-1e300 (AvoidInf)
                thr = math.copysign(math.inf, thr)
            if missing == "NaN":
                nan_right = not node.get("default_left", True)
            elif missing == "None":
                nan_right = 0.0 > thr               # NaN is compared as 0.0
            else:
                raise InvalidInputError("LightGBM zero_as_missing splits are not supported")
            f = int(node["split_feature"])
            t.feature[i], t.threshold[i], t.nan_right[i] = f, thr, nan_right
            if 0 <= f < nf:
                gain[f] += float(node.get("split_gain", 0.0))
            t.left[i] = add(node["left_child"])
            t.right[i] = add(node["right_child"])
            return i

        add(info["tree_structure"])
        trees.append(t)
        outs.append(ti % K if link == LINK_SOFTMAX else 0)
    return _perfect(trees, outs, np.zeros(K), nf, link, gain=gain)


# ------------------------------------------------------------------------------------ XGBoost
def from_xgboost(model) -> ForestArrays:
    """An XGBoost ``Booster`` (or ``XGBClassifier``) with gbtree and objective binary:logistic or
    multi:softprob / multi:softmax. XGBoost compares float32 inputs with x < t and sums leaves in
    float32: the forest reproduces both (thresholds become nextafterf(t, -inf))."""
    booster = model.get_booster() if hasattr(model, "get_booster") else model
    try:
        doc = json.loads(bytes(booster.save_raw("json")))
    except AttributeError:
        raise InvalidInputError("expected an XGBoost Booster or a fitted XGBClassifier") from None
    learner = doc["learner"]
    gb = learner["gradient_booster"]
    if gb.get("name") != "gbtree":
        raise InvalidInputError(f"XGBoost booster {gb.get('name')!r} is not supported (gbtree only)")
    obj = learner["objective"]["name"]
    params = learner["learner_model_param"]
    nf = int(params["num_feature"])
    K = max(int(params.get("num_class", "0")), 1)
    bs = params["base_score"].strip("[]").split(",")
    base_scores = [np.float32(float(x)) for x in bs]
    if obj == "binary:logistic":
        link = LINK_LOGISTIC
        # XGBoost's ProbToMargin in float32: -logf(1.0f / p - 1.0f), logf correctly rounded
        # (numpy's float32 log may differ by an ulp, so round the double log instead)
        p = base_scores[0]
        q = np.float32(1.0) / p - np.float32(1.0)
        base = [float(-np.float32(math.log(float(q))))]
    elif obj in ("multi:softprob", "multi:softmax"):
        link = LINK_SOFTMAX
        base = [float(b) for b in (base_scores * K if len(base_scores) == 1 else base_scores)]
    else:
        raise InvalidInputError(f"XGBoost objective {obj!r} is not supported")
    model_ = gb["model"]
    info = model_.get("tree_info", [0] * len(model_["trees"]))
    trees, outs = [], []
    gain = np.zeros(nf)
    for ti, tr in enumerate(model_["trees"]):
        if any(int(x) != 0 for x in tr.get("split_type", [])):
            raise InvalidInputError("XGBoost categorical splits are not supported")
        left = [int(x) for x in tr["left_children"]]
        right = [int(x) for x in tr["right_children"]]
        cond = tr["split_conditions"]
        thr = [float(np.nextafter(np.float32(c), np.float32(-np.inf))) if left[i] >= 0 else 0.0
               for i, c in enumerate(cond)]
        nan_right = [not bool(int(d)) for d in tr["default_left"]]
        values = [float(np.float32(c)) for c in cond]
        feats = [int(x) for x in tr["split_indices"]]
        for i, lg in enumerate(tr.get("loss_changes", [])):
            if left[i] >= 0:
                gain[feats[i]] += float(lg)
        trees.append(_Tree(feats, thr, nan_right, left, right, values))
        outs.append(int(info[ti]) if link == LINK_SOFTMAX else 0)
    if len(base) != K:
        raise InvalidInputError("XGBoost base_score does not match num_class")
    return _perfect(trees, outs, base, nf, link, f32=True, acc32=True, gain=gain)

