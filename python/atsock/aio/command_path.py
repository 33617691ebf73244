"""``AsyncCommandPath``: one command at a time on an :class:`AsyncLink`, as coroutines.

The same steps as the threaded :mod:`atsock.sync.command_path`, awaited: wait for the
turn (first come first served), ask the protocol's gate when the line may go out, write
it (and the payload after the ``>``), await the reply. A command that times out or is
cancelled (``asyncio.wait_for``, a task's ``cancel()``) gives up exactly as a threaded
one does: the protocol machine is told, so its late reply, prompt or payload is handled
by the same rules and the next command works.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from atsock._core import FramingError
from atsock.aio.link import AsyncLink
from atsock.aio.port import PortStalled
from atsock.deadline import DEFAULT, Wait, budget_of
from atsock.errors import ATError, Timeout
from atsock.protocol.commands import Command
from atsock.protocol.exchange import Pending, check_reply, command_name
from atsock.protocol.gate import Go, Hold, Refuse

#: Pause before re-sending a command the module refused with ``[Busy]Cmd running``.
BUSY_RETRY = 0.05

R = TypeVar("R")


class AsyncTurns:
    """One holder at a time, first come first served; re-entrant for the task holding it."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()  # (its waiters are woken in order)
        self._owner: asyncio.Task[object] | None = None
        self._depth = 0

    async def acquire(self, timeout: float) -> bool:
        task = asyncio.current_task()
        if self._owner is not None and self._owner is task:
            self._depth += 1
            return True
        if not self._lock.locked():
            await self._lock.acquire()  # (free: no wait, no timer)
        else:
            try:
                await asyncio.wait_for(self._lock.acquire(), timeout)
            except asyncio.TimeoutError:
                return False
        self._owner, self._depth = task, 1
        return True

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
            self._lock.release()


class AsyncCommandPath:
    """Runs command lines on an :class:`AsyncLink`, callers in turn."""

    def __init__(self, link: AsyncLink, *, exit_delay: float) -> None:
        self._link = link
        self._loop = link.loop
        self._protocol = link.protocol
        self._x = link.protocol.exchange
        self._protocol.gate.exit_delay = exit_delay
        self._turns = AsyncTurns()
        #: a command gave up with bytes still queued: when they go, its reply is late
        self._stalled = False

    async def run(self, command: Command[R], timeout: Wait = DEFAULT) -> R:
        """Executes a typed command and returns its parsed reply."""
        reply = await self.execute(
            command.line,
            payload=command.payload,
            secret=command.secret,
            secret_reply=command.secret_reply,
            secret_line=command.secret_line,
            timeout=timeout,
        )
        return command.parse(reply.frames)

    def mark_transparent_exit(self) -> None:
        """The module left transparent mode: the next command waits out ``exit_delay``."""
        self._protocol.gate.stream_left(self._loop.time())

    @contextlib.asynccontextmanager
    async def turn(self, timeout: Wait = DEFAULT) -> AsyncIterator[None]:
        """Holds the module for several commands of this task in a row."""
        budget = budget_of(timeout, self._link.timeout)
        if not await self._turns.acquire(budget):
            raise Timeout(f"a turn: other commands held the module for all of its {budget:g} s")
        try:
            yield
        finally:
            self._turns.release()

    async def execute(
        self,
        line: bytes,
        *,
        timeout: Wait = DEFAULT,
        payload: bytes | None = None,
        secret: bool = False,
        secret_reply: bool = False,
        secret_line: bool = False,
        until_prompt: bool = False,
    ) -> Pending:
        """Sends one command line and awaits its final result (see the threaded
        :meth:`CommandPath.execute <atsock.sync.command_path.CommandPath.execute>`)."""
        if b"\r" in line or b"\n" in line:
            raise ValueError("a command line cannot contain CR or LF")
        budget = budget_of(timeout, self._link.timeout)
        deadline = self._loop.time() + budget
        if not await self._turns.acquire(budget):
            raise Timeout(
                f"{command_name(line)}: not sent, other commands held the module for all "
                f"of its {budget:g} s"
            )
        try:
            if not self._protocol.may_send(line):
                raise ATError("the module is in transparent mode: close the stream first")
            if self._stalled:
                await self._pay_owed(line, deadline, budget)
            takes_prompt = payload is not None or until_prompt
            # (most commands may go at once: no coroutine for the wait at the gate)
            gate = self._protocol.check_send(line, takes_prompt=takes_prompt, now=self._loop.time())
            if not isinstance(gate, Go):
                await self._await_gate(line, takes_prompt, deadline, budget)
            if self._loop.time() >= deadline:
                raise Timeout(f"{command_name(line)}: not sent, its {budget:g} s ran out first")
            return await self._exchange(
                line, deadline, budget, payload, secret, secret_reply, secret_line, until_prompt
            )
        finally:
            self._turns.release()

    async def _exchange(
        self,
        line: bytes,
        deadline: float,
        budget: float,
        payload: bytes | None,
        secret: bool,
        secret_reply: bool,
        secret_line: bool,
        until_prompt: bool,
    ) -> Pending:
        after_busy = False
        while True:
            pending = Pending(
                line,
                after_busy=after_busy,
                wants_prompt=payload is not None or until_prompt,
                enters_stream=until_prompt,
                opens_socket=line.startswith(b"AT+SOCKET="),
            )
            data = self._protocol.send(pending, secret_rx=secret_reply or secret_line)
            payload_sent = False
            try:
                await self._write_in_time(data, secret_line, deadline, budget, line)
                if payload is not None or until_prompt:
                    await self._wait(pending, deadline, budget, lambda p: p.prompted)
                    if until_prompt and pending.prompted:
                        return pending  # (the protocol took the '>' as the stream's start)
                    if pending.prompted and payload is not None:
                        payload_sent = True  # all of it goes, if need be later
                        await self._write_in_time(payload, secret, deadline, budget, line)
                await self._wait(pending, deadline, budget, lambda p: False)
            except (Timeout, asyncio.CancelledError) as exc:
                if isinstance(exc, Timeout) and payload is not None:
                    exc.sent = len(payload) if payload_sent else 0
                streaming = self._protocol.give_up(
                    pending,
                    payload=payload,
                    payload_sent=payload_sent,
                    secret=secret,
                    until_prompt=until_prompt,
                    abandon=isinstance(exc, asyncio.CancelledError),
                )
                self._link.write_owed()  # its '>' came as the wait gave up
                if streaming:
                    return pending
                self._stalled = self._link.port.pending > 0
                for action in self._protocol.timeout(self._loop.time()):
                    self._link.carry_out(action)
                raise
            finally:
                self._x.end(pending, secret_reply=secret_reply)
                self._link.changes.notify()
            if pending.busy and pending.final is None:
                if self._loop.time() + BUSY_RETRY >= deadline:
                    raise Timeout(f"{pending.name}: module still busy after {budget:g} s")
                await asyncio.sleep(BUSY_RETRY)
                after_busy = True
                continue
            self._x.answered()
            return check_reply(pending)

    async def _write_in_time(
        self, data: bytes, secret: bool, deadline: float, budget: float, line: bytes
    ) -> None:
        """Writes a command's line or payload and waits until the port took it; Timeout
        if the module stops taking bytes (the rest stays queued and goes out later)."""
        self._link.write(data, secret=secret)
        if not self._link.port.pending:
            return  # the port took it all at once (the common case: nothing to await)
        try:
            await self._link.drain(deadline)
        except PortStalled as stall:
            raise Timeout(
                f"{command_name(line)}: the module stopped reading its port with "
                f"{stall.pending} bytes still to take and took no more within {budget:g} s "
                "(its buffers are full: is the peer not reading?); the rest goes out "
                "before the next command"
            ) from None

    async def _pay_owed(self, line: bytes, deadline: float, budget: float) -> None:
        """Before a command: what a command that gave up left queued goes out first (the
        module waits for it); the command it completes answers late. (Awaited only
        while ``_stalled``.)"""
        try:
            await self._link.drain(deadline)
        except PortStalled:
            raise Timeout(
                f"{command_name(line)}: not sent, the module still has not taken the rest "
                f"of an earlier command within {budget:g} s (is the peer not reading?)"
            ) from None
        self._stalled = False
        self._x.wrote_late()

    async def _await_gate(
        self, line: bytes, takes_prompt: bool, deadline: float, budget: float
    ) -> None:
        """Waits until the protocol lets ``line`` go out (see :mod:`atsock.protocol.gate`)."""
        while True:
            now = self._loop.time()
            gate = self._protocol.check_send(line, takes_prompt=takes_prompt, now=now)
            if isinstance(gate, Go):
                return
            if isinstance(gate, Refuse):
                raise ATError(f"{command_name(line)}: not sent, {gate.message}")
            if isinstance(gate, Hold):
                if now >= deadline:
                    error = ATError if gate.refuse else Timeout
                    raise error(gate.message(line, budget))
                await self._link.changes.wait(self._loop, min(gate.until, deadline))
                continue
            await self._leave_stray_transparent()

    async def _leave_stray_transparent(self) -> None:
        """``+++`` with the guard-time silence around it, to a module that entered
        transparent mode after its AT+SOCKETTT timed out."""
        silence = self._protocol.exit_silence()
        await self._link.drain()
        await asyncio.sleep(silence)
        self._link.write(b"+++")
        await self._link.drain()
        await asyncio.sleep(silence)
        self._protocol.gate.stray_left(self._x, self._loop.time())

    async def _wait(
        self, pending: Pending, deadline: float, budget: float, done: Callable[[Pending], bool]
    ) -> None:
        while not (done(pending) or pending.final is not None or pending.busy):
            if pending.failure is not None and not isinstance(pending.failure, FramingError):
                raise pending.failure
            self._link.check_alive()
            if self._loop.time() >= deadline:
                raise Timeout(f"{pending.name}: no reply from the module within {budget:g} s")
            await self._link.changes.wait(self._loop, deadline)
