"""``AsyncModule``: every command of the TCP/IP AT command set as a coroutine.

The twin of :class:`atsock.Module`: the same methods, arguments, results and typed
errors, each awaited. The commands are the same :mod:`atsock.protocol.commands` (their
lines, escaping and reply parsers) and the protocol rules are the same
:class:`~atsock.protocol.machine.ModuleProtocol`; only the I/O is the event loop's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Generator
from typing import Any

import serial

from atsock.aio.command_path import AsyncCommandPath
from atsock.aio.datagrams import ConIDDatagramTransport, create_datagram_endpoint
from atsock.aio.link import AsyncEvents, AsyncLink
from atsock.aio.port import close_quietly
from atsock.aio.socks_proxy import AsyncSocksProxy
from atsock.aio.streams import Handler, ModuleServer, open_connection, start_server
from atsock.aio.transparent import StreamPair, auto_transparent_session, transparent_session
from atsock.deadline import DEFAULT, Wait, budget_of
from atsock.errors import SocketClosed, Timeout, TransparentError
from atsock.protocol import commands
from atsock.protocol.rules import require_target, tt_line
from atsock.protocol.state import Mode
from atsock.sync.portio import uart_rate
from atsock.sync.sockets import MAX_QUEUED_READS
from atsock.types import (
    AutoTransparentConfig,
    CertKind,
    Event,
    ReceiveMode,
    SocketData,
    SocketInfo,
    SocketType,
    UdpServerMode,
)


class AsyncModule:
    """A Wi-Fi module on a serial port, driven from asyncio (see :func:`open_module`)."""

    def __init__(
        self,
        port: serial.SerialBase,
        loop: asyncio.AbstractEventLoop,
        *,
        timeout: float | None = 5.0,
        guard_time: float | None = None,
        exit_delay: float = 1.0,
        link_rate: float | None = None,
        max_events: int = 10_000,
    ) -> None:
        #: the port, read and written by the loop, and the protocol machine
        self.link = AsyncLink(
            port, loop, timeout=timeout, guard_time=guard_time, max_events=max_events
        )
        self.link.port.line_rate = link_rate or getattr(port, "link_rate", None)  # (emu://)
        #: commands one at a time, callers in turn (raw lines: ``command_path.execute``)
        self.command_path = AsyncCommandPath(self.link, exit_delay=exit_delay)
        self._run = self.command_path.run
        self._table = self.link.protocol.conns

    async def __aenter__(self) -> AsyncModule:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<atsock.aio.AsyncModule on {self.serial.name!r}>"

    async def aclose(self) -> None:
        """Stops reading and closes the port (idempotent); waiting calls fail."""
        if self.link.closed:
            return
        self.link.close()
        await asyncio.to_thread(close_quietly, self.link.serial)

    @property
    def closed(self) -> bool:
        """Whether ``aclose()`` was called (the module no longer reads the port)."""
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
    def link_rate(self) -> float | None:
        """Bytes/s the line carries, where the port cannot tell (a pty in front of a
        paced emulator): leaving transparent mode waits for the line to drain."""
        return self.link.port.line_rate

    @property
    def line_rate(self) -> float | None:
        """Bytes/s of the line as far as the driver knows: the link rate, or a real serial
        port's baud rate (None: a pty, a TCP port)."""
        return self.link.port.line_rate or uart_rate(self.link.port.port)

    @property
    def exit_delay(self) -> float:
        """Quiet the firmware wants after leaving transparent mode (seconds)."""
        return self.link.protocol.gate.exit_delay

    @property
    def mode(self) -> Mode:
        """Command lines, or (on the way into, in, out of) transparent mode."""
        return self.link.protocol.mode

    @property
    def receive_mode(self) -> ReceiveMode:
        """The module's receive mode as far as the driver knows (a reset makes it passive)."""
        return self._table.receive_mode

    @property
    def framing_errors(self) -> int:
        """How often the module's output broke framing (each resynchronised, logged)."""
        return self.link.framing_errors

    @property
    def event_queue(self) -> AsyncEvents:
        """The module's events, oldest first (bounded: the oldest is dropped when full)."""
        return self.link.events

    def on_event(self, callback: Callable[[Event], object]) -> None:
        """Calls ``callback(event)`` for every event, on the loop, in order (a coroutine
        function's calls run as tasks of their own, so it may await commands); as
        :meth:`atsock.Module.on_event` does on a thread. Independent of :meth:`events`."""
        self.link.events.subscribe(callback)

    async def events(self, timeout: float | None = None) -> AsyncIterator[Event]:
        """The module's typed events as they come (``async for event in m.events()``);
        with ``timeout``, ends after that long without one."""
        while True:
            try:
                yield await self.link.events.get(timeout)
            except Timeout:
                return

    def dropped(self, con_id: int | None = None) -> int:
        """Received bytes thrown away for ``con_id`` (all if None): nobody read them."""
        return self._table.dropped_total if con_id is None else self._table.dropped(con_id)

    def turn(self, timeout: Wait = DEFAULT) -> Any:
        """Holds the module for several commands of this task: ``async with m.turn():``."""
        return self.command_path.turn(timeout)

    # ---- basics ----------------------------------------------------------------------------

    async def command(self, line: str, *, timeout: Wait = DEFAULT) -> list[str]:
        """Sends any command line; returns its information lines (raises on ERROR)."""
        return await self._run(commands.any_line(line), timeout)

    async def at(self, *, timeout: Wait = DEFAULT) -> None:
        """``AT``: is the module there? Raises :class:`~atsock.Timeout` if not."""
        await self._run(commands.plain(b"AT"), timeout)

    async def version(self, *, timeout: Wait = DEFAULT) -> list[str]:
        """``AT+GMR``: the firmware's version lines."""
        return await self.command("AT+GMR", timeout=timeout)

    async def set_echo(self, on: bool, *, timeout: Wait = DEFAULT) -> None:
        """``ATE1``/``ATE0`` (the driver copes with either)."""
        await self._run(commands.plain(b"ATE1" if on else b"ATE0"), timeout)

    async def reset(self, *, timeout: Wait = DEFAULT) -> None:
        """``AT+RST``: waits for the reboot's ``ready``; every ConID is gone afterwards."""
        protocol = self.link.protocol
        protocol.pad()
        self.link.write_owed()
        protocol.exchange.expect_ready = True
        self.link.ready_seen.clear()
        budget = budget_of(timeout, self.timeout)
        try:
            await self.command_path.execute(b"AT+RST", timeout=timeout)
        except BaseException:
            protocol.exchange.expect_ready = False  # a later crash-reset must not pass
            raise
        try:
            await asyncio.wait_for(self.link.ready_seen.wait(), budget)
        except asyncio.TimeoutError:
            raise Timeout(
                f"the module did not print 'ready' within {budget:g} s of AT+RST"
            ) from None

    # ---- sockets -----------------------------------------------------------------------------

    async def open_socket(
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
        new_id = await self._run(command, timeout)
        announced = new_id is not None
        if new_id is None:
            new_id = con_id or commands.new_socket_id(await self.sockets(), stype)
        if not announced:
            self._table.renew(new_id)
        conn = self._table.get(new_id)
        if conn is not None:
            conn.type = stype
        return new_id

    async def sockets(self, *, timeout: Wait = DEFAULT) -> list[SocketInfo]:
        """``AT+SOCKET?``: every ConID with its type, status and addresses."""
        return await self._run(commands.socket_query(), timeout)

    async def _require(self, con_id: int) -> None:
        """Some firmware silently drops data for an unknown ConID: check it ourselves."""
        conn = self._table.get(con_id)
        if conn is not None and conn.gone is None and conn.type is not None:
            return
        if any(s.con_id == con_id for s in await self.sockets()):
            conn = self._table.ensure(con_id)
            conn.type = conn.type or SocketType.TCP_CLIENT
            return
        raise SocketClosed(f"ConID {con_id} does not exist on the module")

    async def send(self, con_id: int, data: bytes, *, timeout: Wait = DEFAULT) -> None:
        """``AT+SOCKETSEND``: any bytes, any length, as several commands of at most
        :data:`~atsock.protocol.commands.SEND_CHUNK` that let other tasks' commands in
        between; ``timeout`` bounds each (a :class:`Timeout` says in ``sent`` how many
        bytes of ``data`` at least reach the peer)."""
        await self._require(con_id)
        step = commands.send_step(None)
        view = memoryview(data)
        for start in range(0, len(view), step):
            try:
                await self._run(commands.send(con_id, bytes(view[start : start + step])), timeout)
            except Timeout as exc:
                exc.sent = start + (exc.sent or 0)
                raise

    async def send_line(self, con_id: int, data: str | bytes, *, timeout: Wait = DEFAULT) -> None:
        """``AT+SOCKETSENDLINE``, quoted and escaped as needed; data that cannot travel in
        a command line (CR, LF, too long) goes through ``AT+SOCKETSEND`` instead."""
        raw = data.encode() if isinstance(data, str) else bytes(data)
        if not raw:
            return
        await self._require(con_id)
        command = commands.send_line(con_id, raw)
        if command is None:
            await self.send(con_id, raw, timeout=timeout)
        else:
            await self._run(command, timeout)

    async def read(self, con_id: int, *, timeout: Wait = DEFAULT, keep: bool = False) -> bytes:
        """``AT+SOCKETREAD``: one received packet, ``b""`` if none is waiting. ``keep``:
        the packet is also buffered for the ConID's stream, in the order the module
        received it (what the streams use; returned all the same)."""
        packet = await self._run(commands.read(con_id), timeout)
        self._table.packet_read(con_id, packet, keep=keep)
        if keep:
            self.link.changes.notify()
        return packet

    async def delete(self, con_id: int, *, timeout: Wait = DEFAULT) -> None:
        """``AT+SOCKETDEL``: closes the ConID (seeds must be deleted after they disconnect)."""
        try:
            await self._run(commands.delete(con_id), timeout)
        finally:
            self._table.forget(con_id, SocketClosed(f"ConID {con_id} was deleted"))
            self.link.changes.notify()

    async def set_receive_mode(self, mode: ReceiveMode | int, *, timeout: Wait = DEFAULT) -> None:
        """``AT+SOCKETRECVCFG``: passive (default) or active (data comes with the event).
        Switching to active mode, packets announced in passive mode are read at once and
        delivered as active-mode data (events, and buffered for the streams), ahead of
        any data after the switch."""
        new_mode = ReceiveMode(mode)
        await self._run(commands.receive_mode(new_mode), timeout)
        was, self._table.receive_mode = self._table.receive_mode, new_mode
        if was == ReceiveMode.PASSIVE and new_mode == ReceiveMode.ACTIVE:
            for con_id in self._table.announced():
                for _ in range(MAX_QUEUED_READS):
                    try:
                        packet = await self.read(con_id, timeout=timeout, keep=True)
                    except SocketClosed:
                        break
                    if not packet:
                        break
                    self.link.events.put(SocketData(con_id, len(packet), packet))

    # ---- transparent mode ------------------------------------------------------------------

    async def transparent_target(self) -> SocketInfo:
        """The connection AT+SOCKETTT would use, or a TransparentError saying why none."""
        return require_target(await self.sockets())

    @contextlib.asynccontextmanager
    async def transparent(
        self, *, udp_mode: UdpServerMode | None = None, timeout: Wait = DEFAULT
    ) -> AsyncIterator[StreamPair]:
        """``AT+SOCKETTT``: ``async with m.transparent() as (reader, writer):`` an asyncio
        reader and writer to the peer; leaving sends ``+++`` with the guard times and
        waits for the module's OK (the next command waits out ``exit_delay``)."""
        await self.transparent_target()  # a clear error before anything is sent
        session = transparent_session(
            self.link, self.command_path, tt_line(udp_mode), timeout=timeout
        )
        async with session as pair:
            yield pair

    @contextlib.asynccontextmanager
    async def reset_into_transparent(self, *, timeout: Wait = DEFAULT) -> AsyncIterator[StreamPair]:
        """``AT+RST`` with AT+SOCKETAUTOTT set: the boot connects and streams; yields that
        reader and writer (left with ``+++`` like :meth:`transparent`)."""
        config = await self.auto_transparent(timeout=timeout)
        if not config.enabled:
            raise TransparentError(
                "AT+SOCKETAUTOTT is off: set it with set_auto_transparent() before resetting "
                "into it"
            )

        async def reset(budget: float) -> None:
            await self.reset(timeout=budget)

        session = auto_transparent_session(
            self.link, self.command_path, config, reset, timeout=timeout
        )
        async with session as pair:
            yield pair

    # ---- auto-transparent mode ------------------------------------------------------------

    async def set_auto_transparent(
        self, type: SocketType | int, host: str | None, port: int, *, timeout: Wait = DEFAULT
    ) -> None:
        """``AT+SOCKETAUTOTT``: after the next reset, connect and enter transparent mode."""
        await self._run(commands.set_auto_transparent(SocketType(type), host, port), timeout)

    async def disable_auto_transparent(self, *, timeout: Wait = DEFAULT) -> None:
        """``AT+SOCKETAUTOTT=0``: auto-transparent off (resets leave the module in command mode)."""
        await self._run(commands.plain(b"AT+SOCKETAUTOTT=0"), timeout)

    async def auto_transparent(self, *, timeout: Wait = DEFAULT) -> AutoTransparentConfig:
        """``AT+SOCKETAUTOTT?``"""
        return await self._run(commands.auto_transparent_query(), timeout)

    # ---- certificates, names, Wi-Fi -------------------------------------------------------

    async def set_certificate(
        self, kind: CertKind | int, pem: bytes | str, *, timeout: Wait = DEFAULT
    ) -> None:
        """``AT+SSLCRET=<kind>,<len>``: stores a CA, client certificate or key (≤ 2048
        bytes). The body never appears in traces or logs."""
        body = pem.encode() if isinstance(pem, str) else bytes(pem)
        await self._run(commands.set_certificate(CertKind(kind), body), timeout)

    async def clear_certificate(self, kind: CertKind | int, *, timeout: Wait = DEFAULT) -> None:
        """``AT+SSLCRET=<kind>,0``: erases the stored CA, client certificate or key."""
        await self.set_certificate(kind, b"", timeout=timeout)

    async def certificate(self, kind: CertKind | int, *, timeout: Wait = DEFAULT) -> bytes:
        """``AT+SSLCRET=<kind>``: the stored body (``b""`` if none)."""
        return await self._run(commands.certificate(CertKind(kind)), timeout)

    async def resolve(self, name: str, *, timeout: Wait = DEFAULT) -> str:
        """``AT+WDOMAIN``: the module resolves ``name`` through its DNS servers."""
        return await self._run(commands.resolve(name), timeout)

    async def dns_servers(self, *, timeout: Wait = DEFAULT) -> tuple[str, ...]:
        """``AT+WDNS?``"""
        return await self._run(commands.dns_query(), timeout)

    async def set_dns_servers(
        self, primary: str, secondary: str | None = None, *, timeout: Wait = DEFAULT
    ) -> None:
        """``AT+WDNS``"""
        await self._run(commands.set_dns(primary, secondary), timeout)

    async def join_wifi(self, ssid: str, password: str = "", *, timeout: Wait = DEFAULT) -> None:
        """``AT+WJAP``: joins an access point (WIFI_CONNECT / WIFI_GOT_IP events follow)."""
        await self._run(commands.join_wifi(ssid, password), timeout)

    async def set_auto_connect(self, on: bool, *, timeout: Wait = DEFAULT) -> None:
        """``AT+WAUTOCONN``: join the saved access point at boot."""
        await self._run(commands.auto_connect(on), timeout)

    # ---- asyncio streams over connections ------------------------------------------------

    async def open_connection(
        self, host: str, port: int, *, tls: bool = False, udp: bool = False
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Like :func:`asyncio.open_connection`, through the module (TCP, TLS or UDP)."""
        return await open_connection(self, host, port, tls=tls, udp=udp)

    async def start_server(
        self, handle: Handler, port: int = 0, *, tls: bool = False
    ) -> ModuleServer:
        """Like :func:`asyncio.start_server`: ``handle(reader, writer)`` runs for each
        client of a server on the module (port 0: a free one; ``server.port`` says it)."""
        return await start_server(self, handle, port, tls=tls)

    async def serve_socks(
        self, address: tuple[str, int] = ("127.0.0.1", 0), *, users: dict[str, str] | None = None
    ) -> AsyncSocksProxy:
        """A SOCKS5 proxy over this module on ``address`` (loopback; port 0: a free one),
        on the loop: ``async with await m.serve_socks() as proxy:``, the twin of
        :meth:`atsock.Module.serve_socks` (see :mod:`atsock.aio.socks_proxy`)."""
        return await AsyncSocksProxy(self, users=users).start(address)

    async def create_datagram_endpoint(
        self,
        protocol_factory: Callable[[], asyncio.DatagramProtocol],
        *,
        remote_addr: tuple[str, int] | None = None,
        local_port: int | None = None,
    ) -> tuple[ConIDDatagramTransport, asyncio.DatagramProtocol]:
        """Like ``loop.create_datagram_endpoint``, through the module: a UDP client to
        ``remote_addr``, or a UDP server on ``local_port`` (the threaded ``udp_server``);
        see :mod:`atsock.aio.datagrams` for what the module can and cannot say."""
        return await create_datagram_endpoint(
            self, protocol_factory, remote_addr=remote_addr, local_port=local_port
        )


class _Opening:
    """What :func:`open_module` returns: awaitable, and an async context manager."""

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        self._url = url
        self._options = options
        self._module: AsyncModule | None = None

    async def _open(self) -> AsyncModule:
        options = dict(self._options)
        module_options = {
            key: options.pop(key)
            for key in ("timeout", "guard_time", "exit_delay", "link_rate", "max_events")
            if key in options
        }
        baudrate = options.pop("baudrate", 115200)
        # opening can take a while (emu:// starts an emulator): not on the loop
        port = await asyncio.to_thread(
            serial.serial_for_url, self._url, baudrate=baudrate, timeout=0, **options
        )
        try:
            return AsyncModule(port, asyncio.get_running_loop(), **module_options)
        except BaseException:
            await asyncio.to_thread(close_quietly, port)
            raise

    def __await__(self) -> Generator[Any, None, AsyncModule]:
        return self._open().__await__()

    async def __aenter__(self) -> AsyncModule:
        self._module = await self._open()
        return self._module

    async def __aexit__(self, *exc: object) -> None:
        if self._module is not None:
            await self._module.aclose()


def open_module(url: str, **options: Any) -> _Opening:
    """Opens the module on ``url`` (any pyserial URL, as :class:`atsock.Module` takes):
    ``async with open_module(url) as m:`` or ``m = await open_module(url)`` (then
    ``await m.aclose()``). Options: ``timeout``, ``guard_time``, ``exit_delay``,
    ``link_rate``, ``max_events``, ``baudrate`` and any pyserial option."""
    return _Opening(url, options)
