"""``AsyncPort`` on real ptys and a real TCP ``socket://`` port: a stream both ways at
once keeps every byte in order (its reads move the queued writes along), a writer
waits for room and for the drain, bytes read before the end of the file are delivered
before the failure, and a short reply goes out at once."""

from __future__ import annotations

import asyncio
import os
import socket
import threading

import pytest
import serial

from atsock.aio.port import WRITE_AHEAD, AsyncPort
from atsock.errors import ATError

TIMEOUT = 20.0


class Received:
    """What ``on_data`` and ``on_failed`` were handed, in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, want: int) -> None:
        self.data = bytearray()
        self.failure: BaseException | None = None
        self.failed_after = -1
        self.done = loop.create_future()
        self._want = want

    def on_data(self, data: bytes) -> None:
        self.data += data
        if len(self.data) >= self._want and not self.done.done():
            self.done.set_result(None)

    def on_failed(self, exc: BaseException) -> None:
        self.failure = exc
        self.failed_after = len(self.data)
        if not self.done.done():
            self.done.set_result(None)


def echo_master(master: int, size: int) -> threading.Thread:
    """A thread that sends back what the pty's master reads, ``size`` bytes in all."""

    def echo() -> None:
        left = size
        while left > 0:
            chunk = os.read(master, 65536)
            left -= len(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(master, view) :]

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    return thread


def test_a_stream_both_ways_through_a_pty_keeps_every_byte_in_order(
    pty_port: tuple[int, serial.Serial],
) -> None:
    data = os.urandom(4 << 20)

    async def test() -> None:
        loop = asyncio.get_running_loop()
        master, port = pty_port
        echo = echo_master(master, len(data))
        got = Received(loop, len(data))
        aport = AsyncPort(port, loop, got.on_data, got.on_failed)
        try:
            for offset in range(0, len(data), 65536):
                aport.write(data[offset : offset + 65536])
                await aport.room()
                assert aport.pending <= WRITE_AHEAD
            await asyncio.wait_for(aport.drain(), TIMEOUT)
            await asyncio.wait_for(got.done, TIMEOUT)
        finally:
            aport.detach()
        echo.join(TIMEOUT)
        assert got.failure is None
        assert bytes(got.data) == data

    asyncio.run(test())


def test_a_writer_waits_for_room_then_for_the_drain(pty_port: tuple[int, serial.Serial]) -> None:
    async def test() -> None:
        loop = asyncio.get_running_loop()
        master, port = pty_port
        aport = AsyncPort(port, loop, lambda data: None, lambda exc: None)
        aport.write(os.urandom(4 * WRITE_AHEAD))  # a pty takes tens of KiB at most
        assert aport.pending > WRITE_AHEAD
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(aport.room(), 0.1)  # nobody reads the master

        def read_all() -> None:
            left = 4 * WRITE_AHEAD
            while left > 0:
                left -= len(os.read(master, 65536))

        reading = threading.Thread(target=read_all, daemon=True)
        reading.start()
        await asyncio.wait_for(aport.room(), TIMEOUT)
        assert aport.pending <= WRITE_AHEAD
        await asyncio.wait_for(aport.drain(), TIMEOUT)
        assert aport.pending == 0
        reading.join(TIMEOUT)
        aport.write(os.urandom(4 * WRITE_AHEAD))
        aport.detach()  # (the queued bytes are dropped: no writer waits forever)
        await asyncio.wait_for(aport.room(), 1.0)
        await asyncio.wait_for(aport.drain(), 1.0)

    asyncio.run(test())


def test_bytes_read_before_the_end_of_the_file_are_delivered_first() -> None:
    payload = os.urandom(8192)  # (a stream: the read moves on, then the peer is gone)

    async def test() -> None:
        loop = asyncio.get_running_loop()
        with socket.create_server(("127.0.0.1", 0)) as server:
            port = serial.serial_for_url(f"socket://127.0.0.1:{server.getsockname()[1]}")
            conn, _ = server.accept()
            conn.sendall(payload)
            conn.close()
            got = Received(loop, len(payload) + 1)  # (done only by the failure)
            aport = AsyncPort(port, loop, got.on_data, got.on_failed)
            try:
                await asyncio.wait_for(got.done, TIMEOUT)
            finally:
                aport.detach()
                port.close()
        assert bytes(got.data) == payload
        assert got.failed_after == len(payload)
        assert isinstance(got.failure, ATError)
        assert "end of file" in str(got.failure)

    asyncio.run(test())


def test_a_short_reply_is_delivered_at_once_on_its_own(pty_port: tuple[int, serial.Serial]) -> None:
    async def test() -> None:
        loop = asyncio.get_running_loop()
        master, port = pty_port
        calls: list[bytes] = []
        arrived = asyncio.Event()

        def on_data(data: bytes) -> None:
            calls.append(data)
            arrived.set()

        aport = AsyncPort(port, loop, on_data, lambda exc: None)
        try:
            os.write(master, b"\r\nOK\r\n")
            await asyncio.wait_for(arrived.wait(), TIMEOUT)
        finally:
            aport.detach()
        assert calls == [b"\r\nOK\r\n"]

    asyncio.run(test())
