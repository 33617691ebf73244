"""The module's unsolicited events: parsing ``+EVENT:`` frames and a bounded queue for them."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TypeVar

from atsock._core import Frame
from atsock.errors import Timeout
from atsock.types import (
    Event,
    OtherEvent,
    SocketAutoDeleted,
    SocketData,
    SocketDisconnected,
    SocketReconnected,
    SocketSeed,
    WifiEvent,
)


def _int(text: str) -> int | None:
    # ASCII digits only ("²".isdigit() is true), and no absurd sizes from a hostile module
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 12 else None


def parse_event(frame: Frame) -> Event:
    """The typed event of a ``+EVENT:`` frame (unknown or malformed ones as OtherEvent)."""
    name = frame.name or ""
    fields = frame.fields
    ints = [_int(f) for f in fields]
    first = ints[0] if ints else None
    if name == "SocketDown" and len(ints) >= 2 and first is not None and ints[1] is not None:
        return SocketData(first, ints[1], frame.payload)
    if name == "SocketSeed" and len(ints) >= 2 and first is not None and ints[1] is not None:
        return SocketSeed(first, ints[1])
    if name in ("SocketDisconnect", "SocketDissconnect") and first is not None:
        return SocketDisconnected(first)
    if name == "SocketReconnect" and first is not None:
        return SocketReconnected(first)
    if name == "SocketAutoDel" and first is not None:
        return SocketAutoDeleted(first)
    if name.startswith("WIFI_"):
        return WifiEvent(name)
    return OtherEvent(name, tuple(fields))


E = TypeVar("E", bound=Event)


class EventQueue:
    """A bounded, thread-safe queue of events: when full, the oldest is dropped and counted."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self._items: deque[Event] = deque()
        self._maxlen = maxlen
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, event: Event) -> None:
        with self._cond:
            if len(self._items) >= self._maxlen:
                self._items.popleft()
                self.dropped += 1
            self._items.append(event)
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> Event:
        """The oldest event, waiting up to ``timeout`` seconds (None: forever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._items:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise Timeout(f"no module event within {timeout} s")
                self._cond.wait(remaining)
            return self._items.popleft()

    def get_nowait(self) -> Event | None:
        with self._cond:
            return self._items.popleft() if self._items else None

    def wait_for(
        self,
        kind: type[E],
        timeout: float,
        predicate: Callable[[E], bool] | None = None,
    ) -> E:
        """The first event of ``kind`` (satisfying ``predicate``), dropping the others
        before it; :class:`~atsock.Timeout` if none comes within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self.get(max(0.0, deadline - time.monotonic()))
            except Timeout:
                raise Timeout(f"no {kind.__name__} event within {timeout:g} s") from None
            if isinstance(event, kind) and (predicate is None or predicate(event)):
                return event

    def clear(self) -> None:
        with self._cond:
            self._items.clear()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
