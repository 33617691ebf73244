"""Who reads the port during transparent mode: the thread reading the stream reads it
itself (no hand-off from the reader thread), the reader thread takes over as soon as
nobody reads the stream, and every byte arrives once and in order across the switches.
A port that goes away under a waiting read ends it with an error, a stream closed
from another thread wakes a read blocked on the port, and neither leaving transparent
mode nor closing the module waits for the napping reader thread.

Every test runs over a real pty and over the emulator's TCP URL.
"""

from __future__ import annotations

import os
import random
import threading
import time

import pytest

import atsock
from atsock import SocketType
from atsock.emulator import Emulator
from atsock.sync.transparent import PULL_WAIT
from driver_fixtures import *  # noqa: F403  (the fixtures)
from driver_fixtures import ModuleFactory, read_until_it_ends
from peers import TcpCollector, TcpEchoServer, wait_until


def test_the_reader_thread_takes_over_when_nobody_reads(
    module: atsock.Module, collector: TcpCollector
) -> None:
    module.open_socket(SocketType.TCP_CLIENT, *collector.address)
    payload = os.urandom(200_000)
    with module.transparent(timeout=2.0) as stream:
        collector.send_to_client(payload[:10])
        assert stream.read(10) == payload[:10]
        collector.send_to_client(payload[10:])
        # nobody reads the stream now: the reader thread moves the bytes to the stream
        assert wait_until(lambda: stream.bytes_received == len(payload), 5.0)
        received = bytearray(payload[:10])
        while len(received) < len(payload):
            received += stream.read(len(payload), timeout=2.0)
        assert received == payload


def test_reads_smaller_than_a_burst_return_the_rest_in_order(
    module: atsock.Module, collector: TcpCollector
) -> None:
    """A read pulls whole bursts from the port; a burst larger than the read asked for
    goes to the inbox, and the next reads take it from there, ahead of what comes later."""
    module.open_socket(SocketType.TCP_CLIENT, *collector.address)
    payload = os.urandom(300_000)
    with module.transparent(timeout=2.0) as stream:
        collector.send_to_client(payload[:100_000])
        received = bytearray()
        rest_sent = False
        while len(received) < len(payload):
            piece = stream.read(777)
            assert 0 < len(piece) <= 777
            received += piece
            # (a read may return less than 777 bytes: a burst can end anywhere)
            if not rest_sent and len(received) >= 7 * 777:
                collector.send_to_client(payload[100_000:])
                rest_sent = True
        assert received == payload
        assert stream.bytes_received == len(payload)


def test_reads_of_64_kib_take_their_bursts_themselves(
    module: atsock.Module, collector: TcpCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader asking for 64 KiB at a time (``atsock stream`` does) while the peer sends
    at full speed: each port read stops at what the reader can take, so no burst has to
    go through the inbox (the port reads up to 256 KiB for a reader that can take it)."""
    module.open_socket(SocketType.TCP_CLIENT, *collector.address)
    payload = os.urandom(2_000_000)
    with module.transparent(timeout=2.0) as stream:
        queued: list[int] = []
        put = stream._inbox.put
        monkeypatch.setattr(
            stream._inbox, "put", lambda data, *a: queued.append(len(data)) or put(data, *a)
        )

        def send() -> None:
            time.sleep(0.2)  # this thread reads the port by then (the reader thread waits)
            collector.send_to_client(payload)

        sender = threading.Thread(target=send)
        sender.start()
        received = bytearray()
        while len(received) < len(payload):
            received += stream.read(65536)
        sender.join(5.0)
        assert received == payload
        assert queued == []


def test_reads_with_pauses_longer_than_the_lease_lose_nothing(
    module: atsock.Module, echo_server: TcpEchoServer
) -> None:
    """The port changes hands between the stream's reader and the reader thread again
    and again while the peer echoes a stream: every byte once, in order."""
    module.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
    payload = os.urandom(1 << 20)
    with module.transparent(timeout=5.0) as stream:
        writer = threading.Thread(target=stream.write, args=(payload,))
        writer.start()
        received = bytearray()
        reads = 0
        while len(received) < len(payload):
            received += stream.read(len(payload) - len(received))
            reads += 1
            if reads % 8 == 0:
                time.sleep(2 * PULL_WAIT)  # the reader thread takes over meanwhile
        writer.join(10)
        assert received == payload


def test_reads_of_any_size_with_pauses_get_every_byte_once_in_order(
    module: atsock.Module, echo_server: TcpEchoServer
) -> None:
    """Bursts a read keeps, bursts too large for it (queued), and the reader thread's
    chunks while the reader pauses, mixed at random: the echo comes back exact."""
    module.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
    payload = os.urandom(1 << 20)
    pick = random.Random(1)
    with module.transparent(timeout=5.0) as stream:
        writer = threading.Thread(target=stream.write, args=(payload,))
        writer.start()
        received = bytearray()
        while len(received) < len(payload):
            received += stream.read(pick.choice([1, 100, 777, 5000, 70000, -1]))
            if pick.random() < 0.05:
                time.sleep(pick.choice([0.5, 1, 2.5]) * PULL_WAIT)
        writer.join(10)
        assert received == payload


def test_a_read_blocked_on_the_port_wakes_when_another_thread_closes_the_stream(
    module: atsock.Module, echo_server: TcpEchoServer
) -> None:
    module.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
    results: list[bytes] = []
    with module.transparent(timeout=10.0) as stream:
        reader = threading.Thread(target=lambda: results.append(stream.read(10)))
        reader.start()
        time.sleep(0.2)  # the reader waits on the port
        started = time.monotonic()
        stream.close()
        reader.join(5)
        assert not reader.is_alive()
        assert results == [b""]
        assert time.monotonic() - started < 2.0
    module.at()


def test_a_port_that_goes_away_under_a_waiting_read_is_an_error(
    emu_module: tuple[Emulator, atsock.Module], echo_server: TcpEchoServer
) -> None:
    emu, module = emu_module
    module.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
    failure: list[BaseException] = []

    def read(stream: atsock.TransparentStream) -> None:
        try:
            stream.read(10)
        except BaseException as exc:
            failure.append(exc)

    # leaving transparent mode needs the port: a clear error, not a hang
    with pytest.raises(atsock.ATError), module.transparent(timeout=10.0) as stream:
        stream.write(b"before")
        assert stream.read(6, timeout=2.0) == b"before"
        reader = threading.Thread(target=read, args=(stream,))
        reader.start()
        time.sleep(0.2)  # the reader waits on the port
        started = time.monotonic()
        emu.stop()  # the module's end of the UART closes
        reader.join(5)
        assert not reader.is_alive()
        assert time.monotonic() - started < 3.0
        assert len(failure) == 1 and isinstance(failure[0], atsock.ATError), failure
        assert "port" in str(failure[0])


def test_leaving_and_closing_do_not_wait_out_the_reader_threads_nap(
    make_module: ModuleFactory, echo_server: TcpEchoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a lease far longer than the exit, a reader thread still napping would show."""
    monkeypatch.setattr(atsock.sync.link, "PULL_LEASE", 5.0)
    _, module = make_module()
    module.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
    with module.transparent(timeout=2.0) as stream:
        stream.write(b"x")
        assert stream.read(1) == b"x"  # this thread pulled: the reader thread naps
        started = time.monotonic()
    assert time.monotonic() - started < 2.0  # the exit's OK came through the reader thread
    with module.transparent(timeout=2.0) as stream:
        stream.write(b"y")
        assert stream.read(1) == b"y"
    started = time.monotonic()
    module.close()
    assert time.monotonic() - started < 2.0


def test_closing_the_module_while_a_full_stream_waits_for_a_reader(
    make_module: ModuleFactory, collector: TcpCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nobody reads: the reader thread fills the stream's inbox and waits for room (holding
    the module and the peer back). Closing the module must not wait for a reader, and
    what was received is still read afterwards, in order."""
    monkeypatch.setattr(atsock.sync.transparent, "INBOUND_MAX", 64 * 1024)
    _, module = make_module()
    module.open_socket(SocketType.TCP_CLIENT, *collector.address)
    payload = os.urandom(200_000)
    received = bytearray()
    with pytest.raises(atsock.ATError, match="port closed"):  # noqa: SIM117
        with module.transparent(timeout=2.0) as stream:
            collector.send_to_client(payload)
            assert wait_until(lambda: stream.bytes_received >= 64 * 1024, 5.0)
            started = time.monotonic()
            module.close()
            assert time.monotonic() - started < 1.0
            assert not module.link._thread.is_alive()
            with pytest.raises(atsock.ATError, match="port closed"):
                while True:
                    received += stream.read(len(payload))
    assert len(received) >= 64 * 1024
    assert received == payload[: len(received)]


def test_a_read_under_way_as_the_stream_is_left_does_not_renew_the_lease(
    make_module: ModuleFactory, echo_server: TcpEchoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read pulling the port when the stream is closed from another thread ends after
    the exit handed the port back: it must not take it again (a reader thread napping on
    a lease far longer than the exit's budget would leave the exit's OK unread)."""
    monkeypatch.setattr(atsock.sync.link, "PULL_LEASE", 5.0)
    _, module = make_module()
    module.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
    for _ in range(3):
        outcome: list[object] = []
        with module.transparent(timeout=2.0) as stream:
            reader = threading.Thread(target=read_until_it_ends, args=(stream, outcome))
            reader.start()
            time.sleep(0.12)  # the read pulls the port, in PULL_WAIT steps
            started = time.monotonic()
        reader.join(5.0)
        assert time.monotonic() - started < 2.0
        assert outcome == [b""]
