"""The event-driven backtester: one exchange, one strategy, latency between them.

Two books are replayed from the same tape. The *exchange* book applies each event at its exchange
time, though never before the event was received (the simulator knows what a live system would
know, so paper trading over the same frames gives the same run); the *strategy's* book applies it
when the event reaches the strategy (its local receive time plus the feed latency). Orders leave the strategy at its clock and reach the exchange one order
latency later, where they meet the exchange book as it is at that moment: liquidity that arrives
after an order's arrival is never used by it, and the strategy never sees a book it could not
have seen live. Fills reach the strategy one feed latency after they happen.

The event loop that merges these clocks is compiled (``ofi._core.backtest.EventLoop``): it applies
book messages to both books, records mids and equity rows, and calls the strategy's callbacks (the
built-in ``ModelStrategy``'s compiled decisions directly). Everything an order touches (arrivals,
cancels, fills, resting orders, risk) stays here, behind the loop's narrow interface
(``ofi._core.backtest.LoopHost``, implemented by :class:`_Host`): the loop reads the account and
a few flags from the host's typed fields and calls four methods when there is work.

Fill model
----------
* Market orders (and the marketable part of a limit order) walk the visible exchange book from
  the best level, level by level, and pay ``slippage_bps`` on top of each level's price. What the
  book does not show is not filled (immediate-or-cancel): a large order fills partially. Liquidity
  taken by our own orders is not offered again until the next book message.
* A resting limit order joins the queue behind the size visible at its price when it arrives.
  Trades at its price consume the queue ahead first, then the order; a trade through its price
  (a sell below a resting bid) fills it completely; a book that crosses it (an ask at or below a
  resting bid) fills it completely. When the visible size at its price shrinks by more than the
  trades there explain, the cancellations advance the queue by ``queue_cancel_share`` of the
  decrease (``"proportional"``: the share of the level that is ahead of us).
* Fees: taker fee on taken liquidity, maker fee on resting fills (Bybit's non-VIP derivatives
  rates by default: 0.055 % and 0.02 %). Every fill, partial or not, updates cash and position.

Accounting
----------
Linear contracts: buying q at p costs q p + fee, selling brings q p - fee; equity = cash +
position * exchange mid. A round trip runs from a flat position back to flat (a reversal closes
one and opens the next at the same fill); its net PnL is the sum of its cash flows. Summed over
round trips this is the net PnL once flat.
"""
from __future__ import annotations

import heapq
import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from ofi._core.backtest import EventLoop, LoopHost
from ofi._core.book import OrderBook
from ofi.backtest.latency import as_latency
from ofi.backtest.orders import BUY, SELL, Fill, Order
from ofi._core.events import TAPE_DTYPE, TAPE_FLAG_BEGIN as FLAG_BEGIN, TAPE_KIND_BOOK as KIND_BOOK, TAPE_KIND_TRADE as KIND_TRADE
from ofi.validation import check_tape as _check_tape
from ofi.errors import InvalidInputError
from ofi._core.events import Trade
from ofi.metrics.trading import TradingMetrics, markouts
from ofi.validation import NS_PER_DAY
from ofi.validation import positive_int

__all__ = ["BacktestConfig", "BacktestEngine", "Strategy", "Context", "Fill", "Order"]


@dataclass(frozen=True)
class BacktestConfig:
    """Settings of a backtest.

    Parameters
    ----------
    initial_capital : float
        Starting cash (quote currency).
    position_size : float
        Default order quantity (base units) for strategies that do not size their own orders.
    commission_rate : float, optional
        One fee rate for both maker and taker fills (the original design's single rate); when
        None, ``maker_fee`` and ``taker_fee`` apply.
    maker_fee, taker_fee : float
        Fee rates (Bybit non-VIP derivatives: 0.0002 and 0.00055). Negative maker fees (rebates)
        are allowed.
    slippage_bps : float
        Paid on top of the visible price of every taken level.
    max_holding_time : int, optional
        Nanoseconds; a position open longer is closed at market by the engine.
    max_daily_loss : float, optional
        Quote currency; when the UTC day's PnL falls below minus this, the engine closes the
        position and refuses new orders until the next UTC day.
    max_leverage : float, optional
        An order that would take the position's notional (at the exchange mid, counting resting
        orders on the same side) above this many times the equity is rejected when it arrives;
        orders that reduce the position always pass.
    feed_latency, order_latency, cancel_latency : Latency or int ns
        Extra delay from exchange to strategy (on top of the recorded receive time), from strategy
        to exchange for new orders, and for cancels.
    queue_cancel_share : "proportional" or float in [0, 1]
        How much of a level's unexplained decrease advances a resting order's queue.
    flat_at_end : bool
        Close any position at the end (at market, against the last exchange book).
    seed : int
        Seed of the latency draws.
    """

    initial_capital: float = 10_000.0
    position_size: float = 0.1
    commission_rate: float | None = None
    maker_fee: float = 0.0002
    taker_fee: float = 0.00055
    slippage_bps: float = 1.0
    max_holding_time: int | None = None
    max_daily_loss: float | None = None
    max_leverage: float | None = None
    feed_latency: Any = 0
    order_latency: Any = 0
    cancel_latency: Any = None
    queue_cancel_share: Any = "proportional"
    flat_at_end: bool = True
    seed: int = 0

    def __post_init__(self):
        s = object.__setattr__
        for name in ("initial_capital", "position_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not (0 < v < math.inf):
                raise InvalidInputError(f"BacktestConfig.{name} must be > 0, got {v!r}")
        for name in ("maker_fee", "taker_fee", "slippage_bps") + (("commission_rate",) if self.commission_rate is not None else ()):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not (-0.01 <= v < 1000):
                raise InvalidInputError(f"BacktestConfig.{name} must be a finite rate, got {v!r}")
        if self.slippage_bps < 0:
            raise InvalidInputError(f"BacktestConfig.slippage_bps must be >= 0, got {self.slippage_bps!r}")
        for name in ("max_holding_time", "max_daily_loss", "max_leverage"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Real) or not v > 0):
                raise InvalidInputError(f"BacktestConfig.{name} must be > 0 or None, got {v!r}")
        s(self, "feed_latency", as_latency("feed_latency", self.feed_latency))
        s(self, "order_latency", as_latency("order_latency", self.order_latency))
        s(self, "cancel_latency", self.order_latency if self.cancel_latency is None
          else as_latency("cancel_latency", self.cancel_latency))
        q = self.queue_cancel_share
        if q != "proportional" and (isinstance(q, bool) or not isinstance(q, numbers.Real) or not 0 <= q <= 1):
            raise InvalidInputError(f"queue_cancel_share must be 'proportional' or in [0, 1], got {q!r}")

    @property
    def maker_rate(self) -> float:
        return self.maker_fee if self.commission_rate is None else self.commission_rate

    @property
    def taker_rate(self) -> float:
        return self.taker_fee if self.commission_rate is None else self.commission_rate

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for k in ("feed_latency", "order_latency", "cancel_latency"):
            d[k] = d[k].to_dict()
        return d


class Strategy:
    """Override the callbacks you need. Each gets the :class:`Context` and what arrived.

    ``flat_at_end``: set it True to have the engine close the position at the end of the data
    even with ``BacktestConfig(flat_at_end=False)`` (the position is closed when either asks).
    """

    flat_at_end: bool = False

    def on_start(self, ctx: "Context") -> None:
        pass

    def on_book(self, ctx: "Context", book: OrderBook) -> None:
        pass

    def on_trade(self, ctx: "Context", trade: Trade) -> None:
        pass

    def on_fill(self, ctx: "Context", fill: Fill) -> None:
        pass

    def on_finish(self, ctx: "Context") -> None:
        pass

    def _compiled_kernel(self):
        """(StrategyKernel, recording interval) when the event loop may call the strategy's
        compiled decisions directly instead of ``on_book`` / ``on_trade``; (None, 1) otherwise."""
        return None, 1


class Context:
    """What a strategy may see and do: its own (delayed) book, its clock, its account as last
    reported, and order entry. There is no handle on the exchange book or the future."""

    __slots__ = ("_eng", "book")

    def __init__(self, eng: "BacktestEngine", book: OrderBook):
        self._eng = eng
        self.book = book

    @property
    def now_ns(self) -> int:
        return self._eng._c.now_s

    @property
    def position(self) -> float:
        """Position as known to the strategy (fills it has been told about)."""
        return self._eng._host.position_seen

    @property
    def cash(self) -> float:
        return self._eng._host.cash_seen

    @property
    def equity(self) -> float:
        mid = self.book.mid_price() if self.book.ready else math.nan
        return self._eng._host.cash_seen + self._eng._host.position_seen * mid

    @property
    def open_orders(self) -> list[int]:
        return list(self._eng._open)

    @property
    def has_open_orders(self) -> bool:
        """Whether an order is pending or resting (``bool(open_orders)`` without the list)."""
        return bool(self._eng._open)

    @property
    def config(self) -> BacktestConfig:
        return self._eng.config

    def buy(self, qty: float | None = None, price: float | None = None) -> int:
        """Send a buy order (market when ``price`` is None) of ``qty``, by default the config's
        ``position_size``; returns its id."""
        return self._eng._send(BUY, self._eng.config.position_size if qty is None else qty, price)

    def sell(self, qty: float | None = None, price: float | None = None) -> int:
        """Send a sell order; as :meth:`buy`."""
        return self._eng._send(SELL, self._eng.config.position_size if qty is None else qty, price)

    def cancel(self, order_id: int) -> None:
        self._eng._cancel(order_id)

    def record(self, **values: float) -> None:
        """Add a row of named values, stamped with the strategy clock, to the result's ``series``
        (e.g. ``ctx.record(mid=..., ofi=..., vpin=...)`` for the report's charts)."""
        self._eng._record_series(values)

    def close_position(self) -> int | None:
        """Send a market order that flattens the known position (None when flat)."""
        p = self._eng._host.position_seen
        if abs(p) < 1e-12:
            return None
        return self._eng._send(SELL if p > 0 else BUY, abs(p), None)


class BacktestEngine:
    """Replay a tape through an exchange simulator and a strategy (see the module docstring)."""

    def __init__(self, config: BacktestConfig | None = None):
        if config is None:
            config = BacktestConfig()
        elif not isinstance(config, BacktestConfig):
            raise InvalidInputError(f"config must be a BacktestConfig, got {type(config).__name__}")
        self.config = config

    # ------------------------------------------------------------------ run
    def run(self, strategy: Strategy, tape: np.ndarray, tick_size: Any, *, symbol: str = "UNKNOWN",
            record_every: int = 1):
        """Run ``strategy`` over a tape; returns a :class:`~ofi.backtest.result.BacktestResult`.

        ``record_every``: an equity row every this many delivered book messages (1: every one)."""
        self._begin(strategy, tick_size, symbol, record_every)
        self._feed(_check_tape(tape))
        return self._end()

    # The run in three steps, so that paper trading can feed frames as they arrive and get, for
    # the same frames, exactly the backtest's result (ofi.backtest.paper).
    def _begin(self, strategy, tick_size, symbol, record_every):
        if not isinstance(strategy, Strategy):
            raise InvalidInputError(f"strategy must be an ofi.backtest.Strategy, got {type(strategy).__name__}")
        self._record_every = positive_int("record_every", record_every)
        self._setup(tick_size, symbol)
        self._strategy = strategy
        # per-event work only where it is needed: risk checks with limits set, Trade objects for a
        # strategy that reads trades
        self._host.risk_limits = self.config.max_holding_time is not None or self.config.max_daily_loss is not None
        wants_trades = type(strategy).on_trade is not Strategy.on_trade
        strategy.on_start(self._ctx)
        kernel, every = strategy._compiled_kernel()
        self._c.bind_strategy(self._ctx, strategy.on_book, strategy.on_trade, wants_trades, kernel,
                              strategy._after_kernel if kernel is not None else None, every)

    def _feed(self, chunk: np.ndarray) -> None:
        """Append tape rows (whole messages) and run everything they make due."""
        self._append(chunk)
        self._c.run()

    def _end(self):
        c = self._c
        c.drain_exchange()                      # events the strategy never saw still move the exchange
        self._finish()
        self._strategy.on_finish(self._ctx)
        c.record(max(c.now_s, c.now_x))
        return self._result()

    # ------------------------------------------------------------------ set-up
    def _setup(self, tick_size, symbol):
        cfg = self.config
        self._symbol = symbol
        self._xbook = OrderBook(symbol, tick_size)          # the exchange's
        self._sbook = OrderBook(symbol, tick_size)          # the strategy's view
        self._ctx = Context(self, self._sbook)
        self._rng = np.random.default_rng(cfg.seed)
        self._tape = np.zeros(0, dtype=TAPE_DTYPE)
        self._floor_tx = self._floor_tl = None   # running maxima of the clocks before the kept rows
        self._host = h = _Host(self)             # the account, and what the event loop reads
        h.cash = h.cash_seen = cfg.initial_capital
        self._orders: dict[int, Order] = {}
        self._open: dict[int, Order] = {}        # pending or resting, in sending order
        self._resting: list[Order] = []
        self._next_id = 1
        self._heap: list = []                # (time, priority, seq, kind, payload)
        self._seq = 0
        self._fills: list[Fill] = []
        self._taken: dict[tuple[int, int], float] = {}
        self._taken_at = 0                   # the exchange book message _taken is of
        self._trades: list[tuple] = []
        self._rt = None                      # the open round trip
        self._day = None
        self._day_start_equity = cfg.initial_capital
        self._mid_before = math.nan           # exchange mid at the last risk check
        self._halted_day = None
        self._price_cache: dict[int, float] = {}
        self._tm = TradingMetrics()
        self._series_rows: list[tuple] = []
        self._series_names: tuple = ()
        # The event loop (ofi/_core/backtest.pyx) owns the clocks, the event indexes and the
        # recordings; it sees the engine only through the host.
        self._c = EventLoop(h, self._xbook, self._sbook, cfg.feed_latency, self._rng, self._record_every)

    def _append(self, chunk: np.ndarray) -> None:
        # Keep only the rows of events not yet both applied and delivered, then add the chunk.
        c = self._c
        k0 = min(c.xi, c.si)
        if k0 > 0:
            self._floor_tx = int(self._ev_tx[k0 - 1])
            self._floor_tl = int(self._ev_tl[k0 - 1])
        row0 = int(self._ev[k0]) if k0 < c.n else len(self._tape)
        tape = np.concatenate([self._tape[row0:], chunk]) if row0 < len(self._tape) else np.ascontiguousarray(chunk)
        kind = tape["kind"]
        starts = np.flatnonzero(((kind == KIND_BOOK) & ((tape["flags"] & FLAG_BEGIN) != 0)) | (kind == KIND_TRADE))
        tx = tape["ts_exch"][starts]
        tl = tape["ts_local"][starts]
        tl = np.where(tl != 0, tl, tx)
        # clocks never go back: exchange time is the running maximum of the stamps, and an event
        # reaches the strategy no earlier than it happened
        if len(tx):
            if self._floor_tx is not None:
                tx = np.maximum(tx, self._floor_tx)
                tl = np.maximum(tl, self._floor_tl)
            tx = np.maximum.accumulate(tx)
            tl = np.maximum(np.maximum.accumulate(tl), tx)
        self._tape = tape
        self._ev = starts.astype(np.int64)
        self._ev_tx = np.ascontiguousarray(tx, dtype=np.int64)
        self._ev_tl = np.ascontiguousarray(tl, dtype=np.int64)
        c.set_events(tape, self._ev, self._ev_tx, self._ev_tl, np.ascontiguousarray(kind[starts], dtype=np.int8))
        c.xi -= k0
        c.si -= k0
        if c.now_x == 0 and len(tx):
            c.now_x = c.now_s = int(tx[0])

    def _finish(self):
        """End of data: what was due by the last exchange time happens; orders that would arrive
        later expire (there is no market to meet them), resting orders are cancelled, the position
        is closed at market when ``flat_at_end`` (the config's or the strategy's), and the last
        fills reach the strategy."""
        c = self._c
        while self._heap and self._heap[0][0] <= c.now_x:
            self._pop_heap()
        c.now_s = max(c.now_s, c.now_x)
        for o in self._orders.values():
            if o.status == "pending":
                self._settle(o, "expired", "arrives after the end of the data")
            elif o.status == "resting":
                self._settle(o, "cancelled", "end of the data")
                self._leave_book(o)
        pos = self._host.position
        if (self.config.flat_at_end or self._strategy.flat_at_end is True) and abs(pos) > 1e-12:
            o = self._new_order(SELL if pos > 0 else BUY, abs(pos), None, c.now_x, c.now_x)
            self._arrive(o, reason="flat_at_end")
        self._heap = [h for h in self._heap if h[3] == "fill"]
        heapq.heapify(self._heap)
        self._due_changed()
        self._drain_notifications(math.inf)

    def _pop_heap(self):
        t, _prio, _seq, what, payload = heapq.heappop(self._heap)
        self._due_changed()
        c = self._c
        if what == "arrive":
            c.now_x = max(c.now_x, t)
            self._arrive(payload)
        elif what == "cancel":
            c.now_x = max(c.now_x, t)
            o = self._orders.get(payload)
            if o is not None and o.status in ("pending", "resting"):
                self._settle(o, "cancelled")
                self._leave_book(o)
        elif what == "fill":
            c.now_s = max(c.now_s, t)
            self._notify(payload)

    def _push(self, t, prio, what, payload):
        self._seq += 1
        heapq.heappush(self._heap, (t, prio, self._seq, what, payload))
        self._due_changed()

    def _due_changed(self):
        # the loop reads the earliest due time from the host, after every change of the heap
        heap, h = self._heap, self._host
        if heap:
            h.has_due, h.next_due_ns = True, heap[0][0]
        else:
            h.has_due = False

    def _drain_notifications(self, until):
        while self._heap and self._heap[0][0] <= until:
            self._pop_heap()

    # ------------------------------------------------------------------ exchange side
    # (book messages and trades reach the exchange in the event loop, which calls these hooks)
    def _check_resting_against_book(self):
        bb, ba = self._xbook.best_bid_ticks(), self._xbook.best_ask_ticks()
        for o in list(self._resting):
            if o.side == BUY and ba is not None and ba <= o.price_ticks:
                self._fill(o, o.remaining, o.price_ticks, maker=True)
                continue
            if o.side == SELL and bb is not None and bb >= o.price_ticks:
                self._fill(o, o.remaining, o.price_ticks, maker=True)
                continue
            new = self._level_size(o.side, o.price_ticks)
            if new < o.level_size and o.queue_ahead > 0:
                dec = o.level_size - new
                share = (o.queue_ahead / o.level_size if o.level_size > 0 else 1.0) \
                    if self.config.queue_cancel_share == "proportional" else self.config.queue_cancel_share
                o.queue_ahead = max(0.0, o.queue_ahead - share * dec)
            o.level_size = new

    def _trade_against_resting(self, price_ticks, size, aggressor):
        for o in list(self._resting):
            if o.side == aggressor:
                continue                        # a buy aggressor meets resting sells only
            through = price_ticks < o.price_ticks if o.side == BUY else price_ticks > o.price_ticks
            if through:
                self._fill(o, o.remaining, o.price_ticks, maker=True)
            elif price_ticks == o.price_ticks:
                o.level_size = max(0.0, o.level_size - size)
                left = size - o.queue_ahead
                o.queue_ahead = max(0.0, o.queue_ahead - size)
                if left > 1e-12:
                    self._fill(o, min(left, o.remaining), o.price_ticks, maker=True)

    def _level_size(self, side, price_ticks) -> float:
        # visible size at a price on the order's own side of the exchange book
        return self._xbook.size_at(side, price_ticks)

    def _arrive(self, o: Order, reason: str = ""):
        if o.status != "pending":
            return
        if reason:
            o.reason = reason
        if not self._xbook.ready:
            self._settle(o, "rejected", "exchange book not ready")
            return
        if self._halted() and o.reason not in ("risk", "flat_at_end") and not self._reduces(o):
            self._settle(o, "rejected", "daily loss limit")
            return
        if self.config.max_leverage is not None and o.reason not in ("risk", "flat_at_end") \
                and not self._reduces(o) and self._over_leverage(o):
            self._settle(o, "rejected", "leverage limit")
            return
        # the marketable part takes liquidity level by level
        slip = self.config.slippage_bps * 1e-4
        last = self._take(o, slip)
        if o.remaining > 1e-12 and o.price_ticks is None and o.reason in ("risk", "flat_at_end") and last is not None:
            # the engine's own closes must close: what the visible book cannot take is filled at its
            # deepest visible level (plus slippage), the most conservative price the data shows
            self._fill(o, o.remaining, last, maker=False, price=self._price(last) * (1.0 + slip * o.side))
        if o.remaining > 1e-12:
            if o.price_ticks is None:
                self._settle(o, "filled" if o.remaining < o.qty else "cancelled", o.reason or "book depth exhausted")
            else:
                o.status = "resting"
                o.level_size = self._level_size(o.side, o.price_ticks)
                o.queue_ahead = o.level_size
                self._resting.append(o)
                self._host.has_resting = True

    def _take(self, o: Order, slip: float):
        """Fill the marketable part of ``o`` against the visible opposite side, best level first
        (at most 1000 levels), less what earlier orders took since the last book message.
        Returns the price ticks of the deepest level read (None if none)."""
        book, opp, limit, last = self._xbook, -o.side, o.price_ticks, None
        taken = self._taken_since_book()
        for i in range(1000):
            if o.remaining <= 1e-12:
                break
            lv = book.level(opp, i)
            if lv is None:
                break
            t_i, s_i = lv
            if limit is not None and (t_i > limit if o.side == BUY else t_i < limit):
                break
            last = t_i
            avail = s_i - taken.get((o.side, t_i), 0.0)
            if avail <= 1e-12:
                continue
            q = min(avail, o.remaining)
            taken[(o.side, t_i)] = taken.get((o.side, t_i), 0.0) + q
            self._fill(o, q, t_i, maker=False, price=self._price(t_i) * (1.0 + slip * o.side))
        return last

    def _taken_since_book(self) -> dict:
        """(side, price ticks) -> size our orders took since the last exchange book message (which
        shows the book without them: what they took is not offered again until then)."""
        n = self._c.exchange_books
        if self._taken_at != n:
            self._taken.clear()
            self._taken_at = n
        return self._taken

    def _leave_book(self, o: Order):
        if o in self._resting:
            self._resting.remove(o)
            self._host.has_resting = bool(self._resting)

    def _fill(self, o: Order, qty, price_ticks, *, maker: bool, price: float | None = None):
        if qty <= 0:
            return
        px = self._price(price_ticks) if price is None else price
        fee = qty * px * (self.config.maker_rate if maker else self.config.taker_rate)
        signed = o.side * qty
        h = self._host
        old_pos = h.position
        h.cash -= signed * px + fee
        h.position = old_pos + signed
        if abs(h.position) < 1e-12:
            h.position = 0.0
        o.remaining -= qty
        if o.remaining <= 1e-12:
            o.remaining = 0.0
            self._settle(o, "filled")
            self._leave_book(o)
        t = self._c.now_x
        self._round_trips(t, old_pos, signed, px, fee)
        fill = Fill(o.id, t, o.side, px, qty, fee, maker, h.position)
        self._fills.append(fill)
        h.n_fills = len(self._fills)
        self._tm._fill(qty, px, fee, maker)         # (checked here: positive qty and price, finite fee)
        self._push(t + self.config.feed_latency.draw(self._rng), 2, "fill", fill)

    def _round_trips(self, t, old_pos, signed, px, fee):
        new_pos = old_pos + signed
        if abs(new_pos) < 1e-12:
            new_pos = 0.0
        if old_pos == 0.0:
            self._open_rt(t, signed, px, fee)
            return
        rt = self._rt
        crosses = (old_pos > 0 and new_pos < 0) or (old_pos < 0 and new_pos > 0)
        if not crosses:
            adds = (old_pos > 0) == (signed > 0)
            rt["qty" if adds else "xq"] += abs(signed)
            rt["notional" if adds else "xn"] += abs(signed) * px
            rt["gross"] -= signed * px
            rt["fees"] += fee
            if new_pos == 0.0:
                self._close_rt(t, px)
            return
        # a reversal: the closing part ends this round trip, the rest opens the next one
        close_q = abs(old_pos)
        frac = close_q / abs(signed)
        rt["gross"] += old_pos * px              # the closing part: -sign(signed) * |old_pos| * px
        rt["fees"] += fee * frac
        rt["xq"] += close_q
        rt["xn"] += close_q * px
        self._close_rt(t, px)
        self._open_rt(t, signed + old_pos, px, fee * (1.0 - frac))

    def _open_rt(self, t, q, px, fee):
        """A round trip opened at t by signed quantity q at px (its fee share ``fee``)."""
        self._rt = {"entry_ts": t, "side": 1 if q > 0 else -1, "qty": abs(q), "notional": abs(q) * px,
                    "xq": 0.0, "xn": 0.0, "fees": fee, "gross": -(q * px)}

    def _close_rt(self, t, px):
        rt = self._rt
        entry = rt["notional"] / rt["qty"] if rt["qty"] > 0 else math.nan
        exit_ = rt["xn"] / rt["xq"] if rt["xq"] > 0 else px
        self._trades.append((rt["entry_ts"], t, rt["side"], rt["qty"], entry, exit_, rt["gross"], rt["fees"],
                             rt["gross"] - rt["fees"]))
        self._tm.on_round_trip(rt["entry_ts"], t, rt["side"], rt["qty"], entry, exit_, rt["gross"], rt["fees"])
        self._rt = None

    # ------------------------------------------------------------------ risk
    def _equity_x(self) -> float:
        mid = self._xbook.mid_price() if self._xbook.ready else math.nan
        h = self._host
        return h.cash + (h.position * mid if h.position else 0.0)

    def _halted(self) -> bool:
        return self._halted_day is not None and self._halted_day == self._c.now_x // NS_PER_DAY

    def _over_leverage(self, o: Order) -> bool:
        mid = self._xbook.mid_price()
        eq = self._equity_x()
        if not (mid == mid and eq > 0):
            return True                         # no equity (or no price) to lever
        resting = sum(r.remaining for r in self._resting if r.side == o.side)
        exposure = abs(self._host.position + o.side * (o.remaining + resting)) * mid
        return exposure > self.config.max_leverage * eq

    def _reduces(self, o: Order) -> bool:
        pos = self._host.position
        return pos != 0.0 and o.side == (-1 if pos > 0 else 1) and o.qty <= abs(pos) + 1e-12

    def _risk_check(self):
        cfg = self.config
        now = self._c.now_x
        day = now // NS_PER_DAY
        if self._day != day:
            # the day starts from the equity at the mid before this event moved the book (the last
            # mid of the previous day): a move at the day's first event counts in the day's PnL
            eq = self._host.cash + (self._host.position * self._mid_before if self._host.position else 0.0)
            if eq != eq:
                eq = self._equity_x()
            self._day = day
            self._day_start_equity = eq if eq == eq else self._day_start_equity
        self._mid_before = self._xbook.mid_price() if self._xbook.ready else math.nan
        if self._host.position == 0.0:
            return
        reason = None
        if cfg.max_holding_time is not None and self._rt is not None \
                and now - self._rt["entry_ts"] >= cfg.max_holding_time:
            reason = "max_holding_time"
        elif cfg.max_daily_loss is not None:
            eq = self._equity_x()
            if eq == eq and eq - self._day_start_equity <= -cfg.max_daily_loss:
                reason = "daily_loss"
                self._halted_day = day
        if reason is not None and not any(o.reason == "risk" for o in self._open.values()):
            o = self._new_order(SELL if self._host.position > 0 else BUY, abs(self._host.position), None, now, now)
            o.reason = "risk"
            self._arrive(o)

    # ------------------------------------------------------------------ strategy side
    def _notify(self, fill: Fill):
        h = self._host
        h.position_seen += fill.side * fill.qty
        if abs(h.position_seen) < 1e-12:
            h.position_seen = 0.0
        h.cash_seen -= fill.side * fill.qty * fill.price + fill.fee
        self._strategy.on_fill(self._ctx, fill)

    def _settle(self, o: Order, status: str, reason: str | None = None) -> None:
        """A final status: the order leaves the open set."""
        o.status = status
        if reason is not None:
            o.reason = reason
        self._open.pop(o.id, None)
        self._host.has_open = bool(self._open)

    def _new_order(self, side, qty, price_ticks, sent, arrive) -> Order:
        o = Order(self._next_id, side, float(qty), price_ticks, sent, arrive, remaining=float(qty))
        self._next_id += 1
        self._orders[o.id] = o
        self._open[o.id] = o
        self._host.has_open = True
        return o

    def _send(self, side, qty, price) -> int:
        if type(qty) is not float and (isinstance(qty, bool) or not isinstance(qty, numbers.Real)) \
                or not (1e-12 < qty < math.inf):
            # 1e-12 is the engine's quantity resolution (a remainder below it counts as filled): a
            # smaller order could never fill nor settle, and would stay open to the end
            raise InvalidInputError(f"order quantity must be > 1e-12, got {qty!r}")
        pt = None
        if price is not None:
            if isinstance(price, bool) or not isinstance(price, numbers.Real) or not (0 < price < math.inf):
                raise InvalidInputError(f"limit price must be > 0, got {price!r}")
            pt = self._xbook.spec.price_to_ticks(float(price))     # off the tick grid: InvalidInputError
        t = self._c.now_s
        arrive = t + self.config.order_latency.draw(self._rng)
        o = self._new_order(side, qty, pt, t, arrive)
        self._push(arrive, 1, "arrive", o)
        return o.id

    def _cancel(self, order_id):
        if order_id not in self._orders:
            raise InvalidInputError(f"no order with id {order_id!r}")
        self._push(self._c.now_s + self.config.cancel_latency.draw(self._rng), 1, "cancel", order_id)

    def _record_series(self, values):
        rows = self._series_rows
        if not rows:
            self._series_names = tuple(sorted(values))
        elif tuple(sorted(values)) != self._series_names:
            raise InvalidInputError(f"record() needs the same names every time: {self._series_names}")
        rows.append((self._c.now_s, *(float(values[k]) for k in self._series_names)))

    # ------------------------------------------------------------------ results
    def _price(self, ticks: int) -> float:
        p = self._price_cache.get(ticks)
        if p is None:
            p = self._price_cache[ticks] = self._xbook.spec.ticks_to_price(ticks)
        return p

    def _result(self):
        from ofi.backtest.result import FILL_DTYPE, TRADE_DTYPE, BacktestResult
        eq = self._c.equity_rows()
        # the equity rows reach the metrics now, in their order (fills and round trips, which the
        # metrics took as they happened, do not interact with the equity state)
        ok = eq["equity"] == eq["equity"]
        pos, mid_row = eq["position"][ok], eq["mid"][ok]
        self._tm._equity_batch(eq["ts_ns"][ok], eq["equity"][ok], np.where(pos != 0.0, pos * mid_row, 0.0))
        mid_ts, mid = self._c.mid_series()
        known = mid == mid                      # a book with an empty side has no mid (NaN): skipped
        mid_ts, mid = mid_ts[known], mid[known]
        fills = np.array([(f.ts_ns, f.order_id, f.side, f.price, f.qty, f.fee, f.maker, f.position_after)
                          for f in self._fills], dtype=FILL_DTYPE)
        trades = np.array(self._trades, dtype=TRADE_DTYPE)
        mk = None
        if len(fills) and len(mid):
            mk = markouts(fills["ts_ns"], fills["side"].astype(np.int64), fills["price"], mid_ts, mid)
        metrics = self._tm.summary(self.config.initial_capital)
        if mk is not None:
            for j, name in enumerate(("markout_100ms_bps", "markout_1s_bps", "markout_10s_bps")):
                col = mk[:, j]
                metrics[name] = float(np.nanmean(col)) if np.isfinite(col).any() else None
        series = {}
        if self._series_rows:
            cols = list(zip(*self._series_rows))
            series["ts_ns"] = np.asarray(cols[0], dtype=np.int64)
            for name, col in zip(self._series_names, cols[1:]):
                series[name] = np.asarray(col, dtype=np.float64)
        return BacktestResult(symbol=self._symbol, config=self.config.to_dict(), equity=eq, fills=fills,
                              trades=trades, metrics=metrics, series=series, markouts=mk)


class _Host(LoopHost):
    """The engine's side of the event loop (``ofi._core.backtest.LoopHost``): the account lives in
    its fields, which the engine keeps current, and its four methods are the engine's own."""

    # Instance slots of the methods' names shadow LoopHost's methods: each is bound once to the
    # engine's, so a call from the loop costs no forwarding frame (with risk limits, one per event).
    __slots__ = ("pop_due", "check_resting", "trade_against_resting", "check_risk")

    def __init__(self, eng: BacktestEngine):
        self.pop_due = eng._pop_heap
        self.check_resting = eng._check_resting_against_book
        self.trade_against_resting = eng._trade_against_resting
        self.check_risk = eng._risk_check
