"""The driver's inbox: chunks from the reader thread reach stream readers in order,
whole or in pieces, bounded (the producer waits, nothing is dropped), and a blocked
reader wakes for data, for a wake-up, or at its timeout."""

from __future__ import annotations

import threading
import time

from hypothesis import given
from hypothesis import strategies as st

from atsock.sync.inbox import Inbox


@given(st.lists(st.binary(max_size=300), max_size=20), st.integers(1, 700))
def test_any_chunks_read_in_any_sizes_come_out_in_order(chunks: list[bytes], size: int) -> None:
    inbox = Inbox(1 << 20)
    for chunk in chunks:
        inbox.put(chunk, lambda: False)
    out = bytearray()
    while piece := inbox.take(size):
        assert len(piece) <= size
        out += piece
    assert bytes(out) == b"".join(chunks)
    assert inbox.unread == 0


def test_take_all_returns_everything_queued_at_once() -> None:
    inbox = Inbox(1 << 20)
    for chunk in (b"ab", b"cd", b"ef"):
        inbox.put(chunk, lambda: False)
    assert inbox.take(3) == b"abc"
    assert inbox.take(None) == b"def"
    assert inbox.take(None) == b""


def test_a_full_inbox_holds_the_producer_until_a_reader_makes_room() -> None:
    inbox = Inbox(limit=10)
    inbox.put(b"01234", lambda: False)  # below the limit: returns at once
    done = threading.Event()

    def produce() -> None:
        inbox.put(b"56789more", lambda: False)  # queued, then waits for room
        done.set()

    thread = threading.Thread(target=produce)
    thread.start()
    assert not done.wait(0.2)
    assert inbox.take(None) == b"0123456789more"
    assert done.wait(2.0)
    thread.join()


def test_a_producer_that_gives_up_stops_waiting() -> None:
    inbox = Inbox(limit=4)
    stop = threading.Event()
    thread = threading.Thread(target=lambda: inbox.put(b"12345", stop.is_set))
    thread.start()
    time.sleep(0.15)
    assert thread.is_alive()
    stop.set()
    thread.join(1.0)
    assert not thread.is_alive()
    assert inbox.take(None) == b"12345"  # given up waiting, the data is still there


def test_wait_returns_on_data_on_wake_and_on_timeout() -> None:
    inbox = Inbox(1 << 20)
    start = time.monotonic()
    assert inbox.wait(0.05) is False
    assert time.monotonic() - start >= 0.04

    threading.Timer(0.05, lambda: inbox.put(b"x", lambda: False)).start()
    assert inbox.wait(2.0) is True
    assert inbox.take(None) == b"x"

    threading.Timer(0.05, inbox.wake).start()
    assert inbox.wait(2.0) is True
    assert inbox.take(None) == b""  # a wake-up carries no data
