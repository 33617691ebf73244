"""``Module``: one typed method per command of the TCP/IP AT command set.

Each method runs a :class:`~atsock.protocol.commands.Command` (its line, checked and
escaped so that data can never inject a second command, and its reply's parser) on
the machinery of :mod:`atsock.driver`, and keeps the driver's books (ConIDs, modes).
"""

from __future__ import annotations

import contextlib
import random
from typing import TYPE_CHECKING, TypeVar

from atsock.deadline import DEFAULT, Wait, budget_of
from atsock.driver import ModuleCore
from atsock.errors import (
    ATError,
    CommandError,
    SocketClosed,
    SocketError,
    Timeout,
    TransparentError,
)
from atsock.protocol import commands
from atsock.protocol.commands import Command
from atsock.protocol.rules import transparent_target
from atsock.types import (
    AutoTransparentConfig,
    CertKind,
    ReceiveMode,
    SocketData,
    SocketInfo,
    SocketType,
    UdpServerMode,
)

if TYPE_CHECKING:
    from atsock.sockets import ServerSocket, Socket
    from atsock.transparent import TransparentStream

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

R = TypeVar("R")


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

    def _run(self, command: Command[R], timeout: Wait) -> R:
        reply = self.execute(
            command.line,
            payload=command.payload,
            secret=command.secret,
            secret_reply=command.secret_reply,
            secret_line=command.secret_line,
            timeout=timeout,
        )
        return command.parse(reply.frames)

    def command(self, line: str, *, timeout: Wait = DEFAULT) -> list[str]:
        """Sends any command line; returns its information lines (raises on ERROR)."""
        return self._run(commands.any_line(line), timeout)

    def at(self, *, timeout: Wait = DEFAULT) -> None:
        """``AT``: is the module there? Raises :class:`~atsock.Timeout` if not."""
        self._run(commands.plain(b"AT"), timeout)

    def version(self, *, timeout: Wait = DEFAULT) -> list[str]:
        """``AT+GMR``: the firmware's version lines."""
        return self.command("AT+GMR", timeout=timeout)

    def set_echo(self, on: bool, *, timeout: Wait = DEFAULT) -> None:
        """``ATE1``/``ATE0`` (the driver copes with either)."""
        self._run(commands.plain(b"ATE1" if on else b"ATE0"), timeout)

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
        command = commands.open_socket(stype, host, port, con_id=con_id, keep_alive=keep_alive)
        new_id = self._run(command, timeout)
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
        return self._run(commands.socket_query(), timeout)

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
            budget = budget_of(timeout, self.timeout)
            if rate:
                budget += len(chunk) / rate
            try:
                self._run(commands.send(con_id, chunk), budget)
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
        command = commands.send_line(con_id, raw)
        if command is None:
            self.send(con_id, raw, timeout=timeout)
        else:
            self._run(command, timeout)

    def read(self, con_id: int, *, timeout: Wait = DEFAULT) -> bytes:
        """``AT+SOCKETREAD``: one received packet, ``b""`` if none is waiting."""
        packet = self._run(commands.read(con_id), timeout)
        self.packet_read(con_id, bool(packet))
        return packet

    def delete(self, con_id: int, *, timeout: Wait = DEFAULT) -> None:
        """``AT+SOCKETDEL``: closes the ConID (seeds must be deleted after they disconnect)."""
        try:
            self._run(commands.delete(con_id), timeout)
        finally:
            self.forget(con_id, SocketClosed(f"ConID {con_id} was deleted"))

    def set_receive_mode(self, mode: ReceiveMode | int, *, timeout: Wait = DEFAULT) -> None:
        """``AT+SOCKETRECVCFG``: passive (default) or active (data comes with the event).

        Switching to active mode, packets already announced in passive mode are read at
        once and delivered as active-mode data (events, socket objects), ahead of any
        data received after the switch, so nothing is reordered or left behind."""
        new_mode = ReceiveMode(mode)
        held = self.announced(every=True) if new_mode == ReceiveMode.ACTIVE else {}
        self._run(commands.receive_mode(new_mode), timeout)
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
        self._run(commands.set_auto_transparent(SocketType(type), host, port), timeout)

    def disable_auto_transparent(self, *, timeout: Wait = DEFAULT) -> None:
        self._run(commands.plain(b"AT+SOCKETAUTOTT=0"), timeout)

    def auto_transparent(self, *, timeout: Wait = DEFAULT) -> AutoTransparentConfig:
        """``AT+SOCKETAUTOTT?``"""
        return self._run(commands.auto_transparent_query(), timeout)

    # ---- certificates, names, Wi-Fi -----------------------------------------------------------

    def set_certificate(
        self, kind: CertKind | int, pem: bytes | str, *, timeout: Wait = DEFAULT
    ) -> None:
        """``AT+SSLCRET=<kind>,<len>``: stores a CA, client certificate or key (≤ 2048 bytes).
        The body never appears in traces or logs."""
        body = pem.encode() if isinstance(pem, str) else bytes(pem)
        self._run(commands.set_certificate(CertKind(kind), body), timeout)

    def clear_certificate(self, kind: CertKind | int, *, timeout: Wait = DEFAULT) -> None:
        self.set_certificate(kind, b"", timeout=timeout)

    def certificate(self, kind: CertKind | int, *, timeout: Wait = DEFAULT) -> bytes:
        """``AT+SSLCRET=<kind>``: the stored body (``b""`` if none)."""
        return self._run(commands.certificate(CertKind(kind)), timeout)

    def resolve(self, name: str, *, timeout: Wait = DEFAULT) -> str:
        """``AT+WDOMAIN``: the module resolves ``name`` through its DNS servers."""
        return self._run(commands.resolve(name), timeout)

    def dns_servers(self, *, timeout: Wait = DEFAULT) -> tuple[str, ...]:
        """``AT+WDNS?``"""
        return self._run(commands.dns_query(), timeout)

    def set_dns_servers(
        self, primary: str, secondary: str | None = None, *, timeout: Wait = DEFAULT
    ) -> None:
        """``AT+WDNS``"""
        self._run(commands.set_dns(primary, secondary), timeout)

    def join_wifi(self, ssid: str, password: str = "", *, timeout: Wait = DEFAULT) -> None:
        """``AT+WJAP``: joins an access point (WIFI_CONNECT / WIFI_GOT_IP events follow)."""
        self._run(commands.join_wifi(ssid, password), timeout)

    def set_auto_connect(self, on: bool, *, timeout: Wait = DEFAULT) -> None:
        """``AT+WAUTOCONN``: join the saved access point at boot."""
        self._run(commands.auto_connect(on), timeout)

    # ---- socket-shaped objects --------------------------------------------------------------

    def create_connection(
        self,
        address: tuple[str, int],
        timeout: Wait = DEFAULT,
        *,
        tls: bool = False,
        udp: bool = False,
    ) -> Socket:
        """Like :func:`socket.create_connection`, through the module (TCP, TLS or UDP);
        the module's errors as the stdlib's (``ConnectionRefusedError``,
        ``socket.gaierror`` …: :class:`~atsock.SocketError`)."""
        from atsock.sockets import Socket

        kind = SocketType.TCP_CLIENT
        if udp or tls:
            kind = SocketType.UDP_CLIENT if udp else SocketType.SSL_CLIENT
        try:
            con_id = self.open_socket(kind, address[0], address[1], timeout=timeout)
        except CommandError as exc:
            raise SocketError.of(exc) from None
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
                    raise SocketError.of(exc) from None
                continue  # taken: the next
            return ServerSocket(self, con_id, kind, candidate)
        raise ATError(
            f"no free port for a server: the module could bind none of {SERVER_PORT_TRIES} "
            f"tried from {DYNAMIC_PORTS.start}-{DYNAMIC_PORTS.stop - 1}"
        )

    def udp_server(self, port: int) -> Socket:
        """A UDP server socket: it can send only after a peer spoke (and replies to it)."""
        from atsock.sockets import Socket

        try:
            con_id = self.open_socket(SocketType.UDP_SERVER, port=port)
        except CommandError as exc:
            raise SocketError.of(exc) from None
        return Socket(self, con_id, SocketType.UDP_SERVER)


def _name(value: object) -> str:
    return value.name if hasattr(value, "name") else str(value)


__all__ = ["Module"]
