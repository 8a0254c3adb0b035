"""The compiled event loop (``ofi._core.backtest.EventLoop``) against its interface, ``LoopHost``,
with no engine: what the loop reads from the host's fields, when it calls the host's four methods,
and what it records. The engine's side (``ofi.backtest.engine._Host``) is tested through the
engine in test_backtest_engine.py; here a scripted host stands in for it.

Scenarios are tapes of hand-written frames (tests/support.py: tick 0.1, times in seconds after
BT_T0, exchange time = local time unless a lag is given).
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

import ofi.backtest
import ofi.backtest.engine
import ofi.backtest.orders
import ofi.backtest.result
from ofi._core.backtest import EQUITY_DTYPE, EventLoop, LoopHost
from ofi._core.book import OrderBook
from ofi.data.tape import FLAG_BEGIN, KIND_BOOK, KIND_TRADE
from ofi.spec import InstrumentSpec
from support import Tape

BOOK = dict(bids=[(100.0, 1.0), (99.9, 2.0)], asks=[(100.1, 0.5), (100.2, 1.0)])      # mid 100.05
NO_FEED_LATENCY = SimpleNamespace(fixed_ns=0, draw=None)


class Host(LoopHost):
    """A scripted host: a sorted queue of due times, and a log of the loop's calls."""

    __slots__ = ("calls", "due", "loop")

    def __init__(self):
        self.calls = []
        self.due = []
        self.loop = None

    def queue(self, t_ns):
        self.due = sorted(self.due + [t_ns])
        self.has_due, self.next_due_ns = True, self.due[0]

    def pop_due(self):
        t = self.due.pop(0)
        self.loop.now_x = max(self.loop.now_x, t)
        self.calls.append(("pop_due", t))
        self.has_due = bool(self.due)
        if self.due:
            self.next_due_ns = self.due[0]

    def check_resting(self):
        self.calls.append(("check_resting", self.loop.now_x))

    def trade_against_resting(self, price_ticks, size, aggressor):
        self.calls.append(("trade", price_ticks, size, aggressor))

    def check_risk(self):
        self.calls.append(("check_risk", self.loop.now_x))


class Seen:
    """Strategy callbacks that log what they are given."""

    def __init__(self, host):
        self.host = host
        self.log = []

    def on_book(self, ctx, book):
        self.host.calls.append(("book", book.mid_price()))

    def on_trade(self, ctx, trade):
        self.host.calls.append(("on_trade", trade.price, trade.price_ticks, trade.size, trade.side))


def make_loop(tape, host=None, *, wants_trades=True, record_every=1):
    """An EventLoop over ``tape`` (events as BacktestEngine._append makes them for a tape whose
    clocks never go back), bound to a Seen strategy."""
    host = Host() if host is None else host
    xbook, sbook = OrderBook("TEST", "0.1"), OrderBook("TEST", "0.1")
    loop = EventLoop(host, xbook, sbook, NO_FEED_LATENCY, None, record_every)
    host.loop = loop
    kind = tape["kind"]
    starts = np.flatnonzero(((kind == KIND_BOOK) & ((tape["flags"] & FLAG_BEGIN) != 0)) | (kind == KIND_TRADE))
    tx = np.ascontiguousarray(tape["ts_exch"][starts])
    tl = np.ascontiguousarray(np.maximum(tape["ts_local"][starts], tx))
    loop.set_events(tape, starts.astype(np.int64), tx, tl, np.ascontiguousarray(kind[starts], dtype=np.int8))
    loop.now_x = loop.now_s = int(tx[0])
    strategy = Seen(host)
    loop.bind_strategy(None, strategy.on_book, strategy.on_trade, wants_trades)
    return loop, host, xbook


def test_with_nothing_queued_resting_or_limited_the_loop_never_calls_the_host():
    tape = Tape().book(1.0, kind="snapshot", **BOOK).trade(1.5, 1, 100.1, 0.2).book(2.0, [(100.0, 3.0)], []).build()
    loop, host, _ = make_loop(tape)
    host.cash, host.position, host.n_fills = 1000.0, 2.0, 7
    loop.run()
    # only the strategy's callbacks ran (logged into the same list): no host method
    assert [c[0] for c in host.calls] == ["book", "on_trade", "book"]
    assert loop.exchange_books == 2 and loop.xi == loop.si == loop.n == 3
    # equity rows: the host's account (its fields) marked to the exchange mid, one per delivered book message
    eq = loop.equity_rows()
    assert eq.dtype == EQUITY_DTYPE
    assert eq["ts_ns"].tolist() == [Tape.ns(1.0), Tape.ns(2.0)]
    assert eq["cash"].tolist() == [1000.0, 1000.0] and eq["position"].tolist() == [2.0, 2.0]
    assert eq["mid"].tolist() == [100.05, 100.05]
    assert eq["equity"].tolist() == [1000.0 + 2.0 * 100.05] * 2
    assert loop.fills_at_rows().tolist() == [7, 7]


def test_resting_orders_are_checked_at_each_exchange_book_message_and_trade():
    tape = (Tape().book(1.0, kind="snapshot", **BOOK).trade(1.5, -1, 100.0, 0.25)
            .book(2.0, [(100.0, 3.0)], []).build())
    loop, host, _ = make_loop(tape, wants_trades=False)
    host.has_resting = True
    loop.run()
    # the exchange book first (ready: check), then the trade (ticks 1000, size, aggressor -1)
    assert host.calls == [("check_resting", Tape.ns(1.0)), ("book", 100.05),
                          ("trade", 1000, 0.25, -1),
                          ("check_resting", Tape.ns(2.0)), ("book", 100.05)]


def test_risk_limits_are_checked_after_every_exchange_event():
    tape = Tape().book(1.0, kind="snapshot", **BOOK).trade(1.5, 1, 100.1, 0.2).book(2.0, [(100.0, 3.0)], []).build()
    loop, host, _ = make_loop(tape, wants_trades=False)
    host.risk_limits = True
    loop.run()
    assert host.calls == [("check_risk", Tape.ns(1.0)), ("book", 100.05), ("check_risk", Tape.ns(1.5)),
                          ("check_risk", Tape.ns(2.0)), ("book", 100.05)]


def test_a_due_entry_runs_between_events_in_time_order_exchange_first_then_the_host():
    # events at 1.0 and 2.0; entries due at 1.5 and at 2.0 (a tie with the event: the exchange
    # takes it first, then the host, then the delivery to the strategy)
    tape = Tape().book(1.0, kind="snapshot", **BOOK).book(2.0, [(100.0, 3.0)], []).build()
    loop, host, _ = make_loop(tape)
    host.has_resting = True
    host.queue(Tape.ns(2.0))
    host.queue(Tape.ns(1.5))
    loop.run()
    assert host.calls == [("check_resting", Tape.ns(1.0)), ("book", 100.05), ("pop_due", Tape.ns(1.5)),
                          ("check_resting", Tape.ns(2.0)), ("pop_due", Tape.ns(2.0)), ("book", 100.05)]
    assert not host.has_due


def test_an_entry_due_after_the_last_delivery_waits_for_the_next_run():
    tape = Tape().book(1.0, kind="snapshot", **BOOK).build()
    loop, host, _ = make_loop(tape)
    host.queue(Tape.ns(5.0))
    loop.run()
    assert host.calls == [("book", 100.05)] and host.has_due


def test_a_host_that_does_not_implement_a_method_it_is_asked_for_fails_loudly():
    class Bare(LoopHost):
        __slots__ = ("loop",)

    tape = Tape().book(1.0, kind="snapshot", **BOOK).build()
    loop, host, _ = make_loop(tape, Bare())
    host.has_resting = True
    with pytest.raises(NotImplementedError):
        loop.run()


def test_the_loop_talks_to_a_loop_host_only():
    # the engine itself (or any other object) is refused: the loop reaches nothing but LoopHost
    with pytest.raises(TypeError):
        EventLoop(object(), OrderBook("TEST", "0.1"), OrderBook("TEST", "0.1"), NO_FEED_LATENCY, None, 1)
    eng = ofi.backtest.BacktestEngine()
    eng.run(ofi.backtest.Strategy(), Tape().book(1.0, kind="snapshot", **BOOK).build(), "0.1", symbol="TEST")
    assert isinstance(eng._host, LoopHost) and not isinstance(eng, LoopHost)


def test_a_trade_reaches_the_strategy_at_the_instruments_price_of_its_ticks():
    # the loop converts ticks with the book's own conversion: the same float as InstrumentSpec's
    tape = Tape().book(1.0, kind="snapshot", **BOOK).trade(1.5, 1, 100.1, 0.2).trade(1.6, -1, 99.9, 1.5).build()
    loop, host, _ = make_loop(tape)
    loop.run()
    spec = InstrumentSpec("TEST", "0.1")
    trades = [c for c in host.calls if c[0] == "on_trade"]
    assert trades == [("on_trade", spec.ticks_to_price(1001), 1001, 0.2, 1),
                      ("on_trade", spec.ticks_to_price(999), 999, 1.5, -1)]
    assert trades[0][1] == 100.1 and trades[1][1] == 99.9


def test_exchange_books_counts_every_book_message_the_exchange_is_given_whatever_the_book_made_of_it():
    # a delta before any snapshot leaves the book empty, but it is still a book message (liquidity
    # our orders took is offered again after one); trades are not
    tape = Tape().book(0.5, [(100.0, 1.0)], []).book(1.0, kind="snapshot", **BOOK).trade(1.2, 1, 100.1, 0.1).build()
    loop, host, xbook = make_loop(tape)
    loop.run()
    assert loop.n == 3 and loop.exchange_books == 2


def test_without_an_exchange_book_the_equity_row_has_no_mid():
    tape = Tape().book(1.0, [(100.0, 1.0)], []).build()          # a delta, never a snapshot
    loop, host, _ = make_loop(tape)
    host.cash = 5.0
    loop.run()
    loop.record(Tape.ns(3.0))
    eq = loop.equity_rows()
    assert len(eq) == 2 and math.isnan(eq["mid"][-1]) and eq["equity"][-1] == 5.0


def test_the_equity_dtype_is_the_loops_and_the_result_re_exports_it():
    assert ofi.backtest.result.EQUITY_DTYPE is EQUITY_DTYPE
    assert EQUITY_DTYPE.names == ("ts_ns", "equity", "cash", "position", "mid")


def test_orders_and_fills_live_in_their_own_module_and_are_re_exported():
    for name in ("Order", "Fill"):
        assert getattr(ofi.backtest, name) is getattr(ofi.backtest.orders, name)
        assert getattr(ofi.backtest.engine, name) is getattr(ofi.backtest.orders, name)
    assert (ofi.backtest.orders.BUY, ofi.backtest.orders.SELL) == (1, -1)
