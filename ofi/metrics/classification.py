"""Classification metrics for model evaluation and model cards, in plain numpy.

Each function computes the same number as its scikit-learn namesake (``sklearn.metrics``,
``sklearn.calibration.calibration_curve``); the unit tests check this on random inputs to 1e-12.
scikit-learn is not a dependency: it is only the oracle of the tests.

Where scikit-learn substitutes a value for an undefined ratio (0/0: precision with no predicted
positives, a confusion-matrix row with no samples), these functions return NaN instead and say so in
their docstrings. The deviations are listed in docs/metrics.md.

Conventions shared by every function:

- Labels are a 1-D array of ints, whole-number floats, bools or strings (not a mix of numbers and
  strings); NaN and None are rejected, and so are fractional floats (probabilities passed where
  labels were expected).
- Columns of an ``(n, K)`` probability matrix belong to ``labels`` in the order given, or, without
  ``labels``, to the sorted distinct values of ``y_true``.
- A 1-D probability vector is the probability of the *positive* class: ``pos_label`` if given,
  else ``labels[1]`` if ``labels`` is given, else the greater of the two classes of ``y_true``.
  When ``y_true`` holds a single class, the positive class is 1 if that class is 0, 1 or -1;
  otherwise ``labels`` or ``pos_label`` must say which class the vector refers to.
- Probabilities must be finite and in [0, 1]; rows of a matrix must sum to 1 within 1e-6.
- ``sample_weight`` (where accepted) is 1-D, finite, >= 0, with a positive sum.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from ofi.errors import InvalidInputError
from ofi.validation import same_length

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

_AVERAGES = ("binary", "micro", "macro", "weighted", None)
_ROW_SUM_TOL = 1e-6
# log_loss clips probabilities to [eps, 1 - eps] with the float64 machine epsilon, as
# sklearn 1.9 does for float64 input (sklearn/metrics/_classification.py, _log_loss).
_EPS = float(np.finfo(np.float64).eps)


# ============================================================================ input checks
def _r(v) -> str:
    """repr of a value for an error message (numpy scalars as plain Python values)."""
    return repr(v.item() if isinstance(v, np.generic) else v)


def _show(values, limit: int = 10) -> str:
    """A short repr of a list of labels for an error message."""
    vals = list(values)
    text = ", ".join(_r(v) for v in vals[:limit])
    return "[" + text + (", ...]" if len(vals) > limit else "]")


def _objects_to_labels(name: str, arr: np.ndarray) -> np.ndarray:
    """An object array of labels as a str or numeric array (all strings or all numbers)."""
    items = arr.tolist()
    if all(isinstance(v, str) for v in items):
        return np.array(items, dtype=str)
    for i, v in enumerate(items):
        if v is None or not isinstance(v, (numbers.Real, np.bool_)) or isinstance(v, str):
            raise InvalidInputError(
                f"{name} must hold class labels that are all numbers or all strings, "
                f"got {_r(v)} at index {i}")
    return np.array(items)


def _labels(name: str, y) -> np.ndarray:
    """``y`` as a 1-D array of class labels (numeric or str), checked."""
    if y is None:
        raise InvalidInputError(f"{name} must be a 1-D array of class labels, got None")
    try:
        arr = np.asarray(y)
    except ValueError as exc:  # ragged nested lists
        raise InvalidInputError(f"{name} must be a 1-D array of class labels: {exc}") from None
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be a 1-D array of class labels, got shape {arr.shape}")
    if arr.dtype.kind in "SU" and not isinstance(y, np.ndarray):
        # numpy turns a list mixing numbers and strings into strings ([0, "a"] -> ["0", "a"])
        arr = np.asarray(y, dtype=object)
    if arr.size == 0:
        raise InvalidInputError(f"{name} must not be empty")
    if arr.dtype.kind == "O":
        arr = _objects_to_labels(name, arr)
    kind = arr.dtype.kind
    if kind in "SU":
        return arr.astype(str)
    if kind == "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InvalidInputError(f"{name} must hold class labels, got {_r(arr[i])} at index {i}")
        frac = arr != np.round(arr)
        if frac.any():
            i = int(np.flatnonzero(frac)[0])
            raise InvalidInputError(
                f"{name} must hold class labels (whole numbers or strings), got {_r(arr[i])} at "
                f"index {i}; pass predicted labels, not probabilities or scores")
        return arr
    if kind not in "biu":
        raise InvalidInputError(f"{name} must hold numbers or strings, got dtype {arr.dtype}")
    return arr


def _is_str(arr: np.ndarray) -> bool:
    return arr.dtype.kind == "U"


def _same_kind(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    if _is_str(a) != _is_str(b):
        raise InvalidInputError(
            f"{name_a} and {name_b} must both be strings or both be numbers, got dtypes "
            f"{a.dtype} and {b.dtype}")


def _labels_param(labels, y_true: np.ndarray) -> np.ndarray | None:
    """The ``labels`` argument: None, or 1-D, non-empty, distinct, of y_true's kind."""
    if labels is None:
        return None
    lab = _labels("labels", labels)
    _same_kind("labels", lab, "y_true", y_true)
    if len(np.unique(lab)) != len(lab):
        raise InvalidInputError(f"labels must be distinct, got {_show(lab)}")
    return lab


def _scalar_label(name: str, value, y_true: np.ndarray):
    """A single label argument (pos_label) of y_true's kind."""
    if value is None or isinstance(value, float) and math.isnan(value):
        raise InvalidInputError(f"{name} must be a class label, got {_r(value)}")
    if isinstance(value, str) != _is_str(y_true) or not isinstance(value, (str, numbers.Real, np.bool_)):
        raise InvalidInputError(
            f"{name} must be a label of the same kind as y_true (dtype {y_true.dtype}), got {value!r}")
    return value


def _encode(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Index of each element of ``y`` in ``classes`` (any order), -1 where absent."""
    order = np.argsort(classes, kind="stable")
    ordered = classes[order]
    pos = np.minimum(np.searchsorted(ordered, y), len(classes) - 1)
    return np.where(ordered[pos] == y, order[pos], -1)


def _require_in(y: np.ndarray, classes: np.ndarray, what: str) -> np.ndarray:
    """Encode y against classes; raise if a value of y_true is not among them."""
    idx = _encode(y, classes)
    if (idx < 0).any():
        i = int(np.flatnonzero(idx < 0)[0])
        raise InvalidInputError(f"y_true[{i}] = {_r(y[i])} is not in {what} {_show(classes)}")
    return idx


def _weights(sample_weight, n: int) -> np.ndarray | None:
    """sample_weight as float64 (n,): finite, >= 0, positive sum; or None."""
    if sample_weight is None:
        return None
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"sample_weight must be an array of numbers: {exc}") from None
    if w.ndim != 1:
        raise InvalidInputError(f"sample_weight must be 1-D, got shape {w.shape}")
    if len(w) != n:
        raise InvalidInputError(f"sample_weight must have one weight per sample ({n}), got {len(w)}")
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(f"sample_weight must be finite and >= 0, got {_r(w[i])} at index {i}")
    if not w.sum() > 0:
        raise InvalidInputError("sample_weight must have a positive sum, got 0")
    return w


def _scores(name: str, x, n: int) -> np.ndarray:
    """Scores: float64, 1-D (n,) or 2-D (n, K >= 2), finite."""
    if x is None:
        raise InvalidInputError(f"{name} must be an array of numbers, got None")
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must be an array of numbers: {exc}") from None
    if arr.ndim not in (1, 2):
        raise InvalidInputError(f"{name} must be 1-D (n,) or 2-D (n, K), got shape {arr.shape}")
    if len(arr) != n:
        raise InvalidInputError(f"{name} must have one row per sample of y_true ({n}), got {len(arr)}")
    if arr.ndim == 2 and arr.shape[1] < 2:
        raise InvalidInputError(
            f"{name} must have at least 2 columns, got shape {arr.shape}; pass a 1-D array for the "
            "probability of the positive class")
    bad = ~np.isfinite(arr)
    if bad.any():
        at = np.unravel_index(int(np.flatnonzero(bad.ravel())[0]), arr.shape)
        raise InvalidInputError(f"{name} must be finite, got {_r(arr[at])} at index {tuple(map(int, at))}")
    return arr


def _check_probabilities(name: str, arr: np.ndarray) -> np.ndarray:
    """Values in [0, 1] and, for a matrix, rows summing to 1 within 1e-6."""
    bad = (arr < 0) | (arr > 1)
    if bad.any():
        at = np.unravel_index(int(np.flatnonzero(bad.ravel())[0]), arr.shape)
        raise InvalidInputError(
            f"{name} must be probabilities in [0, 1], got {_r(arr[at])} at index {tuple(map(int, at))}")
    if arr.ndim == 2:
        off = np.abs(arr.sum(axis=1) - 1.0)
        if (off > _ROW_SUM_TOL).any():
            i = int(np.argmax(off))
            raise InvalidInputError(
                f"rows of {name} must sum to 1 (within {_ROW_SUM_TOL:g}), row {i} sums to "
                f"{_r(arr[i].sum())}")
    return arr


def _probabilities(name: str, x, n: int) -> np.ndarray:
    return _check_probabilities(name, _scores(name, x, n))


def _positive_class(y_true: np.ndarray, labels: np.ndarray | None, pos_label, what: str):
    """The class a 1-D probability / score vector refers to (see the module docstring)."""
    if pos_label is not None:
        pos_label = _scalar_label("pos_label", pos_label, y_true)
    if labels is not None:
        if len(labels) != 2:
            raise InvalidInputError(
                f"{what} is 1-D (one class's probability), so labels must name 2 classes, got "
                f"{_show(labels)}; pass an (n, K) matrix for K classes")
        _require_in(y_true, labels, "labels")
        if pos_label is None:
            return labels[1]
        if pos_label not in labels.tolist():
            raise InvalidInputError(f"pos_label={_r(pos_label)} is not one of labels {_show(labels)}")
        return pos_label
    classes = np.unique(y_true)
    if len(classes) > 2:
        raise InvalidInputError(
            f"{what} is 1-D (one class's probability) but y_true holds {len(classes)} classes "
            f"{_show(classes)}; pass an (n, K) matrix")
    if pos_label is not None:
        if len(classes) == 2 and pos_label not in classes.tolist():
            raise InvalidInputError(f"pos_label={_r(pos_label)} is not one of the classes {_show(classes)}")
        return pos_label
    if len(classes) == 2:
        return classes[1]
    only = classes[0]
    if not _is_str(classes) and only in (0, 1, -1):
        return 1
    raise InvalidInputError(
        f"y_true holds the single class {_r(only)}, so which class {what} refers to is ambiguous; "
        "pass labels=[negative, positive] or pos_label=")


def _nan_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den element-wise, NaN where den == 0 (an undefined ratio, never a made-up value)."""
    out = np.full(np.shape(den), np.nan)
    ok = den != 0
    out[ok] = num[ok] / den[ok]
    return out


def _check_choice(name: str, value, options) -> None:
    if not any(value is o or (o is not None and isinstance(value, str) and value == o) for o in options):
        raise InvalidInputError(f"{name} must be one of {list(options)!r}, got {value!r}")


# ============================================================================ label metrics
def _pair(y_true, y_pred, sample_weight):
    yt = _labels("y_true", y_true)
    yp = _labels("y_pred", y_pred)
    _same_kind("y_true", yt, "y_pred", yp)
    n = same_length(y_true=yt, y_pred=yp)
    return yt, yp, _weights(sample_weight, n)


def accuracy(y_true, y_pred, sample_weight=None) -> float:
    """Fraction of correct predictions, weighted by ``sample_weight``.

    ``accuracy = sum_i w_i [y_true_i == y_pred_i] / sum_i w_i`` (w_i = 1 without weights).
    Same as ``sklearn.metrics.accuracy_score``.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        Class labels (ints, whole-number floats, bools or strings; both of the same kind).
    sample_weight : array-like of shape (n,), float64, optional
        Non-negative weights with a positive sum.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    InvalidInputError
        None, not 1-D, empty, different lengths, NaN or fractional labels, numbers mixed with
        strings, bad weights.
    """
    yt, yp, w = _pair(y_true, y_pred, sample_weight)
    return float(np.average(yt == yp, weights=w))


def _prf(y_true, y_pred, average, pos_label, labels, sample_weight):
    """Per-label true-positive, predicted and true sums, reduced by ``average``: (tp, pred, true)."""
    _check_choice("average", average, _AVERAGES)
    yt, yp, w = _pair(y_true, y_pred, sample_weight)
    present = np.unique(np.concatenate([yt, yp]))
    if average == "binary":
        if len(present) > 2:
            raise InvalidInputError(
                f"average='binary' needs at most 2 classes, y_true and y_pred hold {len(present)} "
                f"{_show(present)}; use average='macro', 'micro', 'weighted' or None")
        pos_label = _scalar_label("pos_label", pos_label, yt)
        if len(present) == 2 and pos_label not in present.tolist():
            raise InvalidInputError(f"pos_label={_r(pos_label)} is not one of the classes {_show(present)}")
        lab = np.array([pos_label])
    else:
        lab = _labels_param(labels, yt)
        if lab is None:
            lab = present
    it = _encode(yt, lab)
    ip = _encode(yp, lab)
    if w is None:
        w = np.ones(len(yt))
    k = len(lab)
    t_in = it >= 0
    p_in = ip >= 0
    hit = t_in & (it == ip)
    true_sum = np.bincount(it[t_in], weights=w[t_in], minlength=k)
    pred_sum = np.bincount(ip[p_in], weights=w[p_in], minlength=k)
    tp_sum = np.bincount(it[hit], weights=w[hit], minlength=k)
    if average == "micro":
        tp_sum, pred_sum, true_sum = (np.array([s.sum()]) for s in (tp_sum, pred_sum, true_sum))
    return tp_sum, pred_sum, true_sum


def _reduce(values: np.ndarray, true_sum: np.ndarray, average):
    """Average per-label values; NaN labels (undefined ratios) are left out of macro / weighted."""
    if average is None:
        return values
    if average in ("binary", "micro"):
        return float(values[0])
    ok = ~np.isnan(values)
    if not ok.any():
        return math.nan
    if average == "macro":
        return float(np.mean(values[ok]))
    wts = true_sum[ok]
    if not wts.sum() > 0:  # only labels without true samples are defined: weighted mean is 0/0
        return math.nan
    return float(np.average(values[ok], weights=wts))


_PRF_PARAMS = """
    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        Class labels (ints, whole-number floats, bools or strings; both of the same kind).
    average : {"binary", "micro", "macro", "weighted", None}, default "binary"
        ``"binary"``: the score of ``pos_label`` (y_true and y_pred may hold at most 2 classes).
        ``"micro"``: from the tp / fp / fn summed over ``labels`` (with all labels of a multiclass
        problem, micro precision = micro recall = micro F1 = accuracy).
        ``"macro"``: unweighted mean of the per-label scores that are defined.
        ``"weighted"``: mean of the defined per-label scores weighted by their true count (support).
        ``None``: the per-label scores, an array of shape (len(labels),).
    pos_label : label, default 1
        The positive class for ``average="binary"``; ignored otherwise.
    labels : array-like of shape (L,), optional
        The labels to score and their order (default: sorted union of y_true and y_pred). Labels
        absent from the data score NaN; samples of other labels still count as false positives /
        negatives of the listed ones. Ignored for ``average="binary"``.
    sample_weight : array-like of shape (n,), float64, optional
        Non-negative weights with a positive sum.

    Returns
    -------
    float, or ndarray of shape (L,), float64 for ``average=None``
        In [0, 1], or NaN where undefined.

    Raises
    ------
    InvalidInputError
        Bad labels or weights (see :func:`accuracy`), an unknown ``average``, more than 2 classes
        with ``average="binary"``, a ``pos_label`` that is not one of the two classes.

    Notes
    -----
    Undefined ratios (0/0) are NaN, never 0: sklearn with its default ``zero_division="warn"``
    returns 0 and warns; these functions return what sklearn returns with ``zero_division=np.nan``,
    except that a ``"weighted"`` mean whose defined labels all have zero support is NaN (sklearn
    falls back to their unweighted mean).
"""


def precision(y_true, y_pred, *, average="binary", pos_label=1, labels=None, sample_weight=None):
    """Precision ``tp / (tp + fp)`` per label, averaged as ``sklearn.metrics.precision_score``.

    NaN for a label that is never predicted (tp + fp = 0).
    """
    tp, pred, true = _prf(y_true, y_pred, average, pos_label, labels, sample_weight)
    return _reduce(_nan_ratio(tp, pred), true, average)


def recall(y_true, y_pred, *, average="binary", pos_label=1, labels=None, sample_weight=None):
    """Recall ``tp / (tp + fn)`` per label, averaged as ``sklearn.metrics.recall_score``.

    NaN for a label that never occurs in y_true (tp + fn = 0).
    """
    tp, pred, true = _prf(y_true, y_pred, average, pos_label, labels, sample_weight)
    return _reduce(_nan_ratio(tp, true), true, average)


def f1(y_true, y_pred, *, average="binary", pos_label=1, labels=None, sample_weight=None):
    """F1 ``2 tp / (2 tp + fp + fn)`` per label (the harmonic mean of precision and recall),
    averaged as ``sklearn.metrics.f1_score``.

    NaN for a label neither predicted nor present (2 tp + fp + fn = 0). A label with tp = 0 that
    is predicted or present scores 0 even if its precision or recall is undefined (as sklearn).
    """
    tp, pred, true = _prf(y_true, y_pred, average, pos_label, labels, sample_weight)
    return _reduce(_nan_ratio(2.0 * tp, true + pred), true, average)


for _fn in (precision, recall, f1):  # one shared parameter section (docstrings are None under -OO)
    if _fn.__doc__ is not None:
        _fn.__doc__ += _PRF_PARAMS
del _fn


def confusion_matrix(y_true, y_pred, *, labels=None, normalize=None, sample_weight=None) -> np.ndarray:
    """Confusion matrix ``C[i, j]`` = (weighted) count of samples of true class ``labels[i]``
    predicted as ``labels[j]``, as ``sklearn.metrics.confusion_matrix``.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        Class labels (ints, whole-number floats, bools or strings; both of the same kind).
    labels : array-like of shape (L,), optional
        Row / column order (default: sorted union of y_true and y_pred). Samples whose true or
        predicted label is not listed are left out. At least one label must occur in y_true.
    normalize : {None, "true", "pred", "all"}
        Divide by the row sums (``"true"``: rows are recalls), the column sums (``"pred"``:
        columns are precisions) or the total.
    sample_weight : array-like of shape (n,), optional
        Non-negative weights with a positive sum.

    Returns
    -------
    ndarray of shape (L, L)
        int64 counts without ``normalize`` (float64 if ``sample_weight`` is not integer);
        float64 with ``normalize``, where a row (column) without samples is NaN. sklearn
        returns 0 there.

    Raises
    ------
    InvalidInputError
        Bad labels or weights (see :func:`accuracy`), no listed label in y_true, unknown ``normalize``.
    """
    _check_choice("normalize", normalize, (None, "true", "pred", "all"))
    yt, yp, w = _pair(y_true, y_pred, sample_weight)
    lab = _labels_param(labels, yt)
    if lab is None:
        lab = np.unique(np.concatenate([yt, yp]))
    it = _encode(yt, lab)
    ip = _encode(yp, lab)
    if not (it >= 0).any():
        raise InvalidInputError(f"at least one of labels {_show(lab)} must occur in y_true")
    keep = (it >= 0) & (ip >= 0)
    k = len(lab)
    flat = it[keep] * k + ip[keep]
    integer_counts = w is None or np.asarray(sample_weight).dtype.kind in "biu"
    if w is None:
        cm = np.bincount(flat, minlength=k * k).astype(np.int64)
    else:
        cm = np.bincount(flat, weights=w[keep], minlength=k * k)
        if integer_counts:
            cm = np.rint(cm).astype(np.int64)
    cm = cm.reshape(k, k)
    if normalize is None:
        return cm
    with np.errstate(invalid="ignore", divide="ignore"):
        if normalize == "true":
            return cm / cm.sum(axis=1, keepdims=True)
        if normalize == "pred":
            return cm / cm.sum(axis=0, keepdims=True)
        return cm / cm.sum()


# ============================================================================ scores and probabilities
def _binary_auc(is_pos: np.ndarray, score: np.ndarray, w: np.ndarray | None) -> float:
    """Area under the ROC curve of one binary problem; NaN without positives or negatives.

    Trapezoids between the (FPR, TPR) points at each distinct score, like sklearn's roc_curve +
    auc: tied scores form one step, which counts a tied positive/negative pair as 1/2.
    """
    if w is not None:
        keep = w != 0
        is_pos, score, w = is_pos[keep], score[keep], w[keep]
    order = np.argsort(score, kind="stable")[::-1]
    s = score[order]
    y = is_pos[order].astype(np.float64)
    ww = np.ones(len(y)) if w is None else w[order]
    ends = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tps = np.cumsum(y * ww)[ends]
    fps = np.cumsum((1.0 - y) * ww)[ends]
    if len(tps) == 0 or tps[-1] <= 0 or fps[-1] <= 0:
        return math.nan
    tpr = np.r_[0.0, tps / tps[-1]]
    fpr = np.r_[0.0, fps / fps[-1]]
    return float(np.trapezoid(tpr, fpr))


def roc_auc(y_true, y_score, *, multi_class="ovr", average="macro", labels=None, sample_weight=None):
    """Area under the ROC curve, as ``sklearn.metrics.roc_auc_score``.

    Binary: the probability that a random positive scores above a random negative, ties counting
    1/2 (Mann-Whitney U / (n_pos n_neg)), computed with trapezoids over the ROC curve.
    Multiclass, ``multi_class="ovr"``: the AUC of each class against the rest, averaged
    (``"macro"``: plain mean; ``"weighted"``: by class support; ``"micro"``: one AUC over the
    flattened one-hot targets and scores). ``multi_class="ovo"``: Hand & Till (2001),
    ``M = mean over class pairs (a, b) of (A(a|b) + A(b|a)) / 2``, where A(a|b) is the AUC of
    column a among samples of class a or b; ``"weighted"`` weights each pair by its share of samples.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Class labels.
    y_score : array-like of shape (n,) or (n, K), float64
        1-D: a score (any finite real: probability, decision function) of the positive class (see
        the module docstring). 2-D: class probabilities, one column per label, rows summing to 1;
        with K = 2 column 1 is used as the positive-class score.
    multi_class : {"ovr", "ovo"}, default "ovr"
        Multiclass scheme (K >= 3 only).
    average : {"macro", "weighted", "micro", None}, default "macro"
        Multiclass averaging; ``"micro"`` and ``None`` (per-class AUCs, shape (K,)) are ovr only.
    labels : array-like of shape (K,) or (2,), optional
        Classes of the columns of y_score, in column order (default: sorted classes of y_true).
    sample_weight : array-like of shape (n,), optional
        Non-negative weights with a positive sum; not supported with ``multi_class="ovo"``.

    Returns
    -------
    float, or ndarray of shape (K,), float64 for ``average=None``
        In [0, 1]. NaN when y_true holds a single class; with ovr ``"macro"`` (or per class),
        NaN when a class of ``labels`` does not occur in y_true.

    Raises
    ------
    InvalidInputError
        Bad labels, scores or weights; a 1-D score with more than 2 classes; a matrix whose column
        count differs from the number of classes; unknown ``multi_class`` / ``average``.
    """
    yt = _labels("y_true", y_true)
    n = len(yt)
    score = _scores("y_score", y_score, n)
    if score.ndim == 2:
        _check_probabilities("y_score", score)
    w = _weights(sample_weight, n)
    lab = _labels_param(labels, yt)
    if score.ndim == 1 or score.shape[1] == 2:
        if score.ndim == 2:
            classes = lab if lab is not None else np.unique(yt)
            if len(classes) != 2:
                raise InvalidInputError(
                    f"y_score has 2 columns but there are {len(classes)} classes {_show(classes)}")
            _require_in(yt, classes, "labels" if lab is not None else "the classes")
            pos, col = classes[1], score[:, 1]
        else:
            if lab is None and len(np.unique(yt)) == 1:
                return math.nan
            pos, col = _positive_class(yt, lab, None, "y_score"), score
        return _binary_auc(yt == pos, col, w)

    _check_choice("multi_class", multi_class, ("ovr", "ovo"))
    allowed = ("macro", "weighted", "micro", None) if multi_class == "ovr" else ("macro", "weighted")
    _check_choice("average", average, allowed)
    k = score.shape[1]
    classes = lab if lab is not None else np.unique(yt)
    if len(classes) != k:
        raise InvalidInputError(
            f"y_score has {k} columns but {'labels name' if lab is not None else 'y_true holds'} "
            f"{len(classes)} classes {_show(classes)}"
            + ("" if lab is not None else "; pass labels= to name the classes of the columns"))
    idx = _require_in(yt, classes, "labels" if lab is not None else "the classes")
    if multi_class == "ovo":
        if w is not None:
            raise InvalidInputError("sample_weight is not supported with multi_class='ovo', got weights")
        present = np.unique(idx)
        pair_scores, prevalence = [], []
        for a, b in combinations(present.tolist(), 2):
            ab = (idx == a) | (idx == b)
            a_vs_b = _binary_auc(idx[ab] == a, score[ab, a], None)
            b_vs_a = _binary_auc(idx[ab] == b, score[ab, b], None)
            pair_scores.append((a_vs_b + b_vs_a) / 2)
            prevalence.append(np.mean(ab))
        if not pair_scores:
            return math.nan
        return float(np.average(pair_scores, weights=prevalence if average == "weighted" else None))

    onehot = idx[:, None] == np.arange(k)
    if average == "micro":
        return _binary_auc(onehot.ravel(), score.ravel(), None if w is None else np.repeat(w, k))
    per_class = np.array([_binary_auc(onehot[:, c], score[:, c], w) for c in range(k)])
    if average is None:
        return per_class
    if average == "macro":
        return float(np.mean(per_class))
    support = onehot.sum(axis=0) if w is None else (onehot * w[:, None]).sum(axis=0)
    per_class[support == 0] = 0.0  # absent classes carry no weight (their NaN would leak otherwise)
    return float(np.average(per_class, weights=support))


def _proba_targets(y_true, proba, labels, pos_label, sample_weight):
    """(one-hot targets (n, K) float64, probabilities (n, K) float64, weights) for a proba metric."""
    yt = _labels("y_true", y_true)
    n = len(yt)
    p = _probabilities("proba", proba, n)
    w = _weights(sample_weight, n)
    lab = _labels_param(labels, yt)
    if p.ndim == 1:
        pos = _positive_class(yt, lab, pos_label, "proba")
        t = (yt == pos).astype(np.float64)
        return np.column_stack([1.0 - t, t]), np.column_stack([1.0 - p, p]), w
    if pos_label is not None:
        raise InvalidInputError(
            f"pos_label is only used with a 1-D proba, got pos_label={_r(pos_label)} with proba of "
            f"shape {p.shape}; the columns follow labels")
    classes = lab if lab is not None else np.unique(yt)
    k = p.shape[1]
    if len(classes) != k:
        raise InvalidInputError(
            f"proba has {k} columns but {'labels name' if lab is not None else 'y_true holds'} "
            f"{len(classes)} classes {_show(classes)}"
            + ("" if lab is not None else "; pass labels= to name the classes of the columns"))
    idx = _require_in(yt, classes, "labels" if lab is not None else "the classes")
    return (idx[:, None] == np.arange(k)).astype(np.float64), p, w


def log_loss(y_true, proba, *, labels=None, sample_weight=None, pos_label=None) -> float:
    """Mean negative log-likelihood (cross-entropy), natural log, as ``sklearn.metrics.log_loss``.

    ``L = - sum_i w_i log(clip(p_i[y_i], eps, 1 - eps)) / sum_i w_i`` with ``p_i[y_i]`` the
    probability given to the true class and ``eps = 2.22e-16`` (float64 machine epsilon), the
    clipping of sklearn 1.9. A 1-D ``proba`` p gives ``[1 - p, p]``.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Class labels.
    proba : array-like of shape (n,) or (n, K), float64
        Probability of the positive class (1-D), or one column per label (rows sum to 1 within 1e-6).
    labels : array-like of shape (K,), optional
        Classes of the columns, in column order (default: sorted classes of y_true). Needed when
        y_true does not hold every class of the matrix.
    sample_weight : array-like of shape (n,), optional
        Non-negative weights with a positive sum.
    pos_label : label, optional
        Class of a 1-D ``proba`` (see the module docstring). Not allowed with a matrix.

    Returns
    -------
    float
        >= 0, at most -log(eps) = 36.04 per sample.

    Raises
    ------
    InvalidInputError
        Bad labels, probabilities or weights; a class count that does not match the columns; a
        y_true label outside ``labels``; a single-class y_true whose class is ambiguous.
    """
    t, p, w = _proba_targets(y_true, proba, labels, pos_label, sample_weight)
    p_true = p[t.astype(bool)]
    return float(np.average(-np.log(np.clip(p_true, _EPS, 1.0 - _EPS)), weights=w))


def brier_score(y_true, proba, *, labels=None, pos_label=None, sample_weight=None) -> float:
    """Brier score, as ``sklearn.metrics.brier_score_loss`` (default ``scale_by_half="auto"``).

    ``B = sum_i w_i sum_k (y_ik - p_ik)^2 / sum_i w_i`` over one-hot targets y, halved for two
    classes. Binary (1-D p of the positive class, or an (n, 2) matrix):
    ``B = mean((1[y == pos] - p)^2)``, in [0, 1]. Multiclass (K >= 3): in [0, 2], not halved.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Class labels.
    proba : array-like of shape (n,) or (n, K), float64
        Probability of the positive class (1-D), or one column per label (rows sum to 1 within 1e-6).
    labels : array-like of shape (K,), optional
        Classes of the columns, in column order (default: sorted classes of y_true).
    pos_label : label, optional
        Class of a 1-D ``proba`` (see the module docstring). Not allowed with a matrix.
    sample_weight : array-like of shape (n,), optional
        Non-negative weights with a positive sum.

    Returns
    -------
    float

    Raises
    ------
    InvalidInputError
        As :func:`log_loss`.
    """
    t, p, w = _proba_targets(y_true, proba, labels, pos_label, sample_weight)
    score = float(np.average(((t - p) ** 2).sum(axis=1), weights=w))
    # Two classes: both columns carry the same squared error (up to rounding; a given (n, 2)
    # matrix is used as is, like sklearn), so half the sum is the positive class's error.
    return 0.5 * score if p.shape[1] == 2 else score


# ============================================================================ calibration
@dataclass(frozen=True)
class CalibrationTable:
    """Reliability table of a binary classifier: one row per probability bin.

    Bin b holds the samples with ``lower[b] < p <= upper[b]`` (the first bin also includes
    ``p == lower[0]``), the binning of ``sklearn.calibration.calibration_curve``.

    Attributes
    ----------
    lower, upper : ndarray of shape (n_bins,), float64
        Bin edges. With ``strategy="quantile"`` neighbouring edges may coincide (empty bins).
    count : ndarray of shape (n_bins,), int64
        Samples per bin.
    mean_predicted : ndarray of shape (n_bins,), float64
        Mean predicted probability in the bin; NaN for an empty bin.
    observed_frequency : ndarray of shape (n_bins,), float64
        Fraction of positives in the bin; NaN for an empty bin.
    strategy : str
        ``"uniform"`` or ``"quantile"``.
    """

    lower: np.ndarray
    upper: np.ndarray
    count: np.ndarray
    mean_predicted: np.ndarray
    observed_frequency: np.ndarray
    strategy: str

    @property
    def n_bins(self) -> int:
        return len(self.count)

    @property
    def prob_true(self) -> np.ndarray:
        """Observed frequency of the non-empty bins, shape (m,): sklearn's ``prob_true``."""
        return self.observed_frequency[self.count > 0]

    @property
    def prob_pred(self) -> np.ndarray:
        """Mean predicted probability of the non-empty bins, shape (m,): sklearn's ``prob_pred``."""
        return self.mean_predicted[self.count > 0]

    def to_dict(self) -> dict:
        """Plain lists for JSON (NaN of empty bins becomes None)."""
        def clean(a):
            return [None if isinstance(v, float) and math.isnan(v) else v for v in a.tolist()]
        return {"strategy": self.strategy, "lower": clean(self.lower), "upper": clean(self.upper),
                "count": self.count.tolist(), "mean_predicted": clean(self.mean_predicted),
                "observed_frequency": clean(self.observed_frequency)}


def calibration_table(y_true, proba, *, n_bins=10, strategy="uniform", pos_label=None) -> CalibrationTable:
    """Per-bin predicted probability against observed frequency of a binary classifier.

    Edges: ``"uniform"``: ``linspace(0, 1, n_bins + 1)``; ``"quantile"``: the
    ``linspace(0, 100, n_bins + 1)`` percentiles of ``proba`` (linear interpolation). For each bin,
    ``mean_predicted = mean(p)`` and ``observed_frequency = mean(1[y == pos])`` over its samples.
    The non-empty bins' ``(prob_true, prob_pred)`` equal ``sklearn.calibration.calibration_curve``.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Class labels, at most 2 classes.
    proba : array-like of shape (n,), float64
        Predicted probability of the positive class (see the module docstring), in [0, 1].
    n_bins : int, default 10
        Number of bins, >= 1.
    strategy : {"uniform", "quantile"}, default "uniform"
    pos_label : label, optional
        The positive class.

    Returns
    -------
    CalibrationTable

    Raises
    ------
    InvalidInputError
        Bad labels or probabilities, a 2-D proba, more than 2 classes, n_bins < 1, unknown strategy.
    """
    _check_choice("strategy", strategy, ("uniform", "quantile"))
    if isinstance(n_bins, bool) or not isinstance(n_bins, numbers.Integral) or n_bins < 1:
        raise InvalidInputError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    n_bins = int(n_bins)
    yt = _labels("y_true", y_true)
    p = _probabilities("proba", proba, len(yt))
    if p.ndim != 1:
        raise InvalidInputError(f"proba must be 1-D (probability of the positive class), got shape {p.shape}")
    pos = _positive_class(yt, None, pos_label, "proba")
    is_pos = yt == pos
    if strategy == "quantile":
        edges = np.percentile(p, np.linspace(0, 1, n_bins + 1) * 100)
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    bin_of = np.searchsorted(edges[1:-1], p)
    count = np.bincount(bin_of, minlength=n_bins)
    sum_p = np.bincount(bin_of, weights=p, minlength=n_bins)
    sum_pos = np.bincount(bin_of, weights=is_pos, minlength=n_bins)
    return CalibrationTable(lower=edges[:-1].copy(), upper=edges[1:].copy(), count=count.astype(np.int64),
                            mean_predicted=_nan_ratio(sum_p, count),
                            observed_frequency=_nan_ratio(sum_pos, count), strategy=strategy)


# ============================================================================ report
def _json_float(x) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def classification_report(y_true, proba, *, threshold=None, labels=None) -> dict:
    """The headline metrics of a probabilistic classifier, as a JSON-ready dict for model cards.

    Predicted labels: binary, ``positive if p >= threshold`` (default 0.5) with p the 1-D proba
    or column 1 of an (n, 2) matrix; multiclass, the column of the largest probability (first on
    ties). Precision, recall and F1 are macro averages over all classes (undefined per-class
    ratios left out, see :func:`precision`); ``roc_auc`` is binary or one-vs-rest macro; ``brier``
    is in [0, 1] for 2 classes and [0, 2] for more (as :func:`brier_score`).

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Class labels.
    proba : array-like of shape (n,) or (n, K), float64
        Probability of the positive class (``labels[1]`` / the greater class), or one column per class.
    threshold : float in [0, 1], optional
        Decision threshold for 2 classes; not allowed for K >= 3.
    labels : array-like of shape (K,), optional
        All classes, in column order (default: sorted classes of y_true, which must then hold
        every class).

    Returns
    -------
    dict
        ``n`` (int), ``labels`` (list), ``threshold`` (float or None), ``accuracy``,
        ``precision_macro``, ``recall_macro``, ``f1_macro``, ``roc_auc``, ``log_loss``, ``brier``
        (floats; None where undefined, e.g. ROC AUC of a single-class y_true, so the dict passes
        ``json.dumps(..., allow_nan=False)``), ``confusion_matrix`` (list of K lists of int,
        rows true, columns predicted).

    Raises
    ------
    InvalidInputError
        As the metrics above; fewer than 2 classes without ``labels``; a threshold outside [0, 1]
        or given for K >= 3.
    """
    yt = _labels("y_true", y_true)
    p = _probabilities("proba", proba, len(yt))
    lab = _labels_param(labels, yt)
    classes = lab if lab is not None else np.unique(yt)
    k = 2 if p.ndim == 1 else p.shape[1]
    if len(classes) != k:
        raise InvalidInputError(
            f"proba has {k} {'classes' if p.ndim == 1 else 'columns'} but "
            f"{'labels name' if lab is not None else 'y_true holds'} {len(classes)} classes "
            f"{_show(classes)}" + ("" if lab is not None else "; pass labels= to name all classes"))
    _require_in(yt, classes, "labels" if lab is not None else "the classes")
    if threshold is not None:
        if k > 2:
            raise InvalidInputError(f"threshold is for 2 classes, proba has {k} columns (argmax is used)")
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0 <= threshold <= 1:
            raise InvalidInputError(f"threshold must be a number in [0, 1], got {threshold!r}")
    if k == 2:
        threshold = 0.5 if threshold is None else float(threshold)
        p_pos = p if p.ndim == 1 else p[:, 1]
        y_pred = np.where(p_pos >= threshold, classes[1], classes[0])
    else:
        y_pred = classes[np.argmax(p, axis=1)]
    macro = dict(average="macro", labels=classes)
    return {
        "n": int(len(yt)),
        "labels": classes.tolist(),
        "threshold": threshold,
        "accuracy": _json_float(accuracy(yt, y_pred)),
        "precision_macro": _json_float(precision(yt, y_pred, **macro)),
        "recall_macro": _json_float(recall(yt, y_pred, **macro)),
        "f1_macro": _json_float(f1(yt, y_pred, **macro)),
        "roc_auc": _json_float(roc_auc(yt, p, labels=classes)),
        "log_loss": _json_float(log_loss(yt, p, labels=classes)),
        "brier": _json_float(brier_score(yt, p, labels=classes)),
        "confusion_matrix": confusion_matrix(yt, y_pred, labels=classes).tolist(),
    }
