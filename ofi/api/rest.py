"""Moved to :mod:`ofi.venues.bybit.rest`; this name keeps working (the same objects, re-exported)."""
from __future__ import annotations

from ofi.venues.bybit.rest import (
    DEMO_URL,
    MAINNET_ALT_URL,
    MAINNET_URL,
    TESTNET_URL,
    BybitClient,
    CoinBalance,
    IpBanError,
    Klines,
    Order,
    OrderAck,
    Position,
    RateLimitStatus,
    RequestTimeoutError,
    ServerTime,
    Ticker,
    TransportError,
    WalletBalance,
)

__all__ = [
    "BybitClient",
    "MAINNET_URL",
    "MAINNET_ALT_URL",
    "TESTNET_URL",
    "DEMO_URL",
    "TransportError",
    "RequestTimeoutError",
    "IpBanError",
    "ServerTime",
    "RateLimitStatus",
    "Klines",
    "Ticker",
    "CoinBalance",
    "WalletBalance",
    "Position",
    "Order",
    "OrderAck",
]
