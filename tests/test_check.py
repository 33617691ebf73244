"""``atsock check``: the spec checked against whatever answers on a URL. Against the
emulator every check passes (from the command line, as a user runs it, and in Python);
against broken firmware — a module answering ERROR or OK to everything, and emulators
with one command made wrong — each check fails, says why and shows the wire's bytes,
within its time; the settings a run changes are put back, after Ctrl-C too."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from atsock.check import CHECKS, CheckOptions, run_checks, select
from atsock.check.context import free_port
from atsock.emulator import Emulator
from atsock.sync.module import Module
from atsock.types import CertKind, SocketType
from fake_module import FakeModule

ATSOCK = [sys.executable, "-m", "atsock"]
#: What the emulator's settings are before a run (each one the run changes).
BEFORE_CA = b"-----BEGIN CERTIFICATE-----\nbefore the run\n-----END CERTIFICATE-----\n"
BEFORE_DNS = "127.0.0.53"


@pytest.fixture
def dns_port() -> int:
    return free_port(socket.SOCK_DGRAM)


@pytest.fixture
def emulator(dns_port: int) -> Iterator[Emulator]:
    with Emulator(dns_port=dns_port, transport="tcp") as emu:
        yield emu


def _options(dns_port: int, timeout: float = 5.0) -> CheckOptions:
    return CheckOptions(dns_port=dns_port, timeout=timeout)


def _settings(url: str) -> tuple[bytes, tuple[str, ...], int]:
    with Module(url, timeout=5) as m:
        return m.certificate(CertKind.CA), m.dns_servers(), int(m.auto_transparent().type)


def _preset(url: str) -> None:
    with Module(url, timeout=5) as m:
        m.set_certificate(CertKind.CA, BEFORE_CA)
        m.set_dns_servers(BEFORE_DNS)
        m.set_auto_transparent(SocketType.UDP_SERVER, None, 4321)


def test_every_check_passes_on_the_emulator_and_the_settings_come_back(
    emulator: Emulator, dns_port: int
) -> None:
    _preset(emulator.url)
    before = _settings(emulator.url)
    report = run_checks(emulator.url, CHECKS, _options(dns_port), exit_delay=0.05)
    failures = {r.name: r.detail for r in report.results if not r.passed}
    assert failures == {}
    assert [r.name for r in report.results] == [c.name for c in CHECKS]
    assert report.leftovers == [] and report.passed
    assert _settings(emulator.url) == before
    details = {r.name: r.detail for r in report.results}
    assert details["socketread"].startswith("3 reads of 1024, 1024, ")
    assert details["socketsend-packets"] == "datagrams of 1024, 1024, 452 bytes"
    assert "error 109" in details["ssl-client"]  # the foreign CA was refused


def test_the_command_line_prints_a_table_and_exits_0(dns_port: int) -> None:
    emulate = subprocess.Popen(
        [*ATSOCK, "emulate", "--pty", "--dns-port", str(dns_port)], stdout=subprocess.PIPE
    )
    try:
        assert emulate.stdout is not None
        url = emulate.stdout.readline().decode().strip()
        done = subprocess.run(
            [*ATSOCK, "check", url, "--dns-port", str(dns_port)],
            capture_output=True,
            timeout=120,
        )
        table = done.stdout.decode()
        assert done.returncode == 0, table + done.stderr.decode()
        for known in CHECKS:
            assert any(line.split()[:2] == [known.name, "pass"] for line in table.splitlines())
        assert f"{len(CHECKS)} of {len(CHECKS)} checks passed on {url}" in table
        progress = done.stderr.decode().splitlines()
        assert progress[0].startswith(f"[1/{len(CHECKS)}] at: pass")

        done = subprocess.run(
            [*ATSOCK, "check", url, "--dns-port", str(dns_port), "--json",
             "--only", "at,socketread", "--skip", "at"],
            capture_output=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr.decode()
        report = json.loads(done.stdout)
        assert report["passed"] is True
        assert [c["name"] for c in report["checks"]] == ["socketread"]
    finally:
        emulate.send_signal(signal.SIGTERM)
        emulate.wait(10)
        assert emulate.stdout is not None
        emulate.stdout.close()


def test_bad_names_are_usage_errors() -> None:
    done = subprocess.run([*ATSOCK, "check", "x", "--only", "nonsense"], capture_output=True)
    assert done.returncode == 2
    assert b"no check called nonsense (the checks: at, tcp-client," in done.stderr
    done = subprocess.run([*ATSOCK, "check"], capture_output=True)
    assert done.returncode == 2 and b"URL of the module to check is required" in done.stderr
    done = subprocess.run([*ATSOCK, "check", "--list"], capture_output=True)
    assert done.returncode == 0
    assert [line.split()[0] for line in done.stdout.decode().splitlines()] == [
        c.name for c in CHECKS
    ]


@pytest.mark.parametrize("answer", [b"ERROR\r\n", b"OK\r\n"], ids=["error", "ok"])
def test_every_check_fails_on_firmware_that_answers_one_thing(answer: bytes) -> None:
    with FakeModule() as fake:
        fake.default = (answer,)
        fake.auto[b"AT"] = (b"OK\r\n",)
        started = time.monotonic()
        report = run_checks(fake.url, CHECKS, _options(free_port(socket.SOCK_DGRAM), 0.5))
        took = time.monotonic() - started
    passed = [r.name for r in report.results if r.passed]
    # "AT" is all such firmware gets right
    assert passed == ["at"], {r.name: r.detail for r in report.results}
    for r in report.results[1:]:
        assert r.detail, f"{r.name} failed without saying why"
        assert r.sent, f"{r.name}: no evidence of what was sent"
    assert not report.passed
    # each check within its budget (0.5 s) and its clean-up, the whole run in seconds
    assert took < len(CHECKS) * 3


Breakage = Callable[[Emulator], None]


def _autott_forgets_the_port(emu: Emulator) -> None:
    real = emu.commands.handlers["SOCKETAUTOTT"]

    def handler(form: str, params: list[bytes]) -> None:
        if form == "query":
            emu.firmware.line("+SOCKETAUTOTT:4,127.0.0.1,1")
            emu.firmware.ok()
        else:
            real(form, params)

    emu.commands.handlers["SOCKETAUTOTT"] = handler


def _wdns_ignores_its_servers(emu: Emulator) -> None:
    emu.commands.handlers["WDNS"] = lambda form, params: (
        emu.firmware.line("+WDNS:0.0.0.0,0.0.0.0"),
        emu.firmware.ok(),
    )


#: the truncated certificate's detail (its size varies by a few bytes per generated one)
ONE_BYTE_SHORT = re.compile(
    r"AT\+SSLCRET=1 gives (?P<got>\d+) bytes back, not the (?P<set>\d+) set"
)


def _sslcret_truncates(emu: Emulator) -> None:
    real = emu.commands.handlers["SSLCRET"]

    def handler(form: str, params: list[bytes]) -> None:
        if form == "set" and len(params) == 1:
            kind = int(params[0])
            body = emu.flash.certs.get(kind, b"")[:-1]
            emu.firmware.emit(b"+SSLCRET:%d,%d,%s\r\n" % (kind, len(body), body))
            emu.firmware.ok()
        else:
            real(form, params)

    emu.commands.handlers["SSLCRET"] = handler


def _socketdel_does_nothing(emu: Emulator) -> None:
    emu.commands.handlers["SOCKETDEL"] = lambda form, params: emu.firmware.ok()


@pytest.mark.parametrize(
    ("breakage", "name", "why"),
    [
        (_autott_forgets_the_port, "autott", "AT+SOCKETAUTOTT? gives 4,127.0.0.1,1, not 4,"),
        (_wdns_ignores_its_servers, "wdns", "AT+WDNS? gives 0.0.0.0,0.0.0.0, not 127.0.0.1"),
        (_sslcret_truncates, "sslcret", ONE_BYTE_SHORT),
        (_socketdel_does_nothing, "socketdel", "AT+SOCKET? still lists ConID 1 after AT+SOCKETDEL"),
    ],
)
def test_a_wrong_command_fails_its_check_and_says_why(
    dns_port: int, breakage: Breakage, name: str, why: str | re.Pattern[str]
) -> None:
    with Emulator(dns_port=dns_port) as emu:
        breakage(emu)
        report = run_checks(emu.url, select([name], None), _options(dns_port), exit_delay=0.05)
    [result] = report.results
    assert not result.passed
    if isinstance(why, re.Pattern):
        match = why.search(result.detail)
        assert match and int(match["got"]) == int(match["set"]) - 1, result.detail
    else:
        assert why in result.detail
    assert result.received, "no evidence of what the module answered"


def test_ctrl_c_puts_the_settings_back(emulator: Emulator, dns_port: int) -> None:
    _preset(emulator.url)
    before = _settings(emulator.url)
    emulator.commands.handlers["WDOMAIN"] = lambda form, params: None  # never answers
    run = subprocess.Popen(
        [*ATSOCK, "check", emulator.url, "--dns-port", str(dns_port), "--timeout", "30",
         "--only", "wdns,wdomain"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert run.stderr is not None
    assert run.stderr.readline().startswith(b"[1/2] wdns: pass")
    time.sleep(0.5)  # (in wdomain's wait now)
    run.send_signal(signal.SIGINT)
    _, err = run.communicate(timeout=30)
    assert run.returncode == 130, err
    assert b"interrupted" in err
    assert _settings(emulator.url) == before


def test_a_dead_module_fails_every_check_within_its_timeout() -> None:
    with FakeModule() as fake:  # answers nothing at all
        started = time.monotonic()
        report = run_checks(fake.url, CHECKS, _options(free_port(socket.SOCK_DGRAM), 0.2))
        took = time.monotonic() - started
    assert [r.passed for r in report.results] == [False] * len(CHECKS)
    assert all(r.seconds < 0.2 + 1.0 for r in report.results), [r.seconds for r in report.results]
    assert report.leftovers and report.leftovers[0].startswith("settings not saved")
    assert took < 0.2 * (len(CHECKS) + 1) + 10


def test_settings_come_back_after_a_check_that_timed_out_leaving_the_module_busy() -> None:
    """A lookup on a DNS server that never answers outlasts a 0.3 s check: the module is
    still busy when the settings go back, which wait for it, so nothing is left over."""
    silent_dns = free_port(socket.SOCK_DGRAM)  # (nothing listens: the lookup waits)
    with Emulator(dns_port=silent_dns, transport="tcp") as emu:
        _preset(emu.url)
        before = _settings(emu.url)
        checks_dns = free_port(socket.SOCK_DGRAM)  # (the checks' server: not the module's)
        report = run_checks(emu.url, select(["wdomain"], None), _options(checks_dns, 0.3))
        assert not report.passed  # (the lookup got no answer in time)
        assert report.leftovers == []
        assert _settings(emu.url) == before
