"""How ``atsock check`` shows its results: a progress line while it runs, a table
(check, result, time, detail) at the end with each failure's wire bytes, or JSON.
"""

from __future__ import annotations

import json
from typing import TextIO

from atsock.check.registry import Check
from atsock.check.runner import CheckReport, CheckResult

#: Longest detail shown in a table row (the JSON has it whole).
DETAIL_WIDTH = 90


class ProgressLine:
    """One line on a terminal, rewritten per check; a line per check elsewhere."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._tty = stream.isatty()

    def __call__(self, index: int, total: int, check: Check, result: CheckResult | None) -> None:
        head = f"[{index + 1}/{total}] {check.name}"
        if result is None:
            if self._tty:
                self._stream.write(f"\r\033[K{head} …")
                self._stream.flush()
            return
        verdict = "pass" if result.passed else "FAIL"
        if self._tty:
            self._stream.write(f"\r\033[K{head}: {verdict}")
        else:
            self._stream.write(f"{head}: {verdict} ({result.seconds:.2f} s)\n")
        self._stream.flush()

    def done(self) -> None:
        if self._tty:
            self._stream.write("\r\033[K")
            self._stream.flush()


def _shorten(text: str, width: int = DETAIL_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(report: CheckReport) -> str:
    """The results as a table, then each failure's evidence, then the verdict."""
    rows = [("check", "result", "time", "detail")]
    for r in report.results:
        rows.append(
            (r.name, "pass" if r.passed else "FAIL", f"{r.seconds:.2f} s", _shorten(r.detail))
        )
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [
        f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}".rstrip()
        for row in rows
    ]
    for r in report.results:
        if not r.passed:
            lines += [
                "",
                f"{r.name}: {r.detail}",
                f"  sent:     {r.sent!r}",
                f"  received: {r.received!r}",
            ]
    lines += ["", *report.leftovers]  # (each says what was not put back, and why)
    failed = sum(not r.passed for r in report.results)
    lines.append(
        f"{len(report.results) - failed} of {len(report.results)} checks passed on {report.url}"
    )
    return "\n".join(lines)


def format_json(report: CheckReport) -> str:
    return json.dumps(
        {
            "url": report.url,
            "passed": report.passed,
            "checks": [
                {
                    "name": r.name,
                    "passed": r.passed,
                    "seconds": round(r.seconds, 4),
                    "detail": r.detail,
                    "sent": r.sent.decode("latin-1") if not r.passed else None,
                    "received": r.received.decode("latin-1") if not r.passed else None,
                }
                for r in report.results
            ],
            "not_restored": report.leftovers,
        },
        indent=2,
    )
