# Order Flow Imbalance kernels (Cont, Kukanov & Stoikov 2014; Xu, Gould & Howison 2019; Cont,
# Cucuringu & Zhang 2023), shared by the streaming classes, the batch functions and (later) the
# feature kernel. Prices are compared as doubles holding whole ticks (exact below 2**53) or as the
# caller's float prices; a missing bid level is -inf, a missing ask level +inf, both with size 0.
from libc.stdint cimport int64_t
from libc.math cimport NAN

cdef enum:
    VARIANT_CKS = 0     # CKS / XGH: a worsened price removes the *previous* queue
    VARIANT_CCZ = 1     # CCZ 2023 as printed: a worsened price counts the *current* queue


cdef inline double bid_flow(double p, double q, double pp, double pq, int variant) noexcept nogil:
    """Bid order flow W: > : +q ; = : q - pq ; < : -pq (CKS) or -q (CCZ).

    Arithmetic on the comparison results, no branch on prices: batch loops vectorise and random
    price moves cost no mispredictions. The variant is a constant wherever it matters for speed."""
    cdef double ge = p >= pp
    cdef double le = p <= pp
    if variant == VARIANT_CKS:      # a constant in the batch loops, folded after inlining
        return ge * q - le * pq
    return ge * q - le * (ge * pq + (1.0 - ge) * q)


cdef inline double ask_flow(double p, double q, double pp, double pq, int variant) noexcept nogil:
    """Ask order flow V: < : +q ; = : q - pq ; > : -pq (CKS) or -q (CCZ). Branch-free."""
    cdef double ge = p >= pp
    cdef double le = p <= pp
    if variant == VARIANT_CKS:
        return le * q - ge * pq
    return le * q - ge * (le * pq + (1.0 - le) * q)


cdef inline double level_ofi(double bp, double bq, double ap, double aq, double pbp, double pbq,
                             double pap, double paq, int variant) noexcept nogil:
    """e_n = W_n - V_n for one level, from the previous state (pbp, pbq, pap, paq)."""
    return bid_flow(bp, bq, pbp, pbq, variant) - ask_flow(ap, aq, pap, paq, variant)


# Fixed-interval aggregation: intervals (t_{k-1}, t_k] with t_k on the grid k * width, state carried
# across boundaries so that interval sums add up to the event sums. One accumulator per chain of
# levels (M levels share the depth scale Q^M of CCZ).
ctypedef struct IntervalAcc:
    int64_t width
    int64_t end             # t_k of the open interval
    bint started            # False until the first state fixes the grid
    int M
    double* ofi             # M running sums of e^m in the open interval
    double depth_sum        # sum over the interval's states of sum_m (qb_m + qa_m) / (2 M)
    int64_t n_events
    double mid_seg_start    # mid at the start of the current chain segment within the interval
    double mid_last         # latest valid mid
    double dmid_done        # mid change of finished segments (chain breaks) in this interval
    bint has_mid

# One closed interval, as emitted to the streaming statistics or the batch output.
ctypedef struct IntervalOut:
    int64_t end
    double ofi1             # level-1 sum (the CKS OFI_k)
    double dmid
    double depth            # Q^M_k, NaN for an interval without events
    int64_t n_events
