"""atsock: drive a serial-attached Wi-Fi module's TCP/IP AT command set from Python.

The protocol machinery (framing, parameters, ``+++`` guard, packetizing) is the Rust
core in :mod:`atsock._core`; this package re-exports it so users never import ``_core``.
"""

from __future__ import annotations

import logging as _logging

import serial as _serial

from atsock._core import (
    DEFAULT_GUARD_NS,
    DEFAULT_IDLE_NS,
    DEFAULT_MAX_LINE,
    DEFAULT_MAX_PACKET,
    DEFAULT_MAX_PAYLOAD,
    MAX_COMMAND_LINE,
    ATError,
    CommandFramer,
    Frame,
    FrameBatch,
    FramingError,
    Guard,
    Packetizer,
    PatternWatch,
    ResponseFramer,
    __version__,
    build_profile,
    format_param,
    format_params,
    needs_quoting,
    parse_params,
)
from atsock.errors import (
    ERROR_CODES,
    BadConID,
    CommandError,
    HostNotFound,
    ModuleReset,
    PortInUse,
    SocketBrokenPipe,
    SocketClosed,
    SocketError,
    SocketRefused,
    SocketReset,
    SocketsExhausted,
    Timeout,
    TransparentError,
)
from atsock.protocol.state import Mode
from atsock.proxy import SocksProxy
from atsock.sync.events import EventQueue
from atsock.sync.module import Module
from atsock.sync.sockets import ServerSocket, Socket
from atsock.sync.transparent import EscapeSafeWriter, TransparentStream
from atsock.types import (
    MAX_CERT,
    AutoTransparentConfig,
    CertKind,
    Event,
    ModuleRestarted,
    OtherEvent,
    ReceiveMode,
    SocketAutoDeleted,
    SocketData,
    SocketDisconnected,
    SocketInfo,
    SocketReconnected,
    SocketSeed,
    SocketStatus,
    SocketType,
    UdpServerMode,
    WifiEvent,
)

__all__ = [
    "DEFAULT_GUARD_NS",
    "DEFAULT_IDLE_NS",
    "DEFAULT_MAX_LINE",
    "DEFAULT_MAX_PACKET",
    "DEFAULT_MAX_PAYLOAD",
    "ERROR_CODES",
    "MAX_CERT",
    "MAX_COMMAND_LINE",
    "ATError",
    "AutoTransparentConfig",
    "BadConID",
    "CertKind",
    "CommandError",
    "CommandFramer",
    "EscapeSafeWriter",
    "Event",
    "EventQueue",
    "Frame",
    "FrameBatch",
    "FramingError",
    "Guard",
    "HostNotFound",
    "Mode",
    "Module",
    "ModuleReset",
    "ModuleRestarted",
    "OtherEvent",
    "Packetizer",
    "PatternWatch",
    "PortInUse",
    "ReceiveMode",
    "ResponseFramer",
    "ServerSocket",
    "Socket",
    "SocketAutoDeleted",
    "SocketBrokenPipe",
    "SocketClosed",
    "SocketData",
    "SocketDisconnected",
    "SocketError",
    "SocketInfo",
    "SocketReconnected",
    "SocketRefused",
    "SocketReset",
    "SocketSeed",
    "SocketStatus",
    "SocketType",
    "SocketsExhausted",
    "SocksProxy",
    "Timeout",
    "TransparentError",
    "TransparentStream",
    "UdpServerMode",
    "WifiEvent",
    "__version__",
    "build_profile",
    "format_param",
    "format_params",
    "needs_quoting",
    "parse_params",
]

# ``serial.serial_for_url("emu://")`` opens an in-process module emulator.
if "atsock.urlhandler" not in _serial.protocol_handler_packages:
    _serial.protocol_handler_packages.append("atsock.urlhandler")

# A library is silent until the application configures logging: without a handler of
# its own, Python's last-resort handler would print atsock's warnings on stderr.
_logging.getLogger(__name__).addHandler(_logging.NullHandler())
