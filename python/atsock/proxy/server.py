"""The SOCKS5 server: listens (loopback unless told otherwise), speaks the handshake
with each client (RFC 1928 methods, RFC 1929 username/password) and hands a CONNECT to
:mod:`atsock.proxy.relay` and a UDP ASSOCIATE to :mod:`atsock.proxy.udp`. Module errors
become the SOCKS replies they mean; :meth:`SocksProxy.close` ends every client and
deletes every ConID the proxy made."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Generator
from typing import TypeVar

from atsock.errors import ATError
from atsock.proxy import socks5
from atsock.proxy.carrier import Carrier
from atsock.proxy.flow import ReceiveFlow
from atsock.proxy.handshake import HANDSHAKE_TIMEOUT, Need, Step, negotiate
from atsock.proxy.relay import relay
from atsock.proxy.socks5 import Address, HandshakeError
from atsock.proxy.stats import ProxyStats, Relayed
from atsock.proxy.udp import UdpAssociation
from atsock.sync.sockets import Socket
from atsock.types import ReceiveMode

log = logging.getLogger("atsock.proxy")

T = TypeVar("T")


class SocksProxy:
    """Serves every client on ``address`` (loopback unless told otherwise; port 0 picks
    a free one, :attr:`address` says which) as module connections: CONNECT to IPv4, IPv6
    and domain-name targets (the module resolves names), UDP ASSOCIATE over module UDP
    clients; no authentication, or ``users`` (username to password, RFC 1929).
    While it serves, the proxy switches the module's receive mode between active (fast)
    and passive (when data piles up), as :mod:`atsock.proxy.flow` says, and restores it
    on close; ``receive_flow=False`` puts the module in passive mode for good (an
    AT+SOCKETREAD per packet: a sixth of the speed, unpaced, and no switching).

    Beyond the module's socket limit a client gets "general failure", never a hang.
    :attr:`stats` counts what moves. A context manager; :meth:`close` ends every
    connection and deletes its ConID."""

    def __init__(
        self,
        module: Carrier,
        address: Address = ("127.0.0.1", 0),
        *,
        users: dict[str, str] | None = None,
        receive_flow: bool = True,
    ) -> None:
        self.module = module
        self.users = users
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._listener = socket.create_server(address, family=family)
        #: (host, port) the proxy listens on
        self.address: Address = self._listener.getsockname()[:2]
        #: open relays, totals of bytes each way
        self.stats = ProxyStats()
        self._lock = threading.Lock()
        self._sockets: set[Socket] = set()
        self._clients: set[socket.socket] = set()
        self._associations: set[UdpAssociation] = set()
        self._closing = False
        #: the module's receive mode, switched for speed (None: passive throughout)
        self.flow = ReceiveFlow(module, busy=self._busy) if receive_flow else None
        if self.flow is None:
            module.set_receive_mode(ReceiveMode.PASSIVE)  # (whatever it was left in)
        self._thread = threading.Thread(target=self._accept_loop, name="atsock-socks", daemon=True)
        self._thread.start()

    @property
    def connections(self) -> int:
        """Clients served so far (each CONNECT or UDP ASSOCIATE that succeeded)."""
        return self.stats.total

    def __enter__(self) -> SocksProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        host, port = self.address
        return f"<atsock.SocksProxy on {host}:{port}: {self.stats.summary()}>"

    def close(self) -> None:
        """Stops listening, ends every client and deletes every ConID it made."""
        with self._lock:
            self._closing = True
            clients, socks = list(self._clients), list(self._sockets)
            associations = list(self._associations)
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(5)
        for client in clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
        for association in associations:
            association.close()
        for sock in socks:
            sock.close()
        if self.flow is not None:
            self.flow.close()

    def _busy(self) -> bool:
        with self._lock:
            return bool(self._sockets)

    def _accept_loop(self) -> None:
        while not self._closing:
            try:
                client, peer = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._closing:
                    client.close()
                    return
                self._clients.add(client)
            threading.Thread(
                target=self._serve, args=(client, peer[:2]), name="atsock-socks-client", daemon=True
            ).start()

    def _adopt(self, sock: Socket) -> bool:
        """Registers a module socket to delete on :meth:`close` (False: closing now)."""
        with self._lock:
            if not self._closing:
                self._sockets.add(sock)
        return not self._closing

    # ---- one client ---------------------------------------------------------------

    def _serve(self, client: socket.socket, peer: Address) -> None:
        try:
            client.settimeout(HANDSHAKE_TIMEOUT)
            request = follow(negotiate(self.users), client)
            if request is not None:
                command, target = request
                if command == socks5.CONNECT:
                    self._connect(client, peer, target)
                else:
                    self._associate(client, peer, target)
        except (HandshakeError, OSError, ATError) as exc:
            log.info("SOCKS client %s:%d: %s", peer[0], peer[1], exc)
        finally:
            with self._lock:
                self._clients.discard(client)
            client.close()

    def _connect(self, client: socket.socket, peer: Address, target: Address) -> None:
        sock = self._open_connection(client, target)
        if sock is None:
            return
        client.settimeout(None)
        record = Relayed(peer, target, con_ids=[sock.con_id])
        self.stats.opened(record)
        log.info("opened %s", record.describe())
        try:
            relay(client, sock, record)
        finally:
            with self._lock:
                self._sockets.discard(sock)
            self.stats.closed(record)
            log.info("closed %s", record.describe())

    def _open_connection(self, client: socket.socket, target: Address) -> Socket | None:
        """The module connection to ``target``, or None once the client got the reply
        its error maps to."""
        try:
            sock = self.module.create_connection(target)
        except (ATError, ValueError) as exc:
            log.info("cannot connect to %s:%d: %s", *target, exc)
            code = socks5.reply_for(exc)
        else:
            if self._adopt(sock):
                client.sendall(socks5.reply(socks5.SUCCEEDED))
                return sock
            sock.close()
            code = socks5.GENERAL_FAILURE
        client.sendall(socks5.reply(code))
        return None

    def _associate(self, client: socket.socket, peer: Address, hint: Address) -> None:
        """UDP ASSOCIATE: the client's datagrams may come from its own IP only (from the
        port it named, if it named one)."""
        record = Relayed(peer, self.address, udp=True)
        association = UdpAssociation(
            self.module, self.address[0], (peer[0], hint[1]), record, adopt=self._adopt
        )
        with self._lock:
            if self._closing:
                association.close()
                return
            self._associations.add(association)
        client.sendall(socks5.reply(socks5.SUCCEEDED, association.bound))
        self.stats.opened(record)
        log.info("opened %s", record.describe())
        try:
            association.run(client)
        finally:
            with self._lock:
                self._associations.discard(association)
                self._sockets.difference_update(association.made)
            self.stats.closed(record)
            log.info("closed %s", record.describe())


def follow(steps: Generator[Step, bytes, T], client: socket.socket) -> T:
    """Carries out a handshake's steps over the client's socket (exact reads: a client
    that leaves mid-handshake is a :class:`HandshakeError`); what it returns."""
    try:
        step = next(steps)
        while True:
            if isinstance(step, Need):
                data = b""
                while len(data) < step.size:
                    chunk = client.recv(step.size - len(data))
                    if not chunk:
                        raise HandshakeError(
                            f"the client left after {len(data)} of {step.size} bytes"
                        )
                    data += chunk
                step = steps.send(data)
            else:
                client.sendall(step.data)
                step = steps.send(b"")
    except StopIteration as done:
        result: T = done.value
        return result
