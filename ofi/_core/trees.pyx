"""Compiled inference for tree ensembles (scikit-learn HistGradientBoosting, LightGBM, XGBoost).

Layout. Every tree is padded to a *perfect* tree of the ensemble's depth D: node i has children
2i + 1 and 2i + 2, nodes are ``TNode`` (16 bytes: threshold, feature, NaN direction), leaves follow
in an array of 2^D values. Traversal is D steps of ``i = 2i + 1 + (x > thr)``, no data-dependent
branch; eight trees are walked in lockstep so their independent load chains overlap (the ensemble
is padded with empty trees to a multiple of eight). An early leaf of the original tree becomes a
chain of padding nodes that send every value left (threshold +inf, NaN left) to a copy of its
value. NaN costs no extra test: each row is doubled (NaN read as -inf by nodes that send it left,
as +inf by nodes that send it right; see ``Forest.__cinit__``).

Summation. The raw score of output k is ``base[k]`` plus the leaf values of the trees of class k,
added in tree order: the order scikit-learn and LightGBM use, so raw scores agree to the last bit
(XGBoost's float32 accumulation is reproduced with ``acc32``). Links: identity, logistic
(binary), softmax (multiclass).
"""
cimport cython
from cython.parallel cimport prange
from libc.stdint cimport int32_t
from libc.stdlib cimport malloc, calloc, free
from libc.float cimport DBL_MAX
from libc.string cimport memcpy
from libc.math cimport expf, INFINITY, NAN

import numpy as np
cimport numpy as cnp

from ofi._core.trees cimport TNode
from ofi._core.links cimport sigmoid, softmax
from ofi._core.limits cimport MAX_CLASSES as MAX_OUT
from ofi.errors import InvalidInputError

cnp.import_array()

DEF MAX_DEPTH = 16
DEF BLOCK = 8             # trees walked in lockstep
DEF XBUF = 512            # features of a row prepared on the stack (wider rows: malloc)

cdef enum:
    C_IDENTITY = 0
    C_LOGISTIC = 1
    C_SOFTMAX = 2

LINK_IDENTITY = C_IDENTITY
LINK_LOGISTIC = C_LOGISTIC
LINK_SOFTMAX = C_SOFTMAX


cdef inline int _check_vec(cnp.ndarray a, Py_ssize_t n, str name) except -1:
    if (cnp.PyArray_TYPE(a) != cnp.NPY_DOUBLE or cnp.PyArray_NDIM(a) != 1
            or not cnp.PyArray_IS_C_CONTIGUOUS(a) or cnp.PyArray_DIM(a, 0) != n):
        raise InvalidInputError(f"{name} must be a C-contiguous float64 vector of length {n}, got "
                                f"{a.dtype} shape {(<object>a).shape}")
    return 0


cdef inline float sigmoidf(float x) noexcept nogil:
    # XGBoost's common::Sigmoid(float), in float arithmetic throughout (a Cython 1.0 is a double)
    cdef float one = 1.0, eps = 1e-16, cap = 88.7, z = -x
    if z > cap:
        z = cap
    return one / (expf(z) + one + eps)


@cython.final
cdef class Forest:
    """A flattened tree ensemble (see the module docstring); built by ``ofi.models``."""
    cdef TNode* nodes           # n_trees * (2^D - 1)
    cdef double* leaves         # n_trees * 2^D
    cdef int32_t* tree_out      # output (class) of each tree
    cdef double* base           # n_out baseline raw scores
    cdef readonly int depth
    cdef readonly Py_ssize_t n_trees
    cdef readonly int n_outputs
    cdef readonly Py_ssize_t n_features
    cdef readonly int link
    cdef readonly bint f32      # compare float32-rounded inputs (XGBoost)
    cdef readonly bint acc32    # accumulate and link in float32 (XGBoost)
    cdef Py_ssize_t n_int
    cdef Py_ssize_t n_leaf

    def __cinit__(self, thr, feat, nan_right, leaves, tree_out, base, int depth, Py_ssize_t n_features,
                  int link, bint f32=False, bint acc32=False):
        cdef Py_ssize_t i
        cdef const double[:, ::1] t = np.ascontiguousarray(thr, dtype=np.float64)
        cdef const int32_t[:, ::1] f = np.ascontiguousarray(feat, dtype=np.int32)
        cdef const int32_t[:, ::1] m = np.ascontiguousarray(nan_right, dtype=np.int32)
        cdef const double[:, ::1] lv = np.ascontiguousarray(leaves, dtype=np.float64)
        cdef const int32_t[::1] to = np.ascontiguousarray(tree_out, dtype=np.int32)
        cdef const double[::1] b = np.ascontiguousarray(base, dtype=np.float64)
        if not 0 <= depth <= MAX_DEPTH:
            raise InvalidInputError(f"tree depth must be in [0, {MAX_DEPTH}], got {depth}")
        self.depth = depth
        self.n_int = (1 << depth) - 1
        self.n_leaf = 1 << depth
        self.n_trees = to.shape[0]
        self.n_outputs = b.shape[0]
        self.n_features = n_features
        if not 1 <= self.n_outputs <= MAX_OUT:
            raise InvalidInputError(f"outputs must be in [1, {MAX_OUT}], got {self.n_outputs}")
        if link not in (LINK_IDENTITY, LINK_LOGISTIC, LINK_SOFTMAX) or (link == LINK_LOGISTIC and self.n_outputs != 1) \
                or (link == LINK_SOFTMAX and self.n_outputs < 2):
            raise InvalidInputError(f"link {link} does not fit {self.n_outputs} outputs")
        if (t.shape[0] != self.n_trees or f.shape[0] != self.n_trees or m.shape[0] != self.n_trees
                or lv.shape[0] != self.n_trees or t.shape[1] != self.n_int or f.shape[1] != self.n_int
                or m.shape[1] != self.n_int or lv.shape[1] != self.n_leaf):
            raise InvalidInputError("tree arrays do not have the shapes of a perfect ensemble of this depth")
        if self.n_trees and self.n_int and (np.asarray(f).min() < 0 or np.asarray(f).max() >= n_features):
            raise InvalidInputError(f"a split feature index is outside [0, {n_features})")
        if self.n_trees and (np.asarray(to).min() < 0 or np.asarray(to).max() >= self.n_outputs):
            raise InvalidInputError(f"a tree's output index is outside [0, {self.n_outputs})")
        if not np.isfinite(np.asarray(lv)).all() or not np.isfinite(np.asarray(b)).all():
            raise InvalidInputError("leaf values and baselines must be finite")
        if np.isnan(np.asarray(t)).any():
            raise InvalidInputError("thresholds must not be NaN")
        tt = np.asarray(t)
        if (tt == DBL_MAX).any():
            raise InvalidInputError("a split threshold equal to the largest double is not supported")
        self.link = link
        self.f32 = f32
        self.acc32 = acc32
        # Trees are padded to a multiple of BLOCK with all-left trees whose leaves are 0.0, so the
        # lockstep walk needs no tail loop (adding +0.0 leaves every sum unchanged).
        self.n_trees = ((self.n_trees + BLOCK - 1) // BLOCK) * BLOCK
        self.nodes = <TNode*>calloc(max(1, self.n_trees * self.n_int), sizeof(TNode))
        self.leaves = <double*>calloc(max(1, self.n_trees * self.n_leaf), sizeof(double))
        self.tree_out = <int32_t*>calloc(max(1, self.n_trees), sizeof(int32_t))
        self.base = <double*>malloc(self.n_outputs * sizeof(double))
        if self.nodes == NULL or self.leaves == NULL or self.tree_out == NULL or self.base == NULL:
            raise MemoryError()
        # Nodes read a doubled row x2[2f + nan_right] in which NaN is -inf (left copy) or +inf
        # (right copy) and a real +inf is the largest double: one comparison routes every value.
        # A node sending NaN right past threshold +inf gets threshold DBL_MAX, so NaN (+inf) still
        # goes right and a real +inf (DBL_MAX) still goes left.
        for i in range(to.shape[0] * self.n_int):
            self.nodes[i].thr = t[i // self.n_int, i % self.n_int]
            self.nodes[i].nan_right = 1 if m[i // self.n_int, i % self.n_int] else 0
            self.nodes[i].feat = 2 * f[i // self.n_int, i % self.n_int] + self.nodes[i].nan_right
            if self.nodes[i].thr == INFINITY and self.nodes[i].nan_right:
                self.nodes[i].thr = DBL_MAX
        for i in range(to.shape[0] * self.n_int, self.n_trees * self.n_int):
            self.nodes[i].thr = INFINITY                    # padding trees: everything left
        for i in range(to.shape[0]):
            memcpy(&self.leaves[i * self.n_leaf], &lv[i, 0], self.n_leaf * sizeof(double))
            self.tree_out[i] = to[i]
        for i in range(self.n_outputs):
            self.base[i] = b[i]

    def __dealloc__(self):
        free(self.nodes)
        free(self.leaves)
        free(self.tree_out)
        free(self.base)

    # ---------------------------------------------------------------- the kernel
    cdef void _raw(self, const double* x, double* out) noexcept nogil:
        """Raw scores of a prepared (doubled) row into out[n_outputs]."""
        cdef Py_ssize_t t = 0, n = self.n_trees, d, b
        cdef Py_ssize_t idx[BLOCK]
        cdef int k
        cdef const TNode* nb
        cdef const TNode* nd
        cdef double a1
        cdef double accd[MAX_OUT]
        cdef float acc[MAX_OUT]
        cdef float a1f
        cdef Py_ssize_t L = self.n_leaf, I = self.n_int
        cdef bint single = self.n_outputs == 1, f32acc = self.acc32
        for k in range(self.n_outputs):
            accd[k] = self.base[k]
            acc[k] = <float>self.base[k]
        a1 = self.base[0]
        a1f = <float>self.base[0]
        # BLOCK trees in lockstep: their load chains are independent, so the core overlaps them.
        # Leaves are then added in tree order (the libraries' order), into a register when there
        # is one output.
        while t < n:
            nb = self.nodes + t * I
            for b in range(BLOCK):
                idx[b] = 0
            for d in range(self.depth):
                for b in range(BLOCK):
                    nd = nb + b * I + idx[b]
                    idx[b] = 2 * idx[b] + 1 + (x[nd.feat] > nd.thr)
            if single:
                if f32acc:
                    for b in range(BLOCK):
                        a1f += <float>self.leaves[(t + b) * L + idx[b] - I]
                else:
                    for b in range(BLOCK):
                        a1 += self.leaves[(t + b) * L + idx[b] - I]
            elif f32acc:
                for b in range(BLOCK):
                    acc[self.tree_out[t + b]] += <float>self.leaves[(t + b) * L + idx[b] - I]
            else:
                for b in range(BLOCK):
                    accd[self.tree_out[t + b]] += self.leaves[(t + b) * L + idx[b] - I]
            t += BLOCK
        if single:
            out[0] = a1f if f32acc else a1
        else:
            for k in range(self.n_outputs):
                out[k] = acc[k] if f32acc else accd[k]

    cdef void _link(self, const double* x, double* out) noexcept nogil:
        """Link applied to the raw scores of a prepared row: out[n_classes] (2 for logistic)."""
        cdef int k, K = self.n_outputs
        cdef double raw[MAX_OUT]
        cdef double s
        cdef float mxf, sf, pf
        cdef float ef[MAX_OUT]
        self._raw(x, raw)
        if self.link == C_IDENTITY:
            for k in range(K):
                out[k] = raw[k]
        elif self.link == C_LOGISTIC:
            if self.acc32:
                pf = sigmoidf(<float>raw[0])
                out[1] = pf
                out[0] = <float>(1.0 - pf)         # exact in double; what predict_proba's 1 - p gives
            else:
                out[1] = sigmoid(raw[0])
                out[0] = 1.0 - out[1]
        else:
            if self.acc32:
                # XGBoost's common::Softmax: float exponentials, a double sum cast to float once
                mxf = <float>raw[0]
                for k in range(1, K):
                    if <float>raw[k] > mxf:
                        mxf = <float>raw[k]
                s = 0.0
                for k in range(K):
                    ef[k] = expf(<float>raw[k] - mxf)
                    s += ef[k]
                sf = <float>s
                for k in range(K):
                    out[k] = ef[k] / sf
            else:
                softmax(raw, out, K)

    @property
    def n_classes(self):
        return 2 if self.link == LINK_LOGISTIC else self.n_outputs

    # ---------------------------------------------------------------- drivers
    def proba_one(self, cnp.ndarray x, cnp.ndarray out):
        """One row (float64, C-contiguous, length n_features) -> out (float64, length n_classes);
        no threads. The arrays are checked by flags, not memoryviews: a call costs ~100 ns less."""
        _check_vec(x, self.n_features, "x")
        _check_vec(out, self.n_classes_c(), "out")
        self._row(<const double*>cnp.PyArray_DATA(x), <double*>cnp.PyArray_DATA(out), False)

    def proba_batch(self, const double[:, ::1] X, double[:, ::1] out, int n_threads=1, bint raw=False):
        """Rows of X -> rows of out (probabilities, or raw scores with ``raw``), in parallel over
        rows with n_threads (OpenMP where the build has it; serial otherwise)."""
        cdef Py_ssize_t n = X.shape[0], i, nf = self.n_features
        if X.shape[1] != nf:
            raise InvalidInputError(f"expected {nf} features, got {X.shape[1]}")
        if out.shape[0] != n or out.shape[1] != (self.n_outputs if raw else self.n_classes):
            raise InvalidInputError("out has the wrong shape")
        if n == 0:
            return
        if n_threads < 1:
            n_threads = 1
        for i in prange(n, nogil=True, num_threads=n_threads, schedule="static"):
            self._row(&X[i, 0], &out[i, 0], raw)

    cdef void _row(self, const double* x, double* out, bint raw) noexcept nogil:
        cdef double xbuf[2 * XBUF]
        cdef double* xb = xbuf
        cdef int k
        if self.n_features > XBUF:
            xb = <double*>malloc(2 * self.n_features * sizeof(double))
            if xb == NULL:          # no memory for the prepared row: no answer rather than a wrong one
                for k in range(self.n_outputs if raw else self.n_classes_c()):
                    out[k] = NAN
                return
        self._prep_and_run(x, xb, out, raw)
        if xb != xbuf:
            free(xb)

    cdef inline int n_classes_c(self) noexcept nogil:
        return 2 if self.link == C_LOGISTIC else self.n_outputs

    cdef void _prep_and_run(self, const double* x, double* xb, double* out, bint raw) noexcept nogil:
        cdef Py_ssize_t j
        cdef double v
        for j in range(self.n_features):
            v = <double>(<float>x[j]) if self.f32 else x[j]
            if v != v:
                xb[2 * j] = -INFINITY
                xb[2 * j + 1] = INFINITY
            else:
                if v == INFINITY:
                    v = DBL_MAX
                xb[2 * j] = v
                xb[2 * j + 1] = v
        if raw:
            self._raw(xb, out)
        else:
            self._link(xb, out)

    def raw_one(self, const double[::1] x, double[::1] out):
        """Raw scores (before the link) of one row."""
        if x.shape[0] != self.n_features or out.shape[0] != self.n_outputs:
            raise InvalidInputError("wrong input or output length")
        self._row(&x[0], &out[0], True)


cdef void forest_proba(object forest, const double* x, double* out) noexcept:
    (<Forest>forest)._row(x, out, False)
