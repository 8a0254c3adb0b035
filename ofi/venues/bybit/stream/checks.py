"""Argument checks shared by the live stream and the replay (the same options mean the same thing)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ofi.errors import InvalidInputError
from ofi.spec import InstrumentSpec, parse_step
from ofi.validation import positive_float, positive_int
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


def _check_number(value: Any, name: str, *, allow_zero: bool = False, allow_none: bool = False) -> float | None:
    """A finite number > 0 (>= 0 with ``allow_zero``; None passes with ``allow_none``): ``ofi.validation``'s rule."""
    return None if value is None and allow_none else positive_float(name, value, allow_zero=allow_zero)


def _check_int(value: Any, name: str, minimum: int, *, allow_none: bool = False) -> int | None:
    """An integer >= ``minimum`` (None passes with ``allow_none``): ``ofi.validation``'s rule."""
    return None if value is None and allow_none else positive_int(name, value, minimum=minimum)
