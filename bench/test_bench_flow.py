"""OFI benchmarks: the streaming calculators fed by a live ``OrderBook`` and the batch best-level
kernel, beside the pure-Python twin (tests/reference/flow.py) and a numpy-vectorised baseline.

* ``ofi-update``: ``OrderFlowCalculator.update(book)`` per call (target <= 60 ns), on the stream's
  book; "replay" rows time a whole replay (``apply_tape`` + update per message) against the
  replay alone, so the increment per message is visible.
* ``mlofi-update``: ``MultiLevelOFI(levels=10).update(book)`` per call (target <= 150 ns).
* ``ofi-batch``: ``ofi_events`` over 10M best-level rows (target <= 2 ns per row).
"""
from __future__ import annotations

import math
import os

import numpy as np
import pytest
from conftest import record

from reference import flow as ref

ROUNDS = 15
N_CALLS = 200_000
N_BATCH = int(os.environ.get("OFI_BENCH_BATCH_ROWS", "10000000"))


@pytest.fixture(scope="module")
def live(stream, tape, ofi_core):
    """The book after the whole stream, the message starts and the top-of-book per message."""
    from ofi.data.tape import message_starts

    starts = [int(x) for x in message_starts(tape)]
    book = ofi_core.OrderBook(stream.symbol, tick_size=stream.tick_size)
    for s in starts:
        book.apply_tape(tape, s)
    return book, starts


def _calls(update, book, n):
    for _ in range(n):
        update(book)
    return update(book)


# ============================================================================================
GROUP1 = "ofi-update"


@pytest.mark.benchmark(group=GROUP1)
def test_ofi_update_ours(benchmark, live):
    from ofi.orderflow import OrderFlowCalculator

    book, _ = live

    def setup():
        calc = OrderFlowCalculator()
        calc.update(book)
        return (calc.update, book, N_CALLS), {}

    e = benchmark.pedantic(_calls, setup=setup, rounds=ROUNDS, warmup_rounds=1)
    assert e == 0.0   # the same state again: no flow
    record(benchmark, impl="ours", label="ofi OrderFlowCalculator.update(book)", unit="call",
           n_units=N_CALLS + 1, messages=0, levels=0, target_ns=60.0)


@pytest.mark.benchmark(group=GROUP1)
def test_ofi_update_python_on_bbo(benchmark, live):
    """What a user writes without ofi.orderflow: read bbo(), apply the CKS case table in Python."""
    book, _ = live
    twin = ref.RefCalculator(10_000_000_000, (60_000_000_000, 300_000_000_000))

    def calls(n):
        upd, bbo, ts = twin.update, book.bbo, book.ts_exch
        e = None
        for _ in range(n + 1):
            e = upd(ts, *bbo())
        return e

    e = benchmark.pedantic(calls, args=(N_CALLS // 4,), rounds=5, warmup_rounds=1)
    assert e == 0.0
    record(benchmark, impl="reftwin", label="pure-Python twin on book.bbo()", unit="call",
           n_units=N_CALLS // 4 + 1, messages=0, levels=0)


def _replay(book, tape, starts, update):
    apply = book.apply_tape
    e = None
    for s in starts:
        apply(tape, s)
        if update is not None:
            e = update(book)
    return e


@pytest.mark.benchmark(group=GROUP1)
def test_ofi_replay_with_update(benchmark, stream, tape, live, ofi_core):
    from ofi.orderflow import OrderFlowCalculator

    _, starts = live

    def setup():
        calc = OrderFlowCalculator()
        return (ofi_core.OrderBook(stream.symbol, tick_size=stream.tick_size), tape, starts, calc.update), {}

    e = benchmark.pedantic(_replay, setup=setup, rounds=ROUNDS, warmup_rounds=1)
    assert e is not None and math.isfinite(e)
    record(benchmark, impl="ours-replay", label="replay: apply_tape + update per message", unit="message",
           n_units=len(starts), messages=len(starts), levels=0)


@pytest.mark.benchmark(group=GROUP1)
def test_ofi_replay_without_update(benchmark, stream, tape, live, ofi_core):
    _, starts = live

    def setup():
        return (ofi_core.OrderBook(stream.symbol, tick_size=stream.tick_size), tape, starts, None), {}

    benchmark.pedantic(_replay, setup=setup, rounds=ROUNDS, warmup_rounds=1)
    record(benchmark, impl="ours-replay-only", label="replay: apply_tape alone per message", unit="message",
           n_units=len(starts), messages=len(starts), levels=0)


# ============================================================================================
GROUP2 = "mlofi-update"


@pytest.mark.benchmark(group=GROUP2)
def test_mlofi_update_ours(benchmark, live):
    from ofi.orderflow import MultiLevelOFI

    book, _ = live

    def setup():
        mo = MultiLevelOFI(levels=10)
        mo.update(book)
        return (mo.update, book, N_CALLS), {}

    ok = benchmark.pedantic(_calls, setup=setup, rounds=ROUNDS, warmup_rounds=1)
    assert ok is True
    record(benchmark, impl="ours", label="ofi MultiLevelOFI(levels=10).update(book)", unit="call",
           n_units=N_CALLS + 1, messages=0, levels=0, target_ns=150.0)


@pytest.mark.benchmark(group=GROUP2)
def test_mlofi_update_python(benchmark, live):
    """The twin's level loop on book.top_levels(10), as a Python user would write it."""
    book, _ = live

    def calls(n):
        prev = None
        e = None
        for _ in range(n + 1):
            bt, bs, at, as_ = book.top_levels(10)
            cur = [(float(bt[m]), float(bs[m]), float(at[m]), float(as_[m])) for m in range(10)]
            if prev is not None:
                e = [ref.level_ofi(cur[m], prev[m]) for m in range(10)]
            prev = cur
        return e

    e = benchmark.pedantic(calls, args=(N_CALLS // 20,), rounds=5, warmup_rounds=1)
    assert e == [0.0] * 10
    record(benchmark, impl="reftwin", label="pure-Python level loop on top_levels(10)", unit="call",
           n_units=N_CALLS // 20 + 1, messages=0, levels=0)


# ============================================================================================
GROUP3 = "ofi-batch"


@pytest.fixture(scope="module")
def quotes():
    rng = np.random.default_rng(0)
    n = N_BATCH
    bp = 50_000 + np.cumsum(rng.integers(-1, 2, n, dtype=np.int8), dtype=np.int64).astype(float)
    ap = bp + rng.integers(1, 3, n, dtype=np.int8)
    bq = rng.integers(1, 2000, n).astype(float)
    aq = rng.integers(1, 2000, n).astype(float)
    return bp, bq, ap, aq


def numpy_ofi(bp, bq, ap, aq):
    """Vectorised CKS e_n (no invalid-state handling), the usual numpy formulation."""
    e = np.empty(len(bp))
    e[0] = np.nan
    pb, pa = bp[:-1], ap[:-1]
    cb, ca = bp[1:], ap[1:]
    e[1:] = ((cb >= pb) * bq[1:] - (cb <= pb) * bq[:-1]
             - (ca <= pa) * aq[1:] + (ca >= pa) * aq[:-1])
    return e


@pytest.mark.benchmark(group=GROUP3)
def test_ofi_batch_ours(benchmark, quotes):
    """Checked inputs, the output written into a reused buffer (``out=``)."""
    from ofi.orderflow import ofi_events

    out = np.empty(N_BATCH)
    e = benchmark.pedantic(ofi_events, args=quotes, kwargs={"out": out}, rounds=7, warmup_rounds=1)
    assert e is out
    np.testing.assert_array_equal(e[:100_000], numpy_ofi(*(q[:100_000] for q in quotes)))
    record(benchmark, impl="ours", label="ofi ofi_events(..., out=buffer)", unit="row", n_units=N_BATCH,
           messages=0, levels=0, target_ns=2.0)


@pytest.mark.benchmark(group=GROUP3)
def test_ofi_batch_ours_fresh(benchmark, quotes):
    """A fresh 80 MB output each call: mostly the kernel zeroing new pages on this machine."""
    from ofi.orderflow import ofi_events

    e = benchmark.pedantic(ofi_events, args=quotes, rounds=5, warmup_rounds=1)
    assert np.isnan(e[0]) and not np.isnan(e[1:]).any()
    record(benchmark, impl="ours-fresh", label="ofi ofi_events (fresh output array)", unit="row",
           n_units=N_BATCH, messages=0, levels=0)


@pytest.mark.benchmark(group=GROUP3)
def test_ofi_batch_kernel(benchmark, quotes):
    from ofi._core.flow import l1_events

    no_reset = np.zeros(0, dtype=np.uint8)
    out = np.empty(N_BATCH)
    e, n_bad = benchmark.pedantic(l1_events, args=(*quotes, no_reset, 0, out), rounds=7, warmup_rounds=1)
    assert n_bad == 0
    assert np.isnan(e[0]) and not np.isnan(e[1:]).any()
    record(benchmark, impl="ours-kernel", label="ofi kernel alone (no input checks, out=buffer)", unit="row",
           n_units=N_BATCH, messages=0, levels=0)


@pytest.mark.benchmark(group=GROUP3)
def test_ofi_batch_numpy(benchmark, quotes):
    e = benchmark.pedantic(numpy_ofi, args=quotes, rounds=5, warmup_rounds=1)
    assert np.isnan(e[0])
    record(benchmark, impl="numpy", label="numpy vectorised", unit="row", n_units=N_BATCH, messages=0,
           levels=0)


@pytest.mark.benchmark(group=GROUP3)
def test_ofi_batch_twin(benchmark, quotes):
    n = 200_000
    cols = [q[:n].tolist() for q in quotes]
    e = benchmark.pedantic(ref.ofi_events, args=cols, rounds=3)
    assert len(e) == n
    record(benchmark, impl="reftwin", label="pure-Python twin", unit="row", n_units=n, messages=0, levels=0)
