"""The emulated module's UART: a pseudo-terminal or a TCP port, non-blocking.

A :class:`PtyUart` is what a real USB-serial adapter looks like to the host (a
``/dev/pts/N`` path any serial program can open); a :class:`TcpUart` serves one host
at a time on a TCP port (pyserial's ``socket://`` URL). Both expose the file
descriptors to watch and non-blocking ``read``/``write``; the emulator's loop does the
pacing. Output written while no host is attached to a TCP UART is dropped, as bytes
sent down an unplugged cable are.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import termios
import tty
from typing import Protocol

log = logging.getLogger(__name__)

READ_SIZE = 65536
#: The receive buffer of the TCP "UART" (the kernel doubles it), about a serial port's
UART_BUFFER = 64 * 1024


class Uart(Protocol):
    url: str
    #: Changes whenever the descriptors behind :meth:`fds` may be new ones (a new host).
    generation: int

    def fds(self) -> list[int]:
        """Descriptors to watch for reading (the data path and any listener)."""
        ...

    def on_readable(self, fd: int, limit: int = READ_SIZE) -> bytes | None:
        """Up to ``limit`` bytes from the host (b"" if none now), or None for a listener."""
        ...

    def write(self, data: memoryview) -> int:
        """Writes what the host side accepts now; returns the count (all if detached)."""
        ...

    def writer_fd(self) -> int | None:
        """Descriptor to watch for writability while output is pending."""
        ...

    def close(self) -> None: ...


class PtyUart:
    """A pseudo-terminal in raw mode; the host opens :attr:`url` (the slave's path)."""

    generation = 0

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave, termios.TCSANOW)
        os.set_blocking(self.master, False)
        self.url = os.ttyname(self.slave)

    def fds(self) -> list[int]:
        return [self.master]

    def on_readable(self, fd: int, limit: int = READ_SIZE) -> bytes | None:
        try:
            return os.read(self.master, limit)
        except BlockingIOError:
            return b""
        except OSError as exc:  # EIO: no host has the slave open right now
            if exc.errno == errno.EIO:
                return b""
            raise

    def write(self, data: memoryview) -> int:
        try:
            return os.write(self.master, data)
        except BlockingIOError:
            return 0

    def writer_fd(self) -> int | None:
        return self.master

    def close(self) -> None:
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


class TcpUart:
    """A TCP port standing in for the UART: one host at a time; a new one replaces it."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # a UART's buffer, not a socket's megabytes: what the host wrote arrives (and its
        # output queue empties) about when the firmware takes it, so the +++ guard the
        # host waits out after its queue empties is silence here too (accepted
        # connections inherit it)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UART_BUFFER)
        self.listener.bind((host, port))
        self.listener.listen(1)
        self.listener.setblocking(False)
        bound_host, bound_port = self.listener.getsockname()[:2]
        shown = f"[{bound_host}]" if family == socket.AF_INET6 else bound_host
        self.url = f"socket://{shown}:{bound_port}"
        self.conn: socket.socket | None = None
        self.generation = 0

    def fds(self) -> list[int]:
        fds = [self.listener.fileno()]
        if self.conn is not None:
            fds.append(self.conn.fileno())
        return fds

    def on_readable(self, fd: int, limit: int = READ_SIZE) -> bytes | None:
        if fd == self.listener.fileno():
            try:
                conn, peer = self.listener.accept()
            except BlockingIOError:
                return None
            if self.conn is not None:
                log.info("new host %s replaces the attached one", peer)
                self.conn.close()
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.conn = conn
            self.generation += 1
            log.info("host attached from %s", peer)
            return None
        if self.conn is None:
            return b""
        try:
            data = self.conn.recv(limit)
        except BlockingIOError:
            return b""
        except OSError:
            data = b""
        if not data:
            log.info("host detached")
            self.conn.close()
            self.conn = None
            self.generation += 1
        return data

    def write(self, data: memoryview) -> int:
        if self.conn is None:
            return len(data)
        try:
            return self.conn.send(data)
        except BlockingIOError:
            return 0
        except OSError:
            return len(data)

    def writer_fd(self) -> int | None:
        return self.conn.fileno() if self.conn is not None else None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.listener.close()
