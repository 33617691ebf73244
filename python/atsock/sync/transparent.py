"""Transparent mode (AT+SOCKETTT) as a file-like stream, entered and left safely.

Entering checks that the module has exactly one eligible connection (with a clear
error otherwise), sends ``AT+SOCKETTT`` with the framer armed so the bytes after ``>``
are data even within the same read. Leaving waits for the guard-time silence, sends
``+++``, and waits for the module's ``\\r\\nOK\\r\\n``; the next command then waits the
firmware's post-exit delay.

Payload can never be taken for an escape: :class:`EscapeSafeWriter` never lets a
group of only ``+`` bytes reach three within the guard window after a silence — such
writes are split so the module's guard releases them as data (the core
:class:`~atsock.Guard` replays the writer's timing in the tests to prove it).
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from atsock._core import PatternWatch
from atsock.deadline import DEFAULT, Wait, budget_of, wait_time
from atsock.errors import ATError, CommandError, ModuleReset, Timeout, TransparentError
from atsock.protocol.escape import EscapeRule
from atsock.sync.command_path import CommandPath
from atsock.sync.gather import ReadGather
from atsock.sync.inbox import Inbox
from atsock.sync.link import Link
from atsock.types import AutoTransparentConfig

#: Data received and not yet read, above which the reader thread waits (backpressure).
INBOUND_MAX = 4 << 20
#: What a rebooting module prints (its banner ends in a line ``ready``): seen in the
#: stream, it makes an unconfirmed exit probe whether the module is in command mode.
READY_LINE = b"\nready\r\n"
#: Longest a reader waits on the port itself before it looks at the stream's state again.
PULL_WAIT = 0.05
#: Bound on the ``AT`` probe after an unconfirmed exit (seconds).
PROBE_TIMEOUT = 1.0


class EscapeSafeWriter:
    """Writes transparent-mode payload so that no part of it can look like ``+++``
    (the rule: :class:`~atsock.protocol.escape.EscapeRule`; this waits with sleeps)."""

    def __init__(self, write: Callable[[bytes], None], guard_time: float) -> None:
        self._write = write
        self._rule = EscapeRule(guard_time)

    @property
    def last_write(self) -> float:
        """When the last byte went out (or silence began counting): ``time.monotonic()`` s."""
        return self._rule.last_write

    def touch(self) -> None:
        """Counts silence from now (the module's guard starts counting when it enters)."""
        self._rule.touch(time.monotonic())

    def write(self, data: bytes) -> None:
        """Writes ``data``; only-``+`` data goes a byte at a time, spaced never to be an escape."""
        if not data:
            return
        if EscapeRule.is_plain(data):
            self._write(data)
            self._rule.wrote(time.monotonic())
            return
        for _ in range(len(data)):
            now = time.monotonic()
            while (when := self._rule.plus_at(now)) > now:
                time.sleep(when - now)
                now = time.monotonic()
            self._write(b"+")
            self._rule.wrote_plus(now)


class TransparentStream(io.RawIOBase):
    """Bytes to and from the peer while the module is in transparent mode."""

    def __init__(self, link: Link, commands: CommandPath, timeout: float | None) -> None:
        super().__init__()
        self._link = link
        self._commands = commands
        self._timeout = timeout
        self._inbox = Inbox(INBOUND_MAX)
        self._eof = False
        self._exiting = False
        self._writer = EscapeSafeWriter(link.write, link.guard_time)
        self._gather = ReadGather(link.stream_gather, link.line_rate)
        #: what the port reads are given: no gather where it never waits (a line of
        #: unknown rate, or gathering off), so a fast stream's reads skip its bookkeeping
        self._read_gather = self._gather if self._gather.window else None
        self.bytes_sent = 0
        self.bytes_received = 0
        #: the module is in transparent mode for this stream (closing must leave it);
        #: a stream whose entry failed must not send '+++' when it is collected
        self._entered = False
        #: the port closed or failed under the stream
        self._broken = False
        #: the stream carried a ``ready`` line: maybe the module rebooted (it cannot say
        #: so in transparent mode: its banner is just bytes of the stream)
        self.reset_suspected = False
        self._ready_watch = PatternWatch(READY_LINE)

    # ---- entering (see the session functions at the end of this file) -------------------

    def _attach(self, *, boot: bool = False) -> None:
        """Routes the module's stream data here and arms the framer, before the command
        (``boot``: the reset) whose reply the first data may share a read with."""
        link = self._link
        link.transparent_sink = self._inbound
        link.transparent_end = self._port_gone
        link.arm_transparent(boot=boot)

    def _detach(self) -> None:
        """Entering failed: the module is not streaming, its output is lines again."""
        link = self._link
        link.transparent_sink = None
        link.transparent_end = None
        link.leave_transparent()

    def _begin(self) -> None:
        """The module streams (the protocol sends no commands until the stream is closed)."""
        self._entered = True
        self._writer.touch()  # the module's guard counts silence from its entry

    # called by whichever thread read the port, with the port lock held
    def _inbound(self, data: bytes, room: int) -> bool:
        """Takes stream data in; False if the stream reader that pulled it is to return it
        itself: it has ``room`` for all of it, and nothing read earlier is queued (no
        hand-off through the inbox)."""
        if not self.reset_suspected and self._ready_watch.feed(data):
            self.reset_suspected = True
        self.bytes_received += len(data)
        if len(data) <= room and not self._inbox.unread:
            return False
        # backpressure: while the reader is behind, the module (and the peer) wait for us
        self._inbox.put(data, self._gave_up)
        return True

    def _gave_up(self) -> bool:
        """Stops waiting for room in the inbox: the stream ends, or the module is closing
        (the data is queued already; only the wait for a reader ends)."""
        return self._exiting or self._eof or self._broken or self._link.closed

    def _port_gone(self) -> None:
        self._broken = True
        self._ended()

    def _ended(self) -> None:
        """Wakes a blocked read: the stream is ending or over."""
        self._inbox.wake()
        self._gather.wake()

    def readable(self) -> bool:
        """Always True: the stream reads the peer's bytes."""
        return True

    def writable(self) -> bool:
        """Always True: the stream writes to the peer."""
        return True

    def write(self, data: Any) -> int:
        """Sends ``data`` to the peer (never as an escape); returns its length. ``ValueError``
        after transparent mode ended."""
        if self._eof or self._exiting:
            raise ValueError("transparent mode is over")
        payload = bytes(data)
        self._writer.write(payload)
        self._gather.wake()  # the peer may answer: its reply is read at once
        self.bytes_sent += len(payload)
        return len(payload)

    def read(self, size: int | None = -1, timeout: float | None = None) -> bytes:
        """Up to ``size`` bytes (all buffered if -1), waiting up to ``timeout`` seconds for
        the first; ``b""`` after transparent mode ended. Raises Timeout if nothing came."""
        wait = self._timeout if timeout is None else timeout
        deadline = None if wait is None else time.monotonic() + wait
        limit = None if size is None or size < 0 else size
        while True:
            data = self._inbox.take(limit)
            if data or limit == 0:
                return data
            if self._broken:
                raise ATError("the module's port closed or failed during transparent mode")
            if self._eof or self._exiting:
                return b""
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise Timeout(f"no data from the peer within {wait:g} s")
            if self._inbox.unread:
                self._inbox.wait(remaining)
                continue
            # read the port on this thread (no hand-off from the reader thread); in short
            # waits, so that a stream ended from another thread is noticed soon
            pulled = self._link.pull(
                PULL_WAIT if remaining is None else min(remaining, PULL_WAIT),
                sys.maxsize if limit is None else limit,
                self._read_gather,
            )
            if pulled is None:
                self._inbox.wait(remaining)
            elif pulled:
                return pulled

    def readinto(self, buffer: Any) -> int:
        """Reads into ``buffer`` as :meth:`read` does; returns the number of bytes read."""
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        """Leaves transparent mode (``+++`` with guard times); idempotent. Raises ATError
        if the port closed or failed under the stream (there is no module to leave)."""
        try:
            if not self.closed and self._entered and not self._eof:
                if self._broken:
                    self._release()
                    raise ATError("the module's port closed or failed during transparent mode")
                self._exit()
        finally:
            super().close()

    def _exit(self) -> None:
        link = self._link
        protocol = link.protocol
        self._exiting = True
        self._ended()
        link.end_pull()  # the exit's OK must not wait for a reader thread's nap
        budget = protocol.exit_budget(self._timeout or link.timeout)
        try:
            # the module counts silence from the last byte it received, not from our write
            line_empty = max(link.drain(time.monotonic() + budget), self._writer.last_write)
            quiet = protocol.exit_at(line_empty) - time.monotonic()
            if quiet > 0:
                time.sleep(quiet)
            link.write(link.begin_exit())
            link.drain()
            exited = link.transparent_exited.wait(wait_time(budget))
        finally:
            self._release()
        if not exited:
            if self.reset_suspected and self._in_command_mode():
                reason = ModuleReset(
                    "the module reset during transparent mode (its 'ready' came as stream "
                    "data and it answers commands): every ConID is gone"
                )
                link.module_was_reset(reason)
                raise reason
            raise TransparentError(
                f"the module did not confirm leaving transparent mode within {budget:g} s "
                "(no \\r\\nOK\\r\\n after +++)"
            )
        self._commands.mark_transparent_exit()

    def _release(self) -> None:
        """Whatever happened, the driver is no longer streaming: the module is let go."""
        link = self._link
        link.transparent_sink = None
        link.transparent_end = None
        link.leave_transparent()
        self._eof = True
        self._ended()

    def _in_command_mode(self) -> bool:
        """Probes with ``AT``: any final reply (``OK``, or ``ERROR`` for the ``+++`` the
        module took as the start of a line) means it is in command mode."""
        try:
            self._commands.execute(b"AT", timeout=min(PROBE_TIMEOUT, self._link.timeout))
        except (CommandError, ModuleReset):
            return True
        except ATError:
            return False
        return True


@contextlib.contextmanager
def transparent_session(
    link: Link, commands: CommandPath, line: bytes, *, timeout: Wait
) -> Iterator[TransparentStream]:
    """Sends ``line`` (AT+SOCKETTT), yields the stream, leaves with ``+++`` (see the
    module doc); the caller checked that the module has a connection to stream through."""
    stream = TransparentStream(link, commands, None if timeout is DEFAULT else timeout)
    link.transparent_exited.clear()
    stream._attach()
    try:
        commands.execute(line, until_prompt=True, timeout=timeout)
    except BaseException as exc:
        stream._detach()
        if isinstance(exc, CommandError):
            raise TransparentError(f"the module refused transparent mode: {exc}") from exc
        raise
    stream._begin()
    try:
        yield stream
    finally:
        stream.close()


@contextlib.contextmanager
def auto_transparent_session(
    link: Link,
    commands: CommandPath,
    config: AutoTransparentConfig,
    reset: Callable[[float], None],
    *,
    timeout: Wait,
) -> Iterator[TransparentStream]:
    """``reset(budget)`` (AT+RST) on a module with AT+SOCKETAUTOTT set (``config``): the
    module boots, connects, prints ``connect success``, ``OK`` and ``>`` and is in
    transparent mode; yields that stream."""
    budget = budget_of(timeout, link.timeout)
    stream = TransparentStream(link, commands, None if timeout is DEFAULT else timeout)
    link.boot_prompt.clear()
    stream._attach(boot=True)  # the boot's '>' may come in the same read as 'ready'
    try:
        reset(budget)
        if not link.boot_prompt.wait(wait_time(budget)):
            raise TransparentError(
                f"after the reset the module did not connect to {config.host}:{config.port} "
                f"and enter transparent mode within {budget:g} s"
            )
    except BaseException:
        stream._detach()
        raise
    link.transparent_exited.clear()  # 'ready' set it; the exit waits for the real OK
    stream._begin()
    try:
        yield stream
    finally:
        stream.close()
