"""atsock.aio end to end, each against a baseline in the same run.

Latency: ``await m.at()`` through the emulator process over a pty, against a raw
asyncio ping-pong (``os.write`` of ``AT\\r\\n``, ``loop.add_reader`` until ``OK\\r\\n``)
with an emulator process of its own (both with echo off): the difference is what
``atsock.aio`` adds. Each call on both sides is one ``loop.run_until_complete`` (the
same cost on both), in alternating blocks; beside it, the same ping-pong with the
smallest possible responder (:mod:`pty_responder`): what the emulator itself adds.

Transparent echo: 64 MiB through ``m.transparent()`` (64 KiB writes, drained, while a
task reads the echo back) through the emulator process, a real TCP connection and an
echo peer process, against the raw pty pair of the threaded echo benchmark, one
baseline round before each round. Beside it, a reference run: the same bytes through
the same emulator, TCP connection and echo peer with no atsock code, one event loop at
the host end doing plain non-blocking ``os.read``/``os.write`` on ``add_reader`` /
``add_writer``: the most any asyncio driver can move over this pty (its reads and writes
share one thread; a pty read brings at most 4 KiB).
"""

from __future__ import annotations

import asyncio
import contextlib
import os

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import atsock.aio
from atsock import SocketType
from atsock.aio.transparent import StreamPair
from e2e_harness import (
    MIB,
    disabled,
    echo_peer,
    emulators,
    payload_pieces,
    pedantic,
    raw_pty_duplex,
    raw_transparent,
)

ROUNDS = 3000
SMALL_ROUNDS = 20
WARMUP = 100
BLOCK = 300
LATENCY_TARGET_MAX = 1.5
SIZE = 64 * MIB
SMALL_SIZE = 256 * 1024
STREAM_ROUNDS = 7
STREAM_TARGET = 0.7

pytestmark = pytest.mark.timeout(600)


class RawPing:
    """``AT\\r\\n`` out, ``OK\\r\\n`` back, on the loop: the least asyncio can do."""

    def __init__(self, path: str, loop: asyncio.AbstractEventLoop) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self._loop = loop
        self._got = b""
        self._done: asyncio.Future[None] | None = None
        loop.add_reader(self._fd, self._readable)

    def _readable(self) -> None:
        self._got += os.read(self._fd, 4096)
        if self._got.endswith(b"OK\r\n") and self._done is not None:
            self._done.set_result(None)

    async def ping(self, line: bytes = b"AT\r\n") -> None:
        """Writes ``line`` (a command) and waits for its ``OK``."""
        self._got = b""
        self._done = self._loop.create_future()
        os.write(self._fd, line)
        await self._done

    def close(self) -> None:
        self._loop.remove_reader(self._fd)
        os.close(self._fd)


def test_aio_latency(benchmark: BenchmarkFixture, responder: str) -> None:
    rounds = SMALL_ROUNDS if disabled(benchmark) else ROUNDS
    benchmark.group = "e2e aio AT latency"
    benchmark.extra_info.update(
        impl="atsock",
        metric="latency",
        rounds=rounds,
        target_ratio_max=LATENCY_TARGET_MAX,
        baseline="raw asyncio ping-pong (os.write + loop.add_reader) against an emulator "
        "process of its own (ATE0), in blocks alternating with the commands', each call one "
        "run_until_complete; reference: the same against a minimal responder on a raw pty",
    )
    loop = asyncio.new_event_loop()
    try:
        with emulators(2) as (url, raw_url):
            m = loop.run_until_complete(atsock.aio.open_module(url, timeout=5.0))
            raw, minimal = RawPing(raw_url, loop), RawPing(responder, loop)
            try:
                loop.run_until_complete(m.set_echo(False))
                loop.run_until_complete(raw.ping(b"ATE0\r\n"))

                def at() -> None:
                    loop.run_until_complete(m.at())

                def ping() -> None:
                    loop.run_until_complete(raw.ping())

                def minimal_ping() -> None:
                    loop.run_until_complete(minimal.ping())

                for _ in range(0 if disabled(benchmark) else WARMUP):
                    at()
                    ping()
                    minimal_ping()
                pedantic(
                    benchmark,
                    at,
                    rounds,
                    paired_with=ping,
                    block=BLOCK,
                    reference=("minimal responder", minimal_ping),
                )
            finally:
                raw.close()
                minimal.close()
                loop.run_until_complete(m.aclose())
    finally:
        loop.close()


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, size: int) -> None:
    async def write_all() -> None:
        for piece in payload_pieces(size):
            writer.write(piece)
            await writer.drain()

    writing = asyncio.ensure_future(write_all())
    got = 0
    while got < size:
        data = await reader.read(1 << 20)
        if not data:
            raise AssertionError(f"the stream ended after {got} of {size} bytes")
        got += len(data)
    await writing


async def _raw_echo(fd: int, size: int) -> None:
    """``size`` bytes written to the non-blocking ``fd`` while their echo is read, by
    plain callbacks on the running loop (the reference run's host end)."""
    loop = asyncio.get_running_loop()
    echoed: asyncio.Future[None] = loop.create_future()
    got = 0
    buffer = memoryview(bytearray(1 << 18))  # (a fresh bytes object per read costs an mmap)

    def readable() -> None:
        nonlocal got
        try:
            got += len(bytes(buffer[: os.readv(fd, [buffer])]))
        except BlockingIOError:
            return
        if got >= size and not echoed.done():
            echoed.set_result(None)

    loop.add_reader(fd, readable)
    try:
        for piece in payload_pieces(size):
            while piece:
                try:
                    piece = piece[os.write(fd, piece) :]
                except BlockingIOError:
                    pass
                if piece:
                    room: asyncio.Future[None] = loop.create_future()
                    loop.add_writer(fd, room.set_result, None)
                    try:
                        await room
                    finally:
                        loop.remove_writer(fd)
        await echoed
    finally:
        loop.remove_reader(fd)


def _stream_rounds(
    benchmark: BenchmarkFixture, impl: str, path: str, label: str | None = None
) -> tuple[int, int]:
    """Describes an echo run (``label`` names a reference run's row); returns its size
    and rounds: 64 MiB, STREAM_ROUNDS rounds; 256 KiB once when benchmarks are disabled."""
    small = disabled(benchmark)
    size = SMALL_SIZE if small else SIZE
    benchmark.group = "e2e aio transparent echo 64 MiB"
    benchmark.extra_info.update(
        impl=impl,
        bytes=size,
        direction="both directions concurrently; bytes = each way",
        target_ratio=STREAM_TARGET,
        baseline="raw pty pair (tty.setraw), os.write/os.read on 4 threads, both ways at "
        "once; one round before each round",
        path=path,
    )
    if label:
        benchmark.extra_info["label"] = label
    return size, 1 if small else STREAM_ROUNDS


def test_aio_stream_raw_asyncio(benchmark: BenchmarkFixture) -> None:
    size, rounds = _stream_rounds(
        benchmark,
        "asyncio",
        "raw event loop -> pty -> emulator process -> TCP -> echo peer process -> back",
        label="raw asyncio via the emulator (no atsock code)",
    )
    loop = asyncio.new_event_loop()
    try:
        with echo_peer() as peer, emulators(1) as (url,), raw_transparent(url, peer) as fd:
            os.set_blocking(fd, False)
            pedantic(
                benchmark,
                lambda: loop.run_until_complete(_raw_echo(fd, size)),
                rounds,
                paired_with=lambda: raw_pty_duplex(size),
            )
    finally:
        loop.close()


def test_aio_stream(benchmark: BenchmarkFixture) -> None:
    size, rounds = _stream_rounds(
        benchmark,
        "atsock",
        "event loop -> pty -> emulator process -> TCP -> echo peer process -> back",
    )
    loop = asyncio.new_event_loop()
    stack = contextlib.AsyncExitStack()

    async def enter(url: str, peer: tuple[str, int]) -> StreamPair:
        m = await stack.enter_async_context(
            atsock.aio.open_module(url, timeout=30.0, exit_delay=0.05)
        )
        await m.open_socket(SocketType.TCP_CLIENT, *peer)
        return await stack.enter_async_context(m.transparent(timeout=30.0))

    try:
        with echo_peer() as peer, emulators(1) as (url,):
            reader, writer = loop.run_until_complete(enter(url, peer))
            try:
                pedantic(
                    benchmark,
                    lambda: loop.run_until_complete(_echo(reader, writer, size)),
                    rounds,
                    paired_with=lambda: raw_pty_duplex(size),
                )
            finally:
                loop.run_until_complete(stack.aclose())
    finally:
        loop.close()
