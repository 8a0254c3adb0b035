"""Hand-derived tests of the reference twin (tests/reference): the spec must itself be right.

Every expected number is written out by hand from a small book; nothing is computed by the twin
and then compared with itself.
"""
from __future__ import annotations

import json
import math
from decimal import Decimal

import numpy as np
import pytest

from ofi.errors import BookIntegrityError, InvalidInputError, OfiError, SequenceGapError
from reference.book import RefBook
from reference.decode import StrictnessError, decode_frame, parse_price, parse_size

from support import TS, frame  # noqa: E402


def levels(book):
    return book.bids().tolist(), book.asks().tolist()


@pytest.fixture
def book():
    """bids 100x2, 99x3 / asks 101x1, tick 1, u=10."""
    b = RefBook("TEST", "1")
    assert b.apply_frame(frame("snapshot", [("100", "2"), ("99", "3")], [("101", "1")], 10)) is True
    return b


def state(b):
    return (b.bids().tobytes(), b.asks().tobytes(), b.update_id, b.seq, b.ts_exch, b.cts, b.n_bids, b.n_asks)


# ----------------------------------------------------------------------------- reads


def test_reads_of_small_book(book):
    assert book.best_bid() == 100.0 and book.best_ask() == 101.0
    assert book.best_bid_size() == 2.0 and book.best_ask_size() == 1.0
    assert book.best_bid_ticks() == 100 and book.best_ask_ticks() == 101
    assert book.bbo() == (100.0, 2.0, 101.0, 1.0)
    assert book.mid_price() == 100.5
    assert book.microprice() == (100.0 * 1.0 + 101.0 * 2.0) / 3.0
    assert book.microprice() == pytest.approx(100.666666666666, rel=1e-12)
    assert book.spread() == 1.0
    assert book.spread_bps() == pytest.approx(99.50248756218906, rel=1e-15)
    assert book.bid_depth(1) == 2.0 and book.bid_depth(2) == 5.0 and book.bid_depth(10) == 5.0
    assert book.ask_depth(1) == 1.0 and book.ask_depth(2) == 1.0
    assert book.depth(2) == (5.0, 1.0)
    assert book.depth_imbalance(2) == (5.0 - 1.0) / 6.0
    assert book.depth_imbalance(1) == (2.0 - 1.0) / 3.0
    assert levels(book) == ([[100.0, 2.0], [99.0, 3.0]], [[101.0, 1.0]])
    assert book.bids(1).tolist() == [[100.0, 2.0]]
    with pytest.raises(InvalidInputError):
        book.bids(0)  # n, like k, must be >= 1 (the contract is silent; the core agrees)
    bt, bs, at, az = book.top_levels(1)
    assert bt.dtype == np.int64 and bs.dtype == np.float64
    assert (bt.tolist(), bs.tolist(), at.tolist(), az.tolist()) == ([100], [2.0], [101], [1.0])
    bt, bs, at, az = book.top_levels(5)
    assert (bt.tolist(), bs.tolist(), at.tolist(), az.tolist()) == ([100, 99], [2.0, 3.0], [101], [1.0])
    assert len(book) == 3 and book.n_bids == 2 and book.n_asks == 1
    assert book.update_id == 10 and book.ready and not book.stale
    assert book.topic == "orderbook.50.TEST" and book.symbol == "TEST"
    assert book.ts_exch == TS * 1_000_000


def test_empty_sides_are_nan():
    b = RefBook("TEST", "1")
    for read in (b.best_bid, b.best_ask, b.best_bid_size, b.best_ask_size, b.mid_price,
                 b.microprice, b.spread, b.spread_bps):
        assert math.isnan(read())
    assert b.best_bid_ticks() is None and b.best_ask_ticks() is None
    assert math.isnan(b.depth_imbalance(5))
    assert b.bids().shape == (0, 2) and b.update_id == -1 and not b.ready
    b.apply_frame(frame("snapshot", [("100", "2")], [], 5))
    assert b.best_bid() == 100.0 and math.isnan(b.best_ask()) and math.isnan(b.mid_price())
    assert math.isnan(b.spread()) and math.isnan(b.microprice())
    assert b.depth(3) == (2.0, 0.0)
    assert b.depth_imbalance(3) == 1.0  # (2 - 0) / (2 + 0)


def test_tick_grid_prices_are_exact():
    b = RefBook("TEST", "0.1")
    b.apply_frame(frame("snapshot", [("0.3", "1")], [("0.7", "1")], 1))
    assert b.best_bid_ticks() == 3 and b.best_bid() == 0.3  # not 3 * 0.1 == 0.30000000000000004
    assert b.best_ask() == 0.7
    x = RefBook("XRPUSDT", "0.0001")
    x.apply_frame(frame("snapshot", [("1.9531", "6203")], [("1.9535", "8415")], 7, symbol="XRPUSDT"))
    assert x.best_bid_ticks() == 19531 and x.best_bid() == 1.9531 and x.best_ask() == 1.9535
    h = RefBook("TEST", "0.5")
    h.apply_frame(frame("snapshot", [("28552.0", "1")], [("28552.50", "1")], 3))
    assert (h.best_bid_ticks(), h.best_ask_ticks()) == (57104, 57105)


def test_spread_bps_small_tick():
    b = RefBook("TEST", "0.01")
    b.apply_frame(frame("snapshot", [("99.99", "1")], [("100.01", "3")], 2))
    # mid 100.0, spread 0.02 -> 2 bps (float subtraction of the two prices)
    assert b.mid_price() == 100.0
    assert b.spread() == 0.02  # exact tick difference, not 100.01 - 99.99 == 0.020000000000010232
    assert b.spread_bps() == pytest.approx(2.0, rel=1e-12)
    assert b.microprice() == pytest.approx((99.99 * 3 + 100.01 * 1) / 4, rel=1e-15)


# ----------------------------------------------------------------------------- deltas


def test_delta_sizes_are_absolute_and_zero_deletes(book):
    assert book.apply_frame(frame("delta", [("100", "7"), ("99", "0")], [("102", "4")], 11))
    assert levels(book) == ([[100.0, 7.0]], [[101.0, 1.0], [102.0, 4.0]])
    assert book.update_id == 11


def test_delete_of_absent_level_is_harmless(book):
    assert book.apply_frame(frame("delta", [("50", "0")], [("150", "0")], 11)) is True
    assert levels(book) == ([[100.0, 2.0], [99.0, 3.0]], [[101.0, 1.0]])
    assert book.update_id == 11 and book.ready


def test_duplicates_within_a_delta_last_wins(book):
    book.apply_frame(frame("delta", [("98", "5"), ("98", "0"), ("97", "0"), ("97", "4")], [], 11))
    assert levels(book)[0] == [[100.0, 2.0], [99.0, 3.0], [97.0, 4.0]]


def test_snapshot_replaces_book_and_drops_zero_sizes(book):
    assert book.apply_frame(frame("snapshot", [("90", "1"), ("89", "0")], [("95", "0"), ("96", "2")], 500))
    assert levels(book) == ([[90.0, 1.0]], [[96.0, 2.0]])
    assert book.update_id == 500


def test_duplicate_and_old_update_ids_are_ignored(book):
    before = state(book)
    assert book.apply_frame(frame("delta", [("100", "9")], [], 10)) is False
    assert book.apply_frame(frame("delta", [("100", "9")], [], 3)) is False
    assert state(book) == before and book.ignored == 2 and book.ready and book.messages == 1


def test_gap_raises_and_marks_stale(book):
    before = state(book)
    with pytest.raises(SequenceGapError) as ei:
        book.apply_frame(frame("delta", [("100", "9")], [], 12))
    assert (ei.value.expected, ei.value.received) == (11, 12)
    assert isinstance(ei.value, OfiError)
    assert state(book) == before and book.stale and not book.ready and book.gaps == 1 and book.rejected == 1
    # even the "right" next id is refused while stale
    with pytest.raises(SequenceGapError):
        book.apply_frame(frame("delta", [("100", "9")], [], 11))
    assert state(book) == before
    # a snapshot clears stale
    assert book.apply_frame(frame("snapshot", [("100", "1")], [("101", "1")], 20))
    assert book.ready and book.update_id == 20


def test_delta_before_any_snapshot_raises():
    b = RefBook("TEST", "1")
    with pytest.raises(SequenceGapError) as ei:
        b.apply_frame(frame("delta", [("100", "1")], [], 5))
    assert ei.value.expected is None and ei.value.received == 5
    assert len(b) == 0 and b.update_id == -1 and b.topic is None


def test_u_equal_one_is_a_reset(book):
    assert book.apply_frame(frame("delta", [("80", "1")], [("81", "2")], 1))
    assert levels(book) == ([[80.0, 1.0]], [[81.0, 2.0]])
    assert book.update_id == 1 and book.ready
    # delist / reconfiguration: u=1 with empty sides clears the book
    assert book.apply_frame(frame("delta", [], [], 1))
    assert len(book) == 0 and book.update_id == 1


def test_u_equal_one_clears_stale(book):
    with pytest.raises(SequenceGapError):
        book.apply_frame(frame("delta", [], [], 99))
    assert book.stale
    book.apply_frame(frame("delta", [("10", "1")], [], 1))
    assert not book.stale and levels(book) == ([[10.0, 1.0]], [])


@pytest.mark.parametrize("bid", ["101", "102"])  # locked, crossed
def test_crossing_delta_is_rolled_back(book, bid):
    before = state(book)
    with pytest.raises(BookIntegrityError):
        book.apply_frame(frame("delta", [(bid, "1")], [], 11))
    assert state(book) == before and book.stale and book.update_id == 10
    with pytest.raises(SequenceGapError):
        book.apply_frame(frame("delta", [], [], 11))


def test_crossing_snapshot_is_rolled_back(book):
    before = state(book)
    with pytest.raises(BookIntegrityError):
        book.apply_frame(frame("snapshot", [("105", "1")], [("104", "1")], 50))
    assert state(book) == before and book.stale


def test_delta_that_uncrosses_within_itself_is_fine(book):
    # new bid 101 would lock against ask 101, but the same delta deletes the ask first
    assert book.apply_frame(frame("delta", [("101", "4")], [("101", "0")], 11))
    assert book.best_bid() == 101.0 and math.isnan(book.best_ask())


def test_non_strict_sequence_accepts_increasing_ids():
    b = RefBook("TEST", "1", strict_sequence=False)
    b.apply_frame(frame("snapshot", [("100", "1")], [("101", "1")], 10))
    assert b.apply_frame(frame("delta", [("100", "2")], [], 15)) is True
    assert b.apply_frame(frame("delta", [("100", "3")], [], 15)) is False
    assert b.update_id == 15 and b.best_bid_size() == 2.0 and not b.stale


# ----------------------------------------------------------------------------- rejects


def test_topic_binding_and_symbol(book):
    before = state(book)
    with pytest.raises(InvalidInputError, match="topic"):
        book.apply_frame(frame("delta", [("100", "1")], [], 11, depth="1"))
    with pytest.raises(InvalidInputError, match="symbol"):
        book.apply_frame(frame("delta", [("100", "1")], [], 11, symbol="OTHER"))
    assert state(book) == before and book.ready


def test_off_grid_price_names_price_and_tick():
    b = RefBook("XRPUSDT", "0.0001")
    with pytest.raises(InvalidInputError) as ei:
        b.apply_frame(frame("snapshot", [("1.95315", "1")], [], 1, symbol="XRPUSDT"))
    assert "1.95315" in str(ei.value) and "0.0001" in str(ei.value)
    assert len(b) == 0 and b.topic is None


@pytest.mark.parametrize(
    "raw",
    [
        None, 5, [], "", "{", "[]", "null",
        '{"topic":"publicTrade.TEST","type":"snapshot","ts":1,"data":[]}',
        '{"op":"pong","args":["1"]}',
        '{"topic":"orderbook.50.TEST","type":"update","ts":1,"data":{"s":"TEST","b":[],"a":[],"u":11}}',
    ],
)
def test_garbage_is_invalid_input_and_book_untouched(book, raw):
    before = state(book)
    with pytest.raises(InvalidInputError):
        book.apply_frame(raw)
    assert state(book) == before and book.ready


# ----------------------------------------------------------------------------- apply_levels


def arr(ticks, sizes):
    return np.array(ticks, dtype=np.int64), np.array(sizes, dtype=np.float64)


def test_apply_levels_same_rules():
    b = RefBook("TEST", "1")
    assert b.apply_levels(*arr([100, 99], [2, 3]), *arr([101], [1]), snapshot=True, update_id=10)
    assert b.microprice() == (100.0 * 1.0 + 101.0 * 2.0) / 3.0
    assert b.apply_levels(*arr([99], [0]), *arr([], []), update_id=11)
    assert b.apply_levels(*arr([99], [5]), *arr([], []), update_id=11) is False
    assert levels(b) == ([[100.0, 2.0]], [[101.0, 1.0]])
    # update_id=-1: no sequence check
    assert b.apply_levels(*arr([98], [1]), *arr([], []))
    assert b.update_id == 11 and b.n_bids == 2
    with pytest.raises(SequenceGapError):
        b.apply_levels(*arr([98], [1]), *arr([], []), update_id=13)


@pytest.mark.parametrize(
    "bad",
    [
        dict(bid_ticks=np.array([100], dtype=np.int32)),
        dict(bid_sizes=np.array([1], dtype=np.float32)),
        dict(bid_ticks=np.array([100, 0, 99, 0], dtype=np.int64)[::2]),
        dict(bid_ticks=np.array([[100]], dtype=np.int64)),
        dict(bid_sizes=np.array([1.0, 2.0])),
        dict(bid_sizes=np.array([float("nan")])),
        dict(bid_sizes=np.array([-1.0])),
        dict(bid_sizes=np.array([float("inf")])),
    ],
)
def test_apply_levels_validation(book, bad):
    args = dict(bid_ticks=np.array([100], dtype=np.int64), bid_sizes=np.array([1.0]),
                ask_ticks=np.array([], dtype=np.int64), ask_sizes=np.array([], dtype=np.float64))
    args.update(bad)
    before = state(book)
    with pytest.raises(InvalidInputError):
        book.apply_levels(args["bid_ticks"], args["bid_sizes"], args["ask_ticks"], args["ask_sizes"],
                          update_id=11)
    assert state(book) == before and book.ready


# ----------------------------------------------------------------------------- misc


def test_copy_is_independent(book):
    other = book.copy()
    other.apply_frame(frame("delta", [("100", "9")], [], 11))
    assert book.best_bid_size() == 2.0 and other.best_bid_size() == 9.0
    assert book.update_id == 10 and other.update_id == 11


def test_from_rest_envelope_and_result():
    result = {"s": "BTCUSDT", "a": [["65557.7", "16.606555"]], "b": [["65485.47", "47.081829"]],
              "ts": 1716863719031, "u": 230704, "seq": 1432604333, "cts": 1716863718905}
    env = {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": 1716863719382}
    for payload in (env, result, json.dumps(env)):
        b = RefBook.from_rest(payload, "0.01")
        assert b.bbo() == (65485.47, 47.081829, 65557.7, 16.606555)
        assert b.update_id == 230704 and b.seq == 1432604333
        assert b.ts_exch == 1716863719031_000_000 and b.cts == 1716863718905_000_000


# ----------------------------------------------------------------------------- decoder


def test_parse_price_and_size():
    tick = Decimal("0.0001")
    assert parse_price("1.9531", tick) == 19531
    assert parse_price("1.95310000", tick) == 19531
    assert parse_price("2", tick) == 20000
    with pytest.raises(InvalidInputError):
        parse_price("1.95311", tick)
    with pytest.raises(InvalidInputError):
        parse_price("-1.9531", tick)
    with pytest.raises(InvalidInputError):
        parse_price(str(2**63 // 10**4 + 1), tick)  # ticks beyond int64
    assert parse_size("0.000329") == 0.000329
    assert parse_size("6203") == 6203.0 and parse_size("0") == 0.0
    for bad in ("", "-1", "abc", "1.2.3", "1" * 400):
        with pytest.raises(InvalidInputError):
            parse_size(bad)
    with pytest.raises(StrictnessError):
        parse_size("1e3")


def test_decode_key_order_and_whitespace_do_not_matter():
    a = '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1731035685345,"data":{"s":"BTCUSDT","b":[["75848.62","0.014895"]],"a":[],"u":2876701,"seq":47474967823},"cts":1731035685342}'
    b = ' { "data" : { "seq" : 47474967823 , "u" : 2876701 , "a" : [ ] , "b" : [ [ "75848.62" , "0.014895" ] ] , "s" : "BTCUSDT" } ,\n "cts":1731035685342,\t"ts" : 1731035685345 , "type" : "delta" , "topic" : "orderbook.50.BTCUSDT" } '
    fa, fb = decode_frame(a, "0.01"), decode_frame(b, "0.01")
    assert fa == fb
    assert fa["bids"] == [(7584862, 0.014895)] and fa["asks"] == []
    assert fa["update_id"] == 2876701 and fa["seq"] == 47474967823
    assert fa["ts_exch"] == 1731035685345_000_000 and fa["cts"] == 1731035685342_000_000
    assert fa["snapshot"] is False


def test_decode_unsupported_topic_named():
    with pytest.raises(InvalidInputError, match="tickers"):
        decode_frame('{"topic":"tickers.BTCUSDT","type":"snapshot","ts":1,"data":{}}', "0.1")


def test_decode_u_overflow():
    raw = frame("delta", [], [], 2**63)
    with pytest.raises(InvalidInputError):
        decode_frame(raw, "1")


def test_twin_rejects_numbers_beyond_decimal_range_as_invalid_input():
    # hypothesis found this: Decimal raised decimal.InvalidOperation out of json.loads.
    with pytest.raises(InvalidInputError):
        decode_frame("1e40017330112006931733011200693", "0.1")
