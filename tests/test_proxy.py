"""``atsock proxy`` / :class:`atsock.proxy.SocksProxy`: SOCKS5 (RFC 1928) clients, by hand
and curl, reach real local servers through module connections; bad clients get the
right reply or a closed connection, and every ConID is freed afterwards."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import ipaddress
import os
import queue
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

import atsock
from atsock.proxy import SocksProxy
from atsock.testing import TcpEcho
from driver_fixtures import *  # noqa: F403  (the fixtures)
from peers import TcpEchoServer, recv_exactly, wait_until

TIMEOUT = 10.0


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # (no access log on the test's stderr)


@pytest.fixture
def proxy(module: atsock.Module) -> Iterator[SocksProxy]:
    with SocksProxy(module) as served:
        yield served


def address_bytes(host: str, port: int, *, domain: bool = False) -> bytes:
    """ATYP, address and port as RFC 1928 puts them, made by hand (not by the code under
    test): a name if ``domain``, else an IPv6 or IPv4 literal."""
    if domain:
        packed = b"\x03" + bytes([len(host)]) + host.encode()
    elif ":" in host:
        packed = b"\x04" + ipaddress.IPv6Address(host).packed
    else:
        packed = b"\x01" + ipaddress.IPv4Address(host).packed
    return packed + struct.pack("!H", port)


def socks_connect(
    proxy: tuple[str, int],
    host: str,
    port: int,
    *,
    domain: bool = False,
    auth: bytes = b"",
    rcvbuf: int = 0,
) -> socket.socket:
    """A client socket through the proxy to (host, port), SOCKS5 spoken by hand
    (``rcvbuf``: its receive buffer's size, set before it connects)."""
    client = socket.socket(socket.AF_INET6 if ":" in proxy[0] else socket.AF_INET)
    client.settimeout(TIMEOUT)
    if rcvbuf:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    client.connect(proxy)
    methods = b"\x02" if auth else b"\x00"
    client.sendall(b"\x05\x01" + methods)
    assert client.recv(2) == b"\x05" + methods
    if auth:
        client.sendall(auth)
        assert client.recv(2) == b"\x01\x00"
    client.sendall(b"\x05\x01\x00" + address_bytes(host, port, domain=domain))
    reply = recv_exactly(client, 10)
    assert reply[:2] == b"\x05\x00", reply
    return client


def test_a_client_echoes_a_mebibyte_both_ways_at_once(
    module: atsock.Module, proxy: SocksProxy, echo_server: TcpEchoServer
) -> None:
    data = os.urandom(1 << 20)
    with socks_connect(proxy.address, *echo_server.address) as client:
        sender = threading.Thread(target=client.sendall, args=(data,))
        sender.start()
        echoed = recv_exactly(client, len(data))
        sender.join(TIMEOUT)
    assert hashlib.sha256(echoed).digest() == hashlib.sha256(data).digest()
    assert wait_gone(module)


def test_names_go_to_the_module_and_many_connections_run_at_once(
    module: atsock.Module, proxy: SocksProxy, echo_server: TcpEchoServer
) -> None:
    clients = [socks_connect(proxy.address, *echo_server.address, domain=True) for _ in range(4)]
    for n, client in enumerate(clients):
        client.sendall(b"client %d" % n)
    for n, client in enumerate(clients):
        assert recv_exactly(client, 8) == b"client %d" % n
        client.close()
    assert proxy.connections == 4
    assert wait_gone(module)


def test_username_and_password(module: atsock.Module, echo_server: TcpEchoServer) -> None:
    with SocksProxy(module, users={"me": "secret"}) as proxy:
        good = b"\x01\x02me\x06secret"
        with socks_connect(proxy.address, *echo_server.address, auth=good) as client:
            client.sendall(b"hi")
            assert recv_exactly(client, 2) == b"hi"
        with socket.create_connection(proxy.address, timeout=TIMEOUT) as client:
            client.sendall(b"\x05\x01\x02\x01\x02me\x05wrong")
            assert recv_exactly(client, 4) == b"\x05\x02\x01\x01"  # method, then refused
            assert client.recv(1) == b""
        with socket.create_connection(proxy.address, timeout=TIMEOUT) as client:
            client.sendall(b"\x05\x01\x00")  # no authentication: not acceptable here
            assert recv_exactly(client, 2) == b"\x05\xff"


@pytest.mark.parametrize(
    ("request_bytes", "code"),
    [
        (b"\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x07", 0x07),  # BIND: not supported
        (b"\x05\x01\x00\x09\x00\x07", 0x08),  # an unknown address type
    ],
)
def test_what_the_module_cannot_do_gets_its_reply(
    proxy: SocksProxy, request_bytes: bytes, code: int
) -> None:
    with socket.create_connection(proxy.address, timeout=TIMEOUT) as client:
        client.sendall(b"\x05\x01\x00")
        assert recv_exactly(client, 2) == b"\x05\x00"
        client.sendall(request_bytes)
        assert recv_exactly(client, 2) == bytes([5, code])


def test_module_errors_map_to_socks_replies(proxy: SocksProxy) -> None:
    with socket.socket() as closed_port:
        closed_port.bind(("127.0.0.1", 0))
        port = closed_port.getsockname()[1]
        for host, domain, code in (("127.0.0.1", False, 0x05), ("no-such.invalid", True, 0x04)):
            with socket.create_connection(proxy.address, timeout=TIMEOUT) as client:
                client.sendall(b"\x05\x01\x00")
                assert recv_exactly(client, 2) == b"\x05\x00"
                address = (
                    b"\x03" + bytes([len(host)]) + host.encode()
                    if domain
                    else b"\x01" + ipaddress.IPv4Address(host).packed
                )
                client.sendall(b"\x05\x01\x00" + address + struct.pack("!H", port))
                assert recv_exactly(client, 2) == bytes([5, code])


@pytest.mark.parametrize(
    "garbage", [b"GET / HTTP/1.1\r\n\r\n", b"\x05", b"\x05\x01\x00\x05\x01", b"\x04\x01"]
)
def test_garbage_and_truncated_handshakes_close_the_connection(
    module: atsock.Module, proxy: SocksProxy, garbage: bytes
) -> None:
    with socket.create_connection(proxy.address, timeout=TIMEOUT) as client:
        client.sendall(garbage)
        with contextlib.suppress(OSError):  # (it may have closed already)
            client.shutdown(socket.SHUT_WR)
        try:
            while client.recv(100):  # whatever it says first, it closes
                pass
        except ConnectionResetError:
            pass  # (closed with the client's bytes unread: the kernel resets)
    assert wait_gone(module)
    module.at()


def test_a_client_that_vanishes_mid_transfer_frees_its_conid(
    module: atsock.Module, proxy: SocksProxy, echo_server: TcpEchoServer
) -> None:
    client = socks_connect(proxy.address, *echo_server.address)
    client.sendall(os.urandom(256 * 1024))
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()  # a reset, mid-echo
    assert wait_gone(module)


@contextlib.contextmanager
def cli_proxy(*options: str) -> Iterator[tuple[str, subprocess.Popen[str], tuple[str, int]]]:
    """``atsock emulate --tcp`` and ``atsock proxy URL --listen 127.0.0.1:0 *options`` as
    processes: (the emulator's URL, the proxy's process, where it listens). Both are
    stopped at the end if they still run (the proxy with SIGTERM: a clean stop)."""
    emulator = subprocess.Popen(
        [sys.executable, "-m", "atsock", "emulate", "--tcp", "127.0.0.1:0"],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    assert emulator.stdout is not None
    url = emulator.stdout.readline().strip()
    proxy = subprocess.Popen(
        [sys.executable, "-m", "atsock", "proxy", url, "--listen", "127.0.0.1:0", *options],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        assert proxy.stdout is not None
        host, port = proxy.stdout.readline().strip().rsplit(":", 1)
        yield url, proxy, (host, int(port))
    finally:
        if proxy.poll() is None:
            proxy.terminate()
        proxy.wait(TIMEOUT)
        for pipe in (proxy.stdout, proxy.stderr):
            if pipe is not None:
                pipe.close()
        emulator.terminate()
        emulator.communicate(timeout=TIMEOUT)


def test_curl_downloads_through_atsock_proxy(tmp_path: Path) -> None:
    body = os.urandom(3 << 20)
    (tmp_path / "file.bin").write_bytes(body)
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with cli_proxy() as (_, proxy, (host, port)):
            curl = shutil.which("curl")
            assert curl, "curl is needed for this test (Debian: apt-get install curl)"
            target = f"http://127.0.0.1:{server.server_address[1]}/file.bin"  # (to the module)
            done = subprocess.run(
                [curl, "-sS", "--fail", "--socks5-hostname", f"{host}:{port}", target],
                capture_output=True, timeout=120,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr.decode()
            assert hashlib.sha256(done.stdout).digest() == hashlib.sha256(body).digest()
            proxy.terminate()
            _, err = proxy.communicate(timeout=TIMEOUT)
            assert proxy.returncode == 0, err  # SIGTERM: a clean stop
    finally:
        server.shutdown()
        server.server_close()


def wait_gone(module: atsock.Module, timeout: float = TIMEOUT) -> bool:
    """Whether the module has no socket left within ``timeout``."""
    return wait_until(lambda: module.sockets() == [], timeout)


def test_requests_goes_through_the_proxy_with_socks5h(proxy: SocksProxy, tmp_path: Path) -> None:
    body = os.urandom(1 << 20)
    (tmp_path / "file.bin").write_bytes(body)
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        via = f"socks5h://{proxy.address[0]}:{proxy.address[1]}"
        url = f"http://127.0.0.1:{server.server_address[1]}/file.bin"
        with requests.Session() as session:
            response = session.get(url, proxies={"http": via}, timeout=TIMEOUT)
        assert response.status_code == 200
        assert hashlib.sha256(response.content).digest() == hashlib.sha256(body).digest()
    finally:
        server.shutdown()
        server.server_close()


def test_beyond_the_modules_sockets_a_client_gets_general_failure(
    module: atsock.Module, proxy: SocksProxy, echo_server: TcpEchoServer
) -> None:
    clients = []
    try:
        while True:  # until the module has no socket left to give
            client = socket.create_connection(proxy.address, timeout=TIMEOUT)
            clients.append(client)
            client.sendall(b"\x05\x01\x00")
            assert recv_exactly(client, 2) == b"\x05\x00"
            address = ipaddress.IPv4Address(echo_server.address[0]).packed
            client.sendall(
                b"\x05\x01\x00\x01" + address + struct.pack("!H", echo_server.address[1])
            )
            reply = recv_exactly(client, 10)
            if reply[1] != 0:
                break
            assert len(clients) <= 64, "the module never ran out of sockets"
        assert reply[1] == 0x01  # general failure, not a hang
        assert len(clients) > 1
    finally:
        for client in clients:
            client.close()
    assert wait_gone(module)


def test_an_ipv6_target_is_reached_through_the_module(
    module: atsock.Module, proxy: SocksProxy
) -> None:
    with TcpEcho("::1") as echo:
        with socks_connect(proxy.address, "::1", echo.port) as client:
            client.sendall(b"over IPv6")
            assert recv_exactly(client, 9) == b"over IPv6"
        assert echo.received == b"over IPv6"
    with socket.socket(socket.AF_INET6) as closed_port:
        closed_port.bind(("::1", 0))
        with socket.create_connection(proxy.address, timeout=TIMEOUT) as client:
            client.sendall(b"\x05\x01\x00")
            assert recv_exactly(client, 2) == b"\x05\x00"
            target = ipaddress.IPv6Address("::1").packed + struct.pack(
                "!H", closed_port.getsockname()[1]
            )
            client.sendall(b"\x05\x01\x00\x04" + target)
            assert recv_exactly(client, 2) == b"\x05\x05"  # refused, as for IPv4
    assert wait_gone(module)


def test_module_serve_socks_counts_what_it_carries(
    module: atsock.Module, echo_server: TcpEchoServer
) -> None:
    with module.serve_socks() as proxy:
        assert proxy.address[0] == "127.0.0.1"
        with socks_connect(proxy.address, *echo_server.address) as client:
            client.sendall(b"x" * 5000)
            assert recv_exactly(client, 5000) == b"x" * 5000
            (open_relay,) = proxy.stats.open_relays()
            assert open_relay.target == echo_server.address
            assert open_relay.con_ids == [module.sockets()[0].con_id]
            assert wait_until(lambda: open_relay.up == open_relay.down == 5000)
        assert wait_until(lambda: proxy.stats.open_relays() == [], TIMEOUT)
        assert proxy.stats.bytes_moved() == (5000, 5000)
        assert proxy.connections == 1
        assert "0 open, 1 served, 5.0 KB up, 5.0 KB down" in repr(proxy)
    assert wait_gone(module)


def test_the_proxy_listens_on_ipv6_loopback_when_told(
    module: atsock.Module, echo_server: TcpEchoServer
) -> None:
    with module.serve_socks(("::1", 0)) as proxy:
        assert proxy.address[0] == "::1"
        with socks_connect(proxy.address, *echo_server.address) as client:
            client.sendall(b"ping")
            assert recv_exactly(client, 4) == b"ping"
    assert wait_gone(module)


def test_close_ends_open_clients_and_deletes_their_conids(
    module: atsock.Module, echo_server: TcpEchoServer
) -> None:
    proxy = module.serve_socks()
    clients = [socks_connect(proxy.address, *echo_server.address) for _ in range(3)]
    assert len(module.sockets()) == 3
    proxy.close()
    assert module.sockets() == []
    for client in clients:
        with contextlib.suppress(ConnectionResetError):
            assert client.recv(10) == b""  # ended, not left hanging
        client.close()


def test_verbose_shows_open_connections_and_their_bytes_live(
    echo_server: TcpEchoServer,
) -> None:
    with cli_proxy("-v") as (_, proxy, listen):
        assert proxy.stderr is not None
        stderr, lines = proxy.stderr, queue.Queue[str]()

        def collect() -> None:
            for line in stderr:
                lines.put(line)

        collector = threading.Thread(target=collect, daemon=True)
        collector.start()

        def wait_for_line(text: str) -> str:
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline:
                with contextlib.suppress(queue.Empty):
                    line = lines.get(timeout=0.2)
                    if text in line:
                        return line
            raise AssertionError(f"no line with {text!r} on the proxy's stderr")

        with socks_connect(listen, *echo_server.address) as client:
            client.sendall(b"y" * 1500)
            assert recv_exactly(client, 1500) == b"y" * 1500
            wait_for_line("atsock proxy: 1 open, 1 served, 1.5 KB up, 1.5 KB down")
            relay_line = wait_for_line("TCP 127.0.0.1:")
            assert f"-> 127.0.0.1:{echo_server.address[1]} ConID" in relay_line
            assert "1500 B up, 1500 B down" in relay_line
        wait_for_line("atsock proxy: 0 open, 1 served")
        proxy.terminate()
        proxy.wait(TIMEOUT)
        collector.join(TIMEOUT)  # (the end of its stderr)
        assert proxy.returncode == 0


def test_ctrl_c_stops_the_cli_proxy_and_deletes_every_conid(
    echo_server: TcpEchoServer,
) -> None:
    with cli_proxy() as (url, proxy, listen):
        clients = [socks_connect(listen, *echo_server.address) for _ in range(2)]
        for client in clients:
            client.sendall(b"open")
            assert recv_exactly(client, 4) == b"open"
        proxy.send_signal(signal.SIGINT)
        _, err = proxy.communicate(timeout=TIMEOUT)
        assert proxy.returncode == 0, err
        assert "Traceback" not in err
        for client in clients:
            with contextlib.suppress(ConnectionResetError):
                assert client.recv(10) == b""  # ended by the proxy
            client.close()
        with atsock.Module(url, timeout=TIMEOUT) as module:
            assert module.sockets() == []  # every ConID deleted
