"""Model files: a JSON document (format, model card, checksums) beside an ``.npz`` of arrays.

Loading never unpickles anything: the JSON is parsed with ``json``, the arrays are read with
``numpy.load(allow_pickle=False)`` and rebuilt into the compiled predictors, whose constructors
check every shape and index. A SHA-256 of the arrays file and of the JSON body catch truncated
or edited files (integrity, not a signature: whoever can write the file can recompute them).
The layout is documented in docs/models.md.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ofi.errors import InvalidInputError, ModelFileError
from ofi.models.base import CompiledModel, ModelCard

__all__ = ["save_model", "load_model", "FORMAT", "FORMAT_VERSION"]

FORMAT = "ofi-model"
FORMAT_VERSION = 1
_MAX_JSON_BYTES = 64 << 20

# per model kind: array name -> dtype
_ARRAYS = {
    "gradient_boosting": {"thr": np.float64, "feat": np.int32, "nan_right": np.int32, "leaves": np.float64,
                          "tree_out": np.int32, "base": np.float64, "gain": np.float64},
    "logistic": {"fill": np.float64, "mean": np.float64, "scale": np.float64, "coef": np.float64,
                 "intercept": np.float64},
}
_OPTIONAL = {"gain"}


def _paths(path) -> tuple[Path, Path]:
    p = Path(os.fspath(path))
    if p.suffix != ".json":
        p = p.with_name(p.name + ".json")
    return p, p.with_suffix(".npz")


def _checksum(doc: dict) -> str:
    body = {k: v for k, v in doc.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def save_model(model: CompiledModel, path) -> Path:
    """Write ``<path>.json`` and ``<path>.npz``; returns the JSON path."""
    if not isinstance(model, CompiledModel) or not model.is_fitted:
        raise InvalidInputError("save_model needs a trained ofi model")
    jpath, npath = _paths(path)
    if model.kind == "gradient_boosting":
        arrays, meta = model._forest.arrays(), model._forest.meta()
    elif model.kind == "logistic":
        arrays, meta = dict(model._arrays), {}
    else:
        raise InvalidInputError(f"cannot save a model of kind {model.kind!r}")
    buf = io.BytesIO()
    np.savez(buf, **{k: np.ascontiguousarray(v, dtype=_ARRAYS[model.kind][k]) for k, v in arrays.items()})
    blob = buf.getvalue()
    doc: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": model.kind,
        "card": model.card.to_dict(),
        "compiled": meta,
        "arrays": {"file": npath.name, "sha256": hashlib.sha256(blob).hexdigest(), "names": sorted(arrays)},
    }
    doc["checksum"] = _checksum(doc)
    jpath.parent.mkdir(parents=True, exist_ok=True)
    for target, data in ((npath, blob), (jpath, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())):
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return jpath


def load_model(path, *, engine=None, feature_names=None, feature_config_hash: str | None = None) -> CompiledModel:
    """Read a model file written by :func:`save_model` (or ``model.save``).

    Parameters
    ----------
    path : str or Path
        The ``.json`` file (its ``.npz`` sits beside it).
    engine : FeatureEngine, optional
        Refuse the model unless its feature names and feature-config hash equal the engine's.
    feature_names, feature_config_hash : optional
        The same checks without an engine.

    Raises
    ------
    ModelFileError
        Unknown format or version, a checksum mismatch (edited or truncated files), arrays that
        do not form a valid model, or features / a config hash that differ from what was asked.
    """
    from ofi.models.gbm import GradientBoostingModel
    from ofi.models.logistic import LogisticModel
    from ofi.models._forest import ForestArrays

    jpath, _ = _paths(path)
    try:
        raw = jpath.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {jpath}: {exc}") from None
    if len(raw) > _MAX_JSON_BYTES:
        raise ModelFileError(f"{jpath}: {len(raw)} bytes is not a model file")
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise ModelFileError(f"{jpath}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(f"{jpath}: not an {FORMAT} file")
    if doc.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{jpath}: format version {doc.get('format_version')!r}, this ofi reads {FORMAT_VERSION}")
    if doc.get("checksum") != _checksum(doc):
        raise ModelFileError(f"{jpath}: checksum mismatch: the file was edited or damaged")
    kind = doc.get("kind")
    if kind not in _ARRAYS:
        raise ModelFileError(f"{jpath}: unknown model kind {kind!r}")
    spec = doc.get("arrays") or {}
    name = spec.get("file")
    if not isinstance(name, str) or name != os.path.basename(name) or name in ("", ".", ".."):
        raise ModelFileError(f"{jpath}: bad arrays file name {name!r}")
    npath = jpath.with_name(name)
    try:
        blob = npath.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read the model's arrays {npath}: {exc}") from None
    if hashlib.sha256(blob).hexdigest() != spec.get("sha256"):
        raise ModelFileError(f"{npath}: checksum mismatch: the arrays were edited, damaged or swapped")
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError) as exc:
        raise ModelFileError(f"{npath}: unreadable arrays ({exc})") from None
    want = _ARRAYS[kind]
    if set(arrays) - set(want) or set(want) - _OPTIONAL - set(arrays):
        raise ModelFileError(f"{npath}: arrays {sorted(arrays)} do not form a {kind} model")
    for k, a in arrays.items():
        if a.dtype != want[k]:
            raise ModelFileError(f"{npath}: array {k!r} has dtype {a.dtype}, expected {np.dtype(want[k])}")
    try:
        card = ModelCard.from_dict(doc.get("card"))
        if kind == "gradient_boosting":
            model = GradientBoostingModel()
            model._set_forest(ForestArrays.from_parts(arrays, doc.get("compiled") or {}), card)
        else:
            model = LogisticModel()
            model._set_arrays(arrays, card)
    except (InvalidInputError, KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{jpath}: not a valid {kind} model: {exc}") from None
    if engine is not None:
        feature_names = engine.names
        feature_config_hash = engine.config_hash
    if feature_names is not None and list(feature_names) != list(card.feature_names):
        raise ModelFileError(
            f"{jpath}: the model reads {len(card.feature_names)} features that differ from the "
            f"{len(list(feature_names))} given (first: {card.feature_names[:3]} vs {list(feature_names)[:3]})")
    if feature_config_hash is not None and card.feature_config_hash != feature_config_hash:
        raise ModelFileError(
            f"{jpath}: feature-config hash {card.feature_config_hash!r} differs from {feature_config_hash!r}: "
            f"the model was trained on features computed with other settings")
    return model
