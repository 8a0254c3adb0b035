# C entry points of the feature kernel (ofi/_core/features.pyx) for kernels that run it inline
# (the backtester's compiled model-driven strategy, ofi/_core/strategy.pyx). ``kernel`` must be a
# FeatureKernel (the caller checks once, at construction); the calls are the streaming driver's.
from libc.stdint cimport int64_t
from ofi._core.book cimport OrderBook

# update_book(book) then extract_into(book, out): out gets the N_FEATURE_SLOTS values
cdef int feature_step_book(object kernel, OrderBook book, double* out) except -1
# update_trade(...) for one public trade; -2 for a trade too large for the VPIN buckets
cdef int feature_step_trade(object kernel, int64_t price_ticks, double size, int side, int64_t ts_exch,
                            int64_t ts_local) except -1
