"""The backtest engine (``ofi.backtest.engine``) on what a user's PnL depends on: when fills reach
the strategy, the end-of-data close and its last notification, the daily-loss day boundary, the
leverage limit, queue positions (cancellations and added size), the slippage of the engine's own
closes, trade delivery, cancels, round-trip accounting on a reversal, taken liquidity, and the
latency models; then, edge by edge, what the configuration and order entry refuse (and name),
each order's final status and reason, resting orders on both sides, the leverage and daily-loss
limits at their boundaries, what the result carries (markouts, exposure, config), the order of
events at equal times, and frames fed one at a time (paper trading).

Scenarios are tapes of hand-written frames (tick 0.1, times in seconds after T0, exchange time =
local time unless a lag is given); every expected number is worked out in the comments.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ofi.backtest import BacktestConfig, BacktestEngine, Latency, Strategy
from ofi.data.tape import frames_to_tape
from ofi.errors import InvalidInputError
from ofi.metrics.trading import NS_PER_DAY
from support import Tape

T0 = 1_700_000_000_000                 # ms: 2023-11-14 22:13:20 UTC
NS = 1_000_000                         # ns per ms
SEC = 1000 * NS
MIDNIGHT = 6400.0                      # seconds after T0: 2023-11-15 00:00:00 UTC


def ns(t: float) -> int:
    """Nanoseconds of a time given in seconds after T0."""
    return (T0 + round(t * 1000)) * NS


class Script(Strategy):
    """Runs actions[k](ctx) at the k-th book message it receives (0-based); records what it saw."""

    def __init__(self, actions=None):
        self.actions = actions or {}
        self.k = 0
        self.books = []          # (now, position, cash) at each book message, before its action
        self.fills = []          # (now, fill, position, cash) at each fill notification
        self.finish = None       # (now, position, cash) at on_finish
        self.ids = []            # what the actions returned

    def on_book(self, ctx, book):
        self.books.append((ctx.now_ns, ctx.position, ctx.cash))
        act = self.actions.get(self.k)
        if act:
            self.ids.append(act(ctx))
        self.k += 1

    def on_fill(self, ctx, fill):
        self.fills.append((ctx.now_ns, fill, ctx.position, ctx.cash))

    def on_finish(self, ctx):
        self.finish = (ctx.now_ns, ctx.position, ctx.cash)


def run_eng(tape, strategy, **cfg):
    cfg.setdefault("slippage_bps", 0.0)
    cfg.setdefault("flat_at_end", False)
    eng = BacktestEngine(BacktestConfig(**cfg))
    return eng, eng.run(strategy, tape, "0.1", symbol="TEST")


def run(tape, strategy, **cfg):
    return run_eng(tape, strategy, **cfg)[1]


def orders(eng):
    """(status, reason) of every order, in id order."""
    return [(o.status, o.reason) for o in eng._orders.values()]


BOOK = dict(bids=[(100.0, 1.0), (99.9, 2.0)], asks=[(100.1, 0.5), (100.2, 1.0)])
DEEP = dict(bids=[(100.0, 500.0)], asks=[(100.1, 500.0)])        # mid 100.05


# ============================================================================ fill notifications
def test_a_fill_reaches_the_strategy_one_feed_latency_after_it_happens():
    # feed 250 ms. Book messages at 1.0 (snapshot), 1.1, 1.3, 2.0 (bid sizes only) reach the
    # strategy at 1.25, 1.35, 1.55, 2.25. At 1.25 it buys 0.5 at market; order latency 0: it
    # arrives at 1.25 and takes 0.5 @ 100.1 at exchange time 1.25 (the 1.1 message, received
    # before, has been applied; the 1.3 one not yet). The strategy hears of it at 1.25 + 0.25 = 1.5.
    feed = 250 * NS
    tape = (Tape().book(1.0, kind="snapshot", **BOOK).book(1.1, [(100.0, 1.5)], [])
            .book(1.3, [(100.0, 2.0)], []).book(2.0, [(100.0, 2.5)], []).build())
    s = Script({0: lambda c: c.buy(0.5)})
    r = run(tape, s, feed_latency=feed)
    (f,) = r.fills
    assert f["ts_ns"] == ns(1.25) and f["price"] == 100.1 and f["qty"] == 0.5
    (now, fill, pos, cash) = s.fills[0]
    assert fill.ts_ns == ns(1.25)
    assert now == fill.ts_ns + feed == ns(1.5)          # exactly one feed latency later, never before
    # cost 0.5 * 100.1 = 50.05, taker fee 0.00055 * 50.05 = 0.0275275
    after = 10_000 - 50.05 - 0.0275275
    assert pos == 0.5 and cash == pytest.approx(after, abs=1e-9)
    # the book message delivered at 1.35 comes after the fill (1.25) but before its notice (1.5):
    # the strategy's account has not changed yet; at 1.55 it has
    assert [b[0] for b in s.books] == [ns(1.25), ns(1.35), ns(1.55), ns(2.25)]
    assert s.books[1][1:] == (0.0, 10_000.0)
    assert s.books[2][1] == 0.5 and s.books[2][2] == pytest.approx(after, abs=1e-9)
    # the exchange account changed at the fill itself: the equity row of the 1.35 delivery shows
    # it (a row per delivery, then one at the end; at the 1.25 delivery the order had not arrived)
    assert r.equity["ts_ns"].tolist() == [ns(1.25), ns(1.35), ns(1.55), ns(2.25), ns(2.25)]
    assert r.equity["position"].tolist() == [0.0, 0.5, 0.5, 0.5, 0.5]


class FlatAtEnd(Script):
    flat_at_end = True


@pytest.mark.parametrize("via_config", [True, False])
def test_the_close_at_the_end_reaches_the_strategy_before_on_finish(via_config):
    # feed 250 ms: snapshot at 1 (seen at 1.25: buy 0.5 -> 0.5 @ 100.1 at 1.25, heard at 1.5), a
    # delta at 2 (seen at 2.25). End of data at exchange time 2: the engine sells 0.5 @ the bid
    # 100.0 (slippage 0) at 2.0, and the strategy hears of it at 2.0 + 0.25 = 2.25, before on_finish.
    feed = 250 * NS
    tape = Tape().book(1, kind="snapshot", **BOOK).book(2, [(99.9, 2.5)], []).build()
    s = (Script if via_config else FlatAtEnd)({0: lambda c: c.buy(0.5)})
    r = run(tape, s, feed_latency=feed, flat_at_end=via_config)
    assert r.fills["side"].tolist() == [1, -1] and r.fills["price"].tolist() == [100.1, 100.0]
    assert len(s.fills) == 2
    now, fill, pos, cash = s.fills[1]
    assert fill.side == -1 and fill.qty == 0.5 and fill.ts_ns == ns(2.0) and now == ns(2.25)
    # cash: 10,000 - 50.05 - 0.0275275 (buy) + 50.0 - 0.0275 (sell: 0.00055 * 50.0)
    want = 10_000 - 50.05 - 0.0275275 + 50.0 - 0.0275
    assert s.finish[1] == 0.0 and s.finish[2] == pytest.approx(want, abs=1e-9)
    assert r.equity[-1]["cash"] == pytest.approx(want, abs=1e-9) and r.equity[-1]["position"] == 0.0


def test_without_flat_at_end_the_position_stays_open():
    tape = Tape().book(1, kind="snapshot", **BOOK).book(2, [(99.9, 2.5)], []).build()
    s = Script({0: lambda c: c.buy(0.5)})
    r = run(tape, s, feed_latency=250 * NS, flat_at_end=False)
    assert r.fills["side"].tolist() == [1] and s.finish[1] == 0.5


# ============================================================================ daily loss and the UTC day
def test_the_daily_loss_halt_ends_and_the_baseline_resets_at_utc_midnight():
    assert ns(MIDNIGHT) % NS_PER_DAY == 0
    M = MIDNIGHT
    # No fees, no slippage, latencies 0, max daily loss 30.
    t = (Tape()
         .book(M - 10, kind="snapshot", **DEEP)              # day 1 starts at equity 10,000
         # k=0: buy 10 @ 100.1: cash 10,000 - 1,001 = 8,999
         .book(M - 9, [(100.0, 0), (95.0, 500)], [(100.1, 0), (95.1, 500)])
         # mid 95.05: equity 8,999 + 950.5 = 9,949.5, day PnL -50.5 <= -30: the engine sells 10 @ 95.0
         # (cash 9,949) and halts the day; k=1: buy 1 is rejected
         .book(M + 1, [(95.0, 501)], [])
         # day 2 starts flat at equity 9,949; k=2: buy 10 @ 95.1: cash 9,949 - 951 = 7,998 + 1,000 = 8,998
         .book(M + 2, [(95.0, 0), (93.0, 500)], [(95.1, 0), (93.1, 500)])
         # mid 93.05: equity 8,998 + 930.5 = 9,928.5: -20.5 on day 2 (no halt), though -71.5 from
         # the start of day 1; k=3: buy 1 is accepted @ 93.1: cash 8,904.9
         .book(M + 3, [(93.0, 501)], [])
         # equity 8,904.9 + 11 * 93.05 = 9,928.45: -20.55 on day 2
         .book(M + 4, [(93.0, 0), (91.0, 500)], [(93.1, 0), (91.1, 500)])
         # mid 91.05: 8,904.9 + 11 * 91.05 = 9,906.45: -42.55 on day 2: sell 11 @ 91.0, halted;
         # k=5: buy 1 rejected. (So the day-2 baseline lies in [9,936.45, 9,958.5): 9,949.)
         .book(M + 5, [(91.0, 501)], []))
    s = Script({0: lambda c: c.buy(10), 1: lambda c: c.buy(1), 2: lambda c: c.buy(10),
                3: lambda c: c.buy(1), 5: lambda c: c.buy(1)})
    eng, r = run_eng(t.build(), s, max_daily_loss=30.0, commission_rate=0.0)
    f = r.fills
    assert f["side"].tolist() == [1, -1, 1, 1, -1]
    assert f["qty"].tolist() == [10.0, 10.0, 10.0, 1.0, 11.0]
    assert f["price"].tolist() == [100.1, 95.0, 95.1, 93.1, 91.0]
    assert f["ts_ns"].tolist() == [ns(M - 10), ns(M - 9), ns(M + 1), ns(M + 2), ns(M + 4)]
    assert orders(eng) == [("filled", ""), ("filled", "risk"), ("rejected", "daily loss limit"),
                           ("filled", ""), ("filled", ""), ("filled", "risk"), ("rejected", "daily loss limit")]
    # cash 8,904.9 + 11 * 91.0 = 9,905.9
    assert r.equity[-1]["cash"] == pytest.approx(9_905.9, abs=1e-9)


def test_a_move_at_the_first_event_of_a_day_counts_in_that_days_loss():
    # Long 10 overnight (bought @ 100.1 on day 1, no fees: cash 8,999; at mid 100.05 equity
    # 9,999.5: -0.5 on day 1). The first event of day 2 moves the mid to 95.05: equity 9,949.5.
    # Day 2 started at the equity at midnight, 9,999.5 (the last mid before it), so day 2 is at
    # -50 <= -30: the engine closes @ 95.0 at once, and a buy that day is refused.
    M = MIDNIGHT
    t = (Tape().book(M - 10, kind="snapshot", **DEEP)
         .book(M - 9, [(100.0, 501)], [])
         .book(M + 1, [(100.0, 0), (95.0, 500)], [(100.1, 0), (95.1, 500)])
         .book(M + 2, [(95.0, 501)], []))
    s = Script({0: lambda c: c.buy(10), 3: lambda c: c.buy(1)})
    eng, r = run_eng(t.build(), s, max_daily_loss=30.0, commission_rate=0.0)
    assert r.fills["price"].tolist() == [100.1, 95.0] and r.fills["ts_ns"][1] == ns(M + 1)
    assert orders(eng) == [("filled", ""), ("filled", "risk"), ("rejected", "daily loss limit")]


# ============================================================================ leverage
@pytest.mark.parametrize("resting_side, qty, accepted", [
    # equity 10,000 (nothing filled yet), mid 100.05, max_leverage 1: notional at most 10,000.
    # A resting SELL of 50 does not add to a buy: 99 * 100.05 = 9,904.95 passes, 100 * 100.05 =
    # 10,005 does not.
    (-1, 99.0, True), (-1, 100.0, False),
    # A resting BUY of 50 does: (49 + 50) * 100.05 = 9,904.95 passes, (50 + 50) * 100.05 = 10,005 not.
    (1, 49.0, True), (1, 50.0, False),
])
def test_the_leverage_limit_counts_resting_orders_on_the_same_side_only(resting_side, qty, accepted):
    t = Tape().book(1, kind="snapshot", **DEEP).book(2, [(100.0, 501)], []).book(3, [(100.0, 502)], [])
    rest = (lambda c: c.sell(50.0, price=101.0)) if resting_side < 0 else (lambda c: c.buy(50.0, price=99.0))
    s = Script({0: rest, 1: lambda c: c.buy(qty)})
    eng, r = run_eng(t.build(), s, max_leverage=1.0)
    # the resting order itself (50 * 100.05 = 5,002.5 passes) stays out of the money to the end
    assert orders(eng)[0] == ("cancelled", "end of the data")
    if accepted:
        assert orders(eng)[1] == ("filled", "")
        assert r.fills["qty"].tolist() == [qty] and r.fills["price"].tolist() == [100.1]
    else:
        assert orders(eng)[1] == ("rejected", "leverage limit") and len(r.fills) == 0


# ============================================================================ queue position
def test_queue_cancel_share_is_checked():
    for ok in (0, 0.5, 1, 1.0, "proportional"):
        assert BacktestConfig(queue_cancel_share=ok).queue_cancel_share == ok
    for bad in (-0.1, 1.1, True, "x", None, float("nan")):
        with pytest.raises(InvalidInputError, match="queue_cancel_share"):
            BacktestConfig(queue_cancel_share=bad)


@pytest.mark.parametrize("share, want", [
    # buy 1.0 @ 100.0 joins behind the visible 1.0 (ahead 1.0). The level drops to 0.4 without a
    # trade: 0.6 cancelled. A sell of 0.9 at 100.0 then fills us with 0.9 - ahead:
    (0, []),                     # ahead stays 1.0: nothing
    (0.5, [0.2]),                # ahead 1.0 - 0.5 * 0.6 = 0.7: 0.2
    (1, [0.5]),                  # ahead 1.0 - 0.6 = 0.4: 0.5
    ("proportional", [0.5]),     # share of the level ahead of us 1.0 / 1.0 = 1: as 1
])
def test_cancellations_advance_the_queue_by_the_configured_share(share, want):
    t = (Tape().book(1, kind="snapshot", **BOOK)
         .book(2, [(100.0, 0.4)], [])
         .trade(3, -1, 100.0, 0.9)
         .book(4, [], []))
    r = run(t.build(), Script({0: lambda c: c.buy(1.0, price=100.0)}), queue_cancel_share=share)
    assert r.fills["qty"].tolist() == pytest.approx(want, abs=1e-12)
    assert r.fills["maker"].tolist() == [1] * len(want)


@pytest.mark.parametrize("share", ["proportional", 0.5, 1])
def test_size_added_at_our_level_does_not_push_us_back(share):
    # buy 1.0 @ 100.0 joins behind 1.0; the level grows to 3.0 (2.0 joined behind us); a sell of
    # 1.5 at 100.0 consumes the 1.0 ahead and fills 0.5 of ours, as predicted from the queue at entry
    t = (Tape().book(1, kind="snapshot", **BOOK)
         .book(2, [(100.0, 3.0)], [])
         .trade(3, -1, 100.0, 1.5)
         .book(4, [], []))
    r = run(t.build(), Script({0: lambda c: c.buy(1.0, price=100.0)}), queue_cancel_share=share)
    assert r.fills["qty"].tolist() == pytest.approx([0.5], abs=1e-12)
    assert r.fills["ts_ns"].tolist() == [ns(3)]


def test_after_growth_a_shrink_advances_the_queue_from_the_grown_level():
    # ahead 1.0 behind a level of 1.0; the level grows to 3.0 (ahead still 1.0), then shrinks to
    # 2.0 without a trade: 1.0 cancelled, proportional share 1.0 / 3.0: ahead 1.0 - 1/3 = 2/3.
    # A sell of 1.0 at 100.0 then fills 1.0 - 2/3 = 1/3.
    t = (Tape().book(1, kind="snapshot", **BOOK)
         .book(2, [(100.0, 3.0)], [])
         .book(3, [(100.0, 2.0)], [])
         .trade(4, -1, 100.0, 1.0)
         .book(5, [], []))
    r = run(t.build(), Script({0: lambda c: c.buy(1.0, price=100.0)}))
    assert r.fills["qty"].tolist() == pytest.approx([1 / 3], abs=1e-12)


# ============================================================================ the engine's own closes
# slippage 10 bps: a factor 0.999 on sells, 1.001 on buys
def test_a_forced_close_of_a_long_beyond_the_visible_book_pays_slippage_below_the_deepest_bid():
    # buy 3.0 @ 100.1 * 1.001 = 100.2001; the bids thin to 1.0 @ 100.0 and 0.5 @ 99.9. The close
    # at the end sells 1.0 @ 100.0 * 0.999 = 99.9, 0.5 @ 99.9 * 0.999 = 99.8001, and the 1.5
    # the book does not show also @ 99.8001 (the deepest bid, 10 bps worse): below 99.9.
    t = (Tape().book(1, kind="snapshot", bids=[(100.0, 5.0)], asks=[(100.1, 5.0)])
         .book(2, [(100.0, 1.0), (99.9, 0.5)], []))
    r = run(t.build(), Script({0: lambda c: c.buy(3.0)}), slippage_bps=10.0, flat_at_end=True)
    f = r.fills
    assert f["side"].tolist() == [1, -1, -1, -1]
    assert f["qty"].tolist() == [3.0, 1.0, 0.5, 1.5]
    assert f["price"].tolist() == pytest.approx([100.2001, 99.9, 99.8001, 99.8001], abs=1e-9)
    assert f["price"][-1] < 99.9 and r.equity[-1]["position"] == 0.0


def test_a_forced_close_of_a_short_beyond_the_visible_book_pays_slippage_above_the_deepest_ask():
    # sell 3.0 @ 100.0 * 0.999 = 99.9; the asks thin to 0.5 @ 100.1 and 1.0 @ 100.2. The close
    # buys 0.5 @ 100.1 * 1.001 = 100.2001, 1.0 @ 100.2 * 1.001 = 100.3002 and the rest (1.5) @
    # 100.3002: above the deepest ask 100.2.
    t = (Tape().book(1, kind="snapshot", bids=[(100.0, 5.0)], asks=[(100.1, 5.0)])
         .book(2, [], [(100.1, 0.5), (100.2, 1.0)]))
    r = run(t.build(), Script({0: lambda c: c.sell(3.0)}), slippage_bps=10.0, flat_at_end=True)
    f = r.fills
    assert f["side"].tolist() == [-1, 1, 1, 1]
    assert f["qty"].tolist() == [3.0, 0.5, 1.0, 1.5]
    assert f["price"].tolist() == pytest.approx([99.9, 100.2001, 100.3002, 100.3002], abs=1e-9)
    assert f["price"][-1] > 100.2 and r.equity[-1]["position"] == 0.0


def test_a_risk_close_beyond_the_visible_book_pays_slippage_the_adverse_way():
    # as the long case, closed by max_holding_time (1 s) at the event at 2.0 instead of the end
    t = (Tape().book(1, kind="snapshot", bids=[(100.0, 5.0)], asks=[(100.1, 5.0)])
         .book(2, [(100.0, 1.0), (99.9, 0.5)], []))
    eng, r = run_eng(t.build(), Script({0: lambda c: c.buy(3.0)}), slippage_bps=10.0, max_holding_time=SEC)
    f = r.fills
    assert f["qty"].tolist() == [3.0, 1.0, 0.5, 1.5] and f["ts_ns"][-1] == ns(2)
    assert f["price"].tolist() == pytest.approx([100.2001, 99.9, 99.8001, 99.8001], abs=1e-9)
    assert orders(eng)[1] == ("filled", "risk")


# ============================================================================ trades to the strategy
class Trades(Strategy):
    def __init__(self):
        self.trades = []

    def on_trade(self, ctx, trade):
        self.trades.append((ctx.now_ns, trade.price, trade.size, trade.side, trade.ts_exch, trade.ts_local))


def test_a_strategy_that_reads_trades_gets_every_trade_after_the_feed_latency():
    # trades received 5 ms after they happened; feed 100 ms: each reaches the strategy at
    # ts_local + 100 ms (nothing else moves its clock)
    feed = 100 * NS
    t = (Tape().book(1, kind="snapshot", **BOOK)
         .trade(1.2, 1, 100.1, 0.3, lag=0.005)
         .trade(1.4, -1, 100.0, 0.7, lag=0.005)
         .book(1.5, [(99.9, 2.5)], [])
         .trade(1.6, -1, 99.9, 2.0, lag=0.005)
         .book(2, [], []))
    s = Trades()
    run(t.build(), s, feed_latency=feed)
    assert s.trades == [
        (ns(1.205) + feed, 100.1, 0.3, 1, ns(1.2), ns(1.205)),
        (ns(1.405) + feed, 100.0, 0.7, -1, ns(1.4), ns(1.405)),
        (ns(1.605) + feed, 99.9, 2.0, -1, ns(1.6), ns(1.605)),
    ]


# ============================================================================ cancels
def test_a_cancel_arriving_after_the_fill_does_nothing():
    # buy 1.0 @ 100.0 rests; a sell through 99.9 at 1.3 fills it; the cancel sent at 1.5 finds it filled
    t = (Tape().book(1, kind="snapshot", **BOOK)
         .trade(1.3, -1, 99.9, 5.0)
         .book(1.5, [], [])
         .book(2, [], []))
    s = Script({0: lambda c: c.buy(1.0, price=100.0), 1: lambda c: c.cancel(1)})
    eng, r = run_eng(t.build(), s)
    assert r.fills["qty"].tolist() == [1.0] and orders(eng) == [("filled", "")]
    assert s.books[2][1] == 1.0                         # still long 1.0 after the cancel


def test_a_cancel_of_a_partly_filled_order_cancels_the_rest():
    # buy 1.0 @ 100.0 behind 1.0; a sell of 1.3 at 100.0 fills 0.3; the cancel removes the other 0.7,
    # so the trade through 99.9 afterwards fills nothing
    t = (Tape().book(1, kind="snapshot", **BOOK)
         .trade(1.3, -1, 100.0, 1.3)
         .book(1.5, [], [])
         .trade(1.7, -1, 99.9, 5.0)
         .book(2, [], []))
    eng, r = run_eng(t.build(), Script({0: lambda c: c.buy(1.0, price=100.0), 1: lambda c: c.cancel(1)}))
    assert r.fills["qty"].tolist() == pytest.approx([0.3], abs=1e-12)
    assert orders(eng) == [("cancelled", "")]


def test_cancelling_an_unknown_order_raises():
    t = Tape().book(1, kind="snapshot", **BOOK).build()
    with pytest.raises(InvalidInputError, match="no order"):
        run(t, Script({0: lambda c: c.cancel(999)}))


def test_the_cancel_latency_defaults_to_the_order_latency():
    # order latency 500 ms: buy 1.0 @ 100.0 sent at 1.0 rests from 1.5; a cancel sent at 1.6 would
    # arrive at 2.1 with the default (500 ms), after the sell through 99.9 at 1.9 has filled the
    # order; with cancel_latency 100 ms it arrives at 1.7, before.
    assert BacktestConfig(order_latency=500 * NS).cancel_latency == Latency.constant(500 * NS)
    t = (Tape().book(1, kind="snapshot", **BOOK)
         .book(1.6, [], [])
         .trade(1.9, -1, 99.9, 5.0)
         .book(3, [], []))

    def script():
        return Script({0: lambda c: c.buy(1.0, price=100.0), 1: lambda c: c.cancel(1)})
    eng, r = run_eng(t.build(), script(), order_latency=500 * NS)
    assert r.fills["qty"].tolist() == [1.0] and r.fills["ts_ns"].tolist() == [ns(1.9)]
    eng2, r2 = run_eng(t.build(), script(), order_latency=500 * NS, cancel_latency=100 * NS)
    assert len(r2.fills) == 0 and orders(eng2) == [("cancelled", "")]


# ============================================================================ close_position, holding time
def test_close_position_flattens_the_known_position():
    # long 0.5 @ 100.1 (k=0); k=1 closes: sell 0.5 @ 100.0; k=2 is flat: None, no order.
    # short 0.3 @ 100.0 (k=3); k=4 closes: buy 0.3 @ 100.1.
    t = Tape().book(1, kind="snapshot", **BOOK)
    for i in range(2, 7):
        t.book(i, [(99.9, 2.0 + i)], [])
    s = Script({0: lambda c: c.buy(0.5), 1: lambda c: c.close_position(), 2: lambda c: c.close_position(),
                3: lambda c: c.sell(0.3), 4: lambda c: c.close_position()})
    r = run(t.build(), s)
    assert s.ids == [1, 2, None, 3, 4]
    assert r.fills["side"].tolist() == [1, -1, -1, 1]
    assert r.fills["qty"].tolist() == [0.5, 0.5, 0.3, 0.3]
    assert r.fills["price"].tolist() == [100.1, 100.0, 100.0, 100.1]
    assert r.equity[-1]["position"] == 0.0


@pytest.mark.parametrize("hold_ns, closed_at", [
    (2 * SEC, 3.0),              # opened at 1.0: held exactly 2 s at the event at 3.0: closed there
    (2 * SEC + 1, 3.5),          # 1 ns longer: not at 3.0, at the next event
])
def test_max_holding_time_closes_a_position_held_exactly_that_long(hold_ns, closed_at):
    t = Tape().book(1, kind="snapshot", **BOOK)
    for x in (2.999, 3.0, 3.5, 4.0):
        t.book(x, [(99.9, x)], [])
    eng, r = run_eng(t.build(), Script({0: lambda c: c.buy(0.5)}), max_holding_time=hold_ns)
    assert r.fills["side"].tolist() == [1, -1]
    assert r.fills["ts_ns"].tolist() == [ns(1), ns(closed_at)]
    assert orders(eng)[1] == ("filled", "risk")


# ============================================================================ accounting
def test_round_trips_on_a_reversal_split_gross_and_fees_by_hand():
    # taker 0.00055 on every fill.
    # k=0: buy 1.0 @ 100.1, fee 0.055055.
    # k=1: sell 3.0 @ 100.0, fee 0.00055 * 300 = 0.165: closes the long 1.0 and opens a short 2.0.
    #   round trip 1: long 1.0, 100.1 -> 100.0: gross -0.1; fees 0.055055 + 0.165 / 3 = 0.110055;
    #   net -0.210055.
    # k=2: the market drops (ask 99.5); buy 2.0 @ 99.5, fee 0.00055 * 199 = 0.10945.
    #   round trip 2: short 2.0, 100.0 -> 99.5: gross 200 - 199 = 1.0; fees 0.11 + 0.10945 = 0.21945;
    #   net 0.78055.
    # Cash flows: -100.1 + 300 - 199 - (0.055055 + 0.165 + 0.10945) = 0.9 - 0.329505 = 0.570495.
    t = (Tape().book(1, kind="snapshot", bids=[(100.0, 5.0)], asks=[(100.1, 5.0)])
         .book(2, [(100.0, 5.5)], [])
         .book(3, [(100.0, 0), (99.4, 5.0)], [(100.1, 0), (99.5, 5.0)])
         .book(4, [(99.4, 5.5)], []))
    s = Script({0: lambda c: c.buy(1.0), 1: lambda c: c.sell(3.0), 2: lambda c: c.buy(2.0)})
    r = run(t.build(), s)
    tr = r.trades
    assert tr["side"].tolist() == [1, -1] and tr["qty"].tolist() == [1.0, 2.0]
    assert tr["entry_ts"].tolist() == [ns(1), ns(2)] and tr["exit_ts"].tolist() == [ns(2), ns(3)]
    assert tr["entry_price"].tolist() == [100.1, 100.0] and tr["exit_price"].tolist() == [100.0, 99.5]
    assert tr["gross_pnl"].tolist() == pytest.approx([-0.1, 1.0], abs=1e-9)
    assert tr["fees"].tolist() == pytest.approx([0.110055, 0.21945], abs=1e-12)
    assert tr["net_pnl"].tolist() == pytest.approx([-0.210055, 0.78055], abs=1e-9)
    assert r.fills["position_after"].tolist() == [1.0, -2.0, 0.0]
    assert r.equity[-1]["equity"] == pytest.approx(10_000.570495, abs=1e-9)
    m = r.metrics
    assert m["n_trades"] == 2 and m["n_wins"] == 1 and m["n_losses"] == 1
    assert m["net_pnl"] == pytest.approx(0.570495, abs=1e-9)
    assert m["fees"] == pytest.approx(0.329505, abs=1e-12)
    assert m["n_fills"] == 3 and m["n_maker_fills"] == 0
    # positions 1.0 from 2 to 3 and -2.0 from 3 to 4, over the equity rows' 1 .. 4: 2 s of 3
    assert r.equity["position"].tolist() == [0.0, 1.0, -2.0, 0.0, 0.0]
    assert m["exposure"] == pytest.approx(2 / 3, abs=1e-12)


def test_liquidity_taken_by_our_orders_is_not_offered_again_until_the_next_book_message():
    # asks 0.5 @ 100.1, 1.0 @ 100.2. k=0: two buys of 0.3 arrive together: the first takes 0.3 @
    # 100.1, the second the 0.2 left there and 0.1 @ 100.2. k=1 (after a bid-side message): the
    # book still shows 0.5 @ 100.1 and it is offered again: buy 0.5 gets it all @ 100.1.
    t = (Tape().book(1, kind="snapshot", **BOOK)
         .book(2, [(99.9, 2.5)], [])
         .book(3, [(99.9, 3.0)], []))
    s = Script({0: lambda c: (c.buy(0.3), c.buy(0.3)), 1: lambda c: c.buy(0.5)})
    r = run(t.build(), s)
    assert r.fills["order_id"].tolist() == [1, 2, 2, 3]
    assert r.fills["qty"].tolist() == pytest.approx([0.3, 0.2, 0.1, 0.5], abs=1e-12)
    assert r.fills["price"].tolist() == [100.1, 100.1, 100.2, 100.1]


def test_record_needs_the_same_names_every_time():
    t = Tape().book(1, kind="snapshot", **BOOK).book(2, [], []).book(3, [], []).build()
    s = Script({0: lambda c: c.record(a=1.0, b=2), 1: lambda c: c.record(b=4.0, a=3.0)})
    r = run(t, s)
    assert r.series["ts_ns"].tolist() == [ns(1), ns(2)]
    assert r.series["a"].tolist() == [1.0, 3.0] and r.series["b"].tolist() == [2.0, 4.0]
    with pytest.raises(InvalidInputError, match="same names"):
        run(t, Script({0: lambda c: c.record(a=1.0), 1: lambda c: c.record(c=1.0)}))
    with pytest.raises(InvalidInputError, match="same names"):
        run(t, Script({0: lambda c: c.record(a=1.0), 1: lambda c: c.record(a=1.0, b=2.0)}))


# ============================================================================ latency models
def test_latency_constructors_check_their_input():
    for bad in (lambda: Latency.constant(-1), lambda: Latency.constant(True), lambda: Latency.constant(math.inf),
                lambda: Latency.constant("5"), lambda: Latency.lognormal(-1, 0.5),
                lambda: Latency.lognormal(10, -0.1), lambda: Latency.lognormal(10, 10),
                lambda: Latency.lognormal(10, True), lambda: Latency.empirical([]),
                lambda: Latency.empirical([[1, 2]]), lambda: Latency.empirical([1, -1]),
                lambda: Latency.empirical([1.0, math.nan])):
        with pytest.raises(InvalidInputError):
            bad()
    for bad in (-1, "x", 1.5j):
        with pytest.raises(InvalidInputError, match="feed_latency"):
            BacktestConfig(feed_latency=bad)
    assert Latency.constant(7.9).value_ns == 7                # whole nanoseconds
    assert Latency.lognormal(10, 9.99).sigma == 9.99


def test_latency_fixed_ns_and_to_dict():
    assert Latency.constant(7).fixed_ns == 7 and Latency.lognormal(9, 0).fixed_ns == 9
    assert Latency.lognormal(9, 0.1).fixed_ns is None and Latency.empirical([3]).fixed_ns is None
    assert Latency.constant(7).to_dict() == {"kind": "constant", "value_ns": 7}
    assert Latency.lognormal(9, 0.5).to_dict() == {"kind": "lognormal", "value_ns": 9, "sigma": 0.5}
    assert Latency.empirical([1, 2, 2]).to_dict() == {"kind": "empirical", "n_samples": 3}
    d = BacktestConfig(order_latency=5, feed_latency=Latency.empirical([1, 2])).to_dict()
    assert d["order_latency"] == d["cancel_latency"] == {"kind": "constant", "value_ns": 5}
    assert d["feed_latency"] == {"kind": "empirical", "n_samples": 2}


def test_latency_draws_follow_the_seeded_generator():
    # lognormal: exp(ln(median) + sigma * z), z a standard normal draw, rounded to whole ns
    lat = Latency.lognormal(1_000_000, 0.5)
    rng = np.random.default_rng(42)
    z = np.random.default_rng(42).standard_normal(5)
    assert [lat.draw(rng) for _ in range(5)] == [round(math.exp(math.log(1e6) + 0.5 * x)) for x in z]
    # a median of 0 draws around 1 ns (its log is taken of max(median, 1))
    z0 = np.random.default_rng(1).standard_normal()
    assert Latency.lognormal(0, 2.0).draw(np.random.default_rng(1)) == round(math.exp(2.0 * z0))
    # empirical: a uniform pick among the samples
    emp = Latency.empirical([10, 20, 30])
    rng = np.random.default_rng(7)
    idx = np.random.default_rng(7).integers(3)
    assert emp.draw(rng) == [10, 20, 30][idx]
    rng = np.random.default_rng(7)
    picks = [emp.draw(rng) for _ in range(300)]
    assert set(picks) == {10, 20, 30}
    # the same seed gives the same draws
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    assert [emp.draw(a) for _ in range(20)] == [emp.draw(b) for _ in range(20)]


# ============================================================================ configuration checks
@pytest.mark.parametrize("name", ["maker_fee", "taker_fee", "commission_rate"])
def test_every_fee_rate_is_checked_and_named(name):
    # a rate is a real number in [-0.01, 1000): the lower bound itself passes (a 1 % rebate)
    assert getattr(BacktestConfig(**{name: -0.01}), name) == -0.01
    assert getattr(BacktestConfig(**{name: 999.5}), name) == 999.5
    for bad in (-0.0101, 1000, 1000.0, math.nan, math.inf, True, "0.001"):
        with pytest.raises(InvalidInputError, match=rf"^BacktestConfig\.{name} must be a finite rate, got "):
            BacktestConfig(**{name: bad})


def test_commission_rate_replaces_both_fee_rates_even_when_zero():
    assert BacktestConfig(commission_rate=0.0).maker_rate == 0.0
    assert BacktestConfig(commission_rate=0.0).taker_rate == 0.0
    c = BacktestConfig(maker_fee=-0.0001, taker_fee=0.0007)
    assert (c.maker_rate, c.taker_rate) == (-0.0001, 0.0007)
    assert BacktestConfig(commission_rate=0.0003, maker_fee=-0.0001).maker_rate == 0.0003


def test_slippage_capital_size_and_limits_are_checked_and_named():
    assert BacktestConfig(slippage_bps=0).slippage_bps == 0
    # -0.005 passes the rate range [-0.01, 1000) but slippage cannot be negative
    with pytest.raises(InvalidInputError, match=r"^BacktestConfig\.slippage_bps must be >= 0, got -0\.005$"):
        BacktestConfig(slippage_bps=-0.005)
    with pytest.raises(InvalidInputError, match=r"^BacktestConfig\.slippage_bps must be a finite rate"):
        BacktestConfig(slippage_bps=1000)
    for name in ("initial_capital", "position_size"):
        assert getattr(BacktestConfig(**{name: 1e-9}), name) == 1e-9
        for bad in (0, -1.0, math.inf, math.nan, True, "5"):
            with pytest.raises(InvalidInputError, match=rf"^BacktestConfig\.{name} must be > 0, got "):
                BacktestConfig(**{name: bad})
    for name in ("max_holding_time", "max_daily_loss", "max_leverage"):
        assert getattr(BacktestConfig(**{name: 1e-9}), name) == 1e-9
        assert getattr(BacktestConfig(**{name: None}), name) is None
        for bad in (0, -1, math.nan, True, "5"):
            with pytest.raises(InvalidInputError, match=rf"^BacktestConfig\.{name} must be > 0 or None, got "):
                BacktestConfig(**{name: bad})


def test_latencies_in_the_config_are_converted_and_named():
    c = BacktestConfig(feed_latency=3, order_latency=5, cancel_latency=7)
    assert (c.feed_latency, c.order_latency, c.cancel_latency) == (
        Latency.constant(3), Latency.constant(5), Latency.constant(7))
    assert BacktestConfig().feed_latency == Latency.constant(0)
    lat = Latency.lognormal(10, 0.5)
    assert BacktestConfig(order_latency=lat).cancel_latency is lat
    for name in ("feed_latency", "order_latency", "cancel_latency"):
        with pytest.raises(InvalidInputError, match=rf"^{name} must be a Latency or nanoseconds >= 0, got -1$"):
            BacktestConfig(**{name: -1})


def test_the_engine_and_run_check_their_arguments():
    assert BacktestEngine().config == BacktestConfig()
    with pytest.raises(InvalidInputError, match=r"^config must be a BacktestConfig, got dict$"):
        BacktestEngine({})
    tape = Tape().book(1, kind="snapshot", **BOOK).book(2, [], []).build()
    with pytest.raises(InvalidInputError, match=r"^strategy must be an ofi\.backtest\.Strategy, got object$"):
        BacktestEngine().run(object(), tape, "0.1")
    for bad, msg in ((0, "must be >= 1"), (True, "must be an integer")):
        with pytest.raises(InvalidInputError, match=rf"^record_every {msg}"):
            BacktestEngine().run(Script(), tape, "0.1", record_every=bad)


def test_run_passes_the_symbol_and_record_every_to_the_result():
    # four book messages (1, 2, 3, 4); record_every=2: a row at the 2nd and 4th delivery, and the
    # final row at the end (4)
    tape = Tape().book(1, kind="snapshot", **BOOK)
    for x in (2, 3, 4):
        tape.book(x, [(99.9, x)], [])
    tape = tape.build()
    r = BacktestEngine().run(Script(), tape, "0.1", record_every=2)
    assert r.symbol == "UNKNOWN"
    assert r.equity["ts_ns"].tolist() == [ns(2), ns(4), ns(4)]
    r = BacktestEngine(BacktestConfig(slippage_bps=2.5, order_latency=7)).run(Script(), tape, "0.1", symbol="BTCUSDT")
    assert r.symbol == "BTCUSDT"
    assert r.config["slippage_bps"] == 2.5 and r.config["flat_at_end"] is True
    assert r.config["order_latency"] == r.config["cancel_latency"] == {"kind": "constant", "value_ns": 7}
    assert r.equity["ts_ns"].tolist() == [ns(1), ns(2), ns(3), ns(4), ns(4)]


# ============================================================================ order records
class StartBuyer(Script):
    """Sends a market buy from on_start, before any data: the exchange has no book yet."""

    def on_start(self, ctx):
        self.start = (ctx.now_ns, ctx.position, ctx.cash, ctx.open_orders)
        self.ids.append(ctx.buy(0.5))


def test_an_order_sent_before_the_exchange_has_a_book_is_rejected():
    t = Tape().book(1, kind="snapshot", **BOOK).book(2, [], []).build()
    s = StartBuyer()
    eng, r = run_eng(t, s)
    assert s.start == (0, 0.0, 10_000.0, [])
    assert s.ids == [1] and len(r.fills) == 0
    assert orders(eng) == [("rejected", "exchange book not ready")]


def test_order_statuses_and_reasons_of_market_orders():
    # asks 0.5 @ 100.1 and 1.0 @ 100.2 (1.5 in all). k=0: buy 2.0 takes all 1.5 and 0.5 is not
    # filled: the order is "filled" (partly) with the reason "book depth exhausted"; a second buy
    # of 0.3 arriving with it finds nothing left: "cancelled", same reason. k=1: sell 0.4 fills
    # completely @ 100.0: "filled", no reason. The end closes the long 1.1 ("flat_at_end").
    t = Tape().book(1, kind="snapshot", **BOOK).book(2, [(99.9, 2.5)], []).build()
    s = Script({0: lambda c: (c.buy(2.0), c.buy(0.3)), 1: lambda c: c.sell(0.4)})
    eng, r = run_eng(t, s, flat_at_end=True)
    assert orders(eng) == [("filled", "book depth exhausted"), ("cancelled", "book depth exhausted"),
                           ("filled", ""), ("filled", "flat_at_end")]
    o1, o2 = eng._orders[1], eng._orders[2]
    assert o1.remaining == pytest.approx(0.5, abs=1e-12) and o2.remaining == 0.3
    # the close at the end: sell 1.5 - 0.4 = 1.1 against the bids 1.0 @ 100.0 and 2.5 @ 99.9
    assert r.fills["qty"].tolist() == pytest.approx([0.5, 1.0, 0.4, 0.6, 0.5], abs=1e-12)
    assert r.fills["order_id"].tolist() == [1, 1, 3, 4, 4]


def test_orders_still_pending_or_resting_at_the_end_expire_or_are_cancelled():
    # order latency 500 ms. k=0 (at 1): a limit buy @ 99.0 arrives at 1.5 and rests to the end;
    # k=2 (at 3, the last event): a market buy would arrive at 3.5, after the data
    t = Tape().book(1, kind="snapshot", **BOOK).book(2, [(99.9, 2.5)], []).book(3, [(99.9, 3)], []).build()
    s = Script({0: lambda c: c.buy(1.0, price=99.0), 2: lambda c: c.buy(1.0)})
    eng, r = run_eng(t, s, order_latency=500 * NS)
    assert orders(eng) == [("cancelled", "end of the data"), ("expired", "arrives after the end of the data")]
    assert len(r.fills) == 0 and eng._resting == []


def test_the_engines_own_orders_are_sent_and_arrive_at_once():
    # order latency 100 ms: the buy sent at 1.0 fills at 1.1. The risk close (max holding 1 s: due
    # at 2.1, done at the next event, 2.5) and the close at the end (at 3.0, of the buy sent at
    # 2.5) are sent and arrive at the exchange time of their decision
    t = (Tape().book(1, kind="snapshot", **BOOK).book(2, [(99.9, 2.5)], [])
         .book(2.5, [(99.9, 3.0)], []).book(3, [(99.9, 3.5)], []))
    s = Script({0: lambda c: c.buy(0.5), 2: lambda c: c.buy(0.2)})
    eng, r = run_eng(t.build(), s, max_holding_time=SEC, flat_at_end=True, order_latency=100 * NS)
    o = list(eng._orders.values())
    assert [(x.status, x.reason) for x in o] == [("filled", ""), ("filled", "risk"), ("filled", ""),
                                                 ("filled", "flat_at_end")]
    assert (o[1].sent_ns, o[1].arrive_ns) == (ns(2.5), ns(2.5))
    assert (o[3].sent_ns, o[3].arrive_ns) == (ns(3), ns(3))
    # the strategy's orders take the order latency (100 ms)
    assert (o[0].sent_ns, o[0].arrive_ns) == (ns(1), ns(1.1))
    assert (o[2].sent_ns, o[2].arrive_ns) == (ns(2.5), ns(2.6))


# ============================================================================ resting orders, both sides
@pytest.mark.parametrize("side", [1, -1])
def test_a_resting_order_is_filled_by_the_opposite_best_at_its_price(side):
    # Sell 0.4 @ 100.2 rests (behind the ask 1.0 there). At 2 the bid rises to 100.1 (the ask
    # 100.1 is gone): below our price, nothing. At 3 the bid reaches 100.2 (the asks there gone,
    # an ask at 100.3): the book crosses our order, filled completely at our price as a maker
    # (fee 0.0002 * 0.4 * 100.2). Mirrored: buy 0.4 @ 99.9; the ask falls to 100.0, then to 99.9.
    t = Tape().book(1, kind="snapshot", **BOOK)
    if side < 0:
        t.book(2, [(100.1, 0.3)], [(100.1, 0.0)]).book(3, [(100.2, 0.7)], [(100.2, 0.0), (100.3, 1.0)])
        s, px = Script({0: lambda c: c.sell(0.4, price=100.2)}), 100.2
    else:
        t.book(2, [(100.0, 0.0)], [(100.0, 0.3)]).book(3, [(99.9, 0.0), (99.8, 1.0)], [(99.9, 0.7)])
        s, px = Script({0: lambda c: c.buy(0.4, price=99.9)}), 99.9
    t.book(4, [(99.0, 2.5)], [])
    eng, r = run_eng(t.build(), s)
    assert r.fills["ts_ns"].tolist() == [ns(3)]
    assert r.fills["side"].tolist() == [side] and r.fills["qty"].tolist() == [0.4]
    assert r.fills["price"].tolist() == [px] and r.fills["maker"].tolist() == [1]
    assert r.fills["fee"].tolist() == pytest.approx([0.4 * px * 0.0002], abs=1e-15)
    assert orders(eng) == [("filled", "")]
    assert r.metrics["n_maker_fills"] == 1 and r.metrics["maker_share"] == 1.0


def test_trades_fill_a_resting_sell_at_its_price_through_it_and_never_from_sellers():
    # sell 1.0 @ 100.1 joins behind the 0.5 asked there. A buy of 0.8 at 100.1 consumes the 0.5
    # ahead and fills 0.3; a sell trade at 100.2 (a seller, above our price) does not concern us;
    # a buy of 0.1 at 100.2 trades through our price: the remaining 0.7 fills at 100.1.
    t = (Tape().book(1, kind="snapshot", **BOOK)
         .trade(2, 1, 100.1, 0.8)
         .trade(3, -1, 100.2, 5.0)
         .trade(4, 1, 100.2, 0.1)
         .book(5, [(99.9, 2.5)], []))
    r = run(t.build(), Script({0: lambda c: c.sell(1.0, price=100.1)}))
    assert r.fills["ts_ns"].tolist() == [ns(2), ns(4)]
    assert r.fills["qty"].tolist() == pytest.approx([0.3, 0.7], abs=1e-12)
    assert r.fills["price"].tolist() == [100.1, 100.1] and r.fills["maker"].tolist() == [1, 1]


def test_a_trade_at_a_resting_buys_price_within_the_queue_fills_nothing():
    # buy 1.0 @ 100.0 behind 1.0: a sell of exactly 1.0 there consumes the queue ahead and no more;
    # the next sell of 0.25 fills 0.25; a buyer's trade at 100.0 does not concern a resting buy
    t = (Tape().book(1, kind="snapshot", **BOOK)
         .trade(2, -1, 100.0, 1.0)
         .trade(3, 1, 100.0, 3.0)
         .trade(4, -1, 100.0, 0.25)
         .book(5, [(99.9, 2.5)], []))
    r = run(t.build(), Script({0: lambda c: c.buy(1.0, price=100.0)}))
    assert r.fills["ts_ns"].tolist() == [ns(4)] and r.fills["qty"].tolist() == [0.25]


def test_a_marketable_limit_order_takes_levels_up_to_its_price_inclusive():
    # one snapshot, then the end. Buy 0.7 limit 100.1: takes the 0.5 @ 100.1 (at its limit), not
    # 100.2; the 0.2 left rests and is cancelled at the end. Sell 1.5 limit 99.9: takes 1.0 @ 100.0
    # and 0.5 @ 99.9 (at its limit): filled.
    t = Tape().book(1, kind="snapshot", **BOOK).build()
    s = Script({0: lambda c: (c.buy(0.7, price=100.1), c.sell(1.5, price=99.9))})
    eng, r = run_eng(t, s)
    assert r.fills["order_id"].tolist() == [1, 2, 2]
    assert r.fills["qty"].tolist() == [0.5, 1.0, 0.5]
    assert r.fills["price"].tolist() == [100.1, 100.0, 99.9]
    assert r.fills["maker"].tolist() == [0, 0, 0]
    assert orders(eng) == [("cancelled", "end of the data"), ("filled", "")]
    assert eng._orders[1].remaining == pytest.approx(0.2, abs=1e-12)


# ============================================================================ leverage edges
WIDE = dict(bids=[(100.0, 500.0)], asks=[(101.0, 500.0)])        # mid 100.5, exact in binary


@pytest.mark.parametrize("capital, lev, qty, accepted", [
    # no position: exposure = qty * 100.5. 10 * 100.5 = 1,005 = 1 x 1,005 exactly: allowed.
    (1005.0, 1.0, 10.0, True),
    (1005.0, 1.0, 10.1, False),        # 1,015.05 > 1,005
    # an equity of exactly 1 can still be levered: 0.05 * 100.5 = 5.025 <= 10 x 1
    (1.0, 10.0, 0.05, True),
    (1.0, 10.0, 0.1, False),           # 10.05 > 10
])
def test_the_leverage_limit_at_its_boundary(capital, lev, qty, accepted):
    t = Tape().book(1, kind="snapshot", **WIDE).book(2, [(100.0, 501)], [])
    eng, r = run_eng(t.build(), Script({0: lambda c: c.buy(qty)}), max_leverage=lev, initial_capital=capital,
                     commission_rate=0.0)
    if accepted:
        assert orders(eng) == [("filled", "")] and r.fills["qty"].tolist() == [qty]
    else:
        assert orders(eng) == [("rejected", "leverage limit")] and len(r.fills) == 0


@pytest.mark.parametrize("side, capital, q, rest, over", [(1, 10_000.0, 60.0, 100.0, 60.5), (-1, 10_000.0, 60.0, 100.0, 60.5),
                                                      (1, 150.0, 1.0, 2.0, 1.5), (-1, 150.0, 1.0, 2.0, 1.5)])
def test_an_order_that_closes_exactly_the_position_passes_the_leverage_limit(side, capital, q, rest, over):
    # No fees; mid 100.05; max leverage 1. k=0 opens q (long @ 100.1 or short @ 100.0), k=1 rests
    # an order of `rest` on the closing side, out of the money (sell @ 101.0 / buy @ 99.0); then
    # k=2 sends `over` (> q) to close: checked, rejected; k=3 sends exactly q: it reduces, so it
    # passes although checked it would not; k=4 (flat) sends 0.01: checked, rejected.
    # Long 60: equity 10,000 - 6,006 + 6,003 = 9,997; the rest: |60 - 100| * 100.05 = 4,002 passes;
    #   60.5: |60 - 160.5| * 100.05 = 10,055.0 > 9,997; 60: |60 - 160| * 100.05 = 10,005 > 9,997;
    #   0.01 once flat (equity 9,994): 101.01 * 100.05 > 9,994.
    # Short 60: cash 16,000, equity 16,000 - 6,003 = 9,997: the same numbers mirrored.
    # Long 1 with 150: equity 150 - 100.1 + 100.05 = 149.95; the rest: |1 - 2| * 100.05 = 100.05
    #   passes; 1.5: 2.5 * 100.05 = 250.125 > 149.95; 1: 2 * 100.05 = 200.1 > 149.95; 0.01:
    #   2.01 * 100.05 > 149.9. Short 1: mirrored (cash 250, equity 149.95).
    t = Tape().book(1, kind="snapshot", **DEEP)
    for x in (2, 3, 4, 5):
        t.book(x, [(100.0, 500 + x)], [])
    opn, cls = (lambda c, x: c.buy(x), lambda c, x, **k: c.sell(x, **k)) if side > 0 else \
        (lambda c, x: c.sell(x), lambda c, x, **k: c.buy(x, **k))
    s = Script({0: lambda c: opn(c, q), 1: lambda c: cls(c, rest, price=101.0 if side > 0 else 99.0),
                2: lambda c: cls(c, over), 3: lambda c: cls(c, q), 4: lambda c: cls(c, 0.01)})
    eng, r = run_eng(t.build(), s, max_leverage=1.0, commission_rate=0.0, initial_capital=capital)
    assert orders(eng) == [("filled", ""), ("cancelled", "end of the data"), ("rejected", "leverage limit"),
                           ("filled", ""), ("rejected", "leverage limit")]
    assert r.fills["qty"].tolist() == [q, q] and r.fills["position_after"].tolist() == [side * q, 0.0]
    # the round trip cost the spread: 0.1 per unit
    assert r.equity[-1]["cash"] == pytest.approx(capital - 0.1 * q, abs=1e-9)


def test_an_order_that_reduces_passes_on_a_day_halted_by_the_daily_loss():
    # No fees, max daily loss 30, all on one day.
    # k=0 (1.0): buy 10 @ 100.1 (cash 8,999) and a limit buy 10 @ 90.0 that rests.
    # 2.0: the market falls (mid 95.05): equity 8,999 + 950.5 = 9,949.5, -50.5: the engine sells
    #      10 @ 95.0 (cash 9,949) and halts the day.
    # 3.0: a sell trades through 90.0: our resting buy fills 10 @ 90.0 (cash 9,049): equity
    #      9,049 + 950.5 = 9,999.5, -0.5 on the day: no new close.
    # k=2 (4.0): buy 1 is refused (halted, it adds); sell 10 passes (it reduces): @ 95.0.
    t = (Tape().book(1, kind="snapshot", **DEEP)
         .book(2, [(100.0, 0), (95.0, 500)], [(100.1, 0), (95.1, 500)])
         .trade(3, -1, 89.9, 20.0)
         .book(4, [(95.0, 501)], [])
         .book(5, [(95.0, 502)], []))
    s = Script({0: lambda c: (c.buy(10.0), c.buy(10.0, price=90.0)), 2: lambda c: (c.buy(1.0), c.sell(10.0))})
    eng, r = run_eng(t.build(), s, max_daily_loss=30.0, commission_rate=0.0)
    assert orders(eng) == [("filled", ""), ("filled", ""), ("filled", "risk"), ("rejected", "daily loss limit"),
                           ("filled", "")]
    assert r.fills["price"].tolist() == [100.1, 95.0, 90.0, 95.0]
    assert r.fills["ts_ns"].tolist() == [ns(1), ns(2), ns(3), ns(4)]
    assert r.equity[-1]["cash"] == pytest.approx(9_999.0, abs=1e-9) and r.equity[-1]["position"] == 0.0


def test_without_a_mid_the_leverage_limit_refuses_what_it_cannot_price():
    # the asks vanish at 2: the exchange book has no mid. With a leverage limit a sell arriving
    # then is refused (nothing to measure its leverage against); without one it sells @ 100.0.
    t = Tape().book(1, kind="snapshot", **BOOK).book(2, [], [(100.1, 0.0), (100.2, 0.0)]).book(3, [(99.9, 3)], [])
    eng, r = run_eng(t.build(), Script({1: lambda c: c.sell(0.5)}), max_leverage=5.0)
    assert orders(eng) == [("rejected", "leverage limit")] and len(r.fills) == 0
    eng, r = run_eng(t.build(), Script({1: lambda c: c.sell(0.5)}))
    assert orders(eng) == [("filled", "")] and r.fills["price"].tolist() == [100.0]


# ============================================================================ what the result carries
def test_the_result_carries_markouts_and_the_exposure():
    # k=0: buy 0.5 @ 100.1 at 1.0. Exchange mids: 100.05 at 1.0 and 1.05, 100.1 at 1.5 (ask
    # 100.2 best), 100.15 at 3.0 (bid 100.1 best); the last mid is at 3.0.
    # markouts of a buy, in bps of its price: (mid(t + h) - 100.1) / 100.1 * 1e4
    #   100 ms: mid(1.1) = 100.05: -0.05 / 100.1 * 1e4 = -4.995 bps; 1 s: mid(2.0) = 100.1: 0;
    #   10 s: 11.0 is after the last mid: unknown (NaN; its metric None).
    # exposure: equity rows at 1.0 (position 0: the order arrives after the row), 1.05, 1.5, 3.0
    # and the end (3.0): long from 1.05 to 3.0, 1.95 s of 2.0 s: 0.975.
    t = (Tape().book(1, kind="snapshot", **BOOK)
         .book(1.05, [(100.0, 1.5)], [])
         .book(1.5, [], [(100.1, 0.0), (100.3, 2.0)])
         .book(3, [(100.1, 1.0)], []))
    r = run(t.build(), Script({0: lambda c: c.buy(0.5)}))
    assert r.fills["price"].tolist() == [100.1]
    mk = r.markouts
    assert mk.shape == (1, 3)
    assert mk[0, 0] == pytest.approx(-0.05 / 100.1 * 1e4, abs=1e-6) and mk[0, 1] == pytest.approx(0.0, abs=1e-6)
    assert math.isnan(mk[0, 2])
    m = r.metrics
    assert m["markout_100ms_bps"] == pytest.approx(-4.995005, abs=1e-6)
    assert m["markout_1s_bps"] == pytest.approx(0.0, abs=1e-6)
    assert m["markout_10s_bps"] is None
    assert m["exposure"] == pytest.approx(0.975, abs=1e-12)
    assert r.equity["position"].tolist() == [0.0, 0.5, 0.5, 0.5, 0.5]


def test_a_run_without_fills_has_no_markouts():
    t = Tape().book(1, kind="snapshot", **BOOK).book(2, [(99.9, 2.5)], []).build()
    r = run(t, Script())
    assert r.markouts is None and len(r.fills) == 0
    assert r.metrics["exposure"] == 0.0


class Peek(Script):
    """Records what the context shows at each book message."""

    def __init__(self, actions=None):
        super().__init__(actions)
        self.peek = []

    def on_book(self, ctx, book):
        self.peek.append((ctx.book is book, ctx.equity, ctx.open_orders, ctx.has_open_orders))
        super().on_book(ctx, book)


def test_the_context_shows_the_strategys_book_and_equity():
    # no fees. k=0: equity 10,000 (flat); buy 0.5 @ 100.1 and a limit sell 0.2 @ 101.0 that rests.
    # k=1 (at 2; feed 0: the fill is known): cash 10,000 - 50.05 = 9,949.95, equity at the mid of
    # the strategy's book (100.0 + 100.1) / 2 = 100.05: 9,949.95 + 50.025 = 9,999.975; order 2 open.
    t = Tape().book(1, kind="snapshot", **BOOK).book(2, [(100.0, 1.5)], []).build()
    s = Peek({0: lambda c: (c.buy(0.5), c.sell(0.2, price=101.0))})
    eng, r = run_eng(t, s, commission_rate=0.0)
    assert s.peek[0] == (True, 10_000.0, [], False)
    assert s.peek[1][0] is True and s.peek[1][1] == pytest.approx(9_999.975, abs=1e-9)
    assert s.peek[1][2:] == ([2], True)
    assert s.books[1][1:] == (0.5, pytest.approx(9_949.95, abs=1e-9))


def test_orders_without_a_quantity_use_the_configured_position_size():
    t = Tape().book(1, kind="snapshot", **BOOK).book(2, [], []).build()
    r = run(t, Script({0: lambda c: (c.sell(), c.buy(price=100.1))}), position_size=0.25)
    assert r.fills["side"].tolist() == [-1, 1] and r.fills["qty"].tolist() == [0.25, 0.25]
    assert r.fills["price"].tolist() == [100.0, 100.1]


def test_order_entry_checks_quantity_and_price_and_names_them():
    t = Tape().book(1, kind="snapshot", **BOOK).build()
    # 1e-13 is below the engine's quantity resolution: it could never fill nor settle
    for bad in (0, 0.0, -1.0, 1e-13, 1e-12, math.inf, math.nan, True, "1"):
        with pytest.raises(InvalidInputError, match=r"^order quantity must be > 1e-12, got "):
            run(t, Script({0: lambda c, q=bad: c.buy(q)}))
    for bad in (0, -100.0, math.inf, math.nan, True, "100"):
        with pytest.raises(InvalidInputError, match=r"^limit price must be > 0, got "):
            run(t, Script({0: lambda c, p=bad: c.sell(1.0, price=p)}))
    # an int quantity and an int price are fine: sell 1 @ 100 fills 1.0 @ 100.0 at once
    r = run(t, Script({0: lambda c: c.sell(1, price=100)}))
    assert r.fills["qty"].tolist() == [1.0] and r.fills["price"].tolist() == [100.0]
    # the smallest quantity above the resolution is an order like any other: 2e-12 fills at 100.0
    r = run(t, Script({0: lambda c: c.sell(2e-12)}))
    assert r.fills["qty"].tolist() == [2e-12] and r.fills["price"].tolist() == [100.0]
    # any positive price on the tick grid is a limit price, below 1 too (one tick: 0.1)
    eng, r = run_eng(t, Script({0: lambda c: (c.buy(1.0, price=0.5), c.buy(1.0, price=0.1))}))
    assert orders(eng) == [("cancelled", "end of the data")] * 2
    assert [o.price_ticks for o in eng._orders.values()] == [5, 1]


# ============================================================================ round trips and float dust
@pytest.mark.parametrize("side", [1, -1])
def test_a_close_that_overshoots_by_float_dust_books_all_its_cash_in_the_round_trip(side):
    # no fees. Open 1.0 (long @ 100.1 or short @ 100.0), then close with 1.0000000000009: the
    # position left, 9e-13, is below 1e-12 and counts as flat. The round trip's exit quantity is
    # the whole 1.0000000000009, so its gross PnL holds every cash flow:
    #   long:  -100.1 + 1.0000000000009 * 100.0;   short: 100.0 - 1.0000000000009 * 100.1.
    q = 1.0000000000009
    t = (Tape().book(1, kind="snapshot", bids=[(100.0, 5.0)], asks=[(100.1, 5.0)])
         .book(2, [(100.0, 5.5)], []).book(3, [(100.0, 6.0)], []))
    if side > 0:
        s, gross = Script({0: lambda c: c.buy(1.0), 1: lambda c: c.sell(q)}), -100.1 + q * 100.0
    else:
        s, gross = Script({0: lambda c: c.sell(1.0), 1: lambda c: c.buy(q)}), 100.0 - q * 100.1
    r = run(t.build(), s, commission_rate=0.0)
    assert r.fills["position_after"].tolist() == [side * 1.0, 0.0]
    (tr,) = r.trades
    assert tr["side"] == side and tr["qty"] == 1.0
    assert tr["gross_pnl"] == pytest.approx(gross, abs=1e-13)
    assert tr["gross_pnl"] != pytest.approx(side * -0.1, abs=1e-11)        # not the 1.0-only PnL
    assert r.equity[-1]["equity"] - 10_000 == pytest.approx(gross, abs=1e-11)
    # the metrics take the round trip's own gross PnL (not side * qty * (exit - entry) = -0.1 x side)
    assert r.metrics["gross_pnl"] == pytest.approx(gross, abs=1e-13)


def test_a_moment_without_a_mid_does_not_break_the_markouts():
    # Regression: an exchange book with an empty side has no mid; the run used to end in
    # "mid must be finite" once it had a fill. k=0: buy 0.5 @ 100.1 at 1.0 (mid 100.05). At 1.05
    # the asks vanish (no mid), at 1.5 an ask 100.3 comes back (mid 100.15). Markouts use the last
    # known mid at or before each horizon: 100 ms: mid(1.1) = 100.05 (the 1.05 book has none):
    # -0.05 / 100.1 * 1e4; 1 s: mid(2.0) = 100.15: +0.05 / 100.1 * 1e4.
    t = (Tape().book(1, kind="snapshot", **BOOK)
         .book(1.05, [], [(100.1, 0.0), (100.2, 0.0)])
         .book(1.5, [], [(100.3, 1.0)])
         .book(20, [(99.9, 2.5)], []))
    r = run(t.build(), Script({0: lambda c: c.buy(0.5)}))
    assert r.fills["price"].tolist() == [100.1]
    assert math.isnan(r.equity["mid"][1])              # the row at 1.05 has no mid to mark to
    assert r.markouts[0, :2] == pytest.approx([-0.05 / 100.1 * 1e4, 0.05 / 100.1 * 1e4], abs=1e-6)
    assert r.markouts[0, 2] == pytest.approx(0.05 / 100.1 * 1e4, abs=1e-6)     # mid(11.0) = 100.15


# ============================================================================ latency models: inputs and messages
def test_latency_messages_name_the_argument_and_the_value():
    ns_msg = "must be a number of nanoseconds >= 0, got "
    for bad, shown in ((-1, "-1"), (True, "True"), (math.inf, "inf"), (math.nan, "nan"), ("5", "'5'"),
                       (1.5j, r"1\.5j"), (-0.5, r"-0\.5")):
        with pytest.raises(InvalidInputError, match=rf"^latency {ns_msg}{shown}$"):
            Latency.constant(bad)
        with pytest.raises(InvalidInputError, match=rf"^median_ns {ns_msg}{shown}$"):
            Latency.lognormal(bad, 0.5)
    for bad, shown in ((10, "10"), (10.0, r"10\.0"), (-0.1, r"-0\.1"), (True, "True"), ("1", "'1'"),
                       (math.nan, "nan"), (None, "None")):
        with pytest.raises(InvalidInputError, match=rf"^sigma must be in \[0, 10\), got {shown}$"):
            Latency.lognormal(10, bad)
    empirical_msg = r"^samples_ns must be a non-empty 1-D array of finite latencies >= 0$"
    for bad in ([], [[1, 2]], 5, [1, -1], [-0.5], [1.0, math.nan], [math.inf], np.zeros((0, 1))):
        with pytest.raises(InvalidInputError, match=empirical_msg):
            Latency.empirical(bad)


def test_latency_values_at_the_edges_of_their_ranges():
    # 0 ns is a latency; a float is cut to whole nanoseconds; sigma 0 is a (fixed) lognormal
    assert Latency.constant(0) == Latency("constant", 0, 0.0, ())
    assert Latency.constant(0.999).value_ns == 0
    lat = Latency.lognormal(0, 0)
    assert lat == Latency("lognormal", 0, 0.0) and type(lat.sigma) is float and lat.fixed_ns == 0
    assert Latency.lognormal(2.5, 3).sigma == 3.0 and Latency.lognormal(2.5, 3).value_ns == 2
    # empirical: whole-ns samples; value and sigma stay at their defaults (0, 0.0)
    emp = Latency.empirical([0, 1.9, np.int64(7)])
    assert emp == Latency("empirical", 0, 0.0, (0, 1, 7))
    assert emp.value_ns == 0 and emp.sigma == 0.0 and type(emp.sigma) is float
    assert all(type(x) is int for x in emp.samples)
    assert Latency.empirical(np.array([5], dtype=np.uint32)).samples == (5,)


def test_latency_lognormal_draws_by_hand():
    # median 2,000,000 ns, sigma 0.3, seed 11: exp(ln(2e6) + 0.3 z) rounded, z from the same
    # seeded generator outside the model
    z = np.random.default_rng(11).standard_normal(4)
    want = [int(round(math.exp(math.log(2_000_000) + 0.3 * x))) for x in z]
    rng = np.random.default_rng(11)
    got = [Latency.lognormal(2_000_000, 0.3).draw(rng) for _ in range(4)]
    assert got == want and all(type(g) is int for g in got)
    assert len(set(got)) == 4
    # the median is the draw at z = 0: a median of 1 ns with sigma 0.3 draws exp(0.3 z)
    rng = np.random.default_rng(11)
    assert Latency.lognormal(1, 0.3).draw(rng) == int(round(math.exp(0.3 * z[0])))


# ============================================================================ more order paths
def test_an_order_cancelled_before_it_arrives_never_trades():
    # order latency 500 ms, cancel latency 100 ms: the buy sent at 1.0 would arrive at 1.5; the
    # cancel sent with it arrives at 1.1 and wins
    t = Tape().book(1, kind="snapshot", **BOOK).book(2, [(99.9, 2.5)], []).build()
    s = Script({0: lambda c: c.cancel(c.buy(0.5))})
    eng, r = run_eng(t, s, order_latency=500 * NS, cancel_latency=100 * NS)
    assert len(r.fills) == 0 and orders(eng) == [("cancelled", "")]
    assert s.books[1][1] == 0.0


def test_cancelling_needs_a_known_id_but_not_an_open_order():
    t = Tape().book(1, kind="snapshot", **BOOK).book(2, [(99.9, 2.5)], []).book(3, [(99.9, 3)], []).build()
    with pytest.raises(InvalidInputError, match=r"^no order with id 999$"):
        run(t, Script({0: lambda c: c.cancel(999)}))
    with pytest.raises(InvalidInputError, match=r"^no order with id 2$"):
        run(t, Script({0: lambda c: (c.buy(0.1), c.cancel(2))}))
    # order 1 filled at once: cancelling it later is allowed and does nothing
    eng, r = run_eng(t, Script({0: lambda c: c.buy(0.1), 1: lambda c: c.cancel(1)}))
    assert orders(eng) == [("filled", "")] and r.fills["qty"].tolist() == [0.1]


def test_a_level_taken_completely_is_skipped_for_the_next_one():
    # asks 0.5 @ 100.1, 1.0 @ 100.2. Two buys arrive together: 0.5 takes all of 100.1; 0.3 finds
    # nothing left there and takes 0.3 @ 100.2
    t = Tape().book(1, kind="snapshot", **BOOK).book(2, [(99.9, 2.5)], []).build()
    r = run(t, Script({0: lambda c: (c.buy(0.5), c.buy(0.3))}))
    assert r.fills["order_id"].tolist() == [1, 2]
    assert r.fills["price"].tolist() == [100.1, 100.2] and r.fills["qty"].tolist() == [0.5, 0.3]
    # a sell takes the bids independently of what the buys took
    r = run(t, Script({0: lambda c: (c.buy(0.5), c.sell(0.5))}))
    assert r.fills["price"].tolist() == [100.1, 100.0]
    # what is taken adds up: 0.2 and 0.2 leave 0.1 @ 100.1 for a buy of 0.3, which takes 0.2 @ 100.2
    r = run(t, Script({0: lambda c: (c.buy(0.2), c.buy(0.2), c.buy(0.3))}))
    assert r.fills["order_id"].tolist() == [1, 2, 3, 3]
    assert r.fills["price"].tolist() == [100.1, 100.1, 100.1, 100.2]
    assert r.fills["qty"].tolist() == pytest.approx([0.2, 0.2, 0.1, 0.2], abs=1e-12)


def test_a_market_order_walks_at_most_1000_levels():
    # 1,001 ask levels of 0.001 each (100.1 ... 200.1): a buy of 2.0 takes the first 1,000
    # (1.0 in all, the last @ 200.0) and leaves the rest unfilled
    asks = [(round(100.1 + 0.1 * i, 1), 0.001) for i in range(1001)]
    t = Tape().book(1, kind="snapshot", bids=[(100.0, 1.0)], asks=asks).build()
    eng, r = run_eng(t, Script({0: lambda c: c.buy(2.0)}))
    assert len(r.fills) == 1000
    assert r.fills["price"][0] == 100.1 and r.fills["price"][-1] == 200.0
    assert r.fills["qty"].sum() == pytest.approx(1.0, abs=1e-9)
    assert orders(eng) == [("filled", "book depth exhausted")]


def test_a_close_with_no_opposite_side_at_all_cannot_fill():
    # long 0.5 @ 100.1; the bids vanish (the book has no bid at all at the end): the close at the
    # end finds nothing to sell into, is cancelled with its reason, and the position stays
    t = (Tape().book(1, kind="snapshot", **BOOK)
         .book(2, [(100.0, 0.0), (99.9, 0.0)], []))
    eng, r = run_eng(t.build(), Script({0: lambda c: c.buy(0.5)}), flat_at_end=True)
    assert orders(eng) == [("filled", ""), ("cancelled", "flat_at_end")]
    assert r.fills["qty"].tolist() == [0.5] and r.equity[-1]["position"] == 0.5
    assert math.isnan(r.equity[-1]["equity"])          # no mid to mark the position to


def test_a_risk_close_is_not_held_back_by_the_strategys_open_orders():
    # max holding 1 s: short 0.5 @ 100.0 at 1.0 (and a limit buy @ 99.0 resting from k=1) is closed
    # by buying 0.5 @ 100.1 at the event at 2.0
    t = (Tape().book(1, kind="snapshot", **BOOK).book(1.5, [(99.9, 2.5)], [])
         .book(2, [(99.9, 3.0)], []).book(3, [(99.9, 3.5)], []))
    s = Script({0: lambda c: c.sell(0.5), 1: lambda c: c.buy(0.1, price=99.0)})
    eng, r = run_eng(t.build(), s, max_holding_time=SEC)
    assert r.fills["side"].tolist() == [-1, 1] and r.fills["price"].tolist() == [100.0, 100.1]
    assert r.fills["ts_ns"].tolist() == [ns(1), ns(2)]
    assert orders(eng) == [("filled", ""), ("cancelled", "end of the data"), ("filled", "risk")]


@pytest.mark.parametrize("limit, closed", [(5.0, True), (5.5, False)])
def test_the_daily_loss_limit_is_reached_at_exactly_the_limit(limit, closed):
    # no fees; bid 100.0, ask 101.0: mid 100.5. Buy 10 @ 101.0: cash 8,990, equity 8,990 + 1,005
    # = 9,995: the day's PnL is -5.0 at the next event: closed with a limit of 5 (<= -5), not 5.5
    t = Tape().book(1, kind="snapshot", **WIDE).book(2, [(100.0, 501)], []).book(3, [(100.0, 502)], [])
    eng, r = run_eng(t.build(), Script({0: lambda c: c.buy(10.0)}), max_daily_loss=limit, commission_rate=0.0)
    if closed:
        assert orders(eng)[1:] == [("filled", "risk")] and r.fills["ts_ns"].tolist() == [ns(1), ns(2)]
        assert r.fills["price"].tolist() == [101.0, 100.0]
    else:
        assert len(orders(eng)) == 1 and r.equity[-1]["position"] == 10.0


def test_an_order_arriving_after_the_end_does_not_move_the_clock():
    # the buy sent at 3.0 would arrive at 13.0: it expires, and the final equity row stays at 3.0
    t = Tape().book(1, kind="snapshot", **BOOK).book(2, [(99.9, 2.5)], []).book(3, [(99.9, 3)], []).build()
    s = Script({2: lambda c: c.buy(0.5)})
    eng, r = run_eng(t, s, order_latency=10 * SEC)
    assert orders(eng) == [("expired", "arrives after the end of the data")]
    assert r.equity["ts_ns"].tolist() == [ns(1), ns(2), ns(3), ns(3)]
    assert s.finish[0] == ns(3)


# ============================================================================ round trips: scaling in and out
@pytest.mark.parametrize("side", [1, -1])
def test_a_round_trip_averages_its_entries_and_exits(side):
    # No fees; two entries at k=0 (the second finds the best level taken and goes one deeper), two
    # exits at k=1 (likewise, against the level thinned by the message at 2). One round trip of 0.7:
    # its prices are the quantity-weighted means, its gross PnL the sum of its cash flows.
    if side > 0:
        # asks 0.3 @ 100.1, 1.0 @ 100.2: buy 0.3 @ 100.1, buy 0.4 @ 100.2. At 2 the bid 100.0
        # thins to 0.2: sell 0.2 @ 100.0, sell 0.5 @ 99.9.
        # entry (30.03 + 40.08) / 0.7 = 70.11 / 0.7; exit (20.0 + 49.95) / 0.7 = 69.95 / 0.7;
        # gross 69.95 - 70.11 = -0.16
        t = (Tape().book(1, kind="snapshot", bids=[(100.0, 1.0), (99.9, 2.0)], asks=[(100.1, 0.3), (100.2, 1.0)])
             .book(2, [(100.0, 0.2)], []).book(3, [(99.9, 2.5)], []))
        s = Script({0: lambda c: (c.buy(0.3), c.buy(0.4)), 1: lambda c: (c.sell(0.2), c.sell(0.5))})
        entry, exit_, gross = 70.11 / 0.7, 69.95 / 0.7, -0.16
    else:
        # bids 0.3 @ 100.0, 2.0 @ 99.9: sell 0.3 @ 100.0, sell 0.4 @ 99.9. At 2 the ask 100.1
        # thins to 0.2: buy 0.2 @ 100.1, buy 0.5 @ 100.2.
        # entry (30.0 + 39.96) / 0.7 = 69.96 / 0.7; exit (20.02 + 50.1) / 0.7 = 70.12 / 0.7;
        # gross 69.96 - 70.12 = -0.16
        t = (Tape().book(1, kind="snapshot", bids=[(100.0, 0.3), (99.9, 2.0)], asks=[(100.1, 1.0), (100.2, 2.0)])
             .book(2, [], [(100.1, 0.2)]).book(3, [(99.9, 2.5)], []))
        s = Script({0: lambda c: (c.sell(0.3), c.sell(0.4)), 1: lambda c: (c.buy(0.2), c.buy(0.5))})
        entry, exit_, gross = 69.96 / 0.7, 70.12 / 0.7, -0.16
    r = run(t.build(), s, commission_rate=0.0)
    assert r.fills["position_after"].tolist() == pytest.approx([side * 0.3, side * 0.7, side * 0.5, 0.0], abs=1e-12)
    (tr,) = r.trades
    assert tr["side"] == side and tr["qty"] == pytest.approx(0.7, abs=1e-12)
    assert tr["entry_ts"] == ns(1) and tr["exit_ts"] == ns(2)
    assert tr["entry_price"] == pytest.approx(entry, abs=1e-9)
    assert tr["exit_price"] == pytest.approx(exit_, abs=1e-9)
    assert tr["gross_pnl"] == pytest.approx(gross, abs=1e-9) and tr["net_pnl"] == pytest.approx(gross, abs=1e-9)


# ============================================================================ event order and random latencies
class FillPeek(Script):
    """Records the open orders the strategy sees when a fill reaches it."""

    def on_fill(self, ctx, fill):
        super().on_fill(ctx, fill)
        self.at_fill = getattr(self, "at_fill", []) + [(ctx.now_ns, fill.order_id, ctx.open_orders)]


def test_at_equal_times_orders_and_cancels_reach_the_exchange_before_fills_reach_the_strategy():
    # feed 500 ms, order and cancel latency 100 ms. Snapshot at 0.4 (seen at 0.9): buy 0.5 (order 1)
    # and a limit buy 0.2 @ 99.0 (order 2) arrive at 1.0; order 1 fills then, heard of at 1.5. The
    # message at 0.9 (seen at 1.4): cancel order 2 and buy 0.1 (order 3), both reaching the
    # exchange at 1.5, with the fill's notice. The exchange goes first: when the strategy hears of
    # order 1's fill, order 2 is cancelled and order 3 filled, so nothing is open.
    t = Tape().book(0.4, kind="snapshot", **BOOK).book(0.9, [(99.9, 2.5)], []).book(2.0, [(99.9, 3.0)], [])
    s = FillPeek({0: lambda c: (c.buy(0.5), c.buy(0.2, price=99.0)), 1: lambda c: (c.cancel(2), c.buy(0.1))})
    eng, r = run_eng(t.build(), s, feed_latency=500 * NS, order_latency=100 * NS, cancel_latency=100 * NS)
    assert orders(eng) == [("filled", ""), ("cancelled", ""), ("filled", "")]
    assert s.at_fill == [(ns(1.5), 1, []), (ns(2.0), 3, [])]
    assert r.fills["ts_ns"].tolist() == [ns(1.0), ns(1.5)]


def test_an_order_and_its_cancel_sent_together_with_the_same_latency_arrive_in_that_order():
    # both reach the exchange at 1.0: the market buy fills first, the cancel then finds it filled
    t = Tape().book(1, kind="snapshot", **BOOK).book(2, [(99.9, 2.5)], []).build()
    eng, r = run_eng(t, Script({0: lambda c: c.cancel(c.buy(0.5))}))
    assert orders(eng) == [("filled", "")] and r.fills["qty"].tolist() == [0.5]


def test_drawn_latencies_take_their_values_from_the_run_generator():
    # one-sample empirical latencies draw from the run's generator and always give that sample:
    # order 100 ms, cancel 300 ms, feed 50 ms. k=0 (snapshot at 1, seen at 1.05): buy 0.5 arrives
    # at 1.15 and fills @ 100.1 (heard of at 1.2); a limit buy @ 99.0 arrives at 1.15 and rests;
    # its cancel, sent at 1.05, arrives at 1.35: before the sell through 99.0 at 1.5.
    t = (Tape().book(1, kind="snapshot", **BOOK).book(1.3, [(99.9, 2.5)], [])
         .trade(1.5, -1, 98.9, 5.0).book(2, [(99.9, 3.0)], []))
    s = Script({0: lambda c: (c.buy(0.5), c.cancel(c.buy(0.2, price=99.0)))})
    eng, r = run_eng(t.build(), s, order_latency=Latency.empirical([100 * NS]),
                     cancel_latency=Latency.empirical([300 * NS]), feed_latency=Latency.empirical([50 * NS]))
    assert orders(eng) == [("filled", ""), ("cancelled", "")]
    assert r.fills["ts_ns"].tolist() == [ns(1.15)]
    assert [b[0] for b in s.books] == [ns(1.05), ns(1.35), ns(2.05)]
    assert s.fills[0][0] == ns(1.2)
    assert (eng._orders[1].sent_ns, eng._orders[1].arrive_ns) == (ns(1.05), ns(1.15))


# ============================================================================ resting orders: several at once, queue details
@pytest.mark.parametrize("side", [1, -1])
def test_one_book_message_that_crosses_two_resting_orders_fills_both(side):
    # buys @ 100.0 and 99.9 rest; at 2 the asks fall to 99.8 (bids from 99.7): both fill at their
    # prices at 2. Mirrored: sells @ 100.1 and 100.2; the bids rise to 100.3 (asks from 100.4).
    t = Tape().book(1, kind="snapshot", **BOOK)
    if side > 0:
        t.book(2, [(100.0, 0.0), (99.9, 0.0), (99.7, 1.0)], [(100.1, 0.0), (100.2, 0.0), (99.8, 1.0)])
        prices = [100.0, 99.9]
        s = Script({0: lambda c: (c.buy(0.1, price=100.0), c.buy(0.2, price=99.9))})
    else:
        t.book(2, [(100.0, 0.0), (99.9, 0.0), (100.3, 1.0)], [(100.1, 0.0), (100.2, 0.0), (100.4, 1.0)])
        prices = [100.1, 100.2]
        s = Script({0: lambda c: (c.sell(0.1, price=100.1), c.sell(0.2, price=100.2))})
    eng, r = run_eng(t.build(), s)
    assert r.fills["ts_ns"].tolist() == [ns(2), ns(2)] and r.fills["price"].tolist() == prices
    assert r.fills["qty"].tolist() == [0.1, 0.2] and r.fills["maker"].tolist() == [1, 1]
    assert orders(eng) == [("filled", ""), ("filled", "")]


def test_a_cancellation_in_a_level_of_at_most_one_unit_advances_the_queue_proportionally():
    # buy 1.0 @ 100.0 joins behind 0.8; the level grows to 1.0 (0.2 behind us), then shrinks to
    # 0.5 without a trade: 0.5 cancelled, of which the share ahead of us 0.8 / 1.0: ahead 0.8 - 0.4
    # = 0.4. A sell of 0.9 at 100.0 then fills 0.5.
    t = (Tape().book(1, kind="snapshot", bids=[(100.0, 0.8)], asks=[(100.1, 1.0)])
         .book(2, [(100.0, 1.0)], [])
         .book(3, [(100.0, 0.5)], [])
         .trade(4, -1, 100.0, 0.9)
         .book(5, [(100.0, 0.1)], []))
    r = run(t.build(), Script({0: lambda c: c.buy(1.0, price=100.0)}))
    assert r.fills["qty"].tolist() == pytest.approx([0.5], abs=1e-12)


def test_a_trade_at_our_level_shrinks_the_level_we_compare_the_next_book_with():
    # buy 1.0 @ 100.0 behind 1.0. A sell of 0.8 at 100.0: ahead 0.2, the level 0.2 (no fill). The
    # next book shows 0.2 there: what the trade explained, no cancellation, ahead stays 0.2. A sell
    # of 0.5 at 100.0 then fills 0.5 - 0.2 = 0.3.
    t = (Tape().book(1, kind="snapshot", **BOOK)
         .trade(2, -1, 100.0, 0.8)
         .book(3, [(100.0, 0.2)], [])
         .trade(4, -1, 100.0, 0.5)
         .book(5, [(99.9, 2.5)], []))
    r = run(t.build(), Script({0: lambda c: c.buy(1.0, price=100.0)}))
    assert r.fills["ts_ns"].tolist() == [ns(4)]
    assert r.fills["qty"].tolist() == pytest.approx([0.3], abs=1e-12)


def test_a_trade_is_checked_against_every_resting_order():
    # a resting buy @ 99.0 (first) and a resting sell @ 100.2: a buyer's trade at 100.3 goes
    # through the sell (filled completely) and concerns the buy not at all
    t = (Tape().book(1, kind="snapshot", **BOOK)
         .trade(2, 1, 100.3, 0.01)
         .book(3, [(99.9, 2.5)], []))
    eng, r = run_eng(t.build(), Script({0: lambda c: (c.buy(0.4, price=99.0), c.sell(0.3, price=100.2))}))
    assert r.fills["order_id"].tolist() == [2] and r.fills["price"].tolist() == [100.2]
    assert r.fills["ts_ns"].tolist() == [ns(2)] and r.fills["qty"].tolist() == [0.3]
    assert orders(eng) == [("cancelled", "end of the data"), ("filled", "")]


# ============================================================================ round trips across a reversal after a partial exit
@pytest.mark.parametrize("side", [1, -1])
def test_a_reversal_after_a_partial_exit_closes_the_round_trip_with_all_its_exits(side):
    # No fees. Long: buy 1.0 @ 100.1; sell 0.4 @ 100.0 (partial exit); the market drops (bid
    # 99.5, ask 99.6); sell 1.6 @ 99.5: closes 0.6 and opens a short 1.0 @ 99.5; buy 1.0 @ 99.6.
    #   round trip 1: long 1.0, entry 100.1, exit (0.4 * 100.0 + 0.6 * 99.5) / 1.0 = 99.7, gross -0.4
    #   round trip 2: short 1.0, entry 99.5, exit 99.6, gross -0.1
    # Short, mirrored: sell 1.0 @ 100.0; buy 0.4 @ 100.1; the market rises (bid 100.5, ask 100.6);
    # buy 1.6 @ 100.6: closes 0.6, opens a long 1.0 @ 100.6; sell 1.0 @ 100.5.
    #   round trip 1: short 1.0, entry 100.0, exit (40.04 + 60.36) / 1.0 = 100.4, gross -0.4
    #   round trip 2: long 1.0, entry 100.6, exit 100.5, gross -0.1
    t = Tape().book(1, kind="snapshot", bids=[(100.0, 5.0)], asks=[(100.1, 5.0)]).book(2, [(100.0, 5.5)], [])
    if side > 0:
        t.book(3, [(100.0, 0), (99.5, 5.0)], [(100.1, 0), (99.6, 5.0)])
        s = Script({0: lambda c: c.buy(1.0), 1: lambda c: c.sell(0.4), 2: lambda c: c.sell(1.6),
                    3: lambda c: c.buy(1.0)})
        want = dict(entry=[100.1, 99.5], exit=[99.7, 99.6])
    else:
        t.book(3, [(100.0, 0), (100.5, 5.0)], [(100.1, 0), (100.6, 5.0)])
        s = Script({0: lambda c: c.sell(1.0), 1: lambda c: c.buy(0.4), 2: lambda c: c.buy(1.6),
                    3: lambda c: c.sell(1.0)})
        want = dict(entry=[100.0, 100.6], exit=[100.4, 100.5])
    t.book(4, [(99.0, 1.0)], []).book(5, [(99.0, 2.0)], [])
    r = run(t.build(), s, commission_rate=0.0)
    assert r.fills["position_after"].tolist() == pytest.approx([side, side * 0.6, -side, 0.0], abs=1e-12)
    tr = r.trades
    assert tr["side"].tolist() == [side, -side] and tr["qty"].tolist() == [1.0, 1.0]
    assert tr["entry_ts"].tolist() == [ns(1), ns(3)] and tr["exit_ts"].tolist() == [ns(3), ns(4)]
    assert tr["entry_price"].tolist() == pytest.approx(want["entry"], abs=1e-9)
    assert tr["exit_price"].tolist() == pytest.approx(want["exit"], abs=1e-9)
    assert tr["gross_pnl"].tolist() == pytest.approx([-0.4, -0.1], abs=1e-9)


# ============================================================================ the day's baseline when the exchange book has no price
@pytest.mark.parametrize("case", ["stale over midnight", "snapshot at midnight"])
def test_a_day_that_starts_without_a_price_takes_the_first_equity_it_can_know(case):
    # No fees. Day 1 starts at 10,000. k=0: buy 10 @ 101.0 (bid 100.0, ask 101.0; mid 100.5):
    # cash 8,990, equity 9,995. At M-5 a crossed message makes the exchange book stale (no price
    # until the next snapshot).
    # "stale over midnight" (limit 35): the day's first event (M+1) is refused too, so day 2 has
    # no equity to start from and keeps day 1's 10,000. The snapshot at M+2 (bid 97.0, ask 97.1,
    # mid 97.05): equity 8,990 + 970.5 = 9,960.5, -39.5 <= -35: the engine closes @ 97.0.
    # "snapshot at midnight" (limit 30): the day's first event is that snapshot; the mid before it
    # is unknown, so day 2 starts from the equity after it, 9,960.5: no loss, no close.
    M = MIDNIGHT
    t = (Tape().book(M - 10, kind="snapshot", **WIDE)
         .book(M - 9, [(100.0, 501)], [])
         .book(M - 5, [(101.5, 1.0)], []))                     # crosses the ask 101.0: refused, stale
    if case == "stale over midnight":
        t.book(M + 1, [(99.0, 1.0)], []).book(M + 2, kind="snapshot", bids=[(97.0, 500)], asks=[(97.1, 500)])
        limit, closed = 35.0, True
    else:
        t.book(M + 1, kind="snapshot", bids=[(97.0, 500)], asks=[(97.1, 500)])
        limit, closed = 30.0, False
    t.book(M + 3, [(97.0, 501)], [])
    eng, r = run_eng(t.build(), Script({0: lambda c: c.buy(10.0)}), max_daily_loss=limit, commission_rate=0.0)
    assert math.isnan(r.equity["equity"][2])                 # the row at M-5: no price
    if closed:
        assert orders(eng) == [("filled", ""), ("filled", "risk")]
        assert r.fills["ts_ns"].tolist() == [ns(M - 10), ns(M + 2)] and r.fills["price"].tolist() == [101.0, 97.0]
    else:
        assert orders(eng) == [("filled", "")] and r.equity[-1]["position"] == 10.0
        assert r.equity[-1]["equity"] == pytest.approx(9_960.5, abs=1e-9)


# ============================================================================ fed frame by frame (paper trading)
def test_frames_fed_one_at_a_time_give_the_same_run():
    # The first scenario of this file (feed 250 ms; buy 0.5 at the first book seen, at 1.25),
    # fed to a PaperTrader one frame at a time: every message reaches the strategy, the last one at
    # 2.25, and the run ends there; the fill and its notice are those of the backtest.
    from ofi.backtest import PaperTrader
    t = (Tape().book(1.0, kind="snapshot", **BOOK).book(1.1, [(100.0, 1.5)], [])
         .book(1.3, [(100.0, 2.0)], []).book(2.0, [(100.0, 2.5)], []))
    cfg = BacktestConfig(feed_latency=250 * NS, slippage_bps=0.0, flat_at_end=False)
    s = Script({0: lambda c: c.buy(0.5)})
    p = PaperTrader(s, cfg, tick_size="0.1", symbol="TEST").run_frames(t.frames)
    r = p.finish()
    assert [b[0] for b in s.books] == [ns(1.25), ns(1.35), ns(1.55), ns(2.25)]
    assert r.fills["ts_ns"].tolist() == [ns(1.25)] and r.fills["price"].tolist() == [100.1]
    assert [f[0] for f in s.fills] == [ns(1.5)]
    assert r.equity["ts_ns"].tolist() == [ns(1.25), ns(1.35), ns(1.55), ns(2.25), ns(2.25)]
    assert s.finish == (ns(2.25), 0.5, pytest.approx(10_000 - 50.05 - 0.0275275, abs=1e-9))
    # order latency 50 ms, no feed latency: the buy sent at 1.0 reaches the exchange at 1.05, before
    # the next frame (1.1) is received, and fills then; the last frame takes the bid 100.0 away,
    # so the exchange mid goes from 100.05 to (99.9 + 100.1) / 2 = 100.0
    t = Tape().book(1.0, kind="snapshot", **BOOK).book(1.1, [(100.0, 1.5)], []).book(1.3, [(100.0, 0.0)], [])
    cfg = BacktestConfig(order_latency=50 * NS, slippage_bps=0.0, flat_at_end=False)
    p = PaperTrader(Script({0: lambda c: c.buy(0.5)}), cfg, tick_size="0.1", symbol="TEST").run_frames(t.frames)
    r = p.finish()
    assert r.fills["ts_ns"].tolist() == [ns(1.05)]
    assert r.equity["ts_ns"].tolist() == [ns(1.0), ns(1.1), ns(1.3), ns(1.3)]
    assert r.equity["mid"].tolist() == [100.05, 100.05, 100.0, 100.0]


def test_an_order_up_to_1e12_above_the_position_still_counts_as_reducing():
    # as the exact close with capital 150 (long 1.0, a resting sell of 2.0, leverage 1): a sell of
    # 1.0 + 1e-12 (float noise over the position) reduces and passes; checked, it would be
    # |1 - 3| * 100.05 = 200.1 > 149.95 and refused
    t = Tape().book(1, kind="snapshot", **DEEP)
    for x in (2, 3, 4):
        t.book(x, [(100.0, 500 + x)], [])
    q = 1.0 + 1e-12
    s = Script({0: lambda c: c.buy(1.0), 1: lambda c: c.sell(2.0, price=101.0), 2: lambda c: c.sell(q)})
    eng, r = run_eng(t.build(), s, max_leverage=1.0, commission_rate=0.0, initial_capital=150.0)
    assert orders(eng) == [("filled", ""), ("cancelled", "end of the data"), ("filled", "")]
    assert r.fills["qty"].tolist() == [1.0, q]


def test_a_forced_close_with_less_than_a_unit_beyond_the_visible_book_still_closes_as_a_taker():
    # long 1.2 @ 100.1 (slippage 0, taker 0.00055); the bids thin to 1.0 @ 100.0: the close at the
    # end sells 1.0 @ 100.0 and the 0.2 the book does not show at the deepest bid, 100.0, as taker
    # fills (fee 0.00055 * 0.2 * 100.0 = 0.011)
    t = (Tape().book(1, kind="snapshot", bids=[(100.0, 5.0)], asks=[(100.1, 5.0)])
         .book(2, [(100.0, 1.0)], []))
    eng, r = run_eng(t.build(), Script({0: lambda c: c.buy(1.2)}), flat_at_end=True)
    f = r.fills
    assert f["qty"].tolist() == pytest.approx([1.2, 1.0, 0.2], abs=1e-12)
    assert f["price"].tolist() == [100.1, 100.0, 100.0] and f["maker"].tolist() == [0, 0, 0]
    assert f["fee"][2] == pytest.approx(0.011, abs=1e-12)
    assert orders(eng) == [("filled", ""), ("filled", "flat_at_end")] and r.equity[-1]["position"] == 0.0


def test_latency_draws_in_a_run_come_from_the_seeded_generator():
    # order latency lognormal(median 100 ms, sigma 0.5), seed 3, constant feed: the only draw is the
    # order's, exp(ln(1e8) + 0.5 z) with z the first standard normal of default_rng(3)
    z = np.random.default_rng(3).standard_normal()
    lat = int(round(math.exp(math.log(100 * NS) + 0.5 * z)))
    t = Tape().book(1, kind="snapshot", **BOOK).book(3, [(99.9, 2.5)], []).build()
    eng, r = run_eng(t, Script({0: lambda c: c.buy(0.5)}), order_latency=Latency.lognormal(100 * NS, 0.5), seed=3)
    assert eng._orders[1].arrive_ns == ns(1) + lat
    assert r.fills["ts_ns"].tolist() == [ns(1) + lat]


def test_a_tape_without_receive_times_plays_at_exchange_times():
    # ts_local 0 (unknown): each event reaches the strategy at its exchange time plus the feed
    frames = Tape().book(1, kind="snapshot", **BOOK).book(2, [(99.9, 2.5)], []).book(2.5, [(99.9, 3)], []).frames
    tape = frames_to_tape([(0, raw) for _, raw in frames], "0.1")
    assert (tape["ts_local"] == 0).all()
    s = Script()
    run(tape, s, feed_latency=10 * NS)
    assert [b[0] for b in s.books] == [ns(1.01), ns(2.01), ns(2.51)]


def test_a_frame_received_out_of_order_counts_from_the_previous_frames_time():
    # Paper trading, frames received at 1.0, 2.0, then one stamped 1.5 (received out of order),
    # then 3.0. Clocks never go back: the 1.5 frame counts as received at 2.0. Feed latency drawn
    # from {0, 100 ms} by the run's generator (seed 11: one draw per message, in order; the 2nd
    # draws 0, the 3rd 100 ms): the 1.5 frame reaches the strategy at 2.0 + 100 ms = 2.1 (not
    # 1.5 + 100 ms, which is before the 2.0 delivery, so at 2.0).
    from ofi.backtest import PaperTrader
    g = np.random.default_rng(11)
    d = [(0, 100 * NS)[int(g.integers(2))] for _ in range(4)]
    assert d[1:3] == [0, 100 * NS]
    t = (Tape().book(1.0, kind="snapshot", **BOOK).book(2.0, [(99.9, 2.5)], [])
         .book(1.5, [(99.9, 3.0)], []).book(3.0, [(99.9, 3.5)], []))
    cfg = BacktestConfig(feed_latency=Latency.empirical([0, 100 * NS]), seed=11, flat_at_end=False)
    s = Script()
    PaperTrader(s, cfg, tick_size="0.1", symbol="TEST").run_frames(t.frames).finish()
    assert [b[0] for b in s.books] == [ns(1.0) + d[0], ns(2.0), ns(2.1), ns(3.0) + d[3]]
    s2 = Script()
    BacktestEngine(cfg).run(s2, t.build(), "0.1", symbol="TEST")         # the backtest agrees
    assert s2.books == s.books


def test_a_frame_counts_as_received_no_earlier_than_the_previous_frames_last_message():
    # Paper trading. Frame 2 holds two trades stamped 2.0 and 2.2 by the exchange but received at
    # 1.9 (the exchange clock ahead): they count as received at 2.0 and 2.2 (never before they
    # happened). Frame 3, a book message stamped and received at 2.05, counts from the last of
    # them, 2.2. Feed latency from {0, 100 ms}, seed 8 (one draw per message, in order): the 2nd
    # trade draws 0, frame 3 draws 100 ms: frame 3 reaches the strategy at 2.3.
    from ofi.backtest import PaperTrader
    g = np.random.default_rng(8)
    d = [(0, 100 * NS)[int(g.integers(2))] for _ in range(5)]
    assert d[2:4] == [0, 100 * NS]
    t = Tape().book(1.0, kind="snapshot", **BOOK)
    trades = [{"T": T0 + ms, "s": "TEST", "S": "Buy", "v": "0.1", "p": "100.1", "L": "ZeroPlusTick",
               "i": f"x{ms}", "BT": False} for ms in (2000, 2200)]
    t.frames.append((ns(1.9), json.dumps({"topic": "publicTrade.TEST", "type": "snapshot", "ts": T0 + 2200,
                                          "data": trades})))
    t.book(2.05, [(99.9, 2.5)], []).book(3.0, [(99.9, 3.0)], [])
    cfg = BacktestConfig(feed_latency=Latency.empirical([0, 100 * NS]), seed=8, flat_at_end=False)
    s = Script()
    PaperTrader(s, cfg, tick_size="0.1", symbol="TEST").run_frames(t.frames).finish()
    assert [b[0] for b in s.books] == [ns(1.0) + d[0], ns(2.3), ns(3.0) + d[4]]


def test_the_hosts_open_flag_stays_set_while_another_order_is_open():
    # LoopHost.has_open (what the compiled strategy reads) must mirror the engine's open orders:
    # cancelling one of two resting bids leaves the other open, so the flag stays True.
    seen = []

    class TwoBids(Script):
        def on_book(self, ctx, book):
            seen.append((ctx.has_open_orders, ctx._eng._host.has_open))
            super().on_book(ctx, book)

    tape = Tape().book(1, kind="snapshot", **BOOK)
    for t in (2, 3, 4, 5):
        tape = tape.book(t, [(99.9, 2.0 + t / 10)], [])
    s = TwoBids({0: lambda c: (c.buy(0.1, 90.0), c.buy(0.1, 90.1)), 1: lambda c: c.cancel(1)})
    eng, _ = run_eng(tape.build(), s)
    assert seen[0] == (False, False) and seen[1] == (True, True)
    assert all(ours == host for ours, host in seen), seen
    assert seen[-1] == (True, True)                                  # order 2 still rests at 90.1
    assert [st for st, _ in orders(eng)] == ["cancelled", "cancelled"]   # at the end of the data
