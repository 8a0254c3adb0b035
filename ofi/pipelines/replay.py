"""Replay a simulated feed through the compiled order book and measure what a live handler would see."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ofi._core.book import OrderBook
from ofi._core.events import Trade
from ofi.errors import OfiError
from ofi.features import FeatureEngine, FeatureVector
from ofi.orderflow import OrderFlowCalculator, VpinCalculator
from ofi.sim import SimFrame, SimulatedMarket

__all__ = ["ReplayStats", "replay_market", "VPIN_WINDOW"]

#: VPIN's window in buckets; the buckets are sized so that about 200 fill the replayed volume.
VPIN_WINDOW = 50
_VPIN_BUCKETS = 200.0


@dataclass(frozen=True)
class ReplayStats:
    """What replaying a feed measured (see :func:`replay_market`).

    Attributes
    ----------
    n_book_frames, n_trade_frames : int
        Frames of each kind replayed.
    levels_applied : int
        Price levels the book applied (``OrderBook.levels_applied``).
    n_bids, n_asks, update_id : int
        The final book's sides and Bybit update id.
    matches_simulator : bool
        The final book equals the simulator's own book, level for level.
    book_ns, trade_ns : int
        Wall time of the timed pass: ``OrderBook.apply_frame`` over every book frame and
        ``Trade.from_frame`` over every trade frame (nothing else), in ns.
    spread_ticks, spread_bps, mid : ndarray of float64
        After each book message with both sides: the spread (ticks, basis points) and the mid price.
    n_fills : int
        Trades (fills) decoded from the trade frames.
    volume_buy, volume_sell : float
        Taker-buy and taker-sell volume.
    ofi_cumulative : float or None
        Cumulative OFI on 1-second intervals (None before the first interval closed).
    ofi_last_minute : float or None
        OFI over the last minute.
    impact : tuple of (float, float, float, float, int)
        ``OrderFlowCalculator.price_impact()``: beta (ticks of mid per unit of OFI), its
        intercept, t statistic, R^2 and the number of 1-second intervals.
    vpin : ndarray of float64
        VPIN after each completed bucket once ``VPIN_WINDOW`` buckets are filled.
    vpin_buckets : int
        Completed VPIN buckets.
    vpin_bucket_volume : float
        Volume per VPIN bucket (about 1/200 of the replayed volume).
    features : FeatureVector or None
        The streaming features after the last book message.
    extract_ns_per_call : float
        Mean wall time of ``FeatureEngine.extract_features`` per book message, in ns.
    errors : tuple of str
        What went wrong: frames the book or trade decoder rejected, a final book that differs
        from the simulator's, integrity failures. Empty on a clean replay.
    """

    n_book_frames: int
    n_trade_frames: int
    levels_applied: int
    n_bids: int
    n_asks: int
    update_id: int
    matches_simulator: bool
    book_ns: int
    trade_ns: int
    spread_ticks: np.ndarray
    spread_bps: np.ndarray
    mid: np.ndarray
    n_fills: int
    volume_buy: float
    volume_sell: float
    ofi_cumulative: float | None
    ofi_last_minute: float | None
    impact: tuple[float, float, float, float, int]
    vpin: np.ndarray
    vpin_buckets: int
    vpin_bucket_volume: float
    features: FeatureVector | None
    extract_ns_per_call: float
    errors: tuple[str, ...]

    @property
    def n_frames(self) -> int:
        """All frames replayed."""
        return self.n_book_frames + self.n_trade_frames


def replay_market(market: SimulatedMarket, frames: Sequence[SimFrame], *,
                  on_progress: Callable[[float], object] | None = None) -> ReplayStats:
    """Replay ``frames`` of ``market`` as a live feed handler would, and check the final book.

    Two passes. The first, timed, makes nothing but the calls a feed handler makes
    (``OrderBook.apply_frame`` on book frames, ``Trade.from_frame`` on trade frames). The
    second replays the frames in receive order, reads the book after each message and feeds
    the order-flow measures: OFI on 1-second intervals, VPIN on buckets of about 1/200 of the
    volume, and the streaming features. At the end the replayed book must equal
    ``market.true_book()``.

    Parameters
    ----------
    market : SimulatedMarket
        The market that produced ``frames`` (its symbol, tick size and own book).
    frames : sequence of SimFrame
        The frames, in receive order, starting with the snapshot.
    on_progress : callable, optional
        Called with the fraction (0..1) of the second pass done, every 1024 frames.

    Returns
    -------
    ReplayStats
        What the replay measured; ``errors`` lists what went wrong (a rejected frame does not
        raise: it is counted, as a live handler would count it).
    """
    tick = str(market.tick_size)
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
    total_volume = 0.0
    t0 = time.perf_counter_ns()
    for f in trade_raw:
        try:
            for tr in Trade.from_frame(f.raw, tick, f.ts_local):
                total_volume += tr.size
        except OfiError as exc:
            errors.append(f"trade frame at {f.ts_local}: {type(exc).__name__}: {exc}")
    trade_ns = time.perf_counter_ns() - t0

    # Pass 2: the same stream in receive order, reading the book after each message.
    book2 = OrderBook(market.symbol, tick_size=tick)
    engine = FeatureEngine()
    fv = None
    extract_ns = n_extract = 0
    calc = OrderFlowCalculator(interval=1_000_000_000, impact_window=100_000)
    vpin = VpinCalculator(bucket_volume=max(total_volume / _VPIN_BUCKETS, 1e-9), n_buckets=VPIN_WINDOW)
    vpins: list[float] = []
    spread_ticks: list[int] = []
    spread_bps: list[float] = []
    mids: list[float] = []
    n_fills = 0
    vol_buy = vol_sell = 0.0
    for i, f in enumerate(frames):
        if on_progress is not None and i % 1024 == 0:
            on_progress(i / len(frames))
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

    return ReplayStats(
        n_book_frames=len(book_raw), n_trade_frames=len(trade_raw), levels_applied=book.levels_applied,
        n_bids=book.n_bids, n_asks=book.n_asks, update_id=book.update_id, matches_simulator=matches,
        book_ns=book_ns, trade_ns=trade_ns,
        spread_ticks=np.asarray(spread_ticks, dtype=np.float64),
        spread_bps=np.asarray(spread_bps, dtype=np.float64),
        mid=np.asarray(mids, dtype=np.float64),
        n_fills=n_fills, volume_buy=vol_buy, volume_sell=vol_sell,
        ofi_cumulative=calc.cumulative(), ofi_last_minute=calc.ofi_1min(), impact=calc.price_impact(),
        vpin=np.asarray(vpins, dtype=np.float64), vpin_buckets=vpin.buckets,
        vpin_bucket_volume=vpin.bucket_volume, features=fv,
        extract_ns_per_call=extract_ns / max(n_extract, 1), errors=tuple(errors),
    )
