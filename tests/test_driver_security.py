"""Nothing a user passes can inject a command; secrets never reach traces, reprs or errors."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import atsock
from atsock import MAX_COMMAND_LINE, CertKind, SocketType, parse_params
from atsock.emulator import Emulator
from atsock.protocol.exchange import Pending
from atsock.sync.command_path import CommandPath
from driver_fixtures import *  # noqa: F403  (the fixtures)
from driver_fixtures import open_module
from fake_module import FakeModule, Step
from peers import TcpCollector, TlsCertificates, wait_until

ROW1 = b"1,4,1,127.0.0.1,9000,-1,-1\r\n"
SEND = re.compile(rb"AT\+SOCKETSEND=1,(\d+)")


def answer_everything(line: bytes) -> Step | None:
    """A well-behaved module for the property tests: every command succeeds."""
    if line == b"AT+SOCKET?":
        return Step(line, (ROW1, b"OK\r\n"))
    if line.startswith(b"AT+SOCKET="):
        return Step(line, (b"connect success ConID=1\r\nOK\r\n",))
    if line.startswith(b"AT+WDOMAIN="):
        return Step(line, (b"+WDOMAIN:10.0.0.1\r\nOK\r\n",))
    match = SEND.fullmatch(line)
    if match:
        return Step(line, (b">",), payload=int(match.group(1)), after=(b"\r\nOK\r\n",))
    return Step(line, (b"OK\r\n",))


@pytest.fixture
def talkative_fake() -> Iterator[tuple[FakeModule, atsock.Module]]:
    with FakeModule() as fake:
        fake.responder = answer_everything
        with open_module(fake.url) as m:
            yield fake, m


def lines_during(fake: FakeModule, action: object) -> list[bytes]:
    before = len(fake.lines)
    assert callable(action)
    action()
    return fake.lines[before:]


# ---- no injection through data or names -----------------------------------------------------

DATA = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300),
    st.text(alphabet='AT+,"\\\r\n;= ', max_size=40),
)


def test_send_line_is_always_exactly_one_command(
    talkative_fake: tuple[FakeModule, atsock.Module],
) -> None:
    fake, m = talkative_fake

    @settings(max_examples=150, deadline=None)
    @given(DATA)
    def check(data: str | bytes) -> None:
        raw = data.encode() if isinstance(data, str) else data
        payloads = len(fake.payloads)
        lines = lines_during(fake, lambda: m.send_line(1, data))
        lines = [line for line in lines if line != b"AT+SOCKET?"]  # the ConID check
        if not raw:
            assert lines == []
            return
        assert len(lines) == 1, lines
        (line,) = lines
        if line.startswith(b"AT+SOCKETSENDLINE="):
            assert b"\r" not in raw and b"\n" not in raw
            assert len(line) + 2 <= MAX_COMMAND_LINE + 2
            assert parse_params(line[len(b"AT+SOCKETSENDLINE=") :]) == [
                b"1",
                str(len(raw)).encode(),
                raw,
            ]
        else:
            assert line == b"AT+SOCKETSEND=1,%d" % len(raw)
            assert fake.payloads[payloads:] == [raw]

    check()
    assert fake.unexpected == []


HOSTS = st.one_of(
    st.text(max_size=60),
    st.text(alphabet='abc.-_:0123456789,"\\ \r\n+=?', max_size=30),
    st.from_regex(r"[a-z0-9.-]{1,40}", fullmatch=True),
)


def test_host_names_never_break_a_command_line(
    talkative_fake: tuple[FakeModule, atsock.Module],
) -> None:
    fake, m = talkative_fake

    @settings(max_examples=150, deadline=None)
    @given(HOSTS)
    def check(host: str) -> None:
        for command, prefix, expected in [
            (lambda: m.open_socket(SocketType.TCP_CLIENT, host, 80), b"AT+SOCKET=", [b"4"]),
            (lambda: m.resolve(host), b"AT+WDOMAIN=", []),
            (
                lambda: m.set_auto_transparent(SocketType.TCP_CLIENT, host, 80),
                b"AT+SOCKETAUTOTT=",
                [b"4"],
            ),
        ]:
            try:
                lines = lines_during(fake, command)
            except ValueError:
                continue  # refused before anything was sent
            assert len(lines) == 1, lines
            params = parse_params(lines[0][len(prefix) :])
            tail = [b"80"] if expected else []
            assert lines[0].startswith(prefix)
            assert params == [*expected, host.encode(), *tail]

    check()
    assert fake.unexpected == []


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_wifi_credentials_are_one_parameter_each(ssid: str, password: str) -> None:
    values = [ssid, password] if password else [ssid]
    if any("\r" in v or "\n" in v for v in values):
        with pytest.raises(ValueError):
            atsock.format_params(values)
        return
    line = b"AT+WJAP=" + atsock.format_params(values)
    assert parse_params(line[len(b"AT+WJAP=") :]) == [v.encode() for v in values]


def test_wifi_credentials_with_line_breaks_are_refused(
    talkative_fake: tuple[FakeModule, atsock.Module],
) -> None:
    fake, m = talkative_fake
    with pytest.raises(ValueError):
        m.join_wifi("net", "pass\r\nAT+RST")
    m.join_wifi('my "net", 5G', "p\\w,d")
    assert parse_params(fake.lines[-1][len(b"AT+WJAP=") :]) == [b'my "net", 5G', b"p\\w,d"]


def test_raw_command_lines_cannot_hold_line_breaks(module: atsock.Module) -> None:
    with pytest.raises(ValueError):
        module.command("AT\r\nAT+RST")
    module.at()


def test_send_line_against_the_emulator_arrives_intact(collector: TcpCollector) -> None:
    texts: list[str] = []
    with Emulator(transport="pty", echo=False) as emu, open_module(emu.url) as m:
        cid = m.open_socket(SocketType.TCP_CLIENT, *collector.address)

        @settings(max_examples=40, deadline=None)
        @given(st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=120))
        def check(text: str) -> None:
            m.send_line(cid, text)
            texts.append(text)

        check()
        m.delete(cid)
    assert collector.data() == "".join(texts).encode()


# ---- certificates never leak --------------------------------------------------------------


def _leaks(secret: bytes, text: str) -> list[str]:
    """Pieces of ``secret`` (as text or as a hexdump would show them) found in ``text``."""
    body = b"".join(line for line in secret.splitlines() if line and not line.startswith(b"-----"))
    found = []
    for start in range(0, len(body) - 8, 4):
        piece = body[start : start + 8]
        if piece.decode() in text:
            found.append(piece.decode())
        hexed = " ".join(f"{b:02X}" for b in piece)
        if hexed in text:
            found.append(hexed)
    return found


def test_certificates_never_in_the_wire_trace(
    module: atsock.Module, tls_certs: TlsCertificates, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = [tls_certs.ca_pem, tls_certs.client_cert_pem, tls_certs.client_key_pem]
    with caplog.at_level(logging.DEBUG, logger="atsock"):
        module.set_certificate(CertKind.CA, secrets[0])
        module.set_certificate(CertKind.CLIENT_CERT, secrets[1])
        module.set_certificate(CertKind.CLIENT_KEY, secrets[2])
        for kind in CertKind:
            assert module.certificate(kind) in secrets
        module.at()
    wire = [r for r in caplog.records if r.name == "atsock.wire"]
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert wire, "the wire trace logged nothing at DEBUG"
    assert "AT+SSLCRET=1" in text.replace("\n", "") or "41 54 2B 53 53 4C" in text
    assert "redacted" in text
    for secret in secrets:
        assert _leaks(secret, text) == []


def test_late_certificate_reply_is_still_redacted(
    tls_certs: TlsCertificates, caplog: pytest.LogCaptureFixture
) -> None:
    key = tls_certs.client_key_pem
    with FakeModule() as fake:
        fake.expect(b"AT+SSLCRET=3", 0.4, b"+SSLCRET:3,%d,%s\r\nOK\r\n" % (len(key), key))
        fake.expect(b"AT", b"OK\r\n")
        with caplog.at_level(logging.DEBUG, logger="atsock"), open_module(fake.url) as m:
            with pytest.raises(atsock.Timeout):
                m.certificate(CertKind.CLIENT_KEY, timeout=0.2)
            time.sleep(0.4)  # the reply arrives after the driver gave up
            m.at()
        fake.check()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert _leaks(key, text) == []


def test_certificates_never_in_reprs_or_errors(tls_certs: TlsCertificates) -> None:
    key = tls_certs.client_key_pem
    with FakeModule() as fake:
        fake.expect(b"AT+SSLCRET=3,%d" % len(key), b">", payload=len(key),
                    after=[b"+SSLCRET:108\r\nERROR\r\n"])  # fmt: skip
        fake.expect(b"AT+SSLCRET=3,%d" % len(key), b">", payload=len(key))  # silence
        fake.expect(b"AT+SSLCRET=3", b"+SSLCRET:3,%d,%s\r\nOK\r\n" % (len(key), key))
        with open_module(fake.url, timeout=0.3) as m:
            texts = [repr(m)]
            for expected in (atsock.CommandError, atsock.Timeout):
                with pytest.raises(expected) as info:
                    m.set_certificate(CertKind.CLIENT_KEY, key)
                texts += [str(info.value), repr(info.value)]
            assert m.certificate(CertKind.CLIENT_KEY) == key
            texts += [repr(e) for e in list(iter(m.events.get_nowait, None))]
        fake.check()
    for text in texts:
        assert _leaks(key, text) == [], text


# ---- a send that timed out before its '>' never turns later data into commands ----------


def _peer_bytes(collector: TcpCollector, timeout: float = 1.0, until: int = 0) -> bytes:
    """What the peer got after ``timeout`` seconds (or as soon as ``until`` bytes came)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if until and len(b"".join(collector.chunks)) >= until:
            break
        time.sleep(0.05)
    return b"".join(collector.chunks)


def test_payload_after_a_late_prompt_is_still_data(
    emu_module: tuple[Emulator, atsock.Module], collector: TcpCollector
) -> None:
    emu, module = emu_module
    cid = module.open_socket(SocketType.TCP_CLIENT, *collector.address)
    emu.stall(1.0)
    with pytest.raises(atsock.Timeout):
        module.send(cid, b"hello", timeout=0.3)
    # the next send waits for the first one's late '>' (its payload goes then), so its
    # own payload cannot be read by the module as the command line it looks like
    module.send(cid, b"AT+SOCKETDEL=1\r\n", timeout=3.0)
    expected = b"helloAT+SOCKETDEL=1\r\n"
    assert _peer_bytes(collector, timeout=10.0, until=len(expected)) == expected
    assert [s.con_id for s in module.sockets()] == [cid]


def test_no_payload_is_sent_while_a_prompt_is_ambiguous(
    emu_module: tuple[Emulator, atsock.Module], collector: TcpCollector
) -> None:
    emu, module = emu_module
    cid = module.open_socket(SocketType.TCP_CLIENT, *collector.address)
    emu.stall(2.0)
    with pytest.raises(atsock.Timeout):
        module.send(cid, b"first", timeout=0.3)
    with pytest.raises(atsock.Timeout):
        module.at(timeout=0.3)  # more bytes after the unanswered send: '>' is ambiguous now
    with pytest.raises(atsock.ATError, match="no payload is sent until"):
        module.send(cid, b"AT+SOCKETDEL=1\r\n", timeout=0.5)
    assert b"SOCKETDEL" not in _peer_bytes(collector, 1.5)
    module.reset()  # resynchronises
    cid = module.open_socket(SocketType.TCP_CLIENT, *collector.address)
    module.send(cid, b"ok")


@pytest.fixture
def prompt_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command's wait for its '>' ends in Timeout just as the '>' is dispatched: the
    interleaving of a prompt arriving at the deadline, made certain."""
    real = CommandPath._wait

    def wait(self: CommandPath, pending: Pending, *args: Any) -> None:
        real(self, pending, *args)
        if pending.prompted and pending.final is None:
            raise atsock.Timeout(f"{pending.name}: gave up as the prompt came")

    monkeypatch.setattr(CommandPath, "_wait", wait)


@pytest.mark.usefixtures("prompt_at_the_deadline")
def test_a_prompt_that_comes_as_the_send_gives_up_gets_its_payload() -> None:
    with FakeModule() as fake:
        fake.expect(b"AT+SOCKET?", ROW1, b"OK\r\n")
        fake.expect(b"AT+SOCKETSEND=1,5", b">", payload=5, after=[b"\r\nOK\r\n"])
        fake.expect(b"AT", b"OK\r\n")
        with open_module(fake.url) as m:
            with pytest.raises(atsock.Timeout):
                m.send(1, b"hello")
            m.at()  # its own line, not the rest of a payload the module still waited for
        assert fake.payloads == [b"hello"]
        fake.check()


@pytest.mark.usefixtures("prompt_at_the_deadline")
def test_a_transparent_prompt_that_comes_as_the_wait_gives_up_streams() -> None:
    with FakeModule() as fake:
        fake.expect(b"AT+SOCKET?", ROW1, b"OK\r\n")
        fake.expect(b"AT+SOCKETTT", b">", payload=b"+++", after=[b"\r\nOK\r\n"])
        fake.expect(b"AT", b"OK\r\n")
        with open_module(fake.url, guard_time=0.02) as m:
            with m.transparent() as stream:
                stream.write(b"data")
            m.at()
        assert fake.payloads == [b"data+++"]
        fake.check()


def test_a_late_payload_going_out_does_not_hold_up_other_waits() -> None:
    data = bytes(range(256)) * 48  # 12 KiB: 0.6 s at the link rate below
    with FakeModule() as fake:
        fake.expect(b"AT+SOCKETSEND=1,%d" % len(data), 1.0, b">", payload=len(data),
                    after=[b"\r\nOK\r\n"])  # fmt: skip
        fake.expect(b"AT", b"OK\r\n")
        with open_module(fake.url, link_rate=20_000, write_timeout=5.0) as m:
            sock = atsock.Socket(m, 1, SocketType.TCP_CLIENT)
            with pytest.raises(atsock.Timeout):  # (one command: m.send would cut it up)
                m.command_path.execute(b"AT+SOCKETSEND=1,%d" % len(data), payload=data, timeout=0.8)
            # the late payload is going out
            assert wait_until(lambda: len(fake.received) >= 3000), "it never went out"
            sock.settimeout(0.1)
            started = time.monotonic()
            with pytest.raises(atsock.Timeout):
                sock.recv(10)
            assert time.monotonic() - started < 0.3
            assert len(fake.received) < len(data)  # (it was still going out)
            m.at(timeout=3.0)  # written after the payload, answered after its OK
        assert fake.payloads == [data]
        fake.check()
