"""The response framer through the Python bindings: frames, limits, chunking invariance."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st

import atsock
from atsock import Frame, FramingError, ResponseFramer

Canon = tuple[str, bytes | None, bytes | None, int | None, int | None, str | None]


def canon(frames: Iterable[Frame]) -> list[Canon]:
    """Frames as comparable tuples; passthrough data merged (its cut points are free)."""
    out: list[Canon] = []
    for f in frames:
        item = (f.kind, f.line, f.payload, f.id, f.code, f.name)
        if f.kind == "data" and out and out[-1][0] == "data":
            prev = out.pop()
            item = ("data", None, (prev[2] or b"") + (f.payload or b""), None, None, None)
        out.append(item)
    return out


def feed_chunked(
    data: bytes, cuts: Iterable[int], framer: ResponseFramer | None = None
) -> list[Canon]:
    framer = framer or ResponseFramer()
    frames: list[Frame] = []
    pos = 0
    for size in cuts:
        frames += framer.feed(data[pos : pos + size])
        pos += size
    frames += framer.feed(data[pos:])
    return canon(frames)


def test_reply_lines_and_payloads_have_kinds_and_fields() -> None:
    frames = ResponseFramer().feed(
        b"AT+SOCKETREAD=1\r\n+SOCKETREAD,1,8,OK\r\n>\x00xy\r\nOK\r\n"
        b"+EVENT:SocketDisconnect,4\r\nconnect success ConID=3\r\n+WDNS:1.1.1.1,8.8.8.8\r\n"
        b"+SOCKET:97\r\nERROR\r\n"
    )
    assert [f.kind for f in frames] == [
        "echo", "socketread", "ok", "urc", "connect", "info", "info", "error",
    ]  # fmt: skip
    echo, read, ok, urc, conn, wdns, code_line, err = frames
    assert echo.line == b"AT+SOCKETREAD=1"
    assert (read.id, read.payload, read.name, read.fields) == (
        1,
        b"OK\r\n>\x00xy",
        "SOCKETREAD",
        ["1", "8"],
    )
    assert ok.text == "OK"
    assert (urc.name, urc.fields, urc.payload) == ("SocketDisconnect", ["4"], None)
    assert conn.id == 3
    assert (wdns.name, wdns.fields) == ("WDNS", ["1.1.1.1", "8.8.8.8"])
    assert code_line.name == "SOCKET"
    assert (err.code, err.name) == (97, "SOCKET")


def test_active_socketdown_is_an_urc_carrying_its_payload() -> None:
    (frame,) = ResponseFramer().feed(b"+EVENT:SocketDown,2,6,\r\nOK\r\n")
    assert (frame.kind, frame.name, frame.fields, frame.id) == ("urc", "SocketDown", ["2", "6"], 2)
    assert frame.payload == b"\r\nOK\r\n"


def test_prompt_has_no_line_end() -> None:
    framer = ResponseFramer()
    assert [f.kind for f in framer.feed(b"AT+SOCKETSEND=1,3\r\n>")] == ["echo", "prompt"]


def test_reply_after_prompt_and_space_at_the_end_of_a_read() -> None:
    framer = ResponseFramer()
    assert [f.kind for f in framer.feed(b"> ")] == ["prompt"]
    assert [f.kind for f in framer.feed(b"\r\nOK\r\n")] == ["ok"]


def test_accepts_bytearray_and_memoryview() -> None:
    framer = ResponseFramer()
    assert [f.kind for f in framer.feed(bytearray(b"OK\r\n"))] == ["ok"]
    assert [f.kind for f in framer.feed(memoryview(b"xxOK\r\n")[2:])] == ["ok"]


def test_passthrough_returns_the_callers_bytes_uncopied() -> None:
    framer = ResponseFramer()
    framer.arm_transparent()
    assert [f.kind for f in framer.feed(b"AT+SOCKETTT\r\n>")] == ["echo", "prompt"]
    assert framer.passthrough
    chunk = b"\r\nOK\r\n+EVENT:SocketDown,1,5\r\n" * 100
    (frame,) = framer.feed(chunk)
    assert frame.kind == "data"
    assert frame.payload is chunk


def test_exit_reply_ends_passthrough_after_begin_exit() -> None:
    framer = ResponseFramer()
    framer.enter_passthrough()
    framer.begin_exit()
    frames = framer.feed(b"tail\r\nOK\r\nAT\r\nOK\r\n")
    assert canon(frames) == [
        ("data", None, b"tail", None, None, None),
        ("exit", None, None, None, None, None),
        ("echo", b"AT", None, None, None, None),
        ("ok", b"OK", None, None, None, None),
    ]
    assert not framer.passthrough


def test_overlong_line_raises_framing_error_and_keeps_other_frames() -> None:
    framer = ResponseFramer(max_line=32)
    with pytest.raises(FramingError, match="longer than 32 bytes") as info:
        framer.feed(b"OK\r\n" + b"x" * 100 + b"\r\nERROR\r\n")
    assert isinstance(info.value, atsock.ATError)
    assert [f.kind for f in info.value.frames] == ["ok", "error"]
    assert [f.kind for f in framer.feed(b"OK\r\n")] == ["ok"]


def test_absurd_length_is_refused_with_bounded_memory() -> None:
    framer = ResponseFramer()
    with pytest.raises(FramingError, match="2147483648 bytes"):
        framer.feed(b"+SOCKETREAD,1,2147483648,")
    framer.feed(b"z" * 100_000)  # the bogus payload is skipped to the next line end
    assert framer.pending == 0
    assert [f.kind for f in framer.feed(b"\r\nOK\r\n")] == ["ok"]


def test_endless_line_never_grows_the_buffer() -> None:
    framer = ResponseFramer(max_line=1024)
    errors = 0
    for _ in range(200):
        try:
            framer.feed(b"y" * 4096)
        except FramingError:
            errors += 1
        assert framer.pending <= 1024 + 4096
    assert errors == 1  # one line, one error, then dropped silently to its end


def test_repr_never_shows_payload_bytes() -> None:
    (frame,) = ResponseFramer().feed(b"+SSLCRET:3,16,-----BEGIN KEY--\r\n")
    assert frame.kind == "sslcret"
    assert "BEGIN" not in repr(frame)
    assert "16 bytes" in repr(frame)


def test_build_profile_is_release() -> None:
    assert atsock.build_profile() == "release"


# --- property tests: any chunking gives the same frames -------------------------------

_payload = st.binary(max_size=1100)
_piece = st.one_of(
    st.sampled_from(
        [
            b"OK\r\n",
            b"+SOCKET:97\r\nERROR\r\n",
            b"AT+SOCKET?\r\n",
            b"1,4,1,127.0.0.1,6000,-1,-1\r\n",
            b">",
            b"> ",
            b"+EVENT:SocketDisconnect,3\r\n",
            b"+EVENT:SocketDown,1,21\r\n",
            b"connect success ConID=7\r\n",
            b"ready\r\n",
            b"[Busy]Cmd running\r\n",
        ]
    ),
    _payload.map(lambda p: b"+SOCKETREAD,1,%d,%s\r\n" % (len(p), p)),
    _payload.map(lambda p: b"+EVENT:SocketDown,2,%d,%s" % (len(p), p)),
    _payload.map(lambda p: b"+SSLCRET:1,%d,%s\r\nOK\r\n" % (len(p), p)),
)
_stream = st.lists(_piece, max_size=40).map(b"".join)


@given(stream=_stream, cuts=st.lists(st.integers(1, 65536), max_size=30))
def test_random_chunkings_give_identical_frames(stream: bytes, cuts: list[int]) -> None:
    assert feed_chunked(stream, cuts) == feed_chunked(stream, [])


@given(stream=_stream)
def test_bytewise_feed_matches_whole_feed(stream: bytes) -> None:
    assert feed_chunked(stream, [1] * len(stream)) == feed_chunked(stream, [])


@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(1, 512), max_size=20))
def test_garbage_only_ever_raises_framing_error(data: bytes, cuts: list[int]) -> None:
    framer = ResponseFramer(max_line=64, max_payload=256)
    pos = 0
    for size in [*cuts, len(data)]:
        with contextlib.suppress(FramingError):
            framer.feed(data[pos : pos + size])
        pos += size
        assert framer.pending <= 64 + 256 + 512
