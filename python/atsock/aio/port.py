"""``AsyncPort``: a pyserial port read and written by the event loop, no thread.

A port with a descriptor (a tty, a pty, ``emu://``, a ``socket://`` port's socket) is
set non-blocking and watched with ``loop.add_reader``: each time it is readable, what
is there (up to :data:`~atsock.sync.portio.CHUNK`) goes to ``on_data`` at once.
Writes go out at once as far as the port takes them; the rest waits in a buffer that
``loop.add_writer`` empties, and :meth:`drain` waits (bounded) until it is empty. The
buffer holds at most what callers wrote and did not wait for: every writer here waits
for :meth:`drain` before it writes more, or, a stream's writer, for :meth:`room`
(at most :data:`WRITE_AHEAD` bytes still queued), so the next bytes are at hand when
the port takes more.

A stream both ways at once (transparent echo) is bound by how quickly each side of the
pty is refilled: a pty holds only 12 to 16 KiB in flight per direction, and a read brings
at most 4 KiB. One loop iteration per read and per write leaves the module's side idle
while the loop goes round, so a read that finds a stream (:data:`BURST_MIN` bytes or
more) moves both ways for up to :data:`PUMP_SLICE` — write what is queued, read what
came, again — while either makes progress, and hands everything read to ``on_data`` at
once. Reads go into one reusable buffer and are copied out at their size: a read into
a fresh ``CHUNK``-sized bytes object costs an ``mmap``/``mremap``/``munmap`` (about
14 µs here, twenty times the copy of a pty's 4 KiB).
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections.abc import Callable
from typing import Any

from atsock.errors import ATError
from atsock.sync.portio import (
    BURST_MIN,
    CHUNK,
    close_port,
    output_queued,
    plain_socket,
    read_now,
)

#: Longest a read that found a stream goes on moving both ways before the loop gets back
#: to its other work (seconds; a 1 ms timer stays on time).
PUMP_SLICE = 0.0002
#: Bytes a stream's writer may leave queued in the port when it hands over more.
WRITE_AHEAD = 64 * 1024
#: How often :meth:`AsyncPort.wait_sent` looks at the kernel's output queue (seconds).
SENT_POLL = 0.002


class PortStalled(Exception):
    """The port took no more bytes until the deadline; ``pending`` bytes still wait."""

    def __init__(self, pending: int) -> None:
        super().__init__(f"{pending} bytes not taken by the port")
        self.pending = pending


class AsyncPort:
    """Reads a port's bytes into ``on_data`` and writes without blocking the loop."""

    def __init__(
        self,
        port: Any,
        loop: asyncio.AbstractEventLoop,
        on_data: Callable[[bytes], None],
        on_failed: Callable[[BaseException], None],
    ) -> None:
        #: bytes/s of the line where the port cannot tell (:meth:`wait_sent` then also
        #: waits for the line's own clock: a pty in front of a paced emulator)
        self.line_rate: float | None = None
        self._line_free_at = 0.0
        self.port = port
        self._loop = loop
        self._on_data = on_data
        self._on_failed = on_failed
        self._sock = plain_socket(port)
        if self._sock is not None:
            self._fd = self._sock.fileno()
            self._sock.setblocking(False)
        else:
            try:
                self._fd = port.fileno()
            except (AttributeError, OSError, ValueError, TypeError):
                raise ATError(
                    f"atsock.aio needs a port with a file descriptor (a tty, a pty, emu://, "
                    f"socket://); {port.name!r} has none: use atsock.Module for it"
                ) from None
            os.set_blocking(self._fd, False)
        self._in = memoryview(bytearray(CHUNK))
        self._out = bytearray()
        self._flushed: asyncio.Event = asyncio.Event()
        self._flushed.set()
        self._room: asyncio.Event = asyncio.Event()
        self._room.set()
        self._closed = False
        self._reading = True
        #: loop time of the last write the port took (the module's silence counts from it)
        self.last_write = float("-inf")
        loop.add_reader(self._fd, self._readable)

    @property
    def pending(self) -> int:
        """Bytes written and not taken by the port yet."""
        return len(self._out)

    def _readable(self) -> None:
        view = self._in
        try:
            size = read_now(self._sock, self._fd, view)
        except OSError as exc:
            self._fail(exc)
            return
        if size is None:
            return
        if not size:
            self._fail(ATError("the module's port reached end of file (closed at the other end?)"))
            return
        failure = None
        if size >= BURST_MIN:
            size, failure = self._pump(view, size)
        self._on_data(bytes(view[:size]))
        if failure is not None and not self._closed:
            self._fail(failure)

    def _pump(self, view: memoryview, size: int) -> tuple[int, OSError | None]:
        """Writes what is queued and reads on into ``view[size:]``, in turn, while
        either moves bytes (for at most :data:`PUMP_SLICE`); returns the size read and
        the failure that stopped it, if any (the bytes read are delivered first; an end
        of file shows at the next read)."""
        deadline = time.monotonic() + PUMP_SLICE
        while size < len(view):
            wrote, failure = self._flush() if self._out else (False, None)
            if failure is not None:
                return size, failure
            try:
                more = read_now(self._sock, self._fd, view[size:]) or 0
            except OSError as exc:
                return size, exc
            size += more
            if not (more or wrote) or time.monotonic() >= deadline:
                break
        return size, None

    def _fail(self, exc: BaseException) -> None:
        self.detach()
        self._on_failed(exc)

    def _send(self, data: bytes | memoryview) -> int:
        if self._sock is not None:
            return self._sock.send(data)
        return os.write(self._fd, data)

    def write(self, data: bytes) -> None:
        """Writes ``data`` after what is buffered; what the port does not take now waits."""
        if self._closed:
            raise ATError("the module's port is closed")
        if not data:
            return
        if self.line_rate:  # (the line carries it at its rate, after what it carries now)
            self._line_free_at = (
                max(self._loop.time(), self._line_free_at) + len(data) / self.line_rate
            )
        if not self._out:
            try:
                sent = self._send(data)
                self.last_write = self._loop.time()
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                raise ATError(f"writing to the module's port failed: {exc}") from exc
            if sent == len(data):
                return
            data = data[sent:]
            self._loop.add_writer(self._fd, self._writable)
            self._flushed.clear()
        self._out += data
        if len(self._out) > WRITE_AHEAD:
            self._room.clear()

    def _writable(self) -> None:
        _, failure = self._flush()
        if failure is not None:
            self._fail(failure)

    def _flush(self) -> tuple[bool, OSError | None]:
        """Writes what the port takes of the queued bytes now: (whether it took any, the
        failure that dropped them all)."""
        try:
            sent = self._send(memoryview(self._out))
        except (BlockingIOError, InterruptedError):
            return False, None
        except OSError as exc:
            self._out.clear()
            self._loop.remove_writer(self._fd)
            self._flushed.set()
            self._room.set()
            return False, exc
        del self._out[:sent]
        self.last_write = self._loop.time()
        if len(self._out) <= WRITE_AHEAD:
            self._room.set()
            if not self._out:
                self._loop.remove_writer(self._fd)
                self._flushed.set()
        return sent > 0, None

    async def drain(self, deadline: float = math.inf) -> None:
        """Waits until the port took everything written; :class:`PortStalled` at the
        ``deadline`` (loop time) if it did not (the bytes stay queued)."""
        if self._flushed.is_set():
            return
        remaining = deadline - self._loop.time()
        try:
            if math.isinf(remaining):
                await self._flushed.wait()
            else:
                await asyncio.wait_for(self._flushed.wait(), max(0.0, remaining))
        except asyncio.TimeoutError:
            raise PortStalled(len(self._out)) from None

    async def room(self) -> None:
        """Until at most :data:`WRITE_AHEAD` written bytes wait for the port (at once
        after :meth:`detach`: the next write fails)."""
        await self._room.wait()

    async def wait_sent(self, deadline: float = math.inf) -> float:
        """Until the bytes written have left the host as well (the kernel's output queue
        of the tty or socket is empty; ``TIOCOUTQ``), polled; returns the loop time they
        had. The module counts its ``+++`` guard silence from its last byte's arrival,
        not from our write. With a :attr:`line_rate`, also until the line's own clock
        says the last byte went (a pty cannot tell)."""
        await self.drain(deadline)
        while not self._closed and self._loop.time() < deadline:
            queued = output_queued(self._fd)
            if queued is None or queued <= 0:
                break  # (None: no such queue to ask about, the write is as far as we can tell)
            await asyncio.sleep(SENT_POLL)
        line_left = min(self._line_free_at, deadline) - self._loop.time()
        if line_left > 0 and not self._closed:
            await asyncio.sleep(line_left)
        return self._loop.time()

    def pause_reading(self) -> None:
        """Stops reading the port (the reader is behind: the module and the peer wait)."""
        if self._reading and not self._closed:
            self._reading = False
            self._loop.remove_reader(self._fd)

    def resume_reading(self) -> None:
        if not self._reading and not self._closed:
            self._reading = True
            self._loop.add_reader(self._fd, self._readable)

    def detach(self) -> None:
        """Stops watching the port (queued bytes are dropped); the caller closes it."""
        if self._closed:
            return
        self._closed = True
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        self._out.clear()
        self._flushed.set()
        self._room.set()


def close_quietly(port: Any) -> None:
    """Closes a pyserial port (for a thread: ``emu://`` stops its emulator)."""
    try:
        close_port(port)
    except OSError:
        pass
