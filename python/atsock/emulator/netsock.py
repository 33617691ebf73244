"""The host sockets behind the module's ConIDs: real TCP, UDP and TLS (:mod:`ssl`)
sockets, made the way the firmware asks (connect with its DNS servers and
certificates, bind a server), with what is queued for each peer. What the module
knows of a ConID (type, status, received packets) is the firmware's
(:mod:`atsock.emulator.firmware.sockets`).
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from atsock.emulator.firmware.actions import Connect, Listen
from atsock.emulator.firmware.errors import (
    BIND,
    CONNECT,
    DNS,
    SSL_CONFIG,
    SSL_VERIFY,
    CommandFailed,
)
from atsock.emulator.firmware.sockets import MAX_SOCKETS, PACKET, RX_LIMIT, Status
from atsock.emulator.resolver import ResolveError, resolve
from atsock.types import SocketType

__all__ = ["BACKLOG", "MAX_SOCKETS", "PACKET", "RX_LIMIT", "HostSocket", "Status"]

log = logging.getLogger("atsock.emulator")

#: Seeds (accepted clients) a server queues before accept.
BACKLOG = 5


@dataclass(eq=False)
class HostSocket:
    """The real socket of one ConID, and the bytes waiting for it to take them."""

    sock: socket.socket | None
    #: bytes waiting for the host socket to take them (TCP/TLS)
    tx: bytearray = field(default_factory=bytearray)
    #: datagrams the host socket refused (UDP)
    tx_dropped: int = 0

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None


def _load_chain(ctx: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """Loads a certificate and key held in memory (ssl wants files: 0600, removed at once)."""
    with tempfile.TemporaryDirectory(prefix="atsock-tls-") as tmp:
        paths = []
        for name, pem in (("cert.pem", cert), ("key.pem", key)):
            path = Path(tmp) / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(pem)
            paths.append(str(path))
        ctx.load_cert_chain(paths[0], paths[1])


def client_context(certs: dict[int, bytes]) -> ssl.SSLContext:
    """SSLClient: verify against the CA when one is set; present the client cert when set."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca = certs.get(1)
    if ca:
        ctx.load_verify_locations(cadata=ca.decode("ascii", "replace"))
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if certs.get(2) and certs.get(3):
        _load_chain(ctx, certs[2], certs[3])
    return ctx


def server_context(certs: dict[int, bytes]) -> ssl.SSLContext:
    """SSLServer: serve slot 2 (certificate) with slot 3 (key); with a CA, ask for client certs."""
    if not (certs.get(2) and certs.get(3)):
        raise ssl.SSLError("an SSL server needs AT+SSLCRET=2 (certificate) and =3 (key)")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _load_chain(ctx, certs[2], certs[3])
    ca = certs.get(1)
    if ca:
        ctx.load_verify_locations(cadata=ca.decode("ascii", "replace"))
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def connect(action: Connect, *, dns_port: int, timeout: float) -> socket.socket:
    """A client socket as ``AT+SOCKET`` makes it: the name resolved through the module's
    DNS servers, connected, TLS verified with its certificates (CommandFailed with the
    firmware's code if not)."""
    host, port, stype = action.host, action.port, action.type
    try:
        address = resolve(host, list(action.dns), port=dns_port, timeout=timeout)
    except ResolveError as exc:
        log.info("cannot resolve %s: %s", host, exc)
        raise CommandFailed("SOCKET", DNS) from exc
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    if stype == SocketType.UDP_CLIENT:
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.connect((address, port))
        return sock
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except OSError as exc:
        log.info("connect to %s:%d failed: %s", address, port, exc)
        raise CommandFailed("SOCKET", CONNECT) from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if stype != SocketType.SSL_CLIENT:
        return sock
    try:
        return client_context(action.certs).wrap_socket(sock, server_hostname=host)
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        log.info("TLS verification of %s failed: %s", host, exc.verify_message)
        raise CommandFailed("SOCKET", SSL_VERIFY) from exc
    except (ssl.SSLError, OSError) as exc:
        sock.close()
        log.info("TLS with %s failed: %s", host, exc)
        raise CommandFailed("SOCKET", SSL_CONFIG) from exc


def listen(action: Listen, host: str, certs: dict[int, bytes]) -> socket.socket:
    """A server socket bound on ``host`` (CommandFailed with the firmware's code if not)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    udp = action.type == SocketType.UDP_SERVER
    sock = socket.socket(family, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
    try:
        if action.type == SocketType.SSL_SERVER:
            server_tls_context(certs)  # refuse before binding when certs are missing
        if not udp:  # (for UDP it would let a second socket share the port)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, action.port))
        if not udp:
            sock.listen(BACKLOG)
    except CommandFailed:
        sock.close()
        raise
    except OSError as exc:
        sock.close()
        log.info("cannot bind %s:%d: %s", host, action.port, exc)
        raise CommandFailed("SOCKET", BIND) from exc
    return sock


def server_tls_context(certs: dict[int, bytes]) -> ssl.SSLContext:
    try:
        return server_context(certs)
    except (ssl.SSLError, ValueError) as exc:
        raise CommandFailed("SOCKET", SSL_CONFIG) from exc
