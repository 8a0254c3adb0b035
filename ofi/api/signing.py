"""Moved to :mod:`ofi.venues.bybit.signing`; this name keeps working (the same objects, re-exported)."""
from __future__ import annotations

from ofi.venues.bybit.signing import (
    DEFAULT_RECV_WINDOW_MS,
    Credentials,
    Secret,
    json_body,
    query_string,
    sign,
    signing_payload,
)

__all__ = [
    "Secret",
    "Credentials",
    "sign",
    "signing_payload",
    "query_string",
    "json_body",
    "DEFAULT_RECV_WINDOW_MS",
]
