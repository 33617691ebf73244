"""The driver through Debian's real ``ser2net`` (RFC 2217), in front of the emulator's pty.

Rigs put a module's UART on the network with ser2net (issue 23), and pyserial's own
RFC 2217 server (tests/test_driver_rfc2217.py) is not ser2net: its telnet negotiation,
buffering and port settings are ser2net's own. So this starts the real binary on
127.0.0.1 and proves that commands, a socket's binary data, a transparent stream (with
``+++``, CR/LF and telnet's 0xFF inside) and a baud rate change all get through it.

A pty has no modem lines, and ser2net never acknowledges setting DTR or RTS on one
(pyserial would wait 3 s and fail to open): the URL says ``ign_set_control``, as any
rig whose UART has no modem lines needs. Without ser2net these tests skip.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import socket
import subprocess
import termios
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import atsock
from atsock import SocketType
from atsock.emulator import Emulator
from atsock.testing import TcpEcho

#: ser2net lives in /usr/sbin, which a normal user's PATH may not name.
SER2NET = shutil.which("ser2net") or shutil.which("ser2net", path="/usr/sbin:/usr/local/sbin")
#: Generous bound on every wait of these tests (seconds).
TIMEOUT = 10.0

pytestmark = [
    pytest.mark.skipif(
        SER2NET is None,
        reason="ser2net is not installed (Debian/Ubuntu: apt-get install ser2net)",
    ),
    # pyserial's RFC 2217 client names and starts its reader thread with deprecated calls
    pytest.mark.filterwarnings("ignore:setDaemon:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:setName:DeprecationWarning"),
]

#: ser2net 4's YAML: one RFC 2217 accepter on loopback in front of the pty
#: (``local``: no modem lines to watch; ``kickolduser``: a new client replaces the last).
CONFIG = """\
connection: &module
  accepter: telnet(rfc2217),tcp,127.0.0.1,{port}
  connector: serialdev,{device},115200n81,local
  options:
    kickolduser: true
"""


@dataclass(frozen=True)
class Rig:
    """The emulator, and the ``rfc2217://`` URL ser2net serves its pty as."""

    emulator: Emulator
    url: str


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_accepting(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"ser2net did not listen on {port}: {log.read_text()!r}")
        time.sleep(0.05)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    """The emulator on a pty, behind a ser2net of its own (stopped after the test)."""
    assert SER2NET is not None
    port = free_port()
    with Emulator(transport="pty", echo=False) as emu:
        config = tmp_path / "ser2net.yaml"
        config.write_text(CONFIG.format(port=port, device=emu.url))
        log = tmp_path / "ser2net.log"
        command = [SER2NET, "-d", "-u", "-P", str(tmp_path / "ser2net.pid"), "-c", str(config)]
        with log.open("wb") as out:
            server = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            wait_until_accepting(port, server, log)
            yield Rig(emu, f"rfc2217://127.0.0.1:{port}?ign_set_control")
        finally:
            server.terminate()
            try:
                server.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def open_module(rig: Rig, **options: Any) -> atsock.Module:
    module = atsock.Module(rig.url, timeout=TIMEOUT, exit_delay=0.05, **options)
    module.at()
    return module


def nasty_payload(size: int, seed: int) -> bytes:
    """Random bytes with escapes, line ends, replies and telnet's IAC planted throughout."""
    rng = random.Random(seed)
    data = bytearray(rng.randbytes(size))
    traps = [b"+++", b"\r\n", b"\r\nOK\r\n", b"\r\n+++\r\n", b"\xff\xff", b"\xff\xfa", b"\r\x00"]
    for offset in range(0, size - 16, 997):
        trap = rng.choice(traps)
        data[offset : offset + len(trap)] = trap
    return b"+++" + bytes(data) + b"+++"


def line_speed(device: str) -> int:
    """The pty's output speed (a termios ``B*`` constant) as ser2net last set it."""
    fd = os.open(device, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        return int(termios.tcgetattr(fd)[5])
    finally:
        os.close(fd)


def wait_for_speed(device: str, baud: int) -> None:
    wanted = getattr(termios, f"B{baud}")
    deadline = time.monotonic() + TIMEOUT
    while (speed := line_speed(device)) != wanted:
        assert time.monotonic() < deadline, f"pty speed {speed}, not B{baud} ({wanted})"
        time.sleep(0.02)


def test_commands(rig: Rig) -> None:
    with open_module(rig) as m:
        m.at()
        assert any("atsock-emulator" in line for line in m.version())
        assert m.sockets() == []
        assert m.auto_transparent().type == 0
        assert m.dns_servers()
        m.at()


def test_tcp_client_socket_round_trip(rig: Rig) -> None:
    payload = nasty_payload(20_000, seed=1)
    with TcpEcho() as echo, open_module(rig) as m:
        cid = m.open_socket(SocketType.TCP_CLIENT, *echo.address)
        m.send(cid, payload)
        echoed = bytearray()
        deadline = time.monotonic() + TIMEOUT
        while len(echoed) < len(payload):
            assert time.monotonic() < deadline, f"{len(echoed)} of {len(payload)} bytes back"
            packet = m.read(cid)
            if packet:
                echoed += packet
            else:
                time.sleep(0.01)
        assert bytes(echoed) == payload
        assert echo.received == payload
        m.delete(cid)
        assert m.sockets() == []


def test_transparent_stream_then_commands_again(rig: Rig) -> None:
    payload = nasty_payload(384 * 1024, seed=2)
    with TcpEcho(record=False) as echo, open_module(rig) as m:
        cid = m.open_socket(SocketType.TCP_CLIENT, *echo.address)
        echoed = hashlib.sha256()
        received = 0
        with ThreadPoolExecutor(1) as pool, m.transparent(timeout=TIMEOUT) as stream:
            writing = pool.submit(stream.write, payload)
            while received < len(payload):
                chunk = stream.read(1 << 16, timeout=TIMEOUT)
                echoed.update(chunk)
                received += len(chunk)
            writing.result(TIMEOUT)
        assert received == len(payload)
        assert echoed.hexdigest() == hashlib.sha256(payload).hexdigest()
        m.at()  # left with +++ and the guard time: commands again
        assert [s.con_id for s in m.sockets()] == [cid]


def test_baud_rate_changes_reach_the_port(rig: Rig) -> None:
    device = rig.emulator.url
    with open_module(rig, baudrate=57600) as m:
        wait_for_speed(device, 57600)
        m.serial.baudrate = 230400
        wait_for_speed(device, 230400)
        m.at()
        m.serial.baudrate = 9600
        wait_for_speed(device, 9600)
        assert m.version()
