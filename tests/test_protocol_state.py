"""Every transition of the protocol's state table (atsock.protocol.state), driven the way
a front-end drives it: bytes and times into ModuleProtocol, exactly one outcome out. No
port, no thread, no clock: the hard rules (a late prompt, an orphaned reply, the stray
'>' of a timed-out AT+SOCKETTT, 'ready' mid-command) are pinned down here."""

from __future__ import annotations

import pytest

from atsock import ModuleReset
from atsock.protocol.exchange import Pending
from atsock.protocol.gate import RESYNC_QUIET
from atsock.protocol.machine import (
    Answered,
    FramingFailed,
    ModuleProtocol,
    Note,
    Prompted,
    Rebooted,
    StreamData,
    StreamEnded,
    WriteLatePayload,
)
from atsock.protocol.rules import GUARD_MARGIN
from atsock.protocol.state import (
    MODE_TRANSITIONS,
    CommandState,
    Mode,
    ProtocolStateError,
    command_state,
)


def sent(protocol: ModuleProtocol, line: bytes, **flags: bool) -> Pending:
    """A command went out (what the front-end records before writing its line)."""
    pending = Pending(line, **flags)
    protocol.exchange.start(pending, secret_rx=False)
    return pending


def streaming(*, boot: bool = False) -> ModuleProtocol:
    """A protocol whose module streams (entered with AT+SOCKETTT, or by booting)."""
    protocol = ModuleProtocol()
    protocol.arm_transparent(boot=boot)
    if boot:
        protocol.receive_data(b"connect success ConID=1\r\nOK\r\n>", 0.0)
    else:
        sent(protocol, b"AT+SOCKETTT", wants_prompt=True, enters_stream=True)
        protocol.receive_data(b"AT+SOCKETTT\r\n>", 0.0)
    assert protocol.mode is Mode.TRANSPARENT
    return protocol


def data_of(actions: list[object]) -> bytes:
    return b"".join(a.payload for a in actions if isinstance(a, StreamData))


# ---- modes -------------------------------------------------------------------------------


def test_tt_prompt_starts_the_stream_and_the_rest_of_the_read_is_data() -> None:
    protocol = ModuleProtocol()
    protocol.arm_transparent(boot=False)
    assert protocol.mode is Mode.ENTERING
    pending = sent(protocol, b"AT+SOCKETTT", wants_prompt=True, enters_stream=True)
    actions = protocol.receive_data(b"AT+SOCKETTT\r\n>OK\r\nERROR\r\n", 1.0)
    assert pending.prompted and protocol.mode is Mode.TRANSPARENT
    assert data_of(actions) == b"OK\r\nERROR\r\n"  # the peer's bytes, whatever they say


def test_a_refused_tt_leaves_the_module_reading_lines() -> None:
    protocol = ModuleProtocol()
    protocol.arm_transparent(boot=False)
    pending = sent(protocol, b"AT+SOCKETTT", wants_prompt=True, enters_stream=True)
    protocol.receive_data(b"+SOCKETTT:105\r\nERROR\r\n", 1.0)
    assert pending.final is not None and pending.final.kind == "error"
    assert protocol.mode is Mode.ENTERING  # until the front-end gives the stream up
    protocol.leave_transparent()
    assert protocol.mode is Mode.COMMAND
    protocol.exchange.end(pending, secret_reply=False)
    later = sent(protocol, b"AT")
    assert data_of(protocol.receive_data(b">OK\r\n", 2.0)) == b""
    assert later.final is not None and later.final.kind == "ok"


def test_booting_streams_after_the_boots_prompt() -> None:
    protocol = ModuleProtocol()
    protocol.arm_transparent(boot=True)
    protocol.exchange.expect_ready = True
    actions = protocol.receive_data(b"Combo-AT\r\nready\r\n", 1.0)
    assert isinstance(actions[-1], Rebooted) and actions[-1].expected
    assert protocol.mode is Mode.BOOTING  # the reset keeps the framer armed for the boot
    actions = protocol.receive_data(b"connect success ConID=2\r\nOK\r\n>peer", 2.0)
    assert protocol.mode is Mode.TRANSPARENT and data_of(actions) == b"peer"
    assert protocol.conns.get(2) is not None


def test_a_boot_that_never_streams_goes_back_to_lines() -> None:
    protocol = ModuleProtocol()
    protocol.arm_transparent(boot=True)
    protocol.leave_transparent()
    assert protocol.mode is Mode.COMMAND and not protocol.framer.armed


def test_leaving_sends_plus_and_the_exit_reply_ends_the_stream() -> None:
    protocol = streaming()
    assert data_of(protocol.receive_data(b"last bytes", 1.0)) == b"last bytes"
    assert protocol.begin_exit() == b"+++"
    assert protocol.mode is Mode.LEAVING
    actions = protocol.receive_data(b"tail\r\nOK\r\n", 2.0)
    assert data_of(actions) == b"tail" and actions[-1] == StreamEnded()
    assert protocol.mode is Mode.COMMAND
    answer = sent(protocol, b"AT")
    protocol.receive_data(b"OK\r\n", 3.0)
    assert answer.final is not None


def test_an_exit_reply_that_never_comes_is_given_up() -> None:
    protocol = streaming()
    protocol.begin_exit()
    protocol.leave_transparent()
    assert protocol.mode is Mode.COMMAND and not protocol.framer.passthrough


def test_an_abandoned_stream_goes_straight_back_to_command_mode() -> None:
    protocol = streaming(boot=True)
    protocol.leave_transparent()
    assert protocol.mode is Mode.COMMAND and not protocol.framer.passthrough


def test_a_reset_while_entering_ends_the_entry() -> None:
    protocol = ModuleProtocol()
    protocol.arm_transparent(boot=False)
    pending = sent(protocol, b"AT+SOCKETTT", wants_prompt=True, enters_stream=True)
    protocol.receive_data(b"ready\r\n", 1.0)
    assert protocol.mode is Mode.COMMAND and isinstance(pending.failure, ModuleReset)


@pytest.mark.parametrize(
    ("start", "target"),
    [(m, t) for m in Mode for t in Mode if t not in MODE_TRANSITIONS[m]],
)
def test_every_transition_outside_the_table_is_refused(start: Mode, target: Mode) -> None:
    protocol = ModuleProtocol()
    protocol.modes.mode = start
    with pytest.raises(ProtocolStateError, match=f"from {start.value} to {target.value}"):
        protocol.modes.to(target)
    assert protocol.mode is start


def test_begin_exit_outside_a_stream_is_a_state_error() -> None:
    with pytest.raises(ProtocolStateError):
        ModuleProtocol().begin_exit()


@pytest.mark.parametrize(
    ("mode", "line", "allowed"),
    [
        (Mode.COMMAND, b"AT", True),
        (Mode.ENTERING, b"AT+SOCKETTT", True),
        (Mode.ENTERING, b"AT+SOCKETTT=1", True),
        (Mode.ENTERING, b"AT", False),
        (Mode.BOOTING, b"AT+RST", True),
        (Mode.BOOTING, b"AT+SOCKET?", False),
        (Mode.TRANSPARENT, b"AT", False),
        (Mode.LEAVING, b"AT", False),
    ],
)
def test_which_lines_may_go_out_in_each_mode(mode: Mode, line: bytes, allowed: bool) -> None:
    protocol = ModuleProtocol()
    protocol.modes.mode = mode
    assert protocol.may_send(line) is allowed


# ---- the command line ---------------------------------------------------------------------


def test_a_command_is_answered_and_the_line_is_idle_again() -> None:
    protocol = ModuleProtocol()
    assert protocol.command_state is CommandState.IDLE
    pending = sent(protocol, b"AT+SOCKET?")
    assert protocol.command_state is CommandState.AWAITING_REPLY
    protocol.receive_data(b"AT+SOCKET?\r\n1,4,1,127.0.0.1,80,5000,0\r\nOK\r\n", 1.0)
    assert pending.final is not None and [f.kind for f in pending.frames] == ["info"]
    protocol.exchange.end(pending, secret_reply=False)
    assert protocol.command_state is CommandState.IDLE


def test_a_send_awaits_its_prompt_then_its_final() -> None:
    protocol = ModuleProtocol()
    pending = sent(protocol, b"AT+SOCKETSEND=1,3", wants_prompt=True)
    assert protocol.command_state is CommandState.AWAITING_PROMPT
    protocol.receive_data(b"AT+SOCKETSEND=1,3\r\n>", 1.0)
    assert protocol.command_state is CommandState.AWAITING_FINAL
    protocol.receive_data(b"\r\nOK\r\n", 1.1)
    assert pending.final is not None and pending.final.kind == "ok"


def test_a_late_prompt_takes_exactly_the_payload_then_its_ok_comes_late() -> None:
    protocol = ModuleProtocol()
    pending = sent(protocol, b"AT+SOCKETSEND=1,3", wants_prompt=True)
    streams = protocol.give_up(
        pending, payload=b"abc", payload_sent=False, secret=False, until_prompt=False
    )
    protocol.timeout(5.0)
    assert protocol.data_to_send() == (b"", False) and not streams
    assert protocol.command_state is CommandState.LATE_PROMPT_DUE
    actions = protocol.receive_data(b">", 5.5)
    assert WriteLatePayload() in actions
    assert protocol.data_to_send() == (b"abc", False)
    protocol.exchange.resync = False  # (the next command waited for a quiet line)
    assert protocol.command_state is CommandState.LATE_REPLY_DUE
    protocol.receive_data(b"\r\nOK\r\n", 5.6)
    assert protocol.command_state is CommandState.IDLE


def test_a_prompt_as_the_wait_gives_up_is_claimed_at_once() -> None:
    protocol = ModuleProtocol()
    pending = sent(protocol, b"AT+SOCKETSEND=1,2", wants_prompt=True)
    protocol.receive_data(b">", 1.0)
    protocol.give_up(pending, payload=b"hi", payload_sent=False, secret=True, until_prompt=False)
    assert protocol.data_to_send() == (b"hi", True)
    assert protocol.exchange.late_payload is None and protocol.exchange.late_written


def test_bytes_after_a_missed_prompt_make_it_ambiguous_until_padded() -> None:
    protocol = ModuleProtocol()
    pending = sent(protocol, b"AT+SOCKETSEND=1,5", wants_prompt=True)
    protocol.exchange.gave_up(
        pending, payload=b"hello", payload_sent=False, secret=False, until_prompt=False
    )
    protocol.exchange.wrote(3)  # (AT\r of an unrelated line went out)
    assert protocol.command_state is CommandState.PROMPT_AMBIGUOUS
    protocol.pad()
    assert protocol.data_to_send() == (b"\n\n", False)  # it may still read 2 payload bytes
    assert protocol.receive_data(b">", 2.0) == [Note("unsolicited <Frame prompt>", warning=False)]
    assert protocol.exchange.late_payload is None  # never matched to the payload


def test_a_timed_out_reply_resyncs_and_its_late_ok_is_not_the_next_ones() -> None:
    protocol = ModuleProtocol()
    pending = sent(protocol, b"AT+SOCKET?")
    protocol.exchange.end(pending, secret_reply=False)
    assert protocol.timeout(5.0) == []
    assert protocol.command_state is CommandState.RESYNCING
    protocol.receive_data(b"\r\nOK\r\n", 5.2)  # the late reply, nobody waiting
    assert protocol.command_state is CommandState.IDLE


def test_a_late_reply_behind_busy_is_dropped_not_taken_for_the_retry() -> None:
    protocol = ModuleProtocol()
    first = sent(protocol, b"AT+SOCKET?")
    protocol.exchange.end(first, secret_reply=False)
    protocol.timeout(5.0)
    retry = sent(protocol, b"AT+SOCKET?", after_busy=True)
    (note,) = protocol.receive_data(b"\r\nOK\r\n", 5.5)
    assert isinstance(note, Note) and "late reply of a timed-out command" in note.text
    assert retry.final is None and not protocol.exchange.orphaned
    protocol.receive_data(b"\r\nOK\r\n", 5.6)
    assert retry.final is not None


def test_a_partial_frame_is_dropped_only_after_a_quiet_line() -> None:
    protocol = ModuleProtocol()
    protocol.receive_data(b"+SOCKETREAD,1,100,abc", 1.0)
    assert protocol.timeout(1.0 + RESYNC_QUIET / 2) == []  # the rest may be on its way
    assert protocol.framer.pending
    (note,) = protocol.timeout(1.0 + RESYNC_QUIET)
    assert isinstance(note, Note) and "never finished" in note.text
    assert not protocol.framer.pending


def test_the_stray_prompt_of_a_timed_out_tt_means_the_module_streams() -> None:
    protocol = ModuleProtocol()
    pending = sent(protocol, b"AT+SOCKETTT", wants_prompt=True, enters_stream=True)
    _, streams = protocol.exchange.gave_up(
        pending, payload=None, payload_sent=False, secret=False, until_prompt=True
    )
    assert not streams and protocol.command_state is CommandState.LATE_PROMPT_DUE
    actions = protocol.receive_data(b">", 2.0)
    assert any(isinstance(a, Note) and "module streams" in a.text for a in actions)
    assert protocol.exchange.tt_stray and protocol.mode is Mode.COMMAND


def test_a_tt_prompt_as_the_wait_gives_up_is_a_stream() -> None:
    protocol = ModuleProtocol()
    protocol.arm_transparent(boot=False)
    pending = sent(protocol, b"AT+SOCKETTT", wants_prompt=True, enters_stream=True)
    protocol.receive_data(b">", 1.0)
    _, streams = protocol.exchange.gave_up(
        pending, payload=None, payload_sent=False, secret=False, until_prompt=True
    )
    assert streams and protocol.mode is Mode.TRANSPARENT


def test_ready_mid_command_fails_it_and_resyncs() -> None:
    protocol = ModuleProtocol()
    protocol.conns.ensure(1)
    pending = sent(protocol, b"AT+SOCKET?")
    (rebooted,) = protocol.receive_data(b"\r\nCombo-AT\r\nready\r\n", 1.0)
    assert isinstance(rebooted, Rebooted) and not rebooted.expected
    assert pending.failure is rebooted.reason
    protocol.exchange.end(pending, secret_reply=False)
    assert protocol.command_state is CommandState.RESYNCING
    assert protocol.conns.get(1) is None


def test_an_asked_reset_awaits_ready_then_is_idle() -> None:
    protocol = ModuleProtocol()
    protocol.exchange.expect_ready = True
    assert protocol.command_state is CommandState.AWAITING_READY
    pending = sent(protocol, b"AT+RST")
    protocol.receive_data(b"AT+RST\r\nOK\r\n", 1.0)
    protocol.exchange.end(pending, secret_reply=False)
    assert protocol.command_state is CommandState.AWAITING_READY
    (rebooted,) = protocol.receive_data(b"ready\r\n", 2.0)
    assert isinstance(rebooted, Rebooted) and rebooted.expected
    assert protocol.command_state is CommandState.IDLE


def test_a_stalled_payload_is_owed() -> None:
    protocol = ModuleProtocol()
    assert command_state(protocol.exchange, owed=10) is CommandState.PAYLOAD_OWED


def test_garbage_fails_the_command_and_what_framed_is_kept() -> None:
    protocol = ModuleProtocol()
    pending = sent(protocol, b"AT+SOCKET?")
    line = b"1,4,1,h,80,5000,0\r\n+SOCKETREAD,1,2147483648,\r\nOK\r\n"
    actions = protocol.receive_data(line, 1.0)
    (failed,) = (a for a in actions if isinstance(a, FramingFailed))
    assert pending.failure is failed.error
    assert [f.kind for f in pending.frames][:1] == ["info"]


def test_the_command_in_flight_hears_of_its_prompt_and_its_answer() -> None:
    protocol = ModuleProtocol()
    pending = sent(protocol, b"AT+SOCKETSEND=1,2", wants_prompt=True)
    assert protocol.receive_data(b"AT+SOCKETSEND=1,2\r\n>", 1.0) == [Prompted(pending)]
    assert protocol.receive_data(b"\r\nOK\r\n", 1.1) == [Answered(pending)]
    busy = sent(protocol, b"AT")
    assert protocol.receive_data(b"[Busy]Cmd running\r\n", 1.2) == [Answered(busy)]
    assert busy.busy and busy.final is None


def test_the_exit_keeps_the_guard_silence_around_plus() -> None:
    protocol = ModuleProtocol()
    protocol.guard_time = 0.1
    assert protocol.exit_at(5.0) == pytest.approx(5.0 + 0.1 * GUARD_MARGIN)
    assert protocol.exit_budget(2.0) == pytest.approx(2.0 + 2 * 0.1 * GUARD_MARGIN)
