"""Bar-close indicators (``ofi.features.indicators``): hand-derived EMA, EMA crossover, Wilder RSI,
Bollinger position and momentum on short sequences, a comparison of each with a plain Python loop
written here, and bad input.

Conventions (the registry's indicator rows): EMA seeded with x[0], alpha = 2 / (span + 1), valid
from index 0; crossover NaN before index slow - 1; RSI NaN before index ``period`` and when the
smoothed gain and loss are both 0; Bollinger (x - mean) / (2 sd), ddof 1, NaN before period - 1
or when sd == 0; momentum 1e4 ln(x[i] / x[i - n]), NaN before n.
"""
from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from ofi.errors import InvalidInputError
from ofi.features import indicators as ind

NAN = math.nan


def close_to(got, want, rel=1e-12, abs_=1e-12):
    """Element-wise: NaN exactly where want is NaN, else equal to rel / abs tolerance."""
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert np.array_equal(np.isnan(got), np.isnan(want)), (got, want)
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=rel, atol=abs_)


# ================================================================================ hand-derived
def test_ema_by_hand():
    # span 3 -> alpha = 2/4 = 0.5; e0 = 10, e1 = 10 + .5(12 - 10) = 11, e2 = 11 + .5(11 - 11) = 11,
    # e3 = 11 + .5(15 - 11) = 13 (all exact in binary)
    x = np.array([10.0, 12.0, 11.0, 15.0])
    out = ind.ema(x, 3)
    assert out.dtype == np.float64 and out.shape == (4,)
    np.testing.assert_array_equal(out, [10.0, 11.0, 11.0, 13.0])
    # span 1 -> alpha 1: the series itself
    np.testing.assert_array_equal(ind.ema(x, 1), x)
    # span 2 -> alpha 2/3: e1 = 10 + (2/3)2 = 34/3, e2 = 34/3 + (2/3)(11 - 34/3) = 100/9,
    # e3 = 100/9 + (2/3)(15 - 100/9) = 370/27
    close_to(ind.ema(x, 2), [10.0, 34 / 3, 100 / 9, 370 / 27], rel=1e-15)


def test_ema_crossover_by_hand():
    x = np.array([10.0, 12.0, 11.0, 15.0])
    # fast 1 (the close itself), slow 3 (10, 11, 11, 13 above); NaN before index slow - 1 = 2
    # i=2: 1e4 (11 - 11) / 11 = 0; i=3: 1e4 (15 - 13) / 13 = 20000/13
    close_to(ind.ema_crossover_bps(x, 1, 3), [NAN, NAN, 0.0, 20000 / 13])
    # fast 2 (10, 34/3, 100/9, 370/27), slow 3:
    # i=2: 1e4 (100/9 - 11) / 11 = 1e4 (1/9) / 11 = 10000/99
    # i=3: 1e4 (370/27 - 13) / 13 = 1e4 (19/27) / 13 = 190000/351
    close_to(ind.ema_crossover_bps(x, 2, 3), [NAN, NAN, 10000 / 99, 190000 / 351])


def test_rsi_wilder_by_hand():
    # closes 44 45 43 46 46 44 -> changes +1 -2 +3 0 -2; period 3
    # i=3: G = (1 + 0 + 3)/3 = 4/3, L = (0 + 2 + 0)/3 = 2/3 -> 100 (4/3) / 2 = 200/3
    # i=4: change 0: G = (0 + 2 * 4/3)/3 = 8/9, L = (0 + 2 * 2/3)/3 = 4/9 -> 100 (8/9)/(12/9) = 200/3
    # i=5: change -2: G = (0 + 2 * 8/9)/3 = 16/27, L = (2 + 2 * 4/9)/3 = 26/27 -> 100 * 16/42 = 800/21
    x = np.array([44.0, 45.0, 43.0, 46.0, 46.0, 44.0])
    close_to(ind.rsi(x, 3), [NAN, NAN, NAN, 200 / 3, 200 / 3, 800 / 21])


def test_rsi_edge_values():
    # only gains: L = 0, G > 0 -> 100; a flat series: G = L = 0 -> NaN (not 50, not 100)
    close_to(ind.rsi(np.array([1.0, 2.0, 3.0, 4.0]), 2), [NAN, NAN, 100.0, 100.0])
    close_to(ind.rsi(np.array([5.0, 5.0, 5.0, 5.0]), 2), [NAN] * 4)
    # only losses -> 0
    close_to(ind.rsi(np.array([4.0, 3.0, 2.0, 1.0]), 2), [NAN, NAN, 0.0, 0.0])
    # period 1: the first average is the first change alone; i=1: +2 -> 100; i=2: -1: G = (0 + 0 * 2)/1 = 0,
    # L = 1 -> 0; i=3: +3: G = 3, L = (0 + 0 * 1)/1 = 0 -> 100
    close_to(ind.rsi(np.array([1.0, 3.0, 2.0, 5.0]), 1), [NAN, 100.0, 0.0, 100.0])


def test_bollinger_position_by_hand():
    # period 3, ddof 1: [1,2,3] mean 2 sd 1 -> (3-2)/2 = 0.5; [2,3,4] -> 0.5;
    # [3,4,6]: mean 13/3, deviations -4/3 -1/3 5/3, var (16+1+25)/9/2 = 7/3 -> (5/3) / (2 sqrt(7/3))
    x = np.array([1.0, 2.0, 3.0, 4.0, 6.0])
    close_to(ind.bollinger_position(x, 3), [NAN, NAN, 0.5, 0.5, (5 / 3) / (2 * math.sqrt(7 / 3))])
    # a flat window has sd 0 -> NaN; the window [5, 5, 8] is not flat: mean 6, sd sqrt(3) -> 2/(2 sqrt 3)
    y = np.array([5.0, 5.0, 5.0, 8.0])
    close_to(ind.bollinger_position(y, 3), [NAN, NAN, NAN, 1 / math.sqrt(3)])


def test_momentum_by_hand():
    x = np.array([100.0, 110.0, 121.0])
    close_to(ind.momentum_bps(x, 1), [NAN, 1e4 * math.log(1.1), 1e4 * math.log(1.1)])
    close_to(ind.momentum_bps(x, 2), [NAN, NAN, 1e4 * math.log(1.21)])


def test_shorter_than_the_window_is_all_nan():
    x = np.array([1.0, 2.0])
    assert np.isnan(ind.rsi(x, 2)).all()
    assert np.isnan(ind.bollinger_position(x, 3)).all()
    assert np.isnan(ind.momentum_bps(x, 2)).all()
    assert np.isnan(ind.ema_crossover_bps(x, 1, 3)).all()
    np.testing.assert_array_equal(ind.ema(x, 5), [1.0, 1.0 + (2 / 6) * 1.0])


# ================================================================== against plain Python loops
def py_ema(x, span):
    a = 2.0 / (span + 1.0)
    out, e = [], None
    for v in x:
        e = v if e is None else e + a * (v - e)
        out.append(e)
    return out


def py_crossover(x, fast, slow):
    f, s = py_ema(x, fast), py_ema(x, slow)
    return [NAN if i < slow - 1 else 1e4 * (f[i] - s[i]) / s[i] for i in range(len(x))]


def py_rsi(x, period):
    out = [NAN] * len(x)
    g = l = 0.0
    for i in range(1, len(x)):
        d = x[i] - x[i - 1]
        up, down = max(d, 0.0), max(-d, 0.0)
        if i <= period:
            g += up / period
            l += down / period
        else:
            g = (up + (period - 1) * g) / period
            l = (down + (period - 1) * l) / period
        if i >= period:
            out[i] = NAN if g == 0.0 and l == 0.0 else 100.0 * g / (g + l)
    return out


def py_bollinger(x, period):
    out = [NAN] * len(x)
    for i in range(period - 1, len(x)):
        w = x[i - period + 1:i + 1]
        sd = statistics.stdev(w)
        out[i] = NAN if sd == 0 else (x[i] - statistics.fmean(w)) / (2 * sd)
    return out


def py_momentum(x, n):
    return [NAN if i < n else 1e4 * math.log(x[i] / x[i - n]) for i in range(len(x))]


def random_walk(n=500, seed=7):
    rng = np.random.default_rng(seed)
    # a mid in ticks: integer steps of -2..2 around 60000, so flat stretches and zero changes occur
    return 60000.0 + np.cumsum(rng.integers(-2, 3, n)).astype(float)


@pytest.mark.parametrize("span", [1, 2, 12, 26, 600])
def test_ema_equals_a_python_loop(span):
    x = random_walk()
    close_to(ind.ema(x, span), py_ema(x.tolist(), span), rel=1e-13)


@pytest.mark.parametrize("fast,slow", [(1, 2), (12, 26), (5, 499), (3, 600)])
def test_ema_crossover_equals_a_python_loop(fast, slow):
    x = random_walk()
    close_to(ind.ema_crossover_bps(x, fast, slow), py_crossover(x.tolist(), fast, slow), rel=1e-9, abs_=1e-9)


@pytest.mark.parametrize("period", [1, 2, 14, 100])
def test_rsi_equals_a_python_loop(period):
    x = random_walk()
    close_to(ind.rsi(x, period), py_rsi(x.tolist(), period), rel=1e-10, abs_=1e-9)


@pytest.mark.parametrize("period", [2, 3, 20, 100])
def test_bollinger_equals_a_python_loop(period):
    x = random_walk()
    close_to(ind.bollinger_position(x, period), py_bollinger(x.tolist(), period), rel=1e-8, abs_=1e-9)


@pytest.mark.parametrize("n", [1, 10, 60])
def test_momentum_equals_a_python_loop(n):
    x = random_walk()
    close_to(ind.momentum_bps(x, n), py_momentum(x.tolist(), n), rel=1e-10, abs_=1e-10)


def test_lists_and_non_contiguous_arrays_give_the_same_numbers():
    x = random_walk(200)
    strided = np.repeat(x, 2)[::2]          # the same values, stride 16 bytes
    assert not strided.flags.c_contiguous
    for f, args in ((ind.ema, (5,)), (ind.ema_crossover_bps, (3, 7)), (ind.rsi, (5,)),
                    (ind.bollinger_position, (5,)), (ind.momentum_bps, (3,))):
        want = f(x, *args)
        assert np.array_equal(f(strided, *args), want, equal_nan=True), f.__name__
        assert np.array_equal(f(x.tolist(), *args), want, equal_nan=True), f.__name__


def test_empty_input_gives_empty_output_or_a_clear_error():
    for f, args in ((ind.ema, (5,)), (ind.ema_crossover_bps, (3, 7)), (ind.rsi, (5,)),
                    (ind.bollinger_position, (5,)), (ind.momentum_bps, (3,))):
        try:
            out = f(np.array([], dtype=float), *args)
        except InvalidInputError:
            continue
        assert out.shape == (0,) and out.dtype == np.float64, f.__name__


# ===================================================================================== bad input
FUNCS = [(ind.ema, (5,)), (ind.ema_crossover_bps, (3, 7)), (ind.rsi, (5,)), (ind.bollinger_position, (5,)),
         (ind.momentum_bps, (3,))]


@pytest.mark.parametrize("f,args", FUNCS, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("bad", [None, "abc", np.ones((3, 3)), np.array([1.0, NAN, 3.0]),
                                 np.array([1.0, math.inf, 3.0]), np.array([1.0, -math.inf]), 5.0],
                         ids=["None", "str", "2-D", "nan", "inf", "-inf", "scalar"])
def test_bad_series_is_refused(f, args, bad):
    with pytest.raises(InvalidInputError):
        f(bad, *args)


@pytest.mark.parametrize("call", [
    lambda x: ind.ema(x, 0), lambda x: ind.ema(x, -3), lambda x: ind.ema(x, 2.5), lambda x: ind.ema(x, None),
    lambda x: ind.rsi(x, 0), lambda x: ind.rsi(x, -1),
    lambda x: ind.bollinger_position(x, 0),
    lambda x: ind.momentum_bps(x, 0), lambda x: ind.momentum_bps(x, -2),
    lambda x: ind.ema_crossover_bps(x, 0, 3), lambda x: ind.ema_crossover_bps(x, 3, 0),
], ids=["ema0", "ema-3", "ema2.5", "emaNone", "rsi0", "rsi-1", "boll0", "mom0", "mom-2", "xfast0", "xslow0"])
def test_bad_lengths_are_refused(call):
    with pytest.raises(InvalidInputError):
        call(random_walk(30))


def test_momentum_of_non_positive_closes_is_refused_or_nan():
    # ln(x / x_prev) is undefined for x <= 0: never a silent inf
    x = np.array([1.0, 0.0, 2.0, -1.0])
    try:
        out = ind.momentum_bps(x, 1)
    except InvalidInputError:
        return
    assert not np.isinf(out).any()
