"""Order-book benchmarks: ``ofi`` beside order-book, a dict+bisect book, msgspec/orjson/json and
the pure-Python twin, on one simulated BTCUSDT stream (see ``conftest.py``).

Every benchmark times a whole pass over the stream (``benchmark.pedantic``, fresh state from an
untimed ``setup`` each round), so per-call timer overhead does not count, then divides the median
by the number of units (level updates, reads, frames) and asserts the final book.

Run: ``pytest bench --benchmark-only`` (``python bench/report.py out.json`` for the table).
"""
from __future__ import annotations

import json

import msgspec
import numpy as np
import orjson
import pytest
from conftest import float_price_to_ticks, record
from order_book import OrderBook as PeerOrderBook

import peers

ROUNDS_FAST = 15   # ofi: a round is a few tens of ms
ROUNDS_PEER = 5    # Python-level peers: a round is a few hundred ms
ROUNDS_TWIN = 3    # the pure-Python twin: slowest
N_READS = 20_000   # reads per round in tob-read


assert_state = peers.assert_same_state


def ours_state(book) -> peers.FinalState:
    b5, a5 = book.depth(5)
    b10, a10 = book.depth(10)
    return peers.FinalState(
        book.update_id, book.best_bid_ticks(), book.best_ask_ticks(), book.best_bid_size(),
        book.best_ask_size(), book.n_bids, book.n_asks, b5, a5, b10, a10,
    )


def new_ours(ofi, stream):
    return ofi.OrderBook(stream.symbol, tick_size=stream.tick_size)


def ours_apply_all(book, msgs_np):
    delta = book.apply_delta
    for snapshot, u, bt, bs, at, as_ in msgs_np:
        if snapshot:
            book.apply_snapshot(u, bt, bs, at, as_)
        else:
            delta(u, bt, bs, at, as_)
    return book


def ours_apply_tape(book, tape, starts):
    apply = book.apply_tape
    for start in starts:
        apply(tape, start)
    return book


# ============================================================================================
# 1. apply-delta-30: one ~30-level delta per Python call
# ============================================================================================
GROUP1 = "apply-delta-30"
TARGET1_NS = 25.0
TARGET1_SPEEDUP = {"orderbook": 4.0}


def _record1(benchmark, stream, impl, label, **extra):
    record(benchmark, impl=impl, label=label, unit="level", n_units=stream.n_levels_deltas,
           messages=stream.n_deltas, levels=stream.n_levels_deltas,
           levels_per_message=round(stream.levels_per_delta, 2), **extra)


@pytest.mark.benchmark(group=GROUP1)
def test_apply_delta_ours(benchmark, stream, ofi_core, tape):
    """One Python call per message, the levels read from a tape (contiguous memory)."""
    from ofi.data.tape import message_starts

    starts = [int(x) for x in message_starts(tape)]
    assert len(starts) == stream.n_messages

    def setup():
        book = new_ours(ofi_core, stream)
        book.apply_tape(tape, starts[0])
        return (book, tape, starts[1:]), {}

    book = benchmark.pedantic(ours_apply_tape, setup=setup, rounds=ROUNDS_FAST, warmup_rounds=1)
    assert_state(ours_state(book), stream.expected)
    _record1(benchmark, stream, "ours", "ofi OrderBook.apply_tape(tape, start) (1 call/msg)",
             target_ns=TARGET1_NS, target_speedup=TARGET1_SPEEDUP)


@pytest.mark.benchmark(group=GROUP1)
def test_apply_delta_ours_arrays(benchmark, stream, ofi_core):
    """One Python call per message, four numpy arrays per message (cold in cache on a long stream)."""
    snap, deltas = stream.msgs_np[0], stream.msgs_np[1:]

    def setup():
        book = new_ours(ofi_core, stream)
        ours_apply_all(book, [snap])
        return (book, deltas), {}

    book = benchmark.pedantic(ours_apply_all, setup=setup, rounds=ROUNDS_FAST, warmup_rounds=1)
    assert_state(ours_state(book), stream.expected)
    _record1(benchmark, stream, "ours-alt", "ofi OrderBook.apply_delta(u, 4 arrays) (1 call/msg)")


@pytest.mark.benchmark(group=GROUP1)
def test_apply_delta_orderbook(benchmark, stream):
    snap, deltas = stream.msgs[0], stream.msgs[1:]

    def setup():
        ob, _ = peers.orderbook_replay(PeerOrderBook(), [snap])
        return (ob, deltas), {}

    ob, last_u = benchmark.pedantic(peers.orderbook_replay, setup=setup, rounds=ROUNDS_PEER, warmup_rounds=1)
    assert_state(peers.orderbook_state(ob, last_u), stream.expected)
    _record1(benchmark, stream, "orderbook", "order-book (level by level from Python)")


@pytest.mark.benchmark(group=GROUP1)
def test_apply_delta_dict_bisect(benchmark, stream):
    snap, deltas = stream.msgs[0], stream.msgs[1:]

    def setup():
        return (peers.dict_bisect_replay(peers.DictBisectBook(), [snap]), deltas), {}

    book = benchmark.pedantic(peers.dict_bisect_replay, setup=setup, rounds=ROUNDS_PEER, warmup_rounds=1)
    assert_state(book.state(), stream.expected)
    _record1(benchmark, stream, "dict-bisect", "dict + bisect sorted keys")


@pytest.mark.benchmark(group=GROUP1)
def test_apply_delta_reftwin(benchmark, stream, refbook_cls):
    snap, deltas = stream.msgs_np[0], stream.msgs_np[1:]

    def setup():
        book = peers.reftwin_new(refbook_cls, stream.symbol, stream.tick_size)
        return (peers.reftwin_replay(book, [snap]), deltas), {}

    book = benchmark.pedantic(peers.reftwin_replay, setup=setup, rounds=ROUNDS_TWIN)
    assert_state(peers.reftwin_state(book), stream.expected)
    _record1(benchmark, stream, "reftwin", "tests/reference RefBook (pure-Python twin)")


# ============================================================================================
# 2. tob-read: best bid/ask + top-5 and top-10 depth, on the final 200x200 book
# ============================================================================================
GROUP2 = "tob-read"
TARGET2_NS = 150.0


def _record2(benchmark, stream, impl, label, **extra):
    record(benchmark, impl=impl, label=label, unit="read", n_units=N_READS, messages=0, levels=0,
           book_levels=stream.expected.n_bids + stream.expected.n_asks, **extra)


def _check_read(bbo, d5, d10, want, price_to_ticks=None):
    bp, bq, ap, aq = bbo
    if price_to_ticks is not None:
        bp, ap = price_to_ticks(bp), price_to_ticks(ap)
    assert (bp, bq, ap, aq) == (want.best_bid_ticks, want.best_bid_size, want.best_ask_ticks, want.best_ask_size)
    assert d5 == pytest.approx((want.bid_depth5, want.ask_depth5), rel=1e-12)
    assert d10 == pytest.approx((want.bid_depth10, want.ask_depth10), rel=1e-12)


@pytest.fixture(scope="module")
def final_books(stream):
    """(ofi book or None, order-book, dict+bisect) after the whole stream."""
    ob, _ = peers.orderbook_replay(PeerOrderBook(), stream.msgs)
    db = peers.dict_bisect_replay(peers.DictBisectBook(), stream.msgs)
    return [None, ob, db]


@pytest.fixture(scope="module")
def final_ours(stream, ofi_core):
    return ours_apply_all(new_ours(ofi_core, stream), stream.msgs_np)


@pytest.mark.benchmark(group=GROUP2)
def test_tob_read_ours(benchmark, stream, final_ours):
    book = final_ours
    bbo, depth = book.bbo, book.depth

    def reads(n):
        for _ in range(n):
            bbo()
            depth(5)
            depth(10)
        return bbo(), depth(5), depth(10)

    b, d5, d10 = benchmark.pedantic(reads, args=(N_READS,), rounds=ROUNDS_FAST * 2, warmup_rounds=1)
    _check_read(b, d5, d10, stream.expected, float_price_to_ticks(stream.tick_size))
    _record2(benchmark, stream, "ours", "ofi bbo() + depth(5) + depth(10)", target_ns=TARGET2_NS)


@pytest.mark.benchmark(group=GROUP2)
def test_tob_read_ours_scalar(benchmark, stream, final_ours):
    book = final_ours
    bb, ba, bbs, bas = book.best_bid, book.best_ask, book.best_bid_size, book.best_ask_size
    bd, ad = book.bid_depth, book.ask_depth

    def reads(n):
        for _ in range(n):
            bb()
            bbs()
            ba()
            bas()
            bd(5)
            ad(5)
            bd(10)
            ad(10)
        return (bb(), bbs(), ba(), bas()), (bd(5), ad(5)), (bd(10), ad(10))

    b, d5, d10 = benchmark.pedantic(reads, args=(N_READS,), rounds=ROUNDS_FAST * 2, warmup_rounds=1)
    _check_read(b, d5, d10, stream.expected, float_price_to_ticks(stream.tick_size))
    _record2(benchmark, stream, "ours-alt", "ofi 4 scalar best_* + bid/ask_depth(5|10) (8 calls)")


@pytest.mark.benchmark(group=GROUP2)
def test_tob_read_ours_top_levels(benchmark, stream, final_ours):
    """``top_levels(10)`` alone (it returns four new arrays); the sums are done once, untimed."""
    top = final_ours.top_levels

    def reads(n):
        for _ in range(n):
            top(10)
        return top(10)

    bt, bs, at, as_ = benchmark.pedantic(reads, args=(N_READS // 4,), rounds=ROUNDS_FAST, warmup_rounds=1)
    _check_read((int(bt[0]), bs[0], int(at[0]), as_[0]), (bs[:5].sum(), as_[:5].sum()),
                (bs.sum(), as_.sum()), stream.expected)
    record(benchmark, impl="ours-alt", label="ofi top_levels(10) alone (no sums)", unit="read",
           n_units=N_READS // 4, messages=0, levels=0)


@pytest.mark.benchmark(group=GROUP2)
def test_tob_read_orderbook(benchmark, stream, final_books):
    ob = final_books[1]

    def reads(n):
        top = peers.orderbook_top
        for _ in range(n):
            top(ob)
        return top(ob)

    b, d5, d10 = benchmark.pedantic(reads, args=(N_READS,), rounds=ROUNDS_FAST, warmup_rounds=1)
    _check_read(b, d5, d10, stream.expected)
    _record2(benchmark, stream, "orderbook", "order-book .index(i) for the top 10")


@pytest.mark.benchmark(group=GROUP2)
def test_tob_read_orderbook_after_change(benchmark, stream, final_books):
    """order-book keeps a dict and sorts its keys lazily: the first ``index()`` after a level is
    inserted or deleted re-sorts the side. Each read here follows one insert+delete of a far
    bid level (about 60 ns of the total), i.e. the read a user does right after a delta."""
    ob = final_books[1]
    far = stream.expected.best_bid_ticks - 100_000

    def reads(n):
        top = peers.orderbook_top
        bids = ob.bids
        for _ in range(n):
            bids[far] = 1.0
            del bids[far]
            top(ob)
        return top(ob)

    b, d5, d10 = benchmark.pedantic(reads, args=(N_READS // 4,), rounds=ROUNDS_PEER, warmup_rounds=1)
    _check_read(b, d5, d10, stream.expected)
    record(benchmark, impl="orderbook-after-change", label="order-book top 10 after 1 level insert+delete",
           unit="read", n_units=N_READS // 4, messages=0, levels=0)


@pytest.mark.benchmark(group=GROUP2)
def test_tob_read_dict_bisect(benchmark, stream, final_books):
    db = final_books[2]
    bbo, depth = db.bbo, db.depth

    def reads(n):
        for _ in range(n):
            bbo()
            depth(5)
            depth(10)
        return bbo(), depth(5), depth(10)

    b, d5, d10 = benchmark.pedantic(reads, args=(N_READS,), rounds=ROUNDS_FAST, warmup_rounds=1)
    _check_read(b, d5, d10, stream.expected)
    _record2(benchmark, stream, "dict-bisect", "dict + bisect bbo() + depth(5|10)")


# ============================================================================================
# 3. decode-apply: raw V5 frames (~750 bytes, ~30 levels)
# ============================================================================================
GROUP3 = "decode-apply"
TARGET3_NS = 1500.0
TARGET3_SPEEDUP = {"msgspec": 1.0}


def _record3(benchmark, stream, impl, label, **extra):
    record(benchmark, impl=impl, label=label, unit="frame", n_units=stream.n_deltas,
           messages=stream.n_deltas, levels=stream.n_levels_deltas,
           frame_bytes=round(stream.frame_bytes_mean, 1),
           levels_per_message=round(stream.levels_per_delta, 2), **extra)


def ours_apply_frames(book, raws):
    apply = book.apply_frame
    for raw in raws:
        apply(raw)
    return book


@pytest.mark.benchmark(group=GROUP3)
def test_decode_apply_ours(benchmark, stream, ofi_core):
    raws = stream.raws

    def setup():
        book = new_ours(ofi_core, stream)
        book.apply_frame(raws[0])
        return (book, raws[1:]), {}

    book = benchmark.pedantic(ours_apply_frames, setup=setup, rounds=ROUNDS_FAST, warmup_rounds=1)
    assert_state(ours_state(book), stream.expected)
    _record3(benchmark, stream, "ours", "ofi OrderBook.apply_frame(bytes): parse+apply",
             target_ns=TARGET3_NS, target_speedup=TARGET3_SPEEDUP)


@pytest.mark.benchmark(group=GROUP3)
def test_decode_apply_ours_str(benchmark, stream, ofi_core):
    raws = [r.decode() for r in stream.raws]

    def setup():
        book = new_ours(ofi_core, stream)
        book.apply_frame(raws[0])
        return (book, raws[1:]), {}

    book = benchmark.pedantic(ours_apply_frames, setup=setup, rounds=ROUNDS_FAST, warmup_rounds=1)
    assert_state(ours_state(book), stream.expected)
    _record3(benchmark, stream, "ours-alt", "ofi OrderBook.apply_frame(str): parse+apply")


def _parse_all(loads, raws):
    for raw in raws:
        m = loads(raw)
    return m


def _check_last_parsed(last_u, n_levels, stream):
    assert last_u == stream.expected.last_update_id
    _, _, bt, _, at, _ = stream.msgs[-1]
    assert n_levels == len(bt) + len(at)


@pytest.mark.benchmark(group=GROUP3)
def test_decode_msgspec_typed(benchmark, stream):
    dec = msgspec.json.Decoder(peers.BookMsg)
    m = benchmark.pedantic(_parse_all, args=(dec.decode, stream.raws[1:]), rounds=ROUNDS_PEER, warmup_rounds=1)
    _check_last_parsed(m.data.u, len(m.data.b) + len(m.data.a), stream)
    _record3(benchmark, stream, "msgspec", "msgspec typed Struct parse only (str levels)")


@pytest.mark.benchmark(group=GROUP3)
def test_decode_orjson(benchmark, stream):
    m = benchmark.pedantic(_parse_all, args=(orjson.loads, stream.raws[1:]), rounds=ROUNDS_PEER, warmup_rounds=1)
    _check_last_parsed(m["data"]["u"], len(m["data"]["b"]) + len(m["data"]["a"]), stream)
    _record3(benchmark, stream, "orjson", "orjson.loads parse only")


@pytest.mark.benchmark(group=GROUP3)
def test_decode_json(benchmark, stream):
    m = benchmark.pedantic(_parse_all, args=(json.loads, stream.raws[1:]), rounds=ROUNDS_PEER, warmup_rounds=1)
    _check_last_parsed(m["data"]["u"], len(m["data"]["b"]) + len(m["data"]["a"]), stream)
    _record3(benchmark, stream, "json", "json.loads parse only")


@pytest.mark.benchmark(group=GROUP3)
def test_decode_apply_orderbook_orjson(benchmark, stream):
    raws = stream.raws

    def setup():
        ob, _ = peers.orderbook_replay_frames(PeerOrderBook(), raws[:1], orjson.loads)
        return (ob, raws[1:], orjson.loads), {}

    ob, last_u = benchmark.pedantic(peers.orderbook_replay_frames, setup=setup, rounds=ROUNDS_PEER, warmup_rounds=1)
    assert_state(peers.orderbook_state(ob, last_u, float_price_to_ticks(stream.tick_size)), stream.expected)
    _record3(benchmark, stream, "orderbook+orjson", "orjson.loads + order-book float levels")


# ============================================================================================
# 4. tape-replay: frames_to_tape once (untimed), then replay_tape over the whole tape
# ============================================================================================
GROUP4 = "tape-replay"
TARGET4_NS = 8.0


def _record4(benchmark, stream, impl, label, **extra):
    record(benchmark, impl=impl, label=label, unit="level", n_units=stream.n_levels_all,
           messages=stream.n_messages, levels=stream.n_levels_all, **extra)


def _check_tob_rows(n_rows, last_row, stream):
    """``last_row`` = (bid_ticks, bid_size, ask_ticks, ask_size) of the final message."""
    want = stream.expected
    assert n_rows == stream.n_messages
    assert tuple(last_row) == (want.best_bid_ticks, want.best_bid_size, want.best_ask_ticks, want.best_ask_size)


@pytest.mark.benchmark(group=GROUP4)
def test_tape_replay_ours(benchmark, stream, tape):
    from ofi.data.tape import KIND_BOOK, replay_tape

    level_rows = int(np.count_nonzero((tape["kind"] == KIND_BOOK) & (tape["side"] != 0)))
    assert level_rows == stream.n_levels_all
    tob = benchmark.pedantic(replay_tape, args=(tape,), kwargs={"tick_size": stream.tick_size},
                             rounds=ROUNDS_FAST, warmup_rounds=1)
    last = tob[-1]
    _check_tob_rows(len(tob), (int(last["bid_ticks"]), float(last["bid_size"]),
                               int(last["ask_ticks"]), float(last["ask_size"])), stream)
    _record4(benchmark, stream, "ours", "ofi replay_tape", tape_rows=len(tape), target_ns=TARGET4_NS)


@pytest.mark.benchmark(group=GROUP4)
def test_tape_replay_orderbook(benchmark, stream):
    ob, last_u, rows = benchmark.pedantic(peers.orderbook_replay_tob, args=(stream.msgs,),
                                          rounds=ROUNDS_PEER, warmup_rounds=1)
    assert last_u == stream.expected.last_update_id
    _check_tob_rows(len(rows), rows[-1], stream)
    _record4(benchmark, stream, "orderbook", "order-book, pre-parsed levels + TOB per message")


@pytest.mark.benchmark(group=GROUP4)
def test_tape_replay_dict_bisect(benchmark, stream):
    book, rows = benchmark.pedantic(peers.dict_bisect_replay_tob, args=(stream.msgs,),
                                    rounds=ROUNDS_PEER, warmup_rounds=1)
    _check_tob_rows(len(rows), rows[-1], stream)
    assert_state(book.state(), stream.expected)
    _record4(benchmark, stream, "dict-bisect", "dict + bisect, pre-parsed levels + TOB per message")


@pytest.mark.benchmark(group=GROUP4)
def test_tape_replay_reftwin(benchmark, stream, refbook_cls):
    book, rows = benchmark.pedantic(peers.reftwin_replay_tob,
                                    args=(refbook_cls, stream.symbol, stream.tick_size, stream.msgs_np), rounds=ROUNDS_TWIN)
    _check_tob_rows(len(rows), rows[-1], stream)
    assert_state(peers.reftwin_state(book), stream.expected)
    _record4(benchmark, stream, "reftwin", "tests/reference RefBook + TOB per message")
