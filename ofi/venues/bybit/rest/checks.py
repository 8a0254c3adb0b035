"""Argument checks of Bybit's REST endpoints: categories, symbols, limits, ids, sides and order types,
decimal quantities and prices on an instrument's grid.

Every check raises :class:`ofi.errors.InvalidInputError` naming the argument, the value and what was
expected, before anything is sent. The symbol rule and the categories are Bybit's
(``ofi.venues.bybit.symbols``); the generic number rules are ``ofi.validation``'s.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np

from ofi.errors import InvalidInputError
from ofi.validation import positive_float
from ofi.venues.bybit.symbols import CATEGORIES, is_bybit_symbol

# Largest `limit` of GET /v5/market/orderbook and /v5/market/recent-trade per category.
_BOOK_LIMITS = {"spot": 1000, "linear": 1000, "inverse": 1000, "option": 25}
_TRADE_LIMITS = {"spot": 60, "linear": 1000, "inverse": 1000, "option": 1000}
_KLINE_INTERVALS = ("1", "3", "5", "15", "30", "60", "120", "240", "360", "720", "D", "W", "M")
_LINK_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,36}$")

_SIDE_TABLE = {"buy": "Buy", "sell": "Sell", "long": "Buy", "short": "Sell"}
_TYPE_TABLE = {"market": "Market", "limit": "Limit"}
_TIF_TABLE = {"gtc": "GTC", "ioc": "IOC", "fok": "FOK", "postonly": "PostOnly"}


def _check_category(category: Any) -> str:
    if category not in CATEGORIES:
        raise InvalidInputError(f"category must be one of {', '.join(CATEGORIES)}; got {category!r}")
    return category


def _check_symbol(symbol: Any, name: str = "symbol") -> str:
    """The symbol upper-cased, checked against Bybit's rule (also used for coin names)."""
    if not isinstance(symbol, str):
        raise InvalidInputError(f"{name} must be a string such as 'BTCUSDT', got {type(symbol).__name__}")
    s = symbol.strip().upper()
    if not is_bybit_symbol(s):
        raise InvalidInputError(f"{name} must be letters, digits, '-' or '_' (e.g. 'BTCUSDT'), got {symbol!r}")
    return s


def _check_int(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidInputError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
    v = int(value)
    if not lo <= v <= hi:
        raise InvalidInputError(f"{name} must be in [{lo}, {hi}], got {v}")
    return v


def _check_non_negative(value: Any, name: str) -> float:
    try:
        return positive_float(name, value, allow_zero=True)
    except InvalidInputError:
        raise InvalidInputError(f"{name} must be a finite number >= 0, got {value!r}") from None


def _decimal(value: Any, name: str) -> Decimal:
    """A positive finite decimal from str/int/float/Decimal (floats through their repr)."""
    if isinstance(value, bool):
        raise InvalidInputError(f"{name} must be a positive decimal number, got {value!r}")
    try:
        if isinstance(value, float):
            d = Decimal(repr(value))
        elif isinstance(value, (int, Decimal, np.integer)):
            d = Decimal(int(value)) if isinstance(value, np.integer) else Decimal(value)
        elif isinstance(value, (str, np.floating)):
            d = Decimal(repr(float(value))) if isinstance(value, np.floating) else Decimal(value.strip())
        else:
            raise TypeError
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a positive decimal number, got {value!r}") from None
    if not d.is_finite() or d <= 0:
        raise InvalidInputError(f"{name} must be a finite number > 0, got {value!r}")
    return d


def _dec_str(d: Decimal) -> str:
    """Plain decimal notation without exponent or trailing zeros ("0.001", "65000", "10")."""
    s = format(d.normalize(), "f")
    return s


def _on_grid(d: Decimal, step: Decimal) -> bool:
    q = d / step
    return q == q.to_integral_value()


def _check_grid(value: Decimal, step: Decimal, name: str, step_name: str, symbol: str) -> None:
    if not _on_grid(value, step):
        raise InvalidInputError(f"{name} {_dec_str(value)} is not a multiple of {step_name} {step} for {symbol}")


def _normalise(value: Any, name: str, table: Mapping[str, str]) -> str:
    key = value.replace("_", "").replace(" ", "").lower() if isinstance(value, str) else None
    if key not in table:
        raise InvalidInputError(f"{name} must be one of {', '.join(sorted(set(table.values())))}; got {value!r}")
    return table[key]


def _side(value: Any) -> str:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and int(value) in (1, -1):
        return "Buy" if int(value) == 1 else "Sell"
    return _normalise(value, "side", _SIDE_TABLE)


def _link_id(value: Any) -> str:
    if not isinstance(value, str) or not _LINK_ID_RE.match(value):
        raise InvalidInputError(f"order_link_id must be 1..36 letters, digits, '-' or '_', got {value!r}")
    return value


def _order_id(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9\-]{1,64}", value):
        raise InvalidInputError(f"order_id must be Bybit's order id (letters, digits, '-'), got {value!r}")
    return value


def _one_id(order_id: str | None, order_link_id: str | None) -> tuple[str | None, str | None]:
    if (order_id is None) == (order_link_id is None):
        raise InvalidInputError("pass exactly one of order_id= and order_link_id=")
    return (None if order_id is None else _order_id(order_id),
            None if order_link_id is None else _link_id(order_link_id))
