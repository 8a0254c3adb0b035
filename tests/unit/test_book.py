"""Hand-written tests of the compiled ``ofi.OrderBook`` (docs/core-api.md, "OrderBook").

Expected numbers are written out by hand (the same small books as tests/unit/test_reference_book.py);
every rejected message is checked to leave the book exactly as it was (all levels, ids, times).
"""
from __future__ import annotations

import json
import math
from decimal import Decimal

import numpy as np
import pytest

from ofi import InstrumentSpec, OrderBook
from ofi.errors import BookIntegrityError, ExchangeError, InvalidInputError, OfiError, SequenceGapError
from ofi.venues.bybit.snapshot import book_from_rest

from support import TS, frame  # noqa: E402


def arr(ticks, sizes):
    return np.array(ticks, dtype=np.int64), np.array(sizes, dtype=np.float64)


def levels(book):
    return book.bids().tolist(), book.asks().tolist()


def state(b):
    """Everything a rejected message must leave alone (stale is checked separately)."""
    return (b.bids().tobytes(), b.asks().tobytes(), b.update_id, b.seq, b.ts_exch, b.cts, b.ts_local,
            b.n_bids, b.n_asks, len(b), b.topic)


@pytest.fixture
def book():
    """bids 100x2, 99x3 / asks 101x1, tick 1, u=10, ts=TS, seq=77, cts=TS-2."""
    b = OrderBook("TEST", tick_size="1")
    assert b.apply_frame(frame("snapshot", [("100", "2"), ("99", "3")], [("101", "1")], 10,
                               seq=77, cts=TS - 2), ts_local=123) is True
    return b


# ----------------------------------------------------------------------------- construction, reads


def test_fresh_book():
    b = OrderBook("TEST", tick_size="0.5")
    assert b.symbol == "TEST" and b.tick_size == 0.5 and b.topic is None
    assert b.update_id == -1 and not b.ready and not b.stale and len(b) == 0
    assert b.n_bids == 0 and b.n_asks == 0 and b.ts_exch == 0 and b.cts == 0
    assert (b.messages, b.rejected, b.gaps, b.ignored) == (0, 0, 0, 0)
    for read in (b.best_bid, b.best_ask, b.best_bid_size, b.best_ask_size, b.mid_price,
                 b.microprice, b.spread, b.spread_bps):
        assert math.isnan(read())
    assert b.best_bid_ticks() is None and b.best_ask_ticks() is None
    assert all(math.isnan(x) for x in b.bbo())
    assert b.bids().shape == (0, 2) and b.bids().dtype == np.float64
    assert b.asks().shape == (0, 2)
    assert math.isnan(b.depth_imbalance(5))
    assert b.depth(3) == (0.0, 0.0)


def test_spec_constructor():
    b = OrderBook("TEST", spec=InstrumentSpec("TEST", "0.01"))
    assert b.tick_size == 0.01 and b.spec.tick_size == Decimal("0.01")
    with pytest.raises(InvalidInputError):
        OrderBook("TEST", tick_size="0.1", spec=InstrumentSpec("TEST", "0.01"))
    for tick in (0.1, Decimal("0.1"), "0.10"):
        f = OrderBook("TEST", tick_size=tick)
        f.apply_frame(frame("snapshot", [("0.3", "1")], [("0.7", "1")], 1))
        assert f.tick_size == 0.1 and f.best_bid() == 0.3 and f.best_bid_ticks() == 3
    with pytest.raises(InvalidInputError):
        OrderBook("TEST")
    with pytest.raises(InvalidInputError):
        OrderBook("TEST", tick_size="0")
    with pytest.raises(InvalidInputError):
        OrderBook("", tick_size="1")


def test_reads_of_small_book(book):
    assert book.best_bid() == 100.0 and book.best_ask() == 101.0
    assert book.best_bid_size() == 2.0 and book.best_ask_size() == 1.0
    assert book.best_bid_ticks() == 100 and book.best_ask_ticks() == 101
    assert book.bbo() == (100.0, 2.0, 101.0, 1.0)
    assert book.mid_price() == 100.5
    assert book.microprice() == (100.0 * 1.0 + 101.0 * 2.0) / 3.0
    assert book.microprice() == pytest.approx(100.666666666666, rel=1e-12)
    assert book.spread() == 1.0
    assert book.spread_bps() == pytest.approx(1.0 / 100.5 * 1e4, rel=1e-15)
    assert book.bid_depth(1) == 2.0 and book.bid_depth(2) == 5.0 and book.bid_depth(10) == 5.0
    assert book.ask_depth(1) == 1.0 and book.ask_depth(2) == 1.0
    assert book.depth(2) == (5.0, 1.0)
    assert book.depth_imbalance(2) == (5.0 - 1.0) / 6.0
    assert book.depth_imbalance(1) == (2.0 - 1.0) / 3.0
    assert levels(book) == ([[100.0, 2.0], [99.0, 3.0]], [[101.0, 1.0]])
    assert book.bids(1).tolist() == [[100.0, 2.0]] and book.bids(1).shape == (1, 2)
    assert book.bids(50).tolist() == [[100.0, 2.0], [99.0, 3.0]]
    bt, bs, at, az = book.top_levels(1)
    assert (bt.dtype, bs.dtype, at.dtype, az.dtype) == (np.int64, np.float64, np.int64, np.float64)
    assert (bt.tolist(), bs.tolist(), at.tolist(), az.tolist()) == ([100], [2.0], [101], [1.0])
    bt, bs, at, az = book.top_levels(5)
    assert (bt.tolist(), bs.tolist(), at.tolist(), az.tolist()) == ([100, 99], [2.0, 3.0], [101], [1.0])
    assert len(book) == 3 and book.n_bids == 2 and book.n_asks == 1
    assert book.update_id == 10 and book.ready and not book.stale
    assert book.topic == "orderbook.50.TEST"
    assert book.ts_exch == TS * 1_000_000 and book.cts == (TS - 2) * 1_000_000
    assert book.seq == 77 and book.ts_local == 123
    book.check_integrity()


def test_one_sided_book():
    b = OrderBook("TEST", tick_size="1")
    b.apply_frame(frame("snapshot", [("100", "2")], [], 5))
    assert b.best_bid() == 100.0 and math.isnan(b.best_ask()) and math.isnan(b.best_ask_size())
    assert math.isnan(b.mid_price()) and math.isnan(b.spread()) and math.isnan(b.microprice())
    assert math.isnan(b.spread_bps())
    assert b.bid_depth(3) == 2.0 and b.ask_depth(3) == 0.0
    assert b.depth_imbalance(3) == 1.0  # (2 - 0) / (2 + 0)
    assert b.asks().shape == (0, 2) and b.best_ask_ticks() is None


def test_small_tick_reads():
    b = OrderBook("TEST", tick_size="0.01")
    b.apply_frame(frame("snapshot", [("99.99", "1")], [("100.01", "3")], 2))
    assert b.best_bid() == 99.99 and b.best_ask() == 100.01
    assert b.mid_price() == 100.0
    assert b.spread() == pytest.approx(0.02, rel=1e-12)
    assert b.spread_bps() == pytest.approx(2.0, rel=1e-12)
    assert b.microprice() == pytest.approx((99.99 * 3 + 100.01 * 1) / 4, rel=1e-15)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "3", None])
def test_depth_k_must_be_positive_int(book, bad):
    with pytest.raises(InvalidInputError):
        book.bid_depth(bad)


# ----------------------------------------------------------------------------- prices


def test_float_prices_equal_float_of_decimal_string():
    b = OrderBook("TEST", tick_size="0.1")
    b.apply_frame(frame("snapshot", [("0.3", "1")], [("0.7", "1")], 1))
    assert b.best_bid_ticks() == 3 and b.best_bid() == 0.3  # 3 * 0.1 would be 0.30000000000000004
    assert b.best_ask() == 0.7
    c = OrderBook("BTCUSDT", tick_size="0.01")
    c.apply_frame(frame("snapshot", [("75848.74", "0.067669")], [("75848.89", "0.088149")], 9, symbol="BTCUSDT"))
    assert c.bbo() == (75848.74, 0.067669, 75848.89, 0.088149)
    assert (c.best_bid_ticks(), c.best_ask_ticks()) == (7584874, 7584889)


@pytest.mark.parametrize("tick", ["0.1", "0.01", "0.0001", "0.5", "0.00001", "0.25", "0.0005", "1e-8"])
def test_every_price_on_a_grid_is_correctly_rounded(tick):
    """20,000 consecutive tick counts per grid, both sides, against Decimal arithmetic."""
    start = 987_654
    ticks = np.arange(start, start + 20_000, dtype=np.int64)
    b = OrderBook("TEST", tick_size=tick)
    b.apply_levels(ticks[:10_000].copy(), np.ones(10_000), ticks[10_000:].copy(), np.ones(10_000),
                   snapshot=True, update_id=5)
    d = Decimal(tick)
    expected_bids = [float(Decimal(int(t)) * d) for t in ticks[:10_000][::-1]]
    expected_asks = [float(Decimal(int(t)) * d) for t in ticks[10_000:]]
    assert b.bids()[:, 0].tolist() == expected_bids
    assert b.asks()[:, 0].tolist() == expected_asks
    assert b.best_bid() == expected_bids[0] and b.best_ask() == expected_asks[0]


@pytest.mark.parametrize(
    "tick,ticks",
    [
        ("0.01", 2**53 + 1),  # 90071992547409.93 -> nearest double 90071992547409.94
        ("0.01", 2**53 + 3),
        ("0.01", 123_456_789_012_345_678),
        ("0.5", 1_999_999_999_999_999_998),  # price 999999999999999999 (ticks * 5 overflows int64)
        ("0.25", 2**62),
        ("0.00000001", 2**55 + 7),
        ("0.1", 2**60 + 3),
        ("1", 2**63 - 1),
    ],
)
def test_float_prices_exact_for_large_tick_counts(tick, ticks):
    """docs/core-api.md: public float prices are ticks * tick_size exactly as float(str(price)),
    which must hold over the whole int64 tick range the book accepts."""
    b = OrderBook("TEST", tick_size=tick)
    b.apply_levels(*arr([ticks], [1.0]), *arr([], []), snapshot=True, update_id=1)
    assert b.best_bid_ticks() == ticks
    assert b.best_bid() == float(Decimal(ticks) * Decimal(tick))
    assert b.bids()[0, 0] == float(Decimal(ticks) * Decimal(tick))


def test_large_price_through_a_frame():
    b = OrderBook("TEST", tick_size="0.01")
    b.apply_frame(frame("snapshot", [("90071992547409.93", "1")], [("90071992547409.97", "1")], 1))
    assert (b.best_bid_ticks(), b.best_ask_ticks()) == (2**53 + 1, 2**53 + 5)
    assert b.best_bid() == float("90071992547409.93")  # == 90071992547409.94
    assert b.best_ask() == float("90071992547409.97")


# ----------------------------------------------------------------------------- message rules


def test_delta_sizes_are_absolute_and_zero_deletes(book):
    assert book.apply_frame(frame("delta", [("100", "7"), ("99", "0")], [("102", "4")], 11, seq=78)) is True
    assert levels(book) == ([[100.0, 7.0]], [[101.0, 1.0], [102.0, 4.0]])
    assert book.update_id == 11 and book.seq == 78


def test_delete_of_absent_level_is_harmless(book):
    assert book.apply_frame(frame("delta", [("50", "0")], [("150", "0")], 11)) is True
    assert levels(book) == ([[100.0, 2.0], [99.0, 3.0]], [[101.0, 1.0]])
    assert book.update_id == 11 and book.ready


def test_empty_delta_advances_update_id(book):
    assert book.apply_frame(frame("delta", [], [], 11)) is True
    assert book.update_id == 11 and levels(book) == ([[100.0, 2.0], [99.0, 3.0]], [[101.0, 1.0]])


def test_duplicates_within_a_delta_last_wins(book):
    book.apply_frame(frame("delta", [("98", "5"), ("98", "0"), ("97", "0"), ("97", "4"), ("99", "1"), ("99", "6")],
                           [], 11))
    assert levels(book)[0] == [[100.0, 2.0], [99.0, 6.0], [97.0, 4.0]]


def test_duplicates_within_a_snapshot_last_wins():
    b = OrderBook("TEST", tick_size="1")
    b.apply_frame(frame("snapshot", [("98", "5"), ("98", "0"), ("97", "0"), ("97", "4")],
                        [("105", "1"), ("105", "2")], 3))
    assert levels(b) == ([[97.0, 4.0]], [[105.0, 2.0]])


def test_unsorted_delta(book):
    book.apply_frame(frame("delta", [("90", "1"), ("98", "1"), ("95", "1")], [("110", "1"), ("102", "1")], 11))
    assert book.bids()[:, 0].tolist() == [100.0, 99.0, 98.0, 95.0, 90.0]
    assert book.asks()[:, 0].tolist() == [101.0, 102.0, 110.0]
    book.check_integrity()


def test_snapshot_replaces_book_and_drops_zero_sizes(book):
    assert book.apply_frame(frame("snapshot", [("90", "1"), ("89", "0")], [("95", "0"), ("96", "2")], 500))
    assert levels(book) == ([[90.0, 1.0]], [[96.0, 2.0]])
    assert book.update_id == 500 and book.ready


def test_snapshot_with_same_or_lower_u_still_resets(book):
    # level-1 streams repeat the snapshot with the same u; any snapshot resets the book
    assert book.apply_frame(frame("snapshot", [("90", "1")], [("91", "1")], 10)) is True
    assert levels(book) == ([[90.0, 1.0]], [[91.0, 1.0]])
    assert book.apply_frame(frame("snapshot", [("80", "1")], [("81", "1")], 4)) is True
    assert book.update_id == 4 and levels(book) == ([[80.0, 1.0]], [[81.0, 1.0]])


def test_duplicate_and_old_update_ids_are_ignored(book):
    before = state(book)
    assert book.apply_frame(frame("delta", [("100", "9")], [], 10)) is False
    assert book.apply_frame(frame("delta", [("100", "9")], [], 3), ts_local=999) is False
    assert state(book) == before and book.ignored == 2 and book.ready and not book.stale


def test_gap_raises_and_marks_stale(book):
    before = state(book)
    with pytest.raises(SequenceGapError) as ei:
        book.apply_frame(frame("delta", [("100", "9")], [], 12))
    assert (ei.value.expected, ei.value.received) == (11, 12)
    assert isinstance(ei.value, OfiError)
    assert state(book) == before and book.stale and not book.ready and book.gaps >= 1
    with pytest.raises(SequenceGapError):
        book.apply_frame(frame("delta", [("100", "9")], [], 11))  # even the right id, while stale
    assert state(book) == before and book.stale
    assert book.apply_frame(frame("snapshot", [("100", "1")], [("101", "1")], 20))
    assert book.ready and not book.stale and book.update_id == 20


def test_delta_before_any_snapshot_raises():
    b = OrderBook("TEST", tick_size="1")
    with pytest.raises(SequenceGapError) as ei:
        b.apply_frame(frame("delta", [("100", "1")], [], 5))
    assert ei.value.received == 5
    assert len(b) == 0 and b.update_id == -1 and not b.ready
    with pytest.raises(SequenceGapError):
        b.apply_levels(*arr([100], [1]), *arr([], []), update_id=-1)
    assert len(b) == 0


def test_u_equal_one_is_a_reset(book):
    assert book.apply_frame(frame("delta", [("80", "1")], [("81", "2")], 1))
    assert levels(book) == ([[80.0, 1.0]], [[81.0, 2.0]])
    assert book.update_id == 1 and book.ready
    assert book.apply_frame(frame("delta", [("80", "3")], [], 2))
    assert book.best_bid_size() == 3.0
    assert book.apply_frame(frame("delta", [], [], 1))  # delist/reconfigure: u=1 with empty sides
    assert len(book) == 0 and book.update_id == 1 and book.ready


def test_u_equal_one_clears_stale(book):
    with pytest.raises(SequenceGapError):
        book.apply_frame(frame("delta", [], [], 99))
    assert book.stale
    assert book.apply_frame(frame("delta", [("10", "1")], [], 1))
    assert not book.stale and levels(book) == ([[10.0, 1.0]], [])


@pytest.mark.parametrize("bid", ["101", "102", "150"])  # locked, crossed, crossed deep
def test_crossing_delta_is_rolled_back(book, bid):
    before = state(book)
    with pytest.raises(BookIntegrityError):
        book.apply_frame(frame("delta", [("98", "1"), (bid, "1")], [("103", "1")], 11))
    assert state(book) == before and book.stale and book.update_id == 10
    with pytest.raises(SequenceGapError):
        book.apply_frame(frame("delta", [], [], 11))
    assert state(book) == before


def test_crossing_by_ask_is_rolled_back(book):
    before = state(book)
    with pytest.raises(BookIntegrityError):
        book.apply_frame(frame("delta", [], [("100", "5")], 11))
    assert state(book) == before and book.stale


def test_crossing_snapshot_is_rolled_back(book):
    before = state(book)
    with pytest.raises(BookIntegrityError):
        book.apply_frame(frame("snapshot", [("105", "1"), ("90", "1")], [("104", "1")], 50))
    assert state(book) == before and book.stale
    assert book.apply_frame(frame("snapshot", [("90", "1")], [("104", "1")], 51))
    assert book.ready


def test_delta_that_uncrosses_within_itself_is_fine(book):
    assert book.apply_frame(frame("delta", [("101", "4")], [("101", "0")], 11))
    assert book.best_bid() == 101.0 and math.isnan(book.best_ask())


def test_non_strict_sequence_accepts_increasing_ids():
    b = OrderBook("TEST", tick_size="1", strict_sequence=False)
    b.apply_frame(frame("snapshot", [("100", "1")], [("101", "1")], 10))
    assert b.apply_frame(frame("delta", [("100", "2")], [], 15)) is True
    assert b.apply_frame(frame("delta", [("100", "3")], [], 15)) is False
    assert b.apply_frame(frame("delta", [("100", "4")], [], 12)) is False
    assert b.update_id == 15 and b.best_bid_size() == 2.0 and not b.stale and b.ignored == 2


def test_counters(book):
    """messages: applied; rejected: every error; gaps: real gaps; ignored: duplicates (see the twin's doc)."""
    assert (book.messages, book.rejected, book.gaps, book.ignored) == (1, 0, 0, 0)
    with pytest.raises(InvalidInputError):
        book.apply_frame("{")
    assert book.apply_frame(frame("delta", [], [], 11))
    assert book.apply_frame(frame("delta", [], [], 11)) is False
    with pytest.raises(SequenceGapError):
        book.apply_frame(frame("delta", [], [], 13))
    with pytest.raises(SequenceGapError):  # refused while stale: rejected, but not another gap
        book.apply_frame(frame("delta", [], [], 12))
    assert (book.messages, book.rejected, book.gaps, book.ignored) == (2, 3, 1, 1)


# ----------------------------------------------------------------------------- frame rejects


def test_topic_binding_and_symbol(book):
    before = state(book)
    with pytest.raises(InvalidInputError, match="topic"):
        book.apply_frame(frame("delta", [("100", "1")], [], 11, depth="1"))
    with pytest.raises(InvalidInputError, match="topic"):
        book.apply_frame(frame("snapshot", [("100", "1")], [("101", "1")], 11, depth="200"))
    with pytest.raises(InvalidInputError):
        book.apply_frame(frame("delta", [("100", "1")], [], 11, symbol="OTHER"))
    assert state(book) == before and book.ready and not book.stale
    assert book.apply_frame(frame("delta", [("100", "1")], [], 11))


def test_wrong_symbol_before_binding():
    b = OrderBook("XRPUSDT", tick_size="0.0001")
    with pytest.raises(InvalidInputError, match="symbol|XRPUSD"):
        b.apply_frame(frame("snapshot", [("1.9531", "1")], [], 1, symbol="XRPUSD"))
    assert b.topic is None and len(b) == 0 and b.update_id == -1


def test_off_grid_price_names_price_and_tick(book):
    before = state(book)
    with pytest.raises(InvalidInputError) as ei:
        book.apply_frame(frame("delta", [("99", "1"), ("98.5", "1")], [], 11))
    assert "98.5" in str(ei.value)
    assert state(book) == before and book.ready


@pytest.mark.parametrize(
    "raw",
    [
        "", "{", "[]", "null", "42", '"orderbook"', b"\xff\xfe", "{}",
        '{"topic":"publicTrade.TEST","type":"snapshot","ts":1,"data":[]}',
        '{"topic":"tickers.TEST","type":"snapshot","ts":1,"data":{"symbol":"TEST"}}',
        '{"op":"pong","args":["1"]}',
        '{"success":true,"ret_msg":"pong","conn_id":"x","op":"ping"}',
        '{"topic":"orderbook.50.TEST","type":"update","ts":1,"data":{"s":"TEST","b":[],"a":[],"u":11}}',
        '{"topic":"orderbook.50.TEST","type":"delta","ts":1,"data":{"s":"TEST","b":[["100"]],"a":[],"u":11}}',
        '{"topic":"orderbook.50.TEST","type":"delta","ts":1,"data":{"s":"TEST","b":[["100","-1"]],"a":[],"u":11}}',
        '{"topic":"orderbook.50.TEST","type":"delta","ts":1,"data":{"s":"TEST","b":[["100",""]],"a":[],"u":11}}',
        '{"topic":"orderbook.50.TEST","type":"delta","ts":1,"data":{"s":"TEST","b":[["abc","1"]],"a":[],"u":11}}',
        '{"topic":"orderbook.50.TEST","type":"delta","ts":1,"data":{"s":"TEST","b":[],"a":[],"u":"11"}}',
        '{"topic":"orderbook.50.TEST","type":"delta","ts":1,"data":{"s":"TEST","b":[],"a":[],"u":11}} x',
        '{"topic":"orderbook.50.TEST","type":"delta","ts":1,"data":{"s":"TEST","b":[],"a":[],"u":11}',
    ],
)
def test_garbage_is_invalid_input_and_book_untouched(book, raw):
    before = state(book)
    with pytest.raises(InvalidInputError):
        book.apply_frame(raw)
    assert state(book) == before and book.ready and not book.stale


@pytest.mark.parametrize("raw", [None, 5, 1.5, ["x"], {"topic": "orderbook.50.TEST"}])
def test_non_text_input_is_invalid_input(book, raw):
    before = state(book)
    with pytest.raises(InvalidInputError):
        book.apply_frame(raw)
    assert state(book) == before and book.ready


def test_bytes_like_inputs_are_accepted(book):
    raw = frame("delta", [("100", "5")], [], 11)
    for i, conv in enumerate((str.encode, lambda s: bytearray(s.encode()), lambda s: memoryview(s.encode()))):
        b = book.copy()
        assert b.apply_frame(conv(raw)) is True
        assert b.best_bid_size() == 5.0 and b.update_id == 11


def test_error_types_inherit_builtins():
    assert issubclass(InvalidInputError, ValueError) and issubclass(InvalidInputError, OfiError)
    assert issubclass(SequenceGapError, OfiError) and issubclass(BookIntegrityError, OfiError)


# ----------------------------------------------------------------------------- apply_levels


def test_apply_levels_same_rules():
    b = OrderBook("TEST", tick_size="1")
    assert b.apply_levels(*arr([100, 99], [2, 3]), *arr([101], [1]), snapshot=True, update_id=10,
                          ts_exch=5_000, ts_local=6_000)
    assert b.microprice() == (100.0 * 1.0 + 101.0 * 2.0) / 3.0
    assert (b.update_id, b.ts_exch, b.ts_local, b.ready) == (10, 5_000, 6_000, True)
    assert b.apply_levels(*arr([99], [0]), *arr([], []), update_id=11)
    assert b.apply_levels(*arr([99], [5]), *arr([], []), update_id=11) is False
    assert levels(b) == ([[100.0, 2.0]], [[101.0, 1.0]])
    assert b.apply_levels(*arr([98], [1]), *arr([], []))  # update_id=-1: no sequence check
    assert b.update_id == 11 and b.n_bids == 2
    before = state(b)
    with pytest.raises(SequenceGapError) as ei:
        b.apply_levels(*arr([97], [1]), *arr([], []), update_id=13)
    assert (ei.value.expected, ei.value.received) == (12, 13)
    assert state(b) == before and b.stale


def test_apply_levels_u_equal_one_resets():
    b = OrderBook("TEST", tick_size="1")
    b.apply_levels(*arr([100, 99], [2, 3]), *arr([101], [1]), snapshot=True, update_id=10)
    assert b.apply_levels(*arr([50], [1]), *arr([60], [1]), update_id=1)
    assert levels(b) == ([[50.0, 1.0]], [[60.0, 1.0]]) and b.update_id == 1


def test_apply_levels_crossing_rolls_back():
    b = OrderBook("TEST", tick_size="1")
    b.apply_levels(*arr([100, 99], [2, 3]), *arr([101], [1]), snapshot=True, update_id=10)
    before = state(b)
    with pytest.raises(BookIntegrityError):
        b.apply_levels(*arr([99, 100, 101], [0, 0, 1]), *arr([102], [1]), update_id=11)
    assert state(b) == before and b.stale


def _good_args():
    return dict(bid_ticks=np.array([100], dtype=np.int64), bid_sizes=np.array([1.0]),
                ask_ticks=np.array([], dtype=np.int64), ask_sizes=np.array([], dtype=np.float64))


@pytest.mark.parametrize(
    "bad",
    [
        dict(bid_ticks=np.array([100.5])),  # fractional ticks
        dict(bid_ticks=np.array([100.0])),  # float ticks
        dict(bid_ticks=np.array(["100"])),
        dict(bid_sizes=np.array(["1"])),
        dict(bid_ticks=np.array([[100]], dtype=np.int64), bid_sizes=np.array([[1.0]])),  # 2-D
        dict(bid_sizes=np.array([[1.0]])),
        dict(bid_ticks=np.array(100, dtype=np.int64), bid_sizes=np.array(1.0)),  # 0-D
        dict(bid_sizes=np.array([1.0, 2.0])),  # mismatched lengths
        dict(ask_ticks=np.array([101, 102], dtype=np.int64), ask_sizes=np.array([1.0])),
        dict(bid_sizes=np.array([float("nan")])),
        dict(bid_sizes=np.array([-1.0])),
        dict(bid_sizes=np.array([-0.5])),
        dict(bid_sizes=np.array([float("inf")])),
        dict(bid_sizes=np.array([-float("inf")])),
        dict(ask_ticks=np.array([101, 102], dtype=np.int64), ask_sizes=np.array([1.0, float("nan")])),
        dict(bid_ticks=None),
        dict(ask_sizes=None),
        dict(bid_ticks=np.array([2**63], dtype=np.uint64)),  # does not fit int64: a lossy cast
    ],
    ids=["frac-ticks", "float-ticks", "str-ticks", "str-sizes", "2d", "2d-sizes", "0d", "len-bids",
         "len-asks", "nan", "neg", "neg-half", "inf", "-inf", "nan-ask", "none-ticks", "none-sizes",
         "uint64-overflow"],
)
def test_apply_levels_validation(book, bad):
    args = _good_args()
    args.update(bad)
    before = state(book)
    with pytest.raises(InvalidInputError):
        book.apply_levels(args["bid_ticks"], args["bid_sizes"], args["ask_ticks"], args["ask_sizes"],
                          update_id=11)
    assert state(book) == before and book.ready and not book.stale


def _f64(bits: int) -> float:
    return float(np.array([bits], dtype=np.uint64).view(np.float64)[0])


SIZE_EDGES = [0.0, -0.0, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1.5, -5e-324, -1.5,
              math.inf, -math.inf, math.nan, _f64(0xFFF8000000000000), _f64(0x7FF0000000000001),
              _f64(0xFFFFFFFFFFFFFFFF)]


@pytest.mark.parametrize("size", SIZE_EDGES, ids=["0", "-0", "min-denormal", "min-normal", "max", "1.5",
                                                 "-min-denormal", "-1.5", "inf", "-inf", "nan", "-nan", "snan",
                                                 "all-ones"])
def test_size_checked_as_its_bits_equals_finite_and_not_negative(size):
    """The kernel checks a size through its IEEE bits (one integer compare); it must accept exactly
    what ``math.isfinite(x) and x >= 0`` accepts (so -0.0 is a delete), on the decoder-level path
    (apply_levels) and the tape path (replay_tape)."""
    ok = math.isfinite(size) and size >= 0
    for via in ("levels", "tape"):
        b = OrderBook("BTCUSDT", tick_size="0.1")
        b.apply_snapshot(10, np.array([100, 99], dtype=np.int64), np.array([1.0, 2.0]),
                         np.array([101], dtype=np.int64), np.array([3.0]))
        if via == "levels":
            call = lambda: b.apply_delta(11, np.array([99], dtype=np.int64), np.array([size]),  # noqa: E731
                                         np.array([], dtype=np.int64), np.array([], dtype=np.float64))
        else:
            from ofi.data.tape import FLAG_BEGIN, FLAG_END, KIND_BOOK, TAPE_DTYPE, replay_tape
            t = np.zeros(1, dtype=TAPE_DTYPE)
            t["kind"], t["side"], t["price_ticks"], t["size"] = KIND_BOOK, 1, 99, size
            t["update_id"], t["flags"] = 11, FLAG_BEGIN | FLAG_END
            call = lambda: replay_tape(t, book=b)  # noqa: E731
        if ok:
            call()
            want = [100] if size == 0 else [100, 99]
            assert b.top_levels(5)[0].tolist() == want, via
            if size != 0:
                assert b.top_levels(5)[1][1] == size, via
        else:
            with pytest.raises(InvalidInputError, match="must be finite"):
                call()
            assert b.top_levels(5)[0].tolist() == [100, 99] and b.update_id == 10, via


@pytest.mark.parametrize(
    "alt",
    [
        dict(bid_ticks=np.array([100, 97], dtype=np.int32)),
        dict(bid_ticks=np.array([100, 97], dtype=np.uint32)),
        dict(bid_sizes=np.array([4.0, 2.0], dtype=np.float32)),
        dict(bid_sizes=np.array([4, 2], dtype=np.int64)),
        dict(bid_ticks=np.array([100, 0, 97, 0], dtype=np.int64)[::2]),  # non-contiguous
        dict(bid_sizes=np.array([4.0, 0.0, 2.0, 0.0])[::2]),
        dict(bid_ticks=np.array([97, 100], dtype=np.int64)[::-1]),  # negative stride
        dict(ask_ticks=np.array([[103, 0], [102, 0]], dtype=np.int64)[:, 0], ask_sizes=np.array([2.0, 0.0])),
    ],
    ids=["int32", "uint32", "float32", "int-sizes", "strided-ticks", "strided-sizes", "reversed", "column"],
)
def test_apply_levels_other_layouts_refused_or_read_correctly(book, alt):
    """A lossless dtype or a strided view is either refused (InvalidInputError, book untouched) or read
    element by element exactly as its C-contiguous int64/float64 copy."""
    canon = dict(bid_ticks=np.array([100, 97], dtype=np.int64), bid_sizes=np.array([4.0, 2.0]),
                 ask_ticks=np.array([103, 102], dtype=np.int64), ask_sizes=np.array([2.0, 0.0]))
    args = dict(canon)
    args.update(alt)
    expected = book.copy()
    expected.apply_levels(canon["bid_ticks"], canon["bid_sizes"], canon["ask_ticks"], canon["ask_sizes"], update_id=11)
    assert levels(expected) == ([[100.0, 4.0], [99.0, 3.0], [97.0, 2.0]], [[101.0, 1.0], [103.0, 2.0]])
    before = state(book)
    try:
        applied = book.apply_levels(args["bid_ticks"], args["bid_sizes"], args["ask_ticks"], args["ask_sizes"],
                                    update_id=11)
    except InvalidInputError:
        assert state(book) == before and book.ready
    else:
        assert applied is True
        assert state(book) == state(expected)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(dict(bid_sizes=np.array([float("nan")])), id="nan"),
        pytest.param(dict(bid_sizes=np.array([1.0, 2.0])), id="lengths"),
        pytest.param(dict(bid_ticks=np.array([[100]], dtype=np.int64), bid_sizes=np.array([[1.0]])), id="2d"),
        pytest.param(dict(bid_ticks=np.array([100.5])), id="frac"),
    ],
)
def test_rejected_apply_levels_are_counted(book, bad):
    args = _good_args()
    args.update(bad)
    rejected = book.rejected
    with pytest.raises(InvalidInputError):
        book.apply_levels(args["bid_ticks"], args["bid_sizes"], args["ask_ticks"], args["ask_sizes"], update_id=11)
    assert book.rejected == rejected + 1


@pytest.mark.parametrize("kw", [dict(update_id=2**63), dict(update_id=-2), dict(update_id=-5, snapshot=True),
                                dict(ts_exch=2**64), dict(ts_local=-(2**63) - 1)],
                         ids=["u-2**63", "u-minus-2", "snapshot-u-minus-5", "ts_exch-2**64", "ts_local-low"])
def test_apply_levels_bad_scalars(book, kw):
    before = state(book)
    args = dict(update_id=11)
    args.update(kw)
    with pytest.raises(InvalidInputError):
        book.apply_levels(*arr([100], [1.0]), *arr([], []), **args)
    assert state(book) == before and book.ready


def test_apply_levels_bad_size_deep_in_a_large_message_rolls_back(book):
    """A NaN at the end of a 3,000-level delta: nothing of the delta may stay behind."""
    before = state(book)
    ticks = np.arange(1, 3001, dtype=np.int64)
    sizes = np.ones(3000)
    sizes[-1] = float("nan")
    with pytest.raises(InvalidInputError):
        book.apply_levels(ticks, sizes, *arr([], []), update_id=11)
    assert state(book) == before and book.ready


# ----------------------------------------------------------------------------- capacity


@pytest.mark.parametrize("n", [1_001, 5_001, 12_000])
def test_capacity_growth_by_snapshot(n):
    b = OrderBook("TEST", tick_size="1")
    bid_ticks = np.arange(1_000_000, 1_000_000 - n, -1, dtype=np.int64)
    ask_ticks = np.arange(1_000_001, 1_000_001 + n, dtype=np.int64)
    sizes = np.arange(1, n + 1, dtype=np.float64)
    rng = np.random.default_rng(n)
    order = rng.permutation(n)  # snapshots arrive sorted, but sortedness must not matter
    b.apply_levels(bid_ticks[order].copy(), sizes[order].copy(), ask_ticks[order].copy(), sizes[order].copy(),
                   snapshot=True, update_id=3)
    assert b.n_bids == n and b.n_asks == n and len(b) == 2 * n
    assert b.bids()[:, 0].tolist() == [float(t) for t in bid_ticks]
    assert b.bids()[:, 1].tolist() == [float(i) for i in range(1, n + 1)]
    assert b.asks()[:, 0].tolist() == [float(t) for t in ask_ticks]
    assert b.bid_depth(n) == n * (n + 1) / 2
    b.check_integrity()


def test_capacity_growth_by_deltas_then_shrink():
    b = OrderBook("TEST", tick_size="1")
    b.apply_levels(*arr([10_000], [1]), *arr([20_000], [1]), snapshot=True, update_id=1)
    rng = np.random.default_rng(7)
    bids = rng.permutation(np.arange(1, 6_001, dtype=np.int64))  # 1..6000
    asks = rng.permutation(np.arange(20_001, 26_001, dtype=np.int64))
    u = 1
    for lo in range(0, 6_000, 700):  # deltas of 700 levels
        u += 1
        bt, at = bids[lo:lo + 700].copy(), asks[lo:lo + 700].copy()
        assert b.apply_levels(bt, bt.astype(np.float64), at, np.full(len(at), 2.0), update_id=u)
    assert b.n_bids == 6_001 and b.n_asks == 6_001
    assert b.bids()[:, 0].tolist() == [10_000.0] + [float(t) for t in range(6_000, 0, -1)]
    assert b.bids()[1:, 1].tolist() == [float(t) for t in range(6_000, 0, -1)]
    assert b.asks()[:, 0].tolist() == [float(t) for t in range(20_000, 26_001)]
    # delete everything but the best levels, in one delta
    u += 1
    assert b.apply_levels(np.arange(1, 6_001, dtype=np.int64), np.zeros(6_000),
                          np.arange(20_001, 26_001, dtype=np.int64), np.zeros(6_000), update_id=u)
    assert levels(b) == ([[10_000.0, 1.0]], [[20_000.0, 1.0]])
    b.check_integrity()


def test_large_crossing_delta_rolls_back_completely():
    """Undo log past its initial capacity: 5,000 inserts and updates, then a crossing level."""
    b = OrderBook("TEST", tick_size="1")
    bt0 = np.arange(50_000, 40_000, -1, dtype=np.int64)  # 10,000 bids
    at0 = np.arange(50_001, 60_001, dtype=np.int64)
    b.apply_levels(bt0, np.full(10_000, 3.0), at0, np.full(10_000, 4.0), snapshot=True, update_id=100)
    before = state(b)
    upd = np.concatenate([np.arange(49_000, 44_000, -1), np.arange(30_000, 25_000, -1), [55_001]]).astype(np.int64)
    with pytest.raises(BookIntegrityError):  # asks 50,001..55,000 deleted: bid 55,001 locks the new best ask
        b.apply_levels(upd, np.full(len(upd), 9.0), at0[:5_000].copy(), np.zeros(5_000), update_id=101)
    assert state(b) == before and b.stale
    assert b.bids()[:, 1].tolist() == [3.0] * 10_000


# ----------------------------------------------------------------------------- book_from_rest (Bybit REST), copy, clear

REST_RESULT = {"s": "BTCUSDT", "a": [["65557.7", "16.606555"], ["65558.0", "1"]],
               "b": [["65485.47", "47.081829"], ["65485.00", "0.5"]],
               "ts": 1716863719031, "u": 230704, "seq": 1432604333, "cts": 1716863718905}
REST_ENVELOPE = {"retCode": 0, "retMsg": "OK", "result": REST_RESULT, "retExtInfo": {}, "time": 1716863719382}


@pytest.mark.parametrize(
    "payload",
    [REST_ENVELOPE, REST_RESULT, json.dumps(REST_ENVELOPE), json.dumps(REST_RESULT), json.dumps(REST_ENVELOPE).encode()],
    ids=["envelope", "result", "envelope-json", "result-json", "envelope-bytes"],
)
def test_from_rest(payload):
    b = book_from_rest(payload, tick_size="0.01")
    assert isinstance(b, OrderBook) and b.symbol == "BTCUSDT"
    assert levels(b) == ([[65485.47, 47.081829], [65485.0, 0.5]], [[65557.7, 16.606555], [65558.0, 1.0]])
    assert b.best_bid_ticks() == 6548547
    assert b.update_id == 230704 and b.seq == 1432604333 and b.ready
    assert b.ts_exch == 1716863719031 * 1_000_000 and b.cts == 1716863718905 * 1_000_000


def test_from_rest_then_deltas_continue_the_sequence():
    b = book_from_rest(REST_ENVELOPE, tick_size="0.01")
    assert b.apply_levels(*arr([6548548], [1.0]), *arr([], []), update_id=230705)
    assert b.best_bid() == 65485.48
    with pytest.raises(SequenceGapError):
        b.apply_levels(*arr([6548549], [1.0]), *arr([], []), update_id=230707)


def test_from_rest_rejects():
    with pytest.raises(OfiError):
        book_from_rest({"retCode": 10001, "retMsg": "Not supported symbols", "result": {}}, tick_size="0.01")
    with pytest.raises(InvalidInputError):
        book_from_rest({"result": {"s": "BTCUSDT", "b": [["1.005", "1"]], "a": [], "u": 1, "ts": 1}},
                       tick_size="0.01")
    with pytest.raises(InvalidInputError):
        book_from_rest("not json", tick_size="0.01")
    with pytest.raises(InvalidInputError):
        book_from_rest(REST_ENVELOPE, tick_size="0.01", symbol="ETHUSDT")


def _nested(depth):
    deep = []
    for _ in range(depth):
        deep = [deep]
    return deep


@pytest.mark.parametrize("payload", [
    "[" * 100_000,
    b'{"retCode":0,"result":' + b"[" * 100_000,
    '{"s":"BTCUSDT","b":' + "[" * 100_000,
    {"s": "BTCUSDT", "b": [[_nested(100_000), "1"]], "a": []},
    {"s": "BTCUSDT", "b": [_nested(100_000)], "a": []},
    {"s": "BTCUSDT", "b": [], "a": [], "u": _nested(100_000)},
    {"s": _nested(100_000), "b": [], "a": []},
], ids=["str", "bytes-envelope", "str-levels", "dict-price", "dict-level", "dict-u", "dict-s"])
@pytest.mark.parametrize("symbol", [None, "BTCUSDT"])
def test_book_from_rest_deep_nesting_is_invalid_input(payload, symbol):
    # Defect D4: deeply nested JSON made json.loads raise RecursionError, and a deeply nested value in
    # a dict payload made the error message's repr raise it; both must be an InvalidInputError.
    with pytest.raises(InvalidInputError) as ei:
        book_from_rest(payload, tick_size="0.01", symbol=symbol)
    assert len(str(ei.value)) < 1000


def test_book_from_rest_deeply_nested_ret_code_is_an_exchange_error_with_a_short_message():
    # Defect D4 (as above): the ExchangeError's message repr'd the nested retCode.
    with pytest.raises(ExchangeError) as ei:
        book_from_rest({"retCode": _nested(100_000), "retMsg": _nested(100_000), "result": {}}, tick_size="0.01")
    assert len(str(ei.value)) < 1000


def test_book_from_rest_huge_payload_is_invalid_input():
    # Defect D4: a payload far beyond any order-book response was parsed whole (memory, time); it is
    # refused by size before json.loads sees it.
    from ofi.venues.bybit.snapshot import MAX_PAYLOAD_BYTES

    head = b'{"retCode":0,"result":{"s":"BTCUSDT","a":[],"b":['
    row = b'["1.00","1"],'
    payload = head + row * ((MAX_PAYLOAD_BYTES - len(head)) // len(row) + 1) + b'["1.00","1"]]}}'
    with pytest.raises(InvalidInputError, match="payload"):
        book_from_rest(payload, tick_size="0.01")
    with pytest.raises(InvalidInputError, match="payload"):
        book_from_rest(payload.decode(), tick_size="0.01")


def test_copy_is_independent(book):
    other = book.copy()
    assert state(other) == state(book) and other.symbol == book.symbol and other.tick_size == book.tick_size
    other.apply_frame(frame("delta", [("100", "9"), ("95", "1")], [], 11))
    assert book.best_bid_size() == 2.0 and other.best_bid_size() == 9.0
    assert book.update_id == 10 and other.update_id == 11 and book.n_bids == 2 and other.n_bids == 3
    book.apply_frame(frame("delta", [("99", "0")], [], 11))
    assert other.bids().tolist() == [[100.0, 9.0], [99.0, 3.0], [95.0, 1.0]]
    with pytest.raises(SequenceGapError):
        other.apply_frame(frame("delta", [], [], 30))
    assert other.stale and not book.stale
    # the copy keeps the topic binding
    with pytest.raises(InvalidInputError):
        book.copy().apply_frame(frame("delta", [], [], 12, depth="1"))


def test_clear(book):
    book.clear()
    assert len(book) == 0 and math.isnan(book.best_bid()) and book.bids().shape == (0, 2)
    assert not book.ready


def test_mid_and_spread_bps_are_exact_from_ticks():
    # bid 1.9537, ask 1.9538 (tick 0.0001): the exact mid is 1.95375, which float addition of the two
    # rounded prices misses (1.9537499999999999); spread 0.0001 / 1.95375 * 1e4 bps.
    b = OrderBook("TEST", tick_size="0.0001")
    b.apply_frame(frame("snapshot", [("1.9537", "1")], [("1.9538", "1")], 1))
    assert b.mid_price() == 1.95375
    assert b.spread() == 0.0001
    assert b.spread_bps() == 0.0001 / 1.95375 * 1e4


def test_book_frame_without_ts_or_with_negative_u_is_rejected_untouched():
    b = OrderBook("TEST", tick_size="0.1")
    b.apply_frame(frame("snapshot", [("100.0", "1")], [("100.1", "1")], 5))
    no_ts = json.loads(frame("delta", [("100.0", "2")], [], 6))
    del no_ts["ts"]
    with pytest.raises(InvalidInputError, match="ts"):
        b.apply_frame(json.dumps(no_ts))
    with pytest.raises(InvalidInputError, match="data.u"):
        b.apply_frame(frame("delta", [("100.0", "2")], [], -6))
    assert (b.update_id, b.best_bid_size(), b.rejected) == (5, 1.0, 2)


def test_size_at_reads_one_level_of_either_side():
    b = OrderBook("TEST", "0.1")
    b.apply_snapshot(1, [1000, 999], [1.0, 2.0], [1001, 1003], [0.5, 0.7])
    assert (b.size_at(1, 999), b.size_at(1, 1000), b.size_at(-1, 1003)) == (2.0, 1.0, 0.7)
    assert b.size_at(1, 998) == 0.0 and b.size_at(-1, 1002) == 0.0 and b.size_at(-1, 999) == 0.0
    with pytest.raises(InvalidInputError):
        b.size_at(0, 1000)


def test_level_reads_the_ith_best_level_of_either_side():
    b = OrderBook("TEST", "0.1")
    b.apply_snapshot(1, [999, 1000, 997], [2.0, 1.0, 3.0], [1003, 1001], [0.7, 0.5])
    assert [b.level(1, i) for i in range(4)] == [(1000, 1.0), (999, 2.0), (997, 3.0), None]
    assert [b.level(-1, i) for i in range(3)] == [(1001, 0.5), (1003, 0.7), None]
    b.apply_delta(2, [1000], [0.0], [1002], [0.4])       # the best bid leaves, an ask joins behind the best
    assert (b.level(1, 0), b.level(-1, 0), b.level(-1, 1)) == ((999, 2.0), (1001, 0.5), (1002, 0.4))
    with pytest.raises(InvalidInputError):
        b.level(0, 0)
    with pytest.raises(InvalidInputError):
        b.level(1, -1)
