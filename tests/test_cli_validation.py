"""Bad option values are usage errors: exit 2, one line naming the option, no traceback
(issue 18, point 3). Each case runs the real command line in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import atsock
from atsock.emulator import Emulator


def atsock_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "atsock", *args], capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["emulate", "--guard-time", "-1"], "--guard-time"),
        (["emulate", "--guard-time", "1e12"], "--guard-time"),
        (["emulate", "--guard-time", "nan"], "--guard-time"),
        (["emulate", "--dns-port", "99999"], "--dns-port"),
        (["emulate", "--dns-port", "0"], "--dns-port"),
        (["emulate", "--state", "/nonexistent-dir/flash.json"], "--state"),
        (["emulate", "--state", "/"], "--state"),
        (["stream", "socket://127.0.0.1:9", "--tcp", "127.0.0.1:7", "--idle", "-1"], "--idle"),
        (["demo", "--port", "/dev/ttyUSB0"], "--peer"),
        (["demo", "--peer", "127.0.0.1:7"], "--port"),
    ],
)
def test_a_bad_value_is_a_usage_error(args: list[str], option: str) -> None:
    done = atsock_cli(*args)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    error_lines = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(error_lines) == 1 and option in error_lines[0], done.stderr


def test_a_writable_new_state_file_is_accepted(tmp_path: Path) -> None:
    state = tmp_path / "flash.json"
    done = atsock_cli("emulate", "--state", str(state), "--guard-time", "nope")
    # only the guard time is refused: the state path passed its check
    error = done.stderr.splitlines()[-1]
    assert done.returncode == 2 and "--guard-time" in error and "--state" not in error


@pytest.mark.parametrize("guard", [-1.0, 1e12, float("nan")])
def test_the_emulator_refuses_a_guard_time_it_cannot_keep(guard: float) -> None:
    with pytest.raises(ValueError, match="guard_time must be 0 to 60 seconds"):
        Emulator(guard_time=guard)
    with pytest.raises(ValueError, match="guard_time must be 0 to 60 seconds"):
        atsock.Module(f"emu://?guard_time={guard}")


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["emulate", "--baud", "-5"], "--baud"),
        (["emulate", "--baud", "fast"], "--baud"),
        (["demo", "--baud", "0"], "--baud"),
        (["info", "/dev/ttyUSB0", "--baud", "-1"], "--baud"),
        (["info", "/dev/ttyUSB0", "--timeout", "0"], "--timeout"),
        (["term", "/dev/ttyUSB0", "--timeout", "-1"], "--timeout"),
        (["stream", "x", "--tcp", "127.0.0.1:7", "--timeout", "inf"], "--timeout"),
        (["emulate", "--listen-host", "localhost:80"], "--listen-host"),
    ],
)
def test_baud_rates_and_timeouts_are_checked_too(args: list[str], option: str) -> None:
    test_a_bad_value_is_a_usage_error(args, option)


def test_a_path_that_is_not_a_serial_port_says_so() -> None:
    done = atsock_cli("info", "/dev/null")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "atsock info: error: /dev/null is not a serial port (it takes no terminal settings: ENOTTY)"
    )
