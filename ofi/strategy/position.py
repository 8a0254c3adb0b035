"""Positions: netting of fills per symbol, sizing, and the risk exits (stop-loss, take-profit,
holding time, daily loss). Rules and boundaries: :class:`PositionManager` and docs/strategy.md."""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from ofi.errors import InvalidInputError
from ofi.validation import NS_PER_DAY
from ofi.spec import InstrumentSpec, parse_step
from ofi.strategy.signals import Signal, _int, _number, _real

__all__ = ["Position", "PositionConfig", "PositionManager", "SIZING_MODES", "NS_PER_DAY"]

#: Values of ``PositionConfig.sizing``.
SIZING_MODES = ("fixed", "fraction", "vol_target")
#: Nanoseconds in a UTC day (the daily-loss period).

# A quantity within this many steps below a grid point counts as on it (float noise such as
# 0.1 + 0.2 - 0.3 = 5.6e-17 must not leave a position open or round a size down by one step).
_GRID_TOL = 1e-9
# A price or PnL within this relative distance of a barrier counts as on it: the barrier
# avg * (1e4 - bps) and price * 1e4 are each rounded, and a price written at the barrier
# (99.5 for avg 100 and 50 bps) must trigger.
_BARRIER_TOL = 1e-12


@dataclass(frozen=True, slots=True)
class PositionConfig:
    """Sizing and risk limits of :class:`PositionManager` (validated on construction).

    Parameters
    ----------
    sizing : {"fraction", "fixed", "vol_target"}
        How :meth:`PositionManager.target_qty` sizes a new position. Default ``"fraction"``.
    qty : float, optional
        Base-unit quantity per position for ``sizing="fixed"`` (required there, > 0).
    fraction : float
        For ``"fraction"``: notional = ``fraction * equity`` (> 0; above 1 means leverage). Default 0.1.
    target_vol_bps : float
        For ``"vol_target"``: the daily volatility of equity aimed at, bps of equity (> 0). Default 100.
    vol_window_ns : int
        For ``"vol_target"``: the window over which the ``vol_bps`` passed to ``target_qty`` is
        measured; it is scaled to a day by sqrt(day / window). Default 60 s (``realized_vol_1m``).
    max_notional : float, optional
        Cap on a position's notional (price units of the quote currency), all modes; required for
        ``"vol_target"`` (a volatility of 0 sizes to the cap).
    qty_step : str, float or Decimal
        Quantity grid: sizes are rounded down to a multiple of it. Default 0.001.
    min_qty : str, float or Decimal, optional
        Smallest size (after rounding) worth an order; smaller sizes become 0. Default ``qty_step``.
    stop_loss_bps, take_profit_bps : float, optional
        Exit distances from the average entry price, bps (> 0). None turns the exit off.
    max_holding_ns : int, optional
        Exit a position this many ns after it was opened (> 0). None turns it off.
    max_daily_loss : float, optional
        Stop trading for the rest of the UTC day when the day's PnL falls below ``-max_daily_loss``
        (quote currency, > 0). None turns it off.
    flat_at_end : bool
        Whether a backtest closes every position at its end. Default True.

    Raises
    ------
    InvalidInputError
        If a value is of the wrong type or out of range, or a mode lacks what it needs.
    """

    sizing: str = "fraction"
    qty: float | None = None
    fraction: float = 0.1
    target_vol_bps: float = 100.0
    vol_window_ns: int = 60_000_000_000
    max_notional: float | None = None
    qty_step: Any = Decimal("0.001")
    min_qty: Any = None
    stop_loss_bps: float | None = None
    take_profit_bps: float | None = None
    max_holding_ns: int | None = None
    max_daily_loss: float | None = None
    flat_at_end: bool = True

    def __post_init__(self) -> None:
        s = object.__setattr__
        if self.sizing not in SIZING_MODES:
            raise InvalidInputError(f"sizing must be one of {', '.join(SIZING_MODES)}; got {self.sizing!r}")
        if self.qty is not None:
            s(self, "qty", _real(self.qty, "qty", lo=0.0, lo_open=True))
        elif self.sizing == "fixed":
            raise InvalidInputError("qty is required with sizing='fixed' (base units per position), got None")
        s(self, "fraction", _real(self.fraction, "fraction", lo=0.0, lo_open=True))
        s(self, "target_vol_bps", _real(self.target_vol_bps, "target_vol_bps", lo=0.0, lo_open=True))
        s(self, "vol_window_ns", _int(self.vol_window_ns, "vol_window_ns", lo=1))
        if self.max_notional is not None:
            s(self, "max_notional", _real(self.max_notional, "max_notional", lo=0.0, lo_open=True))
        elif self.sizing == "vol_target":
            raise InvalidInputError("max_notional is required with sizing='vol_target' (the size at zero "
                                    "volatility), got None")
        s(self, "qty_step", parse_step(self.qty_step, "qty_step"))
        s(self, "min_qty", self.qty_step if self.min_qty is None else parse_step(self.min_qty, "min_qty"))
        for name in ("stop_loss_bps", "take_profit_bps", "max_daily_loss"):
            v = getattr(self, name)
            if v is not None:
                s(self, name, _real(v, name, lo=0.0, lo_open=True))
        if self.max_holding_ns is not None:
            s(self, "max_holding_ns", _int(self.max_holding_ns, "max_holding_ns", lo=1))
        if not isinstance(self.flat_at_end, bool):
            raise InvalidInputError(f"flat_at_end must be True or False, got {self.flat_at_end!r}")

    @classmethod
    def from_spec(cls, spec: InstrumentSpec, **kwargs: Any) -> "PositionConfig":
        """A config whose ``qty_step`` and ``min_qty`` are the instrument's (``qtyStep``,
        ``minOrderQty``); other fields from ``kwargs``."""
        if not isinstance(spec, InstrumentSpec):
            raise InvalidInputError(f"spec must be an InstrumentSpec, got {type(spec).__name__}")
        return cls(qty_step=spec.qty_step, min_qty=spec.min_order_qty, **kwargs)


@dataclass(frozen=True, slots=True)
class Position:
    """The net position in one symbol (a snapshot: each fill makes a new one).

    Attributes
    ----------
    symbol : str
    qty : float
        Signed quantity, base units (> 0 long, < 0 short, 0 flat).
    avg_price : float
        Average entry price of the open quantity; NaN when flat.
    realized_pnl : float
        PnL realized by reducing fills since the manager started, gross of fees (quote currency).
    fees : float
        Fees paid (negative for rebates), quote currency.
    entry_ts_ns : int or None
        When the open position was opened (from flat, or by crossing zero); None when flat.
    n_fills : int
    """

    symbol: str
    qty: float = 0.0
    avg_price: float = math.nan
    realized_pnl: float = 0.0
    fees: float = 0.0
    entry_ts_ns: int | None = None
    n_fills: int = 0

    @property
    def side(self) -> int:
        """+1 long, -1 short, 0 flat."""
        return (self.qty > 0.0) - (self.qty < 0.0)

    @property
    def net_realized_pnl(self) -> float:
        """``realized_pnl - fees``."""
        return self.realized_pnl - self.fees

    def unrealized_pnl(self, price: float) -> float:
        """``qty * (price - avg_price)``; 0 when flat."""
        return self.qty * (price - self.avg_price) if self.qty != 0.0 else 0.0


class PositionManager:
    """Net positions per symbol, sizes for new positions, and the risk exits.

    Parameters
    ----------
    config : PositionConfig, optional
        ``PositionConfig()`` when omitted.

    Notes
    -----
    **Netting** (:meth:`on_fill`): a fill on the side of the position (or from flat) adds to it
    and re-averages the entry price, ``avg = (|q| avg + qty price) / (|q| + qty)``; a fill on the
    other side realizes ``min(qty, |q|) (price - avg) sign(q)`` and leaves ``avg`` unchanged;
    if it crosses zero the rest opens a new position at the fill price, stamped with the fill's
    time. Fees accumulate apart from the realized PnL. So after any fills, for any price ``p``,
    ``realized + q (p - avg) = sum over fills of -signed_qty * price + q p``.

    **Exits** (:meth:`exit_reason`, first that applies): ``"daily_loss"`` while trading is
    halted; ``"stop_loss"`` when ``price <= avg (1 - sl / 1e4)`` for a long (``>= avg (1 + sl /
    1e4)`` for a short); ``"take_profit"`` when ``price >= avg (1 + tp / 1e4)`` (short: ``<=
    avg (1 - tp / 1e4)``); ``"max_holding_time"`` when ``ts_ns - entry_ts_ns >= max_holding_ns``.
    Every boundary triggers: ``price * 1e4`` is compared with ``avg * (1e4 +- bps)``, and a price
    within a relative 1e-12 of the barrier counts as on it (both sides are rounded floats).

    **Daily loss**: the day's PnL is ``total_pnl`` (realized - fees + unrealized at the latest
    prices, all symbols) minus its value at the start of the UTC day, taken at the first call
    (``on_fill``, ``exit_reason``, ``mark``, ``can_open``) stamped in that day, before that call's
    own price or fill counts. When it is strictly below ``-max_daily_loss`` (by more than a
    relative 1e-12, float noise), trading halts until
    the next UTC day: :meth:`can_open` is False and every open position gets ``"daily_loss"``.
    The manager records fills whatever its state; the caller asks ``can_open`` before opening.

    Quantities from :meth:`target_qty` are rounded down to ``qty_step`` and are 0 below ``min_qty``.
    Times must not go back to an earlier UTC day.
    """

    def __init__(self, config: PositionConfig | None = None):
        if config is None:
            config = PositionConfig()
        elif not isinstance(config, PositionConfig):
            raise InvalidInputError(f"config must be a PositionConfig, got {type(config).__name__}")
        self.config = config
        self._step_d: Decimal = config.qty_step
        self._step = float(config.qty_step)
        self._min = float(config.min_qty)
        c = config
        up, down = 1.0 + _BARRIER_TOL, 1.0 - _BARRIER_TOL
        # (long barrier factor, short barrier factor), tolerance towards triggering
        self._sl = None if c.stop_loss_bps is None else ((1e4 - c.stop_loss_bps) * up, (1e4 + c.stop_loss_bps) * down)
        self._tp = None if c.take_profit_bps is None else ((1e4 + c.take_profit_bps) * down,
                                                           (1e4 - c.take_profit_bps) * up)
        self.reset()

    def reset(self) -> None:
        """Forget every position, price and the daily state."""
        self._pos: dict[str, Position] = {}
        self._marks: dict[str, float] = {}
        self._day: int | None = None
        self._day_start = 0.0
        self._halted = False

    # ---- state
    @property
    def positions(self) -> dict[str, Position]:
        """Symbol -> :class:`Position` (a copy; flat positions stay, with their realized PnL)."""
        return dict(self._pos)

    @property
    def flat_at_end(self) -> bool:
        """Whether a backtest closes every position at its end (``config.flat_at_end``)."""
        return self.config.flat_at_end

    @property
    def marks(self) -> dict[str, float]:
        """Symbol -> latest price seen (fills, ``exit_reason``, ``mark``)."""
        return dict(self._marks)

    @property
    def halted(self) -> bool:
        """True while trading is halted by the daily loss (until the next UTC day)."""
        return self._halted

    def position(self, symbol: str) -> Position:
        """The position in ``symbol`` (a flat one if never traded)."""
        symbol = _symbol(symbol)
        return self._pos.get(symbol) or Position(symbol)

    def realized_pnl(self) -> float:
        """Realized PnL over all symbols, gross of fees."""
        return sum(p.realized_pnl for p in self._pos.values())

    def fees(self) -> float:
        """Fees paid over all symbols."""
        return sum(p.fees for p in self._pos.values())

    def unrealized_pnl(self) -> float:
        """Unrealized PnL over all symbols at their latest prices."""
        return sum(p.unrealized_pnl(self._marks[s]) for s, p in self._pos.items() if p.qty != 0.0)

    def total_pnl(self) -> float:
        """``realized_pnl() - fees() + unrealized_pnl()``."""
        return self.realized_pnl() - self.fees() + self.unrealized_pnl()

    def day_pnl(self) -> float:
        """``total_pnl()`` minus its value at the start of the current UTC day (0 before any call)."""
        return self.total_pnl() - self._day_start

    # ---- events
    def mark(self, symbol: str, price: float, ts_ns: int) -> None:
        """Record the latest price of ``symbol`` (for unrealized and daily PnL) at ``ts_ns``."""
        symbol, price, ts_ns = _symbol(symbol), _price(price), _ts(ts_ns)
        self._roll(ts_ns)
        self._marks[symbol] = price
        self._check_loss()

    def on_fill(self, symbol: str, side: Any, qty: float, price: float, fee: float, ts_ns: int) -> float:
        """Net one fill into the position of ``symbol`` (rules: class notes).

        Parameters
        ----------
        symbol : str
        side : "buy" / "sell" (any case), or +1 / -1
        qty : float
            Filled quantity, base units, > 0.
        price : float
            Fill price, > 0.
        fee : float
            Fee paid, quote currency (negative for a rebate).
        ts_ns : int
            Fill time, ns since the epoch (UTC).

        Returns
        -------
        float
            The PnL this fill realized, gross of its fee.

        Raises
        ------
        InvalidInputError
            If an argument is malformed or out of range, or ``ts_ns`` is in an earlier UTC day.
        """
        symbol = _symbol(symbol)
        sgn = _side(side)
        qty = _real(qty, "qty", lo=0.0, lo_open=True)
        price = _price(price)
        fee = _real(fee, "fee")
        ts_ns = _ts(ts_ns)
        self._roll(ts_ns)
        p = self._pos.get(symbol) or Position(symbol)
        old = p.qty
        new = self._snap(old + sgn * qty)
        realized = 0.0
        avg, entry = p.avg_price, p.entry_ts_ns
        if old == 0.0:
            avg, entry = price, ts_ns
        elif (old > 0.0) == (sgn > 0):
            a = abs(old)
            avg = (a * p.avg_price + qty * price) / (a + qty)
        else:
            realized = min(qty, abs(old)) * (price - p.avg_price) * (1.0 if old > 0.0 else -1.0)
            if new != 0.0 and (new > 0.0) != (old > 0.0):
                avg, entry = price, ts_ns
        if new == 0.0:
            avg, entry = math.nan, None
        self._pos[symbol] = replace(p, qty=new, avg_price=avg, realized_pnl=p.realized_pnl + realized,
                                    fees=p.fees + fee, entry_ts_ns=entry, n_fills=p.n_fills + 1)
        self._marks[symbol] = price
        self._check_loss()
        return realized

    def exit_reason(self, symbol: str, price: float, ts_ns: int) -> str | None:
        """Why the position in ``symbol`` must be closed now at ``price``, or None.

        Also records ``price`` as the latest price of ``symbol``.

        Returns
        -------
        {"daily_loss", "stop_loss", "take_profit", "max_holding_time"} or None
            The first that applies, in this order (class notes); None when flat.

        Raises
        ------
        InvalidInputError
            If ``price`` is not a finite number > 0 or ``ts_ns`` is in an earlier UTC day.
        """
        symbol, price, ts_ns = _symbol(symbol), _price(price), _ts(ts_ns)
        self._roll(ts_ns)
        self._marks[symbol] = price
        self._check_loss()
        p = self._pos.get(symbol)
        if p is None or p.qty == 0.0:
            return None
        if self._halted:
            return "daily_loss"
        x, avg, long = price * 1e4, p.avg_price, p.qty > 0.0
        if self._sl is not None and (x <= avg * self._sl[0] if long else x >= avg * self._sl[1]):
            return "stop_loss"
        if self._tp is not None and (x >= avg * self._tp[0] if long else x <= avg * self._tp[1]):
            return "take_profit"
        mh = self.config.max_holding_ns
        if mh is not None and p.entry_ts_ns is not None and ts_ns - p.entry_ts_ns >= mh:
            return "max_holding_time"
        return None

    def can_open(self, ts_ns: int) -> bool:
        """Whether a new position may be opened at ``ts_ns`` (False while the daily loss halts trading)."""
        self._roll(_ts(ts_ns))
        self._check_loss()
        return not self._halted

    # ---- sizing
    def target_qty(self, signal: Any, price: float, equity: float, vol_bps: float | None = None) -> float | None:
        """The signed position to hold after ``signal``.

        Parameters
        ----------
        signal : Signal or int
            LONG gives ``+size``, SHORT ``-size``, CLOSE ``0.0``, HOLD None (keep what is held).
        price : float
            Price the position would be opened at (> 0).
        equity : float
            Account equity, quote currency. ``"fixed"`` sizing ignores its value; at or below 0
            the other modes size 0.
        vol_bps : float, optional
            Volatility over ``config.vol_window_ns``, bps (e.g. the ``realized_vol_1m`` feature);
            required for ``"vol_target"``, where NaN (not warm) sizes 0.

        Returns
        -------
        float or None
            ``size`` is, by ``config.sizing``: ``qty``; ``fraction * equity / price``; or
            ``equity * target_vol_bps / (vol_bps * sqrt(NS_PER_DAY / vol_window_ns)) / price``.
            It is capped at ``max_notional / price``, rounded down to ``qty_step``, and 0 below
            ``min_qty``.

        Raises
        ------
        InvalidInputError
            If ``signal`` is not a Signal, ``price`` is not finite and > 0, ``equity`` is not
            finite, or ``vol_bps`` is missing or negative in ``"vol_target"`` mode.
        """
        try:
            sig = Signal(signal)
        except ValueError:
            raise InvalidInputError(f"signal must be a Signal (LONG, SHORT, HOLD, CLOSE), got {signal!r}") from None
        price = _price(price)
        equity = _real(equity, "equity")
        if sig is Signal.HOLD:
            return None
        if sig is Signal.CLOSE:
            return 0.0
        c = self.config
        if c.sizing == "fixed":
            size = c.qty
        elif c.sizing == "fraction":
            size = c.fraction * equity / price if equity > 0.0 else 0.0
        else:
            if vol_bps is None:
                raise InvalidInputError("vol_bps is required with sizing='vol_target' (e.g. the realized_vol_1m "
                                        "feature), got None")
            vol = _number(vol_bps, "vol_bps")
            if vol < 0.0:
                raise InvalidInputError(f"vol_bps must be >= 0 (or NaN when not warm), got {vol_bps!r}")
            if math.isnan(vol) or equity <= 0.0:
                size = 0.0
            else:
                daily = vol * math.sqrt(NS_PER_DAY / c.vol_window_ns)
                size = equity * c.target_vol_bps / daily / price if daily > 0.0 else math.inf
        if c.max_notional is not None:
            size = min(size, c.max_notional / price)
        size = self.round_qty(size)
        return size if sig is Signal.LONG else (-size if size else 0.0)

    def round_qty(self, qty: float) -> float:
        """``qty`` (>= 0) rounded down to ``qty_step``; 0.0 when the result is below ``min_qty``."""
        q = _real(qty, "qty", lo=0.0, allow_inf=True)
        if math.isinf(q):
            raise InvalidInputError("qty is infinite: set max_notional to cap the size")
        n = math.floor(q / self._step + _GRID_TOL)
        out = float(Decimal(n) * self._step_d)
        return out if out >= self._min and out > 0.0 else 0.0

    # ---- internals
    def _snap(self, q: float) -> float:
        n = round(q / self._step)
        if abs(q / self._step - n) <= _GRID_TOL:
            return float(Decimal(n) * self._step_d) if n else 0.0
        return q

    def _roll(self, ts_ns: int) -> None:
        day = ts_ns // NS_PER_DAY
        if self._day is None or day > self._day:
            self._day = day
            self._day_start = self.total_pnl()
            self._halted = False
        elif day < self._day:
            raise InvalidInputError(f"ts_ns={ts_ns} is in an earlier UTC day than a previous call (day "
                                    f"{self._day} since the epoch): time must not go backwards")

    def _check_loss(self) -> None:
        lim = self.config.max_daily_loss
        if lim is not None and not self._halted and self.total_pnl() - self._day_start < -lim * (1.0 + _BARRIER_TOL):
            self._halted = True


def _symbol(symbol: Any) -> str:
    if not isinstance(symbol, str) or not symbol:
        raise InvalidInputError(f"symbol must be a non-empty string, got {symbol!r}")
    return symbol


def _side(side: Any) -> int:
    if isinstance(side, str):
        s = side.strip().lower()
        if s in ("buy", "sell"):
            return 1 if s == "buy" else -1
    elif not isinstance(side, bool) and isinstance(side, numbers.Integral) and side in (1, -1):
        return int(side)
    raise InvalidInputError(f"side must be 'buy' or 'sell' (or +1 / -1), got {side!r}")


def _price(price: Any) -> float:
    return _real(price, "price", lo=0.0, lo_open=True)


def _ts(ts_ns: Any) -> int:
    if isinstance(ts_ns, bool) or not isinstance(ts_ns, numbers.Integral):
        raise InvalidInputError(f"ts_ns must be an integer (ns since the epoch), got {ts_ns!r}")
    return int(ts_ns)
