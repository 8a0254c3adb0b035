"""The ``ofi`` command line: each verb parses its arguments, calls the library and prints.

``ofi demo`` (:func:`ofi.pipelines.demo.run_demo`) simulates a quarter of an hour of a Bybit
linear market (:mod:`ofi.sim`), replays every frame through the compiled order book, trade decoder
and order-flow measures exactly as a live feed would go through them, and prints what it saw and
how fast it went; then it runs the whole pipeline on the same frames: features, labels, a
gradient-boosted model trained on the first 60 % of the time, a backtest of the last 40 %, and an
HTML + JSON report (a few seconds in all). ``ofi fetch`` reads a book and the last trades over
REST; ``ofi record`` records the websocket feed (both take a base-URL option, which the tests point
at the local fake Bybit)::

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

from ofi.venues.bybit.symbols import BOOK_DEPTHS, CATEGORIES

__all__ = ["main", "build_parser"]


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
    demo.add_argument("--depth", type=int, choices=BOOK_DEPTHS["linear"], default=200, help="book depth (default 200)")
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
def _demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ofi._progress import StageProgress
    from ofi.errors import OfiError
    from ofi.pipelines.demo import DemoConfig, run_demo

    config = DemoConfig(
        seconds=args.seconds, depth=args.depth, seed=args.seed, symbol=args.symbol, tick_size=args.tick_size,
        qty_step=args.qty_step, start_price=args.start_price, trade_rate=args.trade_rate,
        report_dir=args.report_dir, pipeline=not args.no_pipeline,
    )
    try:
        result = run_demo(config, progress=StageProgress(err, prefix="ofi demo"), out=out)
    except OfiError as exc:             # the market's arguments, checked before any work
        print(f"ofi demo: {exc}", file=err)
        return 2
    return 0 if result.ok else 1


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
        "--category", choices=CATEGORIES, default="linear",
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
                print(f"ofi record: {st.frames_recorded:,} frames recorded, {counts['gaps']} gaps, "
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
    w(f"  frames recorded {st.frames_recorded:,} ({st.bytes_received:,} bytes received) "
      f"in {args.out}\n")
    w(f"  book updates    {counts['book']:,}\n")
    w(f"  trades          {counts['trades']:,}\n")
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
        "--category", choices=CATEGORIES, default="linear",
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
