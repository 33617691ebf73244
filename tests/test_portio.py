"""Reading and writing a real pty through portio: whole writes arrive intact and in
order however the pty splits them, a write to a port nobody drains ends at the port's
``write_timeout``, and a read returns what is there without waiting for more."""

from __future__ import annotations

import os
import threading
import time
import tty
from collections.abc import Iterator

import pytest
import serial

from atsock.portio import PortReader, PortWriter


@pytest.fixture
def pty_port() -> Iterator[tuple[int, serial.Serial]]:
    """The master side of a raw pty, and a pyserial port on its slave."""
    master, slave = os.openpty()
    tty.setraw(slave)
    port = serial.Serial(os.ttyname(slave), timeout=0, write_timeout=0.3)
    os.close(slave)
    try:
        yield master, port
    finally:
        port.close()
        os.close(master)


def test_a_large_write_arrives_whole_and_in_order(pty_port: tuple[int, serial.Serial]) -> None:
    master, port = pty_port
    payload = os.urandom(1 << 20)
    received = bytearray()

    def drain() -> None:
        while len(received) < len(payload):
            received.extend(os.read(master, 65536))

    reader = threading.Thread(target=drain)
    reader.start()
    PortWriter(port).write(memoryview(payload)[:1000])
    PortWriter(port).write(memoryview(payload)[1000:])
    reader.join(10)
    assert bytes(received) == payload


def test_a_write_nobody_reads_ends_at_the_write_timeout(
    pty_port: tuple[int, serial.Serial],
) -> None:
    _, port = pty_port
    started = time.monotonic()
    with pytest.raises(serial.SerialTimeoutException):
        PortWriter(port).write(bytes(1 << 20))
    assert 0.25 <= time.monotonic() - started < 3.0


def test_a_read_returns_what_is_there_now(pty_port: tuple[int, serial.Serial]) -> None:
    master, port = pty_port
    reader = PortReader(port, poll=0.05)
    assert reader.read() == b""
    os.write(master, b"partial")
    assert reader.read() == b"partial"
