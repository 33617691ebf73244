"""The real sockets behind the emulated module's ConIDs, driven by the host's loop: bind
and connect as the firmware asks, send without ever blocking the loop, read what
peers send and accept their connections, and tell the firmware what happened (data,
a peer gone, a seed); TLS handshakes and connects run on the loop's workers.
"""

from __future__ import annotations

import functools
import logging
import socket
import ssl
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

from atsock.emulator.firmware.actions import (
    Action,
    Connect,
    Done,
    Failed,
    Listen,
    Resolve,
    Result,
    Send,
)
from atsock.emulator.firmware.core import Firmware
from atsock.emulator.firmware.errors import SEND, SOCKET_CREATE, CommandFailed
from atsock.emulator.firmware.sockets import PACKET, SocketEntry, Status
from atsock.emulator.netsock import HostSocket, connect, listen, server_tls_context
from atsock.emulator.resolver import resolve
from atsock.types import SocketType

log = logging.getLogger("atsock.emulator")

#: Largest piece handed to one send() call.
TX_CHUNK = 256 * 1024

CarryOut = Callable[[list[Action]], None]
Submit = Callable[[Callable[[], Any]], "Future[Any]"]


class HostSockets:
    """Every ConID's real socket, by ConID (``sockets``)."""

    def __init__(
        self,
        firmware: Firmware,
        carry_out: CarryOut,
        call_soon: Callable[[Callable[[], None]], None],
        submit: Submit,
        *,
        listen_host: str,
        dns_port: int,
        connect_timeout: float,
    ) -> None:
        self.firmware = firmware
        self.sockets: dict[int, HostSocket] = {}
        self._carry_out = carry_out
        self._call_soon = call_soon
        self._submit = submit
        self.listen_host = listen_host
        self.dns_port = dns_port
        self.connect_timeout = connect_timeout

    def __iter__(self) -> Iterator[tuple[int, HostSocket, SocketEntry]]:
        """Each ConID with a live socket, and what the firmware knows of it."""
        for con_id, hs in self.sockets.items():
            entry = self.firmware.sockets.get(con_id)
            if hs.sock is not None and entry is not None:
                yield con_id, hs, entry

    def queued(self) -> int:
        """The most bytes waiting for any one peer."""
        return max((len(hs.tx) for hs in self.sockets.values()), default=0)

    def close_all(self) -> None:
        for hs in self.sockets.values():
            hs.close()
        self.sockets.clear()

    # ---- made as the firmware asks ---------------------------------------------------------

    def register(self, con_id: int, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sockets[con_id] = HostSocket(sock)

    def close(self, con_id: int) -> None:
        hs = self.sockets.pop(con_id, None)
        if hs is not None:
            hs.close()

    def listen(self, action: Listen) -> list[Action]:
        """Binds at once; the firmware hears how that went before anything else."""
        result: Result
        try:
            sock = listen(action, self.listen_host, self.firmware.flash.certs)
        except CommandFailed as exc:
            result = Failed(exc.code or SOCKET_CREATE)
        else:
            self.register(action.con_id, sock)
            result = Done()
        return self.firmware.work_done(action.token, result)

    def connect(self, action: Connect) -> Callable[[], socket.socket]:
        """The work of a client connect (for a worker)."""
        return functools.partial(
            connect, action, dns_port=self.dns_port, timeout=self.connect_timeout
        )

    def resolve(self, action: Resolve) -> Callable[[], str]:
        """The work of ``AT+WDOMAIN`` (for a worker)."""
        return functools.partial(
            resolve, action.name, list(action.dns), port=self.dns_port, timeout=self.connect_timeout
        )

    def connected(self, con_id: int, sock: socket.socket) -> Result:
        """A worker's new socket for ``con_id`` (refused if the ConID was taken meanwhile)."""
        if con_id in self.sockets:
            sock.close()
            return Failed(SOCKET_CREATE)
        self.register(con_id, sock)
        return Done()

    # ---- to the peers ----------------------------------------------------------------------

    def send(self, action: Send) -> list[Action]:
        """Sends one packet; a receipt, and what a failure leads to, go to the firmware."""
        went, more = self._send_packet(action)
        if action.token is not None:
            more += self.firmware.work_done(action.token, Done() if went else Failed(SEND))
        return more

    def _send_packet(self, action: Send) -> tuple[bool, list[Action]]:
        """Sends without ever blocking the loop: what the kernel does not take now waits
        in the socket's queue (TCP/TLS) and goes when it is writable; a UDP datagram the
        kernel refuses is dropped and counted. False if the socket cannot send."""
        con_id, data = action.con_id, action.data
        hs = self.sockets.get(con_id)
        entry = self.firmware.sockets.get(con_id)
        sock = hs.sock if hs is not None else None
        if hs is None or sock is None or entry is None or entry.status != Status.CONNECTED:
            return False, []
        if not entry.type.is_udp:
            hs.tx += data
            return self.flush(con_id)
        try:
            if entry.type == SocketType.UDP_SERVER:
                if action.to is None:
                    return False, []
                sock.sendto(data, action.to)
            else:
                sock.send(data)
        except (BlockingIOError, ssl.SSLWantWriteError):
            hs.tx_dropped += 1
            log.warning("ConID %d: datagram dropped, host socket buffer full", con_id)
        except ConnectionRefusedError as exc:  # (an earlier datagram's ICMP error)
            hs.tx_dropped += 1
            log.info("ConID %d: datagram dropped, the peer's port refused: %s", con_id, exc)
        except OSError as exc:
            log.info("send on ConID %d failed: %s", con_id, exc)
            return False, self.firmware.disconnected(con_id)
        return True, []

    def flush(self, con_id: int) -> tuple[bool, list[Action]]:
        """Sends what waits for the peer, as far as the kernel takes it now."""
        hs = self.sockets.get(con_id)
        while hs is not None and hs.tx and hs.sock is not None:
            try:
                sent = hs.sock.send(hs.tx[:TX_CHUNK])
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                return True, []  # the loop writes the rest when the socket is writable
            except OSError as exc:
                log.info("send on ConID %d failed: %s", con_id, exc)
                hs.tx.clear()  # what waited for the peer can never go
                return False, self.firmware.disconnected(con_id)
            del hs.tx[:sent]
        return True, []

    # ---- from the peers --------------------------------------------------------------------

    def readable(self, con_id: int) -> None:
        hs = self.sockets.get(con_id)
        entry = self.firmware.sockets.get(con_id)
        if hs is None or hs.sock is None or entry is None:
            return
        if entry.type in (SocketType.TCP_SERVER, SocketType.SSL_SERVER):
            self._accept(entry, hs.sock)
            return
        fw, sock = self.firmware, hs.sock
        try:
            if entry.type == SocketType.UDP_SERVER:
                data, addr = sock.recvfrom(65535)
                self._carry_out(fw.received(con_id, data, (addr[0], addr[1])))
                return
            if entry.type.is_udp:  # a UDP client: whole datagrams, and no end of stream
                data = sock.recv(65535)
                if data:  # (an empty datagram carries nothing to announce)
                    self._carry_out(fw.received(con_id, data))
                return
            size = 65536 if fw.stream_target is entry else PACKET
            data = sock.recv(size)
            if not data:
                self._carry_out(fw.disconnected(con_id))
                return
            self._carry_out(fw.received(con_id, data))
            # TLS may hold decrypted bytes the selector cannot see
            while isinstance(sock, ssl.SSLSocket) and sock.pending() and not entry.rx_full:
                self._carry_out(fw.received(con_id, sock.recv(size)))
        except (ssl.SSLWantReadError, BlockingIOError):
            return
        except OSError as exc:
            if entry.type.is_udp and isinstance(exc, ConnectionRefusedError):
                # an ICMP "port unreachable" for an earlier datagram: UDP has no connection
                # to lose, the socket stays usable (a server may come up later)
                log.info("ConID %d: the peer's port refused a datagram (%s)", con_id, exc)
                return
            log.info("receive on ConID %d failed: %s", con_id, exc)
            self._carry_out(fw.disconnected(con_id))

    def take_tls_pending(self) -> None:
        """A SOCKETREAD may have made room in a receive queue: TLS may hold decrypted
        bytes it stopped taking when the queue was full, which the selector cannot see
        (the kernel's buffer may be empty), so they are taken now."""
        for con_id, hs, entry in self:
            sock = hs.sock
            if isinstance(sock, ssl.SSLSocket) and not entry.rx_full and sock.pending():
                self._call_soon(functools.partial(self.readable, con_id))

    def peer_vanished(self, con_id: int) -> None:
        """Fault: the peer goes without a word (the host socket closes with a RST)."""
        hs = self.sockets.get(con_id)
        if hs is not None and hs.sock is not None:
            try:
                hs.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
            except OSError:
                pass
            self._carry_out(self.firmware.disconnected(con_id))

    def _accept(self, server: SocketEntry, listener: socket.socket) -> None:
        try:
            conn, addr = listener.accept()
        except (BlockingIOError, OSError):
            return
        tls = server.type == SocketType.SSL_SERVER
        certs = dict(self.firmware.flash.certs)
        server_id = server.con_id

        def handshake() -> socket.socket:
            conn.settimeout(self.connect_timeout)
            return server_tls_context(certs).wrap_socket(conn, server_side=True) if tls else conn

        def accepted(future: Future[socket.socket]) -> None:
            exc = future.exception()
            if exc is not None:
                log.info("client %s not accepted: %s", addr, exc)
                conn.close()
                return
            sock = future.result()
            con_id, actions = self.firmware.accepted(server_id, addr[0], addr[1])
            if con_id is None:
                log.warning("client %s refused: its server is gone or no ConID is free", addr)
                sock.close()
                return
            self.register(con_id, sock)
            self._carry_out(actions)

        self._submit(handshake).add_done_callback(
            lambda future: self._call_soon(functools.partial(accepted, future))
        )
