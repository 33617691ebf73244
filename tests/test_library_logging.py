"""The library is silent until the application configures logging (issue 18, point 7).

Run in a fresh interpreter: pytest itself installs logging handlers, which would hide
Python's last-resort handler, the one that printed atsock's warnings unasked.
"""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import logging, sys, time
import atsock
from atsock.emulator import Emulator

with Emulator() as emu, atsock.Module(emu.url, timeout=5) as m:
    m.at()
    emu.inject(b"x" * 10000 + b"\\r\\n")  # an over-long line: the driver logs a warning
    time.sleep(0.5)
    m.at()
    if sys.argv[1] == "configured":
        logging.basicConfig(level=logging.WARNING)
        emu.inject(b"y" * 10000 + b"\\r\\n")
        time.sleep(0.5)
        m.at()
print("done")
"""


def run(mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=60
    )


def test_a_warning_reaches_no_stream_unless_the_application_asks() -> None:
    quiet = run("silent")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.strip() == "done"
    assert quiet.stderr == ""


def test_an_application_that_configures_logging_sees_the_warning() -> None:
    loud = run("configured")
    assert loud.returncode == 0, loud.stderr
    assert "module output broke framing" in loud.stderr
