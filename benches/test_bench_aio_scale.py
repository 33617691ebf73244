"""Scale for atsock.aio: 1, 8 and 32 emulated modules (each its own emulator process
on its own pty) driven from one event loop, no thread per module, all streaming through
transparent mode to one echo peer process at once — the figures beside the threaded
ones of test_bench_scale.py: aggregate throughput against the single module's, and
fairness (the slowest module's throughput over the fastest's).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import atsock.aio
from atsock import SocketType
from atsock.aio.transparent import StreamPair
from e2e_harness import MIB, describe_scale, disabled, echo_peer, emulators, pedantic
from test_bench_aio import _echo

COUNTS = (1, 8, 32)
PER_MODULE = 4 * MIB
SMALL_PER_MODULE = 64 * 1024
ROUNDS = 2
#: too heavy for the quick run of make test
BENCH_ONLY = 32

pytestmark = pytest.mark.timeout(600)


def _group(count: int) -> str:
    return f"e2e aio scale {count} module{'s' if count > 1 else ''}"


@pytest.mark.parametrize("count", COUNTS)
def test_aio_scale(benchmark: BenchmarkFixture, count: int) -> None:
    small = disabled(benchmark)
    if small and count >= BENCH_ONLY:
        pytest.skip(f"end-to-end benchmark ({count} emulator processes): runs under make bench")
    size = SMALL_PER_MODULE if small else PER_MODULE
    rounds = 1 if small else ROUNDS
    benchmark.group = _group(count)
    seconds = [0.0] * count
    loop = asyncio.new_event_loop()
    stack = contextlib.AsyncExitStack()

    async def enter(url: str, peer: tuple[str, int]) -> StreamPair:
        m = await stack.enter_async_context(
            atsock.aio.open_module(url, timeout=30.0, exit_delay=0.05)
        )
        await m.open_socket(SocketType.TCP_CLIENT, *peer)
        return await stack.enter_async_context(m.transparent(timeout=30.0))

    async def one(n: int, pair: StreamPair) -> None:
        started = time.perf_counter()
        await _echo(*pair, size)
        seconds[n] += time.perf_counter() - started

    async def round_(pairs: list[StreamPair]) -> None:
        await asyncio.gather(*(one(n, pair) for n, pair in enumerate(pairs)))

    try:
        with echo_peer() as peer, emulators(count) as urls:

            async def enter_all() -> list[StreamPair]:
                return [await enter(url, peer) for url in urls]

            pairs = loop.run_until_complete(enter_all())
            try:
                pedantic(benchmark, lambda: loop.run_until_complete(round_(pairs)), rounds)
            finally:
                loop.run_until_complete(stack.aclose())
    finally:
        loop.close()
    per_module = [size * rounds / s / 1e6 for s in seconds]
    describe_scale(benchmark, count, size, per_module, _group)
