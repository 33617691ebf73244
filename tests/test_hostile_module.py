"""A hostile (or badly broken) module cannot make the driver grow without bound or hang.

Absurd declared lengths (2^31 and beyond), endless lines, endless URCs, URCs for
impossible ConIDs, a flood of data nobody reads: each ends in a clear, typed error or
a counted drop, memory stays bounded, and the next command works. The module here is
:class:`FakeModule` (exact bytes on a pty), so nothing limits what "it" sends.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

import atsock
from atsock.protocol import conns
from driver_fixtures import *  # noqa: F403  (the fixtures)
from driver_fixtures import open_module
from fake_module import FakeModule
from peers import wait_until

#: Allowed growth of the test process's peak RSS while a hostile module talks (bytes).
RSS_BOUND = 16 << 20


def rss() -> int:
    """Current resident set size of this process (bytes)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def blast(fake: FakeModule, chunk: bytes, total: int) -> int:
    """Plays at least ``total`` bytes of ``chunk`` repeated, as fast as the pty takes
    them; returns how many ``chunk`` went out."""
    per_block = max(1, 65536 // len(chunk))
    block = chunk * per_block
    sent = count = 0
    while sent < total:
        fake.send(block)
        sent += len(block)
        count += per_block
    return count


# ---- absurd lengths ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        b"+SOCKETREAD,1,2147483648,",
        b"+SOCKETREAD,1,18446744073709551616,",
        b"+SOCKETREAD,1,99999999999999999999999999999999,",
        b"+SSLCRET:1,2147483647,",
    ],
    ids=["2^31", "2^64", "huge", "sslcret"],
)
def test_absurd_declared_length_is_a_framing_error(fake: FakeModule, header: bytes) -> None:
    fake.expect(b"AT+SOCKETREAD=1", header + b"x" * 5000 + b"\r\nOK\r\n")
    fake.expect(b"AT", b"OK\r\n")
    with open_module(fake.url, timeout=0.5) as m:
        started = time.monotonic()
        with pytest.raises((atsock.FramingError, atsock.Timeout)) as info:
            m.read(1)
        assert time.monotonic() - started < 1.0
        assert isinstance(info.value, atsock.ATError)
        assert m.framing_errors >= 1 or isinstance(info.value, atsock.Timeout)
        m.at()
    fake.check()


def test_absurd_length_in_an_event_between_commands(fake: FakeModule) -> None:
    fake.expect(b"AT", b"OK\r\n")
    with open_module(fake.url) as m:
        fake.send(b"+EVENT:SocketDown,1,4294967296,AAAA\r\n")
        assert wait_until(lambda: m.framing_errors == 1)
        m.at()
        assert m.connections.announced(every=True).get(1, 0) == 0  # nothing was buffered for it
    fake.check()


def test_declared_length_never_completed_is_a_timeout_not_a_hang(fake: FakeModule) -> None:
    """100 bytes announced, 3 sent, then silence: the read times out in the configured
    time, the unfinished frame is dropped, and the next command works."""
    fake.expect(b"AT+SOCKETREAD=1", b"+SOCKETREAD,1,100,abc")
    fake.expect(b"AT", b"OK\r\n")
    fake.expect(b"AT", b"OK\r\n")
    with open_module(fake.url, timeout=0.3) as m:
        started = time.monotonic()
        with pytest.raises(atsock.Timeout):
            m.read(1)
        assert 0.25 <= time.monotonic() - started < 0.8
        m.at()
        m.at()
    fake.check()


# ---- endless lines ---------------------------------------------------------------------------


def test_endless_line_is_bounded_and_a_clear_error(fake: FakeModule) -> None:
    """32 MiB without a line end while a command waits: memory stays bounded, the
    command fails with a framing error (its timeout is well beyond the blast's time,
    even on a loaded machine) and the next one works."""
    fake.expect(b"AT+SOCKET?")
    fake.expect(b"AT", b"OK\r\n")
    with open_module(fake.url, timeout=10.0) as m:
        m_rss = rss()
        failures: list[BaseException] = []

        def query() -> None:
            try:
                m.sockets()
            except atsock.ATError as exc:
                failures.append(exc)

        thread = threading.Thread(target=query)
        thread.start()
        fake.wait_lines(1)
        blast(fake, b"endless line without an end ", 32 << 20)
        fake.send(b"\r\nOK\r\n")
        thread.join(15)
        assert not thread.is_alive()
        assert len(failures) == 1 and isinstance(failures[0], atsock.FramingError)
        assert "line" in str(failures[0])
        assert rss() - m_rss < RSS_BOUND
        m.at()
    fake.check()


# ---- endless events ----------------------------------------------------------------------------


def test_endless_events_are_bounded_and_counted(fake: FakeModule) -> None:
    fake.expect(b"AT", b"OK\r\n")
    with open_module(fake.url, max_events=100) as m:
        done = watch_for(m, atsock.SocketDisconnected(1))
        blast(fake, b"+EVENT:WIFI_GOT_IP\r\n", 4 << 20)  # ~200 000 events
        fake.send(b"+EVENT:SocketDisconnect,1\r\n")
        assert done.wait(5.0)
        assert len(m.events) <= 100
        assert m.events.dropped > 150_000
        m.at()
    fake.check()


def watch_for(m: atsock.Module, target: atsock.Event) -> threading.Event:
    """Set once ``target`` has been published (seen through a callback: the events
    queue may have dropped it by the time the test looks)."""
    seen = threading.Event()
    m.on_event(lambda event: seen.set() if event == target else None)
    return seen


def test_events_for_impossible_conids_cannot_grow_the_driver(fake: FakeModule) -> None:
    fake.expect(b"AT", b"OK\r\n")
    with open_module(fake.url, max_events=100) as m:
        burst = bytearray()
        for i in range(5_000):
            con_id = 1000 + i
            burst += b"+EVENT:SocketDown,%d,1,x\r\n" % con_id
            burst += b"+EVENT:SocketSeed,%d,%d\r\n" % (con_id, con_id + 1)
            burst += b"+EVENT:SocketDisconnect,%d\r\n" % con_id
        burst += b"+EVENT:SocketSeed,%d,1\r\n" * 1000 % tuple(range(2, 1002))
        fake.send(bytes(burst))
        done = watch_for(m, atsock.WifiEvent("WIFI_DISCONNECT"))
        fake.send(b"+EVENT:SocketDown,\xc2\xb2,1,x\r\n+EVENT:WIFI_DISCONNECT\r\n")
        assert done.wait(5.0)
        tracked = m.connections.announced(every=True)
        assert len(tracked) <= conns.MAX_CON_ID + 1
        assert len(m.connections.conn(1).seeds) <= conns.MAX_SEEDS
        m.at()
    fake.check()


# ---- a flood of data nobody reads ----------------------------------------------------------------


def test_active_mode_flood_is_bounded_and_drops_are_reported(fake: FakeModule) -> None:
    fake.expect(b"AT+SOCKETRECVCFG=1", b"OK\r\n")
    fake.expect(b"AT", b"OK\r\n")
    packet = b"+EVENT:SocketDown,1,1024," + bytes(range(256)) * 4 + b"\r\n"
    with open_module(fake.url) as m:
        m.set_receive_mode(atsock.ReceiveMode.ACTIVE)
        sock = atsock.Socket(m, 1, atsock.SocketType.UDP_CLIENT)
        before = rss()
        packets = blast(fake, packet, 8 << 20)  # 8 MiB for a buffer of 1 MiB
        done = watch_for(m, atsock.WifiEvent("WIFI_DISCONNECT"))
        fake.send(b"+EVENT:WIFI_DISCONNECT\r\n")
        assert done.wait(5.0)
        buffered = m.connections.announced(every=True)[1]
        assert buffered <= conns.RX_BUFFER_MAX
        dropped = m.dropped(1)
        assert dropped > 0 and dropped + buffered == packets * 1024
        assert m.dropped() == dropped  # the total, over every ConID
        assert rss() - before < RSS_BOUND
        sock.settimeout(0)
        assert sock.recv(1024) == bytes(range(256)) * 4  # what was kept is intact
        m.at()
    fake.check()
