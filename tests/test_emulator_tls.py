"""TLS in the emulated module: AT+SSLCRET slots, SSLClient and SSLServer sockets.

Certificates are made by trustme (tests/peers.py). An SSLClient verifies the server
against the CA in slot 1 when one is set (``+SOCKET:109`` for a server from another
CA) and presents slots 2/3 as its client certificate when set; an SSLServer serves
slots 2/3 and turns each TLS client into an SSLSeed.
"""

from __future__ import annotations

import socket
import time

from at_wire import EmulatorFactory, Wire, free_port
from atsock.types import MAX_CERT
from peers import DnsServer, TlsCertificates, TlsEchoServer, tls_connect

TIMEOUT = 2.0


def tls_round_trip(wire: Wire, con_id: int, payload: bytes) -> None:
    """SOCKETSEND ``payload`` to a TLS echo; SOCKETREAD it back."""
    wire.send_line(f"AT+SOCKETSEND={con_id},{len(payload)}")
    wire.expect_prompt()
    wire.write(payload)
    assert wire.read_final() == b"\r\nOK\r\n"
    urc = f"+EVENT:SocketDown,{con_id},{len(payload)}\r\n".encode()
    assert wire.read_until(b"\r\n") == urc
    wire.send_line(f"AT+SOCKETREAD={con_id}")
    expected = f"+SOCKETREAD,{con_id},{len(payload)},".encode() + payload + b"\r\nOK\r\n"
    assert wire.read_exactly(len(expected)) == expected


# ---- AT+SSLCRET ------------------------------------------------------------------------------


def test_sslcret_sets_a_slot_after_a_prompt_and_queries_it_back(wire: Wire) -> None:
    wire.send_line("AT+SSLCRET=1,10")
    assert wire.expect_prompt() == b""
    wire.write(b"1234567890")
    assert wire.read_final() == b"\r\nOK\r\n"
    assert wire.command("AT+SSLCRET=1") == b"+SSLCRET:1,10,1234567890\r\nOK\r\n"
    assert wire.command("AT+SSLCRET=2") == b"+SSLCRET:2,0,\r\nOK\r\n"


def test_sslcret_keeps_a_pem_byte_for_byte(wire: Wire, certs: TlsCertificates) -> None:
    for slot, pem in ((1, certs.ca_pem), (2, certs.client_cert_pem), (3, certs.client_key_pem)):
        wire.set_certificate(slot, pem)
    for slot, pem in ((1, certs.ca_pem), (2, certs.client_cert_pem), (3, certs.client_key_pem)):
        wire.send_line(f"AT+SSLCRET={slot}")
        expected = f"+SSLCRET:{slot},{len(pem)},".encode() + pem + b"\r\nOK\r\n"
        assert wire.read_exactly(len(expected)) == expected


def test_sslcret_holds_2048_bytes_and_refuses_more_with_code_5(wire: Wire) -> None:
    assert MAX_CERT == 2048
    body = (bytes(range(256)) * 8)[:2048]
    wire.set_certificate(3, body)
    wire.send_line("AT+SSLCRET=3")
    expected = b"+SSLCRET:3,2048," + body + b"\r\nOK\r\n"
    assert wire.read_exactly(len(expected)) == expected
    assert wire.command("AT+SSLCRET=3,2049", b"ERROR\r\n") == b"+SSLCRET:5\r\nERROR\r\n"
    wire.assert_silent(0.05)  # no prompt


def test_sslcret_length_0_clears_a_slot(wire: Wire) -> None:
    wire.set_certificate(1, b"abc")
    assert wire.command("AT+SSLCRET=1,0") == b"OK\r\n"
    assert wire.command("AT+SSLCRET=1") == b"+SSLCRET:1,0,\r\nOK\r\n"


# ---- SSLClient ------------------------------------------------------------------------------


def test_ssl_client_verifies_the_server_against_the_ca_and_carries_data(
    wire: Wire, certs: TlsCertificates
) -> None:
    wire.set_certificate(1, certs.ca_pem)
    with TlsEchoServer(certs) as server:
        port = server.address[1]
        reply = wire.command(f"AT+SOCKET=7,127.0.0.1,{port}")
        assert reply == b"connect success ConID=1\r\nOK\r\n"
        assert wire.command("AT+SOCKET?") == f"1,7,1,127.0.0.1,{port},-1,-1\r\nOK\r\n".encode()
        tls_round_trip(wire, 1, b"secret\r\nOK\r\n" + bytes(range(256)))
        assert server.peer_certs == []  # no client certificate configured


def test_ssl_client_refuses_a_server_from_another_ca_with_code_109(
    wire: Wire, certs: TlsCertificates
) -> None:
    wire.set_certificate(1, TlsCertificates().ca_pem)  # some other CA
    with TlsEchoServer(certs) as server:
        reply = wire.command(f"AT+SOCKET=7,127.0.0.1,{server.address[1]}", b"ERROR\r\n")
        assert reply == b"+SOCKET:109\r\nERROR\r\n"
    assert wire.command("AT+SOCKET?") == b"OK\r\n"


def test_ssl_client_without_a_ca_connects_unverified(wire: Wire) -> None:
    other = TlsCertificates()  # the module knows nothing of this CA
    with TlsEchoServer(other) as server:
        con_id = wire.open_socket(f"7,127.0.0.1,{server.address[1]}")
        tls_round_trip(wire, con_id, b"no ca")


def test_ssl_client_presents_its_client_certificate_when_set(
    wire: Wire, certs: TlsCertificates
) -> None:
    wire.set_certificate(1, certs.ca_pem)
    wire.set_certificate(2, certs.client_cert_pem)
    wire.set_certificate(3, certs.client_key_pem)
    with TlsEchoServer(certs, require_client_cert=True) as server:
        con_id = wire.open_socket(f"7,127.0.0.1,{server.address[1]}")
        tls_round_trip(wire, con_id, b"mutual")
        assert len(server.peer_certs) == 1
        assert server.peer_certs[0].endswith(f"commonName={certs.CLIENT_CN}")


def test_ssl_client_without_a_client_certificate_is_refused_by_a_strict_server(
    wire: Wire, certs: TlsCertificates
) -> None:
    wire.set_certificate(1, certs.ca_pem)
    with TlsEchoServer(certs, require_client_cert=True) as server:
        wire.send_line(f"AT+SOCKET=7,127.0.0.1,{server.address[1]}")
        reply = wire.read_final(TIMEOUT)
        # TLS 1.3: the server's refusal may only surface after the handshake
        if reply.endswith(b"OK\r\n"):
            assert wire.read_until(b"\r\n") == b"+EVENT:SocketDisconnect,1\r\n"
        else:
            assert reply == b"+SOCKET:108\r\nERROR\r\n"


# ---- SSLServer ------------------------------------------------------------------------------


def test_ssl_server_serves_its_certificate_and_makes_ssl_seeds(
    wire: Wire, certs: TlsCertificates
) -> None:
    wire.set_certificate(2, certs.server_cert_pem)
    wire.set_certificate(3, certs.server_key_pem)
    port = free_port()
    assert wire.command(f"AT+SOCKET=6,{port}") == b"connect success ConID=1\r\nOK\r\n"
    with tls_connect(("127.0.0.1", port), certs, TIMEOUT) as client:  # verifies the server
        assert wire.read_until(b"\r\n") == b"+EVENT:SocketSeed,2,1\r\n"
        client_port = client.getsockname()[1]
        assert wire.command("AT+SOCKET?") == (
            f"1,6,1,,-1,{port},-1\r\n2,8,1,127.0.0.1,{client_port},{port},1\r\nOK\r\n".encode()
        )
        client.sendall(b"hello module")
        assert wire.read_until(b"\r\n") == b"+EVENT:SocketDown,2,12\r\n"
        assert wire.command("AT+SOCKETREAD=2") == b"+SOCKETREAD,2,12,hello module\r\nOK\r\n"
        assert wire.command("AT+SOCKETSENDLINE=2,12,hello client") == b"OK\r\n"
        assert client.recv(100) == b"hello client"
    assert wire.read_until(b"\r\n") == b"+EVENT:SocketDisconnect,2\r\n"
    assert wire.command("AT+SOCKETDEL=2") == b"OK\r\n"


def test_ssl_server_without_certificate_and_key_answers_code_108(
    wire: Wire, certs: TlsCertificates
) -> None:
    port = free_port()
    assert wire.command(f"AT+SOCKET=6,{port}", b"ERROR\r\n") == b"+SOCKET:108\r\nERROR\r\n"
    wire.set_certificate(2, certs.server_cert_pem)  # a certificate without its key
    assert wire.command(f"AT+SOCKET=6,{port}", b"ERROR\r\n") == b"+SOCKET:108\r\nERROR\r\n"
    assert wire.command("AT+SOCKET?") == b"OK\r\n"


def test_ssl_server_drops_a_client_that_does_not_speak_tls(
    wire: Wire, certs: TlsCertificates
) -> None:
    wire.set_certificate(2, certs.server_cert_pem)
    wire.set_certificate(3, certs.server_key_pem)
    port = free_port()
    wire.open_socket(f"6,{port}")
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as plain:
        plain.sendall(b"GET / HTTP/1.0\r\n\r\n")
        wire.assert_silent(0.2)  # no SocketSeed for a failed handshake
    assert wire.command("AT+SOCKET?") == f"1,6,1,,-1,{port},-1\r\nOK\r\n".encode()


def test_ssl_client_checks_the_host_name_it_was_given(
    make_emulator: EmulatorFactory, certs: TlsCertificates
) -> None:
    names = {"localhost.atsock.test": "127.0.0.1"}
    with DnsServer(names) as dns, TlsEchoServer(certs) as server:
        _, wire = make_emulator(dns_port=dns.port)
        wire.command(f"AT+WDNS={dns.host}")
        wire.set_certificate(1, certs.ca_pem)
        port = server.address[1]
        # the right address, but the certificate is for localhost / 127.0.0.1 only
        reply = wire.command(f"AT+SOCKET=7,localhost.atsock.test,{port}", b"ERROR\r\n")
        assert reply == b"+SOCKET:109\r\nERROR\r\n"
        assert wire.open_socket(f"7,127.0.0.1,{port}") == 1


def test_ssl_client_streams_in_transparent_mode(wire: Wire, certs: TlsCertificates) -> None:
    payload = bytes(range(256)) * 16  # 4 KiB: several TLS records each way
    wire.set_certificate(1, certs.ca_pem)
    with TlsEchoServer(certs) as server:
        wire.open_socket(f"7,127.0.0.1,{server.address[1]}")
        wire.send_line("AT+SOCKETTT")
        assert wire.read_exactly(1) == b">"
        wire.write(payload)
        assert wire.read_exactly(len(payload)) == payload
        time.sleep(0.08)
        wire.write(b"+++")
        assert wire.read_until(b"\r\nOK\r\n") == b"\r\nOK\r\n"


def test_boot_with_autott_ssl_client_is_transparent_over_tls(
    wire: Wire, certs: TlsCertificates
) -> None:
    wire.set_certificate(1, certs.ca_pem)
    with TlsEchoServer(certs) as server:
        wire.command(f"AT+SOCKETAUTOTT=7,127.0.0.1,{server.address[1]}")
        assert wire.command("AT+RST") == b"OK\r\n"
        boot = wire.read_until(b">")
        assert boot.endswith(b"+EVENT:WIFI_GOT_IP\r\nconnect success ConID=1\r\nOK\r\n>")
        wire.write(b"over tls")
        assert wire.read_exactly(8) == b"over tls"
