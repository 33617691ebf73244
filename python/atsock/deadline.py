"""Timeouts that may be "none": ``Module(url, timeout=None)`` waits as long as it takes.

The driver keeps such a timeout as ``math.inf`` so that its deadline arithmetic stays
plain float arithmetic; the stdlib's waits (``Condition.wait``, ``Lock.acquire``,
``Event.wait``) overflow on an infinite number, so every wait goes through these.
"""

from __future__ import annotations

import enum
import math
from typing import Union

#: The timeout of a wait that has no end.
FOREVER = math.inf


def as_budget(timeout: float | None) -> float:
    """A user's timeout (None: no limit) as the driver keeps it; refuses 0 and less."""
    if timeout is None:
        return FOREVER
    if not timeout > 0:
        raise ValueError("timeout must be None (no limit) or a positive number of seconds")
    return float(timeout)


def wait_time(seconds: float) -> float | None:
    """``seconds`` for a stdlib wait: None (wait unbounded) for an infinite one."""
    return None if seconds == FOREVER else max(0.0, seconds)


def lock_time(seconds: float) -> float:
    """``seconds`` for ``Lock.acquire(timeout=...)``, where -1 means unbounded."""
    return -1.0 if seconds == FOREVER else max(0.0, seconds)


class Default(enum.Enum):
    """The type of :data:`DEFAULT`."""

    TIMEOUT = "the module's timeout"

    def __repr__(self) -> str:
        return "DEFAULT"


#: A call's ``timeout`` when none is given: the module's own (``Module(timeout=...)``).
DEFAULT = Default.TIMEOUT

#: What a call's ``timeout`` may be: seconds, None (no limit) or :data:`DEFAULT`.
Wait = Union[float, None, Default]


def budget_of(timeout: Wait, default: float) -> float:
    """A call's timeout in seconds: ``default`` for :data:`DEFAULT`, ``math.inf`` for None."""
    return default if timeout is DEFAULT else as_budget(timeout)
