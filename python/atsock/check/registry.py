"""The checks of ``atsock check``, by name, in the order they run: each a function of
the check's context and the run's peers that returns a short detail or raises
:class:`~atsock.check.context.CheckFailed` saying what the module did wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from atsock.check.context import CheckContext
from atsock.check.peers import CheckPeers

CheckFunction = Callable[[CheckContext, CheckPeers], "str | None"]


@dataclass(frozen=True)
class Check:
    name: str
    #: What the check proves, one line (``atsock check --list``).
    summary: str
    run: CheckFunction
    #: Bytes the check moves over the UART each way (its budget grows by their line time).
    payload: int = 0


#: Every check, in the order it runs.
CHECKS: list[Check] = []


def check(name: str, summary: str, *, payload: int = 0) -> Callable[[CheckFunction], CheckFunction]:
    """Registers the decorated function as the check ``name``."""

    def register(run: CheckFunction) -> CheckFunction:
        if any(known.name == name for known in CHECKS):
            raise ValueError(f"two checks are called {name!r}")
        CHECKS.append(Check(name, summary, run, payload))
        return run

    return register


def select(only: list[str] | None, skip: list[str] | None) -> list[Check]:
    """The checks to run; ValueError naming any unknown name."""
    names = {known.name for known in CHECKS}
    unknown = sorted({*(only or []), *(skip or [])} - names)
    if unknown:
        every = ", ".join(c.name for c in CHECKS)
        raise ValueError(f"no check called {', '.join(unknown)} (the checks: {every})")
    return [c for c in CHECKS if (not only or c.name in only) and c.name not in (skip or [])]
