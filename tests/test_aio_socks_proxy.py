"""``await m.serve_socks()``: the asyncio SOCKS5 proxy, against the emulator (pty and
TCP) and real peers on loopback, SOCKS spoken by hand with asyncio streams — CONNECT to
IPv4, IPv6 and named targets, the module's errors and what it cannot do as SOCKS
replies, username/password, UDP ASSOCIATE, and every ConID freed afterwards."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import struct

import atsock.aio
from atsock.aio.socks_proxy import AsyncSocksProxy
from atsock.emulator import Emulator
from atsock.testing import TcpEcho, UdpEcho
from driver_fixtures import *  # noqa: F403  (the fixtures)
from test_aio_module import emu as emu
from test_aio_module import opened, run
from test_proxy import address_bytes

TIMEOUT = 5.0


async def request(
    proxy: AsyncSocksProxy, command: int, target: bytes, *, auth: bytes = b""
) -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    """A client of the proxy that greets, authenticates if ``auth``, sends a request:
    (the reply, the client's streams)."""
    reader, writer = await asyncio.open_connection(*proxy.address)
    writer.write(b"\x05\x01" + (b"\x02" if auth else b"\x00"))
    assert await reader.readexactly(2) == b"\x05" + (b"\x02" if auth else b"\x00")
    if auth:
        writer.write(auth)
        assert await reader.readexactly(2) == b"\x01\x00"
    writer.write(bytes([5, command, 0]) + target)
    head = await reader.readexactly(4)
    rest = await reader.readexactly(6 if head[3] == 1 else 18)
    return head + rest, reader, writer


async def wait_gone(m: atsock.aio.AsyncModule) -> bool:
    for _ in range(200):
        if await m.sockets() == []:
            return True
        await asyncio.sleep(0.02)
    return False


def test_connect_to_ipv4_ipv6_and_names_through_the_module(emu: Emulator) -> None:
    async def test() -> None:
        with TcpEcho() as echo, TcpEcho("::1") as echo6:
            async with opened(emu.url) as m, await m.serve_socks() as proxy:
                assert proxy.address[0] == "127.0.0.1"
                targets = [
                    address_bytes(*echo.address),
                    address_bytes("::1", echo6.port),
                    address_bytes("127.0.0.1", echo.port, domain=True),
                ]
                for n, target in enumerate(targets):
                    reply, reader, writer = await request(proxy, 1, target)
                    assert reply[:2] == b"\x05\x00"
                    data = os.urandom(50_000) + b"+++\r\nOK\r\n"
                    writer.write(data)
                    assert await asyncio.wait_for(reader.readexactly(len(data)), TIMEOUT) == data
                    writer.close()
                    await writer.wait_closed()
                    assert proxy.stats.total == n + 1
                assert await wait_gone(m)
                assert proxy.stats.bytes_moved()[0] == 3 * (50_000 + 9)

    run(test)


def test_errors_and_what_the_module_cannot_do_get_their_replies(emu: Emulator) -> None:
    async def test() -> None:
        with socket.socket() as closed_port:
            closed_port.bind(("127.0.0.1", 0))
            refused = address_bytes(*closed_port.getsockname())
            async with opened(emu.url) as m, await m.serve_socks() as proxy:
                for command, target, code in (
                    (1, refused, 0x05),  # connection refused
                    (1, address_bytes("no-such.invalid", 80, domain=True), 0x04),
                    (2, refused, 0x07),  # BIND
                ):
                    reply, _, writer = await request(proxy, command, target)
                    assert reply[1] == code, (command, reply)
                    writer.close()
                reader, writer = await asyncio.open_connection(*proxy.address)
                writer.write(b"\x05\x01\x00\x05\x01\x00\x09\x00\x07")  # unknown address type
                assert await reader.readexactly(4) == b"\x05\x00\x05\x08"
                writer.close()
                assert await wait_gone(m)

    run(test)


def test_username_and_password(emu: Emulator) -> None:
    async def test() -> None:
        with TcpEcho() as echo:
            async with opened(emu.url) as m, await m.serve_socks(users={"me": "pw"}) as proxy:
                reply, reader, writer = await request(
                    proxy, 1, address_bytes(*echo.address), auth=b"\x01\x02me\x02pw"
                )
                assert reply[1] == 0
                writer.write(b"hi")
                assert await reader.readexactly(2) == b"hi"
                writer.close()
                reader, writer = await asyncio.open_connection(*proxy.address)
                writer.write(b"\x05\x01\x02\x01\x02me\x05wrong")
                assert await reader.readexactly(4) == b"\x05\x02\x01\x01"  # refused
                assert await reader.read(1) == b""
                writer.close()

    run(test)


def test_udp_associate_relays_datagrams_and_frees_its_conids(emu: Emulator) -> None:
    async def test() -> None:
        loop = asyncio.get_running_loop()
        with UdpEcho() as echo:
            async with opened(emu.url) as m, await m.serve_socks() as proxy:
                reply, _, control = await request(proxy, 3, address_bytes("0.0.0.0", 0))
                assert reply[:2] == b"\x05\x00"
                relay = (str(ipaddress.IPv4Address(reply[4:8])), struct.unpack("!H", reply[8:])[0])
                header = b"\x00\x00\x00" + address_bytes(*echo.address)
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
                    client.bind(("127.0.0.1", 0))
                    client.setblocking(False)
                    for payload in (b"one", bytes(range(256)) * 4):
                        await loop.sock_sendto(client, header + payload, relay)
                        answer = await asyncio.wait_for(loop.sock_recv(client, 4096), TIMEOUT)
                        assert answer == header + payload
                    await loop.sock_sendto(client, header + bytes(1025), relay)  # too big
                    (record,) = proxy.stats.open_relays()
                    assert record.udp and record.datagrams_up == 2 and len(record.con_ids) == 1
                control.close()
                assert await wait_gone(m)

    run(test)


def test_aclose_ends_open_clients_and_deletes_their_conids(emu: Emulator) -> None:
    async def test() -> None:
        with TcpEcho() as echo:
            async with opened(emu.url) as m:
                proxy = await m.serve_socks()
                clients = [await request(proxy, 1, address_bytes(*echo.address)) for _ in range(2)]
                assert len(await m.sockets()) == 2
                await proxy.aclose()
                assert await wait_gone(m)
                for _, reader, writer in clients:
                    assert await asyncio.wait_for(reader.read(10), TIMEOUT) == b""
                    writer.close()

    run(test)
