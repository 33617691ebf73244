"""Shared test settings: hypothesis profiles sized for a 2-core CI machine.

Also the module emulator's fixtures (tests/test_emulator_*.py): every emulator test
runs over a real pty and over the TCP URL, talking raw AT through pyserial; and a raw
pty with a pyserial port on it (the port tests, threaded and asyncio).
"""

from __future__ import annotations

import contextlib
import os
import tty
from collections.abc import Iterator
from typing import Any

import pytest
import serial
from hypothesis import HealthCheck, settings

from at_wire import EmulatorFactory, Wire
from atsock.emulator import Emulator
from peers import TlsCertificates

settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


# ---- module emulator fixtures ---------------------------------------------------------------


@pytest.fixture(params=["pty", "tcp"])
def transport(request: pytest.FixtureRequest) -> str:
    """Each emulator test runs over a real pty and over the TCP URL (``socket://``)."""
    return str(request.param)


@pytest.fixture
def make_emulator(transport: str) -> Iterator[EmulatorFactory]:
    """A factory of started emulators (stopped, and their ports closed, after the test)."""
    with contextlib.ExitStack() as stack:

        def make(**options: Any) -> tuple[Emulator, Wire]:
            options.setdefault("echo", False)
            emu = stack.enter_context(Emulator(transport=transport, **options))
            wire = stack.enter_context(Wire.open(emu.url))
            wire.command("AT")  # attached and answering (a TCP UART accepts asynchronously)
            return emu, wire

        yield make


@pytest.fixture
def emulator(make_emulator: EmulatorFactory) -> tuple[Emulator, Wire]:
    """A fresh emulator with echo off, and a raw pyserial conversation with it."""
    return make_emulator()


@pytest.fixture
def wire(emulator: tuple[Emulator, Wire]) -> Wire:
    """The raw conversation of the ``emulator`` fixture."""
    return emulator[1]


@pytest.fixture(scope="session")
def certs() -> TlsCertificates:
    """A throwaway CA with server and client certificates (trustme, ECDSA)."""
    return TlsCertificates()


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
