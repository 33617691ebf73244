"""``AsyncModule.create_datagram_endpoint``: asyncio's datagram API over module UDP
ConIDs, against the emulator (pty and TCP) and real UDP peers on 127.0.0.1 — a client
to an echo server, a server that answers a host's datagrams, the module's limits as
clear errors, and closing that deletes the ConID."""

from __future__ import annotations

import asyncio
import socket

import pytest

import atsock
from atsock.emulator import Emulator
from atsock.testing import UdpEcho
from driver_fixtures import *  # noqa: F403  (the fixtures)
from test_aio_module import emu as emu
from test_aio_module import opened, run

TIMEOUT = 5.0


class Collecting(asyncio.DatagramProtocol):
    """Queues what it receives; remembers how the transport ended."""

    def __init__(self) -> None:
        self.datagrams: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.lost: list[BaseException | None] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.datagrams.put_nowait((data, addr))

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost.append(exc)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_client_endpoint_talks_to_a_udp_server(emu: Emulator) -> None:
    async def test() -> None:
        with UdpEcho() as echo:
            async with opened(emu.url) as m:
                transport, protocol = await m.create_datagram_endpoint(
                    Collecting, remote_addr=echo.address
                )
                assert isinstance(protocol, Collecting)
                assert transport.get_extra_info("peername") == echo.address
                datagrams = [b"\x00", bytes(range(256)) * 4, b"+++\r\nOK\r\n"]
                for datagram in datagrams:
                    transport.sendto(datagram)
                    got, addr = await asyncio.wait_for(protocol.datagrams.get(), TIMEOUT)
                    assert (got, addr) == (datagram, echo.address)  # one datagram each
                transport.close()
                for _ in range(200):  # (closing deletes the ConID first)
                    if protocol.lost:
                        break
                    await asyncio.sleep(0.01)
                assert protocol.lost == [None]
                assert await m.sockets() == []

    run(test)


def test_a_server_endpoint_answers_the_peer_that_spoke(emu: Emulator) -> None:
    async def test() -> None:
        port = free_udp_port()
        async with opened(emu.url) as m:
            transport, protocol = await m.create_datagram_endpoint(Collecting, local_port=port)
            assert isinstance(protocol, Collecting)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as host:
                host.bind(("127.0.0.1", 0))
                host.settimeout(TIMEOUT)
                host.sendto(b"ping", ("127.0.0.1", port))
                got, addr = await asyncio.wait_for(protocol.datagrams.get(), TIMEOUT)
                assert (got, addr) == (b"ping", host.getsockname())
                transport.sendto(b"pong", addr)
                answer = await asyncio.get_running_loop().run_in_executor(None, host.recv, 100)
                assert answer == b"pong"
            transport.close()

    run(test)


def test_what_the_module_cannot_carry_is_a_clear_error(emu: Emulator) -> None:
    async def test() -> None:
        with UdpEcho() as echo:
            async with opened(emu.url) as m:
                transport, _ = await m.create_datagram_endpoint(
                    Collecting, remote_addr=echo.address
                )
                with pytest.raises(ValueError, match="1025 bytes"):
                    transport.sendto(bytes(1025))
                with pytest.raises(atsock.ATError, match=r"only to 127\.0\.0\.1"):
                    transport.sendto(b"x", ("127.0.0.2", 9))
                transport.close()
                with pytest.raises(ValueError, match=r"remote_addr .* or local_port"):
                    await m.create_datagram_endpoint(Collecting)
                with pytest.raises(ValueError, match=r"remote_addr .* or local_port"):
                    await m.create_datagram_endpoint(
                        Collecting, remote_addr=echo.address, local_port=9
                    )

    run(test)
