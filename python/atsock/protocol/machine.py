"""The module's protocol as one object: the Rust framer of what the module prints, the
command line (:class:`Exchange`), the ConID table and receive mode (:class:`ConnTable`)
and the mode (:class:`ModeState`: command lines or transparent streaming).

:meth:`ModuleProtocol.receive_data` takes the bytes the module printed and the time
they came, and returns the actions a front-end carries out (publish an event, hand
stream data over, write a late payload, wake the stream); a front-end never decides
anything about the protocol. In passthrough the framer's uncopied bytes come straight
back, one :class:`StreamData` per burst; while nothing but stream data can be in the
next bytes, :meth:`ModuleProtocol.receive_stream` says so without framing them (the
transparent stream's hot path).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from atsock._core import Frame, FramingError, ResponseFramer
from atsock.errors import ModuleReset
from atsock.protocol.conns import ConnTable, in_range
from atsock.protocol.exchange import Exchange, LatePayload, Pending
from atsock.protocol.gate import RESYNC_QUIET, Gate, Refuse, SendGate
from atsock.protocol.rules import GUARD_MARGIN, GUARD_TIME
from atsock.protocol.state import CommandState, Mode, ModeState, command_state
from atsock.protocol.urcs import parse_event
from atsock.types import Event


class StreamData:
    """A burst of transparent-mode data (the framer's bytes, not copied)."""

    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def __repr__(self) -> str:
        return f"StreamData({len(self.payload)} bytes)"


@dataclass(frozen=True)
class Answered:
    """The command in flight got its final result (``pending.final``; or the module was
    busy: ``pending.busy``); its frames are in ``pending.frames``."""

    pending: Pending


@dataclass(frozen=True)
class Prompted:
    """The command in flight got its ``>``: its payload may be written (or it streams)."""

    pending: Pending


@dataclass(frozen=True)
class FramingFailed:
    """The module's output broke framing; the framer resynchronised."""

    error: FramingError


@dataclass(frozen=True)
class Publish:
    """An event for the queue and the callbacks."""

    event: Event


@dataclass(frozen=True)
class WriteLatePayload:
    """A timed-out send's late ``>`` came: :meth:`ModuleProtocol.data_to_send` holds
    exactly its payload, to be written before anything else."""


@dataclass(frozen=True)
class Rebooted:
    """The module printed ``ready``: it rebooted (asked for with AT+RST, or not)."""

    reason: ModuleReset
    expected: bool


@dataclass(frozen=True)
class StreamStarted:
    """The ``>`` of an auto-transparent boot: the module streams."""


@dataclass(frozen=True)
class StreamEnded:
    """The module's exit reply: transparent mode is over."""


@dataclass(frozen=True)
class Note:
    """Something worth a line in the log (``warning``: at WARNING, else DEBUG)."""

    text: str
    warning: bool = True


#: What :meth:`ModuleProtocol.receive_data` asks the front-end to do.
Action = Union[
    StreamData,
    Answered,
    Prompted,
    Publish,
    WriteLatePayload,
    Rebooted,
    StreamStarted,
    StreamEnded,
    FramingFailed,
    Note,
]


class ModuleProtocol:
    """The module's protocol state; the front-end serialises calls (its lock)."""

    def __init__(self) -> None:
        self.framer = ResponseFramer()
        self.exchange = Exchange()
        self.conns = ConnTable()
        self.modes = ModeState()
        #: when the next command may go out (the timed rules: post-exit quiet, resync)
        self.gate = SendGate()
        #: the module's ``+++`` guard time (seconds), as the front-end knows it
        self.guard_time = GUARD_TIME
        #: bytes the module must get before anything else (see data_to_send)
        self._outbox: list[LatePayload] = []
        #: when the module last printed anything (the ``now`` of the last receive_data)
        self.last_rx = 0.0

    @property
    def mode(self) -> Mode:
        """What the module does with the bytes the host sends (command lines or streaming)."""
        return self.modes.mode

    @property
    def command_state(self) -> CommandState:
        """What the command line between host and module waits for."""
        return command_state(self.exchange)

    @property
    def auto_boot(self) -> bool:
        """A reset is expected to end in auto-transparent mode (AT+SOCKETAUTOTT)."""
        return self.modes.mode is Mode.BOOTING

    # ---- what the module prints ----------------------------------------------------------

    def receive_stream(self, data: bytes, now: float) -> bool:
        """Takes ``data`` (read at ``now``) as one burst of stream data if that is all it
        can be: in passthrough, with no exit under way and nothing framed half-way. True:
        it is the one :class:`StreamData` that :meth:`receive_data` would return, left
        unbuilt, and the caller hands the bytes on as they are (the transparent stream's
        hot path: one call per burst). False: nothing happened, call receive_data."""
        if not self.framer.streaming or self.exchange.secret_late:
            return False
        self.last_rx = now
        return True

    def receive_data(self, data: bytes, now: float) -> list[Action]:
        """What ``data`` (printed by the module, read at ``now``) means, in order."""
        self.last_rx = now
        actions: list[Action] = []
        try:
            frames = self.framer.feed(data)
        except FramingError as exc:
            frames = exc.frames
            self.exchange.framing_failed(exc)
            actions.append(FramingFailed(exc))
        if self.exchange.secret_late:
            self.exchange.reply_over(frames)
        for frame in frames:
            if frame.kind == "data":
                if frame.payload:
                    actions.append(StreamData(frame.payload))
            else:
                actions.extend(self.on_frame(frame))
        return actions

    def on_frame(self, frame: Frame) -> list[Action]:
        """What a non-data frame means."""
        kind = frame.kind
        if kind == "exit":
            if self.modes.mode is Mode.LEAVING:
                self.modes.to(Mode.COMMAND)
            return [StreamEnded()]
        if kind == "urc":
            return self._on_urc(parse_event(frame))
        if kind == "ready":
            expected = self.exchange.take_expect_ready()
            reason = ModuleReset("the module reset (printed 'ready'): every ConID is gone")
            self.reset(reason, expected=expected)
            return [Rebooted(reason, expected)]
        actions: list[Action] = []
        if self.exchange.pending is None and kind not in ("echo", "ok"):
            actions.append(Note(f"unsolicited {frame!r}", warning=False))
        pending = self.exchange.pending
        outcome = self.exchange.on_reply(frame, auto_boot=self.auto_boot)
        if pending is not None and self.exchange.pending is pending:
            if kind in ("ok", "error", "busy") and (pending.final is frame or pending.busy):
                actions.append(Answered(pending))
            elif kind == "prompt" and pending.prompted:
                actions.append(Prompted(pending))
        if outcome.new_conn is not None:
            self.conns.renew(outcome.new_conn)
        if outcome.boot_prompt:
            self.modes.to(Mode.TRANSPARENT)
            actions.append(StreamStarted())
        elif kind == "prompt" and self.modes.mode is Mode.ENTERING:
            pending = self.exchange.pending
            if pending is not None and pending.enters_stream:
                self.modes.to(Mode.TRANSPARENT)
        if outcome.note is not None:
            actions.append(Note(outcome.note))
        if outcome.claimed is not None:
            self._outbox.append(outcome.claimed)
            actions.append(WriteLatePayload())
        return actions

    def _on_urc(self, event: Event) -> list[Action]:
        if not in_range(event):
            return [Note(f"event for an impossible ConID ignored: {event!r}"), Publish(event)]
        dropped = self.conns.on_event(event)
        if dropped:
            con_id = getattr(event, "con_id", -1)
            note = Note(f"ConID {con_id}: receive buffer full, {dropped} bytes dropped")
            return [note, Publish(event)]
        return [Publish(event)]

    def reset(self, reason: ModuleReset, *, expected: bool) -> None:
        """The module rebooted: every ConID is gone, it is in passive mode, and it waits
        for nothing; an unasked reboot fails the command in flight. It reads command lines
        again, unless it boots into auto-transparent mode (the framer stays armed)."""
        self.conns.reset(reason)
        self.exchange.module_reset(reason, expected=expected)
        if self.exchange.resync:  # the command it failed may still be answered, late
            self.gate.resync_started = self.last_rx
        if self.modes.mode is not Mode.BOOTING:
            self.leave_transparent()

    # ---- time --------------------------------------------------------------------------

    def timeout(self, now: float) -> list[Action]:
        """A command gave up at ``now`` with no (complete) reply: its reply may still
        come, and a partial frame the framer holds after a quiet line is a lie (a declared
        payload longer than what came) and is dropped."""
        self.gate.timed_out(self.exchange, now)
        stuck = self.framer.pending
        if stuck and now >= self.last_rx + RESYNC_QUIET and not self.framer.passthrough:
            self.framer.reset()
            return [Note(f"dropping {stuck} bytes of a frame the module never finished (resync)")]
        return []

    def next_deadline(self, now: float) -> float | None:
        """When the state next changes by itself, with nothing printed (a front-end
        waiting to send asks :meth:`check_send` again then); None: only data changes it."""
        return self.gate.next_deadline(now, self.last_rx)

    # ---- what the host sends --------------------------------------------------------------

    def check_send(self, line: bytes, *, takes_prompt: bool, now: float) -> Gate:
        """Whether command ``line`` may go out at ``now`` (see :mod:`atsock.protocol.gate`);
        ``takes_prompt``: a payload or a stream follows its ``>``."""
        if not self.may_send(line):
            return Refuse("the module is in transparent mode: close the stream first")
        return self.gate.check(
            self.exchange, line, takes_prompt=takes_prompt, now=now, last_rx=self.last_rx
        )

    def give_up(
        self,
        pending: Pending,
        *,
        payload: bytes | None,
        payload_sent: bool,
        secret: bool,
        until_prompt: bool,
        abandon: bool = False,
    ) -> bool:
        """The command's wait ended in a timeout (then call :meth:`timeout` unless the
        module streams). Returns whether it streams: AT+SOCKETTT's '>' came as the wait
        gave up (``abandon``: the caller will not use that stream, so the next command
        first takes the module back with ``+++``). A send's '>' that came as it gave up
        claims its payload for :meth:`data_to_send`."""
        claimed, streaming = self.exchange.gave_up(
            pending,
            payload=payload,
            payload_sent=payload_sent,
            secret=secret,
            until_prompt=until_prompt,
        )
        if claimed is not None:
            self._outbox.append(claimed)
        if streaming and abandon:
            self.exchange.tt_stray = True
            self.leave_transparent()
            return False
        return streaming

    def pad(self) -> None:
        """Before a reset: the payload bytes the module may still be reading or about to
        read (a send's '>' still due or ambiguous) are owed as LF bytes (blank lines if
        it is not reading a payload), so that the next line is a command."""
        owed = self.exchange.padding()
        if owed:
            self._outbox.append((b"\n" * owed, False))

    def data_to_send(self) -> tuple[bytes, bool]:
        """The bytes the module must get before anything else (a late payload its '>'
        claimed, padding before a reset), and whether any of them is secret; taken."""
        if not self._outbox:
            return b"", False
        data = b"".join(part for part, _ in self._outbox)
        secret = any(hidden for _, hidden in self._outbox)
        self._outbox.clear()
        return data, secret

    def send(self, pending: Pending, *, secret_rx: bool = False) -> bytes:
        """``pending`` goes out (after :meth:`check_send` said Go): it is the command in
        flight (``secret_rx``: its reply or echo is secret); returns the bytes to write."""
        self.exchange.start(pending, secret_rx=secret_rx)
        return pending.line + b"\r\n"

    # ---- transparent mode ----------------------------------------------------------------

    def may_send(self, line: bytes) -> bool:
        """Whether a command line may go out: never while the module streams (the line
        would reach the peer as data), and while a stream is being entered only the
        command that enters it."""
        mode = self.modes.mode
        if mode is Mode.COMMAND:
            return True
        if mode is Mode.ENTERING:
            return line.startswith(b"AT+SOCKETTT")
        return mode is Mode.BOOTING and line == b"AT+RST"

    def arm_transparent(self, *, boot: bool) -> None:
        """AT+SOCKETTT (``boot``: AT+RST into auto-transparent mode) is about to be sent:
        its ``>`` may share a read with the first stream data, so the framer is armed."""
        self.modes.to(Mode.BOOTING if boot else Mode.ENTERING)
        self.framer.arm_transparent()

    def exit_silence(self) -> float:
        """The silence kept before and after ``+++`` (the guard time, with margin)."""
        return self.guard_time * GUARD_MARGIN

    def exit_at(self, last_arrival: float) -> float:
        """When ``+++`` may go: the guard silence after the module got its last byte."""
        return last_arrival + self.exit_silence()

    def exit_budget(self, timeout: float) -> float:
        """How long to wait for the exit reply after ``+++`` (both silences and ``timeout``)."""
        return 2 * self.exit_silence() + timeout

    def begin_exit(self) -> bytes:
        """The guard time before ``+++`` passed: the bytes to write (the framer now
        watches the stream for the exit reply)."""
        self.modes.to(Mode.LEAVING)
        self.framer.begin_exit()
        return b"+++"

    def leave_transparent(self) -> None:
        """The stream is over, or never began: the module's output is lines again."""
        if self.modes.mode is not Mode.COMMAND:
            self.modes.to(Mode.COMMAND)
        self.framer.leave_passthrough()
