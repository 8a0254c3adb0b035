"""Historical loaders (Bybit public archives, Tardis CSV) and the download helper.

Every file is written here, in the archive's format, with hand-derived expected tape rows; the
download tests use a local HTTP server on 127.0.0.1 and never touch the internet.
"""
import gzip
import http.server
import json
import threading
import zipfile
from datetime import date, datetime
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import requests

from ofi import OrderBook
import ofi.data.files as files
from ofi.data.archives import (bybit_orderbook_url, bybit_trades_url, download, iter_bybit_orderbook,
                               iter_bybit_trades, iter_tardis_book, iter_tardis_trades, load_bybit_orderbook,
                               load_bybit_trades, load_tardis_book, load_tardis_trades, save_tape_chunks)
from ofi.data.tape import (FLAG_BEGIN, FLAG_END, FLAG_RPI, FLAG_SNAPSHOT, KIND_BOOK, KIND_TRADE, TAPE_DTYPE,
                           frames_to_tape, load_tape, replay_tape)
from ofi.errors import ExchangeError, InvalidInputError, OfiError

B, E, S = FLAG_BEGIN, FLAG_END, FLAG_SNAPSHOT
NS = 1_000_000_000


def write(path, text, *, gz=False):
    path = Path(path)
    if gz:
        with gzip.open(path, "wt", newline="") as fh:
            fh.write(text)
    else:
        path.write_text(text, newline="")
    return path


def final_book(tape, tick):
    book = OrderBook("TEST", tick)
    replay_tape(tape, book=book)
    return ([tuple(x) for x in book.bids()], [tuple(x) for x in book.asks()])


# ---- URLs ----------------------------------------------------------------------------------------

def test_trades_url():
    assert (bybit_trades_url("BTCUSDT", "2024-12-01")
            == "https://public.bybit.com/trading/BTCUSDT/BTCUSDT2024-12-01.csv.gz")
    assert (bybit_trades_url("BTCUSD", date(2020, 3, 26), category="inverse")
            == "https://public.bybit.com/trading/BTCUSD/BTCUSD2020-03-26.csv.gz")
    assert (bybit_trades_url("BTCUSDT", datetime(2025, 5, 19, 13, 0), category="spot", base_url="http://h:1/")
            == "http://h:1/spot/BTCUSDT/BTCUSDT_2025-05-19.csv.gz")


def test_orderbook_url():
    assert (bybit_orderbook_url("XRPUSDT", date(2024, 12, 1), depth=500)
            == "https://quote-saver.bycsi.com/orderbook/linear/XRPUSDT/2024-12-01_XRPUSDT_ob500.data.zip")
    assert (bybit_orderbook_url("BTCUSDT", "2025-05-01", category="spot")
            == "https://quote-saver.bycsi.com/orderbook/spot/BTCUSDT/2025-05-01_BTCUSDT_ob200.data.zip")


@pytest.mark.parametrize("kwargs", [
    dict(symbol="btcusdt", date="2024-12-01"), dict(symbol="BTC/USDT", date="2024-12-01"),
    dict(symbol="BTCUSDT", date="2024-13-01"), dict(symbol="BTCUSDT", date="20241201"),
    dict(symbol="BTCUSDT", date=20241201), dict(symbol="BTCUSDT", date="2024-12-01", category="option"),
])
def test_url_arguments_are_checked(kwargs):
    with pytest.raises(InvalidInputError):
        bybit_trades_url(**kwargs)


@pytest.mark.parametrize("depth", [0, -1, 2.5, True, "200"])
def test_orderbook_url_depth_is_checked(depth):
    with pytest.raises(InvalidInputError, match="depth"):
        bybit_orderbook_url("BTCUSDT", "2024-12-01", depth=depth)


# ---- Bybit trades --------------------------------------------------------------------------------

HEADER = "timestamp,symbol,side,size,price,tickDirection,trdMatchID,grossValue,homeNotional,foreignNotional\n"
# Newest-first, as Bybit's 2020 files are; the last two rows share a time (two fills of one match).
NEWEST_FIRST = (
    "1585180700.9,BTCUSD,Sell,250,6699,MinusTick,id-4,3.73e+06,0.0373,250\n"
    "1585180700.0647,BTCUSD,Buy,1000,6698.5,PlusTick,id-3,1.49e+07,0.149,1000\n"
    "1585180700.0647,BTCUSD,Buy,7,6698,ZeroMinusTick,id-2,1.04e+05,0.00104,7\n"
    "1585180700,BTCUSD,Sell,3,6697.5,MinusTick,id-1,4.48e+04,0.000448,3\n"
)


def test_bybit_trades_rows_are_hand_checked(tmp_path):
    p = write(tmp_path / "BTCUSD2020-03-26.csv.gz", HEADER + NEWEST_FIRST, gz=True)
    tape, ids = load_bybit_trades(p, "0.5", return_ids=True)
    assert tape.dtype == TAPE_DTYPE
    # Reversed to time order: same-time fills get their execution order back (id-2 before id-3).
    assert list(ids) == ["id-1", "id-2", "id-3", "id-4"]
    assert tape.flags.c_contiguous and ids.flags.c_contiguous
    # Exact decimal -> ns: float(1585180700.0647) * 1e9 would give ...064699888.
    assert list(tape["ts_exch"]) == [1585180700 * NS, 1585180700_064700000, 1585180700_064700000,
                                     1585180700_900000000]
    assert list(tape["ts_local"]) == list(tape["ts_exch"])
    assert list(tape["price_ticks"]) == [13395, 13396, 13397, 13398]
    assert list(tape["size"]) == [3.0, 7.0, 1000.0, 250.0]
    assert list(tape["side"]) == [-1, 1, 1, -1]
    assert set(tape["kind"]) == {KIND_TRADE} and set(tape["flags"]) == {B | E}
    assert set(tape["update_id"]) == {-1} and set(tape["seq"]) == {-1}


def test_bybit_trades_file_order_and_stable_sort(tmp_path):
    p = write(tmp_path / "t.csv", HEADER + NEWEST_FIRST)            # plain text works too
    raw = load_bybit_trades(p, "0.5", sort=False)
    assert list(raw["price_ticks"]) == [13398, 13397, 13396, 13395]
    mixed = HEADER + "".join(NEWEST_FIRST.splitlines(True)[i] for i in (1, 0, 3, 2))
    p2 = write(tmp_path / "m.csv", mixed)
    tape, ids = load_bybit_trades(p2, "0.5", return_ids=True)
    assert list(ids) == ["id-1", "id-3", "id-2", "id-4"]   # stable: file order among equal times
    ascending = load_bybit_trades(write(tmp_path / "a.csv", HEADER + "".join(reversed(NEWEST_FIRST.splitlines(True)))),
                                  "0.5")
    assert list(ascending["price_ticks"]) == [13395, 13396, 13397, 13398]


def test_bybit_trades_chunks_and_progress(tmp_path):
    p = write(tmp_path / "t.csv.gz", HEADER + NEWEST_FIRST, gz=True)
    calls = []
    chunks = list(iter_bybit_trades(p, "0.5", chunk_rows=3, progress=lambda d, t: calls.append((d, t))))
    assert [len(c) for c in chunks] == [3, 1]
    assert np.array_equal(np.concatenate(chunks), load_bybit_trades(p, "0.5", sort=False))
    size = p.stat().st_size
    assert calls[-1] == (size, size) and len(calls) == 2


def test_bybit_spot_trades_format(tmp_path):
    text = ("id,timestamp,price,volume,side,rpi\n"
            "1,1747612800074,106453.8,0.003718,sell,0\n"
            "2,1747612800150,106456.9,0.000500,buy,1\n")
    tape, ids = load_bybit_trades(write(tmp_path / "BTCUSDT_2025-05-19.csv.gz", text, gz=True), "0.1",
                                  return_ids=True)
    assert list(tape["ts_exch"]) == [1747612800074_000000, 1747612800150_000000]
    assert list(tape["price_ticks"]) == [1064538, 1064569]
    assert list(tape["size"]) == [0.003718, 0.0005]
    assert list(tape["side"]) == [-1, 1]
    assert list(tape["flags"]) == [B | E, B | E | FLAG_RPI]
    assert list(ids) == ["1", "2"]


@pytest.mark.parametrize("row, where, what", [
    ("1585180701.1,BTCUSD,Buy,1,6698.3,x,i,0,0,0", "column 'price'", "not a multiple of tick_size 0.5"),
    ("1585180701.1,BTCUSD,Buy,1,abc,x,i,0,0,0", "column 'price'", "not a decimal price"),
    ("1585180701.1,BTCUSD,Buy,1,-5,x,i,0,0,0", "column 'price'", "positive"),
    ("1585180701.1,BTCUSD,Buy,0,6698,x,i,0,0,0", "column 'size'", "> 0"),
    ("1585180701.1,BTCUSD,Buy,nan,6698,x,i,0,0,0", "column 'size'", "> 0"),
    ("1585180701.1,BTCUSD,Buy,one,6698,x,i,0,0,0", "column 'size'", "not a number"),
    ("1585180701.1,BTCUSD,buy,1,6698,x,i,0,0,0", "column 'side'", "expected one of"),
    ("1585180701.1234567891,BTCUSD,Buy,1,6698,x,i,0,0,0", "column 'timestamp'", "9 decimals"),
    ("yesterday,BTCUSD,Buy,1,6698,x,i,0,0,0", "column 'timestamp'", "not a decimal"),
    ("1585180701.1,ETHUSD,Buy,1,6698,x,i,0,0,0", "column 'symbol'", "'ETHUSD' is not 'BTCUSD'"),
    ("1585180701.1,BTCUSD,Buy,1,6698", "", "5 fields, the header has 10"),
])
def test_bybit_trades_errors_name_file_line_and_column(tmp_path, row, where, what):
    # line 1 header, line 2 a good row, line 3 blank (skipped, still counted), line 4 the bad row
    p = write(tmp_path / "bad.csv.gz", HEADER + "1585180700.5,BTCUSD,Buy,1,6698,x,i,0,0,0\n\n" + row + "\n", gz=True)
    with pytest.raises(InvalidInputError) as info:
        load_bybit_trades(p, "0.5")
    msg = str(info.value)
    assert f"{p}, line 4" in msg and where in msg and what in msg


def test_bybit_trades_symbol_argument(tmp_path):
    p = write(tmp_path / "t.csv", HEADER + NEWEST_FIRST)
    assert len(load_bybit_trades(p, "0.5", symbol="BTCUSD")) == 4
    with pytest.raises(InvalidInputError, match="line 2, column 'symbol'"):
        load_bybit_trades(p, "0.5", symbol="BTCUSDT")


@pytest.mark.parametrize("text, match", [
    ("", "empty file"),
    ("timestamp,symbol,side,size\n1,BTCUSD,Buy,1\n", "not a Bybit trades header"),
    ("a,b,c\n", "not a Bybit trades header"),
])
def test_bybit_trades_bad_headers(tmp_path, text, match):
    with pytest.raises(InvalidInputError, match=match):
        load_bybit_trades(write(tmp_path / "h.csv", text), "0.5")


def test_bybit_trades_header_only_gives_empty_tape(tmp_path):
    tape = load_bybit_trades(write(tmp_path / "h.csv", HEADER), "0.5")
    assert tape.dtype == TAPE_DTYPE and len(tape) == 0


def test_corrupt_gzip_is_an_input_error(tmp_path):
    data = gzip.compress((HEADER + NEWEST_FIRST * 50).encode())
    p = tmp_path / "cut.csv.gz"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidInputError, match="truncated or corrupt"):
        load_bybit_trades(p, "0.5")


# ---- Bybit order-book archives -------------------------------------------------------------------

def ob(kind, u, b=(), a=(), ts=1_733_011_200_000, symbol="XRPUSDT"):
    return json.dumps({"topic": f"orderbook.500.{symbol}", "type": kind, "ts": ts,
                       "data": {"s": symbol, "b": [list(x) for x in b], "a": [list(x) for x in a], "u": u,
                                "seq": 1000 + u}, "cts": ts - 2}, separators=(",", ":"))


LINES = [
    ob("snapshot", 10, b=[("1.9531", "100"), ("1.9530", "200")], a=[("1.9535", "50"), ("1.9536", "60")]),
    ob("delta", 11, b=[("1.9531", "0"), ("1.9532", "5")], a=[("1.9536", "61.5")], ts=1_733_011_200_100),
    ob("delta", 12, a=[("1.9535", "0"), ("1.9534", "7")], ts=1_733_011_200_200),
]


def make_zip(path, lines, name="2024-12-01_XRPUSDT_ob500.data", extra=None):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, "\n".join(lines) + "\n")
        if extra:
            z.writestr(extra, "x")
    return path


def test_orderbook_zip_equals_the_decoder_tape(tmp_path):
    p = make_zip(tmp_path / "2024-12-01_XRPUSDT_ob500.data.zip", LINES)
    tape = load_bybit_orderbook(p, "0.0001", symbol="XRPUSDT")
    ref = frames_to_tape(LINES, "0.0001")
    ref["ts_local"] = ref["ts_exch"]
    assert np.array_equal(tape, ref)
    assert list(tape["flags"][:4]) == [S | B, S, S, S | E]
    assert list(tape["update_id"]) == [10] * 4 + [11] * 3 + [12] * 2
    assert tape["ts_local"][4] == 1_733_011_200_100 * 1_000_000
    assert final_book(tape, "0.0001") == ([(1.9532, 5.0), (1.953, 200.0)], [(1.9534, 7.0), (1.9536, 61.5)])


def test_orderbook_plain_and_gzip_data_files_and_chunks(tmp_path):
    zipped = load_bybit_orderbook(make_zip(tmp_path / "a.zip", LINES), "0.0001")
    plain = write(tmp_path / "a.data", "\n".join(LINES) + "\n")
    gz = write(tmp_path / "a.data.gz", "\r\n".join(LINES), gz=True)
    assert np.array_equal(load_bybit_orderbook(plain, "0.0001"), zipped)
    assert np.array_equal(load_bybit_orderbook(gz, "0.0001"), zipped)
    chunks = list(iter_bybit_orderbook(plain, "0.0001", chunk_lines=1))
    assert [len(c) for c in chunks] == [4, 3, 2]
    assert all(c["flags"][0] & B and c["flags"][-1] & E for c in chunks)


def test_orderbook_errors_name_the_line(tmp_path):
    bad = LINES[:1] + ["", ob("delta", 11, b=[("1.95315", "1")])]
    with pytest.raises(InvalidInputError, match=r"ob\.data\], line 3: .*multiple of tick_size"):
        load_bybit_orderbook(make_zip(tmp_path / "b.zip", bad, name="ob.data"), "0.0001")
    with pytest.raises(InvalidInputError, match=r"c\.data, line 1: .*'XRPUSDT' is not 'BTCUSDT'"):
        load_bybit_orderbook(write(tmp_path / "c.data", "\n".join(LINES)), "0.0001", symbol="BTCUSDT")
    with pytest.raises(InvalidInputError, match=r"line 2: "):
        load_bybit_orderbook(write(tmp_path / "d.data", LINES[0] + "\n{not json\n"), "0.0001", chunk_lines=1)


def test_orderbook_zip_members(tmp_path):
    p = make_zip(tmp_path / "two.zip", LINES, name="x.data", extra="y.data")
    with pytest.raises(InvalidInputError, match="member="):
        load_bybit_orderbook(p, "0.0001")
    assert len(load_bybit_orderbook(p, "0.0001", member="x.data")) == 9
    with pytest.raises(InvalidInputError, match="no member"):
        load_bybit_orderbook(p, "0.0001", member="z.data")
    # one .data member beside other files is picked
    q = make_zip(tmp_path / "readme.zip", LINES, name="x.data", extra="README.txt")
    assert len(load_bybit_orderbook(q, "0.0001")) == 9


def test_orderbook_truncated_or_damaged_zip(tmp_path):
    data = make_zip(tmp_path / "full.zip", LINES * 200).read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(data[:-100])                      # central directory lost
    with pytest.raises(InvalidInputError, match="not a readable zip"):
        load_bybit_orderbook(cut, "0.0001")
    flipped = bytearray(data)
    flipped[100] ^= 0xFF                              # damaged deflate stream
    bad = tmp_path / "bad.zip"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(InvalidInputError, match="truncated or corrupt"):
        load_bybit_orderbook(bad, "0.0001")


@pytest.mark.realdata
def test_real_xrp_zip_equals_plain_data_file(shared_dir):
    v5 = shared_dir / "data" / "bybit" / "v5"
    zpath, plain = v5 / "xrpusdt-ob500.data.zip", v5 / "2024-12-01_XRPUSDT_ob500.data"
    if not zpath.exists() or not plain.exists():
        pytest.skip("XRP ob500 capture not found")
    calls = []
    tape = load_bybit_orderbook(zpath, "0.0001", symbol="XRPUSDT", chunk_lines=8,
                                progress=lambda d, t: calls.append((d, t)))
    ref = frames_to_tape(plain.read_text().splitlines(), "0.0001", symbol="XRPUSDT")
    ref["ts_local"] = ref["ts_exch"]
    assert np.array_equal(tape, ref)
    assert np.array_equal(load_bybit_orderbook(plain, "0.0001"), ref)
    assert calls[-1] == (plain.stat().st_size, plain.stat().st_size)
    tob = replay_tape(tape, "0.0001")
    assert list(tob["update_id"]) == list(range(20254869, 20254919)) and set(tob["status"]) == {1}
    assert (tob["bid_ticks"] < tob["ask_ticks"]).all()


# ---- Tardis incremental_book_L2 ------------------------------------------------------------------

TB_HEADER = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n"
T0 = 1_700_000_000_000_000   # us
TARDIS_BOOK = TB_HEADER + "".join(
    f"bybit,BTCUSDT,{ts},{loc},{snap},{side},{price},{amount}\n" for ts, loc, snap, side, price, amount in [
        (T0, T0 + 5, "true", "ask", "100.5", "1"),          # message 0: snapshot (4 rows)
        (T0, T0 + 5, "true", "ask", "101", "2"),
        (T0, T0 + 5, "true", "bid", "100", "3"),
        (T0, T0 + 5, "true", "bid", "99.5", "4"),
        (T0 + 100, T0 + 107, "false", "bid", "100", "0"),   # message 1: two rows, one timestamp
        (T0 + 100, T0 + 107, "false", "ask", "100.5", "1.5"),
        (T0 + 200, T0 + 210, "false", "bid", "99", "6"),    # message 2
        (T0 + 200, T0 + 211, "false", "bid", "98.5", "1"),  # message 3: same timestamp, other message
        (T0 + 300, T0 + 300, "true", "bid", "99", "8"),     # message 4: a new snapshot (reconnect)
        (T0 + 300, T0 + 300, "true", "ask", "99.5", "9"),
        (T0 + 400, T0 + 401, "false", "ask", "100", "2"),   # message 5
    ])


def test_tardis_book_rows_and_flags_are_hand_checked(tmp_path):
    tape = load_tardis_book(write(tmp_path / "b.csv.gz", TARDIS_BOOK, gz=True), "0.5")
    assert len(tape) == 11 and set(tape["kind"]) == {KIND_BOOK}
    assert list(tape["flags"]) == [S | B, S, S, S | E, B, E, B | E, B | E, S | B, S | E, B | E]
    assert list(tape["side"]) == [-1, -1, 1, 1, 1, -1, 1, 1, 1, -1, -1]
    assert list(tape["price_ticks"]) == [201, 202, 200, 199, 200, 201, 198, 197, 198, 199, 200]
    assert list(tape["size"]) == [1, 2, 3, 4, 0, 1.5, 6, 1, 8, 9, 2]
    assert tape["ts_exch"][4] == (T0 + 100) * 1000 and tape["ts_local"][4] == (T0 + 107) * 1000
    assert set(tape["update_id"]) == {-1} and set(tape["seq"]) == {-1}


def test_tardis_book_replay_rebuilds_the_book(tmp_path):
    tape = load_tardis_book(write(tmp_path / "b.csv", TARDIS_BOOK), "0.5")
    tob = replay_tape(tape, "0.5")
    assert list(tob["ts_local"] // 1000 - T0) == [5, 107, 210, 211, 300, 401]
    assert list(tob["bid_ticks"]) == [200, 199, 199, 199, 198, 198]
    assert list(tob["ask_ticks"]) == [201, 201, 201, 201, 199, 199]
    assert list(tob["bid_size"]) == [3, 4, 4, 4, 8, 8]
    assert set(tob["status"]) == {1}
    # after the reconnect snapshot only its levels and the last delta remain
    assert final_book(tape, "0.5") == ([(99.0, 8.0)], [(99.5, 9.0), (100.0, 2.0)])
    # before it: a hand-built book from the first four messages
    first = tape[:8]
    assert final_book(first, "0.5") == ([(99.5, 4.0), (99.0, 6.0), (98.5, 1.0)],
                                        [(100.5, 1.5), (101.0, 2.0)])


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 5, 7, 100])
def test_tardis_book_chunks_end_on_whole_messages(tmp_path, chunk_rows):
    p = write(tmp_path / "b.csv", TARDIS_BOOK)
    whole = load_tardis_book(p, "0.5")
    chunks = list(iter_tardis_book(p, "0.5", chunk_rows=chunk_rows))
    assert np.array_equal(np.concatenate(chunks), whole)
    for c in chunks:
        assert c["flags"][0] & B and c["flags"][-1] & E
        # replaying chunk by chunk into one book works because no message is split
    book = OrderBook("TEST", "0.5")
    for c in chunks:
        replay_tape(c, book=book)
    assert [tuple(x) for x in book.bids()] == [(99.0, 8.0)]


def test_tardis_back_to_back_snapshots_split_on_a_repeated_level(tmp_path):
    rows = [(T0, "bid", "100", "1"), (T0, "ask", "101", "1"),
            (T0 + 9, "bid", "100", "2"), (T0 + 9, "ask", "102", "3")]   # second snapshot, no delta between
    text = TB_HEADER + "".join(f"bybit,X,{t},{t},true,{s},{p},{a}\n" for t, s, p, a in rows)
    tape = load_tardis_book(write(tmp_path / "s.csv", text), "1")
    assert list(tape["flags"]) == [S | B, S | E, S | B, S | E]
    assert final_book(tape, "1") == ([(100.0, 2.0)], [(102.0, 3.0)])


def test_tardis_symbols(tmp_path):
    text = TB_HEADER + (f"bybit,AAA,{T0},{T0},true,bid,1,1\nbybit,BBB,{T0},{T0},true,bid,5,1\n"
                        f"bybit,AAA,{T0},{T0},true,ask,2,1\n")
    p = write(tmp_path / "multi.csv", text)
    with pytest.raises(InvalidInputError, match="line 3, column 'symbol'.*symbol="):
        load_tardis_book(p, "1")
    a = load_tardis_book(p, "1", symbol="AAA")
    assert list(a["price_ticks"]) == [1, 2] and list(a["flags"]) == [S | B, S | E]
    assert list(load_tardis_book(p, "1", symbol="BBB")["price_ticks"]) == [5]
    with pytest.raises(InvalidInputError, match="no rows for symbol 'CCC'"):
        load_tardis_book(p, "1", symbol="CCC")


@pytest.mark.parametrize("row, column, what", [
    (f"bybit,BTCUSDT,{T0},{T0},yes,bid,100,1", "is_snapshot", "expected one of"),
    (f"bybit,BTCUSDT,{T0},{T0},false,buy,100,1", "side", "expected one of"),
    (f"bybit,BTCUSDT,{T0},{T0},false,bid,100.25,1", "price", "not a multiple of tick_size 0.5"),
    (f"bybit,BTCUSDT,{T0},{T0},false,bid,100,-1", "amount", ">= 0"),
    (f"bybit,BTCUSDT,{T0}.5,{T0},false,bid,100,1", "timestamp", "not an integer"),
    (f"bybit,BTCUSDT,{T0},,false,bid,100,1", "local_timestamp", "not an integer"),
    (f"bybit,BTCUSDT,{T0},-3,false,bid,100,1", "local_timestamp", "out of range"),
])
def test_tardis_book_errors(tmp_path, row, column, what):
    p = write(tmp_path / "e.csv", TARDIS_BOOK + row + "\n")
    with pytest.raises(InvalidInputError) as info:
        load_tardis_book(p, "0.5")
    assert f"line 13, column {column!r}" in str(info.value) and what in str(info.value)


def test_tardis_book_header_is_checked(tmp_path):
    with pytest.raises(InvalidInputError, match=r"line 1: .*lacks column\(s\) \['is_snapshot'\]"):
        load_tardis_book(write(tmp_path / "h.csv", "exchange,symbol,timestamp,local_timestamp,side,price,amount\n"),
                         "0.5")


# ---- Tardis trades -------------------------------------------------------------------------------

TT = ("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
      f"bybit,BTCUSDT,{T0},{T0 + 30},a1,buy,100.5,0.25\n"
      f"bybit,BTCUSDT,{T0 + 1},{T0 + 31},a2,unknown,100,1\n"
      f"bybit,BTCUSDT,{T0 + 2},{T0 + 32},a3,sell,99.5,2\n")


def test_tardis_trades(tmp_path):
    p = write(tmp_path / "t.csv.gz", TT, gz=True)
    tape, ids = load_tardis_trades(p, "0.5", return_ids=True)
    assert list(ids) == ["a1", "a2", "a3"]
    assert list(tape["side"]) == [1, 0, -1]
    assert list(tape["price_ticks"]) == [201, 200, 199] and list(tape["size"]) == [0.25, 1, 2]
    assert list(tape["ts_exch"]) == [T0 * 1000, (T0 + 1) * 1000, (T0 + 2) * 1000]
    assert list(tape["ts_local"]) == [(T0 + 30) * 1000, (T0 + 31) * 1000, (T0 + 32) * 1000]
    assert set(tape["kind"]) == {KIND_TRADE} and set(tape["flags"]) == {B | E}
    dropped, ids = load_tardis_trades(p, "0.5", unknown_side="drop", return_ids=True)
    assert list(dropped["side"]) == [1, -1] and list(ids) == ["a1", "a3"]
    with pytest.raises(InvalidInputError, match="line 3, column 'side'"):
        load_tardis_trades(p, "0.5", unknown_side="raise")
    with pytest.raises(InvalidInputError, match="unknown_side"):
        load_tardis_trades(p, "0.5", unknown_side="zero")
    assert [len(c) for c in iter_tardis_trades(p, "0.5", chunk_rows=2)] == [2, 1]


def test_tardis_trades_size_must_be_positive(tmp_path):
    with pytest.raises(InvalidInputError, match="line 2, column 'amount'"):
        load_tardis_trades(write(tmp_path / "t.csv", TT.replace("0.25", "0")), "0.5")


# ---- the fast (numpy.loadtxt) and exact (csv module) paths agree ------------------------------------

def random_tardis_book(rng, n_msgs):
    rows = [(T0, T0 + 3, "true", "bid", f"{100 - i * 0.5:.1f}", f"{rng.integers(1, 50) / 8}") for i in range(5)]
    rows += [(T0, T0 + 3, "true", "ask", f"{100.5 + i * 0.5:.1f}", f"{rng.integers(1, 50) / 8}") for i in range(5)]
    for k in range(n_msgs):
        t = T0 + 1000 * (k + 1)
        for _ in range(int(rng.integers(1, 4))):
            side = "bid" if rng.random() < 0.5 else "ask"
            lvl = int(rng.integers(0, 5))
            price = 100 - lvl * 0.5 if side == "bid" else 100.5 + lvl * 0.5
            rows.append((t, t + 7, "false", side, f"{price:.{int(rng.integers(1, 4))}f}",
                         f"{rng.integers(1, 50) / 8}"))
    return TB_HEADER + "".join(f"bybit,BTCUSDT,{a},{b},{c},{d},{e},{f}\n" for a, b, c, d, e, f in rows)


def test_fast_and_exact_paths_agree(tmp_path, monkeypatch):
    rng = np.random.default_rng(7)
    book = write(tmp_path / "b.csv.gz", random_tardis_book(rng, 500), gz=True)
    trades = write(tmp_path / "t.csv", HEADER + "".join(
        f"{1585180700 + i * 0.0371:.4f},BTCUSD,{'Buy' if i % 3 else 'Sell'},{i % 7 + 1},{6000 + (i % 40) * 0.5},"
        f"PlusTick,{i:08d}-0000-0000-0000-000000000000,0,0,0\n" for i in range(3000)))
    tt = write(tmp_path / "tt.csv", TT)
    spot = write(tmp_path / "s.csv", "id,timestamp,price,volume,side\n" + "".join(
        f"{i},{1747612800074 + i},{100000 + i * 0.1:.1f},0.5,{'buy' if i % 2 else 'sell'}\n" for i in range(100)))

    def everything():
        return [load_tardis_book(book, "0.5", chunk_rows=97), *load_bybit_trades(trades, "0.5", return_ids=True),
                *load_tardis_trades(tt, "0.5", return_ids=True), load_bybit_trades(spot, "0.1")]

    fast = everything()
    monkeypatch.setattr(files, "_FAST", False)
    slow = everything()
    for a, b in zip(fast, slow):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert len(fast[0]) > 1000 and len(replay_tape(fast[0], "0.5")) == 501


def test_text_layout_variants(tmp_path, monkeypatch):
    """Quotes, CRLF, a BOM, no final newline, fields wider than the fast path's columns,
    and lines cut across read blocks all read the same."""
    body = TARDIS_BOOK.split("\n", 1)[1]
    ref = load_tardis_book(write(tmp_path / "ref.csv", TARDIS_BOOK), "0.5")
    crlf = "\ufeff" + TB_HEADER.replace("\n", "\r\n") + body.replace("\n", "\r\n").rstrip("\r\n")
    quoted = TB_HEADER + body.replace("bybit,BTCUSDT", '"bybit","BTCUSDT"', 3)
    wide = TB_HEADER + body.replace(",100.5,1\n", ",100.50000000000000000000000000000000000,1\n", 1)
    for i, text in enumerate([crlf, quoted, wide]):
        p = tmp_path / f"v{i}.csv"
        p.write_bytes(text.encode())
        assert np.array_equal(load_tardis_book(p, "0.5"), ref)
    monkeypatch.setattr(files, "_BLOCK_BYTES", 7)
    p = tmp_path / "crlf.csv"
    p.write_bytes(crlf.encode())
    assert np.array_equal(load_tardis_book(p, "0.5", chunk_rows=4), ref)
    # multi-byte UTF-8 split across read blocks
    p = tmp_path / "utf8.csv"
    p.write_bytes(TARDIS_BOOK.replace("BTCUSDT", "BTC€ÅSDT").encode())
    assert np.array_equal(load_tardis_book(p, "0.5", symbol="BTC€ÅSDT", chunk_rows=3), ref)


def test_bybit_timestamp_forms(tmp_path):
    rows = ["1585180700,BTCUSD,Buy,1,6698,x,a,0,0,0", "1585180700.5,BTCUSD,Buy,1,6698,x,b,0,0,0",
            "1.5851807010647e9,BTCUSD,Buy,1,6698,x,c,0,0,0", "1585180702.000000001,BTCUSD,Buy,1,6698,x,d,0,0,0"]
    tape = load_bybit_trades(write(tmp_path / "t.csv", HEADER + "\n".join(rows)), "0.5", sort=False)
    assert list(tape["ts_exch"]) == [1585180700 * NS, 1585180700_500000000, 1585180701_064700000,
                                     1585180702_000000001]


# ---- saving big tapes ----------------------------------------------------------------------------

def test_save_tape_chunks_round_trip(tmp_path):
    src = write(tmp_path / "b.csv", TARDIS_BOOK)
    out = tmp_path / "book.npy"
    n = save_tape_chunks(out, iter_tardis_book(src, "0.5", chunk_rows=3))
    back = load_tape(out)
    assert n == 11 and isinstance(back, np.memmap)
    assert np.array_equal(back, load_tardis_book(src, "0.5"))
    assert np.array_equal(np.load(out), back)
    empty = tmp_path / "empty.npy"
    assert save_tape_chunks(empty, []) == 0 and len(load_tape(empty, mmap=False)) == 0


def test_save_tape_chunks_rejects_other_arrays(tmp_path):
    out = tmp_path / "bad.npy"
    with pytest.raises(InvalidInputError, match="chunk 0"):
        save_tape_chunks(out, [np.zeros(3)])
    assert not out.exists()


# ---- argument checks -----------------------------------------------------------------------------

def test_argument_checks(tmp_path):
    p = write(tmp_path / "t.csv", HEADER + NEWEST_FIRST)
    with pytest.raises(InvalidInputError, match="chunk_rows"):
        load_bybit_trades(p, "0.5", chunk_rows=0)
    with pytest.raises(InvalidInputError, match="progress"):
        load_bybit_trades(p, "0.5", progress="yes")
    with pytest.raises(InvalidInputError, match="tick_size"):
        load_bybit_trades(p, "-1")
    with pytest.raises(InvalidInputError, match="path"):
        load_bybit_trades(42, "0.5")
    with pytest.raises(FileNotFoundError):
        load_bybit_trades(tmp_path / "missing.csv.gz", "0.5")
    with pytest.raises(InvalidInputError, match="not a zip"):
        load_bybit_orderbook(p, "0.5", member="x")
    # iterators check their arguments when called, before any iteration
    with pytest.raises(InvalidInputError, match="chunk_lines"):
        iter_bybit_orderbook(p, "0.5", chunk_lines=0)
    with pytest.raises(InvalidInputError, match="progress"):
        iter_tardis_book(p, "0.5", progress=1)
    with pytest.raises(InvalidInputError, match="unknown_side"):
        iter_tardis_trades(p, "0.5", unknown_side="zero")
    with pytest.raises(InvalidInputError, match="symbol"):
        iter_bybit_trades(p, "0.5", symbol="btc usd")


@pytest.mark.parametrize("payload", [
    bytes(range(256)) * 40,
    b"\x1f\x8b" + bytes(range(256)) * 40,                  # gzip magic, garbage after
    b"PK\x03\x04" + bytes(range(256)) * 40,                # zip magic, garbage after
    b"\x00" * 5000,
])
@pytest.mark.parametrize("loader", [load_bybit_trades, load_bybit_orderbook, load_tardis_book, load_tardis_trades])
def test_garbage_files_are_input_errors(tmp_path, payload, loader):
    p = tmp_path / "garbage.bin"
    p.write_bytes(payload)
    with pytest.raises(InvalidInputError):
        loader(p, "0.5")


def test_text_progress_goes_to_stderr(tmp_path, capsys):
    p = write(tmp_path / "t.csv", HEADER + NEWEST_FIRST)
    load_bybit_trades(p, "0.5", progress=True)
    err = capsys.readouterr().err
    assert "t.csv:" in err and "100.0%" in err and err.endswith("\n")


# ---- download (local server only) ----------------------------------------------------------------

class _Handler(http.server.SimpleHTTPRequestHandler):
    requests_seen: list = []

    def do_GET(self):
        type(self).requests_seen.append(self.path)
        if self.path == "/short.bin":           # promises more bytes than it sends
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"x" * 10)
            return
        if self.path == "/busy.bin":
            self.send_error(429, "Too Many Requests")
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture()
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    _Handler.requests_seen = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_download_url_with_progress(server, tmp_path):
    base, root = server
    payload = bytes(range(256)) * 5000
    (root / "file.bin").write_bytes(payload)
    out = tmp_path / "out"
    out.mkdir()
    calls = []
    path = download(f"{base}/file.bin", out, progress=lambda d, t: calls.append((d, t)), chunk_size=100_000)
    assert path == out / "file.bin" and path.read_bytes() == payload
    assert calls[-1] == (len(payload), len(payload)) and len(calls) == 13
    assert not list(out.glob("*.part"))


def test_download_builds_bybit_urls_and_loads(server, tmp_path, capsys):
    base, root = server
    folder = root / "trading" / "BTCUSD"
    folder.mkdir(parents=True)
    write(folder / "BTCUSD2020-03-26.csv.gz", HEADER + NEWEST_FIRST, gz=True)
    path = download("trades", tmp_path / "t.csv.gz", symbol="BTCUSD", date="2020-03-26", base_url=base)
    assert _Handler.requests_seen == ["/trading/BTCUSD/BTCUSD2020-03-26.csv.gz"]
    assert "t.csv.gz:" in capsys.readouterr().err              # default progress=True
    assert list(load_bybit_trades(path, "0.5")["price_ticks"]) == [13395, 13396, 13397, 13398]
    # an existing file is not fetched again unless overwrite=True
    download("trades", path, symbol="BTCUSD", date="2020-03-26", base_url=base, progress=False)
    assert len(_Handler.requests_seen) == 1
    download("trades", path, symbol="BTCUSD", date="2020-03-26", base_url=base, progress=False, overwrite=True)
    assert len(_Handler.requests_seen) == 2

    ob_dir = root / "orderbook" / "linear" / "XRPUSDT"
    ob_dir.mkdir(parents=True)
    make_zip(ob_dir / "2024-12-01_XRPUSDT_ob500.data.zip", LINES)
    zpath = download("orderbook", tmp_path, symbol="XRPUSDT", date=date(2024, 12, 1), depth=500,
                     base_url=base, progress=False)
    assert zpath.name == "2024-12-01_XRPUSDT_ob500.data.zip"
    assert len(load_bybit_orderbook(zpath, "0.0001")) == 9


def test_download_http_errors(server, tmp_path):
    base, _ = server
    tmp_path = tmp_path / "dest"
    tmp_path.mkdir()
    with pytest.raises(ExchangeError) as info:
        download(f"{base}/nothing.csv.gz", tmp_path, progress=False)
    assert info.value.status == 404 and info.value.endpoint == f"{base}/nothing.csv.gz"
    assert not list(tmp_path.iterdir())
    with pytest.raises(ExchangeError) as info:
        download(f"{base}/busy.bin", tmp_path, progress=False)
    assert info.value.status == 429 and type(info.value).__name__ == "RateLimitError"
    with pytest.raises((ExchangeError, requests.RequestException)):   # body shorter than Content-Length
        download(f"{base}/short.bin", tmp_path, progress=False)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("kwargs, match", [
    (dict(source="ftp://x/y"), "source"), (dict(source=5), "source"),
    (dict(source="trades", symbol="BTCUSDT"), "date"), (dict(source="orderbook", date="2024-12-01"), "symbol"),
    (dict(source="http://127.0.0.1:1/x", progress="bar"), "progress"),
    (dict(source="http://127.0.0.1:1/x", chunk_size=0), "chunk_size"),
])
def test_download_argument_checks(tmp_path, kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        download(dest=tmp_path / "f", **kwargs)
    assert issubclass(InvalidInputError, OfiError)


def test_the_old_import_path_reexports_each_name_from_its_new_home():
    import ofi.data.archives as shim
    import ofi.data.tape as tape
    import ofi.data.tardis as tardis
    import ofi.venues.bybit.archives as bybit
    homes = {**{n: bybit for n in bybit.__all__}, **{n: tardis for n in tardis.__all__},
             "save_tape_chunks": tape}
    assert sorted(shim.__all__) == sorted(homes)
    for name, home in homes.items():
        assert getattr(shim, name) is getattr(home, name), name


def test_download_file_takes_only_http_urls(tmp_path):
    from ofi.data.download import download_file
    for url in ("ftp://x/y", "trades", 5, None):
        with pytest.raises(InvalidInputError, match="url must be an http"):
            download_file(url, tmp_path / "f")
