"""Bybit's instrument rules: categories, the book depths each category serves, the symbol rule.

Bybit narrows ``ofi.validation``'s symbol rule to upper case (``BTCUSDT``, ``BTC-27DEC24``).
"""
from __future__ import annotations

from ofi.validation import is_symbol

__all__ = ["CATEGORIES", "BOOK_DEPTHS", "is_bybit_symbol"]

#: The V5 product categories, in the order the docs list them.
CATEGORIES = ("linear", "inverse", "spot", "option")

#: Order-book depths each category's public stream serves (``orderbook.<depth>.<symbol>``;
#: bybit-v5.md section 6.1; 500 was removed in 2025).
BOOK_DEPTHS: dict[str, tuple[int, ...]] = {
    "spot": (1, 50, 200, 1000),
    "linear": (1, 50, 200, 1000),
    "inverse": (1, 50, 200, 1000),
    "option": (25, 100),
}


def is_bybit_symbol(value) -> bool:
    """True when ``value`` is an upper-case symbol (``ofi.validation.is_symbol(value, upper=True)``)."""
    return is_symbol(value, upper=True)
