"""The ``ofi`` command line.

``ofi demo`` simulates a quarter of an hour of a Bybit linear market (:mod:`ofi.sim`), replays
every frame through the compiled order book, trade decoder and order-flow measures exactly as a
live feed would go through them, and prints what it saw and how fast it went; then it runs the
whole pipeline on the same frames: features, labels, a gradient-boosted model trained on the
first 60 % of the time, a backtest of the last 40 %, and an HTML + JSON report (a few seconds in
all). ``ofi fetch`` reads a book and the last trades over REST; ``ofi record`` records the
websocket feed (both take a base-URL option, which the tests point at the local fake Bybit)::

    $ ofi demo --seconds 900 --depth 200 --seed 0 --report-dir ofi-report
    $ ofi demo --seconds 180 --no-pipeline
    $ ofi fetch BTCUSDT --depth 50 --trades 20
    $ ofi record BTCUSDT ETHUSDT --out rec/ --seconds 3600
    $ ofi --version
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import TextIO

__all__ = ["main", "build_parser"]

_TRAIN_FRACTION = 0.6               # the demo model learns from this share of the simulated time
_PIPELINE_MIN_SECONDS = 120.0        # shorter runs leave too few labelled events to train and score
_LABEL_HORIZON_NS = 5_000_000_000    # the label: the mid's move over the next 5 s, beyond 1 tick


def _version() -> str:
    import ofi

    v = getattr(ofi, "__version__", None)
    if v:
        return str(v)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("order-flow-imbalance")
    except PackageNotFoundError:
        return "unknown"


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (v > 0 and v != float("inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return v


def _non_negative_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``ofi`` command (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog="ofi", description="Order-flow analytics on Bybit: exact L2 book, OFI, VPIN, features, backtests."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="simulate a market, replay it through the order book, then train, backtest and report",
        description=(
            "Simulate a Bybit linear market (genuine V5 websocket frames), replay every frame "
            "through OrderBook.apply_frame and Trade.from_frame, and print a summary: message "
            "counts, spread and mid statistics, trades, order flow, throughput and errors. Then "
            "run the pipeline on the same frames: features (FeatureEngine.transform), labels (the "
            "mid's move over 5 s beyond 1 tick), a gradient-boosted model trained on the first 60 %% "
            "of the time and scored on the rest, a backtest of the model's signal over the last "
            "40 %% (5 ms order latency), and the reports: DIR/report.html (charts), "
            "DIR/report.json and DIR/model.json. Each stage prints its time; progress goes to "
            "stderr. Exit status 1 if the replay met errors or a stage failed."
        ),
    )
    demo.add_argument(
        "--seconds", type=_positive_float, default=900.0,
        help="simulated seconds (default 900; the pipeline needs at least 120 and is skipped below)",
    )
    demo.add_argument("--depth", type=int, choices=(1, 50, 200, 1000), default=200, help="book depth (default 200)")
    demo.add_argument("--seed", type=_non_negative_int, default=0, help="random seed (default 0)")
    demo.add_argument("--symbol", default="BTCUSDT", help="symbol (default BTCUSDT)")
    demo.add_argument("--tick-size", default="0.1", help="price tick (default 0.1)")
    demo.add_argument("--qty-step", default="0.001", help="size step (default 0.001)")
    demo.add_argument("--start-price", type=_positive_float, default=60000.0, help="initial price (default 60000)")
    demo.add_argument(
        "--trade-rate", type=float, default=10.0, help="random taker orders per second (default 10)"
    )
    demo.add_argument(
        "--report-dir", default="ofi-report", metavar="DIR",
        help="where the pipeline writes report.html, report.json and model.json (default ofi-report; created)",
    )
    demo.add_argument(
        "--no-pipeline", action="store_true",
        help="only the replay and its summary: no features, model, backtest or report",
    )
    _add_record_parser(sub)
    _add_fetch_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ofi`` command; returns the process exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success, 1 if the demo met errors (replay or a pipeline stage), 2 on bad arguments.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _demo(args, sys.stdout, sys.stderr)
    if args.command == "record":
        return _record(args, sys.stdout, sys.stderr)
    if args.command == "fetch":
        return _fetch(args, sys.stdout, sys.stderr)
    parser.print_help()
    return 0


# --------------------------------------------------------------------------- demo
def _fmt_int(n: int) -> str:
    return f"{n:,}"


def _rate(n: float, seconds: float) -> str:
    if seconds <= 0:
        return "n/a"
    r = n / seconds
    if r >= 1e6:
        return f"{r / 1e6:.2f} M"
    if r >= 1e3:
        return f"{r / 1e3:.1f} k"
    return f"{r:.0f} "


def _generate(market, seconds: float, prog: "_Progress") -> list:  # type: ignore[no-untyped-def]
    # generate() is list(frames()); iterating it here lets the bar follow the simulated clock
    frames: list = []
    span_ns = seconds * 1e9
    for f in market.frames(duration_s=seconds):
        frames.append(f)
        if len(frames) % 1024 == 0:
            prog.update((f.ts_local - frames[0].ts_local) / span_ns)
    return frames


class _Progress:
    """Progress of the demo's stages on ``err``: one rewritten line with a bar on a terminal;
    elsewhere (a pipe, a CI log) one plain line as each stage starts."""

    _BAR = 30

    def __init__(self, err: TextIO):
        self._err = err
        isatty = getattr(err, "isatty", None)
        self.tty = bool(isatty()) if callable(isatty) else False
        self._label = ""
        self._bar = True
        self._t0 = self._last = 0.0

    def start(self, label: str, note: str = "", *, bar: bool = True) -> None:
        self._label, self._bar = label, bar
        self._t0 = self._last = time.perf_counter()
        if self.tty:
            self._draw(0.0)
        else:
            print(f"ofi demo: {label}{': ' + note if note else ''} ...", file=self._err, flush=True)

    def update(self, fraction: float) -> None:
        if not self.tty:
            return
        now = time.perf_counter()
        if now - self._last >= 0.1:
            self._last = now
            self._draw(fraction)

    def _draw(self, fraction: float) -> None:
        elapsed = time.perf_counter() - self._t0
        if self._bar:
            f = min(max(fraction, 0.0), 1.0)
            n = int(f * self._BAR)
            text = f"{self._label:<13} [{'#' * n}{'.' * (self._BAR - n)}] {f:4.0%}  {elapsed:.1f} s"
        else:
            text = f"{self._label:<13} ...  {elapsed:.1f} s"
        self._err.write("\r" + text + "\x1b[K")
        self._err.flush()

    def stop(self) -> float:
        """Seconds since :meth:`start`; clears the line on a terminal."""
        if self.tty:
            self._err.write("\r\x1b[K")
            self._err.flush()
        return time.perf_counter() - self._t0


def _demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import numpy as np

    from ofi import OrderBook, Trade
    from ofi.errors import OfiError
    from ofi.sim import SimulatedMarket

    try:
        market = SimulatedMarket(
            args.symbol,
            tick_size=args.tick_size,
            qty_step=args.qty_step,
            depth=args.depth,
            seed=args.seed,
            start_price=args.start_price,
            trade_rate=args.trade_rate,
        )
    except OfiError as exc:
        print(f"ofi demo: {exc}", file=err)
        return 2
    tick = str(market.tick_size)

    prog = _Progress(err)
    prog.start("simulate", f"{args.seconds:g} s of {market.symbol}")
    frames = _generate(market, args.seconds, prog)
    gen_s = prog.stop()
    prog.start("replay", f"{_fmt_int(len(frames))} frames")
    book_raw = [f for f in frames if f.kind == "book"]
    trade_raw = [f for f in frames if f.kind == "trade"]

    # Pass 1, timed: nothing but the calls a live feed handler makes.
    errors: list[str] = []
    book = OrderBook(market.symbol, tick_size=tick)
    t0 = time.perf_counter_ns()
    for f in book_raw:
        try:
            book.apply_frame(f.raw, f.ts_local)
        except OfiError as exc:
            errors.append(f"book frame at {f.ts_local}: {type(exc).__name__}: {exc}")
    book_ns = time.perf_counter_ns() - t0
    levels = book.levels_applied
    total_volume = 0.0
    t0 = time.perf_counter_ns()
    for f in trade_raw:
        try:
            for tr in Trade.from_frame(f.raw, tick, f.ts_local):
                total_volume += tr.size
        except OfiError as exc:
            errors.append(f"trade frame at {f.ts_local}: {type(exc).__name__}: {exc}")
    trade_ns = time.perf_counter_ns() - t0

    # Pass 2: the same stream in receive order, reading the book after each message and feeding
    # the order-flow measures (OFI on 1-second intervals, VPIN on ~200 buckets of the volume).
    from ofi.features import FeatureEngine
    from ofi.orderflow import OrderFlowCalculator, VpinCalculator

    book2 = OrderBook(market.symbol, tick_size=tick)
    engine = FeatureEngine()
    fv = None
    extract_ns = n_extract = 0
    calc = OrderFlowCalculator(interval=1_000_000_000, impact_window=100_000)
    n_vpin = 50
    vpin = VpinCalculator(bucket_volume=max(total_volume / 200.0, 1e-9), n_buckets=n_vpin)
    vpins: list[float] = []
    spread_ticks: list[int] = []
    spread_bps: list[float] = []
    mids: list[float] = []
    n_fills = 0
    vol_buy = vol_sell = 0.0
    for i, f in enumerate(frames):
        if i % 1024 == 0:
            prog.update(i / len(frames))
        try:
            if f.kind == "book":
                try:
                    book2.apply_frame(f.raw, f.ts_local)
                finally:
                    engine.update_orderbook(book2)     # also after a gap: features go NaN until resync
                t1 = time.perf_counter_ns()
                fv = engine.extract_features(book2)
                extract_ns += time.perf_counter_ns() - t1
                n_extract += 1
                calc.update(book2)
                bt, at = book2.best_bid_ticks(), book2.best_ask_ticks()
                if bt is not None and at is not None:
                    spread_ticks.append(at - bt)
                    spread_bps.append(book2.spread_bps())
                    mids.append(book2.mid_price())
            else:
                for tr in Trade.from_frame(f.raw, tick, f.ts_local):
                    engine.update_trade(tr)
                    v = vpin.add_trade(tr)
                    if v is not None:
                        vpins.append(v)
                    n_fills += 1
                    if tr.side > 0:
                        vol_buy += tr.size
                    else:
                        vol_sell += tr.size
        except OfiError:
            pass  # counted in pass 1

    # The replayed book must equal the simulator's own book, level for level.
    true_bids, true_asks = market.true_book()
    bt, bs, at, as_ = book.top_levels(max(len(true_bids), len(true_asks), 1))
    matches = (
        [(int(t), float(s)) for t, s in zip(bt, bs)] == true_bids
        and [(int(t), float(s)) for t, s in zip(at, as_)] == true_asks
    )
    if not matches:
        errors.append("the replayed book differs from the simulator's book")
    if book.rejected:
        errors.append(f"the book rejected {book.rejected} messages")
    try:
        book.check_integrity()
    except OfiError as exc:
        errors.append(f"integrity: {exc}")
    replay_s = prog.stop()

    n_msgs = len(frames)
    st = np.asarray(spread_ticks, dtype=np.float64)
    sb = np.asarray(spread_bps, dtype=np.float64)
    total_ns = book_ns + trade_ns
    w = out.write
    w(
        f"ofi demo: simulated {market.symbol} {market.topic} ({market.push_interval_ms} ms pushes) "
        f"+ {market.trade_topic}, {args.seconds:g} s, seed {args.seed}\n"
    )
    w(f"  messages        {_fmt_int(n_msgs)} (book {_fmt_int(len(book_raw))}, trade {_fmt_int(len(trade_raw))})\n")
    w(f"  levels applied  {_fmt_int(levels)}\n")
    w(
        f"  final book      {book.n_bids} bids / {book.n_asks} asks, update id {book.update_id}; "
        f"matches the simulator's book: {'yes' if matches else 'NO'}\n"
    )
    if st.size:
        w(
            f"  spread (ticks)  mean {st.mean():.2f}  median {np.median(st):g}  p99 {np.percentile(st, 99):g}  "
            f"max {st.max():g}\n"
        )
        w(
            f"  spread (bps)    mean {sb.mean():.4f}  median {np.median(sb):.4f}  p99 {np.percentile(sb, 99):.4f}\n"
        )
        w(f"  mid             {min(mids):,.2f} .. {max(mids):,.2f} (range {max(mids) - min(mids):,.2f})\n")
    w(
        f"  trades          {_fmt_int(n_fills)} fills in {_fmt_int(len(trade_raw))} messages, volume "
        f"{vol_buy + vol_sell:,.3f} (taker buy {vol_buy:,.3f}, sell {vol_sell:,.3f})\n"
    )
    cum = calc.cumulative()
    beta, _, t_stat, r2, n_int = calc.price_impact()
    if cum is not None:
        w(
            f"  order flow      OFI cumulative {cum:,.3f}, last minute {calc.ofi_1min() or 0.0:,.3f}; "
            f"impact dmid = {beta:.4g} ticks per unit of OFI (t {t_stat:.1f}, R^2 {r2:.2f}, "
            f"{n_int} 1-s intervals)\n"
        )
    if vpins:
        w(
            f"  VPIN            mean {np.mean(vpins):.3f}, last {vpins[-1]:.3f} ({len(vpins)} values, "
            f"{vpin.buckets} buckets of {vpin.bucket_volume:,.3f}, window {n_vpin})\n"
        )
    if fv is not None:
        shown = ("ofi_10s", "trade_imbalance_1m", "realized_vol_1m", "spread_zscore", "rsi_14")
        w(
            f"  features        {int(fv.valid.sum())} of {len(fv)} defined at the end, extract_features "
            f"{extract_ns / max(n_extract, 1) / 1e3:.2f} us per call; "
            + ", ".join(f"{k} {fv[k]:.3g}" for k in shown) + "\n"
        )
    w(
        f"  throughput      {_rate(n_msgs, total_ns / 1e9)}msg/s overall; apply_frame "
        f"{_rate(len(book_raw), book_ns / 1e9)}msg/s, {book_ns / max(levels, 1):.0f} ns/level; "
        f"Trade.from_frame {trade_ns / max(len(trade_raw), 1) / 1e3:.2f} us/msg\n"
    )
    w(f"  simulation      {gen_s:.2f} s to generate {_fmt_int(n_msgs)} frames\n")
    w(f"  errors          {len(errors)}\n")
    for e in errors[:10]:
        w(f"    {e}\n")
    if len(errors) > 10:
        w(f"    ... and {len(errors) - 10} more\n")
    status = 1 if errors else 0
    if args.no_pipeline:
        return status
    if args.seconds < _PIPELINE_MIN_SECONDS or not frames:
        w(f"  pipeline        skipped: training and backtesting need --seconds >= {_PIPELINE_MIN_SECONDS:g}\n")
        return status
    return max(status, _pipeline(args, market, frames, gen_s, replay_s, prog, out))


# --------------------------------------------------------------------------- demo pipeline
class _StageFailed(Exception):
    """A pipeline stage failed; its line already says why."""


def _pipeline(  # type: ignore[no-untyped-def]
    args: argparse.Namespace, market, frames: list, sim_s: float, replay_s: float, prog: _Progress, out: TextIO
) -> int:
    """Features, labels, a model, a backtest and the reports, on the frames the replay checked.

    The model learns from the first ``_TRAIN_FRACTION`` of the simulated time (labels that are
    known before the split) and the backtest trades only after the split, so neither the holdout
    scores nor the backtest see a price the model was fitted on.
    """
    from pathlib import Path

    from ofi.errors import OfiError

    w = out.write
    report_dir = Path(args.report_dir)
    t_first, t_last = frames[0].ts_local, frames[-1].ts_local
    split_ns = t_first + int(_TRAIN_FRACTION * (t_last - t_first))
    w(f"ofi demo pipeline: train on the first {_TRAIN_FRACTION:.0%} of the {args.seconds:g} s, "
      f"backtest the last {1.0 - _TRAIN_FRACTION:.0%}, reports in {report_dir}\n")
    w(f"  {'simulate':<15} {sim_s:6.2f} s  {_fmt_int(len(frames))} frames\n")
    w(f"  {'replay':<15} {replay_s:6.2f} s  book, trades, OFI, VPIN and features frame by frame (above)\n")
    try:
        report_dir.mkdir(parents=True, exist_ok=True)       # before the work, not after it
    except OSError as exc:
        w(f"  {'report':<15} failed: cannot create the folder: {type(exc).__name__}: {exc}\n")
        return 1

    def run(name, fn, *fn_args, bar=True):  # type: ignore[no-untyped-def]
        prog.start(name, bar=bar)
        try:
            value, detail = fn(*fn_args)
        except (OfiError, OSError, ImportError) as exc:   # bad data, an unwritable folder, a missing extra
            prog.stop()
            w(f"  {name:<15} failed: {type(exc).__name__}: {exc}\n")
            raise _StageFailed from exc
        w(f"  {name:<15} {prog.stop():6.2f} s  {detail}\n")
        return value

    try:
        tape, ff, engine = run("features", _demo_features, market, frames, split_ns, prog)
        model, model_path = run("labels+train", _demo_train, ff, engine, market, split_ns, args.seed, report_dir,
                                bar=False)
        result = run("backtest", _demo_backtest, model, engine.config, tape, market, split_ns, args.seed, prog)
        written = run("report", _demo_report, result, report_dir, model_path, args.seed, bar=False)
    except _StageFailed:
        return 1

    from rich.console import Console

    from ofi.backtest import print_summary

    print_summary(result, console=Console(file=out, highlight=False), written=written)
    w(f"ofi demo: the report is {written[0].resolve()}\n")
    return 0


def _demo_features(market, frames: list, split_ns: int, prog: _Progress):  # type: ignore[no-untyped-def]
    import numpy as np

    from ofi.data.tape import KIND_TRADE, frames_to_tape
    from ofi.features import FeatureConfig, FeatureEngine

    tick = str(market.tick_size)
    tape = frames_to_tape([(f.ts_local, f.raw) for f in frames], tick)
    # VPIN buckets sized like the replay's (about 200 over the run), from the training part only:
    # the default 50 (BTC) would not fill one window in a simulated quarter of an hour.
    early = (tape["kind"] == KIND_TRADE) & (tape["ts_local"] < split_ns)
    volume = float(np.sum(tape["size"][early]))
    config = FeatureConfig()
    if volume > 0:
        config = FeatureConfig(vpin_bucket_size=float(f"{volume / (200 * _TRAIN_FRACTION):.3g}"))
    engine = FeatureEngine(config)
    progress = (lambda done, total: prog.update(done / total if total else 0.0)) if prog.tty else False
    ff = engine.transform(tape, tick, symbol=market.symbol, progress=progress)
    return (tape, ff, engine), (f"{_fmt_int(len(ff))} rows x {len(ff.names)} features from a "
                                f"{_fmt_int(len(tape))}-row tape; VPIN buckets of {config.vpin_bucket_size:g}")


def _demo_train(ff, engine, market, split_ns: int, seed: int, report_dir):  # type: ignore[no-untyped-def]
    import numpy as np
    from threadpoolctl import threadpool_limits   # installed with scikit-learn

    from ofi.data.tape import KIND_BOOK
    from ofi.errors import InvalidInputError
    from ofi.features import FeatureFrame
    from ofi.metrics import accuracy, log_loss
    from ofi.models import GradientBoostingModel, check_point_in_time, forward_move_labels, save_model

    lab = forward_move_labels(ff.ts_ns, ff.column("mid_price"), horizon_ns=_LABEL_HORIZON_NS, dead_zone_ticks=1,
                              tick_size=float(market.tick_size), classes=3)
    book = ff.kind == KIND_BOOK
    # train on labels already known at the split (the window ends before it); score after it
    train = book & lab.valid & (lab.t1 < split_ns)
    test = book & lab.valid & (lab.t0 >= split_ns)
    n_train, n_test = int(train.sum()), int(test.sum())
    if n_train < 100 or n_test < 100:
        raise InvalidInputError(f"too few labelled book events: {n_train} to train and {n_test} to score "
                                f"(need 100 each); simulate longer (--seconds)")
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
    mix = " / ".join(f"{names[int(c)]} {_fmt_int(int(n))}" for c, n in zip(classes, counts))
    return (model, model_path), (f"{_fmt_int(n_train)} rows ({mix}); holdout {_fmt_int(n_test)}: accuracy {acc:.3f} "
                   f"(majority class {majority:.3f}), log loss {loss:.3f}")


def _demo_backtest(  # type: ignore[no-untyped-def]
    model, config, tape, market, split_ns: int, seed: int, prog: _Progress
):
    from ofi.backtest import BacktestConfig, BacktestEngine, ModelStrategy
    from ofi.strategy import PositionConfig, SignalConfig

    t0 = int(tape["ts_local"][0])
    span = max(int(tape["ts_local"][-1]) - t0, 1)

    class Watched(ModelStrategy):
        # the bar follows the strategy's clock through the tape
        _books_seen = 0

        def on_book(self, ctx, book):  # type: ignore[no-untyped-def]
            super().on_book(ctx, book)
            self._books_seen += 1
            if self._books_seen % 256 == 0:
                prog.update((ctx.now_ns - t0) / span)

    strategy = Watched(model, feature_config=config, position=PositionConfig(sizing="fixed", qty=0.05),
                       signal=SignalConfig(cooldown_ns=2_000_000_000), trade_after_ns=split_ns)
    engine = BacktestEngine(BacktestConfig(order_latency=5_000_000, feed_latency=1_000_000, seed=seed))
    result = engine.run(strategy, tape, str(market.tick_size), symbol=market.symbol)
    n_fills, n_trips = len(result.fills), len(result.trades)
    return result, (f"{_fmt_int(n_fills)} fill{'s' if n_fills != 1 else ''}, {_fmt_int(n_trips)} round "
                    f"trip{'s' if n_trips != 1 else ''} (latency: orders 5 ms, feed +1 ms)")


def _demo_report(result, report_dir, model_path, seed: int):  # type: ignore[no-untyped-def]
    from ofi.backtest import write_html, write_json

    html = write_html(result, report_dir / "report.html",
                      title=f"ofi demo: {result.symbol} on the simulated market, seed {seed}")
    js = write_json(result, report_dir / "report.json")
    written = [html, js, model_path]
    return written, ", ".join(f"{p.name} ({p.stat().st_size / 1e3:,.0f} kB)" for p in written)


# --------------------------------------------------------------------------- record
def _add_record_parser(sub) -> None:  # type: ignore[no-untyped-def]
    rec = sub.add_parser(
        "record",
        help="record Bybit's live public feed (books and trades) to disk",
        description=(
            "Connect to Bybit's public websocket (one connection per category), subscribe the "
            "order books and public trades of the symbols, and write every frame as received, "
            "with its local receive time, to DIR (one gzip JSON-lines file per symbol and hour; "
            "replay with ofi.api.stream.replay_recording). Runs until --seconds pass or Ctrl-C; "
            "reconnects and resynchronises by itself. Each frame is flushed as it is written, so "
            "a killed recorder loses at most the frame in flight."
        ),
    )
    rec.add_argument("symbols", nargs="+", metavar="SYMBOL", help="symbols, e.g. BTCUSDT ETHUSDT")
    rec.add_argument("--out", required=True, metavar="DIR", help="recording directory (created if missing)")
    rec.add_argument(
        "--category", choices=("linear", "inverse", "spot", "option"), default="linear",
        help="market category (default linear)",
    )
    rec.add_argument(
        "--depth", type=int, default=50, help="book depth: 1, 50, 200 or 1000; option 25 or 100 (default 50)"
    )
    rec.add_argument(
        "--seconds", type=_positive_float, default=None, help="stop after this many seconds (default: until Ctrl-C)"
    )
    rec.add_argument(
        "--ws-url", default=None, metavar="URL", help="websocket endpoint override (e.g. a local test server)"
    )
    rec.add_argument("--testnet", action="store_true", help="use stream-testnet.bybit.com")


def _record(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ofi.api.events import BookUpdate, Error, Gap, Reconnect, Rejected, TradeEvent
    from ofi.api.stream import BybitStream
    from ofi.errors import OfiError

    try:
        stream = BybitStream(
            args.symbols, category=args.category, depth=args.depth, trades=True, testnet=args.testnet,
            ws_url=args.ws_url, record_to=args.out,
        )
        stream.start()
    except OfiError as exc:
        print(f"ofi record: {exc}", file=err)
        return 2
    print(f"ofi record: {', '.join(stream.topics)} from {stream.url} -> {args.out}", file=err, flush=True)
    counts = {"book": 0, "trades": 0, "gaps": 0, "reconnects": 0, "rejected": 0, "errors": 0}
    t0 = time.monotonic()
    deadline = None if args.seconds is None else t0 + args.seconds
    next_report = t0 + 10.0
    interrupted = False
    try:
        while not stream.closed:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            ev = stream.next_event(0.25 if deadline is None else max(0.0, min(0.25, deadline - now)))
            if ev is None:
                pass
            elif type(ev) is BookUpdate:
                counts["book"] += 1
            elif type(ev) is TradeEvent:
                counts["trades"] += len(ev.trades)
            elif type(ev) is Gap:
                counts["gaps"] += 1
            elif type(ev) is Reconnect:
                counts["reconnects"] += 1
                print(f"ofi record: reconnecting in {ev.delay_s:.1f} s ({ev.reason})", file=err, flush=True)
            elif type(ev) is Rejected:
                counts["rejected"] += 1
                print(f"ofi record: Bybit rejected {', '.join(ev.topics)}: {ev.message}", file=err, flush=True)
            elif type(ev) is Error:
                counts["errors"] += 1
            if time.monotonic() >= next_report:
                next_report += 10.0
                st = stream.stats()
                print(f"ofi record: {_fmt_int(st.frames_recorded)} frames recorded, {counts['gaps']} gaps, "
                      f"{counts['reconnects']} reconnects", file=err, flush=True)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        stream.close()
    st = stream.stats()
    elapsed = time.monotonic() - t0
    w = out.write
    note = " (interrupted)" if interrupted else ""
    w(f"ofi record: {len(stream.topics)} topics from {stream.url}, {elapsed:.1f} s{note}\n")
    w(f"  frames recorded {_fmt_int(st.frames_recorded)} ({_fmt_int(st.bytes_received)} bytes received) "
      f"in {args.out}\n")
    w(f"  book updates    {_fmt_int(counts['book'])}\n")
    w(f"  trades          {_fmt_int(counts['trades'])}\n")
    w(f"  gaps            {counts['gaps']} (resyncs {st.resyncs})\n")
    w(f"  reconnects      {counts['reconnects']}\n")
    w(f"  rejected topics {counts['rejected']}\n")
    w(f"  errors          {counts['errors']}\n")
    if st.frames_recorded == 0:
        print("ofi record: nothing was received", file=err)
        return 1
    return 0



# --------------------------------------------------------------------------- fetch
def _add_fetch_parser(sub) -> None:  # type: ignore[no-untyped-def]
    fetch = sub.add_parser(
        "fetch",
        help="fetch a symbol's order book and last trades over REST and print them",
        description=(
            "Fetch the order book (GET /v5/market/orderbook) and the recent trades "
            "(GET /v5/market/recent-trade) of SYMBOL with ofi.api.BybitClient and print the top "
            "levels, best bid and ask, spread, mid and the last trades. Public data: no API key needed."
        ),
    )
    fetch.add_argument("symbol", metavar="SYMBOL", help="symbol, e.g. BTCUSDT")
    fetch.add_argument(
        "--category", choices=("linear", "inverse", "spot", "option"), default="linear",
        help="market category (default linear)",
    )
    fetch.add_argument("--depth", type=int, default=50, help="book levels per side: 1..1000, option 1..25 (default 50)")
    fetch.add_argument("--trades", type=_non_negative_int, default=20, help="last trades to show, 0 for none (default 20)")
    fetch.add_argument("--base-url", default=None, metavar="URL", help="REST host override (e.g. a local test server)")
    fetch.add_argument("--testnet", action="store_true", help="use api-testnet.bybit.com (also BYBIT_TESTNET=true)")


def _fetch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from datetime import datetime, timezone

    from ofi.api.rest import BybitClient
    from ofi.errors import InvalidInputError, OfiError

    def clock(ts_ns: int) -> str:
        return datetime.fromtimestamp(ts_ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]

    try:
        client = BybitClient(testnet=True if args.testnet else None, base_url=args.base_url, max_retries=2)
        spec = client.get_instrument(args.symbol, args.category)
        book = client.get_orderbook(spec.symbol, args.depth, args.category, spec=spec)
        trades = client.get_trades(spec.symbol, args.trades, args.category, spec=spec) if args.trades else []
    except InvalidInputError as exc:
        print(f"ofi fetch: {exc}", file=err)
        return 2
    except OfiError as exc:
        print(f"ofi fetch: {type(exc).__name__}: {exc}", file=err)
        return 1
    pd = max(0, -spec.tick_size.as_tuple().exponent)
    sd = max(0, -spec.qty_step.normalize().as_tuple().exponent)
    w = out.write
    w(f"ofi fetch: {spec.symbol} {args.category} from {client.base_url}\n")
    when = clock(book.ts_exch) + " UTC" if book.ts_exch > 0 else "unknown"
    w(f"  book            {book.n_bids} bids / {book.n_asks} asks, update id {book.update_id}, exchange time {when}\n")
    if book.n_bids and book.n_asks:
        bb, bq, ba, aq = book.bbo()
        spread_ticks = book.best_ask_ticks() - book.best_bid_ticks()
        w(f"  best bid        {bb:,.{pd}f} x {bq:,.{sd}f}\n")
        w(f"  best ask        {ba:,.{pd}f} x {aq:,.{sd}f}\n")
        w(f"  spread          {book.spread():,.{pd}f} ({spread_ticks} tick{'s' if spread_ticks != 1 else ''}, "
          f"{book.spread_bps():.4f} bps)\n")
        w(f"  mid             {book.mid_price():,.{pd + 1}f}\n")
    else:
        w("  (one side of the book is empty: no spread or mid)\n")
    n = min(10, max(book.n_bids, book.n_asks))
    if n:
        bids, asks = book.bids(n), book.asks(n)
        w(f"  top {n} levels\n")
        w(f"    {'bid size':>14} {'bid':>14} | {'ask':<14} {'ask size'}\n")
        for i in range(n):
            left = f"{bids[i, 1]:>14,.{sd}f} {bids[i, 0]:>14,.{pd}f}" if i < len(bids) else " " * 29
            right = f"{asks[i, 0]:<14,.{pd}f} {asks[i, 1]:<14,.{sd}f}" if i < len(asks) else ""
            w(f"    {left} | {right}".rstrip() + "\n")
    if args.trades:
        w(f"  last {len(trades)} trades (oldest first)\n")
        for t in trades:
            w(f"    {clock(t.ts_exch)}  {'BUY ' if t.side > 0 else 'SELL'}  {t.size:>12,.{sd}f} @ {t.price:,.{pd}f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
