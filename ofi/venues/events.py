"""The typed events a venue's stream yields (:class:`ofi.venues.bybit.stream.BybitStream`).

They are venue-neutral: every venue adapter turns its own frames into these. Every event is a
frozen dataclass with the local time it was produced at (``ts_local``, ns since the epoch).
Dispatch with ``isinstance`` or ``match``::

    for ev in stream:
        match ev:
            case BookUpdate(book=book):
                ...
            case TradeEvent(trades=trades):
                ...
            case Gap() | Resync() | Overflow() | Reconnect() | Rejected() | Error():
                log.warning("%s", ev)

Book and trade events come from frames as they are applied (in the consumer's thread); the
others report what the connection and the queue did. See ``docs/api-stream.md`` for the
exact ordering guarantees. ``ofi.api.events`` re-exports them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:  # pragma: no cover
    from ofi._core.book import OrderBook
    from ofi._core.events import Trade

__all__ = [
    "BookUpdate",
    "TradeEvent",
    "Gap",
    "Resync",
    "Overflow",
    "Connected",
    "Reconnect",
    "Subscribed",
    "Rejected",
    "Error",
    "StreamEvent",
]


@dataclass(frozen=True, slots=True)
class BookUpdate:
    """A book message was applied; ``book`` is consistent (never crossed, never half-applied).

    Attributes
    ----------
    topic : str
        ``orderbook.{depth}.{symbol}``; one book per topic.
    symbol : str
        Instrument symbol.
    book : OrderBook
        The stream's live book for the topic. It is only mutated when the consumer pulls the
        next event, so it is consistent until then; keep ``book.copy()`` (or build the stream
        with ``copy_books=True``) to hold on to a state.
    update_id : int
        Bybit ``u`` of the applied message.
    seq : int
        Cross sequence of the applied message (-1 when absent).
    reset : bool
        The book's history restarted with this message (first snapshot, resync after a gap,
        overflow or reconnect, ``u == 1`` restart): order-flow measures must not difference
        across it. Same as ``book.epoch`` having changed.
    ts_exch : int
        Exchange time of the message, ns.
    ts_local : int
        Local receive time of the frame, ns.
    """

    topic: str
    symbol: str
    book: OrderBook
    update_id: int
    seq: int
    reset: bool
    ts_exch: int
    ts_local: int


@dataclass(frozen=True, slots=True)
class TradeEvent:
    """Public trades of one ``publicTrade`` frame, de-duplicated by trade id.

    Attributes
    ----------
    topic : str
        ``publicTrade.{symbol}``.
    symbol : str
        Symbol of the topic (options: the base coin; each trade carries its own symbol).
    trades : list of Trade
        In match order; trades whose id was already delivered (a reconnect re-sending them)
        are left out.
    ts_local : int
        Local receive time of the frame, ns.
    """

    topic: str
    symbol: str
    trades: list[Trade]
    ts_local: int


@dataclass(frozen=True, slots=True)
class Gap:
    """A book delta did not continue its topic's ``u`` sequence.

    Reported on the very frame that broke the sequence; a :class:`Resync` of the topic follows.

    Attributes
    ----------
    expected : int or None
        The update id the book expected (``last_u + 1``); None if the book had no snapshot.
    received : int or None
        The update id of the delta that revealed the gap.
    """

    topic: str
    symbol: str
    expected: int | None
    received: int | None
    ts_local: int


@dataclass(frozen=True, slots=True)
class Resync:
    """A topic's book is being re-synchronised (unsubscribe + subscribe for a fresh snapshot).

    Until its next :class:`BookUpdate` (which has ``reset=True``) the book keeps its last
    consistent state and receives no update.

    Attributes
    ----------
    reason : str
        ``"gap"``, ``"crossed"`` (the message would have crossed the book) or ``"overflow"``
        (the queue dropped book frames of the topic).
    """

    topic: str
    symbol: str
    reason: str
    ts_local: int


@dataclass(frozen=True, slots=True)
class Overflow:
    """The consumer fell behind and the bounded queue dropped frames.

    Attributes
    ----------
    book_frames_dropped : dict of str to int
        Book frames dropped per topic; each of these topics is resynchronised (a
        :class:`Resync` with reason ``"overflow"`` follows for each).
    trade_frames_dropped : int
        Trade frames dropped because the trade reserve was full too (0 unless the consumer
        stalled for very long); their trades are lost and counted here.
    events_dropped : int
        Connection events (errors, reconnects) dropped for the same reason.
    """

    book_frames_dropped: dict[str, int]
    trade_frames_dropped: int
    events_dropped: int
    ts_local: int


@dataclass(frozen=True, slots=True)
class Connected:
    """A websocket connection is open; subscriptions are being (re)sent.

    Attributes
    ----------
    url : str
        The endpoint.
    connection : int
        1 for the first connection, 2 after the first reconnect, ...
    """

    url: str
    connection: int
    ts_local: int


@dataclass(frozen=True, slots=True)
class Reconnect:
    """The connection was lost (or never opened); the stream reconnects after ``delay_s``.

    Every book waits for a fresh snapshot after the reconnect; trades are de-duplicated.

    Attributes
    ----------
    reason : str
        Why the connection ended (closed by the server, no pong, no data, connect failure...).
    attempt : int
        Consecutive reconnect attempt (1, 2, ...; reset after a healthy connection).
    delay_s : float
        Backoff before the next attempt (exponential with jitter, bounded).
    """

    reason: str
    attempt: int
    delay_s: float
    ts_local: int


@dataclass(frozen=True, slots=True)
class Subscribed:
    """Bybit confirmed a subscribe request."""

    topics: tuple[str, ...]
    req_id: str | None
    ts_local: int


@dataclass(frozen=True, slots=True)
class Rejected:
    """Bybit refused topics (``success: false``); they are dropped from the resubscribe set.

    An :class:`Error` with an :class:`ofi.errors.ExchangeError` follows.

    Attributes
    ----------
    message : str
        Bybit's ``ret_msg`` (e.g. ``"error:handler not found,topic:orderbook.500.BTCUSDT"``).
    """

    topics: tuple[str, ...]
    req_id: str | None
    message: str
    ts_local: int


@dataclass(frozen=True, slots=True)
class Error:
    """Something went wrong that the stream survived (it never raises from its thread).

    Attributes
    ----------
    message : str
        What happened.
    where : str
        ``"decode"`` (a frame was rejected whole; the book is untouched), ``"book"`` (a crossed
        book), ``"subscribe"``, ``"connection"``, ``"recorder"``, ``"recording"`` (a cut file in a
        replay) or ``"internal"``.
    topic : str or None
        The topic concerned, if any.
    exception : BaseException or None
        The exception caught, if any.
    """

    message: str
    where: str
    topic: str | None = None
    exception: BaseException | None = field(default=None, compare=False)
    ts_local: int = 0


StreamEvent = Union[BookUpdate, TradeEvent, Gap, Resync, Overflow, Connected, Reconnect, Subscribed, Rejected, Error]
