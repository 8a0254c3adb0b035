"""Bybit V5 REST client: market data (public) and account / order endpoints (signed).

>>> from ofi.venues.bybit.rest import BybitClient
>>> client = BybitClient()                              # doctest: +SKIP
>>> book = client.get_orderbook("BTCUSDT", 50)          # doctest: +SKIP
>>> book.mid_price(), book.spread_bps()                 # doctest: +SKIP

The client checks every argument (``checks``), sends through its :class:`Transport` (retries,
limits, the error table of ``transport``) and types what comes back (``results``).

Secrets: the API secret is held by :class:`ofi.venues.bybit.signing.Secret` (masked ``repr``,
refuses to be pickled) from the first line of the constructor on.
"""
from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

import requests

from ofi._core.book import OrderBook
from ofi._core.events import Trade
from ofi.errors import AuthenticationError, ExchangeError, InvalidInputError
from ofi.spec import InstrumentSpec
from ofi.venues.bybit.rest.checks import (
    _BOOK_LIMITS,
    _KLINE_INTERVALS,
    _TIF_TABLE,
    _TRADE_LIMITS,
    _TYPE_TABLE,
    _check_category,
    _check_grid,
    _check_int,
    _check_symbol,
    _dec_str,
    _decimal,
    _link_id,
    _normalise,
    _one_id,
    _order_id,
    _side,
)
from ofi.venues.bybit.rest.results import (
    Klines,
    Order,
    OrderAck,
    Position,
    RateLimitStatus,
    ServerTime,
    Ticker,
    WalletBalance,
    _ack,
    _klines,
    _list,
    _order,
    _position,
    _ticker,
    _trades,
    _wallet,
)
from ofi.venues.bybit.rest.transport import Transport
from ofi.venues.bybit.signing import DEFAULT_RECV_WINDOW_MS, Credentials, Secret
from ofi.venues.bybit.snapshot import book_from_rest

__all__ = ["BybitClient", "MAINNET_URL", "MAINNET_ALT_URL", "TESTNET_URL", "DEMO_URL"]

MAINNET_URL = "https://api.bybit.com"
MAINNET_ALT_URL = "https://api.bytick.com"
TESTNET_URL = "https://api-testnet.bybit.com"
DEMO_URL = "https://api-demo.bybit.com"

Category = Literal["linear", "inverse", "spot", "option"]
Side = Literal["Buy", "Sell"]
OrderType = Literal["Market", "Limit"]
TimeInForce = Literal["GTC", "IOC", "FOK", "PostOnly"]

_TRUE = ("1", "true", "yes", "on")


class BybitClient:
    """Bybit V5 REST client (``requests.Session``), public market data and signed endpoints.

    Parameters
    ----------
    api_key, api_secret : str, optional, keyword-only
        Credentials for the private endpoints. Default: ``BYBIT_API_KEY`` /
        ``BYBIT_API_SECRET``. Public endpoints need none. Key and host must be of the same
        environment (a testnet key is "invalid" on mainnet: retCode 10003).
    testnet : bool, optional
        Use ``api-testnet.bybit.com``. Default: the ``BYBIT_TESTNET`` variable (``true``/``1``).
    demo : bool
        Use the demo-trading host ``api-demo.bybit.com``.
    base_url : str, optional
        Explicit host (wins over ``testnet``/``demo``), e.g. ``https://api.bytick.com`` or a
        local fake server. ``http://`` is accepted for loopback hosts only.
    timeout : float or (float, float)
        Seconds to connect and to read (a pair sets them apart). Every request has one.
    recv_window_ms : int
        ``X-BAPI-RECV-WINDOW`` of signed requests, 1..60000 (default 5000).
    max_retries : int
        Retries per call after a rate limit, a 5xx, a 10000/10016 or a GET transport error.
    backoff_s, backoff_max_s : float
        Exponential backoff: retry ``k`` waits ``min(backoff_max_s, backoff_s * 2**(k-1))``
        times a uniform jitter in [0.5, 1].
    max_rate_limit_wait_s : float
        Longest wait the client accepts for a rate-limit reset; a longer one raises
        :class:`RateLimitError` at once (the caller decides).
    ip_ban_s : float
        How long to send nothing after an HTTP 403 without ``Retry-After`` (Bybit: at least 600 s).
    max_ban_wait_s : float
        A call made during a ban waits for its end when it is at most this long away, and
        otherwise raises :class:`IpBanError` at once. Default 0: always raise.
    ip_rate_limit : (int, float)
        Client-side cap of requests per window (s) to the host (Bybit's IP limit: 600 per 5 s).
    time_sync : bool
        Measure the clock offset with ``/v5/market/time`` before the first signed request
        (and every ``time_sync_interval_s``), so that ``X-BAPI-TIMESTAMP`` is in server time.
    verify : True or str
        TLS verification: True, or the path of a CA bundle. ``False`` is refused.
    validate_orders : bool
        Check order qty and price against the instrument's grid (fetched once per symbol
        from instruments-info) before sending.
    session : requests.Session, optional
        A session to use (its ``verify`` setting is ignored: verification is always on).

    Raises
    ------
    InvalidInputError
        For an out-of-range option, ``verify=False``, a non-https remote ``base_url``, or
        only one of the two credentials.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        api_secret: str | Secret | None = None,
        testnet: bool | None = None,
        demo: bool = False,
        base_url: str | None = None,
        timeout: float | tuple[float, float] = 10.0,
        recv_window_ms: int = DEFAULT_RECV_WINDOW_MS,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        backoff_max_s: float = 8.0,
        max_rate_limit_wait_s: float = 30.0,
        ip_ban_s: float = 600.0,
        max_ban_wait_s: float = 0.0,
        ip_rate_limit: tuple[int, float] = (600, 5.0),
        time_sync: bool = True,
        time_sync_interval_s: float = 1800.0,
        verify: bool | str = True,
        validate_orders: bool = True,
        session: requests.Session | None = None,
    ) -> None:
        # The secret is wrapped before anything can raise, so that a traceback showing this frame's
        # locals (rich, pytest --showlocals) finds a masked Secret in api_secret, never the text.
        api_secret = None if api_secret is None else Secret.wrap(api_secret)
        # -- credentials
        if api_key is None and api_secret is None:
            self._creds = Credentials.from_env()
        elif api_key is None or api_secret is None:
            raise InvalidInputError("pass both api_key and api_secret, or neither (then BYBIT_API_KEY / BYBIT_API_SECRET)")
        else:
            self._creds = Credentials(api_key, api_secret)
        # -- host
        if testnet is None:
            testnet = os.environ.get("BYBIT_TESTNET", "").strip().lower() in _TRUE
        if base_url is None:
            base_url = DEMO_URL if demo else TESTNET_URL if testnet else MAINNET_URL
        self._transport = Transport(
            base_url, self._creds, timeout=timeout, recv_window_ms=recv_window_ms, max_retries=max_retries,
            backoff_s=backoff_s, backoff_max_s=backoff_max_s, max_rate_limit_wait_s=max_rate_limit_wait_s,
            ip_ban_s=ip_ban_s, max_ban_wait_s=max_ban_wait_s, ip_rate_limit=ip_rate_limit, time_sync=time_sync,
            time_sync_interval_s=time_sync_interval_s, verify=verify, session=session)
        self._testnet = bool(testnet) and base_url == TESTNET_URL
        self._validate_orders = bool(validate_orders)
        self._lock = threading.Lock()
        self._specs: dict[tuple[str, str], InstrumentSpec] = {}

    # ------------------------------------------------------------------ properties
    @property
    def base_url(self) -> str:
        """The host every request goes to, e.g. ``https://api.bybit.com``."""
        return self._transport.base_url

    @property
    def testnet(self) -> bool:
        """True when talking to ``api-testnet.bybit.com``."""
        return self._testnet

    @property
    def authenticated(self) -> bool:
        """True when the client holds credentials for the private endpoints."""
        return self._creds is not None

    @property
    def clock_offset_ms(self) -> float:
        """Server clock minus local clock (ms) as last measured; 0 before any sync."""
        return self._transport.clock_offset_ms

    @property
    def ban_remaining_s(self) -> float:
        """Seconds left of an IP ban (HTTP 403) on this host; 0 when none."""
        return self._transport.ban_remaining_s

    def rate_limit_status(self, path: str) -> RateLimitStatus | None:
        """The ``X-Bapi-Limit*`` headers last seen for ``path`` (e.g. ``/v5/order/create``)."""
        return self._transport.rate_limit_status(path)

    def __repr__(self) -> str:
        if not hasattr(self, "_transport"):  # a traceback showing locals may print one whose __init__ raised
            return "BybitClient(<not set up>)"
        key = f"'{self._creds.masked_key}'" if self._creds is not None else "None"
        return f"BybitClient(base_url='{self.base_url}', api_key={key})"

    def close(self) -> None:
        """Close the HTTP session (when the client created it)."""
        self._transport.close()

    def __enter__(self) -> BybitClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ time
    def get_server_time(self) -> ServerTime:
        """``GET /v5/market/time``: the server's clock and its offset from ours.

        Returns
        -------
        ServerTime

        Raises
        ------
        ExchangeError
            On a failed request or a response without ``timeNano``/``timeSecond``.
        """
        return self._transport.server_time()

    def sync_time(self) -> float:
        """Measure the clock offset (server minus local) and use it for signed timestamps.

        Returns
        -------
        float
            The offset in ms.

        Raises
        ------
        ExchangeError
            As :meth:`get_server_time`.
        """
        return self._transport.sync_time()

    # ------------------------------------------------------------------ requests
    def _get(self, path: str, params: Mapping[str, Any] | None = None, *, signed: bool = False) -> Any:
        return self._transport.get(path, params, signed=signed)

    def _post(self, path: str, body: Mapping[str, Any]) -> Any:
        return self._transport.post(path, body)

    def _paged(self, path: str, params: dict[str, Any], *, signed: bool, max_pages: int) -> list:
        """Follow ``result.nextPageCursor`` until it is empty (at most ``max_pages`` pages)."""
        items: list = []
        seen: set[str] = set()
        cursor: str | None = None
        for _ in range(max_pages):
            result = self._get(path, {**params, "cursor": cursor}, signed=signed)
            items.extend(_list(result, path))
            nxt = result.get("nextPageCursor") if isinstance(result, dict) else None
            if not nxt:
                return items
            if nxt in seen:
                raise ExchangeError(f"{path}: the server repeated the page cursor {nxt!r}", endpoint=path)
            seen.add(nxt)
            cursor = nxt
        raise ExchangeError(f"{path}: more than max_pages={max_pages} pages; narrow the request",
                            endpoint=path)

    # ------------------------------------------------------------------ market data
    def get_instruments(
        self,
        category: Category = "linear",
        *,
        symbol: str | None = None,
        status: str | None = None,
        base_coin: str | None = None,
        page_limit: int = 500,
        max_pages: int = 100,
    ) -> list[InstrumentSpec]:
        """``GET /v5/market/instruments-info``, every page (``cursor``), as instrument specs.

        Parameters
        ----------
        category : {"linear", "inverse", "spot", "option"}
        symbol : str, optional
            One instrument only.
        status : str, optional
            E.g. ``"Trading"`` (Bybit's default) or ``"PreLaunch"``.
        base_coin : str, optional
        page_limit : int
            Items per page, 1..1000 (spot ignores it and does not page).
        max_pages : int
            Bound on the pages followed.

        Returns
        -------
        list of InstrumentSpec
            Tick size, quantity step (``qtyStep``; spot ``basePrecision``) and minimum
            order size of each instrument; also cached for :meth:`get_orderbook`.

        Raises
        ------
        InvalidInputError, ExchangeError
        """
        category = _check_category(category)
        params: dict[str, Any] = {
            "category": category,
            "symbol": None if symbol is None else _check_symbol(symbol),
            "status": status,
            "baseCoin": None if base_coin is None else _check_symbol(base_coin, "base_coin"),
            "limit": _check_int(page_limit, "page_limit", 1, 1000),
        }
        _check_int(max_pages, "max_pages", 1, 100_000)
        items = self._paged("/v5/market/instruments-info", params, signed=False, max_pages=max_pages)
        specs = [InstrumentSpec.from_instruments_info(it, category) for it in items]
        with self._lock:
            for s in specs:
                self._specs[(category, s.symbol)] = s
        return specs

    def get_instrument(self, symbol: str, category: Category = "linear", *, refresh: bool = False) -> InstrumentSpec:
        """The spec of one instrument, from a cache filled by instruments-info.

        Raises
        ------
        InvalidInputError
            If Bybit lists no such instrument in that category.
        """
        category = _check_category(category)
        symbol = _check_symbol(symbol)
        spec = None if refresh else self._specs.get((category, symbol))
        if spec is None:
            found = [s for s in self.get_instruments(category, symbol=symbol) if s.symbol == symbol]
            if not found:
                raise InvalidInputError(f"symbol {symbol!r} is not a {category} instrument on {self.base_url}")
            spec = found[0]
        return spec

    def get_orderbook(
        self, symbol: str, limit: int = 50, category: Category = "linear", *, spec: InstrumentSpec | None = None
    ) -> OrderBook:
        """``GET /v5/market/orderbook`` as an :class:`ofi.OrderBook`.

        Parameters
        ----------
        symbol : str
        limit : int
            Levels per side: spot, linear, inverse 1..1000; option 1..25.
        category : {"linear", "inverse", "spot", "option"}
        spec : InstrumentSpec, optional
            The instrument's grid; fetched once from instruments-info (and cached) when omitted.

        Returns
        -------
        OrderBook
            Levels in integer ticks; ``update_id`` is the response's ``u`` (equal to the ``u``
            of the 1000-level websocket stream), ``ts_exch`` its ``ts`` in ns.

        Raises
        ------
        InvalidInputError
            Bad arguments, or a response that does not fit the instrument's grid.
        ExchangeError
            See the module docstring.
        """
        category = _check_category(category)
        symbol = _check_symbol(symbol)
        limit = _check_int(limit, "limit", 1, _BOOK_LIMITS[category])
        result = self._get("/v5/market/orderbook", {"category": category, "symbol": symbol, "limit": limit})
        if not isinstance(result, dict):
            raise ExchangeError("/v5/market/orderbook: the response has no result object",
                                endpoint="/v5/market/orderbook")
        if spec is not None:
            return book_from_rest(result, spec=spec, symbol=symbol)
        try:
            return book_from_rest(result, spec=self.get_instrument(symbol, category), symbol=symbol)
        except InvalidInputError:
            # The cached tick may be stale (Bybit changes ticks; bybit-v5.md 6.3): refresh it once.
            return book_from_rest(result, spec=self.get_instrument(symbol, category, refresh=True),
                                       symbol=symbol)

    def get_trades(
        self, symbol: str, limit: int | None = None, category: Category = "linear", *,
        spec: InstrumentSpec | None = None,
    ) -> list[Trade]:
        """``GET /v5/market/recent-trade`` as :class:`ofi.Trade` objects, **oldest first**.

        Parameters
        ----------
        symbol : str
        limit : int, optional
            spot 1..60 (default 60); others 1..1000 (default 500).
        category : {"linear", "inverse", "spot", "option"}
        spec : InstrumentSpec, optional
            As for :meth:`get_orderbook`.

        Returns
        -------
        list of Trade
            ``side`` +1 taker buy / -1 taker sell, ``ts_exch`` in ns, ``price_ticks`` on the
            instrument's grid, ``seq`` -1 when absent, ``ts_local`` the receive time (ns).

        Raises
        ------
        InvalidInputError, ExchangeError
        """
        category = _check_category(category)
        symbol = _check_symbol(symbol)
        if limit is not None:
            limit = _check_int(limit, "limit", 1, _TRADE_LIMITS[category])
        result = self._get("/v5/market/recent-trade", {"category": category, "symbol": symbol, "limit": limit})
        items = _list(result, "/v5/market/recent-trade")
        ts_local = time.time_ns()
        if spec is None:
            spec = self.get_instrument(symbol, category)
        try:
            return _trades(items, spec, ts_local)
        except InvalidInputError:
            return _trades(items, self.get_instrument(symbol, category, refresh=True), ts_local)

    def get_klines(
        self,
        symbol: str,
        interval: str | int = "1",
        *,
        category: Category = "linear",
        start_ms: int | None = None,
        end_ms: int | None = None,
        limit: int = 200,
    ) -> Klines:
        """``GET /v5/market/kline`` as arrays, oldest first.

        Parameters
        ----------
        symbol : str
        interval : str or int
            Minutes 1, 3, 5, 15, 30, 60, 120, 240, 360, 720, or ``"D"``, ``"W"``, ``"M"``.
        category : {"linear", "inverse", "spot"}
        start_ms, end_ms : int, optional
            Window in ms since the epoch.
        limit : int
            1..1000 candles.

        Returns
        -------
        Klines

        Raises
        ------
        InvalidInputError, ExchangeError
        """
        category = _check_category(category)
        if category == "option":
            raise InvalidInputError("category must be linear, inverse or spot for klines, got 'option'")
        symbol = _check_symbol(symbol)
        iv = str(interval).strip().upper() if not isinstance(interval, bool) else ""
        if iv not in _KLINE_INTERVALS:
            raise InvalidInputError(f"interval must be one of {', '.join(_KLINE_INTERVALS)}; got {interval!r}")
        limit = _check_int(limit, "limit", 1, 1000)
        if start_ms is not None:
            start_ms = _check_int(start_ms, "start_ms", 0, 2**53)
        if end_ms is not None:
            end_ms = _check_int(end_ms, "end_ms", 0, 2**53)
            if start_ms is not None and end_ms < start_ms:
                raise InvalidInputError(f"end_ms ({end_ms}) must not be before start_ms ({start_ms})")
        result = self._get("/v5/market/kline", {"category": category, "symbol": symbol, "interval": iv,
                                                "start": start_ms, "end": end_ms, "limit": limit})
        return _klines(_list(result, "/v5/market/kline"), symbol, category, iv)

    def get_tickers(
        self, category: Category = "linear", *, symbol: str | None = None, base_coin: str | None = None,
        exp_date: str | None = None,
    ) -> list[Ticker]:
        """``GET /v5/market/tickers``.

        Parameters
        ----------
        category : {"linear", "inverse", "spot", "option"}
        symbol : str, optional
        base_coin, exp_date : str, optional
            Option only (options need ``symbol`` or ``base_coin``).

        Returns
        -------
        list of Ticker

        Raises
        ------
        InvalidInputError, ExchangeError
        """
        category = _check_category(category)
        if category == "option" and symbol is None and base_coin is None:
            raise InvalidInputError("option tickers need symbol= or base_coin=")
        params = {"category": category,
                  "symbol": None if symbol is None else _check_symbol(symbol),
                  "baseCoin": None if base_coin is None else _check_symbol(base_coin, "base_coin"),
                  "expDate": exp_date}
        items = _list(self._get("/v5/market/tickers", params), "/v5/market/tickers")
        return [_ticker(it, category) for it in items if isinstance(it, dict)]

    def get_ticker(self, symbol: str, category: Category = "linear") -> Ticker:
        """The ticker of one symbol (see :meth:`get_tickers`)."""
        symbol = _check_symbol(symbol)
        for t in self.get_tickers(category, symbol=symbol):
            if t.symbol == symbol:
                return t
        raise InvalidInputError(f"no {category} ticker for {symbol!r} on {self.base_url}")

    # ------------------------------------------------------------------ account (signed)
    def get_wallet_balance(self, account_type: str = "UNIFIED", *, coin: str | None = None) -> WalletBalance:
        """``GET /v5/account/wallet-balance`` (signed).

        Parameters
        ----------
        account_type : {"UNIFIED", "CONTRACT", "SPOT"}
        coin : str, optional
            One coin (e.g. ``"USDT"``), or comma-separated coins.

        Returns
        -------
        WalletBalance

        Raises
        ------
        AuthenticationError, InvalidInputError, ExchangeError
        """
        if account_type not in ("UNIFIED", "CONTRACT", "SPOT"):
            raise InvalidInputError(f"account_type must be UNIFIED, CONTRACT or SPOT; got {account_type!r}")
        if coin is not None and not (isinstance(coin, str) and re.fullmatch(r"[A-Z0-9]+(,[A-Z0-9]+)*", coin)):
            raise InvalidInputError(f"coin must be upper-case coin names separated by commas, got {coin!r}")
        path = "/v5/account/wallet-balance"
        lst = _list(self._get(path, {"accountType": account_type, "coin": coin}, signed=True), path)
        return _wallet(lst, account_type)

    def get_positions(
        self, category: Category = "linear", *, symbol: str | None = None, settle_coin: str | None = None,
        max_pages: int = 50,
    ) -> list[Position]:
        """``GET /v5/position/list`` (signed), every page.

        Parameters
        ----------
        category : {"linear", "inverse", "option"}
        symbol, settle_coin : str, optional
            Linear needs one of them (e.g. ``settle_coin="USDT"``).

        Returns
        -------
        list of Position

        Raises
        ------
        AuthenticationError, InvalidInputError, ExchangeError
        """
        category = _check_category(category)
        if category == "spot":
            raise InvalidInputError("positions exist for linear, inverse and option only; got category='spot'")
        if category == "linear" and symbol is None and settle_coin is None:
            raise InvalidInputError("linear positions need symbol= or settle_coin= (e.g. settle_coin='USDT')")
        params = {"category": category, "symbol": None if symbol is None else _check_symbol(symbol),
                  "settleCoin": None if settle_coin is None else _check_symbol(settle_coin, "settle_coin"),
                  "limit": 200}
        items = self._paged("/v5/position/list", params, signed=True, max_pages=max_pages)
        return [_position(p, category) for p in items if isinstance(p, dict)]

    def get_open_orders(
        self,
        category: Category = "linear",
        *,
        symbol: str | None = None,
        settle_coin: str | None = None,
        base_coin: str | None = None,
        order_id: str | None = None,
        order_link_id: str | None = None,
        max_pages: int = 50,
    ) -> list[Order]:
        """``GET /v5/order/realtime`` (signed): open orders, every page.

        Linear and inverse need ``symbol``, ``settle_coin`` or ``base_coin``.

        Returns
        -------
        list of Order

        Raises
        ------
        AuthenticationError, InvalidInputError, ExchangeError
        """
        category = _check_category(category)
        if category in ("linear", "inverse") and symbol is None and settle_coin is None and base_coin is None:
            raise InvalidInputError(f"{category} open orders need symbol=, settle_coin= or base_coin=")
        params = {"category": category, "symbol": None if symbol is None else _check_symbol(symbol),
                  "settleCoin": None if settle_coin is None else _check_symbol(settle_coin, "settle_coin"),
                  "baseCoin": None if base_coin is None else _check_symbol(base_coin, "base_coin"),
                  "orderId": None if order_id is None else _order_id(order_id),
                  "orderLinkId": None if order_link_id is None else _link_id(order_link_id),
                  "limit": 50}
        items = self._paged("/v5/order/realtime", params, signed=True, max_pages=max_pages)
        return [_order(o, category) for o in items if isinstance(o, dict)]

    def place_order(
        self,
        symbol: str,
        side: Side | int,
        order_type: OrderType,
        qty: str | float | Decimal,
        price: str | float | Decimal | None = None,
        *,
        category: Category = "linear",
        time_in_force: TimeInForce | None = None,
        reduce_only: bool = False,
        order_link_id: str | None = None,
        position_idx: int | None = None,
        spec: InstrumentSpec | None = None,
    ) -> OrderAck:
        """``POST /v5/order/create`` (signed).

        Parameters
        ----------
        symbol : str
        side : {"Buy", "Sell"} or {+1, -1}
        order_type : {"Market", "Limit"}
        qty : str, float or Decimal
            Base units (spot market buys: quote units). Must be on the ``qty_step`` grid and
            at least ``min_order_qty`` when the client validates orders.
        price : str, float or Decimal, optional
            Required for Limit orders, refused for Market orders; on the tick grid.
        category : {"linear", "inverse", "spot", "option"}
        time_in_force : {"GTC", "IOC", "FOK", "PostOnly"}, optional
            Bybit's default: GTC for Limit, IOC for Market. PostOnly needs a Limit order.
        reduce_only : bool
            Only reduce a position (not for spot).
        order_link_id : str, optional
            Your id for the order: 1..36 letters, digits, ``-`` or ``_``.
        position_idx : {0, 1, 2}, optional
            0 one-way, 1 hedge-mode buy side, 2 hedge-mode sell side.
        spec : InstrumentSpec, optional
            The grid to check against (default: fetched once and cached, if ``validate_orders``).

        Returns
        -------
        OrderAck

        Raises
        ------
        InvalidInputError
            Before anything is sent, for any bad argument (the message names it).
        AuthenticationError, ExchangeError
            As answered by Bybit. A POST is never retried after a timeout or a 5xx.
        """
        category = _check_category(category)
        symbol = _check_symbol(symbol)
        side_s = _side(side)
        otype = _normalise(order_type, "order_type", _TYPE_TABLE)
        q = _decimal(qty, "qty")
        p = None if price is None else _decimal(price, "price")
        if otype == "Limit" and p is None:
            raise InvalidInputError("price is required for a Limit order")
        if otype == "Market" and p is not None:
            raise InvalidInputError("price must be None for a Market order (use a Limit order with IOC)")
        tif = None if time_in_force is None else _normalise(time_in_force, "time_in_force", _TIF_TABLE)
        if tif == "PostOnly" and otype != "Limit":
            raise InvalidInputError("time_in_force='PostOnly' needs order_type='Limit'")
        if not isinstance(reduce_only, bool):
            raise InvalidInputError(f"reduce_only must be True or False, got {reduce_only!r}")
        if reduce_only and category == "spot":
            raise InvalidInputError("reduce_only is not available for spot orders")
        link = None if order_link_id is None else _link_id(order_link_id)
        if position_idx is not None:
            position_idx = _check_int(position_idx, "position_idx", 0, 2)
        spec = self._order_spec(symbol, category, spec)
        if spec is not None:
            if not (category == "spot" and otype == "Market" and side_s == "Buy"):
                _check_grid(q, spec.qty_step, "qty", "qty_step", symbol)
                if q < spec.min_order_qty:
                    raise InvalidInputError(f"qty {_dec_str(q)} is below min_order_qty {spec.min_order_qty} for {symbol}")
            if p is not None:
                _check_grid(p, spec.tick_size, "price", "tick_size", symbol)
        body = {"category": category, "symbol": symbol, "side": side_s, "orderType": otype, "qty": _dec_str(q),
                "price": None if p is None else _dec_str(p), "timeInForce": tif,
                "reduceOnly": True if reduce_only else None, "orderLinkId": link, "positionIdx": position_idx}
        return _ack(self._post("/v5/order/create", body), "/v5/order/create")

    def amend_order(
        self,
        symbol: str,
        *,
        order_id: str | None = None,
        order_link_id: str | None = None,
        qty: str | float | Decimal | None = None,
        price: str | float | Decimal | None = None,
        category: Category = "linear",
        spec: InstrumentSpec | None = None,
    ) -> OrderAck:
        """``POST /v5/order/amend`` (signed): new qty and/or price of an open order.

        Exactly one of ``order_id`` / ``order_link_id``; at least one of ``qty`` / ``price``.

        Raises
        ------
        InvalidInputError, AuthenticationError, ExchangeError
        """
        category = _check_category(category)
        symbol = _check_symbol(symbol)
        oid, link = _one_id(order_id, order_link_id)
        if qty is None and price is None:
            raise InvalidInputError("amend_order needs qty= or price= (or both)")
        q = None if qty is None else _decimal(qty, "qty")
        p = None if price is None else _decimal(price, "price")
        spec = self._order_spec(symbol, category, spec)
        if spec is not None:
            if q is not None:
                _check_grid(q, spec.qty_step, "qty", "qty_step", symbol)
            if p is not None:
                _check_grid(p, spec.tick_size, "price", "tick_size", symbol)
        body = {"category": category, "symbol": symbol, "orderId": oid, "orderLinkId": link,
                "qty": None if q is None else _dec_str(q), "price": None if p is None else _dec_str(p)}
        return _ack(self._post("/v5/order/amend", body), "/v5/order/amend")

    def cancel_order(
        self, symbol: str, *, order_id: str | None = None, order_link_id: str | None = None,
        category: Category = "linear",
    ) -> OrderAck:
        """``POST /v5/order/cancel`` (signed). Exactly one of ``order_id`` / ``order_link_id``.

        Raises
        ------
        InvalidInputError, AuthenticationError, ExchangeError
        """
        category = _check_category(category)
        symbol = _check_symbol(symbol)
        oid, link = _one_id(order_id, order_link_id)
        body = {"category": category, "symbol": symbol, "orderId": oid, "orderLinkId": link}
        return _ack(self._post("/v5/order/cancel", body), "/v5/order/cancel")

    def _order_spec(self, symbol: str, category: str, spec: InstrumentSpec | None) -> InstrumentSpec | None:
        if spec is not None:
            if not isinstance(spec, InstrumentSpec):
                raise InvalidInputError(f"spec must be an InstrumentSpec, got {type(spec).__name__}")
            return spec
        if not self._validate_orders:
            return None
        if self._creds is None:  # fail on the missing keys first, before any request
            raise AuthenticationError(
                "order endpoints need API keys: pass api_key= and api_secret= or set BYBIT_API_KEY and "
                "BYBIT_API_SECRET")
        return self.get_instrument(symbol, category)
