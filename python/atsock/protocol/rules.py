"""Rules of the command set that the driver and the emulator must agree on, written
once: which connection transparent mode takes, the ``+++`` guard time, the exit reply.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from atsock.errors import TransparentError
from atsock.types import SocketStatus, SocketType, UdpServerMode

#: The ``+++`` guard time of the firmware (seconds), unless told otherwise.
GUARD_TIME = 0.02
#: Margin on the guard time for the silences the host keeps around ``+++``.
GUARD_MARGIN = 1.5
#: Longest guard time the emulator keeps (a real module's is about 1 s).
MAX_GUARD_TIME = 60.0
#: What the module prints when ``+++`` ends transparent mode.
TRANSPARENT_EXIT = b"\r\nOK\r\n"
#: Types transparent mode streams through when theirs is the only connection.
STREAMABLE_TYPES = frozenset(
    {SocketType.UDP_SERVER, SocketType.UDP_CLIENT, SocketType.TCP_CLIENT, SocketType.SSL_CLIENT}
)
#: Servers whose one connected seed transparent mode streams through.
SEED_SERVER_TYPES = frozenset({SocketType.TCP_SERVER, SocketType.SSL_SERVER})
#: The seeds: clients accepted by those servers (created by the module).
SEED_TYPES = frozenset({SocketType.TCP_SEED, SocketType.SSL_SEED})


class SocketView(Protocol):
    """What the rule needs of a socket: an ``AT+SOCKET?`` row, or the emulator's own."""

    @property
    def con_id(self) -> int:
        """The socket's ConID."""

    @property
    def type(self) -> SocketType | int:
        """Its ``<type>`` (a plain number if this library does not know it)."""

    @property
    def status(self) -> SocketStatus | int:
        """Its ``<status>`` (a plain number if this library does not know it)."""

    @property
    def server_con_id(self) -> int:
        """For a seed, the ConID of the server that accepted it."""


S = TypeVar("S", bound=SocketView)


def transparent_target(sockets: Sequence[S]) -> S | None:
    """The connection ``AT+SOCKETTT`` streams through, or None if there is none: of the
    sockets not still connecting, exactly one connected client or UDP server, or exactly
    one TCP/TLS server with one connected seed of its own."""
    live = [s for s in sockets if s.status != SocketStatus.CONNECTING]
    if len(live) == 1:
        (only,) = live
        if only.type in STREAMABLE_TYPES and only.status == SocketStatus.CONNECTED:
            return only
        return None
    if len(live) == 2:
        servers = [s for s in live if s.type in SEED_SERVER_TYPES]
        seeds = [s for s in live if s.type in SEED_TYPES]
        if len(servers) == 1 and len(seeds) == 1 and seeds[0].server_con_id == servers[0].con_id:
            return seeds[0] if seeds[0].status == SocketStatus.CONNECTED else None
    return None


def require_target(sockets: Sequence[S]) -> S:
    """:func:`transparent_target`, or a :class:`~atsock.TransparentError` saying why
    there is none (with what the module has)."""
    target = transparent_target(sockets)
    if target is not None:
        return target
    listing = ", ".join(f"ConID {s.con_id} {_name(s.type)} {_name(s.status)}" for s in sockets)
    raise TransparentError(
        "transparent mode needs exactly one connected client, one UDP server, or one "
        f"server with one seed; the module has: {listing or 'no sockets'}"
    )


def tt_line(udp_mode: UdpServerMode | int | None) -> bytes:
    """The AT+SOCKETTT line (with the UDP server's mode, if given)."""
    return b"AT+SOCKETTT" if udp_mode is None else b"AT+SOCKETTT=%d" % UdpServerMode(udp_mode)


def _name(value: object) -> str:
    return value.name if hasattr(value, "name") else str(value)
