"""The AT commands of the emulated module: their checks and what each one does.

Each handler receives the command's form (``exec``, ``query``, ``set``) and its
parameters, checks them as the firmware does (params.py) and acts on the firmware's
state through :class:`FirmwareOps`: output, the socket table, the flash, and requests
for work only the host can do (connect, bind, resolve, send), whose results come
back to a continuation. Nothing here touches a socket or knows the host.
"""

from __future__ import annotations

import ipaddress
import logging
import platform
from collections.abc import Callable
from typing import Protocol

from atsock._core import __version__
from atsock.emulator.firmware import params as read
from atsock.emulator.firmware.actions import Action, Connect, Done, Failed, Listen, Resolve, Result
from atsock.emulator.firmware.errors import (
    BAD_CONID,
    BAD_PARAM,
    NO_TRANSPARENT,
    PARAM_COUNT,
    SEND,
    STATE,
    TOO_LONG,
    TYPE,
    CommandFailed,
)
from atsock.emulator.firmware.mode import FirmwareMode
from atsock.emulator.firmware.settings import AutoTransparent, Flash
from atsock.emulator.firmware.sockets import SocketEntry, SocketTable, Status
from atsock.types import MAX_CERT, SocketType

log = logging.getLogger("atsock.emulator")

#: SOCKETSEND lengths above this are refused (bad parameter).
MAX_SEND = 2**31 - 1
#: SOCKETSENDLINE data goes in packets of this size.
LINE_PACKET = 1024

Handler = Callable[[str, list[bytes]], None]


class FirmwareOps(Protocol):
    """What handlers may do to the firmware (:class:`~atsock.emulator.firmware.core.Firmware`)."""

    flash: Flash
    sockets: SocketTable
    active_mode: bool
    wifi_joined: bool

    @property
    def mode(self) -> FirmwareMode: ...
    def emit(self, data: bytes) -> None: ...
    def line(self, text: str | bytes) -> None: ...
    def ok(self) -> None: ...
    def urc(self, text: str | bytes) -> None: ...
    def save_flash(self) -> None: ...
    def request(
        self,
        make: Callable[[int], Action],
        then: Callable[[Result], None],
        *,
        busy: bool = False,
        at_once: bool = False,
    ) -> None: ...
    def send(
        self, entry: SocketEntry, data: bytes, receipt: Callable[[bool], None] | None = None
    ) -> None: ...
    def delete(self, con_id: int) -> None: ...
    def expect_payload(
        self,
        length: int,
        sink: Callable[[bytes], None],
        done: Callable[[], None],
        *,
        packetize: bool,
    ) -> None: ...
    def enter_transparent(self, target: SocketEntry, *, follow_last_peer: bool = False) -> None: ...
    def reboot(self) -> None: ...


class _Receipts:
    """Counts a command's sends until each is answered and the command has sent its
    last; then ``finish`` gets how many failed."""

    def __init__(self, finish: Callable[[int], None]) -> None:
        self._finish = finish
        self._outstanding = 0
        self._failures = 0
        self._closed = False

    def send(self, fw: FirmwareOps, entry: SocketEntry, data: bytes) -> None:
        self._outstanding += 1
        fw.send(entry, data, self._answered)

    def _answered(self, ok: bool) -> None:
        self._outstanding -= 1
        self._failures += not ok
        self._settle()

    def close(self) -> None:
        self._closed = True
        self._settle()

    def _settle(self) -> None:
        if self._closed and self._outstanding == 0:
            self._closed = False  # (once)
            self._finish(self._failures)


def _error(result: Failed, command: str) -> bytes:
    return CommandFailed(command, result.code).reply()


class CommandSet:
    """Dispatches command lines to handlers; one instance per firmware."""

    def __init__(self, fw: FirmwareOps) -> None:
        self.fw = fw
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

    def dispatch(self, line: bytes) -> None:
        fw = self.fw
        if line.upper() == b"AT":
            fw.ok()
            return
        if line.upper() in (b"ATE0", b"ATE1"):
            fw.flash.echo = line[3:] == b"1"
            fw.save_flash()
            fw.ok()
            return
        split = read.split_command(line)
        if split is None:
            raise CommandFailed("", None, unknown=line)
        name, suffix = split
        handler = self.handlers.get(name)
        if handler is None:
            raise CommandFailed(name, None, unknown=line)
        handler(*read.form_of(name, suffix))

    def _socket(self, cmd: str, value: bytes) -> SocketEntry:
        entry = self.fw.sockets.get(read.integer(cmd, value, 0, 2**31))
        if entry is None:
            raise CommandFailed(cmd, BAD_CONID)
        return entry

    # ---- AT+SOCKET ---------------------------------------------------------------------

    def at_socket(self, form: str, params: list[bytes]) -> None:
        cmd, fw = "SOCKET", self.fw
        read.forms(cmd, form, "query", "set")
        if form == "query":
            for entry in fw.sockets:
                fw.line(entry.row())  # status 3 (connecting) shows for the boot's connect
            fw.ok()
            return
        if not params:
            raise CommandFailed(cmd, PARAM_COUNT)
        stype = SocketType(read.integer(cmd, params[0], 1, 8))
        if stype.is_seed:
            raise CommandFailed(cmd, TYPE)
        if stype.is_server:
            if len(params) in (3, 5) and params[1] == b"":
                params = [params[0], *params[2:]]  # "AT+SOCKET=3,,8888"
            read.count(cmd, params, 2, 4)
            host, rest = "", params[1:]
        else:
            read.count(cmd, params, 3, 5)
            host, rest = read.host(cmd, params[1]), params[2:]
        port = read.integer(cmd, rest[0], 1, 65535)
        wanted = 0
        if len(rest) == 3:
            read.integer(cmd, rest[1], 0, 7200)  # keep-alive: accepted, reserved by the firmware
            wanted = read.integer(cmd, rest[2], 0, 2**31)
        if not fw.wifi_joined:
            raise CommandFailed(cmd, STATE)
        con_id = fw.sockets.allocate(wanted)
        self.open_socket(stype, host, port, con_id, on_open=self._created)

    def _created(self, entry: SocketEntry) -> None:
        self.fw.line(f"connect success ConID={entry.con_id}")
        self.fw.ok()

    def open_socket(
        self,
        stype: SocketType,
        host: str,
        port: int,
        con_id: int,
        on_open: Callable[[SocketEntry], None],
        on_error: Callable[[bytes], None] | None = None,
        *,
        background: bool = False,
    ) -> None:
        """Creates a socket of any creatable type: the host binds servers at once and
        connects clients on a worker (the module BUSY meanwhile).

        A ``background`` connect (the boot's auto-transparent one) leaves the module free
        for commands: AT+SOCKET? shows it connecting, and a failure stays listed as
        ConnectFail until deleted."""
        fw = self.fw
        failed = on_error or fw.emit
        if stype.is_server:

            def bound(result: Result) -> None:
                if isinstance(result, Failed):
                    failed(_error(result, "SOCKET"))
                    return
                entry = SocketEntry(con_id, stype, local_port=port)
                fw.sockets.add(entry)
                on_open(entry)

            fw.request(lambda token: Listen(token, con_id, stype, port), bound, at_once=True)
            return
        placeholder = SocketEntry(con_id, stype, Status.CONNECTING, host, port)
        fw.sockets.add(placeholder)

        def connected(result: Result) -> None:
            if fw.sockets.get(con_id) is not placeholder:  # deleted meanwhile
                if con_id not in fw.sockets:
                    fw.delete(con_id)  # (the host closes what it made)
                return
            if isinstance(result, Done):
                placeholder.status = Status.CONNECTED
                on_open(placeholder)
                return
            if background:
                placeholder.status = Status.CONNECT_FAILED
            else:
                fw.sockets.remove(con_id)
            failed(_error(result, "SOCKET"))

        fw.request(
            lambda token: Connect(
                token, con_id, stype, host, port, tuple(fw.flash.dns), dict(fw.flash.certs)
            ),
            connected,
            busy=not background,
        )

    # ---- sending and receiving ------------------------------------------------------------

    @staticmethod
    def _sendable(cmd: str, entry: SocketEntry) -> None:
        if entry.type in (SocketType.TCP_SERVER, SocketType.SSL_SERVER):
            raise CommandFailed(cmd, TYPE)
        if entry.status != Status.CONNECTED:
            raise CommandFailed(cmd, STATE)
        if entry.type == SocketType.UDP_SERVER and entry.udp_peer is None:
            raise CommandFailed(cmd, STATE)  # a UDP server replies only after it heard a peer

    def _reply_after(self, cmd: str, *, newline: bool) -> _Receipts:
        """Receipts whose end is the command's reply (SEND error if any send failed)."""

        def finish(failures: int) -> None:
            if newline:
                self.fw.emit(b"\r\n")
            self.fw.emit(CommandFailed(cmd, SEND).reply() if failures else b"OK\r\n")

        return _Receipts(finish)

    def at_socketsend(self, form: str, params: list[bytes]) -> None:
        cmd = "SOCKETSEND"
        read.forms(cmd, form, "set")
        read.count(cmd, params, 2)
        entry = self._socket(cmd, params[0])
        length = read.integer(cmd, params[1], 1, MAX_SEND)
        self._sendable(cmd, entry)
        receipts = self._reply_after(cmd, newline=True)
        self.fw.expect_payload(
            length,
            lambda packet: receipts.send(self.fw, entry, packet),
            receipts.close,
            packetize=True,
        )

    def at_socketsendline(self, form: str, params: list[bytes]) -> None:
        cmd = "SOCKETSENDLINE"
        read.forms(cmd, form, "set")
        read.count(cmd, params, 3)
        entry = self._socket(cmd, params[0])
        length = read.integer(cmd, params[1], 1, MAX_SEND)
        data = params[2]
        if length > len(data):
            raise CommandFailed(cmd, BAD_PARAM)
        self._sendable(cmd, entry)
        data = data[:length]
        receipts = self._reply_after(cmd, newline=False)
        for start in range(0, len(data), LINE_PACKET):
            receipts.send(self.fw, entry, data[start : start + LINE_PACKET])
        receipts.close()

    def at_socketread(self, form: str, params: list[bytes]) -> None:
        cmd = "SOCKETREAD"
        read.forms(cmd, form, "set")
        read.count(cmd, params, 1)
        entry = self._socket(cmd, params[0])
        if entry.type in (SocketType.TCP_SERVER, SocketType.SSL_SERVER):
            raise CommandFailed(cmd, TYPE)
        packet = entry.pop()
        self.fw.emit(b"+SOCKETREAD,%d,%d,%s\r\n" % (entry.con_id, len(packet), packet))
        self.fw.ok()

    def at_socketdel(self, form: str, params: list[bytes]) -> None:
        cmd = "SOCKETDEL"
        read.forms(cmd, form, "set")
        read.count(cmd, params, 1)
        self.fw.delete(self._socket(cmd, params[0]).con_id)
        self.fw.ok()

    def at_socketrecvcfg(self, form: str, params: list[bytes]) -> None:
        cmd, fw = "SOCKETRECVCFG", self.fw
        read.forms(cmd, form, "set", "query")
        if form == "query":
            fw.line(f"+{cmd}:{int(fw.active_mode)}")
        else:
            read.count(cmd, params, 1)
            fw.active_mode = read.integer(cmd, params[0], 0, 1) == 1
        fw.ok()

    # ---- transparent mode ------------------------------------------------------------------

    def at_sockettt(self, form: str, params: list[bytes]) -> None:
        cmd = "SOCKETTT"
        read.forms(cmd, form, "exec", "set")
        follow_last = False
        if form == "set":
            read.count(cmd, params, 1)
            mode = read.integer(cmd, params[0], 0, 2)
            if mode == 1:
                raise CommandFailed(cmd, BAD_PARAM)
            follow_last = mode == 2
        target = self.fw.sockets.transparent_target()
        if target is None:
            raise CommandFailed(cmd, NO_TRANSPARENT)
        self.fw.enter_transparent(target, follow_last_peer=follow_last)

    def at_socketautott(self, form: str, params: list[bytes]) -> None:
        cmd, fw = "SOCKETAUTOTT", self.fw
        read.forms(cmd, form, "set", "query")
        flash = fw.flash
        if form == "query":
            auto = flash.auto_transparent
            fw.line(f"+{cmd}:{auto.type},{auto.host},{auto.port}")
            fw.ok()
            return
        if not params:
            raise CommandFailed(cmd, PARAM_COUNT)
        kind = read.integer(cmd, params[0], 0, 8)
        if kind == 0:
            read.count(cmd, params, 1, 2, 3)
            flash.auto_transparent = AutoTransparent()
        elif kind == SocketType.UDP_SERVER:
            if len(params) == 3 and params[1] == b"":
                params = [params[0], params[2]]
            read.count(cmd, params, 2)
            port = read.integer(cmd, params[1], 1, 65535)
            flash.auto_transparent = AutoTransparent(kind, "", port)
        elif kind in (SocketType.UDP_CLIENT, SocketType.TCP_CLIENT, SocketType.SSL_CLIENT):
            read.count(cmd, params, 3)
            host = read.host(cmd, params[1])
            port = read.integer(cmd, params[2], 1, 65535)
            flash.auto_transparent = AutoTransparent(kind, host, port)
        else:
            raise CommandFailed(cmd, BAD_PARAM)  # placeholder types cannot be automatic
        fw.save_flash()
        fw.ok()

    def auto_transparent_on_boot(self, auto: AutoTransparent) -> None:
        """Boot with AT+SOCKETAUTOTT set: connect, ``connect success``, ``OK``, ``>``."""
        fw = self.fw

        def opened(entry: SocketEntry) -> None:
            self._created(entry)
            if fw.mode is not FirmwareMode.COMMAND:  # the host got in first
                log.warning("auto-transparent: ConID %d stays in command mode", entry.con_id)
                return
            fw.enter_transparent(entry)

        def failed(reply: bytes) -> None:
            log.warning("auto-transparent connection failed: %r", reply)
            fw.emit(reply)

        self.open_socket(
            SocketType(auto.type), auto.host, auto.port, 1, on_open=opened, on_error=failed,
            background=True,
        )  # fmt: skip

    # ---- certificates, names, basics --------------------------------------------------------

    def at_sslcret(self, form: str, params: list[bytes]) -> None:
        cmd, fw = "SSLCRET", self.fw
        read.forms(cmd, form, "set")
        read.count(cmd, params, 1, 2)
        slot = read.integer(cmd, params[0], 1, 3)
        certs = fw.flash.certs
        if len(params) == 1:
            body = certs.get(slot, b"")
            fw.emit(b"+SSLCRET:%d,%d,%s\r\n" % (slot, len(body), body))
            fw.ok()
            return
        length = read.integer(cmd, params[1], 0, 2**31)
        if length > MAX_CERT:
            raise CommandFailed(cmd, TOO_LONG)
        if length == 0:
            certs.pop(slot, None)
            fw.save_flash()
            fw.ok()
            return
        received = bytearray()

        def done() -> None:
            certs[slot] = bytes(received)
            fw.save_flash()
            fw.emit(b"\r\nOK\r\n")

        fw.expect_payload(length, received.extend, done, packetize=False)

    def at_wdomain(self, form: str, params: list[bytes]) -> None:
        cmd, fw = "WDOMAIN", self.fw
        read.forms(cmd, form, "set")
        read.count(cmd, params, 1)
        name = read.host(cmd, params[0])

        def resolved(result: Result) -> None:
            if isinstance(result, Done):
                fw.line(f"+{cmd}:{result.value}")
                fw.ok()
            else:
                fw.emit(_error(result, cmd))

        fw.request(lambda token: Resolve(token, name, tuple(fw.flash.dns)), resolved, busy=True)

    def at_wdns(self, form: str, params: list[bytes]) -> None:
        cmd, fw = "WDNS", self.fw
        read.forms(cmd, form, "set", "query")
        flash = fw.flash
        if form == "query":
            fw.line(f"+{cmd}:{flash.dns[0]},{flash.dns[1]}")
            fw.ok()
            return
        read.count(cmd, params, 1, 2)
        servers = []
        for value in params:
            try:
                servers.append(str(ipaddress.IPv4Address(read.text(cmd, value))))
            except ValueError:
                raise CommandFailed(cmd, BAD_PARAM) from None
        flash.dns = [*servers, "0.0.0.0"][:2]
        fw.save_flash()
        fw.line(f"+{cmd}:{','.join(servers)}")
        fw.ok()

    def at_rst(self, form: str, params: list[bytes]) -> None:
        read.forms("RST", form, "exec")
        self.fw.ok()
        self.fw.reboot()

    def at_gmr(self, form: str, params: list[bytes]) -> None:
        read.forms("GMR", form, "exec")
        self.fw.line(f"AT version:atsock-emulator {__version__} (Combo-AT command set)")
        self.fw.line(f"SDK version:python {platform.python_version()}")
        self.fw.ok()

    def at_wjap(self, form: str, params: list[bytes]) -> None:
        cmd, fw = "WJAP", self.fw
        read.forms(cmd, form, "exec", "set", "query")
        flash = fw.flash
        if form == "query":
            if fw.wifi_joined:
                fw.line(f"+{cmd}:{flash.ssid}")
            fw.ok()
            return
        if form == "set":
            read.count(cmd, params, 1, 2)
            ssid = read.text(cmd, params[0])
            password = read.text(cmd, params[1]) if len(params) == 2 else ""
            if not ssid or len(ssid) > 32:
                raise CommandFailed(cmd, BAD_PARAM)
            flash.ssid, flash.password = ssid, password
            fw.save_flash()
        elif not flash.ssid:
            raise CommandFailed(cmd, STATE)
        fw.ok()
        fw.wifi_joined = True
        fw.urc("WIFI_CONNECT")
        fw.urc("WIFI_GOT_IP")

    def at_wautoconn(self, form: str, params: list[bytes]) -> None:
        cmd, fw = "WAUTOCONN", self.fw
        read.forms(cmd, form, "set", "query")
        if form == "query":
            fw.line(f"+{cmd}:{int(fw.flash.auto_connect)}")
        else:
            read.count(cmd, params, 1)
            fw.flash.auto_connect = read.integer(cmd, params[0], 0, 1) == 1
            fw.save_flash()
        fw.ok()
