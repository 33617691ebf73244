"""``atsock check URL``: the module's TCP/IP command set, checked against whatever answers
on URL — a real module or the emulator — with real peers on the host, so a user can prove
their firmware behaves as the spec says and report differences with the bytes as evidence.

In Python: ``run_checks(url, select(None, None), CheckOptions(...))`` returns a
:class:`CheckReport`.
"""

from __future__ import annotations

import importlib

from atsock.check.context import CheckFailed, CheckOptions
from atsock.check.registry import CHECKS, Check, select
from atsock.check.runner import CheckReport, CheckResult, run_checks

#: The modules of checks: importing one registers its checks, so they run in this order.
CHECK_MODULES = ("checks_sockets", "checks_data", "checks_modes", "checks_settings")
for _name in CHECK_MODULES:
    importlib.import_module(f"atsock.check.{_name}")

__all__ = [
    "CHECKS",
    "Check",
    "CheckFailed",
    "CheckOptions",
    "CheckReport",
    "CheckResult",
    "run_checks",
    "select",
]
