# The tree node of the compiled ensemble inference (ofi/_core/trees.pyx), shared with any kernel
# that later evaluates a model inline (the backtester's model-driven strategy).
from libc.stdint cimport int32_t

# One split: go right iff x > thr, or x is NaN and nan_right. Every supported library's rule maps
# onto it: scikit-learn and LightGBM split on x <= thr; XGBoost's x < t (in float32) becomes
# x32 <= nextafterf(t, -inf); a padded node (an early leaf in a perfect tree) has thr = +inf and
# nan_right = 0, so everything goes left. At run time ``feat`` holds 2 f + nan_right, the index
# into a doubled row whose copy carries NaN as -inf or +inf: one comparison decides.
ctypedef struct TNode:
    double thr
    int32_t feat
    int32_t nan_right

# Class probabilities of one row (n_features float64) into out (n_classes) with a Forest (checked
# by the caller once); no threads, the GIL is not needed.
cdef void forest_proba(object forest, const double* x, double* out) noexcept
