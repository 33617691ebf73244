"""Typed values of the AT command set: socket types, states, configurations, events."""

from __future__ import annotations

import enum
from dataclasses import dataclass

#: An AT+SSLCRET certificate slot holds at most this many bytes.
MAX_CERT = 2048


class SocketType(enum.IntEnum):
    """``<type>`` of AT+SOCKET."""

    UDP_SERVER = 1
    UDP_CLIENT = 2
    TCP_SERVER = 3
    TCP_CLIENT = 4
    TCP_SEED = 5
    SSL_SERVER = 6
    SSL_CLIENT = 7
    SSL_SEED = 8

    @property
    def is_server(self) -> bool:
        """A UDP, TCP or TLS server (it listens on a port)."""
        return self in (SocketType.UDP_SERVER, SocketType.TCP_SERVER, SocketType.SSL_SERVER)

    @property
    def is_client(self) -> bool:
        """A UDP, TCP or TLS client (it connects to a remote host)."""
        return self in (SocketType.UDP_CLIENT, SocketType.TCP_CLIENT, SocketType.SSL_CLIENT)

    @property
    def is_seed(self) -> bool:
        """A client accepted by one of our servers (created by the module, never by hand)."""
        return self in (SocketType.TCP_SEED, SocketType.SSL_SEED)

    @property
    def is_udp(self) -> bool:
        """A UDP server or client."""
        return self in (SocketType.UDP_SERVER, SocketType.UDP_CLIENT)


class SocketStatus(enum.IntEnum):
    """``<status>`` of an AT+SOCKET? row."""

    CONNECTED = 1
    DISCONNECTED = 2
    CONNECTING = 3
    CONNECT_FAILED = 4


class ReceiveMode(enum.IntEnum):
    """AT+SOCKETRECVCFG: passive (notify, read with AT+SOCKETREAD) or active (data in the URC)."""

    PASSIVE = 0
    ACTIVE = 1


class CertKind(enum.IntEnum):
    """AT+SSLCRET slots."""

    CA = 1
    CLIENT_CERT = 2
    CLIENT_KEY = 3


class UdpServerMode(enum.IntEnum):
    """AT+SOCKETTT=<mode> for a UDP server: whom transparent data goes to."""

    FIRST_PEER = 0
    LAST_PEER = 2


@dataclass(frozen=True)
class SocketInfo:
    """One row of AT+SOCKET?."""

    con_id: int
    type: SocketType | int
    status: SocketStatus | int
    remote_host: str
    remote_port: int
    local_port: int
    server_con_id: int


@dataclass(frozen=True)
class AutoTransparentConfig:
    """AT+SOCKETAUTOTT? — ``type`` 0 means disabled."""

    type: SocketType | int
    host: str
    port: int

    @property
    def enabled(self) -> bool:
        """Whether the module enters transparent mode at boot (``type`` is not 0)."""
        return int(self.type) != 0


# ---- events (URCs) ------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """Base of every unsolicited event the module reports."""


@dataclass(frozen=True)
class SocketData(Event):
    """Data arrived on ``con_id``: ``data`` in active mode, None in passive mode (read it)."""

    con_id: int
    length: int
    data: bytes | None = None

    def __repr__(self) -> str:  # never show payloads: they may be secrets
        return f"SocketData(con_id={self.con_id}, length={self.length})"


@dataclass(frozen=True)
class SocketSeed(Event):
    """A client reached our server ``server_con_id``; it is ConID ``con_id``."""

    con_id: int
    server_con_id: int


@dataclass(frozen=True)
class SocketDisconnected(Event):
    """The peer of ``con_id`` closed (a seed must then be deleted)."""

    con_id: int


@dataclass(frozen=True)
class SocketReconnected(Event):
    """``+EVENT:SocketReconnect``: ``con_id`` is connected again (the module reconnected it)."""

    con_id: int


@dataclass(frozen=True)
class SocketAutoDeleted(Event):
    """``+EVENT:SocketAutoDel``: the module deleted ``con_id`` by itself; that ConID is gone."""

    con_id: int


@dataclass(frozen=True)
class WifiEvent(Event):
    """``WIFI_CONNECT``, ``WIFI_GOT_IP``, ``WIFI_DISCONNECT``…"""

    name: str


@dataclass(frozen=True)
class ModuleRestarted(Event):
    """The module printed ``ready``: it rebooted, every ConID is gone."""


@dataclass(frozen=True)
class OtherEvent(Event):
    """A ``+EVENT:`` this version does not know."""

    name: str
    fields: tuple[str, ...]
