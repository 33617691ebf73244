"""Deterministic inputs for the guard, packetizer and params benchmarks.

The framer has its own generator (:mod:`mixed_stream`); these are the host → module
side: transparent-mode traffic with the timestamps it arrived at, including real
``+++`` escapes and near misses, and AT parameter lists of the shapes commands carry.
"""

from __future__ import annotations

import random
from typing import Optional

from mixed_stream import DEFAULT_SEED, payload_bytes

GUARD_NS = 20_000_000
IDLE_NS = 20_000_000
CHUNK_GAP_NS = 1_000  # well inside guard and idle time: a busy UART

# (data, now_ns): data to feed at now_ns, or None to poll at now_ns.
Event = tuple[Optional[bytes], int]


def traffic(size: int, seed: int = DEFAULT_SEED) -> bytes:
    """``size`` bytes of transparent-mode payload with ``+++`` and friends inside."""
    rng = random.Random(seed ^ 0x5EED)
    return payload_bytes(rng, size)


def guard_events(data: bytes, chunk: int) -> list[Event]:
    """``data`` fed in ``chunk``-byte pieces; every 16th piece is followed by, in turn, an
    escape (``+++`` with silence around it, settled by a poll), a ``++`` that a poll
    releases as data, or a ``+++`` that data cuts short inside its trailing guard."""
    events: list[Event] = []
    now = 0
    for n, start in enumerate(range(0, len(data), chunk)):
        now += CHUNK_GAP_NS
        events.append((data[start : start + chunk], now))
        if n % 16 != 15:
            continue
        now += GUARD_NS
        kind = (n // 16) % 3
        if kind == 0:
            events += [(b"+++", now), (None, now + GUARD_NS)]
            now += GUARD_NS
        elif kind == 1:
            events += [(b"++", now), (None, now + GUARD_NS + 1)]
            now += GUARD_NS + 1
        else:
            events.append((b"+++", now))
    return events


def packetizer_events(data: bytes, chunk: int) -> list[Event]:
    """``data`` in ``chunk``-byte pieces, the first 100 bytes short so that packets never
    line up with pieces; every 16th piece is followed by an idle gap and a poll."""
    events: list[Event] = []
    now = 0
    bounds = [0, *range(chunk - 100, len(data), chunk), len(data)]
    for n, (start, stop) in enumerate(zip(bounds, bounds[1:])):
        now += CHUNK_GAP_NS
        events.append((data[start:stop], now))
        if n % 16 == 15:
            now += IDLE_NS
            events.append((None, now))
    return events


def param_lists(count: int, seed: int = DEFAULT_SEED) -> list[bytes]:
    """``count`` AT parameter lists: bare numbers and hosts, quoted text with commas,
    escaped quotes and backslashes, empty values."""
    rng = random.Random(seed ^ 0xA7A7)
    words = [b"hello", b"a,b", b'say "hi"', b"C:\\tmp", b" padded ", b"", b"x" * 40]
    lines: list[bytes] = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.4:
            lines.append(b"4,127.0.0.%d,%d" % (rng.randint(1, 254), rng.randint(1024, 65535)))
        elif roll < 0.6:
            lines.append(b'"114.114.114.%d","8.8.8.8"' % rng.randint(1, 254))
        else:
            text = b" ".join(rng.choice(words) for _ in range(rng.randint(1, 4)))
            escaped = text.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
            lines.append(b'%d,%d,"%s"' % (rng.randint(1, 8), len(text), escaped))
    return lines
