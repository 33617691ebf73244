"""What a transport over one ConID (a stream's, datagrams') needs of a module, and how
it ends, the same for both: close sends what is queued, stops the pump, deletes the
ConID (unless the module already forgot it) and then tells the protocol; abort drops
what is queued first; a failure ends it at once. The protocol's callbacks are called
so that what they raise is logged, not lost in a task."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Protocol

from atsock.aio.link import AsyncLink
from atsock.deadline import Wait
from atsock.errors import ATError
from atsock.protocol.conns import Conn
from atsock.types import SocketInfo, SocketType

log = logging.getLogger("atsock.aio.streams")


class StreamModule(Protocol):
    """What the streams use of a module (:class:`atsock.aio.AsyncModule` is one)."""

    @property
    def link(self) -> AsyncLink: ...
    async def send(self, con_id: int, data: bytes, *, timeout: Wait = ...) -> None: ...
    async def read(self, con_id: int, *, timeout: Wait = ..., keep: bool = ...) -> bytes: ...
    async def delete(self, con_id: int, *, timeout: Wait = ...) -> None: ...
    async def sockets(self, *, timeout: Wait = ...) -> list[SocketInfo]: ...
    async def open_socket(
        self,
        type: SocketType | int,
        host: str | None = ...,
        port: int = ...,
        *,
        con_id: int = ...,
        keep_alive: int = ...,
        timeout: Wait = ...,
    ) -> int: ...


class ConIDEnding:
    """The closing half of a ConID transport: :meth:`_begin` sets up what it and the
    transport share; the transport then starts its :attr:`_pump`."""

    _pump: asyncio.Task[None]

    def _begin(self, module: StreamModule, con_id: int, protocol: asyncio.BaseProtocol) -> None:
        self._module = module
        self._link = module.link
        self.con_id = con_id
        self._conn: Conn = self._link.protocol.conns.ensure(con_id)
        self._protocol = protocol
        #: what was written and not sent yet, and its size
        self._queue: deque[bytes] = deque()
        self._queued = 0
        self._closing = False
        self._lost = False
        self._sender: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    def is_closing(self) -> bool:
        """Whether the transport is closing or closed."""
        return self._closing

    def close(self) -> None:
        """Sends what is queued, deletes the ConID, then tells the protocol."""
        if self._closing:
            return
        self._closing = True
        self._closer = self._module.link.loop.create_task(self._close())

    async def wait_closed(self) -> None:
        """Until :meth:`close` has deleted the ConID and told the protocol."""
        if self._closer is not None:
            await asyncio.shield(self._closer)

    def abort(self) -> None:
        """Drops what is queued, deletes the ConID, then tells the protocol."""
        self._queue.clear()
        self._queued = 0
        self.close()

    async def _close(self) -> None:
        if self._sender is not None:
            await asyncio.gather(self._sender, return_exceptions=True)
        if self._pump is not asyncio.current_task():
            self._pump.cancel()
        if self._conn.gone is None:
            try:
                await self._module.delete(self.con_id)
            except (ATError, OSError) as exc:
                log.debug("ConID %d: delete on close failed: %s", self.con_id, exc)
        self._lose(None)

    def _lose(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._closing = True
        current = asyncio.current_task()
        for task in (self._sender, self._pump):
            if task is not None and task is not current and not task.done():
                task.cancel()
        self._call(lambda: self._protocol.connection_lost(exc))

    def _call(self, fn: Callable[[], object]) -> None:
        try:
            fn()
        except Exception:
            log.exception("ConID %d: the protocol's callback failed", self.con_id)
