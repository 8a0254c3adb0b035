"""Model files: :func:`save_model` and :func:`load_model`, and the model kinds a file can hold.

The format (a JSON document with the model card and checksums beside an ``.npz`` of arrays; no
pickle anywhere) is ``ofi.models._format`` and docs/models.md. This module is the top of
``ofi.models``: it is the one place that maps a file's ``kind`` to its model class.
"""
from __future__ import annotations

from pathlib import Path

from ofi.errors import InvalidInputError, ModelFileError
from ofi.models._format import FORMAT, FORMAT_VERSION, read_arrays, read_document
from ofi.models.base import CompiledModel, ModelCard
from ofi.models.gbm import GradientBoostingModel
from ofi.models.logistic import LogisticModel

__all__ = ["save_model", "load_model", "FORMAT", "FORMAT_VERSION"]

# The model kinds a file can hold (``CompiledModel.kind`` -> class).
_KINDS: dict[str, type[CompiledModel]] = {cls.kind: cls for cls in (GradientBoostingModel, LogisticModel)}


def save_model(model: CompiledModel, path) -> Path:
    """Write ``<path>.json`` and ``<path>.npz`` (as ``model.save``); returns the JSON path.

    Raises
    ------
    InvalidInputError
        ``model`` is not a trained ofi model, or of a kind that cannot be saved.
    """
    if not isinstance(model, CompiledModel):
        raise InvalidInputError("save_model needs a trained ofi model")
    return model._write(path)


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
        do not form a valid model (an array header declaring more data than the file holds
        included), or features / a config hash that differ from what was asked.
    """
    jpath, doc = read_document(path)
    kind = doc.get("kind")
    cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ModelFileError(f"{jpath}: unknown model kind {kind!r}")
    _, arrays = read_arrays(jpath, doc, cls._FILE_ARRAYS, cls._FILE_OPTIONAL)
    try:
        card = ModelCard.from_dict(doc.get("card"))
        model = cls._from_file(arrays, doc.get("compiled") or {}, card)
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
