"""Real peers for tests of code that uses a module: TCP, TLS and UDP echo servers and a
DNS server, on 127.0.0.1 (or ``::1``, or the host's address on a module's network),
each on a port of its own that the kernel picks unless told, recording what they
received. The pytest plugin (:mod:`atsock.pytest_plugin`) hands them out as fixtures;
the demo's far end and ``atsock check``'s peers are these too.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from typing import Any

import dns.exception
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

#: Most bytes one read of a peer's socket takes.
PEER_CHUNK = 1 << 18
#: Bound on a TLS handshake with a client (seconds).
PEER_TIMEOUT = 10.0


class _Peer:
    """What both peers have: an address, a record of what came, closing once."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.host, self.port = sock.getsockname()[:2]
        self._lock = threading.Lock()
        self._received = bytearray()
        self._closed = False

    @property
    def address(self) -> tuple[str, int]:
        """The ``(host, port)`` the peer listens on."""
        return (self.host, self.port)

    @property
    def received(self) -> bytes:
        """Every byte received so far (all clients, in arrival order)."""
        with self._lock:
            return bytes(self._received)

    def _record(self, data: bytes | memoryview) -> None:
        with self._lock:
            self._received += data

    def __enter__(self: Any) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stops listening and closes the socket (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked on it
        except OSError:
            pass
        self._sock.close()


class TcpEcho(_Peer):
    """A TCP server that sends every client back what it sends, on a thread each
    (``record=False``: without keeping it, for streams of any length)."""

    def __init__(self, host: str = "127.0.0.1", *, record: bool = True, port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__(socket.create_server((host, port), family=family))
        self._keep = record
        self._clients: list[socket.socket] = []
        threading.Thread(target=self._accept, name="atsock-tcp-echo", daemon=True).start()

    def __repr__(self) -> str:
        return f"<atsock.testing.TcpEcho {self.host}:{self.port}>"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self._clients.append(conn)
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        try:
            conn = self._wrap(conn)
        except OSError:
            return
        # one reusable buffer: a fresh PEER_CHUNK-sized bytes object per receive would
        # cost an mmap and munmap each, more than the receive itself
        buffer = memoryview(bytearray(PEER_CHUNK))
        with conn:
            try:
                while size := conn.recv_into(buffer):
                    data = buffer[:size]
                    if self._keep:
                        self._record(data)
                    conn.sendall(data)
            except OSError:
                pass

    def _wrap(self, conn: socket.socket) -> socket.socket:
        return conn

    def close(self) -> None:
        """Stops listening and shuts every client connection down (idempotent)."""
        super().close()
        with self._lock:
            clients, self._clients = self._clients, []
        for conn in clients:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class TlsEcho(TcpEcho):
    """A TLS server (``context``: an ``ssl.PROTOCOL_TLS_SERVER`` context with its
    certificate loaded) that sends every client back what it sends; a client whose
    handshake fails is counted in ``.refused`` and dropped."""

    def __init__(self, context: ssl.SSLContext, host: str = "127.0.0.1") -> None:
        self._context = context
        self.refused = 0
        super().__init__(host)

    def __repr__(self) -> str:
        return f"<atsock.testing.TlsEcho {self.host}:{self.port}>"

    def _wrap(self, conn: socket.socket) -> socket.socket:
        conn.settimeout(PEER_TIMEOUT)
        try:
            return self._context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            with self._lock:
                self.refused += 1
            conn.close()
            raise


class _UdpServer(_Peer):
    """A UDP socket on ``host:port`` whose thread answers each datagram with what
    ``reply`` makes of it (None: no answer)."""

    def __init__(
        self, host: str, port: int, name: str, reply: Callable[[bytes], bytes | None]
    ) -> None:
        self._reply = reply
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        super().__init__(sock)
        threading.Thread(target=self._serve, name=name, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                data, sender = self._sock.recvfrom(PEER_CHUNK)
            except OSError:
                return
            if not data and self._closed:
                return
            reply = self._reply(data)
            if reply is None:
                continue
            try:
                self._sock.sendto(reply, sender)
            except OSError:
                return


class UdpEcho(_UdpServer):
    """A UDP server that sends every datagram back to its sender."""

    def __init__(self, host: str = "127.0.0.1", *, port: int = 0) -> None:
        super().__init__(host, port, "atsock-udp-echo", self._echo)

    def __repr__(self) -> str:
        return f"<atsock.testing.UdpEcho {self.host}:{self.port}>"

    def _echo(self, data: bytes) -> bytes:
        self._record(data)
        return data


class DnsServer(_UdpServer):
    """A DNS server over UDP that answers A queries for the names in ``records`` (name →
    IPv4 address) and NXDOMAIN for others; ``.queries`` lists the names asked, in order."""

    def __init__(
        self, records: Mapping[str, str], host: str = "127.0.0.1", *, port: int = 0
    ) -> None:
        self._records = {name.rstrip(".").lower(): address for name, address in records.items()}
        self._queries: list[str] = []
        super().__init__(host, port, "atsock-dns", self._reply_to)

    def __repr__(self) -> str:
        return f"<atsock.testing.DnsServer {self.host}:{self.port}>"

    @property
    def queries(self) -> list[str]:
        """The names asked so far, in order."""
        with self._lock:
            return list(self._queries)

    def _reply_to(self, data: bytes) -> bytes | None:
        try:
            query = dns.message.from_wire(data)
        except (dns.exception.DNSException, ValueError):
            return None  # garbage is dropped, as a server does
        return self._answer(query).to_wire()

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        reply = dns.message.make_response(query)
        for question in query.question:
            name = question.name.to_text().rstrip(".").lower()
            with self._lock:
                self._queries.append(name)
            address = self._records.get(name)
            if address is None or question.rdtype != dns.rdatatype.A:
                reply.set_rcode(dns.rcode.NXDOMAIN)
                continue
            reply.answer.append(
                dns.rrset.from_text(question.name, 60, dns.rdataclass.IN, dns.rdatatype.A, address)
            )
        return reply
