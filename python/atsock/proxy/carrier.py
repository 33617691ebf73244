"""What the proxy needs of a module: connections made through it, its receive mode, and
the driver's view of what it received. A Protocol, so the proxy depends on no module
class (the threaded :class:`~atsock.Module` satisfies it, and offers
``Module.serve_socks`` without an import cycle)."""

from __future__ import annotations

from typing import Protocol

from atsock.deadline import Wait
from atsock.sync.connections import Connections
from atsock.sync.sockets import Socket
from atsock.types import ReceiveMode


class Carrier(Protocol):
    """A module the proxy carries connections over."""

    @property
    def connections(self) -> Connections: ...

    @property
    def receive_mode(self) -> ReceiveMode: ...

    def set_receive_mode(self, mode: ReceiveMode | int, *, timeout: Wait = ...) -> None: ...

    def create_connection(
        self,
        address: tuple[str, int],
        timeout: Wait = ...,
        *,
        tls: bool = ...,
        udp: bool = ...,
    ) -> Socket: ...
