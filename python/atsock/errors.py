"""The exceptions atsock raises, all under :class:`ATError`.

``ATError`` and ``FramingError`` come from the Rust core; the rest are the driver's.
Each subclasses the standard exception it resembles, so existing ``except`` clauses
work: a timeout is a ``TimeoutError`` (``OSError`` with ``errno.ETIMEDOUT``), a
command error a plain ``ATError``.
"""

from __future__ import annotations

import errno
import socket

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
        self.detail = detail
        self.meaning = ERROR_CODES.get(code, "unknown error code") if code is not None else None
        reason = f"error {code}: {self.meaning}" if code is not None else "ERROR"
        if detail:
            reason = f"{reason} ({detail})"
        super().__init__(f"{command} failed: {reason}")


class SocketError(CommandError, OSError):
    """A socket object's command failed, raised as the ``OSError`` a stdlib socket raises
    in the closest situation (``errno`` set); ``code`` and ``meaning`` keep the module's
    reason. :class:`~atsock.Module`'s own methods raise plain :class:`CommandError`."""

    errno_value = errno.EIO

    def __init__(self, command: str, code: int | None = None, detail: str | None = None) -> None:
        super().__init__(command, code, detail)
        self.errno = self.errno_value
        self.strerror = str(self.args[0])

    def __str__(self) -> str:
        return str(self.args[0])

    @classmethod
    def of(cls, exc: CommandError) -> SocketError:
        """The socket error for the module's ``exc`` (by its code; EIO if it has none)."""
        kind = SOCKET_ERRORS.get(exc.code or 0, SocketError)
        return kind(exc.command, exc.code, exc.detail)


class SocketRefused(SocketError, ConnectionRefusedError):
    """The peer refused the connection, or is unreachable (module error 97)."""

    errno_value = errno.ECONNREFUSED


class HostNotFound(SocketError, socket.gaierror):
    """The module could not resolve the name (error 98), as ``socket.gaierror``."""

    errno_value = socket.EAI_NONAME


class SocketBrokenPipe(SocketError, BrokenPipeError):
    """Sent on a connection that is no longer up (error 99: the peer closed)."""

    errno_value = errno.EPIPE


class SocketReset(SocketError, ConnectionResetError):
    """The module could not send or receive on the connection (errors 101, 102)."""

    errno_value = errno.ECONNRESET


class SocketsExhausted(SocketError):
    """The module has no socket left to create (error 96), as ``EMFILE``."""

    errno_value = errno.EMFILE


class PortInUse(SocketError):
    """The module cannot bind the port (error 104), as ``EADDRINUSE``."""

    errno_value = errno.EADDRINUSE


class BadConID(SocketError):
    """The ConID is not (or no longer) on the module (error 110), as ``EBADF``."""

    errno_value = errno.EBADF


#: The socket error for each firmware error code a socket object can meet.
SOCKET_ERRORS: dict[int, type[SocketError]] = {
    96: SocketsExhausted,
    97: SocketRefused,
    98: HostNotFound,
    99: SocketBrokenPipe,
    101: SocketReset,
    102: SocketReset,
    104: PortInUse,
    110: BadConID,
}


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
    "BadConID",
    "CommandError",
    "FramingError",
    "HostNotFound",
    "ModuleReset",
    "PortInUse",
    "SocketBrokenPipe",
    "SocketClosed",
    "SocketError",
    "SocketRefused",
    "SocketReset",
    "SocketsExhausted",
    "Timeout",
    "TransparentError",
]
