"""Every Module method against the emulator, over a pty and over TCP, with real peers."""

from __future__ import annotations

import errno
import socket
import threading
import time

import pytest

import atsock
from atsock import CertKind, ReceiveMode, SocketStatus, SocketType
from atsock.emulator import Emulator
from driver_fixtures import *  # noqa: F403  (the fixtures)
from driver_fixtures import ModuleFactory, read_all, wait_event
from peers import (
    DnsServer,
    TcpCollector,
    TcpEchoServer,
    TlsCertificates,
    TlsEchoServer,
    UdpPeer,
    wait_until,
)

ALL_BYTES = bytes(range(256))


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- basics -------------------------------------------------------------------------------


def test_at_version_and_raw_command(module: atsock.Module) -> None:
    module.at()
    module.at(timeout=0.5)
    version = module.version()
    assert any("AT version" in line for line in version)
    assert module.command("AT+WJAP?") == ["+WJAP:atsock-emulator"]


def test_echo_on_and_off(make_module: ModuleFactory, echo_server: TcpEchoServer) -> None:
    _, m = make_module(emulator={"echo": True})
    m.at()
    assert m.dns_servers() == ("0.0.0.0", "0.0.0.0")
    cid = m.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
    m.send(cid, b"echoed")
    wait_event(m, atsock.SocketData)
    assert m.read(cid) == b"echoed"
    m.set_echo(False)
    m.at()
    assert [s.con_id for s in m.sockets()] == [cid]
    m.set_echo(True)
    assert [s.con_id for s in m.sockets()] == [cid]


def test_unknown_command_is_a_command_error(module: atsock.Module) -> None:
    with pytest.raises(atsock.CommandError) as info:
        module.command("AT+NOPE")
    assert "Unknown cmd" in str(info.value)


def test_stalled_module_times_out_as_oserror(emu_module: tuple[Emulator, atsock.Module]) -> None:
    emu, m = emu_module
    emu.stall(0.6)
    time.sleep(0.05)
    started = time.monotonic()
    with pytest.raises(atsock.Timeout) as info:
        m.at(timeout=0.2)
    assert time.monotonic() - started < 1.0
    assert isinstance(info.value, OSError) and isinstance(info.value, TimeoutError)
    assert info.value.errno == errno.ETIMEDOUT
    time.sleep(0.7)  # the stall ends; the late OK of the first AT arrives unasked
    m.at()
    m.at()


def test_reset_waits_for_ready_and_forgets_conids(
    module: atsock.Module, echo_server: TcpEchoServer
) -> None:
    cid = module.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
    module.reset()
    wait_event(module, atsock.ModuleRestarted)
    assert module.sockets() == []
    with pytest.raises(atsock.SocketClosed):
        module.send(cid, b"x")
    module.at()


def test_unexpected_reset_marks_every_conid_gone(
    emu_module: tuple[Emulator, atsock.Module], echo_server: TcpEchoServer
) -> None:
    emu, m = emu_module
    cid = m.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
    sock = atsock.Socket(m, cid, SocketType.TCP_CLIENT)
    emu.reset()
    wait_event(m, atsock.ModuleRestarted)
    with pytest.raises(atsock.ModuleReset):
        sock.recv(10)
    assert not m.connections.known(cid)
    m.at()
    sock.close()


# ---- sockets -------------------------------------------------------------------------------


def test_tcp_client_send_and_read_any_bytes(
    module: atsock.Module, echo_server: TcpEchoServer
) -> None:
    cid = module.open_socket(SocketType.TCP_CLIENT, "127.0.0.1", echo_server.address[1])
    assert module.read(cid) == b""
    payload = b"\r\nOK\r\n+EVENT:SocketDown,1,3\r\n>" + ALL_BYTES * 12  # 3 KiB, any bytes
    module.send(cid, payload)
    assert read_all(module, cid, len(payload)) == payload
    assert module.read(cid) == b""


def test_sockets_lists_rows(module: atsock.Module, echo_server: TcpEchoServer) -> None:
    port = free_port()
    server = module.open_socket(SocketType.TCP_SERVER, port=port)
    client = module.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
    rows = {s.con_id: s for s in module.sockets()}
    assert rows[server].type == SocketType.TCP_SERVER and rows[server].local_port == port
    assert rows[client].type == SocketType.TCP_CLIENT
    assert rows[client].status == SocketStatus.CONNECTED
    assert rows[client].remote_port == echo_server.address[1]
    module.delete(client)
    module.delete(server)
    assert module.sockets() == []


def test_connection_refused_is_code_97(module: atsock.Module) -> None:
    with pytest.raises(atsock.CommandError) as info:
        module.open_socket(SocketType.TCP_CLIENT, "127.0.0.1", free_port())
    assert info.value.code == 97
    assert info.value.meaning is not None and "refused" in info.value.meaning
    assert module.sockets() == []


def test_send_line_reaches_the_peer_exactly(module: atsock.Module, collector: TcpCollector) -> None:
    cid = module.open_socket(SocketType.TCP_CLIENT, *collector.address)
    texts = ["plain", 'a,"quoted",\\back\\slash', "AT+RST", "\r\nAT+RST\r\n", "x" * 600, "é"]
    for text in texts:
        module.send_line(cid, text)
    module.send_line(cid, b"bytes too")
    module.send_line(cid, b"")
    module.delete(cid)
    expected = "".join(texts).encode() + b"bytes too"
    assert collector.data() == expected


def test_send_to_unknown_conid_fails_fast(module: atsock.Module) -> None:
    with pytest.raises(atsock.SocketClosed):
        module.send(7, b"data")
    with pytest.raises(atsock.SocketClosed):
        module.send_line(7, "data")
    with pytest.raises(atsock.CommandError) as info:
        module.delete(7)
    assert info.value.code == 110


def test_delete_then_send_is_socket_closed(
    module: atsock.Module, echo_server: TcpEchoServer
) -> None:
    cid = module.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
    module.delete(cid)
    with pytest.raises(atsock.SocketClosed):
        module.send(cid, b"late")


def test_active_receive_mode_delivers_data_in_events(
    module: atsock.Module, echo_server: TcpEchoServer
) -> None:
    module.set_receive_mode(ReceiveMode.ACTIVE)
    cid = module.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
    payload = b"active\r\nOK\r\n+EVENT:x"
    module.send(cid, payload)
    got = bytearray()
    while len(got) < len(payload):
        event = wait_event(module, atsock.SocketData)
        assert event.con_id == cid and event.data is not None
        got += event.data
    assert bytes(got) == payload
    module.set_receive_mode(ReceiveMode.PASSIVE)
    module.send(cid, b"passive")
    event = wait_event(module, atsock.SocketData)
    assert event.data is None
    assert read_all(module, cid, 7) == b"passive"


def test_on_event_callback_may_run_commands(
    module: atsock.Module, echo_server: TcpEchoServer
) -> None:
    got: list[bytes] = []
    done = threading.Event()

    def on_event(event: atsock.Event) -> None:
        if isinstance(event, atsock.SocketData):
            got.append(module.read(event.con_id))
            done.set()

    module.on_event(on_event)
    cid = module.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
    module.send(cid, b"ping")
    assert done.wait(2.0)
    assert got == [b"ping"]


def test_tcp_server_seed_and_disconnect(module: atsock.Module) -> None:
    port = free_port()
    server = module.open_socket(SocketType.TCP_SERVER, port=port)
    with socket.create_connection(("127.0.0.1", port), timeout=2) as client:
        seed = wait_event(module, atsock.SocketSeed)
        assert seed.server_con_id == server
        row = next(s for s in module.sockets() if s.con_id == seed.con_id)
        assert row.type == SocketType.TCP_SEED and row.server_con_id == server
        client.sendall(b"to the module")
        wait_event(module, atsock.SocketData)
        assert module.read(seed.con_id) == b"to the module"
        module.send(seed.con_id, b"to the client")
        assert client.recv(100) == b"to the client"
    wait_event(module, atsock.SocketDisconnected, lambda e: e.con_id == seed.con_id)
    module.delete(seed.con_id)
    module.delete(server)


def test_udp_client_and_server(module: atsock.Module, udp_peer: UdpPeer) -> None:
    cid = module.open_socket(SocketType.UDP_CLIENT, *udp_peer.address)
    module.send(cid, b"datagram one")
    data, sender = udp_peer.recv()
    assert data == b"datagram one"
    udp_peer.sendto(b"reply", sender)
    wait_event(module, atsock.SocketData)
    assert module.read(cid) == b"reply"
    port = free_port(socket.SOCK_DGRAM)
    server = module.open_socket(SocketType.UDP_SERVER, port=port)
    with pytest.raises(atsock.CommandError) as info:
        module.send(server, b"nobody spoke yet")
    assert info.value.code == 99
    udp_peer.sendto(b"hello server", ("127.0.0.1", port))
    wait_event(module, atsock.SocketData, lambda e: e.con_id == server)
    assert module.read(server) == b"hello server"
    module.send_line(server, "answer, with comma")
    assert udp_peer.recv()[0] == b"answer, with comma"


# ---- TLS, certificates -------------------------------------------------------------------


def test_certificates_round_trip(module: atsock.Module, tls_certs: TlsCertificates) -> None:
    for kind, pem in [
        (CertKind.CA, tls_certs.ca_pem),
        (CertKind.CLIENT_CERT, tls_certs.client_cert_pem),
        (CertKind.CLIENT_KEY, tls_certs.client_key_pem),
    ]:
        module.set_certificate(kind, pem)
        assert module.certificate(kind) == pem
    module.set_certificate(CertKind.CA, tls_certs.ca_pem.decode())
    module.clear_certificate(CertKind.CLIENT_KEY)
    assert module.certificate(CertKind.CLIENT_KEY) == b""
    with pytest.raises(ValueError):
        module.set_certificate(CertKind.CA, b"x" * 2049)


def test_tls_client_verified_echo(
    module: atsock.Module, tls_certs: TlsCertificates, tls_echo: TlsEchoServer
) -> None:
    module.set_certificate(CertKind.CA, tls_certs.ca_pem)
    cid = module.open_socket(SocketType.SSL_CLIENT, "localhost", tls_echo.address[1])
    module.send(cid, b"over tls \r\nOK\r\n")
    assert read_all(module, cid, 15) == b"over tls \r\nOK\r\n"
    module.delete(cid)


def test_tls_client_without_trust_fails_verification(
    module: atsock.Module, tls_certs: TlsCertificates, tls_echo: TlsEchoServer
) -> None:
    other = TlsCertificates()
    module.set_certificate(CertKind.CA, other.ca_pem)
    with pytest.raises(atsock.CommandError) as info:
        module.open_socket(SocketType.SSL_CLIENT, "localhost", tls_echo.address[1])
    assert info.value.code == 109


# ---- names -------------------------------------------------------------------------------


def test_dns_servers_and_resolve(make_module: ModuleFactory, dns_server: DnsServer) -> None:
    _, m = make_module(emulator={"dns_port": dns_server.port})
    m.set_dns_servers("127.0.0.1")
    assert m.dns_servers()[0] == "127.0.0.1"
    assert m.resolve("echo.atsock.test") == "127.0.0.1"
    assert "echo.atsock.test" in dns_server.queries
    with pytest.raises(atsock.CommandError) as info:
        m.resolve("missing.atsock.test")
    assert info.value.code == 98
    m.set_dns_servers("127.0.0.1", "127.0.0.2")
    assert m.dns_servers() == ("127.0.0.1", "127.0.0.2")
    with pytest.raises(ValueError):
        m.set_dns_servers("not-an-ip")


def test_open_socket_by_name_through_module_dns(
    make_module: ModuleFactory, dns_server: DnsServer, echo_server: TcpEchoServer
) -> None:
    _, m = make_module(emulator={"dns_port": dns_server.port})
    m.set_dns_servers("127.0.0.1")
    cid = m.open_socket(SocketType.TCP_CLIENT, "echo.atsock.test", echo_server.address[1])
    m.send(cid, b"by name")
    assert read_all(m, cid, 7) == b"by name"
    assert wait_until(lambda: "echo.atsock.test" in dns_server.queries)


@pytest.mark.parametrize("host", ["", "a b", 'x"y', "a,b", "a\r\nAT+RST", "h" * 254])
def test_bad_host_names_are_refused_before_sending(module: atsock.Module, host: str) -> None:
    with pytest.raises(ValueError):
        module.open_socket(SocketType.TCP_CLIENT, host, 80)
    with pytest.raises(ValueError):
        module.resolve(host)


def test_argument_checks(module: atsock.Module) -> None:
    with pytest.raises(ValueError):
        module.open_socket(SocketType.TCP_SEED, port=80)
    with pytest.raises(ValueError):
        module.open_socket(SocketType.TCP_SERVER, "host", 80)
    with pytest.raises(ValueError):
        module.open_socket(SocketType.TCP_CLIENT, "127.0.0.1", 0)
    with pytest.raises(ValueError):
        module.set_auto_transparent(SocketType.TCP_SERVER, None, 80)


# ---- auto transparent --------------------------------------------------------------------


def test_auto_transparent_config_round_trip(module: atsock.Module) -> None:
    assert not module.auto_transparent().enabled
    module.set_auto_transparent(SocketType.TCP_CLIENT, "127.0.0.1", 4242)
    config = module.auto_transparent()
    assert config == atsock.AutoTransparentConfig(SocketType.TCP_CLIENT, "127.0.0.1", 4242)
    assert config.enabled
    module.set_auto_transparent(SocketType.UDP_SERVER, None, 5000)
    assert module.auto_transparent().type == SocketType.UDP_SERVER
    module.disable_auto_transparent()
    assert not module.auto_transparent().enabled


def test_wifi_join_and_auto_connect(module: atsock.Module) -> None:
    module.join_wifi("lab-net", "secret, with comma")
    assert wait_event(module, atsock.WifiEvent).name == "WIFI_CONNECT"
    assert wait_event(module, atsock.WifiEvent).name == "WIFI_GOT_IP"
    assert module.command("AT+WJAP?") == ["+WJAP:lab-net"]
    module.set_auto_connect(False)
    assert module.command("AT+WAUTOCONN?") == ["+WAUTOCONN:0"]
    module.set_auto_connect(True)
    assert module.command("AT+WAUTOCONN?") == ["+WAUTOCONN:1"]
