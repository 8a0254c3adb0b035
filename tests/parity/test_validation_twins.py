"""The compiled core's twins of ``ofi.validation`` agree with it.

The core sits below ``ofi.validation`` and cannot import it, so it keeps its own copies of a few rules
and constants (``ofi/_core/rolling.pxd``'s ``count_arg`` / ``min_periods_arg``, ``ofi/_core/limits.pxd``).
These tests pin each copy to the Python one: a change to either side alone fails here.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ofi import validation
from ofi._core.flow import MultiLevelOFI
from ofi._core.impact import HasbrouckLambda
from ofi._core.strategy import KERNEL_CONSTANTS
from ofi.errors import InvalidInputError


def test_kernel_constants_equal_the_validation_module():
    assert KERNEL_CONSTANTS == {"NS_PER_DAY": validation.NS_PER_DAY, "MAX_CLASSES": validation.MAX_CLASSES}
    assert validation.NS_PER_DAY == 24 * 3600 * 10**9            # by hand: a UTC day


def _accepts(fn, *args) -> bool:
    try:
        fn(*args)
    except InvalidInputError:
        return False
    return True


_VALUES = st.one_of(
    st.integers(-5, 50), st.booleans(), st.none(), st.floats(allow_nan=True), st.text(max_size=3),
    st.integers(-5, 50).map(np.int64), st.integers(-5, 50).map(float),
)


@settings(max_examples=300, deadline=None)
@given(_VALUES)
def test_count_arg_accepts_what_positive_int_accepts(value):
    # MultiLevelOFI(levels=...) runs the core's count_arg(name, value, minimum=1)
    core = _accepts(MultiLevelOFI, value)
    py = _accepts(validation.positive_int, "levels", value)
    assert core == py, (value, core, py)
    if core:
        assert MultiLevelOFI(value).levels == validation.positive_int("levels", value)


@pytest.mark.parametrize("value", [-1, 0, 1, 2, True, 1.0, np.int32(3)])
def test_count_arg_and_positive_int_agree_on_the_edges(value):
    assert _accepts(MultiLevelOFI, value) == _accepts(validation.positive_int, "levels", value)


def test_count_arg_also_caps_counts_at_the_c_int_range():
    # The one intended difference: the core stores counts in C ints, so it refuses 2**31 and beyond
    # (positive_int has no upper bound; Python sizes are unbounded).
    with pytest.raises(InvalidInputError, match="levels must be an integer >= 1"):
        MultiLevelOFI(2**31)
    assert validation.positive_int("levels", 2**31) == 2**31


@settings(max_examples=300, deadline=None)
@given(st.integers(2, 30), _VALUES)
def test_min_periods_arg_accepts_what_min_periods_accepts(window, value):
    # HasbrouckLambda(window, min_periods=...) runs min_periods_arg(value, window, minimum=1)
    core = _accepts(lambda: HasbrouckLambda(window, min_periods=value))
    py = _accepts(validation.min_periods, value, window)
    assert core == py, (window, value, core, py)
    if core:
        assert HasbrouckLambda(window, min_periods=value).min_periods == validation.min_periods(value, window)
