"""Small builders shared by the test modules."""
import json

TS = 1_733_011_200_691  # ms


def frame(kind, bids, asks, u, *, symbol="TEST", depth="50", ts=TS, seq=None, cts=None):
    """A V5 orderbook frame as JSON text (levels as (price, size) string pairs)."""
    data = {"s": symbol, "b": [list(x) for x in bids], "a": [list(x) for x in asks], "u": u}
    if seq is not None:
        data["seq"] = seq
    msg = {"topic": f"orderbook.{depth}.{symbol}", "type": kind, "ts": ts, "data": data}
    if cts is not None:
        msg["cts"] = cts
    return json.dumps(msg)


def resync_snapshot(market, last_book_raw):
    """A snapshot frame of ``market``'s true book as of its last yielded book frame.

    It carries that frame's ``u`` and times, so the market's next deltas continue it: insert it
    after a dropped delta to play a resubscription (gap, stale book, resync)."""
    last = json.loads(last_book_raw)
    bids, asks = market.true_book()
    fmt = market.format_price
    step = str(market.qty_step)
    dec = len(step.split(".")[1]) if "." in step else 0
    data = {"s": market.symbol, "u": last["data"]["u"],
            "b": [[fmt(t), f"{q:.{dec}f}"] for t, q in bids],
            "a": [[fmt(t), f"{q:.{dec}f}"] for t, q in asks]}
    msg = {"topic": market.topic, "type": "snapshot", "ts": last["ts"], "data": data}
    if "cts" in last:
        msg["cts"] = last["cts"]
    return json.dumps(msg)


def frames_with_gaps(market, n_frames, *, gap_every=5000, resync_after=40):
    """``n_frames`` frames of ``market`` as (ts_local, raw, kind), with a book delta dropped every
    ``gap_every`` frames and a resync snapshot ``resync_after`` frames later."""
    out = []
    last_raw = None
    drop_at = gap_every
    resync_at = None
    i = 0
    for f in market.frames():        # lazily: true_book() must be the book as of frame i
        i += 1
        if f.kind == "book" and i >= drop_at and resync_at is None and '"type":"delta"' in f.raw:
            resync_at = i + resync_after
            drop_at = i + gap_every
            last_raw = f.raw
            continue
        if f.kind == "book":
            last_raw = f.raw
        out.append((f.ts_local, f.raw, f.kind))
        if resync_at is not None and i >= resync_at and f.kind == "book":
            out.append((f.ts_local, resync_snapshot(market, last_raw), "book"))
            resync_at = None
        if len(out) >= n_frames:
            break
    return out


BT_T0 = 1_700_000_000_000              # ms: 2023-11-14 22:13:20 UTC, the backtest scenarios' origin


class Tape:
    """A backtest scenario: book and trade frames of symbol TEST (tick 0.1) at chosen times, in
    seconds after BT_T0 (exchange time); ``lag`` (s) delays the local receive time."""

    def __init__(self):
        self.frames = []
        self.u = 0

    @staticmethod
    def ns(t: float) -> int:
        return (BT_T0 + round(t * 1000)) * 1_000_000

    def book(self, t, bids, asks, kind="delta", lag=0.0):
        self.u = 1 if kind == "snapshot" else self.u + 1
        ms = BT_T0 + round(t * 1000)
        self.frames.append((self.ns(t + lag), frame(kind, [(f"{p:.1f}", f"{q}") for p, q in bids],
                                                     [(f"{p:.1f}", f"{q}") for p, q in asks], self.u, ts=ms)))
        return self

    def trade(self, t, side, price, size, lag=0.0):
        ms = BT_T0 + round(t * 1000)
        raw = json.dumps({"topic": "publicTrade.TEST", "type": "snapshot", "ts": ms, "data": [
            {"T": ms, "s": "TEST", "S": "Buy" if side > 0 else "Sell", "v": str(size), "p": f"{price:.1f}",
             "L": "ZeroPlusTick", "i": f"id{len(self.frames)}", "BT": False}]})
        self.frames.append((self.ns(t + lag), raw))
        return self

    def build(self):
        from ofi.data.tape import frames_to_tape
        return frames_to_tape(self.frames, "0.1")
