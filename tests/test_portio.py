"""Reading and writing a real pty through portio: whole writes arrive intact and in
order however the pty splits them, a write to a port nobody drains ends at the port's
``write_timeout`` (a Module's write too, as a clear error), without one writes go
through a second, blocking descriptor (and through the port's own where the device
cannot be opened again), a module told the link rate knows when the line is done, and
a read returns what is there without waiting for more, all of it in one burst."""

from __future__ import annotations

import contextlib
import os
import pathlib
import select
import signal
import socket
import threading
import time
import tty

import pytest
import serial

import atsock
from atsock.emulator import Emulator
from atsock.sync.portio import CHUNK_FLOOR, PortReader, PortWriter, read_burst


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


def test_a_read_takes_everything_there_in_one_burst(pty_port: tuple[int, serial.Serial]) -> None:
    master, port = pty_port
    os.set_blocking(master, False)
    burst = os.urandom(64 * 1024)
    written = 0
    with contextlib.suppress(BlockingIOError):
        while written < len(burst):  # as much as the pty holds (4 KiB and more)
            written += os.write(master, burst[written:])
    assert written > 2 * 4096
    assert PortReader(port).read() == burst[:written]


def test_a_read_takes_no_more_than_its_caller_can_but_never_a_small_piece() -> None:
    """A stream's reader that can take 100 KiB gets at most that from one read (what it
    cannot take would go through the inbox); one that can take 10 bytes still gets up to
    CHUNK_FLOOR, since reads capped smaller would cost a wake-up each. (A TCP port: all
    of the data is there at once, as a burst of a fast stream is.)"""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = serial.serial_for_url(f"socket://127.0.0.1:{server.getsockname()[1]}", timeout=0)
        conn, _ = server.accept()
        with conn, contextlib.closing(port):
            data = os.urandom(300 * 1024)
            conn.sendall(data)
            time.sleep(0.2)  # (most of it in the port's receive buffer)
            reader = PortReader(port)
            sizes = [len(reader.read(timeout=2.0, size=100 * 1024))]
            got = sizes[0]
            while got < len(data):
                sizes.append(len(reader.read(timeout=2.0, size=10)))
                got += sizes[-1]
    assert 0 < sizes[0] <= 100 * 1024
    assert 0 < max(sizes[1:]) <= CHUNK_FLOOR


def test_after_a_read_that_took_everything_the_next_one_waits_first(
    pty_port: tuple[int, serial.Serial], monkeypatch: pytest.MonkeyPatch
) -> None:
    master, port = pty_port
    reader = PortReader(port)
    os.write(master, b"first")
    assert reader.read() == b"first"
    calls: list[str] = []
    real_select, real_read = select.select, reader._read_now
    monkeypatch.setattr(select, "select", lambda *a: calls.append("wait") or real_select(*a))
    monkeypatch.setattr(
        reader, "_read_now", lambda view: calls.append("_read_now") or real_read(view)
    )
    os.write(master, b"second")
    assert reader.read() == b"second"
    assert calls == ["wait", "_read_now"]  # no read that could only find the port empty
    calls.clear()
    os.write(master, b"third")
    assert reader.read(timeout=0) == b"third"  # a caller that waited already (reader thread)
    assert calls == ["_read_now"]


def test_a_port_whose_descriptor_blocks_is_read_through_the_port() -> None:
    """pyserial's VTIMESerial clears O_NONBLOCK: a read of its descriptor after the data
    would wait for the next byte, with the data in hand. The port reads it instead."""
    master, slave = os.openpty()
    tty.setraw(slave)
    port = serial.serialposix.VTIMESerial(os.ttyname(slave), timeout=None)
    os.close(slave)
    try:
        reader = PortReader(port)
        os.write(master, b"x" * 2000)  # enough for a burst
        started = time.monotonic()
        got = b""
        while len(got) < 2000 and time.monotonic() - started < 3:
            got += reader.read(timeout=0.2)
        assert got == b"x" * 2000
        assert reader.read(timeout=0.2) == b""  # and nothing more: it does not hang
        assert time.monotonic() - started < 3
    finally:
        port.close()
        os.close(master)


def test_read_burst_stops_when_nothing_more_is_there_or_the_buffer_is_full() -> None:
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    view = memoryview(bytearray(8))
    view[:2] = b"ab"
    try:
        os.write(write_end, b"cde")
        assert read_burst(read_end, view, 2, min_first=0) == 5  # then EAGAIN
        os.write(write_end, b"fghijk")
        assert read_burst(read_end, view, 5, min_first=0) == 8  # full: the rest waits
        assert bytes(view) == b"abcdefgh"
        assert os.read(read_end, 10) == b"ijk"
    finally:
        os.close(write_end)
    try:
        assert read_burst(read_end, view, 3, min_first=0) == 3  # end of file
    finally:
        os.close(read_end)


def test_a_short_first_read_is_no_burst() -> None:
    read_end, write_end = os.pipe()
    try:
        os.set_blocking(read_end, False)
        os.write(write_end, b"\r\nOK\r\n" + bytes(2000))
        view = memoryview(bytearray(4096))
        view[:6] = os.read(read_end, 6)
        assert read_burst(read_end, view, 6) == 6  # a reply goes on at once
        assert read_burst(read_end, view, 6, min_first=6) == 2006
    finally:
        os.close(read_end)
        os.close(write_end)


def test_read_burst_keeps_what_it_read_when_the_descriptor_fails() -> None:
    write_only = os.open(os.devnull, os.O_WRONLY)  # reading it fails (EBADF)
    try:
        view = memoryview(bytearray(b"kept....."))
        assert read_burst(write_only, view, 4, min_first=0) == 4  # the next read reports it
        assert bytes(view[:4]) == b"kept"
        with pytest.raises(OSError):
            os.readv(write_only, [view])
    finally:
        os.close(write_only)


def descriptors_of(path: str) -> int:
    """How many of this process's descriptors are open on ``path``."""
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{name}") == path
        except OSError:
            pass  # the listing's own descriptor, already closed
    return count


def drained(master: int, size: int) -> tuple[threading.Thread, bytearray]:
    """A thread reading ``size`` bytes from ``master`` into the returned buffer."""
    received = bytearray()

    def drain() -> None:
        while len(received) < size:
            received.extend(os.read(master, 65536))

    thread = threading.Thread(target=drain)
    thread.start()
    return thread, received


def test_without_a_write_timeout_writes_go_through_a_blocking_descriptor(
    pty_port: tuple[int, serial.Serial],
) -> None:
    master, port = pty_port
    port.write_timeout = None
    path = os.path.realpath(port.port)
    before = descriptors_of(path)
    payload = os.urandom(1 << 20)
    reader, received = drained(master, len(payload))
    writer = PortWriter(port)
    writer.write(payload)
    reader.join(10)
    assert bytes(received) == payload
    assert descriptors_of(path) == before + 1  # the second, blocking descriptor
    writer.close()
    writer.close()
    assert descriptors_of(path) == before


def test_only_a_write_through_the_blocking_descriptor_waits_in_the_kernel(
    pty_port: tuple[int, serial.Serial],
) -> None:
    _, port = pty_port
    writer = PortWriter(port)
    assert not writer.waits_in_kernel()  # a write_timeout: the writer waits in select
    port.write_timeout = None
    assert writer.waits_in_kernel()
    writer.close()
    assert not writer.waits_in_kernel()
    port.close()
    assert not PortWriter(port).waits_in_kernel()  # nor a closed port (nothing is opened)
    loop = serial.serial_for_url("loop://", write_timeout=None)
    assert not PortWriter(loop).waits_in_kernel()  # no descriptor: the port's own write
    loop.close()


def paced_reader(master: int, size: int, rate: float) -> tuple[threading.Thread, bytearray]:
    """A thread reading ``size`` bytes from ``master`` at ``rate`` bytes/s (a UART a
    few KiB of FIFO ahead), into the returned buffer."""
    received = bytearray()

    def read() -> None:
        started = time.monotonic()
        while len(received) < size:
            budget = int((time.monotonic() - started) * rate) + 4096 - len(received)
            if budget <= 0:
                time.sleep(0.005)
                continue
            received.extend(os.read(master, min(budget, 65536)))

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread, received


@pytest.mark.parametrize(("write_timeout", "writes"), [(None, 1), (5.0, 20)])
def test_a_module_with_a_link_rate_knows_when_the_line_is_done(
    write_timeout: float | None, writes: int
) -> None:
    """With a link rate, a write the kernel waits for goes out in one piece (the writing
    thread sleeps in the kernel); one that waits in select goes in LINE_QUEUE-sized
    pieces. Either way ``drain()`` returns once the line has carried the last byte, not
    before it (a ``+++`` after it keeps its guard time) and not long after."""
    rate, size = 400_000, 400_000  # one second of line
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        with atsock.Module(
            os.ttyname(slave), link_rate=rate, write_timeout=write_timeout
        ) as module:
            pieces: list[int] = []
            line = module.link.line
            write_port = line._write_port

            def spy(data: bytes | memoryview, deadline: float) -> None:
                pieces.append(len(data))
                write_port(data, deadline)

            line._write_port = spy  # type: ignore[method-assign]
            payload = os.urandom(size)
            reader, received = paced_reader(master, size, rate)
            started = time.monotonic()
            module.link.write(payload)
            done = module.link.drain()
            reader.join(10)
            assert bytes(received) == payload
            assert len(pieces) == writes and sum(pieces) == size
            assert started + size / rate <= done <= time.monotonic() + 0.01
            assert done < started + size / rate + 0.5
    finally:
        os.close(slave)
        os.close(master)


def test_a_device_that_cannot_be_opened_again_is_written_through_the_port(
    tmp_path: pathlib.Path,
) -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    link = tmp_path / "ttyLINK"
    link.symlink_to(os.ttyname(slave))
    port = serial.Serial(str(link), timeout=0)
    os.close(slave)
    link.unlink()  # the path the port was opened by is gone
    try:
        payload = os.urandom(256 * 1024)
        reader, received = drained(master, len(payload))
        writer = PortWriter(port)
        writer.write(payload)
        reader.join(10)
        assert bytes(received) == payload
        writer.close()
    finally:
        port.close()
        os.close(master)


def test_wait_returns_when_the_port_is_readable(pty_port: tuple[int, serial.Serial]) -> None:
    master, port = pty_port
    reader = PortReader(port)
    assert reader.waitable
    started = time.monotonic()
    assert not reader.wait(0.1)
    assert time.monotonic() - started >= 0.09
    os.write(master, b"x")
    assert reader.wait(1.0)
    assert reader.read(0) == b"x"


def test_closing_the_writer_under_a_blocked_write_ends_that_write(
    pty_port: tuple[int, serial.Serial],
) -> None:
    """A write blocked on a full port while the writer is closed must not go on with a
    descriptor number that something else may open next: it ends with PortNotOpenError."""
    _, port = pty_port
    port.write_timeout = None
    writer = PortWriter(port)
    failure: list[BaseException] = []

    def write() -> None:
        try:
            writer.write(bytes(1 << 20))  # nobody reads: blocks once the pty is full
        except BaseException as exc:
            failure.append(exc)

    previous = signal.signal(signal.SIGUSR1, lambda *_: None)
    try:
        thread = threading.Thread(target=write)
        thread.start()
        time.sleep(0.2)
        writer.close()
        assert thread.ident is not None
        signal.pthread_kill(thread.ident, signal.SIGUSR1)  # the blocked write returns early
        thread.join(5)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert not thread.is_alive()
    assert len(failure) == 1 and isinstance(failure[0], serial.PortNotOpenError), failure


def test_a_module_given_a_write_timeout_ends_a_stalled_write_with_a_clear_error() -> None:
    """The README's advice for a module that may hold CTS: ``write_timeout`` bounds writes."""
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        with atsock.Module(os.ttyname(slave), write_timeout=0.3) as module:
            started = time.monotonic()
            with pytest.raises(atsock.ATError, match="Write timeout"):
                module.link.write(bytes(1 << 20))  # nobody reads the other end
            assert 0.25 <= time.monotonic() - started < 3.0
    finally:
        os.close(slave)
        os.close(master)


def test_a_module_on_a_port_whose_descriptor_blocks_answers_and_does_not_spin() -> None:
    with (
        Emulator(transport="pty", echo=False) as emu,
        atsock.Module(serial.serialposix.VTIMESerial(emu.url, timeout=0)) as module,
    ):
        module.at()
        cpu = time.process_time()
        time.sleep(0.5)  # the reader thread waits for the port, it does not poll it
        assert time.process_time() - cpu < 0.1
        assert module.version()


def test_a_socket_port_is_drained_once_the_far_end_took_its_bytes() -> None:
    # a module behind a TCP port counts its +++ guard from the last byte's arrival: what
    # still waits in the host's socket queue has not arrived
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        port = serial.serial_for_url(f"socket://127.0.0.1:{server.getsockname()[1]}", timeout=0)
        conn, _ = server.accept()
        try:
            writer = PortWriter(port)
            sock = port._socket
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                while True:  # fill the host's queue: the far end reads nothing yet
                    sock.send(b"x" * 65536)
            started = time.monotonic()
            assert writer.wait_sent(started + 0.2) == 0.0  # still queued at the deadline
            assert time.monotonic() - started >= 0.2
            reading = threading.Thread(target=lambda: _read_until_quiet(conn))
            reading.start()
            sent = writer.wait_sent(time.monotonic() + 10.0)
            assert sent > started  # seen empty once the far end read it all
            reading.join(10.0)
        finally:
            conn.close()
            port.close()
    assert PortWriter(serial.serial_for_url("loop://")).wait_sent(time.monotonic() + 1) == 0.0


def _read_until_quiet(conn: socket.socket) -> None:
    conn.settimeout(0.5)
    with contextlib.suppress(TimeoutError, OSError):
        while conn.recv(65536):
            pass
