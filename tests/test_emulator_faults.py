"""Fault injection in the emulated module: the API tests use to make a module misbehave.

``reset()`` (a spontaneous reboot), ``drop_peer(con_id)`` (the peer vanishes),
``inject(bytes)`` (garbage or fake URCs on the UART), ``drop_output(n)`` and
``drop_input(n)`` (lost bytes each way), ``stall(seconds)`` (a module that goes quiet).
Each fault is in effect when its call returns: bytes written next meet it.
"""

from __future__ import annotations

import socket
import time

import pytest

from at_wire import Wire, free_port
from atsock.emulator import Emulator
from atsock.emulator.machine import BANNER
from peers import TcpCollector, TcpEchoServer

TIMEOUT = 2.0
Conversation = tuple[Emulator, Wire]


def test_reset_reboots_with_banner_and_forgets_every_socket(emulator: Conversation) -> None:
    emu, wire = emulator
    with TcpCollector() as peer:
        wire.open_socket(f"4,127.0.0.1,{peer.address[1]}")
        emu.reset()
        boot = BANNER + b"+EVENT:WIFI_CONNECT\r\n+EVENT:WIFI_GOT_IP\r\n"
        assert wire.read_exactly(len(boot)) == boot
        assert peer.wait_closed(TIMEOUT)  # the module's socket really closed
        assert wire.command("AT+SOCKET?") == b"OK\r\n"
        assert emu.sockets == {}


def test_reset_in_transparent_mode_returns_to_command_mode(emulator: Conversation) -> None:
    emu, wire = emulator
    with TcpEchoServer() as echo:
        wire.open_socket(f"4,127.0.0.1,{echo.address[1]}")
        wire.send_line("AT+SOCKETTT")
        assert wire.read_exactly(1) == b">"
        emu.reset()
        wire.read_until(b"ready\r\n")
        wire.drain(quiet=0.05)
        assert not emu.in_transparent
        assert wire.command("AT") == b"OK\r\n"


def test_reset_while_a_payload_is_expected_drops_the_prompt(emulator: Conversation) -> None:
    emu, wire = emulator
    with TcpCollector() as peer:
        wire.open_socket(f"4,127.0.0.1,{peer.address[1]}")
        wire.send_line("AT+SOCKETSEND=1,100")
        wire.expect_prompt()
        emu.reset()
        wire.read_until(b"ready\r\n")
        wire.drain(quiet=0.05)
        assert wire.command("AT") == b"OK\r\n"  # a command again, not payload


def test_drop_peer_resets_the_connection_and_reports_a_disconnect(
    emulator: Conversation,
) -> None:
    emu, wire = emulator
    port = free_port()
    wire.open_socket(f"3,{port}")
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as client:
        assert wire.read_until(b"\r\n") == b"+EVENT:SocketSeed,2,1\r\n"
        emu.drop_peer(2)
        assert wire.read_until(b"\r\n") == b"+EVENT:SocketDisconnect,2\r\n"
        with pytest.raises(ConnectionResetError):
            client.recv(10)  # RST, not an orderly FIN
    assert wire.command("AT+SOCKET?").splitlines()[1].startswith(b"2,5,2,")


def test_drop_peer_of_an_unknown_conid_does_nothing(emulator: Conversation) -> None:
    emu, wire = emulator
    emu.drop_peer(9)
    wire.assert_silent(0.05)
    assert wire.command("AT") == b"OK\r\n"


def test_inject_writes_bytes_as_if_the_module_sent_them(emulator: Conversation) -> None:
    emu, wire = emulator
    noise = b"\x00\xffgarbage\r\n+EVENT:SocketDown,7,3\r\n"
    emu.inject(noise)
    assert wire.read_exactly(len(noise)) == noise
    assert wire.command("AT") == b"OK\r\n"


def test_drop_output_loses_the_next_n_bytes_to_the_host(emulator: Conversation) -> None:
    emu, wire = emulator
    emu.drop_output(4)
    wire.send_line("AT+WDNS?")
    assert wire.read_final() == b"S:0.0.0.0,0.0.0.0\r\nOK\r\n"  # "+WDN" lost
    assert wire.command("AT") == b"OK\r\n"  # only those four


def test_drop_output_can_swallow_a_whole_reply(emulator: Conversation) -> None:
    emu, wire = emulator
    emu.drop_output(4)
    wire.send_line("AT")
    wire.assert_silent(0.1)
    assert wire.command("AT") == b"OK\r\n"


def test_drop_input_loses_the_next_n_bytes_from_the_host(emulator: Conversation) -> None:
    emu, wire = emulator
    emu.drop_input(6)
    wire.write(b"AT+GMR\r\nAT+WDNS?\r\n")  # "AT+GMR" lost; its line end is a blank line
    assert wire.read_final() == b"+WDNS:0.0.0.0,0.0.0.0\r\nOK\r\n"
    wire.assert_silent(0.05)


def test_drop_input_mangles_a_command(emulator: Conversation) -> None:
    emu, wire = emulator
    emu.drop_input(2)
    assert wire.command("ATE0", b"ERROR\r\n") == b"Unknown cmd:E0\r\nERROR\r\n"


def test_stall_holds_replies_for_the_given_time(emulator: Conversation) -> None:
    emu, wire = emulator
    for _ in range(5):  # in effect on return, every time: the next command meets it
        emu.stall(0.2)
        started = time.monotonic()
        wire.send_line("AT")
        assert wire.read_final(TIMEOUT) == b"OK\r\n"
        assert 0.18 <= time.monotonic() - started < 1.0


def test_stall_holds_output_already_queued(emulator: Conversation) -> None:
    emu, wire = emulator
    emu.stall(0.3)
    emu.inject(b"late\r\n")
    wire.assert_silent(0.15)
    assert wire.read_until(b"late\r\n", TIMEOUT) == b"late\r\n"
