"""Reading and writing a pyserial port without wasting time or CPU.

pyserial's ``read(n)`` waits for ``n`` bytes or the timeout; for a stream we want
"whatever has arrived, as soon as it arrives". Ports backed by a file descriptor
(``/dev/tty*``, ptys, ``socket://``) are read with ``os.read``/``recv`` in chunks of up
to 64 KiB, waiting in ``select`` only when nothing is there; anything else
(``loop://``, ``rfc2217://``) falls back to ``read(in_waiting or 1)``.

pyserial's POSIX ``write`` copies the rest of the data after every partial write (a
pty takes about 4 KiB at a time: a 64 KiB write copies ~0.5 MiB) and calls ``select``
after every write; :class:`PortWriter` writes from a view and waits only when the
port is full.
"""

from __future__ import annotations

import os
import select
import socket
import time
from typing import Any

import serial

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

    def _read_now(self) -> int | None:
        """Bytes read into the buffer without waiting (0: none, or end of file); None if
        the port would block."""
        try:
            if self._sock is not None:
                return self._sock.recv_into(self._buffer)
            return os.readv(self._fd, [self._buffer])
        except BlockingIOError:
            return None

    def read(self) -> bytes:
        if self._sock is not None or self._fd is not None:
            # a port that is streaming has data more often than not: read first (with
            # pyserial's VMIN=0 a tty with nothing to read returns 0, not EAGAIN)
            n = self._read_now()
            if not n:
                waitable = self._sock if self._sock is not None else self._fd
                ready, _, _ = select.select([waitable], [], [], self.poll)
                if not ready:
                    return b""
                n = self._read_now()
                if n is None:
                    return b""
                if not n:  # readable with nothing to read: the other end is gone
                    raise ConnectionError(
                        "the module's TCP port closed the connection"
                        if self._sock is not None
                        else "the module's port reached end of file"
                    )
            return bytes(self._view[:n])
        old = self.port.timeout
        if old != self.poll:
            self.port.timeout = self.poll
        return bytes(self.port.read(self.port.in_waiting or 1))


class PortWriter:
    """``write(data)`` writes all of ``data`` as pyserial's does (honouring the port's
    ``write_timeout``), from a view for POSIX serial ports and ptys; other ports (sockets,
    URL handlers) are written with their own ``write``."""

    def __init__(self, port: Any) -> None:
        self.port = port
        posix = getattr(serial, "serialposix", None)  # absent on Windows
        self._fd: int | None = port.fd if posix and isinstance(port, posix.Serial) else None

    def write(self, data: bytes | memoryview) -> None:
        fd = self._fd
        if fd is None or not self.port.is_open:
            self.port.write(data)
            return
        limit = self.port.write_timeout
        deadline = None if limit is None else time.monotonic() + limit
        view = memoryview(data).cast("B")
        while view:
            try:
                view = view[os.write(fd, view) :]
                continue
            except BlockingIOError:
                pass
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                raise serial.SerialTimeoutException("Write timeout")
            select.select([], [fd], [], wait)


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
