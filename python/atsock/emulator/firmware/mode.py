"""The firmware's modes and the only transitions between them.

The module is in exactly one mode; what it does with a byte from the host depends on
it alone: a command line (COMMAND), a command's data after ``>`` (PAYLOAD), data for
the one transparent connection until ``+++`` (TRANSPARENT), a line answered
``[Busy]Cmd running`` while a command works (BUSY), or nothing at all while it
reboots (BOOTING: input is lost, as on the chip).
"""

from __future__ import annotations

import enum


class FirmwareMode(enum.Enum):
    BOOTING = "booting"
    COMMAND = "command"
    PAYLOAD = "payload"
    TRANSPARENT = "transparent"
    BUSY = "busy"


_M = FirmwareMode

#: Every transition the firmware makes (a reset reaches BOOTING from any mode).
TRANSITIONS: dict[FirmwareMode, frozenset[FirmwareMode]] = {
    _M.BOOTING: frozenset({_M.COMMAND, _M.BOOTING}),
    _M.COMMAND: frozenset({_M.PAYLOAD, _M.TRANSPARENT, _M.BUSY, _M.BOOTING}),
    _M.PAYLOAD: frozenset({_M.COMMAND, _M.BOOTING}),
    _M.TRANSPARENT: frozenset({_M.COMMAND, _M.BOOTING}),
    _M.BUSY: frozenset({_M.COMMAND, _M.BOOTING}),
}

#: The modes in which host bytes are framed as command lines (and payloads).
FRAMING = frozenset({_M.COMMAND, _M.PAYLOAD, _M.BUSY})


class FirmwareModeError(RuntimeError):
    """A transition the firmware never makes (a bug in the emulator, not the host's)."""


class ModeState:
    """The firmware's one mode, changed only along :data:`TRANSITIONS`."""

    def __init__(self) -> None:
        self.mode = FirmwareMode.BOOTING

    def __repr__(self) -> str:
        return f"<ModeState {self.mode.value}>"

    def enter(self, new: FirmwareMode) -> None:
        if new not in TRANSITIONS[self.mode]:
            raise FirmwareModeError(f"the firmware goes from {self.mode.value} to {new.value}")
        self.mode = new

    def leave(self, old: FirmwareMode) -> None:
        """Back to COMMAND from ``old``, if the module is still in it (a reset may have
        come first)."""
        if self.mode is old:
            self.enter(FirmwareMode.COMMAND)
