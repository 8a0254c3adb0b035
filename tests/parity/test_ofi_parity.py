"""OFI parity: compiled kernels vs the pure-Python twin (tests/reference/flow.py) on random streams
(hypothesis), streaming vs batch bit for bit over a million events, and the book-driven calculators
on the simulated market and the real XRPUSDT capture.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ofi import OrderBook
from ofi._core import rolling as _rolling
from ofi.data.tape import frames_to_tape, message_starts
from ofi.orderflow import (
    MultiLevelOFI,
    OrderFlowCalculator,
    integrated_ofi,
    ofi_events,
    ofi_intervals,
    ofi_window_sum,
    price_impact,
)
from reference import flow as ref

S = 1_000_000_000


def same(a, b):
    """Element-wise equality with NaN == NaN."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


# ---------------------------------------------------------------------------- random streams
@st.composite
def l1_streams(draw, max_n=60):
    n = draw(st.integers(1, max_n))
    prices = st.integers(95, 105).map(float)
    sizes = st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.25, 7.0])
    rows = draw(st.lists(st.tuples(prices, sizes, prices, sizes), min_size=n, max_size=n))
    reset = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    gaps = draw(st.lists(st.integers(0, 25 * S), min_size=n, max_size=n))
    ts = np.cumsum(gaps).astype(np.int64)
    return rows, np.array(reset), ts


@settings(max_examples=300, deadline=None)
@given(l1_streams(), st.sampled_from(["cks", "ccz"]))
def test_l1_events_match_the_twin(stream, variant):
    rows, reset, _ = stream
    bp, bq, ap, aq = (np.array(c) for c in zip(*rows))
    got = ofi_events(bp, bq, ap, aq, variant=variant, reset=reset)
    assert same(got, ref.ofi_events(bp, bq, ap, aq, variant, reset))


@settings(max_examples=200, deadline=None)
@given(l1_streams(), st.sampled_from(["cks", "ccz"]), st.sampled_from([S, 7 * S, 60 * S]))
def test_l1_intervals_match_the_twin(stream, variant, width):
    rows, reset, ts = stream
    bp, bq, ap, aq = (np.array(c) for c in zip(*rows))
    got = ofi_intervals(ts, bp, bq, ap, aq, width, variant=variant, reset=reset)
    want = ref.intervals(ts, [[x] for x in bp], [[x] for x in bq], [[x] for x in ap], [[x] for x in aq],
                         width, variant, reset)
    assert len(got) == len(want)
    for k, (end, ofi, dmid, depth, cnt) in enumerate(want):
        assert got.end_ns[k] == end and got.n_events[k] == cnt
        assert got.ofi[k] == pytest.approx(ofi[0], abs=1e-9)
        assert same([got.dmid[k]], [dmid]) or got.dmid[k] == pytest.approx(dmid, abs=1e-9)
        assert same([got.depth[k]], [depth]) or got.depth[k] == pytest.approx(depth, rel=1e-12)
    # additivity: the interval sums are the event sums
    e = ofi_events(bp, bq, ap, aq, variant=variant, reset=reset)
    assert got.ofi.sum() == pytest.approx(np.nansum(e), abs=1e-9)


@st.composite
def ml_streams(draw, M=3, max_n=30):
    n = draw(st.integers(1, max_n))
    out = []
    for _ in range(n):
        mid = draw(st.integers(98, 102))
        nb = draw(st.integers(0, M))
        na = draw(st.integers(0, M))
        bids = sorted(draw(st.lists(st.integers(1, 6), min_size=nb, max_size=nb, unique=True)))
        asks = sorted(draw(st.lists(st.integers(1, 6), min_size=na, max_size=na, unique=True)))
        bp = [mid - d for d in bids] + [np.nan] * (M - nb)
        ap = [mid + d - draw(st.integers(0, 1)) * (d == 1 and draw(st.booleans())) for d in asks] + [np.nan] * (M - na)
        bq = [float(draw(st.integers(1, 5))) for _ in range(nb)] + [0.0] * (M - nb)
        aq = [float(draw(st.integers(1, 5))) for _ in range(na)] + [0.0] * (M - na)
        out.append((bp, bq, ap, aq))
    return out


@settings(max_examples=200, deadline=None)
@given(ml_streams(), st.sampled_from(["cks", "ccz"]))
def test_mlofi_matches_the_twin(states, variant):
    bp, bq, ap, aq = (np.array([s[j] for s in states], dtype=float) for j in range(4))
    got = ofi_events(bp, bq, ap, aq, variant=variant)
    want = ref.mlofi_events(bp.tolist(), bq.tolist(), ap.tolist(), aq.tolist(), variant)
    assert same(got, want)
    ts = np.arange(len(states), dtype=np.int64) * 3 * S + 1
    r = ofi_intervals(ts, bp, bq, ap, aq, 10 * S, variant=variant)
    w = ref.intervals(ts, bp.tolist(), bq.tolist(), ap.tolist(), aq.tolist(), 10 * S, variant)
    assert len(r) == len(w)
    for k, (end, ofi, dmid, depth, cnt) in enumerate(w):
        assert r.end_ns[k] == end and r.n_events[k] == cnt
        np.testing.assert_allclose(r.ofi[k], ofi, atol=1e-9)
        assert same([r.depth[k]], [depth]) or r.depth[k] == pytest.approx(depth, rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(l1_streams(max_n=80))
def test_streaming_calculator_matches_the_twin(stream):
    rows, reset, ts = stream
    calc = OrderFlowCalculator(interval=10 * S, windows=(30 * S, 90 * S), zscore_window=3)
    twin = ref.RefCalculator(10 * S, (30 * S, 90 * S), 3)
    for i, (bp, bq, ap, aq) in enumerate(rows):
        got = calc.update_quote(int(ts[i]), bp, bq, ap, aq, bool(reset[i]))
        want = twin.update(int(ts[i]), bp, bq, ap, aq, bool(reset[i]))
        assert got == want
        for w in (30 * S, 90 * S):
            g, t = calc.window(w), twin.window(w)
            assert (g is None) == (t is None)
            if g is not None:
                assert g == pytest.approx(t, abs=1e-9)
        gz, tz = calc.z_score(), twin.z_score(3)
        assert (gz is None) == (tz is None)
        if gz is not None:
            assert gz == pytest.approx(tz, rel=1e-9, abs=1e-9)
    c, t = calc.cumulative(), twin.cumulative()
    assert (c is None) == (t is None) and (c is None or c == pytest.approx(t, abs=1e-9))


# ---------------------------------------------------------------------------- a million events
def random_quotes(n, seed):
    rng = np.random.default_rng(seed)
    ts = np.cumsum(rng.integers(1, 400_000_000, n)).astype(np.int64)
    bp = 50_000 + np.cumsum(rng.integers(-1, 2, n)).astype(float)
    ap = bp + rng.integers(1, 4, n)
    bq = rng.integers(1, 2000, n) / 100.0
    aq = rng.integers(1, 2000, n) / 100.0
    return ts, bp, bq, ap, aq


def test_streaming_equals_batch_bit_for_bit_over_a_million_events():
    n = 1_000_000
    ts, bp, bq, ap, aq = random_quotes(n, 11)
    zw, iw = 50, 60
    calc = OrderFlowCalculator(interval=S, windows=(60 * S,), zscore_window=zw, impact_window=iw)
    e_s = np.empty(n)
    win_s = np.empty(n)
    z_s = np.empty(n)
    beta_s = np.empty(n)
    closed = np.empty(n, dtype=np.int64)
    upd, window, zscore, impact = calc.update_quote, calc.window, calc.z_score, calc.price_impact
    nan = math.nan
    for i in range(n):
        e = upd(int(ts[i]), bp[i], bq[i], ap[i], aq[i])
        e_s[i] = nan if e is None else e
        w = window(60 * S)
        win_s[i] = nan if w is None else w
        z = zscore()
        z_s[i] = nan if z is None else z
        beta_s[i] = impact()[0]
        closed[i] = calc.intervals_closed
    e_b = ofi_events(bp, bq, ap, aq)
    assert same(e_s, e_b)
    assert same(win_s, ofi_window_sum(ts, e_b, 60 * S))
    r = ofi_intervals(ts, bp, bq, ap, aq, S)
    _, _, z_b = _rolling.rolling_moments(np.ascontiguousarray(r.ofi), zw, 1, zw)
    fit = price_impact(r.ofi, r.dmid, window=iw)
    k = closed - 1
    have = k >= 0
    z_b_at = np.where(have, z_b[np.maximum(k, 0)], np.nan)
    assert same(z_s, z_b_at)
    beta_b_at = np.where(have, fit.beta[np.maximum(k, 0)], np.nan)
    # before `iw` intervals the streaming fit uses the partial window: compare once full
    full = k >= iw - 1
    assert full.sum() > 100_000
    assert same(beta_s[full], beta_b_at[full])
    assert calc.cumulative() == pytest.approx(math.fsum(e_b[1:]), rel=1e-12, abs=1e-6)


# ---------------------------------------------------------------------------- book-driven
def sim_tape(n_messages=3000, depth=50, seed=5):
    from ofi.sim.market import SimulatedMarket
    m = SimulatedMarket(symbol="BTCUSDT", tick_size="0.1", qty_step="0.001", depth=depth, seed=seed)
    frames = m.generate(n_messages=n_messages)
    return frames_to_tape([(f.ts_local, f.raw) for f in frames], "0.1")


def test_book_driven_calculators_equal_batch_on_the_simulated_market():
    tape = sim_tape()
    book = OrderBook("BTCUSDT", tick_size="0.1")
    calc = OrderFlowCalculator(interval=S)
    mo = MultiLevelOFI(levels=10, interval=S)
    M = 10
    rows = []
    e1, em = [], []
    for start in message_starts(tape):
        book.apply_tape(tape, start)
        e = calc.update(book)
        mo.update(book)
        e1.append(math.nan if e is None else e)
        em.append(np.array(mo.last))
        bt, bs, at, as_ = book.top_levels(M)
        pad = lambda x, fill: np.concatenate([x.astype(float), np.full(M - len(x), fill)])  # noqa: E731
        rows.append((book.ts_exch, pad(bt, np.nan), pad(bs, 0.0), pad(at, np.nan), pad(as_, 0.0)))
    ts = np.array([r[0] for r in rows], dtype=np.int64)
    bp, bq, ap, aq = (np.array([r[j] for r in rows]) for j in range(1, 5))
    assert len(rows) > 1000
    assert same(e1, ofi_events(bp[:, 0], bq[:, 0], ap[:, 0], aq[:, 0]))
    assert same(np.array(em), ofi_events(bp, bq, ap, aq))
    # level 1 of the multi-level OFI is the best-level OFI
    assert same(np.array(em)[:, 0], e1)
    # intervals: the streaming closed intervals equal the batch ones
    r = ofi_intervals(ts, bp, bq, ap, aq, S)
    r1 = ofi_intervals(ts, bp[:, 0], bq[:, 0], ap[:, 0], aq[:, 0], S)
    k = mo.intervals_closed - 1
    end, ofi_k, depth, dmid, n = mo.last_interval()
    assert end == r.end_ns[k] and n == r.n_events[k]
    assert same(ofi_k, r.ofi[k]) and depth == r.depth[k] and dmid == r.dmid[k]
    assert calc.last_interval() == (r1.end_ns[calc.intervals_closed - 1], r1.ofi[calc.intervals_closed - 1],
                                    r1.dmid[calc.intervals_closed - 1], r1.depth[calc.intervals_closed - 1],
                                    r1.n_events[calc.intervals_closed - 1])
    w = np.array([0.05, 0.07, 0.08, 0.09, 0.1, 0.11, 0.12, 0.12, 0.13, 0.13])
    mo.set_weights(w)
    assert mo.integrated() == integrated_ofi(r.normalized[k:k + 1], w)[0]


@pytest.mark.realdata
def test_ofi_on_the_real_xrpusdt_capture(xrp_frames):
    book = OrderBook("XRPUSDT", tick_size="0.0001")
    calc = OrderFlowCalculator()
    mo = MultiLevelOFI(levels=10, interval=S)
    tob, levels, got, got_ml = [], [], [], []
    for raw in xrp_frames:
        book.apply_frame(raw)
        e = calc.update(book)
        mo.update(book)
        got.append(math.nan if e is None else e)
        got_ml.append(np.array(mo.last))
        bt, bs, at, as_ = book.top_levels(10)
        tob.append((float(bt[0]), bs[0], float(at[0]), as_[0]))
        levels.append((bt.astype(float), bs, at.astype(float), as_))
    bp, bq, ap, aq = (np.array(c) for c in zip(*tob))
    want = ref.ofi_events(bp, bq, ap, aq)
    assert same(got, want)
    assert math.isnan(got[0]) and not np.isnan(got[1:]).any()     # u is contiguous: one chain
    mlw = ref.mlofi_events(*[[lv[j].tolist() for lv in levels] for j in range(4)])
    assert same(np.array(got_ml), mlw)
    # the capture moves the book: OFI is not identically zero
    assert np.abs(got[1:]).sum() > 0
