"""Faults end to end: the driver against the emulator over a real pty / TCP UART, with
real peer sockets, and the emulator's fault injection (reset, dropped peers, garbage,
lost bytes, stalls).

Each test states the outcome a user can count on: a typed error within the configured
time (never a hang), data that had already arrived still readable, and the next
command working.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

import atsock
from atsock import ReceiveMode, SocketType
from atsock.emulator import Emulator
from atsock.emulator.machine import TX_HIGH
from driver_fixtures import *  # noqa: F403  (the fixtures)
from driver_fixtures import ModuleFactory, wait_event
from peers import TcpCollector, TcpEchoServer, wait_until

#: Command timeout of the modules in these tests (seconds): short, so faults are quick.
TIMEOUT = 0.5
#: What the clock may run over a timeout (thread wake-ups, a loaded CI machine).
SLACK = 0.4
EmuModule = tuple[Emulator, atsock.Module]


@pytest.fixture
def pair(make_module: ModuleFactory) -> EmuModule:
    return make_module(timeout=TIMEOUT)


def read_exactly(stream: atsock.TransparentStream, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        data += stream.read(n - len(data), timeout=2.0)
    return bytes(data)


def recv_all(sock: atsock.Socket) -> bytes:
    """Everything until end of stream."""
    data = bytearray()
    while chunk := sock.recv(65536):
        data += chunk
    return bytes(data)


def later(delay: float, action: Callable[[], None]) -> threading.Timer:
    timer = threading.Timer(delay, action)
    timer.start()
    return timer


@pytest.fixture
def silent_listener() -> Iterator[tuple[str, int]]:
    """A TCP port that accepts connections (the kernel does) and never says a word."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        yield "127.0.0.1", int(sock.getsockname()[1])


# ---- module reset ---------------------------------------------------------------------------

MID_COMMAND: dict[str, Callable[[atsock.Module, int], object]] = {
    "query": lambda m, cid: m.sockets(),
    "send": lambda m, cid: m.send(cid, b"never sent"),
    "read": lambda m, cid: m.read(cid),
}


@pytest.mark.parametrize("command", list(MID_COMMAND))
def test_reset_mid_command_is_module_reset_then_commands_work(
    pair: EmuModule, echo_server: TcpEchoServer, command: str
) -> None:
    emu, m = pair
    cid = m.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
    sock = atsock.Socket(m, cid, SocketType.TCP_CLIENT)
    emu.stall(0.3)  # the command is in flight (unanswered) when the module reboots
    timer = later(0.1, emu.reset)
    started = time.monotonic()
    with pytest.raises(atsock.ModuleReset):
        MID_COMMAND[command](m, cid)
    assert time.monotonic() - started < TIMEOUT + SLACK
    timer.join()
    wait_event(m, atsock.ModuleRestarted)
    assert not m.connections.known(cid)
    with pytest.raises(atsock.ModuleReset):
        sock.recv(10)  # that connection is gone for good
    assert emu.sockets == {}
    m.at()
    assert m.sockets() == []  # the late reply of the interrupted command was not taken
    again = m.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
    m.send(again, b"fresh")
    wait_event(m, atsock.SocketData)
    assert m.read(again) == b"fresh"


def test_reset_mid_transparent_stream_is_module_reset_then_commands_work(
    pair: EmuModule, echo_server: TcpEchoServer
) -> None:
    """The reboot banner is just stream data: leaving gets no OK, the driver probes."""
    emu, m = pair
    cid = m.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
    sock = atsock.Socket(m, cid, SocketType.TCP_CLIENT)
    started = time.monotonic()
    with (
        pytest.raises(atsock.ModuleReset, match="during transparent mode"),
        m.transparent() as stream,
    ):
        stream.write(b"before the reset")
        assert read_exactly(stream, 16) == b"before the reset"
        stream.write(b"in flight")
        emu.reset()
        assert wait_until(lambda: stream.reset_suspected)
        stream.write(b"written to a rebooted module")
    # leaving waited for the OK (timeout), then probed: bounded
    assert time.monotonic() - started < 3 * TIMEOUT + 1.0
    assert not emu.in_transparent
    assert not m.connections.known(cid)
    with pytest.raises(atsock.ModuleReset):
        sock.recv(10)
    assert atsock.ModuleRestarted() in drain(m)
    # what had arrived stays readable: the echo (if it made it) and the banner, as data
    rest = stream.read(-1, timeout=0)
    assert b"ready\r\n" in rest
    assert stream.read(10) == b""  # then end of stream
    m.at()
    assert m.sockets() == []
    m.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
    with m.transparent() as stream:
        stream.write(b"works again")
        assert read_exactly(stream, 11) == b"works again"


def drain(module: atsock.Module) -> list[atsock.Event]:
    events = []
    while (event := module.events.get_nowait()) is not None:
        events.append(event)
    return events


def test_unconfirmed_exit_without_a_reboot_is_still_a_transparent_error(
    pair: EmuModule, collector: TcpCollector
) -> None:
    """A peer that sends "ready" lines does not make the driver see a reset."""
    _, m = pair
    m.open_socket(SocketType.TCP_CLIENT, *collector.address)
    with m.transparent() as stream:
        collector.send_to_client(b"\r\nready\r\n")
        assert read_exactly(stream, 9) == b"\r\nready\r\n"
        assert stream.reset_suspected
    # the module did confirm: a normal exit, nothing forgotten
    assert len(m.sockets()) == 1
    m.at()


# ---- the peer closes mid-stream ------------------------------------------------------------


@pytest.mark.parametrize("mode", [ReceiveMode.PASSIVE, ReceiveMode.ACTIVE])
def test_peer_closes_mid_stream_data_then_eof(
    pair: EmuModule, collector: TcpCollector, mode: ReceiveMode
) -> None:
    """200 KB (more than the module's 64 KiB queue) then FIN: all of it, then b""."""
    _, m = pair
    m.set_receive_mode(mode)
    sock = m.create_connection(collector.address, timeout=2.0)
    assert collector.wait_for_connection()
    data = bytes(range(256)) * 800
    collector.send_to_client(data)
    collector.close_all_clients()
    got = recv_all(sock)  # passive mode: the module sees the FIN once its queue drains
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    assert sock.recv(10) == b""  # EOF stays EOF
    assert wait_event(m, atsock.SocketDisconnected).con_id == sock.con_id
    sock.close()
    m.at()


def test_peer_vanishes_with_data_queued_on_the_module(
    pair: EmuModule, collector: TcpCollector
) -> None:
    """A reset peer (RST): the packets the module already holds are still read."""
    emu, m = pair
    sock = m.create_connection(collector.address, timeout=2.0)
    assert collector.wait_for_connection()
    data = b"already arrived " * 256
    collector.send_to_client(data)
    announced = 0
    while announced < len(data):
        announced += wait_event(m, atsock.SocketData).length
    emu.drop_peer(sock.con_id)
    assert wait_event(m, atsock.SocketDisconnected).con_id == sock.con_id
    assert recv_all(sock) == data
    sock.close()
    m.at()


def test_peer_closes_mid_transparent_stream(pair: EmuModule, collector: TcpCollector) -> None:
    """In transparent mode the module holds the disconnect URC back: the data is read,
    leaving works, then the event comes and the stream ends."""
    _, m = pair
    cid = m.open_socket(SocketType.TCP_CLIENT, *collector.address)
    assert collector.wait_for_connection()
    data = b"last words\r\nOK\r\n" * 1000
    with m.transparent() as stream:
        collector.send_to_client(data)
        collector.close_all_clients()
        head = read_exactly(stream, 1000)
    assert wait_event(m, atsock.SocketDisconnected).con_id == cid
    rest = bytearray()
    while chunk := stream.read(65536):
        rest += chunk
    assert head + rest == data
    m.delete(cid)
    m.at()


# ---- garbage and lost bytes on the UART ------------------------------------------------------

GARBAGE = {
    "binary": b"\x00\xff\xfe\x80garbage\r\n",
    "over-long": b"\xaa" * 10_000 + b"\r\n",
    "no-line-end": b"\x17\x00\xff",
    "absurd-length": b"+SOCKETREAD,1,2147483648,xyz\r\n",
    "bogus-urc": b"+EVENT:SocketDown,x,y\r\n+EVENT:\r\n",
}


@pytest.mark.parametrize("garbage", list(GARBAGE))
def test_garbage_mid_command_is_typed_then_resync(pair: EmuModule, garbage: str) -> None:
    emu, m = pair
    emu.stall(0.1)  # the garbage reaches the host while the command waits for its reply
    emu.inject(GARBAGE[garbage])
    try:
        assert m.sockets() == []
    except atsock.ATError as exc:  # FramingError, Timeout: typed, never anything else
        assert isinstance(exc, (atsock.FramingError, atsock.Timeout)), exc
    m.at()
    assert m.sockets() == []
    assert m.framing_errors >= (1 if garbage in ("over-long", "absurd-length") else 0)


def test_garbage_burst_between_commands(pair: EmuModule) -> None:
    emu, m = pair
    for chunk in GARBAGE.values():
        emu.inject(chunk)
    emu.inject(b"\r\nOK\r\nERROR\r\n[Busy]Cmd running\r\n>")
    time.sleep(0.1)
    m.at()
    assert m.sockets() == []


@pytest.mark.parametrize("count", [1, 2, 4, 12])
def test_lost_reply_bytes_are_a_timeout_then_resync(pair: EmuModule, count: int) -> None:
    emu, m = pair
    m.set_dns_servers("9.9.9.9")
    emu.drop_output(count)  # "+WDNS:9.9.9.9,0.0.0.0\r\nOK\r\n" loses its first bytes
    started = time.monotonic()
    try:
        servers = m.dns_servers()
    except atsock.Timeout:
        assert time.monotonic() - started < TIMEOUT + SLACK
    except atsock.ATError as exc:  # the information line lost its name
        assert "without a +WDNS" in str(exc)
    else:
        raise AssertionError(f"a mangled reply was taken for {servers!r}")
    m.at()
    assert m.dns_servers() == ("9.9.9.9", "0.0.0.0")


@pytest.mark.parametrize("count", [1, 3, 5])
def test_lost_command_bytes_are_a_typed_error_then_resync(pair: EmuModule, count: int) -> None:
    emu, m = pair
    emu.drop_input(count)  # "AT+WDNS?\r\n" loses its first bytes
    started = time.monotonic()
    with pytest.raises((atsock.CommandError, atsock.Timeout)):
        m.dns_servers()
    assert time.monotonic() - started < TIMEOUT + SLACK
    m.at()
    assert m.dns_servers() == ("0.0.0.0", "0.0.0.0")


# ---- a declared length longer than what arrives ------------------------------------------------


def test_declared_payload_longer_than_what_arrives_times_out_then_resync(
    pair: EmuModule,
) -> None:
    """A SocketDown that announces 100 bytes and brings 3: the framer would take the next
    replies as payload. The command times out (no hang) and the driver resyncs."""
    emu, m = pair
    m.set_receive_mode(ReceiveMode.ACTIVE)
    emu.inject(b"+EVENT:SocketDown,1,100,abc")
    started = time.monotonic()
    with pytest.raises(atsock.Timeout):
        m.sockets()
    assert TIMEOUT * 0.9 <= time.monotonic() - started < TIMEOUT + SLACK
    m.at()
    assert m.sockets() == []


# ---- a module that stops answering ---------------------------------------------------------------

SILENCED: dict[str, Callable[[atsock.Module, int], object]] = {
    "at": lambda m, cid: m.at(),
    **MID_COMMAND,
}


@pytest.mark.parametrize("command", list(SILENCED))
def test_module_that_stops_answering_times_out_in_the_configured_time(
    pair: EmuModule, echo_server: TcpEchoServer, command: str
) -> None:
    emu, m = pair
    cid = m.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
    emu.stall(TIMEOUT + 0.3)
    started = time.monotonic()
    with pytest.raises(atsock.Timeout) as info:
        SILENCED[command](m, cid)
    elapsed = time.monotonic() - started
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + SLACK
    assert isinstance(info.value, TimeoutError)
    time.sleep(0.4)  # the module wakes up; its late reply comes unasked
    m.at()
    assert [s.con_id for s in m.sockets()] == [cid]


def test_stalled_transparent_exit_is_bounded(pair: EmuModule, echo_server: TcpEchoServer) -> None:
    emu, m = pair
    m.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
    started = time.monotonic()
    with pytest.raises(atsock.TransparentError), m.transparent(timeout=TIMEOUT):
        emu.stall(TIMEOUT + 0.5)
    assert time.monotonic() - started < 2 * TIMEOUT + SLACK
    time.sleep(0.5)
    m.at()  # the module did leave (late): commands work again


# ---- busy ----------------------------------------------------------------------------------------


def test_busy_module_is_retried_within_the_timeout(
    make_module: ModuleFactory, silent_listener: tuple[str, int]
) -> None:
    """A TLS connect to a peer that never answers keeps the module busy; a command given
    up on leaves it busy, and the next command is retried until the module is free."""
    _, m = make_module(emulator={"connect_timeout": 0.6}, timeout=1.5)
    with pytest.raises(atsock.Timeout):
        m.open_socket(SocketType.SSL_CLIENT, *silent_listener, timeout=0.2)
    started = time.monotonic()
    m.at()  # [Busy]Cmd running, retried; the late ERROR of the connect is not ours
    assert 0.2 <= time.monotonic() - started < 1.5
    assert m.sockets() == []


def test_busy_beyond_the_timeout_is_a_timeout(
    make_module: ModuleFactory, silent_listener: tuple[str, int]
) -> None:
    _, m = make_module(emulator={"connect_timeout": 1.2}, timeout=0.3)
    with pytest.raises(atsock.Timeout):
        m.open_socket(SocketType.SSL_CLIENT, *silent_listener, timeout=0.1)
    started = time.monotonic()
    with pytest.raises(atsock.Timeout, match="busy"):
        m.at()
    assert time.monotonic() - started < 0.3 + SLACK
    time.sleep(1.0)
    m.at()


def test_a_peer_that_closes_with_a_send_backlog_leaves_the_module_answering(
    emu_module: tuple[Emulator, atsock.Module],
) -> None:
    """The module stops reading the UART while a peer does not keep up; a peer that then
    closes must not leave it deaf for good (its backlog can never go)."""
    emu, m = emu_module
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a slow reader
        cid = m.open_socket(SocketType.TCP_CLIENT, *server.getsockname()[:2])
        peer, _ = server.accept()
        with peer:
            emu.sockets[cid].sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            failures: list[BaseException] = []

            def send() -> None:
                try:
                    m.send(cid, bytes(1 << 20), timeout=10.0)
                except atsock.ATError as exc:
                    failures.append(exc)  # the peer went away mid-send: an error is right

            sender = threading.Thread(target=send, daemon=True)
            sender.start()
            assert wait_until(lambda: len(emu.sockets[cid].tx) >= TX_HIGH, 5.0)
            peer.shutdown(socket.SHUT_WR)  # the peer leaves, nothing read
            sender.join(15.0)
            assert not sender.is_alive(), "the send never ended"
    m.at()
    assert cid not in [s.con_id for s in m.sockets() if s.status == atsock.SocketStatus.CONNECTED]
