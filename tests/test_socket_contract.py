"""Module sockets keep ``socket.socket``'s contract, case by case beside a real stdlib
socket doing the same, and unmodified standard-library clients run over them against
real local servers (``http.server`` with close-delimited HTTP/1.0 bodies, urllib)."""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import http.client
import http.server
import os
import socket
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import atsock
from driver_fixtures import *  # noqa: F403  (the fixtures)
from peers import TcpEchoServer

BODY = os.urandom(256 * 1024)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # (no access log on the test's stderr)


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """``http.server`` on 127.0.0.1 serving ``BODY`` as /body.bin, in HTTP/1.0 (each
    response ends when the server closes the connection)."""
    (tmp_path / "body.bin").write_bytes(BODY)
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "127.0.0.1", server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


def module_http_connection(module: atsock.Module) -> type[http.client.HTTPConnection]:
    """An ``HTTPConnection`` whose socket is a module connection (what a user writes)."""

    class ModuleHTTPConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = module.create_connection((self.host, self.port), timeout=self.timeout)

    return ModuleHTTPConnection


def test_http_client_reads_a_close_delimited_body_after_closing_its_socket(
    module: atsock.Module, http_server: tuple[str, int]
) -> None:
    connection = module_http_connection(module)(*http_server, timeout=5)
    connection.request("GET", "/body.bin")
    response = connection.getresponse()  # (http.client closes its socket here, HTTP/1.0)
    assert response.status == 200
    assert hashlib.sha256(response.read()).digest() == hashlib.sha256(BODY).digest()
    response.close()
    connection.close()
    assert module.sockets() == []  # the last file object closed: the ConID is deleted


def test_urllib_downloads_through_the_module(
    module: atsock.Module, http_server: tuple[str, int]
) -> None:
    http_connection = module_http_connection(module)

    class ModuleHandler(urllib.request.HTTPHandler):
        def http_open(self, req: Any) -> Any:
            return self.do_open(http_connection, req)

    opener = urllib.request.build_opener(ModuleHandler)
    host, port = http_server
    with opener.open(f"http://{host}:{port}/body.bin", timeout=5) as response:
        assert response.read() == BODY
    assert module.sockets() == []


def test_makefile_in_text_mode_reads_and_writes_lines(
    module: atsock.Module, echo_server: TcpEchoServer
) -> None:
    with module.create_connection(echo_server.address, timeout=2.0) as sock:
        with sock.makefile("rw", encoding="utf-8", newline="") as lines:
            lines.write("grüße\r\nzwei\r\n")
            lines.flush()
            assert lines.readline() == "grüße\r\n"
            assert lines.readline() == "zwei\r\n"
        with pytest.raises(ValueError, match="unbuffered streams must be binary"):
            sock.makefile("r", buffering=0)
        with pytest.raises(ValueError, match="invalid mode"):
            sock.makefile("rt")


def test_errors_are_the_oserrors_a_stdlib_socket_raises(module: atsock.Module) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        refused = probe.getsockname()  # bound, not listening: refuses
        with pytest.raises(ConnectionRefusedError) as stdlib:
            socket.create_connection(refused, timeout=2)
        with pytest.raises(ConnectionRefusedError) as ours:
            module.create_connection(refused)
    assert ours.value.errno == stdlib.value.errno == errno.ECONNREFUSED
    assert isinstance(ours.value, atsock.CommandError) and ours.value.code == 97
    with pytest.raises(socket.gaierror) as unknown:
        module.create_connection(("no-such-host.invalid", 80))
    assert unknown.value.errno == socket.EAI_NONAME and unknown.value.code == 98
    with socket.create_server(("127.0.0.1", 0)) as taken:
        with pytest.raises(OSError) as in_use:
            module.create_server(taken.getsockname()[1])
        assert in_use.value.errno == errno.EADDRINUSE


def test_sending_after_the_peer_closed_is_a_broken_pipe(module: atsock.Module) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        sock = module.create_connection(listener.getsockname(), timeout=2.0)
        peer, _ = listener.accept()
        peer.close()
        assert sock.recv(10) == b""  # the end of the stream, as the stdlib says it
        with pytest.raises((BrokenPipeError, ConnectionResetError)) as broken:
            sock.sendall(b"too late")
        assert broken.value.errno in (errno.EPIPE, errno.ECONNRESET)
        sock.close()


def test_attributes_and_names_beside_a_stdlib_socket(
    module: atsock.Module, echo_server: TcpEchoServer
) -> None:
    with (
        module.create_connection(echo_server.address, timeout=2.0) as ours,
        socket.create_connection(echo_server.address, timeout=2.0) as theirs,
    ):
        assert (ours.family, ours.type, ours.proto) == (theirs.family, theirs.type, 0)
        assert ours.getpeername() == theirs.getpeername()
        assert ours.getsockname()[0] == "0.0.0.0"  # the module does not say its address
        assert ours.getblocking() == theirs.getblocking()
        ours.setblocking(False)
        assert not ours.getblocking() and ours.gettimeout() == 0
        assert ours.fileno() == -1
    with module.create_connection(echo_server.address, timeout=2.0, udp=True) as udp:
        assert udp.type == socket.SOCK_DGRAM and udp.kind == atsock.SocketType.UDP_CLIENT


def test_shutdown_ends_each_direction_as_far_as_the_module_can(
    module: atsock.Module,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        sock = module.create_connection(listener.getsockname(), timeout=2.0)
        peer, _ = listener.accept()
        with contextlib.closing(peer):
            sock.shutdown(socket.SHUT_RD)
            assert sock.recv(10) == b""
            sock.shutdown(socket.SHUT_WR)
            with pytest.raises(BrokenPipeError):
                sock.sendall(b"x")
            sock.shutdown(socket.SHUT_RDWR)  # deletes the ConID: the peer sees the end
            peer.settimeout(2.0)
            assert peer.recv(10) == b""
            assert module.sockets() == []
            with pytest.raises(ValueError, match="how must be"):
                sock.shutdown(7)
        sock.close()


def test_a_closed_socket_is_closed_for_its_own_calls(
    module: atsock.Module, echo_server: TcpEchoServer
) -> None:
    sock = module.create_connection(echo_server.address, timeout=2.0)
    sock.close()
    with pytest.raises(OSError) as closed:
        sock.sendall(b"x")
    assert closed.value.errno == errno.EBADF
    sock.close()  # (idempotent)
