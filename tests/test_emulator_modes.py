"""The emulated firmware's modes: every transition of its table
(:data:`atsock.emulator.firmware.mode.TRANSITIONS`) made by real bytes over the UART and
seen in ``Emulator.mode``, a transition the firmware never makes refused, and input
lost while the module reboots, as on the chip."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from at_wire import EmulatorFactory, Wire
from atsock.emulator import Emulator
from atsock.emulator.firmware.mode import (
    TRANSITIONS,
    FirmwareMode,
    FirmwareModeError,
    ModeState,
)
from atsock.emulator.machine import BANNER
from peers import TcpEchoServer, wait_until

M = FirmwareMode
#: Longer than the default +++ guard time (0.02 s), so an escape counts.
SILENCE = 0.08


def test_the_table_reaches_booting_from_every_mode_and_command_from_every_other() -> None:
    assert set(TRANSITIONS) == set(FirmwareMode)
    for mode, targets in TRANSITIONS.items():
        assert M.BOOTING in targets
        assert mode is M.COMMAND or M.COMMAND in targets


@pytest.mark.parametrize(
    ("old", "new"),
    [(old, new) for old in M for new in M if new not in TRANSITIONS[old]],
)
def test_a_transition_the_firmware_never_makes_is_refused(old: M, new: M) -> None:
    state = ModeState()
    state.mode = old
    with pytest.raises(FirmwareModeError, match=f"from {old.value} to {new.value}"):
        state.enter(new)
    assert state.mode is old


@pytest.fixture
def module(make_emulator: EmulatorFactory) -> tuple[Emulator, Wire]:
    emu, wire = make_emulator()
    assert emu.mode is M.COMMAND  # BOOTING -> COMMAND at power-on
    return emu, wire


@pytest.fixture
def echo() -> Iterator[TcpEchoServer]:
    with TcpEchoServer() as server:
        yield server


@pytest.fixture
def silent_dns() -> Iterator[int]:
    """A UDP port that takes DNS queries and never answers: a resolve stays busy."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def _mode_is(emu: Emulator, mode: M) -> bool:
    return wait_until(lambda: emu.mode is mode)


def test_command_payload_command(module: tuple[Emulator, Wire], echo: TcpEchoServer) -> None:
    emu, wire = module
    wire.open_socket(f"4,127.0.0.1,{echo.address[1]}")
    wire.send_line("AT+SOCKETSEND=1,5")
    wire.expect_prompt()
    assert emu.mode is M.PAYLOAD
    wire.write(b"AT\r\nA")  # data, not a command
    assert wire.read_final() == b"\r\nOK\r\n"
    assert emu.mode is M.COMMAND


def test_command_transparent_command(module: tuple[Emulator, Wire], echo: TcpEchoServer) -> None:
    emu, wire = module
    wire.open_socket(f"4,127.0.0.1,{echo.address[1]}")
    wire.send_line("AT+SOCKETTT")
    assert wire.read_exactly(1) == b">"
    assert emu.mode is M.TRANSPARENT
    time.sleep(SILENCE)
    wire.write(b"+++")
    assert wire.read_until(b"\r\nOK\r\n") == b"\r\nOK\r\n"
    assert emu.mode is M.COMMAND


def test_command_busy_command(make_emulator: EmulatorFactory, silent_dns: int) -> None:
    emu, wire = make_emulator(dns_port=silent_dns, connect_timeout=0.5)
    wire.command("AT+WDNS=127.0.0.1")
    wire.send_line("AT+WDOMAIN=slow.example.test")
    assert _mode_is(emu, M.BUSY)
    wire.send_line("AT")
    assert wire.read_until(b"\r\n") == b"[Busy]Cmd running\r\n"
    assert wire.read_final(timeout=5) == b"+WDOMAIN:98\r\nERROR\r\n"
    assert emu.mode is M.COMMAND


def test_command_booting_loses_input_then_command(module: tuple[Emulator, Wire]) -> None:
    emu, wire = module
    wire.write(b"AT+RST\r\nAT+GMR\r\n")  # the second line arrives while it reboots
    assert wire.read_until(b"ready\r\n") == b"OK\r\n" + BANNER
    wire.drain(quiet=0.05)
    assert emu.mode is M.COMMAND
    assert wire.command("AT") == b"OK\r\n"


def _reset_from(emu: Emulator, wire: Wire, mode: M) -> None:
    assert _mode_is(emu, mode)
    emu.reset()
    assert emu.mode is M.COMMAND  # BOOTING, then COMMAND with the banner
    assert wire.read_until(b"ready\r\n").endswith(BANNER)
    wire.drain(quiet=0.05)
    assert wire.command("AT") == b"OK\r\n"


def test_payload_booting(module: tuple[Emulator, Wire], echo: TcpEchoServer) -> None:
    emu, wire = module
    wire.open_socket(f"4,127.0.0.1,{echo.address[1]}")
    wire.send_line("AT+SOCKETSEND=1,100")
    wire.expect_prompt()
    _reset_from(emu, wire, M.PAYLOAD)


def test_transparent_booting(module: tuple[Emulator, Wire], echo: TcpEchoServer) -> None:
    emu, wire = module
    wire.open_socket(f"4,127.0.0.1,{echo.address[1]}")
    wire.send_line("AT+SOCKETTT")
    assert wire.read_exactly(1) == b">"
    _reset_from(emu, wire, M.TRANSPARENT)


def test_busy_booting(make_emulator: EmulatorFactory, silent_dns: int) -> None:
    emu, wire = make_emulator(dns_port=silent_dns, connect_timeout=0.5)
    wire.command("AT+WDNS=127.0.0.1")
    wire.send_line("AT+WDOMAIN=slow.example.test")
    _reset_from(emu, wire, M.BUSY)
    wire.assert_silent(0.8)  # the resolve's late failure is the old boot's: never printed


def test_booting_booting(module: tuple[Emulator, Wire]) -> None:
    emu, wire = module
    wire.send_line("AT+RST")
    assert wire.read_exactly(4) == b"OK\r\n"
    emu.reset()  # a second reset while the first reboot is under way
    assert emu.mode is M.COMMAND
    wire.read_until(b"ready\r\n")
    wire.drain(quiet=0.05)
    assert wire.command("AT") == b"OK\r\n"
