"""The module's sockets (ConIDs), each backed by a real host socket.

One :class:`ModuleSocket` per ConID: its type and status as ``AT+SOCKET?`` reports
them, the host socket behind it (TCP, UDP, or TLS through :mod:`ssl`), and the packets
received but not yet read by the host (passive mode). Receive queues are bounded: a
TCP socket stops being read when its queue is full (the peer is slowed down, nothing
is lost); a UDP socket drops datagrams and counts them, as a real module must.
"""

from __future__ import annotations

import os
import socket
import ssl
import tempfile
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from atsock.types import SocketStatus, SocketType

#: Largest packet read from a host socket at once (one SOCKETREAD / SocketDown).
PACKET = 1024
#: Receive-queue bound per ConID, in bytes.
RX_LIMIT = 64 * 1024
#: Seeds (accepted clients) a server queues before accept.
BACKLOG = 5
#: Most ConIDs at once.
MAX_SOCKETS = 16


# The module's socket types and states are the driver's: one definition of the spec's numbers.
Status = SocketStatus


@dataclass(eq=False)
class ModuleSocket:
    con_id: int
    type: SocketType
    sock: socket.socket | None
    status: Status = Status.CONNECTED
    remote_host: str = ""
    remote_port: int = -1
    local_port: int = -1
    server_con_id: int = -1
    #: UDP server: where replies go (first peer, or the latest in TT mode 2).
    udp_peer: tuple[str, int] | None = None
    rx: deque[bytes] = field(default_factory=deque)
    rx_bytes: int = 0
    dropped: int = 0
    #: bytes waiting for the host socket to take them (TCP/TLS)
    tx: bytearray = field(default_factory=bytearray)
    #: datagrams the host socket refused (UDP)
    tx_dropped: int = 0

    def row(self) -> str:
        """The ``AT+SOCKET?`` row of this ConID."""
        return (
            f"{self.con_id},{int(self.type)},{int(self.status)},{self.remote_host},"
            f"{self.remote_port},{self.local_port},{self.server_con_id}"
        )

    @property
    def rx_full(self) -> bool:
        return self.rx_bytes >= RX_LIMIT

    def queue(self, packet: bytes) -> bool:
        """Keeps a received packet for SOCKETREAD; False (and counted) if dropped."""
        if self.rx_full:
            self.dropped += 1
            return False
        self.rx.append(packet)
        self.rx_bytes += len(packet)
        return True

    def pop(self) -> bytes:
        if not self.rx:
            return b""
        packet = self.rx.popleft()
        self.rx_bytes -= len(packet)
        return packet

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
