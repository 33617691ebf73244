"""``CommandPath``: one command at a time between host and module, each bounded by its
timeout.

A command waits its turn (first come first served, :mod:`atsock.sync.turns`), then for
what the protocol machine says an earlier command may still bring (a late reply, a late
``>`` that would take the next bytes as its payload, a module left streaming), writes its
line (and payload after the ``>``) with the link and waits for the reply the reader
thread hands over. Every decision is the protocol's; this file only waits and writes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from atsock._core import FramingError
from atsock.deadline import DEFAULT, Wait, budget_of, wait_time
from atsock.errors import ATError, Timeout
from atsock.protocol.commands import Command
from atsock.protocol.exchange import Pending, check_reply, command_name
from atsock.protocol.gate import Go, Hold, Refuse
from atsock.sync.link import Link
from atsock.sync.portio import WriteStalled
from atsock.sync.turns import Turns

#: Pause before re-sending a command the module refused with ``[Busy]Cmd running``.
BUSY_RETRY = 0.05

R = TypeVar("R")


class CommandPath:
    """Runs command lines on a :class:`~atsock.sync.link.Link`, callers in turn."""

    def __init__(self, link: Link, *, exit_delay: float) -> None:
        self._link = link
        self._cond = link.cond
        self._protocol = link.protocol
        self._x = link.protocol.exchange
        self._protocol.gate.exit_delay = exit_delay
        #: one command at a time, callers first come first served (see atsock.sync.turns)
        self._turns = Turns()

    def run(self, command: Command[R], timeout: Wait = DEFAULT) -> R:
        """Executes a typed command and returns its parsed reply."""
        reply = self.execute(
            command.line,
            payload=command.payload,
            secret=command.secret,
            secret_reply=command.secret_reply,
            secret_line=command.secret_line,
            timeout=timeout,
        )
        return command.parse(reply.frames)

    @property
    def exit_delay(self) -> float:
        """Quiet the firmware wants after leaving transparent mode (seconds)."""
        return self._protocol.gate.exit_delay

    def mark_transparent_exit(self) -> None:
        """The module left transparent mode: the next command waits out ``exit_delay``."""
        with self._cond:
            self._protocol.gate.stream_left(time.monotonic())

    def execute(
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
        """Sends one command line, waits for its final result and returns what came back.

        ``payload`` is written after the ``>`` prompt; ``until_prompt`` returns as soon as
        the prompt arrives (AT+SOCKETTT). ``[Busy]Cmd running`` is retried until the
        timeout. Raises :class:`CommandError` on ``ERROR``, :class:`Timeout`,
        :class:`ModuleReset`, or the framing error that garbled the reply.
        """
        if b"\r" in line or b"\n" in line:
            raise ValueError("a command line cannot contain CR or LF")
        budget = budget_of(timeout, self._link.timeout)
        deadline = time.monotonic() + budget
        with self._command_turn(line, deadline, budget):
            # checked under the lock: a command queued behind AT+SOCKETTT must not go out
            # once the module streams (its line would reach the peer as data)
            if not self._protocol.may_send(line):
                raise ATError("the module is in transparent mode: close the stream first")
            self._pay_owed(line, deadline, budget)
            self._await_gate(line, payload is not None or until_prompt, deadline, budget)
            if time.monotonic() >= deadline:  # a reply could not come in time: not sent
                raise Timeout(f"{command_name(line)}: not sent, its {budget:g} s ran out first")
            after_busy = False
            while True:
                wants_prompt = payload is not None or until_prompt
                pending = Pending(
                    line,
                    after_busy=after_busy,
                    wants_prompt=wants_prompt,
                    enters_stream=until_prompt,
                    opens_socket=line.startswith(b"AT+SOCKET="),
                )
                with self._cond:  # (the echo of a secret line repeats it)
                    data = self._protocol.send(pending, secret_rx=secret_reply or secret_line)
                payload_sent = False
                try:
                    self._write_in_time(data, secret_line, deadline, budget, line)
                    if payload is not None or until_prompt:
                        self._wait(pending, deadline, budget, lambda p: p.prompted)
                        if until_prompt and pending.prompted:
                            return pending  # (the protocol took the '>' as the stream's start)
                        if pending.prompted and payload is not None:
                            payload_sent = True  # all of it goes, if need be later (owed)
                            self._write_in_time(payload, secret, deadline, budget, line)
                    self._wait(pending, deadline, budget, lambda p: False)
                except Timeout as exc:
                    if payload is not None:
                        exc.sent = len(payload) if payload_sent else 0
                    with self._cond:  # one decision, with the reader thread held off
                        streaming = self._protocol.give_up(
                            pending,
                            payload=payload,
                            payload_sent=payload_sent,
                            secret=secret,
                            until_prompt=until_prompt,
                        )
                        late, late_secret = self._protocol.data_to_send()
                        if late:  # its '>' came as the wait gave up
                            self._link.line.lock.acquire()
                        self._cond.notify_all()
                    if late:
                        self._link.send_late_payload(late, late_secret)
                    if streaming:  # the module entered transparent mode as the wait gave up
                        return pending
                    self._timed_out()
                    raise
                finally:
                    with self._cond:
                        self._x.end(pending, secret_reply=secret_reply)
                if pending.busy and pending.final is None:
                    if time.monotonic() + BUSY_RETRY >= deadline:
                        raise Timeout(f"{pending.name}: module still busy after {budget:g} s")
                    time.sleep(BUSY_RETRY)
                    after_busy = True
                    continue
                with self._cond:
                    self._x.answered()
                return check_reply(pending)

    def _write_in_time(
        self, data: bytes, secret: bool, deadline: float, budget: float, line: bytes
    ) -> None:
        """Writes a command's line or payload; Timeout if the module stops taking bytes
        for the rest of the command's time (what it did not take goes out later)."""
        try:
            self._link.write(data, secret=secret, deadline=deadline)
        except WriteStalled as stall:
            raise Timeout(
                f"{command_name(line)}: the module stopped reading its port after "
                f"{stall.written} of {len(data)} bytes and took no more within {budget:g} s "
                "(its buffers are full: is the peer not reading?); the rest goes out "
                "before the next command"
            ) from None

    def _pay_owed(self, line: bytes, deadline: float, budget: float) -> None:
        """Before a command: the rest of a stalled write goes out (the module waits for
        it); the command it completes answers late."""
        try:
            if self._link.line.write_owed(deadline):
                with self._cond:
                    self._x.wrote_late()
        except WriteStalled:
            raise Timeout(
                f"{command_name(line)}: not sent, the module still has not taken the rest "
                f"of an earlier command within {budget:g} s (is the peer not reading?)"
            ) from None

    def _await_gate(self, line: bytes, takes_prompt: bool, deadline: float, budget: float) -> None:
        """Waits until the protocol lets ``line`` go out (see :mod:`atsock.protocol.gate`):
        an earlier command's late reply or prompt, the quiet after transparent mode; takes
        a module that streams by mistake back to command mode. Fails at the deadline."""
        while True:
            with self._cond:
                now = time.monotonic()
                gate = self._protocol.check_send(line, takes_prompt=takes_prompt, now=now)
                if isinstance(gate, Go):
                    return
                if isinstance(gate, Refuse):
                    raise ATError(f"{command_name(line)}: not sent, {gate.message}")
                if isinstance(gate, Hold):
                    if now >= deadline:
                        error = ATError if gate.refuse else Timeout
                        raise error(gate.message(line, budget))
                    self._cond.wait(wait_time(min(gate.until, deadline) - now))
                    continue
            self._leave_stray_transparent()

    def _leave_stray_transparent(self) -> None:
        """The module entered transparent mode after its AT+SOCKETTT timed out (the
        stream was never handed out): ``+++`` with the guard-time silence around it takes
        it back to command mode; the next command waits for its OK and the exit delay."""
        silence = self._protocol.exit_silence()
        self._link.drain()
        time.sleep(silence)
        self._link.write(b"+++")
        self._link.drain()
        time.sleep(silence)
        with self._cond:
            self._protocol.gate.stray_left(self._x, time.monotonic())

    @contextlib.contextmanager
    def _command_turn(self, line: bytes, deadline: float, budget: float) -> Iterator[None]:
        """Holds the module's turn (one command in flight), waiting for other threads'
        commands no longer than this command's own timeout."""
        if not self._turns.acquire(deadline):
            raise Timeout(
                f"{command_name(line)}: not sent, other commands held the module for all "
                f"of its {budget:g} s"
            )
        try:
            yield
        finally:
            self._turns.release()

    @contextlib.contextmanager
    def turn(self, timeout: Wait = DEFAULT) -> Iterator[None]:
        """Holds the module for several commands of this thread in a row (others wait
        their turn, first come first served): ``with module.turn(): ...``."""
        budget = budget_of(timeout, self._link.timeout)
        with self._command_turn(b"a turn", time.monotonic() + budget, budget):
            yield

    def _timed_out(self) -> None:
        """A command got no (complete) reply: the protocol decides what may still come."""
        with self._cond:
            actions = self._protocol.timeout(time.monotonic())
        for action in actions:
            self._link.carry_out(action)

    def _wait(
        self, pending: Pending, deadline: float, budget: float, done: Callable[[Pending], bool]
    ) -> None:
        link = self._link
        while True:
            with self._cond:
                if done(pending) or pending.final is not None or pending.busy:
                    return
                if pending.failure is not None and not isinstance(pending.failure, FramingError):
                    raise pending.failure
                link.check_alive()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Timeout(f"{pending.name}: no reply from the module within {budget:g} s")
                seen = link.reads
            link.wait_for_module(seen, remaining)  # (on a tty, reading the reply itself)
