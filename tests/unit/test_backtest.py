"""The backtester's exchange simulator: fills, queue positions, latency, accounting, no look-ahead.

Scenarios are tapes built from hand-written frames (tick 0.1, times in seconds after T0); every
expected number is worked out in the comments.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ofi.backtest import BacktestConfig, BacktestEngine, Latency, Strategy
from ofi.data.tape import frames_to_tape
from ofi.errors import InvalidInputError
from support import Tape

T0 = 1_700_000_000_000                 # ms
NS = 1_000_000


class Script(Strategy):
    """Runs actions[k](ctx) at the k-th book message it receives (0-based)."""

    def __init__(self, actions=None):
        self.actions = actions or {}
        self.k = 0
        self.fills = []
        self.seen = []

    def on_book(self, ctx, book):
        self.seen.append((ctx.now_ns, book.update_id, book.best_ask()))
        act = self.actions.get(self.k)
        if act:
            act(ctx)
        self.k += 1

    def on_fill(self, ctx, fill):
        self.fills.append((ctx.now_ns, fill))


def run(tape, strategy, **cfg):
    cfg.setdefault("slippage_bps", 0.0)
    cfg.setdefault("flat_at_end", False)
    return BacktestEngine(BacktestConfig(**cfg)).run(strategy, tape, "0.1", symbol="TEST")


BOOK = dict(bids=[(100.0, 1.0), (99.9, 2.0)], asks=[(100.1, 0.5), (100.2, 1.0)])


def test_a_market_order_walks_the_book_and_fills_partially():
    # buy 2.0 at market: 0.5 @ 100.1 + 1.0 @ 100.2, the book shows nothing more: 0.5 is not filled.
    # cost 50.05 + 100.2 = 150.25; taker fee 0.00055 * 150.25 = 0.0826375
    tape = Tape().book(1, kind="snapshot", **BOOK).book(2, [], []).build()
    s = Script({0: lambda c: c.buy(2.0)})
    r = run(tape, s)
    f = r.fills
    assert f["qty"].tolist() == [0.5, 1.0] and f["price"].tolist() == [100.1, 100.2]
    assert f["maker"].tolist() == [0, 0]
    assert f["fee"].sum() == pytest.approx(0.0826375, abs=1e-12)
    assert f["position_after"].tolist() == [0.5, 1.5]
    last = r.equity[-1]
    assert last["cash"] == pytest.approx(10_000 - 150.25 - 0.0826375, abs=1e-9)
    assert last["position"] == 1.5
    # equity marks at the exchange mid (100.0 + 100.1) / 2 = 100.05
    assert last["equity"] == pytest.approx(last["cash"] + 1.5 * 100.05, abs=1e-9)
    # the strategy heard of both fills
    assert [x[1].qty for x in s.fills] == [0.5, 1.0]


def test_slippage_is_paid_on_every_level():
    tape = Tape().book(1, kind="snapshot", **BOOK).book(2, [], []).build()
    r = run(tape, Script({0: lambda c: c.sell(1.5)}), slippage_bps=10.0)
    # sells hit the bids: 1.0 @ 100.0 and 0.5 @ 99.9, each 10 bps worse
    assert r.fills["price"].tolist() == pytest.approx([100.0 * 0.999, 99.9 * 0.999], abs=1e-12)


def test_a_limit_order_fills_only_when_the_queue_ahead_is_consumed():
    # buy 1.0 @ 100.0 joins behind the visible 1.0 (queue ahead 1.0)
    t = (Tape().book(1, kind="snapshot", **BOOK)
         .trade(2, -1, 100.0, 0.6)                       # sells 0.6 at our price: ahead 1.0 -> 0.4
         .book(3, [(100.0, 0.2)], [])                     # level 0.4 -> 0.2 without a trade: cancellations;
                                                          # proportional share 0.4 / 0.4 = 1: ahead 0.4 -> 0.2
         .trade(4, -1, 100.0, 0.5)                        # 0.5 against ahead 0.2: we get 0.3
         .trade(5, -1, 99.9, 0.1)                         # a trade below our price: the rest (0.7) fills
         .book(6, [], []))
    s = Script({0: lambda c: c.buy(1.0, price=100.0)})
    r = run(t.build(), s)
    f = r.fills
    assert f["qty"].tolist() == pytest.approx([0.3, 0.7], abs=1e-12)
    assert f["price"].tolist() == [100.0, 100.0] and f["maker"].tolist() == [1, 1]
    assert f["ts_ns"].tolist() == [(T0 + 4000) * NS, (T0 + 5000) * NS]
    assert f["fee"].tolist() == pytest.approx([0.3 * 100 * 0.0002, 0.7 * 100 * 0.0002], abs=1e-15)


def test_a_book_that_crosses_a_resting_order_fills_it():
    t = (Tape().book(1, kind="snapshot", **BOOK)
         .book(2, [(100.0, 0.0)], [(100.0, 3.0)]))        # the ask comes down to our bid price
    r = run(t.build(), Script({0: lambda c: c.buy(0.4, price=100.0)}))
    assert r.fills["qty"].tolist() == [0.4] and r.fills["maker"].tolist() == [1]


def test_an_order_meets_the_book_as_it_is_when_it_arrives():
    # sent at t=1 (first book), 500 ms order latency: arrives at 1.5. Liquidity added at 1.2 is there;
    # liquidity added at 1.6 is not: buy 2.0 gets 0.5 + 0.5 @ 100.1 (the 1.2 refill) and 1.0 @ 100.2.
    t = (Tape().book(1, kind="snapshot", **BOOK)
         .book(1.2, [], [(100.1, 1.0)])
         .book(1.6, [], [(100.1, 50.0)])
         .book(3, [], []))
    r = run(t.build(), Script({0: lambda c: c.buy(2.0)}), order_latency=500 * NS)
    assert r.fills["qty"].sum() == pytest.approx(2.0)
    assert r.fills["price"].tolist() == [100.1, 100.2]
    assert r.fills["qty"].tolist() == [1.0, 1.0]
    assert r.fills["ts_ns"].tolist() == [(T0 + 1500) * NS] * 2
    # with 700 ms it arrives after the refill of 50 at 1.6: all at 100.1
    r2 = run(t.build(), Script({0: lambda c: c.buy(2.0)}), order_latency=700 * NS)
    assert r2.fills["price"].tolist() == [100.1]


def test_the_strategy_sees_events_only_after_they_reach_it():
    t = Tape().book(1, kind="snapshot", **BOOK)
    for i in range(2, 30):
        t.book(i * 0.1 + 1, [], [(100.1, float(i))])
    tape = t.build()
    feed = 250 * NS
    s = Script()
    run(tape, s, feed_latency=feed)
    # the snapshot and the 28 deltas (i = 2..29): 29 book messages, each delivered once, in order
    assert [u for _, u, _ in s.seen] == list(range(1, 30))
    for now, u, _ in s.seen:
        row = tape[(tape["update_id"] == u)][0]
        assert now >= row["ts_local"] + feed            # never before it could have arrived


def test_a_planted_future_event_changes_nothing_before_it():
    base = Tape().book(1, kind="snapshot", **BOOK)
    for i in range(2, 40):
        base.book(1 + i * 0.1, [(100.0, 1.0 + i / 10)], [(100.1, 0.5 + i / 20)])
    other = Tape()
    other.frames, other.u = list(base.frames), base.u
    base.book(6, [], [(100.1, 9.0)])
    other.book(6, [], [(100.1, 0.1)])                    # the future differs after t = 6

    def strat():
        return Script({k: (lambda c: c.buy(0.3)) if k % 3 == 0 else (lambda c: c.sell(0.3)) for k in range(39)})
    a = run(base.build(), strat(), order_latency=30 * NS)
    b = run(other.build(), strat(), order_latency=30 * NS)
    before = a.fills["ts_ns"] < (T0 + 6000) * NS
    assert before.sum() > 10
    assert np.array_equal(a.fills[before], b.fills[b.fills["ts_ns"] < (T0 + 6000) * NS])


def test_cancels_take_their_latency():
    t = (Tape().book(1, kind="snapshot", **BOOK)
         .book(1.1, [], [])
         .trade(1.3, -1, 99.9, 5.0))                      # trades through our bid at 1.3
    s = Script({0: lambda c: c.buy(1.0, price=100.0), 1: lambda c: c.cancel(c.open_orders[0])})
    # cancel sent at 1.1 arrives at 1.6 (500 ms): too late, the order filled at 1.3
    r = run(t.build(), s, order_latency=0, cancel_latency=500 * NS)
    assert r.fills["qty"].tolist() == [1.0]
    s2 = Script({0: lambda c: c.buy(1.0, price=100.0), 1: lambda c: c.cancel(c.open_orders[0])})
    r2 = run(t.build(), s2, order_latency=0, cancel_latency=100 * NS)
    assert len(r2.fills) == 0
    # has_open_orders follows open_orders: before the order, while it rests, after the cancel
    seen = []
    s3 = Script({0: lambda c: (seen.append(c.has_open_orders), c.buy(1.0, price=100.0),
                               seen.append(c.has_open_orders)),
                 1: lambda c: (seen.append(c.has_open_orders), c.cancel(c.open_orders[0]))})
    run(t.build(), s3, order_latency=0, cancel_latency=100 * NS)
    assert seen == [False, True, True]


def test_round_trips_and_the_position_close_at_the_end():
    # buy 1.0 @ 100.1 ... the end closes 1.0 at the bid 100.0: gross -0.1; fees taker on both sides
    tape = Tape().book(1, kind="snapshot", **BOOK).book(2, [], []).build()
    r = run(tape, Script({0: lambda c: c.buy(0.5)}), flat_at_end=True)
    assert r.fills["side"].tolist() == [1, -1]
    (tr,) = r.trades
    assert tr["qty"] == 0.5 and tr["entry_price"] == 100.1 and tr["exit_price"] == 100.0
    assert tr["gross_pnl"] == pytest.approx(-0.05, abs=1e-12)
    fees = 0.00055 * (0.5 * 100.1 + 0.5 * 100.0)
    assert tr["fees"] == pytest.approx(fees, abs=1e-12)
    assert tr["net_pnl"] == pytest.approx(-0.05 - fees, abs=1e-12)
    assert r.equity[-1]["equity"] == pytest.approx(10_000 - 0.05 - fees, abs=1e-9)


def test_max_holding_time_and_daily_loss_close_the_position():
    t = Tape().book(1, kind="snapshot", **BOOK)
    for i in range(1, 30):
        t.book(1 + i, [], [(100.2, 1.0 + i)])
    r = run(t.build(), Script({0: lambda c: c.buy(0.5)}), max_holding_time=5_000 * NS)
    assert r.fills["side"].tolist() == [1, -1]
    assert r.fills["ts_ns"][1] == (T0 + 6000) * NS       # opened at 1 s, closed at the first event >= 6 s
    # a daily loss of 0.01 is hit at once (spread cost): closed, and later orders refused that day
    s = Script({0: lambda c: c.buy(0.5), 5: lambda c: c.buy(0.5)})
    r2 = run(t.build(), s, max_daily_loss=0.01)
    assert r2.fills["side"].tolist() == [1, -1]


def test_config_is_checked():
    for bad in (dict(initial_capital=0), dict(slippage_bps=-1), dict(order_latency=-5),
                dict(queue_cancel_share=2.0), dict(max_daily_loss=0), dict(taker_fee=float("nan"))):
        with pytest.raises(InvalidInputError):
            BacktestConfig(**bad)
    assert BacktestConfig(commission_rate=0.0004).taker_rate == 0.0004
    assert BacktestConfig().maker_rate == 0.0002 and BacktestConfig().taker_rate == 0.00055
    tape = Tape().book(1, kind="snapshot", **BOOK).build()
    with pytest.raises(InvalidInputError):
        run(tape, Script({0: lambda c: c.buy(-1)}))
    with pytest.raises(InvalidInputError, match="tick"):
        run(tape, Script({0: lambda c: c.buy(1, price=100.05)}))
    with pytest.raises(InvalidInputError):
        BacktestEngine().run(object(), tape, "0.1")


# ------------------------------------------------------------------------------------ invariants
@pytest.fixture(scope="module")
def sim_tape():
    from ofi.sim import SimulatedMarket
    m = SimulatedMarket(seed=4, depth=50, trade_rate=30.0)
    return frames_to_tape(m.generate(duration_s=120), m.tick_size)


class Random(Strategy):
    def __init__(self, seed, p):
        self.rng = np.random.default_rng(seed)
        self.p = p

    def on_book(self, ctx, book):
        if not book.ready or self.rng.random() > self.p:
            return
        side = ctx.buy if self.rng.random() < 0.5 else ctx.sell
        qty = float(self.rng.choice([0.001, 0.01, 0.3, 2.0]))
        if self.rng.random() < 0.5:
            side(qty)
        else:
            off = int(self.rng.integers(-3, 4))
            ref = book.best_bid() if side == ctx.buy else book.best_ask()
            side(qty, price=round(ref + off * 0.1, 1))
        if ctx.open_orders and self.rng.random() < 0.3:
            ctx.cancel(ctx.open_orders[0])


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10**6), p=st.sampled_from([0.02, 0.2]),
       lat=st.sampled_from([0, 3 * NS, 40 * NS]), feed=st.sampled_from([0, 2 * NS]))
def test_accounting_identities_hold_at_every_event(sim_tape, seed, p, lat, feed):
    cfg = BacktestConfig(order_latency=Latency.lognormal(max(lat, 1), 0.5) if lat else 0, feed_latency=feed,
                         slippage_bps=0.5, flat_at_end=True, seed=seed)
    eng = BacktestEngine(cfg)
    r = eng.run(Random(seed, p), sim_tape, "0.1", symbol="BTCUSDT")
    eq, f = r.equity, r.fills
    # equity = cash + position * mid at every recorded event
    ok = ~np.isnan(eq["mid"])
    np.testing.assert_allclose(eq["equity"][ok], eq["cash"][ok] + eq["position"][ok] * eq["mid"][ok], rtol=0,
                               atol=1e-9)
    # cash and position at each record equal the fills up to then
    if len(f):
        flows = np.cumsum(-(f["side"] * f["qty"] * f["price"]) - f["fee"])
        pos = np.cumsum(f["side"] * f["qty"])
        np.testing.assert_allclose(f["position_after"], np.where(np.abs(pos) < 1e-12, 0.0, pos), atol=1e-9)
        k = eng._c.fills_at_rows()                  # fills applied when each row was recorded
        assert (f["ts_ns"][np.maximum(k - 1, 0)][k > 0] <= eq["ts_ns"][k > 0]).all()
        want_cash = 10_000 + np.where(k > 0, flows[np.maximum(k - 1, 0)], 0.0)
        np.testing.assert_allclose(eq["cash"], want_cash, rtol=0, atol=1e-7)
        assert abs(pos[-1]) < 1e-9                       # flat at the end
        # the round trips' net PnL adds up to the net PnL; their fees to all fees
        assert r.trades["net_pnl"].sum() == pytest.approx(eq["equity"][-1] - 10_000, abs=1e-7)
        assert r.trades["fees"].sum() == pytest.approx(f["fee"].sum(), abs=1e-9)
        assert (f["qty"] > 0).all()
    assert math.isclose(r.metrics["equity_pnl"], eq["equity"][-1] - 10_000, abs_tol=1e-9)


def test_same_input_same_config_gives_a_byte_identical_report(sim_tape):
    from ofi.backtest import to_json
    cfg = BacktestConfig(order_latency=Latency.lognormal(5 * NS, 0.5), feed_latency=Latency.empirical([0, NS, 3 * NS]),
                         seed=3)
    a = to_json(BacktestEngine(cfg).run(Random(1, 0.1), sim_tape, "0.1", symbol="BTCUSDT"))
    b = to_json(BacktestEngine(cfg).run(Random(1, 0.1), sim_tape, "0.1", symbol="BTCUSDT"))
    assert a == b and '"fills"' in a
    c = to_json(BacktestEngine(BacktestConfig(order_latency=Latency.lognormal(5 * NS, 0.5), seed=4)).run(
        Random(1, 0.1), sim_tape, "0.1", symbol="BTCUSDT"))
    assert c != a                                        # the seed of the latency draws matters


def test_orders_beyond_the_leverage_limit_are_rejected_and_reducing_ones_pass():
    # equity 10,000 at mid 100.05: leverage 1.0 allows 99.95 units; buy 60 passes, then buy 60
    # more (120 > 99.95) is rejected; selling 30 reduces and passes
    big = dict(bids=[(100.0, 500.0)], asks=[(100.1, 500.0)])
    t = Tape().book(1, kind="snapshot", **big)
    for i in range(2, 6):
        t.book(i, [], [(100.1, 500.0 + i)])
    s = Script({0: lambda c: c.buy(60), 1: lambda c: c.buy(60), 2: lambda c: c.sell(30)})
    eng = BacktestEngine(BacktestConfig(max_leverage=1.0, slippage_bps=0.0, flat_at_end=False))
    r = eng.run(s, t.build(), "0.1", symbol="TEST")
    assert r.fills["qty"].tolist() == [60.0, 30.0] and r.fills["side"].tolist() == [1, -1]
    assert [o.reason for o in eng._orders.values()] == ["", "leverage limit", ""]
    with pytest.raises(InvalidInputError):
        BacktestConfig(max_leverage=0)


def test_an_order_without_a_quantity_uses_the_configured_position_size():
    tape = Tape().book(1, kind="snapshot", **BOOK).book(2, [], []).build()
    r = run(tape, Script({0: lambda c: c.buy()}), position_size=0.25)
    assert r.fills["qty"].tolist() == [0.25]


def test_a_fixed_latency_is_known_without_drawing():
    """The event loop skips the generator for latencies whose draws never use it (fixed_ns)."""
    rng = np.random.default_rng(0)
    for lat, fixed in ((Latency.constant(7), 7), (Latency.lognormal(9, 0.0), 9), (Latency.lognormal(9, 0.5), None),
                       (Latency.empirical([4, 4]), None)):
        assert lat.fixed_ns == fixed
        if fixed is not None:
            state = rng.bit_generator.state
            assert lat.draw(rng) == fixed and rng.bit_generator.state == state
