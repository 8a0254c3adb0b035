"""Frames without a topic: Bybit's replies to our requests (pongs, subscribe replies, ``COMMAND_RESP``).

They are the only frames the stream reads with :func:`json.loads`, and they come from the network:
a frame nested deeper than the parser's recursion limit raises ``RecursionError`` and a huge one
may raise ``MemoryError``. :func:`load` turns both into "not JSON", so such a frame takes the
same path as any unrecognised frame (counted and reported as a decode error), never an exception
that would end the connection.
"""
from __future__ import annotations

import json
from typing import Any


def load(raw: str | bytes) -> Any:
    """The JSON value of a frame, or None if it is not JSON the parser can read."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError, MemoryError):
        return None


def is_reply(obj: Any) -> bool:
    """True for a reply to a request (``op``, ``success`` or ``COMMAND_RESP``): nothing for the consumer."""
    return isinstance(obj, dict) and ("op" in obj or "success" in obj or obj.get("type") == "COMMAND_RESP")
