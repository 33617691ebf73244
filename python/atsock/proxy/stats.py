"""What the proxy is carrying, for ``--verbose`` and for callers: one record per client
(its target, its ConIDs, bytes each way, counted as they move) and the totals, and a
one-line summary of them for a live view."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from atsock.proxy.socks5 import Address


@dataclass
class Relayed:
    """One client's CONNECT or UDP ASSOCIATE; ``up`` is client to module, ``down`` module
    to client (payload bytes; for UDP, datagrams are counted in ``datagrams_*``)."""

    client: Address
    target: Address
    udp: bool = False
    con_ids: list[int] = field(default_factory=list)
    up: int = 0
    down: int = 0
    datagrams_up: int = 0
    datagrams_down: int = 0
    dropped: int = 0
    opened: float = field(default_factory=time.monotonic)

    def describe(self) -> str:
        what = "UDP" if self.udp else "TCP"
        ids = ",".join(map(str, self.con_ids)) or "-"
        line = (
            f"{what} {_host_port(self.client)} -> {_host_port(self.target)} "
            f"ConID {ids}: {self.up} B up, {self.down} B down"
        )
        if self.udp:
            line += (
                f" ({self.datagrams_up} datagrams up, {self.datagrams_down} down, "
                f"{self.dropped} dropped)"
            )
        return line


class ProxyStats:
    """The open relays and the totals of the closed ones (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: list[Relayed] = []
        #: every CONNECT / UDP ASSOCIATE that succeeded, open or closed
        self.total = 0
        self._closed_up = self._closed_down = 0

    def opened(self, relayed: Relayed) -> None:
        with self._lock:
            self._open.append(relayed)
            self.total += 1

    def closed(self, relayed: Relayed) -> None:
        with self._lock:
            if relayed in self._open:
                self._open.remove(relayed)
                self._closed_up += relayed.up
                self._closed_down += relayed.down

    def open_relays(self) -> list[Relayed]:
        with self._lock:
            return list(self._open)

    def bytes_moved(self) -> tuple[int, int]:
        """Bytes up and down, closed relays and open ones."""
        with self._lock:
            return (
                self._closed_up + sum(r.up for r in self._open),
                self._closed_down + sum(r.down for r in self._open),
            )

    def summary(self) -> str:
        up, down = self.bytes_moved()
        return (
            f"{len(self.open_relays())} open, {self.total} served, "
            f"{_size(up)} up, {_size(down)} down"
        )


def _host_port(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _size(count: int) -> str:
    if count < 1000:
        return f"{count} B"
    value = count / 1000
    for unit in ("KB", "MB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"
