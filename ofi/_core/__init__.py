"""Compiled kernels of ofi. Import from ``ofi`` instead; these modules are internal."""
try:
    from ofi._core import events as _events, decoder as _decoder, book as _book, replay as _replay  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        "ofi's compiled core is not built. From a source checkout run:\n"
        "    pip install -e '.[test]'      (or: python setup.py build_ext --inplace)\n"
        f"(original error: {exc})"
    ) from exc
