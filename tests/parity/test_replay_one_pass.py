"""``replay_tape`` reads each delta's rows once: it finds a message's END row while applying it,
and undoes the message if its rows turn out not to form one. These tests pin that one-pass path to
the two-pass one (``OrderBook.apply_tape``: locate and check the whole message, then apply it)
message by message, on simulated tapes damaged in every way a hand-made tape can be: flags
cleared or added, rows of another kind inside a message, a tape cut mid-message, bad sizes,
gaps, duplicates, crossing levels and messages longer than the undo log.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ofi import OrderBook
from ofi.data.tape import FLAG_BEGIN, FLAG_END, FLAG_SNAPSHOT, KIND_BOOK, KIND_TRADE, frames_to_tape, replay_tape
from ofi.errors import BookIntegrityError, InvalidInputError, OfiError, SequenceGapError
from ofi.sim.market import SimulatedMarket

TICK = "0.1"


def _base_tape(seed: int, depth: int = 50, n_messages: int = 40) -> np.ndarray:
    m = SimulatedMarket(symbol="BTCUSDT", tick_size=TICK, qty_step="0.001", depth=depth, seed=seed)
    frames = [(fr.ts_local, fr.raw) for fr in m.generate(n_messages=n_messages)]
    return frames_to_tape(frames, TICK)


BASES = {seed: _base_tape(seed) for seed in (1, 2)}


def _message_end(tape: np.ndarray, i: int) -> int | None:
    """Pure-Python twin of the tape message rule: rows i..j-1 run from a BEGIN row to an END row,
    all book rows, no BEGIN after the first and no END before the last. Returns j or None."""
    kind, flags = tape["kind"], tape["flags"]
    if kind[i] != KIND_BOOK or not flags[i] & FLAG_BEGIN:
        return None
    j = i
    while not flags[j] & FLAG_END:
        j += 1
        if j >= len(tape) or kind[j] != KIND_BOOK or flags[j] & FLAG_BEGIN:
            return None
    return j + 1


def _top(book: OrderBook) -> tuple:
    bt, bs, at, as_ = book.top_levels(1)
    return (int(bt[0]), float(bs[0]), int(at[0]), float(as_[0])) if len(bt) and len(at) else None


def _two_pass(tape: np.ndarray, skip: bool):
    """Message by message through ``apply_tape``: (rows, book, error) where rows are
    (status, best bid ticks, bid size, best ask ticks, ask size) per book message, as replay_tape
    records them, and error is (exception type, tape row) or None."""
    book = OrderBook("BTCUSDT", TICK)
    rows, i = [], 0
    while i < len(tape):
        if tape["kind"][i] != KIND_BOOK:
            i += 1
            continue
        j = _message_end(tape, i)
        if j is None:
            return rows, book, (InvalidInputError, i)
        ignored = book.ignored
        try:
            assert book.apply_tape(tape, i) == j
        except (SequenceGapError, BookIntegrityError) as exc:
            if not skip:
                return rows, book, (type(exc), i)
            rows.append((-1, -1, math.nan, -1, math.nan))
            i = j
            continue
        except OfiError as exc:             # a bad size: raised even when skipping gaps
            return rows, book, (type(exc), i)
        status = 0 if book.ignored > ignored else 1
        top = _top(book) if book.ready else None
        rows.append((status,) + (top if top is not None else (-1, math.nan, -1, math.nan)))
        i = j
    return rows, book, None


def _one_pass(tape: np.ndarray, skip: bool):
    book = OrderBook("BTCUSDT", TICK)
    try:
        tob = replay_tape(tape, book=book, on_gap="skip" if skip else "raise")
    except OfiError as exc:
        row = int(str(exc).split("tape row ")[1].split(":")[0])
        return None, book, (type(exc), row)
    rows = [(int(r["status"]), int(r["bid_ticks"]), float(r["bid_size"]), int(r["ask_ticks"]), float(r["ask_size"]))
            for r in tob]
    return rows, book, None


def _same_rows(a, b) -> bool:
    return len(a) == len(b) and all(
        x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
        for ra, rb in zip(a, b) for x, y in zip(ra, rb))


def _state(book: OrderBook):
    levels = [a.tolist() for a in book.top_levels(10_000)]
    return (book.update_id, book.messages, book.levels_applied, book.ignored, book.gaps, book.epoch, levels)


def _book_rows(tape: np.ndarray) -> np.ndarray:
    return np.flatnonzero(tape["kind"] == KIND_BOOK)


def _delta_rows(tape: np.ndarray) -> np.ndarray:
    return np.flatnonzero((tape["kind"] == KIND_BOOK) & ((tape["flags"] & FLAG_SNAPSHOT) == 0))


DAMAGE = ["none", "bad_side", "bad_side_in_snapshot", "clear_end", "add_begin", "add_end", "trade_inside", "cut", "side_zero", "nan_size",
          "negative_size", "drop_message", "repeat_message", "crossing_level", "u_reset"]


@st.composite
def damaged_tapes(draw):
    tape = BASES[draw(st.sampled_from(sorted(BASES)))].copy()
    damage = draw(st.sampled_from(DAMAGE))
    deltas = _delta_rows(tape)
    r = int(deltas[draw(st.integers(0, len(deltas) - 1))])
    starts = np.flatnonzero((tape["kind"] == KIND_BOOK) & ((tape["flags"] & FLAG_BEGIN) != 0))
    k = draw(st.integers(1, len(starts) - 2))
    s0, s1 = int(starts[k]), int(_message_end(tape, int(starts[k])))
    if damage == "bad_side":
        tape["side"][r] = draw(st.sampled_from([2, -2, 5, 127, -128]))
    elif damage == "bad_side_in_snapshot":
        tape["side"][draw(st.integers(0, int(starts[1]) - 1))] = 3
    elif damage == "clear_end":
        tape["flags"][r] &= np.uint16(0xFFFF ^ FLAG_END)
    elif damage == "add_begin":
        tape["flags"][r] |= FLAG_BEGIN
    elif damage == "add_end":
        tape["flags"][r] |= FLAG_END
    elif damage == "trade_inside":
        tape["kind"][r] = KIND_TRADE
    elif damage == "cut":
        tape = tape[: r + draw(st.integers(0, 1))].copy()
    elif damage == "side_zero":
        tape["side"][r] = 0
    elif damage == "nan_size":
        tape["size"][r] = math.nan
    elif damage == "negative_size":
        tape["size"][r] = -1.0
    elif damage == "drop_message":
        tape = np.concatenate([tape[:s0], tape[s1:]])
    elif damage == "repeat_message":
        tape = np.concatenate([tape[:s1], tape[s0:s1], tape[s1:]])
    elif damage == "crossing_level":
        # a bid one tick above the best ask of the book before this message
        book = OrderBook("BTCUSDT", TICK)
        replay_tape(tape[:s0], book=book)
        tape["side"][r], tape["price_ticks"][r], tape["size"][r] = 1, book.best_ask_ticks() + 1, 1.0
    elif damage == "u_reset":
        tape["update_id"][s0] = 1          # u == 1: a reset, applied as a snapshot
    return tape, damage


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged_tapes(), st.booleans())
def test_one_pass_replay_equals_message_by_message(case, skip):
    tape, damage = case
    rows2, book2, err2 = _two_pass(tape, skip)
    rows1, book1, err1 = _one_pass(tape, skip)
    assert err1 == err2, damage
    if err1 is None:
        assert _same_rows(rows1, rows2), damage
    # Either way the book is where the messages before the failing one left it: a message found
    # malformed half-way through applying it is undone.
    assert _state(book1) == _state(book2), damage


def test_undamaged_replay_matches_and_uses_every_row():
    tape = BASES[1]
    rows2, book2, err2 = _two_pass(tape, False)
    rows1, book1, err1 = _one_pass(tape, False)
    assert err1 is err2 is None and _same_rows(rows1, rows2)
    assert book1.levels_applied == int(np.count_nonzero((tape["kind"] == KIND_BOOK) & (tape["side"] != 0)))


def test_a_message_longer_than_the_undo_log_is_applied_whole():
    """The undo log starts at 256 entries and grows while a message is applied: a 1,200-level
    delta (a full-depth stream's size) must apply whole, and undo whole when its last level crosses."""
    snap = BASES[1][: _message_end(BASES[1], 0)]
    book = OrderBook("BTCUSDT", TICK)
    replay_tape(snap, book=book)
    bid, ask = book.best_bid_ticks(), book.best_ask_ticks()
    n = 1200
    delta = np.zeros(n, dtype=snap.dtype)
    delta["kind"] = KIND_BOOK
    delta["side"] = 1
    delta["price_ticks"] = bid - 1000 - np.arange(n)          # new levels deep in the bid side
    delta["size"] = 1.5
    delta["update_id"] = book.update_id + 1
    delta["flags"][0] |= FLAG_BEGIN
    delta["flags"][-1] |= FLAG_END
    full = np.concatenate([snap, delta])
    after = OrderBook("BTCUSDT", TICK)
    replay_tape(full, book=after)
    assert after.n_bids == book.n_bids + n and after.levels_applied == book.levels_applied + n
    crossing = delta.copy()
    crossing["side"][-1], crossing["price_ticks"][-1] = 1, ask       # locks the book: undone whole
    undone = OrderBook("BTCUSDT", TICK)
    with pytest.raises(BookIntegrityError, match=f"tape row {len(snap)}"):
        replay_tape(np.concatenate([snap, crossing]), book=undone)
    assert undone.top_levels(10_000)[0].tolist() == book.top_levels(10_000)[0].tolist()
    assert undone.n_bids == book.n_bids
