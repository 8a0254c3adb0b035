"""The backtester's event loop in C, driven by ``ofi.backtest.engine.BacktestEngine``.

``EventLoop`` merges the three clocks of a backtest exactly as the engine's docstring describes:
exchange events at their exchange time (never before they were received), due entries of the
host's queue (order arrivals, cancels, fill notices), and deliveries to the strategy at their
receive time plus the feed latency. It applies book messages to both books, records the exchange
mid (for markouts) and the equity rows, and calls the strategy's callbacks. The built-in
``ModelStrategy`` in compiled mode is called through its C entry points (``strategy.pxd``), so a
book message that leads to no order never leaves C.

What the loop needs from the rest of the backtest is a :class:`LoopHost`: the exchange
simulator's orders and the account. The loop reads the host's typed fields (C reads, no Python)
and calls its four methods only when there is work: ``pop_due()`` when the earliest queued entry
is due, ``check_resting()`` / ``trade_against_resting()`` when a book message or a trade reaches
the exchange while orders rest, ``check_risk()`` after each exchange event when the host has risk
limits. The host keeps its fields current whenever its state changes; nothing else is shared.

The loop's own state is its clocks and event indexes (public attributes: the host advances
``now_x`` when an order or cancel reaches the exchange and ``now_s`` when a fill notice reaches
the strategy, and rebases ``xi`` / ``si`` when it drops delivered events), ``exchange_books``
(book messages given to the exchange so far, for liquidity that lasts until the next one) and
the recordings, returned as arrays. The core knows nothing of ``ofi.backtest``: the equity row
layout, :data:`EQUITY_DTYPE`, is defined here and re-exported by ``ofi.backtest.result``.
"""
cimport cython
from cpython.exc cimport PyErr_CheckSignals
from libc.stdint cimport int64_t, int8_t
from libc.stdlib cimport realloc, free
from libc.math cimport NAN

import numpy as np
cimport numpy as cnp

from ofi._core.book cimport OrderBook, LevelSrc, MsgMeta, tape_message, book_quoted, ST_NOMEM
from ofi._core.events cimport TapeRow, KIND_BOOK, Trade
from ofi._core.events import TAPE_DTYPE
from ofi._core.strategy cimport strategy_step_book, strategy_step_trade, strategy_n_books
from ofi._core.strategy import StrategyKernel
from ofi.errors import InvalidInputError

cnp.import_array()

ctypedef struct EquityRow:      # one row of EQUITY_DTYPE
    int64_t ts_ns
    double equity
    double cash
    double position
    double mid

ctypedef struct EqRow:
    EquityRow row
    int64_t n_fills             # fills made when the row was recorded

#: One equity row: the exchange account marked to the exchange mid, ``equity = cash + position *
#: mid`` (quote currency; NaN mid without a ready book), ``position`` in signed base units.
EQUITY_DTYPE = np.dtype([
    ("ts_ns", np.int64),
    ("equity", np.float64),
    ("cash", np.float64),
    ("position", np.float64),
    ("mid", np.float64),
])
assert EQUITY_DTYPE.itemsize == sizeof(EquityRow), "EQUITY_DTYPE does not match the C EquityRow layout"

ctypedef struct MidRow:
    int64_t ts_ns
    double mid


cdef void* grown(void* buf, Py_ssize_t* cap, size_t item) except NULL:
    """``buf`` reallocated to twice ``cap[0]`` items (at least 1024); ``cap`` updated."""
    cdef Py_ssize_t new_cap = max(1024, 2 * cap[0])
    cdef void* out = realloc(buf, new_cap * item)
    if out == NULL:
        raise MemoryError()
    cap[0] = new_cap
    return out


cdef inline double book_mid(OrderBook b) noexcept:
    """``b.mid_price()`` when ``b.ready``, else NaN."""
    return b._mid() if book_quoted(b) else NAN


cdef class LoopHost:
    """What the event loop needs from the rest of a backtest: the exchange simulator's orders and
    the account. Subclass it and override the four methods; keep the fields current.

    The loop reads the fields in C on every event, so the host must update them as soon as its
    state changes (an entry queued or popped, an order resting or leaving the book, a fill, a
    fill notice). It calls the methods only when they have work to do.

    Attributes
    ----------
    has_due : bool
        The host's queue holds an entry (an order arrival, a cancel, a fill notice).
    next_due_ns : int
        int64 ns: when the earliest entry is due (meaningful when ``has_due``).
    has_resting : bool
        Limit orders rest on the exchange book.
    has_open : bool
        Orders are pending or resting (what a compiled strategy waits on before its next order).
    risk_limits : bool
        Call :meth:`check_risk` after every exchange event (set once, before the run).
    cash, position : float
        The exchange's account (quote currency; signed base units): what equity rows record.
    cash_seen, position_seen : float
        The account as the strategy knows it, from the fill notices it has been given.
    n_fills : int
        int64: fills made so far (recorded with each equity row).
    """
    cdef public bint has_due
    cdef public int64_t next_due_ns
    cdef public bint has_resting
    cdef public bint has_open
    cdef public bint risk_limits
    cdef public double cash
    cdef public double position
    cdef public double cash_seen
    cdef public double position_seen
    cdef public int64_t n_fills

    def pop_due(self):
        """Take the earliest entry off the queue and carry it out (the loop calls this when it is
        due: ``next_due_ns`` no later than the next exchange event and the next delivery)."""
        raise NotImplementedError

    def check_resting(self):
        """The exchange book changed (it is ready): fill resting orders it crosses, advance queues."""
        raise NotImplementedError

    def trade_against_resting(self, int64_t price_ticks, double size, int aggressor):
        """A trade reached the exchange: ``size`` at ``price_ticks``, ``aggressor`` +1 buy / -1 sell."""
        raise NotImplementedError

    def check_risk(self):
        """After an exchange event, with ``risk_limits``: enforce the host's risk limits."""
        raise NotImplementedError


@cython.final
cdef class EventLoop:
    cdef LoopHost host
    cdef OrderBook xbook
    cdef OrderBook sbook
    # the strategy
    cdef object ctx
    cdef object on_book
    cdef object on_trade
    cdef object after_kernel
    cdef object kernel
    cdef int64_t kernel_every
    cdef bint wants_trades
    cdef str symbol
    # events: tape rows where they start, their exchange and receive times, their kinds
    cdef cnp.ndarray tape
    cdef cnp.ndarray a_ev
    cdef cnp.ndarray a_tx
    cdef cnp.ndarray a_tl
    cdef cnp.ndarray a_kind
    cdef const TapeRow* rows
    cdef Py_ssize_t n_rows
    cdef const int64_t* ev
    cdef const int64_t* tx
    cdef const int64_t* tl
    cdef const int8_t* kind
    cdef readonly Py_ssize_t n
    cdef public Py_ssize_t xi           # next event for the exchange
    cdef public Py_ssize_t si           # next event for the strategy
    cdef public int64_t now_x           # exchange clock
    cdef public int64_t now_s           # strategy clock
    cdef readonly int64_t exchange_books    # book messages given to the exchange book so far
    cdef bint has_sdue
    cdef int64_t sdue                   # when event si reaches the strategy (drawn once)
    cdef int64_t n_delivered
    cdef int64_t every
    # feed latency: a constant, or the Latency's draw(rng)
    cdef bint feed_const
    cdef int64_t feed_ns
    cdef object feed_draw
    cdef object rng
    # recordings
    cdef EqRow* eq
    cdef Py_ssize_t eq_n
    cdef Py_ssize_t eq_cap
    cdef MidRow* mids
    cdef Py_ssize_t mid_n
    cdef Py_ssize_t mid_cap

    def __cinit__(self, LoopHost host not None, OrderBook xbook not None, OrderBook sbook not None, feed_latency,
                  rng, int64_t record_every):
        self.host = host
        self.xbook = xbook
        self.sbook = sbook
        self.rng = rng
        if feed_latency.fixed_ns is not None:
            self.feed_const = True
            self.feed_ns = feed_latency.fixed_ns
        else:
            self.feed_draw = feed_latency.draw
        if record_every < 1:
            raise InvalidInputError(f"record_every must be >= 1, got {record_every}")
        self.every = record_every
        self.set_events(np.zeros(0, dtype=TAPE_DTYPE), np.zeros(0, np.int64), np.zeros(0, np.int64),
                        np.zeros(0, np.int64), np.zeros(0, np.int8))

    def __dealloc__(self):
        free(self.eq)
        free(self.mids)

    def bind_strategy(self, ctx, on_book, on_trade, bint wants_trades, kernel=None, after_kernel=None,
                      int64_t kernel_every=1):
        """The strategy's callbacks, each called with ``ctx`` first: ``on_book(ctx, book)`` and
        ``on_trade(ctx, trade)`` (only with ``wants_trades``). With ``kernel`` (a StrategyKernel)
        book messages and trades go to it in C instead, and ``after_kernel(ctx, qty)`` runs only
        for an order (``qty`` != 0) or a recording (every ``kernel_every`` book messages)."""
        self.ctx = ctx
        self.on_book = on_book
        self.on_trade = on_trade
        self.wants_trades = wants_trades
        self.symbol = self.sbook.symbol
        if kernel is not None:
            if not isinstance(kernel, StrategyKernel) or not callable(after_kernel) or kernel_every < 1:
                raise InvalidInputError("kernel must be a StrategyKernel, after_kernel a callable and "
                                        "kernel_every >= 1")
            self.after_kernel = after_kernel
        self.kernel = kernel
        self.kernel_every = kernel_every

    def set_events(self, cnp.ndarray tape not None, cnp.ndarray ev not None, cnp.ndarray tx not None,
                   cnp.ndarray tl not None, cnp.ndarray kind not None):
        """The events to run, one entry each in C-contiguous arrays of equal length: the tape row
        where it starts (``ev``), its exchange and receive times (``tx``, ``tl``: int64 ns, each
        never decreasing, ``tl >= tx``) and its kind (``kind``: int8, book message or trade).
        Replaces the events loaded before; the caller rebases ``xi`` / ``si`` if it dropped some."""
        cdef Py_ssize_t n = cnp.PyArray_DIM(ev, 0)
        if not (cnp.PyArray_IS_C_CONTIGUOUS(tape) and cnp.PyArray_NDIM(tape) == 1
                and tape.dtype.itemsize == sizeof(TapeRow)):
            raise InvalidInputError("tape must be a 1-D C-contiguous tape")
        cdef cnp.ndarray a
        for a in (ev, tx, tl, kind):
            if <int>cnp.PyArray_TYPE(a) != <int>(cnp.NPY_INT8 if a is kind else cnp.NPY_INT64) or cnp.PyArray_NDIM(a) != 1 \
                    or not cnp.PyArray_IS_C_CONTIGUOUS(a) or cnp.PyArray_DIM(a, 0) != n:
                raise InvalidInputError("event arrays must be C-contiguous int64 (kinds: int8), of one length")
        if n and (np.asarray(ev).min() < 0 or np.asarray(ev).max() >= len(tape)):
            raise InvalidInputError("event rows outside the tape")
        self.tape, self.a_ev, self.a_tx, self.a_tl, self.a_kind = tape, ev, tx, tl, kind
        self.rows = <const TapeRow*>cnp.PyArray_DATA(tape)
        self.n_rows = cnp.PyArray_DIM(tape, 0)
        self.ev = <const int64_t*>cnp.PyArray_DATA(ev)
        self.tx = <const int64_t*>cnp.PyArray_DATA(tx)
        self.tl = <const int64_t*>cnp.PyArray_DATA(tl)
        self.kind = <const int8_t*>cnp.PyArray_DATA(kind)
        self.n = n

    # ---------------------------------------------------------------- the loop
    def run(self):
        """Run every event the strategy can be given; exchange events, due host entries and
        deliveries in time order (exchange first, then the host's queue, then the strategy, on
        equal times)."""
        cdef int64_t sdue, t
        cdef LoopHost host = self.host
        cdef Py_ssize_t n = self.n, steps = 0
        while self.si < n:
            steps += 1
            if steps & 0xFFFF == 0:
                PyErr_CheckSignals()        # Ctrl-C reaches a long run that never calls Python
            if not self.has_sdue:
                t = self.tl[self.si] + (self.feed_ns if self.feed_const else <int64_t>self.feed_draw(self.rng))
                self.sdue = t if t > self.now_s else self.now_s
                self.has_sdue = True
            sdue = self.sdue
            if self.xi < n and self.tl[self.xi] <= self.tl[self.si] and self.tx[self.xi] <= sdue \
                    and (not host.has_due or self.tx[self.xi] <= host.next_due_ns):
                if self.tx[self.xi] > self.now_x:
                    self.now_x = self.tx[self.xi]
                self._exchange(self.xi)
                self.xi += 1
            elif host.has_due and host.next_due_ns <= sdue:
                host.pop_due()
            else:
                if sdue > self.now_s:
                    self.now_s = sdue
                self._deliver(self.si)
                self.n_delivered += 1
                if self.n_delivered % self.every == 0 and self.kind[self.si] == KIND_BOOK:
                    self._record(self.now_s)
                self.si += 1
                self.has_sdue = False

    def drain_exchange(self):
        """End of data: the events the strategy never saw still move the exchange."""
        while self.xi < self.n:
            if self.tx[self.xi] > self.now_x:
                self.now_x = self.tx[self.xi]
            self._exchange(self.xi)
            self.xi += 1

    cdef int _apply(self, OrderBook book, Py_ssize_t row) except -1:
        """Apply a book message; a rejected one leaves the book stale until the next snapshot, as live."""
        cdef LevelSrc src
        cdef MsgMeta meta
        if tape_message(self.rows, self.n_rows, row, &src, &meta) < 0:
            book.rejected += 1
            return 0
        if book.apply_message(&src, &meta) == ST_NOMEM:
            raise MemoryError("out of memory while applying a book message")
        return 0

    cdef int _exchange(self, Py_ssize_t i) except -1:
        cdef Py_ssize_t row = self.ev[i]
        cdef const TapeRow* r
        cdef LoopHost host = self.host
        if self.kind[i] == KIND_BOOK:
            self._apply(self.xbook, row)
            self.exchange_books += 1
            if self.xbook._has_snapshot and not self.xbook._stale:
                self._mid_row(self.now_x, book_mid(self.xbook))
                if host.has_resting:
                    host.check_resting()
        elif host.has_resting:
            r = &self.rows[row]
            host.trade_against_resting(r.price_ticks, r.size, r.side)
        if host.risk_limits:
            host.check_risk()
        return 0

    cdef int _deliver(self, Py_ssize_t i) except -1:
        cdef Py_ssize_t row = self.ev[i]
        cdef const TapeRow* r
        cdef double q
        cdef LoopHost host = self.host
        if self.kind[i] == KIND_BOOK:
            self._apply(self.sbook, row)
            if self.kernel is None:
                self.on_book(self.ctx, self.sbook)
                return 0
            q = strategy_step_book(self.kernel, self.sbook, self.now_s, host.position_seen, host.cash_seen,
                                   host.has_open)
            if q != 0.0 or strategy_n_books(self.kernel) % self.kernel_every == 0:
                self.after_kernel(self.ctx, q)
        elif self.wants_trades:
            r = &self.rows[row]
            if self.kernel is not None:
                strategy_step_trade(self.kernel, r.price_ticks, r.size, r.side, r.ts_exch, r.ts_local)
            else:
                self.on_trade(self.ctx, Trade(self.symbol, self.sbook.price_of(r.price_ticks), r.size, r.side,
                                              r.ts_exch, "", r.price_ticks, r.seq, False, False, r.ts_local))
        return 0

    # ---------------------------------------------------------------- recordings
    cdef int _mid_row(self, int64_t t, double mid) except -1:
        if self.mid_n == self.mid_cap:
            self.mids = <MidRow*>grown(self.mids, &self.mid_cap, sizeof(MidRow))
        self.mids[self.mid_n].ts_ns = t
        self.mids[self.mid_n].mid = mid
        self.mid_n += 1
        return 0

    def record(self, int64_t t):
        """An equity row at ``t``: the exchange account marked at the exchange mid (NaN without a
        book)."""
        self._record(t)

    cdef int _record(self, int64_t t) except -1:
        cdef double mid = book_mid(self.xbook)
        cdef double cash = self.host.cash
        cdef double pos = self.host.position
        cdef EqRow* e
        if self.eq_n == self.eq_cap:
            self.eq = <EqRow*>grown(self.eq, &self.eq_cap, sizeof(EqRow))
        e = &self.eq[self.eq_n]
        e.row.ts_ns = t
        e.row.cash = cash
        e.row.position = pos
        e.row.mid = mid
        e.row.equity = cash + (pos * mid if pos != 0.0 else 0.0)
        e.n_fills = self.host.n_fills
        self.eq_n += 1
        return 0

    def equity_rows(self):
        """The equity rows so far (:data:`EQUITY_DTYPE`, a copy)."""
        out = np.empty(self.eq_n, dtype=EQUITY_DTYPE)
        cdef Py_ssize_t i
        cdef EquityRow* dst = <EquityRow*>cnp.PyArray_DATA(out)
        for i in range(self.eq_n):
            dst[i] = self.eq[i].row
        return out

    def fills_at_rows(self):
        """How many fills had been made when each equity row was recorded."""
        out = np.empty(self.eq_n, dtype=np.int64)
        cdef int64_t[::1] o = out
        cdef Py_ssize_t i
        for i in range(self.eq_n):
            o[i] = self.eq[i].n_fills
        return out

    def mid_series(self):
        """(ts_ns, mid) of the exchange book after each book message it was ready after (copies)."""
        ts = np.empty(self.mid_n, dtype=np.int64)
        mid = np.empty(self.mid_n, dtype=np.float64)
        cdef int64_t[::1] t = ts
        cdef double[::1] m = mid
        cdef Py_ssize_t i
        for i in range(self.mid_n):
            t[i] = self.mids[i].ts_ns
            m[i] = self.mids[i].mid
        return ts, mid
