"""Labels (``ofi.models.labels``): forward mid moves and triple barriers by hand, against plain-loop
references on random markets (the references below are the executable specification), and bad input."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ofi.errors import InvalidInputError, OfiError
from ofi.models.labels import LabelSet, _first_at_or_above, forward_move_labels, triple_barrier_labels

NAN = math.nan


def same(a, b):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# ================================================================================ plain-loop references
def ref_forward(ts, mid, *, horizon_ns=None, horizon_events=None, dz=0.0, tick=None, classes=3):
    """Forward move, one sample at a time, straight from the definition in the docstring."""
    n = len(ts)
    y, t1, valid, mv = [], [], [], []
    for i in range(n):
        if horizon_ns is not None:
            j = i
            while j + 1 < n and ts[j + 1] <= ts[i] + horizon_ns:
                j += 1
            in_data = ts[i] + horizon_ns <= ts[-1]
        else:
            j = min(i + horizon_events, n - 1)
            in_data = i + horizon_events <= n - 1
        ok = in_data and not math.isnan(mid[i]) and not math.isnan(mid[j])
        lab = 0
        if ok:
            m = 1e4 * (mid[j] / mid[i] - 1.0) if tick is None else round((mid[j] - mid[i]) / tick, 6)
            lab = 1 if m > dz else (-1 if m < -dz else 0)
            if classes == 2:
                lab = int(lab == 1)
        y.append(lab)
        t1.append(ts[j])
        valid.append(ok)
        mv.append(1e4 * (mid[j] / mid[i] - 1.0) if ok else NAN)
    return y, t1, valid, mv


def ref_triple(ts, p, *, upper_bps, lower_bps, horizon_ns, classes=3):
    """Triple barrier, one sample at a time: walk forward until a barrier or the horizon."""
    n = len(ts)
    y, t1, valid = [], [], []
    for i in range(n):
        up = p[i] * (1 + upper_bps * 1e-4) if upper_bps is not None else math.inf
        lo = p[i] * (1 - lower_bps * 1e-4) if lower_bps is not None else -math.inf
        lab, end, k = 0, i, i + 1
        while k < n and ts[k] <= ts[i] + horizon_ns:
            end = k
            if p[k] >= up:
                lab = 1
                break
            if p[k] <= lo:
                lab = -1
                break
            k += 1
        ok = not math.isnan(p[i]) and (lab != 0 or ts[i] + horizon_ns <= ts[-1])
        if not ok:
            lab = 0
        y.append(int(lab == 1) if classes == 2 else lab)
        t1.append(ts[end])
        valid.append(ok)
    return y, t1, valid


def random_market(rng, n, *, nan_share=0.0, dup_share=0.3, step_bps=8.0):
    gaps = rng.integers(1, 10, size=n)
    gaps[rng.random(n) < dup_share] = 0                    # same-ns events
    ts = (1_700_000_000_000_000_000 + np.cumsum(gaps)).astype(np.int64)
    mid = 100.0 * np.exp(np.cumsum(rng.normal(0.0, step_bps * 1e-4, n)))
    mid[rng.random(n) < nan_share] = NAN
    return ts, mid


# ================================================================================ forward move by hand
def test_forward_move_event_horizon_by_hand():
    ts = [0, 1, 2, 3, 4]
    mid = [100.0, 100.05, 100.2, 99.9, 100.0]
    lab = forward_move_labels(ts, mid, horizon_events=1, dead_zone_bps=10.0)
    # moves (bps): +5.0 (flat: |5| <= 10), +14.99 (0.15/100.05), -29.94 (0.3/100.2), +10.01 (0.1/99.9);
    # the last row has no mid one event later
    same(lab.y, [0, 1, -1, 1, 0])
    same(lab.valid, [True, True, True, True, False])
    same(lab.t0, [0, 1, 2, 3, 4])
    same(lab.t1, [1, 2, 3, 4, 4])
    assert lab.move_bps[0] == pytest.approx(5.0, rel=1e-9)
    assert lab.move_bps[1] == pytest.approx(14.992503748, rel=1e-9)
    assert lab.move_bps[2] == pytest.approx(-29.940119760, rel=1e-9)
    assert lab.move_bps[3] == pytest.approx(10.010010010, rel=1e-9)
    assert math.isnan(lab.move_bps[4])
    assert lab.y.dtype == np.int8 and lab.t0.dtype == lab.t1.dtype == np.int64 and lab.valid.dtype == bool
    assert lab.classes == (-1, 0, 1) and len(lab) == 5
    assert lab.counts() == {-1: 1, 0: 1, 1: 2}
    # two classes: up vs (flat or down)
    two = forward_move_labels(ts, mid, horizon_events=1, dead_zone_bps=10.0, classes=2)
    same(two.y, [0, 1, 0, 1, 0])
    assert two.classes == (0, 1) and two.counts() == {0: 2, 1: 2}
    # horizon of 2 events, no dead zone: 100 -> 100.2 up, 100.05 -> 99.9 down, 100.2 -> 100.0 down
    same(forward_move_labels(ts, mid, horizon_events=2).y, [1, -1, -1, 0, 0])


def test_forward_move_time_horizon_takes_the_last_mid_at_or_before_t0_plus_h():
    ts = [0, 10, 10, 20, 25, 40, 41]
    mid = [100.0, 101.0, 100.5, 102.0, 99.0, 98.0, 97.0]
    lab = forward_move_labels(ts, mid, horizon_ns=15)
    # i0: t0 + h = 15 -> last row stamped <= 15 is row 2 (the later of the two at 10): 100.5 > 100, up
    # i1: 25 -> row 4 (exactly 25 is inside): 99 < 101 down;  i2: 25 -> row 4: 99 < 100.5 down
    # i3: 35 -> row 4: 99 < 102 down;  i4: 40 -> row 5: 98 < 99 down
    # i5: 55 > 41 = last time: the mid at 55 is unknown -> invalid;  i6 likewise
    same(lab.y, [1, -1, -1, -1, -1, 0, 0])
    same(lab.t1, [10, 25, 25, 25, 40, 41, 41])
    same(lab.valid, [True] * 5 + [False] * 2)
    # a horizon that ends exactly on the last event is still inside the data
    # (i5: 40 + 1 = 41: 97 < 98 down), and a window with no later event reads the sample's own mid
    # (i0: nothing in (0, 1], move 0, flat, t1 = t0)
    lab = forward_move_labels(ts, mid, horizon_ns=1)
    same(lab.valid, [True] * 6 + [False])
    same(lab.y[[0, 5]], [0, -1])
    same(lab.t1[[0, 5]], [0, 41])


def test_forward_move_tick_dead_zone_is_exact_on_the_grid():
    # 100.2 -> 100.3 is one tick in decimal but 0.10000000000000853 in binary: must stay flat
    ts = [0, 1, 2, 3, 4, 5, 6, 7]
    mid = [100.2, 100.3, 100.2, 100.35, 100.2, 100.05, 100.2, 100.1]
    lab = forward_move_labels(ts, mid, horizon_events=1, dead_zone_ticks=1, tick_size=0.1)
    # moves in ticks: +1, -1, +1.5, -1.5, -1.5, +1.5, -1 -> flat, flat, up, down, down, up, flat
    same(lab.y, [0, 0, 1, -1, -1, 1, 0, 0])
    same(lab.valid, [True] * 7 + [False])
    # half-tick dead zone: every move above is at least one tick
    same(forward_move_labels(ts, mid, horizon_events=1, dead_zone_ticks=0.5, tick_size=0.1).y,
         [1, -1, 1, -1, -1, 1, -1, 0])


def test_forward_move_nan_mid_invalidates_the_rows_that_read_it():
    ts = [0, 1, 2, 3, 4]
    mid = [100.0, NAN, 101.0, 102.0, 101.0]
    lab = forward_move_labels(ts, mid, horizon_events=1)
    # row 0 reads mid[1] (NaN), row 1 starts at NaN; rows 2, 3 are fine; row 4 runs past the data
    same(lab.valid, [False, False, True, True, False])
    same(lab.y, [0, 0, 1, -1, 0])
    assert np.isnan(lab.move_bps[[0, 1, 4]]).all()


def test_definition_is_json_and_describes_the_label():
    lab = forward_move_labels([0, 1], [1.0, 2.0], horizon_ns=1, dead_zone_ticks=2, tick_size=0.5, classes=2)
    d = json.loads(json.dumps(lab.definition))
    assert d["kind"] == "forward_move" and d["horizon"] == 1 and d["unit"] == "ns"
    assert (d["dead_zone"], d["dead_zone_unit"], d["tick_size"]) == (2.0, "ticks", 0.5)
    assert d["classes"] == [0, 1] and "up" in d["binary"]
    d = forward_move_labels([0, 1], [1.0, 2.0], horizon_events=3).definition
    assert (d["unit"], d["dead_zone"], d["dead_zone_unit"], d["classes"], d["binary"]) == \
        ("events", 0.0, "bps", [-1, 0, 1], None)
    d = json.loads(json.dumps(triple_barrier_labels([0, 1], [1.0, 2.0], upper_bps=5, lower_bps=None,
                                                    horizon_ns=7).definition))
    assert (d["kind"], d["upper_bps"], d["lower_bps"], d["horizon"], d["unit"]) == \
        ("triple_barrier", 5.0, None, 7, "ns")


def test_labelset_is_frozen():
    lab = forward_move_labels([0, 1], [1.0, 2.0], horizon_events=1)
    assert isinstance(lab, LabelSet)
    with pytest.raises(AttributeError):
        lab.y = np.zeros(2, dtype=np.int8)


@pytest.mark.parametrize("seed", range(6))
def test_forward_move_matches_plain_loop(seed):
    rng = np.random.default_rng(seed)
    ts, mid = random_market(rng, 400, nan_share=0.03)
    tsl, midl = ts.tolist(), mid.tolist()
    for kw, ref_kw in [
        (dict(horizon_ns=25, dead_zone_bps=5.0), dict(horizon_ns=25, dz=5.0)),
        (dict(horizon_ns=1), dict(horizon_ns=1)),
        (dict(horizon_events=7, dead_zone_bps=12.0, classes=2), dict(horizon_events=7, dz=12.0, classes=2)),
        (dict(horizon_events=500), dict(horizon_events=500)),
    ]:
        lab = forward_move_labels(ts, mid, **kw)
        y, t1, valid, mv = ref_forward(tsl, midl, **ref_kw)
        same(lab.y, y)
        same(lab.t1, t1)
        same(lab.valid, valid)
        np.testing.assert_allclose(lab.move_bps, mv, rtol=1e-12, atol=0)
    # ticks: a mid on a half-tick grid
    mid_t = np.round(mid / 0.05) * 0.05
    lab = forward_move_labels(ts, mid_t, horizon_ns=30, dead_zone_ticks=1.5, tick_size=0.1)
    y, t1, valid, _ = ref_forward(tsl, mid_t.tolist(), horizon_ns=30, dz=1.5, tick=0.1)
    same(lab.y, y)
    same(lab.valid, valid)


# ================================================================================ triple barrier by hand
TB_TS = list(range(10))
TB_PX = [100.0, 100.5, 101.2, 98.0, 99.6, 99.7, 100.6, 100.0, 100.0, 100.0]


def test_triple_barrier_by_hand():
    lab = triple_barrier_labels(TB_TS, TB_PX, upper_bps=100, lower_bps=50, horizon_ns=3)
    # i0: U = 101, L = 99.5; 100.5, then 101.2 >= U at t = 2                           -> +1
    # i1: U = 101.505, L = 99.9975; 101.2 neither, 98.0 <= L at t = 3                  -> -1
    # i2: U = 102.212, L = 100.694; 98.0 at t = 3                                      -> -1
    # i3: U = 98.98, L = 97.51; 99.6 at t = 4                                          -> +1
    # i4: U = 100.596, L = 99.102; 99.7, then 100.6 at t = 6                           -> +1
    # i5: U = 100.697, L = 99.2015; 100.6, 100.0, 100.0 until t = 8: vertical barrier  -> 0
    # i6: U = 101.606, L = 100.097; 100.0 at t = 7 (window runs past t = 9, but touched)-> -1
    # i7..i9: no touch and the window runs past the data                               -> invalid
    same(lab.y, [1, -1, -1, 1, 1, 0, -1, 0, 0, 0])
    same(lab.t1, [2, 3, 3, 4, 6, 8, 7, 9, 9, 9])
    same(lab.valid, [True] * 7 + [False] * 3)
    assert lab.move_bps[0] == pytest.approx(120.0, rel=1e-9)
    assert lab.move_bps[1] == pytest.approx(1e4 * (98.0 / 100.5 - 1), rel=1e-12)
    assert lab.move_bps[5] == pytest.approx(1e4 * (100.0 / 99.7 - 1), rel=1e-12)
    assert np.isnan(lab.move_bps[7:]).all()
    # two classes: 1 only where the upper barrier came first
    two = triple_barrier_labels(TB_TS, TB_PX, upper_bps=100, lower_bps=50, horizon_ns=3, classes=2)
    same(two.y, [1, 0, 0, 1, 1, 0, 0, 0, 0, 0])
    assert two.classes == (0, 1)


def test_triple_barrier_single_barrier_and_same_ns_events():
    # no lower barrier: i1 and i2 (falls to 98) now run to the vertical barrier
    lab = triple_barrier_labels(TB_TS, TB_PX, upper_bps=100, lower_bps=None, horizon_ns=3)
    same(lab.y[:4], [1, 0, 0, 1])
    same(lab.t1[:4], [2, 4, 5, 4])
    # an event later in the tape but stamped the same ns is after the sample
    lab = triple_barrier_labels([0, 0, 5], [100.0, 102.0, 100.0], upper_bps=100, lower_bps=100, horizon_ns=10)
    # (i0: 102 at the same ns -> +1 with t1 = t0; i1: 100 <= 102 (1 - 0.01) = 100.98 at t = 5 -> -1,
    # known although t0 + h = 10 is past the data)
    same(lab.y, [1, -1, 0])
    same(lab.t1, [0, 5, 5])
    same(lab.valid, [True, True, False])
    # no event within the horizon: vertical barrier at t0 itself, valid because the data goes on
    lab = triple_barrier_labels([0, 100], [100.0, 200.0], upper_bps=1, lower_bps=1, horizon_ns=10)
    same(lab.y, [0, 0])
    same(lab.t1, [0, 100])
    same(lab.valid, [True, False])


def test_a_price_exactly_on_a_barrier_touches_it():
    # 64 (1 + 0.25) = 80 and 64 (1 - 0.25) = 48 are exact in binary
    lab = triple_barrier_labels([0, 1, 2, 3], [64.0, 80.0, 64.0, 48.0], upper_bps=2500, lower_bps=2500,
                                horizon_ns=1)
    # i0: 80 >= 80 at t = 1; i1: U = 100, L = 60, 64 neither, vertical at t = 2; i2: 48 <= 48 at t = 3
    same(lab.y, [1, 0, -1, 0])
    same(lab.t1, [1, 2, 3, 3])
    same(lab.valid, [True, True, True, False])


def test_triple_barrier_nan_prices():
    px = [100.0, NAN, 102.0, NAN, 100.0]
    lab = triple_barrier_labels([0, 1, 2, 3, 4], px, upper_bps=100, lower_bps=100, horizon_ns=2)
    # i0: the NaN at t = 1 touches nothing, 102 at t = 2 does; i1 and i3 have no starting price;
    # i2: 100 <= 100.98 at t = 4; i4 runs past the data
    same(lab.y, [1, 0, -1, 0, 0])
    same(lab.valid, [True, False, True, False, False])


@pytest.mark.parametrize("seed", range(8))
def test_triple_barrier_matches_plain_loop(seed):
    rng = np.random.default_rng(100 + seed)
    ts, px = random_market(rng, 600, nan_share=0.02 if seed % 2 else 0.0)
    for upper, lower, h in [(20.0, 20.0, 40), (60.0, 15.0, 200), (5.0, None, 9), (None, 30.0, 1),
                            (1e4, 1e4, 10_000)]:
        for classes in (3, 2):
            lab = triple_barrier_labels(ts, px, upper_bps=upper, lower_bps=lower, horizon_ns=h, classes=classes)
            y, t1, valid = ref_triple(ts.tolist(), px.tolist(), upper_bps=upper, lower_bps=lower,
                                      horizon_ns=h, classes=classes)
            same(lab.y, y)
            same(lab.t1, t1)
            same(lab.valid, valid)


def brute_first(x, thr, start):
    out = []
    for t, s in zip(thr, start):
        k = s
        while k < len(x) and not x[k] >= t:
            k += 1
        out.append(k)
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.floats(-5, 5), st.just(NAN)), min_size=1, max_size=80),
       st.integers(1, 5), st.data())
def test_block_search_finds_the_first_match(x, block, data):
    n = len(x)
    thr = data.draw(st.lists(st.one_of(st.floats(-6, 6), st.just(NAN)), min_size=n, max_size=n))
    start = data.draw(st.lists(st.integers(0, n), min_size=n, max_size=n))
    got = _first_at_or_above(np.array(x), np.array(thr), np.array(start, dtype=np.int64), block=block)
    same(got, brute_first(x, thr, start))


def test_huge_horizon_does_not_overflow():
    ts = np.array([1_700_000_000_000_000_000, 1_700_000_000_000_000_001], dtype=np.int64)
    lab = forward_move_labels(ts, [1.0, 2.0], horizon_ns=2 ** 63 - 1)
    same(lab.valid, [False, False])
    lab = triple_barrier_labels(ts, [1.0, 2.0], upper_bps=10, lower_bps=10, horizon_ns=2 ** 63 - 1)
    same(lab.y, [1, 0])
    same(lab.valid, [True, False])
    lab = forward_move_labels(ts, [1.0, 2.0], horizon_events=2 ** 70)
    same(lab.valid, [False, False])


def test_empty_input_gives_empty_labels():
    for lab in (forward_move_labels([], [], horizon_ns=5),
                triple_barrier_labels([], [], upper_bps=1, lower_bps=1, horizon_ns=5)):
        assert len(lab) == 0 and lab.y.dtype == np.int8 and lab.t1.dtype == np.int64


# ================================================================================ bad input
@pytest.mark.parametrize("kw,match", [
    (dict(ts_ns=[0, 2, 1]), "ts_ns must be non-decreasing; ts_ns\\[2\\] = 1"),
    (dict(ts_ns=[0, NAN, 2]), "ts_ns must hold whole numbers"),
    (dict(ts_ns=[0, 1]), "same length, got ts_ns=2, mid=3"),
    (dict(mid=[1.0, 0.0, 1.0]), "mid must be > 0.*at index 1"),
    (dict(mid=[1.0, -2.0, 1.0]), "mid must be > 0.*-2.0"),
    (dict(mid=[1.0, math.inf, 1.0]), "mid must be finite"),
    (dict(mid=None), "mid must be an array"),
    (dict(horizon_ns=0), "horizon_ns must be >= 1, got 0"),
    (dict(horizon_ns=-5), "horizon_ns must be >= 1, got -5"),
    (dict(horizon_ns=1.5), "horizon_ns must be an integer"),
    (dict(horizon_ns=True), "horizon_ns must be an integer"),
    (dict(horizon_ns=None), "exactly one of horizon_ns and horizon_events"),
    (dict(horizon_events=2), "exactly one of horizon_ns and horizon_events"),
    (dict(dead_zone_bps=-1.0), "dead_zone_bps must be a finite number >= 0, got -1.0"),
    (dict(dead_zone_bps=NAN), "dead_zone_bps must be a finite number"),
    (dict(dead_zone_bps=1, dead_zone_ticks=1, tick_size=0.1), "at most one of dead_zone_bps and dead_zone_ticks"),
    (dict(dead_zone_ticks=1), "dead_zone_ticks needs tick_size"),
    (dict(dead_zone_ticks=1, tick_size=0), "tick_size must be a finite number > 0, got 0"),
    (dict(tick_size=0.1), "tick_size is only used with dead_zone_ticks"),
    (dict(classes=4), "classes must be 2 or 3, got 4"),
    (dict(classes=True), "classes must be 2 or 3"),
])
def test_forward_move_bad_input(kw, match):
    args = dict(ts_ns=[0, 1, 2], mid=[1.0, 1.0, 1.0], horizon_ns=1)
    args.update(kw)
    with pytest.raises(InvalidInputError, match=match):
        forward_move_labels(args.pop("ts_ns"), args.pop("mid"), **args)


@pytest.mark.parametrize("kw,match", [
    (dict(ts_ns=[3, 2, 1]), "ts_ns must be non-decreasing"),
    (dict(price=[1.0, 1.0]), "same length, got ts_ns=3, price=2"),
    (dict(price=[[1.0, 1.0, 1.0]]), "price must be 1-D"),
    (dict(price=[1.0, 0.0, 1.0]), "price must be > 0"),
    (dict(upper_bps=0), "upper_bps must be a finite number > 0, got 0"),
    (dict(lower_bps=-3), "lower_bps must be a finite number > 0, got -3"),
    (dict(upper_bps="1"), "upper_bps must be a number"),
    (dict(upper_bps=None, lower_bps=None), "at least one barrier"),
    (dict(horizon_ns=0), "horizon_ns must be >= 1, got 0"),
    (dict(classes=1), "classes must be 2 or 3, got 1"),
])
def test_triple_barrier_bad_input(kw, match):
    args = dict(ts_ns=[0, 1, 2], price=[1.0, 1.0, 1.0], upper_bps=10, lower_bps=10, horizon_ns=1)
    args.update(kw)
    with pytest.raises(OfiError, match=match):
        triple_barrier_labels(args.pop("ts_ns"), args.pop("price"), **args)
