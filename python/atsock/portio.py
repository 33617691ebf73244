"""Reading a pyserial port in the background without wasting time or CPU.

pyserial's ``read(n)`` waits for ``n`` bytes or the timeout; for a stream we want
"whatever has arrived, as soon as it arrives". Ports backed by a file descriptor
(``/dev/tty*``, ptys, ``socket://``) are read with ``select`` + ``os.read``/``recv`` in
chunks of up to 64 KiB; anything else (``loop://``, ``rfc2217://``) falls back to
``read(in_waiting or 1)``.
"""

from __future__ import annotations

import os
import select
import socket
from typing import Any

CHUNK = 65536


class PortReader:
    """``read()`` returns the bytes available now (waiting up to ``poll`` seconds), b"" if none."""

    def __init__(self, port: Any, poll: float = 0.05) -> None:
        self.port = port
        self.poll = poll
        # one reusable buffer, then an exact-size copy: reading straight into a 64 KiB
        # bytes object and shrinking it fragments the heap a little on every read
        self._buffer = bytearray(CHUNK)
        self._view = memoryview(self._buffer)
        self._sock: socket.socket | None = getattr(port, "_socket", None)
        self._fd: Any = None
        if self._sock is None:
            try:
                self._fd = port.fileno()
            except (AttributeError, OSError, ValueError):
                self._fd = None

    def read(self) -> bytes:
        if self._sock is not None:
            ready, _, _ = select.select([self._sock], [], [], self.poll)
            if not ready:
                return b""
            try:
                n = self._sock.recv_into(self._buffer)
            except BlockingIOError:
                return b""
            if not n:
                raise ConnectionError("the module's TCP port closed the connection")
            return bytes(self._view[:n])
        if self._fd is not None:
            ready, _, _ = select.select([self._fd], [], [], self.poll)
            if not ready:
                return b""
            try:
                n = os.readv(self._fd, [self._buffer])
            except BlockingIOError:
                return b""
            if not n:  # readable with nothing to read: the other end is gone
                raise ConnectionError("the module's port reached end of file")
            return bytes(self._view[:n])
        old = self.port.timeout
        if old != self.poll:
            self.port.timeout = self.poll
        return bytes(self.port.read(self.port.in_waiting or 1))


def close_port(port: Any) -> None:
    """Closes a pyserial port; a ``socket://`` one at once (pyserial's own close() sleeps
    0.3 s "for quick reconnects")."""
    sock = getattr(port, "_socket", None)
    if isinstance(sock, socket.socket):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        port._socket = None
        port.is_open = False
    port.close()
