"""Real network peers on 127.0.0.1 for the tests: TCP echo/sink, UDP, TLS, DNS.

The module emulator backs every module socket with a real host socket, so its tests
need something real at the other end. Each peer here binds an ephemeral port on the
loopback interface, serves from daemon threads, and is a context manager that stops
its threads (bounded joins) and closes every socket it opened on exit. Sockets are
only ever closed by the thread that owns them, so shutdown is race-free.
"""

from __future__ import annotations

import abc
import contextlib
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Protocol, Self

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import trustme

__all__ = [
    "Closing",
    "DnsServer",
    "TcpCollector",
    "TcpEchoServer",
    "TlsCertificates",
    "TlsEchoServer",
    "UdpPeer",
    "tls_connect",
    "wait_until",
]

HOST = "127.0.0.1"
#: How often serving threads look at their stop flags (seconds).
POLL = 0.02
#: Bound on one blocking send, and on joins at shutdown (seconds).
IO_TIMEOUT = 5.0
#: The module's certificate slot limit (bytes); every PEM here must fit in one.
CERT_SLOT_LIMIT = 2048


def _readable(sock: socket.socket, timeout: float) -> bool:
    ready, _, _ = select.select([sock], [], [], timeout)
    return bool(ready)


class Closing(abc.ABC):
    """Context-manager plumbing shared by every peer (and the tests' other endpoints):
    ``with`` gives the object itself and calls ``close()`` on exit."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Connection:
    """One accepted connection, owned (read, written, closed) by its serving thread."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.close_requested = threading.Event()
        self.reset = False
        self.thread: threading.Thread | None = None


class _TcpServer(Closing):
    """A listening socket on 127.0.0.1:0 with an accept thread and a thread per client."""

    def __init__(self, name: str, backlog: int = 16) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._clients: list[_Connection] = []
        self._accepted = 0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._listener.bind((HOST, 0))
            self._listener.listen(backlog)
        except OSError:
            self._listener.close()
            raise
        self._address: tuple[str, int] = self._listener.getsockname()[:2]
        self._acceptor = threading.Thread(target=self._accept_loop, name=name, daemon=True)
        self._acceptor.start()

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) clients connect to."""
        return self._address

    @property
    def connections(self) -> int:
        """How many connections were accepted so far."""
        with self._lock:
            return self._accepted

    def _accept_loop(self) -> None:
        try:
            while not self._stop.is_set():
                if not _readable(self._listener, POLL):
                    continue
                try:
                    sock, _ = self._listener.accept()
                except OSError:
                    continue
                sock.settimeout(IO_TIMEOUT)
                conn = _Connection(sock)
                conn.thread = threading.Thread(
                    target=self._run_client, args=(conn,), name=f"{self._name}-client", daemon=True
                )
                self._on_accept(conn)
                # Registered and started under the lock, so close_all_clients() only
                # ever sees started threads.
                with self._lock:
                    self._clients.append(conn)
                    self._accepted += 1
                    conn.thread.start()
        finally:
            self._listener.close()

    def _run_client(self, conn: _Connection) -> None:
        try:
            self._serve(conn)
        except OSError:
            pass  # the client vanished or misbehaved: just drop it
        finally:
            if conn.reset:
                # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
                with contextlib.suppress(OSError):
                    conn.sock.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )
            else:
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_RDWR)
            conn.sock.close()
            self._on_client_closed(conn)

    def _on_accept(self, conn: _Connection) -> None:
        """Called on the accept thread before the client's thread starts."""

    def _on_client_closed(self, conn: _Connection) -> None:
        """Called on the client's thread after its socket is closed."""

    def _serve(self, conn: _Connection) -> None:
        """Hands each read of the client's bytes to :meth:`_on_data` until it closes."""
        while self._receiving(conn):
            if not _readable(conn.sock, POLL):
                continue
            data = conn.sock.recv(65536)
            if not data:
                return
            self._on_data(conn, data)

    def _on_data(self, conn: _Connection, data: bytes) -> None:
        """Called on the client's thread with each read of its bytes."""

    def _receiving(self, conn: _Connection) -> bool:
        """True while the client's thread should keep serving."""
        return not (self._stop.is_set() or conn.close_requested.is_set())

    def close_all_clients(self, *, reset: bool = False, timeout: float = IO_TIMEOUT) -> None:
        """Close every accepted connection (FIN, or RST if ``reset``) and wait for it."""
        with self._lock:
            clients = list(self._clients)
        for conn in clients:
            conn.reset = reset
            conn.close_requested.set()
        deadline = time.monotonic() + timeout
        for conn in clients:
            if conn.thread is not None:
                conn.thread.join(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        """Stop accepting, close every connection and the listener, join the threads."""
        self._stop.set()
        self._acceptor.join(IO_TIMEOUT)
        self.close_all_clients()


class TcpEchoServer(_TcpServer):
    """Echoes every byte back, on any number of concurrent connections.

    ``connections`` counts accepted connections, ``received`` the bytes received on
    all of them; ``close_all_clients()`` makes the peer vanish mid-conversation.
    """

    def __init__(self) -> None:
        self._received = 0
        super().__init__("tcp-echo")

    @property
    def received(self) -> int:
        """Total bytes received over all connections."""
        with self._lock:
            return self._received

    def _on_data(self, conn: _Connection, data: bytes) -> None:
        with self._lock:
            self._received += len(data)
        conn.sock.sendall(data)


class TcpCollector(_TcpServer):
    """A sink: records everything received; can also talk back to its first client.

    ``data(timeout)`` waits until the first connection is closed by the client (or
    the timeout passes) and returns everything received; ``chunks`` holds each
    ``recv()`` result, to check how the stream was packetized.
    """

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self._first: _Connection | None = None
        self._connected = threading.Event()
        self._first_closed = threading.Event()
        super().__init__("tcp-collector")

    def _on_accept(self, conn: _Connection) -> None:
        with self._lock:
            if self._first is None:
                self._first = conn
                self._connected.set()

    def _on_client_closed(self, conn: _Connection) -> None:
        if conn is self._first:
            self._first_closed.set()

    def _on_data(self, conn: _Connection, data: bytes) -> None:
        with self._lock:
            self.chunks.append(data)

    def wait_for_connection(self, timeout: float = 2.0) -> bool:
        """Wait until a client has connected; False if none did within ``timeout``."""
        return self._connected.wait(timeout)

    def wait_closed(self, timeout: float = 2.0) -> bool:
        """Wait until the first client's connection is closed; False on timeout."""
        return self._first_closed.wait(timeout)

    def data(self, timeout: float = 2.0) -> bytes:
        """All bytes received, once the first connection closed or ``timeout`` passed."""
        self._first_closed.wait(timeout)
        with self._lock:
            return b"".join(self.chunks)

    def send_to_client(self, data: bytes, timeout: float = 2.0) -> None:
        """Send ``data`` to the first accepted client (waiting for it to connect)."""
        if not self._connected.wait(timeout):
            raise TimeoutError(f"no client connected to {self.address} within {timeout:g} s")
        assert self._first is not None
        self._first.sock.sendall(data)


class TcpSilentPeer(_TcpServer):
    """A peer that accepts and does not read (a small receive buffer) until
    ``start_reading()``: TCP back-pressure then stalls whoever sends to it. ``data()``
    returns what it received once reading started and the line went quiet."""

    def __init__(self) -> None:
        self._reading = threading.Event()
        self._received = bytearray()
        self._last_rx = time.monotonic()
        super().__init__("tcp-silent")
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)

    def start_reading(self) -> None:
        with self._lock:
            self._last_rx = time.monotonic()
        self._reading.set()

    def _serve(self, conn: _Connection) -> None:
        while self._receiving(conn) and not self._reading.wait(POLL):
            pass
        super()._serve(conn)

    def _on_data(self, conn: _Connection, data: bytes) -> None:
        with self._lock:
            self._received += data
            self._last_rx = time.monotonic()

    def data(self, quiet: float = 0.5, timeout: float = 10.0) -> bytes:
        """Everything received, once nothing came for ``quiet`` s (or ``timeout`` passed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if time.monotonic() - self._last_rx >= quiet:
                    return bytes(self._received)
            time.sleep(quiet / 5)
        with self._lock:
            return bytes(self._received)


class UdpPeer(Closing):
    """A UDP socket bound to 127.0.0.1:0 (no thread: the test reads it directly)."""

    def __init__(self, host: str = HOST) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._sock.bind((host, 0))
        except OSError:
            self._sock.close()
            raise
        self._address: tuple[str, int] = self._sock.getsockname()[:2]

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) to send datagrams to."""
        return self._address

    def sendto(self, data: bytes, address: tuple[str, int]) -> None:
        """Send one datagram to ``address``."""
        self._sock.sendto(data, address)

    def recv(self, timeout: float = 2.0) -> tuple[bytes, tuple[str, int]]:
        """Wait for one datagram: (payload, sender). Raises TimeoutError."""
        if not _readable(self._sock, timeout):
            raise TimeoutError(f"no datagram on {self.address} within {timeout:g} s")
        data, sender = self._sock.recvfrom(65535)
        return data, (str(sender[0]), int(sender[1]))

    def datagrams(self, n: int, timeout: float = 2.0) -> list[bytes]:
        """Wait for ``n`` datagrams (``timeout`` for all of them); their payloads in order."""
        deadline = time.monotonic() + timeout
        payloads: list[bytes] = []
        while len(payloads) < n:
            remaining = deadline - time.monotonic()
            try:
                payloads.append(self.recv(max(0.0, remaining))[0])
            except TimeoutError:
                raise TimeoutError(
                    f"{len(payloads)} of {n} datagrams on {self.address} within {timeout:g} s"
                ) from None
        return payloads

    def close(self) -> None:
        self._sock.close()


class TlsCertificates:
    """A throwaway CA with a server certificate and a client certificate (ECDSA).

    ECDSA keeps every PEM well under the module's 2048-byte certificate slot. The
    server certificate is valid for ``localhost`` and ``127.0.0.1``; the client
    certificate's subject common name is ``CLIENT_CN``.
    """

    CLIENT_CN = "atsock-test-client"

    def __init__(self) -> None:
        key_type = trustme.KeyType.ECDSA
        self.ca = trustme.CA(key_type=key_type)
        self.server = self.ca.issue_cert("localhost", "127.0.0.1", key_type=key_type)
        self.client = self.ca.issue_cert(
            "client.atsock.test", common_name=self.CLIENT_CN, key_type=key_type
        )
        self.ca_pem: bytes = self.ca.cert_pem.bytes()
        self.server_cert_pem: bytes = self.server.cert_chain_pems[0].bytes()
        self.server_key_pem: bytes = self.server.private_key_pem.bytes()
        self.client_cert_pem: bytes = self.client.cert_chain_pems[0].bytes()
        self.client_key_pem: bytes = self.client.private_key_pem.bytes()

    def pems(self) -> dict[str, bytes]:
        """Every PEM by attribute name (to check sizes, or load into the module)."""
        return {
            "ca_pem": self.ca_pem,
            "server_cert_pem": self.server_cert_pem,
            "server_key_pem": self.server_key_pem,
            "client_cert_pem": self.client_cert_pem,
            "client_key_pem": self.client_key_pem,
        }

    def server_context(self, *, require_client_cert: bool = False) -> ssl.SSLContext:
        """Server side: presents the server certificate; verifies client certificates
        against the CA (required if ``require_client_cert``, else checked if sent)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server.configure_cert(ctx)
        self.ca.configure_trust(ctx)
        ctx.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
        return ctx

    def client_context(self, *, with_client_cert: bool = False) -> ssl.SSLContext:
        """Client side: trusts only the CA, checks the host name; presents the client
        certificate if ``with_client_cert``."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.ca.configure_trust(ctx)
        if with_client_cert:
            self.client.configure_cert(ctx)
        return ctx


def _subject_text(cert: Mapping[str, object]) -> str:
    """'commonName=x, organizationName=y' from an ``SSLSocket.getpeercert()`` dict."""
    subject = cert.get("subject", ())
    parts: list[str] = []
    if isinstance(subject, tuple):
        for rdn in subject:
            for attribute in rdn:
                parts.append(f"{attribute[0]}={attribute[1]}")
    return ", ".join(parts)


class TlsEchoServer(_TcpServer):
    """Echoes over TLS with ``certs``' server certificate.

    ``peer_certs`` lists the subject of every client certificate presented (and
    verified against the CA); ``handshake_errors`` why handshakes failed.
    """

    def __init__(self, certs: TlsCertificates, require_client_cert: bool = False) -> None:
        self._context = certs.server_context(require_client_cert=require_client_cert)
        self.peer_certs: list[str] = []
        self.handshake_errors: list[str] = []
        super().__init__("tls-echo")

    def _serve(self, conn: _Connection) -> None:
        # The handshake runs here, not on the accept thread, so a silent client
        # cannot stall accepting others.
        try:
            tls = self._context.wrap_socket(conn.sock, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            with self._lock:
                self.handshake_errors.append(str(exc))
            return
        conn.sock = tls  # the wrapped socket is the one to close
        cert = tls.getpeercert()
        if cert:
            with self._lock:
                self.peer_certs.append(_subject_text(cert))
        while self._receiving(conn):
            # Decrypted bytes may already be buffered, so poll through the TLS layer.
            tls.settimeout(POLL)
            try:
                data = tls.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            if not data:
                return
            tls.settimeout(IO_TIMEOUT)
            tls.sendall(data)


def tls_connect(
    address: tuple[str, int],
    certs: TlsCertificates,
    timeout: float = 2.0,
    *,
    with_client_cert: bool = False,
    server_hostname: str = "localhost",
) -> ssl.SSLSocket:
    """Open a verified TLS connection (trusting ``certs``' CA) and finish the handshake.

    The returned socket has ``timeout`` set; close it (or use it as a context manager).
    """
    context = certs.client_context(with_client_cert=with_client_cert)
    raw = socket.create_connection(address, timeout=timeout)
    try:
        return context.wrap_socket(raw, server_hostname=server_hostname)
    except BaseException:
        raw.close()
        raise


class DnsServer(Closing):
    """An authoritative-for-everything DNS server over UDP on 127.0.0.1:0.

    Answers A queries for the names in ``records`` (case-insensitive, final dot
    optional), NOERROR with no answer for other types of known names, NXDOMAIN
    otherwise. ``queries`` lists the names asked, to prove a lookup went through it.
    With ``silent=True`` it records queries but never answers (a dead server).
    ``host``/``port`` default to 127.0.0.1 and an ephemeral port; a fixed port on
    ``::1`` lets two servers share the one port number the resolver uses.
    """

    def __init__(
        self,
        records: dict[str, str],
        *,
        silent: bool = False,
        ttl: int = 60,
        host: str = HOST,
        port: int = 0,
    ) -> None:
        self._records = {self._key(name): address for name, address in records.items()}
        self._silent = silent
        self._ttl = ttl
        self._lock = threading.Lock()
        self._queries: list[str] = []
        self._stop = threading.Event()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self._sock.bind((host, port))
        except OSError:
            self._sock.close()
            raise
        self._address: tuple[str, int] = self._sock.getsockname()[:2]
        self._thread = threading.Thread(target=self._run, name="dns-server", daemon=True)
        self._thread.start()

    @staticmethod
    def _key(name: str) -> str:
        return name.rstrip(".").lower()

    @property
    def address(self) -> tuple[str, int]:
        return self._address

    @property
    def host(self) -> str:
        return self._address[0]

    @property
    def port(self) -> int:
        return self._address[1]

    @property
    def queries(self) -> list[str]:
        """Names asked so far (without the final dot), in arrival order."""
        with self._lock:
            return list(self._queries)

    def _answer(self, wire: bytes) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except Exception:  # any malformed packet is just dropped
            return None
        if not query.question:
            return None
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True)
        with self._lock:
            self._queries.append(name)
        if self._silent:
            return None
        response = dns.message.make_response(query)
        address = self._records.get(self._key(name))
        if address is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.A and question.rdclass == dns.rdataclass.IN:
            response.answer.append(
                dns.rrset.from_text(question.name, self._ttl, "IN", "A", address)
            )
        return response.to_wire()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if not _readable(self._sock, POLL):
                    continue
                try:
                    wire, client = self._sock.recvfrom(65535)
                except OSError:
                    continue
                reply = self._answer(wire)
                if reply is not None:
                    with contextlib.suppress(OSError):
                        self._sock.sendto(reply, client)
        finally:
            self._sock.close()

    def close(self) -> None:
        """Stop serving and close the socket."""
        self._stop.set()
        self._thread.join(IO_TIMEOUT)


class Receiving(Protocol):
    def recv(self, bufsize: int, /) -> bytes: ...


def recv_exactly(sock: Receiving, size: int) -> bytes:
    """Exactly ``size`` bytes from a stream socket (a stdlib or a module one)."""
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, f"end of stream after {len(data)} of {size} bytes"
        data += chunk
    return bytes(data)


def wait_until(predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Poll ``predicate`` until true or ``timeout``; returns its last value."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return predicate()
        time.sleep(POLL)
    return True
