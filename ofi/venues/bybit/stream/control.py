"""Frames without a topic: Bybit's replies to our requests (pongs, subscribe replies, ``COMMAND_RESP``).

They are the only frames the stream parses as a whole, and they come from the network: a frame
nested too deeply or too large for the parser (``ofi.validation.json_loads``) is "not JSON" here, so
it takes the same path as any unrecognised frame (counted and reported as a decode error), never an
exception that would end the connection.
"""
from __future__ import annotations

from typing import Any

from ofi.validation import json_loads


def load(raw: str | bytes) -> Any:
    """The JSON value of a frame, or None if it is not JSON the parser can read."""
    try:
        return json_loads(raw)
    except ValueError:
        return None


def is_reply(obj: Any) -> bool:
    """True for a reply to a request (``op``, ``success`` or ``COMMAND_RESP``): nothing for the consumer."""
    return isinstance(obj, dict) and ("op" in obj or "success" in obj or obj.get("type") == "COMMAND_RESP")
