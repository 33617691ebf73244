"""Fewer wake-ups for a transparent stream's reader while the peer streams.

A UART hands the host its data in bursts: a USB-serial adapter ends one every few
milliseconds (its latency timer, or a full USB packet), the paced emulator every 10 ms.
A reader that waits for data wakes once per burst, and at megabaud rates each wake-up
costs the reading thread more than the work on the data it brings (a scheduler round
trip, the GIL, cold caches). While the peer streams, the stream's reader therefore
waits a little before it reads the port again, so that one wake-up takes several
bursts: what a USB-serial adapter's latency timer does in hardware, and what
``VMIN``/``VTIME`` would do if a reader with a timeout could use them.

It gathers only on a line whose rate is known (a real serial port's baud rate, or
``link_rate``): a wait lets at most about :data:`GATHER_BYTES` pile up in the kernel,
far less than a serial port's tty buffer (64 KiB or more), so a real UART loses
nothing; a pty holds about as much, so a paced sender on one may at worst wait for
room. On a port of unknown speed (a pty, a TCP port) a wait could stall a fast sender,
so there is none.

The wait spares what a reader is likely waiting for:
- the first read after the host wrote to the stream (a reply may be on its way) does
  not wait, and a write from another thread ends a wait at once (a reply to the early
  bytes of a long write, or one that lands just after that first read, can still wait
  for up to the window);
- after a read of under :data:`GATHER_MIN` bytes (a reply, a message, the first data
  after a quiet spell) the next read does not wait either, nor after a read of
  :data:`GATHER_BYTES` or more (the line is faster than its rate said).
"""

from __future__ import annotations

import contextlib
import threading
import time

#: A read of at least this many bytes means the peer streams: the next read may wait.
GATHER_MIN = 1024
#: At most what a wait lets the line bring (a pty holds about 12 KiB, a serial port's
#: tty 64 KiB or more).
GATHER_BYTES = 12 * 1024
#: A shorter wait saves no wake-up (a timed wait is one itself): the reader reads at once.
GATHER_FLOOR = 0.001


class ReadGather:
    """The port reader calls :meth:`nap` before a stream reader's read and :meth:`took`
    after it; the stream calls :meth:`wake` whenever the host writes or the stream ends.

    ``limit`` is the longest wait (seconds; 0 turns gathering off), ``line_rate`` the
    line's bytes per second (None if unknown: no gathering)."""

    def __init__(self, limit: float, line_rate: float | None) -> None:
        #: how long a wait lasts: the limit, or less if the line brings GATHER_BYTES sooner
        self.window = min(limit, GATHER_BYTES / line_rate) if line_rate else 0.0
        #: unlocked while a wake is pending: a timed ``acquire`` is the cheapest wait
        #: another thread can end (one futex call, no Python frames)
        self._quiet = threading.Lock()
        self._quiet.acquire()
        #: bytes the last read took, and when it returned
        self._took = 0
        self._at = 0.0

    def wake(self) -> None:
        """The host wrote (a reply may follow) or the stream ends: no waiting now."""
        if self._quiet.locked():
            with contextlib.suppress(RuntimeError):  # (another thread woke it just now)
                self._quiet.release()

    def nap(self, timeout: float) -> float:
        """Waits, at most ``timeout`` seconds, while the peer streams and less than the
        window has passed since the last read; returns how long (0: read at once)."""
        quiet = self._quiet
        if GATHER_MIN <= self._took < GATHER_BYTES and quiet.locked():
            start = time.monotonic()
            wait = min(self.window - (start - self._at), timeout)
            if wait >= GATHER_FLOOR:
                quiet.acquire(timeout=wait)
                return time.monotonic() - start
        quiet.acquire(blocking=False)  # the read starts: a write from now on is news
        return 0.0

    def took(self, size: int) -> None:
        """The read returned ``size`` bytes."""
        self._took = size
        self._at = time.monotonic()
