"""Tests of ``ofi record`` against the fake Bybit websocket server."""
from __future__ import annotations

import re
import time

import pytest

pytest.importorskip("ofi._core.book", reason="the compiled core is not built (python setup.py build_ext --inplace)")
pytest.importorskip("websocket", reason="websocket-client is not installed")
pytest.importorskip("websockets", reason="websockets is not installed")

from fakes.ws_server import FakeBybitWs  # noqa: E402

from ofi.api.events import BookUpdate, Subscribed, TradeEvent  # noqa: E402
from ofi.api.stream import BybitStream, replay_recording  # noqa: E402
from ofi.cli import build_parser, main  # noqa: E402
from ofi.data.recording import read_recording  # noqa: E402
from ofi.errors import InvalidInputError  # noqa: E402


def test_parser():
    args = build_parser().parse_args(["record", "BTCUSDT", "ETHUSDT", "--out", "d"])
    assert (args.symbols, args.out, args.category, args.depth, args.seconds, args.ws_url, args.testnet) == (
        ["BTCUSDT", "ETHUSDT"], "d", "linear", 50, None, None, False)
    args = build_parser().parse_args(["record", "X", "--out", "d", "--category", "spot", "--depth", "200",
                                      "--seconds", "2.5", "--ws-url", "ws://h/p", "--testnet"])
    assert (args.category, args.depth, args.seconds, args.ws_url, args.testnet) == ("spot", 200, 2.5, "ws://h/p", True)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["record", "X"])  # --out is required
    with pytest.raises(SystemExit):
        build_parser().parse_args(["record", "--out", "d"])  # a symbol is required


def test_record_against_the_fake_server(tmp_path, capsys):
    with FakeBybitWs(["BTCUSDT", "ETHUSDT"], depth=50, rate=600, seed=4) as server:
        rc = main(["record", "BTCUSDT", "ETHUSDT", "--out", str(tmp_path), "--seconds", "1.5",
                   "--ws-url", server.url])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "orderbook.50.BTCUSDT, publicTrade.BTCUSDT, orderbook.50.ETHUSDT, publicTrade.ETHUSDT" in err
    n = int(re.search(r"frames recorded ([\d,]+)", out).group(1).replace(",", ""))
    assert n > 300
    assert re.search(r"gaps\s+0 ", out) and re.search(r"errors\s+0", out)
    # one file per symbol and hour (+ control frames), and the recording replays
    assert {p.parent.parent.name for p in tmp_path.rglob("*.jsonl.gz")} == {"BTCUSDT", "ETHUSDT", "_control"}
    assert len(list(read_recording(tmp_path))) == n
    ticks = {"BTCUSDT": "0.1", "ETHUSDT": "0.1"}
    events = list(replay_recording(tmp_path, tick_sizes=ticks))
    assert sum(isinstance(e, BookUpdate) for e in events) > 100
    assert sum(isinstance(e, TradeEvent) for e in events) > 10
    # and the recording can be served again: a live stream of it sees the same book updates
    replayed = [(e.topic, e.update_id) for e in events if isinstance(e, BookUpdate)]
    server = FakeBybitWs.from_recording(tmp_path, rate=2000)
    server.pause()
    with server, BybitStream(["BTCUSDT", "ETHUSDT"], ws_url=server.url, tick_sizes=ticks) as stream:
        got, subscribed = [], set()
        deadline = time.monotonic() + 10
        while len(subscribed) < 4 and time.monotonic() < deadline:
            ev = stream.next_event(0.1)
            if isinstance(ev, Subscribed):
                subscribed.update(ev.topics)
        server.resume()
        while len(got) < len(replayed) and time.monotonic() < deadline:
            ev = stream.next_event(0.1)
            if isinstance(ev, BookUpdate):
                got.append((ev.topic, ev.update_id))
    assert got == replayed


def test_record_bad_arguments(tmp_path, capsys):
    assert main(["record", "BTCUSDT", "--out", str(tmp_path), "--depth", "500"]) == 2
    assert "depth 500" in capsys.readouterr().err
    assert main(["record", "BTC USDT", "--out", str(tmp_path)]) == 2
    assert main(["record", "BTCUSDT", "--out", str(tmp_path), "--ws-url", "http://x"]) == 2


def test_record_nothing_received_is_an_error(tmp_path, capsys):
    # a port nobody listens on: the recorder retries, records nothing, and says so
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    rc = main(["record", "BTCUSDT", "--out", str(tmp_path), "--seconds", "0.5",
               "--ws-url", f"ws://127.0.0.1:{port}/v5/public/linear"])
    out, err = capsys.readouterr()
    assert rc == 1
    assert "nothing was received" in err and "reconnecting" in err


def test_record_testnet_url(monkeypatch, tmp_path, capsys):
    import ofi.api.stream as stream_mod

    seen = {}

    class Fake:
        def __init__(self, symbols, **kw):
            seen.update(kw, symbols=symbols)
            raise InvalidInputError("stop here")

    monkeypatch.setattr(stream_mod, "BybitStream", Fake)
    assert main(["record", "BTCUSDT", "--out", str(tmp_path), "--testnet", "--category", "spot", "--depth", "1"]) == 2
    assert seen["testnet"] is True and seen["category"] == "spot" and seen["depth"] == 1
    assert seen["record_to"] == str(tmp_path) and seen["ws_url"] is None
    assert stream_mod.stream_url("spot", testnet=True) == "wss://stream-testnet.bybit.com/v5/public/spot"
