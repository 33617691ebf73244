"""When the next command's line may go out, decided from the protocol's state and ``now``.

A command that gave up leaves things behind (its late reply, a late ``>`` that takes the
next bytes as its payload, a module streaming after a timed-out AT+SOCKETTT), and the
firmware wants a quiet line after transparent mode. Before each command the front-end
asks :meth:`SendGate.check` and gets one answer: :class:`Go`, :class:`Hold` (wait for
the module, or until a time; at the command's deadline fail with the reason),
:class:`LeaveStray` (write ``+++`` with the guard-time silence around it, then ask
again) or :class:`Refuse` (fail now). Both front-ends run these same rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Union

from atsock.protocol.exchange import Exchange, command_name

#: Silence on the line after which a partial frame left behind by a timed-out command is
#: taken for a lie (a declared length longer than what came) and dropped (resync).
RESYNC_QUIET = 0.1
#: Silence (since the command gave up, or since the module last printed) after which the
#: late reply of a command that failed unanswered is taken as lost. A module that stays
#: silent longer and then answers can still answer the wrong command; a longer wait would
#: make every command after a lost reply wait longer (or fail, if its timeout is short).
LATE_REPLY_QUIET = 0.25
#: Longest the next command waits for that late reply (a module that keeps printing).
RESYNC_WAIT = 0.5


@dataclass(frozen=True)
class Go:
    """The line may go out now."""


@dataclass(frozen=True)
class Hold:
    """Not yet: wait for what the module prints, or until ``until`` (monotonic). At the
    command's deadline it fails: ``Timeout`` (``ATError`` if ``refuse``), saying why."""

    reason: str
    until: float = math.inf
    refuse: bool = False

    def message(self, line: bytes, budget: float) -> str:
        """The error message for ``line`` that waited ``budget`` seconds in vain."""
        return f"{command_name(line)}: not sent, " + self.reason.format(budget=f"{budget:g}")


@dataclass(frozen=True)
class LeaveStray:
    """The module streams since a timed-out AT+SOCKETTT's late ``>``: write ``+++`` with
    the guard-time silence before and after (then :meth:`SendGate.stray_left`)."""


@dataclass(frozen=True)
class Refuse:
    """The line must not go out at all."""

    message: str


#: What :meth:`SendGate.check` answers: whether and when a command's line may go out.
Gate = Union[Go, Hold, LeaveStray, Refuse]

_QUIET = "the quiet the firmware keeps after transparent mode outlasted its {budget} s"
_RESYNC = "its {budget} s ran out while a late reply of an earlier command was awaited"
_LATE_REPLY_PAYLOAD = (
    "an earlier command that timed out is still unanswered; no payload is sent until "
    "its reply comes or the module is reset (waited {budget} s)"
)
_LATE_PROMPT_PAYLOAD = (
    "an earlier send timed out before the module's '>' prompt, and the module may still "
    "take the next bytes as its payload; no payload is sent until it is reset "
    "(Module.reset()) or its late prompt comes (waited {budget} s)"
)
_AMBIGUOUS = (
    "an earlier send timed out before the module's '>' prompt and other bytes went out "
    "since: the module may take the next bytes as its payload, so none is sent until it "
    "is reset (Module.reset())"
)
_PROMPT_UNSETTLED = (
    "an earlier send timed out before the module's '>' prompt and the module may still "
    "take the next bytes as its payload (waited {budget} s for that prompt; "
    "Module.reset() starts afresh)"
)
_LATE_REPLY = "the module has not answered an earlier command it took late within {budget} s"


class SendGate:
    """The timed part of the rules: the quiet after transparent mode, the resync wait."""

    def __init__(self, exit_delay: float = 1.0) -> None:
        #: quiet the firmware wants after leaving transparent mode (seconds)
        self.exit_delay = exit_delay
        #: until then no command line goes out (the firmware's post-exit quiet)
        self.quiet_until = 0.0
        #: when a command gave up unanswered: the wait for its late reply counts from
        #: then (None: no such wait)
        self.resync_started: float | None = None

    def stream_left(self, now: float) -> None:
        """The module confirmed leaving transparent mode (or was sent ``+++``) at ``now``."""
        self.quiet_until = now + self.exit_delay

    def stray_left(self, x: Exchange, now: float) -> None:
        """``+++`` went out to a module streaming by mistake: its OK is still to come."""
        x.tt_stray = False
        self.timed_out(x, now)
        self.stream_left(now)

    def timed_out(self, x: Exchange, now: float) -> None:
        """A command gave up unanswered at ``now``: its reply may still come, and the
        next command waits for it (a quiet line, or :data:`RESYNC_WAIT`) from now."""
        x.timed_out()
        self.resync_started = now

    def resync_end(self, last_rx: float) -> float | None:
        """When the wait for a late reply ends: :data:`LATE_REPLY_QUIET` of silence, or
        :data:`RESYNC_WAIT` after the command gave up."""
        started = self.resync_started
        if started is None:
            return None
        return min(max(last_rx, started) + LATE_REPLY_QUIET, started + RESYNC_WAIT)

    def next_deadline(self, now: float, last_rx: float) -> float | None:
        """When this state next changes by itself (None: only when the module speaks)."""
        times = [t for t in (self.quiet_until, self.resync_end(last_rx)) if t and t > now]
        return min(times) if times else None

    def check(
        self, x: Exchange, line: bytes, *, takes_prompt: bool, now: float, last_rx: float
    ) -> Gate:
        """Whether ``line`` (``takes_prompt``: a payload or a stream follows its ``>``)
        may go out at ``now``; ``last_rx``: when the module last printed anything."""
        if x.tt_stray:
            return LeaveStray()
        if now < self.quiet_until:
            return Hold(_QUIET, self.quiet_until)
        x.resync = False  # (the first command after one that failed unanswered)
        end = self.resync_end(last_rx)
        if end is not None:
            if x.orphaned and now < end:
                return Hold(_RESYNC, end)
            self.resync_started = None
        if takes_prompt:
            # the final reply of a timed-out command, taken for this one's, would end
            # the wait for its '>' with the payload never sent
            if x.prompt_ambiguous:
                return Refuse(_AMBIGUOUS)
            if x.late_reply_due():
                return Hold(_LATE_REPLY_PAYLOAD)
            if x.late_payload is not None:
                return Hold(_LATE_PROMPT_PAYLOAD, refuse=True)
        elif line != b"AT+RST":  # (a reset pads what the module may wait for)
            if x.prompt_unsettled():
                return Hold(_PROMPT_UNSETTLED)
            if x.late_reply_due():
                return Hold(_LATE_REPLY)
        return Go()
