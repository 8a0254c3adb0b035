"""Compatibility path of the Bybit clients: ``ofi.api.BybitClient`` and ``ofi.api.BybitStream`` are
:mod:`ofi.venues.bybit`'s. Imported lazily so that ``import ofi`` needs neither ``requests`` nor
``websocket-client``."""
from __future__ import annotations

__all__ = ["BybitClient", "BybitStream"]


def __getattr__(name: str):
    if name in __all__:
        from ofi.venues import bybit
        return getattr(bybit, name)
    raise AttributeError(f"module 'ofi.api' has no attribute {name!r}")
