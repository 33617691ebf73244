"""``atsock proxy``'s speed: a download and an upload through the SOCKS5 proxy (every
connection a module connection, on the command path: AT+SOCKETSEND and, in passive
receive mode, AT+SOCKETREAD) over the emulator paced at 921600 baud, against the line
rate (baud / 10 bytes/s each way). The client and the server are plain sockets.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from atsock import Module, SocksProxy
from e2e_harness import connected_module, disabled, echo_peer, echo_stream, emulators, pedantic

BAUD = 921_600
SIZE = 256 * 1024  # about 2.8 s of line time
SMALL_SIZE = 16 * 1024
TARGET_LINE_SHARE = 0.8

pytestmark = pytest.mark.timeout(300)


@contextlib.contextmanager
def server(direction: str, size: int) -> Iterator[tuple[str, int]]:
    """A local server: sends ``size`` bytes to each client (download), or takes them
    and answers one byte (upload)."""
    listener = socket.create_server(("127.0.0.1", 0))
    payload = bytes(range(256)) * (size // 256)

    def serve() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            with client:
                if direction == "download":
                    client.sendall(payload)
                    continue
                got = 0
                while got < size and (chunk := client.recv(65536)):
                    got += len(chunk)
                client.sendall(b"k")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[:2]
    finally:
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # (wakes the accept)
        listener.close()
        thread.join(5)


def transfer(proxy: tuple[str, int], target: tuple[str, int], direction: str, size: int) -> None:
    with socket.create_connection(proxy, timeout=60) as client:
        client.sendall(b"\x05\x01\x00")
        assert client.recv(2) == b"\x05\x00"
        address = socket.inet_aton(target[0]) + struct.pack("!H", target[1])
        client.sendall(b"\x05\x01\x00\x01" + address)
        reply = b""
        while len(reply) < 10:
            reply += client.recv(10 - len(reply))
        assert reply[1] == 0, reply
        if direction == "upload":
            client.sendall(bytes(size))
            assert client.recv(1) == b"k"
            return
        got = 0
        while got < size:
            chunk = client.recv(65536)
            assert chunk, f"the download ended after {got} of {size} bytes"
            got += len(chunk)


@pytest.mark.parametrize("direction", ["download", "upload"])
def test_proxy_at_921600_baud(benchmark: BenchmarkFixture, direction: str) -> None:
    size = SMALL_SIZE if disabled(benchmark) else SIZE
    line_rate = BAUD / 10
    benchmark.group = f"e2e proxy {direction} at 921600 baud vs line rate"
    with (
        emulators(1, baud=BAUD) as (url,),
        Module(url, timeout=10.0, exit_delay=0.05, link_rate=line_rate) as module,
        SocksProxy(module) as proxy,
        server(direction, size) as target,
    ):
        pedantic(benchmark, lambda: transfer(proxy.address, target, direction, size), 1)
    benchmark.extra_info.update(
        impl="atsock",
        bytes=size,
        baud=BAUD,
        direction=direction,
        baseline_mbps=line_rate / 1e6,
        baseline_label="(line)",
        target_ratio=TARGET_LINE_SHARE,
    )


# --- unpaced: the command path beside the transparent stream ---------------------------------

UNPACED_SIZE = 8 * 1024 * 1024
UNPACED_ROUNDS = 5


@pytest.mark.parametrize(
    ("direction", "receive_flow"),
    [("download", True), ("download", False), ("upload", True)],
    ids=["download-flow", "download-passive", "upload"],
)
def test_proxy_unpaced_vs_transparent(
    benchmark: BenchmarkFixture, direction: str, receive_flow: bool
) -> None:
    """One way through the proxy (the command path) against the transparent echo's
    bytes each way, on two emulators, rounds alternating. ``download-passive`` is the
    proxy with ``receive_flow=False`` (AT+SOCKETREAD per 1024-byte packet)."""
    small = disabled(benchmark)
    size = SMALL_SIZE if small else UNPACED_SIZE
    mode = "passive" if not receive_flow else "active/passive flow"
    benchmark.group = f"e2e proxy {direction} unpaced ({mode}) vs transparent echo"
    benchmark.extra_info.update(
        impl="atsock",
        bytes=size,
        direction=f"{direction} one way; baseline: transparent echo, bytes each way",
        receive=mode,
        baseline="transparent mode echo on a second emulator, one round beside each round",
    )
    with (
        emulators(2) as (url, baseline_url),
        echo_peer() as peer,
        connected_module(baseline_url, peer) as (baseline_module, _),
        baseline_module.transparent(timeout=30.0) as stream,
        Module(url, timeout=30.0) as module,
        SocksProxy(module, receive_flow=receive_flow) as proxy,
        server(direction, size) as target,
    ):
        pedantic(
            benchmark,
            lambda: transfer(proxy.address, target, direction, size),
            1 if small else UNPACED_ROUNDS,
            paired_with=lambda: echo_stream(stream, size),
        )
