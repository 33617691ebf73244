"""Framing as a real process does it: collector on, a populated heap, every result kept.

``test_bench_core.py`` frames with the frames dropped at once, in a process with a
small heap: it measures the framer, not what a driver pays. Here, as issue 19 asks,
the heap holds 150,000 small live objects, every ``feed`` result is kept until the
round ends (a driver holds a reply until its command returns), and every frame's kind
and payload is read. Three comparisons per chunk size, each with rounds alternating:

- ``feed_batch`` against the naive Python framer (the target ratio);
- ``feed`` (a list of ``Frame`` objects) against the same naive framer;
- ``feed_batch`` against the Rust core alone on the same bytes (``_core._frame_count``,
  no Python object at all): what the bindings keep of the core's speed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Callable

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

import atsock
from atsock import _core
from e2e_harness import pedantic
from mixed_stream import MixedStream, chunked, generate
from naive import NaiveFramer

SIZE = 16 << 20
SMALL_SIZE = 1 << 20
CHUNKS = (64, 65536)
BATCH_TARGETS = {64: 4, 65536: 8}  # feed_batch at least this many times the naive framer
TARGET_MBPS = 1000  # at 64 KiB chunks
HEAP_OBJECTS = 150_000
ROUNDS = 5

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def heap() -> Iterator[list[dict[str, int]]]:
    """Small live objects, as an application's heap holds: full collections see them."""
    yield [{"n": n} for n in range(HEAP_OBJECTS)]


@pytest.fixture(scope="module")
def stream(pytestconfig: pytest.Config) -> MixedStream:
    disabled = pytestconfig._benchmarksession.disabled  # type: ignore[attr-defined]
    return generate(SMALL_SIZE if disabled else SIZE)


def kept_batches(chunks: list[bytes]) -> int:
    framer, kept, frames, payload_bytes = atsock.ResponseFramer(), [], 0, 0
    for chunk in chunks:
        batch = framer.feed_batch(chunk)
        kept.append(batch)
        for _kind, payload in zip(batch.kinds, batch.payloads):
            frames += 1
            if payload is not None:
                payload_bytes += len(payload)
    return frames


def kept_lists(chunks: list[bytes]) -> int:
    framer, kept, frames, payload_bytes = atsock.ResponseFramer(), [], 0, 0
    for chunk in chunks:
        got = framer.feed(chunk)
        kept.append(got)
        for frame in got:
            _kind, payload = frame.kind, frame.payload
            frames += 1
            if payload is not None:
                payload_bytes += len(payload)
    return frames


def kept_naive(chunks: list[bytes]) -> int:
    framer, kept, frames, payload_bytes = NaiveFramer(), [], 0, 0
    for chunk in chunks:
        got = framer.feed(chunk)
        kept.append(got)
        for frame in got:
            _kind, payload = frame[0], frame[2]
            frames += 1
            if payload is not None:
                payload_bytes += len(payload)
    return frames


def checked(
    call: Callable[[list[bytes]], int], chunks: list[bytes], want: int
) -> Callable[[], None]:
    def round_() -> None:
        got = call(chunks)
        assert got == want, f"a timed round counted {got} frames, not {want}"

    return round_


def bench(
    request: pytest.FixtureRequest,
    stream: MixedStream,
    chunk: int,
    group: str,
    ours: Callable[[list[bytes]], int],
    baseline: Callable[[list[bytes]], int],
) -> BenchmarkFixture:
    chunks = chunked(stream.data, chunk)
    for call in (ours, baseline):
        assert call(chunks) == stream.frames, f"{call.__name__} miscounted"
    benchmark: BenchmarkFixture = request.getfixturevalue("benchmark")
    benchmark.group = group
    benchmark.extra_info.update(
        impl="atsock", bytes=len(stream.data), chunk=chunk, frames=stream.frames, heap=HEAP_OBJECTS
    )
    pedantic(
        benchmark,
        checked(ours, chunks, stream.frames),
        ROUNDS,
        paired_with=checked(baseline, chunks, stream.frames),
    )
    return benchmark


@pytest.mark.parametrize("chunk", CHUNKS)
def test_kept_batches_against_naive(
    request: pytest.FixtureRequest, heap: list[object], stream: MixedStream, chunk: int
) -> None:
    group = f"kept frames, feed_batch, {chunk} B chunks"
    benchmark = bench(request, stream, chunk, group, kept_batches, kept_naive)
    benchmark.extra_info["target_ratio"] = BATCH_TARGETS[chunk]


@pytest.mark.parametrize("chunk", CHUNKS)
def test_kept_lists_against_naive(
    request: pytest.FixtureRequest, heap: list[object], stream: MixedStream, chunk: int
) -> None:
    bench(request, stream, chunk, f"kept frames, feed, {chunk} B chunks", kept_lists, kept_naive)


def core_alone(data: bytes, chunk: int) -> Callable[[list[bytes]], int]:
    """The same bytes in the same chunks, framed by the core with no Python object."""

    def frame_in_rust(chunks: list[bytes]) -> int:
        return _core._frame_count(data, chunk)

    return frame_in_rust


def test_kept_batches_against_the_core_alone(
    request: pytest.FixtureRequest, heap: list[object], stream: MixedStream
) -> None:
    chunk = 65536
    group = f"kept frames, feed_batch vs Rust core, {chunk} B chunks"
    benchmark = bench(request, stream, chunk, group, kept_batches, core_alone(stream.data, chunk))
    benchmark.extra_info.update(target_mbps=TARGET_MBPS, baseline_label="Rust core alone")
