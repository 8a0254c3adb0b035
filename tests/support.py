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
