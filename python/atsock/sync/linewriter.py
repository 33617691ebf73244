"""Writing to the module's port as its line carries it.

Paced to a known link rate (at most :data:`LINE_QUEUE` seconds ahead of the line), and
bounded by a deadline where one is given: a module that stops reading its UART raises
:class:`~atsock.sync.portio.WriteStalled`, and what it did not take is kept as owed. The
module waits for those bytes (it is in the middle of a command line or a payload), so
they go out first, before anything else is written.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

import serial

from atsock.errors import ATError
from atsock.sync.portio import PortWriter, WriteStalled

log = logging.getLogger("atsock.sync.link")

#: With a known link rate, how far ahead of the line (seconds) writes may run; with a
#: ``write_timeout`` they go out in steps of this much data (the timeout must allow about
#: twice it), without one in a single write the kernel waits for.
LINE_QUEUE = 0.05

#: Longest :meth:`LineWriter.drain` waits for a socket's output queue without a deadline
#: (seconds): a module behind a TCP port that stopped reading must not hang it.
SOCKET_DRAIN = 10.0

#: What pyserial's ``flush()`` raises on a port that is gone (a POSIX one: termios.error).
FLUSH_ERRORS: tuple[type[Exception], ...] = (OSError, serial.SerialException, AttributeError)
try:
    import termios

    FLUSH_ERRORS += (termios.error,)
except ImportError:  # Windows
    pass


class LineWriter:
    """Everything written to the module goes through here, one writer at a time
    (:attr:`lock`, which a late payload holds across its write)."""

    def __init__(self, port: Any, link_rate: float | None) -> None:
        self.port = port
        #: bytes/s of the link where the port cannot say (None: not paced)
        self.link_rate = link_rate
        self.lock = threading.Lock()
        self._writer = PortWriter(port)
        #: the rest of a write the module stopped taking (its deadline passed)
        self._owed = b""
        #: when the line is done with what was written (monotonic; paced writes)
        self._line_free = 0.0

    def write(self, data: bytes, deadline: float = math.inf) -> None:
        """Writes ``data`` after anything owed; raises ``WriteStalled`` if the module
        stops taking bytes before ``deadline`` (the rest of ``data`` is owed then)."""
        with self.lock:
            self._write_owed(deadline)
            try:
                self.write_held(data, deadline)
            except WriteStalled as stall:
                self._owed = bytes(memoryview(data)[stall.written :])
                raise

    def write_owed(self, deadline: float) -> int:
        """Writes what the module still waits for of a stalled write; returns how many
        bytes that was, raises ``WriteStalled`` if it stalls again."""
        with self.lock:
            owed = len(self._owed)
            self._write_owed(deadline)
            return owed

    def drop_owed(self) -> None:
        """The module rebooted: it waits for nothing."""
        self._owed = b""

    def _write_owed(self, deadline: float) -> None:
        tail = self._owed
        if not tail:
            return
        try:
            self.write_held(tail, deadline)
        except WriteStalled as stall:
            self._owed = tail[stall.written :]
            raise WriteStalled(0) from None
        self._owed = b""
        log.info("the module took the %d bytes it was owed of a stalled write", len(tail))

    def write_held(self, data: bytes | memoryview, deadline: float = math.inf) -> None:
        """Writes ``data`` (with :attr:`lock` held), paced by ``link_rate`` if set."""
        rate = self.link_rate
        if not rate or not data:
            self._write_port(data, deadline)
            return
        # Keep at most LINE_QUEUE seconds of data ahead of the line: the port then
        # always has room, and a writer that waits for room itself wakes about
        # 1/LINE_QUEUE times a second instead of once per gap in the kernel buffer.
        # Where the kernel waits (the port writer's blocking descriptor) it all goes in
        # one write, at once: the thread sleeps in the kernel until the last byte is
        # taken (a sleep before it would only be one more wake-up).
        queue = int(rate * LINE_QUEUE)
        kernel_paces = self._writer.waits_in_kernel()
        step = len(data) if kernel_paces else max(1024, queue)
        view = memoryview(data)
        for start in range(0, len(view), step):
            piece = view[start : start + step]
            before = time.monotonic()
            ahead = self._line_free - before - LINE_QUEUE
            if ahead > 0 and not kernel_paces:
                time.sleep(ahead)
                before += ahead
            try:
                self._write_port(piece, deadline)
            except WriteStalled as stall:
                raise WriteStalled(start + stall.written) from None
            # the line carries the piece from when it is free; a write that waited for
            # room (or a stalled line) leaves at most LINE_QUEUE's worth in the kernel
            self._line_free = max(
                max(self._line_free, before) + len(piece) / rate,
                time.monotonic() + min(len(piece), queue) / rate,
            )

    def _write_port(self, data: bytes | memoryview, deadline: float = math.inf) -> None:
        try:
            self._writer.write(data, deadline)
        except (OSError, serial.SerialException) as exc:
            raise ATError(f"cannot write to the module's port: {exc}") from exc

    def drain(self, deadline: float = math.inf) -> float:
        """Waits until written bytes have left the host (or, on a pty, are estimated to);
        returns when the last of them reached the module, as far as the host can tell.
        A ``socket://`` port's queue is waited for until ``deadline`` at most (monotonic;
        :data:`SOCKET_DRAIN` from now if none)."""
        try:
            self.port.flush()
        except FLUSH_ERRORS:
            pass
        sent = self._writer.wait_sent(min(deadline, time.monotonic() + SOCKET_DRAIN))
        remaining = self._line_free - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)
        return max(self._line_free, sent)

    def close(self) -> None:
        self._writer.close()
