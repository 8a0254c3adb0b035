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
