"""The SOCKS5 proxy for asyncio: ``await m.serve_socks()``, the twin of the threaded
``Module.serve_socks``, on the loop (no thread). The wire format is the threaded
proxy's (:mod:`atsock.proxy.socks5`) and so are its rules: CONNECT to IPv4, IPv6 and
domain-name targets (the module resolves names) as module streams, UDP ASSOCIATE over
one module datagram endpoint per destination (fragments, datagrams over 1024 bytes
and strangers dropped and counted), no authentication or RFC 1929, module errors as
the SOCKS replies they mean, BIND "command not supported". The module stays in its
receive mode (passive by default: an AT+SOCKETREAD per packet); the threaded proxy's
active/passive switching is not done here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Generator
from typing import Any, Protocol, TypeVar, cast

from atsock._core import DEFAULT_MAX_PACKET
from atsock.errors import ATError
from atsock.proxy import socks5
from atsock.proxy.handshake import HANDSHAKE_TIMEOUT, Need, Step, negotiate
from atsock.proxy.socks5 import Address, HandshakeError
from atsock.proxy.stats import ProxyStats, Relayed

log = logging.getLogger("atsock.proxy")

T = TypeVar("T")

CHUNK = 64 * 1024


class SocksCarrier(Protocol):
    """What the proxy uses of an :class:`~atsock.aio.AsyncModule`."""

    async def open_connection(
        self, host: str, port: int, *, tls: bool = ..., udp: bool = ...
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]: ...

    async def create_datagram_endpoint(
        self,
        protocol_factory: Callable[[], asyncio.DatagramProtocol],
        *,
        remote_addr: tuple[str, int] | None = ...,
        local_port: int | None = ...,
    ) -> tuple[Any, asyncio.DatagramProtocol]: ...


class AsyncSocksProxy:
    """Serves SOCKS5 on ``address`` (loopback unless told otherwise; port 0: a free one,
    :attr:`address` says which) over ``module``; :attr:`stats` counts what moves. An
    async context manager; :meth:`aclose` ends every client and deletes its ConIDs."""

    def __init__(self, module: SocksCarrier, *, users: dict[str, str] | None = None) -> None:
        self.module = module
        self.users = users
        self.stats = ProxyStats()
        self.address: Address = ("", 0)
        self._server: asyncio.AbstractServer | None = None
        self._clients: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def start(self, address: Address = ("127.0.0.1", 0)) -> AsyncSocksProxy:
        """Starts listening on ``address``."""
        self._server = await asyncio.start_server(self._client, address[0], address[1])
        self.address = self._server.sockets[0].getsockname()[:2]
        return self

    async def __aenter__(self) -> AsyncSocksProxy:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<atsock.aio.AsyncSocksProxy on {self.address[0]}:{self.address[1]}>"

    async def aclose(self) -> None:
        """Stops listening, ends every client (their ConIDs deleted)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for writer in list(self._clients.values()):
            writer.transport.abort()  # (its reads end: the client's task winds down)
        await asyncio.gather(*self._clients, return_exceptions=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients[task] = writer
        peer = writer.get_extra_info("peername")[:2]
        try:
            request = await asyncio.wait_for(
                follow(negotiate(self.users), reader, writer), HANDSHAKE_TIMEOUT
            )
            if request is not None:
                command, target = request
                if command == socks5.CONNECT:
                    await self._connect(reader, writer, peer, target)
                else:
                    await self._associate(reader, writer, peer, target)
        except (HandshakeError, OSError, ATError, asyncio.TimeoutError) as exc:
            log.info("SOCKS client %s:%d: %s", peer[0], peer[1], exc or "handshake timed out")
        finally:
            self._clients.pop(task, None)
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()

    # ---- CONNECT -------------------------------------------------------------------------

    async def _connect(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: Address,
        target: Address,
    ) -> None:
        try:
            up_reader, up_writer = await self.module.open_connection(*target)
        except (ATError, OSError, ValueError) as exc:
            log.info("cannot connect to %s:%d: %s", *target, exc)
            code = socks5.reply_for(exc)
        else:
            code = socks5.SUCCEEDED
        writer.write(socks5.reply(code))
        if code != socks5.SUCCEEDED:
            return
        record = Relayed(peer, target)
        self.stats.opened(record)
        log.info("opened %s", record.describe())
        try:
            await _both_ways(reader, writer, up_reader, up_writer, record)
        finally:
            up_writer.close()
            self.stats.closed(record)
            log.info("closed %s", record.describe())

    # ---- UDP ASSOCIATE --------------------------------------------------------------------

    async def _associate(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: Address,
        hint: Address,
    ) -> None:
        loop = asyncio.get_running_loop()
        relay = _UdpRelay(self.module, (peer[0], hint[1]), Relayed(peer, self.address, udp=True))
        family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
        transport, _ = await loop.create_datagram_endpoint(
            lambda: relay, local_addr=(self.address[0], 0), family=family
        )
        try:
            writer.write(socks5.reply(socks5.SUCCEEDED, transport.get_extra_info("sockname")[:2]))
            self.stats.opened(relay.record)
            while await reader.read(4096):
                pass  # (the association lasts while its control connection does)
        finally:
            transport.close()
            await relay.close()
            self.stats.closed(relay.record)


class _UdpRelay(asyncio.DatagramProtocol):
    """The host side of one association: the client's datagrams go out, in order, through
    a module endpoint per destination; the module's come back with the client's header."""

    def __init__(self, module: SocksCarrier, client: Address, record: Relayed) -> None:
        self.module = module
        self.record = record
        self._client = socks5.UdpClient(*client)
        self._transport: asyncio.DatagramTransport | None = None
        self._endpoints: dict[bytes, Any] = {}
        self._outbox: asyncio.Queue[socks5.UdpDatagram] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)
        self._worker = asyncio.ensure_future(self._forward_all())

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        accepted = self._client.accepts((addr[0], addr[1]))
        parsed = socks5.parse_udp_datagram(data) if accepted else None
        if parsed is None or len(parsed.payload) > DEFAULT_MAX_PACKET:
            self.record.dropped += 1
            return
        self._outbox.put_nowait(parsed)

    async def _forward_all(self) -> None:
        while True:
            datagram = await self._outbox.get()
            endpoint = self._endpoints.get(datagram.header) or await self._open(datagram)
            if endpoint is None:
                self.record.dropped += 1
                continue
            endpoint.sendto(datagram.payload)
            self.record.up += len(datagram.payload)
            self.record.datagrams_up += 1

    async def _open(self, datagram: socks5.UdpDatagram) -> Any:
        """A module endpoint to the datagram's destination (None: the module refused)."""
        relay, header = self, datagram.header

        class FromModule(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                relay._back(header, data)

        try:
            endpoint, _ = await self.module.create_datagram_endpoint(
                FromModule, remote_addr=datagram.destination
            )
        except (ATError, OSError, ValueError) as exc:
            log.info("UDP to %s:%d: %s", *datagram.destination, exc)
            return None
        self._endpoints[header] = endpoint
        self.record.con_ids.append(endpoint.con_id)
        return endpoint

    def _back(self, header: bytes, data: bytes) -> None:
        if self._transport is not None and self._client.address is not None:
            self._transport.sendto(header + data, self._client.address)
            self.record.down += len(data)
            self.record.datagrams_down += 1

    async def close(self) -> None:
        """Ends the relay; every module endpoint it made is closed, its ConID deleted."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        for endpoint in self._endpoints.values():
            endpoint.close()
        await asyncio.gather(
            *(e.wait_closed() for e in self._endpoints.values()), return_exceptions=True
        )


async def follow(
    steps: Generator[Step, bytes, T], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> T:
    """Carries out a handshake's steps over the client's streams (a client that leaves
    mid-handshake is a :class:`HandshakeError`); what it returns."""
    try:
        step = next(steps)
        while True:
            if isinstance(step, Need):
                try:
                    data = await reader.readexactly(step.size)
                except asyncio.IncompleteReadError as exc:
                    raise HandshakeError(
                        f"the client left after {len(exc.partial)} of {step.size} bytes"
                    ) from None
                step = steps.send(data)
            else:
                writer.write(step.data)
                step = steps.send(b"")
    except StopIteration as done:
        result: T = done.value
        return result


async def _both_ways(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
    record: Relayed,
) -> None:
    """Client to module and module to client at once, until either side ends."""

    async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter, up: bool) -> None:
        while data := await source.read(CHUNK):
            sink.write(data)
            await sink.drain()
            if up:
                record.up += len(data)
            else:
                record.down += len(data)

    tasks = [
        asyncio.ensure_future(pipe(reader, up_writer, True)),
        asyncio.ensure_future(pipe(up_reader, writer, False)),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                log.debug("relay ended: %s", result)
