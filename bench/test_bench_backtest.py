"""Backtest benchmarks: ``BacktestEngine.run`` with a Python strategy, with the built-in
``ModelStrategy`` (features + model + signal on every book message) and with no strategy at all,
beside hftbacktest running the same simple strategy on the same data.

Data: ``ofi.sim.SimulatedMarket(seed=SEED, depth=50)`` (push every 20 ms, ~10 taker orders a
second), ``OFI_BENCH_BACKTEST_SECONDS`` simulated seconds (default 900: ~45k book messages and
~34k trades), as a tape (``frames_to_tape``). A *message* is a book message or a trade (one tape
trade row): the engine delivers each to the strategy, so both count.

Groups (unit: message; ns per message = 1e9 / messages per second):

* ``backtest``: ours is a Python ``Strategy`` (the size-imbalance rule below) through
  ``BacktestEngine`` (target >= 50k messages/s, i.e. <= 20 us; the engine's event loop is C,
  ``ofi/_core/backtest.pyx``, and calls the strategy's Python callbacks); ours-alt is the base
  ``Strategy`` (empty callbacks: the engine alone); hftbacktest runs the same rule in its numba ``njit`` loop
  (``wait_next_feed`` per feed, ``submit_buy_order`` / ``submit_sell_order`` market orders).
* ``backtest-model``: ``ModelStrategy`` with a 50-tree depth-4 ``GradientBoostingModel`` trained
  (untimed) on another simulated market (seed SEED + 1): ours is the default compiled strategy
  (``ofi._core.strategy.StrategyKernel``: features, model, signal and position rules in one call
  per book message, called by the engine's C event loop), target >= 200k messages/s (<= 5 us);
  ours-python is the same strategy on its Python path (``compiled=False``: FeatureEngine,
  predict_proba, SignalGenerator, PositionManager). Both must produce the same JSON report.

The simple rule, identical on both sides: on every feed (book or trade), at most once per 100 ms
of strategy time on a fixed grid, buy 0.01 at market when the best bid size is larger than the
best ask size (microprice above mid), sell 0.01 when it is smaller, position capped at +-0.05.
Same fees (0.02 % maker / 0.055 % taker), 1 ms order latency, feed latency as recorded, no
slippage, no flattening at the end. The two backtests then send the same orders (asserted).

hftbacktest pins ``numpy<2.3`` and pulls ``numba``/``llvmlite`` versions that break lleaves in
``test_bench_models.py``, so it runs in a worker process of its own interpreter:
``OFI_BENCH_HFTBACKTEST_PYTHON``, else this interpreter when it has hftbacktest, else
``$OFI_BENCH_CACHE/hftbacktest-venv/bin/python`` (``~/.cache/ofi-bench``) when it exists; the
benchmark is skipped otherwise. Each timed round is one request/reply over a pipe around the
whole ``njit`` run (the round trip, ~10 us against ~90 ms, is recorded as ``ipc_roundtrip_ns``);
building the backtest from the converted events is untimed, like ours (a fresh engine per round).

Run: ``pytest bench/test_bench_backtest.py --benchmark-only -p no:cacheprovider``.
"""
from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import SEED, record

N_SECONDS = float(os.environ.get("OFI_BENCH_BACKTEST_SECONDS", "900"))
N_TRAIN_SECONDS = 900.0
CACHE = Path(os.environ.get("OFI_BENCH_CACHE", str(Path.home() / ".cache" / "ofi-bench")))

GROUP = "backtest"
GROUP_MODEL = "backtest-model"
TARGET_STRATEGY_NS = 1e9 / 50_000       # Python Strategy callback backtest: >= 50k messages/s
TARGET_MODEL_NS = 1e9 / 200_000         # model-driven backtest: >= 200k messages/s

# the simple rule and the account, shared by both engines
INTERVAL_NS = 100_000_000
QTY = 0.01
MAX_POS = 0.05
ORDER_LATENCY_NS = 1_000_000
MAKER_FEE, TAKER_FEE = 0.0002, 0.00055
INITIAL_CAPITAL = 10_000.0
LOT_SIZE = 0.001


# ============================================================================================
# data
# ============================================================================================
class Data:
    def __init__(self, tick: str, tape: np.ndarray):
        from ofi.data.tape import FLAG_BEGIN, KIND_BOOK, KIND_TRADE
        self.tick = tick
        self.tape = tape
        self.n_book = int(np.count_nonzero((tape["kind"] == KIND_BOOK) & ((tape["flags"] & FLAG_BEGIN) != 0)))
        self.n_trades = int(np.count_nonzero(tape["kind"] == KIND_TRADE))
        self.messages = self.n_book + self.n_trades

    def label(self) -> str:
        return f"{self.n_book} book msgs + {self.n_trades} trades"


@pytest.fixture(scope="module")
def data(ofi_core) -> Data:
    from ofi.data.tape import frames_to_tape
    from ofi.sim import SimulatedMarket
    m = SimulatedMarket(seed=SEED, depth=50)
    return Data(str(m.tick_size), frames_to_tape(m.generate(duration_s=N_SECONDS), m.tick_size))


def _config(**kw):
    from ofi.backtest import BacktestConfig
    return BacktestConfig(initial_capital=INITIAL_CAPITAL, maker_fee=MAKER_FEE, taker_fee=TAKER_FEE,
                          slippage_bps=0.0, order_latency=ORDER_LATENCY_NS, **kw)


def _check_accounts(res, cfg) -> None:
    """Cash, position and equity follow from the fills; round trips add up once flat."""
    f, eq = res.fills, res.equity
    last = eq[-1]
    pos = float(np.sum(f["side"] * f["qty"]))
    cash = cfg.initial_capital - float(np.sum(f["side"] * f["qty"] * f["price"])) - float(np.sum(f["fee"]))
    assert math.isclose(last["position"], pos, abs_tol=1e-9)
    assert math.isclose(f["position_after"][-1], pos, abs_tol=1e-9)
    assert math.isclose(last["cash"], cash, rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(last["equity"], last["cash"] + last["position"] * last["mid"], rel_tol=1e-12, abs_tol=1e-9)
    taker = f["maker"] == 0
    assert np.allclose(f["fee"][taker], f["qty"][taker] * f["price"][taker] * cfg.taker_rate)
    if pos == 0.0:
        assert math.isclose(float(np.sum(res.trades["net_pnl"])), last["equity"] - cfg.initial_capital,
                            rel_tol=1e-9, abs_tol=1e-6)


# ============================================================================================
# the simple strategy (ours)
# ============================================================================================
def _imbalance_strategy():
    from ofi.backtest import Strategy

    class SizeImbalance(Strategy):
        """Every 100 ms (strategy clock, fixed grid), at the first feed: buy QTY at market when the
        best bid size exceeds the best ask size, sell when it is below; |position| <= MAX_POS."""

        def __init__(self):
            self.next_ns = 0
            self.n_feed = 0
            self.n_orders = 0

        def _decide(self, ctx):
            self.n_feed += 1
            now = ctx.now_ns
            if now < self.next_ns:
                return
            self.next_ns = (now // INTERVAL_NS + 1) * INTERVAL_NS
            book = ctx.book
            bq, aq = book.best_bid_size(), book.best_ask_size()
            pos = ctx.position
            if bq > aq:
                if pos < MAX_POS - 1e-9:
                    ctx.buy(QTY)
                    self.n_orders += 1
            elif aq > bq:
                if pos > -MAX_POS + 1e-9:
                    ctx.sell(QTY)
                    self.n_orders += 1

        def on_book(self, ctx, book):
            self._decide(ctx)

        def on_trade(self, ctx, trade):
            self._decide(ctx)

    return SizeImbalance()


def _run_ours(data: Data, strategy, cfg):
    from ofi.backtest import BacktestEngine
    return BacktestEngine(cfg).run(strategy, data.tape, data.tick, symbol="BTCUSDT")


@pytest.fixture(scope="module")
def ours_reference(data):
    """One untimed run of the simple strategy: what hftbacktest's run is compared with."""
    s = _imbalance_strategy()
    res = _run_ours(data, s, _config(flat_at_end=False))
    return s, res


@pytest.mark.benchmark(group=GROUP)
def test_backtest_python_strategy_ours(benchmark, data, ours_reference):
    cfg = _config(flat_at_end=False)

    def setup():
        return (_imbalance_strategy(),), {}

    def run(s):
        return s, _run_ours(data, s, cfg)

    s, res = benchmark.pedantic(run, setup=setup, rounds=5, warmup_rounds=1)
    assert s.n_feed == data.messages                 # every book message and trade reached it
    assert 0 < s.n_orders and len(res.fills) >= s.n_orders
    _check_accounts(res, cfg)
    ref_s, ref = ours_reference
    assert s.n_orders == ref_s.n_orders and np.array_equal(res.fills, ref.fills)   # deterministic
    f = res.fills
    record(benchmark, impl="ours", label=f"ofi BacktestEngine + Python Strategy (size imbalance), per message "
                                         f"({data.label()})",
           unit="message", n_units=data.messages, messages=data.messages, levels=0, book_messages=data.n_book,
           trades=data.n_trades, orders=s.n_orders, fills=len(f), final_position=float(f["position_after"][-1]),
           fees=float(np.sum(f["fee"])), target_ns=TARGET_STRATEGY_NS)


@pytest.mark.benchmark(group=GROUP)
def test_backtest_empty_strategy_ours(benchmark, data):
    from ofi.backtest import Strategy
    cfg = _config()

    def setup():
        return (Strategy(),), {}

    res = benchmark.pedantic(lambda s: _run_ours(data, s, cfg), setup=setup, rounds=5, warmup_rounds=1)
    assert len(res.fills) == 0 and res.equity["equity"][-1] == INITIAL_CAPITAL
    assert len(res.equity) == data.n_book + 1          # one row per book message, one at the end
    record(benchmark, impl="ours-alt", label=f"ofi BacktestEngine, empty Strategy (engine alone), per message "
                                             f"({data.label()})",
           unit="message", n_units=data.messages, messages=data.messages, levels=0, book_messages=data.n_book,
           trades=data.n_trades)


# ============================================================================================
# ModelStrategy: features + model + signal on every book message
# ============================================================================================
@pytest.fixture(scope="module")
def model(ofi_core):
    """A 50-tree, depth-4 model of the 5 s forward move (1-tick dead zone), trained on another
    simulated market (seed SEED + 1), on the feature engine's default configuration."""
    from ofi.data.tape import KIND_BOOK, frames_to_tape
    from ofi.features import FeatureEngine
    from ofi.models import GradientBoostingModel, forward_move_labels
    from ofi.sim import SimulatedMarket
    m = SimulatedMarket(seed=SEED + 1, depth=50)
    tick = str(m.tick_size)
    tape = frames_to_tape(m.generate(duration_s=N_TRAIN_SECONDS), tick)
    engine = FeatureEngine()
    ff = engine.transform(tape, tick, progress=False)
    lab = forward_move_labels(ff.ts_ns, ff.column("mid_price"), horizon_ns=5_000_000_000, dead_zone_ticks=1,
                              tick_size=float(tick))
    rows = (ff.kind == KIND_BOOK) & lab.valid
    return GradientBoostingModel(learning_rate=0.1, random_state=0).train(
        ff.values[rows], lab.y[rows], n_trees=50, max_depth=4, feature_names=ff.names,
        feature_config_hash=engine.config_hash, label=lab.definition)


def _model_strategy(model, compiled):
    from ofi.backtest import ModelStrategy
    from ofi.strategy import PositionConfig, SignalConfig
    return ModelStrategy(model, position=PositionConfig(sizing="fixed", qty=QTY),
                         signal=SignalConfig(cooldown_ns=1_000_000_000), compiled=compiled)


@pytest.fixture(scope="module")
def model_reference(data, model):
    """One untimed run on the Python path: the compiled runs must send the same orders."""
    from ofi.backtest.report import to_json
    return to_json(_run_ours(data, _model_strategy(model, False), _config()))


def _bench_model(benchmark, data, model, compiled, reference):
    from ofi.backtest.report import to_json
    cfg = _config()

    def setup():
        return (_model_strategy(model, compiled),), {}

    def run(s):
        return s, _run_ours(data, s, cfg)

    s, res = benchmark.pedantic(run, setup=setup, rounds=5 if compiled else 3, warmup_rounds=1)
    assert s.compiled is compiled
    assert s.n_book_messages == data.n_book            # features, model and signal on every book message
    assert s.last_signal is not None and len(res.fills) > 0 and len(res.trades) > 0
    assert res.equity["position"][-1] == 0.0           # flat at the end
    _check_accounts(res, cfg)
    assert len(res.series["ts_ns"]) > 0                # mid / OFI / VPIN recorded for the report
    if compiled:                                       # (the Python path is the reference itself)
        assert to_json(res) == reference               # the two paths trade identically
    stats = getattr(benchmark, "stats", None)
    per_book = stats.stats.median / data.n_book * 1e9 if stats is not None else None
    how = "compiled (StrategyKernel)" if compiled else "Python path (compiled=False)"
    record(benchmark, impl="ours" if compiled else "ours-python",
           label=f"ofi BacktestEngine + ModelStrategy {how}: 75 features, 50-tree GBM, signal, position on "
                 f"every book message, per message ({data.label()})",
           unit="message", n_units=data.messages, messages=data.messages, levels=0, book_messages=data.n_book,
           trades=data.n_trades, fills=len(res.fills), round_trips=len(res.trades),
           ns_per_book_message=per_book, **({"target_ns": TARGET_MODEL_NS} if compiled else {}))


@pytest.mark.benchmark(group=GROUP_MODEL)
def test_backtest_model_strategy_ours(benchmark, data, model, model_reference):
    _bench_model(benchmark, data, model, True, model_reference)


@pytest.mark.benchmark(group=GROUP_MODEL)
def test_backtest_model_strategy_python_path(benchmark, data, model, model_reference):
    _bench_model(benchmark, data, model, False, model_reference)


# ============================================================================================
# hftbacktest, in a worker process
# ============================================================================================
# hftbacktest's event layout (hftbacktest.types.event_dtype) and flags
HBT_EVENT_DTYPE = np.dtype([("ev", "u8"), ("exch_ts", "i8"), ("local_ts", "i8"), ("px", "f8"), ("qty", "f8"),
                            ("order_id", "u8"), ("ival", "i8"), ("fval", "f8")], align=True)
HBT_DEPTH, HBT_TRADE, HBT_DEPTH_CLEAR, HBT_DEPTH_SNAPSHOT = 1, 2, 3, 4
HBT_BUY, HBT_SELL = 1 << 29, 1 << 28


def tape_to_hftbacktest(tape: np.ndarray, tick: float) -> np.ndarray:
    """A tape as hftbacktest events (before its ``correct_local_timestamp`` / ``correct_event_order``):
    book levels become DEPTH_EVENT (DEPTH_SNAPSHOT_EVENT in a snapshot, preceded per side by a
    DEPTH_CLEAR_EVENT up to its worst level, as hftbacktest's own Bybit converter does), trades
    TRADE_EVENT; BUY/SELL is the book side or the taker side. Empty book messages carry nothing."""
    from ofi.data.tape import FLAG_BEGIN, FLAG_END, FLAG_SNAPSHOT, KIND_BOOK, KIND_TRADE
    kind, side, flags = tape["kind"], tape["side"], tape["flags"]
    book = kind == KIND_BOOK
    rows = np.flatnonzero((kind == KIND_TRADE) | (book & (side != 0)))
    snap = book & ((flags & FLAG_SNAPSHOT) != 0)
    ev = np.where(kind == KIND_TRADE, HBT_TRADE, np.where(snap, HBT_DEPTH_SNAPSHOT, HBT_DEPTH)).astype(np.uint64)
    ev |= np.where(side > 0, HBT_BUY, HBT_SELL).astype(np.uint64)
    out = np.zeros(len(rows), HBT_EVENT_DTYPE)
    out["ev"] = ev[rows]
    out["exch_ts"] = tape["ts_exch"][rows]
    out["local_ts"] = tape["ts_local"][rows]
    out["px"] = tape["price_ticks"][rows] * tick
    out["qty"] = tape["size"][rows]
    at, clears = [], []
    begins = np.flatnonzero(book & ((flags & FLAG_BEGIN) != 0))
    ends = np.flatnonzero(book & ((flags & FLAG_END) != 0)) + 1
    for r0, r1 in zip(begins[snap[begins]], ends[snap[begins]]):
        for sd, flag in ((1, HBT_BUY), (-1, HBT_SELL)):
            ticks = tape["price_ticks"][r0:r1][side[r0:r1] == sd]
            if len(ticks):
                worst = ticks.min() if sd > 0 else ticks.max()
                at.append(np.searchsorted(rows, r0))
                clears.append((HBT_DEPTH_CLEAR | flag, tape["ts_exch"][r0], tape["ts_local"][r0], worst * tick,
                               0.0, 0, 0, 0.0))
    if clears:
        out = np.insert(out, at, np.array(clears, dtype=HBT_EVENT_DTYPE))
    return out


_HBT_WORKER = r'''
import json, os, sys, time, traceback, warnings
proto = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)          # whatever else prints (numba, hftbacktest) goes to stderr, not the protocol
warnings.filterwarnings("ignore")
import numpy as np
from numba import njit
import hftbacktest
from hftbacktest import GTC, MARKET, BacktestAsset, HashMapMarketDepthBacktest
from hftbacktest.data.validation import correct_event_order, correct_local_timestamp, validate_event_order
from hftbacktest.types import event_dtype


@njit
def size_imbalance(hbt, interval_ns, qty, max_pos):
    n_feed = 0
    n_orders = 0
    next_ns = 0
    while True:
        r = hbt.wait_next_feed(False, 1 << 62)
        if r == 1:                  # end of data
            break
        if r != 2:
            return -1, r
        n_feed += 1
        now = hbt.current_timestamp
        if now < next_ns:
            continue
        next_ns = (now // interval_ns + 1) * interval_ns
        depth = hbt.depth(0)
        bq = depth.best_bid_qty
        aq = depth.best_ask_qty
        pos = hbt.position(0)
        if bq > aq:
            if pos < max_pos - 1e-9:
                n_orders += 1
                hbt.submit_buy_order(0, n_orders, depth.best_ask, qty, GTC, MARKET, False)
        elif aq > bq:
            if pos > -max_pos + 1e-9:
                n_orders += 1
                hbt.submit_sell_order(0, n_orders, depth.best_bid, qty, GTC, MARKET, False)
        hbt.clear_inactive_orders(0)
    return n_feed, n_orders


def main():
    st = {"hbt": None}

    def close():
        if st["hbt"] is not None:
            st["hbt"].close()
            st["hbt"] = None

    def build():
        close()
        c = st["cfg"]
        asset = (BacktestAsset().data([st["events"]]).linear_asset(1.0)
                 .constant_order_latency(c["order_latency_ns"], 0).risk_adverse_queue_model()
                 .no_partial_fill_exchange().trading_value_fee_model(c["maker_fee"], c["taker_fee"])
                 .tick_size(c["tick"]).lot_size(c["lot"]).last_trades_capacity(0))
        st["hbt"] = HashMapMarketDepthBacktest([asset])

    def run():
        c = st["cfg"]
        n_feed, n_orders = size_imbalance(st["hbt"], c["interval_ns"], c["qty"], c["max_pos"])
        sv = st["hbt"].state_values(0)
        return {"n_feed": int(n_feed), "n_orders": int(n_orders), "position": float(sv.position),
                "balance": float(sv.balance), "fee": float(sv.fee), "num_trades": int(sv.num_trades),
                "trading_value": float(sv.trading_value)}

    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd.pop("op")
        try:
            if op == "load":
                t0 = time.perf_counter()
                ev = np.load(cmd.pop("path")).astype(event_dtype)
                ev = correct_local_timestamp(ev, 0)
                ev = correct_event_order(ev, np.argsort(ev["exch_ts"], kind="mergesort"),
                                         np.argsort(ev["local_ts"], kind="mergesort"))
                validate_event_order(ev)
                st["events"], st["cfg"] = ev, cmd
                build()
                run()                   # compiles the strategy
                reply = {"rows": len(ev), "prepare_s": time.perf_counter() - t0,
                         "version": hftbacktest.__version__}
            elif op == "setup":
                build()
                reply = {}
            elif op == "run":
                reply = run()
            elif op == "ping":
                reply = {}
            elif op == "quit":
                close()
                break
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception:
            reply = {"error": traceback.format_exc()}
        proto.write(json.dumps(reply) + "\n")


main()
'''


def _hftbacktest_python() -> tuple[str | None, str]:
    """The interpreter that runs hftbacktest, or None and why not."""
    env = os.environ.get("OFI_BENCH_HFTBACKTEST_PYTHON")
    if env:
        return env, "OFI_BENCH_HFTBACKTEST_PYTHON"
    if importlib.util.find_spec("hftbacktest") is not None:
        return sys.executable, "this interpreter"
    venv = CACHE / "hftbacktest-venv" / "bin" / "python"
    if venv.exists():
        return str(venv), str(venv)
    return None, ("hftbacktest is not installed (it pins numpy<2.3 and a numba/llvmlite that break lleaves, so "
                  f"give it a venv: python -m venv {CACHE / 'hftbacktest-venv'} && "
                  f"{CACHE / 'hftbacktest-venv' / 'bin' / 'pip'} install hftbacktest, or set "
                  "OFI_BENCH_HFTBACKTEST_PYTHON)")


class _Worker:
    def __init__(self, python: str, stderr_path: Path):
        self._err_path = stderr_path
        self._err = open(stderr_path, "w")
        self.proc = subprocess.Popen([python, "-c", _HBT_WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._err, text=True, bufsize=1, cwd=str(stderr_path.parent))

    def call(self, op: str, **kw) -> dict:
        self.proc.stdin.write(json.dumps({"op": op, **kw}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the hftbacktest worker died: {self.stderr_tail()}")
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"the hftbacktest worker failed on {op!r}:\n{reply['error']}")
        return reply

    def stderr_tail(self) -> str:
        self._err.flush()
        return self._err_path.read_text()[-2000:]

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            self._err.close()


@pytest.fixture(scope="module")
def hbt(data, tmp_path_factory):
    python, where = _hftbacktest_python()
    if python is None:
        pytest.skip(where)
    try:
        probe = subprocess.run([python, "-c", "import hftbacktest, numba; print(hftbacktest.__version__)"],
                               capture_output=True, text=True, timeout=300, cwd=str(Path.home()))
    except OSError as exc:
        pytest.skip(f"cannot start {python} ({where}): {exc}")
    if probe.returncode != 0:
        pytest.skip(f"hftbacktest does not import in {python} ({where}): {probe.stderr.strip()[-400:]}")
    tmp = tmp_path_factory.mktemp("hftbacktest")
    path = tmp / "events.npy"
    events = tape_to_hftbacktest(data.tape, float(data.tick))
    np.save(path, events)
    w = _Worker(python, tmp / "worker.stderr")
    try:
        info = w.call("load", path=str(path), tick=float(data.tick), lot=LOT_SIZE, maker_fee=MAKER_FEE,
                      taker_fee=TAKER_FEE, order_latency_ns=ORDER_LATENCY_NS, interval_ns=INTERVAL_NS, qty=QTY,
                      max_pos=MAX_POS)
        pc = time.perf_counter_ns
        rt = []
        for _ in range(200):
            t0 = pc()
            w.call("ping")
            rt.append(pc() - t0)
        info.update(python=python, source=where, input_rows=len(events), ipc_roundtrip_ns=float(np.median(rt)))
        yield w, info
    finally:
        w.close()


@pytest.mark.benchmark(group=GROUP)
def test_backtest_python_strategy_hftbacktest(benchmark, data, hbt, ours_reference):
    w, info = hbt

    def setup():
        w.call("setup")
        return (), {}

    out = benchmark.pedantic(lambda: w.call("run"), setup=setup, rounds=5, warmup_rounds=1)
    # it woke on every feed (one per frame: trades of one frame arrive together) and traded
    assert out["n_feed"] > data.n_book
    assert out["num_trades"] > 0 and out["balance"] != 0.0 and out["fee"] > 0.0
    assert math.isclose(out["fee"], out["trading_value"] * TAKER_FEE, rel_tol=1e-9)     # all taker fills
    # the same rule on the same data: the same orders as ours and the same final position
    ref_s, ref = ours_reference
    assert out["n_orders"] == ref_s.n_orders
    assert math.isclose(out["position"], float(ref.fills["position_after"][-1]), abs_tol=1e-9)
    ours_value = float(np.sum(ref.fills["qty"] * ref.fills["price"]))
    assert math.isclose(out["trading_value"], ours_value, rel_tol=1e-4)
    record(benchmark, impl="hftbacktest",
           label=f"hftbacktest {info['version']} njit loop, same rule (wait_next_feed per feed, market orders), "
                 f"per message ({data.label()}; {info['rows']} events)",
           unit="message", n_units=data.messages, messages=data.messages, levels=0, book_messages=data.n_book,
           trades=data.n_trades, feed_wakeups=out["n_feed"], hbt_event_rows=info["rows"], orders=out["n_orders"],
           fills=out["num_trades"], final_position=out["position"], balance=out["balance"], fees=out["fee"],
           ours_fills=len(ref.fills), ours_fees=float(np.sum(ref.fills["fee"])),
           ipc_roundtrip_ns=info["ipc_roundtrip_ns"], hftbacktest_python=info["python"],
           prepare_s=info["prepare_s"])
