"""The socket thread: connection, heartbeat, subscriptions, reconnects, frame reassembly, recorder.

::

    socket thread (websocket-client handshake)             consumer thread (yours)
    read frame -> ts_local -> [recorder] -> classify ---> bounded queue ---> handler: decode + apply
    ping every 20 s, dead-connection check, reconnect,                      -> typed events
    subscribe in batches of 10, replies by req_id, resync requests  <------ gap / crossed -> resync(topic)

The socket thread never parses a book: it stamps each frame with its local receive time,
records it (``record_to=``) exactly as received, and queues it (``queue.py`` has the overflow
policy). Nothing raised in this thread escapes it: it becomes an :class:`Error` event, and a
connection that fails is reopened with backoff.
"""
from __future__ import annotations

import json
import math
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

from ofi.errors import ExchangeError
from ofi.venues.bybit.stream import control
from ofi.venues.bybit.stream.queue import END, _FrameQueue, _QueuePolicy
from ofi.venues.bybit.topics import BOOK_PREFIX, is_book_restart, named_topics, topic_of
from ofi.venues.events import Connected, Error, Reconnect, Rejected, Subscribed

_READ_CHUNK = 1 << 16
_MAX_FRAME = 1 << 24  # 16 MiB, for one frame and for a fragmented message: far above a 1000-level snapshot


class FrameRecorder(Protocol):
    """What ``record_to=`` writes every received frame to (``ofi.data.recording.RecordingWriter`` is one).

    The stream opens it as ``recorder(record_to, flush_every=n)`` in :meth:`BybitStream.start`.
    """

    def write(self, raw: str | bytes, ts_local: int) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class _Pending:
    __slots__ = ("op", "topics", "sent")

    def __init__(self, op: str, topics: tuple[str, ...], sent: float) -> None:
        self.op = op
        self.topics = topics
        self.sent = sent


class _Session(_QueuePolicy):
    """The socket thread: connection, heartbeat, subscriptions, recorder; the queue's producer."""

    def __init__(self, cfg: dict[str, Any], url: str, topics: Sequence[str], q: _FrameQueue) -> None:
        super().__init__(q, cfg["queue_size"], cfg["trade_queue_size"])
        self._cfg = cfg
        self._url = url
        self._topics: list[str] = list(topics)
        self._book_topics = {t for t in self._topics if t.startswith(BOOK_PREFIX)}
        self.rejected: set[str] = set()
        self._cmds: deque[str] = deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ws: Any = None
        self._rng = random.Random(cfg["seed"])
        self._last_ts = 0
        # connection state
        self._pending: dict[str, _Pending] = {}
        self._awaiting: dict[str, float] = {}
        self._resync_due: dict[str, float] = {}
        self._resync_backoff: dict[str, list[float]] = {}  # topic -> [backoff_s, last_sent]
        self._req = 0
        self._last_rx = 0.0
        self._ping_sent: float | None = None
        self._next_ping = 0.0
        # recorder (opened by start(), then written and closed by this thread only)
        self._writer: FrameRecorder | None = None
        self._recorder = cfg["recorder"]
        self._record_to = cfg["record_to"]
        self._flush_every = cfg["record_flush_every"]
        self._last_flush = 0.0
        # stats
        self.frames = 0
        self.bytes = 0
        self.connections = 0
        self.reconnects = 0
        self.pings = 0
        self.pongs = 0
        self.resubscribes = 0
        self.recorded = 0

    # ------------------------------------------------------------- lifecycle
    def start(self) -> None:
        if self._record_to is not None:
            # opened here so that a bad path fails in start(), in the caller's thread
            self._writer = self._recorder(self._record_to, flush_every=self._flush_every)
        self._thread = threading.Thread(target=self._main, name="ofi-bybit-stream", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> bool:
        self._stop.set()
        ws = self._ws
        if ws is not None:
            try:
                ws.abort()
            except Exception:  # best effort: the thread notices the stop flag within a poll
                pass
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
            return not t.is_alive()
        return True

    def request_resync(self, topic: str) -> None:
        """Called from the consumer thread; the socket thread sends unsubscribe + subscribe."""
        self._cmds.append(topic)

    def _main(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # nothing escapes this thread
            self._emit(Error(f"stream thread stopped by {exc!r}", "internal", None, exc, self._now_ns()), force=True)
        finally:
            w = self._writer
            self._writer = None
            if w is not None:
                try:
                    w.close()
                except Exception as exc:
                    self._emit(Error(f"recorder close failed: {exc!r}", "recorder", None, exc, self._now_ns()),
                               force=True)
            self._q.put((END, self._now_ns(), None))

    def _loop(self) -> None:
        import websocket  # websocket-client

        cfg = self._cfg
        attempt = 0
        while not self._stop.is_set():
            t_open = time.monotonic()
            connected = False
            try:
                ws = websocket.create_connection(
                    self._url,
                    timeout=cfg["connect_timeout_s"],
                    skip_utf8_validation=True,
                    enable_multithread=True,
                    sockopt=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),),
                )
            except Exception as exc:
                reason = f"connect to {self._url} failed: {exc}"
                self._emit(Error(reason, "connection", None, exc, self._now_ns()))
            else:
                connected = True
                self._ws = ws
                try:
                    reason = self._session(ws)
                except Exception as exc:  # a socket error we did not foresee: reconnect
                    reason = f"connection failed: {exc!r}"
                    self._emit(Error(reason, "connection", None, exc, self._now_ns()))
                finally:
                    self._ws = None
                    try:
                        ws.send_close()  # polite on a close or a stop; harmless on a dead link
                    except Exception:
                        pass
                    try:
                        ws.shutdown()
                    except Exception:
                        pass
            if self._stop.is_set():
                return
            if connected and time.monotonic() - t_open >= cfg["backoff_reset_s"]:
                attempt = 0
            attempt += 1
            if cfg["max_reconnects"] is not None and attempt > cfg["max_reconnects"]:
                self._emit(Error(f"giving up after {attempt - 1} reconnect attempts: {reason}", "connection",
                                 None, None, self._now_ns()), force=True)
                return
            base = min(cfg["reconnect_delay_max_s"], cfg["reconnect_delay_s"] * 2.0 ** (attempt - 1))
            delay = base * (0.5 + 0.5 * self._rng.random())
            self.reconnects += 1
            self._emit(Reconnect(reason, attempt, delay, self._now_ns()))
            self._stop.wait(delay)

    # -------------------------------------------------------------- one connection
    def _session(self, ws: Any) -> str:
        """Run one connection until it ends; return why it ended.

        websocket-client did the handshake and sends our requests; frames are read here, straight
        from its socket, in 64 KiB chunks (its own reader makes several system calls and objects
        per frame, which halves the throughput).
        """
        cfg = self._cfg
        ws.settimeout(cfg["poll_interval_s"])
        self.connections += 1
        self._pending.clear()
        self._awaiting.clear()
        self._resync_due.clear()
        self._cmds.clear()  # the subscribe below resyncs every topic anyway
        now = time.monotonic()
        self._last_rx = now
        self._ping_sent = None
        self._next_ping = now + cfg["ping_interval_s"]
        self._emit(Connected(self._url, self.connections, self._now_ns()))
        self._send(ws, "subscribe", [t for t in self._topics if t not in self.rejected], now)
        check_every = cfg["poll_interval_s"]
        next_check = now + check_every
        stop = self._stop
        sock = ws.sock
        recv = sock.recv
        buf = bytearray(b"".join(getattr(getattr(ws, "frame_buffer", None), "recv_buffer", None) or ()))
        frag_op = 0  # opcode of the fragmented message being reassembled (0: none)
        message = bytearray()  # its fragments so far
        on_frame = self._on_frame
        while not stop.is_set():
            try:
                chunk = recv(_READ_CHUNK)
            except (socket.timeout, TimeoutError):
                chunk = None
            except OSError as exc:
                return f"socket error: {exc}"
            now = time.monotonic()
            if chunk is not None:
                if not chunk:
                    return "the server closed the connection"
                buf += chunk
                self._last_rx = now
                # parse every complete frame in the buffer (RFC 6455 section 5.2)
                n = len(buf)
                p = 0
                mv = memoryview(buf)
                try:
                    while n - p >= 2:
                        b0 = buf[p]
                        b1 = buf[p + 1]
                        ln = b1 & 0x7F
                        h = p + 2
                        if ln == 126:
                            if n - p < 4:
                                break
                            ln = (buf[p + 2] << 8) | buf[p + 3]
                            h = p + 4
                        elif ln == 127:
                            if n - p < 10:
                                break
                            ln = int.from_bytes(buf[p + 2:p + 10], "big")
                            h = p + 10
                        if ln > _MAX_FRAME:
                            return f"protocol error: a {ln}-byte frame (limit {_MAX_FRAME})"
                        mask = b1 & 0x80
                        if mask:
                            h += 4
                        if n - h < ln:
                            break
                        payload: Any = mv[h:h + ln]
                        if mask:  # servers must not mask; unmask anyway
                            key = bytes(buf[h - 4:h]) * (ln // 4 + 1)
                            payload = (int.from_bytes(payload, "big") ^ int.from_bytes(key[:ln], "big")).to_bytes(
                                ln, "big")
                        p = h + ln
                        op = b0 & 0x0F
                        if op == 1 or op == 2:
                            if b0 & 0x80:
                                on_frame(payload, op)
                            else:
                                frag_op = op
                                message = bytearray(payload)
                        elif op == 0:
                            if not frag_op:
                                return "protocol error: a continuation frame without a first fragment"
                            # the length so far is kept by the bytearray: checking it costs nothing
                            # per fragment, so reassembly stays linear in the message's bytes
                            if len(message) + ln > _MAX_FRAME:
                                return f"protocol error: a fragmented message over {_MAX_FRAME} bytes"
                            message += payload
                            if b0 & 0x80:
                                whole = bytes(message)
                                message = bytearray()
                                op, frag_op = frag_op, 0
                                on_frame(whole, op)
                        elif op == 8:
                            return f"the server closed the connection ({_close_reason(bytes(payload))})"
                        elif op == 9:
                            try:
                                ws.pong(bytes(payload))
                            except Exception as exc:
                                return f"answering a ping failed: {exc}"
                        elif op != 10:
                            return f"protocol error: unknown opcode {op}"
                        payload = None
                finally:
                    mv.release()
                if p:
                    del buf[:p]
            if self._cmds:
                self._take_commands(ws, now)
            if now >= next_check:
                next_check = now + check_every
                dead = self._timers(ws, now)
                if dead:
                    return dead
        return "closed"

    def _on_frame(self, data: Any, opcode: int) -> None:
        """One received message (``data`` bytes-like; ``opcode`` 1 text, 2 binary)."""
        ts = time.time_ns()
        if ts <= self._last_ts:
            ts = self._last_ts + 1
        self._last_ts = ts
        self.frames += 1
        self.bytes += len(data)
        raw: str | bytes
        if opcode == 1:  # text
            try:
                raw = str(data, "utf-8")
            except UnicodeDecodeError:
                raw = bytes(data)
        else:
            raw = bytes(data)
        w = self._writer
        if w is not None:
            try:
                w.write(raw, ts)
                self.recorded += 1
            except Exception as exc:
                self._writer = None
                self._emit(Error(f"recorder failed, recording stopped: {exc!r}", "recorder", None, exc, ts))
                try:
                    w.close()
                except Exception:
                    pass
        if type(raw) is str:
            topic = topic_of(raw)
            if topic is not None:
                if topic.startswith(BOOK_PREFIX):
                    if self._awaiting and topic in self._awaiting and is_book_restart(raw):
                        del self._awaiting[topic]
                    self._put_book(ts, raw, topic)
                else:
                    self._put_frame(ts, raw)
                return
            if self._on_control(raw, ts):
                return
        self._put_frame(ts, raw)  # garbage or unknown: the consumer reports it

    # ------------------------------------------------------------ subscriptions
    def _send(self, ws: Any, op: str, topics: Sequence[str], now: float, batch: int | None = None) -> None:
        """Send ``op`` for ``topics`` in batches within Bybit's args limit; track each req_id."""
        n = batch or self._cfg["max_args_per_request"]
        for k in range(0, len(topics), n):
            batch = tuple(topics[k:k + n])
            self._req += 1
            rid = f"ofi-{self._req}"
            if len(self._pending) > 4 * len(self._topics) + 64:  # replies that never came
                self._pending.clear()
            self._pending[rid] = _Pending(op, batch, now)
            ws.send(json.dumps({"req_id": rid, "op": op, "args": list(batch)}, separators=(",", ":")))
            if op == "subscribe":
                deadline = now + self._cfg["snapshot_timeout_s"]
                for t in batch:
                    if t in self._book_topics:
                        self._awaiting[t] = deadline

    def _on_control(self, raw: str, ts: int) -> bool:
        """Handle a reply to our requests; False for anything else (the consumer reports it)."""
        obj = control.load(raw)
        if not isinstance(obj, dict):
            return False
        op = obj.get("op")
        if obj.get("ret_msg") == "pong" or op == "pong":
            self.pongs += 1
            return True
        if op in ("subscribe", "unsubscribe") or obj.get("type") == "COMMAND_RESP":
            self._on_reply(obj, ts)
            return True
        return op == "ping"

    def _on_reply(self, obj: dict, ts: int) -> None:
        rid = obj.get("req_id") or None
        pend = self._pending.pop(rid, None) if isinstance(rid, str) else None
        op = obj.get("op") or (pend.op if pend is not None else "subscribe")
        msg = str(obj.get("ret_msg") or "")
        if obj.get("type") == "COMMAND_RESP":  # option / spread: topics listed in data
            data = obj.get("data") if isinstance(obj.get("data"), dict) else {}
            if op == "unsubscribe" or (pend is not None and pend.op == "unsubscribe"):
                return
            ok = _topic_list(data.get("successTopics"))
            fail = _topic_list(data.get("failTopics"))
            if pend is None:  # these replies carry no req_id: settle the requests by their topics
                answered = set(ok) | set(fail)
                for k in [k for k, p in self._pending.items() if p.op == "subscribe" and answered & set(p.topics)]:
                    del self._pending[k]
            if ok:
                self._emit(Subscribed(ok, rid, ts))
            if fail:
                self._reject(fail, rid, msg or "failTopics", ts)
            return
        if pend is None or pend.op == "unsubscribe" or op == "unsubscribe":
            if pend is None and obj.get("success") is False:
                self._emit(Error(f"Bybit refused a request we cannot match (req_id={rid!r}): {msg}", "subscribe",
                                 None, None, ts))
            return  # an unsubscribe of a resync: a failure ("not subscribed") is harmless
        if obj.get("success") is True:
            self._emit(Subscribed(pend.topics, rid, ts))
            return
        if "args size" in msg.lower() and len(pend.topics) > 1:  # too many args at once: halve the batch
            if self._ws is not None:
                try:
                    self._send(self._ws, "subscribe", pend.topics, time.monotonic(), (len(pend.topics) + 1) // 2)
                except Exception:
                    pass  # the connection is failing; the reconnect resubscribes them
            return
        named = named_topics(msg, pend.topics)
        if "already subscribed" in msg.lower():
            done = named or pend.topics
            self._emit(Subscribed(done, rid, ts))
        else:
            done = named or pend.topics
            self._reject(done, rid, msg, ts)
        rest = [t for t in pend.topics if t not in done]
        if rest and self._ws is not None:  # the others of the batch: ask again on their own
            try:
                self._send(self._ws, "subscribe", rest, time.monotonic())
            except Exception:
                pass  # the connection is failing; the reconnect resubscribes them

    def _reject(self, topics: tuple[str, ...], rid: str | None, msg: str, ts: int) -> None:
        self.rejected.update(topics)
        for t in topics:
            self._awaiting.pop(t, None)
            self._resync_due.pop(t, None)
        self._emit(Rejected(topics, rid, msg, ts))
        exc = ExchangeError(f"Bybit rejected {', '.join(topics)}: {msg}", ret_msg=msg, endpoint=self._url)
        self._emit(Error(str(exc), "subscribe", topics[0], exc, ts))

    def _take_commands(self, ws: Any, now: float) -> None:
        cmds = self._cmds
        while cmds:
            try:
                topic = cmds.popleft()
            except IndexError:
                break
            self._schedule_resync(topic, now)
        self._fire_resyncs(ws, now)

    def _overflow_reported(self, topics: dict[str, int]) -> None:
        now = time.monotonic()
        for topic in topics:
            self._schedule_resync(topic, now)

    def _schedule_resync(self, topic: str, now: float) -> None:
        if topic not in self._book_topics or topic in self.rejected or topic in self._resync_due:
            return
        cfg = self._cfg
        st = self._resync_backoff.get(topic)
        if st is None:
            st = self._resync_backoff[topic] = [cfg["resync_delay_s"], -math.inf]
        if now - st[1] > 4.0 * max(st[0], 1.0):
            st[0] = cfg["resync_delay_s"]  # calm for a while: back to the shortest delay
        self._resync_due[topic] = max(now, st[1] + st[0])

    def _fire_resyncs(self, ws: Any, now: float) -> None:
        if not self._resync_due:
            return
        due = [t for t, when in self._resync_due.items() if when <= now]
        if not due:
            return
        for t in due:
            del self._resync_due[t]
            st = self._resync_backoff[t]
            st[1] = now
            st[0] = min(st[0] * 2.0 if st[0] > 0 else 0.05, self._cfg["resync_delay_max_s"])
        self.resubscribes += len(due)
        self._send(ws, "unsubscribe", due, now)
        self._send(ws, "subscribe", due, now)

    # ------------------------------------------------------------------- timers
    def _timers(self, ws: Any, now: float) -> str | None:
        cfg = self._cfg
        if now >= self._next_ping:
            try:
                self._req += 1
                ws.send(json.dumps({"req_id": f"ofi-{self._req}", "op": "ping"}, separators=(",", ":")))
            except Exception as exc:
                return f"sending a ping failed: {exc}"
            self.pings += 1
            if self._ping_sent is None or self._last_rx >= self._ping_sent:
                self._ping_sent = now
            self._next_ping = now + cfg["ping_interval_s"]
        if self._ping_sent is not None and self._last_rx < self._ping_sent:
            if now - self._ping_sent > cfg["pong_timeout_s"]:
                return f"no pong and no data within {cfg['pong_timeout_s']:g} s of a ping"
        if now - self._last_rx > cfg["idle_timeout_s"]:
            return f"no data for {cfg['idle_timeout_s']:g} s"
        if self._drops_pending:
            self._report_overflow(self._now_ns())
        if self._awaiting:
            late = [t for t, deadline in self._awaiting.items() if deadline < now]
            for t in late:
                del self._awaiting[t]
                self._emit(Error(f"no snapshot for {t} within {cfg['snapshot_timeout_s']:g} s of subscribing; "
                                 "resubscribing", "subscribe", t, None, self._now_ns()))
                self._schedule_resync(t, now)
        if self._resync_due:
            try:
                self._fire_resyncs(ws, now)
            except Exception as exc:
                return f"sending a resubscribe failed: {exc}"
        if self._pending:
            limit = cfg["snapshot_timeout_s"]
            old = [rid for rid, p in self._pending.items() if now - p.sent > limit]
            for rid in old:
                p = self._pending.pop(rid)
                if p.op == "subscribe":
                    self._emit(Error(f"no reply to subscribe {rid} ({', '.join(p.topics)}) within {limit:g} s",
                                     "subscribe", p.topics[0], None, self._now_ns()))
        w = self._writer
        if w is not None and now - self._last_flush >= 1.0:
            self._last_flush = now
            try:
                w.flush()
            except Exception as exc:
                self._writer = None
                self._emit(Error(f"recorder failed, recording stopped: {exc!r}", "recorder", None, exc,
                                 self._now_ns()))
        return None

    def _now_ns(self) -> int:
        return time.time_ns()


def _topic_list(value: Any) -> tuple[str, ...]:
    """A reply's list of topics; anything but a list of strings (a number, a string) names none."""
    if not isinstance(value, list):
        return ()
    return tuple(t for t in value if isinstance(t, str))


def _close_reason(frame: Any) -> str:
    data = frame if isinstance(frame, (bytes, bytearray)) else (getattr(frame, "data", b"") or b"")
    if len(data) >= 2:
        code = int.from_bytes(data[:2], "big")
        text = data[2:].decode("utf-8", "replace")
        return f"code {code}{': ' + text if text else ''}"
    return "no close code"
