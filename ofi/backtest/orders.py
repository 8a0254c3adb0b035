"""Orders and fills of the backtester's exchange simulator (``ofi.backtest.engine``).

An :class:`Order` is the exchange's record of one order, changed as it arrives, rests and fills; a
:class:`Fill` is one execution as the strategy hears of it (``Strategy.on_fill``), never changed.
Sides are ``BUY`` (+1) and ``SELL`` (-1) throughout, as in the result's ``fills["side"]``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["BUY", "SELL", "Order", "Fill"]

BUY, SELL = 1, -1


@dataclass
class Order:
    """One order as the exchange simulator keeps it.

    Attributes
    ----------
    id : int
        1, 2, ... in sending order (what ``Context.buy`` / ``sell`` return).
    side : int
        ``BUY`` (+1) or ``SELL`` (-1).
    qty : float
        Quantity sent, base units (> 1e-12, the engine's quantity resolution).
    price_ticks : int or None
        Limit price in ticks; None for a market order.
    sent_ns, arrive_ns : int
        Strategy clock when sent; exchange clock when it arrives (sent + order latency).
    remaining : float
        Quantity not filled yet.
    status : str
        ``"pending"`` (on its way) -> ``"resting"`` (a limit order in the book) or a final status:
        ``"filled"``, ``"cancelled"`` (by the strategy, or the unfilled rest of a market order),
        ``"rejected"`` (no exchange book, daily-loss halt, leverage limit) or ``"expired"`` (it would
        arrive after the end of the data).
    queue_ahead : float
        Resting orders: visible size still ahead of this one at its price.
    level_size : float
        Resting orders: visible size at its price when last looked at.
    reason : str
        Why it was sent or settled when the engine knows (``"risk"``, ``"flat_at_end"``,
        ``"leverage limit"``, ...); empty otherwise.
    """

    id: int
    side: int
    qty: float
    price_ticks: int | None
    sent_ns: int
    arrive_ns: int
    remaining: float = 0.0
    status: str = "pending"
    queue_ahead: float = 0.0
    level_size: float = 0.0
    reason: str = ""


class Fill(NamedTuple):
    """One execution, partial or not, as the strategy hears of it (immutable; a named tuple,
    which costs a third of a frozen dataclass to make).

    Attributes
    ----------
    order_id : int
    ts_ns : int
        Exchange time of the fill (the strategy hears of it one feed latency later).
    side : int
        ``BUY`` (+1) or ``SELL`` (-1).
    price : float
        Price paid, slippage included (quote currency).
    qty : float
        Base units, > 0.
    fee : float
        Quote currency; negative for a maker rebate.
    maker : bool
        A resting order's fill (maker fee) rather than taken liquidity (taker fee).
    position_after : float
        The exchange's position once the fill is booked.
    """

    order_id: int
    ts_ns: int
    side: int
    price: float
    qty: float
    fee: float
    maker: bool
    position_after: float
