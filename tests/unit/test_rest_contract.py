"""Contract tests of the Bybit V5 REST client (ofi.api.rest) and its request signing (ofi.api.signing).

Each test pins one row of the error table at the top of ``ofi/api/rest.py`` or one option of
:class:`BybitClient`, against the local fake Bybit server (``tests/fakes/http_server.py``,
loopback only, one ephemeral port per test). Expected values are written by hand (signatures
with ``hmac``/``hashlib`` here, independently of the code under test); retry counts are the
number of requests the fake server saw.

Waits are never real: the ``vt`` fixture replaces the ``time`` module *inside ofi.api.rest* with
a virtual clock whose ``sleep`` records the requested wait and moves the clock forward. The only
real waits are the sub-second read timeouts of the timeout tests.

The IP-ban / IP-window state of a host is shared by every client of the process
(``ofi.api.rest._guard_for``): each fake has its own port (so its own host key), and the
fixtures drop that host's state when the test ends, so that a later server reusing the port
starts clean.
"""
from __future__ import annotations

import hashlib
import hmac
import math
import pickle
import socket
import time
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import requests

pytest.importorskip("ofi._core.book", reason="the compiled core is not built (python setup.py build_ext --inplace)")

import ofi.api.rest as rest  # noqa: E402
from ofi.api import BybitClient  # noqa: E402
from ofi.api.rest import RateLimitStatus  # noqa: E402
from ofi.api.signing import Credentials, Secret, json_body, query_string, sign  # noqa: E402
from ofi.errors import (  # noqa: E402
    AuthenticationError,
    ExchangeError,
    InvalidInputError,
    IpBanError,
    RateLimitError,
    RequestTimeoutError,
    TransportError,
)
from ofi.spec import InstrumentSpec  # noqa: E402
from fakes.http_server import FAKE_API_KEY, FAKE_API_SECRET, FakeBybitRest  # noqa: E402

TIME = "/v5/market/time"
BOOK = "/v5/market/orderbook"
KLINE = "/v5/market/kline"
INSTR = "/v5/market/instruments-info"
WALLET = "/v5/account/wallet-balance"
OPEN = "/v5/order/realtime"
CREATE = "/v5/order/create"
AMEND = "/v5/order/amend"
BTC_SPEC = InstrumentSpec("BTCUSDT", "0.1", "0.001", "0.001")
# the body of place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000") on the wire
BUY_BODY = '{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.001","price":"60000"}'
# a /v5/market/time answer, written out by hand
TIME_OK = ('{"retCode":0,"retMsg":"OK","result":{"timeSecond":"1700000000","timeNano":"1700000000123456789"},'
           '"retExtInfo":{},"time":1700000000123}')


# --------------------------------------------------------------------------- fixtures and helpers
def _forget_host(netloc: str) -> None:
    """Drop the process-wide ban / IP-window state of one host (test isolation)."""
    with rest._GUARDS_LOCK:
        rest._GUARDS.pop(netloc.lower(), None)


def _netloc(url: str) -> str:
    return urlsplit(url).netloc


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for name in ("BYBIT_API_KEY", "BYBIT_API_SECRET", "BYBIT_TESTNET"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake():
    f = FakeBybitRest(book_advance=0).start()
    netloc = _netloc(f.url)
    try:
        yield f
    finally:
        f.stop()
        _forget_host(netloc)


@pytest.fixture
def other_fake():
    """A second server (another host as far as the client is concerned)."""
    f = FakeBybitRest(book_advance=0).start()
    netloc = _netloc(f.url)
    try:
        yield f
    finally:
        f.stop()
        _forget_host(netloc)


class VirtualTime:
    """Stands in for the ``time`` module inside ofi.api.rest.

    ``sleep`` records the wait and moves the wall and monotonic clocks forward by it instead of
    blocking; the fake servers given to :meth:`follow` see the same wall clock (their
    ``clock_skew_ms`` follows), so reset timestamps and signed timestamps stay consistent.
    :meth:`advance` moves time forward the same way without a sleep; ``mono_ahead_s`` moves the
    monotonic clock alone.
    """

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.ahead_s = 0.0
        self.mono_ahead_s = 0.0
        self._fakes: list[FakeBybitRest] = []

    def follow(self, *fakes: FakeBybitRest) -> None:
        self._fakes.extend(fakes)

    def advance(self, seconds: float) -> None:
        self.ahead_s += seconds
        for f in self._fakes:
            f.clock_skew_ms = int(round(self.ahead_s * 1000))

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def monotonic(self) -> float:
        return time.monotonic() + self.ahead_s + self.mono_ahead_s

    def perf_counter(self) -> float:
        return time.perf_counter() + self.ahead_s

    def time(self) -> float:
        return time.time() + self.ahead_s

    def time_ns(self) -> int:
        return time.time_ns() + int(self.ahead_s * 1e9)

    def __getattr__(self, name: str):
        return getattr(time, name)


@pytest.fixture
def vt(monkeypatch, request):
    v = VirtualTime()
    for name in ("fake", "other_fake"):
        if name in request.fixturenames:
            v.follow(request.getfixturevalue(name))
    monkeypatch.setattr(rest, "time", v)
    return v


class RecordingSession(requests.Session):
    """A real session that records the keyword arguments of every request and its closes."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, dict]] = []
        self.closed = 0

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        self.calls.append((method, url, dict(kwargs)))
        return super().request(method, url, *args, **kwargs)

    def close(self) -> None:
        self.closed += 1
        super().close()


def client_for(fake: FakeBybitRest, **kw) -> BybitClient:
    opts = dict(base_url=fake.url, api_key=FAKE_API_KEY, api_secret=FAKE_API_SECRET, timeout=2.0, max_retries=3,
                backoff_s=0.01, backoff_max_s=0.04, max_rate_limit_wait_s=2.0, ip_ban_s=0.5)
    opts.update(kw)
    return BybitClient(**opts)


def default_client(fake: FakeBybitRest, **kw) -> BybitClient:
    """Every retry / wait option at its default (only the host and the keys given)."""
    return BybitClient(base_url=fake.url, api_key=FAKE_API_KEY, api_secret=FAKE_API_SECRET, **kw)


def paths(fake: FakeBybitRest) -> list[str]:
    return [r.path for r in fake.requests]


def sent(fake: FakeBybitRest, path: str) -> list:
    return [r for r in fake.requests if r.path == path]


def by_hand(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def server_ms() -> int:
    return time.time_ns() // 1_000_000


# --------------------------------------------------------------------------- authentication codes
@pytest.mark.parametrize("code", [10003, 10004, 10005, 10007, 10009, 10010, 33004])
def test_auth_ret_codes_raise_authentication_error_and_are_not_retried(fake, code):
    c = client_for(fake)
    msg = f"refused {code}"
    fake.fail_ret_code(code, path=WALLET, times=None, msg=msg)
    with pytest.raises(AuthenticationError) as e:
        c.get_wallet_balance()
    err = e.value
    assert (err.status, err.ret_code, err.ret_msg, err.endpoint) == (200, code, msg, WALLET)
    assert str(err) == f"GET {WALLET}: Bybit error {code}: 'refused {code}'"
    assert fake.count(WALLET) == 1
    # the same on an order: one POST, no retry
    fake.fail_ret_code(code, path=CREATE, times=None, msg=msg)
    with pytest.raises(AuthenticationError) as e2:
        c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", spec=BTC_SPEC)
    assert (e2.value.status, e2.value.ret_code, e2.value.ret_msg, e2.value.endpoint) == (200, code, msg, CREATE)
    assert fake.count(CREATE) == 1 and fake.orders == {}


def test_http_401_is_an_authentication_error_and_is_not_retried(fake):
    c = client_for(fake)
    fake.fail_http(401, path=WALLET, times=None)
    with pytest.raises(AuthenticationError) as e:
        c.get_wallet_balance()
    assert (e.value.status, e.value.ret_code, e.value.endpoint) == (401, None, WALLET)
    assert "HTTP 401" in str(e.value)
    assert fake.count(WALLET) == 1
    fake.fail_http(401, path=CREATE, times=None)
    with pytest.raises(AuthenticationError) as e2:
        c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", spec=BTC_SPEC)
    assert (e2.value.status, e2.value.endpoint) == (401, CREATE) and fake.count(CREATE) == 1
    fake.fail_http(401, path=TIME)  # even on a public path
    with pytest.raises(AuthenticationError) as e3:
        c.get_server_time()
    assert (e3.value.status, e3.value.endpoint) == (401, TIME)


def test_missing_auth_headers_get_401_from_the_fake_and_an_authentication_error(fake):
    # a private path asked without signing: the fake answers 401 like Bybit
    c = BybitClient(base_url=fake.url)
    with pytest.raises(AuthenticationError) as e:
        c._get(WALLET, {"accountType": "UNIFIED"})
    assert (e.value.status, e.value.endpoint) == (401, WALLET)
    assert fake.answered(status=401) == 1 and fake.count() == 1


# --------------------------------------------------------------------------- timeouts
def test_a_connect_read_timeout_pair_is_applied(fake):
    c = client_for(fake, timeout=(1.0, 0.2), max_retries=0)
    fake.delay(2.0, path=TIME)
    t0 = time.monotonic()
    with pytest.raises(RequestTimeoutError) as e:
        c.get_server_time()
    elapsed = time.monotonic() - t0
    # the read timeout (0.2 s) fired: neither the connect timeout (1 s) nor the 2 s the server stalls
    assert 0.15 <= elapsed < 0.9
    assert e.value.endpoint == TIME and str(e.value) == f"GET {TIME} timed out after (1.0, 0.2) s"
    assert fake.count(TIME) == 1
    c.get_server_time()  # an answer within the read timeout goes through
    assert fake.count(TIME) == 2


def test_every_request_carries_the_timeout_and_no_redirects(fake):
    s = RecordingSession()
    s.verify = False  # a session's verify setting is ignored: verification stays on
    c = client_for(fake, timeout=(0.5, 3), session=s)
    c.get_server_time()
    c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", spec=BTC_SPEC)
    # the POST was preceded by the clock sync of the first signed request
    assert [(m, u) for m, u, _ in s.calls] == [("GET", f"{fake.url}{TIME}"), ("GET", f"{fake.url}{TIME}"),
                                               ("POST", f"{fake.url}{CREATE}")]
    for _, _, kw in s.calls:
        assert kw["timeout"] == (0.5, 3.0)
        assert kw["allow_redirects"] is False
        assert kw["verify"] is True
    assert s.calls[2][2]["data"] == BUY_BODY
    s2 = RecordingSession()
    client_for(fake, timeout=2.5, session=s2).get_server_time()
    assert s2.calls[0][2]["timeout"] == 2.5
    # the client does not close a session it was given; it closes its own
    c.close()
    assert s.closed == 0


@pytest.mark.parametrize("timeout", [0, -1, 0.0, math.inf, math.nan, True, "5", None, (1.0,), (1.0, 2.0, 3.0),
                                     (0, 1.0), (1.0, 0), (1.0, -1.0), (math.inf, 1.0), (1.0, "x"), [1.0, 2.0]])
def test_bad_timeouts_are_refused(timeout):
    with pytest.raises(InvalidInputError, match="timeout"):
        BybitClient(timeout=timeout)


def test_get_timeouts_are_retried_then_raise(fake):
    c = client_for(fake, timeout=0.15, max_retries=2, backoff_s=0.0)
    fake.delay(1.0, path=TIME, times=1)
    c.get_server_time()  # the second attempt is answered at once
    assert fake.count(TIME) == 2
    fake.delay(1.0, path=TIME, times=None)
    with pytest.raises(RequestTimeoutError) as e:
        c.get_server_time()
    assert str(e.value) == f"GET {TIME} timed out after 0.15 s (3 attempts)"
    assert (e.value.endpoint, e.value.status, e.value.ret_code) == (TIME, None, None)
    assert fake.count(TIME) == 2 + 3


def test_post_timeout_is_not_retried(fake):
    c = client_for(fake, timeout=0.15, max_retries=3, time_sync=False)
    fake.delay(1.0, path=CREATE, times=None)
    with pytest.raises(RequestTimeoutError) as e:
        c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", spec=BTC_SPEC)
    assert str(e.value) == (f"POST {CREATE} timed out after 0.15 s; a POST is not retried: "
                            "check whether it was executed")
    assert e.value.endpoint == CREATE and fake.count(CREATE) == 1


def test_connection_errors_retry_a_get_but_never_a_post(vt):
    port = free_port()
    s = RecordingSession()
    c = BybitClient(base_url=f"http://127.0.0.1:{port}", api_key=FAKE_API_KEY, api_secret=FAKE_API_SECRET,
                    timeout=0.5, max_retries=2, backoff_s=0.1, backoff_max_s=0.1, time_sync=False, session=s)
    try:
        with pytest.raises(TransportError) as e:
            c.get_server_time()
        assert not isinstance(e.value, RequestTimeoutError)
        assert str(e.value) == f"GET {TIME} could not connect (3 attempts)" and e.value.endpoint == TIME
        assert len(s.calls) == 3 and len(vt.sleeps) == 2
        assert all(0.05 <= w <= 0.1 for w in vt.sleeps)
        with pytest.raises(TransportError) as e2:
            c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", spec=BTC_SPEC)
        assert str(e2.value) == (f"POST {CREATE} could not connect; a POST is not retried: "
                                 "check whether it was executed")
        assert e2.value.endpoint == CREATE and len(s.calls) == 4 and len(vt.sleeps) == 2
    finally:
        _forget_host(f"127.0.0.1:{port}")


# --------------------------------------------------------------------------- klines window
START = 1_700_000_100_000  # a multiple of 300 000 ms: the open of a 5-minute candle


def test_klines_window_is_validated_sent_and_honoured(fake):
    c = client_for(fake)
    k = c.get_klines("BTCUSDT", "5", start_ms=START, end_ms=START + 900_000)
    assert k.start_ms.tolist() == [START, START + 300_000, START + 600_000, START + 900_000]
    assert sent(fake, KLINE)[0].query == (
        f"category=linear&end={START + 900_000}&interval=5&limit=200&start={START}&symbol=BTCUSDT")
    one = c.get_klines("BTCUSDT", 5, start_ms=START, end_ms=START)  # start == end is a window of one candle
    assert one.start_ms.tolist() == [START]
    assert fake.count(KLINE) == 2
    with pytest.raises(InvalidInputError, match="end_ms") as e:
        c.get_klines("BTCUSDT", "5", start_ms=START, end_ms=START - 1)
    assert str(START) in str(e.value) and str(START - 1) in str(e.value)
    assert fake.count(KLINE) == 2  # refused before sending
    # one bound alone is a valid window
    c.get_klines("BTCUSDT", "5", start_ms=START, limit=3)
    c.get_klines("BTCUSDT", "5", end_ms=START, limit=3)
    assert [r.query for r in sent(fake, KLINE)[2:]] == [
        f"category=linear&interval=5&limit=3&start={START}&symbol=BTCUSDT",
        f"category=linear&end={START}&interval=5&limit=3&symbol=BTCUSDT"]


def test_klines_bad_arguments_are_refused_before_sending(fake):
    c = client_for(fake)
    for kw, match in [({"start_ms": -1}, "start_ms"), ({"end_ms": -1}, "end_ms"), ({"start_ms": 2**53 + 1}, "start_ms"),
                      ({"start_ms": 1.5e12}, "start_ms"), ({"end_ms": True}, "end_ms"),
                      ({"start_ms": "1700000000000"}, "start_ms"), ({"limit": 0}, "limit"),
                      ({"limit": 1001}, "limit"), ({"category": "option"}, "category")]:
        with pytest.raises(InvalidInputError, match=match):
            c.get_klines("BTCUSDT", "5", **kw)
    assert fake.count() == 0


# --------------------------------------------------------------------------- orders: position_idx, grids
def test_position_idx_0_1_2_are_sent_and_others_refused(fake):
    c = client_for(fake)
    for idx in (0, 1, 2):
        c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", position_idx=idx, spec=BTC_SPEC)
    assert [r.body for r in sent(fake, CREATE)] == [BUY_BODY[:-1] + f',"positionIdx":{idx}}}' for idx in (0, 1, 2)]
    assert len(fake.orders) == 3
    for bad in (3, -1, True, 1.0, "1"):
        with pytest.raises(InvalidInputError, match="position_idx"):
            c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", position_idx=bad, spec=BTC_SPEC)
    assert fake.count(CREATE) == 3
    c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", spec=BTC_SPEC)  # None: not sent at all
    assert sent(fake, CREATE)[-1].body == BUY_BODY


def test_spot_market_buy_qty_is_in_quote_currency_and_skips_the_base_grid(fake):
    c = client_for(fake)
    # X00USDT spot: basePrecision (qty step) 1 and minOrderQty 1 on the fake; 12.345 USDT is off that grid
    ack = c.place_order("X00USDT", "Buy", "Market", "12.345", category="spot")
    assert ack.order_id
    c.place_order("X00USDT", "buy", "market", "0.5", category="spot")  # below the base minimum: still quote units
    assert [r.body for r in sent(fake, CREATE)] == [
        '{"category":"spot","symbol":"X00USDT","side":"Buy","orderType":"Market","qty":"12.345"}',
        '{"category":"spot","symbol":"X00USDT","side":"Buy","orderType":"Market","qty":"0.5"}']
    assert fake.count(INSTR) == 1  # the grid was fetched (and cached): the exemption is by order kind
    # everything else is checked against the base grid
    for args, kw in [(("X00USDT", "Sell", "Market", "12.345"), {"category": "spot"}),
                     (("X00USDT", "Buy", "Limit", "12.345", "0.5"), {"category": "spot"}),
                     (("BTCUSDT", "Buy", "Market", "0.0015"), {}),
                     (("BTCUSDT", "Sell", "Market", "0.0015"), {})]:
        with pytest.raises(InvalidInputError, match="qty_step"):
            c.place_order(*args, **kw)
    with pytest.raises(InvalidInputError, match="min_order_qty"):
        c.place_order("X00USDT", "Sell", "Market", "2", category="spot",
                      spec=InstrumentSpec("X00USDT", "0.0001", "1", "5", category="spot"))
    assert fake.count(CREATE) == 2


def test_amend_checks_the_grid_before_sending(fake):
    c = client_for(fake)
    oid = c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000").order_id
    for kw, match in [({"price": "60000.05"}, "tick_size"), ({"qty": "0.0015"}, "qty_step"),
                      ({"qty": "0.0015", "price": "60000.1"}, "qty_step"),
                      ({"qty": "0.002", "price": "60000.05"}, "tick_size")]:
        with pytest.raises(InvalidInputError, match=match):
            c.amend_order("BTCUSDT", order_id=oid, **kw)
    assert fake.count(AMEND) == 0
    ack = c.amend_order("BTCUSDT", order_id=oid, qty="0.002", price="60000.1")
    assert ack.order_id == oid
    assert sent(fake, AMEND)[0].body == (
        f'{{"category":"linear","symbol":"BTCUSDT","orderId":"{oid}","qty":"0.002","price":"60000.1"}}')
    assert fake.orders[oid]["price"] == "60000.1" and fake.orders[oid]["qty"] == "0.002"
    assert fake.count(INSTR) == 1  # one spec fetch, cached for the amends
    # a spec the caller passes is the grid used
    with pytest.raises(InvalidInputError, match="tick_size"):
        c.amend_order("BTCUSDT", order_id=oid, price="60000.1", spec=InstrumentSpec("BTCUSDT", "0.5"))
    assert fake.count(AMEND) == 1


def test_validate_orders_false_sends_off_grid_values_without_fetching_specs(fake):
    c = client_for(fake, validate_orders=False)
    oid = c.place_order("BTCUSDT", "Buy", "Limit", "0.0015", "60000.05").order_id
    c.amend_order("BTCUSDT", order_id=oid, price="60000.07")
    assert [r.body for r in sent(fake, CREATE)] == [
        '{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.0015","price":"60000.05"}']
    assert sent(fake, AMEND)[0].body == f'{{"category":"linear","symbol":"BTCUSDT","orderId":"{oid}","price":"60000.07"}}'
    assert fake.count(INSTR) == 0


# --------------------------------------------------------------------------- clock sync
def test_clock_is_synced_before_the_first_signed_request_and_after_the_interval(fake, vt):
    c = client_for(fake, time_sync_interval_s=60.0)
    c.get_orderbook("BTCUSDT", 5, spec=BTC_SPEC)  # public requests never sync
    assert fake.count(TIME) == 0
    c.get_wallet_balance()
    assert paths(fake) == [BOOK, TIME, WALLET]
    c.get_wallet_balance()
    vt.mono_ahead_s += 59.0  # still within the interval
    c.get_wallet_balance()
    assert paths(fake)[3:] == [WALLET, WALLET]
    vt.mono_ahead_s += 2.0  # 61 s since the sync: measure again, first
    c.get_wallet_balance()
    c.get_wallet_balance()
    assert paths(fake)[5:] == [TIME, WALLET, WALLET]
    assert vt.sleeps == []


def test_clock_sync_off_and_infinite_interval(fake, vt):
    off = client_for(fake, time_sync=False)
    off.get_wallet_balance()
    off.get_positions(settle_coin="USDT")
    assert fake.count(TIME) == 0 and off.clock_offset_ms == 0
    once = client_for(fake, time_sync_interval_s=math.inf)
    once.get_wallet_balance()
    vt.mono_ahead_s += 10 * 365 * 86400.0
    once.get_wallet_balance()
    assert fake.count(TIME) == 1 and fake.count(WALLET) == 3
    for bad in (0, -1.0, math.nan, "60"):
        with pytest.raises(InvalidInputError, match="time_sync_interval_s"):
            client_for(fake, time_sync_interval_s=bad)


def test_10002_resyncs_once_and_retries_once_for_get_and_post(fake):
    c = client_for(fake)
    fake.fail_ret_code(10002, path=WALLET, times=1)
    c.get_wallet_balance()
    assert paths(fake) == [TIME, WALLET, TIME, WALLET]
    fake.fail_ret_code(10002, path=CREATE, times=1)
    c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", spec=BTC_SPEC)
    assert paths(fake)[4:] == [CREATE, TIME, CREATE] and len(fake.orders) == 1
    fake.fail_ret_code(10002, path=WALLET, times=None, msg="outside recv_window")
    with pytest.raises(ExchangeError) as e:
        c.get_wallet_balance()
    assert type(e.value) is ExchangeError
    assert (e.value.status, e.value.ret_code, e.value.ret_msg, e.value.endpoint) == (
        200, 10002, "outside recv_window", WALLET)
    assert "re-synced once" in str(e.value)
    assert paths(fake)[7:] == [WALLET, TIME, WALLET]


def test_10002_on_a_public_request_is_a_plain_error(fake):
    c = client_for(fake)
    fake.fail_ret_code(10002, path=BOOK, times=None)
    with pytest.raises(ExchangeError) as e:
        c.get_orderbook("BTCUSDT", 5, spec=BTC_SPEC)
    assert (type(e.value), e.value.ret_code, e.value.endpoint) == (ExchangeError, 10002, BOOK)
    assert paths(fake) == [BOOK]


# --------------------------------------------------------------------------- rate limits
def test_default_client_waits_for_a_rate_limit_reset_a_few_seconds_away(fake, vt):
    c = default_client(fake)
    fake.fail_ret_code(10006, path=TIME, reset_in_s=3.0)
    c.get_server_time()
    assert fake.count(TIME) == 2
    assert len(vt.sleeps) == 1 and 2.8 < vt.sleeps[0] <= 3.0051  # until X-Bapi-Limit-Reset-Timestamp (+5 ms)
    fake.fail_ret_code(10006, path=TIME, reset_in_s=0.5)
    c.get_server_time()
    assert fake.count(TIME) == 4 and len(vt.sleeps) == 2 and 0.3 < vt.sleeps[1] <= 0.5051


def test_default_longest_rate_limit_wait_is_30_s(fake, vt):
    c = default_client(fake)
    fake.fail_http(429, path=TIME, retry_after=30)
    c.get_server_time()
    assert vt.sleeps == [30.0] and fake.count(TIME) == 2
    fake.fail_http(429, path=TIME, retry_after=30.001)
    with pytest.raises(RateLimitError) as e:
        c.get_server_time()
    assert fake.count(TIME) == 3 and vt.sleeps == [30.0]  # not waited
    assert (e.value.status, e.value.endpoint, e.value.retry_after_s) == (429, TIME, 30.001)
    assert "max_rate_limit_wait_s=30" in str(e.value)


def test_a_distant_10006_reset_is_not_waited_and_blocks_the_endpoint_until_then(fake, vt):
    c = default_client(fake)
    fake.fail_ret_code(10006, path=TIME, reset_in_s=40.0)
    t0 = fake.server_ms()
    with pytest.raises(RateLimitError) as e:
        c.get_server_time()
    t1 = fake.server_ms()
    assert (e.value.status, e.value.ret_code, e.value.ret_msg, e.value.endpoint) == (
        200, 10006, "Too many visits!", TIME)
    assert 39.8 < e.value.retry_after_s <= 40.0051 and vt.sleeps == [] and fake.count(TIME) == 1
    st = c.rate_limit_status(TIME)  # the fake's X-Bapi-Limit: 10, X-Bapi-Limit-Status: 0
    assert (st.limit, st.remaining) == (10, 0) and t0 + 40_000 <= st.reset_ms <= t1 + 40_000
    with pytest.raises(RateLimitError, match="not sent") as e2:
        c.get_server_time()
    assert e2.value.ret_code == 10006 and 39.8 < e2.value.retry_after_s <= 40.0051 and fake.count(TIME) == 1
    c.get_orderbook("BTCUSDT", 5, spec=BTC_SPEC)  # the limit is per endpoint
    assert fake.count(BOOK) == 1
    vt.advance(41.0)  # after the reset the endpoint is used again
    c.get_server_time()
    assert fake.count(TIME) == 2 and vt.sleeps == []


def test_used_up_limit_headers_make_the_next_call_wait_for_the_reset(fake, vt):
    c = default_client(fake)
    fake.respond(200, TIME_OK, path=TIME, headers={
        "X-Bapi-Limit": "20", "X-Bapi-Limit-Status": "19", "X-Bapi-Limit-Reset-Timestamp": "1700000000123"})
    assert c.get_server_time().time_ns == 1_700_000_000_123_456_789
    assert c.rate_limit_status(TIME) == RateLimitStatus(20, 19, 1_700_000_000_123)
    assert c.rate_limit_status(BOOK) is None
    reset = fake.server_ms() + 2000
    fake.respond(200, TIME_OK, path=TIME, headers={
        "X-Bapi-Limit": "20", "X-Bapi-Limit-Status": "0", "X-Bapi-Limit-Reset-Timestamp": str(reset)})
    c.get_server_time()
    assert c.rate_limit_status(TIME) == RateLimitStatus(20, 0, reset) and vt.sleeps == []
    c.get_server_time()  # waits for the reset first, then sends
    assert fake.count(TIME) == 3 and len(vt.sleeps) == 1 and 1.8 < vt.sleeps[0] <= 2.0051
    assert c.rate_limit_status(TIME) is None


def test_429_waits_retry_after_then_the_reset_header_then_backoff(fake, vt):
    c = client_for(fake, backoff_s=0.4, backoff_max_s=10.0, max_rate_limit_wait_s=30.0)
    # Retry-After wins over the reset timestamp
    fake.respond(429, "", path=TIME, headers={"Retry-After": "1.25",
                                             "X-Bapi-Limit-Reset-Timestamp": str(fake.server_ms() + 5000)})
    c.get_server_time()
    assert vt.sleeps == [1.25] and fake.count(TIME) == 2
    # no Retry-After: until the reset timestamp
    fake.respond(429, "", path=TIME, headers={"X-Bapi-Limit-Reset-Timestamp": str(fake.server_ms() + 2000)})
    c.get_server_time()
    assert fake.count(TIME) == 4 and len(vt.sleeps) == 2 and 1.8 < vt.sleeps[1] <= 2.0051
    # neither (or a Retry-After that is not a number of seconds): the first backoff step, 0.4 s x [0.5, 1]
    for headers in ({}, {"Retry-After": "soon"}, {"Retry-After": "-3"}):
        fake.respond(429, "", path=TIME, headers=headers)
        c.get_server_time()
        assert 0.2 <= vt.sleeps[-1] <= 0.4
    assert fake.count(TIME) == 10 and len(vt.sleeps) == 5


def test_persistent_429_gives_up_after_max_retries(fake, vt):
    c = client_for(fake, max_retries=2, backoff_s=0.1, backoff_max_s=0.15)
    fake.fail_http(429, path=TIME, times=None)
    with pytest.raises(RateLimitError) as e:
        c.get_server_time()
    assert (e.value.status, e.value.ret_code, e.value.endpoint) == (429, None, TIME)
    assert str(e.value) == f"GET {TIME}: HTTP 429 (too many requests) (gave up after 3 attempts)"
    assert fake.count(TIME) == 3 and len(vt.sleeps) == 2
    assert 0.05 <= vt.sleeps[0] <= 0.1 and 0.075 <= vt.sleeps[1] <= 0.15  # 0.1 * 2 capped at 0.15


def test_persistent_10006_gives_up_after_max_retries(fake, vt):
    c = client_for(fake, max_retries=2)
    fake.fail_ret_code(10006, path=TIME, times=None, reset_in_s=0.5)
    with pytest.raises(RateLimitError) as e:
        c.get_server_time()
    assert (e.value.status, e.value.ret_code, e.value.ret_msg, e.value.endpoint) == (
        200, 10006, "Too many visits!", TIME)
    assert "gave up after 3 attempts" in str(e.value)
    assert fake.count(TIME) == 3


def test_a_rate_limited_post_is_retried(fake, vt):
    c = client_for(fake)
    fake.fail_ret_code(10006, path=CREATE, reset_in_s=0.05)
    c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", spec=BTC_SPEC)
    fake.fail_http(429, path=CREATE, retry_after=0.05)
    c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", spec=BTC_SPEC)
    assert fake.count(CREATE) == 4 and len(fake.orders) == 2
    assert len(vt.sleeps) == 2 and vt.sleeps[1] == 0.05


def test_max_rate_limit_wait_zero_and_retry_after_zero(fake, vt):
    c = client_for(fake, max_rate_limit_wait_s=0)
    fake.fail_http(429, path=TIME, retry_after=0)  # "retry now": retried without a sleep
    c.get_server_time()
    assert fake.count(TIME) == 2 and vt.sleeps == []
    fake.fail_http(429, path=TIME, retry_after=0.5)
    with pytest.raises(RateLimitError, match="max_rate_limit_wait_s=0"):
        c.get_server_time()
    assert fake.count(TIME) == 3 and vt.sleeps == []


def test_client_side_ip_window_waits(fake, vt):
    c = client_for(fake, ip_rate_limit=(2, 10.0))
    for _ in range(3):
        c.get_server_time()
    assert fake.count(TIME) == 3
    assert len(vt.sleeps) == 1 and 9.0 < vt.sleeps[0] <= 10.0  # the third waits for the first to leave the window


# --------------------------------------------------------------------------- IP ban (HTTP 403)
def test_403_bans_the_whole_host_for_ip_ban_s(fake, other_fake, vt):
    c = default_client(fake)  # ip_ban_s 600, max_ban_wait_s 0
    peer = BybitClient(base_url=fake.url)
    fake.respond(403, "access too frequent", path=TIME, headers={"Content-Type": "text/plain"})
    with pytest.raises(IpBanError) as e:
        c.get_server_time()
    err = e.value
    assert isinstance(err, RateLimitError)
    assert (err.status, err.endpoint, err.retry_after_s) == (403, TIME, 600.0)
    assert "access too frequent" in str(err)
    assert fake.count() == 1
    vt.mono_ahead_s += 100.0
    # later calls, of any client of that host and to any path, fail at once with the time left
    for client, call in ((c, lambda cl: cl.get_orderbook("BTCUSDT", 5, spec=BTC_SPEC)),
                         (peer, lambda cl: cl.get_server_time()),
                         (c, lambda cl: cl.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", spec=BTC_SPEC))):
        with pytest.raises(IpBanError, match="not sent") as e2:
            call(client)
        assert e2.value.status == 403 and 499.0 < e2.value.retry_after_s <= 500.0
        assert "access too frequent" in str(e2.value)
    assert 499.0 < peer.ban_remaining_s <= 500.0
    assert fake.count() == 1 and vt.sleeps == []
    # another host is not banned
    BybitClient(base_url=other_fake.url).get_server_time()
    assert other_fake.count() == 1
    vt.mono_ahead_s += 500.01
    assert c.ban_remaining_s == 0
    c.get_server_time()
    assert fake.count() == 2 and vt.sleeps == []


def test_403_retry_after_sets_the_ban_and_max_ban_wait_s_waits_it_out(fake, vt):
    c = client_for(fake, ip_ban_s=600.0, max_ban_wait_s=60.0, max_retries=1)
    fake.respond(403, "", path=TIME, headers={"Retry-After": "45"})
    c.get_server_time()  # banned for 45 s, which this client accepts to wait: waits, then retries
    assert fake.count(TIME) == 2 and fake.answered(status=403) == 1
    assert len(vt.sleeps) == 1 and 44.9 < vt.sleeps[0] <= 45.0
    assert c.ban_remaining_s == 0
    fake.respond(403, "", path=TIME, headers={"Retry-After": "61"})
    with pytest.raises(IpBanError) as e:
        c.get_server_time()
    assert e.value.retry_after_s == 61.0 and fake.count(TIME) == 3 and len(vt.sleeps) == 1
    vt.mono_ahead_s += 62.0
    # max_retries=0: never waits, whatever max_ban_wait_s
    c0 = client_for(fake, max_ban_wait_s=60.0, max_retries=0)
    fake.respond(403, "", path=TIME, headers={"Retry-After": "5"})
    with pytest.raises(IpBanError) as e0:
        c0.get_server_time()
    assert e0.value.retry_after_s == 5.0 and fake.count(TIME) == 4 and len(vt.sleeps) == 1


# --------------------------------------------------------------------------- server errors
SERVER_FAULTS = [("http", 500), ("http", 502), ("http", 503), ("http", 504),
                 ("ret", 10000), ("ret", 10016), ("ret", 429)]


def _inject(fake: FakeBybitRest, kind: str, code: int, path: str, times: int | None) -> None:
    if kind == "http":
        fake.fail_http(code, path=path, times=times)
    else:
        fake.fail_ret_code(code, path=path, times=times, msg=f"busy {code}")


@pytest.mark.parametrize("kind, code", SERVER_FAULTS)
def test_server_errors_are_retried_on_get_only(fake, vt, kind, code):
    c = client_for(fake, max_retries=2, backoff_s=0.1, backoff_max_s=0.15)
    _inject(fake, kind, code, TIME, times=2)
    c.get_server_time()  # two failures, then an answer
    assert fake.count(TIME) == 3 and len(vt.sleeps) == 2
    vt.sleeps.clear()
    _inject(fake, kind, code, TIME, times=None)
    with pytest.raises(ExchangeError) as e:
        c.get_server_time()
    err = e.value
    assert type(err) is ExchangeError  # neither a rate limit nor an auth error
    want = (code, None, None) if kind == "http" else (200, code, f"busy {code}")
    assert (err.status, err.ret_code, err.ret_msg) == want and err.endpoint == TIME
    assert "gave up after 3 attempts" in str(err)
    assert fake.count(TIME) == 3 + 3
    assert len(vt.sleeps) == 2 and 0.05 <= vt.sleeps[0] <= 0.1 and 0.075 <= vt.sleeps[1] <= 0.15
    # the same answer to a POST: sent once, never retried (it may have been executed)
    fake.clear_faults()
    vt.sleeps.clear()
    _inject(fake, kind, code, CREATE, times=None)
    with pytest.raises(ExchangeError) as e2:
        c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", spec=BTC_SPEC)
    assert type(e2.value) is ExchangeError and e2.value.endpoint == CREATE
    assert (e2.value.status, e2.value.ret_code) == ((code, None) if kind == "http" else (200, code))
    assert fake.count(CREATE) == 1 and fake.orders == {} and vt.sleeps == []
    if kind == "http":
        assert "a POST is not retried" in str(e2.value)


def test_max_retries_zero_sends_once(fake, vt):
    c = client_for(fake, max_retries=0)
    fake.fail_http(502, path=TIME, times=None)
    with pytest.raises(ExchangeError, match="gave up after 1 attempts") as e:
        c.get_server_time()
    assert e.value.status == 502 and fake.count(TIME) == 1 and vt.sleeps == []


# --------------------------------------------------------------------------- other codes, bodies
@pytest.mark.parametrize("code, msg", [(10001, "Not supported symbols"), (10017, "Route not found"),
                                       (110007, "ab not enough for new order"), (170130, "invalid characters")])
def test_other_ret_codes_are_exchange_errors_without_retry(fake, code, msg):
    c = client_for(fake)
    fake.fail_ret_code(code, path=TIME, times=None, msg=msg)
    with pytest.raises(ExchangeError) as e:
        c.get_server_time()
    assert type(e.value) is ExchangeError
    assert (e.value.status, e.value.ret_code, e.value.ret_msg, e.value.endpoint) == (200, code, msg, TIME)
    assert str(e.value) == f"GET {TIME}: Bybit error {code}: {msg!r}"
    assert fake.count(TIME) == 1
    fake.clear_faults()
    fake.fail_ret_code(code, path=CREATE, times=None, msg=msg)
    with pytest.raises(ExchangeError) as e2:
        c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", spec=BTC_SPEC)
    assert type(e2.value) is ExchangeError
    assert (e2.value.ret_code, e2.value.ret_msg, e2.value.endpoint) == (code, msg, CREATE)
    assert str(e2.value) == f"POST {CREATE}: Bybit error {code}: {msg!r}"
    assert fake.count(CREATE) == 1


def test_envelope_variants(fake):
    c = client_for(fake)
    # legacy field names
    fake.respond(200, '{"ret_code":10001,"ret_msg":"legacy params error","result":{}}', path=TIME)
    with pytest.raises(ExchangeError) as e:
        c.get_server_time()
    assert (e.value.ret_code, e.value.ret_msg) == (10001, "legacy params error")
    # retCode as a string
    fake.respond(200, '{"retCode":"0","retMsg":"OK","result":{"timeNano":"1700000000987654321"}}', path=TIME)
    assert c.get_server_time().time_ns == 1_700_000_000_987_654_321
    # an envelope under a non-200 status is an error, with the status
    fake.respond(400, '{"retCode":0,"retMsg":"OK","result":{}}', path=TIME)
    with pytest.raises(ExchangeError) as e2:
        c.get_server_time()
    assert (e2.value.status, e2.value.ret_code) == (400, None) and str(e2.value) == f"GET {TIME}: HTTP 400"
    fake.respond(404, '{"retCode":10001,"retMsg":"category mismatch","result":{}}', path=TIME)
    with pytest.raises(ExchangeError) as e3:
        c.get_server_time()
    assert (e3.value.status, e3.value.ret_code, e3.value.ret_msg) == (404, 10001, "category mismatch")
    assert fake.count(TIME) == 4


NOT_ENVELOPES = [
    (200, b"", "not JSON"),
    (200, b"<html><body>maintenance</body></html>", "not JSON"),
    (200, b'{"retCode":0,"result":{"s":"BTC', "not JSON"),
    (200, b"[]", "not a V5 envelope"),
    (200, b"null", "not a V5 envelope"),
    (200, b'{"result":{"timeNano":"1"}}', "not a V5 envelope"),
    (200, b'{"retCode":null}', "not an integer"),
    (200, b'{"retCode":"abc"}', "not an integer"),
    (404, b"404 page not found", "not JSON"),
    (400, b"bad request", "not JSON"),
]


def test_bodies_that_are_not_an_envelope_are_not_retried(fake):
    c = client_for(fake)
    for n, (status, body, match) in enumerate(NOT_ENVELOPES, start=1):
        fake.clear_faults()
        fake.respond(status, body, path=TIME, times=None)
        with pytest.raises(ExchangeError, match=match) as e:
            c.get_server_time()
        assert type(e.value) is ExchangeError, body
        assert (e.value.status, e.value.ret_code, e.value.endpoint) == (status, None, TIME), body
        assert fake.count(TIME) == n, body  # one request each: no retry


def test_redirects_are_not_followed(fake, other_fake):
    c = client_for(fake)
    for status, call, path in ((302, lambda: c.get_wallet_balance(), WALLET),
                               (307, lambda: c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000",
                                                           spec=BTC_SPEC), CREATE),
                               (301, lambda: c.get_server_time(), TIME)):
        before = fake.count(path)
        fake.respond(status, b"", path=path, headers={"Location": f"{other_fake.url}{path}"})
        with pytest.raises(ExchangeError) as e:
            call()
        assert (e.value.status, e.value.endpoint) == (status, path)
        assert fake.count(path) == before + 1
    # same-host redirect: not followed either
    fake.respond(302, b"", path=TIME, headers={"Location": f"{fake.url}{BOOK}?category=linear&symbol=BTCUSDT"})
    with pytest.raises(ExchangeError):
        c.get_server_time()
    assert fake.count(BOOK) == 0
    assert other_fake.count() == 0 and fake.orders == {} and other_fake.orders == {}


# --------------------------------------------------------------------------- signing on the wire
def test_signed_get_sends_exactly_what_it_signs(fake):
    c = client_for(fake, recv_window_ms=20_000)
    c.get_open_orders(symbol="BTCUSDT", order_link_id="my-id_1")
    req = sent(fake, OPEN)[0]
    assert req.query == "category=linear&limit=50&orderLinkId=my-id_1&symbol=BTCUSDT" and req.body == ""
    h = req.headers
    assert h["X-BAPI-API-KEY"] == FAKE_API_KEY and h["X-BAPI-RECV-WINDOW"] == "20000"
    assert h["X-BAPI-SIGN-TYPE"] == "2"
    assert h["X-BAPI-SIGN"] == by_hand(FAKE_API_SECRET, f"{h['X-BAPI-TIMESTAMP']}{FAKE_API_KEY}20000{req.query}")
    assert abs(int(h["X-BAPI-TIMESTAMP"]) - server_ms()) < 1000


def test_signed_post_sends_exactly_what_it_signs(fake):
    c = client_for(fake)
    c.place_order("BTCUSDT", "Sell", "Limit", "0.002", "60000.5", order_link_id="a-1", reduce_only=True,
                  time_in_force="gtc", spec=BTC_SPEC)
    req = sent(fake, CREATE)[0]
    assert req.query == ""
    assert req.body == ('{"category":"linear","symbol":"BTCUSDT","side":"Sell","orderType":"Limit","qty":"0.002",'
                        '"price":"60000.5","timeInForce":"GTC","reduceOnly":true,"orderLinkId":"a-1"}')
    h = req.headers
    assert h["Content-Type"] == "application/json" and h["X-BAPI-RECV-WINDOW"] == "5000"
    assert h["X-BAPI-SIGN"] == by_hand(FAKE_API_SECRET, f"{h['X-BAPI-TIMESTAMP']}{FAKE_API_KEY}5000{req.body}")


def test_public_requests_carry_no_auth_headers(fake):
    client_for(fake).get_orderbook("BTCUSDT", 5, spec=BTC_SPEC)
    h = {k.lower() for k in sent(fake, BOOK)[0].headers}
    assert not any(k.startswith("x-bapi") for k in h)


def test_recv_window_bounds():
    for ok in (1, 60_000):
        BybitClient(recv_window_ms=ok)
    for bad in (0, 60_001, 5000.0, True, "5000"):
        with pytest.raises(InvalidInputError, match="recv_window_ms"):
            BybitClient(recv_window_ms=bad)


# --------------------------------------------------------------------------- signing module
KEY = "XXXXXXXXXX"
SECRET = "S3cr3t-Value-For-Tests-0123456789abcdef"
TS = 1658384314791


def test_query_string_sorts_keys_and_drops_none():
    assert query_string({"symbol": "BTCUSDT", "category": "linear", "Zeta": 1, "alpha": 2, "x": None}) == (
        "Zeta=1&alpha=2&category=linear&symbol=BTCUSDT")  # byte order: upper case first
    assert query_string({}) == "" and query_string({"a": None}) == ""
    assert query_string({"a": ""}) == "a="


def test_query_string_encoding():
    assert query_string({"a": "x y", "b": "1+1", "c": "a/b", "d": "é", "e": "BTC,ETH", "f": "12:30",
                         "g": "a~b.c-d_e", "h": "50%", "i": "a=b&c", "j": "#?"}) == (
        "a=x%20y&b=1%2B1&c=a%2Fb&d=%C3%A9&e=BTC,ETH&f=12:30&g=a~b.c-d_e&h=50%&i=a%3Db%26c&j=%23%3F")
    assert query_string({"limit": 200, "px": 0.5, "flag": True, "off": False, "qty": Decimal("0.001")}) == (
        "flag=true&limit=200&off=false&px=0.5&qty=0.001")


def test_json_body_is_compact_ordered_and_ascii():
    assert json_body({"b": 1, "a": None, "c": True, "d": "é", "e": "x y", "f": False}) == (
        '{"b":1,"c":true,"d":"\\u00e9","e":"x y","f":false}')
    assert json_body(None) == "{}" and json_body({}) == "{}" and json_body({"a": None}) == "{}"


def test_signatures_by_hand_for_get_and_post():
    qs = "category=linear&symbol=BTCUSDT"
    assert sign(SECRET, TS, KEY, 5000, qs) == by_hand(SECRET, "1658384314791XXXXXXXXXX5000category=linear&symbol=BTCUSDT")
    body = '{"category":"linear","symbol":"BTCUSDT","side":"Buy"}'
    assert sign(Secret(SECRET), TS, KEY, 20000, body) == by_hand(
        SECRET, '1658384314791XXXXXXXXXX20000{"category":"linear","symbol":"BTCUSDT","side":"Buy"}')
    # every part of the signed string counts
    base = sign(SECRET, TS, KEY, 5000, qs)
    assert len({base, sign(SECRET, TS + 1, KEY, 5000, qs), sign(SECRET, TS, KEY + "Y", 5000, qs),
                sign(SECRET, TS, KEY, 5001, qs), sign(SECRET, TS, KEY, 5000, qs + "&limit=1"),
                sign(SECRET + "x", TS, KEY, 5000, qs)}) == 6
    # RFC 4231 test case 4 (key 0x01..0x19, data 0xcd x 50)
    assert Secret("".join(map(chr, range(1, 26)))).sign(b"\xcd" * 50) == (
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b")


def test_credentials_headers_exact():
    h = Credentials(f"  {KEY} ", SECRET).headers(TS, 7000, "a=1")
    assert h == {"X-BAPI-API-KEY": KEY, "X-BAPI-TIMESTAMP": "1658384314791", "X-BAPI-RECV-WINDOW": "7000",
                 "X-BAPI-SIGN": by_hand(SECRET, "1658384314791XXXXXXXXXX7000a=1"), "X-BAPI-SIGN-TYPE": "2"}


def test_secret_masking_and_containment():
    s = Secret(f"  {SECRET}\n")
    assert s == Secret(SECRET) and hash(s) == hash(Secret(SECRET)) and Secret(s) == s
    assert s.sign("x") == by_hand(SECRET, "x")  # surrounding whitespace is not part of the secret
    for text in (repr(s), str(s), f"{s}", f"{s:>70}", "{}".format(s), "%r" % (s,)):
        assert text.strip() == "Secret('********')"
    with pytest.raises(TypeError):
        vars(s)  # no __dict__ to dump
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError) as e:
            pickle.dumps(s, protocol=protocol)
        assert SECRET not in str(e.value)
        with pytest.raises(TypeError):
            pickle.dumps(Credentials(KEY, SECRET), protocol=protocol)
    for bad in ("", "   ", None, 123, b"bytes-secret"):
        with pytest.raises(InvalidInputError) as e2:
            Secret(bad)  # type: ignore[arg-type]
        assert "bytes-secret" not in str(e2.value)


def test_credentials_from_the_environment(monkeypatch, fake):
    assert Credentials.from_env() is None
    assert Credentials.from_env({"BYBIT_API_KEY": "", "BYBIT_API_SECRET": ""}) is None
    monkeypatch.setenv("BYBIT_API_KEY", FAKE_API_KEY)
    with pytest.raises(InvalidInputError, match="BYBIT_API_SECRET"):
        Credentials.from_env()
    monkeypatch.setenv("BYBIT_API_SECRET", FAKE_API_SECRET)
    cr = Credentials.from_env()
    assert cr is not None and cr.api_key == FAKE_API_KEY and cr.secret == Secret(FAKE_API_SECRET)
    assert cr.masked_key == FAKE_API_KEY[:4] + "****"
    # the client takes them from the environment and signs with them
    c = BybitClient(base_url=fake.url)
    assert c.authenticated
    c.get_wallet_balance()
    assert sent(fake, WALLET)[0].headers["X-BAPI-API-KEY"] == FAKE_API_KEY and fake.answered(status=200) == 2
    # explicit arguments win over the environment
    monkeypatch.setenv("BYBIT_API_KEY", "envKEYwrong")
    monkeypatch.setenv("BYBIT_API_SECRET", "env-secret-wrong")
    BybitClient(base_url=fake.url, api_key=FAKE_API_KEY, api_secret=FAKE_API_SECRET).get_wallet_balance()
    with pytest.raises(AuthenticationError) as e:
        BybitClient(base_url=fake.url).get_wallet_balance()
    assert e.value.ret_code == 10003


# --------------------------------------------------------------------------- other options
@pytest.mark.parametrize("kw, match", [
    ({"max_retries": -1}, "max_retries"), ({"max_retries": 21}, "max_retries"), ({"max_retries": 2.0}, "max_retries"),
    ({"backoff_s": -0.1}, "backoff_s"), ({"backoff_s": math.inf}, "backoff_s"), ({"backoff_s": math.nan}, "backoff_s"),
    ({"backoff_max_s": -1}, "backoff_max_s"), ({"backoff_s": "1"}, "backoff_s"),
    ({"max_rate_limit_wait_s": -1}, "max_rate_limit_wait_s"),
    ({"max_rate_limit_wait_s": math.inf}, "max_rate_limit_wait_s"),
    ({"ip_ban_s": -1}, "ip_ban_s"), ({"max_ban_wait_s": -0.5}, "max_ban_wait_s"),
    ({"ip_rate_limit": (0, 5.0)}, "ip_rate_limit"), ({"ip_rate_limit": (600,)}, "ip_rate_limit"),
    ({"ip_rate_limit": [600, 5.0]}, "ip_rate_limit"), ({"ip_rate_limit": (600, 0)}, "ip_rate_limit"),
    ({"verify": False}, "verify"), ({"verify": None}, "verify"), ({"verify": ""}, "verify"), ({"verify": 0}, "verify"),
    ({"base_url": "ftp://api.bybit.com"}, "base_url"), ({"base_url": "http://api.bybit.com"}, "https"),
    ({"base_url": "https://api.bybit.com/v5"}, "host only"), ({"base_url": "https://api.bybit.com?a=1"}, "host only"),
    ({"base_url": 123}, "base_url"), ({"base_url": "https://"}, "base_url"),
    ({"api_key": "abc"}, "both"), ({"api_secret": "abc"}, "both"),
])
def test_bad_options_are_refused(kw, match):
    with pytest.raises(InvalidInputError, match=match):
        BybitClient(**kw)


def test_accepted_option_edges(fake):
    for kw in ({"max_retries": 0}, {"max_retries": 20}, {"backoff_s": 0}, {"max_rate_limit_wait_s": 0},
               {"ip_ban_s": 0}, {"verify": "/etc/ssl/certs/ca-certificates.crt"}, {"ip_rate_limit": (1, 0.5)}):
        BybitClient(**kw)
    c = BybitClient(base_url=fake.url + "/")  # a trailing slash is still the host only
    assert c.base_url == fake.url
    with c:
        c.get_server_time()
    assert paths(fake) == [TIME]
