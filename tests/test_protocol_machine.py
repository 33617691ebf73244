"""ModuleProtocol (atsock.protocol.machine): the actions each framed frame asks of a
front-end, fed the module's bytes through the core's framer, no port and no thread."""

from __future__ import annotations

import pytest

from atsock import ModuleReset, ReceiveMode, SocketData, SocketSeed
from atsock._core import Frame, ResponseFramer
from atsock.protocol import conns
from atsock.protocol.exchange import Pending
from atsock.protocol.machine import (
    ModuleProtocol,
    Note,
    Publish,
    Rebooted,
    StreamData,
    StreamEnded,
    StreamStarted,
    WriteLatePayload,
)
from atsock.protocol.state import Mode


def frames(output: bytes, framer: ResponseFramer | None = None) -> list[Frame]:
    return (framer or ResponseFramer()).feed(output)


def test_urcs_are_booked_then_published() -> None:
    protocol = ModuleProtocol()
    (seed,) = frames(b"+EVENT:SocketSeed,5,3\r\n")
    assert protocol.on_frame(seed) == [Publish(SocketSeed(5, 3))]
    assert list(protocol.conns.ensure(3).seeds) == [5]
    (down,) = frames(b"+EVENT:SocketDown,5,12\r\n")
    assert protocol.on_frame(down) == [Publish(SocketData(5, 12))]
    assert protocol.conns.announced() == {5: 0}


def test_an_impossible_conid_is_published_but_not_booked() -> None:
    protocol = ModuleProtocol()
    (urc,) = frames(b"+EVENT:SocketDown,999,1\r\n")
    note, publish = protocol.on_frame(urc)
    assert isinstance(note, Note) and "impossible ConID" in note.text
    assert publish == Publish(SocketData(999, 1))
    assert protocol.conns.announced(every=True) == {}


def test_a_full_buffer_drops_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conns, "RX_BUFFER_MAX", 4)
    protocol = ModuleProtocol()
    (urc,) = frames(b"+EVENT:SocketDown,1,5,hello\r\n")
    note, publish = protocol.on_frame(urc)
    assert isinstance(note, Note) and "5 bytes dropped" in note.text
    assert isinstance(publish, Publish)  # the event still carries the data


def test_an_unasked_ready_resets_everything_and_fails_the_command() -> None:
    protocol = ModuleProtocol()
    protocol.conns.receive_mode = ReceiveMode.ACTIVE
    kept = protocol.conns.ensure(1)
    pending = Pending(b"AT+SOCKET?")
    protocol.exchange.start(pending, secret_rx=False)
    (ready,) = frames(b"ready\r\n")
    (action,) = protocol.on_frame(ready)
    assert isinstance(action, Rebooted) and not action.expected
    assert pending.failure is action.reason and kept.gone is action.reason
    assert protocol.conns.receive_mode == ReceiveMode.PASSIVE


def test_an_asked_ready_is_expected_once() -> None:
    protocol = ModuleProtocol()
    protocol.exchange.expect_ready = True
    (ready,) = frames(b"ready\r\n")
    (first,) = protocol.on_frame(ready)
    (second,) = protocol.on_frame(ready)
    assert isinstance(first, Rebooted) and first.expected
    assert isinstance(second, Rebooted) and not second.expected
    assert isinstance(first.reason, ModuleReset)


def test_a_late_prompt_asks_for_its_payload() -> None:
    protocol = ModuleProtocol()
    pending = Pending(b"AT+SOCKETSEND=1,3", wants_prompt=True)
    protocol.exchange.start(pending, secret_rx=False)
    protocol.exchange.gave_up(
        pending, payload=b"abc", payload_sent=False, secret=False, until_prompt=False
    )
    (prompt,) = frames(b">")
    assert protocol.on_frame(prompt) == [
        Note(f"unsolicited {prompt!r}", warning=False),
        WriteLatePayload(),
    ]
    assert protocol.data_to_send() == (b"abc", False)  # exactly its payload, once
    assert protocol.data_to_send() == (b"", False)


def test_an_auto_transparent_boot_connects_then_streams_and_the_exit_ends_it() -> None:
    protocol = ModuleProtocol()
    protocol.arm_transparent(boot=True)
    assert protocol.mode is Mode.BOOTING and protocol.auto_boot
    actions = protocol.receive_data(b"connect success ConID=1\r\nOK\r\n>hello", 1.0)
    assert protocol.conns.get(1) is not None
    assert StreamStarted() in actions and protocol.mode is Mode.TRANSPARENT
    (data,) = (a for a in actions if isinstance(a, StreamData))
    assert data.payload == b"hello"
    assert protocol.begin_exit() == b"+++" and protocol.mode is Mode.LEAVING
    assert protocol.receive_data(b"\r\nOK\r\n", 2.0) == [StreamEnded()]
    assert protocol.mode is Mode.COMMAND


def test_a_stream_burst_is_taken_as_it_is_only_while_nothing_else_can_be_in_it() -> None:
    protocol = ModuleProtocol()
    assert not protocol.receive_stream(b"\r\nOK\r\n", 1.0)  # command mode: lines
    protocol.arm_transparent(boot=True)
    protocol.receive_data(b"connect success ConID=1\r\nOK\r\n>", 1.0)
    assert protocol.mode is Mode.TRANSPARENT
    # streaming: the burst is the one StreamData receive_data would give, unbuilt
    burst = b"\r\nOK\r\nready\r\n+EVENT:1,CLOSED\r\n"
    assert protocol.receive_stream(burst, 2.0) and protocol.last_rx == 2.0
    (same,) = protocol.receive_data(burst, 2.5)
    assert isinstance(same, StreamData) and same.payload is burst
    # the exit is under way: the module's OK may be in the next bytes
    protocol.begin_exit()
    assert not protocol.receive_stream(b"x\r\nOK\r\n", 3.0) and protocol.last_rx == 2.5
    data, ended = protocol.receive_data(b"x\r\nOK\r\n", 3.0)
    assert isinstance(data, StreamData) and data.payload == b"x" and ended == StreamEnded()
    assert not protocol.receive_stream(b"data", 4.0)


def test_a_half_framed_line_keeps_the_bytes_after_it_off_the_stream_path() -> None:
    protocol = ModuleProtocol()
    protocol.arm_transparent(boot=False)
    protocol.receive_data(b"AT+SOCKETTT\r\n", 1.0)
    assert not protocol.receive_stream(b">", 1.0)  # (the prompt itself is a frame)
    protocol.receive_data(b">abc", 1.0)
    assert protocol.receive_stream(b"def", 1.5)
