"""The backtester's event loop in C, driven by ``ofi.backtest.engine.BacktestEngine``.

``EventLoop`` merges the three clocks of a backtest exactly as the engine's docstring describes:
exchange events at their exchange time (never before they were received), due entries of the
engine's heap (order arrivals, cancels, fill notifications), and deliveries to the strategy at
their receive time plus the feed latency. It applies book messages to both books, records the
exchange mid (for markouts) and the equity rows, and hands everything else to the Python engine:
heap entries, resting-order and risk checks, and the strategy's callbacks. The built-in
``ModelStrategy`` in compiled mode is called through its C entry points (``strategy.pxd``), so a
book message that leads to no order never leaves C.

Loop state (indexes, clocks) lives here; the engine reads and writes it through the public
attributes. The engine's lists and dicts (heap, resting orders, open orders, fills, taken
liquidity) are shared by reference and must only be changed in place.
"""
cimport cython
from cpython.list cimport PyList_GET_SIZE
from cpython.dict cimport PyDict_Size
from cpython.exc cimport PyErr_CheckSignals
from libc.stdint cimport int64_t, int8_t
from libc.stdlib cimport realloc, free
from libc.string cimport memcpy
from libc.math cimport NAN

import numpy as np
cimport numpy as cnp

from ofi._core.book cimport OrderBook, LevelSrc, MsgMeta, tape_message, book_quoted, ST_NOMEM
from ofi._core.events cimport TapeRow, KIND_BOOK, Trade
from ofi._core.strategy cimport strategy_step_book, strategy_step_trade, strategy_n_books
from ofi._core.strategy import StrategyKernel
from ofi.errors import InvalidInputError

cnp.import_array()

ctypedef struct EqRow:
    int64_t ts_ns
    double equity
    double cash
    double position
    double mid
    int64_t n_fills             # fills made when the row was recorded

DEF EQ_BYTES = 40                # ofi.backtest.result.EQUITY_DTYPE's fields: the start of an EqRow

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


@cython.final
cdef class EventLoop:
    cdef object eng
    cdef OrderBook xbook
    cdef OrderBook sbook
    cdef list heap
    cdef list resting
    cdef list fills
    cdef dict taken
    cdef dict open_
    # the strategy
    cdef object ctx
    cdef object on_book
    cdef object on_trade
    cdef object after_kernel
    cdef object kernel
    cdef int64_t kernel_every
    cdef bint wants_trades
    cdef bint risk_limits
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
    cdef public Py_ssize_t n
    cdef public Py_ssize_t xi           # next event for the exchange
    cdef public Py_ssize_t si           # next event for the strategy
    cdef public int64_t now_x           # exchange clock
    cdef public int64_t now_s           # strategy clock
    cdef public bint has_sdue
    cdef public int64_t sdue            # when event si reaches the strategy (drawn once)
    cdef public int64_t n_delivered
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

    def __cinit__(self, eng, OrderBook xbook not None, OrderBook sbook not None, list heap not None,
                  list resting not None, list fills not None, dict taken not None, dict open_orders not None,
                  feed_latency, rng, int64_t record_every):
        self.eng = eng
        self.xbook = xbook
        self.sbook = sbook
        self.heap = heap
        self.resting = resting
        self.fills = fills
        self.taken = taken
        self.open_ = open_orders
        self.rng = rng
        if feed_latency.fixed_ns is not None:
            self.feed_const = True
            self.feed_ns = feed_latency.fixed_ns
        else:
            self.feed_draw = feed_latency.draw
        if record_every < 1:
            raise InvalidInputError(f"record_every must be >= 1, got {record_every}")
        self.every = record_every
        self.tape = np.zeros(0, dtype=eng._tape.dtype)
        self.set_events(self.tape, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64),
                        np.zeros(0, np.int8))

    def __dealloc__(self):
        free(self.eq)
        free(self.mids)

    def bind_strategy(self, strategy, ctx, bint wants_trades, bint risk_limits, kernel=None,
                      int64_t kernel_every=1):
        """The strategy's callbacks; with ``kernel`` (a StrategyKernel) book messages and trades
        go to it in C and ``strategy._after_kernel(ctx, qty)`` runs only for an order or a
        recording (every ``kernel_every`` book messages)."""
        self.ctx = ctx
        self.on_book = strategy.on_book
        self.on_trade = strategy.on_trade
        self.wants_trades = wants_trades
        self.risk_limits = risk_limits
        self.symbol = self.sbook.symbol
        if kernel is not None:
            if not isinstance(kernel, StrategyKernel) or kernel_every < 1:
                raise InvalidInputError("kernel must be a StrategyKernel and kernel_every >= 1")
            self.after_kernel = strategy._after_kernel
        self.kernel = kernel
        self.kernel_every = kernel_every

    def set_events(self, cnp.ndarray tape not None, cnp.ndarray ev not None, cnp.ndarray tx not None,
                   cnp.ndarray tl not None, cnp.ndarray kind not None):
        """The events to run (see ``BacktestEngine._append``): C-contiguous arrays of equal length."""
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
        """Run every event the strategy can be given; exchange events, heap entries and deliveries
        in time order (exchange first, then the heap, then the strategy, on equal times)."""
        cdef int64_t sdue, t_heap = 0, t
        cdef bint has_heap
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
            has_heap = PyList_GET_SIZE(self.heap) > 0
            if has_heap:
                t_heap = self.heap[0][0]
            if self.xi < n and self.tl[self.xi] <= self.tl[self.si] and self.tx[self.xi] <= sdue \
                    and (not has_heap or self.tx[self.xi] <= t_heap):
                if self.tx[self.xi] > self.now_x:
                    self.now_x = self.tx[self.xi]
                self._exchange(self.xi)
                self.xi += 1
            elif has_heap and t_heap <= sdue:
                self.eng._pop_heap()
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
        if self.kind[i] == KIND_BOOK:
            self._apply(self.xbook, row)
            if PyDict_Size(self.taken):
                self.taken.clear()
            if self.xbook._has_snapshot and not self.xbook._stale:
                self._mid_row(self.now_x, book_mid(self.xbook))
                if PyList_GET_SIZE(self.resting):
                    self.eng._check_resting_against_book()
        elif PyList_GET_SIZE(self.resting):
            r = &self.rows[row]
            self.eng._trade_against_resting(r.price_ticks, r.size, r.side)
        if self.risk_limits:
            self.eng._risk_check()
        return 0

    cdef int _deliver(self, Py_ssize_t i) except -1:
        cdef Py_ssize_t row = self.ev[i]
        cdef const TapeRow* r
        cdef double q
        cdef object eng = self.eng
        if self.kind[i] == KIND_BOOK:
            self._apply(self.sbook, row)
            if self.kernel is None:
                self.on_book(self.ctx, self.sbook)
                return 0
            q = strategy_step_book(self.kernel, self.sbook, self.now_s, eng._pos_seen, eng._cash_seen,
                                   PyDict_Size(self.open_) > 0)
            if q != 0.0 or strategy_n_books(self.kernel) % self.kernel_every == 0:
                self.after_kernel(self.ctx, q)
        elif self.wants_trades:
            r = &self.rows[row]
            if self.kernel is not None:
                strategy_step_trade(self.kernel, r.price_ticks, r.size, r.side, r.ts_exch, r.ts_local)
            else:
                self.on_trade(self.ctx, Trade(self.symbol, eng._price(r.price_ticks), r.size, r.side, r.ts_exch,
                                              "", r.price_ticks, r.seq, False, False, r.ts_local))
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
        cdef double cash = self.eng._cash
        cdef double pos = self.eng._pos
        cdef EqRow* e
        if self.eq_n == self.eq_cap:
            self.eq = <EqRow*>grown(self.eq, &self.eq_cap, sizeof(EqRow))
        e = &self.eq[self.eq_n]
        e.ts_ns = t
        e.cash = cash
        e.position = pos
        e.mid = mid
        e.equity = cash + (pos * mid if pos != 0.0 else 0.0)
        e.n_fills = PyList_GET_SIZE(self.fills)
        self.eq_n += 1
        return 0

    def equity_rows(self):
        """The equity rows so far (ofi.backtest.result.EQUITY_DTYPE, a copy)."""
        # Imported here: ofi.backtest imports this module.
        from ofi.backtest.result import EQUITY_DTYPE
        if EQUITY_DTYPE.itemsize != EQ_BYTES:
            raise AssertionError("EqRow no longer starts with the fields of EQUITY_DTYPE")
        out = np.empty(self.eq_n, dtype=EQUITY_DTYPE)
        cdef Py_ssize_t i
        cdef char* dst = <char*>cnp.PyArray_DATA(out)
        for i in range(self.eq_n):
            memcpy(dst + i * EQ_BYTES, &self.eq[i], EQ_BYTES)
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
