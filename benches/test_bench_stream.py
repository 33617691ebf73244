"""Transparent streaming end to end, against the raw pty in the same run.

atsock: the driver writes 64 MiB into ``Module.transparent()`` (64 KiB writes, on a
thread) while reading the echo back; the bytes cross a pty to the emulator process,
a real TCP connection to an echo peer process, and come back the same way. The
baseline moves the same bytes each way through a bare pty pair in raw mode with plain
``os.write``/``os.read``, both directions at once, as the atsock run does.

Every round runs right after a baseline round of its own, and the ratio is the median
of the rounds' ratios. This machine's load drifts over a minute (the raw pty alone
moves from 0.6 to 0.9 s a round), so five atsock rounds followed by five baseline
rounds compared one period's speed with another's.

Two reference runs show where the time goes. One moves the same bytes through the
same pty, TCP connection and echo peer process with no atsock code at all: raw blocking
threads at the host end and a bare relay process (two blocking threads, one send per
pty read, no ``+++`` guard, no packets, no AT) in place of the module. The other puts
the emulator back in place of the relay, still with raw threads at the host end (the
driver's share is the difference to the atsock run).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from e2e_harness import (
    MIB,
    READ_CHUNK,
    WRITE_CHUNK,
    bare_relay,
    connected_module,
    disabled,
    echo_peer,
    echo_stream,
    emulators,
    pedantic,
    raw_echo,
    raw_pty_duplex,
    raw_transparent,
)

SIZE = 64 * MIB
SMALL_SIZE = 256 * 1024
#: rounds per run, each after a baseline round: the table takes the median ratio
ROUNDS = 7
TARGET_RATIO = 0.8
GROUP = "e2e transparent echo 64 MiB"

pytestmark = pytest.mark.timeout(600)


def _measure(
    benchmark: BenchmarkFixture,
    impl: str,
    path: str,
    echo: Callable[[int], object],
    label: str | None = None,
) -> None:
    """Times ``echo(size)``: 64 MiB, ROUNDS rounds; 256 KiB once when benchmarks are disabled.
    ``label`` names a reference run's row in the table."""
    small = disabled(benchmark)
    size = SMALL_SIZE if small else SIZE
    benchmark.group = GROUP
    benchmark.extra_info.update(
        impl=impl,
        bytes=size,
        direction="both directions concurrently; bytes = each way",
        write_chunk=WRITE_CHUNK,
        read_chunk=READ_CHUNK,
        target_ratio=TARGET_RATIO,
        baseline="raw pty pair (tty.setraw), os.write/os.read on 4 threads, "
        "master->slave and slave->master at once; one round before each round",
        path=path,
    )
    if label:
        benchmark.extra_info["label"] = label
    pedantic(
        benchmark,
        lambda: echo(size),
        1 if small else ROUNDS,
        paired_with=lambda: raw_pty_duplex(size),
    )


def test_stream_atsock(benchmark: BenchmarkFixture) -> None:
    with (
        echo_peer() as peer,
        emulators(1) as (url,),
        connected_module(url, peer) as (module, _),
        module.transparent(timeout=30.0) as stream,
    ):
        _measure(
            benchmark,
            "atsock",
            "driver -> pty -> emulator process -> TCP -> echo peer process -> back",
            lambda size: echo_stream(stream, size),
        )


def test_stream_bare_relay(benchmark: BenchmarkFixture) -> None:
    with echo_peer() as peer, bare_relay(peer) as fd:
        _measure(
            benchmark,
            "relay",
            "raw threads -> pty -> bare relay process -> TCP -> echo peer process -> back",
            lambda size: raw_echo(fd, size),
            label="bare relay, one send per pty read (no atsock code)",
        )


def test_stream_emulator_alone(benchmark: BenchmarkFixture) -> None:
    with echo_peer() as peer, emulators(1) as (url,), raw_transparent(url, peer) as fd:
        _measure(
            benchmark,
            "emulator",
            "raw threads -> pty -> emulator process -> TCP -> echo peer process -> back",
            lambda size: raw_echo(fd, size),
            label="emulator with raw host threads (no driver)",
        )
