"""The proxy's receive flow (atsock.proxy.flow): active receive mode while clients keep
up, passive while data piles up — a slow client still gets every byte in order, the
driver drops nothing, and the module's mode is given back. Underneath, a socket reads
a stream intact while its receive mode is switched back and forth under it (active
data that comes while announced packets are unread waits behind them)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

import atsock
from atsock import ReceiveMode
from atsock.proxy import SocksProxy
from driver_fixtures import *  # noqa: F403  (the fixtures)
from driver_fixtures import ModuleFactory
from peers import recv_exactly, wait_until
from test_proxy import socks_connect

TIMEOUT = 20.0
SIZE = 4 << 20


@contextlib.contextmanager
def sending(data: bytes, pause: float = 0.0, piece: int = 16 * 1024) -> Iterator[tuple[str, int]]:
    """A server that sends each client ``data`` (in pieces ``pause`` seconds apart, if
    ``pause``); its address."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with client:
                if not pause:
                    client.sendall(data)
                    continue
                for at in range(0, len(data), piece):
                    client.sendall(data[at : at + piece])
                    time.sleep(pause)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[:2]
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # (wakes the accept)
        listener.close()
        thread.join(5)


@pytest.fixture
def source() -> Iterator[tuple[tuple[str, int], bytes]]:
    """A server that sends each client the same 4 MiB of random bytes."""
    data = os.urandom(SIZE)
    with sending(data) as address:
        yield address, data


def read_all(client: socket.socket, size: int, pause: float = 0.0) -> bytes:
    got = bytearray()
    while len(got) < size:
        chunk = client.recv(64 * 1024)
        assert chunk, f"the download ended after {len(got)} of {size} bytes"
        got += chunk
        time.sleep(pause)
    return bytes(got)


#: The emulator's line for the slow-client test: a fast UART (5 MB/s). The switch to
#: passive has HIGH's margin (512 KiB: 100 ms of this line) to take; an unpaced emulator
#: fills it in a few ms, less than a loaded machine may keep the flow thread waiting.
FAST_UART = 50_000_000


def test_a_slow_client_gets_every_byte_while_the_module_backs_off(
    make_module: ModuleFactory, source: tuple[tuple[str, int], bytes]
) -> None:
    _, module = make_module(emulator={"baud": FAST_UART})
    address, data = source
    with SocksProxy(module) as proxy:
        assert proxy.flow is not None and module.receive_mode == ReceiveMode.ACTIVE
        with socks_connect(proxy.address, *address, rcvbuf=4096) as client:
            client.settimeout(TIMEOUT)
            flow = proxy.flow  # (not reading: the module's data piles up on the host)
            assert wait_until(lambda: flow.backoffs >= 1, TIMEOUT), "the module never backed off"
            got = read_all(client, SIZE, pause=0.001)
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
        assert module.connections.dropped() == 0
    assert module.receive_mode == ReceiveMode.PASSIVE  # (the mode it had, given back)
    assert wait_until(lambda: module.sockets() == [], TIMEOUT)


def test_without_receive_flow_the_module_is_passive_whatever_it_was_left_in(
    module: atsock.Module, source: tuple[tuple[str, int], bytes]
) -> None:
    address, data = source
    module.set_receive_mode(ReceiveMode.ACTIVE)  # (as another program may leave it)
    with SocksProxy(module, receive_flow=False) as proxy:
        assert proxy.flow is None
        with socks_connect(proxy.address, *address) as client:
            client.settimeout(TIMEOUT)
            assert read_all(client, SIZE) == data
        assert module.receive_mode == ReceiveMode.PASSIVE


def test_a_stream_stays_in_order_while_its_receive_mode_flips(module: atsock.Module) -> None:
    data = os.urandom(SIZE // 4)
    done = threading.Event()
    flips = [0]

    def flip() -> None:
        while not done.is_set():
            active = flips[0] % 2 == 0
            module.set_receive_mode(ReceiveMode.ACTIVE if active else ReceiveMode.PASSIVE)
            flips[0] += 1
            time.sleep(0.005)

    # (sent slower than passive reads go: what piles up in the driver stays far below
    # its bound however the switches fall)
    with (
        sending(data, pause=0.004, piece=8 * 1024) as address,
        module.create_connection(address) as sock,
    ):
        sock.settimeout(TIMEOUT)
        flipper = threading.Thread(target=flip)
        flipper.start()
        try:
            got = bytearray()
            while len(got) < len(data):
                got += recv_exactly(sock, min(32 * 1024, len(data) - len(got)))
                # at least one switch lands between any two pieces, however fast they came
                seen = flips[0]
                deadline = time.monotonic() + TIMEOUT
                while flips[0] == seen and time.monotonic() < deadline:
                    time.sleep(0.001)
        finally:
            done.set()
            flipper.join(TIMEOUT)
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    assert module.connections.dropped() == 0
    assert flips[0] >= 20, flips
