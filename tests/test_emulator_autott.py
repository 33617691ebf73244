"""Auto-transparent mode and the module's flash: what survives AT+RST and restarts.

AT+SOCKETAUTOTT set/query/disable; with AT+WAUTOCONN and AT+WJAP, a reboot prints the
banner, ``ready``, the Wi-Fi events, ``connect success ConID=1``, ``OK``, ``>`` and
the module is transparent. The flash (echo, DNS, certificates, auto-transparent,
access point) survives AT+RST, and with a state file (written 0600) a restart too.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import time
from pathlib import Path

import pytest

from at_wire import EmulatorFactory, Wire, free_port
from atsock.emulator import Emulator
from atsock.emulator.machine import BANNER
from peers import DnsServer, TcpEchoServer, UdpPeer, wait_until

TIMEOUT = 2.0
WIFI_EVENTS = b"+EVENT:WIFI_CONNECT\r\n+EVENT:WIFI_GOT_IP\r\n"


def reboot(wire: Wire) -> bytes:
    """AT+RST; returns everything from the banner up to the Wi-Fi events (or ``ready``)."""
    assert wire.command("AT+RST") == b"OK\r\n"
    return wire.read_until(b"ready\r\n") + wire.drain(quiet=0.1)


def escape(wire: Wire) -> None:
    time.sleep(0.08)
    wire.write(b"+++")
    assert wire.read_until(b"\r\nOK\r\n") == b"\r\nOK\r\n"


# ---- AT+SOCKETAUTOTT ----------------------------------------------------------------------


def test_socketautott_is_disabled_by_default(wire: Wire) -> None:
    assert wire.command("AT+SOCKETAUTOTT?") == b"+SOCKETAUTOTT:0,,-1\r\nOK\r\n"


@pytest.mark.parametrize(
    ("params", "query"),
    [
        ("4,127.0.0.1,60000", "4,127.0.0.1,60000"),
        ("2,example.test,23333", "2,example.test,23333"),
        ("7,127.0.0.1,443", "7,127.0.0.1,443"),
        ("1,10086", "1,,10086"),
        ("1,,10086", "1,,10086"),
    ],
)
def test_socketautott_set_is_queried_back(wire: Wire, params: str, query: str) -> None:
    assert wire.command(f"AT+SOCKETAUTOTT={params}") == b"OK\r\n"
    assert wire.command("AT+SOCKETAUTOTT?") == f"+SOCKETAUTOTT:{query}\r\nOK\r\n".encode()


def test_socketautott_0_disables_it(wire: Wire) -> None:
    wire.command("AT+SOCKETAUTOTT=4,127.0.0.1,60000")
    assert wire.command("AT+SOCKETAUTOTT=0") == b"OK\r\n"
    assert wire.command("AT+SOCKETAUTOTT?") == b"+SOCKETAUTOTT:0,,-1\r\nOK\r\n"


@pytest.mark.parametrize("kind", [3, 5, 6, 8])
def test_socketautott_placeholder_types_are_bad_values(wire: Wire, kind: int) -> None:
    reply = wire.command(f"AT+SOCKETAUTOTT={kind},127.0.0.1,80", b"ERROR\r\n")
    assert reply == b"+SOCKETAUTOTT:4\r\nERROR\r\n"


def test_boot_with_autott_connects_and_enters_transparent_mode(wire: Wire) -> None:
    with TcpEchoServer() as echo:
        assert wire.command("AT+WAUTOCONN=1") == b"OK\r\n"
        assert wire.command('AT+WJAP="lab ap","pass,word"') == b"OK\r\n"
        assert wire.read_exactly(len(WIFI_EVENTS)) == WIFI_EVENTS
        assert wire.command(f"AT+SOCKETAUTOTT=4,127.0.0.1,{echo.address[1]}") == b"OK\r\n"
        assert wire.command("AT+RST") == b"OK\r\n"
        boot = BANNER + WIFI_EVENTS + b"connect success ConID=1\r\nOK\r\n>"
        assert wire.read_exactly(len(boot)) == boot
        wire.write(b"straight through")
        assert wire.read_exactly(16) == b"straight through"
        escape(wire)
        assert wire.command("AT+SOCKET?") == (
            f"1,4,1,127.0.0.1,{echo.address[1]},-1,-1\r\nOK\r\n".encode()
        )


def test_boot_with_autott_udp_server_waits_in_transparent_mode(wire: Wire) -> None:
    port = free_port(socket.SOCK_DGRAM)
    wire.command(f"AT+SOCKETAUTOTT=1,{port}")
    boot = BANNER + WIFI_EVENTS + b"connect success ConID=1\r\nOK\r\n>"
    assert wire.command("AT+RST") == b"OK\r\n"
    assert wire.read_exactly(len(boot)) == boot
    with UdpPeer() as peer:
        peer.sendto(b"hello", ("127.0.0.1", port))
        assert wire.read_exactly(5) == b"hello"
        wire.write(b"back")
        assert peer.recv(TIMEOUT)[0] == b"back"
    escape(wire)


def test_boot_with_autott_to_a_dead_peer_reports_the_failure_in_command_mode(
    wire: Wire,
) -> None:
    port = free_port()
    wire.command(f"AT+SOCKETAUTOTT=4,127.0.0.1,{port}")
    assert wire.command("AT+RST") == b"OK\r\n"
    boot = BANNER + WIFI_EVENTS + b"+SOCKET:97\r\nERROR\r\n"
    assert wire.read_exactly(len(boot)) == boot
    assert wire.command("AT") == b"OK\r\n"
    # the configured connection stays listed, as ConnectFail (status 4), until deleted
    assert wire.command("AT+SOCKET?") == f"1,4,4,127.0.0.1,{port},-1,-1\r\nOK\r\n".encode()
    assert wire.command("AT+SOCKETDEL=1") == b"OK\r\n"
    assert wire.command("AT+SOCKET?") == b"OK\r\n"


def test_while_the_boot_connects_the_query_shows_it_connecting(
    make_emulator: EmulatorFactory,
) -> None:
    with DnsServer({}, silent=True) as dns:  # a name that takes the whole timeout to fail
        _, wire = make_emulator(dns_port=dns.port, connect_timeout=1.0)
        wire.command("AT+WDNS=127.0.0.1")
        wire.command("AT+SOCKETAUTOTT=4,slow.example,7")
        assert wire.command("AT+RST") == b"OK\r\n"
        assert wire.read_exactly(len(BANNER + WIFI_EVENTS)) == BANNER + WIFI_EVENTS
        # the boot's connect runs in the background: commands are answered meanwhile
        assert wire.command("AT+SOCKET?") == b"1,4,3,slow.example,7,-1,-1\r\nOK\r\n"
        assert wire.read_until(b"ERROR\r\n", timeout=5.0).endswith(b"+SOCKET:98\r\nERROR\r\n")
        assert wire.command("AT+SOCKET?") == b"1,4,4,slow.example,7,-1,-1\r\nOK\r\n"


def test_without_wautoconn_the_module_boots_offline_and_autott_waits(wire: Wire) -> None:
    with TcpEchoServer() as echo:
        wire.command(f"AT+SOCKETAUTOTT=4,127.0.0.1,{echo.address[1]}")
        assert wire.command("AT+WAUTOCONN=0") == b"OK\r\n"
        assert wire.command("AT+WAUTOCONN?") == b"+WAUTOCONN:0\r\nOK\r\n"
        assert reboot(wire) == BANNER  # no Wi-Fi, so no socket
        assert wire.command("AT+WJAP?") == b"OK\r\n"
        refused = wire.command(f"AT+SOCKET=4,127.0.0.1,{echo.address[1]}", b"ERROR\r\n")
        assert refused == b"+SOCKET:99\r\nERROR\r\n"
        assert wire.command("AT+WJAP") == b"OK\r\n"  # join the saved access point
        assert wire.read_exactly(len(WIFI_EVENTS)) == WIFI_EVENTS
        assert wire.command("AT+WJAP?") == b"+WJAP:atsock-emulator\r\nOK\r\n"
        assert wire.open_socket(f"4,127.0.0.1,{echo.address[1]}") == 1


# ---- flash across AT+RST ------------------------------------------------------------------


def test_settings_survive_rst(make_emulator: EmulatorFactory) -> None:
    _, wire = make_emulator(echo=None)
    wire.command("ATE0")
    wire.command("AT+WDNS=127.0.0.1,127.0.0.2")
    wire.set_certificate(1, b"-----CA-----")
    wire.command("AT+SOCKETAUTOTT=2,peer.test,5000")
    wire.command("AT+WAUTOCONN=0")  # so the boot does not try the auto-transparent peer
    assert reboot(wire) == BANNER
    assert wire.command("AT") == b"OK\r\n"  # still no echo
    assert wire.command("AT+WDNS?") == b"+WDNS:127.0.0.1,127.0.0.2\r\nOK\r\n"
    assert wire.command("AT+SSLCRET=1") == b"+SSLCRET:1,12,-----CA-----\r\nOK\r\n"
    assert wire.command("AT+SOCKETAUTOTT?") == b"+SOCKETAUTOTT:2,peer.test,5000\r\nOK\r\n"
    assert wire.command("AT+WAUTOCONN?") == b"+WAUTOCONN:0\r\nOK\r\n"


# ---- flash across restarts (state file) ---------------------------------------------------


def test_state_file_is_private_and_carries_settings_across_restarts(
    transport: str, tmp_path: Path
) -> None:
    path = tmp_path / "flash.json"
    with Emulator(transport=transport, state=path) as emu, Wire.open(emu.url) as wire:
        assert wire.command("AT") == b"AT\r\nOK\r\n"  # echo on: the default
        wire.command("ATE0")
        assert wait_until(path.exists)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        wire.command("AT+WDNS=127.0.0.9")
        wire.set_certificate(3, b"-----KEY-----\n")
        wire.command("AT+SOCKETAUTOTT=4,peer.test,5000")
        wire.command("AT+WAUTOCONN=0")
        wire.command('AT+WJAP="my ap",secret')
        wire.drain(quiet=0.05)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "secret" in path.read_text()  # the password is why the file is private
    with Emulator(transport=transport, state=path) as emu, Wire.open(emu.url) as wire:
        assert wire.command("AT") == b"OK\r\n"  # echo still off
        assert wire.command("AT+WDNS?") == b"+WDNS:127.0.0.9,0.0.0.0\r\nOK\r\n"
        assert wire.command("AT+SSLCRET=3") == b"+SSLCRET:3,14,-----KEY-----\n\r\nOK\r\n"
        assert wire.command("AT+SOCKETAUTOTT?") == b"+SOCKETAUTOTT:4,peer.test,5000\r\nOK\r\n"
        assert wire.command("AT+WAUTOCONN?") == b"+WAUTOCONN:0\r\nOK\r\n"
        assert wire.command("AT+WJAP?") == b"OK\r\n"  # saved, but not joined at boot
        wire.command("AT+WJAP")
        assert wire.read_exactly(len(WIFI_EVENTS)) == WIFI_EVENTS
        assert wire.command("AT+WJAP?") == b"+WJAP:my ap\r\nOK\r\n"


def test_state_file_is_written_0600_whatever_the_umask(transport: str, tmp_path: Path) -> None:
    path = tmp_path / "flash.json"
    old = os.umask(0o000)
    try:
        with Emulator(transport=transport, state=path) as emu, Wire.open(emu.url) as wire:
            wire.command("AT+WDNS=127.0.0.1")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["dns"] == ["127.0.0.1", "0.0.0.0"]
    assert [p.name for p in tmp_path.iterdir()] == ["flash.json"]  # no temporary left behind


def test_a_corrupt_state_file_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "flash.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="state file"):
        Emulator(state=path)


def test_autott_udp_server_hears_peers_after_a_reset_that_closed_other_sockets(
    emulator: tuple[Emulator, Wire],
) -> None:
    emu, wire = emulator
    port = free_port(socket.SOCK_DGRAM)
    with UdpPeer() as peer:
        wire.open_socket(f"2,127.0.0.1,{peer.address[1]}")  # closed by the reset
        wire.command(f"AT+SOCKETAUTOTT=1,{port}")
        emu.reset()
        wire.read_until(b"connect success ConID=1\r\nOK\r\n>")
        peer.sendto(b"still heard", ("127.0.0.1", port))
        assert wire.read_exactly(11) == b"still heard"
