"""How the proxy receives: the module's active receive mode while the proxy keeps up,
its passive mode while data piles up on the host.

In passive mode (the default) each 1024-byte packet costs an AT+SOCKETREAD round trip,
which bounds a download to about 1024 bytes per round trip however fast the line is
(unpaced, a sixth of what active mode moves). In active mode the module pushes each
packet inside its +EVENT line at once, but nothing holds it back: data a slow client
does not take piles up in the driver, which drops it past
:data:`~atsock.protocol.conns.RX_BUFFER_MAX` per ConID. So this switches the module to
passive (the module keeps what arrives, and TCP holds the peer back) as soon as any
ConID has :data:`HIGH` bytes waiting on the host, and back to active once every ConID
is under :data:`LOW`. The switches keep each ConID's bytes in order: active data that
comes while announced packets are still on the module waits behind them (it counts as
waiting, so a long wait for them switches back to passive). The margin between
:data:`HIGH` and the driver's bound is for what is already on its way when the switch
is made: little on a UART (its line rate times a command's round trip). The module's
mode is restored on :meth:`ReceiveFlow.close`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from atsock.errors import ATError
from atsock.protocol.conns import RX_BUFFER_MAX
from atsock.proxy.carrier import Carrier
from atsock.types import ReceiveMode

log = logging.getLogger("atsock.proxy")

#: bytes waiting for one ConID that switch the module to passive (half of the
#: driver's bound: the rest is the margin for what arrives before the switch takes)
HIGH = RX_BUFFER_MAX // 2
#: every ConID under this: back to active
LOW = RX_BUFFER_MAX // 16
#: how often the levels are looked at while the proxy carries anything (seconds)
INTERVAL = 0.002
#: ... and while it carries nothing
IDLE_INTERVAL = 0.1


class ReceiveFlow:
    """Watches the driver's receive buffers on a thread and switches the module's
    receive mode as the module docstring says; :attr:`backoffs` counts the switches to
    passive."""

    def __init__(self, module: Carrier, busy: Callable[[], bool]) -> None:
        self.module = module
        #: whether anything is being carried (else the levels are looked at less often)
        self.busy = busy
        self._original = module.receive_mode
        self.backoffs = 0
        self._stop = threading.Event()
        module.set_receive_mode(ReceiveMode.ACTIVE)
        self._thread = threading.Thread(target=self._run, name="atsock-socks-flow", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stops watching and gives the module back the receive mode it had."""
        self._stop.set()
        self._thread.join(5)
        with contextlib.suppress(ATError, OSError):
            if self.module.receive_mode != self._original:
                self.module.set_receive_mode(self._original)

    def _run(self) -> None:
        connections = self.module.connections
        while not self._stop.wait(INTERVAL if self.busy() else IDLE_INTERVAL):
            try:
                if connections.receive_mode == ReceiveMode.ACTIVE:
                    waiting = connections.announced(every=True)
                    if waiting and max(waiting.values()) >= HIGH:
                        self.module.set_receive_mode(ReceiveMode.PASSIVE)
                        self.backoffs += 1
                        log.debug("receive: passive (%d bytes waiting)", max(waiting.values()))
                elif _all_under(connections.announced(every=True)):
                    self.module.set_receive_mode(ReceiveMode.ACTIVE)
                    log.debug("receive: active again")
            except (ATError, OSError) as exc:  # (the module went away: the relays say so)
                log.debug("receive flow: %s", exc)
                if self._stop.wait(0.1):
                    return


def _all_under(waiting: dict[int, int]) -> bool:
    return all(size < LOW for size in waiting.values())
