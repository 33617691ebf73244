"""``ResponseFramer.feed_batch()`` and what framing costs the garbage collector.

A process that keeps the frames it gets (a driver holds a reply until its command
returns) must not make the collector run, or traverse those frames, once per few
hundred frames: issue 19 measured collection at 40-60 % of framing time. These tests
pin the behaviour down by counting, not timing: the batch agrees with ``feed()`` frame
for frame, nothing the framer returns is tracked by the collector, and framing with
every batch kept triggers no collection at all.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atsock import Frame, FramingError, ResponseFramer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benches"))
from mixed_stream import chunked, generate

SAMPLE = (
    b"AT+SOCKETREAD=1\r\n+SOCKETREAD,1,8,OK\r\n>\x00xy\r\nOK\r\n"
    b"+EVENT:SocketDown,2,5,ab\r\nc\r\n+SOCKET:97\r\nERROR\r\n> connect success ConID=3\r\n"
)
MIB = 1 << 20


def full(frames: Iterable[Frame]) -> list[tuple[object, ...]]:
    return [(f.kind, f.line, f.payload, f.id, f.code, f.name, f.fields) for f in frames]


def test_a_batch_holds_the_same_frames_as_feed() -> None:
    batch = ResponseFramer().feed_batch(SAMPLE)
    listed = ResponseFramer().feed(SAMPLE)
    assert len(batch) == len(listed) == 8
    assert full(batch) == full(listed)
    assert batch.kinds == tuple(f.kind for f in listed)
    assert batch.payloads == tuple(f.payload for f in listed)
    assert batch[-1].id == 3 and batch[1].payload == b"OK\r\n>\x00xy"
    with pytest.raises(IndexError, match="out of range for a batch of 8"):
        batch[8]
    assert repr(batch) == "<FrameBatch of 8 frames>"


def test_reads_that_complete_no_frame_share_one_empty_batch() -> None:
    framer = ResponseFramer()
    first, second = framer.feed_batch(b"+SOCKETREAD,1,"), framer.feed_batch(b"4,ab")
    assert first is second and len(first) == 0 and first.kinds == () == first.payloads
    assert framer.feed_batch(b"cd\r\nOK\r\n").payloads == (b"abcd", None)


def test_passthrough_hands_back_the_callers_own_bytes() -> None:
    framer = ResponseFramer()
    framer.enter_passthrough()
    data = bytes(range(256)) * 64
    batch = framer.feed_batch(data)
    assert batch.kinds == ("data",) and batch.payloads[0] is data


def test_a_framing_error_keeps_what_was_decoded() -> None:
    framer = ResponseFramer(max_line=16)
    with pytest.raises(FramingError) as caught:
        framer.feed_batch(b"OK\r\n" + b"x" * 40 + b"\r\n+EVENT:SocketDown,1,2,hi")
    assert [f.kind for f in caught.value.frames] == ["ok", "urc"]
    assert framer.feed_batch(b"OK\r\n").kinds == ("ok",)


@given(st.lists(st.integers(1, 300), max_size=40), st.sampled_from([bytes, bytearray]))
def test_batches_agree_with_whole_input_for_any_chunking(
    cuts: list[int], kind: type[bytes] | type[bytearray]
) -> None:
    data = SAMPLE * 3
    whole = full(ResponseFramer().feed_batch(data))
    framer, got, pos = ResponseFramer(), [], 0
    for size in [*cuts, len(data)]:
        got += full(framer.feed_batch(kind(data[pos : pos + size])))
        pos += size
    assert got == whole


def test_nothing_the_framer_returns_is_tracked_by_the_collector() -> None:
    batch = ResponseFramer().feed_batch(SAMPLE)
    listed = ResponseFramer().feed(SAMPLE)
    assert not gc.is_tracked(batch)
    assert not any(gc.is_tracked(f) for f in [*batch, *listed])


@contextmanager
def collections_counted() -> Iterator[list[int]]:
    """The number of collections of each generation the block triggered."""
    before = [g["collections"] for g in gc.get_stats()]
    counted: list[int] = []
    yield counted
    counted += [g["collections"] - b for g, b in zip(gc.get_stats(), before)]


@pytest.fixture(scope="module")
def stream_chunks() -> list[bytes]:
    return chunked(generate(4 * MIB).data, 65536)


def test_keeping_every_batch_of_4_mib_triggers_no_collection(stream_chunks: list[bytes]) -> None:
    heap = [{"n": n} for n in range(150_000)]  # a process's live objects
    framer, kept, frames = ResponseFramer(), [], 0
    gc.collect()
    with collections_counted() as runs:
        for chunk in stream_chunks:
            batch = framer.feed_batch(chunk)
            kept.append(batch)
            for _kind, _payload in zip(batch.kinds, batch.payloads):
                frames += 1
    assert frames > 30_000
    # 64 batches and 64 tuple pairs, far below a young collection's 700 allocations
    assert runs == [0, 0, 0], f"{runs} collections per 4 MiB framed"
    del heap


def test_frames_kept_from_feed_never_reach_a_full_collection(stream_chunks: list[bytes]) -> None:
    heap = [{"n": n} for n in range(150_000)]
    framer, kept = ResponseFramer(), []
    gc.collect()
    with collections_counted() as runs:
        for chunk in stream_chunks:
            kept.append(framer.feed(chunk))
    frames = sum(map(len, kept))
    # each Frame is still allocated as a GC object, so young collections run, but the
    # frames are untracked: none survives into the old generations
    young, _, old = runs
    assert young <= frames // 700 + 2
    assert old == 0, f"{runs} collections for {frames} kept frames"
    assert not any(gc.is_tracked(f) for f in kept[-1])
    del heap
