"""The per-frame handler: one raw Bybit frame in, typed events out.

It is the one code path of live streams and replays (:func:`replay_frames`): it routes a frame by
its topic to its book (``OrderBook.apply_frame``) or its trade decoder, keeps each topic's resync
state, de-duplicates trades, and reports everything it rejects as an :class:`Error` event instead
of raising. It runs in the consumer's thread.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields
from decimal import Decimal
from typing import Any

from ofi._core.book import OrderBook
from ofi.venues.bybit._decode import decoder_for
from ofi.errors import BookIntegrityError, InvalidInputError, SequenceGapError
from ofi.spec import InstrumentSpec
from ofi.venues.bybit.stream import control
from ofi.venues.bybit.topics import BOOK, is_book_restart, is_snapshot, parse_topic, topic_of
from ofi.venues.events import BookUpdate, Error, Gap, Resync, TradeEvent

#: Price grid used for a symbol without a tick size: holds every Bybit price exactly (prices up to
#: about 9.2e8); only tick-denominated values (``price_ticks``) are then in units of 1e-10.
FALLBACK_TICK_SIZE = Decimal("1e-10")


def _fast_init(cls: type) -> Callable[..., Any]:
    """A positional constructor for a frozen slotted dataclass that skips ``object.__setattr__``
    per field (about half the cost of the generated ``__init__`` on the hot path)."""
    setters = [cls.__dict__[f.name].__set__ for f in fields(cls)]
    new = object.__new__

    def make(*values: Any) -> Any:
        obj = new(cls)
        for setter, value in zip(setters, values):
            setter(obj, value)
        return obj

    if len(setters) == 8:  # BookUpdate: unrolled
        s0, s1, s2, s3, s4, s5, s6, s7 = setters

        def make8(a: Any, b: Any, c: Any, d: Any, e: Any, f: Any, g: Any, h: Any) -> Any:
            obj = new(cls)
            s0(obj, a)
            s1(obj, b)
            s2(obj, c)
            s3(obj, d)
            s4(obj, e)
            s5(obj, f)
            s6(obj, g)
            s7(obj, h)
            return obj

        return make8
    if len(setters) == 4:  # TradeEvent: unrolled
        t0, t1, t2, t3 = setters

        def make4(a: Any, b: Any, c: Any, d: Any) -> Any:
            obj = new(cls)
            t0(obj, a)
            t1(obj, b)
            t2(obj, c)
            t3(obj, d)
            return obj

        return make4
    return make


_book_update = _fast_init(BookUpdate)
_trade_event = _fast_init(TradeEvent)


class _Route:
    __slots__ = ("kind", "symbol", "book", "decoder", "depth1", "scratch")

    def __init__(self, kind: int, symbol: str, book: OrderBook | None, decoder: Any, depth1: bool) -> None:
        self.kind = kind  # 0 book, 1 trades
        self.symbol = symbol
        self.book = book
        self.decoder = decoder
        self.depth1 = depth1
        self.scratch: OrderBook | None = None  # tries snapshots before the live book is cleared


def _tick_spec(symbol: str, tick_sizes: Mapping[str, Any] | None, category: str) -> InstrumentSpec:
    v = tick_sizes.get(symbol) if tick_sizes else None
    if isinstance(v, InstrumentSpec):
        return v
    return InstrumentSpec(symbol, FALLBACK_TICK_SIZE if v is None else v, category=category)


class _FrameHandler:
    """Turns raw frames into events: the one code path of live streams and replays.

    Runs in the consumer's thread. Books are keyed by topic (one per depth and symbol).
    """

    _MAX_LAZY_ROUTES = 10_000

    def __init__(
        self,
        *,
        tick_sizes: Mapping[str, Any] | None,
        category: str,
        strict_sequence: bool,
        copy_books: bool,
        dedupe_trades: int,
        known_topics: Iterable[str] | None,
        resync: Callable[[str], None] | None,
    ) -> None:
        self._ticks = dict(tick_sizes) if tick_sizes else {}
        self._category = category
        self._strict = strict_sequence
        self._copy = copy_books
        self._dedupe = dedupe_trades
        self._resync_cb = resync
        self._routes: dict[str, _Route] = {}
        self._known = None if known_topics is None else set(known_topics)
        self.books: dict[str, OrderBook] = {}
        self.resyncing: set[str] = set()
        self._seen: set[str] = set()
        self._ring: deque[str] = deque()
        self._unsupported: set[str] = set()
        self.gaps = 0
        self.resyncs = 0
        self.duplicates = 0
        self.stale_dropped = 0
        self.trades_deduplicated = 0
        self.decode_errors = 0
        if self._known is not None:
            for topic in sorted(self._known):
                self._route(topic)

    # ---------------------------------------------------------------- routing
    def _route(self, topic: str) -> _Route | None:
        r = self._routes.get(topic)
        if r is not None:
            return r
        if self._known is not None and topic not in self._known:
            return None
        if len(self._routes) >= self._MAX_LAZY_ROUTES:
            return None
        parsed = parse_topic(topic)
        if parsed is None:
            return None
        kind, depth, symbol = parsed
        spec = _tick_spec(symbol, self._ticks, self._category)
        if kind == BOOK:
            book = OrderBook(symbol, spec=spec, strict_sequence=self._strict)
            r = _Route(0, symbol, book, None, depth == 1)
            self.books[topic] = book
        else:
            r = _Route(1, symbol, None, decoder_for(spec.tick_size), False)
        self._routes[topic] = r
        return r

    # ----------------------------------------------------------------- frames
    def handle(self, raw: Any, ts: int, out: Any) -> None:
        """Apply one raw frame; append the resulting events to ``out``. Never raises."""
        try:
            if type(raw) is not str:
                try:
                    raw = bytes(raw).decode("utf-8")
                except (UnicodeDecodeError, TypeError):
                    self.decode_errors += 1
                    out.append(Error(f"frame is not UTF-8 text ({len(raw)} bytes); dropped", "decode", None, None, ts))
                    return
            topic = topic_of(raw)
            if topic is None:
                self._other(raw, ts, out)
                return
            r = self._routes.get(topic)
            if r is None:
                r = self._route(topic)
                if r is None:
                    self._unhandled(topic, ts, out)
                    return
            if r.kind:
                self._trades(r, topic, raw, ts, out)
                return
            # A resyncing book (gap, crossed book, overflow, reconnect) waits for a message that
            # replaces it whole; a delta would apply to a book that missed messages.
            if self.resyncing and topic in self.resyncing and not is_book_restart(raw):
                self.stale_dropped += 1
                return
            book = r.book
            epoch = book.epoch
            try:
                # A snapshot on a deep topic restarts the book's history (resubscribe, reconnect, or
                # trouble at Bybit): order-flow measures must not difference across it, so the book is
                # cleared first (a new epoch). Depth 1 is snapshot-only; there the book itself tells
                # a continuing history from a restart.
                if not r.depth1 and is_snapshot(raw):
                    self._try_snapshot(r, topic, raw, ts)
                    book.clear()
                applied = book.apply_frame(raw, ts)
            except SequenceGapError as exc:
                if topic in self.resyncing:
                    self.stale_dropped += 1
                    return
                self.gaps += 1
                out.append(Gap(topic, r.symbol, exc.expected, exc.received, ts))
                self._start_resync(topic, r.symbol, "gap", ts, out, True)
                return
            except BookIntegrityError as exc:
                out.append(Error(str(exc), "book", topic, exc, ts))
                if topic not in self.resyncing:
                    self._start_resync(topic, r.symbol, "crossed", ts, out, True)
                return
            except InvalidInputError as exc:
                self.decode_errors += 1
                out.append(Error(f"{topic}: frame rejected, book untouched: {exc}", "decode", topic, exc, ts))
                return
            if not applied:
                self.duplicates += 1
                return
            if self.resyncing:
                self.resyncing.discard(topic)
            out.append(_book_update(topic, r.symbol, book.copy() if self._copy else book, book.update_id, book.seq,
                                    book.epoch != epoch, book.ts_exch, ts))
        except Exception as exc:  # a bug must not kill the consumer: report it
            self.decode_errors += 1
            out.append(Error(f"internal error while handling a frame: {exc!r}", "internal", None, exc, ts))

    def _try_snapshot(self, r: _Route, topic: str, raw: str, ts: int) -> None:
        """Apply a snapshot to the route's scratch book: raises what the live book's ``apply_frame``
        would, so a rejected snapshot leaves the live book as it was (it is only cleared after this)."""
        scratch = r.scratch
        if scratch is None:
            scratch = r.scratch = OrderBook(r.symbol, spec=r.book.spec, strict_sequence=self._strict)
        scratch.apply_frame(raw, ts)
        if scratch.topic != topic:  # the live book is bound to its topic and would refuse the frame
            raise InvalidInputError(f"frame topic {scratch.topic!r} does not match its topic key {topic!r}")

    def _unhandled(self, topic: str, ts: int, out: Any) -> None:
        self.decode_errors += 1
        if topic not in self._unsupported:
            if len(self._unsupported) < 1000:
                self._unsupported.add(topic)
            out.append(Error(f"frame of topic {topic!r} is not handled by this stream; dropped "
                             f"(further frames of it are counted in stats().decode_errors)",
                             "decode", topic, None, ts))

    def _trades(self, r: _Route, topic: str, raw: str, ts: int, out: list) -> None:
        try:
            trades = r.decoder.decode_trades(raw, ts)
        except InvalidInputError as exc:
            self.decode_errors += 1
            out.append(Error(f"{topic}: frame rejected: {exc}", "decode", topic, exc, ts))
            return
        cap = self._dedupe
        if cap:
            seen = self._seen
            ring = self._ring
            kept = []
            for t in trades:
                tid = t.trade_id
                if tid:
                    if tid in seen:
                        self.trades_deduplicated += 1
                        continue
                    seen.add(tid)
                    ring.append(tid)
                    if len(ring) > cap:
                        seen.discard(ring.popleft())
                kept.append(t)
            trades = kept
        if trades:
            out.append(_trade_event(topic, r.symbol, trades, ts))

    def _other(self, raw: str, ts: int, out: list) -> None:
        if control.is_reply(control.load(raw)):
            return  # a control reply: the live session handled it; a replay has nothing to do
        self.decode_errors += 1
        shown = repr(raw[:80])
        exc = InvalidInputError(f"frame has no topic and is not a reply Bybit sends: {shown}")
        out.append(Error(f"unrecognised frame dropped: {shown}", "decode", None, exc, ts))

    # ---------------------------------------------------------------- resyncs
    def _start_resync(self, topic: str, symbol: str, reason: str, ts: int, out: list, request: bool) -> None:
        self.resyncing.add(topic)
        self.resyncs += 1
        out.append(Resync(topic, symbol, reason, ts))
        if request and self._resync_cb is not None:
            self._resync_cb(topic)

    def on_reconnect(self) -> None:
        """Every book waits for the new connection's snapshot (its frames are dropped quietly)."""
        self.resyncing.update(self.books)

    def on_overflow(self, topics: Iterable[str], ts: int, out: list) -> None:
        """The queue shed frames of these topics; the socket thread already resubscribed them.

        Their books wait for the resubscription's snapshot, whatever ``strict_sequence`` says:
        the frames already queued after the shed ones would apply to a book that missed messages.
        """
        for topic in topics:
            r = self._routes.get(topic)
            if r is not None and r.kind == 0 and topic not in self.resyncing:
                self._start_resync(topic, r.symbol, "overflow", ts, out, False)
