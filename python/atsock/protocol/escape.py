"""The rule that keeps transparent-mode payload from ever looking like ``+++``.

The module takes three ``+`` as an escape only when they arrive after a silence of at
least the guard time, all within the guard time of the first. A write holding any
other byte can never be one. Writes of only ``+`` go one ``+`` at a time; each ``+``
that follows a possible silence may start an escape (a candidate), and no candidate is
ever given a third ``+`` while its window (twice the guard time, with margin) is open:
the writer waits it out, so the module releases what it holds as data. The front-ends
ask :meth:`EscapeRule.plus_at` when the next ``+`` may go and wait (a sleep, an
``asyncio.sleep``) themselves; the core :class:`~atsock.Guard` replays the timing in
the tests to prove it.
"""

from __future__ import annotations

from collections import deque

from atsock.protocol.rules import GUARD_MARGIN


class EscapeRule:
    """When each ``+`` of transparent-mode payload may be written (times are arguments)."""

    def __init__(self, guard_time: float) -> None:
        self._guard = guard_time
        #: when the last byte was written (silence counts from then)
        self.last_write = float("-inf")
        #: (time, followed a possible silence) of each '+' since the last other byte
        self._pluses: deque[tuple[float, bool]] = deque()

    def touch(self, now: float) -> None:
        """Counts silence from ``now`` (the module's guard counts from its entry)."""
        self.last_write = now

    @staticmethod
    def is_plain(data: bytes) -> bool:
        """``data`` holds a byte other than ``+``: it can go in one write."""
        return bool(data.strip(b"+"))

    def wrote(self, now: float) -> None:
        """Data with a byte other than ``+`` went out at ``now``."""
        self._pluses.clear()
        self.last_write = now

    def plus_at(self, now: float) -> float:
        """The earliest time the next ``+`` may go (``<= now``: at once)."""
        window = 2 * self._guard * GUARD_MARGIN
        while self._pluses and now - self._pluses[0][0] >= window:
            self._pluses.popleft()  # too old to share an escape with this '+'
        wait_until = now
        # every open candidate that this '+' would give a third (or later) '+'
        for index, (when, after_silence) in enumerate(self._pluses):
            if after_silence and len(self._pluses) - index >= 2:
                wait_until = max(wait_until, when + window)
        return wait_until

    def wrote_plus(self, now: float) -> None:
        """A ``+`` went out at ``now`` (when :meth:`plus_at` allowed it)."""
        after_silence = now - self.last_write >= self._guard / GUARD_MARGIN
        self._pluses.append((now, after_silence))
        self.last_write = now
