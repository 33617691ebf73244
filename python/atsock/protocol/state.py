"""The module's states, as enums, and every transition between modes in one table.

Two things make up what the host knows of the module:

- its :class:`Mode`: reading command lines, or on the way into, in, or on the way out
  of transparent mode. Only :class:`ModeState` changes it, and only along
  :data:`MODE_TRANSITIONS`: a transition outside the table is a bug in the caller and
  raises :class:`ProtocolStateError` instead of leaving the state half-changed;
- its :class:`CommandState`: what the command line between host and module waits for
  (a reply, a ``>``, a late reply of a command that gave up, ...). That is decided frame
  by frame by :class:`~atsock.protocol.exchange.Exchange`; :func:`command_state` names it.
"""

from __future__ import annotations

import enum

from atsock.errors import ATError
from atsock.protocol.exchange import Exchange


class ProtocolStateError(ATError):
    """A front-end asked the protocol for a transition its state does not allow."""


class Mode(enum.Enum):
    """What the module does with the bytes the host sends it."""

    #: it reads command lines
    COMMAND = "command"
    #: AT+SOCKETTT is under way: its ``>`` starts the stream (the framer is armed)
    ENTERING = "entering"
    #: AT+RST with AT+SOCKETAUTOTT on: the boot's ``>`` starts the stream (armed)
    BOOTING = "booting"
    #: it streams: every byte goes to the peer and the peer's bytes come back as data
    TRANSPARENT = "transparent"
    #: ``+++`` is (about to be) sent: the module's exit reply ends the stream
    LEAVING = "leaving"


#: Every mode change the protocol allows, and what causes it.
MODE_TRANSITIONS: dict[Mode, dict[Mode, str]] = {
    Mode.COMMAND: {
        Mode.ENTERING: "AT+SOCKETTT is about to be sent",
        Mode.BOOTING: "AT+RST into auto-transparent mode is about to be sent",
    },
    Mode.ENTERING: {
        Mode.TRANSPARENT: "AT+SOCKETTT's '>' came",
        Mode.COMMAND: "AT+SOCKETTT failed or timed out before its '>', or the module reset",
    },
    Mode.BOOTING: {
        Mode.TRANSPARENT: "the boot's '>' came",
        Mode.COMMAND: "the boot did not end in transparent mode",
    },
    Mode.TRANSPARENT: {
        Mode.LEAVING: "the guard time before '+++' passed",
        Mode.COMMAND: "the stream was abandoned (the port failed, the module reset)",
    },
    Mode.LEAVING: {
        Mode.COMMAND: "the exit reply came, or the stream gave up waiting for it",
    },
}


class ModeState:
    """The module's mode; changes only along :data:`MODE_TRANSITIONS`."""

    def __init__(self) -> None:
        self.mode = Mode.COMMAND

    def to(self, mode: Mode) -> None:
        """Changes to ``mode``; ``ProtocolStateError`` if :data:`MODE_TRANSITIONS` forbids it."""
        allowed = MODE_TRANSITIONS[self.mode]
        if mode not in allowed:
            raise ProtocolStateError(
                f"the protocol cannot go from {self.mode.value} to {mode.value} mode "
                f"(from {self.mode.value} it goes to: "
                f"{', '.join(m.value for m in allowed)})"
            )
        self.mode = mode


class CommandState(enum.Enum):
    """What the command line between host and module waits for."""

    #: nothing: the next command may go out at once
    IDLE = "idle"
    #: a command is sent and its final result is awaited
    AWAITING_REPLY = "awaiting reply"
    #: a command that takes a payload (or AT+SOCKETTT) waits for its ``>``
    AWAITING_PROMPT = "awaiting prompt"
    #: the ``>`` came; the payload is (being) written and its final result is awaited
    AWAITING_FINAL = "awaiting final after payload"
    #: a payload the module waits for is still to be written (its write stalled, or a
    #: late ``>`` claimed it)
    PAYLOAD_OWED = "payload owed"
    #: a send gave up before its ``>``: the prompt may still come and take the next bytes
    LATE_PROMPT_DUE = "late prompt possibly due"
    #: such a send may still prompt and other bytes went out since: no payload is written
    #: until the module resets
    PROMPT_AMBIGUOUS = "prompt ambiguous"
    #: a command gave up or went out late: its final reply may still come
    LATE_REPLY_DUE = "late reply possibly due"
    #: the next command first waits for a quiet line (a late reply, a partial frame)
    RESYNCING = "resyncing"
    #: AT+RST was sent: ``ready`` is awaited
    AWAITING_READY = "awaiting ready"


def command_state(x: Exchange, *, owed: int = 0) -> CommandState:
    """The state the exchange is in (``owed``: bytes of a stalled write still to go)."""
    pending = x.pending
    if owed:
        return CommandState.PAYLOAD_OWED
    if pending is not None:
        if pending.wants_prompt and not pending.prompted:
            return CommandState.AWAITING_PROMPT
        if pending.prompted:
            return CommandState.AWAITING_FINAL
        return CommandState.AWAITING_READY if x.expect_ready else CommandState.AWAITING_REPLY
    if x.expect_ready:
        return CommandState.AWAITING_READY
    if x.prompt_ambiguous:
        return CommandState.PROMPT_AMBIGUOUS
    if x.late_payload is not None or x.tt_late:
        return CommandState.LATE_PROMPT_DUE
    if x.orphaned and x.resync:
        return CommandState.RESYNCING
    if x.orphaned or x.late_written:
        return CommandState.LATE_REPLY_DUE
    return CommandState.IDLE
