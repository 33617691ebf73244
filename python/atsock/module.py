"""``Module``: one typed method per command of the TCP/IP AT command set.

Every string that goes into a command line passes through the core's parameter
formatter, which quotes and escapes it as needed and refuses CR/LF — data can never
inject a second command. See :mod:`atsock.driver` for the machinery underneath.
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from atsock._core import MAX_COMMAND_LINE, format_param, format_params
from atsock.deadline import DEFAULT, Wait, budget_of
from atsock.driver import ModuleCore
from atsock.errors import ATError, CommandError, SocketClosed, Timeout, TransparentError
from atsock.protocol.rules import transparent_target
from atsock.types import (
    MAX_CERT,
    AutoTransparentConfig,
    CertKind,
    ReceiveMode,
    SocketData,
    SocketInfo,
    SocketStatus,
    SocketType,
    UdpServerMode,
)

if TYPE_CHECKING:
    from atsock.sockets import ServerSocket, Socket
    from atsock.transparent import TransparentStream

#: Host names the module accepts (and nothing that could break a command line).
_HOSTNAME = re.compile(r"[A-Za-z0-9_.:\-]{1,253}")
#: Ports ``create_server(0)`` picks from (the dynamic range, RFC 6335), and how many.
DYNAMIC_PORTS = range(49152, 65536)
SERVER_PORT_TRIES = 16
#: The firmware's error code for a port it cannot bind.
BIND_FAILED = 104
#: SOCKETSEND payloads larger than this go as several commands.
SEND_CHUNK = 64 * 1024
#: On a line of known rate a send's commands are cut to about this much line time, so
#: other threads' commands (a recv's AT+SOCKETREAD) get a turn that often.
SEND_SLICE = 0.25
#: Bound on the packets read for one ConID when switching to active receive mode.
MAX_QUEUED_READS = 1024


def _enum(kind: type[Any], value: int) -> Any:
    try:
        return kind(value)
    except ValueError:
        return value


def _host(host: str) -> str:
    if not _HOSTNAME.fullmatch(host):
        raise ValueError(f"not a host name or IP address: {host!r}")
    return host


def _port(port: int) -> int:
    if not 1 <= int(port) <= 65535:
        raise ValueError(f"port must be 1..65535, not {port}")
    return int(port)


def _ipv4(address: str) -> str:
    try:
        return str(ipaddress.IPv4Address(address))
    except ValueError:
        raise ValueError(f"not an IPv4 address: {address!r}") from None


def send_step(line_rate: float | None) -> int:
    """Bytes per AT+SOCKETSEND of a long send: :data:`SEND_SLICE` of line time, in whole
    1024-byte packets, at most :data:`SEND_CHUNK` (that, where the rate is unknown)."""
    if not line_rate:
        return SEND_CHUNK
    return max(1024, min(SEND_CHUNK, int(line_rate * SEND_SLICE) // 1024 * 1024))


class Module(ModuleCore):
    """A Wi-Fi module on a serial port (any pyserial URL), e.g.::

        with atsock.Module("/dev/ttyUSB0", baudrate=115200, timeout=5.0) as m:
            m.at()
            cid = m.open_socket(atsock.SocketType.TCP_CLIENT, "example.org", 80)

    Options: ``timeout`` (default for every command, overridable per call),
    ``guard_time`` (the module's ``+++`` guard time; by default what an ``emu://`` port
    says, else 0.02 s), ``exit_delay`` (default 1.0 s: after leaving transparent mode
    the firmware wants this much quiet before it reads commands again, so the next
    command waits for it; lower it for firmware that needs less, such as the emulator),
    ``link_rate`` (bytes/s, for a pty in front of a paced emulator; an ``emu://``
    port with ``baud`` says it itself), ``stream_gather`` (default 0.02 s: on a line of
    known rate, a real serial port's or ``link_rate``, a transparent stream's reader
    waits up to this long between port reads while the peer streams, to take several of
    the line's bursts per wake-up; not in the first read after a write, never for more
    than about 12 KiB of the line; 0 reads each burst as it lands, see
    :mod:`atsock.gather`), and any pyserial option. Writes wait for room in the port as
    pyserial's do: up to ``write_timeout`` seconds, or, with none (the default), as long
    as the port takes — a UART without flow control always drains; with ``rtscts=True``
    pass a ``write_timeout`` so that a module holding CTS cannot stall a write forever.
    A command's own writes are bounded by its timeout: a module that stops taking bytes
    (its peer does not read) is a :class:`Timeout`, and the rest of what it was sent goes
    out before the next command, which it would otherwise be taken for.

    Threads may share a module: commands go one at a time, first come first served, and
    a long :meth:`send` lets other threads' commands in between its pieces, so a socket
    can be sent to and read from on two threads at once.
    """

    def __enter__(self) -> Module:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<atsock.Module on {self.serial.name!r}>"

    # ---- basics ----------------------------------------------------------------------------

    def command(self, line: str, *, timeout: Wait = DEFAULT) -> list[str]:
        """Sends any command line; returns its information lines (raises on ERROR)."""
        reply = self.execute(line.encode(), timeout=timeout)
        return [f.text or "" for f in reply.frames]

    def at(self, *, timeout: Wait = DEFAULT) -> None:
        """``AT``: is the module there? Raises :class:`~atsock.Timeout` if not."""
        self.execute(b"AT", timeout=timeout)

    def version(self, *, timeout: Wait = DEFAULT) -> list[str]:
        """``AT+GMR``: the firmware's version lines."""
        return self.command("AT+GMR", timeout=timeout)

    def set_echo(self, on: bool, *, timeout: Wait = DEFAULT) -> None:
        """``ATE1``/``ATE0`` (the driver copes with either)."""
        self.execute(b"ATE1" if on else b"ATE0", timeout=timeout)

    def reset(self, *, timeout: Wait = DEFAULT) -> None:
        """``AT+RST``: waits for the reboot's ``ready``; every ConID is gone afterwards."""
        self.pad_owed_payload()
        self.expect_ready()
        try:
            self.execute(b"AT+RST", timeout=timeout)
        except BaseException:
            self.cancel_expect_ready()  # a later crash-reset must not pass for this one
            raise
        self.wait_ready(budget_of(timeout, self.timeout))

    # ---- sockets -----------------------------------------------------------------------------

    def open_socket(
        self,
        type: SocketType | int,
        host: str | None = None,
        port: int = 0,
        *,
        con_id: int = 0,
        keep_alive: int = 0,
        timeout: Wait = DEFAULT,
    ) -> int:
        """``AT+SOCKET``: creates a socket (clients connect); returns its ConID."""
        stype = SocketType(type)
        if stype in (SocketType.TCP_SEED, SocketType.SSL_SEED):
            raise ValueError("seeds are created by the module when a client connects")
        params: list[str] = [str(int(stype))]
        if stype.is_client:
            if not host:
                raise ValueError(f"{stype.name} needs a remote host")
            params.append(_host(host))
        elif host:
            raise ValueError(f"{stype.name} listens on a port; it takes no host")
        params.append(str(_port(port)))
        if con_id or keep_alive:
            params += [str(int(keep_alive)), str(int(con_id))]
        reply = self.execute(b"AT+SOCKET=" + format_params(params), timeout=timeout)
        new_id = next((f.id for f in reply.frames if f.kind == "connect"), None)
        if new_id is not None:
            self.fresh_conn(new_id, stype, announced=True)
            return new_id
        new_id = con_id or self._find_new_socket(stype)
        self.fresh_conn(new_id, stype, announced=False)
        return new_id

    def _find_new_socket(self, stype: SocketType) -> int:
        """Firmware that omits ``connect success``: the newest matching row."""
        rows = [s for s in self.sockets() if int(s.type) == stype]
        if not rows:
            raise ATError("the module said OK but lists no new socket")
        return max(rows, key=lambda s: s.con_id).con_id

    def sockets(self, *, timeout: Wait = DEFAULT) -> list[SocketInfo]:
        """``AT+SOCKET?``: every ConID with its type, status and addresses."""
        reply = self.execute(b"AT+SOCKET?", timeout=timeout)
        rows = []
        for frame in reply.frames:
            fields = (frame.text or "").split(",")
            if frame.kind != "info" or len(fields) != 7:
                continue
            try:
                con_id, kind, status = int(fields[0]), int(fields[1]), int(fields[2])
                remote_port, local_port, server = (int(x) for x in fields[4:7])
            except ValueError:
                continue
            rows.append(
                SocketInfo(
                    con_id,
                    _enum(SocketType, kind),
                    _enum(SocketStatus, status),
                    fields[3],
                    remote_port,
                    local_port,
                    server,
                )
            )
        return rows

    def _require(self, con_id: int) -> None:
        """Some firmware silently drops data for an unknown ConID: check it ourselves."""
        if self.known(con_id):
            return
        if any(s.con_id == con_id for s in self.sockets()):
            conn = self.conn(con_id)
            conn.type = conn.type or SocketType.TCP_CLIENT
            return
        raise SocketClosed(f"ConID {con_id} does not exist on the module")

    def send(self, con_id: int, data: bytes, *, timeout: Wait = DEFAULT) -> None:
        """``AT+SOCKETSEND``: any bytes, any length, sent as several commands (≤ 64 KiB,
        or about :data:`SEND_SLICE` of line time each) that let other threads' commands
        in between, first come first served.

        ``timeout`` bounds each command, the time its payload takes on the line
        (``link_rate``, or else the port's baud rate) added: a module that stops taking
        bytes (its peer does not read) raises :class:`Timeout` within that, its ``sent``
        saying how many bytes of ``data`` at least reach the peer (a command's payload
        once begun goes out in full, if need be before the next command)."""
        self._require(con_id)
        rate = self.link_rate or (getattr(self.serial, "baudrate", 0) or 0) / 10
        step = send_step(self.line_rate)
        view = memoryview(data)
        for start in range(0, len(view), step):
            chunk = bytes(view[start : start + step])
            line = b"AT+SOCKETSEND=%d,%d" % (con_id, len(chunk))
            budget = budget_of(timeout, self.timeout)
            if rate:
                budget += len(chunk) / rate
            try:
                self.execute(line, payload=chunk, timeout=budget)
            except Timeout as exc:
                exc.sent = start + (exc.sent or 0)
                raise

    def send_line(self, con_id: int, data: str | bytes, *, timeout: Wait = DEFAULT) -> None:
        """``AT+SOCKETSENDLINE``, quoted and escaped as needed; data that cannot travel in
        a command line (CR, LF, too long) goes through ``AT+SOCKETSEND`` instead."""
        raw = data.encode() if isinstance(data, str) else bytes(data)
        if not raw:
            return
        self._require(con_id)
        if b"\r" not in raw and b"\n" not in raw:
            line = b"AT+SOCKETSENDLINE=%d,%d," % (con_id, len(raw)) + format_param(raw)
            if len(line) <= MAX_COMMAND_LINE:
                self.execute(line, timeout=timeout)
                return
        self.send(con_id, raw, timeout=timeout)

    def read(self, con_id: int, *, timeout: Wait = DEFAULT) -> bytes:
        """``AT+SOCKETREAD``: one received packet, ``b""`` if none is waiting."""
        reply = self.execute(b"AT+SOCKETREAD=%d" % con_id, timeout=timeout)
        packet = next((f.payload for f in reply.frames if f.kind == "socketread"), None) or b""
        self.packet_read(con_id, bool(packet))
        return packet

    def delete(self, con_id: int, *, timeout: Wait = DEFAULT) -> None:
        """``AT+SOCKETDEL``: closes the ConID (seeds must be deleted after they disconnect)."""
        try:
            self.execute(b"AT+SOCKETDEL=%d" % con_id, timeout=timeout)
        finally:
            self.forget(con_id, SocketClosed(f"ConID {con_id} was deleted"))

    def set_receive_mode(self, mode: ReceiveMode | int, *, timeout: Wait = DEFAULT) -> None:
        """``AT+SOCKETRECVCFG``: passive (default) or active (data comes with the event).

        Switching to active mode, packets already announced in passive mode are read at
        once and delivered as active-mode data (events, socket objects), ahead of any
        data received after the switch, so nothing is reordered or left behind."""
        new_mode = ReceiveMode(mode)
        held = self.announced(every=True) if new_mode == ReceiveMode.ACTIVE else {}
        self.execute(b"AT+SOCKETRECVCFG=%d" % new_mode, timeout=timeout)
        was = self._set_receive_mode(new_mode)
        if was == ReceiveMode.PASSIVE and new_mode == ReceiveMode.ACTIVE:
            for con_id, offset in self.announced().items():
                offset = held.get(con_id, offset)
                for _ in range(MAX_QUEUED_READS):
                    try:
                        packet = self.read(con_id, timeout=timeout)
                    except SocketClosed:
                        break
                    if not packet:
                        break
                    self.store_buffered(con_id, packet, at=offset)
                    offset += len(packet)
                    self.publish(SocketData(con_id, len(packet), packet))

    # ---- transparent mode ----------------------------------------------------------------

    def transparent_target(self) -> SocketInfo:
        """The connection AT+SOCKETTT would use, or a TransparentError saying why none."""
        rows = self.sockets()
        target = transparent_target(rows)
        if target is not None:
            return target
        listing = ", ".join(f"ConID {s.con_id} {_name(s.type)} {_name(s.status)}" for s in rows)
        raise TransparentError(
            "transparent mode needs exactly one connected client, one UDP server, or one "
            f"server with one seed; the module has: {listing or 'no sockets'}"
        )

    def transparent(
        self, *, udp_mode: UdpServerMode | None = None, timeout: Wait = DEFAULT
    ) -> contextlib.AbstractContextManager[TransparentStream]:
        """``AT+SOCKETTT``: a context manager yielding a file-like stream to the peer;
        leaving it sends ``+++`` with the guard times and waits for the module's OK. The
        next command then waits out ``exit_delay`` (1 s unless the module was given
        another), the quiet the firmware wants after the OK before it reads commands."""
        from atsock.transparent import transparent_session

        return transparent_session(self, udp_mode=udp_mode, timeout=timeout)

    def reset_into_transparent(
        self, *, timeout: Wait = DEFAULT
    ) -> contextlib.AbstractContextManager[TransparentStream]:
        """``AT+RST`` with AT+SOCKETAUTOTT set: waits for the boot to connect and enter
        transparent mode, and yields that stream (left with ``+++`` like
        :meth:`transparent`). The ConID of the connection is 1."""
        from atsock.transparent import auto_transparent_session

        return auto_transparent_session(self, timeout=timeout)

    def set_auto_transparent(
        self, type: SocketType | int, host: str | None, port: int, *, timeout: Wait = DEFAULT
    ) -> None:
        """``AT+SOCKETAUTOTT``: after the next reset, connect and enter transparent mode."""
        stype = SocketType(type)
        if stype not in (
            SocketType.UDP_SERVER,
            SocketType.UDP_CLIENT,
            SocketType.TCP_CLIENT,
            SocketType.SSL_CLIENT,
        ):
            raise ValueError(f"{stype.name} cannot be entered automatically")
        params = [str(int(stype))]
        if stype.is_client:
            params.append(_host(host or ""))
        params.append(str(_port(port)))
        self.execute(b"AT+SOCKETAUTOTT=" + format_params(params), timeout=timeout)

    def disable_auto_transparent(self, *, timeout: Wait = DEFAULT) -> None:
        self.execute(b"AT+SOCKETAUTOTT=0", timeout=timeout)

    def auto_transparent(self, *, timeout: Wait = DEFAULT) -> AutoTransparentConfig:
        """``AT+SOCKETAUTOTT?``"""
        line = self._query_line(b"AT+SOCKETAUTOTT?", "SOCKETAUTOTT", timeout)
        fields = (line.split(":", 1)[1] if ":" in line else "").split(",")
        fields += ["0", "", "-1"][len(fields) :]
        try:
            kind, port = int(fields[0]), int(fields[2] or -1)
        except ValueError:
            raise ATError(f"unexpected AT+SOCKETAUTOTT? reply: {line!r}") from None
        return AutoTransparentConfig(_enum(SocketType, kind), fields[1], port)

    def _query_line(self, line: bytes, name: str, timeout: Wait) -> str:
        reply = self.execute(line, timeout=timeout)
        for frame in reply.frames:
            if frame.name == name and frame.text:
                return frame.text
        raise ATError(f"{line.decode()} answered OK without a +{name}: line")

    # ---- certificates, names, Wi-Fi -----------------------------------------------------------

    def set_certificate(
        self, kind: CertKind | int, pem: bytes | str, *, timeout: Wait = DEFAULT
    ) -> None:
        """``AT+SSLCRET=<kind>,<len>``: stores a CA, client certificate or key (≤ 2048 bytes).
        The body never appears in traces or logs."""
        body = pem.encode() if isinstance(pem, str) else bytes(pem)
        if len(body) > MAX_CERT:
            raise ValueError(f"a certificate slot holds at most {MAX_CERT} bytes, not {len(body)}")
        line = b"AT+SSLCRET=%d,%d" % (CertKind(kind), len(body))
        if body:
            self.execute(line, payload=body, secret=True, timeout=timeout)
        else:
            self.execute(line, timeout=timeout)

    def clear_certificate(self, kind: CertKind | int, *, timeout: Wait = DEFAULT) -> None:
        self.set_certificate(kind, b"", timeout=timeout)

    def certificate(self, kind: CertKind | int, *, timeout: Wait = DEFAULT) -> bytes:
        """``AT+SSLCRET=<kind>``: the stored body (``b""`` if none)."""
        reply = self.execute(b"AT+SSLCRET=%d" % CertKind(kind), secret_reply=True, timeout=timeout)
        return next((f.payload or b"" for f in reply.frames if f.kind == "sslcret"), b"")

    def resolve(self, name: str, *, timeout: Wait = DEFAULT) -> str:
        """``AT+WDOMAIN``: the module resolves ``name`` through its DNS servers."""
        line = self._query_line(b"AT+WDOMAIN=" + format_param(_host(name)), "WDOMAIN", timeout)
        return line.split(":", 1)[1]

    def dns_servers(self, *, timeout: Wait = DEFAULT) -> tuple[str, ...]:
        """``AT+WDNS?``"""
        line = self._query_line(b"AT+WDNS?", "WDNS", timeout)
        return tuple(x for x in line.split(":", 1)[1].split(",") if x)

    def set_dns_servers(
        self, primary: str, secondary: str | None = None, *, timeout: Wait = DEFAULT
    ) -> None:
        """``AT+WDNS``"""
        servers = [_ipv4(primary)] + ([_ipv4(secondary)] if secondary else [])
        self.execute(b"AT+WDNS=" + format_params(servers), timeout=timeout)

    def join_wifi(self, ssid: str, password: str = "", *, timeout: Wait = DEFAULT) -> None:
        """``AT+WJAP``: joins an access point (WIFI_CONNECT / WIFI_GOT_IP events follow)."""
        params: Sequence[str] = [ssid, password] if password else [ssid]
        # the password stays out of wire traces, and so does the echo of the line
        self.execute(b"AT+WJAP=" + format_params(params), timeout=timeout, secret_line=True)

    def set_auto_connect(self, on: bool, *, timeout: Wait = DEFAULT) -> None:
        """``AT+WAUTOCONN``: join the saved access point at boot."""
        self.execute(b"AT+WAUTOCONN=%d" % int(on), timeout=timeout)

    # ---- socket-shaped objects --------------------------------------------------------------

    def create_connection(
        self,
        address: tuple[str, int],
        timeout: Wait = DEFAULT,
        *,
        tls: bool = False,
        udp: bool = False,
    ) -> Socket:
        """Like :func:`socket.create_connection`, through the module (TCP, TLS or UDP)."""
        from atsock.sockets import Socket

        kind = SocketType.TCP_CLIENT
        if udp or tls:
            kind = SocketType.UDP_CLIENT if udp else SocketType.SSL_CLIENT
        con_id = self.open_socket(kind, address[0], address[1], timeout=timeout)
        sock = Socket(self, con_id, kind)
        sock.settimeout(None if timeout is DEFAULT else timeout)
        return sock

    def create_server(
        self, port: int = 0, *, tls: bool = False, timeout: Wait = DEFAULT
    ) -> ServerSocket:
        """A listening TCP (or TLS) socket on the module; ``accept()`` returns one per
        client. Port 0: a free one from the dynamic range (the module has no "any port"
        of its own); ``getsockname()`` says which."""
        from atsock.sockets import ServerSocket

        kind = SocketType.SSL_SERVER if tls else SocketType.TCP_SERVER
        candidates = [port] if port else random.sample(DYNAMIC_PORTS, SERVER_PORT_TRIES)
        for candidate in candidates:
            try:
                con_id = self.open_socket(kind, port=candidate, timeout=timeout)
            except CommandError as exc:
                if port or exc.code != BIND_FAILED:
                    raise
                continue  # taken: the next
            return ServerSocket(self, con_id, kind, candidate)
        raise ATError(
            f"no free port for a server: the module could bind none of {SERVER_PORT_TRIES} "
            f"tried from {DYNAMIC_PORTS.start}-{DYNAMIC_PORTS.stop - 1}"
        )

    def udp_server(self, port: int) -> Socket:
        """A UDP server socket: it can send only after a peer spoke (and replies to it)."""
        from atsock.sockets import Socket

        return Socket(
            self, self.open_socket(SocketType.UDP_SERVER, port=port), SocketType.UDP_SERVER
        )


def _name(value: object) -> str:
    return value.name if hasattr(value, "name") else str(value)


__all__ = ["Module"]
