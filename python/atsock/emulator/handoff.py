"""When the loop hands transparent mode's bytes to a :class:`~atsock.emulator.pump.
TransparentPump` and takes them back: the pump runs only while nothing but moving bytes
is left to do (an unpaced pty, a plain TCP peer, no fault pending, no wire trace), and
whatever it held when stopped goes back where it was, with what ended it (an escape, a
peer gone) told to the firmware.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable

from atsock.emulator.firmware.actions import Action
from atsock.emulator.firmware.core import Firmware
from atsock.emulator.firmware.sockets import Status
from atsock.emulator.host_sockets import HostSockets
from atsock.emulator.pacing import PacedUart
from atsock.emulator.pump import TransparentPump
from atsock.emulator.uart import PtyUart
from atsock.types import SocketType

log = logging.getLogger("atsock.emulator")
wire = logging.getLogger("atsock.emulator.wire")

#: The connections a pump may carry (TLS and UDP stay on the loop).
PUMPABLE = (SocketType.TCP_CLIENT, SocketType.TCP_SEED)


class PumpHandoff:
    """The one pump of an emulator, if one runs."""

    def __init__(
        self,
        firmware: Firmware,
        host: HostSockets,
        line: PacedUart,
        carry_out: Callable[[list[Action]], None],
        wake: Callable[[], None],
    ) -> None:
        self._firmware = firmware
        self._host = host
        self._line = line
        self._carry_out = carry_out
        self._wake = wake
        self.pump: TransparentPump | None = None
        #: the pump may run in this transparent session (not after the UART failed under it)
        self.allowed = False

    @property
    def running(self) -> bool:
        return self.pump is not None

    def maybe_start(self, now: float) -> None:
        """Hands the stream to a pump when nothing but moving bytes is left to do."""
        target = self._firmware.stream_target
        hs = self._host.sockets.get(target.con_id) if target is not None else None
        uart = self._line.uart
        if (
            target is None
            or hs is None
            or hs.sock is None
            or self.pump is not None
            or not self.allowed
            or not self._line.quiet(now)
            or not isinstance(uart, PtyUart)
            or target.type not in PUMPABLE
            or target.status != Status.CONNECTED
            or isinstance(hs.sock, ssl.SSLSocket)
            or wire.isEnabledFor(logging.DEBUG)
        ):
            return
        pending = bytes(hs.tx)
        hs.tx.clear()
        fw = self._firmware
        self.pump = TransparentPump(uart.master, hs.sock, fw.guard, fw.packets, pending, self._wake)

    def pause(self) -> None:
        """Stops the pump, takes back what it held, and acts on why it ended, if it did."""
        pump, self.pump = self.pump, None
        if pump is None:
            return
        pump.stop()
        fw = self._firmware
        target = fw.stream_target
        hs = self._host.sockets.get(target.con_id) if target is not None else None
        if pump.unwritten:
            self._line.put_back(pump.unwritten, time.monotonic())
        if pump.unsent and hs is not None:
            hs.tx[:0] = pump.unsent
        if pump.uart_failed:
            self.allowed = False  # the loop finds out what became of the UART
        if target is not None and (pump.peer_closed or pump.peer_error is not None):
            if pump.peer_error is not None:
                log.info("ConID %d failed: %s", target.con_id, pump.peer_error)
            self._carry_out(fw.disconnected(target.con_id))
        if pump.escaped:
            self._carry_out(fw.escape(pump.after_escape, time.monotonic_ns()))

    def stop(self) -> None:
        """At shutdown: the pump's threads end, nothing is taken back."""
        if self.pump is not None:
            self.pump.stop()
            self.pump = None
