"""Unmodified standard-library programs run over module sockets against real local servers
(issue 22): ``smtplib`` to ``aiosmtpd``, ``xmlrpc.client`` to ``xmlrpc.server``, TLS to
an ``openssl s_server`` process, ``ftplib`` to ``pyftpdlib``, each asserting the bytes.

A user with a Wi-Fi module wants to run the network code they already have through it.
Each client here is the stdlib's own; the one change is where it opens its socket,
overridden to return ``Module.create_connection(...)`` instead of a host socket: the
documented hooks where there are some (``smtplib.SMTP._get_socket``,
``xmlrpc.client.Transport.make_connection``, ``http.client.HTTPConnection.connect``),
and for ``ftplib``, which has none, its two methods that call
``socket.create_connection`` restated with the module's. Every server is real and on
127.0.0.1; nothing is mocked.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import ftplib
import hashlib
import http.client
import io
import shutil
import smtplib
import subprocess
import threading
import time
import warnings
import xmlrpc.client
import xmlrpc.server
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller

import atsock
from driver_fixtures import *  # noqa: F403  (the fixtures: module, tls_certs …)
from peers import TlsCertificates

with warnings.catch_warnings():
    # pyftpdlib on Python < 3.12 is built on the stdlib's deprecated asyncore/asynchat
    warnings.filterwarnings(
        "ignore", r"The async(ore|hat) module is deprecated", DeprecationWarning
    )
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.ioloop import IOLoop
    from pyftpdlib.servers import FTPServer

HOST = "127.0.0.1"
#: Each client's timeout (seconds): generous, the CPU is shared. (Passed explicitly:
#: ``Module.create_connection`` does not take ``socket._GLOBAL_DEFAULT_TIMEOUT``.)
TIMEOUT = 20.0
MEGABYTE = 1024 * 1024
#: ``openssl s_server`` on an ephemeral loopback port (it prints "ACCEPT HOST:PORT").
S_SERVER = ("openssl", "s_server", "-accept", f"{HOST}:0")


def payload(size: int, seed: bytes) -> bytes:
    """``size`` reproducible bytes without a repeating pattern (sha256 in counter mode)."""
    blocks = (hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(size // 32 + 1))
    return b"".join(blocks)[:size]


def module_http_connection(module: atsock.Module, *, tls: bool = False) -> type[Any]:
    """``http.client.HTTPConnection`` whose socket is a module connection (TLS by the
    module if ``tls``): ``connect()`` is the hook ``HTTPSConnection`` overrides too."""

    class ModuleHTTPConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = module.create_connection((self.host, self.port), self.timeout, tls=tls)

    return ModuleHTTPConnection


# ---- smtplib -> aiosmtpd ------------------------------------------------------------------


@dataclass
class Delivered:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


class RecordingHandler:
    """aiosmtpd handler: records each message as it arrived (``original_content``: the
    bytes after SMTP's dot-unstuffing) and accepts it."""

    def __init__(self) -> None:
        self.messages: list[Delivered] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        delivered = Delivered(envelope.mail_from, envelope.rcpt_tos, envelope.original_content)
        self.messages.append(delivered)
        return "250 Message accepted for delivery"


class EphemeralPortController(Controller):
    """aiosmtpd's Controller on port 0: it pokes its server at ``self.port`` once
    started, so the bound port is read back first."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture
def smtp_server() -> Iterator[tuple[tuple[str, int], RecordingHandler]]:
    handler = RecordingHandler()
    controller = EphemeralPortController(
        handler, hostname=HOST, port=0, server_hostname="smtp.atsock.test"
    )
    controller.start()
    try:
        yield (HOST, controller.port), handler
    finally:
        controller.stop()  # (joins the server's thread)


def module_smtp(module: atsock.Module) -> type[smtplib.SMTP]:
    """``smtplib.SMTP`` whose socket is a module connection. ``_get_socket`` is the hook
    smtplib's own ``SMTP_SSL`` overrides; nothing else of the client changes."""

    class ModuleSMTP(smtplib.SMTP):
        def _get_socket(self, host: str, port: int, timeout: float) -> Any:
            return module.create_connection((host, port), timeout)

    return ModuleSMTP


def test_smtplib_sends_mail_to_aiosmtpd(
    module: atsock.Module, smtp_server: tuple[tuple[str, int], RecordingHandler]
) -> None:
    (host, port), handler = smtp_server
    text = "Sensor 7 reads 81 C.\n.\n..dots survive SMTP's transparency\n"
    attachment = payload(200_000, b"smtp")
    message = email.message.EmailMessage()
    message["From"] = "sensor@atsock.test"
    message["To"] = "ops@atsock.test, oncall@atsock.test"
    message["Subject"] = "temperature alert"
    message.set_content(text)  # (lines that start with a dot: stuffed, then unstuffed)
    message.add_attachment(attachment, maintype="application", subtype="octet-stream")
    raw = message.as_bytes(policy=email.policy.SMTP)  # CRLF lines, as they go on the wire
    recipients = ["ops@atsock.test", "oncall@atsock.test"]

    client = module_smtp(module)(host, port, local_hostname="sensor.atsock.test", timeout=TIMEOUT)
    with client as smtp:
        code, banner = smtp.ehlo()
        assert code == 250 and banner.startswith(b"smtp.atsock.test")
        assert smtp.sendmail("sensor@atsock.test", recipients, raw) == {}
        assert smtp.send_message(message, to_addrs=["archive@atsock.test"]) == {}
        assert smtp.noop()[0] == 250
    assert module.sockets() == []  # QUIT, then closed: the ConID is deleted

    first, second = handler.messages
    assert (first.mail_from, first.rcpt_tos) == ("sensor@atsock.test", recipients)
    assert first.content == raw
    assert (second.mail_from, second.rcpt_tos) == ("sensor@atsock.test", ["archive@atsock.test"])
    received = email.message_from_bytes(second.content, policy=email.policy.default)
    assert received["Subject"] == "temperature alert"
    body, attached = received.iter_parts()
    assert body.get_content() == text.replace("\n", "\r\n")  # (the wire's line ends)
    assert attached.get_content() == attachment


# ---- xmlrpc.client -> xmlrpc.server --------------------------------------------------------


class CountingXMLRPCServer(xmlrpc.server.SimpleXMLRPCServer):
    """Counts the TCP connections it accepted (keep-alive reuses one)."""

    connections = 0

    def get_request(self) -> Any:
        request = super().get_request()
        self.connections += 1
        return request


def failing() -> None:
    raise ValueError("the sensor is unplugged")


@pytest.fixture(params=["HTTP/1.0", "HTTP/1.1"])
def xmlrpc_server(request: pytest.FixtureRequest) -> Iterator[CountingXMLRPCServer]:
    """``SimpleXMLRPCServer`` in a thread, answering in HTTP/1.0 (a connection per call,
    the body delimited by the close) or HTTP/1.1 (one kept-alive connection)."""

    class Handler(xmlrpc.server.SimpleXMLRPCRequestHandler):
        protocol_version = request.param
        timeout = TIMEOUT  # (a kept-alive connection left open ends, the server stops)

        def log_message(self, format: str, *args: object) -> None:
            pass  # (no access log on the test's stderr)

    server = CountingXMLRPCServer(
        (HOST, 0), Handler, logRequests=False, allow_none=True, use_builtin_types=True
    )
    server.register_function(lambda value: value, "echo")
    server.register_function(lambda blob: hashlib.sha256(blob).hexdigest(), "sha256")
    server.register_function(lambda size, seed: payload(size, seed.encode()), "make")
    server.register_function(failing, "failing")
    server.register_multicall_functions()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="xmlrpc")
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def module_transport(module: atsock.Module) -> xmlrpc.client.Transport:
    """An ``xmlrpc.client.Transport`` whose connections are module connections:
    ``make_connection`` is the hook ``SafeTransport`` overrides (the same body, with an
    ``HTTPConnection`` over the module and an explicit timeout)."""

    class ModuleTransport(xmlrpc.client.Transport):
        def make_connection(self, host: Any) -> http.client.HTTPConnection:
            if self._connection and host == self._connection[0]:
                return self._connection[1]
            chost, self._extra_headers, _ = self.get_host_info(host)
            connection = module_http_connection(module)(chost, timeout=TIMEOUT)
            self._connection = host, connection
            return connection

    return ModuleTransport()


def test_xmlrpc_calls_with_binary_and_megabyte_payloads(
    module: atsock.Module, xmlrpc_server: CountingXMLRPCServer
) -> None:
    port = xmlrpc_server.server_address[1]
    upload = payload(MEGABYTE, b"upload")
    structure = {"id": 7, "ratio": 0.25, "tags": ["a", "ü"], "none": None, "raw": b"\x00\xff"}
    url = f"http://{HOST}:{port}/RPC2"
    with xmlrpc.client.ServerProxy(
        url, transport=module_transport(module), allow_none=True, use_builtin_types=True
    ) as proxy:
        assert proxy.echo(structure) == structure
        assert proxy.echo(xmlrpc.client.Binary(bytes(range(256)))) == bytes(range(256))
        assert proxy.sha256(upload) == hashlib.sha256(upload).hexdigest()  # 1 MB up
        assert proxy.make(MEGABYTE, "down") == payload(MEGABYTE, b"down")  # 1 MB down
        assert proxy.echo(upload) == upload  # 1 MB each way in one call
        with pytest.raises(xmlrpc.client.Fault, match="the sensor is unplugged"):
            proxy.failing()
        multi = xmlrpc.client.MultiCall(proxy)
        multi.echo("one")
        multi.sha256(b"two")
        assert list(multi()) == ["one", hashlib.sha256(b"two").hexdigest()]
        calls = 7  # (HTTP requests above: MultiCall is one)
    assert module.sockets() == []
    kept_alive = xmlrpc_server.RequestHandlerClass.protocol_version == "HTTP/1.1"
    assert xmlrpc_server.connections == (1 if kept_alive else calls)


# ---- TLS -> openssl s_server --------------------------------------------------------------


@pytest.fixture
def openssl_server(tmp_path: Path, tls_certs: TlsCertificates) -> Iterator[Callable[..., int]]:
    """Starts ``openssl s_server`` (in ``tmp_path``, on 127.0.0.1, with ``tls_certs``'
    server certificate) with the given options; returns the port it accepts on."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no `openssl s_server` to talk TLS to")
    (tmp_path / "cert.pem").write_bytes(tls_certs.server_cert_pem)
    (tmp_path / "key.pem").write_bytes(tls_certs.server_key_pem)
    started: list[subprocess.Popen[bytes]] = []

    def start(*options: str) -> int:
        out = tmp_path / f"s_server-{len(started)}.out"
        with out.open("wb") as stdout:
            process = subprocess.Popen(
                [*S_SERVER, "-cert", "cert.pem", "-key", "key.pem", *options],
                cwd=tmp_path,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            for line in out.read_text(errors="replace").splitlines():
                if line.startswith("ACCEPT "):  # "ACCEPT 127.0.0.1:PORT"
                    return int(line.rsplit(":", 1)[1])
            time.sleep(0.02)
        raise AssertionError(f"openssl s_server did not start: {out.read_text(errors='replace')}")

    try:
        yield start
    finally:
        for process in started:
            process.terminate()
            process.wait(10)


def test_tls_lines_to_openssl_s_server_come_back_reversed(
    module: atsock.Module, tls_certs: TlsCertificates, openssl_server: Callable[..., int]
) -> None:
    port = openssl_server("-rev")  # each line comes back reversed; "CLOSE" ends it
    module.set_certificate(atsock.CertKind.CA, tls_certs.ca_pem)
    lines = [b"hello atsock", payload(600, b"rev").hex().encode(), b"x"]
    with module.create_connection((HOST, port), TIMEOUT, tls=True) as sock:
        assert sock.kind == atsock.SocketType.SSL_CLIENT
        with sock.makefile("rwb") as stream:
            for line in lines:
                stream.write(line + b"\n")
                stream.flush()
                assert stream.readline() == line[::-1] + b"\n"
            stream.write(b"CLOSE\n")
            stream.flush()
            assert stream.read() == b""  # the server ended the TLS connection
    assert module.sockets() == []


def test_http_client_over_module_tls_downloads_a_file_from_openssl_s_server(
    module: atsock.Module,
    tls_certs: TlsCertificates,
    openssl_server: Callable[..., int],
    tmp_path: Path,
) -> None:
    blob = payload(512 * 1024, b"www")
    (tmp_path / "blob.bin").write_bytes(blob)
    port = openssl_server("-WWW")  # serves files of its directory, HTTP/1.0
    module.set_certificate(atsock.CertKind.CA, tls_certs.ca_pem)
    connection = module_http_connection(module, tls=True)(HOST, port, timeout=TIMEOUT)
    try:
        connection.request("GET", "/blob.bin")
        response = connection.getresponse()
        assert (response.status, response.version) == (200, 10)
        assert response.read() == blob
        response.close()
    finally:
        connection.close()
    assert module.sockets() == []


def test_tls_to_openssl_s_server_is_verified_against_the_installed_ca(
    module: atsock.Module, openssl_server: Callable[..., int]
) -> None:
    port = openssl_server("-rev")
    stranger = trustme.CA(key_type=trustme.KeyType.ECDSA)  # did not sign the server's cert
    module.set_certificate(atsock.CertKind.CA, stranger.cert_pem.bytes())
    with pytest.raises(OSError) as failed:
        module.create_connection((HOST, port), TIMEOUT, tls=True)
    assert isinstance(failed.value, atsock.CommandError) and failed.value.code == 109
    assert module.sockets() == []


# ---- ftplib -> pyftpdlib ------------------------------------------------------------------


@pytest.fixture
def ftp_server(tmp_path: Path) -> Iterator[tuple[tuple[str, int], Path]]:
    """pyftpdlib on 127.0.0.1 (its own IO loop, served and closed on one thread), with
    user ``sensor`` rooted at a fresh directory; yields its address and that root."""
    root = tmp_path / "ftp-root"
    root.mkdir()
    authorizer = DummyAuthorizer()
    authorizer.add_user("sensor", "s3cret", str(root), perm="elradfmwMT")

    class Handler(FTPHandler):
        banner = "atsock test ftpd ready"

    Handler.authorizer = authorizer
    server = FTPServer((HOST, 0), Handler, ioloop=IOLoop())
    stop = threading.Event()

    def serve() -> None:
        try:
            while not stop.is_set():
                server.serve_forever(timeout=0.02, blocking=False, handle_exit=False)
        finally:
            server.close_all()

    thread = threading.Thread(target=serve, name="ftpd")
    thread.start()
    try:
        yield server.address[:2], root
    finally:
        stop.set()
        thread.join(10)


def module_ftp(module: atsock.Module) -> type[ftplib.FTP]:
    """``ftplib.FTP`` over module connections. ftplib has no hook for its sockets: the two
    methods that call ``socket.create_connection`` (``connect``, and ``ntransfercmd`` for
    the passive data connection) are restated as the stdlib writes them (less its audit
    event, ``source_address`` and active mode), calling the module's instead."""

    class ModuleFTP(ftplib.FTP):
        def connect(
            self, host: str = "", port: int = 0, timeout: float = -999, source_address: Any = None
        ) -> str:
            if host != "":
                self.host = host
            if port > 0:
                self.port = port
            if timeout != -999:
                self.timeout = timeout
            self.sock = module.create_connection((self.host, self.port), self.timeout)
            self.af = self.sock.family
            self.file = self.sock.makefile("r", encoding=self.encoding)
            self.welcome = self.getresp()
            return self.welcome

        def ntransfercmd(self, cmd: str, rest: int | str | None = None) -> tuple[Any, int | None]:
            assert self.passiveserver  # (active mode would need the module's own address)
            host, port = self.makepasv()
            conn = module.create_connection((host, port), self.timeout)
            try:
                if rest is not None:
                    self.sendcmd(f"REST {rest}")
                resp = self.sendcmd(cmd)
                if resp[0] == "2":
                    resp = self.getresp()
                if resp[0] != "1":
                    raise ftplib.error_reply(resp)
            except BaseException:
                conn.close()
                raise
            return conn, ftplib.parse150(resp) if resp[:3] == "150" else None

    return ModuleFTP


def test_ftplib_uploads_lists_and_downloads_with_pyftpdlib(
    module: atsock.Module, ftp_server: tuple[tuple[str, int], Path]
) -> None:
    (host, port), root = ftp_server
    upload = payload(MEGABYTE, b"ftp-up")
    download = payload(768 * 1024, b"ftp-down")
    (root / "firmware.bin").write_bytes(download)
    received = bytearray()
    listing: list[str] = []

    with module_ftp(module)(timeout=TIMEOUT) as ftp:
        assert ftp.connect(host, port) == "220 atsock test ftpd ready"
        assert ftp.login("sensor", "s3cret").startswith("230")
        ftp.mkd("logs")
        ftp.cwd("logs")
        assert ftp.pwd() == "/logs"
        assert ftp.storbinary("STOR upload.bin", io.BytesIO(upload)).startswith("226")
        assert ftp.size("upload.bin") == len(upload)  # (binary mode: storlines sets ASCII)
        notes = io.BytesIO(b"first\nzwei \xc3\xbc\n")
        assert ftp.storlines("STOR notes.txt", notes).startswith("226")
        assert sorted(ftp.nlst()) == ["notes.txt", "upload.bin"]
        lines: list[str] = []
        ftp.retrlines("RETR notes.txt", lines.append)  # (text makefile on the data socket)
        assert lines == ["first", "zwei ü"]
        ftp.cwd("/")
        ftp.retrbinary("RETR firmware.bin", received.extend, blocksize=8192)
        ftp.retrlines("LIST", listing.append)
        ftp.rename("firmware.bin", "old.bin")
    assert module.sockets() == []

    assert (root / "logs" / "upload.bin").read_bytes() == upload
    # (ASCII mode: CRLF on the wire, the host's line ends on disk)
    assert (root / "logs" / "notes.txt").read_bytes() == b"first\nzwei \xc3\xbc\n"
    assert bytes(received) == download
    assert (root / "old.bin").read_bytes() == download
    assert any(line.endswith(" firmware.bin") and f" {len(download)} " in line for line in listing)
