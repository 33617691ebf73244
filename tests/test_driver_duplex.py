"""A socket sent to and read from on two threads at once, as a ``socket.socket`` can be,
and a send to a peer that stops reading: the module's command line is handed out first
come first served (a long send yields between its commands), a ``recv()`` drains what
the module announced in its turn, and a module that stops taking bytes is a bounded
:class:`atsock.Timeout` that loses nothing already sent."""

from __future__ import annotations

import hashlib
import os
import threading
import time

import pytest

import atsock
from atsock.protocol.commands import SEND_CHUNK, send_step
from driver_fixtures import *  # noqa: F403  (the fixtures)
from driver_fixtures import ModuleFactory, open_module
from fake_module import FakeModule
from peers import TcpCollector, TcpEchoServer, TcpSilentPeer

MIB = 1024 * 1024
#: A link rate so fast that pacing and the line time added to a budget do not matter.
FAST_LINK = 50_000_000

pytestmark = pytest.mark.timeout(120)


def test_sendall_and_recv_on_two_threads_move_16_mib_each_way(
    make_module: ModuleFactory, echo_server: TcpEchoServer
) -> None:
    _, module = make_module(timeout=5.0)
    data = os.urandom(16 * MIB)
    sock = module.create_connection(echo_server.address)
    sock.settimeout(10)
    failures: list[BaseException] = []

    def send() -> None:
        try:
            sock.sendall(data)
        except BaseException as exc:  # (reported by the test's thread)
            failures.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    received = hashlib.sha256()
    count = 0
    while count < len(data):
        chunk = sock.recv(65536)
        assert chunk, f"the echo ended after {count} of {len(data)} bytes"
        received.update(chunk)
        count += len(chunk)
    sender.join(30)
    assert not failures
    assert not sender.is_alive()
    assert received.digest() == hashlib.sha256(data).digest()
    module.at()


def test_commands_of_other_threads_get_a_turn_during_a_long_send(
    make_module: ModuleFactory, collector: TcpCollector
) -> None:
    _, module = make_module(timeout=5.0)
    data = os.urandom(32 * MIB)
    con_id = module.open_socket(atsock.SocketType.TCP_CLIENT, *collector.address)
    sender = threading.Thread(target=module.send, args=(con_id, data))
    sender.start()
    turns = 0
    while sender.is_alive() and turns < 5:
        module.at(timeout=2.0)  # would wait out the whole send behind an unfair lock
        if sender.is_alive():
            turns += 1
    sender.join(30)
    assert turns == 5, "the send ended before other commands could show they get turns"
    module.delete(con_id)
    assert collector.data(timeout=10) == data


@pytest.mark.parametrize(
    ("line_rate", "step"),
    [(None, SEND_CHUNK), (11_520, 2048), (92_160, 22 * 1024), (400_000, SEND_CHUNK), (10, 1024)],
)
def test_a_long_send_is_cut_to_about_a_quarter_second_of_line_time(
    line_rate: float | None, step: int
) -> None:
    assert send_step(line_rate) == step


def test_a_send_to_a_peer_that_stops_reading_times_out_and_loses_nothing(
    make_module: ModuleFactory,
) -> None:
    _, module = make_module(timeout=0.5, link_rate=FAST_LINK)
    data = os.urandom(64 * MIB)  # more than the module's, the host's and the peer's buffers
    with TcpSilentPeer() as peer:
        con_id = module.open_socket(atsock.SocketType.TCP_CLIENT, *peer.address)
        started = time.monotonic()
        with pytest.raises(atsock.Timeout) as caught:
            module.send(con_id, data)
        # each command has 0.5 s (plus its line time, 1.3 ms here): the stalled one ends
        # the call soon after the stall began, not when the peer reads
        assert time.monotonic() - started < 30
        sent = caught.value.sent
        assert sent is not None and 0 < sent < len(data)
        assert sent % SEND_CHUNK == 0
        # the stall came in a write (the rest is owed), or a command went whole into the
        # port's buffers and its '>' or reply did not come: either way nothing is sent
        # now that the module could take for that command's payload
        with pytest.raises(atsock.Timeout, match=r"not sent|no reply"):
            module.at()
        peer.start_reading()
        module.at(timeout=10)  # the owed rest goes out first, its reply is waited for
        received = peer.data()
        # exactly what the module took: the chunks before the stall, the stalled one in
        # full (its rest went out first) and, over TCP, a chunk whose '>' came late
        assert received == data[: len(received)]
        assert len(received) in (sent, sent + SEND_CHUNK)
        module.send(con_id, b"after")
        expected = received + b"after"
        deadline = time.monotonic() + 10
        while len(peer.data(quiet=0)) < len(expected) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert peer.data(quiet=0) == expected


def test_a_payload_write_the_module_stops_taking_is_bounded_and_finished_later() -> None:
    data = os.urandom(SEND_CHUNK)  # far more than a pty holds
    line = b"AT+SOCKETSEND=1,%d" % len(data)
    with FakeModule() as fake:
        # the module prompts, then reads nothing for three seconds
        fake.expect(line, b">", 3.0, payload=len(data), after=[b"\r\nOK\r\n"])
        fake.expect(b"AT", b"OK\r\n")
        with open_module(fake.url, timeout=0.3) as m:
            started = time.monotonic()
            with pytest.raises(atsock.Timeout, match="stopped reading its port") as caught:
                m.command_path.execute(line, payload=data)
            assert time.monotonic() - started < 2.5  # not held until the module reads
            assert caught.value.sent == len(data)  # begun, so it all goes
            with pytest.raises(atsock.Timeout, match="not sent, the module still has not"):
                m.at()  # the module still waits for the rest of the payload
            m.at(timeout=5.0)  # the rest goes first, and the send's OK is not taken for AT's
        assert fake.payloads == [data]
        assert fake.lines == [line, b"AT"]
        fake.check()
