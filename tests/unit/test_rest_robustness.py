"""Regression tests of two REST robustness defects (issue 15), against the local fake Bybit server.

D4: a response body too deeply nested, too large to parse or larger than the client reads escaped as
    RecursionError / MemoryError; it is an ExchangeError like any other body that is not a V5 envelope.
D6: the raw API secret sat in a local of the client's constructor (and of the signing helpers) until it
    was wrapped, so a traceback that shows locals (rich, ``pytest --showlocals``) printed it.
"""
from __future__ import annotations

import contextlib
import gzip
import json
import socket
import threading
import traceback
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

pytest.importorskip("ofi._core.book", reason="the compiled core is not built (python setup.py build_ext --inplace)")

import ofi  # noqa: E402
from ofi.errors import ExchangeError, InvalidInputError  # noqa: E402
from ofi.spec import InstrumentSpec  # noqa: E402
from ofi.venues.bybit.rest import BybitClient, transport  # noqa: E402
from ofi.venues.bybit.signing import Credentials, sign  # noqa: E402
from fakes.http_server import FAKE_API_KEY, FAKE_API_SECRET, FakeBybitRest  # noqa: E402

TIME = "/v5/market/time"
CREATE = "/v5/order/create"
BTC_SPEC = InstrumentSpec("BTCUSDT", "0.1", "0.001", "0.001")
MAX_BODY = 16 * 1024 * 1024  # transport.MAX_BODY_BYTES, written out


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for name in ("BYBIT_API_KEY", "BYBIT_API_SECRET", "BYBIT_TESTNET"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake():
    f = FakeBybitRest(book_advance=0).start()
    netloc = urlsplit(f.url).netloc.lower()
    try:
        yield f
    finally:
        f.stop()
        with transport._GUARDS_LOCK:
            transport._GUARDS.pop(netloc, None)


def client_for(fake: FakeBybitRest, **kw) -> BybitClient:
    opts = dict(base_url=fake.url, api_key=FAKE_API_KEY, api_secret=FAKE_API_SECRET, time_sync=False, max_retries=2,
                backoff_s=0.0)
    return BybitClient(**{**opts, **kw})


def envelope(result: dict) -> bytes:
    return json.dumps({"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": 1},
                      separators=(",", ":")).encode()


# --------------------------------------------------------------------------- D4: bodies the client cannot hold
# The fake parses a payload that starts with "{" itself (to count retCodes): those bodies start with a space.
NESTED = {
    "array": b"[" * 100_000,
    "object": b" " + b'{"a":' * 100_000,
    "closed array": b"[" * 100_000 + b"]" * 100_000,
    "in the result": b' {"retCode":0,"retMsg":"OK","result":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
}


@pytest.mark.parametrize("name", list(NESTED))
def test_d4_a_deeply_nested_body_is_an_exchange_error(fake, name):
    # D4: json raised RecursionError, which escaped the client instead of an OfiError
    c = client_for(fake)
    body = NESTED[name]
    fake.respond(200, body, path=TIME)
    with pytest.raises(ExchangeError) as e:
        c.get_server_time()
    assert type(e.value) is ExchangeError and (e.value.status, e.value.endpoint) == (200, TIME)
    assert str(e.value).startswith(f"GET {TIME}: HTTP 200 with a JSON body too deeply nested or too large "
                                   f"to parse ({len(body)} bytes: ")
    assert e.value.__cause__ is None and fake.count(TIME) == 1  # not retried
    fake.respond(200, body, path=CREATE)
    with pytest.raises(ExchangeError) as e2:
        c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", spec=BTC_SPEC)
    assert str(e2.value).startswith(f"POST {CREATE}: HTTP 200 with a JSON body too deeply nested")
    assert c.get_server_time().time_ns > 0  # the client goes on working


def test_d4_a_memory_error_while_parsing_is_an_exchange_error(fake, monkeypatch):
    # D4: a huge body exhausting memory in the JSON parser escaped as MemoryError
    real_loads = json.loads

    def loads(s, *args, **kwargs):
        if len(s) > 1_000_000:
            raise MemoryError
        return real_loads(s, *args, **kwargs)

    monkeypatch.setattr(json, "loads", loads)
    c = client_for(fake)
    body = b" " + envelope({"timeNano": "1700000000000000000", "pad": "x" * 2_000_000})
    fake.respond(200, body, path=TIME)
    with pytest.raises(ExchangeError) as e:
        c.get_server_time()
    assert (e.value.status, e.value.endpoint) == (200, TIME)
    assert str(e.value).startswith(f"GET {TIME}: HTTP 200 with a JSON body too deeply nested or too large "
                                   f"to parse ({len(body)} bytes: ")


def test_d4_a_body_larger_than_the_client_reads_is_refused(fake):
    # D4: the whole body was read into memory, however large: a huge one ended in MemoryError
    c = client_for(fake)
    pad = MAX_BODY - len(envelope({"timeNano": "1700000000000000000", "pad": ""})) + 1
    body = envelope({"timeNano": "1700000000000000000", "pad": "x" * pad})
    assert len(body) == MAX_BODY + 1
    fake.respond(200, body, path=TIME)
    with pytest.raises(ExchangeError) as e:
        c.get_server_time()
    assert type(e.value) is ExchangeError and (e.value.status, e.value.endpoint) == (200, TIME)
    assert str(e.value) == f"GET {TIME}: HTTP 200 with a body larger than 16 MiB; not parsed"
    assert fake.count(TIME) == 1
    # exactly at the limit it is read and parsed
    at_limit = body.replace(b'"x', b'"', 1)
    assert len(at_limit) == MAX_BODY
    fake.respond(200, at_limit, path=TIME)
    assert c.get_server_time().time_ns == 1_700_000_000_000_000_000


def test_d4_a_compressed_body_is_bounded_after_decompression(fake):
    # D4: a small gzip body that inflates past the limit (Content-Length does not tell) is cut off while read
    c = client_for(fake)
    body = envelope({"timeNano": "1700000000000000000", "pad": "x" * (MAX_BODY + 10)})
    packed = gzip.compress(body)
    assert len(packed) < 100_000
    fake.respond(200, packed, path=TIME, headers={"Content-Encoding": "gzip"})
    with pytest.raises(ExchangeError) as e:
        c.get_server_time()
    assert str(e.value) == f"GET {TIME}: HTTP 200 with a body larger than 16 MiB; not parsed"
    small = gzip.compress(envelope({"timeNano": "1700000000000000001"}))
    fake.respond(200, small, path=TIME, headers={"Content-Encoding": "gzip"})
    assert c.get_server_time().time_ns == 1_700_000_000_000_000_001


def test_d4_the_limit_is_the_documented_one():
    assert transport.MAX_BODY_BYTES == MAX_BODY


@contextlib.contextmanager
def _stalling_server(answer: bytes):
    """A loopback server that sends ``answer`` to the first request and then neither sends nor closes:
    a client that reads on waits for its read timeout."""
    srv = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.recv(65536)
            with contextlib.suppress(OSError):  # the client hangs up mid-body
                conn.sendall(answer)
            done.wait(5.0)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    netloc = f"127.0.0.1:{srv.getsockname()[1]}"
    try:
        yield f"http://{netloc}"
    finally:
        done.set()
        t.join(5.0)
        srv.close()
        with transport._GUARDS_LOCK:
            transport._GUARDS.pop(netloc, None)


@pytest.mark.parametrize("status, message", [
    (200, "HTTP 200 with a body larger than 16 MiB; not parsed"),
    (503, "HTTP 503 '' (gave up after 1 attempts)"),
])
def test_d4_a_declared_length_over_the_limit_is_refused_before_reading(status, message):
    head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: 100000000000\r\n\r\n"
    with _stalling_server(head.encode()) as url:
        # reading the announced body would end in a read timeout (a TransportError) instead
        c = BybitClient(base_url=url, timeout=3.0, max_retries=0)
        with pytest.raises(ExchangeError) as e:
            c.get_server_time()
        assert type(e.value) is ExchangeError and str(e.value) == f"GET {TIME}: {message}"


def test_d4_an_undeclared_length_is_read_up_to_the_limit_only():
    # no Content-Length: the body runs until the server closes, which it does not; the client stops reading
    # once past the limit instead of waiting for the end (a read timeout) with everything in memory
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + b"[" + b"0," * (MAX_BODY // 2 + 65_536)
    with _stalling_server(answer) as url:
        c = BybitClient(base_url=url, timeout=3.0, max_retries=0)
        with pytest.raises(ExchangeError) as e:
            c.get_server_time()
        assert type(e.value) is ExchangeError
        assert str(e.value) == f"GET {TIME}: HTTP 200 with a body larger than 16 MiB; not parsed"


class InMemorySession(requests.Session):
    """Answers with responses built in memory (as a caching session does): no stream behind them."""

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.body = body

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        r = requests.Response()
        r.status_code, r.encoding, r._content = 200, "utf-8", self.body
        return r


def test_d4_a_response_built_in_memory_is_bounded_too():
    at_limit = envelope({"timeNano": "1700000000000000002", "pad": ""})
    at_limit = at_limit.replace(b'"pad":"', b'"pad":"' + b"x" * (MAX_BODY - len(at_limit)))
    assert len(at_limit) == MAX_BODY
    c = BybitClient(base_url="http://127.0.0.1:9", session=InMemorySession(at_limit))
    assert c.get_server_time().time_ns == 1_700_000_000_000_000_002
    over = BybitClient(base_url="http://127.0.0.1:9", session=InMemorySession(at_limit + b" "))
    with pytest.raises(ExchangeError, match=r"with a body larger than 16 MiB; not parsed$"):
        over.get_server_time()
    with transport._GUARDS_LOCK:
        transport._GUARDS.pop("127.0.0.1:9", None)


def test_bodies_are_decoded_with_their_declared_charset(fake):
    # as requests' Response.text: application/json is UTF-8, text/* without a charset ISO-8859-1
    c = client_for(fake, max_retries=0)
    fake.respond(503, "café".encode("latin-1"), path=TIME, headers={"Content-Type": "text/html"})
    with pytest.raises(ExchangeError) as e:
        c.get_server_time()
    assert str(e.value) == f"GET {TIME}: HTTP 503 'café' (gave up after 1 attempts)"
    fake.respond(200, b"caf\xc3\xa9 \xff", path=TIME)
    with pytest.raises(ExchangeError) as e2:
        c.get_server_time()
    assert str(e2.value) == f"GET {TIME}: HTTP 200 with a body that is not JSON (7 bytes: 'café \ufffd')"
    fake.respond(200, b"caf\xc3\xa9", path=TIME, headers={"Content-Type": "application/octet-stream"})
    with pytest.raises(ExchangeError) as e3:
        c.get_server_time()
    assert str(e3.value) == f"GET {TIME}: HTTP 200 with a body that is not JSON (5 bytes: 'café')"


def test_an_unknown_charset_is_read_as_utf8(fake):
    c = client_for(fake)
    fake.respond(200, envelope({"timeNano": "1700000000000000003"}), path=TIME,
                 headers={"Content-Type": "application/json; charset=no-such-codec"})
    assert c.get_server_time().time_ns == 1_700_000_000_000_000_003
    fake.respond(200, b"\xff\xfe not json", path=TIME,
                 headers={"Content-Type": "application/json; charset=no-such-codec"})
    with pytest.raises(ExchangeError) as e:
        c.get_server_time()
    assert str(e.value) == f"GET {TIME}: HTTP 200 with a body that is not JSON (11 bytes: '\ufffd\ufffd not json')"


# --------------------------------------------------------------------------- D6: the secret in tracebacks
SECRET = "Zq7SecretTextNobodyMaySee42"


OFI = str(Path(ofi.__file__).parent)


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception as exc:  # noqa: BLE001 - a local's repr may fail; it then shows nothing
        return f"<repr failed: {exc!r}>"


def _assert_hidden(call) -> Exception:
    """Call ``call``, which must raise, and check the secret is in no local of ofi's frames of the traceback,
    neither as the locals are (repr, and the attributes of objects) nor as a traceback with locals prints them."""
    with pytest.raises(Exception) as e:
        call()
    tb = e.value.__traceback__
    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith(OFI):
        tb = tb.tb_next  # the test's own frames (its lambdas hold the secret as a closure) are not looked at
    assert tb is not None, "the error was not raised inside ofi"
    frames = 0
    for frame, _ in traceback.walk_tb(tb):
        frames += 1
        for name, value in frame.f_locals.items():
            for text in (_safe_repr(value), _safe_repr(getattr(value, "__dict__", None))):
                assert SECRET not in text, f"{frame.f_code.co_qualname}: local {name!r}"
    printed = "".join(traceback.StackSummary.extract(traceback.walk_tb(tb), capture_locals=True).format())
    assert printed.count(", line ") == frames and SECRET not in printed
    assert SECRET not in "".join(traceback.format_exception_only(e.value))
    return e.value


@pytest.mark.parametrize("kw", [
    {"timeout": -1},                          # an option checked after the credentials
    {"ip_rate_limit": (600, 0)},
    {"base_url": "ftp://api.bybit.com"},      # an option checked before them
    {"verify": False},
    {"api_key": "a b"},                       # the key itself
    {"api_key": None},                        # a secret without a key
])
def test_d6_a_failing_constructor_shows_no_secret(kw):
    # D6: BybitClient.__init__ held the raw secret in its `api_secret` local while it checked the rest
    args = {"api_key": FAKE_API_KEY, "api_secret": SECRET, **kw}
    err = _assert_hidden(lambda: BybitClient(**args))
    assert isinstance(err, InvalidInputError)


def test_d6_secrets_from_the_environment_show_in_no_traceback(monkeypatch):
    # D6: Credentials.from_env held the secret (and os.environ) in its locals when the key was missing or bad
    monkeypatch.setenv("BYBIT_API_SECRET", SECRET)
    err = _assert_hidden(lambda: BybitClient())
    assert str(err) == "BYBIT_API_KEY is not set while its partner is; set both or neither"
    _assert_hidden(lambda: Credentials.from_env())
    monkeypatch.setenv("BYBIT_API_KEY", "not a key")
    _assert_hidden(lambda: BybitClient(timeout=1.0))
    monkeypatch.setenv("BYBIT_API_KEY", FAKE_API_KEY)
    _assert_hidden(lambda: BybitClient(timeout=0))


def test_d6_the_signing_helpers_show_no_secret():
    # D6: Credentials(...) checked the key, and sign(...) built the payload, with the raw secret in a local
    _assert_hidden(lambda: Credentials("a b", SECRET))
    _assert_hidden(lambda: Credentials(None, SECRET))  # type: ignore[arg-type]
    _assert_hidden(lambda: sign(SECRET, "not a timestamp", FAKE_API_KEY, 5000, ""))  # type: ignore[arg-type]


def test_a_half_built_client_and_credentials_have_a_repr():
    # a traceback that shows locals prints `self` of the constructor that raised: its repr must not fail
    with pytest.raises(InvalidInputError) as e:
        BybitClient(api_key=FAKE_API_KEY, api_secret=SECRET, verify=False)
    selves = [f.f_locals["self"] for f, _ in traceback.walk_tb(e.value.__traceback__) if "self" in f.f_locals]
    assert [repr(s) for s in selves if isinstance(s, BybitClient)] == ["BybitClient(<not set up>)"]
    with pytest.raises(InvalidInputError) as e2:
        Credentials("a b", SECRET)
    selves = [f.f_locals["self"] for f, _ in traceback.walk_tb(e2.value.__traceback__) if "self" in f.f_locals]
    assert [repr(s) for s in selves] == ["Credentials(<not set>)"]


def test_d6_a_failing_request_shows_no_secret(fake):
    c = client_for(fake, timeout=2.0)
    fake.fail_ret_code(10001, path=CREATE)
    err = _assert_hidden(lambda: c.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", spec=BTC_SPEC))
    assert isinstance(err, ExchangeError)
    c2 = BybitClient(base_url=fake.url, api_key=FAKE_API_KEY, api_secret=SECRET, time_sync=False)
    _assert_hidden(lambda: c2.place_order("BTCUSDT", "Buy", "Limit", "0.001", "60000", spec=BTC_SPEC))
