"""atsock.aio against the emulator over a real pty and over TCP, with real peers: the
commands, sockets, events, a reset, typed errors, cancellation mid-command, a loop that
is never blocked, and many modules from one loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest

import atsock
import atsock.aio
from atsock import CertKind, SocketType
from atsock.emulator import Emulator
from driver_fixtures import *  # noqa: F403  (the fixtures)
from peers import DnsServer, TcpCollector, TcpEchoServer, TlsCertificates, TlsEchoServer, UdpPeer

T = TypeVar("T")
TIMEOUT = 3.0


@pytest.fixture(params=["pty", "tcp"])
def emu(request: pytest.FixtureRequest) -> Any:
    with Emulator(transport=str(request.param), echo=False) as emulator:
        yield emulator


def run(test: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(asyncio.wait_for(test(), 30))  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def opened(url: str, **options: Any) -> AsyncIterator[atsock.aio.AsyncModule]:
    options.setdefault("timeout", TIMEOUT)
    options.setdefault("exit_delay", 0.05)
    async with atsock.aio.open_module(url, **options) as m:
        await m.at()
        yield m


@contextlib.asynccontextmanager
async def ticking() -> AsyncIterator[list[float]]:
    """A 1 ms ticker task while the block runs; yields the gaps between its ticks."""
    gaps: list[float] = []

    async def tick() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.001)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    task = asyncio.ensure_future(tick())
    try:
        yield gaps
    finally:
        task.cancel()


async def next_event(m: atsock.aio.AsyncModule, kind: type[T]) -> T:
    async for event in m.events(timeout=TIMEOUT):
        if isinstance(event, kind):
            return event
    raise AssertionError(f"no {kind.__name__} within {TIMEOUT} s")


def test_basic_commands_and_no_reader_thread(emu: Emulator) -> None:
    async def test() -> None:
        async with opened(emu.url) as m:
            names = [t.name for t in threading.enumerate()]
            assert "atsock-reader" not in names  # the loop reads the port
            assert (await m.version())[0].startswith("AT version:")
            await m.set_echo(True)
            await m.at()  # (an echoed line is not a reply)
            await m.set_echo(False)
            assert await m.command("AT") == []
            assert await m.sockets() == []
            with pytest.raises(atsock.CommandError) as info:
                await m.command("AT+NOSUCHTHING")
            assert "Unknown cmd" in str(info.value)
        assert m.closed

    run(test)


def test_tcp_socket_send_events_read_delete(emu: Emulator, echo_server: TcpEchoServer) -> None:
    async def test() -> None:
        async with opened(emu.url) as m:
            cid = await m.open_socket(SocketType.TCP_CLIENT, "127.0.0.1", echo_server.address[1])
            (row,) = await m.sockets()
            assert row.con_id == cid and row.remote_port == echo_server.address[1]
            data = bytes(range(256)) * 8 + b"\r\nOK\r\n+++"
            await m.send(cid, data)
            echoed = b""
            while len(echoed) < len(data):
                event = await next_event(m, atsock.SocketData)
                assert event.con_id == cid
                echoed += await m.read(cid)
            assert echoed == data
            await m.delete(cid)
            assert await m.sockets() == []

    run(test)


def test_send_line_escapes_and_active_mode_delivers_with_the_event(
    emu: Emulator, collector: TcpCollector, echo_server: TcpEchoServer
) -> None:
    async def test() -> None:
        async with opened(emu.url) as m:
            cid = await m.open_socket(SocketType.TCP_CLIENT, "127.0.0.1", collector.address[1])
            await m.send_line(cid, 'say "hi", \\ back')
            await m.send_line(cid, b"two\r\nAT+RST\r\n")  # (through SOCKETSEND: no injection)
            await m.delete(cid)
            assert collector.data() == b'say "hi", \\ backtwo\r\nAT+RST\r\n'
            await m.set_receive_mode(atsock.ReceiveMode.ACTIVE)
            assert m.receive_mode == atsock.ReceiveMode.ACTIVE
            echo = await m.open_socket(SocketType.TCP_CLIENT, "127.0.0.1", echo_server.address[1])
            await m.send(echo, b"active")
            event = await next_event(m, atsock.SocketData)
            assert (event.con_id, event.data) == (echo, b"active")

    run(test)


def test_names_certificates_and_auto_transparent(
    emu_dns: tuple[Emulator, DnsServer], tls_certs: TlsCertificates
) -> None:
    emulator, dns = emu_dns

    async def test() -> None:
        async with opened(emulator.url) as m:
            await m.set_dns_servers("127.0.0.1")
            assert (await m.dns_servers())[0] == "127.0.0.1"
            assert await m.resolve("echo.atsock.test") == "127.0.0.1"
            assert "echo.atsock.test" in dns.queries
            with pytest.raises(atsock.CommandError):
                await m.resolve("missing.atsock.test")
            await m.set_certificate(CertKind.CA, tls_certs.ca_pem)
            assert await m.certificate(CertKind.CA) == tls_certs.ca_pem
            await m.clear_certificate(CertKind.CA)
            assert await m.certificate(CertKind.CA) == b""
            await m.set_auto_transparent(SocketType.TCP_CLIENT, "127.0.0.1", 9)
            config = await m.auto_transparent()
            assert config.enabled and config.port == 9
            await m.disable_auto_transparent()
            assert not (await m.auto_transparent()).enabled

    run(test)


@pytest.fixture
def emu_dns(dns_server: DnsServer) -> Any:
    with Emulator(transport="pty", echo=False, dns_port=dns_server.address[1]) as emulator:
        yield emulator, dns_server


def test_reset_forgets_every_conid_and_is_an_event(
    emu: Emulator, echo_server: TcpEchoServer
) -> None:
    async def test() -> None:
        async with opened(emu.url) as m:
            cid = await m.open_socket(SocketType.TCP_CLIENT, "127.0.0.1", echo_server.address[1])
            await m.reset()
            await next_event(m, atsock.ModuleRestarted)
            with pytest.raises(atsock.SocketClosed):
                await m.send(cid, b"gone")
            await m.at()

    run(test)


def test_an_unasked_reset_mid_command_fails_it_then_the_module_works(emu: Emulator) -> None:
    async def test() -> None:
        async with opened(emu.url) as m:
            emu.stall(0.3)  # the command is in flight, unanswered, when the module reboots
            task = asyncio.ensure_future(m.sockets())
            await asyncio.sleep(0.05)
            emu.reset()
            with pytest.raises(atsock.ModuleReset):
                await task
            await m.at()

    run(test)


def test_a_command_timed_out_or_cancelled_leaves_the_module_usable(emu: Emulator) -> None:
    async def test() -> None:
        async with opened(emu.url) as m:
            emu.stall(0.15)
            with pytest.raises(atsock.Timeout, match="no reply"):
                await m.sockets(timeout=0.1)
            await m.at()  # sent once the late reply came: not taken for this one's
            emu.stall(0.15)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(m.version(), 0.1)  # cancelled mid-command
            assert await m.sockets() == []  # the late version lines are not its
            assert (await m.version())[0].startswith("AT version:")

    run(test)


def test_the_loop_keeps_ticking_while_a_long_send_runs(
    emu: Emulator, collector: TcpCollector
) -> None:
    async def test() -> None:
        async with opened(emu.url) as m:
            cid = await m.open_socket(SocketType.TCP_CLIENT, "127.0.0.1", collector.address[1])
            data = bytes(8 << 20)
            async with ticking() as gaps:
                await m.send(cid, data)
            await m.delete(cid)
            assert collector.data(10) == data
            assert len(gaps) > 20 and max(gaps) < 0.25  # (no call blocked the loop)

    run(test)


def test_commands_from_many_tasks_and_many_modules_share_one_loop() -> None:
    async def test() -> None:
        with contextlib.ExitStack() as stack:
            emulators = [stack.enter_context(Emulator(echo=False)) for _ in range(4)]
            async with contextlib.AsyncExitStack() as modules:
                ms = [await modules.enter_async_context(opened(e.url)) for e in emulators]

                async def pings(m: atsock.aio.AsyncModule) -> int:
                    for _ in range(25):
                        await m.at()
                    return 25

                counts = await asyncio.gather(*(pings(m) for m in ms for _ in range(3)))
                assert sum(counts) == 4 * 3 * 25

    run(test)


def test_a_port_without_descriptor_is_a_clear_error() -> None:
    async def test() -> None:
        with pytest.raises(atsock.ATError, match="file descriptor"):
            await atsock.aio.open_module("loop://")

    run(test)


def test_garbage_from_the_wire_is_counted_and_the_module_still_answers(emu: Emulator) -> None:
    async def test() -> None:
        async with opened(emu.url) as m:
            emu.inject(b"+SOCKETREAD,1,2147483648,")  # an absurd length
            emu.inject(b"\r\n" + b"y" * 100_000 + b"\r\n")  # an endless line
            for _ in range(50):
                if m.framing_errors:
                    break
                await asyncio.sleep(0.02)
            assert m.framing_errors >= 1  # (one or two: one read may carry both)
            await m.at()  # framing resynchronised
            assert await m.sockets() == []

    run(test)


def test_udp_client_and_server(emu: Emulator, udp_peer: UdpPeer) -> None:
    async def test() -> None:
        async with opened(emu.url) as m:
            cid = await m.open_socket(SocketType.UDP_CLIENT, *udp_peer.address)
            await m.send(cid, b"datagram one")
            data, sender = await asyncio.to_thread(udp_peer.recv)
            assert data == b"datagram one"
            udp_peer.sendto(b"reply", sender)
            await next_event(m, atsock.SocketData)
            assert await m.read(cid) == b"reply"
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            server = await m.open_socket(SocketType.UDP_SERVER, port=port)
            with pytest.raises(atsock.CommandError) as info:
                await m.send(server, b"nobody spoke yet")
            assert info.value.code == 99

    run(test)


def test_tls_stream_verified_by_the_module(
    emu: Emulator, tls_certs: TlsCertificates, tls_echo: TlsEchoServer
) -> None:
    async def test() -> None:
        async with opened(emu.url) as m:
            await m.set_certificate(CertKind.CA, tls_certs.ca_pem)
            reader, writer = await m.open_connection("localhost", tls_echo.address[1], tls=True)
            writer.write(b"over tls \r\nOK\r\n")
            assert await reader.readexactly(15) == b"over tls \r\nOK\r\n"
            writer.close()
            await writer.wait_closed()
            await m.set_certificate(CertKind.CA, TlsCertificates().ca_pem)
            with pytest.raises(atsock.SocketError) as info:
                await m.open_connection("localhost", tls_echo.address[1], tls=True)
            assert info.value.code == 109  # the module refused to trust it

    run(test)


def test_wifi_join_and_auto_connect(emu: Emulator) -> None:
    async def test() -> None:
        async with opened(emu.url) as m:
            await m.join_wifi("lab-net", "secret, with comma")
            assert (await next_event(m, atsock.WifiEvent)).name == "WIFI_CONNECT"
            assert (await next_event(m, atsock.WifiEvent)).name == "WIFI_GOT_IP"
            assert await m.command("AT+WJAP?") == ["+WJAP:lab-net"]
            await m.set_auto_connect(False)
            assert await m.command("AT+WAUTOCONN?") == ["+WAUTOCONN:0"]

    run(test)
