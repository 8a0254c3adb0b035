"""The baselines that the benchmarks put beside ``ofi.OrderBook``.

Everything here is plain Python on purpose: it is what a user would write without ``ofi``.

* :class:`DictBisectBook`: the usual hand-rolled L2 book, one ``dict`` (price -> size) and one
  sorted ``list`` of keys per side, kept sorted with :mod:`bisect`.
* ``orderbook_*``: the ``order-book`` package (``import order_book``, a C SortedDict per side), fed
  level by level from Python the way its README shows (``ob.bids[price] = size``, ``del ob.bids[price]``).
* msgspec ``Struct`` types for a V5 orderbook frame (prices and sizes kept as ``str``), for the
  "typed parse only" baseline.
* :func:`expected_state`: a deliberately naive oracle (two dicts, ``max``/``min``/``sorted``) that
  gives the final book every benchmark asserts against.

A message is the tuple ``(snapshot, update_id, bid_ticks, bid_sizes, ask_ticks, ask_sizes)`` with
Python lists (``int`` ticks, ``float`` sizes); a size of 0 deletes the level.
"""
from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass

import msgspec

__all__ = [
    "BookData",
    "BookMsg",
    "DictBisectBook",
    "FinalState",
    "assert_same_state",
    "expected_state",
    "orderbook_replay",
    "orderbook_replay_frames",
    "orderbook_replay_tob",
    "orderbook_state",
    "orderbook_top",
    "dict_bisect_replay",
    "dict_bisect_replay_tob",
    "reftwin_new",
    "reftwin_replay",
    "reftwin_replay_tob",
    "reftwin_state",
]


# --------------------------------------------------------------------------------------------
# Oracle and final state
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FinalState:
    """What every benchmark checks at the end of a run (ticks are int, sizes float)."""

    last_update_id: int
    best_bid_ticks: int
    best_ask_ticks: int
    best_bid_size: float
    best_ask_size: float
    n_bids: int
    n_asks: int
    bid_depth5: float
    ask_depth5: float
    bid_depth10: float
    ask_depth10: float


def assert_same_state(got: FinalState, want: FinalState) -> None:
    """Exact ticks, counts, best sizes and last ``u``; depth sums to 1e-12 (summation order differs)."""
    assert (got.best_bid_ticks, got.best_ask_ticks) == (want.best_bid_ticks, want.best_ask_ticks), (got, want)
    assert (got.best_bid_size, got.best_ask_size) == (want.best_bid_size, want.best_ask_size), (got, want)
    assert (got.n_bids, got.n_asks) == (want.n_bids, want.n_asks), (got, want)
    assert got.last_update_id == want.last_update_id, (got, want)
    for g, w in ((got.bid_depth5, want.bid_depth5), (got.ask_depth5, want.ask_depth5),
                 (got.bid_depth10, want.bid_depth10), (got.ask_depth10, want.ask_depth10)):
        assert abs(g - w) <= 1e-12 * abs(w), (got, want)


def expected_state(messages) -> FinalState:
    """Replay ``messages`` into two plain dicts and summarise the final book (not timed)."""
    bids: dict[int, float] = {}
    asks: dict[int, float] = {}
    last_u = -1
    for snapshot, u, bt, bs, at, as_ in messages:
        if snapshot:
            bids.clear()
            asks.clear()
        for side, ticks, sizes in ((bids, bt, bs), (asks, at, as_)):
            for p, q in zip(ticks, sizes):
                if q == 0.0:
                    side.pop(p, None)
                else:
                    side[p] = q
        last_u = u
        if bids and asks and max(bids) >= min(asks):
            raise AssertionError(f"simulated stream is crossed after update_id={u}")
    top_b = sorted(bids, reverse=True)[:10]
    top_a = sorted(asks)[:10]
    return FinalState(
        last_update_id=last_u,
        best_bid_ticks=top_b[0],
        best_ask_ticks=top_a[0],
        best_bid_size=bids[top_b[0]],
        best_ask_size=asks[top_a[0]],
        n_bids=len(bids),
        n_asks=len(asks),
        bid_depth5=sum(bids[p] for p in top_b[:5]),
        ask_depth5=sum(asks[p] for p in top_a[:5]),
        bid_depth10=sum(bids[p] for p in top_b),
        ask_depth10=sum(asks[p] for p in top_a),
    )


# --------------------------------------------------------------------------------------------
# dict + bisect book
# --------------------------------------------------------------------------------------------
class DictBisectBook:
    """L2 book as ``dict`` + sorted key list per side.

    Bid keys are stored negated so both key lists are ascending with the best level first.
    """

    __slots__ = ("bids", "asks", "bid_keys", "ask_keys", "update_id")

    def __init__(self) -> None:
        self.bids: dict[int, float] = {}
        self.asks: dict[int, float] = {}
        self.bid_keys: list[int] = []  # -ticks, ascending
        self.ask_keys: list[int] = []  # ticks, ascending
        self.update_id = -1

    def clear(self) -> None:
        self.bids.clear()
        self.asks.clear()
        self.bid_keys.clear()
        self.ask_keys.clear()

    def apply(self, bid_ticks, bid_sizes, ask_ticks, ask_sizes, snapshot=False, update_id=-1) -> None:
        if snapshot:
            self.clear()
        d = self.bids
        keys = self.bid_keys
        for p, q in zip(bid_ticks, bid_sizes):
            if q:
                if p not in d:
                    insort(keys, -p)
                d[p] = q
            elif p in d:
                del d[p]
                del keys[bisect_left(keys, -p)]
        d = self.asks
        keys = self.ask_keys
        for p, q in zip(ask_ticks, ask_sizes):
            if q:
                if p not in d:
                    insort(keys, p)
                d[p] = q
            elif p in d:
                del d[p]
                del keys[bisect_left(keys, p)]
        self.update_id = update_id

    # reads -------------------------------------------------------------------------------
    def bbo(self):
        bk = self.bid_keys
        ak = self.ask_keys
        b = -bk[0]
        a = ak[0]
        return b, self.bids[b], a, self.asks[a]

    def depth(self, k: int):
        bids = self.bids
        asks = self.asks
        b = 0.0
        for p in self.bid_keys[:k]:
            b += bids[-p]
        a = 0.0
        for p in self.ask_keys[:k]:
            a += asks[p]
        return b, a

    def state(self) -> FinalState:
        b5, a5 = self.depth(5)
        b10, a10 = self.depth(10)
        bb, bbs, ba, bas = self.bbo()
        return FinalState(self.update_id, bb, ba, bbs, bas, len(self.bids), len(self.asks), b5, a5, b10, a10)


def dict_bisect_replay(book: DictBisectBook, messages) -> DictBisectBook:
    apply = book.apply
    for snapshot, u, bt, bs, at, as_ in messages:
        apply(bt, bs, at, as_, snapshot, u)
    return book


def dict_bisect_replay_tob(messages):
    """Replay and record one top-of-book row per message, as ``replay_tape`` does."""
    book = DictBisectBook()
    apply = book.apply
    bbo = book.bbo
    rows = []
    append = rows.append
    for snapshot, u, bt, bs, at, as_ in messages:
        apply(bt, bs, at, as_, snapshot, u)
        append(bbo())
    return book, rows


# --------------------------------------------------------------------------------------------
# order-book (the `order-book` package, import order_book)
# --------------------------------------------------------------------------------------------
def orderbook_replay(ob, messages):
    """Feed ``messages`` into ``ob`` (an ``order_book.OrderBook``) level by level; return ``(ob, last_u)``.

    A snapshot replaces the book with a new ``OrderBook`` (the package has no ``clear``).
    Deleting an absent level raises ``KeyError`` in order-book; it is a no-op for Bybit.
    """
    from order_book import OrderBook

    bids = ob.bids
    asks = ob.asks
    u = -1
    for snapshot, u, bt, bs, at, as_ in messages:
        if snapshot:
            ob = OrderBook()
            bids = ob.bids
            asks = ob.asks
        for p, q in zip(bt, bs):
            if q:
                bids[p] = q
            else:
                try:
                    del bids[p]
                except KeyError:
                    pass
        for p, q in zip(at, as_):
            if q:
                asks[p] = q
            else:
                try:
                    del asks[p]
                except KeyError:
                    pass
    return ob, u


def orderbook_top(ob):
    """Best bid/ask and top-5 / top-10 depth of an ``order_book.OrderBook``, as a user would read them."""
    bi = ob.bids.index
    ai = ob.asks.index
    bp, bq = bi(0)
    ap, aq = ai(0)
    b5 = bq
    a5 = aq
    for i in range(1, 5):
        b5 += bi(i)[1]
        a5 += ai(i)[1]
    b10 = b5
    a10 = a5
    for i in range(5, 10):
        b10 += bi(i)[1]
        a10 += ai(i)[1]
    return (bp, bq, ap, aq), (b5, a5), (b10, a10)


def orderbook_state(ob, last_u: int, price_to_ticks=None) -> FinalState:
    (bp, bq, ap, aq), (b5, a5), (b10, a10) = orderbook_top(ob)
    if price_to_ticks is not None:
        bp = price_to_ticks(bp)
        ap = price_to_ticks(ap)
    return FinalState(last_u, bp, ap, bq, aq, len(ob.bids), len(ob.asks), b5, a5, b10, a10)


def orderbook_replay_tob(messages):
    """order-book replay of pre-parsed levels, recording one top-of-book row per message."""
    from order_book import OrderBook

    ob = OrderBook()
    bids = ob.bids
    asks = ob.asks
    rows = []
    append = rows.append
    for snapshot, u, bt, bs, at, as_ in messages:
        if snapshot:
            ob = OrderBook()
            bids = ob.bids
            asks = ob.asks
        for p, q in zip(bt, bs):
            if q:
                bids[p] = q
            else:
                try:
                    del bids[p]
                except KeyError:
                    pass
        for p, q in zip(at, as_):
            if q:
                asks[p] = q
            else:
                try:
                    del asks[p]
                except KeyError:
                    pass
        append(bids.index(0) + asks.index(0))
    return ob, u, rows


def orderbook_replay_frames(ob, raws, loads):
    """Parse raw V5 frames with ``loads`` (e.g. ``orjson.loads``) and feed ``ob`` with float
    prices and sizes, the usual order-book recipe; return ``(ob, last_u)``."""
    from order_book import OrderBook

    u = -1
    for raw in raws:
        msg = loads(raw)
        data = msg["data"]
        u = data["u"]
        if msg["type"] == "snapshot" or u == 1:
            ob = OrderBook()
        bids = ob.bids
        asks = ob.asks
        for p, q in data["b"]:
            q = float(q)
            if q:
                bids[float(p)] = q
            else:
                try:
                    del bids[float(p)]
                except KeyError:
                    pass
        for p, q in data["a"]:
            q = float(q)
            if q:
                asks[float(p)] = q
            else:
                try:
                    del asks[float(p)]
                except KeyError:
                    pass
    return ob, u


# --------------------------------------------------------------------------------------------
# msgspec typed frame (prices and sizes stay str, as in the wire format)
# --------------------------------------------------------------------------------------------
class BookData(msgspec.Struct):
    s: str
    b: list[tuple[str, str]]
    a: list[tuple[str, str]]
    u: int
    seq: int = -1


class BookMsg(msgspec.Struct):
    topic: str
    type: str
    ts: int
    data: BookData
    cts: int = 0


# --------------------------------------------------------------------------------------------
# the pure-Python twin (tests/reference/book.py RefBook), driven like ofi.OrderBook
# --------------------------------------------------------------------------------------------
def reftwin_new(RefBook, symbol: str, tick_size: str):
    return RefBook(symbol, tick_size)


def reftwin_replay(book, messages_np):
    """Apply messages (numpy arrays) with ``RefBook.apply_levels``, one call per message."""
    apply = book.apply_levels
    for snapshot, u, bt, bs, at, as_ in messages_np:
        if snapshot:
            apply(bt, bs, at, as_, snapshot=True, update_id=u)
        else:
            apply(bt, bs, at, as_, update_id=u)
    return book


def reftwin_replay_tob(RefBook, symbol: str, tick_size: str, messages_np):
    """Fresh twin, replay, one (bid_ticks, bid_size, ask_ticks, ask_size) row per message."""
    book = RefBook(symbol, tick_size)
    apply = book.apply_levels
    bbt, bat, bbs, bas = book.best_bid_ticks, book.best_ask_ticks, book.best_bid_size, book.best_ask_size
    rows = []
    append = rows.append
    for snapshot, u, bt, bs, at, as_ in messages_np:
        if snapshot:
            apply(bt, bs, at, as_, snapshot=True, update_id=u)
        else:
            apply(bt, bs, at, as_, update_id=u)
        append((bbt(), bbs(), bat(), bas()))
    return book, rows


def reftwin_state(book) -> FinalState:
    b5, a5 = book.depth(5)
    b10, a10 = book.depth(10)
    return FinalState(
        book.update_id, book.best_bid_ticks(), book.best_ask_ticks(), book.best_bid_size(),
        book.best_ask_size(), book.n_bids, book.n_asks, b5, a5, b10, a10,
    )
