"""Benchmark session rules: refuse a debug build, and end with one atsock-vs-baseline table;
and the latency baselines' responder process (a fixture).

Figures from a debug build of the Rust core say nothing about the release wheel, so a
benchmarking run stops before it starts unless the extension is a release build. A run
with benchmarks disabled (``--benchmark-disable``, how ``make test`` runs) only checks
that atsock and the baselines agree, which any build may do.

What each benchmark reports, and how the table reads it: ``summary_table.py``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import atsock
from e2e_harness import stop_process
from summary_table import render, table


def _benchmarks_enabled(config: pytest.Config) -> bool:
    session = getattr(config, "_benchmarksession", None)
    return session is not None and not session.disabled


def pytest_sessionstart(session: pytest.Session) -> None:
    profile = atsock.build_profile()
    if _benchmarks_enabled(session.config) and profile != "release":
        pytest.exit(
            f"atsock._core is a {profile} build: benchmark figures would be meaningless. "
            "Rebuild it in release mode (`make build`) and run the benchmarks again.",
            returncode=1,
        )


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not _benchmarks_enabled(config):
        return
    rows = table(config._benchmarksession.benchmarks)  # type: ignore[attr-defined]
    if len(rows) == 1:
        return
    terminalreporter.write_sep(
        "=", "atsock vs baseline (median rounds; paired: the median of the rounds' ratios)"
    )
    for line in render(rows):
        terminalreporter.write_line(line)


@pytest.fixture
def responder() -> Iterator[str]:
    """The baseline's responder process; yields the pty path it answers on."""
    script = Path(__file__).with_name("pty_responder.py")
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()
        assert path, "the pty responder did not start"
        yield path
    finally:
        stop_process(proc)
