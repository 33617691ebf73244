"""The emulated module's basic commands and its answers to bad input, byte for byte.

AT, ATE0/ATE1, AT+RST, AT+GMR; then everything a host can get wrong: unknown
commands, wrong parameter counts (``+CMD:3``), bad values (``+CMD:4``), lines over
the firmware's 256 bytes, garbage bytes. After every error the module must still
answer the next command.
"""

from __future__ import annotations

import pytest

from at_wire import EmulatorFactory, Wire, free_port
from atsock.emulator import Emulator
from atsock.emulator.machine import BANNER


def test_at_answers_ok(wire: Wire) -> None:
    assert wire.command("AT") == b"OK\r\n"


def test_echo_is_on_by_default_and_ate0_ate1_switch_it(make_emulator: EmulatorFactory) -> None:
    _, wire = make_emulator(echo=None)  # the firmware default
    assert wire.command("AT") == b"AT\r\nOK\r\n"
    assert wire.command("ATE0") == b"ATE0\r\nOK\r\n"
    assert wire.command("AT") == b"OK\r\n"
    assert wire.command("ATE1") == b"OK\r\n"
    assert wire.command("AT") == b"AT\r\nOK\r\n"


def test_echo_repeats_the_line_before_an_error(make_emulator: EmulatorFactory) -> None:
    _, wire = make_emulator(echo=True)
    assert wire.command("AT+NOPE", b"ERROR\r\n") == b"AT+NOPE\r\nUnknown cmd:AT+NOPE\r\nERROR\r\n"


def test_gmr_reports_versions_then_ok(wire: Wire) -> None:
    reply = wire.command("AT+GMR")
    lines = reply.split(b"\r\n")
    assert lines[0].startswith(b"AT version:")
    assert lines[1].startswith(b"SDK version:")
    assert lines[2:] == [b"OK", b""]


def test_rst_answers_ok_then_reboots_with_banner_ready_and_wifi_events(wire: Wire) -> None:
    assert wire.command("AT+RST") == b"OK\r\n"
    assert wire.read_until(b"+EVENT:WIFI_GOT_IP\r\n") == (
        BANNER + b"+EVENT:WIFI_CONNECT\r\n+EVENT:WIFI_GOT_IP\r\n"
    )
    assert wire.command("AT") == b"OK\r\n"


def test_rst_forgets_every_socket_and_the_receive_mode(wire: Wire) -> None:
    assert wire.open_socket(f"3,{free_port()}") == 1
    wire.command("AT+SOCKETRECVCFG=1")
    wire.command("AT+RST")
    wire.read_until(b"ready\r\n")
    wire.drain(quiet=0.05)
    assert wire.command("AT+SOCKET?") == b"OK\r\n"
    assert wire.command("AT+SOCKETRECVCFG?") == b"+SOCKETRECVCFG:0\r\nOK\r\n"


@pytest.mark.parametrize(
    "line",
    ["AT+NOPE", "AT+SOCKETX=1", "AT+", "ATZ", "hello", "at+gmx?"],
)
def test_unknown_input_answers_unknown_cmd_then_error(wire: Wire, line: str) -> None:
    assert wire.command(line, b"ERROR\r\n") == f"Unknown cmd:{line}\r\nERROR\r\n".encode()
    assert wire.command("AT") == b"OK\r\n"


def test_commands_are_case_insensitive(wire: Wire) -> None:
    assert wire.command("at+wdns?") == b"+WDNS:0.0.0.0,0.0.0.0\r\nOK\r\n"


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("AT+SOCKET=4,127.0.0.1", "+SOCKET:3"),
        ("AT+SOCKET=4,127.0.0.1,80,0,1,9", "+SOCKET:3"),
        ("AT+SOCKET=3", "+SOCKET:3"),
        ("AT+SOCKETSEND=1", "+SOCKETSEND:3"),
        ("AT+SOCKETSENDLINE=1,3", "+SOCKETSENDLINE:3"),
        ("AT+SOCKETREAD=1,2", "+SOCKETREAD:3"),
        ("AT+SOCKETDEL=1,2", "+SOCKETDEL:3"),
        ("AT+SOCKETRECVCFG=0,1", "+SOCKETRECVCFG:3"),
        ("AT+SOCKETTT=0,1", "+SOCKETTT:3"),
        ("AT+SOCKETAUTOTT=4,127.0.0.1", "+SOCKETAUTOTT:3"),
        ("AT+SSLCRET=1,2,3", "+SSLCRET:3"),
        ("AT+WDOMAIN=a.test,b.test", "+WDOMAIN:3"),
        ("AT+WDNS=1.1.1.1,2.2.2.2,3.3.3.3", "+WDNS:3"),
    ],
)
def test_wrong_parameter_count_answers_code_3(wire: Wire, line: str, code: str) -> None:
    assert wire.command(line, b"ERROR\r\n") == f"{code}\r\nERROR\r\n".encode()


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("AT+SOCKET=9,80", "+SOCKET:4"),
        ("AT+SOCKET=x,80", "+SOCKET:4"),
        ("AT+SOCKET=4,127.0.0.1,70000", "+SOCKET:4"),
        ("AT+SOCKET=4,127.0.0.1,0", "+SOCKET:4"),
        ("AT+SOCKET=4,127.0.0.1,80,7201,0", "+SOCKET:4"),
        ("AT+SOCKETSEND=abc,3", "+SOCKETSEND:4"),
        ("AT+SOCKETREAD=-1", "+SOCKETREAD:4"),
        ("AT+SOCKETREAD=1_0", "+SOCKETREAD:4"),  # (Python's int() would read 10)
        ("AT+SOCKETRECVCFG=+1", "+SOCKETRECVCFG:4"),
        ("AT+SOCKETRECVCFG=2", "+SOCKETRECVCFG:4"),
        ("AT+SOCKETTT=1", "+SOCKETTT:4"),
        ("AT+SOCKETAUTOTT=3,127.0.0.1,80", "+SOCKETAUTOTT:4"),
        ("AT+SOCKETAUTOTT=9,80", "+SOCKETAUTOTT:4"),
        ("AT+SSLCRET=4,10", "+SSLCRET:4"),
        ("AT+SSLCRET=0", "+SSLCRET:4"),
        ("AT+WDNS=not.an.address", "+WDNS:4"),
        ("AT+WDNS=256.1.1.1", "+WDNS:4"),
        ('AT+WDNS="1.1.1.1', "+WDNS:4"),  # an unterminated quote
    ],
)
def test_bad_parameter_value_answers_code_4(wire: Wire, line: str, code: str) -> None:
    assert wire.command(line, b"ERROR\r\n") == f"{code}\r\nERROR\r\n".encode()


def test_seed_types_cannot_be_created(wire: Wire) -> None:
    assert wire.command("AT+SOCKET=5,8000", b"ERROR\r\n") == b"+SOCKET:100\r\nERROR\r\n"
    assert wire.command("AT+SOCKET=8,8000", b"ERROR\r\n") == b"+SOCKET:100\r\nERROR\r\n"


@pytest.mark.parametrize(
    "line", ["AT+SOCKETREAD=7", "AT+SOCKETDEL=7", "AT+SOCKETSEND=7,3", "AT+SOCKETSENDLINE=7,1,x"]
)
def test_an_unknown_conid_answers_code_110(wire: Wire, line: str) -> None:
    name = line[3:].split("=")[0]
    assert wire.command(line, b"ERROR\r\n") == f"+{name}:110\r\nERROR\r\n".encode()
    wire.assert_silent(0.05)  # no prompt: nothing waits for a payload


def test_a_form_a_command_does_not_have_answers_code_1(wire: Wire) -> None:
    assert wire.command("AT+SOCKETREAD?", b"ERROR\r\n") == b"+SOCKETREAD:1\r\nERROR\r\n"
    assert wire.command("AT+GMR=1", b"ERROR\r\n") == b"+GMR:1\r\nERROR\r\n"


def test_a_line_of_256_bytes_is_a_command_and_a_longer_one_is_an_error(wire: Wire) -> None:
    line = "AT+SOCKETSENDLINE=9,200," + "x" * 232
    assert len(line) == 256
    assert wire.command(line, b"ERROR\r\n") == b"+SOCKETSENDLINE:110\r\nERROR\r\n"  # parsed
    assert wire.command("AT+" + "X" * 300, b"ERROR\r\n") == b"ERROR\r\n"
    assert wire.command("AT") == b"OK\r\n"


def test_an_over_long_line_costs_one_error_and_the_next_line_still_works(wire: Wire) -> None:
    wire.write(b"Z" * 1000 + b"\r\nAT\r\n")
    assert wire.read_final() == b"ERROR\r\n"
    assert wire.read_final() == b"OK\r\n"
    wire.assert_silent(0.05)


def test_garbage_bytes_do_not_break_the_module(wire: Wire) -> None:
    garbage = bytes(range(256)).replace(b"\r", b"").replace(b"\n", b"")
    wire.write(garbage + b"\r\n")
    assert wire.read_final() == b"Unknown cmd:" + garbage + b"\r\nERROR\r\n"
    wire.write(b"\x00\xff\x1b[A\r\n\r\n\n")
    assert wire.read_final().endswith(b"ERROR\r\n")
    wire.drain(quiet=0.05)
    assert wire.command("AT") == b"OK\r\n"


def test_blank_lines_are_ignored(wire: Wire) -> None:
    wire.write(b"\r\n\r\n\n\r")
    wire.assert_silent(0.05)
    assert wire.command("AT") == b"OK\r\n"


def test_several_commands_in_one_write_are_answered_in_order(wire: Wire) -> None:
    wire.write(b"AT\r\nAT+NOPE\r\nAT+WDNS?\r\n")
    assert wire.read_final() == b"OK\r\n"
    assert wire.read_final() == b"Unknown cmd:AT+NOPE\r\nERROR\r\n"
    assert wire.read_final() == b"+WDNS:0.0.0.0,0.0.0.0\r\nOK\r\n"


def test_a_command_split_across_writes_is_one_command(wire: Wire) -> None:
    for piece in (b"A", b"T+WD", b"NS", b"?\r", b"\n"):
        wire.write(piece)
    assert wire.read_final() == b"+WDNS:0.0.0.0,0.0.0.0\r\nOK\r\n"


def test_emulator_refuses_a_bad_transport_or_baud() -> None:
    with pytest.raises(ValueError, match="transport"):
        Emulator(transport="usb")
    with pytest.raises(ValueError, match="baud"):
        Emulator(baud=0)


def test_the_host_can_close_and_reopen_the_port(emulator: tuple[Emulator, Wire]) -> None:
    emu, wire = emulator
    wire.command("AT+WDNS=127.0.0.1")
    wire.close()
    with Wire.open(emu.url) as again:
        assert again.command("AT+WDNS?") == b"+WDNS:127.0.0.1,0.0.0.0\r\nOK\r\n"
