"""``Module``: one typed method per command of the TCP/IP AT command set.

Each method runs a :class:`~atsock.protocol.commands.Command` (its line, checked and
escaped so that data can never inject a second command, and its reply's parser) on
the command path, and keeps the driver's books (ConIDs, modes). A ``Module`` is put
together from its parts, each usable on its own: the :class:`~atsock.sync.link.Link`
(port, reader thread, protocol machine), the
:class:`~atsock.sync.command_path.CommandPath` (commands in turn, each bounded) and the
:class:`~atsock.sync.connections.Connections` (what socket objects build on).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import serial

from atsock.deadline import DEFAULT, Wait, budget_of
from atsock.errors import (
    SocketClosed,
    Timeout,
    TransparentError,
)
from atsock.protocol import commands
from atsock.protocol.rules import require_target, tt_line
from atsock.protocol.state import Mode
from atsock.proxy.server import SocksProxy
from atsock.sync import sockets
from atsock.sync.command_path import CommandPath
from atsock.sync.connections import Connections
from atsock.sync.events import EventCallback, EventQueue
from atsock.sync.link import STREAM_GATHER, Link
from atsock.sync.sockets import ServerSocket, Socket
from atsock.sync.transparent import (
    TransparentStream,
    auto_transparent_session,
    transparent_session,
)
from atsock.types import (
    AutoTransparentConfig,
    CertKind,
    ReceiveMode,
    SocketInfo,
    SocketType,
    UdpServerMode,
)


class Module:
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
    :mod:`atsock.sync.gather`), and any pyserial option. Writes wait for room in the port as
    pyserial's do: up to ``write_timeout`` seconds, or, with none (the default), as long
    as the port takes — a UART without flow control always drains; with ``rtscts=True``
    pass a ``write_timeout`` so that a module holding CTS cannot stall a write forever.
    A command's own writes are bounded by its timeout: a module that stops taking bytes
    (its peer does not read) is a :class:`Timeout`, and the rest of what it was sent goes
    out before the next command, which it would otherwise be taken for.

    Threads may share a module: commands go one at a time, first come first served, and
    a long :meth:`send` lets other threads' commands in between its pieces, so a socket
    can be sent to and read from on two threads at once.

    Its parts: :attr:`link` (port, reader thread, protocol machine), :attr:`command_path`
    (raw command lines) and :attr:`connections` (the ConID table socket objects use).
    """

    def __init__(
        self,
        port: str | serial.SerialBase,
        *,
        baudrate: int = 115200,
        timeout: float | None = 5.0,
        guard_time: float | None = None,
        exit_delay: float = 1.0,
        link_rate: float | None = None,
        stream_gather: float = STREAM_GATHER,
        max_events: int = 10_000,
        **serial_options: Any,
    ) -> None:
        #: the port, the reader thread and the protocol machine (raw writes and reads)
        self.link = Link(
            port,
            baudrate=baudrate,
            timeout=timeout,
            guard_time=guard_time,
            link_rate=link_rate,
            stream_gather=stream_gather,
            max_events=max_events,
            **serial_options,
        )
        #: commands one at a time, callers in turn (raw lines: ``command_path.execute``)
        self.command_path = CommandPath(self.link, exit_delay=exit_delay)
        self._run = self.command_path.run
        #: what the driver knows of each ConID (socket objects build on it)
        self.connections = Connections(self.link)
        #: the module's events (URCs and resets), oldest first; bounded (``max_events``)
        self.events: EventQueue = self.link.router.queue

    def __enter__(self) -> Module:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<atsock.Module on {self.serial.name!r}>"

    def close(self) -> None:
        """Stops the reader thread and closes the port (idempotent)."""
        self.link.close()

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called (the reader thread stopped, the port closed)."""
        return self.link.closed

    @property
    def serial(self) -> serial.SerialBase:
        """The pyserial port."""
        return self.link.serial

    @property
    def timeout(self) -> float:
        """Every command's default timeout (seconds; ``math.inf`` if given as None)."""
        return self.link.timeout

    @property
    def guard_time(self) -> float:
        """The module's ``+++`` guard time (seconds)."""
        return self.link.guard_time

    @property
    def exit_delay(self) -> float:
        """Quiet the firmware wants after leaving transparent mode (seconds)."""
        return self.command_path.exit_delay

    @property
    def link_rate(self) -> float | None:
        """Bytes/s writes are paced to (a pty in front of a paced emulator), or None."""
        return self.link.link_rate

    @property
    def line_rate(self) -> float | None:
        """Bytes/s of the line as far as the driver knows (None: a pty, a TCP port)."""
        return self.link.line_rate

    @property
    def framing_errors(self) -> int:
        """How often the module's output broke framing (each resynchronised, logged)."""
        return self.link.framing_errors

    @property
    def mode(self) -> Mode:
        """Command lines, or (on the way into, in, out of) transparent mode."""
        return self.link.mode

    @property
    def receive_mode(self) -> ReceiveMode:
        """The module's receive mode as far as the driver knows (a reset makes it passive)."""
        return self.connections.receive_mode

    def dropped(self, con_id: int | None = None) -> int:
        """Received bytes thrown away for ``con_id`` (all if None): Connections.dropped."""
        return self.connections.dropped(con_id)

    def on_event(self, callback: EventCallback) -> None:
        """Calls ``callback(event)`` for every event, on a thread of its own (it may run
        commands)."""
        self.link.router.on_event(callback)

    def turn(self, timeout: Wait = DEFAULT) -> contextlib.AbstractContextManager[None]:
        """Holds the module for several commands of this thread in a row (others wait
        their turn, first come first served): ``with module.turn(): ...``."""
        return self.command_path.turn(timeout)

    # ---- basics ----------------------------------------------------------------------------

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
        self.link.pad_owed_payload()
        self.link.expect_ready()
        try:
            self.command_path.execute(b"AT+RST", timeout=timeout)
        except BaseException:
            self.link.cancel_expect_ready()  # a later crash-reset must not pass for this one
            raise
        self.link.wait_ready(budget_of(timeout, self.timeout))

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
            self.connections.fresh(new_id, stype, announced=True)
            return new_id
        new_id = con_id or commands.new_socket_id(self.sockets(), stype)
        self.connections.fresh(new_id, stype, announced=False)
        return new_id

    def sockets(self, *, timeout: Wait = DEFAULT) -> list[SocketInfo]:
        """``AT+SOCKET?``: every ConID with its type, status and addresses."""
        return self._run(commands.socket_query(), timeout)

    def _require(self, con_id: int) -> None:
        """Some firmware silently drops data for an unknown ConID: check it ourselves."""
        if self.connections.known(con_id):
            return
        if any(s.con_id == con_id for s in self.sockets()):
            conn = self.connections.conn(con_id)
            conn.type = conn.type or SocketType.TCP_CLIENT
            return
        raise SocketClosed(f"ConID {con_id} does not exist on the module")

    def send(self, con_id: int, data: bytes, *, timeout: Wait = DEFAULT) -> None:
        """``AT+SOCKETSEND``: any bytes, any length, sent as several commands (≤ 64 KiB,
        or about :data:`~atsock.protocol.commands.SEND_SLICE` of line time each) that
        let other threads' commands in between, first come first served.

        ``timeout`` bounds each command, the time its payload takes on the line
        (``link_rate``, or else the port's baud rate) added: a module that stops taking
        bytes (its peer does not read) raises :class:`Timeout` within that, its ``sent``
        saying how many bytes of ``data`` at least reach the peer (a command's payload
        once begun goes out in full, if need be before the next command)."""
        self._require(con_id)
        rate = self.link_rate or (getattr(self.serial, "baudrate", 0) or 0) / 10
        step = commands.send_step(self.line_rate)
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

    def read(self, con_id: int, *, timeout: Wait = DEFAULT, keep: bool = False) -> bytes:
        """``AT+SOCKETREAD``: one received packet, ``b""`` if none is waiting (``keep``: also
        buffered, in the order received, for the ConID's socket object)."""
        packet = self._run(commands.read(con_id), timeout)
        self.connections.packet_read(con_id, packet, keep=keep)
        return packet

    def delete(self, con_id: int, *, timeout: Wait = DEFAULT) -> None:
        """``AT+SOCKETDEL``: closes the ConID (seeds must be deleted after they disconnect)."""
        try:
            self._run(commands.delete(con_id), timeout)
        finally:
            self.connections.forget(con_id, SocketClosed(f"ConID {con_id} was deleted"))

    def set_receive_mode(self, mode: ReceiveMode | int, *, timeout: Wait = DEFAULT) -> None:
        """``AT+SOCKETRECVCFG``: passive (default) or active (data comes with the event).

        Switching to active mode, packets already announced in passive mode are read at
        once and delivered as active-mode data (events, socket objects), ahead of any
        data received after the switch, so nothing is reordered or left behind."""
        new_mode = ReceiveMode(mode)
        self._run(commands.receive_mode(new_mode), timeout)
        was = self.connections.set_receive_mode(new_mode)
        if was == ReceiveMode.PASSIVE and new_mode == ReceiveMode.ACTIVE:
            sockets.deliver_announced(self, timeout)

    # ---- transparent mode ----------------------------------------------------------------

    def transparent_target(self) -> SocketInfo:
        """The connection AT+SOCKETTT would use, or a TransparentError saying why none."""
        return require_target(self.sockets())

    @contextlib.contextmanager
    def transparent(
        self, *, udp_mode: UdpServerMode | None = None, timeout: Wait = DEFAULT
    ) -> Iterator[TransparentStream]:
        """``AT+SOCKETTT``: a context manager yielding a file-like stream to the peer;
        leaving it sends ``+++`` with the guard times and waits for the module's OK. The
        next command then waits out ``exit_delay`` (1 s unless the module was given
        another), the quiet the firmware wants after the OK before it reads commands."""
        self.transparent_target()  # a clear error before anything is sent
        line = tt_line(udp_mode)
        with transparent_session(self.link, self.command_path, line, timeout=timeout) as stream:
            yield stream

    @contextlib.contextmanager
    def reset_into_transparent(self, *, timeout: Wait = DEFAULT) -> Iterator[TransparentStream]:
        """``AT+RST`` with AT+SOCKETAUTOTT set: waits for the boot to connect and enter
        transparent mode, and yields that stream (left with ``+++`` like
        :meth:`transparent`). The ConID of the connection is 1."""
        config = self.auto_transparent(timeout=timeout)
        if not config.enabled:
            raise TransparentError(
                "AT+SOCKETAUTOTT is off: set it with set_auto_transparent() before resetting "
                "into it"
            )

        def reset(budget: float) -> None:
            self.reset(timeout=budget)

        with auto_transparent_session(
            self.link, self.command_path, config, reset, timeout=timeout
        ) as stream:
            yield stream

    def set_auto_transparent(
        self, type: SocketType | int, host: str | None, port: int, *, timeout: Wait = DEFAULT
    ) -> None:
        """``AT+SOCKETAUTOTT``: after the next reset, connect and enter transparent mode."""
        self._run(commands.set_auto_transparent(SocketType(type), host, port), timeout)

    def disable_auto_transparent(self, *, timeout: Wait = DEFAULT) -> None:
        """``AT+SOCKETAUTOTT=0``: auto-transparent off (resets leave the module in command mode)."""
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
        """``AT+SSLCRET=<kind>,0``: erases the stored CA, client certificate or key."""
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
        return sockets.create_connection(self, address, timeout, tls=tls, udp=udp)

    def create_server(
        self, port: int = 0, *, tls: bool = False, timeout: Wait = DEFAULT
    ) -> ServerSocket:
        """A listening TCP (or TLS) socket on the module; ``accept()`` returns one per
        client. Port 0: a free one from the dynamic range (the module has no "any port"
        of its own); ``getsockname()`` says which."""
        return sockets.create_server(self, port, tls=tls, timeout=timeout)

    def udp_server(self, port: int) -> Socket:
        """A UDP server socket: it can send only after a peer spoke (and replies to it)."""
        return sockets.udp_server(self, port)

    def serve_socks(
        self, address: tuple[str, int] = ("127.0.0.1", 0), *, users: dict[str, str] | None = None
    ) -> SocksProxy:
        """A SOCKS5 proxy over this module on ``address`` (loopback; port 0: a free one)
        until closed: ``with m.serve_socks() as proxy:`` (see :class:`SocksProxy`)."""
        return SocksProxy(self, address, users=users)


__all__ = ["Module"]
