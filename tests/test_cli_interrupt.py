"""Ctrl-C in a terminal: ``demo``, ``stream`` and ``term`` say "interrupted" and exit 130.

A terminal's Ctrl-C is a SIGINT to its whole foreground process group; each command
runs here in a session of its own and gets that SIGINT with ``os.killpg``, as from a
terminal. The demo's emulator child must not be in that group: killed first, it took
the port down and the demo reported a port error instead.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ATSOCK = [sys.executable, "-m", "atsock"]
TIMEOUT = 30.0


def children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def interrupt(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    """Ctrl-C for ``proc``'s process group; its exit status and stderr."""
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, err.decode()


def assert_interrupted(command: str, code: int, err: str) -> None:
    assert code == 130, err
    assert err.strip().splitlines()[-1] == f"atsock {command}: interrupted", err
    assert "Traceback" not in err and "Errno" not in err, err


@pytest.fixture
def emulator_url() -> Iterator[str]:
    """``atsock emulate --pty`` in a session of its own (not hit by the Ctrl-C)."""
    proc = subprocess.Popen(
        [*ATSOCK, "emulate", "--pty"], stdout=subprocess.PIPE, start_new_session=True
    )
    assert proc.stdout is not None
    yield proc.stdout.readline().decode().strip()
    proc.terminate()
    proc.wait(TIMEOUT)
    proc.stdout.close()


def test_ctrl_c_in_demo_is_interrupted_and_stops_the_emulator() -> None:
    proc = subprocess.Popen(
        [*ATSOCK, "demo", "--size", "4G"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(b"streaming"):
            break
    emulators = children(proc.pid)
    assert emulators, "the demo's emulator process was not found"
    time.sleep(0.5)  # mid-stream
    code, err = interrupt(proc)
    assert_interrupted("demo", code, err)
    assert not any(alive(pid) for pid in emulators), "the emulator outlived the demo"


def test_ctrl_c_in_stream_is_interrupted(emulator_url: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        proc = subprocess.Popen(
            [*ATSOCK, "stream", emulator_url, "--tcp", f"127.0.0.1:{port}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert proc.stdin is not None
        listener.settimeout(TIMEOUT)
        peer, _ = listener.accept()
        with peer:
            proc.stdin.write(b"hello\n")
            proc.stdin.flush()
            peer.settimeout(TIMEOUT)
            assert peer.recv(64) == b"hello\n"  # streaming
            code, err = interrupt(proc)
    assert_interrupted("stream", code, err)


def test_ctrl_c_in_term_is_interrupted(emulator_url: str) -> None:
    proc = subprocess.Popen(
        [*ATSOCK, "term", emulator_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith(b"atsock term")
    code, err = interrupt(proc)
    assert_interrupted("term", code, err)
