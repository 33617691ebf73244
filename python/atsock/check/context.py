"""What every check of ``atsock check`` gets: the module, the run's real peers, the
run's options, and the bookkeeping that keeps a check bounded (one deadline for all
its waits) and leaves nothing behind (every ConID it opened is deleted after it).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from atsock.errors import ATError, CommandError, Timeout
from atsock.sync.module import Module
from atsock.types import Event, SocketData, SocketInfo, SocketType

E = TypeVar("E", bound=Event)

#: Longest one poll for received data waits before it reads again (seconds).
POLL = 0.2


class CheckFailed(Exception):
    """The module did something the spec does not say (the message says what)."""


@dataclass(frozen=True)
class CheckOptions:
    """How a run reaches the module's network and how long a check may take."""

    #: The host's address as the module sees it: the peers listen there.
    peer_host: str = "127.0.0.1"
    #: The module's address as the host sees it: clients of the module's servers go there.
    module_host: str = "127.0.0.1"
    #: The UDP port of the run's DNS server (a real module asks on 53).
    dns_port: int = 53
    #: Every check's budget, for all its waits together (seconds).
    timeout: float = 5.0


def expect(condition: bool, message: str) -> None:
    """Fails the check with ``message`` unless ``condition``."""
    if not condition:
        raise CheckFailed(message)


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    """A port nothing on ``host`` listens on now (for a server the module opens)."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


class CheckContext:
    """One check's view of the run (made afresh for every check)."""

    def __init__(self, module: Module, options: CheckOptions, budget: float) -> None:
        self.module = module
        self.options = options
        self.deadline = time.monotonic() + budget
        self._opened: list[int] = []
        self._host_sockets: list[socket.socket] = []

    def left(self) -> float:
        """What is left of the check's budget (Timeout when none is)."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout("the check ran out of its time (--timeout)")
        return remaining

    # ---- module sockets ------------------------------------------------------------------

    def open(self, stype: SocketType, host: str | None, port: int) -> int:
        """``AT+SOCKET``, its ConID deleted when the check ends."""
        con_id = self.module.open_socket(stype, host, port, timeout=self.left())
        self._opened.append(con_id)
        return con_id

    def delete(self, con_id: int) -> None:
        """``AT+SOCKETDEL`` of one of the check's ConIDs."""
        self.module.delete(con_id, timeout=self.left())
        self._opened.remove(con_id)

    def adopt(self, con_id: int) -> None:
        """A ConID the module made (a seed): deleted when the check ends."""
        self._opened.append(con_id)

    def row(self, con_id: int) -> SocketInfo:
        """The ConID's row of ``AT+SOCKET?``."""
        rows = {row.con_id: row for row in self.module.sockets(timeout=self.left())}
        expect(con_id in rows, f"AT+SOCKET? lists no ConID {con_id} (it lists {sorted(rows)})")
        return rows[con_id]

    def event(self, kind: type[E], predicate: Callable[[E], bool] | None = None) -> E:
        """The next event of ``kind`` (matching ``predicate``) within the budget."""
        try:
            return self.module.events.wait_for(kind, self.left(), predicate)
        except Timeout:
            raise CheckFailed(f"no {kind.__name__} event came") from None

    def read_exactly(self, con_id: int, size: int) -> tuple[bytes, list[int]]:
        """``AT+SOCKETREAD`` until ``size`` bytes came: the bytes and each read's length."""
        data = bytearray()
        packets: list[int] = []
        while len(data) < size:
            packet = self.module.read(con_id, timeout=self.left())
            if packet:
                data += packet
                packets.append(len(packet))
                continue
            try:
                self.module.events.wait_for(
                    SocketData, min(POLL, self.left()), lambda e: e.con_id == con_id
                )
            except Timeout:
                pass
        return bytes(data), packets

    # ---- host sockets ----------------------------------------------------------------------

    def host_socket(self, sock: socket.socket) -> socket.socket:
        """A host-side socket, closed when the check ends; its waits within the budget."""
        self._host_sockets.append(sock)
        sock.settimeout(self.left())
        return sock

    def recv_exactly(self, sock: socket.socket, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            sock.settimeout(self.left())
            chunk = sock.recv(size - len(data))
            expect(bool(chunk), f"the connection closed after {len(data)} of {size} bytes")
            data += chunk
        return bytes(data)

    def clean_up(self, timeout: float) -> list[str]:
        """Closes the host sockets and deletes the check's ConIDs; what could not be."""
        for sock in self._host_sockets:
            sock.close()
        problems = []
        for con_id in reversed(self._opened):
            try:
                self.module.delete(con_id, timeout=timeout)
            except CommandError:
                pass  # gone already (a seed whose client left, a failed connect)
            except ATError as exc:
                problems.append(f"ConID {con_id} not deleted: {exc}")
        return problems
