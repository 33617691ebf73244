"""The command line's state (atsock.protocol.exchange), fed frames the core framed from
the module's bytes: one exact outcome for each rule a timed-out command leaves behind
(late '>' and payload, late reply, stray transparent '>', busy, ``ready`` mid-command,
secret replies), with no port, thread or clock."""

from __future__ import annotations

from atsock import ModuleReset
from atsock._core import Frame, ResponseFramer
from atsock.protocol.exchange import Exchange, Pending


def frame(output: bytes) -> Frame:
    (only,) = ResponseFramer().feed(output)
    return only


OK, ERROR, PROMPT = frame(b"OK\r\n"), frame(b"ERROR\r\n"), frame(b">")
BUSY = frame(b"[Busy]Cmd running\r\n")


def sending(x: Exchange, payload: bytes = b"hello") -> Pending:
    pending = Pending(b"AT+SOCKETSEND=1,%d" % len(payload), wants_prompt=True)
    x.start(pending, secret_rx=False)
    return pending


def test_a_reply_goes_to_the_command_in_flight() -> None:
    x = Exchange()
    pending = Pending(b"AT+WDNS?")
    x.start(pending, secret_rx=False)
    for f in (frame(b"AT+WDNS?\r\n"), frame(b"+WDNS:8.8.8.8\r\n"), OK):
        assert x.on_reply(f, auto_boot=False).claimed is None
    assert [f.text for f in pending.frames] == ["+WDNS:8.8.8.8"]  # the echo is not kept
    assert pending.final is OK
    x.end(pending, secret_reply=False)
    assert x.pending is None


def test_busy_and_prompt_are_marked() -> None:
    x = Exchange()
    pending = sending(x)
    x.on_reply(BUSY, auto_boot=False)
    x.on_reply(PROMPT, auto_boot=False)
    assert pending.busy and pending.prompted and pending.final is None


def test_a_send_that_gave_up_before_its_prompt_claims_the_late_prompt() -> None:
    x = Exchange()
    pending = sending(x)
    claimed, streaming = x.gave_up(
        pending, payload=b"hello", payload_sent=False, secret=False, until_prompt=False
    )
    x.timed_out()
    assert (claimed, streaming) == (None, False)
    assert x.prompt_unsettled() and not x.late_reply_due()
    outcome = x.on_reply(PROMPT, auto_boot=False)  # the '>' comes after all
    assert outcome.claimed == (b"hello", False)  # write exactly that payload now
    assert not x.prompt_unsettled() and x.late_reply_due()
    x.on_reply(OK, auto_boot=False)  # its late OK
    assert not x.late_reply_due() and not x.orphaned


def test_a_prompt_that_came_as_the_send_gave_up_is_claimed_at_once() -> None:
    x = Exchange()
    pending = sending(x, b"secret")
    x.on_reply(PROMPT, auto_boot=False)
    claimed, _ = x.gave_up(
        pending, payload=b"secret", payload_sent=False, secret=True, until_prompt=False
    )
    assert claimed == (b"secret", True)
    assert x.late_payload is None and x.late_written


def test_a_late_prompt_while_another_send_waits_for_its_own_goes_to_that_send() -> None:
    x = Exchange()
    x.gave_up(sending(x), payload=b"a", payload_sent=False, secret=False, until_prompt=False)
    second = sending(x, b"b")
    assert x.on_reply(PROMPT, auto_boot=False).claimed is None
    assert second.prompted


def test_bytes_written_after_an_unsettled_prompt_make_it_ambiguous() -> None:
    x = Exchange()
    x.gave_up(
        sending(x, b"0123456789"), payload=b"0123456789", payload_sent=False, secret=False,
        until_prompt=False,
    )  # fmt: skip
    x.wrote(4)  # "AT\r\n"
    assert x.prompt_ambiguous and x.late_payload is None and x.owed == 6
    assert x.on_reply(PROMPT, auto_boot=False).claimed is None  # no payload goes now
    assert x.padding() == 6  # a reset pads what the module may still read as payload


def test_a_reset_pads_a_late_payload_that_never_prompted() -> None:
    x = Exchange()
    x.gave_up(sending(x), payload=b"hello", payload_sent=False, secret=False, until_prompt=False)
    assert x.padding() == 5
    assert not x.prompt_unsettled() and x.padding() == 0


def test_a_transparent_prompt_after_the_timeout_is_a_stray_stream() -> None:
    x = Exchange()
    pending = Pending(b"AT+SOCKETTT", wants_prompt=True)
    x.start(pending, secret_rx=False)
    assert x.gave_up(
        pending, payload=None, payload_sent=False, secret=False, until_prompt=True
    ) == (
        None,
        False,
    )
    outcome = x.on_reply(PROMPT, auto_boot=False)
    assert x.tt_stray and not x.tt_late
    assert outcome.note is not None and "the module streams" in outcome.note


def test_a_transparent_prompt_as_the_wait_gave_up_streams() -> None:
    x = Exchange()
    pending = Pending(b"AT+SOCKETTT", wants_prompt=True)
    x.start(pending, secret_rx=False)
    x.on_reply(PROMPT, auto_boot=False)
    assert x.gave_up(
        pending, payload=None, payload_sent=False, secret=False, until_prompt=True
    ) == (
        None,
        True,
    )
    assert not x.tt_late


def test_after_busy_the_first_reply_is_the_timed_out_commands() -> None:
    x = Exchange()
    x.timed_out()  # a command gave up; the module was busy with it
    pending = Pending(b"AT", after_busy=True)
    x.start(pending, secret_rx=False)
    outcome = x.on_reply(ERROR, auto_boot=False)
    assert pending.final is None and not x.orphaned
    assert outcome.note is not None and "dropped" in outcome.note
    x.on_reply(OK, auto_boot=False)
    assert pending.final is OK


def test_an_unasked_ready_fails_the_command_in_flight() -> None:
    x = Exchange()
    pending = Pending(b"AT+SOCKET?")
    x.start(pending, secret_rx=False)
    reason = ModuleReset("rebooted")
    assert not x.take_expect_ready()
    x.module_reset(reason, expected=False)
    assert pending.failure is reason
    assert x.orphaned and x.resync  # the rebooted module may still answer it


def test_an_asked_ready_fails_nothing_and_clears_what_was_late() -> None:
    x = Exchange()
    x.gave_up(sending(x), payload=b"x", payload_sent=False, secret=False, until_prompt=False)
    x.expect_ready = True
    pending = Pending(b"AT+RST")
    x.start(pending, secret_rx=False)
    assert x.take_expect_ready() and not x.expect_ready
    x.module_reset(ModuleReset("asked"), expected=True)
    assert pending.failure is None
    assert not x.orphaned and not x.prompt_unsettled()


def test_a_secret_reply_that_comes_late_stays_secret_until_its_result() -> None:
    x = Exchange()
    pending = Pending(b"AT+SSLCRET=1")
    x.start(pending, secret_rx=True)
    assert x.secret_rx
    x.end(pending, secret_reply=True)  # gave up unanswered
    assert x.secret_late and not x.secret_rx
    x.reply_over([frame(b"+SSLCRET:1,4,body\r\n")])
    assert x.secret_late
    x.reply_over([OK])
    assert not x.secret_late


def test_connect_lines_renew_their_conid() -> None:
    x = Exchange()
    pending = Pending(b"AT+SOCKET=4,h,1", opens_socket=True)
    x.start(pending, secret_rx=False)
    connect = frame(b"connect success ConID=3\r\n")
    assert x.on_reply(connect, auto_boot=False).new_conn == 3
    assert pending.frames == [connect]
    x.end(pending, secret_reply=False)
    assert x.on_reply(connect, auto_boot=False).new_conn is None  # unasked: not ours
    assert x.on_reply(connect, auto_boot=True).new_conn == 3  # the boot's own connection
    assert x.on_reply(PROMPT, auto_boot=True).boot_prompt


def test_a_stalled_writes_rest_makes_its_reply_due() -> None:
    x = Exchange()
    x.wrote_late()
    assert x.late_reply_due()
    x.on_reply(OK, auto_boot=False)
    assert not x.late_reply_due()


def test_a_framing_error_fails_the_command_once() -> None:
    x = Exchange()
    pending = Pending(b"AT")
    x.start(pending, secret_rx=False)
    first, second = ValueError("first"), ValueError("second")
    x.framing_failed(first)
    x.framing_failed(second)
    assert pending.failure is first
