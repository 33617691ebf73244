"""Whose turn it is to talk to the module: one command at a time, callers in the order
they asked.

A plain ``threading.Lock`` is not fair: a thread that releases it and asks again at once
(a long send, one ≤ 64 KiB command after another) usually gets it back before a waiting
thread wakes, so a ``recv()`` on another thread could wait out its whole timeout behind
a send. :class:`Turns` hands the module out first come, first served, and lets the
holder run several commands in one turn (a read that drains what the module announced).
"""

from __future__ import annotations

import threading
import time
from collections import deque

from atsock.deadline import wait_time


class Turns:
    """A first-come-first-served, re-entrant lock over the module's command line."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._waiting: deque[object] = deque()
        self._owner: int | None = None
        self._depth = 0

    def acquire(self, deadline: float) -> bool:
        """Waits for this thread's turn until ``deadline`` (monotonic; ``math.inf``: no
        limit); False if it did not come. Taken again by its holder, it nests."""
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return True
            ticket = object()
            self._waiting.append(ticket)
            while self._owner is not None or self._waiting[0] is not ticket:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._waiting.remove(ticket)
                    self._cond.notify_all()  # the next in line may be first now
                    return False
                self._cond.wait(wait_time(remaining))
            self._waiting.popleft()
            self._owner, self._depth = me, 1
            return True

    def release(self) -> None:
        """Ends this thread's (innermost) hold; the next in line goes on."""
        with self._cond:
            if self._owner != threading.get_ident():
                raise RuntimeError("release of a turn this thread does not hold")
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()

    def held(self) -> bool:
        """Whether this thread holds the turn."""
        return self._owner == threading.get_ident()
