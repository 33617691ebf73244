"""The firmware's error replies: ``+<CMD>:<code>`` then ``ERROR``, or ``Unknown cmd``.

The codes are the firmware's own (DESIGN.md, "Firmware behaviour beyond the spec").
"""

from __future__ import annotations

UNSUPPORTED, PARAM_COUNT, BAD_PARAM, TOO_LONG = 1, 3, 4, 5
SOCKET_CREATE, CONNECT, DNS, STATE, TYPE, SEND = 96, 97, 98, 99, 100, 101
BIND, NO_TRANSPARENT, SSL_CONFIG, SSL_VERIFY, BAD_CONID = 104, 105, 108, 109, 110


class CommandFailed(Exception):
    """A command ends in ``+<CMD>:<code>`` then ``ERROR`` (or ``Unknown cmd``)."""

    def __init__(self, command: str, code: int | None, unknown: bytes | None = None) -> None:
        super().__init__(f"{command}:{code}")
        self.command, self.code, self.unknown = command, code, unknown

    def reply(self) -> bytes:
        if self.unknown is not None:
            return b"Unknown cmd:" + self.unknown + b"\r\nERROR\r\n"
        if self.code is None:
            return b"ERROR\r\n"
        return f"+{self.command}:{self.code}\r\nERROR\r\n".encode()
