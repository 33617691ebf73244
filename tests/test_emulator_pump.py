"""The emulator's transparent-mode fast path (emulator/pump.py), over a real pty.

When it runs (a plain TCP peer, unpaced, a pty) and when it does not (UDP, pacing, a
TCP UART); that stopping and restarting it under load — as every fault, timer or
injected byte does — loses, duplicates and reorders nothing; that bytes the loop
writes while it streams land between stream bytes, not inside lost ones; and the
packet split it shares with the loop (:func:`tcp_ready`).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from at_wire import Wire
from atsock import Packetizer
from atsock.emulator import Emulator
from atsock.emulator.firmware.core import tcp_ready
from peers import TcpCollector, TcpEchoServer, UdpPeer, wait_until
from test_emulator_transparent import enter, escape

TIMEOUT = 5.0


@pytest.fixture
def pty_emulator() -> Iterator[tuple[Emulator, Wire]]:
    with Emulator(transport="pty", echo=False) as emu, Wire.open(emu.url) as wire:
        wire.command("AT")
        yield emu, wire


def pumped(emu: Emulator, wire: Wire, peer_port: int) -> None:
    """Connects to the peer, enters transparent mode and waits until the pump runs."""
    wire.open_socket(f"4,127.0.0.1,{peer_port}")
    enter(wire)
    assert wait_until(lambda: emu.pumping)


def test_a_tcp_stream_over_a_pty_runs_on_the_pump_until_the_escape(
    pty_emulator: tuple[Emulator, Wire],
) -> None:
    emu, wire = pty_emulator
    with TcpEchoServer() as echo:
        assert not emu.pumping
        pumped(emu, wire, echo.address[1])
        sock = emu.sockets[1].sock
        assert sock is not None
        # streaming lets the kernel join segments; command mode sends each packet at once
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        wire.write(b"hello")
        assert wire.read_exactly(5) == b"hello"
        escape(wire)
        assert not emu.pumping
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert wire.command("AT") == b"OK\r\n"


def test_udp_and_paced_streams_stay_on_the_loop(pty_emulator: tuple[Emulator, Wire]) -> None:
    emu, wire = pty_emulator
    with UdpPeer() as peer:
        wire.open_socket(f"2,127.0.0.1,{peer.address[1]}")
        enter(wire)
        wire.write(b"datagram")
        assert peer.recv(TIMEOUT)[0] == b"datagram"
        assert not emu.pumping
        escape(wire)
    with (
        Emulator(transport="pty", echo=False, baud=1_000_000) as paced,
        Wire.open(paced.url) as paced_wire,
        TcpEchoServer() as echo,
    ):
        paced_wire.open_socket(f"4,127.0.0.1,{echo.address[1]}")
        enter(paced_wire)
        paced_wire.write(b"paced")
        assert paced_wire.read_exactly(5) == b"paced"
        assert not paced.pumping
        escape(paced_wire)


def test_stopping_and_restarting_the_pump_under_load_loses_nothing(
    pty_emulator: tuple[Emulator, Wire],
) -> None:
    emu, wire = pty_emulator
    payload = os.urandom(2 << 20)
    stop = threading.Event()
    pauses = 0

    def interrupt() -> None:
        nonlocal pauses
        while not stop.is_set():
            emu.call_soon(lambda: None)  # every posted call stops the pump first
            pauses += 1
            time.sleep(0.001)

    with TcpEchoServer() as echo:
        wire.open_socket(f"4,127.0.0.1,{echo.address[1]}")
        enter(wire)
        interrupter = threading.Thread(target=interrupt)
        interrupter.start()

        def write() -> None:  # (a posted call between every two pieces, however fast)
            for start in range(0, len(payload), 32 * 1024):
                seen = pauses
                wire.write(payload[start : start + 32 * 1024])
                while pauses == seen and not stop.is_set():
                    time.sleep(0.0005)

        writer = threading.Thread(target=write)
        writer.start()
        try:
            echoed = wire.read_exactly(len(payload), timeout=60.0)
        finally:
            stop.set()
            interrupter.join()
            writer.join()
        assert echoed == payload
        assert pauses >= len(payload) // (32 * 1024)
        escape(wire)


def test_bytes_the_loop_injects_land_between_stream_bytes(
    pty_emulator: tuple[Emulator, Wire],
) -> None:
    emu, wire = pty_emulator
    with TcpCollector() as peer:
        pumped(emu, wire, peer.address[1])
        chunks = [bytes([65 + i]) * 20_000 for i in range(8)]
        for index, chunk in enumerate(chunks):
            peer.send_to_client(chunk)
            if index == 3:
                emu.inject(b"<injected>")
        expected = sum(len(c) for c in chunks) + len(b"<injected>")
        got = wire.read_exactly(expected, timeout=TIMEOUT)
        at = got.index(b"<injected>")
        assert got[:at] + got[at + len(b"<injected>") :] == b"".join(chunks)
        assert wait_until(lambda: emu.pumping)  # it resumes after the injected bytes
        escape(wire)


def test_a_stall_pauses_a_pumped_stream_and_it_resumes(
    pty_emulator: tuple[Emulator, Wire],
) -> None:
    emu, wire = pty_emulator
    with TcpEchoServer() as echo:
        pumped(emu, wire, echo.address[1])
        emu.stall(0.3)
        assert wait_until(lambda: not emu.pumping)
        started = time.monotonic()
        wire.write(b"during the stall")
        assert wire.read_exactly(16, timeout=TIMEOUT) == b"during the stall"
        assert time.monotonic() - started >= 0.2
        assert wait_until(lambda: emu.pumping)
        escape(wire)


def test_a_reset_while_pumping_returns_to_command_mode(
    pty_emulator: tuple[Emulator, Wire],
) -> None:
    emu, wire = pty_emulator
    with TcpEchoServer() as echo:
        pumped(emu, wire, echo.address[1])
        emu.reset()
        wire.read_until(b"ready\r\n")
        assert not emu.pumping
        wire.drain()  # the boot's Wi-Fi events
        assert wire.command("AT+SOCKET?") == b"OK\r\n"


def test_leaving_while_the_peer_floods_loses_nothing(pty_emulator: tuple[Emulator, Wire]) -> None:
    emu, wire = pty_emulator
    total = 256 * 1024
    with TcpCollector() as peer:
        pumped(emu, wire, peer.address[1])
        flood = threading.Thread(target=peer.send_to_client, args=(b"x" * total,))
        flood.start()
        streamed = len(wire.read_exactly(32 * 1024, timeout=TIMEOUT))
        time.sleep(0.08)  # the guard's silence (the module keeps sending meanwhile)
        wire.write(b"+++")
        before_exit = wire.read_until(b"\r\nOK\r\n", timeout=TIMEOUT)[:-6]
        assert before_exit.strip(b"x") == b""
        streamed += len(before_exit)
        flood.join()
        queued = 0  # the rest waits in the module for SOCKETREAD (passive mode)
        deadline = time.monotonic() + 30.0
        while streamed + queued < total and time.monotonic() < deadline:
            wire.send_line("AT+SOCKETREAD=1")
            wire.read_until(b"+SOCKETREAD,1,")  # SocketDown events may come first
            length = int(wire.read_until(b",")[:-1])
            assert wire.read_exactly(length) == b"x" * length
            assert wire.read_exactly(6) == b"\r\nOK\r\n"
            queued += length
            if not length:
                time.sleep(0.01)
        assert streamed + queued == total


@given(st.lists(st.binary(max_size=3000), max_size=12))
def test_tcp_ready_sends_whole_packets_and_keeps_only_a_tail(chunks: list[bytes]) -> None:
    packets = Packetizer()
    sent = bytearray()
    for index, chunk in enumerate(chunks):
        ready = tcp_ready(packets, chunk, index)
        assert len(ready) % packets.max_packet == 0
        assert packets.pending < packets.max_packet
        sent += ready
    sent += packets.flush() or b""
    assert bytes(sent) == b"".join(chunks)
