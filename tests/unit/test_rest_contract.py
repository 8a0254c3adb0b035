"""Contract tests of the Bybit V5 REST client (ofi.venues.bybit.rest) and its request signing
(ofi.venues.bybit.signing).

Each test pins one row of the error table at the top of ``ofi/venues/bybit/rest/transport.py`` or
one option of :class:`BybitClient`, against the local fake Bybit server (``tests/fakes/http_server.py``,
loopback only, one ephemeral port per test). Expected values are written by hand (signatures
with ``hmac``/``hashlib`` here, independently of the code under test); retry counts are the
number of requests the fake server saw.

Waits are never real: the ``vt`` fixture replaces the ``time`` module *inside the transport* with
a virtual clock whose ``sleep`` records the requested wait and moves the clock forward. The only
real waits are the sub-second read timeouts of the timeout tests.

The IP-ban / IP-window state of a host is shared by every client of the process
(``ofi.venues.bybit.rest.transport._guard_for``): each fake has its own port (so its own host key), and the
fixtures drop that host's state when the test ends, so that a later server reusing the port
starts clean.
"""
from __future__ import annotations

import contextlib
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

from ofi.api import BybitClient  # noqa: E402
from ofi.venues.bybit.rest import RateLimitStatus, transport  # noqa: E402
from ofi.venues.bybit.signing import Credentials, Secret, json_body, query_string, sign  # noqa: E402
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
    with transport._GUARDS_LOCK:
        transport._GUARDS.pop(netloc.lower(), None)


def _netloc(url: str) -> str:
    return urlsplit(url).netloc


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for name in ("BYBIT_API_KEY", "BYBIT_API_SECRET", "BYBIT_TESTNET"):
        monkeypatch.delenv(name, raising=False)


@contextlib.contextmanager
def _serving():
    """A fake Bybit on its own port; on exit it stops and its host's ban / IP-window state is dropped."""
    f = FakeBybitRest(book_advance=0).start()
    netloc = _netloc(f.url)
    try:
        yield f
    finally:
        f.stop()
        _forget_host(netloc)


@pytest.fixture
def fake():
    with _serving() as f:
        yield f


@pytest.fixture
def other_fake():
    """A second server (another host as far as the client is concerned)."""
    with _serving() as f:
        yield f


class VirtualTime:
    """Stands in for the ``time`` module inside ofi.venues.bybit.rest.transport.

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
    for name in ("fake", "other_fake", "fk"):
        if name in request.fixturenames:
            v.follow(request.getfixturevalue(name))
    monkeypatch.setattr(transport, "time", v)
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


# =========================================================================== typed results, field by field
# Every scripted answer below gives each field a value of its own, so that reading one JSON key in the
# place of another, or a misspelt key, changes the typed result. Expected values are written by hand.
import dataclasses  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402

import numpy as np  # noqa: E402

from ofi.venues.bybit.rest import (  # noqa: E402
    DEMO_URL,
    MAINNET_URL,
    TESTNET_URL,
    CoinBalance,
    Order,
    OrderAck,
    Position,
    ServerTime,
    Ticker,
    WalletBalance,
)

TICKERS = "/v5/market/tickers"
TRADES = "/v5/market/recent-trade"
POSITIONS = "/v5/position/list"
CANCEL = "/v5/order/cancel"
NAN = "NaN"  # stands for math.nan in the expected tuples


def ok(result, time_ms: int | None = 1_700_000_000_999) -> str:
    """A V5 envelope with retCode 0 around ``result``."""
    env = {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}}
    if time_ms is not None:
        env["time"] = time_ms
    return json.dumps(env)


def flat(obj):
    """A dataclass (or a tuple of them) as nested tuples, with NaN replaced by a comparable marker."""
    if dataclasses.is_dataclass(obj):
        return tuple(flat(getattr(obj, f.name)) for f in dataclasses.fields(obj))
    if isinstance(obj, tuple):
        return tuple(flat(x) for x in obj)
    if isinstance(obj, float) and math.isnan(obj):
        return NAN
    return obj


def query_of(fk: FakeBybitRest, path: str, i: int = -1) -> str:
    return sent(fk, path)[i].query


@pytest.fixture
def off():
    """A client whose host has no server: anything that reaches the network fails with TransportError."""
    port = free_port()
    c = BybitClient(base_url=f"http://127.0.0.1:{port}", api_key=FAKE_API_KEY, api_secret=FAKE_API_SECRET,
                    timeout=0.5, max_retries=0, time_sync=False)
    try:
        yield c
    finally:
        _forget_host(f"127.0.0.1:{port}")


@pytest.fixture(scope="module")
def _shared_fake():
    with _serving() as f:
        yield f


@pytest.fixture
def fk(_shared_fake):
    """One fake server for the tests below (starting one per test costs more than most of them), reset to its
    initial state for each test: no faults, bans, limits, orders or recorded requests, no clock skew."""
    f = _shared_fake
    f.clear_faults()
    with f._lock:
        f.requests.clear()
        f.orders.clear()
        f._last.clear()
    f.clock_skew_ms = 0
    _forget_host(_netloc(f.url))
    try:
        yield f
    finally:
        f.clear_faults()
        _forget_host(_netloc(f.url))


# --------------------------------------------------------------------------- tickers
TICKER_LINEAR = {
    "symbol": "BTCUSDT", "lastPrice": "101.5", "indexPrice": "101.55", "markPrice": "101.6",
    "prevPrice24h": "99.5", "price24hPcnt": "0.0201", "highPrice24h": "105.5", "lowPrice24h": "98.25",
    "prevPrice1h": "100.9", "openInterest": "5432.1", "openInterestValue": "551000.3", "turnover24h": "125000.75",
    "volume24h": "1234.5", "fundingRate": "-0.000125", "nextFundingTime": "1700006400000",
    "predictedDeliveryPrice": "", "basisRate": "", "deliveryFeeRate": "", "deliveryTime": "0",
    "ask1Size": "4.25", "bid1Price": "101.25", "ask1Price": "101.75", "bid1Size": "3.5", "basis": "",
}
TICKER_LINEAR_WANT = ("BTCUSDT", "linear", 101.5, 101.25, 3.5, 101.75, 4.25, 101.6, 101.55, 99.5, 0.0201, 105.5,
                      98.25, 1234.5, 125000.75, 5432.1, -0.000125, 1700006400000)
# a pre-listing contract: Bybit leaves most prices empty
TICKER_EMPTY = {
    "symbol": "NEWUSDT", "lastPrice": "", "indexPrice": "", "markPrice": "", "prevPrice24h": "", "price24hPcnt": "",
    "highPrice24h": "", "lowPrice24h": "", "openInterest": "", "turnover24h": "", "volume24h": "", "fundingRate": "",
    "nextFundingTime": "", "ask1Size": "", "bid1Price": "", "ask1Price": "", "bid1Size": "",
}
# a spot item (bybit-v5.md 3.4): no mark/index price, open interest or funding
TICKER_SPOT = {"symbol": "ETHUSDT", "bid1Price": "20517.96", "bid1Size": "2", "ask1Price": "20527.77",
               "ask1Size": "1.862172", "lastPrice": "20533.13", "prevPrice24h": "20393.48", "price24hPcnt": "0.0068",
               "highPrice24h": "21128.12", "lowPrice24h": "20318.89", "turnover24h": "243765620.65899866",
               "volume24h": "11801.27771", "usdIndexPrice": "20784.12009279"}


def test_tickers_are_parsed_field_by_field(fk):
    c = client_for(fk)
    fk.respond(200, ok({"category": "linear", "list": [TICKER_LINEAR, TICKER_EMPTY, "junk", {"lastPrice": "7"}]}),
                 path=TICKERS)
    ts = c.get_tickers()
    assert [flat(t) for t in ts] == [
        TICKER_LINEAR_WANT,
        ("NEWUSDT", "linear") + (NAN,) * 15 + (None,),
        ("", "linear", 7.0) + (NAN,) * 14 + (None,),  # no symbol: "" (and a non-dict item is skipped)
    ]
    assert all(type(t) is Ticker for t in ts)
    assert query_of(fk, TICKERS) == "category=linear"
    fk.respond(200, ok({"category": "spot", "list": [TICKER_SPOT]}), path=TICKERS)
    (spot,) = c.get_tickers("spot", symbol="ethusdt")
    assert flat(spot) == ("ETHUSDT", "spot", 20533.13, 20517.96, 2.0, 20527.77, 1.862172, NAN, NAN, 20393.48, 0.0068,
                          21128.12, 20318.89, 11801.27771, 243765620.65899866, NAN, NAN, None)
    assert query_of(fk, TICKERS) == "category=spot&symbol=ETHUSDT"


def test_ticker_parameters_and_validation(fk):
    c = client_for(fk)
    fk.respond(200, ok({"category": "option", "list": []}), path=TICKERS)
    assert c.get_tickers("option", base_coin="btc", exp_date="25DEC22") == []
    assert query_of(fk, TICKERS) == "baseCoin=BTC&category=option&expDate=25DEC22"
    fk.respond(200, ok({"category": "option", "list": []}), path=TICKERS)
    c.get_tickers("option", symbol="BTC-29JUL22-25000-C")
    assert query_of(fk, TICKERS) == "category=option&symbol=BTC-29JUL22-25000-C"
    n = fk.count()
    with pytest.raises(InvalidInputError) as e:
        c.get_tickers("option")
    assert str(e.value) == "option tickers need symbol= or base_coin="
    with pytest.raises(InvalidInputError) as e2:
        c.get_tickers("option", base_coin="b t c")
    assert str(e2.value) == "base_coin must be letters, digits, '-' or '_' (e.g. 'BTCUSDT'), got 'b t c'"
    with pytest.raises(InvalidInputError) as e3:
        c.get_tickers("linear", base_coin=7)
    assert str(e3.value) == "base_coin must be a string such as 'BTCUSDT', got int"
    with pytest.raises(InvalidInputError) as e4:
        c.get_tickers("perp")
    assert str(e4.value) == "category must be one of linear, inverse, spot, option; got 'perp'"
    assert fk.count() == n
    # get_ticker: the item of that symbol, wherever it is in the list
    fk.respond(200, ok({"category": "linear", "list": [dict(TICKER_LINEAR, symbol="ETHUSDT", lastPrice="1"),
                                                         TICKER_LINEAR]}), path=TICKERS)
    assert flat(c.get_ticker("btcusdt")) == TICKER_LINEAR_WANT
    assert query_of(fk, TICKERS) == "category=linear&symbol=BTCUSDT"
    fk.respond(200, ok({"category": "inverse", "list": [dict(TICKER_LINEAR, symbol="ETHUSD")]}), path=TICKERS)
    with pytest.raises(InvalidInputError) as e5:
        c.get_ticker("BTCUSD", "inverse")
    assert str(e5.value) == f"no inverse ticker for 'BTCUSD' on {fk.url}"
    assert query_of(fk, TICKERS) == "category=inverse&symbol=BTCUSD"


# --------------------------------------------------------------------------- open orders
ORDER_FULL = {
    "orderId": "fd4300ae-7847-404e-b947-b46980a4d140", "orderLinkId": "link-2", "blockTradeId": "",
    "symbol": "BTCUSDT", "price": "60000.5", "qty": "0.5", "side": "Sell", "isLeverage": "", "positionIdx": 2,
    "orderStatus": "PartiallyFilled", "cancelType": "UNKNOWN", "rejectReason": "EC_NoError", "avgPrice": "60001.5",
    "leavesQty": "0.25", "leavesValue": "15000.125", "cumExecQty": "0.125", "cumExecValue": "7500.1875",
    "cumExecFee": "4.5", "timeInForce": "PostOnly", "orderType": "Limit", "stopOrderType": "", "orderIv": "",
    "triggerPrice": "", "takeProfit": "", "stopLoss": "", "tpTriggerBy": "", "slTriggerBy": "", "triggerDirection": 0,
    "triggerBy": "", "lastPriceOnCreated": "", "reduceOnly": True, "closeOnTrigger": False, "smpType": "None",
    "smpGroup": 0, "smpOrderId": "", "tpslMode": "", "tpLimitPrice": "", "slLimitPrice": "", "placeType": "",
    "createdTime": "1700000000001", "updatedTime": "1700000000002",
}
ORDER_FULL_WANT = ("fd4300ae-7847-404e-b947-b46980a4d140", "link-2", "BTCUSDT", "linear", "Sell", "Limit", 60000.5,
                   0.5, 0.25, 0.125, 60001.5, "PostOnly", "PartiallyFilled", True, 1700000000001, 1700000000002)
# a new market order as Bybit lists it: no price, no average price yet
ORDER_NEW = {"orderId": "o-3", "orderLinkId": "", "symbol": "ETHUSDT", "price": "", "qty": "2", "side": "Buy",
             "orderStatus": "New", "avgPrice": "", "leavesQty": "2", "cumExecQty": "0", "timeInForce": "IOC",
             "orderType": "Market", "reduceOnly": False, "createdTime": "1700000000004", "updatedTime": ""}


def test_open_orders_are_parsed_field_by_field(fk):
    c = client_for(fk, time_sync=False)
    fk.respond(200, ok({"category": "linear", "list": [ORDER_FULL, ORDER_NEW, 5, {}], "nextPageCursor": ""}),
                 path=OPEN)
    orders = c.get_open_orders(settle_coin="USDT")
    assert [flat(o) for o in orders] == [
        ORDER_FULL_WANT,
        ("o-3", "", "ETHUSDT", "linear", "Buy", "Market", NAN, 2.0, 2.0, 0.0, NAN, "IOC", "New", False,
         1700000000004, None),
        ("", "", "", "linear", "", "", NAN, NAN, NAN, NAN, NAN, "", "", False, None, None),
    ]
    assert all(type(o) is Order for o in orders)
    assert query_of(fk, OPEN) == "category=linear&limit=50&settleCoin=USDT"
    fk.respond(200, ok({"category": "spot", "list": [dict(ORDER_FULL, reduceOnly=False, createdTime="x")],
                          "nextPageCursor": ""}), path=OPEN)
    (o,) = c.get_open_orders("spot")  # spot needs no symbol
    assert (o.category, o.reduce_only, o.created_ms, o.updated_ms) == ("spot", False, None, 1700000000002)
    assert query_of(fk, OPEN) == "category=spot&limit=50"


def test_open_orders_parameters_and_validation(fk):
    c = client_for(fk, time_sync=False)
    c.get_open_orders("linear", symbol="btcusdt", settle_coin="usdt", base_coin="btc", order_id="abc-1",
                      order_link_id="L_1")
    assert query_of(fk, OPEN) == (
        "baseCoin=BTC&category=linear&limit=50&orderId=abc-1&orderLinkId=L_1&settleCoin=USDT&symbol=BTCUSDT")
    c.get_open_orders("inverse", base_coin="BTC")
    c.get_open_orders("option")
    assert [r.query for r in sent(fk, OPEN)[1:]] == ["baseCoin=BTC&category=inverse&limit=50",
                                                      "category=option&limit=50"]
    n = fk.count()
    for kw, msg in [
        ({"category": "linear"}, "linear open orders need symbol=, settle_coin= or base_coin="),
        ({"category": "inverse"}, "inverse open orders need symbol=, settle_coin= or base_coin="),
        ({"settle_coin": "us dt"}, "settle_coin must be letters, digits, '-' or '_' (e.g. 'BTCUSDT'), got 'us dt'"),
        ({"settle_coin": 1}, "settle_coin must be a string such as 'BTCUSDT', got int"),
        ({"base_coin": "b c"}, "base_coin must be letters, digits, '-' or '_' (e.g. 'BTCUSDT'), got 'b c'"),
        ({"symbol": "BTC/USDT"}, "symbol must be letters, digits, '-' or '_' (e.g. 'BTCUSDT'), got 'BTC/USDT'"),
        ({"symbol": "BTCUSDT", "order_id": "a_b"},
         "order_id must be Bybit's order id (letters, digits, '-'), got 'a_b'"),
        ({"symbol": "BTCUSDT", "order_id": "a" * 65},
         f"order_id must be Bybit's order id (letters, digits, '-'), got '{'a' * 65}'"),
        ({"symbol": "BTCUSDT", "order_link_id": ""}, "order_link_id must be 1..36 letters, digits, '-' or '_', got ''"),
    ]:
        with pytest.raises(InvalidInputError) as e:
            c.get_open_orders(**kw)
        assert str(e.value) == msg
    assert fk.count() == n
    c.get_open_orders(symbol="BTCUSDT", order_id="A-" + "b" * 62)  # 64 characters: the longest id
    assert "orderId=A-" + "b" * 62 in query_of(fk, OPEN)


# --------------------------------------------------------------------------- positions
POS_SHORT = {
    "positionIdx": 2, "riskId": 1, "riskLimitValue": "2000000", "symbol": "BTCUSDT", "side": "Sell", "size": "0.75",
    "avgPrice": "60100.5", "positionValue": "45075.375", "tradeMode": 0, "positionStatus": "Normal", "autoAddMargin": 0,
    "adlRankIndicator": 2, "leverage": "7", "positionBalance": "6439.3", "markPrice": "60200.25", "liqPrice": "70123.5",
    "bustPrice": "", "positionMM": "", "positionIM": "", "tpslMode": "Full", "takeProfit": "", "stopLoss": "",
    "trailingStop": "0", "unrealisedPnl": "-75.1875", "curRealisedPnl": "-1.5", "cumRealisedPnl": "12.5",
    "seq": 4688002127, "isReduceOnly": False, "mmrSysUpdatedTime": "", "leverageSysUpdatedTime": "",
    "sessionAvgPrice": "", "createdTime": "1690000000000", "updatedTime": "1700000000003",
}
POS_SHORT_WANT = ("BTCUSDT", "linear", "Sell", 0.75, 60100.5, 60200.25, 45075.375, -75.1875, 12.5, 7.0, 70123.5, 2,
                  1700000000003)
# a flat one-way position: Bybit answers side "" and empty strings
POS_FLAT = {"positionIdx": 0, "symbol": "ETHUSDT", "side": "", "size": "0", "avgPrice": "0", "positionValue": "",
            "leverage": "", "markPrice": "", "liqPrice": "", "unrealisedPnl": "", "cumRealisedPnl": "",
            "updatedTime": ""}


def test_positions_are_parsed_field_by_field(fk):
    c = client_for(fk, time_sync=False)
    fk.respond(200, ok({"category": "linear", "list": [POS_SHORT, POS_FLAT, None, {"side": None, "positionIdx": "1"}],
                          "nextPageCursor": ""}), path=POSITIONS)
    pos = c.get_positions(settle_coin="USDT")
    assert [flat(p) for p in pos] == [
        POS_SHORT_WANT,
        ("ETHUSDT", "linear", "", 0.0, 0.0, NAN, NAN, NAN, NAN, NAN, NAN, 0, None),
        ("", "linear", "", NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, 1, None),
    ]
    assert all(type(p) is Position for p in pos)
    assert [p.signed_size for p in pos[:2]] == [-0.75, 0.0]
    assert query_of(fk, POSITIONS) == "category=linear&limit=200&settleCoin=USDT"
    fk.respond(200, ok({"category": "inverse", "list": [dict(POS_SHORT, side="Buy", positionIdx="")],
                          "nextPageCursor": ""}), path=POSITIONS)
    (p,) = c.get_positions("inverse")  # inverse needs neither symbol nor settle coin
    assert (p.category, p.side, p.signed_size, p.position_idx) == ("inverse", "Buy", 0.75, 0)
    assert query_of(fk, POSITIONS) == "category=inverse&limit=200"


def test_positions_parameters_and_validation(fk):
    c = client_for(fk, time_sync=False)
    c.get_positions("linear", symbol="btcusdt", settle_coin="usdt")
    assert query_of(fk, POSITIONS) == "category=linear&limit=200&settleCoin=USDT&symbol=BTCUSDT"
    fk.respond(200, ok({"category": "option", "list": [], "nextPageCursor": ""}), path=POSITIONS)
    assert c.get_positions("option") == []
    assert query_of(fk, POSITIONS) == "category=option&limit=200"
    n = fk.count()
    for kw, msg in [
        ({"category": "spot"}, "positions exist for linear, inverse and option only; got category='spot'"),
        ({"category": "spot", "symbol": "BTCUSDT"},
         "positions exist for linear, inverse and option only; got category='spot'"),
        ({}, "linear positions need symbol= or settle_coin= (e.g. settle_coin='USDT')"),
        ({"settle_coin": "U$"}, "settle_coin must be letters, digits, '-' or '_' (e.g. 'BTCUSDT'), got 'U$'"),
        ({"symbol": None, "settle_coin": 5}, "settle_coin must be a string such as 'BTCUSDT', got int"),
        ({"symbol": "a b"}, "symbol must be letters, digits, '-' or '_' (e.g. 'BTCUSDT'), got 'a b'"),
        ({"category": "swap", "symbol": "BTCUSDT"},
         "category must be one of linear, inverse, spot, option; got 'swap'"),
    ]:
        with pytest.raises(InvalidInputError) as e:
            c.get_positions(**kw)
        assert str(e.value) == msg
    assert fk.count() == n


# --------------------------------------------------------------------------- wallet
WALLET_UNIFIED = {
    "totalEquity": "1001.5", "accountIMRate": "0", "totalMarginBalance": "1004.125", "totalInitialMargin": "0",
    "accountType": "UNIFIED", "totalAvailableBalance": "1003.75", "accountMMRate": "0", "totalPerpUPL": "0",
    "totalWalletBalance": "1002.25", "accountLTV": "0", "totalMaintenanceMargin": "0",
    "coin": [
        {"availableToBorrow": "", "bonus": "0", "accruedInterest": "0", "availableToWithdraw": "", "totalOrderIM": "0",
         "equity": "11.5", "totalPositionMM": "0", "usdValue": "15.25", "unrealisedPnl": "13.75",
         "collateralSwitch": True, "spotHedgingQty": "0", "borrowAmount": "0.0", "totalPositionIM": "0",
         "walletBalance": "12.25", "cumRealisedPnl": "0", "locked": "14.5", "marginCollateral": True, "coin": "USDT"},
        {"coin": "BTC", "equity": "", "usdValue": "", "unrealisedPnl": "", "walletBalance": "", "locked": ""},
        "junk",
        {"equity": "3"},
    ],
}


def test_wallet_balance_is_parsed_field_by_field(fk):
    c = client_for(fk, time_sync=False)
    fk.respond(200, ok({"list": [WALLET_UNIFIED]}), path=WALLET)
    w = c.get_wallet_balance(coin="USDT,BTC")
    assert query_of(fk, WALLET) == "accountType=UNIFIED&coin=USDT,BTC"
    assert type(w) is WalletBalance and all(type(x) is CoinBalance for x in w.coins)
    assert flat(w) == ("UNIFIED", 1001.5, 1002.25, 1003.75, 1004.125, (
        ("USDT", 11.5, 12.25, 13.75, 14.5, 15.25),
        ("BTC", NAN, NAN, NAN, NAN, NAN),
        ("", 3.0, NAN, NAN, NAN, NAN)))
    assert w.coin("BTC") is w.coins[1] and w.coin("USDT") is w.coins[0] and w.coin("ETH") is None
    # a classic account: Bybit leaves the totals empty; the account type comes from the answer
    classic = {"accountType": "CONTRACT", "totalEquity": "", "totalWalletBalance": "", "totalAvailableBalance": "",
               "totalMarginBalance": "", "coin": None}
    fk.respond(200, ok({"list": [classic]}), path=WALLET)
    assert flat(c.get_wallet_balance("CONTRACT")) == ("CONTRACT", NAN, NAN, NAN, NAN, ())
    assert query_of(fk, WALLET) == "accountType=CONTRACT"
    fk.respond(200, ok({"list": [{"totalEquity": "9"}]}), path=WALLET)  # no accountType: the one asked for
    assert flat(c.get_wallet_balance("SPOT")) == ("SPOT", 9.0, NAN, NAN, NAN, ())
    fk.respond(200, ok({"list": [dict(WALLET_UNIFIED, coin=[])]}), path=WALLET)  # an upgraded account answers
    assert c.get_wallet_balance("CONTRACT").account_type == "UNIFIED"
    for lst in ([], ["junk"]):  # nothing usable: an empty balance of the type asked for
        fk.respond(200, ok({"list": lst}), path=WALLET)
        assert flat(c.get_wallet_balance("SPOT")) == ("SPOT", NAN, NAN, NAN, NAN, ())
    n = fk.count()
    for kw, msg in [({"account_type": "unified"}, "account_type must be UNIFIED, CONTRACT or SPOT; got 'unified'"),
                    ({"coin": "usdt"}, "coin must be upper-case coin names separated by commas, got 'usdt'"),
                    ({"coin": "USDT,"}, "coin must be upper-case coin names separated by commas, got 'USDT,'"),
                    ({"coin": ""}, "coin must be upper-case coin names separated by commas, got ''"),
                    ({"coin": 5}, "coin must be upper-case coin names separated by commas, got 5")]:
        with pytest.raises(InvalidInputError) as e:
            c.get_wallet_balance(**kw)
        assert str(e.value) == msg
    assert fk.count() == n


# --------------------------------------------------------------------------- server time and clock offset
T0 = 1_700_000_000_123_456_789  # ns; every time_ns() call of the client moves 4 ms on from here


class StepClock:
    """``time`` inside the transport with a scripted ``time_ns``: T0, T0 + 4 ms, T0 + 8 ms, ...

    A plain GET reads it twice (sent, received); a signed request three times (timestamp first).
    """

    def __init__(self, start_ns: int = T0, step_ns: int = 4_000_000) -> None:
        self.next_ns, self.step_ns = start_ns, step_ns

    def time_ns(self) -> int:
        v = self.next_ns
        self.next_ns += self.step_ns
        return v

    def __getattr__(self, name: str):
        return getattr(time, name)


def test_server_time_offset_and_rtt_are_exact(fk, monkeypatch):
    monkeypatch.setattr(transport, "time", StepClock())
    c = client_for(fk)
    # sent at T0, received at T0 + 4 ms: the midpoint is T0 + 2 ms; the server says T0 + 9 ms
    fk.respond(200, ok({"timeSecond": "1", "timeNano": str(T0 + 9_000_000)}, time_ms=2), path=TIME)
    st = c.get_server_time()
    assert type(st) is ServerTime and (st.time_ns, st.offset_ms, st.rtt_ms) == (T0 + 9_000_000, 7.0, 4.0)
    # no timeNano (or an empty one): timeSecond; the envelope's time is not used then
    for result in ({"timeSecond": "1700000000"}, {"timeSecond": "1700000000", "timeNano": ""}):
        sent_at = transport.time.next_ns
        fk.respond(200, ok(result, time_ms=1_700_000_000_777), path=TIME)
        st = c.get_server_time()
        assert (st.time_ns, st.rtt_ms) == (1_700_000_000_000_000_000, 4.0)
        assert st.offset_ms == (1_700_000_000_000_000_000 - (sent_at + 2_000_000)) / 1e6
    # neither: the envelope's "time" (ms)
    for result in ({}, None, [], {"timeSecond": ""}):
        sent_at = transport.time.next_ns
        fk.respond(200, ok(result, time_ms=1_700_000_000_777), path=TIME)
        st = c.get_server_time()
        assert st.time_ns == 1_700_000_000_777_000_000
        assert st.offset_ms == (1_700_000_000_777_000_000 - (sent_at + 2_000_000)) / 1e6
    fk.respond(200, ok({"timeNano": "soon"}, time_ms=None), path=TIME)
    with pytest.raises(ExchangeError) as e:
        c.get_server_time()
    assert str(e.value) == "GET /v5/market/time returned no time" and e.value.endpoint == TIME


def test_sync_time_sets_the_offset_used_by_signed_timestamps(fk, monkeypatch):
    monkeypatch.setattr(transport, "time", StepClock())
    c = client_for(fk)
    assert c.clock_offset_ms == 0
    fk.respond(200, ok({"timeNano": str(T0 + 9_000_000)}), path=TIME)  # 7 ms ahead of the midpoint
    fk.respond(200, ok({"list": []}), path=WALLET)
    c.get_wallet_balance()  # the first signed request syncs first (time_ns: T0, T0+4ms), then stamps T0+8ms
    assert c.clock_offset_ms == 7.0
    assert sent(fk, WALLET)[0].headers["X-BAPI-TIMESTAMP"] == str((T0 + 8_000_000 + 7_000_000) // 1_000_000)
    # sync_time itself returns the offset it measured, and a later one replaces it
    fk.respond(200, ok({"timeNano": str(transport.time.next_ns + 2_000_000 - 3_500_000)}), path=TIME)
    assert c.sync_time() == -3.5 and c.clock_offset_ms == -3.5


# --------------------------------------------------------------------------- klines
def test_kline_columns_are_parsed_and_put_oldest_first(fk):
    c = client_for(fk)
    rows = [["1700000120000", "10", "11", "9", "10.5", "100", "1000"],
            ["1700000060000", "20", "21", "19", "20.5", "200", "2000"],
            ["1700000000000", "30", "31", "29", "30.5", "300", "3000", "ignored"]]
    fk.respond(200, ok({"symbol": "BTCUSD", "category": "inverse", "list": rows}), path=KLINE)
    k = c.get_klines("btcusd", " d ", category="inverse", limit=3)
    assert query_of(fk, KLINE) == "category=inverse&interval=D&limit=3&symbol=BTCUSD"
    assert (k.symbol, k.category, k.interval, len(k)) == ("BTCUSD", "inverse", "D", 3)
    assert k.start_ms.tolist() == [1700000000000, 1700000060000, 1700000120000] and k.start_ms.dtype == np.int64
    assert [k.open.tolist(), k.high.tolist(), k.low.tolist(), k.close.tolist(), k.volume.tolist(),
            k.turnover.tolist()] == [[30, 20, 10], [31, 21, 11], [29, 19, 9], [30.5, 20.5, 10.5], [300, 200, 100],
                                     [3000, 2000, 1000]]
    assert all(a.dtype == np.float64 and a.flags.c_contiguous for a in (k.open, k.high, k.low, k.close, k.volume,
                                                                          k.turnover))
    fk.respond(200, ok({"list": []}), path=KLINE)
    empty = c.get_klines("BTCUSDT", "w", category="spot")
    assert len(empty) == 0 and empty.interval == "W" and empty.close.shape == (0,) and empty.category == "spot"
    assert query_of(fk, KLINE) == "category=spot&interval=W&limit=200&symbol=BTCUSDT"
    for bad in ([["1", "2"]], [["x", "1", "1", "1", "1", "1", "1"]], [[None, "1", "1", "1", "1", "1", "1"]], [[]], [5]):
        fk.respond(200, ok({"list": bad}), path=KLINE)
        with pytest.raises(ExchangeError) as e:
            c.get_klines("BTCUSDT")
        assert str(e.value) == "/v5/market/kline: malformed candle rows (expected 7 decimal strings)"
        assert e.value.endpoint == KLINE


def test_kline_arguments_exact_messages_and_bounds(fk):
    c = client_for(fk)
    for kw in ({"limit": 1}, {"limit": 1000}, {"start_ms": 0}, {"end_ms": 2**53, "limit": 1},
               {"start_ms": np.int64(START), "end_ms": START}):
        c.get_klines("BTCUSDT", 15, **kw)
    assert [r.query for r in sent(fk, KLINE)] == [
        "category=linear&interval=15&limit=1&symbol=BTCUSDT",
        "category=linear&interval=15&limit=1000&symbol=BTCUSDT",
        "category=linear&interval=15&limit=200&start=0&symbol=BTCUSDT",
        f"category=linear&end={2**53}&interval=15&limit=1&symbol=BTCUSDT",
        f"category=linear&end={START}&interval=15&limit=200&start={START}&symbol=BTCUSDT"]
    n = fk.count()
    for args, kw, msg in [
        ((7,), {}, "interval must be one of 1, 3, 5, 15, 30, 60, 120, 240, 360, 720, D, W, M; got 7"),
        ((True,), {}, "interval must be one of 1, 3, 5, 15, 30, 60, 120, 240, 360, 720, D, W, M; got True"),
        (("1m",), {}, "interval must be one of 1, 3, 5, 15, 30, 60, 120, 240, 360, 720, D, W, M; got '1m'"),
        ((), {"category": "option"}, "category must be linear, inverse or spot for klines, got 'option'"),
        ((), {"limit": 0}, "limit must be in [1, 1000], got 0"),
        ((), {"limit": 1001}, "limit must be in [1, 1000], got 1001"),
        ((), {"limit": 5.0}, "limit must be an integer in [1, 1000], got 5.0"),
        ((), {"start_ms": -1}, f"start_ms must be in [0, {2**53}], got -1"),
        ((), {"start_ms": 2**53 + 1}, f"start_ms must be in [0, {2**53}], got {2**53 + 1}"),
        ((), {"end_ms": -1}, f"end_ms must be in [0, {2**53}], got -1"),
        ((), {"end_ms": "1"}, f"end_ms must be an integer in [0, {2**53}], got '1'"),
        ((), {"start_ms": 2, "end_ms": 1}, "end_ms (1) must not be before start_ms (2)"),
        ((), {"category": "linearx"}, "category must be one of linear, inverse, spot, option; got 'linearx'"),
    ]:
        with pytest.raises(InvalidInputError) as e:
            c.get_klines("BTCUSDT", *args, **kw)
        assert str(e.value) == msg
    assert fk.count() == n


# --------------------------------------------------------------------------- instruments, paging
def _instrument(symbol: str, tick: str = "0.5", step: str = "0.01", min_qty: str = "0.02") -> dict:
    return {"symbol": symbol, "status": "Trading", "priceFilter": {"tickSize": tick},
            "lotSizeFilter": {"qtyStep": step, "minOrderQty": min_qty}}


def test_instrument_parameters_cache_and_lookup(fk):
    c = client_for(fk)
    fk.respond(200, ok({"category": "inverse", "list": [_instrument("BTCUSD", "0.5", "1", "1")],
                          "nextPageCursor": ""}), path=INSTR)
    (spec,) = c.get_instruments("inverse", symbol="btcusd", status="PreLaunch", base_coin="btc", page_limit=7)
    assert query_of(fk, INSTR) == "baseCoin=BTC&category=inverse&limit=7&status=PreLaunch&symbol=BTCUSD"
    assert (spec.symbol, spec.category, spec.tick_size, spec.qty_step) == ("BTCUSD", "inverse", Decimal("0.5"),
                                                                          Decimal("1"))
    assert c.get_instrument("BTCUSD", "inverse") is spec and fk.count(INSTR) == 1  # cached per category
    fk.respond(200, ok({"list": [_instrument("BTCUSD", "0.1")], "nextPageCursor": ""}), path=INSTR)
    assert c.get_instrument("btcusd", "inverse", refresh=True).tick_size == Decimal("0.1")
    assert query_of(fk, INSTR) == "category=inverse&limit=500&symbol=BTCUSD"
    assert c.get_instrument("BTCUSD", "inverse").tick_size == Decimal("0.1")  # the refreshed one is cached
    # another category is another instrument; Bybit may list others beside the one asked for
    fk.respond(200, ok({"list": [_instrument("BTCUSDX"), _instrument("BTCUSD", "2")], "nextPageCursor": ""}),
                 path=INSTR)
    other = c.get_instrument("BTCUSD", "spot")
    assert (other.tick_size, other.category) == (Decimal("2"), "spot")
    assert query_of(fk, INSTR) == "category=spot&limit=500&symbol=BTCUSD" and fk.count(INSTR) == 3
    fk.respond(200, ok({"list": [_instrument("BTCUSDX")], "nextPageCursor": ""}), path=INSTR)
    with pytest.raises(InvalidInputError) as e:
        c.get_instrument("BTCUSD", "option")
    assert str(e.value) == f"symbol 'BTCUSD' is not a option instrument on {fk.url}"
    n = fk.count()
    for kw, msg in [({"page_limit": 0}, "page_limit must be in [1, 1000], got 0"),
                    ({"page_limit": 1001}, "page_limit must be in [1, 1000], got 1001"),
                    ({"max_pages": 0}, "max_pages must be in [1, 100000], got 0"),
                    ({"max_pages": 100_001}, "max_pages must be in [1, 100000], got 100001"),
                    ({"base_coin": "b-c d"},
                     "base_coin must be letters, digits, '-' or '_' (e.g. 'BTCUSDT'), got 'b-c d'"),
                    ({"symbol": ""}, "symbol must be letters, digits, '-' or '_' (e.g. 'BTCUSDT'), got ''")]:
        with pytest.raises(InvalidInputError) as e2:
            c.get_instruments(**kw)
        assert str(e2.value) == msg
    assert fk.count() == n
    c.get_instruments(page_limit=1000, max_pages=100_000)  # both upper bounds are allowed
    c.get_instruments(page_limit=1, max_pages=5)  # the fake pages by min(limit, 2): five pages of one
    assert [r.query for r in sent(fk, INSTR)[-5:]][:2] == [
        "category=linear&limit=1", "category=linear&cursor=first%3DBTCUSDT%26last%3DBTCUSDT&limit=1"]


def test_paging_stops_at_max_pages_and_on_a_repeated_cursor(fk):
    c = client_for(fk)
    assert len(c.get_instruments(max_pages=3)) == 5  # exactly three pages: enough
    with pytest.raises(ExchangeError) as e:
        c.get_instruments(max_pages=2)
    assert str(e.value) == "/v5/market/instruments-info: more than max_pages=2 pages; narrow the request"
    assert e.value.endpoint == INSTR and fk.count(INSTR) == 3 + 2
    page = ok({"list": [_instrument("AUSDT")], "nextPageCursor": "c%3D1"})
    fk.respond(200, page, path=INSTR, times=2)
    with pytest.raises(ExchangeError) as e2:
        c.get_instruments()
    assert str(e2.value) == "/v5/market/instruments-info: the server repeated the page cursor 'c%3D1'"
    assert e2.value.endpoint == INSTR
    assert [r.query for r in sent(fk, INSTR)[-2:]] == ["category=linear&limit=500",
                                                         "category=linear&cursor=c%3D1&limit=500"]
    # no nextPageCursor at all: one page
    fk.respond(200, ok({"list": [_instrument("AUSDT"), _instrument("BUSDT")]}), path=INSTR)
    assert [s.symbol for s in c.get_instruments()] == ["AUSDT", "BUSDT"]


NO_LIST_CALLS = [
    (INSTR, lambda c: c.get_instruments()),
    (TICKERS, lambda c: c.get_tickers()),
    (KLINE, lambda c: c.get_klines("BTCUSDT")),
    (TRADES, lambda c: c.get_trades("BTCUSDT", spec=BTC_SPEC)),
    (WALLET, lambda c: c.get_wallet_balance()),
    (POSITIONS, lambda c: c.get_positions(settle_coin="USDT")),
    (OPEN, lambda c: c.get_open_orders(symbol="BTCUSDT")),
]


def test_a_result_without_a_list_is_an_exchange_error_naming_the_path(fk):
    c = client_for(fk, time_sync=False)
    for path, call in NO_LIST_CALLS:
        for result in ({"category": "linear"}, {"list": "x"}, []):
            fk.respond(200, ok(result), path=path)
            with pytest.raises(ExchangeError) as e:
                call(c)
            assert type(e.value) is ExchangeError
            assert str(e.value) == f"{path}: result has no 'list'" and e.value.endpoint == path


# --------------------------------------------------------------------------- order book
def test_orderbook_limits_per_category_and_its_request(fk):
    c = client_for(fk)
    for cat, hi in (("linear", 1000), ("inverse", 1000), ("spot", 1000), ("option", 25)):
        c.get_orderbook("btcusdt", hi, cat, spec=BTC_SPEC)
        c.get_orderbook("BTCUSDT", 1, cat, spec=BTC_SPEC)
        assert [r.query for r in sent(fk, BOOK)[-2:]] == [f"category={cat}&limit={hi}&symbol=BTCUSDT",
                                                           f"category={cat}&limit=1&symbol=BTCUSDT"]
        n = fk.count()
        for bad in (0, hi + 1):
            with pytest.raises(InvalidInputError) as e:
                c.get_orderbook("BTCUSDT", bad, cat, spec=BTC_SPEC)
            assert str(e.value) == f"limit must be in [1, {hi}], got {bad}"
        assert fk.count() == n
    with pytest.raises(InvalidInputError) as e2:
        c.get_orderbook("BTCUSDT", True, spec=BTC_SPEC)
    assert str(e2.value) == "limit must be an integer in [1, 1000], got True"
    for result in ([], "x"):
        fk.respond(200, ok(result), path=BOOK)
        with pytest.raises(ExchangeError) as e3:
            c.get_orderbook("BTCUSDT", 5, spec=BTC_SPEC)
        assert str(e3.value) == "/v5/market/orderbook: the response has no result object"
        assert e3.value.endpoint == BOOK
    # without a spec, the instrument of that category is fetched (and cached)
    book = c.get_orderbook("BTCUSDT", 5, "spot")
    assert book.spec.category == "spot" and book.spec.tick_size == Decimal("0.10")
    assert query_of(fk, INSTR) == "category=spot&limit=500&symbol=BTCUSDT"
    c.get_orderbook("BTCUSDT", 5, "spot")
    assert fk.count(INSTR) == 1


# --------------------------------------------------------------------------- recent trades
TRADE_ITEMS = [  # newest first, as Bybit lists them
    {"execId": "e3", "symbol": "BTCUSDT", "price": "60000.3", "size": "0.003", "side": "Sell",
     "time": "1700000000300", "isBlockTrade": True, "isRPITrade": False, "seq": "33"},
    {"execId": "e2", "price": "60000.2", "size": "0.002", "side": "Buy", "time": "1700000000200",
     "isBlockTrade": False, "isRPITrade": True, "seq": "22"},
    {"symbol": "", "price": "60000.1", "size": "0.001", "side": "Buy", "time": "1700000000100"},
]


def _trade_tuple(t) -> tuple:
    return (t.symbol, t.price, t.size, t.side, t.ts_exch, t.trade_id, t.price_ticks, t.seq, t.block_trade, t.rpi)


def test_recent_trades_are_parsed_field_by_field(fk):
    c = client_for(fk)
    fk.respond(200, ok({"category": "linear", "list": TRADE_ITEMS}), path=TRADES)
    t0 = time.time_ns()
    trades = c.get_trades("btcusdt", spec=BTC_SPEC)
    t1 = time.time_ns()
    assert query_of(fk, TRADES) == "category=linear&symbol=BTCUSDT"  # no limit: Bybit's default
    assert [_trade_tuple(t) for t in trades] == [
        ("BTCUSDT", 60000.1, 0.001, 1, 1_700_000_000_100_000_000, "", 600001, -1, False, False),
        ("BTCUSDT", 60000.2, 0.002, 1, 1_700_000_000_200_000_000, "e2", 600002, 22, False, True),
        ("BTCUSDT", 60000.3, 0.003, -1, 1_700_000_000_300_000_000, "e3", 600003, 33, True, False),
    ]
    assert all(t0 <= t.ts_local <= t1 for t in trades) and len({t.ts_local for t in trades}) == 1
    assert fk.count(INSTR) == 0
    fk.respond(200, ok({"list": [dict(TRADE_ITEMS[0], symbol="ETHUSDT")]}), path=TRADES)
    assert c.get_trades("BTCUSDT", spec=BTC_SPEC)[0].symbol == "ETHUSDT"  # the item's own symbol wins


def test_recent_trades_limits_per_category(fk):
    c = client_for(fk)
    for cat, hi in (("spot", 60), ("linear", 1000), ("inverse", 1000), ("option", 1000)):
        for lim in (1, hi):
            fk.respond(200, ok({"list": []}), path=TRADES)
            assert c.get_trades("BTCUSDT", lim, cat, spec=BTC_SPEC) == []
            assert query_of(fk, TRADES) == f"category={cat}&limit={lim}&symbol=BTCUSDT"
        n = fk.count()
        for bad in (0, hi + 1):
            with pytest.raises(InvalidInputError) as e:
                c.get_trades("BTCUSDT", bad, cat, spec=BTC_SPEC)
            assert str(e.value) == f"limit must be in [1, {hi}], got {bad}"
        assert fk.count() == n
    with pytest.raises(InvalidInputError) as e2:
        c.get_trades("BTCUSDT", 2.0, spec=BTC_SPEC)
    assert str(e2.value) == "limit must be an integer in [1, 1000], got 2.0"


def test_recent_trades_fetch_and_refresh_the_instrument_of_their_category(fk):
    c = client_for(fk)
    # the first spec Bybit gives has a stale tick (1): the prices are off its grid, so it is fetched again
    fk.respond(200, ok({"list": [_instrument("BTCUSD", "1", "1", "1")], "nextPageCursor": ""}), path=INSTR)
    fk.respond(200, ok({"list": TRADE_ITEMS}), path=TRADES)
    fk.respond(200, ok({"list": [_instrument("BTCUSD", "0.1", "1", "1")], "nextPageCursor": ""}), path=INSTR)
    trades = c.get_trades("BTCUSD", category="inverse")
    assert [(t.symbol, t.price_ticks, t.trade_id) for t in trades] == [
        ("BTCUSD", 600001, ""), ("BTCUSD", 600002, "e2"), ("BTCUSDT", 600003, "e3")]
    assert [r.query for r in sent(fk, INSTR)] == ["category=inverse&limit=500&symbol=BTCUSD"] * 2
    assert c.get_instrument("BTCUSD", "inverse").tick_size == Decimal("0.1") and fk.count(INSTR) == 2
    assert query_of(fk, TRADES) == "category=inverse&symbol=BTCUSD"
    # a spec the caller gives is tried first, and refreshed the same way when the prices are off its grid
    fk.respond(200, ok({"list": TRADE_ITEMS[:1]}), path=TRADES)
    (t,) = c.get_trades("BTCUSD", category="inverse", spec=InstrumentSpec("BTCUSD", "0.01", "1", "1", "inverse"))
    assert t.price_ticks == 6000030 and fk.count(INSTR) == 2
    fk.respond(200, ok({"list": TRADE_ITEMS[:1]}), path=TRADES)
    fk.respond(200, ok({"list": [_instrument("BTCUSD", "0.3", "1", "1")], "nextPageCursor": ""}), path=INSTR)
    (t,) = c.get_trades("BTCUSD", category="inverse", spec=InstrumentSpec("BTCUSD", "7", "1", "1", "inverse"))
    assert t.price_ticks == 200001 and fk.count(INSTR) == 3


@pytest.mark.parametrize("item, msg", [
    (dict(TRADE_ITEMS[0], side="buy"), "recent-trade item 1 has side 'buy', expected 'Buy' or 'Sell'"),
    ({"execId": "x", "side": "Buy", "size": "1", "time": "1"},
     "recent-trade item 1 is malformed (KeyError('price')): {'execId': 'x', 'side': 'Buy', 'size': '1', 'time': '1'}"),
    ({"side": "Sell", "price": "1", "size": "1", "time": "noon"},
     "recent-trade item 1 is malformed (ValueError(\"invalid literal for int() with base 10: 'noon'\")): "
     "{'side': 'Sell', 'price': '1', 'size': '1', 'time': 'noon'}"),
])
def test_a_bad_trade_item_is_named_in_the_error(fk, item, msg):
    c = client_for(fk)
    fk.respond(200, ok({"list": [TRADE_ITEMS[1], item]}), path=TRADES)
    with pytest.raises(InvalidInputError) as e:
        c.get_trades("BTCUSDT", spec=BTC_SPEC)
    assert str(e.value) == msg
    assert fk.count(INSTR) == 1  # the spec was refreshed once, in case the grid was the problem


# --------------------------------------------------------------------------- orders: exact refusals
PLACE_REFUSALS = [
    (("BTCUSDT", "Buy", "Limit", "0.001", "60000"), {"category": "futures"},
     "category must be one of linear, inverse, spot, option; got 'futures'"),
    ((5, "Buy", "Limit", "0.001", "60000"), {}, "symbol must be a string such as 'BTCUSDT', got int"),
    (("BTC/USDT", "Buy", "Limit", "0.001", "60000"), {},
     "symbol must be letters, digits, '-' or '_' (e.g. 'BTCUSDT'), got 'BTC/USDT'"),
    (("-BTC", "Buy", "Limit", "0.001", "60000"), {},
     "symbol must be letters, digits, '-' or '_' (e.g. 'BTCUSDT'), got '-BTC'"),
    (("B" * 65, "Buy", "Limit", "0.001", "60000"), {},
     f"symbol must be letters, digits, '-' or '_' (e.g. 'BTCUSDT'), got '{'B' * 65}'"),
    (("BTCUSDT", "Hold", "Limit", "0.001", "60000"), {}, "side must be one of Buy, Sell; got 'Hold'"),
    (("BTCUSDT", 0, "Limit", "0.001", "60000"), {}, "side must be one of Buy, Sell; got 0"),
    (("BTCUSDT", 2, "Limit", "0.001", "60000"), {}, "side must be one of Buy, Sell; got 2"),
    (("BTCUSDT", True, "Limit", "0.001", "60000"), {}, "side must be one of Buy, Sell; got True"),
    (("BTCUSDT", 1.0, "Limit", "0.001", "60000"), {}, "side must be one of Buy, Sell; got 1.0"),
    (("BTCUSDT", None, "Limit", "0.001", "60000"), {}, "side must be one of Buy, Sell; got None"),
    (("BTCUSDT", "Buy", "Stop", "0.001", "60000"), {}, "order_type must be one of Limit, Market; got 'Stop'"),
    (("BTCUSDT", "Buy", 1, "0.001", "60000"), {}, "order_type must be one of Limit, Market; got 1"),
    (("BTCUSDT", "Buy", "Limit", "0", "60000"), {}, "qty must be a finite number > 0, got '0'"),
    (("BTCUSDT", "Buy", "Limit", -1.0, "60000"), {}, "qty must be a finite number > 0, got -1.0"),
    (("BTCUSDT", "Buy", "Limit", "inf", "60000"), {}, "qty must be a finite number > 0, got 'inf'"),
    (("BTCUSDT", "Buy", "Limit", "nan", "60000"), {}, "qty must be a finite number > 0, got 'nan'"),
    (("BTCUSDT", "Buy", "Limit", "abc", "60000"), {}, "qty must be a positive decimal number, got 'abc'"),
    (("BTCUSDT", "Buy", "Limit", True, "60000"), {}, "qty must be a positive decimal number, got True"),
    (("BTCUSDT", "Buy", "Limit", [1], "60000"), {}, "qty must be a positive decimal number, got [1]"),
    (("BTCUSDT", "Buy", "Limit", "0.001", "-5"), {}, "price must be a finite number > 0, got '-5'"),
    (("BTCUSDT", "Buy", "Limit", "0.001", b"1"), {}, "price must be a positive decimal number, got b'1'"),
    (("BTCUSDT", "Buy", "Limit", "0.001"), {}, "price is required for a Limit order"),
    (("BTCUSDT", "Buy", "Market", "0.001", "60000"), {},
     "price must be None for a Market order (use a Limit order with IOC)"),
    (("BTCUSDT", "Buy", "Limit", "0.001", "60000"), {"time_in_force": "GTD"},
     "time_in_force must be one of FOK, GTC, IOC, PostOnly; got 'GTD'"),
    (("BTCUSDT", "Buy", "Market", "0.001"), {"time_in_force": "post_only"},
     "time_in_force='PostOnly' needs order_type='Limit'"),
    (("BTCUSDT", "Buy", "Limit", "0.001", "60000"), {"reduce_only": "yes"},
     "reduce_only must be True or False, got 'yes'"),
    (("BTCUSDT", "Buy", "Limit", "0.001", "60000"), {"reduce_only": 1}, "reduce_only must be True or False, got 1"),
    (("BTCUSDT", "Buy", "Limit", "0.001", "60000"), {"category": "spot", "reduce_only": True},
     "reduce_only is not available for spot orders"),
    (("BTCUSDT", "Buy", "Limit", "0.001", "60000"), {"order_link_id": "x" * 37},
     f"order_link_id must be 1..36 letters, digits, '-' or '_', got '{'x' * 37}'"),
    (("BTCUSDT", "Buy", "Limit", "0.001", "60000"), {"order_link_id": ""},
     "order_link_id must be 1..36 letters, digits, '-' or '_', got ''"),
    (("BTCUSDT", "Buy", "Limit", "0.001", "60000"), {"order_link_id": 12},
     "order_link_id must be 1..36 letters, digits, '-' or '_', got 12"),
    (("BTCUSDT", "Buy", "Limit", "0.001", "60000"), {"position_idx": 3}, "position_idx must be in [0, 2], got 3"),
    (("BTCUSDT", "Buy", "Limit", "0.001", "60000"), {"position_idx": -1}, "position_idx must be in [0, 2], got -1"),
    (("BTCUSDT", "Buy", "Limit", "0.001", "60000"), {"position_idx": True},
     "position_idx must be an integer in [0, 2], got True"),
    (("BTCUSDT", "Buy", "Limit", "0.001", "60000"), {"spec": "BTCUSDT"}, "spec must be an InstrumentSpec, got str"),
    (("BTCUSDT", "Buy", "Limit", "0.0015", "60000"), {"spec": BTC_SPEC},
     "qty 0.0015 is not a multiple of qty_step 0.001 for BTCUSDT"),
    (("BTCUSDT", "Buy", "Limit", "0.001", "60000.05"), {"spec": BTC_SPEC},
     "price 60000.05 is not a multiple of tick_size 0.1 for BTCUSDT"),
    (("BTCUSDT", "Buy", "Limit", "0.001", "60000"), {"spec": InstrumentSpec("BTCUSDT", "0.1", "0.001", "0.002")},
     "qty 0.001 is below min_order_qty 0.002 for BTCUSDT"),
]


@pytest.mark.parametrize("args, kw, msg", PLACE_REFUSALS)
def test_place_order_refusals_name_the_argument_exactly(off, args, kw, msg):
    kw = {"spec": BTC_SPEC, **kw}
    with pytest.raises(InvalidInputError) as e:
        off.place_order(*args, **kw)
    assert str(e.value) == msg


def test_amend_and_cancel_refusals_name_the_argument_exactly(off):
    for call, msg in [
        (lambda: off.amend_order("BTCUSDT", order_id="a", spec=BTC_SPEC), "amend_order needs qty= or price= (or both)"),
        (lambda: off.amend_order("BTCUSDT", qty="1", spec=BTC_SPEC),
         "pass exactly one of order_id= and order_link_id="),
        (lambda: off.amend_order("BTCUSDT", order_id="a", order_link_id="b", qty="1", spec=BTC_SPEC),
         "pass exactly one of order_id= and order_link_id="),
        (lambda: off.amend_order("BTCUSDT", order_id="a", qty="0", spec=BTC_SPEC),
         "qty must be a finite number > 0, got '0'"),
        (lambda: off.amend_order("BTCUSDT", order_id="a", price="x", spec=BTC_SPEC),
         "price must be a positive decimal number, got 'x'"),
        (lambda: off.amend_order("BTCUSDT", order_id="a", qty="0.0011", spec=BTC_SPEC),
         "qty 0.0011 is not a multiple of qty_step 0.001 for BTCUSDT"),
        (lambda: off.amend_order("BTCUSDT", order_id="a", price="1.01", spec=BTC_SPEC),
         "price 1.01 is not a multiple of tick_size 0.1 for BTCUSDT"),
        (lambda: off.amend_order("BTCUSDT", order_id="a_1", qty="1", spec=BTC_SPEC),
         "order_id must be Bybit's order id (letters, digits, '-'), got 'a_1'"),
        (lambda: off.amend_order("BTCUSDT", order_link_id="a b", qty="1", spec=BTC_SPEC),
         "order_link_id must be 1..36 letters, digits, '-' or '_', got 'a b'"),
        (lambda: off.amend_order("BTCUSDT", order_id="a", qty="1", category="x"),
         "category must be one of linear, inverse, spot, option; got 'x'"),
        (lambda: off.amend_order("BTC USDT", order_id="a", qty="1"),
         "symbol must be letters, digits, '-' or '_' (e.g. 'BTCUSDT'), got 'BTC USDT'"),
        (lambda: off.amend_order("BTCUSDT", order_id="a", qty="1", spec=1), "spec must be an InstrumentSpec, got int"),
        (lambda: off.cancel_order("BTCUSDT"), "pass exactly one of order_id= and order_link_id="),
        (lambda: off.cancel_order("BTCUSDT", order_id="a", order_link_id="b"),
         "pass exactly one of order_id= and order_link_id="),
        (lambda: off.cancel_order("BTCUSDT", order_id=""),
         "order_id must be Bybit's order id (letters, digits, '-'), got ''"),
        (lambda: off.cancel_order("BTCUSDT", order_link_id="x" * 37),
         f"order_link_id must be 1..36 letters, digits, '-' or '_', got '{'x' * 37}'"),
        (lambda: off.cancel_order("BTCUSDT", order_id="a", category="perp"),
         "category must be one of linear, inverse, spot, option; got 'perp'"),
        (lambda: off.cancel_order(None, order_id="a"), "symbol must be a string such as 'BTCUSDT', got NoneType"),
    ]:
        with pytest.raises(InvalidInputError) as e:
            call()
        assert str(e.value) == msg


def test_orders_without_keys_fail_before_fetching_the_grid(fk):
    c = BybitClient(base_url=fk.url, time_sync=False)
    for call in (lambda: c.place_order("BTCUSDT", "Buy", "Market", "0.001"),
                 lambda: c.amend_order("BTCUSDT", order_id="a", qty="0.001")):
        with pytest.raises(AuthenticationError) as e:
            call()
        assert str(e.value) == ("order endpoints need API keys: pass api_key= and api_secret= or set BYBIT_API_KEY "
                                "and BYBIT_API_SECRET")
    with pytest.raises(AuthenticationError) as e2:
        c.get_wallet_balance()
    assert str(e2.value) == (f"GET {WALLET} is a private endpoint and needs API keys: pass api_key= and api_secret= "
                             "or set BYBIT_API_KEY and BYBIT_API_SECRET")
    assert e2.value.endpoint == WALLET
    with pytest.raises(AuthenticationError) as e3:
        c.cancel_order("BTCUSDT", order_id="a")
    assert e3.value.endpoint == CANCEL and str(e3.value).startswith(f"POST {CANCEL} is a private endpoint")
    assert fk.count() == 0


# --------------------------------------------------------------------------- orders: what is sent
def test_order_arguments_are_normalised_on_the_wire(fk):
    c = client_for(fk, time_sync=False)
    B = '{"category":"linear","symbol":"BTCUSDT",'
    for args, kw, body in [
        (("btcusdt ", "LONG", "LIMIT", Decimal("0.0010"), 60000.0), {"time_in_force": "Post Only"},
         B + '"side":"Buy","orderType":"Limit","qty":"0.001","price":"60000","timeInForce":"PostOnly"}'),
        (("BTCUSDT", "short", "limit", " 0.002 ", Decimal("6E+4")), {"time_in_force": "post_only"},
         B + '"side":"Sell","orderType":"Limit","qty":"0.002","price":"60000","timeInForce":"PostOnly"}'),
        (("BTCUSDT", -1, "Limit", 2, np.int64(60001)), {"time_in_force": "ioc"},
         B + '"side":"Sell","orderType":"Limit","qty":"2","price":"60001","timeInForce":"IOC"}'),
        (("BTCUSDT", np.int64(1), "market", np.int64(3)), {"time_in_force": "FOK", "reduce_only": False},
         B + '"side":"Buy","orderType":"Market","qty":"3","timeInForce":"FOK"}'),
        (("BTCUSDT", 1, "Market", np.float32(0.5)), {"time_in_force": "g_t_c", "reduce_only": True, "position_idx": 1,
                                                    "order_link_id": "A" * 36},
         B + '"side":"Buy","orderType":"Market","qty":"0.5","timeInForce":"GTC","reduceOnly":true,'
             f'"orderLinkId":"{"A" * 36}","positionIdx":1}}'),
        (("BTCUSDT", "Sell", "Limit", "0.001", "60000.1"), {"position_idx": np.int64(2)},
         B + '"side":"Sell","orderType":"Limit","qty":"0.001","price":"60000.1","positionIdx":2}'),
        (("BTCUSDT", "Buy", "Limit", "10", "100000"), {},
         B + '"side":"Buy","orderType":"Limit","qty":"10","price":"100000"}'),
    ]:
        c.place_order(*args, spec=BTC_SPEC, **kw)
        assert sent(fk, CREATE)[-1].body == body
    # qty equal to the minimum is accepted; the spec's category is not the order's
    c.place_order("ETHUSDT", "Buy", "Limit", "0.02", "3000.5", category="inverse",
                  spec=InstrumentSpec("ETHUSDT", "0.5", "0.01", "0.02"))
    assert sent(fk, CREATE)[-1].body == ('{"category":"inverse","symbol":"ETHUSDT","side":"Buy","orderType":"Limit",'
                                           '"qty":"0.02","price":"3000.5"}')
    assert fk.count(INSTR) == 0 and fk.count(CREATE) == 8


def test_amend_and_cancel_bodies(fk):
    c = client_for(fk, time_sync=False)
    oid = c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", order_link_id="L-1", spec=BTC_SPEC).order_id
    c.amend_order("btcusdt", order_link_id="L-1", qty=Decimal("0.0020"), spec=BTC_SPEC)
    c.amend_order("BTCUSDT", order_id=oid, price=60000.5, spec=BTC_SPEC)
    assert [r.body for r in sent(fk, AMEND)] == [
        '{"category":"linear","symbol":"BTCUSDT","orderLinkId":"L-1","qty":"0.002"}',
        f'{{"category":"linear","symbol":"BTCUSDT","orderId":"{oid}","price":"60000.5"}}']
    ack = c.cancel_order("btcusdt", order_link_id="L-1")
    assert ack == OrderAck(oid, "L-1")
    fk.respond(200, ok({"orderId": "o-9", "orderLinkId": ""}), path=CANCEL)
    assert c.cancel_order("ETHUSDT", order_id="o-9", category="spot") == OrderAck("o-9", "")
    assert [r.body for r in sent(fk, CANCEL)] == [
        '{"category":"linear","symbol":"BTCUSDT","orderLinkId":"L-1"}',
        '{"category":"spot","symbol":"ETHUSDT","orderId":"o-9"}']
    # amend without a spec fetches the grid of the order's category
    fk.respond(200, ok({"list": [_instrument("ETHUSDT", "0.5", "0.01", "0.01")], "nextPageCursor": ""}), path=INSTR)
    fk.respond(200, ok({"orderId": "o-8"}), path=AMEND)
    assert c.amend_order("ETHUSDT", order_id="o-8", price="3000.5", category="inverse") == OrderAck("o-8", "")
    assert query_of(fk, INSTR) == "category=inverse&limit=500&symbol=ETHUSDT"
    assert sent(fk, AMEND)[-1].body == '{"category":"inverse","symbol":"ETHUSDT","orderId":"o-8","price":"3000.5"}'
    # place_order without a spec: the grid of the order's category too
    fk.respond(200, ok({"list": [_instrument("ETHUSDT", "0.5", "0.01", "0.01")], "nextPageCursor": ""}), path=INSTR)
    c.place_order("ETHUSDT", "Buy", "Limit", "0.01", "3000.5", category="spot")
    assert query_of(fk, INSTR) == "category=spot&limit=500&symbol=ETHUSDT"
    with pytest.raises(InvalidInputError) as e:
        c.place_order("ETHUSDT", "Buy", "Limit", "0.01", "3000.25", category="spot")
    assert str(e.value) == "price 3000.25 is not a multiple of tick_size 0.5 for ETHUSDT"
    assert fk.count(INSTR) == 2


@pytest.mark.parametrize("path, call", [
    (CREATE, lambda c: c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", spec=BTC_SPEC)),
    (AMEND, lambda c: c.amend_order("BTCUSDT", order_id="o-1", qty="0.001", spec=BTC_SPEC)),
    (CANCEL, lambda c: c.cancel_order("BTCUSDT", order_id="o-1")),
])
def test_order_acks(fk, path, call):
    c = client_for(fk, time_sync=False)
    for result in ({}, {"orderId": "", "orderLinkId": ""}, [], "o-1", {"orderLinkId": None}):
        fk.respond(200, ok(result), path=path)
        with pytest.raises(ExchangeError) as e:
            call(c)
        assert str(e.value) == f"{path}: the response carries no orderId" and e.value.endpoint == path
    fk.respond(200, ok({"orderLinkId": "L9"}), path=path)
    assert call(c) == OrderAck("", "L9")
    fk.respond(200, ok({"orderId": "O9"}), path=path)
    assert call(c) == OrderAck("O9", "")
    fk.respond(200, ok({"orderId": "O8", "orderLinkId": "L8"}), path=path)
    assert call(c) == OrderAck("O8", "L8")


# --------------------------------------------------------------------------- transport failures, exact
class RaisingSession(requests.Session):
    """A session whose every request raises ``exc`` (counted), without touching the network."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__()
        self.exc, self.calls = exc, 0

    def request(self, *args, **kwargs):  # type: ignore[override]
        self.calls += 1
        raise self.exc


@pytest.mark.parametrize("exc, cls, get_msg, post_msg, get_calls", [
    (requests.exceptions.SSLError("certificate verify failed"), TransportError,
     f"GET {TIME}: TLS verification failed (SSLError)", f"POST {CREATE}: TLS verification failed (SSLError)", 1),
    (requests.exceptions.ContentDecodingError("bad gzip"), TransportError,
     f"GET {TIME} failed: ContentDecodingError", f"POST {CREATE} failed: ContentDecodingError", 1),
    (requests.exceptions.InvalidHeader("x"), TransportError,
     f"GET {TIME} failed: InvalidHeader", f"POST {CREATE} failed: InvalidHeader", 1),
    (requests.exceptions.ReadTimeout("slow"), RequestTimeoutError,
     f"GET {TIME} timed out after 2.0 s (3 attempts)",
     f"POST {CREATE} timed out after 2.0 s; a POST is not retried: check whether it was executed", 3),
    (requests.exceptions.ConnectTimeout("slow"), RequestTimeoutError,
     f"GET {TIME} timed out after 2.0 s (3 attempts)",
     f"POST {CREATE} timed out after 2.0 s; a POST is not retried: check whether it was executed", 3),
    (requests.exceptions.ConnectionError("refused"), TransportError,
     f"GET {TIME} could not connect (3 attempts)",
     f"POST {CREATE} could not connect; a POST is not retried: check whether it was executed", 3),
])
def test_transport_failures_exact_messages_and_retries(vt, exc, cls, get_msg, post_msg, get_calls):
    port = free_port()
    s = RaisingSession(exc)
    c = BybitClient(base_url=f"http://127.0.0.1:{port}", api_key=FAKE_API_KEY, api_secret=FAKE_API_SECRET,
                    timeout=2.0, max_retries=2, backoff_s=0.1, backoff_max_s=1.0, time_sync=False, session=s)
    try:
        with pytest.raises(cls) as e:
            c.get_server_time()
        assert type(e.value) is cls and str(e.value) == get_msg and e.value.endpoint == TIME
        assert e.value.__cause__ is None and s.calls == get_calls and len(vt.sleeps) == get_calls - 1
        with pytest.raises(cls) as e2:
            c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", spec=BTC_SPEC)
        assert type(e2.value) is cls and str(e2.value) == post_msg and e2.value.endpoint == CREATE
        assert s.calls == get_calls + 1 and len(vt.sleeps) == get_calls - 1
    finally:
        _forget_host(f"127.0.0.1:{port}")


# --------------------------------------------------------------------------- answers, exact messages
def test_error_answers_exact_messages(fk, vt):
    c = client_for(fk, max_retries=1, backoff_s=0.0)
    u = fk.url
    cases = [
        # (status, body, headers, path, call, type, message, ret_code, ret_msg)
        (502, "<html>\n  bad   gateway </html>", None, TIME, "time", ExchangeError,
         f"GET {TIME}: HTTP 502 '<html> bad gateway </html>' (gave up after 2 attempts)", None, None),
        (500, "x" * 61, None, TIME, "time", ExchangeError,
         f"GET {TIME}: HTTP 500 '{'x' * 60}...' (gave up after 2 attempts)", None, None),
        (503, "y" * 60, None, TIME, "time", ExchangeError,
         f"GET {TIME}: HTTP 503 '{'y' * 60}' (gave up after 2 attempts)", None, None),
        (504, "", None, CREATE, "post", ExchangeError,
         f"POST {CREATE}: HTTP 504 ''; a POST is not retried: check whether it was executed", None, None),
        (200, '{"retCode":10016,"retMsg":"busy"}', None, TIME, "time", ExchangeError,
         f"GET {TIME}: Bybit error 10016: 'busy' (gave up after 2 attempts)", 10016, "busy"),
        (200, '{"retCode":10000,"retMsg":"Server Timeout"}', None, TIME, "time", ExchangeError,
         f"GET {TIME}: Bybit error 10000: 'Server Timeout' (gave up after 2 attempts)", 10000, "Server Timeout"),
        (200, '{"retCode":429,"retMsg":"high load"}', None, CREATE, "post", ExchangeError,
         f"POST {CREATE}: Bybit error 429: 'high load'", 429, "high load"),
        (200, '{"retCode":10001}', None, TIME, "time", ExchangeError, f"GET {TIME}: Bybit error 10001: ''", 10001, ""),
        (200, '{"retCode":10001,"retMsg":null}', None, TIME, "time", ExchangeError,
         f"GET {TIME}: Bybit error 10001: ''", 10001, ""),
        (200, '{"retCode":10001,"ret_code":0,"retMsg":"new","ret_msg":"old"}', None, TIME, "time", ExchangeError,
         f"GET {TIME}: Bybit error 10001: 'new'", 10001, "new"),
        (200, '{"ret_code":10001,"ret_msg":7}', None, TIME, "time", ExchangeError,
         f"GET {TIME}: Bybit error 10001: '7'", 10001, "7"),
        (200, '{"retCode":10006,"retMsg":"Too many visits!"}', None, TIME, "time", RateLimitError,
         f"GET {TIME}: Bybit error 10006: 'Too many visits!' (gave up after 2 attempts)", 10006, "Too many visits!"),
        (429, "", None, TIME, "time", RateLimitError,
         f"GET {TIME}: HTTP 429 (too many requests) (gave up after 2 attempts)", None, None),
        (401, "nope", None, WALLET, "wallet", AuthenticationError,
         f"GET {WALLET}: HTTP 401: the API key is invalid or the auth headers are missing", None, None),
        (200, "<html>\n maintenance </html>", None, TIME, "time", ExchangeError,
         f"GET {TIME}: HTTP 200 with a body that is not JSON (27 bytes: '<html> maintenance </html>')", None, None),
        (200, "", None, TIME, "time", ExchangeError,
         f"GET {TIME}: HTTP 200 with a body that is not JSON (0 bytes: '')", None, None),
        (200, "z" * 130, None, TIME, "time", ExchangeError,
         f"GET {TIME}: HTTP 200 with a body that is not JSON (130 bytes: '{'z' * 120}...')", None, None),
        (200, "[1, 2]", None, TIME, "time", ExchangeError,
         f"GET {TIME}: HTTP 200 with a body that is not a V5 envelope (no retCode): '[1, 2]'", None, None),
        (200, '{"code": 0}', None, TIME, "time", ExchangeError,
         f"GET {TIME}: HTTP 200 with a body that is not a V5 envelope (no retCode): \"{{'code': 0}}\"", None, None),
        (200, '{"retCode":"abc"}', None, TIME, "time", ExchangeError, f"GET {TIME}: retCode is not an integer: 'abc'",
         None, None),
        (200, '{"retCode":[0]}', None, TIME, "time", ExchangeError, f"GET {TIME}: retCode is not an integer: [0]",
         None, None),
        (201, '{"retCode":0,"result":{}}', None, TIME, "time", ExchangeError, f"GET {TIME}: HTTP 201", None, None),
    ]
    calls = {"time": lambda: c.get_server_time(), "wallet": lambda: c.get_wallet_balance(),
             "post": lambda: c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", spec=BTC_SPEC)}
    c.sync_time()
    for status, body, headers, path, call, cls, msg, code, rmsg in cases:
        fk.clear_faults()
        fk.respond(status, body, headers=headers, path=path, times=None)
        with pytest.raises(cls) as e:
            calls[call]()
        err = e.value
        assert type(err) is cls, msg
        assert str(err) == msg
        assert (err.status, err.ret_code, err.ret_msg, err.endpoint) == (status, code, rmsg, path), msg
    # the legacy envelope with its own field names is a success too
    fk.clear_faults()
    fk.respond(200, '{"ret_code":0,"ret_msg":"OK","result":{"timeNano":"1700000000987654321"}}', path=TIME)
    assert c.get_server_time().time_ns == 1_700_000_000_987_654_321


def test_403_exact_messages_and_reasons(fk, vt):
    c = client_for(fk, ip_ban_s=600.0)
    fk.respond(403, "access too frequent", path=TIME)
    with pytest.raises(IpBanError) as e:
        c.get_server_time()
    assert str(e.value) == (
        f"GET {TIME}: HTTP 403 'access too frequent' from {fk.url}: the IP limit (600 requests per 5 s) was broken, "
        "or this IP is in a restricted region; every request to this host stops for 600.0 s")
    with pytest.raises(IpBanError) as e2:
        c.get_orderbook("BTCUSDT", 5, spec=BTC_SPEC)
    assert re.fullmatch(rf"GET {BOOK} not sent: {re.escape(fk.url)} banned this IP \(HTTP 403: access too "
                        r"frequent\); requests resume in (600\.0|599\.9) s", str(e2.value)), str(e2.value)
    assert (e2.value.status, e2.value.endpoint, e2.value.ret_code) == (403, BOOK, None)
    vt.mono_ahead_s += 601.0
    fk.respond(403, "", path=TIME, headers={"Retry-After": "2.25"})  # no body: "forbidden"
    with pytest.raises(IpBanError) as e3:
        c.get_server_time()
    assert str(e3.value) == (
        f"GET {TIME}: HTTP 403 'forbidden' from {fk.url}: the IP limit (600 requests per 5 s) was broken, "
        "or this IP is in a restricted region; every request to this host stops for 2.2 s")
    assert e3.value.retry_after_s == 2.25
    with pytest.raises(IpBanError, match=r"\(HTTP 403: forbidden\)"):
        c.get_server_time()
    vt.mono_ahead_s += 3.0
    reason = "r" * 79 + "ST"  # 81 characters: the first 80 are kept
    fk.respond(403, f"  {reason}\n", path=TIME, headers={"Retry-After": "1"})
    with pytest.raises(IpBanError) as e4:
        c.get_server_time()
    assert f"HTTP 403 '{reason[:80]}' from" in str(e4.value) and "ST" not in str(e4.value)
    with pytest.raises(IpBanError) as e5:
        c.get_server_time()
    assert f"(HTTP 403: {reason[:80]});" in str(e5.value)
    assert fk.count(TIME) == 3 and vt.sleeps == []


# --------------------------------------------------------------------------- rate limits: messages, headers, waits
def test_rate_limit_refusals_exact_messages(fk, vt):
    c = default_client(fk)
    fk.fail_ret_code(10006, path=TIME, reset_in_s=40.0)
    with pytest.raises(RateLimitError) as e:
        c.get_server_time()
    assert re.fullmatch(rf"GET {TIME}: Bybit error 10006: 'Too many visits!'; the limit resets in (40\.0|39\.9) s, "
                        r"longer than max_rate_limit_wait_s=30", str(e.value)), str(e.value)
    with pytest.raises(RateLimitError) as e2:
        c.get_server_time()
    assert re.fullmatch(rf"GET {TIME} not sent: its rate limit \(10 per window\) is used up and resets in "
                        r"(40\.0|39\.9) s, longer than max_rate_limit_wait_s=30", str(e2.value)), str(e2.value)
    assert (e2.value.status, e2.value.ret_code, e2.value.endpoint) == (None, 10006, TIME)
    c2 = client_for(fk, max_rate_limit_wait_s=2.5)
    fk.respond(429, "", path=BOOK, headers={"Retry-After": "3"})
    with pytest.raises(RateLimitError) as e3:
        c2.get_orderbook("BTCUSDT", 5, spec=BTC_SPEC)
    assert str(e3.value) == (f"GET {BOOK}: HTTP 429 (too many requests); the limit resets in 3.0 s, longer than "
                             "max_rate_limit_wait_s=2.5")
    assert (e3.value.status, e3.value.ret_code, e3.value.endpoint, e3.value.retry_after_s) == (429, None, BOOK, 3.0)
    assert vt.sleeps == []


def test_limit_headers_are_read_leniently(fk, vt):
    c = client_for(fk)
    fk.respond(200, TIME_OK, path=TIME, headers={"X-Bapi-Limit": "20.9", "X-Bapi-Limit-Status": "5",
                                                  "X-Bapi-Limit-Reset-Timestamp": "soon"})
    c.get_server_time()
    assert c.rate_limit_status(TIME) == RateLimitStatus(20, 5, None)
    fk.respond(200, TIME_OK, path=TIME, headers={"X-Bapi-Limit": "x", "X-Bapi-Limit-Status": "3.0",
                                                  "X-Bapi-Limit-Reset-Timestamp": "1700000000123.9"})
    c.get_server_time()
    assert c.rate_limit_status(TIME) == RateLimitStatus(None, 3, 1_700_000_000_123)
    fk.respond(200, TIME_OK, path=BOOK.replace("orderbook", "time"), headers={"X-Bapi-Limit": "20"})
    c.get_server_time()  # no X-Bapi-Limit-Status: nothing recorded, the last status stays
    assert c.rate_limit_status(TIME) == RateLimitStatus(None, 3, 1_700_000_000_123)
    # one request left (remaining 1) is no reason to wait; none left with an unknown reset neither
    reset = fk.server_ms() + 3000
    fk.respond(200, TIME_OK, path=TIME, headers={"X-Bapi-Limit": "2", "X-Bapi-Limit-Status": "1",
                                                  "X-Bapi-Limit-Reset-Timestamp": str(reset)})
    c.get_server_time()
    c.get_server_time()
    fk.respond(200, TIME_OK, path=TIME, headers={"X-Bapi-Limit": "2", "X-Bapi-Limit-Status": "0"})
    c.get_server_time()
    c.get_server_time()
    assert vt.sleeps == [] and c.rate_limit_status(TIME) == RateLimitStatus(2, 0, None)
    # a reset already past: sent at once, and the exhausted status is dropped
    fk.respond(200, TIME_OK, path=TIME, headers={"X-Bapi-Limit": "2", "X-Bapi-Limit-Status": "0",
                                                  "X-Bapi-Limit-Reset-Timestamp": str(fk.server_ms() - 10)})
    c.get_server_time()
    c.get_server_time()
    assert vt.sleeps == [] and c.rate_limit_status(TIME) is None and fk.count(TIME) == 9


def test_a_reset_in_the_past_or_a_bad_retry_after_falls_back_to_the_backoff(fk, vt):
    c = client_for(fk, backoff_s=0.4, backoff_max_s=10.0, max_rate_limit_wait_s=30.0)
    fk.respond(429, "", path=TIME, headers={"X-Bapi-Limit-Reset-Timestamp": str(fk.server_ms() - 2000)})
    c.get_server_time()
    fk.respond(200, '{"retCode":10006,"retMsg":"x"}', path=TIME,
                 headers={"X-Bapi-Limit-Status": "0", "X-Bapi-Limit-Reset-Timestamp": str(fk.server_ms() - 1)})
    c.get_server_time()
    for value in ("inf", "nan", "-0.5", ""):
        fk.respond(429, "", path=TIME, headers={"Retry-After": value})
        c.get_server_time()
    assert len(vt.sleeps) == 6 and all(0.2 <= w <= 0.4 for w in vt.sleeps), vt.sleeps
    fk.respond(429, "", path=TIME, headers={"Retry-After": "0.0"})
    c.get_server_time()
    assert len(vt.sleeps) == 6 and fk.count(TIME) == 14  # "retry now": no sleep at all


def test_backoff_doubles_up_to_its_cap_with_jitter(fk, vt):
    c = default_client(fk, max_retries=6)  # backoff 0.5 s doubling, capped at 8 s, times U(0.5, 1)
    c._transport._rng = random.Random(7)
    fk.fail_http(503, path=TIME, times=None)
    with pytest.raises(ExchangeError, match=r"\(gave up after 7 attempts\)$"):
        c.get_server_time()
    r = random.Random(7)
    assert vt.sleeps == [base * r.uniform(0.5, 1.0) for base in (0.5, 1.0, 2.0, 4.0, 8.0, 8.0)]


def test_default_retries_and_timeout(fk, vt):
    s = RecordingSession()
    c = BybitClient(base_url=fk.url, session=s)
    fk.fail_http(502, path=TIME, times=None)
    with pytest.raises(ExchangeError) as e:
        c.get_server_time()
    assert str(e.value).endswith("(gave up after 4 attempts)") and fk.count(TIME) == 4  # max_retries 3
    assert len(vt.sleeps) == 3 and 0.25 <= vt.sleeps[0] <= 0.5 and 0.5 <= vt.sleeps[1] <= 1.0 \
        and 1.0 <= vt.sleeps[2] <= 2.0
    assert [kw["timeout"] for _, _, kw in s.calls] == [10.0] * 4
    assert [kw["verify"] for _, _, kw in s.calls] == [True] * 4


def test_request_headers_on_the_wire(fk):
    c = client_for(fk, time_sync=False)
    c.get_server_time()
    c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", spec=BTC_SPEC)
    get, post = sent(fk, TIME)[0].headers, sent(fk, CREATE)[0].headers
    assert get["Accept"] == "application/json" and "Content-Type" not in get
    assert not any(k.lower().startswith("x-bapi") for k in get)
    assert post["Accept"] == "application/json" and post["Content-Type"] == "application/json"
    assert {k for k in post if k.startswith("X-BAPI")} == {"X-BAPI-API-KEY", "X-BAPI-TIMESTAMP", "X-BAPI-SIGN",
                                                          "X-BAPI-RECV-WINDOW", "X-BAPI-SIGN-TYPE"}


def test_default_ip_window_is_600_requests_per_5_s(fk, vt):
    c = default_client(fk)
    guard = transport._guard_for(_netloc(fk.url))
    now = transport.time.monotonic()
    guard.sent.extend([now] * 599)  # as if 599 requests had just been sent
    c.get_server_time()  # the 600th: at once
    assert vt.sleeps == []
    c.get_server_time()  # the 601st waits for the first to leave the 5 s window
    assert len(vt.sleeps) == 1 and 4.0 < vt.sleeps[0] <= 5.0


def test_host_guard_window_ban_and_bounds(monkeypatch):
    clock = FrozenClock()
    clock.mono = 100.0
    monkeypatch.setattr(transport, "time", clock)
    g = transport._HostGuard()
    assert [g.acquire(2, 10.0) for _ in range(3)] == [0.0, 0.0, 10.0]  # the third waits for the first
    clock.mono = 110.0  # the two sent at 100 leave the window exactly now, and are forgotten
    assert g.acquire(2, 10.0) == 0.0 and list(g.sent) == [110.0, 110.0]
    assert g.acquire(2, 10.0) == 10.0  # the window holds the third (reserved for 110) and the fourth
    assert list(g.sent) == [110.0, 110.0, 120.0]
    clock.mono = 119.0
    assert g.acquire(2, 10.0) == 1.0 and list(g.sent) == [110.0, 110.0, 120.0, 120.0]
    assert g.ban_remaining() == 0.0
    g.ban(60.0, "first")
    g.ban(5.0, "second")  # a shorter ban does not shorten the one running
    assert (g.ban_remaining(), g.ban_reason) == (60.0, "second")
    clock.mono = 178.5
    assert g.ban_remaining() == 0.5
    clock.mono = 179.0
    assert g.ban_remaining() == 0.0
    clock.mono = 200.0
    assert g.ban_remaining() == 0.0  # never negative
    big = transport._HostGuard()
    for _ in range(100_001):
        big.acquire(1_000_000, 1e9)
    assert len(big.sent) == 100_000  # the memory of the window is bounded
    assert transport._guard_for("Host.Example:1") is transport._guard_for("Host.Example:1")
    assert transport._guard_for("a:1") is not transport._guard_for("a:2")
    with transport._GUARDS_LOCK:
        for k in ("Host.Example:1", "a:1", "a:2"):
            transport._GUARDS.pop(k, None)


def test_hosts_differing_in_case_share_one_ban(fk, vt):
    port = _netloc(fk.url).split(":")[1]
    try:
        upper = BybitClient(base_url=f"http://LOCALHOST:{port}")
        lower = BybitClient(base_url=f"http://localhost:{port}")
        transport._guard_for(f"localhost:{port}").ban(30.0, "test")
        assert 29.0 < upper.ban_remaining_s <= 30.0 and 29.0 < lower.ban_remaining_s <= 30.0
        assert upper.base_url == f"http://LOCALHOST:{port}"
    finally:
        _forget_host(f"localhost:{port}")


# --------------------------------------------------------------------------- construction, exact
@pytest.mark.parametrize("kw, msg", [
    ({"base_url": 123}, "base_url must be a string, got int"),
    ({"base_url": "ftp://api.bybit.com"}, "base_url must look like https://host[:port], got 'ftp://api.bybit.com'"),
    ({"base_url": "https://"}, "base_url must look like https://host[:port], got 'https://'"),
    ({"base_url": "api.bybit.com"}, "base_url must look like https://host[:port], got 'api.bybit.com'"),
    ({"base_url": "http://api.bybit.com"},
     "base_url must use https (plain http only for loopback hosts), got 'http://api.bybit.com'"),
    ({"base_url": "http://127.0.0.2:80"},
     "base_url must use https (plain http only for loopback hosts), got 'http://127.0.0.2:80'"),
    ({"base_url": "https://api.bybit.com/v5"},
     "base_url must be the host only (no path or query), got 'https://api.bybit.com/v5'"),
    ({"base_url": "https://api.bybit.com?a=1"},
     "base_url must be the host only (no path or query), got 'https://api.bybit.com?a=1'"),
    ({"base_url": "https://api.bybit.com/XX"},
     "base_url must be the host only (no path or query), got 'https://api.bybit.com/XX'"),
    ({"base_url": "https://api.bybit.com#top"},
     "base_url must be the host only (no path or query), got 'https://api.bybit.com#top'"),
    ({"verify": False}, "verify=False is refused: TLS verification protects your API key and orders; pass the path of "
                        "a CA bundle (verify='/path/ca.pem') if your network needs one"),
    ({"verify": None}, "verify=False is refused: TLS verification protects your API key and orders; pass the path of "
                       "a CA bundle (verify='/path/ca.pem') if your network needs one"),
    ({"verify": ""}, "verify must be True or the path of a CA bundle, got ''"),
    ({"verify": 1}, "verify must be True or the path of a CA bundle, got 1"),
    ({"api_key": "abc"}, "pass both api_key and api_secret, or neither (then BYBIT_API_KEY / BYBIT_API_SECRET)"),
    ({"api_secret": "abc"}, "pass both api_key and api_secret, or neither (then BYBIT_API_KEY / BYBIT_API_SECRET)"),
    ({"api_key": "a b", "api_secret": "s"}, "api_key must be a non-empty string of letters, digits, '-' or '_'"),
    ({"timeout": (1.0,)}, "timeout must be seconds or a (connect, read) pair, got (1.0,)"),
    ({"timeout": 0}, "timeout must be a finite number > 0, got 0"),
    ({"timeout": math.inf}, "timeout must be a finite number > 0, got inf"),
    ({"timeout": "5"}, "timeout must be a number > 0, got '5'"),
    ({"timeout": True}, "timeout must be a number > 0, got True"),
    ({"timeout": (0, 1.0)}, "timeout[0] must be a finite number > 0, got 0"),
    ({"timeout": (1.0, "x")}, "timeout[1] must be a number > 0, got 'x'"),
    ({"recv_window_ms": 0}, "recv_window_ms must be in [1, 60000], got 0"),
    ({"recv_window_ms": 60_001}, "recv_window_ms must be in [1, 60000], got 60001"),
    ({"recv_window_ms": 5000.0}, "recv_window_ms must be an integer in [1, 60000], got 5000.0"),
    ({"max_retries": 21}, "max_retries must be in [0, 20], got 21"),
    ({"max_retries": -1}, "max_retries must be in [0, 20], got -1"),
    ({"backoff_s": -0.1}, "backoff_s must be a finite number >= 0, got -0.1"),
    ({"backoff_s": True}, "backoff_s must be a finite number >= 0, got True"),
    ({"backoff_max_s": math.inf}, "backoff_max_s must be a finite number >= 0, got inf"),
    ({"backoff_max_s": "1"}, "backoff_max_s must be a finite number >= 0, got '1'"),
    ({"max_rate_limit_wait_s": math.nan}, "max_rate_limit_wait_s must be a finite number >= 0, got nan"),
    ({"ip_ban_s": -1}, "ip_ban_s must be a finite number >= 0, got -1"),
    ({"max_ban_wait_s": -0.5}, "max_ban_wait_s must be a finite number >= 0, got -0.5"),
    ({"ip_rate_limit": [600, 5.0]}, "ip_rate_limit must be (requests, seconds), got [600, 5.0]"),
    ({"ip_rate_limit": (600, 5.0, 1)}, "ip_rate_limit must be (requests, seconds), got (600, 5.0, 1)"),
    ({"ip_rate_limit": (0, 5.0)}, "ip_rate_limit[0] must be in [1, 1000000], got 0"),
    ({"ip_rate_limit": (1_000_001, 5.0)}, "ip_rate_limit[0] must be in [1, 1000000], got 1000001"),
    ({"ip_rate_limit": (600, 0)}, "ip_rate_limit[1] must be a finite number > 0, got 0"),
    ({"ip_rate_limit": (600, math.inf)}, "ip_rate_limit[1] must be a finite number > 0, got inf"),
    ({"time_sync_interval_s": 0}, "time_sync_interval_s must be a finite number > 0, got 0"),
    ({"time_sync_interval_s": -math.inf}, "time_sync_interval_s must be a finite number > 0, got -inf"),
    ({"time_sync_interval_s": math.nan}, "time_sync_interval_s must be a finite number > 0, got nan"),
])
def test_bad_options_exact_messages(kw, msg):
    with pytest.raises(InvalidInputError) as e:
        BybitClient(**kw)
    assert str(e.value) == msg


def test_accepted_options_and_hosts(monkeypatch):
    for url in ("http://localhost:8080", "http://[::1]:8080", "http://127.0.0.1", "  https://api.bytick.com/  "):
        c = BybitClient(base_url=url)
        assert c.base_url == url.strip().rstrip("/") and not c.testnet and not c.authenticated
    for kw in ({"timeout": (1, 2)}, {"ip_rate_limit": (1_000_000, 0.001)}, {"time_sync_interval_s": math.inf},
               {"max_ban_wait_s": 0}, {"backoff_max_s": 0}, {"verify": "/tmp/ca.pem"}):
        BybitClient(**kw)
    monkeypatch.setenv("BYBIT_TESTNET", " YES ")
    for value in ("1", "true", " YES ", "On"):
        monkeypatch.setenv("BYBIT_TESTNET", value)
        c = BybitClient()
        assert (c.base_url, c.testnet) == (TESTNET_URL, True), value
    for value in ("0", "false", "no", "", "off", "2"):
        monkeypatch.setenv("BYBIT_TESTNET", value)
        assert BybitClient().base_url == MAINNET_URL, value
    monkeypatch.delenv("BYBIT_TESTNET")
    assert (BybitClient().base_url, BybitClient().testnet) == (MAINNET_URL, False)
    assert (BybitClient(demo=True, testnet=True).base_url, BybitClient(demo=True, testnet=True).testnet) == (
        DEMO_URL, False)
    explicit = BybitClient(testnet=True, base_url="https://api.bytick.com")
    assert (explicit.base_url, explicit.testnet) == ("https://api.bytick.com", False)
    assert BybitClient(testnet=True, base_url=TESTNET_URL).testnet
    assert repr(BybitClient()) == f"BybitClient(base_url='{MAINNET_URL}', api_key=None)"
    c = BybitClient(api_key=FAKE_API_KEY, api_secret=Secret(FAKE_API_SECRET), demo=True)
    assert repr(c) == f"BybitClient(base_url='{DEMO_URL}', api_key='fake****')" and c.authenticated
    assert c.clock_offset_ms == 0 and c.ban_remaining_s == 0 and c.rate_limit_status(TIME) is None


def test_verify_path_and_timeouts_reach_every_request(fk):
    s = RecordingSession()
    c = client_for(fk, verify="/tmp/ca.pem", timeout=(1, 2), session=s)
    c.get_server_time()
    assert s.calls[0][2]["verify"] == "/tmp/ca.pem" and s.calls[0][2]["timeout"] == (1.0, 2.0)


def test_the_client_closes_its_own_session_only(fk, monkeypatch):
    c = client_for(fk)
    closed = []
    monkeypatch.setattr(c._transport._session, "close", lambda: closed.append(1))
    with c as same:
        assert same is c
    assert closed == [1]
    s = RecordingSession()
    with client_for(fk, session=s):
        pass
    assert s.closed == 0


def test_default_time_sync_interval_is_30_minutes(fk, vt):
    c = default_client(fk)
    c.get_wallet_balance()
    vt.mono_ahead_s += 1799.0
    c.get_wallet_balance()
    assert paths(fk) == [TIME, WALLET, WALLET]
    vt.mono_ahead_s += 2.0
    c.get_wallet_balance()
    assert paths(fk)[3:] == [TIME, WALLET]


def test_a_persistent_10002_message_names_the_offset(fk):
    c = client_for(fk, time_sync=False)
    fk.clock_skew_ms = 90_000  # the fake's clock runs 90 s ahead
    fk.fail_ret_code(10002, path=WALLET, times=None, msg="ts")
    with pytest.raises(ExchangeError) as e:
        c.get_wallet_balance()
    assert re.fullmatch(rf"GET {WALLET}: Bybit error 10002: 'ts'; the clock was re-synced once "
                        r"\(offset \+(89|90)\d\d\d ms\) and it failed again: check the system clock \(NTP\) "
                        r"or raise recv_window_ms", str(e.value)), str(e.value)
    assert paths(fk) == [WALLET, TIME, WALLET]


# --------------------------------------------------------------------------- waits and boundaries on a frozen clock
NOW_MS = 1_700_000_000_000


class FrozenClock:
    """``time`` inside the transport standing still (0.4 ms past ``NOW_MS``): it moves only when the client
    sleeps (recorded) or the test calls :meth:`advance`, so every computed wait is exact."""

    def __init__(self) -> None:
        self.ns = NOW_MS * 1_000_000 + 400_000
        self.mono = 1000.0
        self.sleeps: list[float] = []

    def advance(self, seconds: float) -> None:
        self.ns += round(seconds * 1e9)
        self.mono += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def time_ns(self) -> int:
        return self.ns

    def time(self) -> float:
        return self.ns / 1e9

    def monotonic(self) -> float:
        return self.mono

    def now_ms(self) -> int:
        return self.ns // 1_000_000

    def __getattr__(self, name: str):
        return getattr(time, name)


@pytest.fixture
def frozen(monkeypatch):
    clock = FrozenClock()
    monkeypatch.setattr(transport, "time", clock)
    return clock


def _limit_headers(remaining: str, reset_ms: int | None) -> dict:
    h = {"X-Bapi-Limit": "5", "X-Bapi-Limit-Status": remaining}
    if reset_ms is not None:
        h["X-Bapi-Limit-Reset-Timestamp"] = str(reset_ms)
    return h


def test_rate_limit_waits_are_exact_and_bounded(fk, frozen):
    c = client_for(fk, time_sync=False, max_rate_limit_wait_s=2.005, backoff_s=0.4, backoff_max_s=0.4)
    # used up, resetting in 2 s: the next call waits 2 s + 5 ms, which is exactly the longest wait allowed
    fk.respond(200, TIME_OK, path=TIME, headers=_limit_headers("0", frozen.now_ms() + 2000))
    c.get_server_time()
    c.get_server_time()
    assert frozen.sleeps == [2.005] and c.rate_limit_status(TIME) is None
    # a reset stamped this very ms: not waited; one ms away: waited
    fk.respond(200, TIME_OK, path=TIME, headers=_limit_headers("0", frozen.now_ms()))
    c.get_server_time()
    c.get_server_time()
    assert frozen.sleeps == [2.005]
    fk.respond(200, TIME_OK, path=TIME, headers=_limit_headers("0", frozen.now_ms() + 1))
    c.get_server_time()
    c.get_server_time()
    assert frozen.sleeps == [2.005, 0.006]
    # a 429 or a 10006 waits until the reset (+5 ms); a reset stamped now falls back to the backoff
    fk.respond(429, "", path=TIME, headers={"X-Bapi-Limit-Reset-Timestamp": str(frozen.now_ms() + 500)})
    c.get_server_time()
    fk.respond(200, '{"retCode":10006,"retMsg":"x"}', path=TIME,
               headers={"X-Bapi-Limit-Reset-Timestamp": str(frozen.now_ms() + 250)})
    c.get_server_time()
    assert frozen.sleeps[2:] == [0.505, 0.255]
    fk.respond(429, "", path=TIME, headers={"X-Bapi-Limit-Reset-Timestamp": str(frozen.now_ms())})
    c.get_server_time()
    assert len(frozen.sleeps) == 5 and 0.2 <= frozen.sleeps[4] <= 0.4
    # one ms more than allowed: refused at once
    fk.respond(200, TIME_OK, path=TIME, headers=_limit_headers("0", frozen.now_ms() + 2001))
    c.get_server_time()
    with pytest.raises(RateLimitError, match="not sent"):
        c.get_server_time()
    assert len(frozen.sleeps) == 5 and fk.count(TIME) == 13


def test_short_ip_window_and_ban_waits_are_exact(fk, frozen):
    c = client_for(fk, time_sync=False, ip_rate_limit=(1, 0.5))
    c.get_server_time()
    c.get_server_time()
    assert frozen.sleeps == [0.5]
    frozen.advance(10.0)
    # a ban exactly as long as max_ban_wait_s is waited out
    w = client_for(fk, time_sync=False, max_ban_wait_s=30.0)
    fk.respond(403, "", path=TIME, headers={"Retry-After": "30"})
    w.get_server_time()
    assert frozen.sleeps == [0.5, 30.0] and fk.count(TIME) == 4
    # the default max_ban_wait_s is 0: even a half-second ban raises at once
    d = default_client(fk, time_sync=False)
    fk.respond(403, "", path=TIME, headers={"Retry-After": "0.5"})
    with pytest.raises(IpBanError) as e:
        d.get_server_time()
    assert e.value.retry_after_s == 0.5
    with pytest.raises(IpBanError, match=r"requests resume in 0\.5 s"):
        d.get_server_time()
    assert frozen.sleeps == [0.5, 30.0] and fk.count(TIME) == 5
    frozen.advance(0.5)  # the ban ends exactly now
    d.get_server_time()
    assert fk.count(TIME) == 6


def test_every_ban_waited_out_counts_as_a_retry(fk, frozen):
    c = client_for(fk, time_sync=False, max_retries=2, max_ban_wait_s=60.0)
    fk.respond(403, "", path=TIME, headers={"Retry-After": "5"}, times=3)
    with pytest.raises(IpBanError) as e:
        c.get_server_time()
    assert e.value.retry_after_s == 5.0 and frozen.sleeps == [5.0, 5.0] and fk.count(TIME) == 3


def test_clock_resync_happens_only_after_the_interval(fk, frozen):
    c = client_for(fk, time_sync_interval_s=60.0)
    fk.respond(200, ok({"list": []}), path=WALLET, times=None)
    c.get_wallet_balance()
    frozen.advance(60.0)  # exactly the interval: not yet
    c.get_wallet_balance()
    assert paths(fk) == [TIME, WALLET, WALLET]
    frozen.advance(0.001)
    c.get_wallet_balance()
    assert paths(fk)[3:] == [TIME, WALLET]


def test_a_fresh_host_guard_is_not_banned_whatever_the_clock(monkeypatch):
    clock = FrozenClock()
    clock.mono = 0.0  # time.monotonic() has no defined origin: it may be near 0
    monkeypatch.setattr(transport, "time", clock)
    g = transport._HostGuard()
    assert g.ban_remaining() == 0.0
    assert g.acquire(1, 5.0) == 0.0


# --------------------------------------------------------------------------- default page bounds (no network)
class PagingSession(requests.Session):
    """Answers every request at once with one item and a new page cursor: a list without an end."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        self.urls.append(url)
        r = requests.Response()
        r.status_code = 200
        r.encoding = "utf-8"
        r._content = ok({"list": [_instrument(f"P{len(self.urls)}USDT")],
                         "nextPageCursor": f"page{len(self.urls)}"}).encode()
        return r


@pytest.mark.parametrize("call, path, pages", [
    (lambda c: c.get_open_orders(symbol="BTCUSDT"), OPEN, 50),
    (lambda c: c.get_positions(symbol="BTCUSDT"), POSITIONS, 50),
    (lambda c: c.get_instruments(), INSTR, 100),
])
def test_default_page_bounds(call, path, pages):
    port = free_port()
    s = PagingSession()
    c = BybitClient(base_url=f"http://127.0.0.1:{port}", api_key=FAKE_API_KEY, api_secret=FAKE_API_SECRET,
                    time_sync=False, session=s)
    try:
        with pytest.raises(ExchangeError) as e:
            call(c)
        assert str(e.value) == f"{path}: more than max_pages={pages} pages; narrow the request"
        assert len(s.urls) == pages and f"?category=linear&cursor=page{pages - 1}&limit=" in s.urls[-1]
    finally:
        _forget_host(f"127.0.0.1:{port}")


def test_instruments_need_no_keys(fk):
    c = BybitClient(base_url=fk.url)
    assert [s.symbol for s in c.get_instruments()][:2] == ["BTCUSDT", "ETHUSDT"]
    assert not any(k.lower().startswith("x-bapi") for r in fk.requests for k in r.headers)


def test_orderbook_checks_the_symbol_and_refreshes_the_spec_of_its_category(fk):
    c = client_for(fk)
    # a stale tick (1) for the spot instrument: the book is off its grid, so the spec is fetched again
    fk.respond(200, ok({"list": [_instrument("BTCUSDT", "1", "0.001", "0.001")], "nextPageCursor": ""}), path=INSTR)
    book = c.get_orderbook("BTCUSDT", 5, "spot")
    assert book.spec.tick_size == Decimal("0.10") and book.spec.category == "spot" and book.n_bids == 5
    assert [r.query for r in sent(fk, INSTR)] == ["category=spot&limit=500&symbol=BTCUSDT"] * 2
    # an answer for another symbol is refused, with a spec given or not (then after one refresh)
    other = dict(fk.book_result("ETHUSDT", 3), s="ETHUSDT")
    for kw in ({"spec": BTC_SPEC}, {}):
        fk.respond(200, ok(other), path=BOOK)
        with pytest.raises(InvalidInputError) as e:
            c.get_orderbook("BTCUSDT", 3, **kw)
        assert str(e.value) == "response symbol 'ETHUSDT' is not the requested 'BTCUSDT'"
    assert fk.count(INSTR) == 4 and fk.count(BOOK) == 3  # linear: fetched, then refreshed once


def test_candles_with_the_same_start_keep_the_order_bybit_sent(fk):
    c = client_for(fk)
    rows = [[str(1_700_000_000_000 + 60_000 * (k % 2)), str(k + 1), "1", "1", "1", "1", "1"] for k in range(40)]
    fk.respond(200, ok({"list": rows}), path=KLINE)
    k = c.get_klines("BTCUSDT")
    assert k.open.tolist() == [float(x) for x in list(range(1, 41, 2)) + list(range(2, 41, 2))]
    assert k.start_ms.tolist() == [1_700_000_000_000] * 20 + [1_700_000_060_000] * 20


def test_two_calls_waiting_for_the_same_reset_both_go_through(fk, frozen):
    """Another thread's call may end the wait (and drop the used-up status) while this one sleeps."""
    c = client_for(fk, time_sync=False)
    fk.respond(200, TIME_OK, path=TIME, headers=_limit_headers("0", frozen.now_ms() + 1000))
    c.get_server_time()
    other: list = []
    sleep = frozen.sleep

    def sleep_while_another_call_runs(seconds: float) -> None:
        sleep(seconds)
        if not other:  # the other caller wakes first, sends, and drops the status
            other.append(c.get_server_time())

    frozen.sleep = sleep_while_another_call_runs  # type: ignore[method-assign]
    st = c.get_server_time()
    assert type(st) is ServerTime and type(other[0]) is ServerTime and frozen.sleeps == [1.005]
    assert fk.count(TIME) == 3 and c.rate_limit_status(TIME) is None
