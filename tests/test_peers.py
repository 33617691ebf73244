"""The test peers (tests/peers.py) and the emulator's resolver work against real sockets.

Every emulator test trusts these peers to be what they claim: an echo that echoes,
a TLS server that really verifies certificates, a DNS server that really answers.
These short tests prove it, so a failure elsewhere points at the emulator, not here.
"""

from __future__ import annotations

import errno
import socket
import ssl
import threading

import pytest

from atsock.emulator.resolver import ResolveError, resolve
from peers import (
    CERT_SLOT_LIMIT,
    DnsServer,
    TcpCollector,
    TcpEchoServer,
    TlsCertificates,
    TlsEchoServer,
    UdpPeer,
    tls_connect,
    wait_until,
)

TIMEOUT = 2.0


@pytest.fixture(scope="module")
def certs() -> TlsCertificates:
    return TlsCertificates()


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


# --- TCP ---------------------------------------------------------------------


def test_tcp_echo_round_trip_on_concurrent_connections() -> None:
    payload = bytes(range(256)) * 64  # 16 KiB, holds \r\n, "OK", everything
    with TcpEchoServer() as echo:
        clients = [socket.create_connection(echo.address, timeout=TIMEOUT) for _ in range(3)]
        try:
            for client in clients:
                client.sendall(payload)
            for client in clients:
                assert _recv_exactly(client, len(payload)) == payload
        finally:
            for client in clients:
                client.close()
        assert echo.connections == 3
        assert wait_until(lambda: echo.received == 3 * len(payload))


@pytest.mark.parametrize("reset", [False, True])
def test_tcp_echo_close_all_clients_makes_the_peer_vanish(reset: bool) -> None:
    with TcpEchoServer() as echo, socket.create_connection(echo.address, TIMEOUT) as client:
        client.sendall(b"ping")
        assert _recv_exactly(client, 4) == b"ping"
        echo.close_all_clients(reset=reset)
        if reset:
            with pytest.raises(ConnectionResetError):
                client.recv(16)
        else:
            assert client.recv(16) == b""


def test_tcp_collector_collects_and_talks_back() -> None:
    with TcpCollector() as sink, socket.create_connection(sink.address, TIMEOUT) as client:
        assert sink.wait_for_connection(TIMEOUT)
        sink.send_to_client(b"hello client")
        assert _recv_exactly(client, 12) == b"hello client"
        client.sendall(b"first ")
        assert wait_until(lambda: len(sink.chunks) == 1)
        client.sendall(b"second")
        client.shutdown(socket.SHUT_WR)
        assert sink.data(TIMEOUT) == b"first second"
        assert sink.chunks == [b"first ", b"second"]
        assert sink.connections == 1


def test_tcp_collector_data_returns_after_timeout_while_open() -> None:
    with TcpCollector() as sink, socket.create_connection(sink.address, TIMEOUT) as client:
        client.sendall(b"partial")
        assert wait_until(lambda: sink.chunks == [b"partial"])
        assert sink.data(0.05) == b"partial"
        assert not sink.wait_closed(0.0)


def test_tcp_collector_without_client_times_out() -> None:
    with TcpCollector() as sink:
        assert not sink.wait_for_connection(0.05)
        with pytest.raises(TimeoutError):
            sink.send_to_client(b"x", timeout=0.05)


# --- UDP ---------------------------------------------------------------------


def test_udp_round_trip_between_two_peers() -> None:
    with UdpPeer() as a, UdpPeer() as b:
        a.sendto(b"\x00datagram\r\n", b.address)
        data, sender = b.recv(TIMEOUT)
        assert data == b"\x00datagram\r\n"
        assert sender == a.address
        b.sendto(b"one", a.address)
        b.sendto(b"two", a.address)
        assert a.datagrams(2, TIMEOUT) == [b"one", b"two"]


def test_udp_recv_times_out() -> None:
    with UdpPeer() as peer:
        with pytest.raises(TimeoutError):
            peer.recv(0.05)
        with pytest.raises(TimeoutError, match="0 of 1"):
            peer.datagrams(1, 0.05)


# --- TLS ---------------------------------------------------------------------


def test_every_pem_fits_a_certificate_slot(certs: TlsCertificates) -> None:
    for name, pem in certs.pems().items():
        assert pem.startswith(b"-----BEGIN "), name
        assert len(pem) <= CERT_SLOT_LIMIT == 2048, (name, len(pem))


def test_tls_echo_verified_against_the_ca(certs: TlsCertificates) -> None:
    with TlsEchoServer(certs) as server, tls_connect(server.address, certs, TIMEOUT) as tls:
        tls.sendall(b"over tls\r\nOK\r\n")
        assert _recv_exactly(tls, 14) == b"over tls\r\nOK\r\n"
        assert server.peer_certs == []  # no client certificate presented


def test_tls_client_refuses_a_server_from_another_ca(certs: TlsCertificates) -> None:
    other = TlsCertificates()
    with TlsEchoServer(other) as server:
        with pytest.raises(ssl.SSLCertVerificationError):
            tls_connect(server.address, certs, TIMEOUT).close()
        assert wait_until(lambda: len(server.handshake_errors) == 1)


def test_tls_echo_with_a_client_certificate(certs: TlsCertificates) -> None:
    with (
        TlsEchoServer(certs, require_client_cert=True) as server,
        tls_connect(server.address, certs, TIMEOUT, with_client_cert=True) as tls,
    ):
        tls.sendall(b"mutual")
        assert _recv_exactly(tls, 6) == b"mutual"
        assert len(server.peer_certs) == 1
        assert f"commonName={TlsCertificates.CLIENT_CN}" in server.peer_certs[0]


def test_tls_server_requiring_a_client_certificate_rejects_a_client_without(
    certs: TlsCertificates,
) -> None:
    with TlsEchoServer(certs, require_client_cert=True) as server:
        # TLS 1.3: the client learns of the rejection on its first read.
        with (
            pytest.raises((ssl.SSLError, ConnectionResetError)),
            tls_connect(server.address, certs, TIMEOUT) as tls,
        ):
            tls.sendall(b"x")
            tls.recv(1)
        assert wait_until(lambda: len(server.handshake_errors) == 1)
        assert server.peer_certs == []


def test_tls_contexts_serve_an_ad_hoc_server(certs: TlsCertificates) -> None:
    """server_context() + tls_connect(): what the emulator's SSL server will do."""
    context = certs.server_context()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)
    seen: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with context.wrap_socket(conn, server_side=True) as tls:
            tls.settimeout(TIMEOUT)
            seen.append(tls.recv(16))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with tls_connect(listener.getsockname()[:2], certs, TIMEOUT) as tls:
            assert tls.version() is not None
            tls.sendall(b"to server")
        thread.join(TIMEOUT)
        assert seen == [b"to server"]
    finally:
        thread.join(TIMEOUT)
        listener.close()


# --- DNS and the resolver -----------------------------------------------------


def test_dns_server_answers_through_the_resolver() -> None:
    with DnsServer({"iot.example.com": "203.0.113.7"}) as dns_server:
        address = resolve("iot.example.com", ["127.0.0.1"], port=dns_server.port)
        assert address == "203.0.113.7"
        assert dns_server.queries == ["iot.example.com"]


def test_resolver_reports_a_dead_server() -> None:
    with DnsServer({"a.test": "192.0.2.1"}, silent=True) as dead:
        with pytest.raises(ResolveError, match=r"127\.0\.0\.1:\d+ -> no answer") as info:
            resolve("a.test", ["0.0.0.0", "", "127.0.0.1"], port=dead.port, timeout=0.2)
        assert list(info.value.reasons) == [f"127.0.0.1:{dead.port}"]
        assert dead.queries == ["a.test"]


def dead_and_good_on_one_port(records: dict[str, str]) -> tuple[DnsServer, DnsServer]:
    """A silent DNS server on [::1] and an answering one on 127.0.0.1, on the same port
    (the resolver uses one port for every server); a port already taken on 127.0.0.1
    is given up for another ephemeral one."""
    for _ in range(20):
        dead = DnsServer({}, silent=True, host="::1")
        try:
            return dead, DnsServer(records, port=dead.port)
        except OSError as exc:
            dead.close()
            if exc.errno != errno.EADDRINUSE:
                raise
    raise AssertionError("no port free on both [::1] and 127.0.0.1 in 20 tries")


def test_resolver_tries_servers_in_order_skipping_unset_ones() -> None:
    dead, good = dead_and_good_on_one_port({"a.test": "192.0.2.1"})
    with dead, good:
        servers = ["0.0.0.0", "::1", "", "127.0.0.1"]
        assert resolve("A.TEST", servers, port=good.port, timeout=0.2) == "192.0.2.1"
        assert dead.queries == ["A.TEST"]
        assert good.queries == ["A.TEST"]


def test_resolver_moves_past_a_server_with_nothing_listening() -> None:
    # An unconnected UDP socket never sees the ICMP "port unreachable": this times out.
    with UdpPeer() as closed_port_holder:
        port = closed_port_holder.address[1]
    with DnsServer({"b.test": "192.0.2.9"}, host="::1", port=port) as good:
        assert resolve("b.test", ["127.0.0.1", "::1"], port=port, timeout=0.5) == "192.0.2.9"
        assert good.queries == ["b.test"]


def test_nxdomain_raises_resolve_error_naming_the_server() -> None:
    with DnsServer({"known.test": "192.0.2.2"}) as dns_server:
        with pytest.raises(ResolveError, match=r"127\.0\.0\.1.*NXDOMAIN") as info:
            resolve("unknown.test", ["127.0.0.1"], port=dns_server.port)
        assert info.value.name == "unknown.test"
        assert dns_server.queries == ["unknown.test"]


@pytest.mark.parametrize(
    "name",
    ["", "a" * 254, "bad name.test", "evil\r\n.test", "x;y.test", "a..b", "ü.test", "l" * 64],
)
def test_bad_names_are_refused_without_a_query(name: str) -> None:
    with DnsServer({}) as dns_server:
        with pytest.raises(ResolveError):
            resolve(name, ["127.0.0.1"], port=dns_server.port)
        assert dns_server.queries == []


@pytest.mark.parametrize("literal", ["192.0.2.55", "127.0.0.1", "::1", "2001:db8::1"])
def test_ip_literals_are_returned_unchanged(literal: str) -> None:
    with DnsServer({}) as dns_server:
        assert resolve(literal, ["127.0.0.1"], port=dns_server.port) == literal
        assert dns_server.queries == []


def test_system_resolver_without_servers() -> None:
    # Only "localhost" (from the hosts file): tests must not query a real DNS server.
    assert resolve("localhost", ["0.0.0.0", ""]) == "127.0.0.1"
