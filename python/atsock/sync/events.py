"""Where the module's events go (parsed by :mod:`atsock.protocol.urcs`): a bounded,
thread-safe queue, and callbacks run on a dispatcher thread of their own."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TypeVar

from atsock.errors import Timeout
from atsock.types import Event, ModuleRestarted

E = TypeVar("E", bound=Event)
EventCallback = Callable[[Event], None]

log = logging.getLogger(__name__)


class EventQueue:
    """A bounded, thread-safe queue of events: when full, the oldest is dropped and counted."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self._items: deque[Event] = deque()
        self._maxlen = maxlen
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, event: Event) -> None:
        """Adds ``event``; if the queue is full, the oldest is dropped (counted in ``dropped``)."""
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
        """The oldest event, or None if there is none (no waiting)."""
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
        """Drops every queued event (not counted in ``dropped``)."""
        with self._cond:
            self._items.clear()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


class EventRouter:
    """Hands each event to :attr:`queue` (``Module.events``) and to the callbacks."""

    def __init__(self, maxlen: int) -> None:
        self.queue = EventQueue(maxlen)
        self._callbacks: list[EventCallback] = []
        self._callback_queue: EventQueue | None = None
        self._closing = False

    def publish(self, event: Event) -> None:
        self.queue.put(event)
        if self._callback_queue is not None:
            self._callback_queue.put(event)

    def on_event(self, callback: EventCallback) -> None:
        """Calls ``callback(event)`` for every event, on a dispatcher thread of its own
        (so a callback may run module commands)."""
        self._callbacks.append(callback)
        if self._callback_queue is None:
            self._callback_queue = EventQueue()
            threading.Thread(target=self._run_callbacks, name="atsock-events", daemon=True).start()

    def close(self) -> None:
        """Ends the dispatcher thread (after the callback running now, if any)."""
        self._closing = True
        if self._callback_queue is not None:
            self._callback_queue.put(ModuleRestarted())  # wakes it; it sees _closing

    def _run_callbacks(self) -> None:
        assert self._callback_queue is not None
        while not self._closing:
            try:
                event = self._callback_queue.get(timeout=0.2)
            except TimeoutError:
                continue
            if self._closing:
                return
            for callback in list(self._callbacks):
                try:
                    callback(event)
                except Exception:
                    log.exception("event callback %r failed", callback)
