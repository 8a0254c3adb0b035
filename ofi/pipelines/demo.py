"""The demo pipeline: simulate a market, replay it, then features, a model, a backtest and the reports.

:func:`run_demo` is what ``ofi demo`` runs, callable from Python::

    from ofi.pipelines.demo import DemoConfig, run_demo

    result = run_demo(DemoConfig(seconds=300, report_dir="ofi-report"))
    result.replay.matches_simulator, result.model.card.validation["accuracy"], result.report_html

It simulates a Bybit linear market (:mod:`ofi.sim`, genuine V5 websocket frames), replays every
frame through the compiled order book, trade decoder and order-flow measures exactly as a live feed
would go through them (:func:`ofi.pipelines.replay.replay_market`), and then runs the whole
pipeline on the same frames: features, labels (the mid's move over the next 5 s beyond 1 tick), a
gradient-boosted model trained on the first 60 % of the time, a backtest of the model's signal
over the last 40 %, and an HTML + JSON report. A few seconds for the default quarter of an hour.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

import numpy as np

from ofi._progress import StageProgress
from ofi.backtest import (
    BacktestConfig,
    BacktestEngine,
    BacktestResult,
    ModelStrategy,
    print_summary,
    write_html,
    write_json,
)
from ofi.data.tape import KIND_BOOK, KIND_TRADE, frames_to_tape
from ofi.errors import InvalidInputError, OfiError
from ofi.features import FeatureConfig, FeatureEngine, FeatureFrame
from ofi.metrics import accuracy, log_loss
from ofi.models import GradientBoostingModel, check_point_in_time, forward_move_labels, save_model
from ofi.pipelines.replay import VPIN_WINDOW, ReplayStats, replay_market
from ofi.sim import SimFrame, SimulatedMarket
from ofi.strategy import PositionConfig, SignalConfig
from ofi.validation import positive_float

__all__ = ["DemoConfig", "DemoResult", "StageResult", "run_demo",
           "TRAIN_FRACTION", "PIPELINE_MIN_SECONDS", "LABEL_HORIZON_NS"]

TRAIN_FRACTION = 0.6               # the model learns from this share of the simulated time
PIPELINE_MIN_SECONDS = 120.0       # shorter runs leave too few labelled events to train and score
LABEL_HORIZON_NS = 5_000_000_000   # the label: the mid's move over the next 5 s, beyond 1 tick
_MIN_LABELLED = 100                # labelled book events needed on each side of the split


@dataclass(frozen=True)
class DemoConfig:
    """What :func:`run_demo` simulates and where it writes (the options of ``ofi demo``).

    Attributes
    ----------
    seconds : float
        Simulated seconds (the pipeline needs at least :data:`PIPELINE_MIN_SECONDS` and is skipped below).
    depth : int
        Book depth of the simulated topic: 1, 50, 200 or 1000.
    seed : int
        Random seed of the market, the model and the backtest's latencies.
    symbol, tick_size, qty_step, start_price, trade_rate
        The simulated market (see :class:`ofi.sim.SimulatedMarket`).
    report_dir : str or path
        Folder for ``report.html``, ``report.json`` and ``model.json`` (+ ``model.npz``); created.
    pipeline : bool
        False: only the replay and its summary (no features, model, backtest or report).
    """

    seconds: float = 900.0
    depth: int = 200
    seed: int = 0
    symbol: str = "BTCUSDT"
    tick_size: str = "0.1"
    qty_step: str = "0.001"
    start_price: float = 60000.0
    trade_rate: float = 10.0
    report_dir: str | os.PathLike[str] = "ofi-report"
    pipeline: bool = True


@dataclass(frozen=True)
class StageResult:
    """One stage of the run: its name, wall time and what it made (or why it failed)."""

    name: str
    seconds: float
    detail: str
    failed: bool = False

    def line(self) -> str:
        """The stage's line in the demo's output (without the newline)."""
        if self.failed:
            return f"  {self.name:<15} failed: {self.detail}"
        return f"  {self.name:<15} {self.seconds:6.2f} s  {self.detail}"


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run_demo` measured and wrote.

    Attributes
    ----------
    config : DemoConfig
        The run's configuration.
    market : SimulatedMarket
        The simulated market (symbol, topics, tick size; its own final book).
    replay : ReplayStats
        What the replay measured: counts, spreads, order flow, VPIN, throughput, errors.
    stages : tuple of StageResult
        ``simulate`` and ``replay``, then each pipeline stage that ran (``features``,
        ``labels+train``, ``backtest``, ``report``), in order, with their times.
    pipeline : {"off", "skipped", "failed", "done"}
        ``"off"`` with ``config.pipeline=False``, ``"skipped"`` for a run shorter than
        :data:`PIPELINE_MIN_SECONDS`, ``"failed"`` when a stage failed (the last of ``stages``).
    model : GradientBoostingModel or None
        The trained model; its card's ``validation`` holds the holdout scores (accuracy, log
        loss, majority-class accuracy).
    backtest : BacktestResult or None
        The backtest of the model's signal over the last 40 % of the time.
    reports : tuple of Path
        ``report.html``, ``report.json`` and ``model.json``, once written.
    """

    config: DemoConfig
    market: SimulatedMarket
    replay: ReplayStats
    stages: tuple[StageResult, ...]
    pipeline: Literal["off", "skipped", "failed", "done"]
    model: GradientBoostingModel | None = None
    backtest: BacktestResult | None = None
    reports: tuple[Path, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when the replay met no error and no stage failed (``ofi demo`` exits 0)."""
        return not self.replay.errors and self.pipeline != "failed"

    @property
    def report_html(self) -> Path | None:
        """The HTML report, once written."""
        return self.reports[0] if self.reports else None


def run_demo(config: DemoConfig = DemoConfig(), *, progress: StageProgress | bool | None = True,
             out: TextIO | None = None) -> DemoResult:
    """Simulate a market, replay it through the order book, then train, backtest and report.

    The model learns from the first :data:`TRAIN_FRACTION` of the simulated time (labels known
    before the split) and the backtest trades only after the split, so neither the holdout scores
    nor the backtest see a price the model was fitted on.

    Parameters
    ----------
    config : DemoConfig
        The market, the run's length and the report folder.
    progress : StageProgress, bool or None
        True: progress of each stage on ``sys.stderr`` (a bar on a terminal, else a line as each
        stage starts); False or None: none; a :class:`ofi._progress.StageProgress` to draw elsewhere.
    out : text stream, optional
        Where to print the summary as the run goes (what ``ofi demo`` prints); None prints nothing.

    Returns
    -------
    DemoResult
        What the run measured and wrote; ``ok`` is False when the replay met errors or a stage
        failed (a failed stage does not raise: its line says why).

    Raises
    ------
    InvalidInputError
        If the configuration is invalid (raised before any work starts).
    """
    if not isinstance(config, DemoConfig):
        raise InvalidInputError(f"config must be a DemoConfig, got {type(config).__name__}")
    seconds = positive_float("seconds", config.seconds)
    if not isinstance(config.report_dir, (str, os.PathLike)):
        raise InvalidInputError(f"report_dir must be a folder path, got {config.report_dir!r}")
    if isinstance(progress, StageProgress):
        stages = progress
    elif progress is None or isinstance(progress, bool):
        stages = StageProgress(sys.stderr if progress else None, prefix="ofi demo")
    else:
        raise InvalidInputError(f"progress must be True, False, None or a StageProgress, got {progress!r}")
    market = SimulatedMarket(
        config.symbol, tick_size=config.tick_size, qty_step=config.qty_step, depth=config.depth,
        seed=config.seed, start_price=config.start_price, trade_rate=config.trade_rate,
    )
    write = out.write if out is not None else _discard

    with stages:
        stages.start("simulate", f"{seconds:g} s of {market.symbol}")
        frames = _simulate(market, seconds, stages)
        sim = StageResult("simulate", stages.stop(), f"{len(frames):,} frames")
        stages.start("replay", f"{len(frames):,} frames")
        replay = replay_market(market, frames, on_progress=stages.update)
        replayed = StageResult("replay", stages.stop(),
                               "book, trades, OFI, VPIN and features frame by frame (above)")
        write(_replay_summary(market, seconds, config.seed, replay, sim.seconds))
        result = DemoResult(config, market, replay, (sim, replayed), "off")
        if not config.pipeline:
            return result
        if seconds < PIPELINE_MIN_SECONDS or not frames:
            write(f"  pipeline        skipped: training and backtesting need --seconds >= "
                  f"{PIPELINE_MIN_SECONDS:g}\n")
            return DemoResult(config, market, replay, (sim, replayed), "skipped")
        return _pipeline(result, frames, seconds, stages, out)


def _discard(text: str) -> int:
    return 0


def _simulate(market: SimulatedMarket, seconds: float, stages: StageProgress) -> list[SimFrame]:
    # generate() is list(frames()); iterating it here lets the bar follow the simulated clock
    frames: list[SimFrame] = []
    span_ns = seconds * 1e9
    for f in market.frames(duration_s=seconds):
        frames.append(f)
        if len(frames) % 1024 == 0:
            stages.update((f.ts_local - frames[0].ts_local) / span_ns)
    return frames


def _rate(n: float, seconds: float) -> str:
    if seconds <= 0:
        return "n/a"
    r = n / seconds
    if r >= 1e6:
        return f"{r / 1e6:.2f} M"
    if r >= 1e3:
        return f"{r / 1e3:.1f} k"
    return f"{r:.0f} "


def _replay_summary(market: SimulatedMarket, seconds: float, seed: int, r: ReplayStats, sim_s: float) -> str:
    """The replay's lines of ``ofi demo``'s output."""
    lines = [
        f"ofi demo: simulated {market.symbol} {market.topic} ({market.push_interval_ms} ms pushes) "
        f"+ {market.trade_topic}, {seconds:g} s, seed {seed}",
        f"  messages        {r.n_frames:,} (book {r.n_book_frames:,}, trade {r.n_trade_frames:,})",
        f"  levels applied  {r.levels_applied:,}",
        f"  final book      {r.n_bids} bids / {r.n_asks} asks, update id {r.update_id}; "
        f"matches the simulator's book: {'yes' if r.matches_simulator else 'NO'}",
    ]
    st, sb = r.spread_ticks, r.spread_bps
    if st.size:
        lines += [
            f"  spread (ticks)  mean {st.mean():.2f}  median {np.median(st):g}  p99 {np.percentile(st, 99):g}  "
            f"max {st.max():g}",
            f"  spread (bps)    mean {sb.mean():.4f}  median {np.median(sb):.4f}  p99 {np.percentile(sb, 99):.4f}",
            f"  mid             {r.mid.min():,.2f} .. {r.mid.max():,.2f} (range {r.mid.max() - r.mid.min():,.2f})",
        ]
    lines.append(
        f"  trades          {r.n_fills:,} fills in {r.n_trade_frames:,} messages, volume "
        f"{r.volume_buy + r.volume_sell:,.3f} (taker buy {r.volume_buy:,.3f}, sell {r.volume_sell:,.3f})"
    )
    beta, _, t_stat, r2, n_int = r.impact
    if r.ofi_cumulative is not None:
        lines.append(
            f"  order flow      OFI cumulative {r.ofi_cumulative:,.3f}, last minute {r.ofi_last_minute or 0.0:,.3f}; "
            f"impact dmid = {beta:.4g} ticks per unit of OFI (t {t_stat:.1f}, R^2 {r2:.2f}, "
            f"{n_int} 1-s intervals)"
        )
    if r.vpin.size:
        lines.append(
            f"  VPIN            mean {np.mean(r.vpin):.3f}, last {r.vpin[-1]:.3f} ({len(r.vpin)} values, "
            f"{r.vpin_buckets} buckets of {r.vpin_bucket_volume:,.3f}, window {VPIN_WINDOW})"
        )
    fv = r.features
    if fv is not None:
        shown = ("ofi_10s", "trade_imbalance_1m", "realized_vol_1m", "spread_zscore", "rsi_14")
        lines.append(
            f"  features        {int(fv.valid.sum())} of {len(fv)} defined at the end, extract_features "
            f"{r.extract_ns_per_call / 1e3:.2f} us per call; " + ", ".join(f"{k} {fv[k]:.3g}" for k in shown)
        )
    total_ns = r.book_ns + r.trade_ns
    lines += [
        f"  throughput      {_rate(r.n_frames, total_ns / 1e9)}msg/s overall; apply_frame "
        f"{_rate(r.n_book_frames, r.book_ns / 1e9)}msg/s, {r.book_ns / max(r.levels_applied, 1):.0f} ns/level; "
        f"Trade.from_frame {r.trade_ns / max(r.n_trade_frames, 1) / 1e3:.2f} us/msg",
        f"  simulation      {sim_s:.2f} s to generate {r.n_frames:,} frames",
        f"  errors          {len(r.errors)}",
    ]
    lines += [f"    {e}" for e in r.errors[:10]]
    if len(r.errors) > 10:
        lines.append(f"    ... and {len(r.errors) - 10} more")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the pipeline
class _StageFailed(Exception):
    """A pipeline stage failed; its StageResult says why."""


def _pipeline(replayed: DemoResult, frames: list[SimFrame], seconds: float, stages: StageProgress,
              out: TextIO | None) -> DemoResult:
    """Features, labels, a model, a backtest and the reports, on the frames the replay checked."""
    config, market = replayed.config, replayed.market
    write = out.write if out is not None else _discard
    report_dir = Path(config.report_dir)
    t_first, t_last = frames[0].ts_local, frames[-1].ts_local
    split_ns = t_first + int(TRAIN_FRACTION * (t_last - t_first))
    write(f"ofi demo pipeline: train on the first {TRAIN_FRACTION:.0%} of the {seconds:g} s, "
          f"backtest the last {1.0 - TRAIN_FRACTION:.0%}, reports in {report_dir}\n")
    done = list(replayed.stages)
    for stage in done:
        write(stage.line() + "\n")

    def finish(pipeline: Literal["failed", "done"]) -> DemoResult:
        return DemoResult(config, market, replayed.replay, tuple(done), pipeline, model, backtest, reports)

    model: GradientBoostingModel | None = None
    backtest: BacktestResult | None = None
    reports: tuple[Path, ...] = ()
    try:
        report_dir.mkdir(parents=True, exist_ok=True)       # before the work, not after it
    except OSError as exc:
        done.append(StageResult("report", 0.0, f"cannot create the folder: {type(exc).__name__}: {exc}",
                                failed=True))
        write(done[-1].line() + "\n")
        return finish("failed")

    def run(name: str, fn: Any, *args: Any, bar: bool = True) -> Any:
        stages.start(name, bar=bar)
        try:
            value, detail = fn(*args)
        except (OfiError, OSError, ImportError) as exc:   # bad data, an unwritable folder, a missing extra
            done.append(StageResult(name, stages.stop(), f"{type(exc).__name__}: {exc}", failed=True))
            write(done[-1].line() + "\n")
            raise _StageFailed from exc
        done.append(StageResult(name, stages.stop(), detail))
        write(done[-1].line() + "\n")
        return value

    try:
        tape, ff, engine = run("features", _features, market, frames, split_ns, stages)
        model, model_path = run("labels+train", _train, ff, engine, market, split_ns, config.seed, report_dir,
                                bar=False)
        backtest = run("backtest", _backtest, model, engine.config, tape, market, split_ns, config.seed, stages)
        reports = run("report", _report, backtest, report_dir, model_path, config.seed, bar=False)
    except _StageFailed:
        return finish("failed")

    if out is not None:
        from rich.console import Console

        print_summary(backtest, console=Console(file=out, highlight=False), written=reports)
        write(f"ofi demo: the report is {reports[0].resolve()}\n")
    return finish("done")


def _features(market: SimulatedMarket, frames: list[SimFrame], split_ns: int,
              stages: StageProgress) -> tuple[tuple[np.ndarray, FeatureFrame, FeatureEngine], str]:
    tick = str(market.tick_size)
    tape = frames_to_tape([(f.ts_local, f.raw) for f in frames], tick)
    # VPIN buckets sized like the replay's (about 200 over the run), from the training part only:
    # the default 50 (BTC) would not fill one window in a simulated quarter of an hour.
    early = (tape["kind"] == KIND_TRADE) & (tape["ts_local"] < split_ns)
    volume = float(np.sum(tape["size"][early]))
    config = FeatureConfig()
    if volume > 0:
        config = FeatureConfig(vpin_bucket_size=float(f"{volume / (200 * TRAIN_FRACTION):.3g}"))
    engine = FeatureEngine(config)
    ff = engine.transform(tape, tick, symbol=market.symbol, progress=stages.as_progress())
    return (tape, ff, engine), (f"{len(ff):,} rows x {len(ff.names)} features from a "
                                f"{len(tape):,}-row tape; VPIN buckets of {config.vpin_bucket_size:g}")


def _train(ff: FeatureFrame, engine: FeatureEngine, market: SimulatedMarket, split_ns: int, seed: int,
           report_dir: Path) -> tuple[tuple[GradientBoostingModel, Path], str]:
    # Imported here so that a missing scikit-learn fails this stage, not the import of the module.
    from threadpoolctl import threadpool_limits   # installed with scikit-learn

    lab = forward_move_labels(ff.ts_ns, ff.column("mid_price"), horizon_ns=LABEL_HORIZON_NS, dead_zone_ticks=1,
                              tick_size=float(market.tick_size), classes=3)
    book = ff.kind == KIND_BOOK
    # train on labels already known at the split (the window ends before it); score after it
    train = book & lab.valid & (lab.t1 < split_ns)
    test = book & lab.valid & (lab.t0 >= split_ns)
    n_train, n_test = int(train.sum()), int(test.sum())
    if n_train < _MIN_LABELLED or n_test < _MIN_LABELLED:
        raise InvalidInputError(f"too few labelled book events: {n_train} to train and {n_test} to score "
                                f"(need {_MIN_LABELLED} each); simulate longer (--seconds)")
    check_point_in_time(lab.t0[train], ff.ts_ns[train])
    X = FeatureFrame(ts_ns=ff.ts_ns[train], values=ff.values[train], kind=ff.kind[train], names=ff.names)
    # One OpenMP thread: a few thousand rows gain little from more, and scikit-learn's many short
    # parallel regions get 10-100x slower when another process holds a core of a small machine.
    # (threadpoolctl limits only loaded libraries: scikit-learn's OpenMP is loaded by the import.)
    import sklearn.ensemble  # noqa: F401
    with threadpool_limits(limits=1, user_api="openmp"):
        model = GradientBoostingModel(learning_rate=0.1, random_state=seed).train(
            X, lab.y[train], n_trees=60, max_depth=4, feature_names=ff.names,
            feature_config_hash=engine.config_hash, label=lab.definition)
    y_test = lab.y[test]
    proba = model.predict_proba(ff.values[test])
    acc = accuracy(y_test, model.classes_[np.argmax(proba, axis=1)])
    loss = log_loss(y_test, proba, labels=model.classes_)
    classes, counts = np.unique(lab.y[train], return_counts=True)
    majority = accuracy(y_test, np.full_like(y_test, classes[np.argmax(counts)]))
    model.card.validation = {
        "method": "holdout: book events after the training period",
        "start_ns": int(ff.ts_ns[test][0]), "end_ns": int(ff.ts_ns[test][-1]), "n_samples": n_test,
        "accuracy": acc, "log_loss": loss, "majority_class_accuracy": majority,
    }
    model_path = save_model(model, report_dir / "model")      # model.json + model.npz
    names = {-1: "down", 0: "flat", 1: "up"}
    mix = " / ".join(f"{names[int(c)]} {int(n):,}" for c, n in zip(classes, counts))
    return (model, model_path), (f"{n_train:,} rows ({mix}); holdout {n_test:,}: accuracy {acc:.3f} "
                                 f"(majority class {majority:.3f}), log loss {loss:.3f}")


class _WatchedStrategy(ModelStrategy):
    """The demo's strategy; its clock moves the backtest stage's bar through the tape."""

    def __init__(self, *args: Any, stages: StageProgress, t0_ns: int, span_ns: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._stages, self._t0_ns, self._span_ns = stages, t0_ns, span_ns
        self._books_seen = 0

    def on_book(self, ctx, book):  # type: ignore[no-untyped-def]
        super().on_book(ctx, book)
        self._books_seen += 1
        if self._books_seen % 256 == 0:
            self._stages.update((ctx.now_ns - self._t0_ns) / self._span_ns)


def _backtest(model: GradientBoostingModel, config: FeatureConfig, tape: np.ndarray, market: SimulatedMarket,
              split_ns: int, seed: int, stages: StageProgress) -> tuple[BacktestResult, str]:
    t0 = int(tape["ts_local"][0])
    strategy = _WatchedStrategy(
        model, feature_config=config, position=PositionConfig(sizing="fixed", qty=0.05),
        signal=SignalConfig(cooldown_ns=2_000_000_000), trade_after_ns=split_ns,
        stages=stages, t0_ns=t0, span_ns=max(int(tape["ts_local"][-1]) - t0, 1))
    engine = BacktestEngine(BacktestConfig(order_latency=5_000_000, feed_latency=1_000_000, seed=seed))
    result = engine.run(strategy, tape, str(market.tick_size), symbol=market.symbol)
    n_fills, n_trips = len(result.fills), len(result.trades)
    return result, (f"{n_fills:,} fill{'s' if n_fills != 1 else ''}, {n_trips:,} round "
                    f"trip{'s' if n_trips != 1 else ''} (latency: orders 5 ms, feed +1 ms)")


def _report(result: BacktestResult, report_dir: Path, model_path: Path,
            seed: int) -> tuple[tuple[Path, ...], str]:
    html = write_html(result, report_dir / "report.html",
                      title=f"ofi demo: {result.symbol} on the simulated market, seed {seed}")
    js = write_json(result, report_dir / "report.json")
    written = (html, js, model_path)
    return written, ", ".join(f"{p.name} ({p.stat().st_size / 1e3:,.0f} kB)" for p in written)
