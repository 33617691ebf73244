"""The socket-shaped objects (create_connection, create_server, udp_server) over the emulator."""

from __future__ import annotations

import errno
import socket
import threading
import time

import pytest

import atsock
from atsock import CertKind, ReceiveMode, SocketType
from atsock.emulator import Emulator
from driver_fixtures import *  # noqa: F403  (the fixtures)
from driver_fixtures import wait_event
from peers import TcpCollector, TcpEchoServer, TlsCertificates, TlsEchoServer, UdpPeer, recv_exactly


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("mode", [ReceiveMode.PASSIVE, ReceiveMode.ACTIVE])
def test_create_connection_tcp_round_trip(
    module: atsock.Module, echo_server: TcpEchoServer, mode: ReceiveMode
) -> None:
    module.set_receive_mode(mode)
    with module.create_connection(echo_server.address, timeout=2.0) as sock:
        assert sock.gettimeout() == 2.0
        payload = bytes(range(256)) * 10 + b"\r\nOK\r\n"
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
        assert sock.send(b"abc") == 3
        buffer = bytearray(10)
        n = 0
        while n < 3:
            n += sock.recv_into(memoryview(buffer)[n:], 3 - n)
        assert buffer[:3] == b"abc"
        assert "open" in repr(sock)
    assert sock.closed and "closed" in repr(sock)
    sock.close()  # idempotent
    with pytest.raises(OSError) as info:
        sock.sendall(b"x")
    assert info.value.errno == errno.EBADF
    assert module.sockets() == []


@pytest.mark.parametrize("mode", [ReceiveMode.PASSIVE, ReceiveMode.ACTIVE])
def test_a_peer_that_speaks_first_is_heard(module: atsock.Module, mode: ReceiveMode) -> None:
    """An SMTP-style banner, sent the moment the emulator's connection is accepted: it
    races the driver's handling of the AT+SOCKET reply."""
    banner = b"220 peer ready\r\n"
    rounds = 5
    module.set_receive_mode(mode)
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(2.0)

        def greet() -> None:
            for _ in range(rounds):
                peer, _ = server.accept()
                with peer:
                    peer.sendall(banner)
                    peer.recv(1)  # until the driver closes its side

        greeter = threading.Thread(target=greet, daemon=True)
        greeter.start()
        for _ in range(rounds):
            with module.create_connection(server.getsockname()[:2], timeout=2.0) as sock:
                assert recv_exactly(sock, len(banner)) == banner
        greeter.join(2.0)


def test_recv_timeout_and_nonblocking(module: atsock.Module, echo_server: TcpEchoServer) -> None:
    with module.create_connection(echo_server.address) as sock:
        sock.settimeout(0.1)
        started = time.monotonic()
        with pytest.raises(atsock.Timeout) as info:
            sock.recv(10)
        assert time.monotonic() - started < 1.0
        assert isinstance(info.value, TimeoutError) and info.value.errno == errno.ETIMEDOUT
        sock.setblocking(False)
        assert sock.gettimeout() == 0.0
        with pytest.raises(BlockingIOError):
            sock.recv(10)
        sock.setblocking(True)
        assert sock.gettimeout() is None
        with pytest.raises(ValueError):
            sock.settimeout(-1)
        assert sock.recv(0) == b""


def test_recv_returns_empty_at_end_of_stream(
    module: atsock.Module, collector: TcpCollector
) -> None:
    with module.create_connection(collector.address, timeout=2.0) as sock:
        sock.sendall(b"before close")
        collector.send_to_client(b"last words")
        assert recv_exactly(sock, 10) == b"last words"
        collector.close_all_clients()
        assert sock.recv(100) == b""
        assert sock.recv(100) == b""


def test_recv_smaller_than_a_packet_keeps_the_rest(
    module: atsock.Module, echo_server: TcpEchoServer
) -> None:
    with module.create_connection(echo_server.address, timeout=2.0) as sock:
        sock.sendall(b"0123456789")
        assert recv_exactly(sock, 4) == b"0123"
        assert recv_exactly(sock, 6) == b"456789"


def test_makefile_lines(module: atsock.Module, echo_server: TcpEchoServer) -> None:
    with module.create_connection(echo_server.address, timeout=2.0) as sock:
        writer = sock.makefile("wb")
        writer.write(b"line one\nline two\n")
        writer.flush()
        reader = sock.makefile("rb")
        assert reader.readline() == b"line one\n"
        assert reader.readline() == b"line two\n"
        rw = sock.makefile("rwb", buffering=0)
        assert rw.write(b"raw\n") == 4
        writer.close()
        reader.close()
        rw.close()


def test_create_connection_tls(
    module: atsock.Module, tls_certs: TlsCertificates, tls_echo: TlsEchoServer
) -> None:
    module.set_certificate(CertKind.CA, tls_certs.ca_pem)
    with module.create_connection(("localhost", tls_echo.address[1]), 2.0, tls=True) as sock:
        assert sock.kind == SocketType.SSL_CLIENT
        sock.sendall(b"secure hello")
        assert recv_exactly(sock, 12) == b"secure hello"


def test_tls_data_held_back_by_a_full_receive_queue_still_arrives(
    module: atsock.Module, tls_certs: TlsCertificates
) -> None:
    """A peer's 5001-byte TLS records fill the module's 64 KiB queue in the middle of the
    last one: its rest waits decrypted inside TLS, where socket readiness cannot show it."""
    module.set_certificate(CertKind.CA, tls_certs.ca_pem)
    pieces = [bytes([i]) * 5001 for i in range(14)]
    context = tls_certs.server_context()
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(2.0)

        def serve() -> None:
            raw, _ = server.accept()
            with context.wrap_socket(raw, server_side=True) as tls:
                for piece in pieces:
                    tls.sendall(piece)  # one record each
                tls.recv(1)  # until the module closes

        peer = threading.Thread(target=serve, daemon=True)
        peer.start()
        address = ("localhost", server.getsockname()[1])
        with module.create_connection(address, 2.0, tls=True) as sock:
            time.sleep(0.5)  # all of it reached the module, whose queue is full
            assert recv_exactly(sock, len(pieces) * 5001) == b"".join(pieces)
        peer.join(2.0)


def test_create_connection_refused_is_oserror(module: atsock.Module) -> None:
    with pytest.raises(atsock.CommandError) as info:
        module.create_connection(("127.0.0.1", free_port()), timeout=2.0)
    assert info.value.code == 97


def test_create_connection_udp(module: atsock.Module, udp_peer: UdpPeer) -> None:
    with module.create_connection(udp_peer.address, timeout=2.0, udp=True) as sock:
        sock.sendall(b"dgram")
        data, sender = udp_peer.recv()
        assert data == b"dgram"
        udp_peer.sendto(b"a long datagram", sender)
        assert sock.recv(6) == b"a long"  # a datagram's excess is discarded
        udp_peer.sendto(b"next", sender)
        assert sock.recv(100) == b"next"


def test_create_server_accepts_clients(module: atsock.Module) -> None:
    port = free_port()
    with module.create_server(port) as server:
        server.settimeout(2.0)
        with socket.create_connection(("127.0.0.1", port), timeout=2) as client:
            conn, address = server.accept()
            conn.settimeout(2.0)
            assert conn.kind == SocketType.TCP_SEED
            assert address == client.getsockname()
            client.sendall(b"from client")
            assert recv_exactly(conn, 11) == b"from client"
            conn.sendall(b"from module")
            assert client.recv(100) == b"from module"
        with conn:
            wait_event(module, atsock.SocketDisconnected)
            assert conn.recv(10) == b""
        server.settimeout(0.1)
        assert server.gettimeout() == 0.1
        with pytest.raises(atsock.Timeout):
            server.accept()
        server.setblocking(False)  # the stdlib's non-blocking accept
        with pytest.raises(BlockingIOError):
            server.accept()
        with pytest.raises(ValueError):
            server.settimeout(-1)
    assert server.closed
    assert module.sockets() == []


def test_create_server_tls(module: atsock.Module, tls_certs: TlsCertificates) -> None:
    module.set_certificate(CertKind.CA, tls_certs.ca_pem)
    module.set_certificate(CertKind.CLIENT_CERT, tls_certs.server_cert_pem)
    module.set_certificate(CertKind.CLIENT_KEY, tls_certs.server_key_pem)
    port = free_port()
    with module.create_server(port, tls=True) as server:
        server.settimeout(2.0)
        context = tls_certs.client_context()
        raw = socket.create_connection(("127.0.0.1", port), timeout=2)
        with context.wrap_socket(raw, server_hostname="localhost") as client:
            conn, _ = server.accept()
            with conn:
                conn.settimeout(2.0)
                assert conn.kind == SocketType.SSL_SEED
                client.sendall(b"tls in")
                assert recv_exactly(conn, 6) == b"tls in"
                conn.sendall(b"tls out")
                assert client.recv(100) == b"tls out"


def test_udp_server_replies_to_its_peer(module: atsock.Module, udp_peer: UdpPeer) -> None:
    port = free_port(socket.SOCK_DGRAM)
    with module.udp_server(port) as server:
        server.settimeout(2.0)
        udp_peer.sendto(b"hi server", ("127.0.0.1", port))
        data, peer = server.recvfrom(100)
        assert data == b"hi server"
        assert peer == udp_peer.address
        server.sendall(b"hi peer")
        assert udp_peer.recv()[0] == b"hi peer"


def test_socket_after_unexpected_reset_raises_module_reset(
    emu_module: tuple[Emulator, atsock.Module], echo_server: TcpEchoServer
) -> None:
    emu, m = emu_module
    with m.create_connection(echo_server.address) as sock:  # blocking: no timeout
        emu.reset()
        with pytest.raises(atsock.ModuleReset):
            sock.recv(10)


def test_socket_closed_by_module_reset_does_not_see_a_new_conid(
    emu_module: tuple[Emulator, atsock.Module], echo_server: TcpEchoServer
) -> None:
    emu, m = emu_module
    old = m.create_connection(echo_server.address, timeout=1.0)
    emu.reset()
    wait_event(m, atsock.ModuleRestarted)
    with m.create_connection(echo_server.address, timeout=1.0) as new:
        assert new.con_id == old.con_id
        new.sendall(b"for the new one")
        assert recv_exactly(new, 15) == b"for the new one"
        with pytest.raises(atsock.ModuleReset):
            old.recv(10)
        with pytest.raises(atsock.ModuleReset):
            old.sendall(b"for the old one")  # would reach the new connection's peer
        old.close()  # deletes nothing: the ConID is the new connection's
        new.sendall(b"still open")
        assert recv_exactly(new, 10) == b"still open"
        assert [s.con_id for s in m.sockets()] == [new.con_id]


def test_switching_to_active_mode_keeps_packets_already_announced(
    module: atsock.Module, echo_server: TcpEchoServer
) -> None:
    with module.create_connection(echo_server.address, timeout=1.0) as sock:
        sock.sendall(b"queued while passive")
        wait_event(module, atsock.SocketData)  # announced, waiting on the module
        module.set_receive_mode(ReceiveMode.ACTIVE)
        # delivered as active-mode data, to events too
        event = wait_event(module, atsock.SocketData, lambda e: e.data is not None)
        assert event.data == b"queued while passive"
        started = time.process_time()
        assert recv_exactly(sock, 20) == b"queued while passive"
        sock.sendall(b"then active")
        assert recv_exactly(sock, 11) == b"then active"
        assert time.process_time() - started < 0.5  # waited, did not spin


def test_a_reset_puts_the_receive_mode_back_to_passive_as_the_module_does(
    module: atsock.Module, echo_server: TcpEchoServer
) -> None:
    module.set_receive_mode(ReceiveMode.ACTIVE)
    assert module.receive_mode == ReceiveMode.ACTIVE
    module.reset()
    assert module.receive_mode == ReceiveMode.PASSIVE  # the rebooted module is passive
    assert module.command("AT+SOCKETRECVCFG?") == ["+SOCKETRECVCFG:0"]
    with module.create_connection(echo_server.address, timeout=1.0) as sock:
        sock.sendall(b"announced after the reset")
        event = wait_event(module, atsock.SocketData)
        assert event.data is None  # passive: announced, not delivered
        # so switching to active mode again reads what was announced (the drain)
        module.set_receive_mode(ReceiveMode.ACTIVE)
        assert recv_exactly(sock, 25) == b"announced after the reset"
        assert module.connections.announced() == {}


def test_create_server_on_port_0_takes_a_free_port_and_says_which(
    module: atsock.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        busy, free = taken.getsockname()[1], free_port()
        # (the random pick made certain: first a port that is taken, then a free one)
        monkeypatch.setattr(atsock.sync.sockets.random, "sample", lambda ports, k: [busy, free])
        with module.create_server(0) as server:
            assert server.getsockname() == ("0.0.0.0", free)
            assert server.port == free
            assert repr(server) == (
                f"<atsock.ServerSocket ConID={server.con_id} TCP_SERVER port={free} open>"
            )
            server.settimeout(2.0)
            assert server.timeout == 2.0
            with socket.create_connection(("127.0.0.1", free), timeout=2):
                conn, _ = server.accept()
                conn.close()
        assert repr(server).endswith("closed>")
        with pytest.raises(atsock.PortInUse, match="error 104") as in_use:
            module.create_server(busy)  # a port given is that port or an error
        assert in_use.value.errno == errno.EADDRINUSE


def test_create_server_on_port_0_without_a_free_port_is_a_clear_error(
    module: atsock.Module, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        busy = taken.getsockname()[1]
        monkeypatch.setattr(atsock.sync.sockets.random, "sample", lambda ports, k: [busy] * k)
        with pytest.raises(atsock.ATError, match="no free port for a server"):
            module.create_server(0)


def test_sendto_goes_only_where_the_module_can_send(
    module: atsock.Module, udp_peer: UdpPeer
) -> None:
    port = free_port(socket.SOCK_DGRAM)
    with module.udp_server(port) as server, UdpPeer() as stranger:
        server.settimeout(2.0)
        with pytest.raises(atsock.ATError, match="only to nobody yet"):
            server.sendto(b"x", udp_peer.address)
        udp_peer.sendto(b"hi", ("127.0.0.1", port))
        assert server.recvfrom(10) == (b"hi", udp_peer.address)
        assert server.sendto(b"back", udp_peer.address) == 4
        assert udp_peer.recv()[0] == b"back"
        with pytest.raises(atsock.ATError, match=f"only to 127.0.0.1:{udp_peer.address[1]}"):
            server.sendto(b"x", stranger.address)
    with module.create_connection(udp_peer.address, timeout=2.0, udp=True) as client:
        assert client.sendto(b"dgram", udp_peer.address) == 5
        assert udp_peer.recv()[0] == b"dgram"
