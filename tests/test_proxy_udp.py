"""``atsock proxy``'s UDP ASSOCIATE (RFC 1928, section 7): a SOCKS client's datagrams,
spoken by hand, reach real local UDP servers (IPv4, IPv6, by name) through module UDP
clients and come back with their source in the header; what the module cannot carry
or whom the association is not for is dropped; ending the association frees its
ConIDs."""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from collections.abc import Iterator

import pytest

import atsock
from atsock.proxy import SocksProxy
from atsock.testing import UdpEcho
from driver_fixtures import *  # noqa: F403  (the fixtures)
from peers import recv_exactly, wait_until
from test_proxy import address_bytes

TIMEOUT = 10.0


@pytest.fixture
def proxy(module: atsock.Module) -> Iterator[SocksProxy]:
    with module.serve_socks() as served:
        yield served


@pytest.fixture
def echo() -> Iterator[UdpEcho]:
    with UdpEcho() as server:
        yield server


def associate(
    proxy: SocksProxy, hint: tuple[str, int] = ("0.0.0.0", 0)
) -> tuple[socket.socket, tuple[str, int]]:
    """The control connection of a new association and the relay's address."""
    control = socket.create_connection(proxy.address, timeout=TIMEOUT)
    control.sendall(b"\x05\x01\x00")
    assert recv_exactly(control, 2) == b"\x05\x00"
    control.sendall(b"\x05\x03\x00" + address_bytes(*hint))
    reply = recv_exactly(control, 10)
    assert reply[:4] == b"\x05\x00\x00\x01", reply
    (port,) = struct.unpack("!H", reply[8:])
    return control, (str(ipaddress.IPv4Address(reply[4:8])), port)


def client_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(TIMEOUT)
    return sock


def wait_gone(module: atsock.Module) -> bool:
    return wait_until(lambda: module.sockets() == [], TIMEOUT)


def test_datagrams_go_to_a_udp_server_and_come_back_headed_by_its_address(
    module: atsock.Module, proxy: SocksProxy, echo: UdpEcho
) -> None:
    control, relay = associate(proxy)
    header = b"\x00\x00\x00" + address_bytes(*echo.address)
    with control, client_socket() as client:
        payloads = [b"\x00", os.urandom(500), bytes(range(256)) * 4]  # up to 1024 bytes
        for payload in payloads:
            client.sendto(header + payload, relay)
            answer, source = client.recvfrom(65535)
            assert source == relay
            assert answer == header + payload
        assert [s.type for s in module.sockets()] == [atsock.SocketType.UDP_CLIENT]
        assert echo.received == b"".join(payloads)
        (record,) = proxy.stats.open_relays()
        # (a relay thread counts a datagram once it sent it: the client may see it first)
        assert wait_until(lambda: record.datagrams_up == record.datagrams_down == 3)
        assert record.udp and record.up == record.down == sum(map(len, payloads))
    assert wait_gone(module)  # the control connection closed: the association ended


def test_each_destination_gets_its_own_conid_ipv6_and_names_too(
    module: atsock.Module, proxy: SocksProxy, echo: UdpEcho
) -> None:
    with UdpEcho("::1") as echo6:
        control, relay = associate(proxy)
        destinations = [
            address_bytes(*echo.address),
            address_bytes(*echo6.address),
            address_bytes("127.0.0.1", echo.port, domain=True),  # resolved by the module
        ]
        with control, client_socket() as client:
            for n, destination in enumerate(destinations):
                header = b"\x00\x00\x00" + destination
                client.sendto(header + b"datagram %d" % n, relay)
                assert client.recvfrom(65535)[0] == header + b"datagram %d" % n
            assert len(module.sockets()) == 3
            assert echo6.received == b"datagram 1"
        assert wait_gone(module)


def test_what_it_cannot_carry_or_is_not_for_it_is_dropped(
    module: atsock.Module, proxy: SocksProxy, echo: UdpEcho
) -> None:
    control, relay = associate(proxy)
    header = b"\x00\x00\x00" + address_bytes(*echo.address)
    with control, client_socket() as client, client_socket() as stranger:
        client.sendto(header + b"first", relay)  # the first datagram fixes the client
        assert client.recvfrom(65535)[0] == header + b"first"
        stranger.sendto(header + b"not the client", relay)
        client.sendto(b"\x00\x00\x01" + header[3:] + b"a fragment", relay)
        client.sendto(header + bytes(1025), relay)  # more than the module's 1024
        client.sendto(b"\x00\x00", relay)  # too short
        client.sendto(b"\x00\x00\x00\x09" + b"bad type", relay)
        client.sendto(header + b"last", relay)
        assert client.recvfrom(65535)[0] == header + b"last"
        assert echo.received == b"firstlast"
        (record,) = proxy.stats.open_relays()
        assert record.dropped == 5
    assert wait_gone(module)


def test_the_port_the_client_names_is_the_only_one_served(
    module: atsock.Module, proxy: SocksProxy, echo: UdpEcho
) -> None:
    header = b"\x00\x00\x00" + address_bytes(*echo.address)
    with client_socket() as client, client_socket() as other:
        control, relay = associate(proxy, client.getsockname())
        with control:
            other.sendto(header + b"from another port", relay)  # (first, but not named)
            client.sendto(header + b"named", relay)
            assert client.recvfrom(65535)[0] == header + b"named"
            assert echo.received == b"named"
    assert wait_gone(module)


def test_closing_the_proxy_ends_associations_and_frees_their_conids(
    module: atsock.Module, echo: UdpEcho
) -> None:
    proxy = module.serve_socks()
    control, relay = associate(proxy)
    header = b"\x00\x00\x00" + address_bytes(*echo.address)
    with control, client_socket() as client:
        client.sendto(header + b"x", relay)
        assert client.recvfrom(65535)[0] == header + b"x"
        proxy.close()
        assert module.sockets() == []
        assert control.recv(10) == b""  # the control connection ends too
