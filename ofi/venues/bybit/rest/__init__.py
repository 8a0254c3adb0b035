"""Bybit V5 REST: the client and its typed results.

``client`` (:class:`BybitClient`, its endpoints and the hosts), ``transport`` (session, host guard,
rate limits, retries, envelope and error mapping), ``results`` (the typed results and their parsers),
``checks`` (the argument checks of the endpoints). Request signing is ``ofi.venues.bybit.signing``.
"""
from __future__ import annotations

from ofi.errors import IpBanError, RequestTimeoutError, TransportError
from ofi.venues.bybit.rest.client import DEMO_URL, MAINNET_ALT_URL, MAINNET_URL, TESTNET_URL, BybitClient
from ofi.venues.bybit.rest.results import (
    CoinBalance,
    Klines,
    Order,
    OrderAck,
    Position,
    RateLimitStatus,
    ServerTime,
    Ticker,
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
