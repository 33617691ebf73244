"""Throughput of the Rust core against pure-Python baselines, measured in one run.

Each measure is a ``benchmark.group`` holding an atsock benchmark whose rounds alternate
with rounds of its baseline from :mod:`naive`; ``summary_table.py`` turns them into the
summary table. Before anything is timed, both implementations must give identical
results on the very input being timed, and each round's result is checked.

With ``--benchmark-disable`` (the normal test run) every benchmark runs once on a small
input, so the file doubles as a fast agreement test.
"""

from __future__ import annotations

from itertools import zip_longest
from typing import Callable, Protocol

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import atsock
from e2e_harness import pedantic
from mixed_stream import DEFAULT_SIZE, MixedStream, chunked, generate
from naive import FrameTuple, NaiveFramer, NaiveGuard, NaivePacketizer
from naive import format_params as naive_format_params
from naive import parse_params as naive_parse_params
from workloads import Event, guard_events, packetizer_events, param_lists, traffic

SMALL_SIZE = 1024 * 1024  # input size when benchmarks are disabled
FRAMER_CHUNKS = (64, 1024, 65536)
STREAM_CHUNK = 65536
FRAMER_TARGETS = {64: 4, 65536: 8}  # atsock at least this many times the baseline
STREAM_TARGET_MBPS = 1000
PARAM_LISTS = 50_000
#: rounds of atsock, each after a round of the baseline: the table takes the median of
#: the rounds' ratios, so drifting load weighs on both sides alike
ROUNDS = 5

pytestmark = pytest.mark.timeout(600)


class GuardLike(Protocol):
    def feed(self, data: bytes, now_ns: int) -> tuple[bool, bytes]: ...
    def poll(self, now_ns: int) -> tuple[bool, bytes]: ...


class PacketizerLike(Protocol):
    def push(self, data: bytes, now_ns: int) -> list[bytes]: ...
    def poll(self, now_ns: int) -> bytes | None: ...
    def flush(self) -> bytes | None: ...


@pytest.fixture(scope="session")
def small(pytestconfig: pytest.Config) -> bool:
    """Benchmarks are disabled: run everything once on small inputs."""
    return bool(pytestconfig._benchmarksession.disabled)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def stream(small: bool) -> MixedStream:
    return generate(SMALL_SIZE if small else DEFAULT_SIZE)


@pytest.fixture(scope="session")
def stream_bytes(small: bool) -> bytes:
    return traffic(SMALL_SIZE if small else DEFAULT_SIZE)


def bench_fixture(request: pytest.FixtureRequest) -> BenchmarkFixture:
    """The benchmark fixture, taken only once the results were checked: a failed check
    then fails the test alone, without pytest-benchmark warning of an unused fixture."""
    fixture: BenchmarkFixture = request.getfixturevalue("benchmark")
    return fixture


def run(
    benchmark: BenchmarkFixture,
    atsock_round: Callable[[], object],
    naive_round: Callable[[], object],
) -> None:
    """Times ``atsock_round`` for ROUNDS rounds, each right after a ``naive_round`` (its
    baseline, timed apart: see :func:`~e2e_harness.pedantic`)."""
    benchmark.extra_info["impl"] = "atsock"
    pedantic(benchmark, atsock_round, ROUNDS, paired_with=naive_round)


def checked(call: Callable[[], object], want: object) -> Callable[[], None]:
    """A round that fails unless ``call()`` gives ``want``."""

    def round_() -> None:
        got = call()
        assert got == want, f"a timed round gave {got!r}, not {want!r}"

    return round_


# --- response framer ---------------------------------------------------------------


def canonical(frame: atsock.Frame) -> FrameTuple:
    return (frame.kind, frame.line, frame.payload, frame.id, frame.code)


def brief(frame: FrameTuple | None) -> str:
    if frame is None:
        return "nothing"
    kind, line, payload, _, code = frame
    more = f" +{len(payload)} B payload" if payload is not None else ""
    return f"{kind} {line[:60]!r}{more} code={code}" if line is not None else kind


# What has been checked already: each check runs once, before the first timing of it.
_agreed: set[str] = set()


def check_framers_agree(stream: MixedStream, chunk: int) -> None:
    """Frame for frame, in canonical form, after every chunk; a failure names the input."""
    if f"framer {chunk}" in _agreed:
        return
    ours, theirs = atsock.ResponseFramer(), NaiveFramer()
    offset = count = 0
    for piece in chunked(stream.data, chunk):
        a = [canonical(f) for f in ours.feed(piece)]
        b = theirs.feed(piece)
        if a != b:
            i = next(i for i, (x, y) in enumerate(zip_longest(a, b)) if x != y)
            pytest.fail(
                f"framers disagree at {chunk} B chunks, frame #{count + i}, in the chunk at "
                f"byte {offset}: atsock gave {brief(a[i] if i < len(a) else None)}, naive "
                f"{brief(b[i] if i < len(b) else None)}. Input around the chunk start: "
                f"{stream.data[max(offset - 40, 0) : offset]!r} | {piece[:80]!r}"
            )
        offset += len(piece)
        count += len(a)
    assert count == stream.frames, f"{count} frames, the generator wrote {stream.frames}"
    _agreed.add(f"framer {chunk}")


def frame_atsock(chunks: list[bytes]) -> tuple[int, str]:
    """Frames the stream and touches every frame's kind, as any consumer would."""
    framer = atsock.ResponseFramer()
    count = 0
    kind = ""
    for chunk in chunks:
        for frame in framer.feed(chunk):
            kind = frame.kind
            count += 1
    return count, kind


def frame_naive(chunks: list[bytes]) -> tuple[int, str]:
    framer = NaiveFramer()
    count = 0
    kind = ""
    for chunk in chunks:
        for frame in framer.feed(chunk):
            kind = frame[0]
            count += 1
    return count, kind


@pytest.mark.parametrize("chunk", FRAMER_CHUNKS)
def test_framer(request: pytest.FixtureRequest, stream: MixedStream, chunk: int) -> None:
    check_framers_agree(stream, chunk)
    benchmark = bench_fixture(request)
    chunks = chunked(stream.data, chunk)
    benchmark.group = f"framer {chunk} B chunks"
    benchmark.extra_info.update(bytes=len(stream.data), chunk=chunk, frames=stream.frames)
    if chunk in FRAMER_TARGETS:
        benchmark.extra_info["target_ratio"] = FRAMER_TARGETS[chunk]
    run(
        benchmark,
        checked(lambda: frame_atsock(chunks)[0], stream.frames),
        checked(lambda: frame_naive(chunks)[0], stream.frames),
    )


# --- +++ guard ----------------------------------------------------------------------


def guard_outputs(guard: GuardLike, events: list[Event]) -> list[tuple[bool, bytes]]:
    return [guard.feed(d, t) if d is not None else guard.poll(t) for d, t in events]


def drive_guard(guard: GuardLike, events: list[Event]) -> tuple[int, int]:
    forwarded = escapes = 0
    for data, now in events:
        escaped, out = guard.feed(data, now) if data is not None else guard.poll(now)
        forwarded += len(out)
        escapes += escaped
    return forwarded, escapes


def test_guard(request: pytest.FixtureRequest, stream_bytes: bytes) -> None:
    events = guard_events(stream_bytes, STREAM_CHUNK)
    expected = guard_outputs(atsock.Guard(), events)
    if "guard" not in _agreed:
        assert guard_outputs(NaiveGuard(), events) == expected
        _agreed.add("guard")
    escapes = sum(escaped for escaped, _ in expected)
    assert escapes > 0 or len(events) < 40
    benchmark = bench_fixture(request)
    benchmark.group = f"guard {STREAM_CHUNK} B chunks"
    benchmark.extra_info.update(
        bytes=len(stream_bytes), chunk=STREAM_CHUNK, target_mbps=STREAM_TARGET_MBPS
    )
    want = (sum(len(out) for _, out in expected), escapes)
    run(
        benchmark,
        checked(lambda: drive_guard(atsock.Guard(), events), want),
        checked(lambda: drive_guard(NaiveGuard(), events), want),
    )


# --- packetizer ---------------------------------------------------------------------


def packetizer_outputs(p: PacketizerLike, events: list[Event]) -> list[bytes]:
    packets: list[bytes] = []
    for data, now in events:
        if data is None:
            flushed = p.poll(now)
            packets += [flushed] if flushed is not None else []
        else:
            packets += p.push(data, now)
    last = p.flush()
    return packets + ([last] if last is not None else [])


def drive_packetizer(p: PacketizerLike, events: list[Event]) -> int:
    packets = 0
    for data, now in events:
        if data is None:
            packets += p.poll(now) is not None
        else:
            packets += len(p.push(data, now))
    return packets + (p.flush() is not None)


def test_packetizer(request: pytest.FixtureRequest, stream_bytes: bytes) -> None:
    events = packetizer_events(stream_bytes, STREAM_CHUNK)
    expected = packetizer_outputs(atsock.Packetizer(), events)
    if "packetizer" not in _agreed:
        assert packetizer_outputs(NaivePacketizer(), events) == expected
        _agreed.add("packetizer")
    assert b"".join(expected) == stream_bytes
    benchmark = bench_fixture(request)
    benchmark.group = f"packetizer {STREAM_CHUNK} B chunks"
    benchmark.extra_info.update(
        bytes=len(stream_bytes), chunk=STREAM_CHUNK, target_mbps=STREAM_TARGET_MBPS
    )
    run(
        benchmark,
        checked(lambda: drive_packetizer(atsock.Packetizer(), events), len(expected)),
        checked(lambda: drive_packetizer(NaivePacketizer(), events), len(expected)),
    )


# --- AT parameters ------------------------------------------------------------------


def params_atsock(lines: list[bytes]) -> int:
    parse, fmt = atsock.parse_params, atsock.format_params
    return sum(len(fmt(parse(line))) for line in lines)


def params_naive(lines: list[bytes]) -> int:
    parse, fmt = naive_parse_params, naive_format_params
    return sum(len(fmt(parse(line))) for line in lines)


def test_params(request: pytest.FixtureRequest, small: bool) -> None:
    lines = param_lists(PARAM_LISTS // 10 if small else PARAM_LISTS)
    for line in lines:
        values = atsock.parse_params(line)
        assert naive_parse_params(line) == values, line
        assert naive_format_params(values) == atsock.format_params(values), line
    benchmark = bench_fixture(request)
    benchmark.group = "params parse+format"
    benchmark.extra_info.update(bytes=sum(map(len, lines)), lists=len(lines))
    want = params_atsock(lines)
    run(
        benchmark,
        checked(lambda: params_atsock(lines), want),
        checked(lambda: params_naive(lines), want),
    )
