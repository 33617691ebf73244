"""Reading and writing a pyserial port without wasting time or CPU.

pyserial's ``read(n)`` waits for ``n`` bytes or the timeout; for a stream we want
"whatever has arrived, as soon as it arrives". Ports backed by a file descriptor
(``/dev/tty*``, ptys, ``socket://``) are read with ``os.read``/``recv`` in chunks of up
to 256 KiB, waiting in ``select`` only when nothing is there; anything else
(``loop://``, ``rfc2217://``) falls back to ``read(in_waiting or 1)``.

A tty hands out what its line discipline holds, a few KiB per ``read``; a stream at
full speed has the next few KiB there at once. :func:`read_burst` reads on while more
is there, so that everything done per read in Python (framing, dispatch, the stream's
bookkeeping; in the emulator the ``+++`` guard, the packetizer and the send) is done
once per burst of up to 256 KiB instead of once per few KiB (a stream faster than its
reader fills whole bursts: 256 KiB against 64 KiB moved the transparent echo from 0.73
to 0.76x of the raw pty, the average of 8 alternating runs' medians, better in 7).

pyserial's POSIX ``write`` copies the rest of the data after every partial write (a
pty takes about 4 KiB at a time: a 64 KiB write copies ~0.5 MiB) and calls ``select``
after every write; :class:`PortWriter` writes from a view and waits only when the
port is full. With no ``write_timeout`` (pyserial's "wait as long as it takes") it
writes through a second, blocking descriptor of the same device: the kernel then
waits for room itself, one system call per write instead of one per few KiB, and a
thread writing a stream no longer wakes (and takes the GIL) every time the module
reads a little.

A write given a deadline (a command's) never waits past it: a module that stops reading
its UART (its peer does not read, TCP back-pressure) must not hold a caller forever.
Such a write waits in ``select`` on the non-blocking descriptor (or the ``socket://``
port's socket) and raises :class:`WriteStalled`, saying how much went out.
"""

from __future__ import annotations

import math
import os
import select
import socket
import stat
import struct
import sys
import time
from typing import Any

try:
    import fcntl
    import termios
except ImportError:  # Windows: no output queue to ask about
    fcntl = None  # type: ignore[assignment]

import serial
from serial.urlhandler import protocol_socket

from atsock.sync.gather import ReadGather

#: Most bytes one read of the port takes (a burst: see :func:`read_burst`).
CHUNK = 256 * 1024
#: A read for a caller that can take less still takes up to this much (the rest waits
#: in the stream's inbox): reads capped at a small size would cost a wake-up each.
CHUNK_FLOOR = 64 * 1024
#: A first read shorter than this is a reply or an event, not a stream: no burst.
BURST_MIN = 1024
#: Shortest wait asked of a port read through pyserial (no descriptor to select on).
PORT_MIN_WAIT = 0.1
#: Linux's device majors of pseudo-terminal slaves: BSD-style (3) and UNIX98 (136-143).
PTY_MAJORS = frozenset([3, *range(136, 144)])
#: Elsewhere, pseudo-terminal slaves by name: /dev/pts/N, and the BSD-style /dev/ttysNNN
#: (macOS) and /dev/ttypN (real ports are /dev/ttyS*, /dev/ttyUSB*, /dev/cu.* ...).
PTY_NAMES = ("/dev/pts/", "/dev/ttys", "/dev/ttyp")
#: How often :meth:`PortWriter.wait_sent` looks at a socket's output queue (seconds).
SENT_POLL = 0.002


def output_queued(fd: int) -> int | None:
    """Bytes in the kernel's output queue of a tty or socket (``TIOCOUTQ``; a socket's:
    what the far end has not acknowledged); None where it cannot say."""
    if fcntl is None:
        return None
    try:
        raw = fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0" * 4)
    except (OSError, ValueError):
        return None
    return int(struct.unpack("i", raw)[0])


def read_burst(fd: int, view: memoryview, size: int, min_first: int = BURST_MIN) -> int:
    """Reads on into ``view[size:]`` while ``fd`` has more at once; returns the new size.

    A first read of fewer than ``min_first`` bytes is returned as it is: one more read
    would only delay a command's reply. It stops when the descriptor has nothing now
    (0, or EAGAIN), when ``view`` is full, and quietly on any other error: the bytes
    already read are delivered first, and the next read reports the failure."""
    if size < min_first:
        return size
    while size < len(view):
        try:
            more = os.readv(fd, [view[size:]])
        except OSError:
            break
        if not more:
            break
        size += more
    return size


def read_now(sock: socket.socket | None, fd: int, view: memoryview) -> int | None:
    """Bytes read into ``view`` without waiting, from ``sock`` if there is one, else from
    ``fd`` (0: none yet on a pyserial tty, whose ``VMIN`` is 0, or the end of the file);
    None if the port would block."""
    try:
        if sock is not None:
            return sock.recv_into(view)
        return os.readv(fd, [view])
    except (BlockingIOError, InterruptedError):
        return None


class PortReader:
    """``read()`` returns the bytes available now (waiting up to ``poll`` seconds), b"" if none.

    Reads from several threads must hold one lock around :meth:`read` (so that "ready
    but nothing to read" means end of file); :meth:`wait` needs none.
    """

    def __init__(self, port: Any, poll: float = 0.05) -> None:
        self.port = port
        self.poll = poll
        # one reusable buffer, then an exact-size copy: reading straight into a CHUNK
        # bytes object and shrinking it fragments the heap a little on every read
        self._buffer = bytearray(CHUNK)
        self._view = memoryview(self._buffer)
        self._sock = plain_socket(port)
        self._fd: Any = None
        #: the last read took all there was (it stopped short of a full buffer)
        self._drained = False
        if self._sock is None:
            try:
                fd = port.fileno()
                # a descriptor that blocks (pyserial's VTIMESerial) is left to the port:
                # reading it on after the data could wait for the next byte
                self._fd = fd if not os.get_blocking(fd) else None
            except (AttributeError, OSError, ValueError, TypeError):
                self._fd = None
        #: what :meth:`wait` selects on: the socket, or else the descriptor
        self._select_on: Any = self._sock if self._sock is not None else self._fd
        #: the port has a descriptor: :meth:`wait` really waits for it
        self.waitable = self._select_on is not None
        #: a tty or pty: while nobody reads it, the kernel holds at most a tty's buffer
        #: (tens of KiB) before the module waits; a socket's can take megabytes
        self.kernel_holds_little = self._sock is None and self._fd is not None

    def _read_now(self, view: memoryview) -> int | None:
        return read_now(self._sock, self._fd, view)

    def wait(self, timeout: float) -> bool:
        """Waits up to ``timeout`` seconds for the port to be readable (True); a port
        without a descriptor cannot be waited for and is always "readable"."""
        if self._select_on is None:
            return True
        return bool(select.select([self._select_on], [], [], timeout)[0])

    def read(
        self, timeout: float | None = None, gather: ReadGather | None = None, size: int = CHUNK
    ) -> bytes:
        """What the port has now, or within ``timeout`` (default ``poll``) seconds; a
        stream's reader passes its ``gather`` (see :mod:`atsock.sync.gather`) and the ``size``
        it can take: the read takes at most that, or :data:`CHUNK_FLOOR` if that is less."""
        limit = self.poll if timeout is None else timeout
        if self._sock is not None or self._fd is not None:
            view = self._view if size >= CHUNK else self._view[: max(size, CHUNK_FLOOR)]
            # a port that is streaming has data more often than not: read first (with
            # pyserial's VMIN=0 a tty with nothing to read returns 0, not EAGAIN), unless
            # the last read left it empty: a module sending in bursts with gaps (a paced
            # line, a USB adapter's latency timer) is then waited for first, one read less
            # (a caller that waited already passes no timeout: it reads at once)
            wait_first = self._drained and limit > 0
            if wait_first and gather is not None:
                napped = gather.nap(limit)
                if napped:  # a stream's bursts piled up meanwhile: read them at once
                    limit = max(0.0, limit - napped)
                    wait_first = False
            n = None if wait_first else self._read_now(view)
            if not n:
                if not self.wait(limit):
                    return b""
                n = self._read_now(view)
                if n is None:
                    return b""
                if not n:  # readable with nothing to read: the other end is gone
                    raise ConnectionError(
                        "the module's TCP port closed the connection"
                        if self._sock is not None
                        else "the module's port reached end of file"
                    )
            if self._fd is not None:  # (a socket hands out all it has in one recv)
                n = read_burst(self._fd, view, n)
            self._drained = n < len(view)
            if gather is not None:
                gather.took(n)
            return bytes(self._view[:n])
        # (VTIMESerial counts its timeout in whole tenths of a second: less never waits)
        limit = max(limit, PORT_MIN_WAIT)
        if self.port.timeout != limit:
            self.port.timeout = limit
        return bytes(self.port.read(self.port.in_waiting or 1))


class WriteStalled(Exception):
    """A write's deadline passed with the port full: ``written`` bytes went out."""

    def __init__(self, written: int) -> None:
        super().__init__(f"the port took {written} bytes, then no more before the deadline")
        self.written = written


class PortWriter:
    """``write(data)`` writes all of ``data`` as pyserial's does (honouring the port's
    ``write_timeout``), from a view for POSIX serial ports and ptys; other ports (sockets,
    URL handlers) are written with their own ``write``. :meth:`close` before the port."""

    def __init__(self, port: Any) -> None:
        self.port = port
        posix = getattr(serial, "serialposix", None)  # absent on Windows
        self._fd: int | None = port.fd if posix and isinstance(port, posix.Serial) else None
        #: a ``socket://`` port's (non-blocking) socket, written directly when a deadline
        #: applies (pyserial's own write waits for as long as its write_timeout says)
        self._sock = plain_socket(port)
        #: the device opened again without O_NONBLOCK (None: not yet; -1: cannot be)
        self._blocking_fd: int | None = None

    def waits_in_kernel(self) -> bool:
        """A write now goes through the blocking descriptor: the kernel waits for room,
        the writing thread does not wake until all of it is written."""
        return (
            self._fd is not None
            and self.port.is_open
            and self.port.write_timeout is None
            and self._blocking() >= 0
        )

    def write(self, data: bytes | memoryview, deadline: float = math.inf) -> None:
        """Writes all of ``data``; with a ``deadline`` (monotonic) raises
        :class:`WriteStalled` once it passes with bytes left (ports without a descriptor
        or socket of their own, such as ``rfc2217://``, cannot be bounded)."""
        fd = self._fd
        if fd is not None and self.port.is_open:
            if deadline == math.inf and self.waits_in_kernel():
                self._write_blocking(memoryview(data).cast("B"))
                return
            self._write_polled(data, deadline, fd, None)
        elif self._sock is not None and self.port.is_open and deadline != math.inf:
            self._write_polled(data, deadline, None, self._sock)
        else:
            self.port.write(data)

    def wait_sent(self, deadline: float) -> float:
        """Until a ``socket://`` port's kernel output queue is empty (:func:`output_queued`),
        polled, or ``deadline`` (monotonic) passes; returns
        when it was seen empty (0.0: not a socket, or it never was). The module counts
        its ``+++`` guard silence from the arrival of the last byte, and a socket can
        hold megabytes that have not arrived. Other ports return at once (a serial
        port's ``flush()`` waits for its UART)."""
        if self._sock is None:
            return 0.0
        while (now := time.monotonic()) < deadline:
            queued = output_queued(self._sock.fileno())
            if queued is None:
                return 0.0  # (closed, or no such queue to ask about)
            if queued <= 0:
                return now
            time.sleep(SENT_POLL)
        return 0.0

    def _write_blocking(self, view: memoryview) -> None:
        blocking = self._blocking()
        while view:  # a signal can end a blocking write early
            if self._blocking_fd != blocking:  # closed meanwhile: its number is free
                raise serial.PortNotOpenError()
            view = view[os.write(blocking, view) :]

    def _write_polled(
        self, data: bytes | memoryview, deadline: float, fd: int | None, sock: Any
    ) -> None:
        """Writes through a non-blocking descriptor (or socket), waiting for room in
        ``select`` until ``deadline`` or the port's ``write_timeout``, whichever is first."""
        view = memoryview(data).cast("B")
        total = len(view)
        limit = self.port.write_timeout
        port_deadline = math.inf if limit is None else time.monotonic() + limit
        target = fd if fd is not None else sock
        while view:
            try:
                sent = os.write(fd, view) if fd is not None else sock.send(view)
                view = view[sent:]
                continue
            except (BlockingIOError, InterruptedError):
                pass
            now = time.monotonic()
            if now >= deadline:
                raise WriteStalled(total - len(view))
            if now >= port_deadline:
                raise serial.SerialTimeoutException("Write timeout")
            wait = min(deadline, port_deadline) - now
            select.select([], [target], [], None if wait == math.inf else wait)

    def _blocking(self) -> int:
        """The blocking descriptor, opened on first use; -1 where the device cannot be
        opened twice (an exclusive port, a path that is gone): the port's own fd is used."""
        if self._blocking_fd is None:
            try:
                self._blocking_fd = os.open(self.port.port, os.O_WRONLY | os.O_NOCTTY)
            except (OSError, TypeError, ValueError):
                self._blocking_fd = -1
        return self._blocking_fd

    def close(self) -> None:
        """Closes the blocking descriptor (idempotent); the port is the caller's."""
        fd, self._blocking_fd = self._blocking_fd, -1
        if fd is not None and fd >= 0:
            os.close(fd)


def uart_rate(port: Any) -> float | None:
    """Bytes/s the line of a real serial port carries (baud / 10, for 8N1); None for any
    other port: a pty's baud rate means nothing, a URL handler's is not a line's."""
    if not isinstance(port, serial.Serial):
        return None
    try:
        fd = port.fileno()
        mode = os.fstat(fd)
        name = os.ttyname(fd)
    except (OSError, AttributeError, ValueError, serial.SerialException):
        return None
    if not stat.S_ISCHR(mode.st_mode) or is_pseudo_terminal(mode.st_rdev, name, sys.platform):
        return None
    return float(port.baudrate) / 10


def is_pseudo_terminal(device: int, name: str, platform: str) -> bool:
    """Whether the character device ``device`` (``st_rdev``), named ``name``, is a
    pty's slave end (on Linux by its major number, elsewhere by its name)."""
    if platform.startswith("linux"):
        return os.major(device) in PTY_MAJORS
    return name.startswith(PTY_NAMES)


def plain_socket(port: Any) -> socket.socket | None:
    """The TCP socket of a ``socket://`` port, whose bytes are the port's bytes; None for
    any other port (an ``rfc2217://`` port's socket carries telnet, which pyserial's own
    thread reads and decodes)."""
    sock = getattr(port, "_socket", None)
    if isinstance(port, protocol_socket.Serial) and isinstance(sock, socket.socket):
        return sock
    return None


def close_port(port: Any) -> None:
    """Closes a pyserial port; a ``socket://`` one at once (pyserial's own close() sleeps
    0.3 s "for quick reconnects")."""
    sock = plain_socket(port)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        port._socket = None
        port.is_open = False
    port.close()
