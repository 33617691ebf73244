"""Scale: 1, 8 and 32 emulated modules — each its own emulator process on its own
pty — driven from this one process, one thread per module, all streaming through
transparent mode to one echo peer process at once.

The figures: aggregate throughput (all modules' bytes each way over the round's wall
time) against the single module's, and fairness: the slowest module's throughput over
the fastest's (each module's bytes over its own time). The machine's cores are shared
by every emulator process and the driver, so the aggregate shows where the host, not
the link, becomes the limit.
"""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from e2e_harness import (
    MIB,
    STEP_TIMEOUT,
    connected_module,
    describe_scale,
    disabled,
    echo_peer,
    echo_stream,
    emulators,
    pedantic,
)

COUNTS = (1, 8, 32)
PER_MODULE = 4 * MIB
SMALL_PER_MODULE = 64 * 1024
ROUNDS = 2
#: too heavy for the quick run of make test
BENCH_ONLY = 32

pytestmark = pytest.mark.timeout(600)


def _group(count: int) -> str:
    return f"e2e scale {count} module{'s' if count > 1 else ''}"


class Fleet:
    """One thread per module: connect, enter transparent mode, then stream one
    ``size`` echo per round when the main thread says go."""

    def __init__(self, urls: list[str], peer: tuple[str, int], size: int) -> None:
        self.size = size
        self.seconds = [0.0] * len(urls)
        self.failures: list[BaseException] = []
        self._stop = False
        self._go = threading.Barrier(len(urls) + 1, timeout=STEP_TIMEOUT * 4)
        self._done = threading.Barrier(len(urls) + 1, timeout=STEP_TIMEOUT * 4)
        self._threads = [
            threading.Thread(target=self._drive, args=(n, url, peer), daemon=True)
            for n, url in enumerate(urls)
        ]
        for thread in self._threads:
            thread.start()
        self._go.wait()  # everyone connected and in transparent mode
        self._done.wait()

    def _drive(self, n: int, url: str, peer: tuple[str, int]) -> None:
        try:
            with (
                connected_module(url, peer) as (module, _),
                module.transparent(timeout=STEP_TIMEOUT) as stream,
            ):
                self._go.wait()
                self._done.wait()
                while True:
                    self._go.wait()
                    if self._stop:
                        return
                    start = time.perf_counter()
                    echo_stream(stream, self.size)
                    self.seconds[n] += time.perf_counter() - start
                    self._done.wait()
        except threading.BrokenBarrierError:
            pass
        except BaseException as exc:
            self.failures.append(exc)
            self._go.abort()
            self._done.abort()

    def round(self) -> None:
        try:
            self._go.wait()
            self._done.wait()
        except threading.BrokenBarrierError:
            raise (self.failures[0] if self.failures else RuntimeError("a module failed")) from None

    def close(self) -> None:
        self._stop = True
        with contextlib.suppress(threading.BrokenBarrierError):
            self._go.wait()
        for thread in self._threads:
            thread.join(STEP_TIMEOUT)
        if self.failures:
            raise self.failures[0]


@pytest.mark.parametrize("count", COUNTS)
def test_scale(benchmark: BenchmarkFixture, count: int) -> None:
    small = disabled(benchmark)
    if small and count >= BENCH_ONLY:
        pytest.skip(f"end-to-end benchmark ({count} emulator processes): runs under make bench")
    size = SMALL_PER_MODULE if small else PER_MODULE
    rounds = 1 if small else ROUNDS
    benchmark.group = _group(count)
    with echo_peer() as peer, emulators(count) as urls:
        fleet = Fleet(urls, peer, size)
        try:
            pedantic(benchmark, fleet.round, rounds)
        finally:
            fleet.close()
    per_module = [size * rounds / s / 1e6 for s in fleet.seconds]
    describe_scale(benchmark, count, size, per_module, _group)
