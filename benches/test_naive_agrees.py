"""The baselines are only fair if they do atsock's job exactly: check that on hostile input.

The benchmarks compare results on the inputs they time; this file drives both sides with
seeded random operation sequences built to hit the edges (timestamps at the guard time
exactly, runs of ``+``, payload headers split anywhere), so a difference found here is a
bug in atsock or in the baseline, never noise.
"""

from __future__ import annotations

import random

import pytest

import atsock
from naive import NaiveFramer, NaiveGuard, NaivePacketizer, format_params, parse_params

G = 1_000  # guard and idle time of the random sequences, in ns
STEPS = (0, 1, G // 2, G - 1, G, G + 1, 3 * G)
SEEDS = range(200)


@pytest.mark.parametrize("seed", SEEDS)
def test_guard_agrees(seed: int) -> None:
    rng = random.Random(seed)
    ours, theirs = atsock.Guard(G), NaiveGuard(G)
    now = 0
    for step in range(60):
        now += rng.choice(STEPS)
        if rng.random() < 0.25:
            assert ours.poll(now) == theirs.poll(now), (seed, step)
        else:
            data = bytes(rng.choice(b"+++x") for _ in range(rng.randint(0, 5)))
            assert ours.feed(data, now) == theirs.feed(data, now), (seed, step, data)
        assert ours.held == theirs.held


@pytest.mark.parametrize("seed", SEEDS)
def test_packetizer_agrees(seed: int) -> None:
    rng = random.Random(seed)
    ours, theirs = atsock.Packetizer(16, G), NaivePacketizer(16, G)
    now = 0
    for step in range(60):
        now += rng.choice(STEPS)
        if rng.random() < 0.25:
            assert ours.poll(now) == theirs.poll(now), (seed, step)
        else:
            data = rng.randbytes(rng.randint(0, 40))
            assert ours.push(data, now) == theirs.push(data, now), (seed, step)
        assert ours.pending == theirs.pending
    assert ours.flush() == theirs.flush()


PIECES = (
    b"\r\n", b"\n", b"\r", b">", b"> ", b" ", b"OK", b"ERROR", b"ready", b"AT", b"at+x",
    b"+SOCKET:97\r\n", b"+CMD:4294967296\r\n", b"+EVENT:SocketDown,1,3", b"+EVENT:X\r\n",
    b"+SOCKETREAD,2,4,", b"+SOCKETREAD,4294967296,1,", b"+SSLCRET:1,2,", b"+SOCKETREAD,1,x",
    b"connect success ConID=7", b"[Busy]", b"1,4,1,127.0.0.1,6000,-1,-1", b"+++", b",",
)  # fmt: skip


@pytest.mark.parametrize("seed", SEEDS)
def test_framer_agrees(seed: int) -> None:
    rng = random.Random(seed)
    stream = b"".join(rng.choice(PIECES) for _ in range(80))
    ours, theirs = atsock.ResponseFramer(), NaiveFramer()
    at = 0
    while at < len(stream):
        piece = stream[at : at + rng.randint(1, 12)]
        got = [(f.kind, f.line, f.payload, f.id, f.code) for f in ours.feed(piece)]
        assert got == theirs.feed(piece), (seed, stream, at)
        at += len(piece)


@pytest.mark.parametrize("seed", SEEDS)
def test_params_agree(seed: int) -> None:
    rng = random.Random(seed)
    line = bytes(rng.choice(b'ab,"\\ \t') for _ in range(rng.randint(0, 12)))
    try:
        expected = atsock.parse_params(line)
    except ValueError:
        with pytest.raises(ValueError):
            parse_params(line)
        return
    assert parse_params(line) == expected, line
    assert format_params(expected) == atsock.format_params(expected), line
