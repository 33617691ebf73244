"""A bounded, thread-safe queue for the module's events (parsed by :mod:`atsock.protocol.urcs`)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TypeVar

from atsock.errors import Timeout
from atsock.types import Event

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
