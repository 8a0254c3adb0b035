# Class probabilities of one row with a Linear model (checked by the caller once), for kernels
# that evaluate the model inline (ofi/_core/strategy.pyx).
cdef void linear_proba(object model, const double* x, double* out) noexcept
