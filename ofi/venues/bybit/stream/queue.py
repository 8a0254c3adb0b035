"""The bounded queue between the socket thread and the consumer, and its overflow policy.

The socket thread puts every frame in as received; the consumer decodes and applies frames as it
pulls them, so a slow consumer is handled by this policy alone:

- **Book frames** are queued while fewer than ``queue_size`` book frames wait. When that bound
  is reached the socket thread *sheds* book frames (drops them, counting per topic) until the
  consumer has drained the queue to half of it; then it queues one :class:`Overflow` event and
  resubscribes every topic it dropped frames of. The consumer gets the Overflow, a
  :class:`Resync` (reason ``"overflow"``) per topic, and later a fresh snapshot (a
  :class:`BookUpdate` with ``reset=True``): it always ends on the latest book, never on a wrong one.
- **Trade frames** (and connection events) never count against ``queue_size``; they have their
  own reserve of ``trade_queue_size``. Only if that is full too are they dropped, and the next
  :class:`Overflow` event says how many (``trade_frames_dropped``, ``events_dropped``): trades
  are never lost silently.
- So the queue never holds more than ``queue_size + trade_queue_size + 4`` items (the 4: the
  end-of-stream marker and the last errors before it).
"""
from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

from ofi.venues.events import Overflow

# queue item codes: (code, ts_local, payload)
BOOK = 0   # a book frame (str)
FRAME = 1  # any other frame: trades, garbage, replies the socket thread did not take
EVENT = 2  # a connection event (ofi.venues.events)
END = 3    # the socket thread has ended


class _FrameQueue:
    """A deque between one producer (the socket thread) and one consumer.

    Counters are written by one side each (``*_in`` by the producer, ``*_out`` by the consumer),
    so their difference is the exact number of waiting items without a lock. The condition
    is only used when the consumer has to wait.
    """

    __slots__ = ("_items", "_cond", "_waiting", "closed", "book_in", "book_out", "res_in", "res_out",
                 "high_water")

    def __init__(self) -> None:
        self._items: deque[tuple[int, int, Any]] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._waiting = False
        self.closed = False
        self.book_in = 0
        self.book_out = 0
        self.res_in = 0
        self.res_out = 0
        self.high_water = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: tuple[int, int, Any]) -> None:
        self._items.append(item)
        if item[0] == BOOK:
            self.book_in += 1
        else:
            self.res_in += 1
        n = len(self._items)
        if n > self.high_water:
            self.high_water = n
        if self._waiting:
            with self._cond:
                self._cond.notify()

    def get(self, timeout: float | None) -> tuple[int, int, Any] | None:
        """Next item; None on timeout or once closed."""
        if self.closed:
            return None
        try:
            item = self._items.popleft()
        except IndexError:
            item = self._wait(timeout)
            if item is None:
                return None
        if item[0] == BOOK:
            self.book_out += 1
        else:
            self.res_out += 1
        return item

    def _wait(self, timeout: float | None) -> tuple[int, int, Any] | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._waiting = True
            try:
                while True:
                    if self.closed:
                        return None
                    if self._items:
                        return self._items.popleft()
                    if deadline is None:
                        self._cond.wait(0.25)
                    else:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            return None
                        self._cond.wait(min(remaining, 0.25))
            finally:
                self._waiting = False

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


class _QueuePolicy:
    """The producer's side of the queue: what to queue, what to shed, when to report an Overflow.

    The socket thread's session is a ``_QueuePolicy``; it learns which topics to resubscribe
    through :meth:`_overflow_reported`.
    """

    def __init__(self, q: _FrameQueue, queue_size: int, trade_queue_size: int) -> None:
        self._q = q
        self._book_cap = queue_size
        self._low_water = queue_size // 2
        self._res_cap = trade_queue_size
        self._shedding = False
        self._dropped: dict[str, int] = {}
        self._drops_pending = False
        self._trades_dropped_pending = 0
        self._events_dropped_pending = 0
        self.book_dropped = 0
        self.trades_dropped = 0
        self.events_dropped = 0

    def _put_book(self, ts: int, raw: str, topic: str) -> None:
        q = self._q
        if not self._drops_pending and q.book_in - q.book_out < self._book_cap:
            q.put((BOOK, ts, raw))  # the common case
            return
        if self._shedding:
            if q.book_in - q.book_out <= self._low_water:
                self._report_overflow(ts)
            if self._shedding:  # still far behind (or the reserve is full): keep shedding
                self._drop_book(topic)
                return
        elif q.book_in - q.book_out >= self._book_cap:
            self._shedding = True
            self._drop_book(topic)
            return
        elif self._drops_pending:
            self._report_overflow(ts)
        q.put((BOOK, ts, raw))

    def _drop_book(self, topic: str) -> None:
        self._dropped[topic] = self._dropped.get(topic, 0) + 1
        self.book_dropped += 1
        self._drops_pending = True

    def _put_frame(self, ts: int, raw: Any) -> None:
        q = self._q
        if q.res_in - q.res_out >= self._res_cap:
            self.trades_dropped += 1
            self._trades_dropped_pending += 1
            self._drops_pending = True
            return
        if self._drops_pending:
            self._report_overflow(ts)  # only once the consumer has caught up
        q.put((FRAME, ts, raw))

    def _emit(self, ev: Any, force: bool = False) -> None:
        q = self._q
        if not force and q.res_in - q.res_out >= self._res_cap:
            self.events_dropped += 1
            self._events_dropped_pending += 1
            self._drops_pending = True
            return
        q.put((EVENT, getattr(ev, "ts_local", 0), ev))

    def _report_overflow(self, ts: int) -> None:
        """Queue one Overflow event for everything dropped so far, and resubscribe those topics."""
        q = self._q
        if q.res_in - q.res_out >= self._res_cap or q.book_in - q.book_out > self._low_water:
            return  # not yet: the consumer is still far behind
        dropped = self._dropped
        self._dropped = {}
        self._shedding = False
        self._drops_pending = False
        ev = Overflow(dropped, self._trades_dropped_pending, self._events_dropped_pending, ts)
        self._trades_dropped_pending = 0
        self._events_dropped_pending = 0
        self._emit(ev, force=True)  # at most one outstanding at a time: bounded
        self._overflow_reported(dropped)

    def _overflow_reported(self, topics: dict[str, int]) -> None:
        """The Overflow for these topics is queued: the session resubscribes them."""
