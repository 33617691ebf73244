"""What the firmware asks of its host: small typed values, carried out in order.

The firmware (:class:`~atsock.emulator.firmware.core.Firmware`) never touches a socket,
a clock or a file; it returns these, and the host (the emulator's loop) does them and
reports back: ``work_done(token, result)`` for the ones with a token, in whatever
order the work ends; ``Listen`` and a ``Send`` with a token are answered before the
host carries out the next action, as a bind or a send is immediate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from atsock.types import SocketType


@dataclass(frozen=True)
class Emit:
    """Bytes for the UART."""

    data: bytes


@dataclass(frozen=True)
class Connect:
    """A client socket (resolve, connect, TLS): slow, so on a worker."""

    token: int
    con_id: int
    type: SocketType
    host: str
    port: int
    dns: tuple[str, ...]
    certs: dict[int, bytes] = field(repr=False)


@dataclass(frozen=True)
class Listen:
    """A server socket, bound at once."""

    token: int
    con_id: int
    type: SocketType
    port: int


@dataclass(frozen=True)
class Resolve:
    """``AT+WDOMAIN``: a name through the DNS servers set (on a worker)."""

    token: int
    name: str
    dns: tuple[str, ...]


@dataclass(frozen=True)
class Send:
    """One packet to a socket's peer (``to``: a UDP server's peer). With a token, the
    host reports whether it went (a command's reply waits for it)."""

    con_id: int
    data: bytes
    to: tuple[str, int] | None = None
    token: int | None = None


@dataclass(frozen=True)
class Close:
    """The host socket behind ``con_id`` goes (deleted, or the module rebooted)."""

    con_id: int


@dataclass(frozen=True)
class SaveFlash:
    """The settings that survive a reset changed: write them."""


@dataclass(frozen=True)
class StreamStarted:
    """Transparent mode on ``con_id``: the host may move its bytes itself (the pump)."""

    con_id: int


Action = Union[Emit, Connect, Listen, Resolve, Send, Close, SaveFlash, StreamStarted]


@dataclass(frozen=True)
class Done:
    """Work that succeeded (``value``: the address a name resolved to)."""

    value: str = ""


@dataclass(frozen=True)
class Failed:
    """Work that failed with the firmware's error ``code``."""

    code: int


Result = Union[Done, Failed]
