"""The module's end of the UART as a real one behaves: output paced at the baud rate
and delivered in bursts, as a USB-serial adapter hands it to the host; input taken no
faster than the line brings it; and the UART's faults (lost bytes, a stall).

Unpaced (no baud rate), output goes straight to the port when nothing is queued.
"""

from __future__ import annotations

from atsock.emulator.uart import READ_SIZE, Uart

#: How far a late paced read may catch up with the line (the UART's receive FIFO).
RX_CATCH_UP = 0.05


def paced_start(free: float, now: float, burst: float) -> float:
    """When the next paced byte goes out (or in): at ``free``, the end of the last one.

    A loop that wakes up a little after ``free`` keeps that cadence, so the average
    rate is the baud rate and not a little under it; after a longer idle the clock
    restarts at ``now`` (a UART does not save up time).
    """
    return free if now - free < burst else now


class PacedUart:
    """A :class:`~atsock.emulator.uart.Uart` at ``baud`` (None: as fast as the port)."""

    def __init__(self, uart: Uart, baud: int | None) -> None:
        self.uart = uart
        self.rate = baud / 10 if baud else None
        #: Paced output reaches the host in bursts of this long (64 bytes' worth, at least
        #: 10 ms: the latency timer of a USB-serial adapter); input is taken in 2 ms steps,
        #: as a UART receives continuously.
        self._burst_out = max(0.01, 64 / self.rate) if self.rate else 0.0
        self._burst_in = max(0.002, 64 / self.rate) if self.rate else 0.0
        self._tx_free = 0.0
        self._out_since = 0.0
        self._rx_free = 0.0
        #: output not yet written
        self.out = bytearray()
        #: faults: bytes to lose each way, and until when the UART is dead
        self.drop_out = 0
        self.drop_in = 0
        self.stall_until = 0.0

    # ---- output ----------------------------------------------------------------------

    def lose_output(self, data: bytes) -> bytes:
        """What is left of ``data`` after the output bytes a fault is to lose."""
        if not self.drop_out:
            return data
        cut = min(self.drop_out, len(data))
        self.drop_out -= cut
        return data[cut:]

    def write(self, data: bytes, now: float) -> None:
        """Queues ``data`` (written at once if unpaced and nothing waits before it)."""
        if not self.out:
            if self.rate is None and self.stall_until <= now:
                sent = self.uart.write(memoryview(data))
                if sent >= len(data):
                    return
                data = data[sent:]
            self._out_since = now
        self.out += data

    def put_back(self, data: bytes, now: float) -> None:
        """Output taken back from someone who was to write it (the pump): it goes first."""
        self.out[:0] = data
        self._out_since = now

    def out_due(self) -> float:
        """When pending output may go: at once unpaced; paced, like a USB-serial adapter,
        once a burst's worth is pending or the oldest byte waited a burst (latency timer),
        and no earlier than the line is free."""
        if self.rate is None:
            return 0.0
        if len(self.out) >= self._burst_out * self.rate:
            return self._tx_free
        return max(self._tx_free, self._out_since + self._burst_out)

    def flush(self, now: float) -> None:
        """Writes what may go by ``now``."""
        if not self.out or self.stall_until > now or self.out_due() > now:
            return
        view = memoryview(self.out)
        budget = len(view)
        start = now
        if self.rate is not None:
            start = paced_start(self._tx_free, now, self._burst_out)
            budget = min(budget, int((now + self._burst_out - start) * self.rate))
            if budget <= 0:
                view.release()
                return
        written = 0
        while written < budget:
            n = self.uart.write(view[written:budget])
            if n <= 0:
                break
            written += n
        view.release()
        if written:
            del self.out[:written]
            self._out_since = now
            if self.rate is not None:
                self._tx_free = start + written / self.rate

    # ---- input ------------------------------------------------------------------------

    def reading(self, now: float) -> bool:
        """The line has brought more by ``now`` (always, unpaced)."""
        return self.rate is None or self._rx_free <= now

    def read(self, fd: int, now: float) -> bytes | None:
        """What the line delivered since the last read (a late loop catches up, as the
        module's UART FIFO would), at most a burst ahead; the rest waits in the port.
        Bytes a fault is to lose are gone."""
        limit = READ_SIZE
        start = now
        if self.rate is not None:
            start = paced_start(self._rx_free, now, RX_CATCH_UP)
            limit = max(1, int((now + self._burst_in - start) * self.rate))
        data = self.uart.on_readable(fd, limit)
        if not data:
            return data
        if self.rate is not None:
            self._rx_free = start + len(data) / self.rate
        if self.drop_in:
            cut = min(self.drop_in, len(data))
            self.drop_in -= cut
            data = data[cut:]
        return data

    # ---- the loop's view --------------------------------------------------------------

    def stalled(self, now: float) -> bool:
        return self.stall_until > now

    def quiet(self, now: float) -> bool:
        """Unpaced, nothing queued, no fault pending: the pump may take the UART."""
        return (
            self.rate is None
            and not self.out
            and not self.drop_in
            and not self.drop_out
            and self.stall_until <= now
        )

    def deadlines(self, now: float) -> list[float]:
        """When the UART has something to do next."""
        due = []
        if self.stall_until > now:
            due.append(self.stall_until)
        if self.rate is not None:
            if self.out:
                due.append(self.out_due())
            if self._rx_free > now:
                due.append(self._rx_free)
        return due
