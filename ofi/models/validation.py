"""Validation without look-ahead: purged walk-forward and purged k-fold cross-validation with an
embargo, per-fold scoring of a model, and point-in-time checks on feature and label times.

Labels of neighbouring samples overlap in time (a 60 s forward move at t and at t + 1 s share 59 s
of prices), so an ordinary shuffled k-fold trains on samples whose labels contain the test labels
and scores far too high. The splitters here remove such samples ("purging") and, where a model
could otherwise see the aftermath of the test period, a further margin ("embargo"), following
Lopez de Prado, *Advances in Financial Machine Learning* (2018), ch. 7. Formulas and a worked
example: docs/validation.md.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ofi._progress import Progress, Reporter
from ofi.errors import InvalidInputError, LeakageError
from ofi.metrics.classification import accuracy, log_loss, roc_auc
from ofi.validation import float_array, int_array, positive_int

__all__ = [
    "Fold",
    "PurgedWalkForward",
    "PurgedKFold",
    "cross_validate",
    "check_point_in_time",
    "check_label_times",
    "DEFAULT_METRICS",
]

_INT64_MIN = int(np.iinfo(np.int64).min)
_INT64_MAX = int(np.iinfo(np.int64).max)


# ------------------------------------------------------------------------------------------ folds
@dataclass(frozen=True, eq=False)
class Fold:
    """One train/test split, with what purging and the embargo removed.

    All index arrays are int64 positions in the caller's arrays (not in time order), ascending;
    ``train``, ``test``, ``purged`` and ``embargoed`` are disjoint.

    Attributes
    ----------
    fold : int
        Fold number k (0-based; a walk-forward fold skipped for ``min_train_size`` leaves a gap).
    train : ndarray of int64, shape (n_train,)
        Training samples after purging and the embargo.
    test : ndarray of int64, shape (n_test,)
        Test samples (one contiguous block in t0 order).
    purged : ndarray of int64
        Candidate training samples whose label window [t0, t1] overlaps the test window.
    embargoed : ndarray of int64
        Candidate training samples not purged but within ``embargo_ns`` of the test window.
    test_start_ns, test_end_ns : int
        The test window: min t0 and max t1 over the test samples (ns).
    """

    fold: int
    train: np.ndarray
    test: np.ndarray
    purged: np.ndarray
    embargoed: np.ndarray
    test_start_ns: int
    test_end_ns: int

    @property
    def n_train(self) -> int:
        return len(self.train)

    @property
    def n_test(self) -> int:
        return len(self.test)

    @property
    def n_purged(self) -> int:
        return len(self.purged)

    @property
    def n_embargoed(self) -> int:
        return len(self.embargoed)

    def __repr__(self) -> str:
        return (f"Fold({self.fold}, n_train={self.n_train}, n_test={self.n_test}, n_purged={self.n_purged}, "
                f"n_embargoed={self.n_embargoed}, test=[{self.test_start_ns}, {self.test_end_ns}] ns)")


def _label_times(t0, t1) -> tuple[np.ndarray, np.ndarray]:
    a = int_array("t0", t0)
    b = int_array("t1", t1)
    if len(a) != len(b):
        raise InvalidInputError(f"t0 and t1 must have the same length, got t0={len(a)}, t1={len(b)}")
    bad = b < a
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(f"t1 must be >= t0 (a label is known at or after its sample), got "
                                f"t1[{i}] = {b[i]} < t0[{i}] = {a[i]}")
    return a, b


def _embargo(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InvalidInputError(f"embargo_ns must be an integer >= 0 (ns), got {value!r}")
    return int(value)


def _clip64(v: int) -> np.int64:
    return np.int64(min(max(v, _INT64_MIN), _INT64_MAX))


class _PurgedSplitter:
    n_splits: int
    embargo_ns: int

    def _n_groups(self) -> int:
        raise NotImplementedError

    def get_n_splits(self, *args: Any, **kwargs: Any) -> int:
        """The number of folds (before any walk-forward fold is skipped for ``min_train_size``)."""
        return self.n_splits

    def _groups(self, t0, t1):
        a, b = _label_times(t0, t1)
        n, g = len(a), self._n_groups()
        if n < g:
            raise InvalidInputError(f"t0 has {n} samples; {self!r} cuts them into {g} groups and needs at "
                                    f"least {g}")
        order = np.argsort(a, kind="stable").astype(np.int64)
        bounds = np.array([len(c) for c in np.array_split(np.arange(n), g)]).cumsum()
        bounds = np.concatenate([[0], bounds])
        return a, b, order, bounds

    def folds(self, t0, t1) -> list[Fold]:
        """All folds, with the purged and embargoed samples of each.

        Parameters
        ----------
        t0 : array_like of int64, shape (n,)
            Sample times (ns), in any order (samples are grouped in stable t0 order).
        t1 : array_like of int64, shape (n,)
            Label end times (ns), ``t1 >= t0`` (``LabelSet.t1``).

        Returns
        -------
        list of Fold

        Raises
        ------
        InvalidInputError
            Unequal lengths, ``t1 < t0``, fewer samples than groups, or (walk-forward) no fold
            with ``min_train_size`` training samples.
        """
        raise NotImplementedError

    def split(self, t0, t1) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_idx, test_idx)`` int64 arrays per fold (see :meth:`folds`)."""
        for f in self.folds(t0, t1):
            yield f.train, f.test

    @staticmethod
    def _make(k, order, cand_pos, test_pos, a, b, purge, embargo) -> Fold:
        test = np.sort(order[test_pos])
        cand = order[cand_pos]
        return Fold(fold=k, train=np.sort(cand[~purge & ~embargo]), test=test,
                    purged=np.sort(cand[purge]), embargoed=np.sort(cand[embargo & ~purge]),
                    test_start_ns=int(a[test].min()), test_end_ns=int(b[test].max()))


class PurgedWalkForward(_PurgedSplitter):
    """Expanding-window walk-forward cross-validation with purging and an embargo gap.

    The n samples, sorted by t0, are cut into ``n_splits + 1`` contiguous groups G_0 .. G_{n_splits}
    of nearly equal size (``np.array_split``). Fold k (k = 0 .. n_splits - 1) tests G_{k+1} and trains
    on G_0 .. G_k, minus

    * purged samples: label window overlapping the test window [T0, T1] (T0 = min t0, T1 = max t1
      of the test samples), i.e. ``t1 >= T0`` (their t0 is <= T0 already): their labels read
      prices of the test period;
    * embargoed samples: not purged, but ``T0 - embargo_ns <= t1 < T0``.

    Parameters
    ----------
    n_splits : int
        Number of folds, >= 2.
    embargo_ns : int
        Gap (ns, >= 0) between the last training label and the test start. With nothing trained
        after the test there is no aftermath to hide (the AFML embargo removes nothing here); the
        gap instead makes each fold look like a model retrained ``embargo_ns`` before it trades
        (deployment delay) and keeps slow features of the first test samples from sharing their
        lookback with the last training labels. Measured on t1 (when the label became known), not
        t0: a sample that starts before the gap but whose label is only known inside it would
        otherwise slip through.
    min_train_size : int
        Folds with fewer training samples (after purging and the embargo) are skipped; their fold
        number is not reused.

    Examples
    --------
    >>> cv = PurgedWalkForward(4, embargo_ns=10)
    >>> t0 = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]
    >>> t1 = [15, 42, 35, 45, 55, 65, 75, 85, 95, 105]
    >>> folds = cv.folds(t0, t1)
    >>> [f.fold for f in folds]           # fold 0 would keep no training sample: skipped
    [1, 2, 3]
    >>> f = folds[0]                      # fold 1 tests samples 4, 5: window [40, 65]
    >>> f.train.tolist(), f.purged.tolist(), f.embargoed.tolist()
    ([0], [1, 3], [2])
    """

    def __init__(self, n_splits: int = 5, *, embargo_ns: int = 0, min_train_size: int = 1):
        self.n_splits = positive_int("n_splits", n_splits, minimum=2)
        self.embargo_ns = _embargo(embargo_ns)
        self.min_train_size = positive_int("min_train_size", min_train_size)

    def _n_groups(self) -> int:
        return self.n_splits + 1

    def __repr__(self) -> str:
        return (f"PurgedWalkForward(n_splits={self.n_splits}, embargo_ns={self.embargo_ns}, "
                f"min_train_size={self.min_train_size})")

    def folds(self, t0, t1) -> list[Fold]:
        a, b, order, bounds = self._groups(t0, t1)
        out = []
        for k in range(self.n_splits):
            test_pos = np.arange(bounds[k + 1], bounds[k + 2])
            cand_pos = np.arange(0, bounds[k + 1])
            ta = a[order[test_pos]].min()
            c1 = b[order[cand_pos]]
            purge = c1 >= ta
            embargo = c1 >= _clip64(int(ta) - self.embargo_ns)
            f = self._make(k, order, cand_pos, test_pos, a, b, purge, embargo)
            if f.n_train >= self.min_train_size:
                out.append(f)
        if not out:
            raise InvalidInputError(f"no fold of {self!r} keeps min_train_size={self.min_train_size} training "
                                    f"samples after purging and the embargo ({len(a)} samples)")
        return out


class PurgedKFold(_PurgedSplitter):
    """K-fold cross-validation with purging and an embargo (AFML 7.4).

    The n samples, sorted by t0, are cut into ``n_splits`` contiguous groups. Fold k tests G_k and
    trains on every other group, minus

    * purged samples: label window [t0, t1] overlapping the test window [T0, T1]
      (``t0 <= T1 and t1 >= T0``), on either side of the test block;
    * embargoed samples: not purged and ``T1 < t0 <= T1 + embargo_ns`` (only *after* the test).

    The embargo is one-sided: features are computed from the past, so the samples just after a test
    block carry the test period in their features (rolling windows, EMAs); samples before it see
    nothing of the test period once purged.

    Parameters
    ----------
    n_splits : int
        Number of folds, >= 2.
    embargo_ns : int
        Embargo after each test window (ns, >= 0); about the longest feature lookback.
    """

    def __init__(self, n_splits: int = 5, *, embargo_ns: int = 0):
        self.n_splits = positive_int("n_splits", n_splits, minimum=2)
        self.embargo_ns = _embargo(embargo_ns)

    def _n_groups(self) -> int:
        return self.n_splits

    def __repr__(self) -> str:
        return f"PurgedKFold(n_splits={self.n_splits}, embargo_ns={self.embargo_ns})"

    def folds(self, t0, t1) -> list[Fold]:
        a, b, order, bounds = self._groups(t0, t1)
        n = len(a)
        out = []
        for k in range(self.n_splits):
            test_pos = np.arange(bounds[k], bounds[k + 1])
            cand_pos = np.concatenate([np.arange(0, bounds[k]), np.arange(bounds[k + 1], n)])
            test = order[test_pos]
            ta, tb = a[test].min(), b[test].max()
            c0, c1 = a[order[cand_pos]], b[order[cand_pos]]
            purge = (c0 <= tb) & (c1 >= ta)
            embargo = (c0 > tb) & (c0 <= _clip64(int(tb) + self.embargo_ns))
            out.append(self._make(k, order, cand_pos, test_pos, a, b, purge, embargo))
        return out


# ------------------------------------------------------------------------------------------ scoring
def _accuracy(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    """Share of test samples whose most probable class is the true one (ties: the first class)."""
    return accuracy(y, classes[np.argmax(proba, axis=1)])


def _log_loss(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    """Mean negative log-likelihood (natural log) of the true class, p clipped to [eps, 1 - eps]."""
    return log_loss(y, proba, labels=classes)


def _roc_auc(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    """Binary ROC AUC of the second class; with more classes the macro mean of the one-vs-rest AUCs
    of the classes present in the test fold. NaN when no class has both positives and negatives."""
    if len(classes) == 2:
        return float(roc_auc(y, proba, labels=classes))
    per_class = np.asarray(roc_auc(y, proba, multi_class="ovr", average=None, labels=classes), dtype=np.float64)
    present = per_class[~np.isnan(per_class)]
    return float(present.mean()) if present.size else math.nan


#: The metrics every fold reports: name -> f(y_true, proba, classes) -> float, with ``proba`` of
#: shape (n_test, n_classes) in the column order of ``classes``.
DEFAULT_METRICS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray], float]] = {
    "accuracy": _accuracy,
    "log_loss": _log_loss,
    "roc_auc": _roc_auc,
}


def _aligned_proba(model: Any, proba: Any, y_train: np.ndarray, classes: np.ndarray, n_test: int,
                   k: int) -> np.ndarray:
    """predict_proba columns moved to the columns of ``classes`` (0 for a class the fold's model never saw)."""
    p = np.asarray(proba, dtype=np.float64)
    model_classes = np.asarray(getattr(model, "classes_", np.unique(y_train)))
    if p.shape != (n_test, len(model_classes)):
        raise InvalidInputError(f"fold {k}: predict_proba returned shape {p.shape}, expected "
                                f"({n_test}, {len(model_classes)}) for classes {model_classes.tolist()}")
    pos = np.searchsorted(classes, model_classes)
    if (pos >= len(classes)).any() or (classes[np.minimum(pos, len(classes) - 1)] != model_classes).any():
        raise InvalidInputError(f"fold {k}: the model's classes_ {model_classes.tolist()} are not among the "
                                f"labels {classes.tolist()}")
    out = np.zeros((n_test, len(classes)))
    out[:, pos] = p
    return out


def cross_validate(make_model: Callable[[], Any], X, y, t0, t1, cv, *,
                   metrics: Mapping[str, Callable[[np.ndarray, np.ndarray, np.ndarray], float]] | None = None,
                   sample_weight=None, progress: Progress = None) -> list[dict[str, Any]]:
    """Fit a fresh model per fold and score it on the fold's test samples.

    Parameters
    ----------
    make_model : callable
        ``make_model()`` returns an unfitted model with ``fit(X, y)`` (and ``sample_weight=`` when
        weights are given) and ``predict_proba(X)``; its ``classes_`` (sklearn convention; default
        the sorted training labels) name the probability columns.
    X : array_like of float64, shape (n, n_features)
        Feature rows (NaN allowed if the model takes them).
    y : array_like of int, shape (n,)
        Labels (``LabelSet.y[valid]``); at least two distinct values.
    t0, t1 : array_like of int64, shape (n,)
        Sample times and label end times (ns), ``LabelSet.t0`` / ``LabelSet.t1``.
    cv : PurgedWalkForward, PurgedKFold or a scikit-learn splitter
        An object with ``folds(t0, t1)`` (ours), else one with ``split(X, y)`` (e.g. ``KFold``:
        no purging, ``n_purged = n_embargoed = 0``; for comparisons only).
    metrics : mapping, optional
        Extra metrics ``name -> f(y_true, proba, classes) -> float`` (``proba`` columns in the
        order of ``classes``), added to (or replacing) :data:`DEFAULT_METRICS`.
    sample_weight : array_like of float64, shape (n,), optional
        Finite weights >= 0 passed to ``fit`` (metrics are unweighted).
    progress : bool or callable, optional
        True for a line on stderr, or ``progress(done_folds, n_folds)``.

    Returns
    -------
    list of dict
        One dict per fold: ``fold``, ``n_train``, ``n_test``, ``n_purged``, ``n_embargoed``,
        ``train_start_ns`` / ``train_end_ns`` (min t0, max t1 of the training samples),
        ``test_start_ns`` / ``test_end_ns`` (same for the test samples), then the metrics:
        ``accuracy``, ``log_loss`` (natural log), ``roc_auc`` (binary, or macro one-vs-rest over
        the classes present in the fold; NaN if none has both outcomes), and any extra ones.

    Raises
    ------
    InvalidInputError
        Shapes that disagree, fewer than two classes, negative or non-finite weights, a ``cv``
        without ``folds``/``split``, a fold with no training sample, ``predict_proba`` of the
        wrong shape or with classes not in ``y``.
    """
    Xa = float_array("X", X, ndim=2, finite=False)
    ya = np.asarray(y)
    if ya.ndim != 1 or ya.dtype.kind not in "iub":
        raise InvalidInputError(f"y must be a 1-D array of integer labels, got shape {ya.shape}, dtype {ya.dtype}")
    a, b = _label_times(t0, t1)
    if not len(Xa) == len(ya) == len(a):
        raise InvalidInputError(f"X, y, t0 and t1 must have the same length, got X={len(Xa)}, y={len(ya)}, "
                                f"t0={len(a)}, t1={len(b)}")
    classes = np.unique(ya)
    if len(classes) < 2:
        raise InvalidInputError(f"y must hold at least two classes, got {classes.tolist()}")
    w = None
    if sample_weight is not None:
        w = float_array("sample_weight", sample_weight, nonnegative=True)
        if len(w) != len(ya):
            raise InvalidInputError(f"sample_weight must have length {len(ya)} (one per sample), got {len(w)}")
    scorers = dict(DEFAULT_METRICS)
    if metrics is not None:
        if not isinstance(metrics, Mapping) or not all(callable(f) for f in metrics.values()):
            raise InvalidInputError(f"metrics must map names to callables f(y_true, proba, classes), got {metrics!r}")
        scorers.update(metrics)

    if hasattr(cv, "folds"):
        folds = list(cv.folds(a, b))
    elif hasattr(cv, "split"):
        empty = np.zeros(0, dtype=np.int64)
        folds = []
        for k, (tr, te) in enumerate(cv.split(Xa, ya)):
            tr, te = np.sort(np.asarray(tr, dtype=np.int64)), np.sort(np.asarray(te, dtype=np.int64))
            folds.append(Fold(k, tr, te, empty, empty, int(a[te].min()), int(b[te].max())))
    else:
        raise InvalidInputError(f"cv must have folds(t0, t1) or split(X, y), got {type(cv).__name__}")

    rep = Reporter(progress, "cross-validation", unit="folds", scale=1.0)
    rep.start(len(folds))
    results = []
    try:
        for done, f in enumerate(folds, 1):
            if f.n_train == 0:
                raise InvalidInputError(f"fold {f.fold} has no training sample left after purging "
                                        f"({f.n_purged}) and the embargo ({f.n_embargoed})")
            model = make_model()
            if w is None:
                model.fit(Xa[f.train], ya[f.train])
            else:
                model.fit(Xa[f.train], ya[f.train], sample_weight=w[f.train])
            proba = _aligned_proba(model, model.predict_proba(Xa[f.test]), ya[f.train], classes, f.n_test, f.fold)
            row: dict[str, Any] = {
                "fold": f.fold, "n_train": f.n_train, "n_test": f.n_test,
                "n_purged": f.n_purged, "n_embargoed": f.n_embargoed,
                "train_start_ns": int(a[f.train].min()), "train_end_ns": int(b[f.train].max()),
                "test_start_ns": int(a[f.test].min()), "test_end_ns": int(b[f.test].max()),
            }
            yt = ya[f.test]
            for name, fn in scorers.items():
                row[name] = float(fn(yt, proba, classes))
            results.append(row)
            rep.update(done)
    finally:
        rep.close()
    return results


# ------------------------------------------------------------------------------------------ point in time
def _stamps(name: str, x) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim == 1:
        return int_array(name, arr)[:, None]
    if arr.ndim != 2:
        raise InvalidInputError(f"{name} must be 1-D (n,) or 2-D (n, n_features), got shape {arr.shape}")
    cols = [int_array(f"{name}[:, {j}]", arr[:, j]) for j in range(arr.shape[1])]
    return np.stack(cols, axis=1) if cols else np.zeros((arr.shape[0], 0), dtype=np.int64)


def check_point_in_time(sample_ts, feature_ts, *, names: Sequence[str] | None = None) -> None:
    """Refuse features stamped after the sample they describe.

    A feature value used for sample i must be known at the sample's time:
    ``feature_ts[i, f] <= sample_ts[i]`` for every i and f.

    Parameters
    ----------
    sample_ts : array_like of int64, shape (n,)
        Sample times (ns), e.g. ``LabelSet.t0`` (datetime64 accepted).
    feature_ts : array_like of int64, shape (n,) or (n, n_features)
        When each feature value became known (ns): one stamp per row (e.g. ``FeatureFrame.ts_ns``)
        or one per value (e.g. a joined feature from another source, stamped with its own time).
    names : sequence of str, optional
        Feature names for the message, one per column.

    Returns
    -------
    None
        When every feature is stamped at or before its sample.

    Raises
    ------
    LeakageError
        Naming the first offending sample and feature (row-major order), both stamps, and how many
        values are stamped late; ``err.sample``, ``err.feature`` and ``err.count`` carry them.
    InvalidInputError
        Shapes that disagree, non-integer stamps, ``names`` of the wrong length.
    """
    s = int_array("sample_ts", sample_ts)
    f = _stamps("feature_ts", feature_ts)
    if len(f) != len(s):
        raise InvalidInputError(f"sample_ts and feature_ts must have the same length, got sample_ts={len(s)}, "
                                f"feature_ts={len(f)}")
    if names is not None:
        names = [str(x) for x in names]
        if len(names) != f.shape[1]:
            raise InvalidInputError(f"names must hold one name per feature column ({f.shape[1]}), got {len(names)}")
    late = f > s[:, None]
    count = int(np.count_nonzero(late))
    if count == 0:
        return None
    i, j = (int(v) for v in np.unravel_index(int(np.flatnonzero(late.ravel())[0]), late.shape))
    label = f"feature {names[j]!r} (column {j})" if names is not None else f"feature column {j}"
    raise LeakageError(
        f"{label} of sample {i} is stamped feature_ts={int(f[i, j])} ns, {int(f[i, j]) - int(s[i])} ns after "
        f"sample_ts={int(s[i])}; {count} of {late.size} feature values are stamped after their sample "
        f"(a feature must be known at its sample's time: feature_ts <= sample_ts)",
        sample=i, feature=j, count=count)


def check_label_times(t0, t1, *, feature_ts=None, names: Sequence[str] | None = None) -> None:
    """Refuse label windows that end before their sample, and (optionally) late features.

    A label is about the future of its sample: ``t1[i] >= t0[i]``. A label that ends before its
    sample reads prices the features may already contain (a misaligned join, a backward window).
    With ``feature_ts`` the point-in-time rule of :func:`check_point_in_time` is checked too,
    against ``t0``.

    Parameters
    ----------
    t0, t1 : array_like of int64, shape (n,)
        Sample times and label end times (ns), e.g. from a :class:`~ofi.models.labels.LabelSet`.
    feature_ts : array_like of int64, shape (n,) or (n, n_features), optional
    names : sequence of str, optional
        Feature names, for the message of the feature check.

    Raises
    ------
    LeakageError
        Naming the first sample with ``t1 < t0`` and the count (``err.sample``, ``err.count``), or
        what :func:`check_point_in_time` raises.
    InvalidInputError
        Lengths that disagree, non-integer stamps.
    """
    a = int_array("t0", t0)
    b = int_array("t1", t1)
    if len(a) != len(b):
        raise InvalidInputError(f"t0 and t1 must have the same length, got t0={len(a)}, t1={len(b)}")
    early = b < a
    count = int(np.count_nonzero(early))
    if count:
        i = int(np.flatnonzero(early)[0])
        raise LeakageError(f"the label of sample {i} ends at t1={int(b[i])} ns, {int(a[i]) - int(b[i])} ns before "
                           f"its sample time t0={int(a[i])}; {count} of {len(a)} labels end before their sample "
                           f"(expected t1 >= t0)", sample=i, count=count)
    if feature_ts is not None:
        check_point_in_time(a, feature_ts, names=names)
