"""Bybit V5 REST client: market data (public) and account / order endpoints (signed).

>>> from ofi.api import BybitClient
>>> client = BybitClient()                              # doctest: +SKIP
>>> book = client.get_orderbook("BTCUSDT", 50)          # doctest: +SKIP
>>> book.mid_price(), book.spread_bps()                 # doctest: +SKIP

Every response is the V5 envelope ``{retCode, retMsg, result, retExtInfo, time}``
(bybit-v5.md section 2). The client unwraps it and turns failures into :mod:`ofi.errors`:

=========================================  ==============================================  ==================
what Bybit answers                          what the client does                            raised at the end
=========================================  ==============================================  ==================
``retCode`` 0                               returns the typed result
HTTP 429, ``retCode`` 10006                 waits until ``X-Bapi-Limit-Reset-Timestamp``    :class:`RateLimitError`
                                            (or ``Retry-After``, or backoff), retries at
                                            most ``max_retries`` times; a wait longer than
                                            ``max_rate_limit_wait_s`` is not waited
HTTP 403 (IP limit: "access too frequent")  stops every request to that host for            :class:`IpBanError`
                                            ``ip_ban_s`` (Bybit: at least 10 min); later
                                            calls raise at once with the time left
HTTP 5xx, ``retCode`` 10000 / 10016         backoff with jitter, at most ``max_retries``    :class:`ExchangeError`
                                            times (GET only: a POST may have been executed)
``retCode`` 10002 (timestamp)               re-syncs the clock offset once, retries once    :class:`ExchangeError`
``retCode`` 10003/10004/10005/10010, 401    no retry                                        :class:`AuthenticationError`
``retCode`` 10001 and every other code      no retry                                        :class:`ExchangeError`
timeout, connection error                   GET retried like a 5xx; POST never              :class:`RequestTimeoutError`,
                                                                                            :class:`TransportError`
a body that is not a V5 envelope            no retry                                        :class:`ExchangeError`
=========================================  ==============================================  ==================

Every request carries a timeout, TLS verification cannot be turned off, redirects are not
followed (signed headers never go to another host), and a client-side window keeps the IP
under Bybit's 600 requests per 5 s. The IP ban and the window are shared by every client of
one host in the process, since Bybit counts them per IP.

Secrets: the API secret is held by :class:`ofi.api.signing.Secret` (masked ``repr``, refuses
to be pickled); log records carry the method, path, query and status (and, for a retry, the
error), never headers, signatures or bodies of signed requests; exception messages never hold a header.
"""
from __future__ import annotations

import logging
import math
import os
import random
import re
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np
import requests

from ofi._core.book import OrderBook
from ofi._core.decode import FrameDecoder, Trade
from ofi.api.signing import DEFAULT_RECV_WINDOW_MS, Credentials, Secret, json_body, query_string
from ofi.errors import (
    AuthenticationError,
    ExchangeError,
    InvalidInputError,
    IpBanError,
    RateLimitError,
    RequestTimeoutError,
    TransportError,
)
from ofi.spec import InstrumentSpec

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

log = logging.getLogger("ofi.api.rest")

MAINNET_URL = "https://api.bybit.com"
MAINNET_ALT_URL = "https://api.bytick.com"
TESTNET_URL = "https://api-testnet.bybit.com"
DEMO_URL = "https://api-demo.bybit.com"

Category = Literal["linear", "inverse", "spot", "option"]
Side = Literal["Buy", "Sell"]
OrderType = Literal["Market", "Limit"]
TimeInForce = Literal["GTC", "IOC", "FOK", "PostOnly"]

_CATEGORIES = ("linear", "inverse", "spot", "option")
_BOOK_LIMITS = {"spot": 1000, "linear": 1000, "inverse": 1000, "option": 25}
_TRADE_LIMITS = {"spot": 60, "linear": 1000, "inverse": 1000, "option": 1000}
_KLINE_INTERVALS = ("1", "3", "5", "15", "30", "60", "120", "240", "360", "720", "D", "W", "M")
_SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9_\-]{0,63}$")
_LINK_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,36}$")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")

_AUTH_CODES = frozenset({10003, 10004, 10005, 10007, 10009, 10010, 33004})
_RATE_CODES = frozenset({10006})
_SERVER_CODES = frozenset({10000, 10016, 429})  # 429 as a retCode: "trading service under high load"
_TIME_CODE = 10002
_TRUE = ("1", "true", "yes", "on")


# ----------------------------------------------------------------------------- results
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


# ----------------------------------------------------------------------------- host guard
class _HostGuard:
    """Per-host state shared by every client in the process: Bybit's IP limits are per IP."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ban_until = 0.0  # time.monotonic()
        self.ban_reason = ""
        self.sent: deque[float] = deque()

    def ban_remaining(self) -> float:
        with self.lock:
            return max(0.0, self.ban_until - time.monotonic())

    def ban(self, seconds: float, reason: str) -> None:
        with self.lock:
            self.ban_until = max(self.ban_until, time.monotonic() + seconds)
            self.ban_reason = reason

    def acquire(self, limit: int, window_s: float) -> float:
        """Reserve a slot in the IP window; returns how long the caller must wait first."""
        with self.lock:
            now = time.monotonic()
            sent = self.sent
            while sent and sent[0] <= now - window_s:
                sent.popleft()
            wait = 0.0
            if len(sent) >= limit:
                wait = sent[-limit] + window_s - now
            sent.append(now + max(wait, 0.0))
            if len(sent) > 100_000:
                sent.popleft()
            return max(wait, 0.0)


_GUARDS: dict[str, _HostGuard] = {}
_GUARDS_LOCK = threading.Lock()


def _guard_for(netloc: str) -> _HostGuard:
    with _GUARDS_LOCK:
        g = _GUARDS.get(netloc)
        if g is None:
            g = _GUARDS[netloc] = _HostGuard()
        return g


@dataclass(slots=True)
class _Reply:
    result: Any
    time_ms: int | None
    sent_ns: int
    received_ns: int


@dataclass(slots=True)
class _Retry:
    """A failed attempt the loop may retry: why, and the wait it asks for (None: backoff)."""

    error: ExchangeError
    wait_s: float | None = None


# ----------------------------------------------------------------------------- helpers
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


def _check_category(category: Any) -> str:
    if category not in _CATEGORIES:
        raise InvalidInputError(f"category must be one of {', '.join(_CATEGORIES)}; got {category!r}")
    return category


def _check_symbol(symbol: Any, name: str = "symbol") -> str:
    if not isinstance(symbol, str):
        raise InvalidInputError(f"{name} must be a string such as 'BTCUSDT', got {type(symbol).__name__}")
    s = symbol.strip().upper()
    if not _SYMBOL_RE.match(s):
        raise InvalidInputError(f"{name} must be letters, digits, '-' or '_' (e.g. 'BTCUSDT'), got {symbol!r}")
    return s


def _check_int(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidInputError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
    v = int(value)
    if not lo <= v <= hi:
        raise InvalidInputError(f"{name} must be in [{lo}, {hi}], got {v}")
    return v


def _check_positive(value: Any, name: str, *, allow_inf: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInputError(f"{name} must be a number > 0, got {value!r}")
    v = float(value)
    if not (v > 0) or (math.isinf(v) and not allow_inf):
        raise InvalidInputError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def _check_non_negative(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (float(value) >= 0) \
            or math.isinf(float(value)):
        raise InvalidInputError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


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


def _normalise(value: Any, name: str, table: Mapping[str, str]) -> str:
    key = value.replace("_", "").replace(" ", "").lower() if isinstance(value, str) else None
    if key not in table:
        raise InvalidInputError(f"{name} must be one of {', '.join(sorted(set(table.values())))}; got {value!r}")
    return table[key]


_SIDE_TABLE = {"buy": "Buy", "sell": "Sell", "long": "Buy", "short": "Sell"}
_TYPE_TABLE = {"market": "Market", "limit": "Limit"}
_TIF_TABLE = {"gtc": "GTC", "ioc": "IOC", "fok": "FOK", "postonly": "PostOnly"}


def _side(value: Any) -> str:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and int(value) in (1, -1):
        return "Buy" if int(value) == 1 else "Sell"
    return _normalise(value, "side", _SIDE_TABLE)


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    v = headers.get(name)
    if v is None:
        return None
    try:
        return int(float(v))
    except (TypeError, ValueError):
        return None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    v = headers.get("Retry-After")
    if v is None:
        return None
    try:
        s = float(v)
    except (TypeError, ValueError):
        return None
    return s if s >= 0 and math.isfinite(s) else None


def _snippet(text: str, n: int = 120) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= n else text[:n] + "...")


# ----------------------------------------------------------------------------- the client
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
        # -- host
        if testnet is None:
            testnet = os.environ.get("BYBIT_TESTNET", "").strip().lower() in _TRUE
        if base_url is None:
            base_url = DEMO_URL if demo else TESTNET_URL if testnet else MAINNET_URL
        if not isinstance(base_url, str):
            raise InvalidInputError(f"base_url must be a string, got {type(base_url).__name__}")
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise InvalidInputError(f"base_url must look like https://host[:port], got {base_url!r}")
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
            raise InvalidInputError(f"base_url must use https (plain http only for loopback hosts), got {base_url!r}")
        if parts.path.strip("/") or parts.query or parts.fragment:
            raise InvalidInputError(f"base_url must be the host only (no path or query), got {base_url!r}")
        self._base_url = f"{parts.scheme}://{parts.netloc}"
        self._testnet = bool(testnet) and base_url == TESTNET_URL
        self._guard = _guard_for(parts.netloc.lower())
        # -- TLS
        if verify is False or verify is None:
            raise InvalidInputError(
                "verify=False is refused: TLS verification protects your API key and orders; "
                "pass the path of a CA bundle (verify='/path/ca.pem') if your network needs one"
            )
        if verify is not True and not (isinstance(verify, str) and verify):
            raise InvalidInputError(f"verify must be True or the path of a CA bundle, got {verify!r}")
        self._verify: bool | str = verify
        # -- credentials
        if api_key is None and api_secret is None:
            self._creds = Credentials.from_env()
        elif api_key is None or api_secret is None:
            raise InvalidInputError("pass both api_key and api_secret, or neither (then BYBIT_API_KEY / BYBIT_API_SECRET)")
        else:
            self._creds = Credentials(api_key, api_secret)
        # -- options
        if isinstance(timeout, tuple):
            if len(timeout) != 2:
                raise InvalidInputError(f"timeout must be seconds or a (connect, read) pair, got {timeout!r}")
            self._timeout: float | tuple[float, float] = (
                _check_positive(timeout[0], "timeout[0]"), _check_positive(timeout[1], "timeout[1]"))
        else:
            self._timeout = _check_positive(timeout, "timeout")
        self._recv_window = _check_int(recv_window_ms, "recv_window_ms", 1, 60_000)
        self._max_retries = _check_int(max_retries, "max_retries", 0, 20)
        self._backoff = _check_non_negative(backoff_s, "backoff_s")
        self._backoff_max = _check_non_negative(backoff_max_s, "backoff_max_s")
        self._max_rl_wait = _check_non_negative(max_rate_limit_wait_s, "max_rate_limit_wait_s")
        self._ip_ban_s = _check_non_negative(ip_ban_s, "ip_ban_s")
        self._max_ban_wait = _check_non_negative(max_ban_wait_s, "max_ban_wait_s")
        if not (isinstance(ip_rate_limit, tuple) and len(ip_rate_limit) == 2):
            raise InvalidInputError(f"ip_rate_limit must be (requests, seconds), got {ip_rate_limit!r}")
        self._ip_limit = _check_int(ip_rate_limit[0], "ip_rate_limit[0]", 1, 1_000_000)
        self._ip_window = _check_positive(ip_rate_limit[1], "ip_rate_limit[1]")
        self._time_sync = bool(time_sync)
        self._time_sync_interval = _check_positive(time_sync_interval_s, "time_sync_interval_s", allow_inf=True)
        self._validate_orders = bool(validate_orders)
        # -- state
        self._session = session if session is not None else requests.Session()
        self._own_session = session is None
        self._lock = threading.Lock()
        self._offset_ns = 0
        self._synced_at: float | None = None  # time.monotonic() of the last sync
        self._limits: dict[str, RateLimitStatus] = {}
        self._specs: dict[tuple[str, str], InstrumentSpec] = {}
        self._rng = random.Random()

    # ------------------------------------------------------------------ properties
    @property
    def base_url(self) -> str:
        """The host every request goes to, e.g. ``https://api.bybit.com``."""
        return self._base_url

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
        return self._offset_ns / 1e6

    @property
    def ban_remaining_s(self) -> float:
        """Seconds left of an IP ban (HTTP 403) on this host; 0 when none."""
        return self._guard.ban_remaining()

    def rate_limit_status(self, path: str) -> RateLimitStatus | None:
        """The ``X-Bapi-Limit*`` headers last seen for ``path`` (e.g. ``/v5/order/create``)."""
        return self._limits.get(path)

    def __repr__(self) -> str:
        key = f"'{self._creds.masked_key}'" if self._creds is not None else "None"
        return f"BybitClient(base_url='{self._base_url}', api_key={key})"

    def close(self) -> None:
        """Close the HTTP session (when the client created it)."""
        if self._own_session:
            self._session.close()

    def __enter__(self) -> BybitClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ time
    def _now_ms(self) -> int:
        """Local time corrected to server time, ms."""
        return (time.time_ns() + self._offset_ns) // 1_000_000

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
        reply = self._call("GET", "/v5/market/time", None, signed=False)
        r = reply.result if isinstance(reply.result, dict) else {}
        server_ns = _int_or_none(r.get("timeNano"))
        if server_ns is None:
            sec = _int_or_none(r.get("timeSecond"))
            server_ns = sec * 1_000_000_000 if sec is not None else (
                reply.time_ms * 1_000_000 if reply.time_ms is not None else None)
        if server_ns is None:
            raise ExchangeError("GET /v5/market/time returned no time", endpoint="/v5/market/time")
        mid = (reply.sent_ns + reply.received_ns) // 2
        return ServerTime(server_ns, (server_ns - mid) / 1e6, (reply.received_ns - reply.sent_ns) / 1e6)

    def sync_time(self) -> float:
        """Measure the clock offset (server minus local) and use it for signed timestamps.

        Returns
        -------
        float
            The offset in ms.
        """
        st = self.get_server_time()
        with self._lock:
            self._offset_ns = int(st.offset_ms * 1e6)
            self._synced_at = time.monotonic()
        log.debug("clock offset to %s: %+.1f ms (rtt %.1f ms)", self._base_url, st.offset_ms, st.rtt_ms)
        return st.offset_ms

    def _maybe_sync(self) -> None:
        if not self._time_sync:
            return
        at = self._synced_at
        if at is None or time.monotonic() - at > self._time_sync_interval:
            self.sync_time()

    # ------------------------------------------------------------------ the request loop
    def _call(self, method: str, path: str, params: Mapping[str, Any] | None, *, signed: bool) -> _Reply:
        endpoint = f"{method} {path}"
        if signed and self._creds is None:
            raise AuthenticationError(
                f"{endpoint} is a private endpoint and needs API keys: pass api_key= and api_secret= "
                f"or set BYBIT_API_KEY and BYBIT_API_SECRET", endpoint=path)
        if signed:
            self._maybe_sync()
        if method == "GET":
            qs = query_string(params)
            url = f"{self._base_url}{path}?{qs}" if qs else f"{self._base_url}{path}"
            payload, body = qs, None
        else:
            payload = body = json_body(params)
            url = f"{self._base_url}{path}"
        retries = 0
        resynced = False
        while True:
            self._before_send(path, endpoint)
            headers = {"Accept": "application/json"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            if signed:
                assert self._creds is not None
                headers.update(self._creds.headers(self._now_ms(), self._recv_window, payload))
            sent = time.time_ns()
            t0 = time.perf_counter()
            try:
                resp = self._session.request(
                    method, url, data=body, headers=headers, timeout=self._timeout,
                    verify=self._verify, allow_redirects=False)
            except requests.exceptions.SSLError as exc:
                raise TransportError(f"{endpoint}: TLS verification failed ({type(exc).__name__})",
                                     endpoint=path) from None
            except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as exc:
                timed_out = isinstance(exc, requests.exceptions.Timeout)
                what = f"timed out after {self._timeout} s" if timed_out else "could not connect"
                if method == "GET" and retries < self._max_retries:
                    retries += 1
                    self._pause(endpoint, what, retries, None)
                    continue
                cls = RequestTimeoutError if timed_out else TransportError
                tries = f" ({retries + 1} attempts)" if retries else ""
                hint = "" if method == "GET" else "; a POST is not retried: check whether it was executed"
                raise cls(f"{endpoint} {what}{tries}{hint}", endpoint=path) from None
            except requests.exceptions.RequestException as exc:
                raise TransportError(f"{endpoint} failed: {type(exc).__name__}", endpoint=path) from None
            received = time.time_ns()
            # method, path, query and status only: never headers, and never a signed body
            log.debug("%s%s -> HTTP %d in %.1f ms", endpoint, f"?{payload}" if method == "GET" and payload else "",
                      resp.status_code, (time.perf_counter() - t0) * 1e3)
            try:
                reply_or_retry = self._classify(resp, method, path, endpoint, signed, sent, received)
            finally:
                resp.close()
            if isinstance(reply_or_retry, _Reply):
                return reply_or_retry
            retry = reply_or_retry
            err = retry.error
            if err.ret_code == _TIME_CODE:
                if not resynced:
                    resynced = True
                    log.warning("%s: retCode 10002 (timestamp outside recv_window); re-syncing the clock", endpoint)
                    self.sync_time()
                    continue
                raise ExchangeError(
                    f"{err}; the clock was re-synced once (offset {self.clock_offset_ms:+.0f} ms) and it "
                    f"failed again: check the system clock (NTP) or raise recv_window_ms",
                    status=err.status, ret_code=err.ret_code, ret_msg=err.ret_msg, endpoint=path)
            if isinstance(err, IpBanError):
                if retries < self._max_retries and err.retry_after_s <= self._max_ban_wait:
                    retries += 1
                    continue  # _before_send waits out the ban
                raise err
            if retries >= self._max_retries:
                raise type(err)(f"{err} (gave up after {retries + 1} attempts)", status=err.status,
                                ret_code=err.ret_code, ret_msg=err.ret_msg, endpoint=path)
            if retry.wait_s is not None and retry.wait_s > self._max_rl_wait:
                exc = RateLimitError(
                    f"{err}; the limit resets in {retry.wait_s:.1f} s, longer than "
                    f"max_rate_limit_wait_s={self._max_rl_wait:g}", status=err.status,
                    ret_code=err.ret_code, ret_msg=err.ret_msg, endpoint=path)
                exc.retry_after_s = retry.wait_s  # type: ignore[attr-defined]
                raise exc
            retries += 1
            self._pause(endpoint, str(err), retries, retry.wait_s)

    def _pause(self, endpoint: str, why: str, retry: int, wait_s: float | None) -> None:
        if wait_s is None:
            wait_s = min(self._backoff_max, self._backoff * 2 ** (retry - 1)) * self._rng.uniform(0.5, 1.0)
        log.warning("%s: %s; retry %d/%d in %.2f s", endpoint, why, retry, self._max_retries, wait_s)
        if wait_s > 0:
            time.sleep(wait_s)

    def _before_send(self, path: str, endpoint: str) -> None:
        """Honour an IP ban, the per-endpoint limit headers and the IP window before sending."""
        remaining = self._guard.ban_remaining()
        if remaining > 0:
            if remaining > self._max_ban_wait:
                raise IpBanError(
                    f"{endpoint} not sent: {self._base_url} banned this IP (HTTP 403: "
                    f"{self._guard.ban_reason}); requests resume in {remaining:.1f} s",
                    retry_after_s=remaining, status=403, endpoint=path)
            log.warning("%s: waiting %.2f s for the IP ban on %s to end", endpoint, remaining, self._base_url)
            time.sleep(remaining)
        st = self._limits.get(path)
        if st is not None and st.remaining is not None and st.remaining <= 0 and st.reset_ms is not None:
            # + 5 ms: the reset is stamped in whole ms, arriving a hair early would spend a request
            wait = (st.reset_ms - self._now_ms()) / 1e3 + 0.005
            if wait > 0.005:
                if wait > self._max_rl_wait:
                    exc = RateLimitError(
                        f"{endpoint} not sent: its rate limit ({st.limit} per window) is used up and resets "
                        f"in {wait:.1f} s, longer than max_rate_limit_wait_s={self._max_rl_wait:g}",
                        ret_code=10006, endpoint=path)
                    exc.retry_after_s = wait  # type: ignore[attr-defined]
                    raise exc
                log.debug("%s: rate limit used up, waiting %.3f s for its reset", endpoint, wait)
                time.sleep(wait)
            with self._lock:
                self._limits.pop(path, None)
        wait = self._guard.acquire(self._ip_limit, self._ip_window)
        if wait > 0:
            log.debug("%s: client-side IP limit (%d per %g s), waiting %.3f s",
                      endpoint, self._ip_limit, self._ip_window, wait)
            time.sleep(wait)

    def _classify(self, resp: requests.Response, method: str, path: str, endpoint: str, signed: bool,
                  sent: int, received: int) -> _Reply | _Retry:
        status = resp.status_code
        h = resp.headers
        limit, remaining, reset = (_header_int(h, "X-Bapi-Limit"), _header_int(h, "X-Bapi-Limit-Status"),
                                   _header_int(h, "X-Bapi-Limit-Reset-Timestamp"))
        if remaining is not None:
            with self._lock:
                self._limits[path] = RateLimitStatus(limit, remaining, reset)
        if status == 403:
            ban = _retry_after(h)
            ban = self._ip_ban_s if ban is None else ban
            reason = (resp.text or "").strip()[:80] or "forbidden"
            self._guard.ban(ban, reason)
            log.error("%s: HTTP 403 (%s); no requests to %s for %.0f s", endpoint, reason, self._base_url, ban)
            return _Retry(IpBanError(
                f"{endpoint}: HTTP 403 {_snippet(reason, 80)} from {self._base_url}: the IP limit (600 requests "
                f"per 5 s) was broken, or this IP is in a restricted region; every request to this host stops "
                f"for {ban:.1f} s", retry_after_s=ban, status=403, endpoint=path))
        if status == 429:
            wait = _retry_after(h)
            if wait is None:
                wait = self._reset_wait(reset)
            return _Retry(RateLimitError(f"{endpoint}: HTTP 429 (too many requests)", status=429, endpoint=path),
                          wait)
        if status == 401:
            raise AuthenticationError(
                f"{endpoint}: HTTP 401: the API key is invalid or the auth headers are missing", status=401,
                endpoint=path)
        if status >= 500:
            err = ExchangeError(f"{endpoint}: HTTP {status} {_snippet(resp.text or '', 60)}", status=status,
                                endpoint=path)
            if method == "GET":
                return _Retry(err)
            raise ExchangeError(f"{err}; a POST is not retried: check whether it was executed", status=status,
                                endpoint=path)
        try:
            data = resp.json()
        except ValueError:
            raise ExchangeError(
                f"{endpoint}: HTTP {status} with a body that is not JSON ({len(resp.content)} bytes: "
                f"{_snippet(resp.text or '')})", status=status, endpoint=path) from None
        if not isinstance(data, dict) or not ("retCode" in data or "ret_code" in data):
            raise ExchangeError(
                f"{endpoint}: HTTP {status} with a body that is not a V5 envelope (no retCode): "
                f"{_snippet(str(data))}", status=status, endpoint=path)
        raw_code = data.get("retCode", data.get("ret_code"))
        try:
            code = int(raw_code)
        except (TypeError, ValueError):
            raise ExchangeError(f"{endpoint}: retCode is not an integer: {raw_code!r}", status=status,
                                endpoint=path) from None
        msg = data.get("retMsg", data.get("ret_msg"))
        msg = "" if msg is None else str(msg)
        if code == 0 and status == 200:
            return _Reply(data.get("result"), _int_or_none(data.get("time")), sent, received)
        if code == 0:
            raise ExchangeError(f"{endpoint}: HTTP {status}", status=status, endpoint=path)
        text = f"{endpoint}: Bybit error {code}: {msg!r}"
        if code in _RATE_CODES:
            return _Retry(RateLimitError(text, status=status, ret_code=code, ret_msg=msg, endpoint=path),
                          self._reset_wait(reset))
        if code == _TIME_CODE and signed:
            return _Retry(ExchangeError(text, status=status, ret_code=code, ret_msg=msg, endpoint=path))
        if code in _AUTH_CODES:
            raise AuthenticationError(text, status=status, ret_code=code, ret_msg=msg, endpoint=path)
        if code in _SERVER_CODES and method == "GET":
            return _Retry(ExchangeError(text, status=status, ret_code=code, ret_msg=msg, endpoint=path))
        raise ExchangeError(text, status=status, ret_code=code, ret_msg=msg, endpoint=path)

    def _reset_wait(self, reset_ms: int | None) -> float | None:
        """Seconds until a limit resets (server time), or None to use the backoff."""
        if reset_ms is None:
            return None
        wait = (reset_ms - self._now_ms()) / 1e3
        # a reset "roughly now" (or a clock far off) gives a negative wait: back off instead
        return wait + 0.005 if wait > 0 else None

    def _get(self, path: str, params: Mapping[str, Any] | None = None, *, signed: bool = False) -> Any:
        return self._call("GET", path, params, signed=signed).result

    def _post(self, path: str, body: Mapping[str, Any]) -> Any:
        return self._call("POST", path, body, signed=True).result

    def _list(self, result: Any, path: str) -> list:
        lst = result.get("list") if isinstance(result, dict) else None
        if not isinstance(lst, list):
            raise ExchangeError(f"{path}: result has no 'list'", endpoint=path)
        return lst

    def _paged(self, path: str, params: dict[str, Any], *, signed: bool, max_pages: int) -> list:
        """Follow ``result.nextPageCursor`` until it is empty (at most ``max_pages`` pages)."""
        items: list = []
        seen: set[str] = set()
        cursor: str | None = None
        for _ in range(max_pages):
            result = self._get(path, {**params, "cursor": cursor}, signed=signed)
            items.extend(self._list(result, path))
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
                raise InvalidInputError(f"symbol {symbol!r} is not a {category} instrument on {self._base_url}")
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
            return OrderBook.from_rest(result, spec=spec, symbol=symbol)
        try:
            return OrderBook.from_rest(result, spec=self.get_instrument(symbol, category), symbol=symbol)
        except InvalidInputError:
            # The cached tick may be stale (Bybit changes ticks; bybit-v5.md 6.3): refresh it once.
            return OrderBook.from_rest(result, spec=self.get_instrument(symbol, category, refresh=True),
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
        items = self._list(result, "/v5/market/recent-trade")
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
        rows = self._list(result, "/v5/market/kline")
        try:
            arr = np.array([[float(x) for x in row[:7]] for row in rows], dtype=np.float64).reshape(-1, 7)
            start = np.array([int(row[0]) for row in rows], dtype=np.int64)
        except (TypeError, ValueError, IndexError):
            raise ExchangeError("/v5/market/kline: malformed candle rows (expected 7 decimal strings)",
                                endpoint="/v5/market/kline") from None
        order = np.argsort(start, kind="stable")
        arr, start = arr[order], start[order]
        col = [np.ascontiguousarray(arr[:, i]) for i in range(1, 7)]
        return Klines(symbol, category, iv, start, *col)

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
        items = self._list(self._get("/v5/market/tickers", params), "/v5/market/tickers")
        return [_ticker(it, category) for it in items if isinstance(it, dict)]

    def get_ticker(self, symbol: str, category: Category = "linear") -> Ticker:
        """The ticker of one symbol (see :meth:`get_tickers`)."""
        symbol = _check_symbol(symbol)
        for t in self.get_tickers(category, symbol=symbol):
            if t.symbol == symbol:
                return t
        raise InvalidInputError(f"no {category} ticker for {symbol!r} on {self._base_url}")

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
        lst = self._list(self._get(path, {"accountType": account_type, "coin": coin}, signed=True), path)
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
        return [Position(str(p.get("symbol", "")), category, str(p.get("side") or ""), _float(p.get("size")),
                         _float(p.get("avgPrice")), _float(p.get("markPrice")), _float(p.get("positionValue")),
                         _float(p.get("unrealisedPnl")), _float(p.get("cumRealisedPnl")),
                         _float(p.get("leverage")), _float(p.get("liqPrice")),
                         _int_or_none(p.get("positionIdx")) or 0, _int_or_none(p.get("updatedTime")))
                for p in items if isinstance(p, dict)]

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


# ----------------------------------------------------------------------------- parsing
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


def _ticker(it: dict, category: str) -> Ticker:
    f = _float
    return Ticker(str(it.get("symbol", "")), category, f(it.get("lastPrice")), f(it.get("bid1Price")),
                  f(it.get("bid1Size")), f(it.get("ask1Price")), f(it.get("ask1Size")), f(it.get("markPrice")),
                  f(it.get("indexPrice")), f(it.get("prevPrice24h")), f(it.get("price24hPcnt")),
                  f(it.get("highPrice24h")), f(it.get("lowPrice24h")), f(it.get("volume24h")),
                  f(it.get("turnover24h")), f(it.get("openInterest")), f(it.get("fundingRate")),
                  _int_or_none(it.get("nextFundingTime")))


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


def _check_grid(value: Decimal, step: Decimal, name: str, step_name: str, symbol: str) -> None:
    if not _on_grid(value, step):
        raise InvalidInputError(f"{name} {_dec_str(value)} is not a multiple of {step_name} {step} for {symbol}")

