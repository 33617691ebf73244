"""The pytest plugin (atsock.pytest_plugin, a pytest11 entry point), used the way a
user's own suite uses it: pytest run on user-style test files (pytester), with no
configuration; also under pytest-xdist, and pointed at a "real" module by URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from atsock.emulator import Emulator

pytest_plugins = ["pytester"]

USER_TESTS = """
import asyncio
import socket

import atsock


def test_the_module_answers(atsock_module):
    atsock_module.at()
    assert atsock_module.sockets() == []


def test_a_connection_to_the_echo_peer(atsock_module, atsock_tcp_echo):
    with atsock_module.create_connection(atsock_tcp_echo.address, timeout=5) as sock:
        sock.sendall(b"ping\\r\\nOK\\r\\n")
        assert sock.recv(100) == b"ping\\r\\nOK\\r\\n"
    assert atsock_tcp_echo.received == b"ping\\r\\nOK\\r\\n"


def test_udp_echo(atsock_module, atsock_udp_echo):
    cid = atsock_module.open_socket(atsock.SocketType.UDP_CLIENT, *atsock_udp_echo.address)
    atsock_module.send(cid, b"datagram")
    atsock_module.events.wait_for(atsock.SocketData, 5)
    assert atsock_module.read(cid) == b"datagram"


def test_faults_reach_the_module(atsock_emulator, atsock_module):
    atsock_emulator.reset()
    atsock_module.events.wait_for(atsock.ModuleRestarted, 5)


def test_the_async_twin(atsock_aio_module, atsock_tcp_echo):
    async def main():
        async with atsock_aio_module() as m:
            reader, writer = await m.open_connection(*atsock_tcp_echo.address)
            writer.write(b"async")
            assert await reader.readexactly(5) == b"async"
            writer.close()
            await writer.wait_closed()

    asyncio.run(main())
"""


def test_a_user_suite_gets_the_fixtures_with_no_configuration(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=5)


def test_the_fixtures_share_nothing_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    pytester.makepyfile(test_user_again=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", "-n", "4")
    result.assert_outcomes(passed=10)


def test_a_given_url_drives_that_module_and_skips_the_emulator(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    with Emulator() as rig:  # (stands in for the rig's module, reached by its URL)
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "-q", "-rs", f"--atsock-url={rig.url}"
        )
    result.assert_outcomes(passed=4, skipped=1)
    result.stdout.fnmatch_lines(["*drives a real module*"])


def test_the_url_can_come_from_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        test_env="def test_url(atsock_url):\n    assert atsock_url == 'socket://127.0.0.1:9'\n"
    )
    monkeypatch.setenv("ATSOCK_URL", "socket://127.0.0.1:9")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1)


def test_the_readme_example_runs_as_written(pytester: pytest.Pytester) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Testing your own code", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    pytester.makepyfile(test_readme=example)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1)
