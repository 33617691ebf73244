"""Memory: the driver's resident set before and after streaming 1 GiB (each way)
through transparent mode. Buffers are bounded, so nothing should stay behind.

RSS is read from ``/proc/self/status`` (``VmRSS``) — the echo peer and the emulator run
in processes of their own, so the figure is the driver's (and pytest's). A warm-up of
16 MiB first brings the allocator and every buffer to their working size; the growth
counted is from after the warm-up to after the 1 GiB.

Benchmarks only: a 1 GiB run has no small version worth doing in ``make test``.
"""

from __future__ import annotations

import gc

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from e2e_harness import (
    MIB,
    WRITE_CHUNK,
    connected_module,
    echo_peer,
    echo_stream,
    emulators,
    pedantic,
    rss_bytes,
    value_row,
)

SIZE = 1024 * MIB
WARMUP = 16 * MIB
TARGET_GROWTH_MIB = 1.0

pytestmark = pytest.mark.timeout(600)


def test_memory_1gib(benchmark: BenchmarkFixture) -> None:
    if benchmark.disabled:
        pytest.skip("end-to-end benchmark (1 GiB): runs under make bench")
    benchmark.group = "e2e transparent echo 1 GiB"
    rss: list[int] = []
    with (
        echo_peer() as peer,
        emulators(1) as (url,),
        connected_module(url, peer) as (module, _),
        module.transparent(timeout=30.0) as stream,
    ):
        echo_stream(stream, WARMUP)
        gc.collect()
        rss.append(rss_bytes())
        pedantic(benchmark, lambda: echo_stream(stream, SIZE), 1)
        gc.collect()
        rss.append(rss_bytes())
    growth = (rss[1] - rss[0]) / MIB
    benchmark.extra_info.update(
        impl="atsock",
        bytes=SIZE,
        direction="both directions concurrently; bytes = each way",
        write_chunk=WRITE_CHUNK,
        warmup_bytes=WARMUP,
        rss_before=rss[0],
        rss_after=rss[1],
        rss_growth_mib=growth,
        rows=[value_row("e2e 1 GiB driver RSS growth", growth, "MiB", "<", TARGET_GROWTH_MIB)],
    )
