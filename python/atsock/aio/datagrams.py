"""UDP for asyncio over module connections: ``create_datagram_endpoint``, as the loop's
own, with a module UDP client (``remote_addr``) or UDP server (``local_port``).

A :class:`ConIDDatagramTransport` is an :class:`asyncio.DatagramTransport` over one
ConID: each ``sendto()`` is one AT+SOCKETSEND (one datagram; at most the module's
packet, 1024 bytes, else the module would split it), sent in order by a task; a pump
task reads each datagram the module announces (AT+SOCKETREAD, one per call) and hands
it to ``datagram_received(data, addr)``. ``addr`` is the peer the module reports: a
client's remote; for a server, the peer it remembers (the first that spoke, the one it
replies to — the module does not say who sent a datagram), the same limit the threaded
``Socket.recvfrom`` documents. In active receive mode datagrams that came together may
arrive joined (the module's events keep each one). Closing deletes the ConID.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from atsock._core import DEFAULT_MAX_PACKET
from atsock.aio.conid import ConIDEnding, StreamModule
from atsock.errors import ATError, CommandError, SocketError
from atsock.types import SocketType

log = logging.getLogger(__name__)

Address = tuple[str, int]


class ConIDDatagramTransport(ConIDEnding, asyncio.DatagramTransport):
    """An asyncio datagram transport over one UDP ConID of a module."""

    def __init__(
        self,
        module: StreamModule,
        con_id: int,
        protocol: asyncio.DatagramProtocol,
        peer: Address | None,
        local_port: int = 0,
    ) -> None:
        super().__init__({"peername": peer, "sockname": ("0.0.0.0", local_port)})
        self._begin(module, con_id, protocol)
        self._datagrams = protocol  # (the same, typed for its datagram methods)
        #: the module's peer: given (a client), or asked once a datagram came (a server)
        self._peer = peer
        self._pump = self._link.loop.create_task(self._pump_loop())
        protocol.connection_made(self)

    def __repr__(self) -> str:
        return f"<ConIDDatagramTransport ConID={self.con_id}{' closing' if self._closing else ''}>"

    # ---- sending ----------------------------------------------------------------------------

    def sendto(self, data: bytes | bytearray | memoryview, addr: Any = None) -> None:
        """Queues one datagram to the module's peer (``addr``, if given, must be it)."""
        if self._closing:
            raise ATError(f"ConID {self.con_id}: the transport is closing")
        if len(data) > DEFAULT_MAX_PACKET:
            raise ValueError(
                f"a datagram of {len(data)} bytes: the module's UDP sockets carry at most "
                f"{DEFAULT_MAX_PACKET} (a larger one would leave as several)"
            )
        if addr is not None and self._peer is not None and tuple(addr)[:2] != self._peer:
            raise ATError(
                f"ConID {self.con_id}: the module sends this socket's datagrams only to "
                f"{self._peer[0]}:{self._peer[1]}, not to {addr[0]}:{addr[1]}"
            )
        self._queue.append(bytes(data))
        self._queued += len(data)
        if self._sender is None or self._sender.done():
            self._sender = self._link.loop.create_task(self._send_loop())

    def get_write_buffer_size(self) -> int:
        """Bytes of datagrams queued and not yet sent."""
        return self._queued

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """``peername`` is the module's peer (a server's: once one has spoken)."""
        if name == "peername":
            return self._peer if self._peer is not None else default
        return super().get_extra_info(name, default)

    async def _send_loop(self) -> None:
        while self._queue:
            datagram = self._queue.popleft()
            try:
                await self._module.send(self.con_id, datagram)
            except (ATError, OSError) as exc:
                self._queue.clear()
                self._queued = 0
                self._send_failed(exc)
            finally:
                self._queued = max(0, self._queued - len(datagram))

    def _send_failed(self, exc: Exception) -> None:
        """The module refused a datagram: ``error_received``, as a UDP socket's error."""
        error = SocketError.of(exc) if isinstance(exc, CommandError) else exc
        self._call(lambda: self._datagrams.error_received(error))

    # ---- receiving ---------------------------------------------------------------------------

    async def _pump_loop(self) -> None:
        link, conn, table = self._link, self._conn, self._link.protocol.conns
        try:
            while not self._closing:
                if conn.gone is not None:
                    raise conn.gone
                data = table.take_buffered(self.con_id, 65536)  # (active mode)
                if not data and conn.notified > 0:
                    data = await self._module.read(self.con_id)  # (one datagram)
                if data:
                    await self._deliver(data)
                    continue
                await link.changes.wait(link.loop, float("inf"))
                link.check_alive()
        except asyncio.CancelledError:
            raise
        except (ATError, OSError) as exc:
            if not self._closing:
                self._lose(exc)

    async def _deliver(self, data: bytes) -> None:
        if self._peer is None:  # a server: the peer the module remembers, asked once
            row = next((s for s in await self._module.sockets() if s.con_id == self.con_id), None)
            if row is not None and row.remote_port >= 0:
                self._peer = (row.remote_host, row.remote_port)
        peer = self._peer or ("", -1)
        self._call(lambda: self._datagrams.datagram_received(data, peer))


async def create_datagram_endpoint(
    module: StreamModule,
    protocol_factory: Callable[[], asyncio.DatagramProtocol],
    *,
    remote_addr: Address | None = None,
    local_port: int | None = None,
) -> tuple[ConIDDatagramTransport, asyncio.DatagramProtocol]:
    """A UDP client ConID to ``remote_addr`` or a UDP server ConID on ``local_port``
    (exactly one of them), as :meth:`atsock.aio.AsyncModule.create_datagram_endpoint`."""
    if (remote_addr is None) == (local_port is None):
        raise ValueError("give remote_addr (a UDP client) or local_port (a UDP server)")
    try:
        if remote_addr is not None:
            host, port = remote_addr[0], int(remote_addr[1])
            con_id = await module.open_socket(SocketType.UDP_CLIENT, host, port)
            peer: Address | None = (host, port)
        else:
            assert local_port is not None
            con_id = await module.open_socket(SocketType.UDP_SERVER, port=local_port)
            peer = None
    except CommandError as exc:
        raise SocketError.of(exc) from None
    protocol = protocol_factory()
    transport = ConIDDatagramTransport(module, con_id, protocol, peer, local_port or 0)
    return transport, protocol
