"""When the next command may go out (atsock.protocol.gate), asked of ModuleProtocol with
bytes and times only: every answer of the gate, and what ends each wait."""

from __future__ import annotations

import pytest

from atsock.protocol.exchange import Pending
from atsock.protocol.gate import LATE_REPLY_QUIET, RESYNC_WAIT, Go, Hold, LeaveStray, Refuse
from atsock.protocol.machine import ModuleProtocol
from atsock.protocol.state import Mode


def timed_out(protocol: ModuleProtocol, line: bytes, now: float, **flags: bool) -> Pending:
    """``line`` went out at ``now`` and gave up unanswered."""
    pending = Pending(line, **flags)
    protocol.send(pending)
    protocol.exchange.end(pending, secret_reply=False)
    protocol.timeout(now)
    return pending


def missed_prompt(protocol: ModuleProtocol) -> None:
    """A send of b"abc" gave up before its '>'."""
    pending = Pending(b"AT+SOCKETSEND=1,3", wants_prompt=True)
    protocol.send(pending)
    protocol.exchange.gave_up(
        pending, payload=b"abc", payload_sent=False, secret=False, until_prompt=False
    )
    protocol.exchange.end(pending, secret_reply=False)


def check(protocol: ModuleProtocol, now: float, line: bytes = b"AT", **kw: bool) -> object:
    return protocol.check_send(line, takes_prompt=kw.get("takes_prompt", False), now=now)


def test_an_idle_module_takes_a_line_at_once() -> None:
    protocol = ModuleProtocol()
    assert check(protocol, 0.0) == Go()
    assert protocol.next_deadline(0.0) is None
    assert protocol.send(Pending(b"AT+GMR")) == b"AT+GMR\r\n"


def test_no_line_goes_out_while_the_module_streams() -> None:
    protocol = ModuleProtocol()
    protocol.modes.mode = Mode.TRANSPARENT
    gate = check(protocol, 0.0)
    assert isinstance(gate, Refuse) and "transparent mode" in gate.message


def test_the_quiet_after_transparent_mode_holds_until_it_ends() -> None:
    protocol = ModuleProtocol()
    protocol.gate.exit_delay = 1.0
    protocol.gate.stream_left(10.0)
    gate = check(protocol, 10.5)
    assert isinstance(gate, Hold) and gate.until == 11.0
    assert protocol.next_deadline(10.5) == 11.0
    assert check(protocol, 11.0) == Go()
    assert "quiet" in gate.message(b"AT", 0.2) and "0.2 s" in gate.message(b"AT", 0.2)


def test_after_an_unanswered_command_the_next_waits_for_a_quiet_line() -> None:
    protocol = ModuleProtocol()
    protocol.receive_data(b"AT+SOCKET?\r\n", 1.0)  # its echo, then nothing
    timed_out(protocol, b"AT+SOCKET?", 5.0)
    gate = check(protocol, 5.0)
    assert isinstance(gate, Hold) and gate.until == 5.0 + LATE_REPLY_QUIET  # since it gave up
    protocol.receive_data(b"1,4,1,h,80,5000,0\r\n", 5.05)  # the late reply is coming
    gate = check(protocol, 5.06)
    assert isinstance(gate, Hold) and gate.until == pytest.approx(5.05 + LATE_REPLY_QUIET)
    assert check(protocol, 5.05 + LATE_REPLY_QUIET) == Go()  # quiet: the wait ends


def test_a_late_reply_ends_the_resync_wait_at_once() -> None:
    protocol = ModuleProtocol()
    timed_out(protocol, b"AT+SOCKET?", 5.0)
    assert isinstance(check(protocol, 5.0), Hold)
    protocol.receive_data(b"\r\nOK\r\n", 5.01)  # the late reply: nobody waits for it
    assert check(protocol, 5.02) == Go()


def test_a_module_stalled_a_few_hundred_ms_answers_the_command_that_asked() -> None:
    """The late reply comes 0.2 s after its command gave up, in reads of its own: the
    next command is held until it came, so neither reply is taken for the other's."""
    protocol = ModuleProtocol()
    timed_out(protocol, b"AT+SOCKET?", 5.0)
    assert isinstance(check(protocol, 5.15, b"AT+GMR"), Hold)
    protocol.receive_data(b"\r\nOK\r\n", 5.2)  # AT+SOCKET?'s reply, unasked
    assert check(protocol, 5.2, b"AT+GMR") == Go()
    pending = Pending(b"AT+GMR")
    protocol.send(pending)
    protocol.receive_data(b"AT version:1.0\r\n", 5.21)
    protocol.receive_data(b"OK\r\n", 5.22)
    assert [f.text for f in pending.frames] == ["AT version:1.0"]
    assert pending.final is not None and pending.final.kind == "ok"


def test_the_wait_for_a_late_reply_counts_from_when_its_command_gave_up() -> None:
    protocol = ModuleProtocol()
    timed_out(protocol, b"AT+SOCKET?", 5.0)
    assert check(protocol, 5.0 + LATE_REPLY_QUIET) == Go()  # a quiet line since: lost
    protocol = ModuleProtocol()
    timed_out(protocol, b"AT+SOCKET?", 5.0)
    assert check(protocol, 60.0) == Go()  # long after: no wait at all


def test_after_a_reboot_mid_command_the_wait_counts_from_the_ready() -> None:
    protocol = ModuleProtocol()
    pending = Pending(b"AT+SOCKET?")
    protocol.send(pending)
    protocol.receive_data(b"\r\nready\r\n", 7.0)  # unasked: the command fails
    protocol.exchange.end(pending, secret_reply=False)
    gate = check(protocol, 7.1)
    assert isinstance(gate, Hold) and gate.until == 7.0 + LATE_REPLY_QUIET
    assert check(protocol, 7.0 + LATE_REPLY_QUIET) == Go()


def test_a_module_that_keeps_talking_is_waited_for_at_most_resync_wait() -> None:
    protocol = ModuleProtocol()
    timed_out(protocol, b"AT+SOCKET?", 5.0)
    now = 5.0
    while now < 5.0 + RESYNC_WAIT:
        assert isinstance(check(protocol, now), Hold)
        protocol.receive_data(b"1,4,1,h,80,5000,0\r\n", now)  # never quiet
        now += LATE_REPLY_QUIET / 2
    assert check(protocol, 5.0 + RESYNC_WAIT) == Go()


def test_a_payload_waits_for_a_late_prompt_and_fails_as_a_refusal() -> None:
    protocol = ModuleProtocol()
    missed_prompt(protocol)
    protocol.timeout(1.0)
    assert isinstance(check(protocol, 1.0), Hold)  # first, a quiet line (resync)
    gate = check(protocol, 1.6, b"AT+SOCKETSEND=1,2", takes_prompt=True)
    assert isinstance(gate, Hold) and gate.refuse and "late prompt" in gate.reason
    line_gate = check(protocol, 1.6)
    assert isinstance(line_gate, Hold) and not line_gate.refuse  # a line would be eaten
    assert check(protocol, 1.6, b"AT+RST") == Go()  # a reset pads, then goes
    protocol.receive_data(b">", 1.9)  # the late prompt: its payload is written
    gate = check(protocol, 2.0, b"AT+SOCKETSEND=1,2", takes_prompt=True)
    assert isinstance(gate, Hold) and "unanswered" in gate.reason
    protocol.receive_data(b"\r\nOK\r\n", 2.1)
    assert check(protocol, 2.2, b"AT+SOCKETSEND=1,2", takes_prompt=True) == Go()


def test_an_ambiguous_prompt_refuses_every_payload() -> None:
    protocol = ModuleProtocol()
    missed_prompt(protocol)
    protocol.exchange.wrote(4)  # a line went out since
    gate = check(protocol, 1.0, b"AT+SOCKETSEND=1,2", takes_prompt=True)
    assert isinstance(gate, Refuse) and "Module.reset()" in gate.message


def test_a_stray_stream_is_left_first_then_its_ok_and_quiet_are_awaited() -> None:
    protocol = ModuleProtocol()
    pending = Pending(b"AT+SOCKETTT", wants_prompt=True, enters_stream=True)
    protocol.send(pending)
    protocol.exchange.gave_up(
        pending, payload=None, payload_sent=False, secret=False, until_prompt=True
    )
    protocol.exchange.end(pending, secret_reply=False)
    protocol.receive_data(b">", 2.0)  # AT+SOCKETTT's late '>': the module streams
    assert check(protocol, 2.1) == LeaveStray()
    protocol.gate.exit_delay = 0.5
    protocol.gate.stray_left(protocol.exchange, 2.2)  # '+++' went out
    gate = check(protocol, 2.3)
    assert isinstance(gate, Hold) and gate.until == 2.7
    protocol.receive_data(b"\r\nOK\r\n", 2.4)  # the exit reply, late
    assert check(protocol, 2.7) == Go()
