"""Bybit V5 connectivity: the REST client (``requests``) and the websocket stream
(``websocket-client``). Imported lazily so that ``import ofi`` needs neither library."""
from __future__ import annotations

__all__ = ["BybitClient", "BybitStream"]


def __getattr__(name: str):
    if name == "BybitClient":
        from ofi.api.rest import BybitClient
        return BybitClient
    if name == "BybitStream":
        from ofi.api.stream import BybitStream
        return BybitStream
    raise AttributeError(f"module 'ofi.api' has no attribute {name!r}")
