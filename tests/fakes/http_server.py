"""A fake Bybit V5 REST server on 127.0.0.1, with fault injection, for the client tests.

It is a real HTTP server (stdlib :class:`http.server.ThreadingHTTPServer` in a background thread,
ephemeral port, loopback only) answering in the V5 envelope ``{retCode, retMsg, result,
retExtInfo, time}`` (bybit-v5.md section 2) for:

=====================================  ===========================================================
``GET /v5/market/time``                ``timeSecond``/``timeNano`` of the server clock (which can
                                       be skewed: :attr:`FakeBybitRest.clock_skew_ms`)
``GET /v5/market/orderbook``           the current book of a :class:`ofi.sim.SimulatedMarket`
                                       (advanced a few messages per request), top ``limit`` levels
``GET /v5/market/recent-trade``        the simulator's trades, newest first
``GET /v5/market/kline``               deterministic candles, newest first
``GET /v5/market/tickers``             best bid/ask and last trade of each simulated market
``GET /v5/market/instruments-info``    the instruments, paged by ``cursor`` (``page_size`` items
                                       per page, so the default list takes 3 pages; spot unpaged)
``GET /v5/account/wallet-balance``     signed; a fixed UNIFIED wallet
``GET /v5/position/list``              signed; a fixed BTCUSDT long and a flat ETHUSDT
``GET /v5/order/realtime``             signed; the orders placed on this server, paged
``POST /v5/order/create|amend|cancel`` signed; an in-memory order store
=====================================  ===========================================================

Signed requests are checked like Bybit does: ``X-BAPI-API-KEY`` must be the server's key
(else ``retCode`` 10003), ``X-BAPI-SIGN`` the HMAC-SHA256 of ``timestamp + key +
recv_window + (raw query string | raw body)`` under the server's secret (else 10004), and the
timestamp inside ``[server - recv_window, server + 1000)`` (else 10002). Missing headers get
HTTP 401.

Fault injection, chosen per test (each fault matches one path or every path, and fires
``times`` times, ``None`` meaning every request):

- :meth:`FakeBybitRest.fail_http` -- HTTP 429, 5xx, or any status, with an optional ``Retry-After``;
- :meth:`FakeBybitRest.fail_ret_code` -- ``retCode`` 10006 (with ``X-Bapi-Limit-Status: 0`` and a
  reset timestamp), 10002, 10001, 10016, or any code;
- :meth:`FakeBybitRest.ban_ip` -- the next request gets HTTP 403 "access too frequent", and so does
  every request for the next ``seconds``, whatever its path (Bybit's IP ban);
- :meth:`FakeBybitRest.delay` -- the answer comes after ``seconds`` (beyond the client's timeout);
- :meth:`FakeBybitRest.malformed` -- HTTP 200 with a body that is not JSON;
- :meth:`FakeBybitRest.set_limit` -- a per-path rate limit (``n`` per window) announced in the
  ``X-Bapi-Limit*`` headers of every answer and enforced with ``retCode`` 10006;
- :meth:`FakeBybitRest.respond` -- a scripted raw answer: any status, headers and body (e.g. a 429
  with only ``X-Bapi-Limit-Reset-Timestamp``, a 302 redirect, an envelope with a non-200 status).

Every request is recorded (:attr:`FakeBybitRest.requests`, :meth:`FakeBybitRest.count`), with the
status and ``retCode`` it got, so a test can assert that a client did not hammer.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import math
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from ofi.sim import SimulatedMarket

__all__ = ["FakeBybitRest", "ReceivedRequest", "Fault", "FAKE_API_KEY", "FAKE_API_SECRET"]

FAKE_API_KEY = "fakeKEY0123456789"
FAKE_API_SECRET = "fakeSECRETabcdefghijklmnopqrstuvwxyz0123"

SIGNED_PATHS = frozenset({
    "/v5/account/wallet-balance", "/v5/position/list", "/v5/order/realtime",
    "/v5/order/create", "/v5/order/amend", "/v5/order/cancel",
})
_KLINE_MS = {"1": 60_000, "3": 180_000, "5": 300_000, "15": 900_000, "30": 1_800_000, "60": 3_600_000,
             "120": 7_200_000, "240": 14_400_000, "360": 21_600_000, "720": 43_200_000,
             "D": 86_400_000, "W": 604_800_000, "M": 2_592_000_000}
_RET_MSGS = {
    10001: "params error",
    10002: "invalid request, please check your server timestamp or recv_window param",
    10003: "API key is invalid.",
    10004: "error sign!",
    10006: "Too many visits!",
    10016: "Server error, please try again later",
    10000: "Server Timeout",
}


@dataclass
class Fault:
    """One injected fault.

    Attributes
    ----------
    kind : {"http", "ret_code", "delay", "malformed", "raw"}
    path : str or None
        The path it applies to; None for every path.
    times : int or None
        How many requests it hits; None for all of them.
    status : int
        HTTP status (kind "http").
    ret_code : int
        ``retCode`` (kind "ret_code").
    seconds : float
        Delay (kind "delay") or reset distance for 10006 (kind "ret_code").
    retry_after : float or None
        ``Retry-After`` header value (kind "http").
    body : bytes
        Body (kinds "malformed" and "raw").
    headers : dict or None
        Extra response headers (kind "raw").
    """

    kind: str
    path: str | None = None
    times: int | None = 1
    status: int = 500
    ret_code: int = 0
    seconds: float = 0.0
    retry_after: float | None = None
    body: bytes = b""
    msg: str | None = None
    headers: dict[str, str] | None = None


@dataclass
class ReceivedRequest:
    """A request the server received, and what it answered."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: str
    t: float  # time.monotonic() on arrival
    status: int = 0
    ret_code: int | None = None


@dataclass
class _Limit:
    n: int
    window_s: float
    start: float = 0.0  # time.time()
    used: int = 0


@dataclass
class _Instrument:
    symbol: str
    tick: str
    step: str
    min_qty: str
    base: str


class FakeBybitRest:
    """The fake server. Use as a context manager, or :meth:`start` / :meth:`stop`.

    Parameters
    ----------
    api_key, api_secret : str
        The only credentials the signed endpoints accept.
    page_size : int
        Most instruments per instruments-info page (the client's ``limit`` can lower it).
    extra_instruments : int
        Listed instruments beyond BTCUSDT and ETHUSDT (no market behind them).
    book_advance : int
        Simulator messages produced before each order-book or trade request (0: a fixed book).
    seed : int
        Seed of the simulated markets.
    clock_skew_ms : int
        Server clock minus real time.
    """

    def __init__(
        self,
        *,
        api_key: str = FAKE_API_KEY,
        api_secret: str = FAKE_API_SECRET,
        page_size: int = 2,
        extra_instruments: int = 3,
        book_advance: int = 3,
        seed: int = 0,
        clock_skew_ms: int = 0,
    ) -> None:
        self.api_key = api_key
        self._secret = api_secret.encode()
        self.page_size = page_size
        self.book_advance = book_advance
        self.clock_skew_ms = clock_skew_ms
        self.requests: list[ReceivedRequest] = []
        self.orders: dict[str, dict[str, Any]] = {}
        self._faults: list[Fault] = []
        self._ban_pending: float | None = None
        self._ban_until = 0.0  # time.monotonic()
        self._limits: dict[str, _Limit] = {}
        self._last: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.instruments = [
            _Instrument("BTCUSDT", "0.10", "0.001", "0.001", "BTC"),
            _Instrument("ETHUSDT", "0.01", "0.01", "0.01", "ETH"),
        ] + [_Instrument(f"X{i:02d}USDT", "0.0001", "1", "1", f"X{i:02d}") for i in range(extra_instruments)]
        self.markets = {
            "BTCUSDT": SimulatedMarket("BTCUSDT", tick_size="0.1", qty_step="0.001", depth=200, seed=seed),
            "ETHUSDT": SimulatedMarket("ETHUSDT", tick_size="0.01", qty_step="0.01", depth=200, seed=seed + 1,
                                       start_price=3000.0),
        }
        self._trades: dict[str, deque] = {s: deque(maxlen=1000) for s in self.markets}
        self._book_meta: dict[str, dict[str, int]] = {}
        for sym in self.markets:
            self._advance(sym, duration_s=10.0)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeBybitRest:
        """Start serving on 127.0.0.1 and an ephemeral port."""
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-bybit-rest", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; a handler still delaying an answer gives up at once."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeBybitRest:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: pass it as the client's ``base_url``."""
        assert self._server is not None, "start() the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # ------------------------------------------------------------------ faults
    def fail_http(self, status: int, *, path: str | None = None, times: int | None = 1,
                  retry_after: float | None = None) -> None:
        """Answer HTTP ``status`` (429, 500, 502, 503, ...) to the next ``times`` requests."""
        self._add(Fault("http", path, times, status=status, retry_after=retry_after))

    def fail_ret_code(self, code: int, *, path: str | None = None, times: int | None = 1,
                      reset_in_s: float = 0.05, msg: str | None = None) -> None:
        """Answer HTTP 200 with ``retCode`` ``code``; for 10006 the limit headers say the
        window resets in ``reset_in_s``."""
        self._add(Fault("ret_code", path, times, ret_code=code, seconds=reset_in_s, msg=msg))

    def ban_ip(self, seconds: float) -> None:
        """The next request, and every request in the ``seconds`` after it, get HTTP 403."""
        with self._lock:
            self._ban_pending = seconds

    def delay(self, seconds: float, *, path: str | None = None, times: int | None = 1) -> None:
        """Answer the next ``times`` requests only after ``seconds``."""
        self._add(Fault("delay", path, times, seconds=seconds))

    def malformed(self, *, path: str | None = None, times: int | None = 1,
                  body: bytes = b'{"retCode":0,"retMsg":"OK","result":{"s":"BTC') -> None:
        """Answer HTTP 200 with ``body`` (default: JSON cut in the middle)."""
        self._add(Fault("malformed", path, times, body=body))

    def respond(self, status: int, body: bytes | str = b"", *, headers: dict[str, str] | None = None,
                path: str | None = None, times: int | None = 1) -> None:
        """Answer the next ``times`` requests with exactly this status, headers and body."""
        raw = body.encode() if isinstance(body, str) else body
        self._add(Fault("raw", path, times, status=status, body=raw, headers=dict(headers or {})))

    def set_limit(self, path: str, n: int, window_s: float = 1.0) -> None:
        """Allow ``n`` requests to ``path`` per window; beyond that answer ``retCode`` 10006."""
        with self._lock:
            self._limits[path] = _Limit(n, window_s)

    def clear_faults(self) -> None:
        """Remove every pending fault, ban and limit."""
        with self._lock:
            self._faults.clear()
            self._ban_pending = None
            self._ban_until = 0.0
            self._limits.clear()

    def _add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for f in self._faults:
                if f.path is None or f.path == path:
                    if f.times is not None:
                        f.times -= 1
                        if f.times <= 0:
                            self._faults.remove(f)
                    return f
        return None

    # ------------------------------------------------------------------ inspection
    def count(self, path: str | None = None) -> int:
        """Requests received on ``path`` (all paths when None), faulted or not."""
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path == path)

    def answered(self, *, status: int | None = None, ret_code: int | None = None) -> int:
        """Requests answered with this HTTP status and/or ``retCode``."""
        with self._lock:
            return sum(1 for r in self.requests if (status is None or r.status == status)
                       and (ret_code is None or r.ret_code == ret_code))

    def last_result(self, path: str) -> Any:
        """The ``result`` object of the last successful answer on ``path``."""
        with self._lock:
            return self._last.get(path)

    def server_ms(self) -> int:
        """The server's clock in ms (real time plus :attr:`clock_skew_ms`)."""
        return time.time_ns() // 1_000_000 + int(self.clock_skew_ms)

    # ------------------------------------------------------------------ dispatch
    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: str) -> tuple[int, dict, bytes]:
        parts = urlsplit(raw_path)
        path, query = parts.path, parts.query
        req = ReceivedRequest(method, path, query, headers, body, time.monotonic())
        with self._lock:
            self.requests.append(req)
        status, extra, payload = self._answer(req)
        req.status = status
        if payload[:1] == b"{":
            try:
                req.ret_code = json.loads(payload).get("retCode")
            except ValueError:
                pass
        return status, extra, payload

    def _envelope(self, code: int, msg: str, result: Any = None) -> bytes:
        return json.dumps({"retCode": code, "retMsg": msg, "result": {} if result is None else result,
                           "retExtInfo": {}, "time": self.server_ms()}, separators=(",", ":")).encode()

    def _answer(self, req: ReceivedRequest) -> tuple[int, dict, bytes]:
        now = time.monotonic()
        with self._lock:
            if self._ban_pending is not None:
                self._ban_until = now + self._ban_pending
                self._ban_pending = None
            banned = now < self._ban_until
        if banned:
            return 403, {"Content-Type": "text/plain"}, b"access too frequent"
        fault = self._take_fault(req.path)
        if fault is not None:
            if fault.kind == "delay":
                if self._stop.wait(fault.seconds):
                    return 503, {}, b""
            elif fault.kind == "http":
                extra = {"Content-Type": "text/html"}
                if fault.retry_after is not None:
                    extra["Retry-After"] = f"{fault.retry_after:g}"
                return fault.status, extra, f"<html><body>{fault.status}</body></html>".encode()
            elif fault.kind == "malformed":
                return 200, {"Content-Type": "application/json"}, fault.body
            elif fault.kind == "raw":
                return fault.status, dict(fault.headers or {}), fault.body
            elif fault.kind == "ret_code":
                extra = {}
                if fault.ret_code == 10006:
                    extra = {"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "0",
                             "X-Bapi-Limit-Reset-Timestamp": str(self.server_ms() + int(fault.seconds * 1000))}
                msg = fault.msg or _RET_MSGS.get(fault.ret_code, "error")
                return 200, extra, self._envelope(fault.ret_code, msg)
        extra = {}
        lim = self._limits.get(req.path)
        if lim is not None:
            with self._lock:
                t = time.time()
                if t >= lim.start + lim.window_s:
                    lim.start, lim.used = t, 0
                lim.used += 1
                reset_ms = int((lim.start + lim.window_s) * 1000) + int(self.clock_skew_ms)
                extra = {"X-Bapi-Limit": str(lim.n), "X-Bapi-Limit-Status": str(max(lim.n - lim.used, 0)),
                         "X-Bapi-Limit-Reset-Timestamp": str(reset_ms)}
                over = lim.used > lim.n
            if over:
                return 200, extra, self._envelope(10006, _RET_MSGS[10006])
        if req.path in SIGNED_PATHS:
            denied = self._check_auth(req)
            if denied is not None:
                return denied[0], extra, denied[1]
        route = _ROUTES.get((req.method, req.path))
        if route is None:
            return 404, {"Content-Type": "text/plain"}, b"404 page not found"
        if req.method == "POST":
            try:
                params = json.loads(req.body or "{}")
                if not isinstance(params, dict):
                    raise ValueError
            except ValueError:
                return 200, extra, self._envelope(10001, "params error: body is not a JSON object")
        else:
            params = {k: v[-1] for k, v in parse_qs(req.query, keep_blank_values=True).items()}
        try:
            result = route(self, params)
        except _Reject as rej:
            return 200, extra, self._envelope(rej.code, rej.msg)
        with self._lock:
            self._last[req.path] = result
        return 200, extra, self._envelope(0, "OK", result)

    def _check_auth(self, req: ReceivedRequest) -> tuple[int, bytes] | None:
        h = {k.lower(): v for k, v in req.headers.items()}
        key, sign, ts, recv = (h.get("x-bapi-api-key"), h.get("x-bapi-sign"), h.get("x-bapi-timestamp"),
                               h.get("x-bapi-recv-window", "5000"))
        if not key or not sign or not ts:
            return 401, b"401 Unauthorized"
        if key != self.api_key:
            return 200, self._envelope(10003, _RET_MSGS[10003])
        payload = req.query if req.method == "GET" else req.body
        origin = f"{ts}{key}{recv}{payload}"
        want = hmac.new(self._secret, origin.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, sign):
            return 200, self._envelope(10004, f"error sign! origin_string[{origin}]")
        try:
            ts_i, recv_i = int(ts), int(recv)
        except ValueError:
            return 200, self._envelope(10001, "params error: timestamp")
        server = self.server_ms()
        if not (server - recv_i <= ts_i < server + 1000):
            return 200, self._envelope(
                10002, f"{_RET_MSGS[10002]}. req_timestamp[{ts_i}],server_timestamp[{server}],recv_window[{recv_i}]")
        return None

    # ------------------------------------------------------------------ market state
    def _advance(self, symbol: str, *, n_messages: int | None = None, duration_s: float | None = None) -> None:
        m = self.markets[symbol]
        for f in m.generate(n_messages=n_messages, duration_s=duration_s):
            obj = json.loads(f.raw)
            if f.kind == "book":
                self._book_meta[symbol] = {"u": obj["data"]["u"], "seq": obj["data"]["seq"],
                                           "ts": obj["ts"], "cts": obj.get("cts", obj["ts"])}
            else:
                for t in obj["data"]:
                    self._trades[symbol].append({
                        "execId": t["i"], "symbol": t["s"], "price": t["p"], "size": t["v"], "side": t["S"],
                        "time": str(t["T"]), "isBlockTrade": t["BT"], "isRPITrade": t.get("RPI", False),
                        "seq": str(t["seq"])})

    def book_result(self, symbol: str, limit: int) -> dict[str, Any]:
        """The ``result`` of an orderbook request for the simulator's current book."""
        m = self.markets[symbol]
        bids, asks = m.true_book()
        step = m.qty_step.normalize()
        decimals = max(0, -step.as_tuple().exponent)
        meta = self._book_meta[symbol]
        return {"s": symbol,
                "b": [[m.format_price(t), f"{s:.{decimals}f}"] for t, s in bids[:limit]],
                "a": [[m.format_price(t), f"{s:.{decimals}f}"] for t, s in asks[:limit]],
                "ts": meta["ts"], "u": meta["u"], "seq": meta["seq"], "cts": meta["cts"]}

    def _symbol(self, params: dict, *, market: bool = True) -> str:
        category = params.get("category")
        if category not in ("linear", "inverse", "spot", "option"):
            raise _Reject(10001, f"params error: category {category!r}")
        sym = params.get("symbol", "")
        known = {i.symbol for i in self.instruments}
        if sym not in known or (market and sym not in self.markets):
            raise _Reject(10001, "params error: Symbol Invalid")
        return sym

    @staticmethod
    def _int(params: dict, name: str, default: int, lo: int, hi: int) -> int:
        v = params.get(name)
        if v is None:
            return default
        try:
            i = int(v)
        except ValueError:
            raise _Reject(10001, f"params error: {name}") from None
        if not lo <= i <= hi:
            raise _Reject(10001, f"params error: {name} out of range")
        return i


class _Reject(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code, self.msg = code, msg


# ---------------------------------------------------------------------------- routes
def _time(fake: FakeBybitRest, params: dict) -> dict:
    ns = time.time_ns() + int(fake.clock_skew_ms) * 1_000_000
    return {"timeSecond": str(ns // 1_000_000_000), "timeNano": str(ns)}


def _orderbook(fake: FakeBybitRest, params: dict) -> dict:
    sym = fake._symbol(params)
    hi = 25 if params["category"] == "option" else 1000
    limit = fake._int(params, "limit", 25, 1, hi)
    with fake._lock:
        if fake.book_advance:
            fake._advance(sym, n_messages=fake.book_advance)
        return fake.book_result(sym, limit)


def _recent_trade(fake: FakeBybitRest, params: dict) -> dict:
    sym = fake._symbol(params)
    spot = params["category"] == "spot"
    limit = fake._int(params, "limit", 60 if spot else 500, 1, 60 if spot else 1000)
    with fake._lock:
        if fake.book_advance:
            fake._advance(sym, n_messages=fake.book_advance)
        items = list(reversed(fake._trades[sym]))[:limit]
    return {"category": params["category"], "list": items}


def _kline(fake: FakeBybitRest, params: dict) -> dict:
    sym = fake._symbol(params, market=False)
    interval = params.get("interval", "")
    if interval not in _KLINE_MS:
        raise _Reject(10001, "params error: interval")
    limit = fake._int(params, "limit", 200, 1, 1000)
    step = _KLINE_MS[interval]
    end = int(params.get("end") or fake.server_ms())
    last = end - end % step
    rows = []
    for k in range(limit):
        t = last - k * step
        if params.get("start") and t < int(params["start"]):
            break
        x = t / step
        o = 60000.0 + 100.0 * math.sin(x / 7.0)
        c = 60000.0 + 100.0 * math.sin((x + 1) / 7.0)
        rows.append([str(t), f"{o:.1f}", f"{max(o, c) + 5:.1f}", f"{min(o, c) - 5:.1f}", f"{c:.1f}",
                     f"{1 + (k % 5):.3f}", f"{(1 + (k % 5)) * (o + c) / 2:.4f}"])
    return {"symbol": sym, "category": params["category"], "list": rows}


def _tickers(fake: FakeBybitRest, params: dict) -> dict:
    if params.get("category") not in ("linear", "inverse", "spot", "option"):
        raise _Reject(10001, "params error: category")
    syms = [fake._symbol(params)] if params.get("symbol") else list(fake.markets)
    out = []
    with fake._lock:
        for s in syms:
            m = fake.markets[s]
            bids, asks = m.true_book()
            last = fake._trades[s][-1]["price"] if fake._trades[s] else m.format_price(bids[0][0])
            out.append({"symbol": s, "lastPrice": last, "bid1Price": m.format_price(bids[0][0]),
                        "bid1Size": f"{bids[0][1]}", "ask1Price": m.format_price(asks[0][0]),
                        "ask1Size": f"{asks[0][1]}", "markPrice": last, "indexPrice": last,
                        "prevPrice24h": last, "price24hPcnt": "0.0012", "highPrice24h": last, "lowPrice24h": last,
                        "volume24h": "1234.5", "turnover24h": "74070000.0", "openInterest": "5000",
                        "fundingRate": "0.0001", "nextFundingTime": "1700006400000"})
    return {"category": params["category"], "list": out}


def _instruments(fake: FakeBybitRest, params: dict) -> dict:
    category = params.get("category")
    if category not in ("linear", "inverse", "spot", "option"):
        raise _Reject(10001, "params error: category")
    items = fake.instruments
    if params.get("symbol"):
        items = [i for i in items if i.symbol == params["symbol"]]

    def item(i: _Instrument) -> dict:
        if category == "spot":
            return {"symbol": i.symbol, "baseCoin": i.base, "quoteCoin": "USDT", "status": "Trading",
                    "lotSizeFilter": {"basePrecision": i.step, "quotePrecision": "0.0000001",
                                      "minOrderQty": i.min_qty, "maxOrderQty": "1000000", "minOrderAmt": "5"},
                    "priceFilter": {"tickSize": i.tick}}
        return {"symbol": i.symbol, "contractType": "LinearPerpetual", "status": "Trading", "baseCoin": i.base,
                "quoteCoin": "USDT", "settleCoin": "USDT", "priceScale": str(max(0, -Decimal(i.tick).as_tuple().exponent)),
                "priceFilter": {"minPrice": i.tick, "maxPrice": "1999999.80", "tickSize": i.tick},
                "lotSizeFilter": {"maxOrderQty": "1190.000", "minOrderQty": i.min_qty, "qtyStep": i.step,
                                  "postOnlyMaxOrderQty": "1190.000", "maxMktOrderQty": "500.000",
                                  "minNotionalValue": "5"},
                "fundingInterval": 480}

    if category == "spot":  # spot does not page
        return {"category": category, "list": [item(i) for i in items], "nextPageCursor": ""}
    size = min(fake.page_size, fake._int(params, "limit", 500, 1, 1000))
    start = 0
    cursor = params.get("cursor")
    if cursor:
        # Bybit's cursor, URL-encoded on the wire: "first%3DBTCUSDT%26last%3DETHUSDT"
        fields = dict(kv.split("=", 1) for kv in unquote(cursor).split("&") if "=" in kv)
        names = [i.symbol for i in items]
        if fields.get("last") not in names:
            raise _Reject(10001, "params error: cursor")
        start = names.index(fields["last"]) + 1
    page = items[start:start + size]
    nxt = ""
    if start + size < len(items) and page:
        nxt = quote(f"first={page[0].symbol}&last={page[-1].symbol}", safe="")
    return {"category": category, "list": [item(i) for i in page], "nextPageCursor": nxt}


def _wallet(fake: FakeBybitRest, params: dict) -> dict:
    if params.get("accountType") not in ("UNIFIED", "CONTRACT", "SPOT"):
        raise _Reject(10001, "params error: accountType")
    coins = [
        {"coin": "USDT", "equity": "10000.5", "walletBalance": "10000", "unrealisedPnl": "0.5", "locked": "0",
         "usdValue": "10000.6"},
        {"coin": "BTC", "equity": "0.1", "walletBalance": "0.1", "unrealisedPnl": "", "locked": "0",
         "usdValue": "6000"},
    ]
    if params.get("coin"):
        wanted = set(params["coin"].split(","))
        coins = [c for c in coins if c["coin"] in wanted]
    return {"list": [{"accountType": params["accountType"], "totalEquity": "16000.6",
                      "totalWalletBalance": "16000", "totalAvailableBalance": "15000",
                      "totalMarginBalance": "16000.6", "coin": coins}]}


def _positions(fake: FakeBybitRest, params: dict) -> dict:
    if not params.get("symbol") and not params.get("settleCoin"):
        raise _Reject(10001, "params error: symbol or settleCoin is required")
    items = [
        {"symbol": "BTCUSDT", "side": "Buy", "size": "0.01", "avgPrice": "60000", "markPrice": "60010.5",
         "positionValue": "600", "unrealisedPnl": "0.105", "cumRealisedPnl": "-1.2", "leverage": "10",
         "liqPrice": "54500", "positionIdx": 0, "updatedTime": "1700000000000"},
        {"symbol": "ETHUSDT", "side": "", "size": "0", "avgPrice": "0", "markPrice": "3000", "positionValue": "",
         "unrealisedPnl": "0", "cumRealisedPnl": "0", "leverage": "10", "liqPrice": "", "positionIdx": 0,
         "updatedTime": "1700000000000"},
    ]
    if params.get("symbol"):
        items = [p for p in items if p["symbol"] == params["symbol"]]
    return {"category": params.get("category"), "list": items, "nextPageCursor": ""}


def _open_orders(fake: FakeBybitRest, params: dict) -> dict:
    with fake._lock:
        items = [o for o in fake.orders.values()
                 if (not params.get("symbol") or o["symbol"] == params["symbol"])
                 and (not params.get("orderId") or o["orderId"] == params["orderId"])
                 and (not params.get("orderLinkId") or o["orderLinkId"] == params["orderLinkId"])]
    size = min(fake.page_size, fake._int(params, "limit", 20, 1, 50))
    start = int(params.get("cursor") or 0)
    page = items[start:start + size]
    nxt = str(start + size) if start + size < len(items) else ""
    return {"category": params.get("category"), "list": page, "nextPageCursor": nxt}


def _find_order(fake: FakeBybitRest, params: dict) -> dict:
    for o in fake.orders.values():
        if (params.get("orderId") and o["orderId"] == params["orderId"]) or \
                (params.get("orderLinkId") and o["orderLinkId"] == params["orderLinkId"]):
            return o
    raise _Reject(110001, "order not exists or too late to cancel")


def _create(fake: FakeBybitRest, params: dict) -> dict:
    for k in ("category", "symbol", "side", "orderType", "qty"):
        if k not in params:
            raise _Reject(10001, f"params error: {k} is required")
    if params["side"] not in ("Buy", "Sell") or params["orderType"] not in ("Market", "Limit"):
        raise _Reject(10001, "params error: side or orderType")
    if params["orderType"] == "Limit" and "price" not in params:
        raise _Reject(10001, "params error: price is required for Limit orders")
    fake._symbol(params, market=False)
    with fake._lock:
        link = params.get("orderLinkId", "")
        if link and any(o["orderLinkId"] == link for o in fake.orders.values()):
            raise _Reject(110072, "OrderLinkedID is duplicate")
        oid = str(uuid.uuid4())
        ms = str(fake.server_ms())
        fake.orders[oid] = {"orderId": oid, "orderLinkId": link, "symbol": params["symbol"], "side": params["side"],
                            "orderType": params["orderType"], "price": params.get("price", "0"),
                            "qty": params["qty"], "leavesQty": params["qty"], "cumExecQty": "0", "avgPrice": "",
                            "timeInForce": params.get("timeInForce", "GTC"), "orderStatus": "New",
                            "reduceOnly": bool(params.get("reduceOnly", False)), "createdTime": ms,
                            "updatedTime": ms}
    return {"orderId": oid, "orderLinkId": link}


def _amend(fake: FakeBybitRest, params: dict) -> dict:
    with fake._lock:
        o = _find_order(fake, params)
        for k in ("qty", "price"):
            if k in params:
                o[k] = params[k]
        o["updatedTime"] = str(fake.server_ms())
    return {"orderId": o["orderId"], "orderLinkId": o["orderLinkId"]}


def _cancel(fake: FakeBybitRest, params: dict) -> dict:
    with fake._lock:
        o = _find_order(fake, params)
        del fake.orders[o["orderId"]]
    return {"orderId": o["orderId"], "orderLinkId": o["orderLinkId"]}


_ROUTES = {
    ("GET", "/v5/market/time"): _time,
    ("GET", "/v5/market/orderbook"): _orderbook,
    ("GET", "/v5/market/recent-trade"): _recent_trade,
    ("GET", "/v5/market/kline"): _kline,
    ("GET", "/v5/market/tickers"): _tickers,
    ("GET", "/v5/market/instruments-info"): _instruments,
    ("GET", "/v5/account/wallet-balance"): _wallet,
    ("GET", "/v5/position/list"): _positions,
    ("GET", "/v5/order/realtime"): _open_orders,
    ("POST", "/v5/order/create"): _create,
    ("POST", "/v5/order/amend"): _amend,
    ("POST", "/v5/order/cancel"): _cancel,
}


class _Handler(BaseHTTPRequestHandler):
    owner: FakeBybitRest
    protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers after stop()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr
        pass

    def _serve(self, method: str) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace") if n > 0 else ""
        status, extra, payload = self.owner.handle(method, self.path, dict(self.headers.items()), body)
        try:
            self.send_response(status)
            headers = {"Content-Type": "application/json", **extra}
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout), as it should

    def do_GET(self) -> None:  # noqa: N802
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")
