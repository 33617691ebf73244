"""asyncio streams over module connections: ``open_connection`` and ``start_server``.

A :class:`ConIDTransport` is an :class:`asyncio.Transport` whose bytes go through one
ConID: writes are queued and sent as AT+SOCKETSEND commands in order (the writer's
``drain()`` waits while more than :data:`WRITE_HIGH` bytes are queued), and a pump task
hands what the module receives (read with AT+SOCKETREAD when announced, or delivered
with the event in active mode) to the protocol. So :class:`asyncio.StreamReader` and
:class:`asyncio.StreamWriter`, and any asyncio protocol code, run over the module
unchanged. Closing sends what is queued, then deletes the ConID.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from atsock.aio.conid import ConIDEnding, StreamModule
from atsock.errors import ATError, CommandError, SocketError
from atsock.protocol.commands import SEND_CHUNK
from atsock.sync.sockets import BIND_FAILED, DYNAMIC_PORTS, SERVER_PORT_TRIES
from atsock.types import ReceiveMode, SocketType

log = logging.getLogger(__name__)

#: Queued bytes above which a writer's ``drain()`` waits, and below which it goes on.
WRITE_HIGH = 4 * SEND_CHUNK
WRITE_LOW = SEND_CHUNK
#: Most bytes handed to the protocol at once from what is buffered.
READ_CHUNK = 64 * 1024

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class ConIDTransport(ConIDEnding, asyncio.Transport):
    """An asyncio transport over one ConID of a module."""

    def __init__(
        self,
        module: StreamModule,
        con_id: int,
        protocol: asyncio.BaseProtocol,
        peer: tuple[str, int],
        local_port: int = 0,
    ) -> None:
        super().__init__({"peername": peer, "sockname": ("0.0.0.0", local_port)})
        self._begin(module, con_id, protocol)
        self._write_paused = False
        self._reading = asyncio.Event()
        self._reading.set()
        self._pump = self._link.loop.create_task(self._pump_loop())
        protocol.connection_made(self)

    def __repr__(self) -> str:
        return f"<ConIDTransport ConID={self.con_id}{' closing' if self._closing else ''}>"

    # ---- writing ---------------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing:
            raise ATError(f"ConID {self.con_id}: the transport is closing")
        if not data:
            return
        self._queue.append(bytes(data))
        self._queued += len(data)
        if self._queued > WRITE_HIGH and not self._write_paused:
            self._write_paused = True
            self._call(self._protocol.pause_writing)
        if self._sender is None or self._sender.done():
            self._sender = self._link.loop.create_task(self._send_loop())

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def get_write_buffer_size(self) -> int:
        return self._queued

    def can_write_eof(self) -> bool:
        return False  # (the module has no half-close: closing deletes the ConID)

    async def _send_loop(self) -> None:
        while self._queue:
            parts: list[bytes] = []
            size = 0
            while self._queue and size < SEND_CHUNK:
                part = self._queue.popleft()
                parts.append(part)
                size += len(part)
            try:
                await self._module.send(self.con_id, b"".join(parts))
            except (ATError, OSError) as exc:
                self._queue.clear()
                self._queued = 0
                self._lose(SocketError.of(exc) if isinstance(exc, CommandError) else exc)
                return
            self._queued -= size
            if self._write_paused and self._queued <= WRITE_LOW:
                self._write_paused = False
                self._call(self._protocol.resume_writing)

    # ---- reading ---------------------------------------------------------------------------

    def pause_reading(self) -> None:
        self._reading.clear()

    def resume_reading(self) -> None:
        self._reading.set()

    def is_reading(self) -> bool:
        return self._reading.is_set()

    async def _pump_loop(self) -> None:
        """Hands what the module receives for the ConID to the protocol, in order."""
        link, conn = self._link, self._conn
        table = link.protocol.conns
        try:
            while True:
                await self._reading.wait()
                if conn.gone is not None:
                    raise conn.gone
                data = table.take_buffered(self.con_id, READ_CHUNK)
                if data:
                    self._deliver(data)
                    continue
                passive = table.receive_mode == ReceiveMode.PASSIVE
                # (read into the buffer, then taken from it: in order with what a switch
                # of the receive mode read or held back)
                announced = conn.notified > 0 or (passive and conn.peer_closed)
                if announced and await self._module.read(self.con_id, keep=True):
                    continue
                if conn.peer_closed and conn.notified <= 0 and not conn.buffer:
                    self._call(self._eof)
                    return
                await link.changes.wait(link.loop, float("inf"))
                link.check_alive()
        except asyncio.CancelledError:
            raise
        except (ATError, OSError) as exc:
            self._lose(exc)

    def _deliver(self, data: bytes) -> None:
        protocol = self._protocol
        if isinstance(protocol, asyncio.Protocol):
            protocol.data_received(data)

    def _eof(self) -> None:
        protocol = self._protocol
        keep_open = protocol.eof_received() if isinstance(protocol, asyncio.Protocol) else None
        if not keep_open:
            self.close()


def stream_pair(
    module: StreamModule, con_id: int, peer: tuple[str, int], local_port: int = 0
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """An asyncio reader and writer over ``con_id``."""
    loop = module.link.loop
    reader = asyncio.StreamReader(limit=2**16, loop=loop)
    protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
    transport = ConIDTransport(module, con_id, protocol, peer, local_port)
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    return reader, writer


async def open_connection(
    module: StreamModule, host: str, port: int, *, tls: bool = False, udp: bool = False
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connects through the module; the module's errors as the stdlib's
    (``ConnectionRefusedError``, ``socket.gaierror`` ...: :class:`~atsock.SocketError`)."""
    kind = SocketType.TCP_CLIENT
    if udp or tls:
        kind = SocketType.UDP_CLIENT if udp else SocketType.SSL_CLIENT
    try:
        con_id = await module.open_socket(kind, host, port)
    except CommandError as exc:
        raise SocketError.of(exc) from None
    return stream_pair(module, con_id, (host, port))


class ModuleServer:
    """A listening socket on the module; each client runs ``handle(reader, writer)``."""

    def __init__(
        self, module: StreamModule, con_id: int, port: int, handle: Handler, *, tls: bool
    ) -> None:
        self._module = module
        self.con_id = con_id
        self._seed_type = SocketType.SSL_SEED if tls else SocketType.TCP_SEED
        #: the port the module listens on
        self.port = port
        self._handle = handle
        self._conn = module.link.protocol.conns.ensure(con_id)
        self._clients: set[asyncio.Task[None]] = set()
        self._closed = asyncio.Event()
        self._accepting = module.link.loop.create_task(self._accept_loop())

    def __repr__(self) -> str:
        return f"<atsock.aio.ModuleServer ConID={self.con_id} port={self.port}>"

    async def __aenter__(self) -> ModuleServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()

    async def _accept_loop(self) -> None:
        link, conn = self._module.link, self._conn
        try:
            while conn.gone is None:
                if not conn.seeds:
                    await link.changes.wait(link.loop, float("inf"))
                    link.check_alive()
                    continue
                seed = conn.seeds.popleft()
                link.protocol.conns.ensure(seed).type = self._seed_type
                rows = await self._module.sockets()
                row = next((r for r in rows if r.con_id == seed), None)
                peer = (row.remote_host, row.remote_port) if row is not None else ("", 0)
                reader, writer = stream_pair(self._module, seed, peer, self.port)
                task = link.loop.create_task(self._serve(reader, writer))
                self._clients.add(task)
                task.add_done_callback(self._clients.discard)
        except ATError as exc:
            log.debug("server ConID %d stops accepting: %s", self.con_id, exc)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._handle(reader, writer)
        except Exception:
            log.exception("server ConID %d: a client handler failed", self.con_id)
        finally:
            writer.close()

    def close(self) -> None:
        """Stops accepting and deletes the server's ConID (clients being served go on)."""
        if self._accepting.done() and self._closed.is_set():
            return
        self._accepting.cancel()
        self._module.link.loop.create_task(self._delete())

    async def _delete(self) -> None:
        try:
            if self._conn.gone is None:
                await self._module.delete(self.con_id)
        except ATError as exc:
            log.debug("server ConID %d: delete failed: %s", self.con_id, exc)
        finally:
            self._closed.set()

    async def wait_closed(self) -> None:
        """Until the server's ConID is deleted and every client handler returned."""
        await self._closed.wait()
        if self._clients:
            await asyncio.gather(*self._clients, return_exceptions=True)


async def start_server(
    module: StreamModule, handle: Handler, port: int = 0, *, tls: bool = False
) -> ModuleServer:
    """Listens on the module (port 0: a free one from the dynamic range)."""
    kind = SocketType.SSL_SERVER if tls else SocketType.TCP_SERVER
    candidates = [port] if port else random.sample(DYNAMIC_PORTS, SERVER_PORT_TRIES)
    for candidate in candidates:
        try:
            con_id = await module.open_socket(kind, port=candidate)
        except CommandError as exc:
            if port or exc.code != BIND_FAILED:
                raise SocketError.of(exc) from None
            continue  # taken: the next
        return ModuleServer(module, con_id, candidate, handle, tls=tls)
    raise ATError(
        f"no free port for a server: the module could bind none of {SERVER_PORT_TRIES} "
        f"tried from {DYNAMIC_PORTS.start}-{DYNAMIC_PORTS.stop - 1}"
    )
