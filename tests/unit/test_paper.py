"""Paper trading runs the backtester's fill model on frames as they arrive: on the same frames it
gives byte for byte the backtest's report, from the simulator and from a live (fake) Bybit stream."""
from __future__ import annotations

import pytest

from ofi.backtest import BacktestConfig, BacktestEngine, Latency, PaperTrader, Strategy, to_json
from ofi.data.tape import frames_to_tape
from ofi.errors import InvalidInputError
from ofi.sim import SimulatedMarket

MS = 1_000_000


class Taker(Strategy):
    """Deterministic: every 25th book message, lean with the microprice; cancels a stale limit order."""

    def __init__(self):
        self.k = 0

    def on_book(self, ctx, book):
        self.k += 1
        if not book.ready:
            return
        if self.k % 25 == 0:
            (ctx.buy if book.microprice() > book.mid_price() else ctx.sell)(0.01)
        if self.k % 40 == 0:
            ctx.buy(0.01, price=book.best_bid())
        if self.k % 60 == 0 and ctx.open_orders:
            ctx.cancel(ctx.open_orders[0])


CFG = BacktestConfig(order_latency=Latency.lognormal(3 * MS, 0.4), feed_latency=1 * MS, seed=5)


def test_paper_on_the_simulator_equals_the_backtest_of_the_same_frames():
    m = SimulatedMarket(seed=9, depth=50, trade_rate=20.0)
    frames = m.generate(duration_s=90)
    paper = PaperTrader(Taker(), CFG, tick_size=m.tick_size, symbol=m.symbol).run_frames(frames)
    live = paper.finish()
    bt = BacktestEngine(CFG).run(Taker(), frames_to_tape(frames, m.tick_size), m.tick_size, symbol=m.symbol)
    assert len(live.fills) > 20
    assert to_json(live) == to_json(bt)
    assert paper.finish() is live                      # idempotent
    with pytest.raises(InvalidInputError):
        paper.on_frame(0, frames[0].raw)


def test_frames_of_other_symbols_are_skipped():
    m = SimulatedMarket(seed=1, depth=50)
    other = SimulatedMarket("ETHUSDT", seed=2, depth=50)
    p = PaperTrader(Strategy(), tick_size="0.1", symbol="BTCUSDT")
    p.run_frames(other.generate(n_messages=5))
    p.run_frames(m.generate(n_messages=5))
    assert p.skipped >= 4 and p.frames >= 5          # (an empty trade frame has no symbol to refuse)
    with pytest.raises(InvalidInputError):
        PaperTrader(Strategy(), tick_size="0.1", symbol="")


def test_paper_on_a_live_stream_equals_the_backtest_of_its_recording(tmp_path):
    pytest.importorskip("websockets")
    from fakes.ws_server import FakeBybitWs

    from ofi.api import BybitStream
    from ofi.data.recording import RecordingReader
    paper = PaperTrader(Taker(), CFG, tick_size="0.1", symbol="BTCUSDT")
    seen = []

    def hook(ts, raw):
        seen.append((ts, raw))
        paper.on_frame(ts, raw)
    with FakeBybitWs(["BTCUSDT"], depth=50, rate=1500, seed=3) as srv:
        with BybitStream(["BTCUSDT"], ws_url=srv.url, tick_sizes={"BTCUSDT": "0.1"}, record_to=tmp_path,
                         on_frame=hook, ping_interval_s=1.0, pong_timeout_s=2.0) as s:
            s.run(max_events=1500)
    live = paper.finish()
    # the recording holds what the trader saw, in order (and maybe frames received after the
    # consumer stopped): the backtest of those frames is the paper session, byte for byte
    recorded = [(f.ts_local, f.raw) for f in RecordingReader(tmp_path) if '"topic"' in f.raw]
    seen = [f for f in seen if '"topic"' in f[1]]            # data frames (replies are not recorded alike)
    assert len(seen) > 500 and recorded[:len(seen)] == seen
    bt = BacktestEngine(CFG).run(Taker(), frames_to_tape(recorded[:len(seen)], "0.1", symbol="BTCUSDT"), "0.1",
                                 symbol="BTCUSDT")
    assert len(live.equity) > 500
    assert to_json(live) == to_json(bt)
