"""Bybit V5: everything Bybit-specific lives in this folder.

``rest`` (the REST client, ``requests``), ``stream`` (the public websocket, ``websocket-client``),
``signing`` (HMAC request signing), ``symbols`` (categories, depths, the symbol rule), ``topics`` (the
topic grammar), ``_decode`` (the compiled frame decoder: V5 JSON straight to the core's neutral
events), ``archives`` (Bybit's historical dumps). Imported lazily so that ``import ofi`` needs neither
network library.
"""
from __future__ import annotations

__all__ = ["BybitClient", "BybitStream"]


def __getattr__(name: str):
    if name == "BybitClient":
        from ofi.venues.bybit.rest import BybitClient
        return BybitClient
    if name == "BybitStream":
        from ofi.venues.bybit.stream import BybitStream
        return BybitStream
    raise AttributeError(f"module 'ofi.venues.bybit' has no attribute {name!r}")
