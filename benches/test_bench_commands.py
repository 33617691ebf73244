"""Command-mode data (AT+SOCKETSEND / AT+SOCKETREAD, 1 KiB packets) against
transparent mode, both measured in the same run over the same kind of link.

Command mode, passive receive (the default): ``send(con_id, 1 KiB)``, wait for the
``SocketData`` event of the echo, ``read(con_id)`` until the 1 KiB is back — one
packet in flight. Transparent mode: the stream benchmark's echo (64 KiB writes).
Both figures count bytes each way per second.
"""

from __future__ import annotations

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from atsock import Module, SocketData
from e2e_harness import (
    MIB,
    STEP_TIMEOUT,
    WRITE_CHUNK,
    connected_module,
    disabled,
    echo_peer,
    echo_stream,
    emulators,
    pedantic,
)

PACKET = 1024
PACKETS = 1024  # 1 MiB each way per round
SMALL_PACKETS = 16
TRANSPARENT_SIZE = 16 * MIB
SMALL_TRANSPARENT_SIZE = 64 * 1024
ROUNDS = 3
GROUP = "e2e SOCKETSEND/READ 1 KiB vs transparent"

pytestmark = pytest.mark.timeout(300)


def _describe(benchmark: BenchmarkFixture, impl: str, size: int) -> None:
    benchmark.group = GROUP
    benchmark.extra_info.update(
        impl=impl,
        bytes=size,
        direction="bytes = each way (sent, then echoed back)",
        packet=PACKET,
        baseline=f"transparent mode echo, {WRITE_CHUNK} B writes, both directions at once",
    )


def command_round_trips(module: Module, con_id: int, packets: int) -> None:
    """``packets`` times: SOCKETSEND 1 KiB, then SOCKETREAD its echo (one in flight)."""
    payload = bytes(range(256)) * (PACKET // 256)
    for _ in range(packets):
        module.send(con_id, payload)
        got = 0
        while got < PACKET:
            module.events.wait_for(SocketData, STEP_TIMEOUT)
            got += len(module.read(con_id))
        assert got == PACKET, f"{got} bytes echoed of {PACKET}"


def test_command_mode(benchmark: BenchmarkFixture) -> None:
    packets = SMALL_PACKETS if disabled(benchmark) else PACKETS
    _describe(benchmark, "atsock", packets * PACKET)
    with echo_peer() as peer, emulators(1) as (url,), connected_module(url, peer) as (module, cid):
        module.events.clear()
        pedantic(
            benchmark,
            lambda: command_round_trips(module, cid, packets),
            1 if disabled(benchmark) else ROUNDS,
        )


def test_transparent_mode(benchmark: BenchmarkFixture) -> None:
    size = SMALL_TRANSPARENT_SIZE if disabled(benchmark) else TRANSPARENT_SIZE
    _describe(benchmark, "baseline", size)
    with (
        echo_peer() as peer,
        emulators(1) as (url,),
        connected_module(url, peer) as (module, _),
        module.transparent(timeout=30.0) as stream,
    ):
        pedantic(benchmark, lambda: echo_stream(stream, size), 1 if disabled(benchmark) else ROUNDS)
