"""Paced UART: the emulator's pty paced at 2 and 4 Mbaud (``--baud``), the driver told
the line rate (``link_rate = baud / 10`` bytes/s).

The figure is the echo throughput over the line rate — each direction of a UART
carries baud / 10 bytes/s at most, and the echo uses both at once — and the driver
process's CPU: seconds per MiB moved each way, and the share of one core over the run
(all of this process's threads; the echo peer runs in a process of its own).

The CPU share is shown beside that of a reference run in the same test: the same line
rate and echo on an emulator of its own, driven by plain blocking
``os.write``/``os.read`` threads (no atsock code), its rounds alternating with atsock's
(ABBA: the machine's load drifts within a run, and the share moves with it). Most of
the cost is waking up for the bursts the paced line delivers (every 10 ms): the raw
reader wakes for each, atsock's stream reader takes about two per wake-up while the
peer streams (``Module(stream_gather=...)``, on by default, see
:mod:`atsock.sync.gather`). The reference shows what waking up costs on this machine at
this moment — the absolute share moves by 2x with the machine's load. Two more rows
split the share by thread: the one reading the stream and the one writing it, each
beside its raw counterpart (the rest of atsock's share is mostly its own reader thread,
which stands by while the stream's reader reads the port).
"""

from __future__ import annotations

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from e2e_harness import (
    MIB,
    WRITE_CHUNK,
    Usage,
    connected_module,
    disabled,
    echo_peer,
    echo_stream,
    emulators,
    pedantic,
    raw_echo,
    raw_transparent,
    value_row,
)

#: baud -> bytes each way per round (about 2.6 s of line time each)
SIZES = {2_000_000: MIB // 2, 4_000_000: 1 * MIB}
#: rounds on each side, alternating (ABBA)
ROUNDS = 4
SMALL_SIZE = 16 * 1024
TARGET_LINE_SHARE = 0.95
#: the driver's CPU budget at 4 Mbaud: share of one core
TARGET_CPU_SHARE = {4_000_000: 0.02}

pytestmark = pytest.mark.timeout(300)


@pytest.mark.parametrize("baud", sorted(SIZES))
def test_paced(benchmark: BenchmarkFixture, baud: int) -> None:
    size = SMALL_SIZE if disabled(benchmark) else SIZES[baud]
    line_rate = baud / 10
    usage = Usage()
    mbaud = f"{baud / 1e6:g} Mbaud"
    benchmark.group = f"e2e paced {mbaud} echo vs line rate"
    raw = Usage()
    rounds = 1 if disabled(benchmark) else ROUNDS
    with (
        echo_peer() as peer,
        emulators(2, baud=baud) as (url, raw_url),
        connected_module(url, peer, link_rate=line_rate) as (module, _),
        module.transparent(timeout=30.0) as stream,
        raw_transparent(raw_url, peer) as fd,
    ):

        def run() -> None:
            with usage.measure():
                echo_stream(stream, size, usage=usage)

        def raw_round() -> None:
            with raw.measure():
                raw_echo(fd, size, usage=raw)

        # (the raw rounds alternate with atsock's, but the throughput's baseline is the
        # line, not them: they are not recorded as its paired rounds)
        pedantic(benchmark, run, rounds, paired_with=raw_round, record_pairs=False)
    share = usage.cpu / usage.wall
    raw_share = raw.cpu / raw.wall
    cpu_limit = TARGET_CPU_SHARE.get(baud)
    benchmark.extra_info.update(
        impl="atsock",
        bytes=size,
        baud=baud,
        direction="both directions concurrently; bytes = each way",
        write_chunk=WRITE_CHUNK,
        baseline_mbps=line_rate / 1e6,
        baseline_label="(line)",
        target_ratio=TARGET_LINE_SHARE,
        wall_seconds=usage.wall,
        cpu_seconds=usage.cpu,
        cpu_seconds_per_mib=usage.cpu / (size / MIB),
        raw_threads_cpu_seconds=raw.cpu,
        raw_threads_wall_seconds=raw.wall,
        rows=[
            value_row(f"e2e paced {mbaud} driver CPU s/MiB", usage.cpu / (size / MIB), "s"),
            value_row(
                f"e2e paced {mbaud} driver CPU share",
                share,
                "%",
                "<" if cpu_limit else None,
                cpu_limit,
                reference=raw_share,
                reference_label="(raw threads)",
            ),
            *(
                value_row(
                    f"e2e paced {mbaud} CPU share, {role} thread",
                    usage.roles[role] / usage.wall,
                    "%",
                    reference=raw.roles[role] / raw.wall,
                    reference_label=f"(raw {role})",
                )
                for role in ("reader", "writer")
            ),
        ],
    )
