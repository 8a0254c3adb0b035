"""The typed results of Bybit's REST endpoints, and their parsers from the V5 JSON.

A field Bybit leaves empty (``""``) or omits is NaN (floats) or None (timestamps); a result that
cannot be read raises :class:`ofi.errors.ExchangeError` (the envelope's shape) or
:class:`ofi.errors.InvalidInputError` (a trade that does not fit the instrument's grid).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ofi._core.decoder import FrameDecoder
from ofi._core.events import Trade
from ofi.errors import ExchangeError, InvalidInputError
from ofi.spec import InstrumentSpec

__all__ = [
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


@dataclass(frozen=True, slots=True)
class ServerTime:
    """``GET /v5/market/time``.

    Attributes
    ----------
    time_ns : int
        Server time, ns since the epoch.
    offset_ms : float
        Server clock minus local clock (ms), measured at the midpoint of the round trip.
    rtt_ms : float
        Round-trip time of the request (ms).
    """

    time_ns: int
    offset_ms: float
    rtt_ms: float


@dataclass(frozen=True, slots=True)
class RateLimitStatus:
    """The ``X-Bapi-Limit*`` headers of the last response of one endpoint.

    Attributes
    ----------
    limit : int or None
        Requests allowed per window (``X-Bapi-Limit``).
    remaining : int or None
        Requests left in the window (``X-Bapi-Limit-Status``).
    reset_ms : int or None
        Server time (ms) at which the window resets (``X-Bapi-Limit-Reset-Timestamp``).
    """

    limit: int | None
    remaining: int | None
    reset_ms: int | None


@dataclass(frozen=True, slots=True)
class Klines:
    """Candles of ``GET /v5/market/kline``, **oldest first** (Bybit sends newest first).

    Attributes
    ----------
    symbol, category, interval : str
    start_ms : ndarray of int64, shape (n,)
        Candle open time, ms since the epoch.
    open, high, low, close : ndarray of float64, shape (n,)
    volume : ndarray of float64, shape (n,)
        Base coin for linear/spot; USD contracts for inverse.
    turnover : ndarray of float64, shape (n,)
        Quote coin for linear/spot; base coin for inverse.
    """

    symbol: str
    category: str
    interval: str
    start_ms: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    turnover: np.ndarray

    def __len__(self) -> int:
        return int(self.start_ms.shape[0])


@dataclass(frozen=True, slots=True)
class Ticker:
    """One item of ``GET /v5/market/tickers``; a field the category lacks is NaN (or None)."""

    symbol: str
    category: str
    last_price: float
    bid1_price: float
    bid1_size: float
    ask1_price: float
    ask1_size: float
    mark_price: float
    index_price: float
    prev_price_24h: float
    price_24h_pcnt: float
    high_price_24h: float
    low_price_24h: float
    volume_24h: float
    turnover_24h: float
    open_interest: float
    funding_rate: float
    next_funding_time_ms: int | None


@dataclass(frozen=True, slots=True)
class CoinBalance:
    """One coin of a wallet (``result.list[0].coin[]`` of ``/v5/account/wallet-balance``)."""

    coin: str
    equity: float
    wallet_balance: float
    unrealised_pnl: float
    locked: float
    usd_value: float


@dataclass(frozen=True, slots=True)
class WalletBalance:
    """``GET /v5/account/wallet-balance``; totals are in USD, NaN where Bybit leaves them empty."""

    account_type: str
    total_equity: float
    total_wallet_balance: float
    total_available_balance: float
    total_margin_balance: float
    coins: tuple[CoinBalance, ...]

    def coin(self, name: str) -> CoinBalance | None:
        """The balance of one coin, or None."""
        for c in self.coins:
            if c.coin == name:
                return c
        return None


@dataclass(frozen=True, slots=True)
class Position:
    """One position of ``GET /v5/position/list``.

    ``side`` is ``"Buy"`` (long), ``"Sell"`` (short) or ``""`` (flat, one-way mode).
    """

    symbol: str
    category: str
    side: str
    size: float
    avg_price: float
    mark_price: float
    position_value: float
    unrealised_pnl: float
    cum_realised_pnl: float
    leverage: float
    liq_price: float
    position_idx: int
    updated_ms: int | None

    @property
    def signed_size(self) -> float:
        """Size with the position's sign: + long, - short, 0 flat."""
        return self.size if self.side == "Buy" else -self.size if self.side == "Sell" else 0.0


@dataclass(frozen=True, slots=True)
class Order:
    """One order of ``GET /v5/order/realtime``."""

    order_id: str
    order_link_id: str
    symbol: str
    category: str
    side: str
    order_type: str
    price: float
    qty: float
    leaves_qty: float
    cum_exec_qty: float
    avg_price: float
    time_in_force: str
    status: str
    reduce_only: bool
    created_ms: int | None
    updated_ms: int | None


@dataclass(frozen=True, slots=True)
class OrderAck:
    """What ``/v5/order/create|amend|cancel`` return: the ids of the order."""

    order_id: str
    order_link_id: str


# ----------------------------------------------------------------------------- fields
def _float(v: Any) -> float:
    if v is None or v == "":
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _int_or_none(v: Any) -> int | None:
    if v is None or v == "":
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _list(result: Any, path: str) -> list:
    lst = result.get("list") if isinstance(result, dict) else None
    if not isinstance(lst, list):
        raise ExchangeError(f"{path}: result has no 'list'", endpoint=path)
    return lst


# ----------------------------------------------------------------------------- parsers
def _server_time(result: Any, time_ms: int | None, sent_ns: int, received_ns: int) -> ServerTime:
    """``result.timeNano``, else ``result.timeSecond``, else the envelope's ``time``; offset from the midpoint."""
    r = result if isinstance(result, dict) else {}
    server_ns = _int_or_none(r.get("timeNano"))
    if server_ns is None:
        sec = _int_or_none(r.get("timeSecond"))
        server_ns = sec * 1_000_000_000 if sec is not None else (
            time_ms * 1_000_000 if time_ms is not None else None)
    if server_ns is None:
        raise ExchangeError("GET /v5/market/time returned no time", endpoint="/v5/market/time")
    mid = (sent_ns + received_ns) // 2
    return ServerTime(server_ns, (server_ns - mid) / 1e6, (received_ns - sent_ns) / 1e6)


def _trades(items: list, spec: InstrumentSpec, ts_local: int) -> list[Trade]:
    dec = FrameDecoder(spec.tick_size)
    out = []
    for i, it in enumerate(items):
        try:
            side = it["side"]
            if side not in ("Buy", "Sell"):
                raise InvalidInputError(f"recent-trade item {i} has side {side!r}, expected 'Buy' or 'Sell'")
            ticks, size = dec.parse_level(it["price"], it["size"])
            t_ms = int(it["time"])
            seq = _int_or_none(it.get("seq"))
            out.append(Trade(str(it.get("symbol") or spec.symbol), float(it["price"]), size,
                             1 if side == "Buy" else -1, t_ms * 1_000_000,
                             str(it.get("execId", "")), ticks, -1 if seq is None else seq,
                             bool(it.get("isBlockTrade", False)), bool(it.get("isRPITrade", False)), ts_local))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InvalidInputError):
                raise
            raise InvalidInputError(f"recent-trade item {i} is malformed ({exc!r}): {it!r:.200}") from None
    # Bybit lists the newest first; feeds and calculators want time order.
    out.sort(key=lambda t: t.ts_exch)
    return out


def _klines(rows: list, symbol: str, category: str, interval: str) -> Klines:
    try:
        arr = np.array([[float(x) for x in row[:7]] for row in rows], dtype=np.float64).reshape(-1, 7)
        start = np.array([int(row[0]) for row in rows], dtype=np.int64)
    except (TypeError, ValueError, IndexError):
        raise ExchangeError("/v5/market/kline: malformed candle rows (expected 7 decimal strings)",
                            endpoint="/v5/market/kline") from None
    order = np.argsort(start, kind="stable")
    arr, start = arr[order], start[order]
    col = [np.ascontiguousarray(arr[:, i]) for i in range(1, 7)]
    return Klines(symbol, category, interval, start, *col)


def _ticker(it: dict, category: str) -> Ticker:
    f = _float
    return Ticker(str(it.get("symbol", "")), category, f(it.get("lastPrice")), f(it.get("bid1Price")),
                  f(it.get("bid1Size")), f(it.get("ask1Price")), f(it.get("ask1Size")), f(it.get("markPrice")),
                  f(it.get("indexPrice")), f(it.get("prevPrice24h")), f(it.get("price24hPcnt")),
                  f(it.get("highPrice24h")), f(it.get("lowPrice24h")), f(it.get("volume24h")),
                  f(it.get("turnover24h")), f(it.get("openInterest")), f(it.get("fundingRate")),
                  _int_or_none(it.get("nextFundingTime")))


def _wallet(lst: list, account_type: str) -> WalletBalance:
    if not lst or not isinstance(lst[0], dict):
        return WalletBalance(account_type, math.nan, math.nan, math.nan, math.nan, ())
    w = lst[0]
    coins = tuple(
        CoinBalance(str(c.get("coin", "")), _float(c.get("equity")), _float(c.get("walletBalance")),
                    _float(c.get("unrealisedPnl")), _float(c.get("locked")), _float(c.get("usdValue")))
        for c in (w.get("coin") or []) if isinstance(c, dict))
    return WalletBalance(str(w.get("accountType", account_type)), _float(w.get("totalEquity")),
                         _float(w.get("totalWalletBalance")), _float(w.get("totalAvailableBalance")),
                         _float(w.get("totalMarginBalance")), coins)


def _position(p: dict, category: str) -> Position:
    return Position(str(p.get("symbol", "")), category, str(p.get("side") or ""), _float(p.get("size")),
                    _float(p.get("avgPrice")), _float(p.get("markPrice")), _float(p.get("positionValue")),
                    _float(p.get("unrealisedPnl")), _float(p.get("cumRealisedPnl")),
                    _float(p.get("leverage")), _float(p.get("liqPrice")),
                    _int_or_none(p.get("positionIdx")) or 0, _int_or_none(p.get("updatedTime")))


def _order(o: dict, category: str) -> Order:
    f = _float
    return Order(str(o.get("orderId", "")), str(o.get("orderLinkId", "")), str(o.get("symbol", "")), category,
                 str(o.get("side", "")), str(o.get("orderType", "")), f(o.get("price")), f(o.get("qty")),
                 f(o.get("leavesQty")), f(o.get("cumExecQty")), f(o.get("avgPrice")),
                 str(o.get("timeInForce", "")), str(o.get("orderStatus", "")), bool(o.get("reduceOnly", False)),
                 _int_or_none(o.get("createdTime")), _int_or_none(o.get("updatedTime")))


def _ack(result: Any, path: str) -> OrderAck:
    if not isinstance(result, dict) or not (result.get("orderId") or result.get("orderLinkId")):
        raise ExchangeError(f"{path}: the response carries no orderId", endpoint=path)
    return OrderAck(str(result.get("orderId", "")), str(result.get("orderLinkId", "")))
