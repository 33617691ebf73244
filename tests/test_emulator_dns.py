"""Names in the emulated module: AT+WDNS, AT+WDOMAIN, sockets opened by name, busy.

A local DnsServer (tests/peers.py) answers a test name; the emulator's ``dns_port``
option points the servers set with AT+WDNS at its port, so every lookup provably goes
through the configured server. A silent server makes AT+WDOMAIN slow, which is when
the module answers other commands with ``[Busy]Cmd running``.
"""

from __future__ import annotations

import time

import pytest

from at_wire import EmulatorFactory, Wire
from peers import DnsServer, TcpEchoServer

TIMEOUT = 2.0
NAME = "module.atsock.test"
ADDRESS = "10.20.30.40"


@pytest.fixture
def dns() -> DnsServer:
    with DnsServer({NAME: ADDRESS, "echo.atsock.test": "127.0.0.1"}) as server:
        yield server  # type: ignore[misc]


def test_wdns_is_unset_by_default(wire: Wire) -> None:
    assert wire.command("AT+WDNS?") == b"+WDNS:0.0.0.0,0.0.0.0\r\nOK\r\n"


def test_wdns_sets_one_server(wire: Wire) -> None:
    assert wire.command("AT+WDNS=114.114.114.114") == b"+WDNS:114.114.114.114\r\nOK\r\n"
    assert wire.command("AT+WDNS?") == b"+WDNS:114.114.114.114,0.0.0.0\r\nOK\r\n"


def test_wdns_sets_two_quoted_servers(wire: Wire) -> None:
    assert wire.command('AT+WDNS="127.0.0.1","8.8.8.8"') == b"+WDNS:127.0.0.1,8.8.8.8\r\nOK\r\n"
    assert wire.command("AT+WDNS?") == b"+WDNS:127.0.0.1,8.8.8.8\r\nOK\r\n"


def test_wdomain_resolves_through_the_configured_server(
    make_emulator: EmulatorFactory, dns: DnsServer
) -> None:
    _, wire = make_emulator(dns_port=dns.port)
    wire.command(f"AT+WDNS={dns.host}")
    assert wire.command(f"AT+WDOMAIN={NAME}") == f"+WDOMAIN:{ADDRESS}\r\nOK\r\n".encode()
    assert dns.queries == [NAME]


def test_wdomain_uses_the_second_server_when_the_first_is_unset(
    make_emulator: EmulatorFactory, dns: DnsServer
) -> None:
    # Moving past a dead first server is the resolver's (tests/test_peers.py, a dead
    # server on [::1]); AT+WDNS takes IPv4 only and tests may use no address but
    # 127.0.0.1, so here the first server is unset and the second one answers.
    _, wire = make_emulator(dns_port=dns.port, connect_timeout=0.2)
    wire.command(f"AT+WDNS=0.0.0.0,{dns.host}")
    reply = wire.command(f"AT+WDOMAIN={NAME}", timeout=TIMEOUT)
    assert reply.endswith(f"+WDOMAIN:{ADDRESS}\r\nOK\r\n".encode())
    assert dns.queries == [NAME]


def test_wdomain_of_an_ip_literal_needs_no_server(wire: Wire) -> None:
    assert wire.command("AT+WDOMAIN=192.168.3.1") == b"+WDOMAIN:192.168.3.1\r\nOK\r\n"


def test_wdomain_of_an_unknown_name_answers_code_98(
    make_emulator: EmulatorFactory, dns: DnsServer
) -> None:
    _, wire = make_emulator(dns_port=dns.port)
    wire.command(f"AT+WDNS={dns.host}")
    reply = wire.command("AT+WDOMAIN=nowhere.atsock.test", b"ERROR\r\n")
    assert reply == b"+WDOMAIN:98\r\nERROR\r\n"
    assert dns.queries == ["nowhere.atsock.test"]


@pytest.mark.parametrize("name", ["bad name.test", "a..b", "x" * 64 + ".test"])
def test_wdomain_of_an_invalid_name_answers_code_98_without_a_query(
    make_emulator: EmulatorFactory, dns: DnsServer, name: str
) -> None:
    _, wire = make_emulator(dns_port=dns.port)
    wire.command(f"AT+WDNS={dns.host}")
    assert wire.command(f'AT+WDOMAIN="{name}"', b"ERROR\r\n") == b"+WDOMAIN:98\r\nERROR\r\n"
    assert dns.queries == []


def test_a_client_socket_opened_by_name_resolves_through_the_server(
    make_emulator: EmulatorFactory, dns: DnsServer
) -> None:
    _, wire = make_emulator(dns_port=dns.port)
    wire.command(f"AT+WDNS={dns.host}")
    with TcpEchoServer() as echo:
        port = echo.address[1]
        assert wire.open_socket(f"4,echo.atsock.test,{port}") == 1
        assert "echo.atsock.test" in dns.queries
        row = f"1,4,1,echo.atsock.test,{port},-1,-1\r\nOK\r\n".encode()
        assert wire.command("AT+SOCKET?") == row
        failed = wire.command(f"AT+SOCKET=4,unknown.atsock.test,{port}", b"ERROR\r\n")
        assert failed == b"+SOCKET:98\r\nERROR\r\n"


def test_the_module_is_busy_while_a_lookup_runs(make_emulator: EmulatorFactory) -> None:
    with DnsServer({}, silent=True) as silent:
        _, wire = make_emulator(dns_port=silent.port, connect_timeout=0.5)
        wire.command(f"AT+WDNS={silent.host}")
        started = time.monotonic()
        wire.send_line(f"AT+WDOMAIN={NAME}")
        time.sleep(0.05)
        wire.send_line("AT")
        assert wire.read_until(b"\r\n") == b"[Busy]Cmd running\r\n"
        assert wire.read_final(TIMEOUT) == b"+WDOMAIN:98\r\nERROR\r\n"
        assert time.monotonic() - started >= 0.45  # the whole timeout was waited for
        assert silent.queries == [NAME]
        assert wire.command("AT") == b"OK\r\n"  # not busy any more


def test_a_reset_ends_a_running_lookup_without_a_stale_reply(
    make_emulator: EmulatorFactory,
) -> None:
    with DnsServer({}, silent=True) as silent:
        emu, wire = make_emulator(dns_port=silent.port, connect_timeout=0.4)
        wire.command(f"AT+WDNS={silent.host}")
        wire.send_line(f"AT+WDOMAIN={NAME}")
        time.sleep(0.05)
        emu.reset()
        wire.read_until(b"+EVENT:WIFI_GOT_IP\r\n")
        assert wire.command("AT") == b"OK\r\n"  # a rebooted module is not busy
        time.sleep(0.5)  # the abandoned lookup has timed out by now
        wire.assert_silent(0.1)  # and its result is not printed
        assert wire.command("AT") == b"OK\r\n"
