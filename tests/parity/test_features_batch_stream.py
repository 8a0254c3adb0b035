"""Batch ``transform`` against the streaming engine, bit for bit: over more than a million
simulated events with gaps and resyncs, and over every real Bybit V5 capture in ../shared.

Streaming is what a bot does: apply each raw frame to an ``OrderBook`` (catching the gap errors),
``update_orderbook`` / ``update_trade``, then ``extract_features``. Batch is ``frames_to_tape`` then
one ``transform``. Both must give the same matrix, NaN for NaN (``np.array_equal(equal_nan=True)``).
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from ofi import FeatureConfig, FeatureEngine, OrderBook, Trade
from ofi.data.tape import frames_to_tape
from ofi.errors import BookIntegrityError, SequenceGapError
from ofi.features import transform
from ofi.sim import SimulatedMarket
from support import frames_with_gaps

N_EVENTS = int(os.environ.get("OFI_FEATURE_PARITY_EVENTS", "1000000"))
CHUNK = 8192


class StreamChecker:
    """Feeds frames to a streaming engine and compares its rows with a batch matrix as it goes."""

    def __init__(self, engine, book, tick_size, want):
        self.engine, self.book, self.tick = engine, book, tick_size
        self.want = want
        self.buf = np.empty((CHUNK, want.shape[1]))
        self.n = 0        # rows produced
        self.k = 0        # rows in buf

    def _row(self):
        self.buf[self.k] = self.engine.extract_features(self.book).values
        self.k += 1
        if self.k == CHUNK:
            self.flush()

    def flush(self):
        got, want = self.buf[:self.k], self.want[self.n:self.n + self.k]
        if not np.array_equal(got, want, equal_nan=True):
            bad = np.flatnonzero(~((got == want) | (np.isnan(got) & np.isnan(want))).all(axis=1))[0]
            col = np.flatnonzero(~((got[bad] == want[bad]) | (np.isnan(got[bad]) & np.isnan(want[bad]))))
            raise AssertionError(f"row {self.n + bad}: columns {col.tolist()} stream {got[bad, col]} "
                                 f"batch {want[bad, col]}")
        self.n += self.k
        self.k = 0

    def feed(self, ts_local, raw, kind):
        if kind == "book":
            try:
                self.book.apply_frame(raw, ts_local)
            except (SequenceGapError, BookIntegrityError):
                pass
            self.engine.update_orderbook(self.book)
            self._row()
        else:
            for t in Trade.from_frame(raw, self.tick, ts_local):
                self.engine.update_trade(t)
                self._row()


def test_a_million_simulated_events_with_gaps_batch_equals_stream():
    market = SimulatedMarket(seed=11, depth=50, trade_rate=60.0)
    # ~1.27 events per frame at this trade rate; a delta dropped (and a resync) every 60k frames (~8 simulated minutes, so 5-minute windows warm)
    frames = frames_with_gaps(market, int(N_EVENTS / 1.2), gap_every=60_000, resync_after=50)
    tape = frames_to_tape([(t, raw) for t, raw, _ in frames], market.tick_size)
    cfg = FeatureConfig()
    ff = transform(tape, market.tick_size, cfg, progress=False)
    assert len(ff) >= N_EVENTS, len(ff)
    book = OrderBook(market.symbol, market.tick_size)
    check = StreamChecker(FeatureEngine(cfg), book, market.tick_size, ff.values)
    for t, raw, kind in frames:
        check.feed(t, raw, kind)
    check.flush()
    assert check.n == len(ff)
    assert book.epoch >= 10          # the resyncs happened (first snapshot + one per gap)
    # every feature was defined somewhere, and the gaps turned book features off for a while
    assert (~np.isnan(ff.values)).any(axis=0).all()
    spread = ff.column("spread_ticks")
    assert np.isnan(spread[ff.kind == 1]).sum() > 0


@pytest.mark.realdata
def test_real_xrp_capture_batch_equals_stream(xrp_frames):
    tick = "0.0001"
    cfg = FeatureConfig(horizons=(0.1, 0.5, 1.0, 2.0), bar_seconds=0.1, zscore_bars=5, impact_bars=5,
                        vol_bars=5, spread_window=10, roll_window=5, ema_fast=2, ema_slow=4, rsi_period=3,
                        bollinger_period=4, momentum_short=2, momentum_long=4, pca_min_bars=3)
    ff = transform(frames_to_tape(xrp_frames, tick), tick, cfg, progress=False)
    check = StreamChecker(FeatureEngine(cfg), OrderBook("XRPUSDT", tick), tick, ff.values)
    for raw in xrp_frames:
        check.feed(0, raw, "book")
    check.flush()
    assert check.n == len(ff) == len(xrp_frames)
    # real 500-level book: every book-shape feature is defined from the first frame on
    assert not np.isnan(ff.values[:, :20]).any()
    assert (~np.isnan(ff.column("ofi_1s"))).sum() > 10


@pytest.mark.realdata
def test_other_real_v5_captures_batch_equals_stream(v5_jsonl):
    """Per capture and book topic: its frames and the symbol's publicTrade frames, in file order
    (a symbol with trades only makes a trade-only stream)."""
    tick = "0.00001"           # divides every price in these captures
    streams: dict = {}
    for name, lines in v5_jsonl.items():
        msgs = [(raw, str(json.loads(raw).get("topic", ""))) for raw in lines]
        books = {t for _, t in msgs if t.startswith("orderbook.")}
        for _, t in msgs:
            if t.startswith("publicTrade.") and not any(b.endswith("." + t.split(".")[-1]) for b in books):
                books.add(t)
        for key in sorted(books):
            symbol = key.split(".")[-1]
            streams[(name, key)] = [raw for raw, t in msgs if t == key or t == "publicTrade." + symbol]
    n_events = 0
    for (name, key), raws in streams.items():
        symbol = key.split(".")[-1]
        tape = frames_to_tape(raws, tick)
        ff = transform(tape, tick, progress=False, symbol=symbol)
        check = StreamChecker(FeatureEngine(), OrderBook(symbol, tick), tick, ff.values)
        for raw in raws:
            check.feed(0, raw, "book" if '"topic":"orderbook.' in raw.replace(" ", "") else "trade")
        check.flush()
        assert check.n == len(ff), (name, key)
        n_events += len(ff)
    assert n_events >= 20
