"""The module's protocol as one object: the command line (:class:`Exchange`), the ConID
table and receive mode (:class:`ConnTable`), and whether the module boots into
transparent mode. :meth:`ModuleProtocol.on_frame` decides what each framed non-data
frame means and returns the actions a front-end carries out (publish an event, write a
late payload, wake the stream); a front-end never decides anything about the protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from atsock._core import Frame
from atsock.errors import ModuleReset
from atsock.protocol.conns import ConnTable, in_range
from atsock.protocol.exchange import Exchange, LatePayload
from atsock.protocol.urcs import parse_event
from atsock.types import Event


@dataclass(frozen=True)
class Publish:
    """An event for the queue and the callbacks."""

    event: Event


@dataclass(frozen=True)
class WriteLatePayload:
    """A timed-out send's late ``>`` came: write exactly its payload, before anything."""

    payload: LatePayload


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


Action = Union[Publish, WriteLatePayload, Rebooted, StreamStarted, StreamEnded, Note]


class ModuleProtocol:
    """The module's protocol state; the front-end serialises calls (its lock)."""

    def __init__(self) -> None:
        self.exchange = Exchange()
        self.conns = ConnTable()
        #: a reset is expected to end in auto-transparent mode (AT+SOCKETAUTOTT)
        self.auto_boot = False

    def on_frame(self, frame: Frame) -> list[Action]:
        """What a non-data frame means."""
        kind = frame.kind
        if kind == "exit":
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
        outcome = self.exchange.on_reply(frame, auto_boot=self.auto_boot)
        if outcome.new_conn is not None:
            self.conns.renew(outcome.new_conn)
        if outcome.boot_prompt:
            actions.append(StreamStarted())
        if outcome.note is not None:
            actions.append(Note(outcome.note))
        if outcome.claimed is not None:
            actions.append(WriteLatePayload(outcome.claimed))
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
        for nothing; an unasked reboot fails the command in flight."""
        self.conns.reset(reason)
        self.exchange.module_reset(reason, expected=expected)
