"""``AsyncModule.on_event``: callbacks for every event on the loop, beside ``events()`` —
a plain function, a coroutine function that awaits module commands (reading the data
an event announces), one that raises (logged, the others go on); and the properties
the threaded ``Module`` has (``exit_delay``)."""

from __future__ import annotations

import asyncio
import logging

import pytest

import atsock
import atsock.aio
from atsock import SocketData, SocketType
from atsock.emulator import Emulator
from driver_fixtures import *  # noqa: F403  (the fixtures)
from peers import TcpEchoServer
from test_aio_module import emu as emu
from test_aio_module import opened, run


def test_callbacks_get_every_event_and_may_await_commands(
    emu: Emulator,
    echo_server: TcpEchoServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def test() -> None:
        async with opened(emu.url, exit_delay=0.2) as m:
            assert m.exit_delay == 0.2
            seen: list[atsock.Event] = []
            read = bytearray()
            done = asyncio.Event()

            async def read_announced(event: atsock.Event) -> None:
                if isinstance(event, SocketData):
                    read.extend(await m.read(event.con_id))  # a command, from a callback
                    if len(read) >= 5:
                        done.set()

            def broken(event: atsock.Event) -> None:
                raise RuntimeError("a callback's bug")

            m.on_event(seen.append)
            m.on_event(broken)
            m.on_event(read_announced)
            cid = await m.open_socket(SocketType.TCP_CLIENT, "127.0.0.1", echo_server.address[1])
            await m.send(cid, b"hello")
            await asyncio.wait_for(done.wait(), 10)
            assert bytes(read) == b"hello"
            assert [e.con_id for e in seen if isinstance(e, SocketData)] == [cid]
            queued = await m.event_queue.get(timeout=1)  # (events() sees them all the same)
            assert isinstance(queued, SocketData) and queued.con_id == cid

    with caplog.at_level(logging.ERROR, logger="atsock"):
        run(test)
    assert any(r.exc_info and "a callback's bug" in str(r.exc_info[1]) for r in caplog.records)
