"""Shared data and bookkeeping for the ``bench/`` suite (run: ``pytest bench --benchmark-only``).

One long simulated BTCUSDT stream is built once per session with ``ofi.sim`` (seed fixed), then
pre-decoded (not timed) into what each contender is fed:

* ``raws``: the raw book frames as ``bytes`` (the first one is the snapshot);
* ``msgs``: per message ``(snapshot, update_id, bid_ticks, bid_sizes, ask_ticks, ask_sizes)`` with
  Python lists (``int`` ticks, ``float`` sizes), for the pure-Python peers;
* ``msgs_np``: the same with 1-D C-contiguous ``int64`` / ``float64`` numpy arrays, for ``ofi``;
* ``expected``: the final book from a naive dict replay (:func:`peers.expected_state`), which
  every benchmark asserts against.

Knobs (environment): ``OFI_BENCH_MESSAGES`` (book messages wanted, default 30000; the simulator
also emits trade frames, more than half of all frames, which are dropped), ``OFI_BENCH_SEED``
(default 0).
"""
from __future__ import annotations

import os
import sys

# OpenBLAS worker threads spin on this 2-core machine and steal cycles from the timed loop;
# nothing here uses BLAS. Must be set before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import orjson
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(HERE), str(ROOT / "tests")):
    if p not in sys.path:
        sys.path.insert(0, p)

import peers  # noqa: E402
import report  # noqa: E402

SYMBOL = "BTCUSDT"
TICK_SIZE = "0.1"
N_BOOK_MESSAGES = int(os.environ.get("OFI_BENCH_MESSAGES", "30000"))
SEED = int(os.environ.get("OFI_BENCH_SEED", "0"))


# --------------------------------------------------------------------------------------------
# the stream
# --------------------------------------------------------------------------------------------
def make_price_to_ticks(tick_size: str):
    """Exact ``str`` price -> int ticks via Decimal, memoised (prices repeat a lot)."""
    tick = Decimal(tick_size)
    cache: dict[str, int] = {}

    def price_to_ticks(price: str) -> int:
        try:
            return cache[price]
        except KeyError:
            q = Decimal(price) / tick
            if q != q.to_integral_value():
                raise ValueError(f"price {price!r} is off the {tick_size} grid") from None
            cache[price] = t = int(q)
            return t

    return price_to_ticks


def float_price_to_ticks(tick_size: str):
    """Float price (as order-book fed from floats holds it) -> int ticks."""
    tick = float(tick_size)
    return lambda p: int(round(p / tick))


@dataclass
class Stream:
    symbol: str
    tick_size: str
    raws: list            # bytes, one per book message; raws[0] is the snapshot
    ts_local: list        # int ns, one per book message
    msgs: list            # (snapshot, u, bid_ticks, bid_sizes, ask_ticks, ask_sizes) as lists
    msgs_np: list         # same with numpy arrays
    expected: object      # peers.FinalState after all messages
    n_levels_all: int     # levels in all messages (snapshot included)
    n_levels_deltas: int  # levels in msgs[1:]
    frame_bytes_mean: float
    levels_per_delta: float
    n_trades_dropped: int

    @property
    def n_messages(self) -> int:
        return len(self.msgs)

    @property
    def n_deltas(self) -> int:
        return len(self.msgs) - 1


def build_stream(frames, symbol: str = SYMBOL, tick_size: str = TICK_SIZE) -> Stream:
    """Turn simulator frames (objects with ``ts_local``, ``raw``, ``kind``) into a :class:`Stream`."""
    to_ticks = make_price_to_ticks(tick_size)
    raws, ts_local, msgs, msgs_np = [], [], [], []
    n_levels = []
    dropped = 0
    for fr in frames:
        if fr.kind != "book":
            dropped += 1
            continue
        raw = fr.raw.encode() if isinstance(fr.raw, str) else bytes(fr.raw)
        m = orjson.loads(raw)
        data = m["data"]
        u = int(data["u"])
        snapshot = m["type"] == "snapshot" or u == 1
        bt = [to_ticks(p) for p, _ in data["b"]]
        bs = [float(q) for _, q in data["b"]]
        at = [to_ticks(p) for p, _ in data["a"]]
        as_ = [float(q) for _, q in data["a"]]
        if not msgs and not snapshot:
            continue  # the book starts at the first snapshot
        raws.append(raw)
        ts_local.append(int(fr.ts_local))
        msgs.append((snapshot, u, bt, bs, at, as_))
        msgs_np.append((
            snapshot, u,
            np.asarray(bt, dtype=np.int64), np.asarray(bs, dtype=np.float64),
            np.asarray(at, dtype=np.int64), np.asarray(as_, dtype=np.float64),
        ))
        n_levels.append(len(bt) + len(at))
    if len(msgs) < 2:
        raise RuntimeError("the simulated stream has no snapshot followed by deltas")
    expected = peers.expected_state(msgs)
    return Stream(
        symbol=symbol,
        tick_size=tick_size,
        raws=raws,
        ts_local=ts_local,
        msgs=msgs,
        msgs_np=msgs_np,
        expected=expected,
        n_levels_all=sum(n_levels),
        n_levels_deltas=sum(n_levels[1:]),
        frame_bytes_mean=float(np.mean([len(r) for r in raws[1:]])),
        levels_per_delta=float(np.mean(n_levels[1:])),
        n_trades_dropped=dropped,
    )


@pytest.fixture(scope="session")
def stream() -> Stream:
    try:
        from ofi.sim.market import SimulatedMarket
    except ImportError as exc:  # pragma: no cover - depends on the build
        pytest.skip(f"ofi.sim is not importable ({exc}); build the package first")
    market = SimulatedMarket(symbol=SYMBOL, tick_size=TICK_SIZE, qty_step="0.001", depth=200, seed=SEED)
    frames = []
    n_book = 0
    while n_book < N_BOOK_MESSAGES:  # generate() continues where the last call stopped
        chunk = market.generate(n_messages=20_000)
        n_book += sum(fr.kind == "book" for fr in chunk)
        frames += chunk
    s = build_stream(frames)
    # the naive oracle must match the simulator's own book ...
    true_bids, true_asks = market.true_book()
    assert (len(true_bids), len(true_asks)) == (s.expected.n_bids, s.expected.n_asks)
    assert (true_bids[0], true_asks[0]) == ((s.expected.best_bid_ticks, s.expected.best_bid_size),
                                            (s.expected.best_ask_ticks, s.expected.best_ask_size))
    # ... and the pure-Python twin, when it exists
    ref = reference_book_class()
    if ref is not None:
        peers.assert_same_state(peers_reftwin_state(ref, s), s.expected)
    return s


@pytest.fixture(scope="session")
def tape(stream, ofi_core):
    """The stream's book frames as a tape (``ofi.data.tape``)."""
    from ofi.data.tape import frames_to_tape

    return frames_to_tape(list(zip(stream.ts_local, stream.raws)), stream.tick_size)


# --------------------------------------------------------------------------------------------
# the pure-Python twin (tests/reference/book.py), optional
# --------------------------------------------------------------------------------------------
def reference_book_class():
    try:
        from reference.book import RefBook
    except ImportError:
        return None
    return RefBook


def peers_reftwin_state(RefBook, s: Stream):
    book = peers.reftwin_new(RefBook, s.symbol, s.tick_size)
    book = peers.reftwin_replay(book, s.msgs_np)
    return peers.reftwin_state(book)


@pytest.fixture(scope="session")
def refbook_cls():
    cls = reference_book_class()
    if cls is None:
        pytest.skip("tests/reference/book.py (RefBook) is absent")
    return cls


@pytest.fixture(scope="session")
def ofi_core():
    """The compiled core; skip (not fail) the ``ours`` benchmarks if it is not built yet."""
    try:
        import ofi
        ofi.OrderBook  # noqa: B018
    except (ImportError, AttributeError) as exc:  # pragma: no cover
        pytest.skip(f"ofi core not importable ({exc}); build it with `python setup.py build_ext --inplace`")
    return ofi


# --------------------------------------------------------------------------------------------
# results: extra_info for the JSON, a markdown table at the end of the run
# --------------------------------------------------------------------------------------------
_RESULTS: list[dict] = []


def record(benchmark, *, impl: str, label: str, unit: str, n_units: int, messages: int,
           levels: int, **extra) -> None:
    """Attach the per-unit numbers to ``benchmark.extra_info`` and keep them for the summary.

    ``impl`` is the role in the group ("ours" is the reference the others are divided by,
    "ours-alt" another way of using ofi, anything else a peer); ``unit`` is what ``ns_per_unit``
    counts (a level update, a read, a frame).
    """
    info = benchmark.extra_info
    info.update(impl=impl, label=label, unit=unit, n_units=int(n_units), messages=int(messages),
                levels=int(levels), **extra)
    meta = getattr(benchmark, "stats", None)
    if meta is None:  # --benchmark-disable: nothing was timed
        return
    median = meta.stats.median
    info["ns_per_unit"] = median / n_units * 1e9
    info["ns_per_message"] = median / messages * 1e9 if messages else None
    info["ns_per_level"] = median / levels * 1e9 if levels else None
    _RESULTS.append({
        "group": benchmark.group,
        "name": benchmark.name,
        "stats": {"median": median, "min": meta.stats.min, "rounds": meta.stats.rounds},
        "extra_info": dict(info),
    })


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _RESULTS:
        return
    terminalreporter.section("ofi vs peers (ratio = peer median / ours median)")
    terminalreporter.write_line(report.render(_RESULTS))
