"""Build script: the explicit list of compiled extensions and their Cython directives.

Set ``OFI_CYTHON_DEBUG=1`` to rebuild with bounds, wraparound and initialisation checks on
(and line tracing); the test suite must pass both ways. ``OFI_BUILD_ONLY=rolling,flow`` compiles
only the named kernels (a development shortcut when several people edit different kernels).
"""
import os
import sys

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("OFI_CYTHON_DEBUG", "") not in ("", "0")

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}

if sys.platform == "win32":
    COMPILE_ARGS = ["/O2"]
else:
    # -fno-trapping-math: nothing here reads floating-point exception flags, and without it gcc
    # will not if-convert comparisons on doubles, so branch-free kernels (the OFI cases) would
    # not vectorise. Results are unchanged (IEEE arithmetic is kept; only trap flags may differ).
    # -ffp-contract=off: no fused multiply-add (aarch64 gcc contracts by default), so a kernel
    # inlined into a streaming class and into a batch loop rounds identically everywhere.
    COMPILE_ARGS = (["-O0", "-g"] if DEBUG else ["-O3", "-fno-trapping-math"]) + ["-ffp-contract=off"]

# Every .pyx under ofi/ must be listed here (tests/unit/test_build.py checks it): the core's kernels,
# then each venue's compiled frame decoder.
MODULES = [
    "ofi._core.events", "ofi._core.decoder", "ofi._core.book", "ofi._core.replay", "ofi._core.rolling",
    "ofi._core.flow", "ofi._core.vpin", "ofi._core.impact", "ofi._core.features", "ofi._core.trees",
    "ofi._core.linear", "ofi._core.strategy", "ofi._core.backtest",
    "ofi.venues.bybit._decode",
]

# Kernels with OpenMP loops (prange): parallel where the compiler has OpenMP, serial otherwise.
OPENMP = {"ofi._core.trees"}
if sys.platform == "win32":
    OPENMP_ARGS, OPENMP_LINK = ["/openmp"], []
elif sys.platform == "darwin":
    OPENMP_ARGS, OPENMP_LINK = [], []          # Apple clang has no OpenMP: serial batches
else:
    OPENMP_ARGS, OPENMP_LINK = ["-fopenmp"], ["-fopenmp"]

ONLY = [m for m in os.environ.get("OFI_BUILD_ONLY", "").split(",") if m]   # last parts: "book,_decode"

EXTENSIONS = [
    Extension(
        name,
        [name.replace(".", "/") + ".pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=COMPILE_ARGS + (OPENMP_ARGS if name in OPENMP else []),
        extra_link_args=OPENMP_LINK if name in OPENMP else [],
    )
    for name in MODULES
    if not ONLY or name.rsplit(".", 1)[-1] in ONLY
]

setup(
    ext_modules=cythonize(
        EXTENSIONS,
        compiler_directives=DIRECTIVES,
        annotate=os.environ.get("OFI_CYTHON_ANNOTATE", "") not in ("", "0"),
    ),
)
