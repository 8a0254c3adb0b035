"""Acceptance on real captures (../shared/data/bybit; skipped when absent).

* The 50 frames of the XRPUSDT linear ob500 capture (1 snapshot + 49 deltas) go one by one into
  ``OrderBook(tick_size="0.0001")`` and the twin: ``u`` contiguous, never crossed, exactly 500 levels
  a side after every frame, identical to the twin after every frame (every level, bit for bit).
* Every other V5 frame either decodes (and agrees with the twin's decoding) or raises
  InvalidInputError naming the unsupported topic prefix.
* Legacy (pre-V5) frames are never taken for book data: InvalidInputError, never another exception.

Hand facts used below come from the capture itself and from bybit-v5.md §6.3 (18 inserts, 18
deletes, 2930 updates, 0 deletes of absent levels over the 49 deltas).
"""
from __future__ import annotations

import json
import struct
from collections import defaultdict

import numpy as np
import pytest

from ofi import OrderBook
from ofi.data.tape import FLAG_BEGIN, FLAG_END, FLAG_SNAPSHOT, KIND_BOOK, frames_to_tape, replay_tape
from ofi.errors import InvalidInputError, OfiError
from ofi.frames import BookFrame, ControlFrame, TradeFrame, decode_frame
from reference.book import RefBook
from reference.decode import decode_frame as ref_decode

pytestmark = pytest.mark.realdata

XRP_TICK = "0.0001"
FIRST_U = 20254869
FINE_TICK = "0.00001"  # divides every price in the other V5 captures
SUPPORTED = ("orderbook", "publicTrade")


def bits(x) -> bytes:
    return struct.pack("<d", float(x))


def assert_twin(core: OrderBook, ref: RefBook, where: str) -> None:
    assert core.bids().tobytes() == ref.bids().tobytes(), f"{where}: bids differ"
    assert core.asks().tobytes() == ref.asks().tobytes(), f"{where}: asks differ"
    for name in ("best_bid", "best_ask", "best_bid_size", "best_ask_size", "mid_price", "microprice", "spread",
                 "spread_bps"):
        assert bits(getattr(core, name)()) == bits(getattr(ref, name)()), f"{where}: {name}"
    for k in (1, 5, 50, 500):
        for name in ("bid_depth", "ask_depth", "depth_imbalance"):
            assert bits(getattr(core, name)(k)) == bits(getattr(ref, name)(k)), f"{where}: {name}({k})"
    for c, r in zip(core.top_levels(10), ref.top_levels(10)):
        assert c.tobytes() == r.tobytes(), f"{where}: top_levels"
    for name in ("update_id", "seq", "ts_exch", "cts", "ts_local", "stale", "ready", "n_bids", "n_asks", "topic"):
        assert getattr(core, name) == getattr(ref, name), f"{where}: {name} {getattr(core, name)!r} {getattr(ref, name)!r}"


# ----------------------------------------------------------------------------- XRPUSDT ob500


def test_xrp_ob500_frame_by_frame(xrp_frames):
    assert len(xrp_frames) == 50
    core = OrderBook("XRPUSDT", tick_size=XRP_TICK)
    ref = RefBook("XRPUSDT", XRP_TICK)
    for i, raw in enumerate(xrp_frames):
        ts_local = 1_733_011_200_700_000_000 + i * 100_000_000
        assert core.apply_frame(raw, ts_local=ts_local) is True, f"frame {i}"
        assert ref.apply_frame(raw, ts_local=ts_local) is True
        assert core.update_id == FIRST_U + i, f"frame {i}: u={core.update_id}"
        assert core.n_bids == 500 and core.n_asks == 500, f"frame {i}: {core.n_bids}x{core.n_asks}"
        assert core.best_bid_ticks() < core.best_ask_ticks(), f"frame {i}: crossed"
        assert core.ready and not core.stale and core.topic == "orderbook.500.XRPUSDT"
        core.check_integrity()
        assert_twin(core, ref, f"frame {i}")
    assert (core.messages, core.rejected, core.gaps, core.ignored) == (50, 0, 0, 0)
    # final state, read off the capture by hand (Decimal replay, see module docstring)
    assert core.bbo() == (1.9537, 10605.0, 1.9538, 6702.0)
    assert core.bids()[-1, 0] == 1.9037 and core.asks()[-1, 0] == 2.0037
    assert (core.update_id, core.seq) == (20254918, 130020252664)
    assert (core.ts_exch, core.cts) == (1733011205490 * 1_000_000, 1733011205488 * 1_000_000)


def test_xrp_first_snapshot(xrp_frames):
    core = OrderBook("XRPUSDT", tick_size=XRP_TICK)
    core.apply_frame(xrp_frames[0].encode())
    assert core.bbo() == (1.9531, 6203.0, 1.9532, 10480.0)
    assert core.bids(2).tolist() == [[1.9531, 6203.0], [1.953, 2409.0]]
    assert (core.update_id, core.ts_exch, core.cts) == (FIRST_U, 1733011200691 * 1_000_000, 1733011200589 * 1_000_000)


def test_xrp_delta_statistics_match_the_research_notes(xrp_frames):
    """Inserts / deletes / updates / absent deletes over the 49 deltas, via the decoder and the twin."""
    ref = RefBook("XRPUSDT", XRP_TICK)
    ref.apply_frame(xrp_frames[0])
    counts = defaultdict(int)
    for raw in xrp_frames[1:]:
        f = decode_frame(raw, XRP_TICK)
        assert isinstance(f, BookFrame) and not f.snapshot
        bid_ticks, _, ask_ticks, _ = ref.top_levels(1000)
        present = {1: set(bid_ticks.tolist()), -1: set(ask_ticks.tolist())}
        for side, ticks, sizes in ((1, f.bid_ticks, f.bid_sizes), (-1, f.ask_ticks, f.ask_sizes)):
            for t, s in zip(ticks.tolist(), sizes.tolist()):
                if s == 0.0:
                    counts["delete" if t in present[side] else "absent"] += 1
                else:
                    counts["update" if t in present[side] else "insert"] += 1
        ref.apply_frame(raw)
    assert dict(counts) == {"insert": 18, "delete": 18, "update": 2930}  # and no "absent" deletes


def test_xrp_decoded_levels_through_apply_levels(xrp_frames):
    """decode_frame + apply_levels builds the same book as apply_frame."""
    a = OrderBook("XRPUSDT", tick_size=XRP_TICK)
    b = OrderBook("XRPUSDT", tick_size=XRP_TICK)
    for raw in xrp_frames:
        f = decode_frame(raw, XRP_TICK)
        ref = ref_decode(raw, XRP_TICK)
        assert f.bid_ticks.tolist() == [t for t, _ in ref["bids"]]
        assert f.bid_sizes.tobytes() == np.array([s for _, s in ref["bids"]], dtype=np.float64).tobytes()
        assert f.ask_ticks.tolist() == [t for t, _ in ref["asks"]]
        assert f.ask_sizes.tobytes() == np.array([s for _, s in ref["asks"]], dtype=np.float64).tobytes()
        assert (f.update_id, f.seq, f.ts_exch, f.cts) == (ref["update_id"], ref["seq"], ref["ts_exch"], ref["cts"])
        a.apply_frame(raw)
        b.apply_levels(f.bid_ticks, f.bid_sizes, f.ask_ticks, f.ask_sizes, snapshot=f.snapshot,
                       update_id=f.update_id, ts_exch=f.ts_exch)
        assert a.bids().tobytes() == b.bids().tobytes() and a.asks().tobytes() == b.asks().tobytes()
    assert b.update_id == 20254918


def test_xrp_tape_replay(xrp_frames):
    frames = [(1_000 + i, raw) for i, raw in enumerate(xrp_frames)]
    tape = frames_to_tape(frames, XRP_TICK)
    book_rows = tape[tape["kind"] == KIND_BOOK]
    n_levels = sum(len(f.bid_ticks) + len(f.ask_ticks) for f in (decode_frame(r, XRP_TICK) for r in xrp_frames))
    assert len(book_rows) == n_levels
    assert int(np.count_nonzero(book_rows["flags"] & FLAG_BEGIN)) == 50
    assert int(np.count_nonzero(book_rows["flags"] & FLAG_END)) == 50
    assert int(np.count_nonzero(book_rows["flags"] & FLAG_SNAPSHOT)) == 1000
    tob = replay_tape(tape, XRP_TICK)
    assert len(tob) == 50
    ref = RefBook("XRPUSDT", XRP_TICK)
    for i, raw in enumerate(xrp_frames):
        ref.apply_frame(raw, ts_local=1_000 + i)
        row = tob[i]
        assert (int(row["update_id"]), int(row["ts_local"]), int(row["ts_exch"])) == (ref.update_id, 1_000 + i, ref.ts_exch)
        assert (int(row["bid_ticks"]), int(row["ask_ticks"])) == (ref.best_bid_ticks(), ref.best_ask_ticks())
        assert (float(row["bid_size"]), float(row["ask_size"])) == (ref.best_bid_size(), ref.best_ask_size())


def test_xrp_live_then_tape_continues_the_same_book(xrp_frames):
    """First 20 frames live (apply_frame), the rest replayed from a tape into the same book."""
    book = OrderBook("XRPUSDT", tick_size=XRP_TICK)
    ref = RefBook("XRPUSDT", XRP_TICK)
    for raw in xrp_frames[:20]:
        book.apply_frame(raw)
    for raw in xrp_frames:
        ref.apply_frame(raw)
    tob = replay_tape(frames_to_tape(xrp_frames[20:], XRP_TICK), book=book)
    assert len(tob) == 30 and int(tob[-1]["update_id"]) == 20254918
    assert book.bids().tobytes() == ref.bids().tobytes() and book.asks().tobytes() == ref.asks().tobytes()
    # TAPE_DTYPE has no cts column, so cts is not compared after a replay
    for name in ("update_id", "seq", "ts_exch", "stale", "ready", "topic"):
        assert getattr(book, name) == getattr(ref, name), name


# ----------------------------------------------------------------------------- the other V5 captures


def test_every_other_v5_frame_decodes_or_names_its_topic(v5_jsonl):
    seen = defaultdict(int)
    for name, lines in v5_jsonl.items():
        for i, raw in enumerate(lines):
            where = f"{name}:{i + 1}"
            msg = json.loads(raw)
            topic = msg.get("topic")
            if topic is None:
                f = decode_frame(raw, FINE_TICK)
                assert isinstance(f, ControlFrame), where
                assert f.is_pong == (msg.get("op") == "pong" or msg.get("ret_msg") == "pong"), where
                seen["control"] += 1
                continue
            prefix = topic.split(".")[0]
            if prefix not in SUPPORTED:
                with pytest.raises(InvalidInputError) as ei:
                    decode_frame(raw, FINE_TICK)
                assert prefix in str(ei.value), f"{where}: {ei.value}"
                seen["unsupported"] += 1
                continue
            f = decode_frame(raw, FINE_TICK)
            ref = ref_decode(raw, FINE_TICK)
            if prefix == "orderbook":
                assert isinstance(f, BookFrame), where
                assert (f.topic, f.symbol, f.update_id, f.seq, f.ts_exch, f.cts) == (
                    ref["topic"], ref["symbol"], ref["update_id"], ref["seq"], ref["ts_exch"], ref["cts"]), where
                assert f.snapshot == ref["snapshot"], where
                assert list(zip(f.bid_ticks.tolist(), f.bid_sizes.tolist())) == ref["bids"], where
                assert list(zip(f.ask_ticks.tolist(), f.ask_sizes.tolist())) == ref["asks"], where
            else:
                assert isinstance(f, TradeFrame) and f.topic == topic and f.ts_exch == ref["ts_exch"], where
                got = [(t.symbol, t.price, t.size, t.side, t.ts_exch, t.trade_id, t.price_ticks, t.seq,
                        t.block_trade, t.rpi) for t in f.trades]
                want = [(t["symbol"], t["price"], t["size"], t["side"], t["ts_exch"], t["trade_id"],
                         t["price_ticks"], t["seq"], t["block_trade"], t["rpi"]) for t in ref["trades"]]
                assert got == want, where
            seen[prefix] += 1
    # the captures hold all of these (bybit-v5.md §9)
    assert seen["orderbook"] >= 12 and seen["publicTrade"] >= 6 and seen["control"] >= 1 and seen["unsupported"] >= 14


def test_other_v5_books_agree_with_the_twin(v5_jsonl):
    """Book frames of each capture, per topic and in file order, through OrderBook and RefBook."""
    books: dict = {}
    n = 0
    for name, lines in v5_jsonl.items():
        for i, raw in enumerate(lines):
            msg = json.loads(raw)
            if not str(msg.get("topic", "")).startswith("orderbook."):
                continue
            key = (name, msg["topic"])
            if key not in books:
                books[key] = (OrderBook(msg["data"]["s"], tick_size=FINE_TICK), RefBook(msg["data"]["s"], FINE_TICK))
            core, ref = books[key]
            try:
                want = ("ok", ref.apply_frame(raw))
            except OfiError as exc:
                want = ("err", type(exc))
            try:
                got = ("ok", core.apply_frame(raw))
            except OfiError as exc:
                got = ("err", type(exc))
            assert got == want, f"{name}:{i + 1}"
            assert_twin(core, ref, f"{name}:{i + 1}")
            n += 1
    assert n >= 12


def test_gocryptotrader_spot_book(v5_jsonl):
    lines = v5_jsonl["gocryptotrader__bybit_test.go__pushDataMap.jsonl"]
    book = OrderBook("BTCUSDT", tick_size="0.01")
    assert book.apply_frame(lines[0]) and book.n_bids == 50 and book.n_asks == 50
    assert book.best_bid() == 75848.74 and book.best_bid_size() == 0.067669
    assert book.apply_frame(lines[1]) and book.update_id == 2876701
    # the delta deletes 75837.13 (bid) and 75852.65 (ask) and sets bid 75848.62 to 0.014895
    assert 75837.13 not in book.bids()[:, 0].tolist() and 75852.65 not in book.asks()[:, 0].tolist()
    assert [75848.62, 0.014895] in book.bids().tolist()
    assert book.best_bid_ticks() < book.best_ask_ticks()


# ----------------------------------------------------------------------------- legacy V2


def test_legacy_v2_frames_are_never_book_data(legacy_frames):
    assert len(legacy_frames) > 4000
    book = OrderBook("BTCUSDT", tick_size="0.5")
    topics = defaultdict(int)
    for name, raw in legacy_frames:
        msg = json.loads(raw)
        with pytest.raises(InvalidInputError) as ei:
            book.apply_frame(raw)
        topic = msg.get("topic")
        if topic is not None:
            prefix = topic.split(".")[0]
            topics[prefix] += 1
            with pytest.raises(InvalidInputError) as ei:
                decode_frame(raw, "0.001")
            assert prefix in str(ei.value), f"{name}: {ei.value}"
        else:
            # legacy subscribe replies {"success":..,"ret_msg":..,"conn_id":..,"request":{..}}: the contract
            # does not say whether these are control frames; either reading is accepted, nothing else
            try:
                f = decode_frame(raw, "0.001")
            except InvalidInputError:
                pass
            else:
                assert isinstance(f, ControlFrame) and f.success is msg["success"] and f.op is None
    assert len(book) == 0 and book.topic is None and book.update_id == -1
    assert book.rejected == len(legacy_frames)
    assert topics["orderBookL2_25"] > 4000 and topics["trade"] > 100
