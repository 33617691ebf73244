"""The firmware's socket table: a ConID's type, status and addresses as ``AT+SOCKET?``
reports them, and the packets received and not yet read (passive mode), bounded as a
real module's are: a TCP socket stops being read when its queue is full (the peer is
slowed down, nothing is lost), a UDP socket drops datagrams and counts them. The
host sockets behind the ConIDs are the host's (machine.py); none is here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from atsock.emulator.firmware.errors import BAD_CONID, SOCKET_CREATE, CommandFailed
from atsock.protocol.rules import transparent_target
from atsock.types import SocketStatus, SocketType

#: Largest packet read from a host socket at once (one SOCKETREAD / SocketDown).
PACKET = 1024
#: Receive-queue bound per ConID, in bytes.
RX_LIMIT = 64 * 1024
#: Most ConIDs at once.
MAX_SOCKETS = 16

# The module's socket states are the driver's: one definition of the spec's numbers.
Status = SocketStatus


@dataclass(eq=False)
class SocketEntry:
    con_id: int
    type: SocketType
    status: Status = Status.CONNECTED
    remote_host: str = ""
    remote_port: int = -1
    local_port: int = -1
    server_con_id: int = -1
    #: UDP server: where replies go (first peer, or the latest in TT mode 2).
    udp_peer: tuple[str, int] | None = None
    rx: deque[bytes] = field(default_factory=deque)
    rx_bytes: int = 0
    dropped: int = 0

    def row(self) -> str:
        """The ``AT+SOCKET?`` row of this ConID."""
        return (
            f"{self.con_id},{int(self.type)},{int(self.status)},{self.remote_host},"
            f"{self.remote_port},{self.local_port},{self.server_con_id}"
        )

    @property
    def rx_full(self) -> bool:
        return self.rx_bytes >= RX_LIMIT

    def queue(self, packet: bytes) -> bool:
        """Keeps a received packet for SOCKETREAD; False (and counted) if dropped."""
        if self.rx_full:
            self.dropped += 1
            return False
        self.rx.append(packet)
        self.rx_bytes += len(packet)
        return True

    def pop(self) -> bytes:
        if not self.rx:
            return b""
        packet = self.rx.popleft()
        self.rx_bytes -= len(packet)
        return packet


class SocketTable:
    """Every ConID the module has, by number."""

    def __init__(self) -> None:
        self._entries: dict[int, SocketEntry] = {}

    def __iter__(self) -> Iterator[SocketEntry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.con_id))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, con_id: object) -> bool:
        return con_id in self._entries

    def get(self, con_id: int) -> SocketEntry | None:
        return self._entries.get(con_id)

    def allocate(self, wanted: int = 0) -> int:
        """A free ConID (``wanted`` if given and free); CommandFailed if none is."""
        if wanted:
            if wanted in self._entries or not 1 <= wanted <= MAX_SOCKETS:
                raise CommandFailed("SOCKET", BAD_CONID)
            return wanted
        for con_id in range(1, MAX_SOCKETS + 1):
            if con_id not in self._entries:
                return con_id
        raise CommandFailed("SOCKET", SOCKET_CREATE)

    def add(self, entry: SocketEntry) -> None:
        self._entries[entry.con_id] = entry

    def remove(self, con_id: int) -> SocketEntry | None:
        return self._entries.pop(con_id, None)

    def clear(self) -> list[int]:
        """Forgets every ConID; returns them."""
        gone = sorted(self._entries)
        self._entries.clear()
        return gone

    def transparent_target(self) -> SocketEntry | None:
        """The one connection transparent mode may use (spec of AT+SOCKETTT), or None."""
        return transparent_target(list(self._entries.values()))
