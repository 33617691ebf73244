"""The command line between host and module, as state: the command in flight, and what a
command that gave up may still bring (its reply, its ``>`` and the payload the module
then waits for, the ``>`` of an AT+SOCKETTT that means the module streams), decided
frame by frame.

Everything that changes this state is here, in one class (h11's rule); the threaded
driver holds its lock around each call, writes what a call hands back and wakes its
waiters. Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from atsock._core import Frame
from atsock.errors import CommandError


def command_name(line: bytes) -> str:
    """``AT+SOCKET`` for ``AT+SOCKET=4,host,80`` or ``AT+SOCKET?`` (for messages)."""
    return line.decode("ascii", "replace").split("=", 1)[0].rstrip("?")


@dataclass
class Pending:
    """The command in flight and what the module answered so far."""

    line: bytes
    frames: list[Frame] = field(default_factory=list)
    final: Frame | None = None
    prompted: bool = False
    busy: bool = False
    #: an earlier attempt of this command was answered ``[Busy]Cmd running``
    after_busy: bool = False
    #: the command writes a payload (or enters transparent mode) after a ``>`` prompt
    wants_prompt: bool = False
    #: the command's ``>`` starts transparent mode (AT+SOCKETTT)
    enters_stream: bool = False
    #: the command creates a socket: its ``connect success ConID=N`` line renews ConID N
    opens_socket: bool = False
    failure: BaseException | None = None

    @property
    def name(self) -> str:
        """The command's name, e.g. ``AT+SOCKET`` (for messages)."""
        return command_name(self.line)


def check_reply(pending: Pending) -> Pending:
    """A finished command's outcome: ``pending``, or the error it ended in (what garbled
    its reply, a reset, :class:`~atsock.CommandError` for ``ERROR``)."""
    final = pending.final
    assert final is not None
    if pending.failure is not None:
        raise pending.failure
    if final.kind == "error":
        detail = next(
            (f.text for f in pending.frames if f.text and f.text.startswith("Unknown cmd")),
            None,
        )
        raise CommandError(pending.name, final.code, detail)
    return pending


#: A late payload claimed by a late ``>``: its bytes and whether they are secret.
LatePayload = tuple[bytes, bool]


@dataclass
class FrameOutcome:
    """What a reply frame asks of the runner beyond waking its waiters."""

    #: write this late payload now, before anything else
    claimed: LatePayload | None = None
    #: ConID N now belongs to a new connection (``connect success ConID=N``)
    new_conn: int | None = None
    #: an auto-transparent boot's ``>``: the module streams
    boot_prompt: bool = False
    #: something worth a warning in the log
    note: str | None = None


class Exchange:
    """The command in flight and the late things a timed-out command leaves behind."""

    def __init__(self) -> None:
        self.pending: Pending | None = None
        #: a command timed out and its reply may still come
        self.orphaned = False
        #: the next command first waits for a quiet line (that late reply)
        self.resync = False
        #: payload of a command that gave up waiting for its ``>``: if the prompt still
        #: comes, the module waits for exactly these bytes (it would eat the next command)
        self.late_payload: LatePayload | None = None
        #: a timed-out send may still prompt and other bytes went out since: until the
        #: module resets, no payload is written (it could land in command mode)
        self.prompt_ambiguous = False
        #: payload bytes the module may still be waiting for, if that send did prompt
        self.owed = 0
        #: a command's bytes went out late (a late payload, a stalled write's rest):
        #: its final reply is still to come
        self.late_written = False
        #: an AT+SOCKETTT timed out before its '>': a '>' may still come, and then the
        #: module streams while the driver is in command mode
        self.tt_late = False
        #: that '>' came: the next command first leaves transparent mode with '+++'
        self.tt_stray = False
        #: what arrives is secret (a certificate body in a reply, a line's echo)
        self.secret_rx = False
        #: a secret reply may still arrive after its command gave up
        self.secret_late = False
        #: a reset was asked for: the next ``ready`` is expected
        self.expect_ready = False

    # ---- a command's life ---------------------------------------------------------------

    def start(self, pending: Pending, *, secret_rx: bool) -> None:
        """``pending`` is in flight; ``secret_rx``: what arrives for it stays out of traces."""
        self.pending = pending
        self.secret_rx = secret_rx

    def end(self, pending: Pending, *, secret_reply: bool) -> None:
        """The command's wait is over (answered or not)."""
        self.pending = None
        self.secret_rx = False
        if secret_reply and pending.final is None:
            self.secret_late = True

    def answered(self) -> None:
        """A command was answered: the module reads lines (no AT+SOCKETTT '>' is due)."""
        self.tt_late = False

    def gave_up(
        self,
        pending: Pending,
        *,
        payload: bytes | None,
        payload_sent: bool,
        secret: bool,
        until_prompt: bool,
    ) -> tuple[LatePayload | None, bool]:
        """The command's wait ended in a timeout: one decision, frames held off. A ``>``
        dispatched until now counted for it; from now on it is late. Returns a late
        payload to write now (its '>' came as the wait gave up) and whether the module
        streams (AT+SOCKETTT's '>' came as it gave up)."""
        self.pending = None
        streaming = until_prompt and pending.prompted
        if until_prompt and not streaming:
            self.tt_late = True  # its '>' may still come
        claimed = None
        if payload is not None and not payload_sent and not pending.busy:
            self.late_payload = (payload, secret)
            self.owed = len(payload)
            if pending.prompted:
                claimed = self.claim_late_payload()
        return claimed, streaming

    def timed_out(self) -> None:
        """A command got no (complete) reply: it may still come."""
        self.orphaned = self.resync = True

    def wrote(self, size: int) -> None:
        """``size`` bytes go to the module: after a send that may still prompt, a later
        '>' could be its or a new command's, so no payload may be matched to one."""
        if self.late_payload is not None:
            self.late_payload = None
            self.prompt_ambiguous = True
        if self.prompt_ambiguous:
            self.owed = max(0, self.owed - size)

    def wrote_late(self) -> None:
        """The rest of a stalled command went out: its reply comes late."""
        self.late_written = self.orphaned = True

    def claim_late_payload(self) -> LatePayload:
        """The ``>`` of a command that timed out came after all: the module now takes the
        next bytes as that command's payload, so they must be that payload."""
        late, self.late_payload = self.late_payload, None
        assert late is not None
        self.owed = 0
        self.late_written = True  # that send's OK is still to come
        return late

    def padding(self) -> int:
        """Before a reset, with a send's '>' still due or ambiguous: how many bytes the
        module may still take as payload (the caller pads them with LF)."""
        owed = self.owed if self.prompt_ambiguous else 0
        if self.late_payload is not None:
            owed = len(self.late_payload[0])
            self.late_payload = None
            self.prompt_ambiguous = False
        return owed

    # ---- what the module says ---------------------------------------------------------

    def on_reply(self, frame: Frame, *, auto_boot: bool) -> FrameOutcome:
        """A reply frame (not data, a URC, ``ready`` or the exit reply)."""
        pending = self.pending
        late = frame.kind == "prompt" and self.late_payload is not None
        if late and (pending is None or not pending.wants_prompt):
            return FrameOutcome(claimed=self.claim_late_payload())
        if pending is None:
            return self._unsolicited(frame, auto_boot)
        kind = frame.kind
        if kind == "echo":
            pass
        elif kind == "busy":
            pending.busy = True
        elif kind in ("ok", "error") and pending.after_busy and self.orphaned:
            # the module was busy with a command that timed out; it answers lines in
            # order, so this reply (and what came before it) is that command's
            self.orphaned = False
            pending.frames.clear()
            return FrameOutcome(note=f"late reply of a timed-out command dropped: {frame!r}")
        elif kind in ("ok", "error"):
            pending.final = frame
        elif kind == "prompt":
            pending.prompted = True
        else:
            pending.frames.append(frame)
            if kind == "connect" and frame.id is not None and pending.opens_socket:
                # here, in read order: data the peer sends at once may come before OK
                return FrameOutcome(new_conn=frame.id)
        return FrameOutcome()

    def _unsolicited(self, frame: Frame, auto_boot: bool) -> FrameOutcome:
        kind = frame.kind
        outcome = FrameOutcome()
        if auto_boot and kind == "connect" and frame.id is not None:
            outcome.new_conn = frame.id  # the boot's own connection
        if auto_boot and kind == "prompt":
            outcome.boot_prompt = True  # the framer, armed, now passes data through
        if kind in ("ok", "error") and self.orphaned:
            self.orphaned = False  # the late reply of a timed-out command
            self.late_written = False
            self.tt_late = False  # (an AT+SOCKETTT refused late prompts no more)
        if kind == "prompt" and self.tt_late:
            self.tt_late = False
            self.tt_stray = True
            outcome.note = "AT+SOCKETTT's '>' came after it timed out: the module streams"
        return outcome

    def reply_over(self, frames: list[Frame]) -> None:
        """A read's frames were dispatched: a secret late reply ends with its result."""
        if self.secret_late and any(f.kind in ("ok", "error", "ready") for f in frames):
            self.secret_late = False

    def framing_failed(self, exc: BaseException) -> None:
        """The module's output broke framing: the command in flight fails with ``exc``."""
        if self.pending is not None and self.pending.failure is None:
            self.pending.failure = exc

    def module_reset(self, reason: BaseException, *, expected: bool) -> None:
        """The module rebooted: it waits for nothing; an unasked reboot fails the command
        in flight (which the rebooted module may still answer, late)."""
        self.orphaned = False
        self.late_payload = None
        self.prompt_ambiguous = False
        self.late_written = False
        if not expected and self.pending is not None:
            self.pending.failure = reason
            self.orphaned = self.resync = True

    def take_expect_ready(self) -> bool:
        """A ``ready`` came: whether it was asked for (then it is no longer expected)."""
        expected, self.expect_ready = self.expect_ready, False
        return expected

    # ---- what the next command waits for --------------------------------------------

    def late_reply_due(self) -> bool:
        """A command's bytes went out late and it has not answered yet."""
        return self.late_written and self.orphaned

    def prompt_unsettled(self) -> bool:
        """A send that timed out before its '>' may still prompt (and take what comes
        next as its payload)."""
        return self.late_payload is not None and not self.prompt_ambiguous
