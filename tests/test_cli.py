"""The ``atsock`` command line as a user runs it: real processes, real ptys, real peers."""

from __future__ import annotations

import contextlib
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from atsock.demo import EmulatorProcess
from peers import TcpEchoServer

ATSOCK = [sys.executable, "-m", "atsock"]


def run(
    *args: str, input: bytes | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*ATSOCK, *args], input=input, capture_output=True, timeout=timeout)


@pytest.fixture
def tcp_emulator() -> Iterator[str]:
    """``atsock emulate --tcp`` in its own process; yields its URL."""
    proc = subprocess.Popen([*ATSOCK, "emulate", "--tcp", "127.0.0.1:0"], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    url = proc.stdout.readline().decode().strip()
    assert url.startswith("socket://127.0.0.1:")
    yield url
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    proc.stdout.close()


def test_demo_streams_and_verifies() -> None:
    result = run("demo", "--size", "4M")
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "bytes each way   4,194,304" in out
    assert "verified         yes" in out
    assert re.search(r"throughput\s+[\d.]+ MB/s up", out)
    assert "AT version:atsock-emulator" in out


def test_demo_paced_reports_the_line_rate() -> None:
    result = run("demo", "--size", "512K", "--baud", "4000000")
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "line rate        0.400 MB/s" in out
    used = float(re.search(r"([\d.]+)% of it used", out).group(1))  # type: ignore[union-attr]
    assert 80.0 < used <= 101.0
    assert "verified         yes" in out


def test_demo_against_a_given_port_takes_its_baud_rate(tcp_emulator: str) -> None:
    with TcpEchoServer() as echo:
        host, port = echo.address
        result = run("demo", "--size", "64K", "--port", tcp_emulator, "--peer", f"{host}:{port}",
                     "--baud", "921600", timeout=60)  # fmt: skip
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "verified         yes" in out
    assert "line rate        0.092 MB/s" in out


def test_info_lists_firmware_sockets_and_settings(tcp_emulator: str) -> None:
    result = run("info", tcp_emulator, timeout=30)
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "AT version:atsock-emulator" in out
    assert "sockets: none" in out
    assert "DNS servers: 0.0.0.0, 0.0.0.0" in out
    assert "auto-transparent: off" in out


def test_stream_is_netcat_through_the_module(tcp_emulator: str) -> None:
    payload = b"hello +++ world\r\nOK\r\n+EVENT:SocketDown,1,5\r\n" * 100
    with TcpEchoServer() as echo:
        host, port = echo.address
        result = run("stream", tcp_emulator, "--tcp", f"{host}:{port}", "--idle", "0.5",
                     input=payload, timeout=30)  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == payload


def test_stream_through_a_paced_pty_told_its_line_rate() -> None:
    payload = os.urandom(48 * 1024) + b"+++" + os.urandom(16 * 1024)  # ~0.7 s at 1 Mbaud
    with contextlib.closing(EmulatorProcess(baud=1_000_000)) as emulator, TcpEchoServer() as echo:
        host, port = echo.address
        result = run("stream", emulator.url, "--link-rate", "100000", "--tcp", f"{host}:{port}",
                     "--idle", "0.5", input=payload, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == payload


def _read_pty(fd: int, until: bytes, timeout: float) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while until not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    return out


@contextlib.contextmanager
def _term_process(*args: str) -> Iterator[tuple[int, int]]:
    """``atsock term ARGS`` on a pty: yields (pid, the pty's fd); killed afterwards."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child becomes atsock term
        os.execv(sys.executable, [*ATSOCK, "term", *args])
    try:
        yield pid, fd
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


@contextlib.contextmanager
def _term(url: str) -> Iterator[tuple[int, int]]:
    """``atsock term url``, once it is ready for commands."""
    with _term_process(url) as (pid, fd):
        assert b"Ctrl-] or Ctrl-D quits" in _read_pty(fd, b"quits", 15)
        yield pid, fd


def _type(fd: int, line: bytes, until: bytes) -> bytes:
    """Types ``line`` and Enter into the terminal; what it printed up to ``until``."""
    os.write(fd, line + b"\r")
    return _read_pty(fd, until, 10)


def test_term_sends_commands_and_shows_replies(tcp_emulator: str) -> None:
    with _term(tcp_emulator) as (pid, fd):
        assert b"OK" in _type(fd, b"AT", b"OK")
        assert b"> (send the payload" in _type(fd, b"AT+SSLCRET=1,5", b"payload")
        assert b"OK" in _type(fd, b'a,b"c', b"OK")
        shown = _type(fd, b"AT+SSLCRET=1", b"(5 bytes)")
        assert b"+SSLCRET:1,5 (5 bytes): b'a,b\"c'" in shown
        os.write(fd, b"\x1d")  # Ctrl-]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                assert os.waitstatus_to_exitcode(status) == 0
                break
            _read_pty(fd, b"\0", 0.1)
        else:
            pytest.fail("atsock term did not quit on Ctrl-]")


def test_term_streams_in_transparent_mode_and_leaves_with_plus_plus_plus(
    tcp_emulator: str,
) -> None:
    with TcpEchoServer() as echo, _term(tcp_emulator) as (_, fd):
        assert b"OK" in _type(fd, b"AT+SOCKET=4,127.0.0.1,%d" % echo.address[1], b"OK")
        assert b"transparent mode" in _type(fd, b"AT+SOCKETTT", b"leaves)")
        assert b"[data] b'hello AT\\r\\n'" in _type(fd, b"hello AT", b"\\n'")
        assert b"[transparent mode ended] OK" in _type(fd, b"+++", b"ended] OK")
        assert b"1,4,1,127.0.0.1" in _type(fd, b"AT+SOCKET?", b"OK")  # commands again


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["info", "/dev/atsock-no-such-port"], "could not open port"),
        (["info", "bogus://x"], "protocol 'bogus' not known"),
        (["demo", "--size", "12Q"], "expected a size like"),
        (["demo", "--port", "/dev/null"], "--port and --peer go together"),
        (["stream", "socket://127.0.0.1:1", "--tcp", "127.0.0.1:9"], "error"),
        (["stream", "x", "--tcp", "127.0.0.1:9", "--link-rate", "0"], "expected a positive"),
    ],
)
def test_errors_are_one_clear_line_and_nonzero(args: list[str], message: str) -> None:
    result = run(*args, timeout=30)
    err = result.stderr.decode()
    assert result.returncode != 0
    assert message in err
    assert "Traceback" not in err


def test_refused_peer_is_a_clear_error(tcp_emulator: str) -> None:
    result = run("stream", tcp_emulator, "--tcp", "127.0.0.1:1", input=b"x", timeout=30)
    err = result.stderr.decode()
    assert result.returncode == 1
    assert "error 97: connection refused" in err
    assert "Traceback" not in err


def test_help_has_examples_everywhere() -> None:
    for command in ("demo", "emulate", "info", "term", "stream"):
        result = run(command, "--help")
        assert result.returncode == 0
        assert "example" in result.stdout.decode()


@contextlib.contextmanager
def _silent_port() -> Iterator[tuple[int, str]]:
    """A pty nobody answers on (not a module): yields (its master fd, its name)."""
    master, slave = os.openpty()
    try:
        yield master, os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)


def test_term_says_whether_a_module_answers(tcp_emulator: str) -> None:
    with _term_process(tcp_emulator) as (_, fd):
        assert f"module on {tcp_emulator} answers AT".encode() in _read_pty(fd, b"AT\r\n", 15)
        shown = _type(fd, b"AT+SOCKETREAD=9", b"ConID")
        assert b"+SOCKETREAD:110" in shown
        assert b"ERROR (error 110: no such ConID)" in shown


def test_term_on_something_that_is_not_a_module_says_so_and_stays_usable() -> None:
    with _silent_port() as (master, name), _term_process(name, "--timeout", "0.5") as (_, fd):
        shown = _read_pty(fd, b"anyway", 15)
        assert f"no module answering on {name}".encode() in shown
        assert b"within 0.5 s" in shown
        assert _read_pty(master, b"AT\r\n", 5) == b"AT\r\n"  # the probe
        os.write(fd, b"ATI\r")
        assert _read_pty(master, b"ATI\r\n", 5) == b"ATI\r\n"  # typing still sends


def test_info_on_something_that_is_not_a_module_gives_up_after_its_timeout() -> None:
    with _silent_port() as (_, name):
        started = time.monotonic()
        result = run("info", name, "--timeout", "0.5", timeout=30)
    err = result.stderr.decode()
    assert result.returncode == 1
    assert err.strip() == (
        f"atsock info: error: no module answering on {name}: nothing answered AT within "
        "0.5 s (wrong port or baud rate, or the module is off?)"
    )
    assert time.monotonic() - started < 20


def test_stream_over_udp_sums_up_on_stderr(tcp_emulator: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", 0))
        port = peer.getsockname()[1]

        def echo() -> None:
            with contextlib.suppress(OSError):
                data, sender = peer.recvfrom(2048)
                peer.sendto(data, sender)

        thread = threading.Thread(target=echo, daemon=True)
        thread.start()
        result = run("stream", tcp_emulator, "--udp", f"127.0.0.1:{port}", "--idle", "0.5",
                     input=b"hello", timeout=30)  # fmt: skip
        thread.join(5)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"hello"
    assert result.stderr.decode().strip() == (
        f"atsock stream: UDP with 127.0.0.1:{port}: sent 5 bytes, received 5 bytes (UDP "
        "reports no lost datagram: compare with the peer)"
    )
