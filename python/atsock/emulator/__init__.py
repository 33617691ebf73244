"""The module emulator: an Ai-WB2-class Wi-Fi module in software.

It speaks the TCP/IP AT command set byte for byte over a pseudo-terminal or a TCP port
(any pyserial URL), and backs every module socket with a real host socket, so the
driver, the demo and the tests run without hardware.
"""

from __future__ import annotations

from atsock.emulator.machine import Emulator
from atsock.emulator.netsock import Status
from atsock.types import SocketType

__all__ = ["Emulator", "SocketType", "Status"]
