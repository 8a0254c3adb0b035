"""Tests of ``ofi fetch SYMBOL`` against the local fake Bybit REST server (loopback only)."""
from __future__ import annotations

import re

import pytest

pytest.importorskip("ofi._core.book", reason="the compiled core is not built (python setup.py build_ext --inplace)")

from ofi.cli import build_parser, main  # noqa: E402
from fakes.http_server import FakeBybitRest  # noqa: E402


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for name in ("BYBIT_API_KEY", "BYBIT_API_SECRET", "BYBIT_TESTNET"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake():
    with FakeBybitRest() as f:
        yield f


def field(out: str, name: str) -> str:
    m = re.search(rf"^  {re.escape(name)}\s+(.*)$", out, re.M)
    assert m, f"no {name!r} line in:\n{out}"
    return m.group(1)


def num(text: str) -> float:
    return float(text.replace(",", ""))


def test_fetch_prints_book_and_trades(fake, capsys):
    assert main(["fetch", "BTCUSDT", "--base-url", fake.url, "--depth", "5", "--trades", "3"]) == 0
    out = capsys.readouterr().out
    book = fake.last_result("/v5/market/orderbook")
    trades = fake.last_result("/v5/market/recent-trade")["list"]
    assert out.startswith(f"ofi fetch: BTCUSDT linear from {fake.url}")
    assert field(out, "book").startswith(f"5 bids / 5 asks, update id {book['u']}")
    bid, bid_size = (num(x) for x in field(out, "best bid").split(" x "))
    ask, ask_size = (num(x) for x in field(out, "best ask").split(" x "))
    assert (bid, bid_size) == (float(book["b"][0][0]), float(book["b"][0][1]))
    assert (ask, ask_size) == (float(book["a"][0][0]), float(book["a"][0][1]))
    spread = field(out, "spread")
    assert num(spread.split()[0]) == pytest.approx(ask - bid)
    assert num(field(out, "mid")) == pytest.approx((bid + ask) / 2)
    rows = re.findall(r"^\s+([\d,.]+)\s+([\d,.]+) \| ([\d,.]+)\s+([\d,.]+)$", out, re.M)
    assert [(num(r[1]), num(r[0])) for r in rows] == [(float(p), float(s)) for p, s in book["b"]]
    assert [(num(r[2]), num(r[3])) for r in rows] == [(float(p), float(s)) for p, s in book["a"]]
    lines = re.findall(r"^    \S+ \S+  (BUY |SELL)\s+([\d,.]+) @ ([\d,.]+)$", out, re.M)
    assert len(lines) == 3
    # oldest first: the fake lists newest first
    assert [(s.strip(), num(q), num(p)) for s, q, p in lines] == [
        ("BUY" if t["side"] == "Buy" else "SELL", float(t["size"]), float(t["price"])) for t in reversed(trades)]


def test_fetch_without_trades(fake, capsys):
    assert main(["fetch", "ethusdt", "--base-url", fake.url, "--depth", "1", "--trades", "0"]) == 0
    out = capsys.readouterr().out
    assert "ETHUSDT linear" in out and "last" not in out
    assert fake.count("/v5/market/recent-trade") == 0


def test_fetch_errors(fake, capsys):
    assert main(["fetch", "X00USDT", "--base-url", fake.url]) == 1  # listed, but no book: Bybit's 10001
    assert "10001" in capsys.readouterr().err
    assert main(["fetch", "NOPEUSDT", "--base-url", fake.url]) == 2
    assert "not a linear instrument" in capsys.readouterr().err
    assert main(["fetch", "BTCUSDT", "--base-url", fake.url, "--depth", "5000"]) == 2
    assert "limit must be in [1, 1000]" in capsys.readouterr().err
    fake.fail_http(503, times=None)
    assert main(["fetch", "BTCUSDT", "--base-url", fake.url]) == 1
    assert "503" in capsys.readouterr().err


def test_fetch_arguments():
    args = build_parser().parse_args(["fetch", "BTCUSDT"])
    assert (args.category, args.depth, args.trades, args.base_url, args.testnet) == ("linear", 50, 20, None, False)
    args = build_parser().parse_args(["fetch", "BTC-29JUL22-25000-C", "--category", "option", "--testnet",
                                      "--depth", "25", "--trades", "0"])
    assert args.testnet and args.category == "option" and args.depth == 25 and args.trades == 0
    with pytest.raises(SystemExit):
        build_parser().parse_args(["fetch", "BTCUSDT", "--trades", "-1"])
