"""``atsock proxy``: a SOCKS5 server (RFC 1928) whose every connection is a module
connection, so any program that speaks SOCKS (curl, requests, a browser, an MQTT
client) runs over the Wi-Fi module unchanged.

Supported: CONNECT to an IPv4 address or a domain name (the module resolves it), no
authentication or username/password (RFC 1929). A client gets the SOCKS reply a
module error maps to (refused, host unreachable, TTL expired, general failure), or
"command not supported" / "address type not supported" for what the module cannot
do (UDP ASSOCIATE, BIND, IPv6 targets). Each connection runs on two threads, one each
way, over the module's socket objects (commands from different connections take
turns on the module).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
import struct
import threading

from atsock.errors import ATError, HostNotFound, SocketRefused, SocketsExhausted, Timeout
from atsock.sync.module import Module
from atsock.sync.sockets import Socket

log = logging.getLogger("atsock.proxy")

VERSION = 5
NO_AUTH, USER_PASS, NO_METHOD = 0x00, 0x02, 0xFF
CONNECT = 0x01
IPV4, DOMAIN, IPV6 = 0x01, 0x03, 0x04
#: reply codes (RFC 1928, section 6)
SUCCEEDED, GENERAL_FAILURE, HOST_UNREACHABLE, REFUSED = 0x00, 0x01, 0x04, 0x05
TTL_EXPIRED, COMMAND_NOT_SUPPORTED, ADDRESS_NOT_SUPPORTED = 0x06, 0x07, 0x08
#: longest a client may take over its handshake (seconds)
HANDSHAKE_TIMEOUT = 10.0
#: bytes moved per read each way
CHUNK = 64 * 1024


class HandshakeError(Exception):
    """The client did not speak SOCKS5 as RFC 1928 says (it is disconnected)."""


class SocksProxy:
    """Listens on ``address`` (loopback unless told otherwise) and serves every client
    as a module connection; :meth:`close` ends every connection and deletes its ConID."""

    def __init__(
        self,
        module: Module,
        address: tuple[str, int] = ("127.0.0.1", 0),
        *,
        users: dict[str, str] | None = None,
    ) -> None:
        self.module = module
        self.users = users
        self._listener = socket.create_server(address)
        #: (host, port) the proxy listens on
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._lock = threading.Lock()
        self._open: set[Socket] = set()
        self._clients: set[socket.socket] = set()
        self._closing = False
        self.connections = 0
        self._thread = threading.Thread(target=self._accept_loop, name="atsock-socks", daemon=True)
        self._thread.start()

    def __enter__(self) -> SocksProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stops listening, ends every connection and deletes its ConID."""
        self._closing = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(5)
        with self._lock:
            clients, socks = list(self._clients), list(self._open)
        for client in clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
        for sock in socks:
            sock.close()

    def _accept_loop(self) -> None:
        while not self._closing:
            try:
                client, peer = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._clients.add(client)
            threading.Thread(
                target=self._serve, args=(client, peer), name="atsock-socks-client", daemon=True
            ).start()

    # ---- one client ---------------------------------------------------------------

    def _serve(self, client: socket.socket, peer: tuple[str, int]) -> None:
        try:
            client.settimeout(HANDSHAKE_TIMEOUT)
            target = self._handshake(client)
            if target is None:
                return
            sock = self._connect(client, target)
            if sock is None:
                return
            client.settimeout(None)
            log.info("%s:%d -> %s:%d on ConID %d", *peer, *target, sock.con_id)
            self._relay(client, sock)
        except (HandshakeError, OSError, ATError) as exc:
            log.info("SOCKS client %s:%d: %s", peer[0], peer[1], exc)
        finally:
            with self._lock:
                self._clients.discard(client)
            client.close()

    def _handshake(self, client: socket.socket) -> tuple[str, int] | None:
        """The greeting, the authentication and the request; the target, or None once
        the client was told why not."""
        version, count = _read(client, 2)
        if version != VERSION:
            raise HandshakeError(f"not SOCKS5 (version byte {version})")
        methods = _read(client, count)
        wanted = NO_AUTH if self.users is None else USER_PASS
        if wanted not in methods:
            client.sendall(bytes([VERSION, NO_METHOD]))
            return None
        client.sendall(bytes([VERSION, wanted]))
        if wanted == USER_PASS and not self._authenticate(client):
            return None
        version, command, _, atype = _read(client, 4)
        if version != VERSION:
            raise HandshakeError(f"request of version {version}")
        if atype == IPV4:
            host = str(ipaddress.IPv4Address(_read(client, 4)))
        elif atype == DOMAIN:
            host = _read(client, _read(client, 1)[0]).decode("ascii", "replace")
        elif atype == IPV6:
            _read(client, 16 + 2)
            _reply(client, ADDRESS_NOT_SUPPORTED)  # the module's sockets are IPv4
            return None
        else:
            _reply(client, ADDRESS_NOT_SUPPORTED)
            return None
        (port,) = struct.unpack("!H", _read(client, 2))
        if command != CONNECT:
            _reply(client, COMMAND_NOT_SUPPORTED)
            return None
        return host, port

    def _authenticate(self, client: socket.socket) -> bool:
        """RFC 1929 username/password."""
        assert self.users is not None
        (version,) = _read(client, 1)
        if version != 1:
            raise HandshakeError(f"username/password of version {version}")
        user = _read(client, _read(client, 1)[0]).decode("utf-8", "replace")
        password = _read(client, _read(client, 1)[0]).decode("utf-8", "replace")
        ok = self.users.get(user) == password
        client.sendall(bytes([1, 0 if ok else 1]))
        return ok

    def _connect(self, client: socket.socket, target: tuple[str, int]) -> Socket | None:
        try:
            sock = self.module.create_connection(target)
        except SocketRefused:
            _reply(client, REFUSED)
        except HostNotFound:
            _reply(client, HOST_UNREACHABLE)
        except Timeout:
            _reply(client, TTL_EXPIRED)
        except (SocketsExhausted, ATError, ValueError) as exc:
            log.info("cannot connect to %s:%d: %s", *target, exc)
            _reply(client, GENERAL_FAILURE)
        else:
            with self._lock:
                self._open.add(sock)
                self.connections += 1
            _reply(client, SUCCEEDED)
            return sock
        return None

    def _relay(self, client: socket.socket, sock: Socket) -> None:
        """Both ways at once until either side ends; then the ConID is deleted."""
        sent = [0]
        upstream = threading.Thread(
            target=self._client_to_module, args=(client, sock, sent), daemon=True
        )
        upstream.start()
        received = 0
        try:
            while data := sock.recv(CHUNK):
                client.sendall(data)
                received += len(data)
        except (OSError, ATError) as exc:  # (the module side ended, the client left)
            log.debug("ConID %d: %s", sock.con_id, exc)
        finally:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)  # ends the upstream thread's recv
            upstream.join()
            self._forget(sock)
        log.info("ConID %d closed: %d bytes up, %d down", sock.con_id, sent[0], received)

    def _client_to_module(self, client: socket.socket, sock: Socket, sent: list[int]) -> None:
        try:
            while data := client.recv(CHUNK):
                sock.sendall(data)
                sent[0] += len(data)
        except (OSError, ATError) as exc:
            log.debug("ConID %d: %s", sock.con_id, exc)
        finally:
            self._forget(sock)  # the module side ends too: the other thread's recv returns

    def _forget(self, sock: Socket) -> None:
        with self._lock:
            self._open.discard(sock)
        sock.close()


def _read(client: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = client.recv(size - len(data))
        if not chunk:
            raise HandshakeError(f"the client left after {len(data)} of {size} bytes")
        data += chunk
    return data


def _reply(client: socket.socket, code: int) -> None:
    """A reply with an unspecified bound address (0.0.0.0:0): the module's own address
    is not known to the host."""
    client.sendall(bytes([VERSION, code, 0, IPV4, 0, 0, 0, 0, 0, 0]))
