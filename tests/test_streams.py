"""Guard, packetizer, command framer and pattern watch through the bindings, with an
injected clock where time matters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atsock import CommandFramer, FramingError, Guard, Packetizer, PatternWatch

MS = 1_000_000


def test_guard_reports_escape_after_silence_on_both_sides() -> None:
    guard = Guard(20 * MS)
    assert guard.feed(b"data", 0) == (False, b"data")
    assert guard.feed(b"+++", 30 * MS) == (False, b"")
    assert guard.held == 3 and guard.deadline == 50 * MS
    assert guard.poll(49 * MS) == (False, b"")
    assert guard.poll(50 * MS) == (True, b"")


def test_guard_passes_plus_plus_plus_inside_data() -> None:
    guard = Guard(20 * MS)
    assert guard.feed(b"x+++", 0) == (False, b"x+++")
    assert guard.feed(b"+++", 30 * MS) == (False, b"")
    # a byte inside the trailing guard: the pluses were data, in order
    assert guard.feed(b"y", 35 * MS) == (False, b"+++y")


def test_guard_returns_the_callers_bytes_uncopied() -> None:
    data = b"z" * 65536
    assert Guard().feed(data, 0)[1] is data


def test_packetizer_cuts_1024_and_flushes_when_idle() -> None:
    pk = Packetizer()
    packets = pk.push(bytes(range(256)) * 9, 0)
    assert [len(p) for p in packets] == [1024, 1024]
    assert pk.pending == 256 and pk.deadline == 20 * MS
    assert pk.poll(19 * MS) is None
    assert pk.poll(20 * MS) == bytes(range(256))
    assert pk.flush() is None


@given(st.lists(st.binary(max_size=3000), max_size=20), st.integers(1, 2048))
def test_packets_reassemble_to_the_input(chunks: list[bytes], size: int) -> None:
    pk = Packetizer(max_packet=size)
    out = [p for i, c in enumerate(chunks) for p in pk.push(c, i)]
    assert all(len(p) == size for p in out)
    assert b"".join(out) + (pk.flush() or b"") == b"".join(chunks)


def test_command_framer_lines_then_raw_payload() -> None:
    cf = CommandFramer()
    cf.push(b"AT+SOCKETSEND=1,8\r\nAT\r\n\x00OK\r\nAT+GMR\r")
    assert cf.next_event() == ("line", b"AT+SOCKETSEND=1,8")
    cf.expect_raw(8)
    assert cf.next_event() == ("raw", b"AT\r\n\x00OK\r")
    assert cf.next_event() == ("line", b"AT+GMR")
    assert cf.next_event() is None


def test_command_framer_overlong_line_raises_then_resyncs() -> None:
    cf = CommandFramer()
    cf.push(b"AT+" + b"X" * 300 + b"\r\nAT\r\n")
    with pytest.raises(FramingError, match="longer than 256"):
        cf.next_event()
    assert cf.next_event() == ("line", b"AT")


READY = b"\nready\r\n"


def test_pattern_watch_finds_a_line_split_across_chunks_of_any_type() -> None:
    watch = PatternWatch(READY)
    assert watch.pattern == READY
    assert not watch.feed(b"boot\r")  # the tail kept between chunks is used from here on
    assert not watch.feed(bytearray(b"\nrea"))
    assert watch.feed(memoryview(b"dy\r\nstream"))
    assert not watch.feed(b"ready\r\n")


@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=10))
def test_pattern_watch_agrees_with_a_search_of_the_whole_stream(
    noise: bytes, cuts: list[int]
) -> None:
    data = noise[: len(noise) // 2] + READY + noise[len(noise) // 2 :]
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    watch = PatternWatch(READY)
    hits = [end for start, end in zip(points, points[1:]) if watch.feed(data[start:end])]
    ends = {i + len(READY) for i in range(len(data)) if data.startswith(READY, i)}
    expected = [
        end for start, end in zip(points, points[1:]) if any(start < e <= end for e in ends)
    ]
    assert hits == expected
