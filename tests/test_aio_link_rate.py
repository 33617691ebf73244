"""``open_module(link_rate=...)``: where the port cannot say when its bytes left (a pty
in front of a paced emulator), leaving transparent mode right after a large write waits
for the line's own clock, so the ``+++`` comes after a real silence and is an escape,
not data; an ``emu://`` port with ``baud`` says its rate itself."""

from __future__ import annotations

import asyncio

import atsock
import atsock.aio
from atsock.emulator import Emulator
from atsock.testing import TcpEcho
from test_aio_module import run

BAUD = 1_000_000
LINK_RATE = BAUD / 10  # (without it the +++ is read right after the data: no escape)


def test_a_paced_pty_stream_ends_with_a_real_escape_right_after_a_big_write() -> None:
    payload = bytes(range(256)) * 64  # 16 KiB: 0.16 s of line time

    async def test() -> None:
        with (
            TcpEcho() as echo,
            Emulator(transport="pty", echo=False, baud=BAUD, guard_time=0.1) as emu,
        ):
            async with atsock.aio.open_module(
                emu.url, timeout=5.0, exit_delay=0.05, guard_time=0.1, link_rate=LINK_RATE
            ) as m:
                assert m.link_rate == LINK_RATE
                await m.open_socket(atsock.SocketType.TCP_CLIENT, *echo.address)
                async with m.transparent() as (_reader, writer):
                    writer.write(payload)
                    await writer.drain()  # (in the pty's buffer, far from the module yet)
                for _ in range(200):
                    if len(echo.received) >= len(payload):
                        break
                    await asyncio.sleep(0.01)
                assert echo.received == payload  # the escape was no part of the data
                await m.at()  # the module reads commands again

    run(test)


def test_an_emu_url_with_a_baud_rate_says_its_line_rate() -> None:
    async def test() -> None:
        async with atsock.aio.open_module("emu://?baud=1000000", timeout=5.0) as m:
            assert m.link_rate == m.line_rate == 100_000
        async with atsock.aio.open_module("emu://", timeout=5.0) as m:
            assert m.link_rate is None and m.line_rate is None  # (a URL handler: no line)

    run(test)
