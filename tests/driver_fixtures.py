"""Fixtures and helpers of the driver's tests (tests/test_driver_*.py star-import them).

Every driver test against the emulator runs over a real pty and over the TCP URL.
Modules use short timeouts and ``exit_delay=0.05`` to keep the suite fast; everything
(modules, emulators, peers) is closed after the test.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

import atsock
from atsock.emulator import Emulator
from fake_module import FakeModule
from peers import DnsServer, TcpCollector, TcpEchoServer, TlsCertificates, TlsEchoServer, UdpPeer

#: Default command timeout of the modules in these tests (seconds).
TIMEOUT = 2.0

E = TypeVar("E", bound=atsock.Event)

ModuleFactory = Callable[..., "tuple[Emulator, atsock.Module]"]


def open_module(url: str, **options: Any) -> atsock.Module:
    options.setdefault("timeout", TIMEOUT)
    options.setdefault("exit_delay", 0.05)
    return atsock.Module(url, **options)


def wait_event(
    module: atsock.Module,
    kind: type[E],
    predicate: Callable[[E], bool] = lambda e: True,
    timeout: float = TIMEOUT,
) -> E:
    """The first event of ``kind`` satisfying ``predicate`` (others are dropped)."""
    try:
        return module.events.wait_for(kind, timeout, predicate)
    except atsock.Timeout:
        raise AssertionError(f"no {kind.__name__} event within {timeout:g} s") from None


def read_all(module: atsock.Module, con_id: int, size: int, timeout: float = TIMEOUT) -> bytes:
    """Passive mode: reads packets of ``con_id`` until ``size`` bytes came."""
    deadline = time.monotonic() + timeout
    data = bytearray()
    while len(data) < size:
        assert time.monotonic() < deadline, f"{len(data)} of {size} bytes: {bytes(data)!r}"
        packet = module.read(con_id)
        if packet:
            data += packet
        else:
            time.sleep(0.01)
    return bytes(data)


def read_until_it_ends(stream: atsock.TransparentStream, outcome: list[object]) -> None:
    """Reads ``stream`` until it ends (a thread's target): appends b"" to ``outcome``, or
    the exception that ended the reads."""
    try:
        while stream.read(1 << 20):
            pass
        outcome.append(b"")
    except BaseException as exc:
        outcome.append(exc)


@pytest.fixture(params=["pty", "tcp"])
def emu_transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_module(emu_transport: str) -> Iterator[ModuleFactory]:
    """Builds a started emulator on the test's transport and a Module attached to it."""
    with contextlib.ExitStack() as stack:

        def make(emulator: dict[str, Any] | None = None, **options: Any) -> tuple[Emulator, Any]:
            emu_options = dict(emulator or {})
            emu_options.setdefault("echo", False)
            emu = stack.enter_context(Emulator(transport=emu_transport, **emu_options))
            module = stack.enter_context(open_module(emu.url, **options))
            module.at()
            return emu, module

        yield make


@pytest.fixture
def emu_module(make_module: ModuleFactory) -> tuple[Emulator, atsock.Module]:
    return make_module()


@pytest.fixture
def module(emu_module: tuple[Emulator, atsock.Module]) -> atsock.Module:
    return emu_module[1]


@pytest.fixture
def echo_server() -> Iterator[TcpEchoServer]:
    with TcpEchoServer() as server:
        yield server


@pytest.fixture
def collector() -> Iterator[TcpCollector]:
    with TcpCollector() as server:
        yield server


@pytest.fixture
def udp_peer() -> Iterator[UdpPeer]:
    with UdpPeer() as peer:
        yield peer


@pytest.fixture(scope="session")
def tls_certs() -> TlsCertificates:
    return TlsCertificates()


@pytest.fixture
def tls_echo(tls_certs: TlsCertificates) -> Iterator[TlsEchoServer]:
    with TlsEchoServer(tls_certs) as server:
        yield server


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    with DnsServer({"echo.atsock.test": "127.0.0.1", "localhost": "127.0.0.1"}) as server:
        yield server


@pytest.fixture
def fake() -> Iterator[FakeModule]:
    with FakeModule() as module:
        yield module
