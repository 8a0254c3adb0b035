"""Argument checks shared by the live stream and the replay (the same options mean the same thing)."""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ofi.errors import InvalidInputError
from ofi.spec import InstrumentSpec, parse_step
from ofi.venues.bybit.symbols import CATEGORIES


def _check_category(category: Any) -> str:
    if category not in CATEGORIES:
        raise InvalidInputError(f"category must be one of {sorted(CATEGORIES)}, got {category!r}")
    return category


def _tick_sizes(tick_sizes: Any) -> dict[str, Any]:
    """``tick_sizes`` checked: symbol -> a parsed tick size or an :class:`InstrumentSpec`."""
    if tick_sizes is None:
        return {}
    if not isinstance(tick_sizes, Mapping):
        raise InvalidInputError(f"tick_sizes must be a mapping symbol -> tick size, got {tick_sizes!r}")
    return {k: v if isinstance(v, InstrumentSpec) else parse_step(v, f"tick_sizes[{k!r}]")
            for k, v in tick_sizes.items()}


def _check_number(value: Any, name: str, lo: float, strict: bool = True, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (
            value <= lo if strict else value < lo):
        op = ">" if strict else ">="
        raise InvalidInputError(f"{name} must be a finite number {op} {lo}, got {value!r}")
    return float(value)


def _check_int(value: Any, name: str, lo: int, allow_none: bool = False) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise InvalidInputError(f"{name} must be an int >= {lo}, got {value!r}")
    return value
