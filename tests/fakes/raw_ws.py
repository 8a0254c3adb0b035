"""A bare websocket server on 127.0.0.1 that sends hand-built RFC 6455 frames.

:class:`tests.fakes.ws_server.FakeBybitWs` speaks Bybit's protocol through the ``websockets``
library, which always frames messages correctly. The stream's own frame reader also has to
survive what a correct library never sends: thousands of tiny fragments, a fragmented message
over the size limit, a frame no JSON parser can nest into. This server does the handshake and
then runs a script per connection that writes raw bytes (build them with :func:`ws_frame`);
whatever the client sends is read and discarded (no pongs, no subscribe replies).

Everything is loopback only; every thread ends at :meth:`RawWsServer.stop`.
"""
from __future__ import annotations

import base64
import hashlib
import select
import socket
import threading
from collections.abc import Callable

__all__ = ["RawWsServer", "ws_frame", "fragments"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """One unmasked server-to-client frame (opcode 0 continuation, 1 text, 2 binary, 9 ping)."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + n.to_bytes(2, "big")
    else:
        head += bytes([127]) + n.to_bytes(8, "big")
    return head + payload


def fragments(message: bytes, size: int, opcode: int = 1) -> bytes:
    """``message`` as a first frame and continuation frames of ``size`` bytes each, on the wire."""
    parts = [message[i:i + size] for i in range(0, len(message), size)] or [b""]
    out = bytearray()
    for k, part in enumerate(parts):
        out += ws_frame(opcode if k == 0 else 0, part, fin=k == len(parts) - 1)
    return bytes(out)


class RawWsServer:
    """Accepts websocket connections and runs ``script(connection_number, send)`` on each.

    ``send(data)`` writes raw bytes to the client. After the script returns, the connection stays
    open (silent) until the client leaves or the server stops.
    """

    def __init__(self, script: Callable[[int, Callable[[bytes], None]], None]) -> None:
        self._script = script
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self.connections = 0
        self.error: BaseException | None = None
        self.url = f"ws://127.0.0.1:{self._sock.getsockname()[1]}/v5/public/linear"

    def __enter__(self) -> RawWsServer:
        t = threading.Thread(target=self._accept, name="raw-ws-accept", daemon=True)
        self._threads.append(t)
        t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for conn in self._conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)  # wakes a send blocked on a client that stopped reading
            except OSError:
                pass
        for s in [self._sock, *self._conns]:
            try:
                s.close()
            except OSError:
                pass
        for t in self._threads:
            t.join(5)

    def _accept(self) -> None:
        self._sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            self.connections += 1
            self._conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn, self.connections), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        try:
            conn.settimeout(5)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
                       if line.lower().startswith(b"sec-websocket-key:"))
            accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            conn.settimeout(None)  # a big send waits for the client (the reader below never sets a timeout)
            reader = threading.Thread(target=self._discard, args=(conn,), daemon=True)
            self._threads.append(reader)
            reader.start()
            self._script(number, conn.sendall)
            reader.join()
        except OSError:
            pass  # the client left (or the server stopped) mid-script
        except BaseException as exc:  # a broken script: the test reads .error
            self.error = exc

    def _discard(self, conn: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                if not select.select([conn], [], [], 0.1)[0]:
                    continue
                if not conn.recv(65536):
                    return
            except (OSError, ValueError):  # closed under us (ValueError: select on a closed fd)
                return
