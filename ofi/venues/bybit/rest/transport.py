"""The HTTP side of Bybit's V5 REST API: the session, the per-host guard, rate-limit bookkeeping,
retries, the clock offset of signed requests, and the mapping of answers to :mod:`ofi.errors`.

Every response is the V5 envelope ``{retCode, retMsg, result, retExtInfo, time}``
(bybit-v5.md section 2). The transport unwraps it and turns failures into :mod:`ofi.errors`:

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
a body that is not a V5 envelope, one       no retry                                        :class:`ExchangeError`
nested too deeply to parse, or one larger
than ``MAX_BODY_BYTES``
=========================================  ==============================================  ==================

Every request carries a timeout, TLS verification cannot be turned off, redirects are not
followed (signed headers never go to another host), a body is read up to ``MAX_BODY_BYTES``
(after decompression) and no further, and a client-side window keeps the IP under Bybit's 600
requests per 5 s. The IP ban and the window are shared by every client of one host in the
process, since Bybit counts them per IP.

Log records carry the method, path, query and status (and, for a retry, the error), never
headers, signatures or bodies of signed requests; exception messages never hold a header.
"""
from __future__ import annotations

import codecs
import logging
import math
import random
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from ofi.errors import (
    AuthenticationError,
    ExchangeError,
    InvalidInputError,
    IpBanError,
    RateLimitError,
    RequestTimeoutError,
    TransportError,
)
from ofi.validation import JSONLimitError, json_loads, positive_float
from ofi.venues.bybit.rest.checks import _check_int, _check_non_negative
from ofi.venues.bybit.rest.results import RateLimitStatus, ServerTime, _int_or_none, _server_time
from ofi.venues.bybit.signing import Credentials, json_body, query_string

__all__ = ["Transport", "MAX_BODY_BYTES"]

log = logging.getLogger("ofi.venues.bybit.rest")

#: Largest response body read (bytes, after decompression). Bybit's largest pages (1000 instruments,
#: 1000 book levels, a coin's option tickers) are a small fraction of it; a larger body is refused
#: rather than held in memory.
MAX_BODY_BYTES = 16 * 1024 * 1024
_CHUNK_BYTES = 64 * 1024
_DEFAULT_CHARSET = "utf-8"  # of JSON (RFC 8259), and what Bybit declares

_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_AUTH_CODES = frozenset({10003, 10004, 10005, 10007, 10009, 10010, 33004})
_RATE_CODES = frozenset({10006})
_SERVER_CODES = frozenset({10000, 10016, 429})  # 429 as a retCode: "trading service under high load"
_TIME_CODE = 10002
_TIME_PATH = "/v5/market/time"


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


def _read_body(resp: requests.Response) -> tuple[bytes, bool]:
    """The body of a streamed response, at most ``MAX_BODY_BYTES`` of it, and whether that is all of it."""
    if resp.raw is None:  # built in memory (a caching session, a test double): nothing left to stream
        content = resp.content or b""
        return content[:MAX_BODY_BYTES], len(content) <= MAX_BODY_BYTES
    declared = _header_int(resp.headers, "Content-Length")
    if declared is not None and declared > MAX_BODY_BYTES:
        return b"", False
    chunks, n = [], 0
    for chunk in resp.iter_content(_CHUNK_BYTES):  # decompressed: a gzip bomb is cut off here
        n += len(chunk)
        if n > MAX_BODY_BYTES:
            return b"".join(chunks), False
        chunks.append(chunk)
    return b"".join(chunks), True


def _text(content: bytes, encoding: str | None) -> str:
    # requests' Response.text without its charset guessing: a missing or unknown charset is UTF-8
    name = encoding or _DEFAULT_CHARSET
    try:
        codecs.lookup(name)
    except LookupError:
        name = _DEFAULT_CHARSET
    return content.decode(name, errors="replace")


def _check_base_url(base_url: Any) -> tuple[str, str]:
    """``scheme://netloc`` of ``base_url`` and its netloc, checked (https, or http for a loopback host)."""
    if not isinstance(base_url, str):
        raise InvalidInputError(f"base_url must be a string, got {type(base_url).__name__}")
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInputError(f"base_url must look like https://host[:port], got {base_url!r}")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise InvalidInputError(f"base_url must use https (plain http only for loopback hosts), got {base_url!r}")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise InvalidInputError(f"base_url must be the host only (no path or query), got {base_url!r}")
    return f"{parts.scheme}://{parts.netloc}", parts.netloc


# ----------------------------------------------------------------------------- the transport
class Transport:
    """Sends V5 requests to one host: signing, waits, retries, and the answers mapped to results or errors.

    :class:`ofi.venues.bybit.rest.BybitClient` builds one and documents the options (same names);
    the transport checks them once here.

    Parameters
    ----------
    base_url : str
        ``https://host[:port]`` (``http://`` for loopback hosts only).
    credentials : Credentials or None
        What signs the private endpoints; None for public data only.
    timeout, recv_window_ms, max_retries, backoff_s, backoff_max_s, max_rate_limit_wait_s, ip_ban_s, \
max_ban_wait_s, ip_rate_limit, time_sync, time_sync_interval_s, verify, session
        See :class:`~ofi.venues.bybit.rest.BybitClient`.

    Raises
    ------
    InvalidInputError
        For an out-of-range option, ``verify=False`` or a non-https remote ``base_url``.
    """

    def __init__(
        self,
        base_url: str,
        credentials: Credentials | None,
        *,
        timeout: float | tuple[float, float],
        recv_window_ms: int,
        max_retries: int,
        backoff_s: float,
        backoff_max_s: float,
        max_rate_limit_wait_s: float,
        ip_ban_s: float,
        max_ban_wait_s: float,
        ip_rate_limit: tuple[int, float],
        time_sync: bool,
        time_sync_interval_s: float,
        verify: bool | str,
        session: requests.Session | None,
    ) -> None:
        # -- host
        self._base_url, netloc = _check_base_url(base_url)
        self._guard = _guard_for(netloc.lower())
        # -- TLS
        if verify is False or verify is None:
            raise InvalidInputError(
                "verify=False is refused: TLS verification protects your API key and orders; "
                "pass the path of a CA bundle (verify='/path/ca.pem') if your network needs one"
            )
        if verify is not True and not (isinstance(verify, str) and verify):
            raise InvalidInputError(f"verify must be True or the path of a CA bundle, got {verify!r}")
        self._verify: bool | str = verify
        self._creds = credentials
        # -- options
        if isinstance(timeout, tuple):
            if len(timeout) != 2:
                raise InvalidInputError(f"timeout must be seconds or a (connect, read) pair, got {timeout!r}")
            self._timeout: float | tuple[float, float] = (
                positive_float("timeout[0]", timeout[0]), positive_float("timeout[1]", timeout[1]))
        else:
            self._timeout = positive_float("timeout", timeout)
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
        self._ip_window = positive_float("ip_rate_limit[1]", ip_rate_limit[1])
        self._time_sync = bool(time_sync)
        # an infinite interval: sync before the first signed request only
        self._time_sync_interval = (time_sync_interval_s if isinstance(time_sync_interval_s, float)
                                    and time_sync_interval_s == math.inf
                                    else positive_float("time_sync_interval_s", time_sync_interval_s))
        # -- state
        self._session = session if session is not None else requests.Session()
        self._own_session = session is None
        self._lock = threading.Lock()
        self._offset_ns = 0
        self._synced_at: float | None = None  # time.monotonic() of the last sync
        self._limits: dict[str, RateLimitStatus] = {}
        self._rng = random.Random()

    # ------------------------------------------------------------------ state
    @property
    def base_url(self) -> str:
        """The host every request goes to, e.g. ``https://api.bybit.com``."""
        return self._base_url

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

    def close(self) -> None:
        """Close the HTTP session (when the transport created it)."""
        if self._own_session:
            self._session.close()

    # ------------------------------------------------------------------ time
    def _now_ms(self) -> int:
        """Local time corrected to server time, ms."""
        return (time.time_ns() + self._offset_ns) // 1_000_000

    def server_time(self) -> ServerTime:
        """``GET /v5/market/time``: the server's clock and its offset from ours.

        Raises
        ------
        ExchangeError
            On a failed request or a response without ``timeNano``/``timeSecond``.
        """
        reply = self._call("GET", _TIME_PATH, None, signed=False)
        return _server_time(reply.result, reply.time_ms, reply.sent_ns, reply.received_ns)

    def sync_time(self) -> float:
        """Measure the clock offset (server minus local), use it for signed timestamps and return it (ms)."""
        st = self.server_time()
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

    # ------------------------------------------------------------------ requests
    def get(self, path: str, params: Mapping[str, Any] | None = None, *, signed: bool = False) -> Any:
        """The ``result`` of ``GET path?params`` (the query signed when ``signed``)."""
        return self._call("GET", path, params, signed=signed).result

    def post(self, path: str, body: Mapping[str, Any]) -> Any:
        """The ``result`` of a signed ``POST path`` with the JSON ``body`` (``None`` values dropped)."""
        return self._call("POST", path, body, signed=True).result

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
                    verify=self._verify, allow_redirects=False, stream=True)
                try:
                    content, whole = _read_body(resp)
                finally:
                    resp.close()
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
            reply_or_retry = self._classify(resp, content, whole, method, path, endpoint, signed, sent, received)
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

    def _classify(self, resp: requests.Response, content: bytes, whole: bool, method: str, path: str,
                  endpoint: str, signed: bool, sent: int, received: int) -> _Reply | _Retry:
        """The reply, a retry to make, or a raised error, from one response and the body read of it."""
        status = resp.status_code
        h = resp.headers
        body = _text(content, resp.encoding)
        limit, remaining, reset = (_header_int(h, "X-Bapi-Limit"), _header_int(h, "X-Bapi-Limit-Status"),
                                   _header_int(h, "X-Bapi-Limit-Reset-Timestamp"))
        if remaining is not None:
            with self._lock:
                self._limits[path] = RateLimitStatus(limit, remaining, reset)
        if status == 403:
            ban = _retry_after(h)
            ban = self._ip_ban_s if ban is None else ban
            reason = body.strip()[:80] or "forbidden"
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
            err = ExchangeError(f"{endpoint}: HTTP {status} {_snippet(body, 60)}", status=status,
                                endpoint=path)
            if method == "GET":
                return _Retry(err)
            raise ExchangeError(f"{err}; a POST is not retried: check whether it was executed", status=status,
                                endpoint=path)
        if not whole:
            raise ExchangeError(f"{endpoint}: HTTP {status} with a body larger than {MAX_BODY_BYTES >> 20} MiB; "
                                f"not parsed", status=status, endpoint=path)
        try:
            data = json_loads(body)
        except JSONLimitError:
            raise ExchangeError(
                f"{endpoint}: HTTP {status} with a JSON body too deeply nested or too large to parse "
                f"({len(content)} bytes: {_snippet(body)})", status=status, endpoint=path) from None
        except ValueError:
            raise ExchangeError(
                f"{endpoint}: HTTP {status} with a body that is not JSON ({len(content)} bytes: "
                f"{_snippet(body)})", status=status, endpoint=path) from None
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
