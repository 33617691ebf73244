"""Transparent mode: entering, streaming both ways, leaving with ``+++`` and the guard times,
and the proof (replayed into the core's Guard) that payload never forms an escape."""

from __future__ import annotations

import socket
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import atsock
from atsock import EscapeSafeWriter, Guard, SocketType
from atsock.emulator import Emulator
from driver_fixtures import *  # noqa: F403  (the fixtures)
from driver_fixtures import TIMEOUT, ModuleFactory, open_module, wait_event
from fake_module import FakeModule
from peers import TcpCollector, TcpEchoServer, UdpPeer

ROW = b"1,4,1,127.0.0.1,9,-1,-1\r\n"


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_exactly(stream: atsock.TransparentStream, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        data += stream.read(n - len(data), timeout=2.0)
    return bytes(data)


# ---- against the emulator ---------------------------------------------------------------


def test_stream_both_ways_then_commands_again(
    module: atsock.Module, echo_server: TcpEchoServer
) -> None:
    cid = module.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
    payload = b"+++" + bytes(range(256)) * 20 + b"\r\nOK\r\n+++\r\n+EVENT:SocketDown,1,1\r\n+++"
    with module.transparent() as stream:
        assert stream.readable() and stream.writable()
        stream.write(payload)
        assert read_exactly(stream, len(payload)) == payload
        stream.write(b"+")
        stream.write(b"+")
        stream.write(b"+")  # three lone pluses after a silence: still data
        assert read_exactly(stream, 3) == b"+++"
        buffer = bytearray(4)
        stream.write(b"into")
        n = 0
        while n < 4:
            n += stream.readinto(memoryview(buffer)[n:])
        assert buffer == b"into"
        assert stream.bytes_sent == len(payload) + 7
    assert stream.read(10) == b""
    with pytest.raises(ValueError):
        stream.write(b"late")
    module.at()
    assert [s.con_id for s in module.sockets()] == [cid]
    module.send(cid, b"after")
    wait_event(module, atsock.SocketData)
    assert module.read(cid) == b"after"
    with module.transparent() as stream:  # AT+SOCKETTT re-enters
        stream.write(b"again")
        assert read_exactly(stream, 5) == b"again"


def test_data_arriving_before_the_stream_is_read_is_kept(
    module: atsock.Module, collector: TcpCollector
) -> None:
    module.open_socket(SocketType.TCP_CLIENT, *collector.address)
    with module.transparent() as stream:
        collector.send_to_client(b"early bird")
        time.sleep(0.1)
        assert read_exactly(stream, 10) == b"early bird"
        stream.write(b"x" * 5000)
    assert module.sockets()
    collector.close_all_clients()


def test_read_timeout_in_transparent_mode(
    module: atsock.Module, echo_server: TcpEchoServer
) -> None:
    module.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
    with module.transparent(timeout=0.2) as stream:
        with pytest.raises(atsock.Timeout):
            stream.read(10)
        with pytest.raises(atsock.ATError):
            module.at()  # no commands while the stream owns the port
    module.at()


def test_transparent_udp_client(module: atsock.Module, udp_peer: UdpPeer) -> None:
    module.open_socket(SocketType.UDP_CLIENT, *udp_peer.address)
    with module.transparent() as stream:
        stream.write(b"udp tt")
        data, sender = udp_peer.recv()
        assert data == b"udp tt"
        udp_peer.sendto(b"back", sender)
        assert read_exactly(stream, 4) == b"back"


def test_transparent_server_with_one_seed(module: atsock.Module) -> None:
    port = free_port()
    module.open_socket(SocketType.TCP_SERVER, port=port)
    with socket.create_connection(("127.0.0.1", port), timeout=2) as client:
        wait_event(module, atsock.SocketSeed)
        with module.transparent() as stream:
            client.sendall(b"seed in")
            assert read_exactly(stream, 7) == b"seed in"
            stream.write(b"seed out")
            assert client.recv(100) == b"seed out"


def test_transparent_needs_exactly_one_eligible_connection(
    module: atsock.Module, echo_server: TcpEchoServer
) -> None:
    with pytest.raises(atsock.TransparentError, match="no sockets"):
        module.transparent().__enter__()
    module.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
    module.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
    entering = module.transparent()
    with pytest.raises(atsock.TransparentError, match="ConID 1 TCP_CLIENT CONNECTED"):
        entering.__enter__()
    module.at()  # nothing was left half-entered


def test_guard_time_of_the_module_is_respected(
    make_module: ModuleFactory, echo_server: TcpEchoServer
) -> None:
    _, m = make_module(emulator={"guard_time": 0.08}, guard_time=0.08)
    m.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
    with m.transparent() as stream:
        stream.write(b"+++")
        assert read_exactly(stream, 3) == b"+++"
        stream.write(b"data then +++")
        assert read_exactly(stream, 13) == b"data then +++"
    m.at()


# ---- wire timing, against a scripted module -------------------------------------------


def test_exit_keeps_guard_silences_and_post_exit_delay() -> None:
    guard, delay = 0.05, 0.3
    with FakeModule() as fake:
        fake.expect(b"AT+SOCKET?", ROW, b"OK\r\n")
        fake.expect(b"AT+SOCKETTT", b">", payload=b"+++", after=[b"\r\nOK\r\n"])
        exit_ok = fake.expect(b"AT", b"OK\r\n")
        with open_module(fake.url, guard_time=guard, exit_delay=delay) as m:
            with m.transparent() as stream:
                stream.write(b"payload")
            left = time.monotonic()
            m.at()
            fake.check()
        assert exit_ok.done.wait(TIMEOUT)  # (set just after the reply went out)
        chunks = fake.chunks
        escape = next(i for i, (_, c) in enumerate(chunks) if c == b"+++")
        before, escape_time = chunks[escape - 1][0], chunks[escape][0]
        assert chunks[escape - 1][1].endswith(b"payload")
        assert escape_time - before >= guard * 0.9  # silence before +++
        after = chunks[escape + 1]
        assert after[1] == b"AT\r\n"
        assert after[0] - escape_time >= max(guard, delay) * 0.9  # silence and delay after
        assert after[0] - left >= 0  # the command waited, it was not sent early


def test_a_command_whose_timeout_ends_in_the_exit_delay_is_not_sent() -> None:
    with FakeModule() as fake:
        fake.expect(b"AT+SOCKET?", ROW, b"OK\r\n")
        fake.expect(b"AT+SOCKETTT", b">", payload=b"+++", after=[b"\r\nOK\r\n"])
        fake.expect(b"AT", b"OK\r\n")
        with open_module(fake.url, guard_time=0.02, exit_delay=0.4) as m:
            with m.transparent():
                pass
            with pytest.raises(atsock.Timeout, match="not sent"):
                m.at(timeout=0.1)
            assert fake.lines == [b"AT+SOCKET?", b"AT+SOCKETTT"]
            m.at()
        fake.check()


def test_exit_not_confirmed_is_a_bounded_transparent_error() -> None:
    with FakeModule() as fake:
        fake.expect(b"AT+SOCKET?", ROW, b"OK\r\n")
        fake.expect(b"AT+SOCKETTT", b">", payload=b"+++")  # never says OK
        fake.expect(b"AT", b"OK\r\n")
        with open_module(fake.url, timeout=0.3, guard_time=0.02) as m:
            started = time.monotonic()
            with pytest.raises(atsock.TransparentError, match="did not confirm"):  # noqa: SIM117
                with m.transparent():
                    pass
            assert time.monotonic() - started < 1.5
            m.at()
        fake.check()


def test_module_refusing_transparent_mode() -> None:
    with FakeModule() as fake:
        fake.expect(b"AT+SOCKET?", ROW, b"OK\r\n")
        fake.expect(b"AT+SOCKETTT", b"+SOCKETTT:105\r\nERROR\r\n")
        fake.expect(b"AT", b"OK\r\n")
        with open_module(fake.url) as m:
            with pytest.raises(atsock.TransparentError) as info, m.transparent():
                pass
            assert isinstance(info.value.__cause__, atsock.CommandError)
            assert info.value.__cause__.code == 105
            m.at()
        fake.check()


def test_prompt_and_data_in_one_read_and_urc_held_back() -> None:
    with FakeModule() as fake:
        fake.expect(b"AT+SOCKET?", ROW, b"OK\r\n")
        fake.expect(
            b"AT+SOCKETTT",
            b">hello\r\nOK\r\n+EVENT:SocketDown,1,2\r\n",
            payload=b"+++",
            after=[b"\r\nOK\r\n+EVENT:SocketDisconnect,1\r\n"],
        )
        with open_module(fake.url) as m:
            data = b"hello\r\nOK\r\n+EVENT:SocketDown,1,2\r\n"
            with m.transparent() as stream:
                assert read_exactly(stream, len(data)) == data
            assert wait_event(m, atsock.SocketDisconnected).con_id == 1
            assert not any(isinstance(e, atsock.SocketData) for e in drain(m))
        fake.check()


def drain(module: atsock.Module) -> list[atsock.Event]:
    events = []
    while (event := module.events.get_nowait()) is not None:
        events.append(event)
    return events


# ---- the escape-safe writer, replayed into the core's Guard ----------------------------

GUARD = 0.004
CHUNKS = st.sampled_from([b"+", b"++", b"+++", b"++++", b"a", b"+a", b"a+", b"+++a", b"\r\n"])
PAUSES = st.sampled_from([0.0, 0.0, GUARD / 2, GUARD * 1.2, GUARD * 3])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(CHUNKS, PAUSES), min_size=1, max_size=12))
def test_writer_never_forms_an_escape(steps: list[tuple[bytes, float]]) -> None:
    writes: list[tuple[int, bytes]] = []
    start = time.monotonic_ns()
    writer = EscapeSafeWriter(lambda data: writes.append((time.monotonic_ns(), data)), GUARD)
    for chunk, pause in steps:
        if pause:
            time.sleep(pause)
        writer.write(chunk)
    guard = Guard(int(GUARD * 1e9))
    guard.reset(start)
    out = bytearray()
    for when, data in writes:
        escaped, forward = guard.feed(data, when)
        assert not escaped, f"escape reported at {when - start} ns in {writes!r}"
        out += forward
    escaped, forward = guard.poll(writes[-1][0] + int(10 * GUARD * 1e9))
    assert not escaped, f"escape reported after the last write in {writes!r}"
    out += forward
    assert bytes(out) == b"".join(chunk for chunk, _ in steps)


def test_writer_lone_pluses_after_silence_are_split() -> None:
    writes: list[tuple[int, bytes]] = []
    writer = EscapeSafeWriter(lambda data: writes.append((time.monotonic_ns(), data)), GUARD)
    start = time.monotonic_ns()
    time.sleep(GUARD * 2)
    writer.write(b"+++")
    guard = Guard(int(GUARD * 1e9))
    guard.reset(start)
    for when, data in writes:
        assert guard.feed(data, when)[0] is False
    assert guard.poll(writes[-1][0] + int(GUARD * 10e9))[0] is False
    assert b"".join(d for _, d in writes) == b"+++"
    assert writes[2][0] - writes[0][0] >= GUARD * 1e9  # the third '+' waited out the window


def test_emulator_guard_sees_the_real_escape(emu_module: tuple[Emulator, atsock.Module]) -> None:
    """The driver's own +++ is an escape to the module (the emulator uses the core Guard)."""
    emu, m = emu_module
    with TcpEchoServer() as echo:
        m.open_socket(SocketType.TCP_CLIENT, *echo.address)
        with m.transparent() as stream:
            assert emu.in_transparent
            stream.write(b"abc")
            assert read_exactly(stream, 3) == b"abc"
        assert not emu.in_transparent
        m.at()


def test_transparent_over_tls(module: atsock.Module) -> None:
    from peers import TlsCertificates, TlsEchoServer

    certs = TlsCertificates()
    with TlsEchoServer(certs) as server:
        module.set_certificate(atsock.CertKind.CA, certs.ca_pem)
        module.open_socket(SocketType.SSL_CLIENT, "localhost", server.address[1])
        with module.transparent() as stream:
            data = b"tls +++ stream\r\nOK\r\n"
            stream.write(data)
            assert read_exactly(stream, len(data)) == data
        module.at()


# ---- booting into transparent mode (AT+SOCKETAUTOTT) ------------------------------------


def test_reset_into_transparent_streams_on_the_boots_own_connection(
    module: atsock.Module, echo_server: TcpEchoServer
) -> None:
    module.set_auto_transparent(SocketType.TCP_CLIENT, *echo_server.address)
    for _ in range(2):  # and again: each reset reconnects
        with module.reset_into_transparent() as stream:
            stream.write(b"booted +++ \r\nOK\r\n")
            assert read_exactly(stream, 17) == b"booted +++ \r\nOK\r\n"
        rows = module.sockets()
        assert [(s.con_id, s.type) for s in rows] == [(1, SocketType.TCP_CLIENT)]
    module.disable_auto_transparent()
    module.reset()
    assert module.sockets() == []


def test_reset_into_transparent_needs_the_setting(module: atsock.Module) -> None:
    module.disable_auto_transparent()
    with (
        pytest.raises(atsock.TransparentError, match="AT\\+SOCKETAUTOTT is off"),
        module.reset_into_transparent(),
    ):
        pass
    module.at()


def test_reset_into_transparent_with_a_refused_peer_is_a_clear_error(
    module: atsock.Module,
) -> None:
    module.set_auto_transparent(SocketType.TCP_CLIENT, "127.0.0.1", free_port())
    with (
        pytest.raises(atsock.TransparentError, match="did not connect"),
        module.reset_into_transparent(timeout=1.0),
    ):
        pass
    module.disable_auto_transparent()  # the module stayed in command mode
    module.at()


@pytest.mark.parametrize("prompt_after", [0.5, 0.25])  # before / while the next command waits
def test_a_transparent_prompt_after_the_timeout_is_left_before_the_next_command(
    prompt_after: float,
) -> None:
    with FakeModule() as fake:
        fake.expect(b"AT+SOCKET?", ROW, b"OK\r\n")
        fake.expect(b"AT+SOCKETTT", prompt_after, b">", payload=b"+++", after=[b"\r\nOK\r\n"])
        fake.expect(b"AT", b"OK\r\n")
        with open_module(fake.url, guard_time=0.02) as m:
            with pytest.raises(atsock.Timeout):  # noqa: SIM117
                with m.transparent(timeout=0.2):
                    pass
            if prompt_after > 0.4:
                time.sleep(prompt_after)  # the '>' came: the module streams
            m.at()  # not data for the peer: the module left transparent mode first
        assert fake.payloads == [b"+++"]
        fake.check()
