"""The module's unsolicited result codes (``+EVENT:…``) as typed events: a pure parser
that never trusts the module (ASCII digits only, bounded numbers, unknown shapes kept
as :class:`~atsock.types.OtherEvent`).
"""

from __future__ import annotations

from atsock._core import Frame
from atsock.types import (
    Event,
    OtherEvent,
    SocketAutoDeleted,
    SocketData,
    SocketDisconnected,
    SocketReconnected,
    SocketSeed,
    WifiEvent,
)


def _int(text: str) -> int | None:
    # ASCII digits only ("²".isdigit() is true), and no absurd sizes from a hostile module
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 12 else None


def parse_event(frame: Frame) -> Event:
    """The typed event of a ``+EVENT:`` frame (unknown or malformed ones as OtherEvent)."""
    name = frame.name or ""
    fields = frame.fields
    ints = [_int(f) for f in fields]
    first = ints[0] if ints else None
    if name == "SocketDown" and len(ints) >= 2 and first is not None and ints[1] is not None:
        return SocketData(first, ints[1], frame.payload)
    if name == "SocketSeed" and len(ints) >= 2 and first is not None and ints[1] is not None:
        return SocketSeed(first, ints[1])
    if name in ("SocketDisconnect", "SocketDissconnect") and first is not None:
        return SocketDisconnected(first)
    if name == "SocketReconnect" and first is not None:
        return SocketReconnected(first)
    if name == "SocketAutoDel" and first is not None:
        return SocketAutoDeleted(first)
    if name.startswith("WIFI_"):
        return WifiEvent(name)
    return OtherEvent(name, tuple(fields))
