"""The AT commands of the emulated module: parsing, checks, and what each one does.

Each handler receives the command's form (``exec``, ``query``, ``set``) and its
parameters (split by the core's :func:`~atsock.parse_params`), checks them as the
firmware does (``+CMD:3`` wrong count, ``+CMD:4`` bad value, …) and acts through the
:class:`~atsock.emulator.machine.Emulator`. Slow work — name resolution, connecting,
TLS handshakes — runs on a worker so the module can answer ``[Busy]Cmd running``.
"""

from __future__ import annotations

import ipaddress
import logging
import platform
import socket
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING

from atsock._core import __version__
from atsock.emulator.firmware import params as read
from atsock.emulator.firmware.errors import (
    BAD_CONID,
    BAD_PARAM,
    BIND,
    CONNECT,
    DNS,
    NO_TRANSPARENT,
    PARAM_COUNT,
    SEND,
    SOCKET_CREATE,
    SSL_CONFIG,
    SSL_VERIFY,
    STATE,
    TOO_LONG,
    TYPE,
    CommandFailed,
)
from atsock.emulator.firmware.mode import FirmwareMode
from atsock.emulator.flash import CERT_SLOTS, AutoTransparent
from atsock.emulator.netsock import (
    BACKLOG,
    ModuleSocket,
    Status,
    client_context,
    server_context,
)
from atsock.emulator.resolver import ResolveError, resolve
from atsock.protocol.rules import transparent_target
from atsock.types import MAX_CERT, SocketType

if TYPE_CHECKING:
    from atsock.emulator.machine import Emulator

log = logging.getLogger("atsock.emulator")

#: SOCKETSEND lengths above this are refused (bad parameter).
MAX_SEND = 2**31 - 1


Handler = Callable[[str, list[bytes]], None]


class CommandSet:
    """Dispatches command lines to handlers; one instance per emulator."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.handlers: dict[str, Handler] = {
            "SOCKET": self.at_socket,
            "SOCKETSEND": self.at_socketsend,
            "SOCKETSENDLINE": self.at_socketsendline,
            "SOCKETREAD": self.at_socketread,
            "SOCKETDEL": self.at_socketdel,
            "SOCKETRECVCFG": self.at_socketrecvcfg,
            "SOCKETTT": self.at_sockettt,
            "SOCKETAUTOTT": self.at_socketautott,
            "SSLCRET": self.at_sslcret,
            "WDOMAIN": self.at_wdomain,
            "WDNS": self.at_wdns,
            "RST": self.at_rst,
            "GMR": self.at_gmr,
            "WJAP": self.at_wjap,
            "WAUTOCONN": self.at_wautoconn,
        }

    # ---- dispatch --------------------------------------------------------------------

    def dispatch(self, line: bytes) -> None:
        if line.upper() == b"AT":
            self.emu.ok()
            return
        if line.upper() in (b"ATE0", b"ATE1"):
            self.emu.flash.echo = line[3:] == b"1"
            self.emu.save_flash()
            self.emu.ok()
            return
        split = read.split_command(line)
        if split is None:
            raise CommandFailed("", None, unknown=line)
        name, suffix = split
        handler = self.handlers.get(name)
        if handler is None:
            raise CommandFailed(name, None, unknown=line)
        handler(*read.form_of(name, suffix))

    # ---- parameter helpers -------------------------------------------------------------

    _int = staticmethod(read.integer)
    _text = staticmethod(read.text)
    _host = staticmethod(read.host)
    _count = staticmethod(read.count)
    _forms = staticmethod(read.forms)

    def _socket(self, cmd: str, value: bytes) -> ModuleSocket:
        con_id = self._int(cmd, value, 0, 2**31)
        ms = self.emu.sockets.get(con_id)
        if ms is None:
            raise CommandFailed(cmd, BAD_CONID)
        return ms

    # ---- AT+SOCKET ---------------------------------------------------------------------

    def at_socket(self, form: str, params: list[bytes]) -> None:
        cmd = "SOCKET"
        self._forms(cmd, form, "query", "set")
        if form == "query":
            for ms in sorted(self.emu.sockets.values(), key=lambda s: s.con_id):
                self.emu.line(ms.row())  # status 3 (connecting) shows for the boot's connect
            self.emu.ok()
            return
        if not params:
            raise CommandFailed(cmd, PARAM_COUNT)
        kind = self._int(cmd, params[0], 1, 8)
        stype = SocketType(kind)
        if stype.is_seed:
            raise CommandFailed(cmd, TYPE)
        if stype.is_server:
            if len(params) in (3, 5) and params[1] == b"":
                params = [params[0], *params[2:]]  # "AT+SOCKET=3,,8888"
            self._count(cmd, params, 2, 4)
            host, rest = "", params[1:]
        else:
            self._count(cmd, params, 3, 5)
            host, rest = self._host(cmd, params[1]), params[2:]
        port = self._int(cmd, rest[0], 1, 65535)
        wanted = 0
        if len(rest) == 3:
            self._int(cmd, rest[1], 0, 7200)  # keep-alive: accepted, reserved by the firmware
            wanted = self._int(cmd, rest[2], 0, 2**31)
        if not self.emu.wifi_joined:
            raise CommandFailed(cmd, STATE)
        con_id = self.emu.allocate_con_id(wanted)
        self.open_socket(stype, host, port, con_id, on_open=self._created)

    def _created(self, ms: ModuleSocket) -> None:
        self.emu.line(f"connect success ConID={ms.con_id}")
        self.emu.ok()

    def open_socket(
        self,
        stype: SocketType,
        host: str,
        port: int,
        con_id: int,
        on_open: Callable[[ModuleSocket], None],
        on_error: Callable[[CommandFailed], None] | None = None,
        *,
        background: bool = False,
    ) -> None:
        """Creates a socket of any creatable type; servers now, clients on a worker.

        A ``background`` connect (the boot's auto-transparent one) leaves the module free
        for commands: AT+SOCKET? shows it connecting, and a failure stays listed as
        ConnectFail until deleted."""
        emu = self.emu
        if stype.is_server:
            ms = ModuleSocket(con_id, stype, self._listen(stype, port), local_port=port)
            emu.add_socket(ms)
            on_open(ms)
            return
        placeholder = ModuleSocket(con_id, stype, None, Status.CONNECTING, host, port)
        emu.sockets[con_id] = placeholder
        certs = dict(emu.flash.certs)
        dns = list(emu.flash.dns)

        def connect() -> socket.socket:
            try:
                address = resolve(host, dns, port=emu.dns_port, timeout=emu.connect_timeout)
            except ResolveError as exc:
                log.info("cannot resolve %s: %s", host, exc)
                raise CommandFailed("SOCKET", DNS) from exc
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            if stype == SocketType.UDP_CLIENT:
                sock = socket.socket(family, socket.SOCK_DGRAM)
                sock.connect((address, port))
                return sock
            try:
                sock = socket.create_connection((address, port), timeout=emu.connect_timeout)
            except OSError as exc:
                log.info("connect to %s:%d failed: %s", address, port, exc)
                raise CommandFailed("SOCKET", CONNECT) from exc
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if stype != SocketType.SSL_CLIENT:
                return sock
            try:
                ctx = client_context(certs)
                return ctx.wrap_socket(sock, server_hostname=host)
            except ssl.SSLCertVerificationError as exc:
                sock.close()
                log.info("TLS verification of %s failed: %s", host, exc.verify_message)
                raise CommandFailed("SOCKET", SSL_VERIFY) from exc
            except (ssl.SSLError, OSError) as exc:
                sock.close()
                log.info("TLS with %s failed: %s", host, exc)
                raise CommandFailed("SOCKET", SSL_CONFIG) from exc

        def connected(sock: socket.socket) -> None:
            if emu.sockets.get(con_id) is not placeholder:
                sock.close()  # the module was reset meanwhile
                return
            ms = ModuleSocket(con_id, stype, sock, Status.CONNECTED, host, port)
            emu.add_socket(ms)
            on_open(ms)

        def failed(exc: BaseException) -> None:
            if emu.sockets.get(con_id) is placeholder:
                if background:
                    placeholder.status = Status.CONNECT_FAILED
                else:
                    del emu.sockets[con_id]
            if not isinstance(exc, CommandFailed):
                log.info("socket %s:%d failed: %s", host, port, exc)
                exc = CommandFailed("SOCKET", SOCKET_CREATE)
            if on_error is not None:
                on_error(exc)
            else:
                emu.emit(exc.reply())

        emu.run_in_worker(connect, connected, failed, busy=not background)

    def _listen(self, stype: SocketType, port: int) -> socket.socket:
        host = self.emu.listen_host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        udp = stype == SocketType.UDP_SERVER
        sock = socket.socket(family, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        try:
            if stype == SocketType.SSL_SERVER:
                self._server_tls_context()  # refuse before binding when certs are missing
            if not udp:  # (for UDP it would let a second socket share the port)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            if not udp:
                sock.listen(BACKLOG)
        except CommandFailed:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            log.info("cannot bind %s:%d: %s", host, port, exc)
            raise CommandFailed("SOCKET", BIND) from exc
        return sock

    def _server_tls_context(self) -> ssl.SSLContext:
        try:
            return server_context(self.emu.flash.certs)
        except (ssl.SSLError, ValueError) as exc:
            raise CommandFailed("SOCKET", SSL_CONFIG) from exc

    def server_tls(self, conn: socket.socket) -> socket.socket:
        """Server-side TLS handshake for an accepted client (worker thread)."""
        return self._server_tls_context().wrap_socket(conn, server_side=True)

    # ---- sending and receiving ------------------------------------------------------------

    def _sendable(self, cmd: str, ms: ModuleSocket) -> None:
        if ms.type in (SocketType.TCP_SERVER, SocketType.SSL_SERVER):
            raise CommandFailed(cmd, TYPE)
        if ms.status != Status.CONNECTED or ms.sock is None:
            raise CommandFailed(cmd, STATE)
        if ms.type == SocketType.UDP_SERVER and ms.udp_peer is None:
            raise CommandFailed(cmd, STATE)  # a UDP server replies only after it heard a peer

    def at_socketsend(self, form: str, params: list[bytes]) -> None:
        cmd = "SOCKETSEND"
        self._forms(cmd, form, "set")
        self._count(cmd, params, 2)
        ms = self._socket(cmd, params[0])
        length = self._int(cmd, params[1], 1, MAX_SEND)
        self._sendable(cmd, ms)
        failures = 0

        def sink(packet: bytes) -> None:
            nonlocal failures
            if not self.emu.send(ms, packet):
                failures += 1

        def done() -> None:
            self.emu.emit(b"\r\n")
            if failures:
                self.emu.emit(CommandFailed(cmd, SEND).reply())
            else:
                self.emu.ok()

        self.emu.expect_raw(length, sink, done, packetize=True)

    def at_socketsendline(self, form: str, params: list[bytes]) -> None:
        cmd = "SOCKETSENDLINE"
        self._forms(cmd, form, "set")
        self._count(cmd, params, 3)
        ms = self._socket(cmd, params[0])
        length = self._int(cmd, params[1], 1, MAX_SEND)
        data = params[2]
        if length > len(data):
            raise CommandFailed(cmd, BAD_PARAM)
        self._sendable(cmd, ms)
        data = data[:length]
        for start in range(0, len(data), 1024):
            if not self.emu.send(ms, data[start : start + 1024]):
                raise CommandFailed(cmd, SEND)
        self.emu.ok()

    def at_socketread(self, form: str, params: list[bytes]) -> None:
        cmd = "SOCKETREAD"
        self._forms(cmd, form, "set")
        self._count(cmd, params, 1)
        ms = self._socket(cmd, params[0])
        if ms.type in (SocketType.TCP_SERVER, SocketType.SSL_SERVER):
            raise CommandFailed(cmd, TYPE)
        packet = ms.pop()
        self.emu.emit(b"+SOCKETREAD,%d,%d,%s\r\n" % (ms.con_id, len(packet), packet))
        self.emu.ok()
        self.emu.room_again(ms)

    def at_socketdel(self, form: str, params: list[bytes]) -> None:
        cmd = "SOCKETDEL"
        self._forms(cmd, form, "set")
        self._count(cmd, params, 1)
        ms = self._socket(cmd, params[0])
        self.emu.delete_socket(ms.con_id)
        self.emu.ok()

    def at_socketrecvcfg(self, form: str, params: list[bytes]) -> None:
        cmd = "SOCKETRECVCFG"
        self._forms(cmd, form, "set", "query")
        if form == "query":
            self.emu.line(f"+{cmd}:{int(self.emu.active_mode)}")
        else:
            self._count(cmd, params, 1)
            self.emu.active_mode = self._int(cmd, params[0], 0, 1) == 1
        self.emu.ok()

    # ---- transparent mode ------------------------------------------------------------------

    def transparent_target(self) -> ModuleSocket | None:
        """The one connection transparent mode may use (spec of AT+SOCKETTT), or None."""
        return transparent_target(list(self.emu.sockets.values()))

    def at_sockettt(self, form: str, params: list[bytes]) -> None:
        cmd = "SOCKETTT"
        self._forms(cmd, form, "exec", "set")
        follow_last = False
        if form == "set":
            self._count(cmd, params, 1)
            mode = self._int(cmd, params[0], 0, 2)
            if mode == 1:
                raise CommandFailed(cmd, BAD_PARAM)
            follow_last = mode == 2
        target = self.transparent_target()
        if target is None:
            raise CommandFailed(cmd, NO_TRANSPARENT)
        self.emu.enter_transparent(target, follow_last_peer=follow_last)

    def at_socketautott(self, form: str, params: list[bytes]) -> None:
        cmd = "SOCKETAUTOTT"
        self._forms(cmd, form, "set", "query")
        flash = self.emu.flash
        if form == "query":
            auto = flash.auto_transparent
            self.emu.line(f"+{cmd}:{auto.type},{auto.host},{auto.port}")
            self.emu.ok()
            return
        if not params:
            raise CommandFailed(cmd, PARAM_COUNT)
        kind = self._int(cmd, params[0], 0, 8)
        if kind == 0:
            self._count(cmd, params, 1, 2, 3)
            flash.auto_transparent = AutoTransparent()
        elif kind == SocketType.UDP_SERVER:
            if len(params) == 3 and params[1] == b"":
                params = [params[0], params[2]]
            self._count(cmd, params, 2)
            flash.auto_transparent = AutoTransparent(kind, "", self._int(cmd, params[1], 1, 65535))
        elif kind in (SocketType.UDP_CLIENT, SocketType.TCP_CLIENT, SocketType.SSL_CLIENT):
            self._count(cmd, params, 3)
            host = self._host(cmd, params[1])
            flash.auto_transparent = AutoTransparent(
                kind, host, self._int(cmd, params[2], 1, 65535)
            )
        else:
            raise CommandFailed(cmd, BAD_PARAM)  # placeholder types cannot be automatic
        self.emu.save_flash()
        self.emu.ok()

    def auto_transparent_on_boot(self, auto: AutoTransparent) -> None:
        """Boot with AT+SOCKETAUTOTT set: connect, ``connect success``, ``OK``, ``>``."""
        stype = SocketType(auto.type)

        def opened(ms: ModuleSocket) -> None:
            self._created(ms)
            if self.emu.mode is not FirmwareMode.COMMAND:  # the host got in first
                log.warning("auto-transparent: ConID %d stays in command mode", ms.con_id)
                return
            self.emu.enter_transparent(ms)

        def failed(exc: CommandFailed) -> None:
            log.warning("auto-transparent connection failed: %s", exc)
            self.emu.emit(exc.reply())

        try:
            self.open_socket(
                stype, auto.host, auto.port, 1, on_open=opened, on_error=failed, background=True
            )
        except CommandFailed as exc:  # a server that cannot bind fails at once
            failed(exc)

    # ---- certificates, names, basics --------------------------------------------------------

    def at_sslcret(self, form: str, params: list[bytes]) -> None:
        cmd = "SSLCRET"
        self._forms(cmd, form, "set")
        self._count(cmd, params, 1, 2)
        slot = self._int(cmd, params[0], 1, 3)
        certs = self.emu.flash.certs
        if len(params) == 1:
            body = certs.get(slot, b"")
            self.emu.emit(b"+SSLCRET:%d,%d,%s\r\n" % (slot, len(body), body))
            self.emu.ok()
            return
        length = self._int(cmd, params[1], 0, 2**31)
        if length > MAX_CERT:
            raise CommandFailed(cmd, TOO_LONG)
        if length == 0:
            certs.pop(slot, None)
            self.emu.save_flash()
            self.emu.ok()
            return
        received = bytearray()

        def done() -> None:
            certs[slot] = bytes(received)
            self.emu.save_flash()
            self.emu.emit(b"\r\nOK\r\n")

        self.emu.expect_raw(length, received.extend, done, packetize=False)

    def at_wdomain(self, form: str, params: list[bytes]) -> None:
        cmd = "WDOMAIN"
        self._forms(cmd, form, "set")
        self._count(cmd, params, 1)
        name = self._host(cmd, params[0])
        emu = self.emu
        dns = list(emu.flash.dns)

        def lookup() -> str:
            return resolve(name, dns, port=emu.dns_port, timeout=emu.connect_timeout)

        def done(address: str) -> None:
            emu.line(f"+{cmd}:{address}")
            emu.ok()

        def failed(exc: BaseException) -> None:
            log.info("AT+WDOMAIN=%s failed: %s", name, exc)
            emu.emit(CommandFailed(cmd, DNS).reply())

        emu.run_in_worker(lookup, done, failed)

    def at_wdns(self, form: str, params: list[bytes]) -> None:
        cmd = "WDNS"
        self._forms(cmd, form, "set", "query")
        flash = self.emu.flash
        if form == "query":
            self.emu.line(f"+{cmd}:{flash.dns[0]},{flash.dns[1]}")
            self.emu.ok()
            return
        self._count(cmd, params, 1, 2)
        servers = []
        for value in params:
            text = self._text(cmd, value)
            try:
                servers.append(str(ipaddress.IPv4Address(text)))
            except ValueError:
                raise CommandFailed(cmd, BAD_PARAM) from None
        flash.dns = [*servers, "0.0.0.0"][:2]
        self.emu.save_flash()
        self.emu.line(f"+{cmd}:{','.join(servers)}")
        self.emu.ok()

    def at_rst(self, form: str, params: list[bytes]) -> None:
        self._forms("RST", form, "exec")
        self.emu.ok()
        self.emu.reboot()

    def at_gmr(self, form: str, params: list[bytes]) -> None:
        self._forms("GMR", form, "exec")
        self.emu.line(f"AT version:atsock-emulator {__version__} (Combo-AT command set)")
        self.emu.line(f"SDK version:python {platform.python_version()}")
        self.emu.ok()

    def at_wjap(self, form: str, params: list[bytes]) -> None:
        cmd = "WJAP"
        self._forms(cmd, form, "exec", "set", "query")
        flash = self.emu.flash
        if form == "query":
            if self.emu.wifi_joined:
                self.emu.line(f"+{cmd}:{flash.ssid}")
            self.emu.ok()
            return
        if form == "set":
            self._count(cmd, params, 1, 2)
            ssid = self._text(cmd, params[0])
            password = self._text(cmd, params[1]) if len(params) == 2 else ""
            if not ssid or len(ssid) > 32:
                raise CommandFailed(cmd, BAD_PARAM)
            flash.ssid, flash.password = ssid, password
            self.emu.save_flash()
        elif not flash.ssid:
            raise CommandFailed(cmd, STATE)
        self.emu.ok()
        self.emu.wifi_joined = True
        self.emu.urc("WIFI_CONNECT")
        self.emu.urc("WIFI_GOT_IP")

    def at_wautoconn(self, form: str, params: list[bytes]) -> None:
        cmd = "WAUTOCONN"
        self._forms(cmd, form, "set", "query")
        if form == "query":
            self.emu.line(f"+{cmd}:{int(self.emu.flash.auto_connect)}")
        else:
            self._count(cmd, params, 1)
            self.emu.flash.auto_connect = self._int(cmd, params[0], 0, 1) == 1
            self.emu.save_flash()
        self.emu.ok()


__all__ = ["CERT_SLOTS", "MAX_CERT", "CommandFailed", "CommandSet"]
