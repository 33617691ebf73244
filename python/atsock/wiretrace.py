"""Wire traces on the ``atsock.wire`` logger: hexdumps in the shape of pyserial's ``spy://``.

Nothing is formatted unless the logger is enabled for DEBUG. Secrets (certificate and
key bodies) are never dumped: the caller marks them, and only their length is logged.
"""

from __future__ import annotations

import logging

wire = logging.getLogger("atsock.wire")

#: Longest dump of one chunk; the rest is summarised.
MAX_DUMP = 4096


class _HexDump:
    """Formats lazily, when (and only when) the record is emitted."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __str__(self) -> str:
        shown = self.data[:MAX_DUMP]
        lines = []
        for offset in range(0, len(shown), 16):
            row = shown[offset : offset + 16]
            hexes = " ".join(f"{b:02X}" for b in row)
            text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
            lines.append(f"    {offset:06X}  {hexes:<47}  {text}")
        if len(self.data) > MAX_DUMP:
            lines.append(f"    … {len(self.data) - MAX_DUMP} more bytes")
        return "\n".join(lines)


def trace(direction: str, data: bytes, *, secret: bool = False) -> None:
    """Logs ``data`` going ``direction`` ("TX" or "RX") at DEBUG, redacted if ``secret``."""
    if not wire.isEnabledFor(logging.DEBUG):
        return
    if secret:
        wire.debug("%s %d bytes <redacted: certificate or key material>", direction, len(data))
    else:
        wire.debug("%s %d bytes\n%s", direction, len(data), _HexDump(data))
