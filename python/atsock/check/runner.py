"""Runs the checks of ``atsock check`` against whatever answers on a URL, one after
another, each within its budget and cleaned up after, with the wire's bytes kept as
evidence for the ones that fail; the module's settings are saved first and put back
at the end, after a failure or Ctrl-C too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from atsock.check.context import CheckContext, CheckFailed, CheckOptions
from atsock.check.peers import CheckPeers, start_peers
from atsock.check.registry import Check
from atsock.check.settings import restore_settings, save_settings
from atsock.errors import ATError
from atsock.sync.module import Module
from atsock.wiretrace import wire

#: The most bytes of each direction kept as a failed check's evidence (the last ones).
EVIDENCE = 1024
#: Bound on each clean-up command after a check (seconds).
CLEANUP_TIMEOUT = 2.0
#: The least each command that puts a setting back may wait (seconds), whatever the
#: checks' timeout: a check that timed out can leave the module busy (a DNS lookup).
RESTORE_TIMEOUT = 15.0


@dataclass
class CheckResult:
    name: str
    passed: bool
    seconds: float
    #: On a pass, what was shown (may be empty); on a failure, why.
    detail: str
    #: The last bytes written to and read from the module during the check (failures).
    sent: bytes = b""
    received: bytes = b""


@dataclass
class CheckReport:
    url: str
    results: list[CheckResult] = field(default_factory=list)
    #: Settings or ConIDs that could not be put back, one line each.
    leftovers: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results) and not self.leftovers


class _WireCapture(logging.Handler):
    """Keeps the last bytes each way from the ``atsock.wire`` trace (redacted chunks
    stay redacted: their records carry no bytes)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.sent = bytearray()
        self.received = bytearray()

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        data = getattr(args[2], "data", None) if len(args) == 3 else None
        if not isinstance(data, bytes):
            data = f"<{args[1]} bytes redacted>".encode() if len(args) >= 2 else b""
        buffer = self.sent if args and args[0] == "TX" else self.received
        buffer += data
        del buffer[:-EVIDENCE]

    def take(self) -> tuple[bytes, bytes]:
        sent, received = bytes(self.sent), bytes(self.received)
        self.sent.clear()
        self.received.clear()
        return sent, received


Progress = Callable[[int, int, Check, "CheckResult | None"], None]


def _budget(check: Check, options: CheckOptions, module: Module) -> float:
    rate = module.link_rate or (getattr(module.serial, "baudrate", 0) or 0) / 10
    return options.timeout + (2 * check.payload / rate if rate else 0.0)


def _run_one(check: Check, module: Module, peers: CheckPeers, options: CheckOptions) -> CheckResult:
    module.events.clear()
    ctx = CheckContext(module, options, _budget(check, options, module))
    started = time.monotonic()
    passed, detail = False, ""
    try:
        detail = check.run(ctx, peers) or ""
        passed = True
    except CheckFailed as exc:
        detail = str(exc)
    except (ATError, OSError) as exc:
        detail = f"{type(exc).__name__}: {exc}"
    finally:
        problems = ctx.clean_up(CLEANUP_TIMEOUT)
    if problems and passed:
        passed, detail = False, "; ".join(problems)
    return CheckResult(check.name, passed, time.monotonic() - started, detail)


def run_checks(
    url: str,
    checks: Sequence[Check],
    options: CheckOptions | None = None,
    *,
    progress: Progress | None = None,
    **module_options: Any,
) -> CheckReport:
    """Runs ``checks`` against the module on ``url`` (``module_options`` go to
    :class:`~atsock.Module`) and returns what each did; the settings it changes are
    put back before it returns, or raises (Ctrl-C included)."""
    options = options or CheckOptions()
    report = CheckReport(url)
    capture = _WireCapture()
    # the evidence is taken from the wire trace; it goes to the run's own handlers only
    level, propagate = wire.level, wire.propagate
    wire.setLevel(logging.DEBUG)
    wire.propagate = False
    wire.addHandler(capture)
    peers = start_peers(options)
    try:
        with Module(url, timeout=options.timeout, **module_options) as module:
            saved = None
            try:
                saved = save_settings(module, options.timeout)
            except ATError as exc:
                report.leftovers.append(f"settings not saved (so not restored): {exc}")
            try:
                for index, check in enumerate(checks):
                    if progress:
                        progress(index, len(checks), check, None)
                    capture.take()
                    result = _run_one(check, module, peers, options)
                    if not result.passed:
                        result.sent, result.received = capture.take()
                    report.results.append(result)
                    if progress:
                        progress(index, len(checks), check, result)
            finally:
                if saved is not None:  # (after a check that timed out the module may
                    # still be busy, a DNS lookup say: putting things back waits longer)
                    restore_timeout = max(options.timeout, RESTORE_TIMEOUT)
                    report.leftovers += restore_settings(module, saved, restore_timeout)
    finally:
        peers.close()
        wire.removeHandler(capture)
        wire.setLevel(level)
        wire.propagate = propagate
    return report
