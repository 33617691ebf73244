"""Soak: 1 GiB through transparent mode, driver ↔ emulator ↔ a TCP echo peer.

The payload is random, written in random sizes, and salted with everything that could
be mistaken for protocol: ``+++`` (inside writes and as writes of its own),
``\\r\\nOK\\r\\n``, ``+EVENT:`` lines, prompts, absurd payload headers. Checks: the SHA-256 of what
was written, of what the peer received and of what came back are equal, and the
process's RSS grows by less than 1 MiB once the pipeline is warm.

Marked ``slow``: ``make soak`` runs it (``pytest -m slow --timeout 1800``), ``make
test`` does not. ``ATSOCK_SOAK_BYTES`` sets another size (for a quick look).
"""

from __future__ import annotations

import hashlib
import os
import random
import socket
import sys
import threading
import time
from typing import Any

import pytest

import atsock
from atsock import SocketType
from atsock.emulator import Emulator
from driver_fixtures import open_module

TOTAL = int(os.environ.get("ATSOCK_SOAK_BYTES", 1 << 30))
#: RSS growth allowed once warm (bytes).
RSS_GROWTH = 1 << 20
#: The stream's first WARM part warms the pipeline up (buffers reach their sizes); the
#: RSS high-water mark of its second WARM part is compared with that of the rest.
WARM = 1 / 16
SEED = int(os.environ.get("ATSOCK_SOAK_SEED", 20240601))
TRICKS = (
    b"+++",
    b"\r\nOK\r\n",
    b"+EVENT:SocketDown,1,5,hello\r\n",
    b"+EVENT:SocketDisconnect,1\r\n",
    b"\r\nERROR\r\n",
    b"\r\n>",
    b"+SOCKETREAD,1,2147483648,",
)


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class HashingEcho:
    """A TCP echo peer for one connection that hashes what it receives."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address: tuple[str, int] = self.listener.getsockname()[:2]
        self.sha = hashlib.sha256()
        self.received = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="hashing-echo", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.listener.settimeout(10)
            conn, _ = self.listener.accept()
            with conn:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                buffer = bytearray(1 << 18)
                view = memoryview(buffer)
                while n := conn.recv_into(buffer):
                    self.sha.update(view[:n])
                    self.received += n
                    conn.sendall(view[:n])
        except BaseException as exc:  # reported by the test
            self.error = exc

    def close(self) -> None:
        self.listener.close()
        self._thread.join(5)


def writer(
    stream: atsock.TransparentStream, total: int, sent: Any, errors: list[BaseException]
) -> None:
    """Writes ``total`` bytes in random sizes with protocol look-alikes, hashing them."""
    rng = random.Random(SEED)
    base = rng.randbytes(4 << 20)
    left = total
    try:
        while left > 0:
            roll = rng.random()
            if roll < 0.02:
                chunk = rng.choice(TRICKS)  # a write of its own
            else:
                size = min(left, int(2 ** rng.uniform(0, 17)))  # 1 B .. 128 KiB, log-uniform
                start = rng.randrange(len(base) - size)
                chunk = base[start : start + size]
                if roll < 0.3 and size > 16:  # a trick inside the write
                    at = rng.randrange(size)
                    trick = rng.choice(TRICKS)
                    chunk = chunk[:at] + trick + chunk[at + len(trick) :]
                    chunk = chunk[:size]
            chunk = chunk[:left]
            sent.update(chunk)
            stream.write(chunk)
            left -= len(chunk)
    except BaseException as exc:
        errors.append(exc)


@pytest.mark.slow
def test_one_gib_through_transparent_mode() -> None:
    peer = HashingEcho()
    sent = hashlib.sha256()
    back = hashlib.sha256()
    errors: list[BaseException] = []
    with Emulator(transport="pty", echo=False) as emu, open_module(emu.url, timeout=10.0) as m:
        m.open_socket(SocketType.TCP_CLIENT, *peer.address)
        started = time.monotonic()
        warm_peak = peak = 0
        with m.transparent(timeout=30.0) as stream:
            thread = threading.Thread(
                target=writer, args=(stream, TOTAL, sent, errors), name="soak-writer"
            )
            thread.start()
            received = 0
            next_sample = int(TOTAL * WARM)
            while received < TOTAL and not errors:
                data = stream.read(1 << 20)
                back.update(data)
                received += len(data)
                if received >= next_sample:  # the high-water mark: warm, then after
                    if received < 2 * TOTAL * WARM:
                        warm_peak = max(warm_peak, rss())
                    else:
                        peak = max(peak, rss())
                    next_sample += 4 << 20
            thread.join(30)
        elapsed = time.monotonic() - started
        m.at()
        assert [s.con_id for s in m.sockets()] == [1]
    peer.close()
    assert not errors, errors
    assert peer.error is None, peer.error
    assert received == TOTAL and peer.received == TOTAL
    assert peer.sha.hexdigest() == sent.hexdigest(), "the peer got other bytes than written"
    assert back.hexdigest() == sent.hexdigest(), "other bytes came back than were written"
    growth = max(0, peak - warm_peak)
    print(
        f"\nsoak: {TOTAL / 2**20:.0f} MiB each way in {elapsed:.1f} s "
        f"({TOTAL / 2**20 / elapsed:.1f} MiB/s each way), RSS {warm_peak / 2**20:.1f} MiB "
        f"warm, growth {growth / 1024:.0f} KiB",
        file=sys.stderr,
    )
    assert growth < RSS_GROWTH, f"RSS grew by {growth / 1024:.0f} KiB"
