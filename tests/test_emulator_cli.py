"""``atsock emulate`` as a subprocess, the ``emu://`` URL, and baud-rate pacing.

The command prints the pyserial URL as its first stdout line (a ``/dev/pts/N`` path or
``socket://127.0.0.1:PORT``), serves it until SIGTERM and then exits 0, keeping its
flash in ``--state``. With ``baud=N`` the emulated UART carries N/10 bytes per second
each way, measured here to within 10 %.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import serial

import atsock  # (also registers the emu:// URL handler)
from at_wire import EmulatorFactory, Wire
from peers import DnsServer, TcpCollector, TcpEchoServer

TIMEOUT = 5.0
WHERE = {"pty": ["--pty"], "tcp": ["--tcp", "127.0.0.1:0"]}
URL_PATTERN = {"pty": r"/dev/pts/\d+", "tcp": r"socket://127\.0\.0\.1:\d+"}


def first_line(proc: subprocess.Popen[bytes], timeout: float = TIMEOUT) -> str:
    """The first stdout line of ``proc``, waited for at most ``timeout`` seconds."""
    assert proc.stdout is not None
    line = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sel.select(remaining):
                raise AssertionError(f"no URL line from atsock emulate within {timeout:g} s")
            byte = os.read(proc.stdout.fileno(), 1)
            if not byte:
                raise AssertionError(f"atsock emulate exited early: {line!r}")
            line += byte
    return line.decode().rstrip("\n")


@contextmanager
def emulate(*args: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Runs ``python -m atsock emulate ARGS``; yields it and its URL; always reaps it."""
    command = [sys.executable, "-m", "atsock", "emulate", *args]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            yield proc, first_line(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=TIMEOUT)


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM; the exit status (waited for at most TIMEOUT)."""
    proc.send_signal(signal.SIGTERM)
    return proc.wait(TIMEOUT)


# ---- atsock emulate -------------------------------------------------------------------------


def test_emulate_prints_the_url_first_serves_it_and_exits_0_on_sigterm(transport: str) -> None:
    with emulate(*WHERE[transport]) as (proc, url):
        assert re.fullmatch(URL_PATTERN[transport], url)
        with Wire.open(url) as wire:
            assert wire.command("AT") == b"AT\r\nOK\r\n"  # echo on by default
            assert wire.command("AT+GMR").startswith(b"AT+GMR\r\nAT version:")
        assert stop(proc) == 0


def test_emulate_no_echo_and_dns_port_options(transport: str) -> None:
    with (
        DnsServer({"cli.atsock.test": "10.9.8.7"}) as dns,
        emulate(*WHERE[transport], "--no-echo", "--dns-port", str(dns.port)) as (proc, url),
    ):
        with Wire.open(url) as wire:
            assert wire.command(f"AT+WDNS={dns.host}") == f"+WDNS:{dns.host}\r\nOK\r\n".encode()
            reply = wire.command("AT+WDOMAIN=cli.atsock.test")
            assert reply == b"+WDOMAIN:10.9.8.7\r\nOK\r\n"
        assert stop(proc) == 0
    assert dns.queries == ["cli.atsock.test"]


def test_emulate_state_survives_a_restart_of_the_process(transport: str, tmp_path: Path) -> None:
    path = tmp_path / "flash.json"
    with emulate(*WHERE[transport], "--state", str(path)) as (proc, url):
        with Wire.open(url) as wire:
            wire.command("ATE0")
            wire.command("AT+WDNS=127.0.0.3")
            wire.set_certificate(1, b"-----CA-----")
        assert stop(proc) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with emulate(*WHERE[transport], "--state", str(path)) as (proc, url), Wire.open(url) as wire:
        assert wire.command("AT+WDNS?") == b"+WDNS:127.0.0.3,0.0.0.0\r\nOK\r\n"
        assert wire.command("AT+SSLCRET=1") == b"+SSLCRET:1,12,-----CA-----\r\nOK\r\n"
        assert stop(proc) == 0


def test_emulate_refuses_a_bad_address() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "atsock", "emulate", "--tcp", "nonsense"],
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 2
    assert b"HOST:PORT" in result.stderr


def test_emulate_reports_an_unreadable_state_file_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "flash.json"
    path.write_text("[broken")
    result = subprocess.run(
        [sys.executable, "-m", "atsock", "emulate", "--pty", "--state", str(path)],
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(b"atsock emulate: error:")
    assert b"Traceback" not in result.stderr


# ---- emu:// ---------------------------------------------------------------------------------


def test_emu_url_opens_an_in_process_emulator_and_closing_stops_it() -> None:
    port = serial.serial_for_url("emu://?echo=0&guard_time=0.05", timeout=0.02)
    emulator = port.emulator
    assert emulator is not None and emulator.guard_time == 0.05
    with Wire(port) as wire:
        assert wire.command("AT") == b"OK\r\n"
    assert port.emulator is None
    with pytest.raises(RuntimeError, match="stopped"):
        emulator.serve_forever()


def test_a_module_on_an_emu_url_knows_its_guard_time_and_line_rate() -> None:
    """What a pty cannot say, the emu:// port does: with a 0.1 s guard and a paced line
    the stream still ends with a real escape (the driver's defaults would send '+++'
    too soon: it would be data)."""
    with TcpEchoServer() as echo, atsock.Module("emu://?guard_time=0.1&baud=1000000") as m:
        assert m.guard_time == 0.1 and m.link_rate == 100_000
        m.open_socket(atsock.SocketType.TCP_CLIENT, *echo.address)
        payload = bytes(range(256)) * 80
        with m.transparent(timeout=5.0) as stream:
            stream.write(payload)
            received = b""
            while len(received) < len(payload):
                received += stream.read(len(payload))
        assert received == payload
        m.at()
    port = serial.serial_for_url("emu://")
    with pytest.raises(serial.SerialException, match="already open"):
        port.open()  # (the running emulator stays the port's)
    assert port.emulator is not None
    port.close()
    assert port.emulator is None


def test_emu_url_refuses_an_unknown_option() -> None:
    with pytest.raises(serial.SerialException, match="unknown emu:// option"):
        serial.serial_for_url("emu://?speed=fast")


# ---- baud pacing ----------------------------------------------------------------------------


def measure_output(wire: Wire, expected: bytes) -> float:
    """Bytes/s at which ``expected`` (already queued in the module) reaches the host."""
    port = wire.port
    port.timeout = TIMEOUT
    assert port.read(1) == expected[:1]
    started = time.monotonic()
    received = 1
    port.timeout = 0.5
    while received < len(expected):
        chunk = port.read(max(1, port.in_waiting))
        assert chunk, f"output stopped after {received} bytes"
        received += len(chunk)
    return (received - 1) / (time.monotonic() - started)


@pytest.mark.parametrize("baud", [38400, 115200])
def test_output_is_paced_at_a_tenth_of_the_baud_rate(
    make_emulator: EmulatorFactory, baud: int
) -> None:
    emu, wire = make_emulator(baud=baud)
    rate = baud / 10
    payload = bytes(int(rate))  # about 1 s on the wire
    emu.inject(payload)
    measured = measure_output(wire, payload)
    assert measured == pytest.approx(rate, rel=0.10)


def test_input_is_paced_at_a_tenth_of_the_baud_rate(make_emulator: EmulatorFactory) -> None:
    baud = 38400
    rate = baud / 10
    _, wire = make_emulator(baud=baud)
    payload = bytes(range(256)) * int(rate / 256)  # about 1 s
    with TcpCollector() as peer:
        con_id = wire.open_socket(f"4,127.0.0.1,{peer.address[1]}")
        wire.send_line(f"AT+SOCKETSEND={con_id},{len(payload)}")
        wire.expect_prompt()
        started = time.monotonic()
        wire.write(payload)
        assert wire.read_final(TIMEOUT) == b"\r\nOK\r\n"
        measured = len(payload) / (time.monotonic() - started)
        wire.command(f"AT+SOCKETDEL={con_id}")
        assert peer.data(TIMEOUT) == payload
    assert measured == pytest.approx(rate, rel=0.10)
