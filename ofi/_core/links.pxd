# Link functions shared by the compiled predictors (trees.pyx, linear.pyx): raw scores -> class
# probabilities, in the operation order scikit-learn uses (scipy's expit, extmath's softmax).
from libc.math cimport exp


cdef inline double sigmoid(double x) noexcept nogil:
    """1 / (1 + exp(-x)), scipy.special.expit's formula."""
    return 1.0 / (1.0 + exp(-x))


cdef inline void softmax(const double* raw, double* out, int K) noexcept nogil:
    """out[k] = exp(raw[k] - max) / sum_j exp(raw[j] - max); raw and out may be the same array."""
    cdef int k
    cdef double mx = raw[0], tot = 0.0
    for k in range(1, K):
        if raw[k] > mx:
            mx = raw[k]
    for k in range(K):
        out[k] = exp(raw[k] - mx)
        tot += out[k]
    for k in range(K):
        out[k] /= tot
