"""Instrument specification: the grid on which prices and sizes live."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from ofi.errors import InvalidInputError

__all__ = ["InstrumentSpec", "parse_step"]


def parse_step(value: str | float | int | Decimal, name: str) -> Decimal:
    """Return a positive decimal step (tick size, quantity step) from a string, int, float or Decimal.

    Floats are read through their shortest repr (``0.1`` is the decimal 0.1), so ``tick_size=0.1``
    means what the user wrote.

    Raises
    ------
    InvalidInputError
        If the value is not a finite positive number.
    """
    if isinstance(value, bool):
        raise InvalidInputError(f"{name} must be a positive number, got {value!r}")
    try:
        if isinstance(value, float):
            d = Decimal(repr(value))
        else:
            d = Decimal(value) if isinstance(value, (int, Decimal)) else Decimal(str(value).strip())
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a positive decimal number, got {value!r}") from None
    if not d.is_finite() or d <= 0:
        raise InvalidInputError(f"{name} must be a finite positive number, got {value!r}")
    d = d.normalize()
    # The core represents a step as an integer mantissa times 10**-scale, both bounded.
    sign, digits, exponent = d.as_tuple()
    if len(digits) > 15 or exponent < -18 or exponent > 15:
        raise InvalidInputError(
            f"{name}={value!r} is outside the supported range (at most 15 significant digits, "
            f"scale between 1e-18 and 1e15)"
        )
    return d


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """Tick size, quantity step and minimum order size of one instrument.

    Parameters
    ----------
    symbol : str
        Exchange symbol, e.g. ``"BTCUSDT"``.
    tick_size : str, float or Decimal
        Price grid. Prices are stored as int64 multiples of it; a price off the grid is an error.
    qty_step : str, float or Decimal, optional
        Quantity grid (``qtyStep`` for derivatives, ``basePrecision`` for spot). Default 0.001.
    min_order_qty : str, float or Decimal, optional
        Smallest order size the exchange accepts. Default: ``qty_step``.
    category : str
        ``"linear"``, ``"inverse"``, ``"spot"`` or ``"option"``.

    Later filled from ``GET /v5/market/instruments-info`` (``priceFilter.tickSize``,
    ``lotSizeFilter.qtyStep`` / ``basePrecision``, ``lotSizeFilter.minOrderQty``).
    """

    symbol: str
    tick_size: Decimal
    qty_step: Decimal = field(default=Decimal("0.001"))
    min_order_qty: Decimal | None = None
    category: str = "linear"

    def __post_init__(self) -> None:
        if not isinstance(self.symbol, str) or not self.symbol:
            raise InvalidInputError(f"symbol must be a non-empty string, got {self.symbol!r}")
        if self.category not in ("linear", "inverse", "spot", "option"):
            raise InvalidInputError(
                f"category must be one of linear, inverse, spot, option; got {self.category!r}"
            )
        object.__setattr__(self, "tick_size", parse_step(self.tick_size, "tick_size"))
        object.__setattr__(self, "qty_step", parse_step(self.qty_step, "qty_step"))
        moq = self.qty_step if self.min_order_qty is None else parse_step(self.min_order_qty, "min_order_qty")
        object.__setattr__(self, "min_order_qty", moq)

    @classmethod
    def from_instruments_info(cls, item: dict, category: str = "linear") -> "InstrumentSpec":
        """Build a spec from one ``result.list`` item of ``/v5/market/instruments-info``."""
        try:
            symbol = item["symbol"]
            tick = item["priceFilter"]["tickSize"]
            lot = item["lotSizeFilter"]
        except (KeyError, TypeError) as exc:
            raise InvalidInputError(f"instruments-info item lacks {exc}: {item!r:.200}") from None
        step = lot.get("qtyStep") or lot.get("basePrecision")
        if step is None:
            raise InvalidInputError(f"instruments-info item for {symbol} has neither qtyStep nor basePrecision")
        return cls(symbol, tick, step, lot.get("minOrderQty"), category)

    def price_to_ticks(self, price: str | float | Decimal) -> int:
        """Exact conversion of a price to integer ticks; raises if the price is off the grid."""
        try:
            d = Decimal(repr(price)) if isinstance(price, float) else Decimal(str(price))
        except (InvalidOperation, ValueError):
            raise InvalidInputError(f"price must be a decimal number, got {price!r}") from None
        q = d / self.tick_size
        if not q.is_finite() or q != q.to_integral_value():
            raise InvalidInputError(
                f"price {price!r} is not a multiple of tick_size {self.tick_size} for {self.symbol}"
            )
        return int(q)

    def ticks_to_price(self, ticks: int) -> float:
        """Float price of an integer tick count (correctly rounded, as ``float(str(price))``)."""
        return float(Decimal(int(ticks)) * self.tick_size)
