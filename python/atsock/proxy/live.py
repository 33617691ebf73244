"""``atsock proxy --verbose``'s live view: every interval in which anything moved, the
totals and each open relay (client, target, ConIDs, bytes each way) on a text stream.
Quiet while nothing changes, so it reads the same on a terminal and in a log file."""

from __future__ import annotations

import threading
from typing import TextIO

from atsock.proxy.stats import ProxyStats


class LiveView:
    """Prints :meth:`ProxyStats.summary` and the open relays to ``stream`` every
    ``interval`` seconds when they changed; a context manager (stops on exit)."""

    def __init__(self, stats: ProxyStats, stream: TextIO, interval: float = 1.0) -> None:
        self.stats, self.stream, self.interval = stats, stream, interval
        self._stop = threading.Event()
        self._last = ""
        self._thread = threading.Thread(target=self._run, name="atsock-socks-view", daemon=True)

    def __enter__(self) -> LiveView:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.show()  # (the final counts)

    def show(self) -> None:
        """Prints the view now if it differs from the last one printed."""
        lines = [f"atsock proxy: {self.stats.summary()}"]
        lines += [f"  {relay.describe()}" for relay in self.stats.open_relays()]
        text = "\n".join(lines)
        if text != self._last:
            self._last = text
            self.stream.write(text + "\n")
            self.stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.show()
