"""Edge cases real firmware produces, played byte for byte by the scripted fake module."""

from __future__ import annotations

import errno
import sys
import threading
import time

import pytest

import atsock
from atsock import SocketInfo, SocketStatus, SocketType
from driver_fixtures import *  # noqa: F403  (the fixtures)
from driver_fixtures import TIMEOUT, open_module, wait_event
from fake_module import FakeModule

ROW1 = b"1,4,1,127.0.0.1,9000,-1,-1\r\n"
INFO1 = SocketInfo(1, SocketType.TCP_CLIENT, SocketStatus.CONNECTED, "127.0.0.1", 9000, -1, -1)
TRICKY = b"\r\nOK\r\n+EVENT:SocketDown,1,5\r\nERROR\r\nready\r\n>\r\n"


def known_socket(fake: FakeModule) -> None:
    """Scripts the AT+SOCKET? the driver sends to check ConID 1 exists."""
    fake.expect(b"AT+SOCKET?", ROW1, b"OK\r\n")


def events(module: atsock.Module) -> list[atsock.Event]:
    found = []
    while (event := module.events.get_nowait()) is not None:
        found.append(event)
    return found


# ---- URCs never mixed into a reply ------------------------------------------------------


def test_urcs_before_and_between_reply_lines(fake: FakeModule) -> None:
    fake.expect(
        b"AT+SOCKET?",
        b"+EVENT:SocketDown,2,3\r\n",
        0.02,
        ROW1,
        b"+EVENT:WIFI_GOT_IP\r\n+EVENT:SocketSeed,3,2\r\n",
        0.02,
        b"2,3,1,,-1,8080,-1\r\n",
        b"+EVENT:SocketDissconnect,1\r\nOK\r\n",
    )
    with open_module(fake.url) as m:
        rows = m.sockets()
        assert rows == [INFO1, SocketInfo(2, SocketType.TCP_SERVER, SocketStatus.CONNECTED,
                                          "", -1, 8080, -1)]  # fmt: skip
        assert events(m) == [
            atsock.SocketData(2, 3),
            atsock.WifiEvent("WIFI_GOT_IP"),
            atsock.SocketSeed(3, 2),
            atsock.SocketDisconnected(1),
        ]
    fake.check()


@pytest.mark.parametrize("split", [True, False])
def test_urc_between_prompt_and_payload(fake: FakeModule, split: bool) -> None:
    known_socket(fake)
    urc = b"+EVENT:SocketDown,1,4\r\n"
    replies = [b"\r\n>", 0.03, urc] if split else [b"\r\n>" + urc]
    fake.expect(b"AT+SOCKETSEND=1,6", *replies, payload=6, after=[urc, b"\r\nOK\r\n"])
    with open_module(fake.url) as m:
        m.send(1, b"AT\r\nOK")
        assert fake.payloads == [b"AT\r\nOK"]
        assert events(m) == [atsock.SocketData(1, 4), atsock.SocketData(1, 4)]
    fake.check()


def test_urc_in_the_same_read_as_the_reply(fake: FakeModule) -> None:
    fake.expect(b"AT+WDNS?", b"+EVENT:WIFI_CONNECT\r\n+WDNS:1.1.1.1,8.8.8.8\r\nOK\r\n")
    with open_module(fake.url) as m:
        assert m.dns_servers() == ("1.1.1.1", "8.8.8.8")
        assert events(m) == [atsock.WifiEvent("WIFI_CONNECT")]
    fake.check()


# ---- payloads that look like protocol ------------------------------------------------------


def test_socketread_payload_that_looks_like_replies_and_urcs(fake: FakeModule) -> None:
    header = b"+SOCKETREAD,1,%d," % len(TRICKY)
    fake.expect(b"AT+SOCKETREAD=1", header + TRICKY[:9], 0.03, TRICKY[9:], 0.02, b"\r\nOK\r\n")
    fake.expect(b"AT+SOCKETREAD=1", b"+SOCKETREAD,1,0,\r\nOK\r\n")
    with open_module(fake.url) as m:
        assert m.read(1) == TRICKY
        assert m.read(1) == b""
        assert events(m) == []
    fake.check()


def test_active_mode_payload_that_looks_like_replies_and_urcs(fake: FakeModule) -> None:
    fake.expect(b"AT+SOCKETRECVCFG=1", b"OK\r\n")
    fake.expect(
        b"AT+SOCKET?",
        b"+EVENT:SocketDown,1,%d," % len(TRICKY) + TRICKY[:20],
        0.03,
        TRICKY[20:] + b"\r\n",
        ROW1,
        b"OK\r\n",
    )
    with open_module(fake.url) as m:
        m.set_receive_mode(atsock.ReceiveMode.ACTIVE)
        sock = atsock.Socket(m, 1, SocketType.TCP_CLIENT)
        assert m.sockets() == [INFO1]
        event = wait_event(m, atsock.SocketData)
        assert event.data == TRICKY and repr(TRICKY) not in repr(event)
        sock.settimeout(1.0)
        assert sock.recv(1000) == TRICKY
    fake.check()


def test_certificate_query_with_tricky_body(fake: FakeModule) -> None:
    body = b"-----BEGIN\r\nOK\r\n+EVENT:x\r\nERROR\r\n-----END"
    fake.expect(b"AT+SSLCRET=1", b"+SSLCRET:1,%d," % len(body), 0.02, body, b"\r\nOK\r\n")
    with open_module(fake.url) as m:
        assert m.certificate(atsock.CertKind.CA) == body
    fake.check()


# ---- the prompt -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prompt",
    [
        (b"\r\n", 0.03, b">"),
        (b"\r", 0.03, b"\n", 0.03, b">", 0.03, b" "),
        (b"\r\n> ",),
        (b">",),
    ],
    ids=["split", "byte-by-byte-with-space", "with-space", "bare"],
)
def test_prompt_split_across_reads(fake: FakeModule, prompt: tuple[bytes | float, ...]) -> None:
    known_socket(fake)
    fake.expect(b"AT+SOCKETSEND=1,3", *prompt, payload=3, after=[0.02, b"\r\nOK\r\n"])
    fake.expect(b"AT", b"OK\r\n")
    with open_module(fake.url) as m:
        m.send(1, b"abc")
        m.at()
    assert fake.payloads == [b"abc"]
    fake.check()


def test_payload_is_not_sent_before_the_prompt(fake: FakeModule) -> None:
    known_socket(fake)
    fake.expect(b"AT+SOCKETSEND=1,3", 0.2, b">", payload=3, after=[b"\r\nOK\r\n"])
    with open_module(fake.url) as m:
        m.send(1, b"xyz")
    line_time = next(t for t, c in fake.chunks if c.startswith(b"AT+SOCKETSEND"))
    payload_time = next(t for t, c in fake.chunks if c == b"xyz")
    assert payload_time - line_time >= 0.18
    fake.check()


# ---- echo ----------------------------------------------------------------------------------------


def test_echo_on_everything_still_parses() -> None:
    with FakeModule(echo=True) as fake:
        fake.expect(b"AT", b"OK\r\n")
        fake.expect(b"AT+SOCKET?", ROW1, b"OK\r\n")
        fake.expect(b"AT+SOCKETSENDLINE=1,2,OK", b"OK\r\n")
        fake.expect(b"AT+SOCKETSENDLINE=1,5,ERROR", b"OK\r\n")
        fake.expect(b"AT+SOCKETSEND=1,4", b">", payload=4, after=[b"\r\nOK\r\n"])
        fake.expect(b"AT+WDOMAIN=example.org", b"+WDOMAIN:10.1.2.3\r\nOK\r\n")
        fake.expect(b"ATE0", b"OK\r\n")
        with open_module(fake.url) as m:
            m.at()
            m.send_line(1, "OK")
            m.send_line(1, "ERROR")
            m.send(1, b"OK\r\n")
            assert m.resolve("example.org") == "10.1.2.3"
            m.set_echo(False)
            fake.echo = False
            fake.expect(b"AT", b"OK\r\n")
            m.at()
        fake.check()
        assert fake.payloads == [b"OK\r\n"]


# ---- resets, silence, garbage -----------------------------------------------------------------


def test_ready_mid_command_is_module_reset(fake: FakeModule) -> None:
    known_socket(fake)
    fake.expect(b"AT+SOCKETSEND=1,3", b">", payload=3, after=[b"\r\nOK\r\n"])
    fake.expect(b"AT+SOCKET?", ROW1, 0.02, b"\r\nCombo-AT\r\nready\r\n")
    fake.expect(b"AT", b"OK\r\n")
    with open_module(fake.url) as m:
        m.send(1, b"abc")
        sock = atsock.Socket(m, 1, SocketType.TCP_CLIENT)
        started = time.monotonic()
        with pytest.raises(atsock.ModuleReset):
            m.sockets()
        assert time.monotonic() - started < 1.0
        assert not m.connections.known(1)
        with pytest.raises(atsock.ModuleReset):
            sock.recv(10)
        assert atsock.ModuleRestarted() in events(m)
        m.at()
    fake.check()


def test_unsolicited_ready_between_commands(fake: FakeModule) -> None:
    known_socket(fake)
    fake.expect(b"AT+SOCKETSEND=1,1", b">", payload=1, after=[b"\r\nOK\r\n"])
    fake.expect(b"AT+SOCKET?", b"OK\r\n")
    with open_module(fake.url) as m:
        m.send(1, b"x")
        fake.send(b"\r\nready\r\n")
        wait_event(m, atsock.ModuleRestarted)
        with pytest.raises(atsock.SocketClosed):
            m.send(1, b"y")  # the driver asks the module, which lists nothing
    fake.check()


def test_silence_is_a_bounded_timeout(fake: FakeModule) -> None:
    fake.expect(b"AT")  # no answer at all
    fake.expect(b"AT+SOCKET?", ROW1, b"OK\r\n")
    with open_module(fake.url, timeout=0.3) as m:
        started = time.monotonic()
        with pytest.raises(atsock.Timeout) as info:
            m.at()
        elapsed = time.monotonic() - started
        assert 0.25 <= elapsed < 1.0
        assert isinstance(info.value, OSError) and info.value.errno == errno.ETIMEDOUT
        assert "AT" in str(info.value)
        assert m.sockets(timeout=1.0) == [INFO1]  # the driver is not stuck
    fake.check()


def test_silence_after_the_prompt_is_a_bounded_timeout(fake: FakeModule) -> None:
    known_socket(fake)
    fake.expect(b"AT+SOCKETSEND=1,2", b">", payload=2)  # takes the data, never answers
    with open_module(fake.url, timeout=0.3) as m, pytest.raises(atsock.Timeout):
        m.send(1, b"ab")
    fake.check()


@pytest.mark.parametrize(
    "garbage",
    [b"\x00\xff\xfe\r\n", b"noise line\r\n\r\n", b"\x00\x17\xfe", b"\xff" * 300 + b"\r\n"],
    ids=["binary-line", "text-line", "no-line-end", "over-long"],
)
def test_garbage_before_a_reply(fake: FakeModule, garbage: bytes) -> None:
    fake.expect(b"AT+WDNS?", garbage, 0.02, b"\r\n+WDNS:9.9.9.9,0.0.0.0\r\nOK\r\n")
    fake.expect(b"AT", b"OK\r\n")
    with open_module(fake.url) as m:
        assert m.dns_servers() == ("9.9.9.9", "0.0.0.0")
        m.at()
    fake.check()


def test_garbage_between_commands(fake: FakeModule) -> None:
    fake.expect(b"AT", b"OK\r\n")
    fake.expect(b"AT", b"OK\r\n")
    with open_module(fake.url) as m:
        m.at()
        fake.send(b"\x00\x01garbage\r\nOK\r\nERROR\r\n")
        time.sleep(0.1)
        m.at()
    fake.check()


# ---- spellings, errors, busy -----------------------------------------------------------------


@pytest.mark.parametrize("name", [b"SocketDisconnect", b"SocketDissconnect"])
def test_disconnect_spellings(fake: FakeModule, name: bytes) -> None:
    fake.expect(b"AT+SOCKETREAD=1", b"+SOCKETREAD,1,0,\r\nOK\r\n")  # anything left?
    with open_module(fake.url) as m:
        sock = atsock.Socket(m, 1, SocketType.TCP_CLIENT)
        sock.settimeout(1.0)
        fake.send(b"+EVENT:" + name + b",1\r\n")
        assert wait_event(m, atsock.SocketDisconnected).con_id == 1
        assert sock.recv(10) == b""
    fake.check()


def test_error_codes_become_command_errors(fake: FakeModule) -> None:
    fake.expect(b"AT+SOCKET=4,127.0.0.1,9", b"+SOCKET:97\r\n", b"ERROR\r\n")
    fake.expect(b"AT+SOCKETRECVCFG=1", b"ERROR\r\n")
    fake.expect(b"AT+WDOMAIN=x.test", b"+WDOMAIN:98\r\nERROR\r\n")
    with open_module(fake.url) as m:
        with pytest.raises(atsock.CommandError) as info:
            m.open_socket(SocketType.TCP_CLIENT, "127.0.0.1", 9)
        assert info.value.code == 97 and info.value.command == "AT+SOCKET"
        assert info.value.meaning == atsock.ERROR_CODES[97]
        assert "connection refused" in str(info.value)
        with pytest.raises(atsock.CommandError) as info:
            m.set_receive_mode(atsock.ReceiveMode.ACTIVE)
        assert info.value.code is None
        assert m.receive_mode == atsock.ReceiveMode.PASSIVE
        with pytest.raises(atsock.CommandError) as info:
            m.resolve("x.test")
        assert info.value.code == 98
    fake.check()


def test_busy_is_retried_within_the_timeout(fake: FakeModule) -> None:
    fake.expect(b"AT+SOCKET?", b"[Busy]Cmd running\r\n")
    fake.expect(b"AT+SOCKET?", b"[Busy]Cmd running\r\n")
    fake.expect(b"AT+SOCKET?", ROW1, b"OK\r\n")
    with open_module(fake.url) as m:
        assert m.sockets() == [INFO1]
    fake.check()


def test_busy_forever_is_a_timeout(fake: FakeModule) -> None:
    fake.default = (b"[Busy]Cmd running\r\n",)
    with open_module(fake.url, timeout=0.3) as m:
        started = time.monotonic()
        with pytest.raises(atsock.Timeout, match="busy"):
            m.at()
        assert time.monotonic() - started < 1.0
    assert len(fake.lines) >= 2


def test_socket_created_without_connect_success_line(fake: FakeModule) -> None:
    fake.expect(b"AT+SOCKET=4,127.0.0.1,9000", b"OK\r\n")
    fake.expect(b"AT+SOCKET?", ROW1, b"OK\r\n")
    with open_module(fake.url) as m:
        assert m.open_socket(SocketType.TCP_CLIENT, "127.0.0.1", 9000) == 1
    fake.check()


def test_connect_success_line_gives_the_conid(fake: FakeModule) -> None:
    fake.expect(b"AT+SOCKET=3,8080", b"connect success ConID=5\r\n", b"OK\r\n")
    fake.expect(b"AT+SOCKET=4,127.0.0.1,9,0,3", b"connect success ConID=3\r\nOK\r\n")
    with open_module(fake.url) as m:
        assert m.open_socket(SocketType.TCP_SERVER, port=8080) == 5
        assert m.open_socket(SocketType.TCP_CLIENT, "127.0.0.1", 9, con_id=3) == 3
    fake.check()


# the peer speaks first (an SMTP or FTP banner): its data may come before the OK of
# AT+SOCKET, or in the same read just after it
BANNER_PLACES = {
    "before OK": (b"connect success ConID=1\r\n", 0.02, b"{urc}", 0.02, b"OK\r\n"),
    "with OK": (b"connect success ConID=1\r\nOK\r\n{urc}",),
}


def _scripted_banner(place: str, urc: bytes) -> tuple[bytes | float, ...]:
    return tuple(
        part.replace(b"{urc}", urc) if isinstance(part, bytes) else part
        for part in BANNER_PLACES[place]
    )


@pytest.mark.parametrize("place", sorted(BANNER_PLACES))
def test_data_announced_with_the_connection_is_read(fake: FakeModule, place: str) -> None:
    urc = b"+EVENT:SocketDown,1,5\r\n"
    fake.expect(b"AT+SOCKET=4,127.0.0.1,25", *_scripted_banner(place, urc))
    fake.expect(b"AT+SOCKETREAD=1", b"+SOCKETREAD,1,5,hello\r\nOK\r\n")
    with open_module(fake.url) as m:
        sock = m.create_connection(("127.0.0.1", 25), timeout=1.0)
        assert sock.recv(100) == b"hello"
    fake.check()


@pytest.mark.parametrize("place", sorted(BANNER_PLACES))
def test_data_delivered_with_the_connection_is_kept(fake: FakeModule, place: str) -> None:
    urc = b"+EVENT:SocketDown,1,5,hello\r\n"
    fake.expect(b"AT+SOCKETRECVCFG=1", b"OK\r\n")
    fake.expect(b"AT+SOCKET=4,127.0.0.1,25", *_scripted_banner(place, urc))
    with open_module(fake.url) as m:
        m.set_receive_mode(atsock.ReceiveMode.ACTIVE)
        sock = m.create_connection(("127.0.0.1", 25), timeout=1.0)
        assert sock.recv(100) == b"hello"
    fake.check()


def test_a_new_connection_on_a_conid_ends_the_old_one(fake: FakeModule) -> None:
    fake.expect(b"AT+SOCKET=4,127.0.0.1,25", b"connect success ConID=1\r\nOK\r\n")
    fake.expect(b"AT+SOCKET=4,127.0.0.1,26", b"connect success ConID=1\r\nOK\r\n")
    with open_module(fake.url) as m:
        old = m.create_connection(("127.0.0.1", 25), timeout=1.0)
        new = m.create_connection(("127.0.0.1", 26), timeout=1.0)
        with pytest.raises(atsock.SocketClosed, match="new connection"):
            old.recv(10)
        assert m.connections.known(new.con_id)
    fake.check()


# ---- one command in flight ----------------------------------------------------------------------


def test_commands_from_many_threads_never_overlap(fake: FakeModule) -> None:
    names = [f"host{i}.test" for i in range(6)]
    for i, name in enumerate(names):
        fake.auto[b"AT+WDOMAIN=" + name.encode()] = (
            b"+EVENT:WIFI_GOT_IP\r\n",
            b"+WDOMAIN:10.0.0.%d\r\n" % i,
            0.002,
            b"OK\r\n",
        )
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            for _ in range(5):
                assert m.resolve(names[i]) == f"10.0.0.{i}"
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    with open_module(fake.url) as m:
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(names))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5)
    assert not errors
    assert len(fake.lines) == 30
    # the driver never wrote a command before the previous one was answered
    assert all(chunk.count(b"\r\n") <= 1 for _, chunk in fake.chunks)
    fake.check()


def test_a_command_waits_for_another_no_longer_than_its_timeout(fake: FakeModule) -> None:
    slow = fake.expect(b"AT+GMR", 0.6, b"1.0\r\nOK\r\n")
    fake.expect(b"AT", b"OK\r\n")
    with open_module(fake.url) as m:
        other = threading.Thread(target=m.version)
        other.start()
        fake.wait_lines(1)
        started = time.monotonic()
        with pytest.raises(atsock.Timeout, match="not sent, other commands held"):
            m.at(timeout=0.15)
        assert time.monotonic() - started < 0.45
        other.join(2.0)
        assert slow.done.wait(TIMEOUT)  # (set just after the reply went out)
        assert fake.lines == [b"AT+GMR"]  # the given-up command never reached the module
        m.at()  # and the next one is answered as its own
    fake.check()


def test_each_client_goes_to_exactly_one_of_many_accepting_threads(fake: FakeModule) -> None:
    fake.expect(b"AT+SOCKET=3,8080", b"connect success ConID=1\r\nOK\r\n")
    rows = b"".join(b"%d,7,1,127.0.0.1,%d,8080,1\r\n" % (i, 5000 + i) for i in (2, 3))
    fake.auto[b"AT+SOCKET?"] = (b"1,3,1,,-1,8080,-1\r\n" + rows, b"OK\r\n")
    accepted: list[tuple[int, tuple[str, int]]] = []
    failures: list[BaseException] = []

    def accept() -> None:
        try:
            sock, address = server.accept()
            accepted.append((sock.con_id, address))
        except BaseException as exc:
            failures.append(exc)

    switching = sys.getswitchinterval()
    with open_module(fake.url) as m:
        server = m.create_server(8080)
        server.settimeout(0.5)
        threads = [threading.Thread(target=accept) for _ in range(6)]
        sys.setswitchinterval(1e-6)  # threads switch between almost any two bytecodes
        try:
            for thread in threads:
                thread.start()
            time.sleep(0.05)  # every thread waits for a client
            fake.send(b"+EVENT:SocketSeed,2,1\r\n+EVENT:SocketSeed,3,1\r\n")
            for thread in threads:
                thread.join(3.0)
        finally:
            sys.setswitchinterval(switching)
    assert sorted(accepted) == [(2, ("127.0.0.1", 5002)), (3, ("127.0.0.1", 5003))]
    assert len(failures) == 4 and all(isinstance(f, atsock.Timeout) for f in failures), failures


def test_a_client_whose_accept_failed_goes_to_the_next_accept(fake: FakeModule) -> None:
    fake.expect(b"AT+SOCKET=3,8080", b"connect success ConID=1\r\nOK\r\n")
    fake.expect(b"AT+SOCKET?")  # no answer: the address lookup times out
    fake.expect(b"AT+SOCKET?", b"2,7,1,127.0.0.1,5002,8080,1\r\nOK\r\n")
    with open_module(fake.url, timeout=0.3) as m:
        server = m.create_server(8080)
        server.settimeout(1.0)
        fake.send(b"+EVENT:SocketSeed,2,1\r\n")
        with pytest.raises(atsock.Timeout):
            server.accept()
        sock, address = server.accept()
        assert (sock.con_id, address) == (2, ("127.0.0.1", 5002))
    fake.check()


def test_a_socket_timeout_shorter_than_the_read_loses_no_data(fake: FakeModule) -> None:
    fake.expect(b"AT+SOCKETREAD=1", 0.3, b"+SOCKETREAD,1,5,hello\r\nOK\r\n")
    with open_module(fake.url) as m:
        sock = atsock.Socket(m, 1, SocketType.TCP_CLIENT)
        fake.send(b"+EVENT:SocketDown,1,5\r\n")
        sock.settimeout(0.05)
        assert sock.recv(10) == b"hello"  # the packet left the module with the reply
    fake.check()


def test_a_send_has_the_line_time_of_its_payload_on_top_of_its_timeout(fake: FakeModule) -> None:
    payload = bytes(960)  # one second at 9600 baud
    fake.expect(b"AT+SOCKETSEND=1,960", b">", payload=960, after=[0.5, b"\r\nOK\r\n"])
    with open_module(fake.url, baudrate=9600) as m:
        atsock.Socket(m, 1, SocketType.TCP_CLIENT)
        m.send(1, payload, timeout=0.3)  # on a pty the write is quick: the reply is late
    fake.check()


def test_waiting_for_an_event_kind_while_others_come_says_which_kind(fake: FakeModule) -> None:
    with open_module(fake.url) as m:
        fake.send(b"+EVENT:WIFI_GOT_IP\r\n", 0.1, b"+EVENT:WIFI_CONNECT\r\n")
        started = time.monotonic()
        with pytest.raises(atsock.Timeout, match=r"no SocketSeed event within 0\.3 s"):
            m.events.wait_for(atsock.SocketSeed, 0.3)
        assert time.monotonic() - started >= 0.3
