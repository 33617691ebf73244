"""The exceptions atsock raises, all under :class:`ATError`.

``ATError`` and ``FramingError`` come from the Rust core; the rest are the driver's.
Each subclasses the standard exception it resembles, so existing ``except`` clauses
work: a timeout is a ``TimeoutError`` (``OSError`` with ``errno.ETIMEDOUT``), a
command error a plain ``ATError``.
"""

from __future__ import annotations

import errno

from atsock._core import ATError, FramingError

#: Meanings of the firmware's error codes (``+<CMD>:<code>`` before ``ERROR``).
ERROR_CODES: dict[int, str] = {
    1: "command not supported",
    3: "wrong number of parameters",
    4: "bad parameter value",
    5: "parameter too long",
    31: "module busy",
    96: "cannot create the socket",
    97: "connection refused or unreachable",
    98: "DNS resolution failed",
    99: "socket not in a state to do that",
    100: "wrong socket type for that",
    101: "send failed",
    102: "receive failed",
    104: "cannot bind the port",
    105: "cannot enter transparent mode (needs exactly one eligible connection)",
    108: "SSL configuration error (certificates?)",
    109: "SSL certificate verification failed",
    110: "no such ConID",
    127: "unknown error",
}


class CommandError(ATError):
    """The module answered ``ERROR``; ``code`` and ``meaning`` say why when it told us."""

    def __init__(self, command: str, code: int | None = None, detail: str | None = None) -> None:
        self.command = command
        self.code = code
        self.meaning = ERROR_CODES.get(code, "unknown error code") if code is not None else None
        reason = f"error {code}: {self.meaning}" if code is not None else "ERROR"
        if detail:
            reason = f"{reason} ({detail})"
        super().__init__(f"{command} failed: {reason}")


class Timeout(ATError, TimeoutError):
    """No (complete) answer within the timeout.

    ``sent``: for a send, how many bytes of its data the module took or is owed (they
    reach the peer, what came after them does not); None for other commands."""

    def __init__(self, message: str, *, sent: int | None = None) -> None:
        super().__init__(errno.ETIMEDOUT, message)
        self.sent = sent

    def __str__(self) -> str:
        return str(self.args[1])


class ModuleReset(ATError):
    """The module printed ``ready`` unasked: it rebooted and every ConID is gone."""


class SocketClosed(ATError, ConnectionError):
    """The connection behind a ConID is gone (peer closed, deleted, or module reset)."""


class TransparentError(ATError):
    """Transparent mode could not be entered or left."""


__all__ = [
    "ERROR_CODES",
    "ATError",
    "CommandError",
    "FramingError",
    "ModuleReset",
    "SocketClosed",
    "Timeout",
    "TransparentError",
]
