"""Compiled inference for linear classifiers (``ofi.models.LogisticModel``): mean imputation,
standardisation and a logistic or softmax link, in the operation order scikit-learn's
SimpleImputer -> StandardScaler -> LogisticRegression pipeline uses."""
cimport cython
from libc.stdlib cimport malloc, free
from ofi._core.links cimport sigmoid, softmax
from ofi._core.limits cimport MAX_CLASSES as MAX_OUT

import numpy as np
cimport numpy as cnp

from ofi.errors import InvalidInputError

cnp.import_array()



@cython.final
cdef class Linear:
    """z_j = (x_j, or fill_j if NaN, - mean_j) / scale_j; s_k = sum_j z_j coef_kj + intercept_k;
    one output: p = 1 / (1 + exp(-s_0)); several: softmax(s)."""
    cdef double* fill
    cdef double* mean
    cdef double* scale
    cdef double* coef           # n_out x n_features
    cdef double* intercept
    cdef readonly Py_ssize_t n_features
    cdef readonly int n_outputs

    def __cinit__(self, fill, mean, scale, coef, intercept):
        cdef const double[::1] f = np.ascontiguousarray(fill, dtype=np.float64)
        cdef const double[::1] m = np.ascontiguousarray(mean, dtype=np.float64)
        cdef const double[::1] s = np.ascontiguousarray(scale, dtype=np.float64)
        cdef const double[:, ::1] c = np.ascontiguousarray(np.atleast_2d(coef), dtype=np.float64)
        cdef const double[::1] b = np.ascontiguousarray(np.atleast_1d(intercept), dtype=np.float64)
        cdef Py_ssize_t n = f.shape[0], K = c.shape[0], i
        if m.shape[0] != n or s.shape[0] != n or c.shape[1] != n or b.shape[0] != K or not 1 <= K <= MAX_OUT:
            raise InvalidInputError("linear model arrays do not agree in shape")
        for arr in (fill, mean, scale, coef, intercept):
            if not np.isfinite(np.asarray(arr, dtype=np.float64)).all():
                raise InvalidInputError("linear model arrays must be finite")
        if not (np.asarray(s) != 0).all():
            raise InvalidInputError("scale must be non-zero")
        self.n_features = n
        self.n_outputs = K
        self.fill = <double*>malloc(max(1, n) * sizeof(double))
        self.mean = <double*>malloc(max(1, n) * sizeof(double))
        self.scale = <double*>malloc(max(1, n) * sizeof(double))
        self.coef = <double*>malloc(max(1, n * K) * sizeof(double))
        self.intercept = <double*>malloc(K * sizeof(double))
        if not (self.fill and self.mean and self.scale and self.coef and self.intercept):
            raise MemoryError()
        for i in range(n):
            self.fill[i] = f[i]
            self.mean[i] = m[i]
            self.scale[i] = s[i]
        for i in range(n * K):
            self.coef[i] = c[i // n, i % n]
        for i in range(K):
            self.intercept[i] = b[i]

    def __dealloc__(self):
        free(self.fill)
        free(self.mean)
        free(self.scale)
        free(self.coef)
        free(self.intercept)

    @property
    def n_classes(self):
        return 2 if self.n_outputs == 1 else self.n_outputs

    cdef void _proba(self, const double* x, double* out) noexcept nogil:
        cdef Py_ssize_t j, n = self.n_features
        cdef int k, K = self.n_outputs
        cdef double s[MAX_OUT]
        cdef double z
        for k in range(K):
            s[k] = 0.0
        for j in range(n):
            z = x[j]
            if z != z:
                z = self.fill[j]
            z = (z - self.mean[j]) / self.scale[j]
            for k in range(K):
                s[k] += z * self.coef[k * n + j]
        if K == 1:
            out[1] = sigmoid(s[0] + self.intercept[0])
            out[0] = 1.0 - out[1]
            return
        for k in range(K):
            s[k] += self.intercept[k]
        softmax(s, out, K)

    def proba_one(self, cnp.ndarray x, cnp.ndarray out):
        """One row (float64, C-contiguous) -> out (float64, length n_classes)."""
        if (cnp.PyArray_TYPE(x) != cnp.NPY_DOUBLE or cnp.PyArray_NDIM(x) != 1 or not cnp.PyArray_IS_C_CONTIGUOUS(x)
                or cnp.PyArray_DIM(x, 0) != self.n_features):
            raise InvalidInputError(f"x must be a C-contiguous float64 vector of length {self.n_features}")
        if (cnp.PyArray_TYPE(out) != cnp.NPY_DOUBLE or cnp.PyArray_NDIM(out) != 1
                or not cnp.PyArray_IS_C_CONTIGUOUS(out) or cnp.PyArray_DIM(out, 0) != self.n_classes):
            raise InvalidInputError(f"out must be a C-contiguous float64 vector of length {self.n_classes}")
        self._proba(<const double*>cnp.PyArray_DATA(x), <double*>cnp.PyArray_DATA(out))

    def proba_batch(self, const double[:, ::1] X, double[:, ::1] out, int n_threads=1):
        """Rows of X -> rows of out. Serial: a linear row costs less than a thread hand-off;
        ``n_threads`` is accepted so both compiled predictors take the same call."""
        cdef Py_ssize_t i, n = X.shape[0]
        if X.shape[1] != self.n_features or out.shape[0] != n or out.shape[1] != self.n_classes:
            raise InvalidInputError("X or out has the wrong shape")
        with nogil:
            for i in range(n):
                self._proba(&X[i, 0], &out[i, 0])


cdef void linear_proba(object model, const double* x, double* out) noexcept:
    (<Linear>model)._proba(x, out)
