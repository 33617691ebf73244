"""Bytes handed from the thread that read the port to whoever reads a stream, in order.

The reader thread fills it while nobody reads the stream; a thread reading the stream
reads the port itself and returns what it read directly, queueing here only what does
not fit its read or would overtake chunks already queued (see ``Link.pull``). A
stream at full speed can hand over a chunk (a pty gives at most 4 KiB) tens of
thousands of times a second. A ``threading.Condition`` costs a lock allocation per wait and
several lock round trips per chunk; :class:`Inbox` puts chunks on a
``queue.SimpleQueue`` (C, one lock hand-off when a reader waits) and keeps its bound
with a counter and an event that only changes when the inbox crosses its limit.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable


class Inbox:
    """A bounded FIFO of byte chunks: one producer thread, any number of readers.

    :meth:`put` waits while ``limit`` bytes or more are unread (the sender is slowed
    down, nothing is dropped); :meth:`take` returns what is there without waiting;
    :meth:`wait` blocks until there is something or :meth:`wake` is called.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._head = b""  # the unread rest of a chunk a reader took part of
        #: bytes queued and not yet taken (read it, do not set it)
        self.unread = 0
        self._count_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._room = threading.Event()
        self._room.set()

    def put(self, data: bytes, give_up: Callable[[], bool]) -> None:
        """Queues ``data``, then waits while the inbox is full, until ``give_up()``."""
        with self._count_lock:
            self.unread += len(data)
            full = self.unread >= self.limit
            if full:
                self._room.clear()
        self._queue.put(data)
        if full:
            while not self._room.is_set() and not give_up():
                self._room.wait(0.1)

    def wake(self) -> None:
        """Wakes a reader blocked in :meth:`wait` (something else changed)."""
        self._queue.put(None)

    def take(self, limit: int | None) -> bytes:
        """Up to ``limit`` bytes (all if None) of what is queued now; b"" if nothing."""
        if not self._head and self._queue.empty():
            return b""  # the common case of a reader that keeps up: no lock
        with self._read_lock:
            parts: list[bytes] = []
            taken = 0
            # only readers take chunks out, and they hold _read_lock: a queue that is not
            # empty here still is at get_nowait (no queue.Empty raised and caught per take)
            while limit is None or taken < limit:
                if self._head:
                    chunk, self._head = self._head, b""
                elif self._queue.empty():
                    break
                else:
                    item = self._queue.get_nowait()
                    if item is None:
                        continue
                    chunk = item
                if limit is not None and taken + len(chunk) > limit:
                    keep = limit - taken
                    chunk, self._head = chunk[:keep], chunk[keep:]
                parts.append(chunk)
                taken += len(chunk)
        if not taken:
            return b""
        with self._count_lock:
            self.unread -= taken
            if self.unread < self.limit and not self._room.is_set():
                self._room.set()
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def wait(self, timeout: float | None) -> bool:
        """Blocks until a chunk is queued or :meth:`wake` is called (True), or until
        ``timeout`` seconds passed (False). The chunk stays for :meth:`take`."""
        with self._read_lock:
            if self._head:
                return True
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                return False
            if item is not None:
                self._head = item
            return True
