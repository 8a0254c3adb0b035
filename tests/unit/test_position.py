"""PositionManager (``ofi.strategy.position``): netting by hand, fees, the exits at their exact
boundaries, the daily loss and its reset at the next UTC day, the sizing modes and the quantity grid,
the accounting identity over random fills (hypothesis), and bad input."""
from __future__ import annotations

import dataclasses
import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ofi import InstrumentSpec
from ofi.errors import InvalidInputError, OfiError
from ofi.strategy import Position, PositionConfig, PositionManager, Signal
from ofi.strategy.position import NS_PER_DAY

SEC = 1_000_000_000
DAY0 = 19_700 * NS_PER_DAY          # 2023-12-08 00:00:00 UTC


def pm(**kw) -> PositionManager:
    kw.setdefault("qty_step", "0.001")
    return PositionManager(PositionConfig(**kw))


# ================================================================================ netting
def test_netting_by_hand():
    m = pm()
    assert m.on_fill("BTCUSDT", "buy", 1.0, 100.0, 0.04, DAY0 + 1) == 0.0
    assert m.on_fill("BTCUSDT", "buy", 1.0, 110.0, 0.044, DAY0 + 2) == 0.0
    p = m.position("BTCUSDT")
    assert (p.qty, p.avg_price, p.entry_ts_ns, p.side) == (2.0, 105.0, DAY0 + 1, 1)   # adding keeps the entry time
    assert m.on_fill("BTCUSDT", "sell", 1.5, 120.0, 0.072, DAY0 + 3) == 22.5           # 1.5 * (120 - 105)
    p = m.position("BTCUSDT")
    assert (p.qty, p.avg_price, p.realized_pnl, p.entry_ts_ns) == (0.5, 105.0, 22.5, DAY0 + 1)
    assert m.on_fill("BTCUSDT", "sell", 1.0, 100.0, 0.04, DAY0 + 4) == -2.5            # 0.5 * (100 - 105)
    p = m.position("BTCUSDT")
    assert (p.qty, p.avg_price, p.realized_pnl, p.entry_ts_ns, p.side) == (-0.5, 100.0, 20.0, DAY0 + 4, -1)
    assert p.fees == pytest.approx(0.196, abs=1e-15) and p.n_fills == 4
    assert p.net_realized_pnl == pytest.approx(20.0 - 0.196, abs=1e-12)
    assert p.unrealized_pnl(90.0) == 5.0                                               # -0.5 * (90 - 100)
    assert m.unrealized_pnl() == 0.0                                                   # marked at 100
    assert m.total_pnl() == pytest.approx(20.0 - 0.196, abs=1e-12)


def test_short_netting_and_reopen():
    m = pm()
    m.on_fill("ETHUSDT", "Sell", 2.0, 100.0, 0.0, 10)
    m.on_fill("ETHUSDT", "SELL", 2.0, 110.0, 0.0, 11)
    assert (m.position("ETHUSDT").qty, m.position("ETHUSDT").avg_price) == (-4.0, 105.0)
    assert m.on_fill("ETHUSDT", 1, 1.0, 95.0, 0.0, 12) == 10.0                          # -1 * (95 - 105) on 1
    assert m.on_fill("ETHUSDT", "buy", 3.0, 105.0, 0.0, 13) == 0.0                      # closes at cost
    p = m.position("ETHUSDT")
    assert p.qty == 0.0 and math.isnan(p.avg_price) and p.entry_ts_ns is None and p.side == 0
    assert p.realized_pnl == 10.0 and p.unrealized_pnl(1.0) == 0.0
    m.on_fill("ETHUSDT", -1, 1.0, 90.0, 0.0, 20)                                        # reopen short
    assert (m.position("ETHUSDT").qty, m.position("ETHUSDT").avg_price, m.position("ETHUSDT").entry_ts_ns) == \
        (-1.0, 90.0, 20)


def test_float_dust_leaves_a_flat_position():
    m = pm(qty_step="0.1")
    m.on_fill("X", "buy", 0.1, 10.0, 0.0, 0)
    m.on_fill("X", "buy", 0.2, 10.0, 0.0, 0)
    assert m.position("X").qty == 0.3                                                   # not 0.30000000000000004
    m.on_fill("X", "sell", 0.3, 11.0, 0.0, 0)
    p = m.position("X")
    assert p.qty == 0.0 and math.isnan(p.avg_price) and p.realized_pnl == pytest.approx(0.3)


def test_symbols_are_separate_and_positions_is_a_copy():
    m = pm()
    m.on_fill("A", "buy", 1.0, 10.0, 0.01, 0)
    m.on_fill("B", "sell", 2.0, 20.0, 0.02, 0)
    snap = m.positions
    assert set(snap) == {"A", "B"} and snap["A"].qty == 1.0 and snap["B"].qty == -2.0
    snap.pop("A")
    assert "A" in m.positions
    assert m.position("C") == Position("C") and "C" not in m.positions
    assert m.fees() == pytest.approx(0.03) and m.marks == {"A": 10.0, "B": 20.0}
    m.mark("A", 12.0, 1)
    m.mark("B", 19.0, 1)
    assert m.unrealized_pnl() == pytest.approx(2.0 + 2.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.position("A").qty = 5.0


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([1, -1]),
                          st.one_of(st.integers(1, 5000).map(lambda k: k / 1000),
                                    st.floats(1e-3, 50.0, allow_nan=False)),
                          st.floats(0.5, 5000.0, allow_nan=False),
                          st.floats(-1.0, 1.0, allow_nan=False)), min_size=1, max_size=40),
       st.floats(0.5, 5000.0, allow_nan=False))
def test_accounting_identity(fills, p):
    """realized + unrealized(p) == sum of signed cash flows + q p, after every fill; fees apart."""
    m = pm()
    cash = fees = scale = 0.0
    for i, (sgn, qty, price, fee) in enumerate(fills):
        m.on_fill("X", sgn, qty, price, fee, i)
        cash -= sgn * qty * price
        fees += fee
        scale += qty * price
        pos = m.position("X")
        tol = 1e-9 * (scale + abs(pos.qty) * p + 1.0)
        assert pos.realized_pnl + pos.unrealized_pnl(p) == pytest.approx(cash + pos.qty * p, abs=tol)
        assert pos.fees == pytest.approx(fees, abs=1e-9 * (1 + i))
        assert (pos.qty == 0.0) == math.isnan(pos.avg_price) == (pos.entry_ts_ns is None)
        if pos.qty != 0.0:
            assert 0.5 <= pos.avg_price <= 5000.0
    m.mark("X", p, len(fills))
    tol = 1e-9 * (scale + abs(m.position("X").qty) * p + 1.0 + len(fills))
    assert m.total_pnl() == pytest.approx(cash + m.position("X").qty * p - fees, abs=tol)


# ================================================================================ exits
@pytest.mark.parametrize("side, price, want", [
    ("buy", 99.5, "stop_loss"),         # 100 * (1 - 50 / 1e4)
    ("buy", 99.0, "stop_loss"),
    ("buy", 99.5001, None),
    ("buy", 101.0, "take_profit"),      # 100 * (1 + 100 / 1e4)
    ("buy", 150.0, "take_profit"),
    ("buy", 100.9999, None),
    ("sell", 100.5, "stop_loss"),
    ("sell", 100.4999, None),
    ("sell", 99.0, "take_profit"),
    ("sell", 99.0001, None),
    ("sell", 100.0, None),
])
def test_stop_loss_take_profit_boundaries(side, price, want):
    m = pm(stop_loss_bps=50.0, take_profit_bps=100.0)
    m.on_fill("X", side, 1.0, 100.0, 0.0, DAY0)
    assert m.exit_reason("X", price, DAY0 + 1) == want
    assert m.marks["X"] == price


def test_barriers_from_a_reaveraged_price():
    m = pm(stop_loss_bps=100.0, take_profit_bps=25.0)
    m.on_fill("X", "buy", 1.0, 100.0, 0.0, 0)
    m.on_fill("X", "buy", 1.0, 110.0, 0.0, 0)            # avg 105
    assert m.exit_reason("X", 103.95, 1) == "stop_loss"   # 105 * 0.99
    assert m.exit_reason("X", 103.96, 1) is None
    assert m.exit_reason("X", 105.2625, 1) == "take_profit"   # 105 * 1.0025
    assert m.exit_reason("X", 105.2624, 1) is None


def test_max_holding_time():
    m = pm(max_holding_ns=500)
    assert m.exit_reason("X", 100.0, 999) is None                       # flat
    m.on_fill("X", "buy", 1.0, 100.0, 0.0, 1000)
    assert m.exit_reason("X", 100.0, 1499) is None
    assert m.exit_reason("X", 100.0, 1500) == "max_holding_time"
    m.on_fill("X", "buy", 1.0, 100.0, 0.0, 1200)                        # adding keeps the clock
    assert m.exit_reason("X", 100.0, 1500) == "max_holding_time"
    m.on_fill("X", "sell", 3.0, 100.0, 0.0, 1400)                       # crossing zero restarts it
    assert m.exit_reason("X", 100.0, 1899) is None
    assert m.exit_reason("X", 100.0, 1900) == "max_holding_time"
    m.on_fill("X", "buy", 1.0, 100.0, 0.0, 1950)                        # flat: nothing to exit
    assert m.exit_reason("X", 100.0, 5000) is None


def test_exit_priority_and_disabled_exits():
    m = pm(stop_loss_bps=10.0, take_profit_bps=10.0, max_holding_ns=1)
    m.on_fill("X", "buy", 1.0, 100.0, 0.0, 0)
    assert m.exit_reason("X", 50.0, 10) == "stop_loss"
    assert m.exit_reason("X", 150.0, 10) == "take_profit"
    assert m.exit_reason("X", 100.0, 10) == "max_holding_time"
    plain = pm()
    plain.on_fill("X", "buy", 1.0, 100.0, 0.0, 0)
    assert plain.exit_reason("X", 1e-6, 10**15) is None and plain.exit_reason("X", 1e6, 10**15) is None


# ================================================================================ daily loss
def test_daily_loss_boundary_halt_and_next_day():
    m = pm(max_daily_loss=100.0)
    assert m.can_open(DAY0 + 3600 * SEC) and not m.halted
    m.on_fill("X", "buy", 10.0, 100.0, 0.0, DAY0 + 3600 * SEC)
    assert m.exit_reason("X", 90.0, DAY0 + 7200 * SEC) is None           # day PnL -100: not below
    assert m.day_pnl() == -100.0 and m.can_open(DAY0 + 7200 * SEC)
    assert m.exit_reason("X", 89.99, DAY0 + 7201 * SEC) == "daily_loss"  # -100.1
    assert m.halted and not m.can_open(DAY0 + 7201 * SEC)
    assert m.exit_reason("X", 120.0, DAY0 + 7202 * SEC) == "daily_loss"  # recovering does not lift it
    assert not m.can_open(DAY0 + NS_PER_DAY - 1)                         # the last ns of the day
    m.mark("X", 95.0, DAY0 + NS_PER_DAY - 1)
    # next UTC day: trading resumes; the day starts from the equity at the latest price (95)
    assert m.can_open(DAY0 + NS_PER_DAY) and not m.halted
    assert m.day_pnl() == 0.0 and m.total_pnl() == -50.0
    assert m.exit_reason("X", 85.0, DAY0 + NS_PER_DAY + 1) is None        # -100 on the day
    assert m.exit_reason("X", 84.0, DAY0 + NS_PER_DAY + 2) == "daily_loss"


def test_daily_loss_counts_fees_realized_and_every_symbol():
    m = pm(max_daily_loss=100.0)
    m.on_fill("A", "buy", 10.0, 100.0, 0.5, DAY0)
    m.on_fill("B", "sell", 1.0, 100.0, 0.0, DAY0)
    assert m.exit_reason("A", 90.0, DAY0 + 1) == "daily_loss"            # -100 - 0.5 fee
    assert m.exit_reason("B", 100.0, DAY0 + 1) == "daily_loss"           # every open position
    m.on_fill("A", "sell", 10.0, 90.0, 0.0, DAY0 + 2)                    # fills are still recorded
    assert m.exit_reason("A", 90.0, DAY0 + 3) is None                    # flat
    n = pm(max_daily_loss=100.0)
    n.on_fill("A", "buy", 10.0, 100.0, 0.0, DAY0)
    n.on_fill("A", "sell", 10.0, 89.0, 0.0, DAY0 + 1)                    # realized -110, now flat
    assert not n.can_open(DAY0 + 2) and n.day_pnl() == -110.0


def test_day_start_is_valued_before_the_first_event_of_the_day():
    m = pm(max_daily_loss=60.0)
    m.on_fill("X", "buy", 10.0, 100.0, 0.0, DAY0)
    m.mark("X", 95.0, DAY0 + 10)                                          # -50 on day 0
    assert m.exit_reason("X", 90.0, DAY0 + NS_PER_DAY) is None            # day 1 starts at 95: -50 on the day
    assert m.day_pnl() == -50.0
    with pytest.raises(InvalidInputError, match="earlier UTC day"):
        m.mark("X", 90.0, DAY0 + 5)
    m.reset()
    assert m.positions == {} and m.day_pnl() == 0.0 and m.can_open(DAY0)


# ================================================================================ sizing
def test_fixed_sizing_and_signals():
    m = pm(sizing="fixed", qty=0.0123)
    assert m.target_qty(Signal.LONG, 30_000.0, 1.0) == 0.012
    assert m.target_qty(Signal.SHORT, 30_000.0, 1.0) == -0.012
    assert m.target_qty(1, 30_000.0, 1.0) == 0.012
    assert m.target_qty(Signal.CLOSE, 30_000.0, 1.0) == 0.0
    assert m.target_qty(Signal.HOLD, 30_000.0, 1.0) is None
    assert pm(sizing="fixed", qty=0.0123, max_notional=300.0).target_qty(Signal.LONG, 30_000.0, 1.0) == 0.01


def test_fraction_sizing():
    m = pm(fraction=0.1)
    assert m.target_qty(Signal.LONG, 30_000.0, 10_000.0) == 0.033        # 1000 / 30000 = 0.0333
    assert m.target_qty(Signal.SHORT, 100.0, 10_000.0) == -10.0
    assert m.target_qty(Signal.LONG, 100.0, 0.0) == 0.0
    assert m.target_qty(Signal.LONG, 100.0, -5.0) == 0.0
    assert pm(fraction=0.1, max_notional=500.0).target_qty(Signal.LONG, 30_000.0, 10_000.0) == 0.016
    assert pm(fraction=2.0).target_qty(Signal.LONG, 100.0, 1000.0) == 20.0   # leverage


def test_vol_target_sizing():
    # window of a quarter day: daily vol = 2 * vol_bps; notional = equity * 100 / daily
    m = pm(sizing="vol_target", target_vol_bps=100.0, vol_window_ns=NS_PER_DAY // 4, max_notional=5000.0)
    assert m.target_qty(Signal.LONG, 100.0, 1000.0, vol_bps=25.0) == 20.0   # notional 2000
    assert m.target_qty(Signal.SHORT, 100.0, 1000.0, vol_bps=10.0) == -50.0  # 5000: at the cap
    assert m.target_qty(Signal.LONG, 100.0, 1000.0, vol_bps=5.0) == 50.0    # 10000, capped
    assert m.target_qty(Signal.LONG, 100.0, 1000.0, vol_bps=0.0) == 50.0
    assert m.target_qty(Signal.LONG, 100.0, 1000.0, vol_bps=math.nan) == 0.0
    assert m.target_qty(Signal.LONG, 100.0, 0.0, vol_bps=25.0) == 0.0
    assert m.target_qty(Signal.CLOSE, 100.0, 1000.0) == 0.0
    with pytest.raises(InvalidInputError, match="vol_bps is required"):
        m.target_qty(Signal.LONG, 100.0, 1000.0)
    with pytest.raises(InvalidInputError, match="vol_bps"):
        m.target_qty(Signal.LONG, 100.0, 1000.0, vol_bps=-1.0)
    # the default window is one minute: daily = vol * sqrt(1440)
    d = pm(sizing="vol_target", max_notional=1e9, qty_step="0.000001")
    want = math.floor(1000.0 * 100.0 / (3.0 * math.sqrt(1440.0)) / 50.0 * 1e6) / 1e6
    assert d.target_qty(Signal.LONG, 50.0, 1000.0, vol_bps=3.0) == pytest.approx(want, abs=1e-12)


def test_qty_grid_and_min_qty():
    m = pm(qty_step="0.1", min_qty="0.5")
    assert m.round_qty(0.3 + 1e-17) == 0.0                  # under min_qty
    assert m.round_qty(0.5) == 0.5
    assert m.round_qty(0.1 + 0.2 + 0.3) == 0.6              # 0.6000000000000001 -> 0.6
    assert m.round_qty(0.59999999) == 0.5
    assert m.round_qty(7.0) == 7.0
    g = pm(qty_step="0.1")
    assert g.round_qty(0.30000000000000004) == 0.3 and g.round_qty(0.29999999999999993) == 0.3
    assert g.round_qty(0.2999) == 0.2 and g.round_qty(0.0999) == 0.0
    s = pm(sizing="fixed", qty=0.45, qty_step="0.1", min_qty="0.5")
    short = s.target_qty(Signal.SHORT, 100.0, 1.0)
    assert short == 0.0 and math.copysign(1.0, short) == 1.0                 # refused, and not -0.0


def test_config_from_instrument_spec():
    spec = InstrumentSpec("BTCUSDT", "0.1", "0.001", "0.005")
    c = PositionConfig.from_spec(spec, sizing="fixed", qty=0.0049)
    assert c.qty_step == Decimal("0.001") and c.min_qty == Decimal("0.005")
    assert PositionManager(c).target_qty(Signal.LONG, 1.0, 1.0) == 0.0
    assert PositionManager(PositionConfig.from_spec(spec, sizing="fixed", qty=0.0051)).target_qty(
        Signal.LONG, 1.0, 1.0) == 0.005
    with pytest.raises(InvalidInputError, match="InstrumentSpec"):
        PositionConfig.from_spec({"qty_step": 0.1})


# ================================================================================ config and bad input
def test_config_defaults():
    c = PositionConfig()
    assert (c.sizing, c.fraction, c.qty_step, c.min_qty, c.flat_at_end) == ("fraction", 0.1, Decimal("0.001"),
                                                                             Decimal("0.001"), True)
    assert c.stop_loss_bps is None and c.max_daily_loss is None and c.max_holding_ns is None
    assert PositionManager().flat_at_end is True
    assert PositionManager(PositionConfig(flat_at_end=False)).flat_at_end is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.fraction = 0.5


@pytest.mark.parametrize("kw, words", [
    ({"sizing": "kelly"}, "sizing"),
    ({"sizing": "fixed"}, "qty is required"),
    ({"sizing": "fixed", "qty": 0.0}, "qty"),
    ({"qty": -1.0}, "qty"),
    ({"fraction": 0.0}, "fraction"),
    ({"fraction": math.nan}, "fraction"),
    ({"target_vol_bps": -1.0}, "target_vol_bps"),
    ({"vol_window_ns": 0}, "vol_window_ns"),
    ({"sizing": "vol_target"}, "max_notional is required"),
    ({"max_notional": 0.0}, "max_notional"),
    ({"max_notional": math.inf}, "max_notional"),
    ({"qty_step": 0}, "qty_step"),
    ({"qty_step": "abc"}, "qty_step"),
    ({"min_qty": -0.1}, "min_qty"),
    ({"stop_loss_bps": 0.0}, "stop_loss_bps"),
    ({"take_profit_bps": "10"}, "take_profit_bps"),
    ({"max_holding_ns": 0}, "max_holding_ns"),
    ({"max_holding_ns": 1.5}, "max_holding_ns"),
    ({"max_daily_loss": -5.0}, "max_daily_loss"),
    ({"flat_at_end": 1}, "flat_at_end"),
])
def test_config_rejects(kw, words):
    with pytest.raises(InvalidInputError, match=words):
        PositionConfig(**kw)


@pytest.mark.parametrize("call, words", [
    (lambda m: m.on_fill("", "buy", 1.0, 100.0, 0.0, 0), "symbol"),
    (lambda m: m.on_fill(None, "buy", 1.0, 100.0, 0.0, 0), "symbol"),
    (lambda m: m.on_fill("X", "long", 1.0, 100.0, 0.0, 0), "side"),
    (lambda m: m.on_fill("X", 2, 1.0, 100.0, 0.0, 0), "side"),
    (lambda m: m.on_fill("X", True, 1.0, 100.0, 0.0, 0), "side"),
    (lambda m: m.on_fill("X", "buy", 0.0, 100.0, 0.0, 0), "qty"),
    (lambda m: m.on_fill("X", "buy", -1.0, 100.0, 0.0, 0), "qty"),
    (lambda m: m.on_fill("X", "buy", math.nan, 100.0, 0.0, 0), "qty"),
    (lambda m: m.on_fill("X", "buy", 1.0, 0.0, 0.0, 0), "price"),
    (lambda m: m.on_fill("X", "buy", 1.0, math.inf, 0.0, 0), "price"),
    (lambda m: m.on_fill("X", "buy", 1.0, 100.0, math.nan, 0), "fee"),
    (lambda m: m.on_fill("X", "buy", 1.0, 100.0, 0.0, 1.5), "ts_ns"),
    (lambda m: m.on_fill("X", "buy", 1.0, 100.0, 0.0, None), "ts_ns"),
    (lambda m: m.exit_reason("X", math.nan, 0), "price"),
    (lambda m: m.exit_reason("X", -1.0, 0), "price"),
    (lambda m: m.mark("X", "100", 0), "price"),
    (lambda m: m.can_open("today"), "ts_ns"),
    (lambda m: m.target_qty(Signal.LONG, 0.0, 1000.0), "price"),
    (lambda m: m.target_qty(Signal.LONG, 100.0, math.nan), "equity"),
    (lambda m: m.target_qty(3, 100.0, 1000.0), "signal"),
    (lambda m: m.target_qty("LONG", 100.0, 1000.0), "signal"),
    (lambda m: m.round_qty(-1.0), "qty"),
    (lambda m: m.round_qty(math.inf), "max_notional"),
    (lambda m: m.position(["X"]), "symbol"),
])
def test_bad_input(call, words):
    m = pm()
    with pytest.raises(OfiError, match=words):
        call(m)
    assert m.positions == {}


def test_manager_rejects_other_config():
    with pytest.raises(InvalidInputError, match="PositionConfig"):
        PositionManager({"sizing": "fixed"})


def test_a_mark_alone_can_halt_trading():
    # long 10 @ 100 (no fee): a mark at 90 is -100 on the day, not below the limit of 100; a mark
    # at 89.99 is -100.1: halted at once, before any fill, exit_reason or can_open call
    m = pm(max_daily_loss=100.0)
    m.on_fill("X", "buy", 10.0, 100.0, 0.0, DAY0)
    m.mark("X", 90.0, DAY0 + 1)
    assert not m.halted
    m.mark("X", 89.99, DAY0 + 2)
    assert m.halted and m.day_pnl() == pytest.approx(-100.1, abs=1e-9)
    m.mark("X", 100.0, DAY0 + 3)                     # recovering does not lift it
    assert m.halted and not m.can_open(DAY0 + 3)


# ================================================================================ pinned details
# (each test below pins a value a user sees: an error message's wording and argument name, a bound,
# an exit at the exact float of its barrier)
def _exact_barrier(avg: float, factor: float) -> float:
    """A price p with p * 1e4 == avg * factor exactly (searched over the floats near it)."""
    b = avg * factor
    p = b / 1e4
    for _ in range(64):
        p = math.nextafter(p, 0.0)
    for _ in range(128):
        if p * 1e4 == b:
            return p
        p = math.nextafter(p, math.inf)
    raise AssertionError("no float price lands on the barrier")


@pytest.mark.parametrize("side, kind, factor, away", [
    # the documented barriers, avg (1e4 -+ bps), widened by a relative 1e-12 towards triggering
    ("buy", "stop_loss", (1e4 - 50.0) * (1.0 + 1e-12), math.inf),
    ("buy", "take_profit", (1e4 + 100.0) * (1.0 - 1e-12), 0.0),
    ("sell", "stop_loss", (1e4 + 50.0) * (1.0 - 1e-12), 0.0),
    ("sell", "take_profit", (1e4 - 100.0) * (1.0 + 1e-12), math.inf),
])
def test_exit_at_the_exact_float_of_the_barrier(side, kind, factor, away):
    # avg 30000, sl 50 bps, tp 100 bps: a price whose price * 1e4 equals the barrier to the bit
    # triggers (the comparison is inclusive); the next float on the safe side does not
    m = pm(stop_loss_bps=50.0, take_profit_bps=100.0)
    m.on_fill("X", side, 1.0, 30_000.0, 0.0, DAY0)
    p = _exact_barrier(30_000.0, factor)
    assert m.exit_reason("X", p, DAY0 + 1) == kind
    q = p
    while q * 1e4 == p * 1e4:               # the first float whose product passes the barrier
        q = math.nextafter(q, away)
    assert m.exit_reason("X", q, DAY0 + 1) is None


def test_reversal_onto_exactly_one_unit_reopens_at_the_fill():
    # short 1 @ 100 at t=5, buy 2 @ 90 at t=7: realizes 1 * (90 - 100) * -1 = +10 and leaves
    # +1.0 (exactly 1) opened at 90, stamped t=7
    m = pm()
    m.on_fill("X", "sell", 1.0, 100.0, 0.0, 5)
    assert m.on_fill("X", "buy", 2.0, 90.0, 0.0, 7) == 10.0
    p = m.position("X")
    assert (p.qty, p.avg_price, p.entry_ts_ns, p.realized_pnl) == (1.0, 90.0, 7, 10.0)
    # and the other way: long 2 @ 50, sell 3 @ 60 -> +20 realized, -1 opened at 60
    m.on_fill("Y", "buy", 2.0, 50.0, 0.0, 8)
    assert m.on_fill("Y", "sell", 3.0, 60.0, 0.0, 9) == 20.0
    p = m.position("Y")
    assert (p.qty, p.avg_price, p.entry_ts_ns) == (-1.0, 60.0, 9)


def test_sizing_with_equity_between_zero_and_one():
    # fraction 1: notional = 0.5 * 1 = 0.5 at price 0.01 -> 50 units
    assert pm(fraction=1.0).target_qty(Signal.LONG, 0.01, 0.5) == 50.0
    # vol_target, window a quarter day (daily = 2 * 25 = 50 bps): 0.5 * 100 / 50 = 1.0 notional
    # at price 0.01 -> 100 units
    m = pm(sizing="vol_target", vol_window_ns=NS_PER_DAY // 4, max_notional=1e9)
    assert m.target_qty(Signal.LONG, 0.01, 0.5, vol_bps=25.0) == 100.0


def test_sizing_error_messages_in_full():
    with pytest.raises(InvalidInputError,
                       match=r"^vol_bps is required with sizing='vol_target' \(e\.g\. the realized_vol_1m "
                             r"feature\), got None$"):
        pm(sizing="vol_target", max_notional=1.0).target_qty(Signal.LONG, 100.0, 1000.0)
    with pytest.raises(InvalidInputError, match=r"^qty is infinite: set max_notional to cap the size$"):
        pm().round_qty(math.inf)


@pytest.mark.parametrize("name", ["fraction", "target_vol_bps", "stop_loss_bps", "take_profit_bps",
                                  "max_daily_loss", "qty", "max_notional"])
def test_positive_fields_refuse_zero_and_accept_a_half(name):
    # lower bound 0, open: 0 is refused, naming the field and the bound; 0.5 is kept as given
    with pytest.raises(InvalidInputError, match=rf"^{name} must be a finite number > 0\.0, got 0\.0$"):
        PositionConfig(**{name: 0.0})
    assert getattr(PositionConfig(**{name: 0.5}), name) == 0.5


def test_config_error_messages_in_full():
    with pytest.raises(InvalidInputError, match=r"^max_notional is required with sizing='vol_target' \(the size "
                                                r"at zero volatility\), got None$"):
        PositionConfig(sizing="vol_target")
    with pytest.raises(InvalidInputError, match=r"^qty_step must be a finite positive number, got 0$"):
        PositionConfig(qty_step=0)
    with pytest.raises(InvalidInputError, match=r"^min_qty must be a finite positive number, got -0\.1$"):
        PositionConfig(min_qty=-0.1)
    with pytest.raises(InvalidInputError, match=r"^spec must be an InstrumentSpec, got dict$"):
        PositionConfig.from_spec({"qty_step": 0.1})


@pytest.mark.parametrize("kw, message", [
    ({"sizing": "kelly"}, "sizing must be one of fixed, fraction, vol_target; got 'kelly'"),
    ({"sizing": "fixed"}, "qty is required with sizing='fixed' (base units per position), got None"),
    ({"vol_window_ns": 0}, "vol_window_ns must be an integer >= 1, got 0"),
    ({"max_holding_ns": 0}, "max_holding_ns must be an integer >= 1, got 0"),
    ({"flat_at_end": 1}, "flat_at_end must be True or False, got 1"),
])
def test_config_messages_word_for_word(kw, message):
    with pytest.raises(InvalidInputError) as e:
        PositionConfig(**kw)
    assert str(e.value) == message


def test_integer_fields_accept_their_lower_bound():
    # vol_window_ns and max_holding_ns: integers >= 1, so 1 ns is a valid window / holding time
    c = PositionConfig(vol_window_ns=1, max_holding_ns=1)
    assert (c.vol_window_ns, c.max_holding_ns) == (1, 1)
    m = PositionManager(c)
    m.on_fill("X", "buy", 1.0, 100.0, 0.0, 10)
    assert m.exit_reason("X", 100.0, 10) is None and m.exit_reason("X", 100.0, 11) == "max_holding_time"


@pytest.mark.parametrize("call, message", [
    (lambda m: m.on_fill("X", "buy", 1.0, 0.0, 0.0, 0), "price must be a finite number > 0.0, got 0.0"),
    (lambda m: m.on_fill("X", "buy", 1.0, 1.0, "a", 0), "fee must be a number, got 'a'"),
    (lambda m: m.on_fill("X", "buy", 0.0, 1.0, 0.0, 0), "qty must be a finite number > 0.0, got 0.0"),
    (lambda m: m.round_qty(-1.0), "qty must be a number >= 0.0, got -1.0"),
    (lambda m: m.target_qty(Signal.LONG, 1.0, "x"), "equity must be a number, got 'x'"),
    (lambda m: m.target_qty(Signal.LONG, 1.0, 1.0, vol_bps="5"), "vol_bps must be a number, got '5'"),
    (lambda m: m.target_qty(Signal.LONG, 1.0, 1.0, vol_bps=-0.5),
     "vol_bps must be >= 0 (or NaN when not warm), got -0.5"),
    (lambda m: m.mark("", 1.0, 0), "symbol must be a non-empty string, got ''"),
    (lambda m: m.on_fill("X", "up", 1.0, 1.0, 0.0, 0), "side must be 'buy' or 'sell' (or +1 / -1), got 'up'"),
    (lambda m: m.can_open(1.5), "ts_ns must be an integer (ns since the epoch), got 1.5"),
    (lambda m: m.target_qty(7, 1.0, 1.0), "signal must be a Signal (LONG, SHORT, HOLD, CLOSE), got 7"),
])
def test_manager_messages_word_for_word(call, message):
    m = pm(sizing="vol_target", max_notional=10.0)
    with pytest.raises(InvalidInputError) as e:
        call(m)
    assert str(e.value) == message


def test_manager_rejects_other_config_by_type_name():
    with pytest.raises(InvalidInputError) as e:
        PositionManager({"sizing": "fixed"})
    assert str(e.value) == "config must be a PositionConfig, got dict"


def test_from_spec_takes_the_spec_qty_step():
    # qty_step 0.01 (not the default 0.001) and min_order_qty 0.02 come from the spec
    spec = InstrumentSpec("ETHUSDT", "0.01", "0.01", "0.02")
    c = PositionConfig.from_spec(spec, sizing="fixed", qty=0.0299)
    assert (c.qty_step, c.min_qty) == (Decimal("0.01"), Decimal("0.02"))
    assert PositionManager(c).target_qty(Signal.LONG, 1.0, 1.0) == 0.02        # 0.0299 -> 0.02, not 0.029


def test_halted_is_false_not_just_falsy():
    m = pm(max_daily_loss=10.0)
    assert m.halted is False                              # fresh: not halted before any call
    m.on_fill("X", "buy", 1.0, 100.0, 20.0, DAY0)         # a 20 fee: -20 on the day
    assert m.halted is True
    assert m.can_open(DAY0 + NS_PER_DAY) is True and m.halted is False   # next day
    m.on_fill("X", "buy", 1.0, 100.0, 20.0, DAY0 + NS_PER_DAY)
    m.reset()
    assert m.halted is False and m.can_open(DAY0) is True


def test_daily_loss_exactly_at_the_widened_limit_does_not_halt():
    # the limit is -max_daily_loss * (1 + 1e-12); a fee of exactly that leaves the day's PnL on the
    # limit (0 - fee + 0 unrealized, the fill marks the position at its price): not strictly below
    lim = 100.0
    m = pm(max_daily_loss=lim)
    fee = lim * (1.0 + 1e-12)
    m.on_fill("X", "buy", 1.0, 100.0, fee, DAY0)
    assert m.day_pnl() == -fee and not m.halted and m.can_open(DAY0 + 1)
    n = pm(max_daily_loss=lim)
    n.on_fill("X", "buy", 1.0, 100.0, math.nextafter(fee, math.inf), DAY0)
    assert n.halted


def test_dust_of_exactly_the_grid_tolerance_snaps_to_flat():
    # qty_step 1: a fill of 1e-9 units is 1e-9 steps from 0, exactly the tolerance: the position
    # stays flat; 2e-9 units is beyond it and is kept as it is
    m = pm(qty_step="1")
    m.on_fill("X", "buy", 1e-9, 100.0, 0.0, 0)
    p = m.position("X")
    assert p.qty == 0.0 and math.isnan(p.avg_price) and p.entry_ts_ns is None and p.n_fills == 1
    m.on_fill("Y", "buy", 2e-9, 100.0, 0.0, 0)
    assert m.position("Y").qty == 2e-9


def test_positions_carry_their_symbol():
    m = pm()
    m.on_fill("BTCUSDT", "buy", 1.0, 100.0, 0.0, 0)
    assert m.positions["BTCUSDT"].symbol == "BTCUSDT" and m.position("BTCUSDT").symbol == "BTCUSDT"


def test_vol_target_edges():
    # window a quarter day: daily = 2 * vol_bps
    m = pm(sizing="vol_target", vol_window_ns=NS_PER_DAY // 4, max_notional=1e9)
    # zero equity and zero volatility: 0, not the cap
    assert m.target_qty(Signal.LONG, 100.0, 0.0, vol_bps=0.0) == 0.0
    # daily vol 0.5 bps (below 1): 1 * 100 / 0.5 = 200 notional at 100 -> 2 units
    assert m.target_qty(Signal.LONG, 100.0, 1.0, vol_bps=0.25) == 2.0
