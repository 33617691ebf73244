"""The module's turns (:class:`atsock.sync.turns.Turns`): first come first served, re-entrant
for the holder, and a waiter that gives up leaves the line without holding it up."""

from __future__ import annotations

import math
import threading
import time

import pytest

from atsock.sync.turns import Turns


def _hold(turns: Turns, order: list[str], name: str, started: threading.Event) -> None:
    started.set()
    assert turns.acquire(math.inf)
    order.append(name)
    turns.release()


def test_turns_go_in_the_order_they_were_asked_for() -> None:
    turns = Turns()
    assert turns.acquire(math.inf)
    order: list[str] = []
    threads = []
    for name in "abcde":
        started = threading.Event()
        thread = threading.Thread(target=_hold, args=(turns, order, name, started))
        thread.start()
        started.wait()
        time.sleep(0.02)  # (each is waiting before the next asks)
        threads.append(thread)
    turns.release()
    for thread in threads:
        thread.join(5)
    assert order == list("abcde")


def test_a_holder_that_asks_again_at_once_goes_behind_a_waiter() -> None:
    # what a plain Lock gets wrong: a long send's next command would cut in
    turns = Turns()
    order: list[str] = []
    assert turns.acquire(math.inf)
    started = threading.Event()
    waiter = threading.Thread(target=_hold, args=(turns, order, "waiter", started))
    waiter.start()
    started.wait()
    time.sleep(0.02)
    turns.release()
    assert turns.acquire(math.inf)
    order.append("sender")
    turns.release()
    waiter.join(5)
    assert order == ["waiter", "sender"]


def test_the_holder_nests_and_others_wait_for_the_outermost_release() -> None:
    turns = Turns()
    assert turns.acquire(math.inf) and turns.acquire(math.inf)
    assert turns.held()
    turns.release()
    got: list[bool] = []
    other = threading.Thread(target=lambda: got.append(turns.acquire(time.monotonic() + 0.1)))
    other.start()
    other.join(5)
    assert got == [False]  # still held once
    turns.release()
    assert not turns.held()
    other = threading.Thread(target=lambda: got.append(turns.acquire(time.monotonic() + 1)))
    other.start()
    other.join(5)
    assert got == [False, True]


def test_a_waiter_that_gives_up_does_not_hold_up_the_next() -> None:
    turns = Turns()
    assert turns.acquire(math.inf)
    results: dict[str, bool] = {}

    def ask(name: str, patience: float) -> None:
        results[name] = turns.acquire(time.monotonic() + patience)
        if results[name]:
            turns.release()

    impatient = threading.Thread(target=ask, args=("impatient", 0.05))
    impatient.start()
    time.sleep(0.01)
    patient = threading.Thread(target=ask, args=("patient", 5.0))
    patient.start()
    impatient.join(5)
    time.sleep(0.02)
    turns.release()
    patient.join(5)
    assert results == {"impatient": False, "patient": True}


def test_release_without_the_turn_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="does not hold"):
        Turns().release()
