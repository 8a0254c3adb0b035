# C entry points of the compiled model-driven strategy (ofi/_core/strategy.pyx) for the
# backtester's event loop (ofi/_core/backtest.pyx). ``kernel`` must be a StrategyKernel (the
# caller checks once). The calls are StrategyKernel.on_book / on_trade.
from libc.stdint cimport int64_t
from ofi._core.book cimport OrderBook

cdef double strategy_step_book(object kernel, OrderBook book, int64_t now_ns, double position, double cash,
                               bint busy) except? -1.0
cdef int strategy_step_trade(object kernel, int64_t price_ticks, double size, int side, int64_t ts_exch,
                             int64_t ts_local) except -1
cdef int64_t strategy_n_books(object kernel) noexcept
