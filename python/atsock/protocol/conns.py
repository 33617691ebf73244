"""The ConID table: what the host knows of every connection on the module, and the
module's receive mode, as one object that a reset of the module clears as a whole (it
used to be a dict in the driver and a flag on ``Module``, and a reset forgot the flag).

Pure bookkeeping: the caller serialises access (the threaded driver holds its condition)
and decides what to wake up; nothing here blocks, logs or reads a clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from atsock.errors import SocketClosed
from atsock.types import (
    Event,
    ReceiveMode,
    SocketAutoDeleted,
    SocketData,
    SocketDisconnected,
    SocketReconnected,
    SocketSeed,
    SocketType,
)

#: Received active-mode data kept per ConID for socket objects before dropping.
RX_BUFFER_MAX = 1 << 20
#: Largest ConID the table keeps (real firmware uses a handful): URCs naming others are
#: still events, but cannot make the table grow.
MAX_CON_ID = 255
#: Accepted clients (SocketSeed) remembered per server until ``accept()`` takes them.
MAX_SEEDS = 64


@dataclass
class Conn:
    """What the host knows of one ConID."""

    con_id: int
    type: SocketType | None = None
    buffer: bytearray = field(default_factory=bytearray)
    #: packets the module announced (passive mode) and nobody read yet
    notified: int = 0
    #: active-mode data that came while announced packets were unread (the receive mode
    #: was switched): it follows them, so it joins :attr:`buffer` once they are read
    #: (the buffer, the announced packets, this: the order the module received them)
    later: bytearray = field(default_factory=bytearray)
    peer_closed: bool = False
    #: why this connection is no more (a later one may reuse the ConID)
    gone: BaseException | None = None
    seeds: deque[int] = field(default_factory=lambda: deque(maxlen=MAX_SEEDS))
    #: received bytes thrown away because :data:`RX_BUFFER_MAX` was reached
    dropped: int = 0


def in_range(event: Event) -> bool:
    """Whether the ConIDs an event names are ones the table keeps."""
    con_id = getattr(event, "con_id", None)
    server_id = getattr(event, "server_con_id", 0)
    return (con_id is None or 0 <= con_id <= MAX_CON_ID) and 0 <= server_id <= MAX_CON_ID


class ConnTable:
    """Every ConID's :class:`Conn`, and the receive mode (AT+SOCKETRECVCFG)."""

    def __init__(self) -> None:
        self._conns: dict[int, Conn] = {}
        self.receive_mode = ReceiveMode.PASSIVE
        #: bytes dropped over all ConIDs since the table was made, resets included
        self.dropped_total = 0

    def __iter__(self) -> Iterator[Conn]:
        return iter(list(self._conns.values()))

    def get(self, con_id: int) -> Conn | None:
        """The ConID's entry, or None if the table has none."""
        return self._conns.get(con_id)

    def ensure(self, con_id: int) -> Conn:
        """The ConID's entry, made if it has none."""
        return self._conns.setdefault(con_id, Conn(con_id))

    def renew(self, con_id: int) -> Conn:
        """A new connection got ``con_id``: the old one (if any) is gone."""
        old = self._conns.get(con_id)
        if old is not None and old.gone is None:
            old.gone = SocketClosed(f"ConID {con_id} now belongs to a new connection")
        conn = self._conns[con_id] = Conn(con_id)
        return conn

    def forget(self, con_id: int, reason: BaseException) -> None:
        """``con_id`` is gone (deleted, closed by the module): its entry leaves the table,
        and ``reason`` is what its users get from now on."""
        conn = self._conns.pop(con_id, None)
        if conn is not None:
            conn.gone = reason

    def reset(self, reason: BaseException) -> None:
        """The module rebooted: every connection is gone and it is back in passive mode."""
        for conn in self._conns.values():
            conn.gone = conn.gone or reason
        self._conns.clear()
        self.receive_mode = ReceiveMode.PASSIVE

    def close(self) -> None:
        """The port closed: every connection is gone (the entries stay, for their errors)."""
        for conn in self._conns.values():
            conn.gone = conn.gone or SocketClosed(f"ConID {conn.con_id}: module closed")

    def on_event(self, event: Event) -> int:
        """Books a URC (call only for :func:`in_range` events); returns how many received
        bytes had to be dropped (a full buffer)."""
        if isinstance(event, SocketData):
            conn = self.ensure(event.con_id)
            if event.data is None:
                conn.notified += 1
            elif len(conn.buffer) + len(conn.later) + len(event.data) <= RX_BUFFER_MAX:
                (conn.later if conn.notified > 0 else conn.buffer).extend(event.data)
            else:
                conn.dropped += len(event.data)
                self.dropped_total += len(event.data)
                return len(event.data)
        elif isinstance(event, SocketSeed):
            self.ensure(event.con_id)
            self.ensure(event.server_con_id).seeds.append(event.con_id)
        elif isinstance(event, SocketDisconnected):
            self.ensure(event.con_id).peer_closed = True
        elif isinstance(event, SocketReconnected) and event.con_id in self._conns:
            self._conns[event.con_id].peer_closed = False
        elif isinstance(event, SocketAutoDeleted):
            self.forget(
                event.con_id, SocketClosed(f"ConID {event.con_id} was deleted by the module")
            )
        return 0

    def packet_read(self, con_id: int, packet: bytes, *, keep: bool = False) -> None:
        """AT+SOCKETREAD answered: one announced packet fewer, or none left if it was
        empty. ``keep``: the packet joins what is buffered for the socket objects, behind
        what came before its announcement and ahead of what came after (one step, so no
        reader sees the later data first)."""
        conn = self._conns.get(con_id)
        if conn is None:
            return
        conn.notified = max(0, conn.notified - 1) if packet else 0
        if keep:
            conn.buffer += packet
        if conn.notified == 0 and conn.later:
            conn.buffer += conn.later
            conn.later.clear()

    def take_buffered(self, con_id: int, limit: int) -> bytes:
        """Up to ``limit`` bytes of data the module already delivered for ``con_id``."""
        conn = self._conns.get(con_id)
        if conn is None or not conn.buffer:
            return b""
        data = bytes(conn.buffer[:limit])
        del conn.buffer[:limit]
        return data

    def announced(self, *, every: bool = False) -> dict[int, int]:
        """ConIDs with packets announced and not read (``every``: all ConIDs), with the
        length of what is buffered for each."""
        return {
            c.con_id: len(c.buffer) + len(c.later)
            for c in self._conns.values()
            if every or c.notified > 0
        }

    def dropped(self, con_id: int) -> int:
        """Received bytes of ``con_id`` thrown away because its buffer was full."""
        conn = self._conns.get(con_id)
        return conn.dropped if conn is not None else 0
