"""Command latency: ``Module.at()`` through the emulator process over a pty, against a
raw pyserial ping-pong with an emulator process of its own over a pty of its own.

Both sides cross one pty each way and wake the same firmware on the far end; the
difference is what the driver (reader thread, framer, command machinery) adds. Both
emulators run with echo off (``ATE0``): ``AT\\r\\n`` out, ``\\r\\nOK\\r\\n`` back. Each round
is one command; blocks of commands alternate with blocks of baseline pings (timed
apart), so both sample the same stretch of this machine's drifting load. The table
shows the median and the 99th percentile of each, and the median against a second
baseline, the same ping-pong with the smallest possible responder
(:mod:`pty_responder`, its blocks right after the first baseline's): what the emulator
itself adds to an answer.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import serial
from pytest_benchmark.fixture import BenchmarkFixture

from atsock import Module
from e2e_harness import disabled, emulators, pedantic

ROUNDS = 3000
SMALL_ROUNDS = 20
WARMUP = 100
#: commands (and pings) in a row: each side runs warm, as when it runs alone; ten
#: alternations put both in the same stretch of the machine's drifting load
BLOCK = 300
TARGET_RATIO_MAX = 1.5  # issue 20: m.at() median within 1.5x the raw ping-pong
GROUP = "e2e AT latency"

pytestmark = pytest.mark.timeout(300)


def _describe(benchmark: BenchmarkFixture, rounds: int) -> None:
    benchmark.group = GROUP
    benchmark.extra_info.update(
        impl="atsock",
        metric="latency",
        rounds=rounds,
        target_ratio_max=TARGET_RATIO_MAX,
        baseline="pyserial write(b'AT\\r\\n') + read_until(b'OK\\r\\n') against an emulator "
        "process of its own (ATE0), in blocks alternating with the commands'; reference: "
        "the same against a minimal responder process on a raw pty",
        wire="AT\\r\\n -> \\r\\nOK\\r\\n (emulators, ATE0) / OK\\r\\n (responder)",
    )


def pinger(port: serial.Serial) -> Callable[[], None]:
    """One raw ``AT`` round trip on ``port`` per call."""

    def ping() -> None:
        port.write(b"AT\r\n")
        reply = port.read_until(b"OK\r\n")
        assert reply.endswith(b"OK\r\n"), reply

    return ping


def test_latency_atsock(benchmark: BenchmarkFixture, responder: str) -> None:
    rounds = SMALL_ROUNDS if disabled(benchmark) else ROUNDS
    _describe(benchmark, rounds)
    with (
        emulators(2) as (url, raw_url),
        Module(url, timeout=5.0) as module,
        serial.serial_for_url(raw_url, timeout=5.0) as raw_port,
        serial.serial_for_url(responder, timeout=5.0) as port,
    ):
        ping, minimal = pinger(raw_port), pinger(port)
        module.set_echo(False)
        raw_port.write(b"ATE0\r\n")
        assert raw_port.read_until(b"OK\r\n").endswith(b"OK\r\n")
        for _ in range(0 if disabled(benchmark) else WARMUP):
            module.at()
            ping()
            minimal()
        pedantic(
            benchmark,
            module.at,
            rounds,
            paired_with=ping,
            block=BLOCK,
            reference=("minimal responder", minimal),
        )
