"""Transparent mode for asyncio: an :class:`asyncio.StreamReader` and
:class:`asyncio.StreamWriter` to the peer, entered with AT+SOCKETTT (or a reset into
auto-transparent mode) and left with ``+++``.

The stream data the protocol machine hands back (the framer's bytes, one chunk per
read) is fed to the reader; when the reader's buffer is full it pauses the port, so
the module and the peer wait. The writer's bytes go out in order through a sender task
that keeps the escape rule (:class:`~atsock.protocol.escape.EscapeRule`): no payload can
be taken for ``+++``. Leaving waits for the writer, keeps the guard-time silence, sends
``+++`` and waits for the module's exit reply; then the reader sees end of stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from atsock.aio.command_path import AsyncCommandPath
from atsock.aio.link import AsyncLink
from atsock.deadline import DEFAULT, Wait, budget_of
from atsock.errors import ATError, CommandError, TransparentError
from atsock.protocol.escape import EscapeRule
from atsock.protocol.state import Mode
from atsock.types import AutoTransparentConfig

#: The reader's buffer limit: above twice this, the port is paused.
READ_LIMIT = 1 << 20
#: Queued writer bytes above which ``drain()`` waits.
WRITE_HIGH = 256 * 1024

StreamPair = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class TransparentTransport(asyncio.Transport):
    """The transport under a transparent stream's reader and writer."""

    def __init__(self, link: AsyncLink, protocol: asyncio.StreamReaderProtocol) -> None:
        super().__init__({"peername": None})
        self._link = link
        self._protocol = protocol
        self._rule = EscapeRule(link.guard_time)
        self._queue: deque[bytes] = deque()
        self._queued = 0
        self._paused = False
        self._closing = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._sender: asyncio.Task[None] | None = None
        self.bytes_sent = 0
        self.bytes_received = 0
        protocol.connection_made(self)

    def started(self) -> None:
        """The module streams: its guard counts silence from now."""
        self._rule.touch(self._link.loop.time())

    # ---- what the peer sends ---------------------------------------------------------------

    def received(self, data: bytes) -> None:
        self.bytes_received += len(data)
        self._protocol.data_received(data)

    def pause_reading(self) -> None:
        self._link.port.pause_reading()

    def resume_reading(self) -> None:
        self._link.port.resume_reading()

    # ---- what the host sends ---------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing:
            raise ValueError("transparent mode is over")
        if not data:
            return
        self._queue.append(bytes(data))
        self._queued += len(data)
        self.bytes_sent += len(data)
        self._idle.clear()
        if self._queued > WRITE_HIGH and not self._paused:
            self._paused = True
            self._protocol.pause_writing()
        if self._sender is None or self._sender.done():
            self._sender = self._link.loop.create_task(self._send_loop())

    def get_write_buffer_size(self) -> int:
        return self._queued

    def can_write_eof(self) -> bool:
        return False

    async def _send_loop(self) -> None:
        link, loop = self._link, self._link.loop
        plain_queued = False  # (plain data may still wait in the port)
        try:
            while self._queue or plain_queued:
                if not self._queue:  # all handed over: until the port took it all
                    await link.drain()
                    self._rule.wrote(loop.time())
                    plain_queued = False
                    continue
                data = self._queue.popleft()
                if EscapeRule.is_plain(data):
                    # the next plain bytes may queue behind these: the port then has
                    # them at hand when the line takes more
                    link.port.write(data)
                    plain_queued = True
                    await link.port.room()
                    self._rule.wrote(loop.time())
                else:
                    if plain_queued:  # a '+' times its silence from the data's end
                        await link.drain()
                        self._rule.wrote(loop.time())
                        plain_queued = False
                    for _ in range(len(data)):
                        while (when := self._rule.plus_at(loop.time())) > loop.time():
                            await asyncio.sleep(when - loop.time())
                        link.port.write(b"+")
                        self._rule.wrote_plus(loop.time())
                    await link.drain()
                self._queued -= len(data)
                if self._paused and self._queued <= WRITE_HIGH // 4:
                    self._paused = False
                    self._protocol.resume_writing()
        except ATError as exc:
            self._queue.clear()
            self._queued = 0
            self._protocol.connection_lost(exc)
        finally:
            if not self._queue:
                self._idle.set()

    async def flushed(self) -> float:
        """Until every written byte left the host; returns when (loop time)."""
        await self._idle.wait()
        return await self._link.port.wait_sent()

    # ---- the end ---------------------------------------------------------------------------

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """No more writes (leaving transparent mode is the session's)."""
        self._closing = True

    def ended(self, exc: Exception | None = None) -> None:
        """The stream is over: the reader sees its end (or ``exc``)."""
        self._closing = True
        self._protocol.connection_lost(exc)


def _open_pair(link: AsyncLink) -> tuple[StreamPair, TransparentTransport]:
    loop = link.loop
    reader = asyncio.StreamReader(limit=READ_LIMIT, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport = TransparentTransport(link, protocol)
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    return (reader, writer), transport


@contextlib.asynccontextmanager
async def _streaming(
    link: AsyncLink,
    commands: AsyncCommandPath,
    enter: Callable[[], Awaitable[Any]],
    *,
    boot: bool,
    timeout: Wait,
) -> AsyncIterator[StreamPair]:
    """Arms the framer, runs ``enter`` (until the module streams), yields the pair and
    leaves with ``+++``."""
    pair, transport = _open_pair(link)
    link.transparent_sink = transport.received
    link.transparent_end = lambda: transport.ended(ATError("the module's port failed"))
    link.protocol.arm_transparent(boot=boot)
    try:
        await enter()
    except BaseException:
        link.protocol.leave_transparent()
        link.transparent_sink = link.transparent_end = None
        raise
    link.transparent_exited.clear()
    transport.started()
    try:
        yield pair
    finally:
        try:
            await _leave(link, commands, transport, timeout)
        finally:
            link.transparent_sink = link.transparent_end = None
            link.port.resume_reading()


async def _leave(
    link: AsyncLink, commands: AsyncCommandPath, transport: TransparentTransport, timeout: Wait
) -> None:
    """``+++`` with the guard-time silence before it; waits for the exit reply."""
    loop, protocol = link.loop, link.protocol
    link.port.resume_reading()  # (the exit reply must be read)
    budget = protocol.exit_budget(budget_of(timeout, link.timeout))
    if protocol.mode is Mode.TRANSPARENT:
        last = await transport.flushed()
        quiet = protocol.exit_at(last) - loop.time()
        if quiet > 0:
            await asyncio.sleep(quiet)
        link.write(link.protocol.begin_exit())
        await link.drain()
    try:
        await asyncio.wait_for(link.transparent_exited.wait(), budget)
    except asyncio.TimeoutError:
        link.protocol.leave_transparent()
        transport.ended()
        raise TransparentError(
            f"the module did not confirm leaving transparent mode within {budget:g} s "
            "(no \\r\\nOK\\r\\n after +++)"
        ) from None
    link.protocol.leave_transparent()
    transport.ended()
    commands.mark_transparent_exit()


def transparent_session(
    link: AsyncLink, commands: AsyncCommandPath, line: bytes, *, timeout: Wait
) -> contextlib.AbstractAsyncContextManager[StreamPair]:
    """``line`` (AT+SOCKETTT) enters; the caller checked there is a connection for it."""

    async def enter() -> None:
        try:
            await commands.execute(line, until_prompt=True, timeout=timeout)
        except CommandError as exc:
            raise TransparentError(f"the module refused transparent mode: {exc}") from exc

    return _streaming(link, commands, enter, boot=False, timeout=timeout)


def auto_transparent_session(
    link: AsyncLink,
    commands: AsyncCommandPath,
    config: AutoTransparentConfig,
    reset: Callable[[float], Awaitable[None]],
    *,
    timeout: Wait = DEFAULT,
) -> contextlib.AbstractAsyncContextManager[StreamPair]:
    """``reset(budget)`` on a module with AT+SOCKETAUTOTT set: it boots into the stream."""
    budget = budget_of(timeout, link.timeout)

    async def enter() -> None:
        link.boot_prompt.clear()
        await reset(budget)
        try:
            await asyncio.wait_for(link.boot_prompt.wait(), budget)
        except asyncio.TimeoutError:
            raise TransparentError(
                f"after the reset the module did not connect to {config.host}:{config.port} "
                f"and enter transparent mode within {budget:g} s"
            ) from None

    return _streaming(link, commands, enter, boot=True, timeout=timeout)
