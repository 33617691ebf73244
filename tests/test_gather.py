"""A transparent stream's reader gathers a streaming peer's bursts (fewer wake-ups)
without delaying what a reader waits for: a reply to a write, the first data after a
quiet spell, the end of the stream; and only on a line whose rate is known. First
:class:`~atsock.sync.gather.ReadGather` on its own (real threads and clocks), then which
ports have a known line rate, then the driver against the emulator's UART paced at
4 Mbaud. There each wait is bounded by the line's rate (31 ms) and a stream read's
steps (50 ms), so a wait where there should be none would hardly show in the timing:
those tests watch the gather's calls instead.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest
import serial

import atsock
from atsock import SocketType
from atsock.sync.gather import GATHER_BYTES, GATHER_FLOOR, GATHER_MIN, ReadGather
from atsock.sync.portio import PortReader, is_pseudo_terminal, uart_rate
from driver_fixtures import *  # noqa: F403  (the fixtures)
from driver_fixtures import open_module, read_until_it_ends
from peers import TcpCollector, TcpEchoServer

#: the emulator's line: 400 KB/s, in bursts of 4000 bytes every 10 ms
BAUD = 4_000_000
BURST = 4000
#: a gather limit far above the line's window: the line rate is what bounds each wait
LONG_GATHER = 2.0


def streaming(limit: float, rate: float | None = BAUD / 10, took: int = BURST) -> ReadGather:
    """A gather on a line of ``rate`` bytes/s whose last read took ``took`` bytes."""
    gather = ReadGather(limit, rate)
    gather.took(took)
    return gather


def timed_nap(gather: ReadGather, timeout: float = 10.0) -> tuple[float, float]:
    """(what nap returned, how long it really took)."""
    start = time.monotonic()
    napped = gather.nap(timeout)
    return napped, time.monotonic() - start


# ---- ReadGather ---------------------------------------------------------------------------


def test_after_a_burst_the_next_read_waits_up_to_the_limit() -> None:
    napped, took = timed_nap(streaming(0.1, rate=1000.0))
    assert 0.08 <= napped <= took < 1.0


def test_the_wait_lets_at_most_gather_bytes_come_at_the_line_rate() -> None:
    # 4 Mbaud: 400 KB/s bring GATHER_BYTES in 31 ms, so that is the wait (not 1 s)
    gather = streaming(1.0)
    assert gather.window == pytest.approx(GATHER_BYTES / (BAUD / 10))
    napped, _ = timed_nap(gather)
    assert 0.02 <= napped < 0.5
    # a line so fast that the wait would be shorter than a wake-up is worth
    napped, took = timed_nap(streaming(1.0, rate=GATHER_BYTES / (GATHER_FLOOR / 2)))
    assert napped == 0.0 and took < 0.5


@pytest.mark.parametrize(
    ("limit", "rate", "took"),
    [
        (LONG_GATHER, BAUD / 10, GATHER_MIN - 1),  # a reply, or the first data after a quiet spell
        (LONG_GATHER, BAUD / 10, GATHER_BYTES),  # more than the rate said: the line is faster
        (LONG_GATHER, None, BURST),  # a line of unknown speed (a pty, a TCP port)
        (0.0, BAUD / 10, BURST),  # gathering turned off
    ],
)
def test_reads_that_do_not_wait(limit: float, rate: float | None, took: int) -> None:
    napped, took_time = timed_nap(streaming(limit, rate, took))
    assert napped == 0.0 and took_time < 0.5


def test_the_callers_timeout_bounds_the_wait() -> None:
    napped, took = timed_nap(streaming(LONG_GATHER, rate=1000.0), timeout=0.05)
    assert 0.04 <= napped <= took < 1.0


def test_the_wait_counts_from_the_last_read() -> None:
    gather = streaming(0.2, rate=1000.0)
    time.sleep(0.15)  # the caller worked on the data meanwhile
    napped, _ = timed_nap(gather)
    assert napped < 0.1


def test_after_a_write_the_next_read_does_not_wait_and_the_one_after_does() -> None:
    gather = streaming(0.1, rate=1000.0)
    gather.wake()  # the host wrote: a reply may be on its way
    assert gather.nap(10.0) == 0.0
    assert gather.nap(10.0) >= 0.05  # that write is old news now


def test_a_write_from_another_thread_ends_the_wait() -> None:
    gather = streaming(LONG_GATHER, rate=1000.0)
    waker = threading.Timer(0.1, gather.wake)
    waker.start()
    try:
        napped, took = timed_nap(gather)
    finally:
        waker.join()
    assert 0.05 <= napped <= took < 1.5
    assert gather.nap(0.05) >= 0.04  # the wake was used up by the wait it ended


def test_a_wake_that_loses_the_race_to_another_is_no_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two threads wake at once: both see no wake pending, one releases first. That
    interleaving cannot be made to happen on demand, so the second thread's view is
    replayed: its ``locked()`` answered before the first one's release."""
    gather = streaming(0.1, rate=1000.0)
    quiet = gather._quiet
    gather.wake()  # the first thread's wake landed

    class SeenBeforeTheFirstWake:
        def locked(self) -> bool:
            return True

        def release(self) -> None:
            quiet.release()

    monkeypatch.setattr(gather, "_quiet", SeenBeforeTheFirstWake())
    gather.wake()  # the second thread's: a no-op, not a RuntimeError
    monkeypatch.setattr(gather, "_quiet", quiet)
    assert gather.nap(10.0) == 0.0  # one wake pending
    assert gather.nap(10.0) >= 0.05  # and only one


def test_wakes_from_many_threads_at_once_are_one_wake() -> None:
    gather = streaming(0.1, rate=1000.0)
    threads = [threading.Thread(target=gather.wake) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert gather.nap(10.0) == 0.0
    assert gather.nap(10.0) >= 0.05


def test_a_negative_gather_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="stream_gather"):
        atsock.Module("loop://", stream_gather=-0.01)


# ---- which lines have a known rate ----------------------------------------------------------


def test_a_pty_or_a_url_port_has_no_known_line_rate() -> None:
    master, slave = os.openpty()
    try:
        with serial.Serial(os.ttyname(slave), baudrate=4_000_000) as pty:
            assert uart_rate(pty) is None
    finally:
        os.close(master)
        os.close(slave)
    assert uart_rate(serial.serial_for_url("loop://", baudrate=4_000_000)) is None


def test_a_serial_ports_line_rate_is_its_baud_rate_over_ten(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On the machine's own UART, opened read-only and not reconfigured (pyserial's open
    would set its speed and mode): the port object is pyserial's, only unopened."""
    paths = ("/dev/ttyS0", "/dev/ttyS1", "/dev/ttyAMA0")
    fd = next((fd for fd in map(_open_quietly, paths) if fd is not None), None)
    if fd is None:
        pytest.skip("this machine has no serial port to look at")
    try:
        port = serial.Serial(baudrate=4_000_000)
        monkeypatch.setattr(port, "fileno", lambda: fd)
        assert uart_rate(port) == 400_000
    finally:
        os.close(fd)


def _open_quietly(path: str) -> int | None:
    try:
        return os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return None


@pytest.mark.parametrize(
    ("major", "name", "platform", "pty"),
    [
        (136, "/dev/pts/3", "linux", True),
        (136, "/dev/pts/70000", "linux", True),
        (3, "/dev/ttyp0", "linux", True),
        (4, "/dev/ttyS0", "linux", False),
        (188, "/dev/ttyUSB0", "linux", False),
        (166, "/dev/ttyACM0", "linux", False),
        (16, "/dev/ttys003", "darwin", True),
        (9, "/dev/cu.usbserial-A1", "darwin", False),
        (9, "/dev/tty.usbserial-A1", "darwin", False),
    ],
)
def test_pseudo_terminals_are_told_from_serial_ports(
    major: int, name: str, platform: str, pty: bool
) -> None:
    assert is_pseudo_terminal(os.makedev(major, 1), name, platform) is pty


def test_a_module_knows_the_line_rate_of_a_paced_emulator_only() -> None:
    with open_module(f"emu://?baud={BAUD}") as paced, open_module("emu://") as unpaced:
        assert paced.line_rate == BAUD / 10
        assert unpaced.line_rate is None


# ---- the driver over a paced line -----------------------------------------------------------


@pytest.fixture
def paced_module() -> Iterator[atsock.Module]:
    with open_module(f"emu://?baud={BAUD}", stream_gather=LONG_GATHER) as module:
        yield module


def test_a_paced_stream_is_read_several_bursts_at_a_time_and_nothing_is_lost(
    paced_module: atsock.Module, collector: TcpCollector
) -> None:
    payload = os.urandom(100 * BURST)  # one second of the line
    paced_module.open_socket(SocketType.TCP_CLIENT, *collector.address)
    with paced_module.transparent(timeout=5.0) as stream:
        collector.send_to_client(payload)
        received = bytearray()
        sizes = []
        while len(received) < len(payload):
            data = stream.read(1 << 20)
            received += data
            sizes.append(len(data))
    assert received == payload
    # the first read after the quiet start is one burst; then each read waits for more
    assert sum(sizes) / len(sizes) >= 2 * BURST, sizes


def test_a_reply_to_a_write_is_read_without_waiting(
    paced_module: atsock.Module, echo_server: TcpEchoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every echo is bursts long, so every read is a streaming one; still, the first read
    after each write does not wait (a wait's 50 ms steps would hide it in the timing:
    the gather's calls are watched instead)."""
    calls: list[str] = []
    wake, nap = ReadGather.wake, ReadGather.nap

    def watched_wake(self: ReadGather) -> None:
        calls.append("wake")
        wake(self)

    def watched_nap(self: ReadGather, timeout: float) -> float:
        napped = nap(self, timeout)
        calls.append("read at once" if napped == 0 else "waited")
        return napped

    monkeypatch.setattr(ReadGather, "wake", watched_wake)
    monkeypatch.setattr(ReadGather, "nap", watched_nap)
    paced_module.open_socket(SocketType.TCP_CLIENT, *echo_server.address)
    with paced_module.transparent(timeout=5.0) as stream:
        for _ in range(5):
            message = os.urandom(3 * BURST)
            start = time.monotonic()
            stream.write(message)
            echoed = bytearray()
            while len(echoed) < len(message):
                echoed += stream.read(len(message) - len(echoed))
            assert bytes(echoed) == message
            assert time.monotonic() - start < LONG_GATHER / 2
    after_writes = [calls[i + 1] for i, call in enumerate(calls[:-1]) if call == "wake"]
    assert after_writes.count("read at once") >= 5, calls
    assert "waited" in calls  # (the echoes were streams: the other reads gathered)


def test_leaving_transparent_mode_ends_a_gathering_read(
    paced_module: atsock.Module, collector: TcpCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read in the middle of a stream, while the stream is closed from another thread:
    it returns the end of the stream, and the exit wakes the gather (the host writes
    nothing here, so every wake is the exit's)."""
    wakes: list[int] = []
    wake = ReadGather.wake

    def watched_wake(self: ReadGather) -> None:
        wakes.append(1)
        wake(self)

    monkeypatch.setattr(ReadGather, "wake", watched_wake)
    paced_module.open_socket(SocketType.TCP_CLIENT, *collector.address)
    outcome: list[object] = []
    with paced_module.transparent(timeout=5.0) as stream:
        collector.send_to_client(os.urandom(100 * BURST))  # one second of the line
        reader = threading.Thread(target=read_until_it_ends, args=(stream, outcome))
        reader.start()
        time.sleep(0.3)  # the reader gathers bursts now
        assert not wakes
        start = time.monotonic()
        stream.close()
        reader.join(LONG_GATHER)
    assert not reader.is_alive()
    assert outcome == [b""]
    assert wakes
    assert time.monotonic() - start < LONG_GATHER / 2


def test_closing_the_module_lets_a_gathering_read_finish_before_the_port_closes(
    collector: TcpCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that waited for bursts reads at once when woken: closing the module wakes
    it and waits for that read before it closes the descriptor (whose number another
    file may get at once). Every port read is watched for a port already closed."""
    reads_of_a_closed_port: list[int] = []
    read_now = PortReader._read_now

    def watched_read_now(self: PortReader, view: memoryview) -> int | None:
        if not self.port.is_open:
            reads_of_a_closed_port.append(1)
        return read_now(self, view)

    monkeypatch.setattr(PortReader, "_read_now", watched_read_now)
    outcome: list[object] = []
    # 2 Mbaud: bursts of 2000 bytes, and a wait of up to 61 ms between reads
    with open_module("emu://?baud=2000000", stream_gather=LONG_GATHER) as module:
        module.open_socket(SocketType.TCP_CLIENT, *collector.address)
        with pytest.raises(atsock.ATError, match="port closed"):  # noqa: SIM117
            with module.transparent(timeout=5.0) as stream:
                collector.send_to_client(os.urandom(400_000))  # two seconds of the line
                reader = threading.Thread(target=read_until_it_ends, args=(stream, outcome))
                reader.start()
                time.sleep(0.5)
                module.close()
                reader.join(5.0)
    assert not reader.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], atsock.ATError), outcome
    assert not reads_of_a_closed_port
