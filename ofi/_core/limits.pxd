# Limits and constants the compiled kernels share. The Python layers read the same values from
# ofi.validation, which the core cannot import (it sits above the core); ofi._core.strategy exposes
# the core's values as KERNEL_CONSTANTS and tests/parity/test_validation_twins.py pins the two.
from libc.stdint cimport int64_t

cdef enum:
    MAX_CLASSES = 64            # classes (outputs) a compiled forest or linear model holds

cdef inline int64_t ns_per_day() noexcept nogil:
    return 86400 * <int64_t>1000000000           # ns in a UTC day
