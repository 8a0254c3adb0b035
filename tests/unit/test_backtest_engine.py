"""The backtest engine (``ofi.backtest.engine``) on what a user's PnL depends on: when fills reach
the strategy, the end-of-data close and its last notification, the daily-loss day boundary, the
leverage limit, queue positions (cancellations and added size), the slippage of the engine's own
closes, trade delivery, cancels, round-trip accounting on a reversal, taken liquidity, and the
latency models.

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
from support import frame

T0 = 1_700_000_000_000                 # ms: 2023-11-14 22:13:20 UTC
NS = 1_000_000                         # ns per ms
SEC = 1000 * NS
MIDNIGHT = 6400.0                      # seconds after T0: 2023-11-15 00:00:00 UTC


def ns(t: float) -> int:
    """Nanoseconds of a time given in seconds after T0."""
    return (T0 + round(t * 1000)) * NS


class Tape:
    """Frames at chosen times (seconds after T0); ``lag`` (s) delays the local receive time."""

    def __init__(self):
        self.frames = []
        self.u = 0

    def book(self, t, bids, asks, kind="delta", lag=0.0):
        self.u = 1 if kind == "snapshot" else self.u + 1
        ms = T0 + round(t * 1000)
        self.frames.append((ns(t + lag), frame(kind, [(f"{p:.1f}", f"{q}") for p, q in bids],
                                                [(f"{p:.1f}", f"{q}") for p, q in asks], self.u, ts=ms)))
        return self

    def trade(self, t, side, price, size, lag=0.0):
        ms = T0 + round(t * 1000)
        raw = json.dumps({"topic": "publicTrade.TEST", "type": "snapshot", "ts": ms, "data": [
            {"T": ms, "s": "TEST", "S": "Buy" if side > 0 else "Sell", "v": str(size), "p": f"{price:.1f}",
             "L": "ZeroPlusTick", "i": f"id{len(self.frames)}", "BT": False}]})
        self.frames.append((ns(t + lag), raw))
        return self

    def build(self):
        return frames_to_tape(self.frames, "0.1")


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
