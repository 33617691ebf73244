"""Every script in examples/, run as a user runs it, so that no example rots.

Each runs in a fresh interpreter (``sys.executable examples/NAME.py ...``) against the
module emulator, both the in-process ``emu://`` and ``atsock emulate --tcp 127.0.0.1:0``
as a separate process (the ``socket://`` URL a user's second terminal prints), with
real peers on 127.0.0.1: an http.server (plain and TLS), atsock.testing's echo
servers, a sink. The assertions are on what the scripts print and what the peers got
(status and sha256 of a page, the bytes echoed, the file uploaded byte for byte), and,
with the emulator in its own process, on the module having no ConID left afterwards.
Bad arguments are exit status 2 with one error line, failures one line and status 1,
Ctrl-C status 130; every example has a test here and a working ``--help``.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import http.server
import os
import queue
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import atsock
from atsock.check import CHECKS
from atsock.testing import TcpEcho
from peers import TcpCollector, TlsCertificates

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(path.stem for path in EXAMPLES.glob("*.py"))
#: Bound on one example's run (seconds); each takes well under 5 here.
TIMEOUT = 30.0
#: What the examples may import of atsock: its public API.
PUBLIC = {"atsock", "atsock.aio", "atsock.check", "atsock.testing"}
#: Bytes the module's command parser or its transparent-mode exit could take for its own.
HOSTILE = b"+++\r\nOK\r\nAT+SOCKETDEL=1\r\n+EVENT:SocketDown,1,5\r\n\x00\xff+++"


def payload(size: int) -> bytes:
    """``size`` bytes of noise with the hostile sequences spread through it."""
    noise = bytearray(os.urandom(size))
    for offset in range(0, max(size - len(HOSTILE), 0), 4096):
        noise[offset : offset + len(HOSTILE)] = HOSTILE
    return bytes(noise[:size])


def example(name: str, *args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Runs examples/NAME.py ARGS to its end; its status, stdout and stderr."""
    command = [sys.executable, str(EXAMPLES / f"{name}.py"), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


class Running:
    """A command running in the background, its stdout read line by line on a thread
    (so a wait for a line is bounded); killed, if still running, and reaped on exit."""

    def __init__(self, *command: str) -> None:
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)

    def line(self, timeout: float = TIMEOUT) -> str:
        """The next line of its stdout, waited for at most ``timeout`` seconds."""
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line from {self.proc.args!r} within {timeout:g} s") from None

    def wait(self, timeout: float = TIMEOUT) -> tuple[int, str, str]:
        """Its exit status, the rest of its stdout and its stderr, once it ended."""
        status = self.proc.wait(timeout)
        self._reader.join(timeout)
        assert self.proc.stderr is not None
        return status, self._drain(), self.proc.stderr.read()

    def _drain(self) -> str:
        lines = []
        while not self._lines.empty():
            lines.append(self._lines.get_nowait())
        return "".join(lines)

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(TIMEOUT)
        self._reader.join(TIMEOUT)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def assert_one_line_error(done: subprocess.CompletedProcess[str], status: int) -> None:
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert len([line for line in done.stderr.splitlines() if "error:" in line]) == 1, done.stderr


# ---- the module and the peers --------------------------------------------------------------


@dataclass
class Emulated:
    """An emulated module for the examples: its URL and the UDP port its DNS asks."""

    url: str
    dns_port: int
    #: True for ``atsock emulate``: the module outlives the example, so what it left shows
    separate: bool

    def sockets(self) -> list[atsock.SocketInfo]:
        """What the module still has (nothing to see when it died with the example)."""
        if not self.separate:
            return []
        with atsock.Module(self.url, timeout=5.0) as m:
            return m.sockets()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(params=["emu", "emulate"])
def module(request: pytest.FixtureRequest) -> Iterator[Emulated]:
    """``emu://`` (an emulator inside the example's process) or ``atsock emulate``."""
    dns_port = free_udp_port()
    if request.param == "emu":
        yield Emulated(f"emu://?dns_port={dns_port}", dns_port, separate=False)
        return
    emulate = [sys.executable, "-m", "atsock", "emulate", "--tcp", "127.0.0.1:0"]
    with Running(*emulate, "--dns-port", str(dns_port)) as emulator:
        yield Emulated(emulator.line().strip(), dns_port, separate=True)
        emulator.proc.terminate()
        assert emulator.wait()[0] == 0  # SIGTERM: a clean stop


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # (no access log on the test's stderr)


@contextlib.contextmanager
def http_server(root: Path, tls: ssl.SSLContext | None = None) -> Iterator[str]:
    """Serves the files of ``root`` on 127.0.0.1; yields the server's base URL."""
    handler = functools.partial(QuietHandler, directory=str(root))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            port = server.server_address[1]
            yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        finally:
            server.shutdown()
            thread.join(TIMEOUT)


@pytest.fixture
def page(tmp_path: Path) -> tuple[Path, bytes]:
    """A file of 300 kB for the HTTP examples to get."""
    body = payload(300_000)
    (tmp_path / "page.bin").write_bytes(body)
    return tmp_path / "page.bin", body


# ---- the examples ------------------------------------------------------------------------


def test_http_get_prints_the_status_the_headers_and_the_body_sha256(
    module: Emulated, page: tuple[Path, bytes]
) -> None:
    path, body = page
    with http_server(path.parent) as base:
        with urllib.request.urlopen(f"{base}/page.bin", timeout=TIMEOUT) as direct:
            headers = len(direct.getheaders())  # what the same server sends the host
        done = example("http_get", module.url, f"{base}/page.bin")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "status 200 OK",
        f"headers {headers}",
        f"body {len(body)} bytes sha256 {hashlib.sha256(body).hexdigest()}",
    ]
    assert module.sockets() == []


def test_http_get_over_the_module_tls(page: tuple[Path, bytes], certs: TlsCertificates) -> None:
    path, body = page
    with http_server(path.parent, tls=certs.server_context()) as base:
        done = example("http_get", "emu://", f"{base}/page.bin?x=1")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "status 200 OK"
    assert done.stdout.splitlines()[2].endswith(hashlib.sha256(body).hexdigest())


def test_http_get_a_missing_page_is_a_404_and_a_refused_one_an_error(
    module: Emulated, page: tuple[Path, bytes]
) -> None:
    with http_server(page[0].parent) as base:
        done = example("http_get", module.url, f"{base}/no-such-page")
    assert done.returncode == 0 and done.stdout.startswith("status 404 "), done.stderr
    refused = example("http_get", module.url, "http://127.0.0.1:1/")
    assert_one_line_error(refused, 1)
    assert "connection refused" in refused.stderr
    assert_one_line_error(example("http_get", module.url, "ftp://127.0.0.1/"), 2)
    assert module.sockets() == []


def test_echo_server_once_echoes_a_client_and_exits(module: Emulated) -> None:
    data = payload(100_000)
    with Running(sys.executable, str(EXAMPLES / "echo_server.py"), module.url, "--once") as run:
        listening = run.line()
        match = re.fullmatch(r"listening on port (\d+) of the module\n", listening)
        assert match, listening
        # the emulator's servers listen on 127.0.0.1
        with socket.create_connection(("127.0.0.1", int(match[1])), timeout=TIMEOUT) as c:
            c.sendall(data)
            echoed = b""
            while len(echoed) < len(data) and (more := c.recv(65536)):
                echoed += more
        status, out, err = run.wait()
    assert echoed == data
    assert status == 0, err
    assert re.fullmatch(rf"127\.0\.0\.1:\d+: {len(data)} bytes echoed\n", out), out
    assert module.sockets() == []


def test_echo_server_serves_clients_until_ctrl_c(module: Emulated) -> None:
    command = [sys.executable, str(EXAMPLES / "echo_server.py"), module.url, "--port", "0"]
    with Running(*command) as run:
        port = int(run.line().split()[3])
        for text in (b"first", b"second"):
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as c:
                c.sendall(text)
                assert c.recv(100) == text
            assert run.line().endswith(f": {len(text)} bytes echoed\n")
        run.proc.send_signal(signal.SIGINT)  # a terminal's Ctrl-C
        status, _, err = run.wait()
    assert status == 130, err
    assert err == "echo_server.py: interrupted\n"
    assert module.sockets() == []  # the server's ConID was deleted on the way out


def test_transparent_upload_delivers_the_file_byte_for_byte(
    module: Emulated, tmp_path: Path
) -> None:
    data = payload(2_000_000)
    (tmp_path / "upload.bin").write_bytes(data)
    with TcpCollector() as sink:
        host, port = sink.address
        done = example(
            "transparent_upload",
            module.url,
            f"{host}:{port}",
            str(tmp_path / "upload.bin"),
            "--exit-delay",
            "0.05",
        )
        received = sink.data(timeout=TIMEOUT)  # once the module closed the connection
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(rf"{len(data)} bytes in [\d.]+ s: [\d.]+ MB/s\n", done.stdout)
    assert hashlib.sha256(received).hexdigest() == hashlib.sha256(data).hexdigest()
    assert module.sockets() == []


def test_transparent_upload_refuses_bad_arguments(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"x")
    for args in (["127.0.0.1:7", str(tmp_path / "missing")], ["127.0.0.1", str(tmp_path / "f")]):
        assert_one_line_error(example("transparent_upload", "emu://", *args), 2)


def test_asyncio_client_prints_the_echo(module: Emulated) -> None:
    message = 'héllo +++ "quoted", \\ AT+GMR'
    with TcpEcho() as echo:
        done = example(
            "asyncio_client", module.url, f"{echo.host}:{echo.port}", "--message", message
        )
        assert echo.received == message.encode() + b"\n"
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"echoed: {message}\n"
    assert module.sockets() == []
    refused = example("asyncio_client", module.url, "127.0.0.1:1")
    assert_one_line_error(refused, 1)
    assert "connection refused" in refused.stderr


def test_rig_check_passes_every_check_on_the_emulator(module: Emulated) -> None:
    done = example("rig_check", module.url, "--dns-port", str(module.dns_port))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == f"{len(CHECKS)} of {len(CHECKS)} checks passed on {module.url}"
    assert len([line for line in lines if line.endswith(" s)") and ": pass (" in line]) == len(
        CHECKS
    )
    assert module.sockets() == []


def test_rig_check_exits_1_when_a_check_fails() -> None:
    # the host's clients of the module's servers go to 127.0.0.2, where nothing listens
    done = example("rig_check", "emu://", "--only", "at,tcp-server", "--module-host", "127.0.0.2")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[2/2] tcp-server: FAIL" in done.stdout
    assert "  sent:     b'AT+SOCKET=3," in done.stdout  # the evidence
    assert done.stdout.splitlines()[-1] == "1 of 2 checks passed on emu://"
    assert_one_line_error(example("rig_check", "emu://", "--only", "no-such-check"), 2)


def test_socks_proxy_fetches_the_page_through_the_proxy(
    module: Emulated, page: tuple[Path, bytes]
) -> None:
    path, body = page
    with http_server(path.parent) as base:
        port = base.rsplit(":", 1)[1]
        # by name: the proxy hands "localhost" to the module to resolve
        done = example("socks_proxy", module.url, f"http://localhost:{port}/page.bin")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"SOCKS5 proxy on 127\.0\.0\.1:\d+", lines[0])
    assert lines[1] == "HTTP/1.0 200 OK"
    assert lines[2] == f"body {len(body)} bytes sha256 {hashlib.sha256(body).hexdigest()}"
    match = re.fullmatch(r"proxy: 1 served, (\d+) bytes up, (\d+) down", lines[3])
    assert match and int(match[2]) > len(body), lines[3]
    assert module.sockets() == []
    refused = example("socks_proxy", module.url, "http://127.0.0.1:1/")
    assert_one_line_error(refused, 1)
    assert "reply 5" in refused.stderr  # connection refused


# ---- every example: tested, documented, --help, public API only ----------------------------


def test_every_example_has_a_test_here_and_a_row_in_the_readme() -> None:
    assert SCRIPTS, f"no examples in {EXAMPLES}"
    tests = [name for name in globals() if name.startswith("test_")]
    untested = [s for s in SCRIPTS if not any(t.startswith(f"test_{s}_") for t in tests)]
    assert not untested, f"examples without a test in {Path(__file__).name}: {untested}"
    readme = (EXAMPLES / "README.md").read_text()
    unlisted = [s for s in SCRIPTS if f"| `{s}.py " not in readme]
    assert not unlisted, f"examples missing from examples/README.md: {unlisted}"


@pytest.mark.parametrize("name", SCRIPTS)
def test_each_example_has_help_and_says_how_to_run_it(name: str) -> None:
    done = example(name, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: {name}.py "), done.stdout
    source = (EXAMPLES / f"{name}.py").read_text()
    tree = ast.parse(source)
    doc = ast.get_docstring(tree) or ""
    assert "real hardware" in doc and "emulator" in doc and "emu://" in doc, doc
    assert len(source.splitlines()) <= 90, "an example stays small"
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    private = {module for module in imported if module.startswith("atsock")} - PUBLIC
    assert not private, f"{name}.py imports beyond the public API: {private}"


def test_a_missing_url_is_a_usage_error() -> None:
    for name in SCRIPTS:
        assert_one_line_error(example(name), 2)


def test_an_unreachable_port_is_one_line_of_error() -> None:
    started = time.monotonic()
    done = example("http_get", "/dev/no-such-tty", "http://127.0.0.1/")
    assert_one_line_error(done, 1)
    assert time.monotonic() - started < TIMEOUT
