"""asyncio streams over module connections (atsock.aio): a real protocol library (h11)
to a real http.server, echo with AT-looking data, a server on the module with several
host clients, end of stream, refusals and a reset, over a pty and over TCP."""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

import h11
import pytest

import atsock
from atsock.emulator import Emulator
from driver_fixtures import *  # noqa: F403  (the fixtures)
from peers import TcpEchoServer, recv_exactly
from test_aio_module import opened, run

BODY = os.urandom(100_000)


@pytest.fixture(params=["pty", "tcp"])
def emu(request: pytest.FixtureRequest) -> Any:
    with Emulator(transport=str(request.param), echo=False) as emulator:
        yield emulator


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(2)


def test_echo_through_a_stream_pair_is_byte_exact(
    emu: Emulator, echo_server: TcpEchoServer
) -> None:
    data = (os.urandom(50_000) + b"\r\nOK\r\n+++\r\nERROR\r\n>") * 5

    async def test() -> None:
        async with opened(emu.url) as m:
            reader, writer = await m.open_connection(*echo_server.address)
            assert writer.get_extra_info("peername") == echo_server.address
            writer.write(data)
            await writer.drain()
            echoed = await reader.readexactly(len(data))
            assert hashlib.sha256(echoed).digest() == hashlib.sha256(data).digest()
            writer.close()
            await writer.wait_closed()
            assert await m.sockets() == []  # closing deleted the ConID

    run(test)


def test_h11_speaks_http_to_http_server_through_the_module(
    emu: Emulator, http_server: http.server.ThreadingHTTPServer
) -> None:
    host, port = http_server.server_address[:2]

    async def test() -> None:
        async with opened(emu.url) as m:
            reader, writer = await m.open_connection(str(host), int(port))
            client = h11.Connection(h11.CLIENT)
            request = h11.Request(method="GET", target="/", headers=[("Host", "test")])
            writer.write(client.send(request) + client.send(h11.EndOfMessage()))
            await writer.drain()
            body = b""
            status = 0
            while True:
                event = client.next_event()
                if event is h11.NEED_DATA:
                    client.receive_data(await reader.read(65536))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
            assert status == 200 and body == BODY
            writer.close()
            await writer.wait_closed()

    run(test)


def test_a_server_on_the_module_serves_several_host_clients(emu: Emulator) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        writer.write(line.upper())
        await writer.drain()

    def client(port: int, text: bytes, out: list[bytes]) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(text + b"\n")
            out.append(recv_exactly(sock, len(text) + 1))

    async def test() -> None:
        async with opened(emu.url) as m:
            async with await m.start_server(handle) as server:
                assert 49152 <= server.port < 65536
                answers: list[bytes] = []
                threads = [
                    threading.Thread(target=client, args=(server.port, b"client %d" % i, answers))
                    for i in range(3)
                ]
                for thread in threads:
                    thread.start()
                while any(t.is_alive() for t in threads):
                    await asyncio.sleep(0.02)
                assert sorted(answers) == [b"CLIENT %d\n" % i for i in range(3)]
            assert await m.sockets() == []

    run(test)


def test_the_peer_closing_is_end_of_stream_after_its_data(
    emu: Emulator, echo_server: TcpEchoServer
) -> None:
    async def test() -> None:
        async with opened(emu.url) as m:
            reader, writer = await m.open_connection(*echo_server.address)
            writer.write(b"last words")
            await writer.drain()
            assert await reader.readexactly(10) == b"last words"
            echo_server.close_all_clients()
            assert await asyncio.wait_for(reader.read(), 5) == b""  # EOF, nothing lost
            writer.close()
            await writer.wait_closed()

    run(test)


def test_a_refused_connection_is_the_stdlib_error(emu: Emulator) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    async def test() -> None:
        async with opened(emu.url) as m:
            with pytest.raises(ConnectionRefusedError):
                await m.open_connection("127.0.0.1", closed_port)
            await m.at()

    run(test)


def test_a_module_reset_ends_open_streams_with_module_reset(
    emu: Emulator, echo_server: TcpEchoServer
) -> None:
    async def test() -> None:
        async with opened(emu.url) as m:
            reader, _ = await m.open_connection(*echo_server.address)
            emu.reset()
            with pytest.raises(atsock.ModuleReset):
                await asyncio.wait_for(reader.read(10), 5)
            await m.at()

    run(test)
