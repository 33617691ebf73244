"""``AsyncLink``: the protocol machine of one module, fed by the event loop.

The loop calls back when the port is readable; the bytes go straight into
:meth:`ModuleProtocol.receive_data <atsock.protocol.machine.ModuleProtocol.receive_data>`
with the loop's clock, and the actions it returns are carried out in that callback: a
late payload is written before anything else, events are queued, stream data goes to
the open stream, and every coroutine waiting for the module is woken
(:class:`Changes`). Nothing here decides anything about the protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
from collections import deque
from collections.abc import Callable
from typing import Any

import serial

from atsock.aio.port import AsyncPort
from atsock.deadline import as_budget
from atsock.errors import ATError, Timeout
from atsock.protocol.machine import (
    Action,
    FramingFailed,
    ModuleProtocol,
    Note,
    Publish,
    Rebooted,
    StreamData,
    StreamEnded,
    StreamStarted,
    WriteLatePayload,
)
from atsock.protocol.rules import GUARD_TIME
from atsock.types import Event, ModuleRestarted
from atsock.wiretrace import trace

log = logging.getLogger(__name__)


class Changes:
    """Wakes every coroutine waiting for the protocol's state to change.

    Each waiter has a future of its own (a cancelled waiter cancels nobody else's). The
    waiters with a deadline share one timer, set for the earliest deadline and moved only
    when a sooner one comes: a command's wait (its deadline seconds away, its reply due
    in microseconds) then schedules and cancels no timer of its own."""

    def __init__(self) -> None:
        self._waiters: list[tuple[asyncio.Future[None], float]] = []
        self._timer: asyncio.TimerHandle | None = None

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter, _ in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, loop: asyncio.AbstractEventLoop, until: float) -> None:
        """Until the next change, or the loop time ``until``, whichever comes first."""
        if until <= loop.time():
            return
        waiter: asyncio.Future[None] = loop.create_future()
        entry = (waiter, until)
        self._waiters.append(entry)
        timer = self._timer
        if not math.isinf(until) and (timer is None or until < timer.when()):
            if timer is not None:
                timer.cancel()
            self._timer = loop.call_at(until, self._expire, loop)
        try:
            await waiter
        finally:
            if not waiter.done() or entry in self._waiters:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(entry)

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        """The shared timer: wakes the waiters whose deadline it was set for (or an
        earlier one), then is set for the earliest deadline still waited for."""
        timer, self._timer = self._timer, None
        due = loop.time() if timer is None else timer.when()
        later: list[tuple[asyncio.Future[None], float]] = []
        for waiter, until in self._waiters:
            if until <= due:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                later.append((waiter, until))
        self._waiters = later
        finite = [until for _, until in later if not math.isinf(until)]
        if finite:
            self._timer = loop.call_at(min(finite), self._expire, loop)


class AsyncEvents:
    """A bounded queue of events: when full, the oldest is dropped and counted. Each
    event also goes to the callbacks given to :meth:`subscribe`."""

    def __init__(self, maxlen: int) -> None:
        self._items: deque[Event] = deque()
        self._maxlen = maxlen
        self._changed = Changes()
        self.dropped = 0
        self._callbacks: list[Callable[[Event], object]] = []
        self._tasks: set[asyncio.Task[object]] = set()

    def put(self, event: Event) -> None:
        """Queues ``event`` (dropping the oldest if full) and hands it to the callbacks."""
        if len(self._items) >= self._maxlen:
            self._items.popleft()
            self.dropped += 1
        self._items.append(event)
        self._changed.notify()
        if self._callbacks:
            loop = asyncio.get_running_loop()
            for callback in self._callbacks:
                loop.call_soon(self._call, callback, event)

    def subscribe(self, callback: Callable[[Event], object]) -> None:
        """Calls ``callback(event)`` for every event from now on, soon after it came, in
        order, on the loop; a coroutine function's calls each run as a task of their own
        (so a callback may await module commands). What a callback raises is logged."""
        self._callbacks.append(callback)

    def _call(self, callback: Callable[[Event], object], event: Event) -> None:
        try:
            result = callback(event)
        except Exception:
            log.exception("event callback %r failed on %r", callback, event)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("event callback failed", exc_info=task.exception())

    def get_nowait(self) -> Event | None:
        return self._items.popleft() if self._items else None

    async def get(self, timeout: float | None = None) -> Event:
        """The oldest event, waiting up to ``timeout`` seconds (None: forever)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + as_budget(timeout)
        while not self._items:
            if loop.time() >= deadline:
                raise Timeout(f"no module event within {timeout} s")
            await self._changed.wait(loop, deadline)
        return self._items.popleft()

    def __len__(self) -> int:
        return len(self._items)


class AsyncLink:
    """The port, the protocol machine and where its actions go, on one event loop."""

    def __init__(
        self,
        port: Any,
        loop: asyncio.AbstractEventLoop,
        *,
        timeout: float | None,
        guard_time: float | None,
        max_events: int,
    ) -> None:
        self.serial: serial.SerialBase = port
        self.loop = loop
        #: every command's default timeout (seconds); ``math.inf`` if given as None
        self.timeout = as_budget(timeout)
        self.guard_time = guard_time or getattr(port, "guard_time", None) or GUARD_TIME
        self.protocol = ModuleProtocol()
        self.protocol.guard_time = self.guard_time
        self.changes = Changes()
        self.events = AsyncEvents(max_events)
        self.framing_errors = 0
        self.ready_seen = asyncio.Event()
        self.boot_prompt = asyncio.Event()
        self.transparent_exited = asyncio.Event()
        #: set by a transparent stream: takes each chunk of stream data
        self.transparent_sink: Callable[[bytes], None] | None = None
        #: called when the port fails, so an open stream ends
        self.transparent_end: Callable[[], None] | None = None
        self._dead: BaseException | None = None
        self._closing = False
        flush_input = getattr(port, "reset_input_buffer", None)
        if flush_input is not None:
            try:
                flush_input()  # stale output (an old banner) is not ours
            except OSError:
                pass
        self.port = AsyncPort(port, loop, self._received, self._failed)

    # ---- what the module prints ------------------------------------------------------------

    def _received(self, data: bytes) -> None:
        x = self.protocol.exchange
        trace("RX", data, secret=x.secret_rx or x.secret_late)
        sink = self.transparent_sink
        if sink is not None and self.protocol.receive_stream(data, self.loop.time()):
            try:  # (a burst of the stream, the hot path: no events, no copy)
                sink(data)
            except Exception:
                log.exception("handing %d bytes to the transparent stream failed", len(data))
            self.changes.notify()
            return
        for action in self.protocol.receive_data(data, self.loop.time()):
            try:
                if type(action) is StreamData:
                    if self.transparent_sink is not None:
                        self.transparent_sink(action.payload)
                else:
                    self.carry_out(action)
            except Exception:
                log.exception("carrying out %r failed", action)
        self.changes.notify()

    def carry_out(self, action: Action) -> None:
        """What an action asks of the front-end (writes, events, waking the stream)."""
        if isinstance(action, Publish):
            self.events.put(action.event)
        elif isinstance(action, WriteLatePayload):
            log.warning("late prompt of a timed-out send: writing its payload now")
            self.write_owed()
        elif isinstance(action, Rebooted):
            if not action.expected:
                log.warning("module reset unexpectedly: every ConID is gone")
            self.events.put(ModuleRestarted())
            self.transparent_exited.set()
            self.ready_seen.set()
        elif isinstance(action, StreamStarted):
            self.boot_prompt.set()
        elif isinstance(action, StreamEnded):
            self.transparent_exited.set()
        elif isinstance(action, FramingFailed):
            self.framing_errors += 1
            log.warning("module output broke framing (resynchronised): %s", action.error)
        elif isinstance(action, Note):
            log.log(logging.WARNING if action.warning else logging.DEBUG, "%s", action.text)

    def _failed(self, exc: BaseException) -> None:
        if self._dead is None and not self._closing:
            log.error("reading the module's port failed: %s", exc)
            self._dead = exc
        self.transparent_exited.set()
        if self.transparent_end is not None:
            self.transparent_end()
        self.changes.notify()

    def check_alive(self) -> None:
        """Raises ATError if the port failed or the module was closed (for waiters)."""
        if self._dead is not None:
            raise ATError(f"the module's port failed: {self._dead}") from self._dead
        if self._closing:
            raise ATError("the module was closed")

    # ---- what the host sends ---------------------------------------------------------------

    def write(self, data: bytes, *, secret: bool = False) -> None:
        """Queues raw bytes for the module, after everything queued before."""
        self.check_alive()
        trace("TX", data, secret=secret)
        self.protocol.exchange.wrote(len(data))
        self.port.write(data)

    def write_owed(self) -> None:
        """Writes what the protocol owes the module (a late payload, padding) now."""
        data, secret = self.protocol.data_to_send()
        if data:
            trace("TX", data, secret=secret)
            self.port.write(data)

    async def drain(self, deadline: float = math.inf) -> None:
        """Until the port took everything written (PortStalled at the deadline)."""
        await self.port.drain(deadline)

    def close(self) -> None:
        """Stops reading; every waiter wakes and fails (the caller closes the port)."""
        if self._closing:
            return
        self._closing = True
        self.port.detach()
        self.protocol.conns.close()
        self.changes.notify()

    @property
    def closed(self) -> bool:
        return self._closing
