"""A UDP peer that floods faster than the host reads, end to end (driver ↔ emulator).

Memory stays bounded on both sides and drops are counted where they happen: in the
module's receive queue in passive mode (the emulator's ``ModuleSocket.dropped``, and a
warning in its log: a real module cannot tell the host), in the driver's buffer in
active mode (:meth:`atsock.Module.dropped`, and a warning). Nothing crashes, and the
socket keeps working.
"""

from __future__ import annotations

import logging
import os
import socket
import time

import pytest

import atsock
from atsock import ReceiveMode, SocketType
from atsock.emulator import Emulator
from atsock.emulator.netsock import RX_LIMIT
from atsock.protocol import conns
from driver_fixtures import *  # noqa: F403  (the fixtures)
from driver_fixtures import ModuleFactory, wait_event
from peers import UdpPeer, wait_until

DATAGRAM = 1000
#: Allowed growth of this process's RSS during a flood (bytes).
RSS_BOUND = 16 << 20


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def flood(peer: UdpPeer, to: tuple[str, int], count: int) -> None:
    """``count`` numbered datagrams, in bursts the loopback's socket buffers survive."""
    for i in range(count):
        peer.sendto(i.to_bytes(4, "big") * (DATAGRAM // 4), to)
        if i % 64 == 63:
            time.sleep(0.0005)


def connect_udp(m: atsock.Module, peer: UdpPeer) -> tuple[atsock.Socket, tuple[str, int]]:
    sock = m.create_connection(peer.address, timeout=2.0, udp=True)
    sock.sendall(b"hello")
    data, module_address = peer.recv()
    assert data == b"hello"
    return sock, module_address


def drain(sock: atsock.Socket) -> list[bytes]:
    sock.settimeout(0)
    packets = []
    while True:
        try:
            packets.append(sock.recv(65536))
        except BlockingIOError:
            return packets


def test_passive_mode_flood_drops_in_the_module_and_counts(
    emu_module: tuple[Emulator, atsock.Module], udp_peer: UdpPeer, caplog: pytest.LogCaptureFixture
) -> None:
    emu, m = emu_module
    sock, module_address = connect_udp(m, udp_peer)
    before = rss()
    with caplog.at_level(logging.WARNING, logger="atsock.emulator"):
        flood(udp_peer, module_address, 2000)  # 2 MB for a 64 KiB queue
        ms = emu.firmware.sockets.get(sock.con_id)
        assert ms is not None
        assert wait_until(lambda: ms.dropped > 0)
        time.sleep(0.1)
    assert any("queue full" in r.message for r in caplog.records)
    assert ms.rx_bytes < RX_LIMIT + DATAGRAM  # a packet is admitted while under the limit
    packets = drain(sock)
    assert 0 < sum(map(len, packets)) <= RX_LIMIT + DATAGRAM
    assert all(p == p[:4] * (DATAGRAM // 4) for p in packets)  # whole datagrams, intact
    assert ms.dropped + len(packets) <= 2000
    assert rss() - before < RSS_BOUND
    sock.sendall(b"still here")
    assert udp_peer.recv()[0] == b"still here"
    udp_peer.sendto(b"and back", module_address)
    wait_event(m, atsock.SocketData, lambda e: e.length == 8)
    assert drain(sock) == [b"and back"]
    m.at()


def test_active_mode_flood_is_bounded_in_the_driver_and_drops_are_reported(
    make_module: ModuleFactory,
    udp_peer: UdpPeer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(conns, "RX_BUFFER_MAX", 64 * 1024)  # a small buffer: a quick flood
    _, m = make_module()
    m.set_receive_mode(ReceiveMode.ACTIVE)
    sock, module_address = connect_udp(m, udp_peer)
    before = rss()
    with caplog.at_level(logging.WARNING, logger="atsock.sync.link"):
        flood(udp_peer, module_address, 1000)  # 1 MB
        assert wait_until(lambda: m.dropped(sock.con_id) > 0, 5.0)
        time.sleep(0.2)
    assert any("receive buffer full" in r.message for r in caplog.records)
    assert m.connections.announced(every=True)[sock.con_id] <= conns.RX_BUFFER_MAX
    kept = drain(sock)
    assert sum(map(len, kept)) <= conns.RX_BUFFER_MAX
    dropped = m.dropped(sock.con_id)
    assert dropped % DATAGRAM == 0 and dropped + sum(map(len, kept)) <= 1000 * DATAGRAM
    assert m.dropped() >= dropped
    assert rss() - before < RSS_BOUND
    udp_peer.sendto(b"and back", module_address)  # room again: nothing more is dropped
    deadline = time.monotonic() + 2.0
    while not (got := drain(sock)) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert got == [b"and back"]
    assert m.dropped(sock.con_id) == dropped
    sock.sendall(b"still here")
    assert udp_peer.recv()[0] == b"still here"
    m.at()


def test_flood_during_transparent_mode_never_crashes(
    emu_module: tuple[Emulator, atsock.Module], udp_peer: UdpPeer
) -> None:
    """Transparent mode applies backpressure instead: everything the module forwards
    arrives intact; what the kernel or the module could not take is simply not there."""
    _, m = emu_module
    sock, module_address = connect_udp(m, udp_peer)
    with m.transparent() as stream:
        flood(udp_peer, module_address, 1000)
        received = bytearray()
        while True:
            try:
                received += stream.read(65536, timeout=0.3)
            except atsock.Timeout:
                break
        assert 0 < len(received) <= 1000 * DATAGRAM
        stream.write(b"alive")
        assert udp_peer.recv()[0] == b"alive"
    assert [s.con_id for s in m.sockets()] == [sock.con_id]
    m.at()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_udp_server_flood_from_many_peers(module: atsock.Module) -> None:
    port = free_udp_port()
    server = module.udp_server(port)
    peers = [UdpPeer() for _ in range(4)]
    try:
        for peer in peers:
            flood(peer, ("127.0.0.1", port), 200)
        wait_event(module, atsock.SocketData)
        time.sleep(0.1)
        total = sum(map(len, drain(server)))
        assert 0 < total <= RX_LIMIT + DATAGRAM
        assert [s.type for s in module.sockets()] == [SocketType.UDP_SERVER]
    finally:
        for peer in peers:
            peer.close()
        server.close()
    module.at()
