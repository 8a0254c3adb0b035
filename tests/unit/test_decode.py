"""Hand-written tests of the frame decoder: ``ofi.frames.decode_frame``, ``ofi.Trade.from_frame`` and
``OrderBook.apply_frame`` (docs/core-api.md "Frames"; docs/../shared/reference/bybit-v5.md §5-7).

Frames are real captures (quoted from ../shared/data/bybit/v5 and the reference) or small edits of
them; the expected values are read off the text by hand.
"""
from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from ofi import OrderBook, Trade
from ofi.data.tape import frames_to_tape
from ofi.errors import InvalidInputError, OfiError, SequenceGapError
from ofi.frames import BookFrame, ControlFrame, TradeFrame, decode_frame
from ofi.venues.bybit.snapshot import book_from_rest

MS = 1_000_000

# gocryptotrader, spot orderbook.50 delta (2024-11-08): "ts" before "type", with cts
SPOT_DELTA = ('{"topic":"orderbook.50.BTCUSDT","ts":1731035685345,"type":"delta","data":{"s":"BTCUSDT",'
              '"b":[["75848.62","0.014895"],["75837.13","0"]],"a":[["75848.89","0.088149"],["75851.44","0.078379"],'
              '["75852.65","0"],["75855.23","0.260219"],["75857.74","0.049778"]],"u":2876701,"seq":47474967823},'
              '"cts":1731035685342}')
# tardis, option orderbook.25 (2023-04-05): "id" first, "type" last, no seq, no cts
OPTION_SNAPSHOT = ('{"id":"orderbook.25.SOL-28APR23-30-C-3360274030-1680652786355","topic":"orderbook.25.SOL-28APR23-30-C",'
                   '"ts":1680652786355,"data":{"s":"SOL-28APR23-30-C","b":[["0.01","50"]],"a":[["1.74","46"]],"u":24641},'
                   '"type":"snapshot"}')
OPTION_DELTA = ('{"id":"orderbook.25.SOL-28APR23-30-C-3360275694-1680652799661","topic":"orderbook.25.SOL-28APR23-30-C",'
                '"ts":1680652799661,"data":{"s":"SOL-28APR23-30-C","b":[],"a":[["1.74","0"],["1.75","46"]],"u":24642},'
                '"type":"delta"}')
# reference §6.4, option snapshot with "ts" before "type", "id" and cts (pybit#246)
OPTION_SNAPSHOT_2 = ('{"topic":"orderbook.25.BTC-13SEP24-58500-P","ts":1725967410822,"type":"snapshot",'
                     '"id":"orderbook.25.BTC-13SEP24-58500-P-26718245417-1725967410822","data":{"s":"BTC-13SEP24-58500-P",'
                     '"b":[["1940","28.71"],["1525","2"],["5","6"]],"a":[["2075","1"],["2080","7.14"],["2100","21.57"],'
                     '["2495","2"]],"u":19527,"seq":26718245417},"cts":1725967407642}')


def book_frame(topic="orderbook.50.BTCUSDT", kind="delta", b=(("75848.62", "0.014895"),), a=(), u=2876701,
               symbol="BTCUSDT", ts=1731035685345, **extra_data):
    data = {"s": symbol, "b": [list(x) for x in b], "a": [list(x) for x in a], "u": u, **extra_data}
    return json.dumps({"topic": topic, "type": kind, "ts": ts, "data": data})


def as_lists(f: BookFrame):
    return (f.bid_ticks.tolist(), f.bid_sizes.tolist(), f.ask_ticks.tolist(), f.ask_sizes.tolist())


# ----------------------------------------------------------------------------- orderbook frames


def test_spot_delta_ts_before_type():
    f = decode_frame(SPOT_DELTA, "0.01")
    assert isinstance(f, BookFrame)
    assert (f.topic, f.symbol, f.snapshot) == ("orderbook.50.BTCUSDT", "BTCUSDT", False)
    assert (f.update_id, f.seq) == (2876701, 47474967823)
    assert f.ts_exch == 1731035685345 * MS and f.cts == 1731035685342 * MS
    assert as_lists(f) == (
        [7584862, 7583713], [0.014895, 0.0],
        [7584889, 7585144, 7585265, 7585523, 7585774], [0.088149, 0.078379, 0.0, 0.260219, 0.049778],
    )
    assert f.bid_ticks.dtype == np.int64 and f.bid_sizes.dtype == np.float64


def test_option_frames_id_first_type_last_no_seq_no_cts():
    f = decode_frame(OPTION_SNAPSHOT, "0.01")
    assert f.snapshot is True and f.symbol == "SOL-28APR23-30-C" and f.topic == "orderbook.25.SOL-28APR23-30-C"
    assert (f.update_id, f.seq, f.cts) == (24641, -1, 0)
    assert f.ts_exch == 1680652786355 * MS
    assert as_lists(f) == ([1], [50.0], [174], [46.0])
    d = decode_frame(OPTION_DELTA, "0.01")
    assert d.snapshot is False and as_lists(d) == ([], [], [174, 175], [0.0, 46.0])
    g = decode_frame(OPTION_SNAPSHOT_2, "5")
    assert as_lists(g) == ([388, 305, 1], [28.71, 2.0, 6.0], [415, 416, 420, 499], [1.0, 7.14, 21.57, 2.0])
    assert (g.seq, g.cts) == (26718245417, 1725967407642 * MS)


def test_option_book_through_apply_frame():
    book = OrderBook("SOL-28APR23-30-C", tick_size="0.01")
    assert book.apply_frame(OPTION_SNAPSHOT) and book.apply_frame(OPTION_DELTA)
    assert book.bbo() == (0.01, 50.0, 1.75, 46.0)
    assert book.update_id == 24642 and book.topic == "orderbook.25.SOL-28APR23-30-C"


def test_option_empty_snapshot_u0():
    raw = ('{"id":"orderbook.25.BTC-30JUN23-45000-P-3032585156-1680652790918","topic":"orderbook.25.BTC-30JUN23-45000-P",'
           '"ts":1680652790918,"data":{"s":"BTC-30JUN23-45000-P","b":[],"a":[],"u":0},"type":"snapshot"}')
    f = decode_frame(raw, "5")
    assert f.snapshot and f.update_id == 0 and as_lists(f) == ([], [], [], [])
    book = OrderBook("BTC-30JUN23-45000-P", tick_size="5")
    assert book.apply_frame(raw) and book.ready and len(book) == 0 and book.update_id == 0
    assert math.isnan(book.mid_price())


@pytest.mark.parametrize("order", list(itertools.permutations(["topic", "type", "ts", "data", "cts"])))
def test_any_top_level_key_order(order):
    parts = {"topic": '"topic":"orderbook.50.BTCUSDT"', "type": '"type":"delta"', "ts": '"ts":1731035685345',
             "cts": '"cts":1731035685342',
             "data": '"data":{"s":"BTCUSDT","b":[["75848.62","0.014895"]],"a":[["75848.89","0"]],"u":2876701,"seq":47}'}
    f = decode_frame("{" + ",".join(parts[k] for k in order) + "}", "0.01")
    assert (f.topic, f.snapshot, f.update_id, f.seq) == ("orderbook.50.BTCUSDT", False, 2876701, 47)
    assert (f.ts_exch, f.cts) == (1731035685345 * MS, 1731035685342 * MS)
    assert as_lists(f) == ([7584862], [0.014895], [7584889], [0.0])


@pytest.mark.parametrize("order", list(itertools.permutations(["s", "b", "a", "u", "seq"])))
def test_any_data_key_order(order):
    parts = {"s": '"s":"BTCUSDT"', "b": '"b":[["75848.62","0.014895"],["75848.61","1"]]',
             "a": '"a":[["75848.89","2"]]', "u": '"u":2876701', "seq": '"seq":47474967823'}
    raw = '{"data":{' + ",".join(parts[k] for k in order) + '},"topic":"orderbook.50.BTCUSDT","ts":5,"type":"snapshot"}'
    f = decode_frame(raw, "0.01")
    assert (f.symbol, f.snapshot, f.update_id, f.seq, f.ts_exch) == ("BTCUSDT", True, 2876701, 47474967823, 5 * MS)
    assert as_lists(f) == ([7584862, 7584861], [0.014895, 1.0], [7584889], [2.0])


@pytest.mark.parametrize("ws", [" ", "\n", "\t", "\r\n", "  \t \n "])
def test_whitespace_between_tokens(ws):
    tokens = ['{', '"topic"', ':', '"orderbook.50.BTCUSDT"', ',', '"type"', ':', '"delta"', ',', '"ts"', ':',
              '1731035685345', ',', '"data"', ':', '{', '"s"', ':', '"BTCUSDT"', ',', '"b"', ':', '[', '[',
              '"75848.62"', ',', '"0.014895"', ']', ',', '[', '"75837.13"', ',', '"0"', ']', ']', ',', '"a"', ':',
              '[', ']', ',', '"u"', ':', '2876701', ',', '"seq"', ':', '47474967823', '}', ',', '"cts"', ':',
              '1731035685342', '}']
    raw = ws + ws.join(tokens) + ws
    f = decode_frame(raw, "0.01")
    assert as_lists(f) == ([7584862, 7583713], [0.014895, 0.0], [], [])
    assert (f.update_id, f.seq, f.cts) == (2876701, 47474967823, 1731035685342 * MS)


@pytest.mark.parametrize("depth", ["1", "25", "50", "100", "200", "500", "1000"])
def test_depths(depth):
    topic = f"orderbook.{depth}.BTCUSDT"
    snap = book_frame(topic, "snapshot", b=[("100.5", "1")], a=[("100.6", "2")], u=7)
    f = decode_frame(snap, "0.1")
    assert f.topic == topic and f.snapshot and as_lists(f) == ([1005], [1.0], [1006], [2.0])
    book = OrderBook("BTCUSDT", tick_size="0.1")
    assert book.apply_frame(snap) and book.topic == topic
    assert book.apply_frame(book_frame(topic, "delta", b=[("100.4", "3")], a=[], u=8))
    assert book.bids().tolist() == [[100.5, 1.0], [100.4, 3.0]]


def test_orderbook_full_is_delta_only_seeded_from_rest():
    topic = "orderbook.full.BTCUSDT"
    d = book_frame(topic, "delta", b=[("65485.48", "1.5")], a=[("65557.7", "0")], u=230705)
    f = decode_frame(d, "0.01")
    assert f.topic == topic and not f.snapshot and f.update_id == 230705
    with pytest.raises(SequenceGapError):
        OrderBook("BTCUSDT", tick_size="0.01").apply_frame(d)
    rest = {"s": "BTCUSDT", "b": [["65485.47", "47.081829"]], "a": [["65557.7", "16.606555"], ["65560.0", "1"]],
            "ts": 1716863719031, "u": 230704, "seq": 1432604333, "cts": 1716863718905}
    book = book_from_rest(rest, tick_size="0.01")
    assert book.apply_frame(d) is True
    assert book.bbo() == (65485.48, 1.5, 65560.0, 1.0) and book.update_id == 230705
    assert book.topic == topic


def test_snapshot_flag_and_u_equal_one():
    f = decode_frame(book_frame(kind="delta", u=1), "0.01")
    assert f.update_id == 1  # the book treats u == 1 as a reset (tested in test_book.py)


def test_prices_with_padding_and_excess_zeros():
    f = decode_frame(book_frame(b=[("28560.50", "1"), ("29328", "1"), ("1.000000000000", "1"), ("0.10", "2")]), "0.1")
    assert f.bid_ticks.tolist() == [285605, 293280, 10, 1]


@pytest.mark.parametrize(
    "size",
    ["0.1", "0.000329", "47.081829", "6203", "0", "0.000", "9007199254740993", "9007199254740995",
     "0.30000000000000004", "123456789.123456789", "0.1000000000000000055511151231257827",
     "12345678901234567890123", "1.7976931348623157", "0.00000000000000000000000000001234",
     "5.000000000000000277555756156289135105907917022705078125", "2.0000000000000002220446049250313",
     "83.0000000000000001", "0.9999999999999999444888487687421729788184165954589843749"],
)
def test_sizes_are_correctly_rounded(size):
    f = decode_frame(book_frame(b=[("75848.62", size)]), "0.01")
    assert f.bid_sizes[0] == float(size)  # the exact decimal, rounded once to nearest-even


# ----------------------------------------------------------------------------- rejects


def test_off_grid_price_names_price_and_tick():
    with pytest.raises(InvalidInputError) as ei:
        decode_frame(book_frame(b=[("75848.625", "1")]), "0.01")
    assert "75848.625" in str(ei.value) and "0.01" in str(ei.value)
    book = OrderBook("XRPUSDT", tick_size="0.0001")
    with pytest.raises(InvalidInputError) as ei:
        book.apply_frame(book_frame("orderbook.500.XRPUSDT", "snapshot", b=[("1.95315", "1")], a=[], u=3,
                                    symbol="XRPUSDT"))
    assert "1.95315" in str(ei.value) and "0.0001" in str(ei.value)
    assert len(book) == 0 and book.topic is None


@pytest.mark.parametrize(
    "size",
    ["", "-1", "-0.5", "-6203", "1e3", "1E3", "1e-3", "+1", "nan", "NaN", "inf", "Infinity", "-inf", " 1", "1 ",
     "1_000", "0x10", "1.2.3", "abc", ".", "1,5", "١"],
)
def test_bad_size_strings(size):
    with pytest.raises(InvalidInputError):
        decode_frame(book_frame(b=[("75848.62", size)]), "0.01")


@pytest.mark.parametrize("size", ["1" * 400, "9" * 309 + ".5"])
def test_size_overflowing_float64(size):
    with pytest.raises(InvalidInputError):
        decode_frame(book_frame(b=[("75848.62", size)]), "0.01")


@pytest.mark.parametrize("price", ["", "--75848.62", "7.584862e4", "nan", "inf", " 75848.62", "75848,62", "abc",
                                   "99999999999999999999999", "92233720368547758.08"])
def test_bad_price_strings(price):
    with pytest.raises(InvalidInputError):
        decode_frame(book_frame(b=[(price, "1")]), "0.01")


def test_price_tick_range():
    assert decode_frame(book_frame(b=[("922337203685477.58", "1")]), "0.01").bid_ticks.tolist() == [92233720368547758]
    # 2**63 - 1 ticks may be refused as out of the supported range, but never mis-read
    try:
        f = decode_frame(book_frame(b=[("92233720368547758.07", "1")]), "0.01")
    except InvalidInputError:
        pass
    else:
        assert f.bid_ticks.tolist() == [2**63 - 1]
    for price, tick in (("92233720368547758.08", "0.01"), ("9223372036854775808", "1"), ("4611686018427387904", "0.5")):
        with pytest.raises(InvalidInputError):  # 2**63 ticks: not an int64
            decode_frame(book_frame(b=[(price, "1")]), tick)


@pytest.mark.parametrize("u", [2**63, 2**64, 2**64 + 5, 10**30, 10**400, -(2**63) - 1])
def test_update_id_out_of_int64_range(u):
    with pytest.raises(InvalidInputError):
        decode_frame(book_frame(u=u), "0.01")


@pytest.mark.parametrize("u", ['"5"', "5.0", "5e0", "true", "null", "[5]", "05"])
def test_update_id_not_an_integer(u):
    raw = book_frame(u=123456789).replace("123456789", u)
    with pytest.raises(InvalidInputError):
        decode_frame(raw, "0.01")


def test_largest_update_id():
    assert decode_frame(book_frame(u=2**63 - 1), "0.01").update_id == 2**63 - 1


@pytest.mark.parametrize("field,value", [("seq", 2**63), ("seq", 10**25)])
def test_seq_out_of_range(field, value):
    with pytest.raises(InvalidInputError):
        decode_frame(book_frame(**{field: value}), "0.01")


@pytest.mark.parametrize("ts", [10**20, 2**63, -(10**20)])
def test_ts_out_of_range(ts):
    with pytest.raises(InvalidInputError):
        decode_frame(book_frame(ts=ts), "0.01")


@pytest.mark.parametrize("field", ["ts", "cts"])
def test_ts_whose_nanoseconds_overflow_int64(field):
    """9_300_000_000_000 ms fits int64 but 9.3e18 ns does not: rejected, never wrapped."""
    raw = json.dumps({"topic": "orderbook.50.X", "type": "snapshot", "ts": 1, "cts": 1,
                      "data": {"s": "X", "b": [["5", "1"]], "a": [], "u": 3}}).replace(
        f'"{field}": 1', f'"{field}": 9300000000000')
    with pytest.raises(InvalidInputError):
        decode_frame(raw, "1")
    book = OrderBook("X", tick_size="1")
    with pytest.raises(InvalidInputError):
        book.apply_frame(raw)
    assert book.ts_exch == 0 and book.cts == 0 and len(book) == 0
    with pytest.raises(InvalidInputError):
        frames_to_tape([raw], "1")


def test_trade_time_whose_nanoseconds_overflow_int64():
    raw = json.dumps({"topic": "publicTrade.X", "type": "snapshot", "ts": 1,
                      "data": [{"T": 9300000000000, "s": "X", "S": "Buy", "v": "1", "p": "5", "i": "a"}]})
    with pytest.raises(InvalidInputError):
        Trade.from_frame(raw, "1")
    with pytest.raises(InvalidInputError):
        frames_to_tape([raw], "1")


@pytest.mark.parametrize(
    "raw",
    [
        '{"topic":"tickers.BTCUSDT","type":"snapshot","data":{"symbol":"BTCUSDT","lastPrice":"61874.00"},"cs":1,"ts":1715742949283}',
        '{"topic":"tickers.BTCUSD","type":"delta","data":{"symbol":"BTCUSD","bid1Price":"61891.50","bid1Size":"27634"},"cs":42159594251,"ts":1715757638152}',
        '{"data":{"price":"0.03803","side":"Buy","size":"1637","symbol":"GALAUSDT","updatedTime":1673251091822},"topic":"liquidation.GALAUSDT","ts":1673251091822,"type":"snapshot"}',
        '{"topic":"allLiquidation.PIPPINUSDT","type":"snapshot","ts":1740480207578,"data":[{"T":1740480207110,"s":"PIPPINUSDT","S":"Sell","v":"2846","p":"0.02456"}]}',
        '{"topic":"kline.5.BTCUSDT","data":[{"start":1672324800000,"end":1672325099999,"interval":"5","open":"16649.5","close":"16677","high":"16677","low":"16608","volume":"2.081","turnover":"34666.4005","confirm":false,"timestamp":1672324988882}],"ts":1672324988882,"type":"snapshot"}',
        '{"topic":"system.status","ts":1,"data":[]}',
        '{"topic":"orderBookL2_25.XTZUSDT","type":"delta","data":{"delete":[],"update":[],"insert":[]},"cross_seq":"726227770","timestamp_e6":"1618677785095303"}',
    ],
    ids=["tickers-snapshot", "tickers-delta", "liquidation", "allLiquidation", "kline", "system", "legacy-v2"],
)
def test_unsupported_topics_are_named(raw):
    topic = json.loads(raw)["topic"]
    prefix = topic.split(".")[0]
    with pytest.raises(InvalidInputError) as ei:
        decode_frame(raw, "0.00001")
    assert topic in str(ei.value)
    book = OrderBook(topic.split(".")[-1], tick_size="0.00001")
    with pytest.raises(InvalidInputError) as ei:
        book.apply_frame(raw)
    assert prefix in str(ei.value)
    assert book.topic is None and len(book) == 0


@pytest.mark.parametrize(
    "raw",
    [None, 5, 2.5, [], {}, b"", "", " ", "{", "}", "[1,2]", '"x"', "null", "true", "{}", '{"topic":5}',
     '{"topic":"orderbook.50.BTCUSDT"}', '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":[]}',
     '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"s":"BTCUSDT","b":{},"a":[],"u":1}}',
     '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"s":"BTCUSDT","b":[{"p":"1"}],"a":[],"u":1}}',
     '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"s":"BTCUSDT","b":[["1"]],"a":[],"u":1}}',
     '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"s":"BTCUSDT","b":[],"a":[],"u":1}}}',
     '{"topic":"orderbook.50.BTCUSDT","type":"Delta","ts":1,"data":{"s":"BTCUSDT","b":[],"a":[],"u":1}}',
     '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"s":"BTCUSDT","b":[],"a":[],"u":1}} {}',
     '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"s":"BTCUSDT","b":[],"a":[],"u":1},}',
     '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"s":"BTCUSDT","b":[,],"a":[],"u":1}}',
     '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"s":"BTCUSDT","b":[],"a":[],"u":NaN}}'],
)
def test_malformed_frames(raw):
    with pytest.raises(InvalidInputError):
        decode_frame(raw, "0.01")


def test_nested_decoys_are_ignored():
    """Unknown fields may hold objects with the same key names, and strings with escaped quotes and brackets."""
    raw = ('{"topic":"orderbook.50.X","type":"delta","ts":7,'
           '"extra":{"b":[["1","1"]],"topic":"orderbook.1.Y","u":9,"data":{"u":7,"s":"Y"},"type":"snapshot"},'
           '"id":"a\\"}]{[\\\\ \\u0022","data":{"x":[{"a":[["5","5"]]}],"s":"X","b":[["2","3"]],"a":[],"u":5}}')
    assert json.loads(raw)["data"]["u"] == 5  # the text is valid JSON
    f = decode_frame(raw, "1")
    assert (f.topic, f.symbol, f.snapshot, f.update_id, f.ts_exch) == ("orderbook.50.X", "X", False, 5, 7 * MS)
    assert as_lists(f) == ([2], [3.0], [], [])


@pytest.mark.parametrize("depth", [40, 1_000, 200_000])
def test_deep_nesting_is_an_error_or_fine_never_a_crash(depth):
    raw = ('{"topic":"orderbook.50.X","type":"delta","ts":1,"extra":' + "[" * depth + "]" * depth
           + ',"data":{"s":"X","b":[],"a":[],"u":5}}')
    try:
        f = decode_frame(raw, "1")
    except InvalidInputError:
        return
    assert f.update_id == 5


def test_large_frame_20000_levels_a_side():
    n = 20_000
    bids = [[f"{100_000 - i}.5", f"{i + 1}"] for i in range(n)]
    asks = [[f"{100_001 + i}.5", "0.25"] for i in range(n)]
    raw = json.dumps({"topic": "orderbook.1000.X", "type": "snapshot", "ts": 1, "data": {"s": "X", "b": bids,
                                                                                          "a": asks, "u": 3}})
    f = decode_frame(raw, "0.5")
    assert len(f.bid_ticks) == n and f.bid_ticks[0] == 200_001 and f.bid_ticks[-1] == 2 * (100_000 - n + 1) + 1
    book = OrderBook("X", tick_size="0.5")
    assert book.apply_frame(raw)
    assert book.n_bids == n and book.n_asks == n
    assert book.bids()[:, 1].tolist() == [float(i + 1) for i in range(n)]
    assert book.asks()[-1].tolist() == [100_000.5 + n, 0.25]
    assert book.bid_depth(n) == n * (n + 1) / 2


def test_invalid_utf8_in_topic_never_poisons_the_book():
    bad = b'{"topic":"orderbook.50.X\xff","type":"snapshot","ts":1,"data":{"s":"X","b":[["5","1"]],"a":[],"u":3}}'
    good = b'{"topic":"orderbook.50.X","type":"snapshot","ts":2,"data":{"s":"X","b":[["6","1"]],"a":[],"u":9}}'
    book = OrderBook("X", tick_size="1")
    try:
        book.apply_frame(bad)
    except InvalidInputError:
        pass
    assert book.topic in (None, "orderbook.50.X\ufffd")
    try:
        book.apply_frame(good)
    except InvalidInputError:
        pass


@pytest.mark.parametrize("topic", ["orderbook.50.Y", "orderbook.50.XRP", "orderbook.50.X.Z"])
def test_topic_symbol_must_match(topic):
    raw = book_frame(topic, "snapshot", b=[("5", "1")], a=[], u=3, symbol="X")
    book = OrderBook("X", tick_size="1")
    with pytest.raises(InvalidInputError):
        book.apply_frame(raw)
    assert book.topic is None and len(book) == 0
    assert book.apply_frame(book_frame("orderbook.50.X", "snapshot", b=[("5", "1")], a=[], u=3, symbol="X"))


def test_decode_accepts_bytes_like():
    for raw in (SPOT_DELTA.encode(), bytearray(SPOT_DELTA.encode()), memoryview(SPOT_DELTA.encode())):
        f = decode_frame(raw, "0.01")
        assert f.update_id == 2876701 and f.bid_ticks.tolist() == [7584862, 7583713]


def test_tick_size_forms_agree():
    for tick in ("0.01", 0.01, "0.010"):
        assert decode_frame(SPOT_DELTA, tick).bid_ticks.tolist() == [7584862, 7583713]
    for bad in ("0", "-0.01", "abc", None, True):
        with pytest.raises(InvalidInputError):
            decode_frame(SPOT_DELTA, bad)


# ----------------------------------------------------------------------------- trades

SPOT_TRADES = ('{"topic":"publicTrade.BTCUSDT","ts":1680652847526,"type":"snapshot","data":['
               '{"i":"2290000000050703789","T":1680652847524,"p":"28165.38","v":"0.041732","S":"Sell","s":"BTCUSDT","BT":false},'
               '{"i":"2290000000050703790","T":1680652847524,"p":"28165.38","v":"0.008513","S":"Sell","s":"BTCUSDT","BT":false}]}')
LINEAR_TRADES = ('{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1774021164273,"data":['
                 '{"T":1774021164272,"s":"BTCUSDT","S":"Sell","v":"0.001","p":"69916.80","L":"MinusTick","i":"8c931d9a-b703-5c34-9aeb-860867cf1f66","BT":false,"RPI":false,"seq":549792210006},'
                 '{"T":1774021164272,"s":"BTCUSDT","S":"Buy","v":"0.002","p":"69916.10","L":"ZeroMinusTick","i":"58766b19-9dba-5ad3-8931-f71eff90e8d8","BT":true,"RPI":true,"seq":549792210007}]}')
OPTION_TRADES = ('{"id":"publicTrade.BTC-3414637898-1680652922102","topic":"publicTrade.BTC","ts":1680652922102,"data":['
                 '{"p":"985","v":"0.01","i":"0404c393-8419-5bac-95c3-5fea28404754","T":1680652922081,"BT":false,'
                 '"s":"BTC-28APR23-29500-C","S":"Sell"}],"type":"snapshot"}')


def test_spot_trades_numeric_ids():
    trades = Trade.from_frame(SPOT_TRADES, "0.01", ts_local=42)
    assert [t.trade_id for t in trades] == ["2290000000050703789", "2290000000050703790"]
    t = trades[0]
    assert (t.symbol, t.price, t.size, t.side) == ("BTCUSDT", 28165.38, 0.041732, -1)
    assert (t.ts_exch, t.price_ticks, t.seq, t.block_trade, t.rpi, t.ts_local) == (
        1680652847524 * MS, 2816538, -1, False, False, 42)
    f = decode_frame(SPOT_TRADES, "0.01")
    assert isinstance(f, TradeFrame) and f.topic == "publicTrade.BTCUSDT" and f.ts_exch == 1680652847526 * MS
    assert f.trades[1].size == 0.008513


def test_linear_trades_uuid_flags_seq():
    a, b = Trade.from_frame(LINEAR_TRADES, "0.1")
    assert (a.trade_id, a.side, a.price, a.price_ticks, a.size, a.seq) == (
        "8c931d9a-b703-5c34-9aeb-860867cf1f66", -1, 69916.8, 699168, 0.001, 549792210006)
    assert (a.block_trade, a.rpi) == (False, False)
    assert (b.side, b.price, b.price_ticks, b.block_trade, b.rpi, b.seq) == (1, 69916.1, 699161, True, True, 549792210007)
    assert a.ts_exch == 1774021164272 * MS


def test_option_trades_topic_by_base_coin():
    (t,) = Trade.from_frame(OPTION_TRADES, "5")
    assert (t.symbol, t.price, t.price_ticks, t.size, t.side, t.trade_id) == (
        "BTC-28APR23-29500-C", 985.0, 197, 0.01, -1, "0404c393-8419-5bac-95c3-5fea28404754")
    assert t.ts_exch == 1680652922081 * MS and t.seq == -1
    assert decode_frame(OPTION_TRADES, "5").topic == "publicTrade.BTC"


def test_trade_rejects():
    with pytest.raises(InvalidInputError):
        Trade.from_frame(SPOT_DELTA, "0.01")  # a book frame
    with pytest.raises(InvalidInputError):
        Trade.from_frame(SPOT_TRADES, "0.1")  # 28165.38 off a 0.1 grid
    with pytest.raises(InvalidInputError):
        Trade.from_frame(SPOT_TRADES.replace('"Sell"', '"Short"', 1), "0.01")
    with pytest.raises(InvalidInputError):
        Trade.from_frame(SPOT_TRADES.replace('"0.041732"', '"-0.041732"'), "0.01")
    with pytest.raises(InvalidInputError):
        OrderBook("BTCUSDT", tick_size="0.01").apply_frame(SPOT_TRADES)


# ----------------------------------------------------------------------------- control frames

CONTROL = {
    "pong-spot": '{"success":true,"ret_msg":"pong","conn_id":"0970e817-426e-429a-a679-ff7f55e0b16a","op":"ping"}',
    "pong-linear": '{"success":true,"ret_msg":"pong","conn_id":"465772b1-7630-4fdc-a492-e003e6f0f260","req_id":"","op":"ping"}',
    "pong-option": '{"args":["1672916271846"],"op":"pong"}',
    "pong-private": '{"op":"pong","args":["1753340040127"],"conn_id":"d157a7favkf4mm3ibuvg-14toog"}',
}


@pytest.mark.parametrize("name", sorted(CONTROL))
def test_pongs(name):
    f = decode_frame(CONTROL[name], "0.01")
    assert isinstance(f, ControlFrame) and f.is_pong
    obj = json.loads(CONTROL[name])
    assert (f.op, f.success, f.ret_msg, f.conn_id, f.req_id, f.args) == (
        obj.get("op"), obj.get("success"), obj.get("ret_msg"), obj.get("conn_id"), obj.get("req_id"), obj.get("args"))


def test_subscribe_replies():
    spot = decode_frame('{"success":true,"ret_msg":"subscribe","conn_id":"2324d924-aa4d-45b0-a858-7b8be29ab52b",'
                        '"req_id":"10001","op":"subscribe"}', "0.01")
    assert (spot.op, spot.success, spot.ret_msg, spot.req_id) == ("subscribe", True, "subscribe", "10001")
    assert not spot.is_pong
    linear = decode_frame('{"success":true,"ret_msg":"","conn_id":"d6ki1eae0cl5msgggj7g-1uoz2","req_id":"","op":"subscribe"}', 1)
    assert (linear.op, linear.success, linear.ret_msg, linear.req_id, linear.conn_id) == (
        "subscribe", True, "", "", "d6ki1eae0cl5msgggj7g-1uoz2")
    option = decode_frame('{"success":true,"conn_id":"aa01fbfffe80af37-00000001-000b37b9-7147f432704fd28c-00e1c172",'
                          '"data":{"failTopics":[],"successTopics":["orderbook.100.BTC-6JAN23-18000-C"]},"type":"COMMAND_RESP"}',
                          "0.01")
    assert isinstance(option, ControlFrame) and option.success is True and not option.is_pong
    assert option.data == {"failTopics": [], "successTopics": ["orderbook.100.BTC-6JAN23-18000-C"]}
    private = decode_frame('{"success":true,"ret_msg":"","op":"subscribe","conn_id":"cejreassvfrsfvb9v1a0-2m"}', "0.01")
    assert (private.op, private.success) == ("subscribe", True)


@pytest.mark.parametrize(
    "raw,ret_msg",
    [
        ('{"success":false,"ret_msg":"args size >10","conn_id":"0a555e6f-199c-49bb-9bb8-6f8adcd8b057","op":"subscribe"}',
         "args size >10"),
        ('{"op":"subscribe","req_id":"r1","success":false,"ret_msg":"error:handler not found"}', "error:handler not found"),
        ('{"success":false,"ret_msg":"error:handler not found,topic:orderbook.500.BTCUSDT","conn_id":"c","req_id":"","op":"subscribe"}',
         "error:handler not found,topic:orderbook.500.BTCUSDT"),
    ],
)
def test_subscribe_failures_are_frames_not_errors(raw, ret_msg):
    f = decode_frame(raw, "0.01")
    assert isinstance(f, ControlFrame) and f.success is False and f.ret_msg == ret_msg and f.op == "subscribe"


def test_option_subscribe_failure():
    f = decode_frame('{"success":false,"conn_id":"x","data":{"failTopics":["orderbook.7.BTC-6JAN23-18000-C"],'
                     '"successTopics":[]},"type":"COMMAND_RESP"}', "0.01")
    assert isinstance(f, ControlFrame) and f.success is False
    assert f.data["failTopics"] == ["orderbook.7.BTC-6JAN23-18000-C"]


def test_control_frames_are_not_book_messages():
    book = OrderBook("BTCUSDT", tick_size="0.01")
    for raw in CONTROL.values():
        with pytest.raises(InvalidInputError):
            book.apply_frame(raw)
    assert book.rejected == len(CONTROL) and len(book) == 0


def test_errors_are_ofi_errors():
    with pytest.raises(OfiError):
        decode_frame("{", "0.01")
    with pytest.raises(ValueError):
        decode_frame("{", "0.01")
