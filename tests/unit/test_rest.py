"""Tests of ofi.venues.bybit.rest.BybitClient against the local fake Bybit REST server (loopback only).

Every test starts its own fake (ephemeral port), uses tiny backoff settings and bounded waits;
the whole file runs in a few seconds.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import math
import socket
import time
from decimal import Decimal

import numpy as np
import pytest
import requests

pytest.importorskip("ofi._core.book", reason="the compiled core is not built (python setup.py build_ext --inplace)")

from ofi import OrderBook, Trade  # noqa: E402
from ofi.api import BybitClient  # noqa: E402
from ofi.venues.bybit.rest import (  # noqa: E402
    DEMO_URL,
    MAINNET_URL,
    TESTNET_URL,
    IpBanError,
    Klines,
    RequestTimeoutError,
    TransportError,
)
from ofi.errors import AuthenticationError, ExchangeError, InvalidInputError, OfiError, RateLimitError  # noqa: E402
from ofi.spec import InstrumentSpec  # noqa: E402
from fakes.http_server import FAKE_API_KEY, FAKE_API_SECRET, FakeBybitRest  # noqa: E402

BOOK = "/v5/market/orderbook"
TIME = "/v5/market/time"
INSTR = "/v5/market/instruments-info"
WALLET = "/v5/account/wallet-balance"
CREATE = "/v5/order/create"
BTC_SPEC = InstrumentSpec("BTCUSDT", "0.1", "0.001", "0.001")


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for name in ("BYBIT_API_KEY", "BYBIT_API_SECRET", "BYBIT_TESTNET"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake():
    with FakeBybitRest() as f:
        yield f


def client_for(fake: FakeBybitRest, **kw) -> BybitClient:
    opts = dict(base_url=fake.url, api_key=FAKE_API_KEY, api_secret=FAKE_API_SECRET, timeout=2.0, max_retries=3,
                backoff_s=0.01, backoff_max_s=0.04, max_rate_limit_wait_s=2.0, ip_ban_s=0.5)
    opts.update(kw)
    return BybitClient(**opts)


# --------------------------------------------------------------------------- construction
def test_hosts_and_env(monkeypatch):
    assert BybitClient().base_url == MAINNET_URL
    assert BybitClient(testnet=True).base_url == TESTNET_URL and BybitClient(testnet=True).testnet
    assert BybitClient(demo=True).base_url == DEMO_URL
    monkeypatch.setenv("BYBIT_TESTNET", "true")
    assert BybitClient().base_url == TESTNET_URL
    assert BybitClient(testnet=False).base_url == MAINNET_URL
    assert BybitClient(base_url="https://api.bytick.com").base_url == "https://api.bytick.com"


def test_refuses_unsafe_transport():
    with pytest.raises(InvalidInputError, match="verify=False"):
        BybitClient(verify=False)
    with pytest.raises(InvalidInputError, match="https"):
        BybitClient(base_url="http://api.bybit.com")
    with pytest.raises(InvalidInputError, match="host only"):
        BybitClient(base_url="https://api.bybit.com/v5")
    with pytest.raises(InvalidInputError, match="timeout"):
        BybitClient(timeout=0)


def test_credentials_from_arguments_and_env(monkeypatch):
    assert not BybitClient().authenticated
    with pytest.raises(InvalidInputError, match="both"):
        BybitClient(api_key="abc")
    monkeypatch.setenv("BYBIT_API_KEY", FAKE_API_KEY)
    monkeypatch.setenv("BYBIT_API_SECRET", FAKE_API_SECRET)
    c = BybitClient()
    assert c.authenticated
    assert FAKE_API_SECRET not in repr(c) and FAKE_API_KEY not in repr(c)


# --------------------------------------------------------------------------- market data
def test_orderbook_equals_the_fake_payload(fake):
    c = client_for(fake)
    book = c.get_orderbook("BTCUSDT", 50)
    assert isinstance(book, OrderBook)
    payload = fake.last_result(BOOK)
    assert len(payload["b"]) == len(payload["a"]) == 50
    bids, asks = book.bids(), book.asks()
    assert bids.shape == asks.shape == (50, 2)
    assert [[float(p), float(s)] for p, s in payload["b"]] == bids.tolist()
    assert [[float(p), float(s)] for p, s in payload["a"]] == asks.tolist()
    bt, _, at, _ = book.top_levels(50)
    assert bt.tolist() == [int(Decimal(p) / Decimal("0.1")) for p, _ in payload["b"]]
    assert at.tolist() == [int(Decimal(p) / Decimal("0.1")) for p, _ in payload["a"]]
    assert book.update_id == payload["u"] and book.ts_exch == payload["ts"] * 1_000_000
    assert book.mid_price() == pytest.approx((bids[0, 0] + asks[0, 0]) / 2)
    assert book.spread_bps() > 0
    # the tick size came from instruments-info, once; the second call uses the cache
    c.get_orderbook("BTCUSDT", 5)
    assert fake.count(INSTR) == 1 and fake.count(BOOK) == 2


def test_orderbook_limits_are_checked_before_sending(fake):
    c = client_for(fake)
    for kw in ({"limit": 0}, {"limit": 1001}, {"limit": 26, "category": "option"}, {"limit": 5, "category": "x"},
               {"limit": 2.5}):
        with pytest.raises(InvalidInputError):
            c.get_orderbook("BTCUSDT", **kw)
    with pytest.raises(InvalidInputError, match="symbol"):
        c.get_orderbook("BTC USDT", 5)
    assert fake.count() == 0
    assert c.get_orderbook("BTCUSDT", 1000).n_bids == 200  # the simulated book holds 200 levels


def test_orderbook_refreshes_a_stale_cached_tick(fake):
    c = client_for(fake)
    c._specs[("linear", "BTCUSDT")] = InstrumentSpec("BTCUSDT", "1")  # as if Bybit changed the tick since
    book = c.get_orderbook("BTCUSDT", 10)
    assert book.spec.tick_size == Decimal("0.1") and fake.count(INSTR) == 1
    with pytest.raises(InvalidInputError, match="tick"):  # a spec the caller gives is never second-guessed
        c.get_orderbook("BTCUSDT", 10, spec=InstrumentSpec("BTCUSDT", "1"))


def test_trades(fake):
    c = client_for(fake)
    trades = c.get_trades("BTCUSDT", 20, spec=BTC_SPEC)
    items = fake.last_result("/v5/market/recent-trade")["list"]
    assert len(trades) == len(items) == 20
    assert all(isinstance(t, Trade) for t in trades)
    assert [t.ts_exch for t in trades] == sorted(t.ts_exch for t in trades)  # oldest first
    by_id = {it["execId"]: it for it in items}
    for t in trades:
        it = by_id[t.trade_id]
        assert t.side == (1 if it["side"] == "Buy" else -1)
        assert t.ts_exch == int(it["time"]) * 1_000_000
        assert t.price == float(it["price"]) and t.size == float(it["size"])
        assert t.price_ticks == int(Decimal(it["price"]) / Decimal("0.1"))
        assert t.seq == int(it["seq"]) and t.ts_local > 0
    assert {t.side for t in trades} <= {1, -1}
    with pytest.raises(InvalidInputError):
        c.get_trades("BTCUSDT", 61, category="spot")
    assert fake.count(INSTR) == 0  # a spec was given


def test_klines(fake):
    k = client_for(fake).get_klines("BTCUSDT", 5, limit=12)
    rows = fake.last_result("/v5/market/kline")["list"]
    assert isinstance(k, Klines) and len(k) == 12 and k.interval == "5"
    assert k.start_ms.dtype == np.int64 and k.close.dtype == np.float64 and k.close.flags.c_contiguous
    assert np.all(np.diff(k.start_ms) == 300_000)  # oldest first
    assert k.start_ms.tolist() == [int(r[0]) for r in reversed(rows)]
    assert k.close.tolist() == [float(r[4]) for r in reversed(rows)]
    assert np.all(k.high >= np.maximum(k.open, k.close)) and np.all(k.low <= np.minimum(k.open, k.close))
    with pytest.raises(InvalidInputError, match="interval"):
        client_for(fake).get_klines("BTCUSDT", 7)


def test_tickers(fake):
    c = client_for(fake)
    ts = c.get_tickers()
    assert {t.symbol for t in ts} == {"BTCUSDT", "ETHUSDT"}
    t = c.get_ticker("BTCUSDT")
    assert t.bid1_price < t.ask1_price and t.funding_rate == 0.0001 and t.next_funding_time_ms == 1700006400000


def test_instruments_follow_the_cursor(fake):
    c = client_for(fake)
    specs = c.get_instruments()
    assert [s.symbol for s in specs] == ["BTCUSDT", "ETHUSDT", "X00USDT", "X01USDT", "X02USDT"]
    assert fake.count(INSTR) == 3  # pages of 2
    queries = [r.query for r in fake.requests if r.path == INSTR]
    assert "cursor=first%3DBTCUSDT%26last%3DETHUSDT" in queries[1]  # sent back as Bybit wrote it
    assert specs[0].tick_size == Decimal("0.1") and specs[1].qty_step == Decimal("0.01")
    spot = c.get_instruments("spot")  # spot does not page; basePrecision is its qty step
    assert len(spot) == 5 and fake.count(INSTR) == 4 and spot[2].qty_step == Decimal("1")
    with pytest.raises(InvalidInputError, match="not a linear instrument"):
        c.get_instrument("NOPEUSDT")


def test_server_time_and_clock_offset():
    with FakeBybitRest(clock_skew_ms=7_000) as f:
        c = client_for(f)
        st = c.get_server_time()
        assert abs(st.offset_ms - 7_000) < 250 and st.rtt_ms >= 0
        assert abs(c.sync_time() - 7_000) < 250 and abs(c.clock_offset_ms - 7_000) < 250


# --------------------------------------------------------------------------- faults
def test_5xx_is_retried_with_bounded_backoff(fake):
    c = client_for(fake)
    fake.fail_http(502, times=2)
    c.get_server_time()
    assert fake.count(TIME) == 3
    fake.fail_http(503, times=None)
    with pytest.raises(ExchangeError) as e:
        c.get_server_time()
    assert e.value.status == 503 and e.value.endpoint == TIME and "4 attempts" in str(e.value)
    assert fake.count(TIME) == 3 + 4  # 1 + max_retries, then it stops


def test_10016_is_retried_and_10001_is_not(fake):
    c = client_for(fake)
    fake.fail_ret_code(10016, times=2)
    c.get_server_time()
    assert fake.count(TIME) == 3
    fake.fail_ret_code(10016, times=None)
    with pytest.raises(ExchangeError) as e:
        c.get_server_time()
    assert e.value.ret_code == 10016 and fake.count(TIME) == 7
    fake.clear_faults()
    fake.fail_ret_code(10001, times=None, msg="Not supported symbols")
    with pytest.raises(ExchangeError) as e:
        c.get_server_time()
    assert e.value.ret_code == 10001 and e.value.ret_msg == "Not supported symbols"
    assert not isinstance(e.value, RateLimitError)
    assert "10001" in str(e.value) and TIME in str(e.value)
    assert fake.count(TIME) == 8  # exactly one request


def test_unknown_symbol_is_a_10001_exchange_error(fake):
    c = client_for(fake)
    with pytest.raises(ExchangeError) as e:
        c.get_orderbook("X00USDT", 5, spec=BTC_SPEC)  # listed, but the fake has no market for it
    assert e.value.ret_code == 10001 and fake.count(BOOK) == 1


def test_http_429_is_retried_then_raises(fake):
    c = client_for(fake)
    fake.fail_http(429, times=2, retry_after=0.05)
    t0 = time.monotonic()
    c.get_server_time()
    assert fake.count(TIME) == 3 and time.monotonic() - t0 >= 0.09  # Retry-After honoured twice
    fake.fail_http(429, times=None)
    with pytest.raises(RateLimitError) as e:
        c.get_server_time()
    assert e.value.status == 429 and fake.count(TIME) == 3 + 4


def test_10006_waits_for_the_reset_timestamp(fake):
    c = client_for(fake)
    fake.fail_ret_code(10006, times=1, reset_in_s=0.25)
    t0 = time.monotonic()
    c.get_server_time()
    assert time.monotonic() - t0 >= 0.2  # waited for X-Bapi-Limit-Reset-Timestamp, not a quick backoff
    assert fake.count(TIME) == 2
    fake.fail_ret_code(10006, times=None, reset_in_s=0.01)
    with pytest.raises(RateLimitError) as e:
        c.get_server_time()
    assert e.value.ret_code == 10006 and fake.count(TIME) == 2 + 4


def test_10006_with_a_distant_reset_raises_at_once(fake):
    c = client_for(fake, max_rate_limit_wait_s=1.0)
    fake.fail_ret_code(10006, times=None, reset_in_s=60)
    t0 = time.monotonic()
    with pytest.raises(RateLimitError) as e:
        c.get_server_time()
    assert time.monotonic() - t0 < 0.5 and fake.count(TIME) == 1
    assert 55 < e.value.retry_after_s <= 60.1 and "max_rate_limit_wait_s" in str(e.value)
    # the exhausted limit is remembered: the next call is not even sent
    with pytest.raises(RateLimitError, match="not sent"):
        c.get_server_time()
    assert fake.count(TIME) == 1
    st = c.rate_limit_status(TIME)
    assert st is not None and st.remaining == 0 and st.limit == 10


def test_limit_headers_are_honoured_before_sending(fake):
    fake.set_limit(TIME, 2, window_s=0.2)
    c = client_for(fake)
    t0 = time.monotonic()
    for _ in range(5):
        c.get_server_time()
    assert fake.answered(ret_code=10006) == 0  # the client never went over
    assert fake.count(TIME) == 5 and time.monotonic() - t0 >= 0.35  # three windows


def test_ip_ban_stops_every_request(fake):
    c = client_for(fake, ip_ban_s=0.5)
    fake.ban_ip(0.5)
    with pytest.raises(IpBanError) as e:
        c.get_server_time()
    assert e.value.status == 403 and isinstance(e.value, RateLimitError) and fake.count() == 1
    t0 = time.monotonic()
    for _ in range(5):  # during the ban nothing is sent, by this client or another one on the host
        with pytest.raises(IpBanError, match="resume in") as e2:
            c.get_orderbook("BTCUSDT", 5, spec=BTC_SPEC)
        assert 0 < e2.value.retry_after_s <= 0.5
    with pytest.raises(IpBanError):
        client_for(fake).get_server_time()
    assert time.monotonic() - t0 < 0.3 and fake.count() == 1
    # a client allowed to wait that long waits out the ban, then sends once
    waiting = client_for(fake, max_ban_wait_s=1.0)
    waiting.get_server_time()
    assert time.monotonic() - t0 >= 0.3 and fake.count() == 2 and fake.answered(status=403) == 1
    assert c.ban_remaining_s == 0


def test_403_with_retry_after(fake):
    c = client_for(fake, ip_ban_s=600)
    fake.fail_http(403, retry_after=0.2)
    with pytest.raises(IpBanError) as e:
        c.get_server_time()
    assert e.value.retry_after_s == pytest.approx(0.2)
    with pytest.raises(IpBanError):
        c.get_server_time()
    assert fake.count() == 1
    time.sleep(0.25)
    c.get_server_time()
    assert fake.count() == 2


def test_10002_resyncs_the_clock_once():
    with FakeBybitRest(clock_skew_ms=20_000) as f:  # the server runs 20 s ahead
        c = client_for(f, time_sync=False)
        c.get_wallet_balance()
        assert f.answered(ret_code=10002) == 1 and f.count(TIME) == 1 and f.count(WALLET) == 2
        assert abs(c.clock_offset_ms - 20_000) < 250
        c.get_wallet_balance()  # in sync now
        assert f.count(WALLET) == 3 and f.answered(ret_code=10002) == 1
        # with time_sync on (the default) the clock is measured first and 10002 never happens
        c2 = client_for(f)
        c2.get_positions(settle_coin="USDT")
        assert f.answered(ret_code=10002) == 1


def test_persistent_10002_resyncs_only_once(fake):
    c = client_for(fake, time_sync=False)
    fake.fail_ret_code(10002, path=WALLET, times=None)
    with pytest.raises(ExchangeError) as e:
        c.get_wallet_balance()
    assert e.value.ret_code == 10002 and "clock" in str(e.value)
    assert fake.count(TIME) == 1 and fake.count(WALLET) == 2


def test_timeouts_raise_a_clear_error(fake):
    c = client_for(fake, timeout=0.2, max_retries=1)
    fake.delay(1.0, times=None)
    t0 = time.monotonic()
    with pytest.raises(RequestTimeoutError) as e:
        c.get_server_time()
    assert time.monotonic() - t0 < 1.0
    err = e.value
    assert isinstance(err, ExchangeError) and isinstance(err, OfiError) and isinstance(err, TimeoutError)
    assert not isinstance(err, requests.RequestException) and err.__cause__ is None
    assert "timed out" in str(err) and err.endpoint == TIME and fake.count(TIME) == 2


def test_post_is_never_retried_after_a_timeout_or_5xx(fake):
    c = client_for(fake, timeout=0.2)
    fake.delay(1.0, path=CREATE, times=None)
    with pytest.raises(RequestTimeoutError, match="executed"):
        c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", spec=BTC_SPEC)
    assert fake.count(CREATE) == 1
    fake.clear_faults()
    fake.fail_http(502, path=CREATE)
    with pytest.raises(ExchangeError, match="executed") as e:
        c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", spec=BTC_SPEC)
    assert e.value.status == 502 and fake.count(CREATE) == 2
    # a rate-limit rejection did not execute anything: that one is retried
    fake.fail_ret_code(10006, path=CREATE, reset_in_s=0.02)
    ack = c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", spec=BTC_SPEC)
    assert ack.order_id and fake.count(CREATE) == 4 and len(fake.orders) == 1


def test_connection_refused_is_a_transport_error():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    c = BybitClient(base_url=f"http://127.0.0.1:{port}", timeout=0.5, max_retries=2, backoff_s=0.01)
    with pytest.raises(TransportError, match="could not connect") as e:
        c.get_server_time()
    assert isinstance(e.value, ExchangeError) and isinstance(e.value, ConnectionError)


def test_malformed_responses(fake):
    c = client_for(fake)
    fake.malformed()
    with pytest.raises(ExchangeError, match="not JSON") as e:
        c.get_server_time()
    assert e.value.status == 200 and fake.count(TIME) == 1
    fake.malformed(body=b"[1, 2, 3]")
    with pytest.raises(ExchangeError, match="not a V5 envelope"):
        c.get_server_time()
    fake.malformed(body=b'{"retCode":"abc"}')
    with pytest.raises(ExchangeError, match="not an integer"):
        c.get_server_time()
    fake.malformed(body=b'{"retCode":"0","retMsg":"OK","result":{"s":"BTCUSDT","b":[["x","1"]],"a":[],"u":1}}')
    with pytest.raises(InvalidInputError):
        c.get_orderbook("BTCUSDT", 5, spec=BTC_SPEC)
    assert fake.count() == 4  # none of them retried


def test_http_404_and_401(fake):
    c = client_for(fake)
    with pytest.raises(ExchangeError) as e:
        c._get("/v5/market/nope")
    assert e.value.status == 404 and e.value.endpoint == "/v5/market/nope" and fake.count("/v5/market/nope") == 1
    # a private path asked without auth headers: the fake answers 401 as Bybit does, the client
    # raises AuthenticationError (not a retry, not a generic "body is not JSON" error)
    with pytest.raises(AuthenticationError) as e401:
        c._get(WALLET, {"accountType": "UNIFIED"})
    assert (e401.value.status, e401.value.ret_code, e401.value.endpoint) == (401, None, WALLET)
    # Bybit refusing the key of a signed call with HTTP 401: the same error, through the public API
    fake.fail_http(401, path=WALLET, times=None)
    with pytest.raises(AuthenticationError) as e2:
        c.get_wallet_balance()
    assert (e2.value.status, e2.value.ret_code, e2.value.endpoint) == (401, None, WALLET)
    assert "HTTP 401" in str(e2.value)
    assert fake.count(WALLET) == 2 and fake.answered(status=401) == 2  # neither retried


# --------------------------------------------------------------------------- signed endpoints
def test_signed_requests_carry_a_valid_signature(fake):
    c = client_for(fake)
    w = c.get_wallet_balance(coin="USDT")
    assert w.total_equity == 16000.6 and w.coin("USDT").equity == 10000.5 and w.coin("BTC") is None
    req = [r for r in fake.requests if r.path == WALLET][0]
    h = req.headers
    assert h["X-BAPI-API-KEY"] == FAKE_API_KEY and h["X-BAPI-RECV-WINDOW"] == "5000"
    want = hmac.new(FAKE_API_SECRET.encode(), f"{h['X-BAPI-TIMESTAMP']}{FAKE_API_KEY}5000{req.query}".encode(),
                    hashlib.sha256).hexdigest()
    assert h["X-BAPI-SIGN"] == want and req.query == "accountType=UNIFIED&coin=USDT"
    assert abs(int(h["X-BAPI-TIMESTAMP"]) - fake.server_ms()) < 2000


def test_positions_and_orders_round_trip(fake):
    c = client_for(fake)
    pos = c.get_positions(settle_coin="USDT")
    assert [p.symbol for p in pos] == ["BTCUSDT", "ETHUSDT"]
    assert pos[0].signed_size == 0.01 and pos[1].signed_size == 0.0 and math.isnan(pos[1].liq_price)
    ack = c.place_order("BTCUSDT", +1, "limit", 0.002, 59000.5, time_in_force="PostOnly", order_link_id="t-1")
    assert ack.order_link_id == "t-1"
    body = [r for r in fake.requests if r.path == CREATE][0].body
    assert body == ('{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.002",'
                    '"price":"59000.5","timeInForce":"PostOnly","orderLinkId":"t-1"}')
    c.place_order("BTCUSDT", "Sell", "Market", "0.001", reduce_only=True)
    c.place_order("ETHUSDT", "Sell", "Limit", "1.5", "3100.25")
    orders = c.get_open_orders(settle_coin="USDT")
    assert len(orders) == 3 and fake.count("/v5/order/realtime") == 2  # two pages
    assert c.amend_order("BTCUSDT", order_link_id="t-1", price="59001").order_id == ack.order_id
    assert c.get_open_orders(symbol="BTCUSDT", order_link_id="t-1")[0].price == 59001.0
    c.cancel_order("BTCUSDT", order_id=ack.order_id)
    assert len(c.get_open_orders(settle_coin="USDT")) == 2
    with pytest.raises(ExchangeError) as e:
        c.cancel_order("BTCUSDT", order_id=ack.order_id)
    assert e.value.ret_code == 110001
    assert fake.count(INSTR) == 2  # one spec fetch per symbol for the order checks


@pytest.mark.parametrize(
    "args, kw, match",
    [
        (("BTCUSDT", "Hold", "Limit", "0.001", "60000"), {}, "side"),
        (("BTCUSDT", 0, "Limit", "0.001", "60000"), {}, "side"),
        (("BTCUSDT", "Buy", "Stop", "0.001", "60000"), {}, "order_type"),
        (("BTCUSDT", "Buy", "Limit", "0.0015", "60000"), {}, "qty_step"),
        (("BTCUSDT", "Buy", "Limit", "0", "60000"), {}, "qty"),
        (("BTCUSDT", "Buy", "Limit", "nan", "60000"), {}, "qty"),
        (("BTCUSDT", "Buy", "Limit", "0.001", "60000.05"), {}, "tick_size"),
        (("BTCUSDT", "Buy", "Limit", "0.001"), {}, "price is required"),
        (("BTCUSDT", "Buy", "Market", "0.001", "60000"), {}, "Market"),
        (("BTCUSDT", "Buy", "Market", "0.001"), {"time_in_force": "PostOnly"}, "PostOnly"),
        (("BTCUSDT", "Buy", "Limit", "0.001", "60000"), {"time_in_force": "GTD"}, "time_in_force"),
        (("BTCUSDT", "Buy", "Limit", "0.001", "60000"), {"order_link_id": "x" * 37}, "order_link_id"),
        (("BTCUSDT", "Buy", "Limit", "0.001", "60000"), {"order_link_id": "a b"}, "order_link_id"),
        (("BTCUSDT", "Buy", "Limit", "0.001", "60000"), {"reduce_only": "yes"}, "reduce_only"),
        (("BTCUSDT", "Buy", "Limit", "0.001", "60000"), {"category": "spot", "reduce_only": True}, "spot"),
        (("BTCUSDT", "Buy", "Limit", "0.001", "60000"), {"position_idx": 3}, "position_idx"),
        (("ETHUSDT", "Buy", "Limit", "0.001", "3000"), {}, "qty_step"),
    ],
)
def test_order_arguments_are_validated_before_sending(fake, args, kw, match):
    c = client_for(fake)
    with pytest.raises(InvalidInputError, match=match):
        c.place_order(*args, **kw)
    assert fake.count(CREATE) == 0


def test_amend_and_cancel_validation(fake):
    c = client_for(fake)
    with pytest.raises(InvalidInputError, match="exactly one"):
        c.cancel_order("BTCUSDT")
    with pytest.raises(InvalidInputError, match="exactly one"):
        c.amend_order("BTCUSDT", order_id="a", order_link_id="b", qty="1")
    with pytest.raises(InvalidInputError, match="qty= or price="):
        c.amend_order("BTCUSDT", order_id="abc")
    with pytest.raises(InvalidInputError, match="min_order_qty"):
        c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000",
                      spec=InstrumentSpec("BTCUSDT", "0.1", "0.001", "0.01"))
    with pytest.raises(InvalidInputError, match="settle_coin"):
        c.get_positions()
    assert fake.count() == 0


def test_private_calls_need_keys(fake):
    c = BybitClient(base_url=fake.url)
    for call in (c.get_wallet_balance, lambda: c.get_positions(settle_coin="USDT"),
                 lambda: c.place_order("BTCUSDT", "Buy", "Market", "0.001")):
        with pytest.raises(AuthenticationError, match="BYBIT_API_KEY"):
            call()
    assert fake.count() == 0


def test_bad_key_and_bad_secret(fake):
    wrong_secret = "another-secret-0123456789"
    c = client_for(fake, api_secret=wrong_secret)
    with pytest.raises(AuthenticationError) as e:
        c.get_wallet_balance()
    assert e.value.ret_code == 10004 and wrong_secret not in str(e.value)
    c2 = client_for(fake, api_key="wrongKEY123")
    with pytest.raises(AuthenticationError) as e2:
        c2.get_wallet_balance()
    assert e2.value.ret_code == 10003
    assert fake.count(WALLET) == 2  # neither retried


def test_no_secret_in_logs_reprs_or_errors(fake, caplog):
    caplog.set_level(logging.DEBUG)  # root: requests, urllib3 and everything else
    caplog.set_level(logging.DEBUG, logger="ofi")
    c = client_for(fake, time_sync=False)
    errors: list[BaseException] = []
    fake.clock_skew_ms = 30_000  # forces a 10002 and a re-sync
    c.get_wallet_balance()
    fake.fail_ret_code(10006, path=WALLET, reset_in_s=0.02)
    c.get_wallet_balance()
    fake.fail_http(502, path="/v5/position/list")
    c.get_positions(settle_coin="USDT")
    ack = c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", order_link_id="leak-check")
    c.amend_order("BTCUSDT", order_id=ack.order_id, qty="0.002")
    c.get_open_orders(symbol="BTCUSDT")
    c.cancel_order("BTCUSDT", order_link_id="leak-check")
    fake.fail_ret_code(10001, path=CREATE)
    fake.delay(1.0, path=WALLET)
    for call in (lambda: c.place_order("BTCUSDT", "Buy", "Market", "0.001"),
                 lambda: client_for(fake, timeout=0.2, max_retries=0).get_wallet_balance(),
                 lambda: c.cancel_order("BTCUSDT", order_id="missing")):
        try:
            call()
        except OfiError as exc:
            errors.append(exc)
    assert len(errors) == 3
    signatures = [r.headers["X-BAPI-SIGN"] for r in fake.requests if "X-BAPI-SIGN" in r.headers]
    assert len(signatures) >= 10
    texts = [caplog.text, repr(c), str(vars(c)), repr(c._creds)]
    texts += [f"{m.getMessage()} {m.args!r} {m.__dict__!r}" for m in caplog.records]
    texts += [f"{e!s} {e!r} {vars(e)!r}" for e in errors]
    assert any("retry" in m.getMessage() for m in caplog.records)  # the retries were logged
    for text in texts:
        assert FAKE_API_SECRET not in text
        assert "X-BAPI-SIGN" not in text
        for sig in signatures:
            assert sig not in text


def test_client_side_ip_window(fake):
    c = client_for(fake, ip_rate_limit=(3, 0.2))
    t0 = time.monotonic()
    for _ in range(7):
        c.get_server_time()
    assert time.monotonic() - t0 >= 0.35 and fake.count(TIME) == 7  # 3 + 3 + 1 over three windows


def test_the_old_import_paths_name_the_same_objects():
    # ofi.api.rest and ofi.api.signing are re-export shims of ofi.venues.bybit.rest / .signing
    import ofi.api
    import ofi.api.rest
    import ofi.api.signing
    import ofi.venues.bybit
    import ofi.venues.bybit.rest
    import ofi.venues.bybit.signing

    for old, new in ((ofi.api.rest, ofi.venues.bybit.rest), (ofi.api.signing, ofi.venues.bybit.signing)):
        assert old.__all__ and set(old.__all__) <= set(new.__all__)
        for name in old.__all__:
            assert getattr(old, name) is getattr(new, name), name
    assert ofi.api.BybitClient is ofi.venues.bybit.BybitClient is ofi.venues.bybit.rest.BybitClient
