"""``timeout=None`` means "wait as long as it takes", as in pyserial: for the module's
default (``Module(url, timeout=None)``) and for a single call on a module with a numeric
default; leaving ``timeout`` out of a call means the module's default."""

from __future__ import annotations

import math
import threading
import time

import pytest

import atsock
from atsock.emulator import Emulator
from driver_fixtures import *  # noqa: F403  (the fixtures)
from driver_fixtures import TIMEOUT, ModuleFactory, open_module
from peers import TcpEchoServer


def test_module_without_a_timeout_runs_commands_sockets_and_streams(
    make_module: ModuleFactory, echo_server: TcpEchoServer
) -> None:
    _, module = make_module(timeout=None)
    assert module.timeout == math.inf
    module.at()
    assert module.version()
    with module.create_connection(echo_server.address) as sock:
        sock.sendall(b"hello\r\nOK\r\n")
        received = b""
        while len(received) < 11:
            received += sock.recv(64)
        assert received == b"hello\r\nOK\r\n"
    module.open_socket(atsock.SocketType.TCP_CLIENT, *echo_server.address)
    with module.transparent() as stream:
        stream.write(b"+++ through")
        received = b""
        while len(received) < 11:
            received += stream.read(64)
        assert received == b"+++ through"
    module.at()


def test_a_call_without_a_timeout_outwaits_the_default(make_module: ModuleFactory) -> None:
    emu, module = make_module(timeout=0.3)
    emu.stall(1.0)  # in effect when it returns
    started = time.monotonic()
    module.at(timeout=None)  # the default would give up after 0.3 s
    assert time.monotonic() - started > 0.3
    emu.stall(1.0)
    with pytest.raises(atsock.Timeout, match=r"within 0\.3 s"):
        module.at()  # no timeout given: the module's own
    module.at(timeout=None)


def test_a_module_without_a_timeout_waits_for_a_stalled_module(emu_transport: str) -> None:
    with (
        Emulator(transport=emu_transport, echo=False) as emu,
        open_module(emu.url, timeout=None) as module,
    ):
        module.at()
        emu.stall(2 * TIMEOUT)
        done = threading.Event()
        thread = threading.Thread(target=lambda: (module.at(), done.set()), daemon=True)
        thread.start()
        assert not done.wait(TIMEOUT)  # longer than any default: still waiting
        assert done.wait(3 * TIMEOUT)
        thread.join()


@pytest.mark.parametrize("bad", [0, -1.0, math.nan])
def test_a_timeout_must_be_positive_or_none(emu_transport: str, bad: float) -> None:
    with Emulator(transport=emu_transport, echo=False) as emu:
        with pytest.raises(ValueError, match=r"None \(no limit\) or a positive number"):
            open_module(emu.url, timeout=bad)
        with (
            open_module(emu.url) as module,
            pytest.raises(ValueError, match=r"None \(no limit\) or a positive number"),
        ):
            module.at(timeout=bad)
