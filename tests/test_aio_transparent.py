"""Transparent mode through atsock.aio: echo with ``+++`` and ``\\r\\nOK\\r\\n`` in the
data (and writes of nothing but ``+``), sha256 both ways, a loop that keeps ticking
while 8 MiB stream, a clear error without a connection, and a reset into
auto-transparent mode; over a pty and over TCP, against real peers."""

from __future__ import annotations

import asyncio
import hashlib
import os
from typing import Any

import pytest

import atsock
from atsock import SocketType
from atsock.emulator import Emulator
from driver_fixtures import *  # noqa: F403  (the fixtures)
from peers import TcpEchoServer
from test_aio_module import opened, run, ticking

GUARD = 0.02


@pytest.fixture(params=["pty", "tcp"])
def emu(request: pytest.FixtureRequest) -> Any:
    with Emulator(transport=str(request.param), echo=False, guard_time=GUARD) as emulator:
        yield emulator


async def echo_through(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, chunks: list[bytes]
) -> bytes:
    """Writes the chunks (concurrently with reading) and reads back as much."""

    async def write_all() -> None:
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()

    total = sum(len(c) for c in chunks)
    writing = asyncio.ensure_future(write_all())
    echoed = await reader.readexactly(total)
    await writing
    return echoed


def test_echo_with_escape_lookalikes_is_byte_exact_and_commands_work_after(
    emu: Emulator, echo_server: TcpEchoServer
) -> None:
    chunks = [
        os.urandom(100_000) + b"\r\nOK\r\n+++\r\nOK\r\n",
        b"+++",  # nothing but '+': the escape rule spaces them out
        b"+",
        b"++",
        os.urandom(500_000),
        b"\r\nOK\r\n",
    ]
    sent = b"".join(chunks)

    async def test() -> None:
        async with opened(emu.url, guard_time=GUARD) as m:
            cid = await m.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
            async with m.transparent() as (reader, writer):
                assert m.mode is atsock.Mode.TRANSPARENT
                echoed = await echo_through(reader, writer, chunks)
            assert hashlib.sha256(echoed).digest() == hashlib.sha256(sent).digest()
            assert m.mode is atsock.Mode.COMMAND
            await m.at()  # the module reads commands again
            assert [row.con_id for row in await m.sockets()] == [cid]

    run(test)


def test_the_loop_keeps_ticking_while_8_mib_stream(
    emu: Emulator, echo_server: TcpEchoServer
) -> None:
    data = os.urandom(8 << 20)

    async def test() -> None:
        async with opened(emu.url, guard_time=GUARD) as m:
            await m.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
            async with ticking() as gaps, m.transparent() as (reader, writer):
                chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
                echoed = await echo_through(reader, writer, chunks)
            assert hashlib.sha256(echoed).digest() == hashlib.sha256(data).digest()
            assert len(gaps) > 20 and max(gaps) < 0.25  # (no call blocked the loop)

    run(test)


def test_no_connection_is_a_clear_error_before_anything_is_sent(emu: Emulator) -> None:
    async def test() -> None:
        async with opened(emu.url) as m:
            with pytest.raises(atsock.TransparentError, match="no sockets"):
                async with m.transparent():
                    pass
            assert m.mode is atsock.Mode.COMMAND
            await m.at()

    run(test)


def test_reset_into_auto_transparent_streams_from_the_boot(
    emu: Emulator, echo_server: TcpEchoServer
) -> None:
    async def test() -> None:
        async with opened(emu.url, guard_time=GUARD) as m:
            await m.set_auto_transparent(SocketType.TCP_CLIENT, *echo_server.address)
            async with m.reset_into_transparent() as (reader, writer):
                echoed = await echo_through(reader, writer, [b"booted\r\nOK\r\n"])
            assert echoed == b"booted\r\nOK\r\n"
            await m.disable_auto_transparent()
            await m.at()

    run(test)
