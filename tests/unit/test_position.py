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
