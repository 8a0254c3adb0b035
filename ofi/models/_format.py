"""The model file format: a JSON document (format, kind, model card, checksums) beside an ``.npz``
of arrays.

Reading never unpickles anything: the JSON is parsed with ``json``, and each array's ``.npy``
header is checked against the bytes it comes with before numpy reads it (``allow_pickle=False``).
The model kinds rebuild their compiled predictors from the arrays, and those constructors check
every shape and index. A SHA-256 of the arrays file and of the JSON body catch truncated or edited
files (integrity, not a signature: whoever can write the file can recompute them). The layout is
documented in docs/models.md.

This module knows the format, not the model kinds: ``ofi.models.base`` writes through it and
``ofi.models.io`` (which maps a kind to its class) reads through it.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ofi.errors import ModelFileError
from ofi.validation import json_loads

__all__ = ["FORMAT", "FORMAT_VERSION", "paths", "write_model_file", "read_document", "read_arrays"]

FORMAT = "ofi-model"
FORMAT_VERSION = 1
_MAX_JSON_BYTES = 64 << 20


def paths(path) -> tuple[Path, Path]:
    """The ``.json`` document and the ``.npz`` arrays file of a model path."""
    p = Path(os.fspath(path))
    if p.suffix != ".json":
        p = p.with_name(p.name + ".json")
    return p, p.with_suffix(".npz")


def _checksum(doc: dict) -> str:
    body = {k: v for k, v in doc.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def write_model_file(path, *, kind: str, card: dict, meta: dict, arrays: Mapping[str, np.ndarray],
                     dtypes: Mapping[str, Any]) -> Path:
    """Write ``<path>.json`` and ``<path>.npz`` (each through a temporary file and a rename);
    returns the JSON path. ``arrays`` are stored C-contiguous in ``dtypes[name]``."""
    jpath, npath = paths(path)
    buf = io.BytesIO()
    np.savez(buf, **{k: np.ascontiguousarray(v, dtype=dtypes[k]) for k, v in arrays.items()})
    blob = buf.getvalue()
    doc: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "card": card,
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


def read_document(path) -> tuple[Path, dict]:
    """The JSON path and its document, with format, version and checksum checked.

    Raises
    ------
    ModelFileError
        An unreadable or oversized file, not JSON (deep nesting included), another format or
        version, or a checksum mismatch.
    """
    jpath, _ = paths(path)
    try:
        raw = jpath.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {jpath}: {exc}") from None
    if len(raw) > _MAX_JSON_BYTES:
        raise ModelFileError(f"{jpath}: {len(raw)} bytes is not a model file")
    try:
        doc = json_loads(raw)
    except ValueError as exc:
        raise ModelFileError(f"{jpath}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(f"{jpath}: not an {FORMAT} file")
    if doc.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{jpath}: format version {doc.get('format_version')!r}, this ofi reads {FORMAT_VERSION}")
    if doc.get("checksum") != _checksum(doc):
        raise ModelFileError(f"{jpath}: checksum mismatch: the file was edited or damaged")
    return jpath, doc


def read_arrays(jpath: Path, doc: dict, dtypes: Mapping[str, Any], optional: frozenset = frozenset()
                ) -> tuple[Path, dict[str, np.ndarray]]:
    """The arrays file named by ``doc`` and its arrays: the names in ``dtypes`` (those in
    ``optional`` may be absent), each of its dtype.

    Raises
    ------
    ModelFileError
        A bad file name, an unreadable file, a checksum mismatch, an array whose header
        declares more (or fewer) bytes than it holds, other names or dtypes.
    """
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
    arrays = _read_npz(blob, npath)
    if set(arrays) - set(dtypes) or set(dtypes) - optional - set(arrays):
        raise ModelFileError(f"{npath}: arrays {sorted(arrays)} do not form a {doc.get('kind')} model")
    for k, a in arrays.items():
        if a.dtype != dtypes[k]:
            raise ModelFileError(f"{npath}: array {k!r} has dtype {a.dtype}, expected {np.dtype(dtypes[k])}")
    return npath, arrays


def _read_npz(blob: bytes, npath: Path) -> dict[str, np.ndarray]:
    # numpy.load allocates whatever shape a member's header declares before reading its data, so a
    # forged header (2**40 elements in a few bytes) is a MemoryError. Each member is read whole
    # (its real bytes, CRC-checked by zipfile) and its header checked against them first.
    arrays = {}
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            for info in zf.infolist():
                key = info.filename.removesuffix(".npy")
                arrays[key] = _npy_array(zf.read(info), key, npath)
    except (zipfile.BadZipFile, NotImplementedError, EOFError, OSError, ValueError, zlib.error) as exc:
        raise ModelFileError(f"{npath}: unreadable arrays ({exc})") from None
    return arrays


def _npy_array(data: bytes, key: str, npath: Path) -> np.ndarray:
    f = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:      # 3.0 is numpy's header for non-latin-1 field names, never written here
            raise ValueError(f"format version {version}")
    except ValueError as exc:
        raise ModelFileError(f"{npath}: array {key!r} is not a .npy array ({exc})") from None
    if dtype.hasobject:
        raise ModelFileError(f"{npath}: array {key!r} holds Python objects, which are never loaded")
    declared = math.prod(shape) * dtype.itemsize
    held = len(data) - f.tell()
    if declared != held:
        raise ModelFileError(f"{npath}: array {key!r} declares shape {shape} of {dtype} ({declared} bytes) "
                             f"but holds {held} bytes")
    f.seek(0)
    return np.lib.format.read_array(f, allow_pickle=False)
