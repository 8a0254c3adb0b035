"""Tape building and whole-tape replay, with hand-derived numbers."""
import json

import numpy as np
import pytest

from ofi import OrderBook
from ofi.data.tape import (FLAG_BEGIN, FLAG_END, FLAG_SNAPSHOT, KIND_BOOK, KIND_TRADE, TAPE_DTYPE, frames_to_tape,
                           load_tape, replay_tape, save_tape)
from ofi.errors import InvalidInputError, SequenceGapError


def frame(kind, u, b=(), a=(), ts=1_700_000_000_000):
    return json.dumps({"topic": "orderbook.50.BTCUSDT", "type": kind, "ts": ts,
                       "data": {"s": "BTCUSDT", "b": [list(x) for x in b], "a": [list(x) for x in a], "u": u,
                                "seq": 100 + u}, "cts": ts - 2})


TRADE = json.dumps({"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": 1_700_000_000_050, "data": [
    {"T": 1_700_000_000_049, "s": "BTCUSDT", "S": "Sell", "v": "0.5", "p": "100.0", "i": "t-1", "BT": False,
     "seq": 7}]})

FRAMES = [
    (10, frame("snapshot", 5, b=[("100.0", "2"), ("99.9", "3")], a=[("100.1", "1"), ("100.2", "4")])),
    (20, '{"success":true,"ret_msg":"pong","conn_id":"c","op":"ping"}'),
    (30, TRADE),
    (40, frame("delta", 6, b=[("100.0", "0")], a=[("100.1", "2.5")], ts=1_700_000_000_100)),
    (50, frame("delta", 7)),
]


def test_rows_flags_and_units():
    tape = frames_to_tape(FRAMES, "0.1")
    assert tape.dtype == TAPE_DTYPE and len(tape) == 4 + 1 + 2 + 1
    snap = tape[:4]
    assert list(snap["price_ticks"]) == [1000, 999, 1001, 1002]
    assert list(snap["side"]) == [1, 1, -1, -1]
    assert list(snap["flags"]) == [FLAG_SNAPSHOT | FLAG_BEGIN, FLAG_SNAPSHOT, FLAG_SNAPSHOT,
                                   FLAG_SNAPSHOT | FLAG_END]
    assert snap["ts_exch"][0] == 1_700_000_000_000 * 1_000_000 and snap["ts_local"][0] == 10
    trade = tape[4]
    assert (trade["kind"], trade["side"], trade["price_ticks"], trade["size"], trade["seq"]) == (
        KIND_TRADE, -1, 1000, 0.5, 7)
    empty = tape[7]
    assert (empty["kind"], empty["side"], empty["update_id"], empty["flags"]) == (KIND_BOOK, 0, 7,
                                                                                 FLAG_BEGIN | FLAG_END)


def test_replay_gives_top_of_book_after_every_book_message():
    tob = replay_tape(frames_to_tape(FRAMES, "0.1"), "0.1", symbol="BTCUSDT")
    assert list(tob["update_id"]) == [5, 6, 7]
    assert list(tob["bid_ticks"]) == [1000, 999, 999]
    assert list(tob["bid_size"]) == [2.0, 3.0, 3.0]
    assert list(tob["ask_ticks"]) == [1001, 1001, 1001]
    assert list(tob["ask_size"]) == [1.0, 2.5, 2.5]
    assert list(tob["status"]) == [1, 1, 1]


def test_replay_matches_frame_by_frame_book():
    book = OrderBook("BTCUSDT", tick_size="0.1")
    for ts, raw in FRAMES:
        if "orderbook" in raw:
            book.apply_frame(raw, ts)
    replayed = OrderBook("BTCUSDT", tick_size="0.1")
    replay_tape(frames_to_tape(FRAMES, "0.1"), book=replayed)
    assert replayed.top_levels(50)[0].tolist() == book.top_levels(50)[0].tolist()
    assert replayed.top_levels(50)[3].tolist() == book.top_levels(50)[3].tolist()
    assert replayed.update_id == book.update_id == 7


def test_gap_raises_with_the_row_or_is_skipped_on_request():
    frames = FRAMES[:1] + [(60, frame("delta", 9, b=[("99.8", "1")])), (70, frame("snapshot", 20, b=[("99.0", "1")],
                                                                                   a=[("99.5", "1")]))]
    tape = frames_to_tape(frames, "0.1")
    with pytest.raises(SequenceGapError, match="tape row 4"):
        replay_tape(tape, "0.1", symbol="BTCUSDT")
    tob = replay_tape(tape, "0.1", on_gap="skip")
    assert list(tob["status"]) == [1, -1, 1]
    assert np.isnan(tob["bid_size"][1]) and tob["bid_ticks"][2] == 990


def test_save_and_memory_mapped_load_round_trip(tmp_path):
    tape = frames_to_tape(FRAMES, "0.1")
    save_tape(tmp_path / "t.npy", tape)
    back = load_tape(tmp_path / "t.npy")
    assert isinstance(back, np.memmap) and back.tobytes() == tape.tobytes()


@pytest.mark.parametrize("bad", [None, np.zeros(3), np.zeros((2, 2), dtype=TAPE_DTYPE)])
def test_replay_rejects_what_is_not_a_tape(bad):
    with pytest.raises(InvalidInputError):
        replay_tape(bad, "0.1")


def test_unterminated_message_in_a_handmade_tape_is_an_error():
    tape = frames_to_tape(FRAMES[:1], "0.1")
    tape["flags"][-1] = FLAG_SNAPSHOT
    with pytest.raises(InvalidInputError, match="FLAG_BEGIN"):
        replay_tape(tape, "0.1")


@pytest.mark.parametrize(("row", "start", "level"), [(0, 0, 0), (3, 0, 3), (5, 5, 0)])
def test_a_side_other_than_bid_ask_or_none_is_an_error(row, start, level):
    """Rows 0-3 are the snapshot, 5 the delta's bid row. A side of 5 used to be filed as a bid (or,
    in a snapshot, written outside the book); now the message is rejected whole."""
    tape = frames_to_tape(FRAMES, "0.1")
    tape["side"][row] = 5
    book = OrderBook("BTCUSDT", tick_size="0.1")
    with pytest.raises(InvalidInputError, match=f"tape row {start}: BTCUSDT: side at level {level} of message"):
        replay_tape(tape, book=book)
    assert book.messages == (0 if start == 0 else 1)
    if start:
        assert (book.best_bid_ticks(), book.best_bid_size()) == (1000, 2.0)  # the delta left no trace
        with pytest.raises(InvalidInputError, match=f"side at level {level}"):
            book.apply_tape(tape, start)


def test_bad_frame_names_its_index():
    with pytest.raises(InvalidInputError, match="frame 1"):
        frames_to_tape([FRAMES[0][1], '{"topic":"orderbook.50.BTCUSDT",'], "0.1")


def test_apply_tape_one_message_per_call_equals_replay():
    from ofi.data.tape import message_starts

    tape = frames_to_tape(FRAMES, "0.1")
    starts = message_starts(tape)
    assert list(starts) == [0, 5, 7]
    book = OrderBook("BTCUSDT", tick_size="0.1")
    seen = []
    for start in starts:
        nxt = book.apply_tape(tape, int(start))
        seen.append((nxt, book.best_bid_ticks(), book.best_ask_ticks(), book.best_ask_size()))
    assert seen == [(4, 1000, 1001, 1.0), (7, 999, 1001, 2.5), (8, 999, 1001, 2.5)]
    with pytest.raises(InvalidInputError, match="row 4"):
        book.apply_tape(tape, 4)  # a trade row
    with pytest.raises(InvalidInputError):
        book.apply_tape(np.zeros(3), 0)


def test_levels_applied_counts_levels_of_applied_messages_only():
    book = OrderBook("BTCUSDT", tick_size="0.1")
    replay_tape(frames_to_tape(FRAMES, "0.1"), book=book)
    # snapshot 4 levels + delta 2 levels + an empty delta (no level); the trade is not a book level
    assert (book.levels_applied, book.messages) == (6, 3)
    with pytest.raises(SequenceGapError):
        book.apply_frame(frame("delta", 9, b=[("99.8", "1")]))
    assert book.levels_applied == 6


def _counters(book):
    return (book.update_id, book.stale, book.ready, book.messages, book.rejected, book.gaps, book.ignored,
            book.levels_applied, book.epoch, book.top_levels(50)[0].tolist(), book.top_levels(50)[1].tolist())


@pytest.mark.parametrize(("u", "what"), [(9, "gap"), (5, "duplicate"), (6, "next")])
def test_unterminated_delta_is_rejected_before_it_touches_the_book(u, what):
    # Defect D5: replay applied a delta before checking that its rows end with FLAG_END, so a delta
    # whose u also jumped raised InvalidInputError but left the book stale with a gap counted (and a
    # duplicate counted as ignored). Now the rows are checked first: the book and its counters stay
    # exactly as they were.
    frames = FRAMES[:1] + [(60, frame("delta", u, b=[("99.8", "1"), ("99.7", "2")]))]
    tape = frames_to_tape(frames, "0.1")
    tape["flags"][-1] ^= FLAG_END           # the delta's last row loses its END flag
    book = OrderBook("BTCUSDT", tick_size="0.1")
    replay_tape(tape[:4], book=book)
    before = _counters(book)
    for on_gap in ("raise", "skip"):
        with pytest.raises(InvalidInputError, match="tape row 0: book message rows"):
            replay_tape(tape[4:], book=book, on_gap=on_gap)
        assert _counters(book) == before, (what, on_gap)
