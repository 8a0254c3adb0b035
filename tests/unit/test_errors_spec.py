"""Error hierarchy and the instrument spec."""
from decimal import Decimal

import pytest

from ofi import InstrumentSpec
from ofi.errors import (AuthenticationError, BookIntegrityError, ExchangeError, InvalidInputError, OfiError,
                        RateLimitError, SequenceGapError)


@pytest.mark.parametrize("cls,builtin", [(InvalidInputError, ValueError), (BookIntegrityError, RuntimeError),
                                         (SequenceGapError, RuntimeError), (ExchangeError, RuntimeError)])
def test_each_error_is_both_ofi_and_builtin(cls, builtin):
    with pytest.raises(OfiError):
        raise cls("x")
    with pytest.raises(builtin):
        raise cls("x")


def test_exchange_error_family_carries_fields():
    err = RateLimitError("slow down", status=429, ret_code=10006, ret_msg="Too many visits", endpoint="/v5/x")
    assert isinstance(err, ExchangeError) and (err.status, err.ret_code, err.endpoint) == (429, 10006, "/v5/x")
    assert issubclass(AuthenticationError, ExchangeError)
    gap = SequenceGapError("gap", expected=11, received=13)
    assert (gap.expected, gap.received) == (11, 13)


@pytest.mark.parametrize("tick", ["0.1", 0.1, Decimal("0.10"), "1e-1"])
def test_tick_size_forms_mean_the_same_decimal(tick):
    assert InstrumentSpec("BTCUSDT", tick).tick_size == Decimal("0.1")


@pytest.mark.parametrize("bad", [0, -1, "abc", None, float("nan"), float("inf"), True, "1e-30"])
def test_bad_tick_size_is_rejected_with_its_name(bad):
    with pytest.raises(InvalidInputError, match="tick_size"):
        InstrumentSpec("BTCUSDT", bad)


def test_price_ticks_are_exact_and_off_grid_is_an_error():
    spec = InstrumentSpec("BTCUSDT", "0.5")
    assert spec.price_to_ticks("60000.5") == 120001
    assert spec.price_to_ticks("60000.50") == 120001
    assert spec.ticks_to_price(120001) == 60000.5
    with pytest.raises(InvalidInputError, match="not a multiple"):
        spec.price_to_ticks("60000.2")


def test_from_instruments_info_reads_linear_and_spot_items():
    linear = {"symbol": "BTCUSDT", "priceFilter": {"tickSize": "0.10"},
              "lotSizeFilter": {"qtyStep": "0.001", "minOrderQty": "0.001"}}
    spot = {"symbol": "BTCUSDT", "priceFilter": {"tickSize": "0.01"},
            "lotSizeFilter": {"basePrecision": "0.000001", "minOrderQty": "0.000048"}}
    a = InstrumentSpec.from_instruments_info(linear)
    b = InstrumentSpec.from_instruments_info(spot, category="spot")
    assert (a.tick_size, a.qty_step, a.min_order_qty) == (Decimal("0.1"), Decimal("0.001"), Decimal("0.001"))
    assert (b.qty_step, b.min_order_qty, b.category) == (Decimal("0.000001"), Decimal("0.000048"), "spot")
    with pytest.raises(InvalidInputError, match="priceFilter"):
        InstrumentSpec.from_instruments_info({"symbol": "X"})
