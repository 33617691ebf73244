"""``Connections``: the ConID table of the protocol machine, as socket objects use it.

The table (:class:`~atsock.protocol.conns.ConnTable`) is pure bookkeeping; this is the
threaded side of it: every access under the link's condition, and the waits (data, a
seed) that the reader thread ends by notifying it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from atsock.errors import SocketClosed, Timeout
from atsock.protocol.conns import Conn
from atsock.sync.link import WAITER_READ, Link
from atsock.types import Event, ReceiveMode, SocketType


class Connections:
    """What the driver knows of each ConID (``Module.connections``)."""

    def __init__(self, link: Link) -> None:
        self._link = link
        self._cond = link.cond
        self._table = link.protocol.conns

    def dropped(self, con_id: int | None = None) -> int:
        """Received bytes the driver had to throw away for ``con_id`` (all ConIDs, since
        the module was opened, if None) because nobody read them and the buffer
        (:data:`~atsock.protocol.conns.RX_BUFFER_MAX` per ConID, active receive mode) was
        full. Each drop is also logged as a warning."""
        with self._cond:
            return self._table.dropped_total if con_id is None else self._table.dropped(con_id)

    @property
    def receive_mode(self) -> ReceiveMode:
        """The module's receive mode as far as the driver knows (a reset makes it passive)."""
        return self._table.receive_mode

    def set_receive_mode(self, mode: ReceiveMode) -> ReceiveMode:
        """Records the mode the module took; returns the one it had."""
        with self._cond:
            was, self._table.receive_mode = self._table.receive_mode, mode
            return was

    def conn(self, con_id: int) -> Conn:
        """The bookkeeping of ``con_id`` (made if there is none)."""
        with self._cond:
            return self._table.ensure(con_id)

    def fresh(self, con_id: int, stype: SocketType, *, announced: bool) -> None:
        """A new connection got ``con_id``: nothing of an earlier one on it carries over.
        ``announced``: its ``connect success`` line came, and the reader thread renewed the
        ConID then (events after it, such as data the peer sent at once, are kept)."""
        with self._cond:
            if not announced:
                self._table.renew(con_id)
            conn = self._table.get(con_id)
            if conn is not None:  # (None: already closed and deleted by the module)
                conn.type = stype
            self._cond.notify_all()

    def packet_read(self, con_id: int, packet: bytes, *, keep: bool = False) -> None:
        """AT+SOCKETREAD answered (see :meth:`ConnTable.packet_read`; ``keep``: the packet
        is buffered for the socket objects, in order)."""
        with self._cond:
            self._table.packet_read(con_id, packet, keep=keep)
            if keep:
                self._cond.notify_all()

    def forget(self, con_id: int, reason: BaseException) -> None:
        """``con_id`` is gone (``reason`` for whoever still uses it)."""
        with self._cond:
            self._table.forget(con_id, reason)
            self._cond.notify_all()

    def known(self, con_id: int) -> bool:
        """``con_id`` is a live connection the driver knows the type of."""
        with self._cond:
            conn = self._table.get(con_id)
            return conn is not None and conn.gone is None and conn.type is not None

    def wait(
        self,
        con_id: int,
        ready: Callable[[Conn], bool],
        timeout: float | None,
        *,
        expect: Conn | None = None,
    ) -> Conn:
        """Waits until ``ready(conn)`` (or the ConID is gone); Timeout after ``timeout``.

        With ``expect``, the wait is for that very connection: once it is gone (deleted,
        module reset), a new connection that reuses the ConID is not it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        link = self._link
        while True:
            with self._cond:
                if expect is not None and expect.gone is not None:
                    raise expect.gone
                conn = self._table.get(con_id)
                if conn is None or (expect is not None and conn is not expect):
                    raise SocketClosed(f"ConID {con_id} is gone")
                if conn.gone is not None:
                    raise conn.gone
                if ready(conn):
                    return conn
                link.check_alive()
                remaining = WAITER_READ if deadline is None else deadline - time.monotonic()
                if remaining <= 0:
                    raise Timeout(f"ConID {con_id}: nothing within {timeout:g} s")
                seen = link.reads
            link.wait_for_module(seen, remaining)  # (on a tty, reading the data itself)

    def take_seed(self, server_id: int, timeout: float | None, *, expect: Conn) -> int:
        """Waits for a client of server ``server_id`` and takes its seed's ConID: each seed
        goes to exactly one caller, however many threads accept at once."""
        taken: list[int] = []

        def take(conn: Conn) -> bool:  # (called with the condition held)
            if conn.seeds:
                taken.append(conn.seeds.popleft())
            return bool(taken)

        self.wait(server_id, take, timeout, expect=expect)
        return taken[0]

    def return_seed(self, server_id: int, seed_id: int) -> None:
        """Puts a taken seed back first in line (its accept failed before returning it)."""
        with self._cond:
            conn = self._table.get(server_id)
            if conn is not None and conn.gone is None:
                conn.seeds.appendleft(seed_id)
                self._cond.notify_all()

    def take(self, con_id: int, limit: int) -> tuple[bytes, int]:
        """Up to ``limit`` bytes already delivered for ``con_id``; if there are none, how
        many packets the module announced and nobody read. One look under the lock, so
        data that came before an announcement is never read after the packet."""
        with self._cond:
            data = self._table.take_buffered(con_id, limit)
            conn = self._table.get(con_id)
            return data, 0 if data or conn is None else conn.notified

    def announced(self, *, every: bool = False) -> dict[int, int]:
        """ConIDs with packets announced (passive mode) and not read (``every``: all
        ConIDs), with the length of what is buffered for each."""
        with self._cond:
            return self._table.announced(every=every)

    def publish(self, event: Event) -> None:
        """Hands an event on as if the module had sent it (data read ahead of a switch)."""
        self._link.router.publish(event)
