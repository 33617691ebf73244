"""atsock's pytest plugin (registered with the ``pytest11`` entry point): fixtures for a
user's own tests of code that drives a module, with no configuration.

- ``atsock_emulator``: an in-process module emulator on a pty, with its fault injection
  (``reset()``, ``stall()``, ``inject()``, ``drop_peer()`` ...);
- ``atsock_url``: the pyserial URL of the module the run drives: the emulator's, or the
  real module's given with ``--atsock-url URL`` (or the ``ATSOCK_URL`` environment
  variable), so the same tests run in CI and on the rig;
- ``atsock_module``: an :class:`atsock.Module` on it, answering ``AT``;
- ``atsock_aio_module``: a callable that opens an :class:`atsock.aio.AsyncModule` on it
  (``async with atsock_aio_module() as m:`` inside the test's event loop);
- ``atsock_tcp_echo``, ``atsock_udp_echo``: real loopback peers
  (:mod:`atsock.testing`) with ``.host``, ``.port`` and ``.received``.

Every fixture is per test and takes its ports from the kernel, so runs under
pytest-xdist (``-n 4``) share nothing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import atsock.aio
from atsock.emulator import Emulator
from atsock.sync.module import Module
from atsock.testing import TcpEcho, UdpEcho

#: The environment variable that names a real module's URL (as ``--atsock-url`` does).
URL_VARIABLE = "ATSOCK_URL"
#: Every command's default timeout in the fixtures (seconds).
FIXTURE_TIMEOUT = 5.0


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("atsock", "atsock: Wi-Fi module fixtures")
    group.addoption(
        "--atsock-url",
        default=None,
        metavar="URL",
        help=f"drive the real module on this pyserial URL instead of an emulator "
        f"(default: ${URL_VARIABLE} if set)",
    )


def _real_url(config: pytest.Config) -> str | None:
    url = config.getoption("atsock_url") or os.environ.get(URL_VARIABLE)
    return str(url) if url else None


@pytest.fixture
def atsock_emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """A module emulator on a pty (skipped when the run drives a real module)."""
    if _real_url(request.config) is not None:
        pytest.skip("atsock_emulator: this run drives a real module (--atsock-url)")
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def atsock_url(request: pytest.FixtureRequest) -> str:
    """The URL of the module this run drives: a real one, or an emulator's."""
    real = _real_url(request.config)
    if real is not None:
        return real
    emulator: Emulator = request.getfixturevalue("atsock_emulator")
    return emulator.url


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """A real module keeps the firmware's post-exit delay; the emulator needs none."""
    options: dict[str, Any] = {"timeout": FIXTURE_TIMEOUT}
    if _real_url(request.config) is None:
        options["exit_delay"] = 0.05
    return options


@pytest.fixture
def atsock_module(atsock_url: str, request: pytest.FixtureRequest) -> Iterator[Module]:
    """A :class:`atsock.Module` on the run's module, checked with ``AT``."""
    with Module(atsock_url, **_options(request)) as module:
        module.at()
        yield module


@pytest.fixture
def atsock_aio_module(atsock_url: str, request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Opens an :class:`atsock.aio.AsyncModule` on the run's module, in the caller's
    event loop: ``async with atsock_aio_module() as m:`` (options as ``open_module``)."""
    defaults = _options(request)

    def open_module(**options: Any) -> Any:
        return atsock.aio.open_module(atsock_url, **{**defaults, **options})

    return open_module


@pytest.fixture
def atsock_tcp_echo() -> Iterator[TcpEcho]:
    """A TCP echo server on 127.0.0.1 (``.host``, ``.port``, ``.received``)."""
    with contextlib.closing(TcpEcho()) as peer:
        yield peer


@pytest.fixture
def atsock_udp_echo() -> Iterator[UdpEcho]:
    """A UDP echo server on 127.0.0.1 (``.host``, ``.port``, ``.received``)."""
    with contextlib.closing(UdpEcho()) as peer:
        yield peer
