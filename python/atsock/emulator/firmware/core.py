"""The emulated module's firmware as one sans-I/O machine: host bytes, socket events,
work results and times in; actions (:mod:`~atsock.emulator.firmware.actions`) out.

What a byte from the host means depends on the mode alone (mode.py): in COMMAND and
BUSY it is framed into command lines by the core's :class:`~atsock.CommandFramer`,
in PAYLOAD it is a command's data after ``>`` (1024-byte packets for SOCKETSEND), in
TRANSPARENT it goes through the ``+++`` :class:`~atsock.Guard` and the
:class:`~atsock.Packetizer` to the one connection, and while BOOTING it is lost. Data
from the sockets becomes URCs, queued packets or transparent data. Work that takes
the host time (connecting, resolving) leaves the module BUSY until ``work_done``;
work the host does at once (binding, sending) holds further command lines until it
answers, so replies keep their order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from atsock._core import CommandFramer, FramingError, Guard, Packetizer
from atsock.emulator.firmware.actions import (
    Action,
    Close,
    Done,
    Emit,
    Result,
    SaveFlash,
    Send,
    StreamStarted,
)
from atsock.emulator.firmware.commands import CommandSet
from atsock.emulator.firmware.errors import CommandFailed
from atsock.emulator.firmware.mode import FRAMING, FirmwareMode, ModeState
from atsock.emulator.firmware.settings import Flash
from atsock.emulator.firmware.sockets import SocketEntry, SocketTable, Status
from atsock.protocol.rules import TRANSPARENT_EXIT
from atsock.types import SocketType

log = logging.getLogger("atsock.emulator")

#: Time a reboot takes before the banner (ns).
BOOT_DELAY_NS = 10_000_000
BANNER = b"\r\nCombo-AT emulator (atsock)\r\nready\r\n"
BUSY_REPLY = b"[Busy]Cmd running\r\n"

Continuation = Callable[[Result], None]


def tcp_ready(packets: Packetizer, data: bytes | memoryview, now_ns: int) -> memoryview:
    """What of ``data`` goes to a TCP/TLS peer now, in packets of at most
    ``packets.max_packet``: whole packets at once; only a tail waits for more or for idle."""
    view = memoryview(data)
    if packets.pending == 0:
        whole = len(view) - len(view) % packets.max_packet
        if whole == len(view):
            return view
        if whole:
            tail = packets.push(view[whole:], now_ns)
            assert not tail  # less than one packet, into an empty packetizer
            return view[:whole]
    return memoryview(b"".join(packets.push(view, now_ns)))


@dataclass
class _Payload:
    """A command's data after its ``>``: ``sink`` takes it (in packets if ``packets``),
    ``done`` runs after the last byte."""

    sink: Callable[[bytes], None]
    done: Callable[[], None]
    packets: Packetizer | None


@dataclass
class _Stream:
    """Transparent mode's state: the connection, and whom a UDP server answers."""

    target: SocketEntry
    follow_last_peer: bool
    deferred_urcs: list[bytes] = field(default_factory=list)


class Firmware:
    """The module's rules, with no I/O: each input returns the actions it leads to."""

    def __init__(self, flash: Flash, *, guard_ns: int) -> None:
        self.flash = flash
        self.modes = ModeState()
        self.sockets = SocketTable()
        #: AT+SOCKETRECVCFG=1: data comes inside +EVENT:SocketDown
        self.active_mode = False
        self.wifi_joined = False
        self.guard = Guard(guard_ns)
        self.packets = Packetizer()
        self.commands = CommandSet(self)
        self._framer = CommandFramer()
        self._payload: _Payload | None = None
        self._stream: _Stream | None = None
        self._work: dict[int, Continuation] = {}
        self._next_token = 1
        #: answers the host gives at once (a bind, a send's receipt) not yet given
        self._awaiting = 0
        self._reboot_at: int | None = None
        self._now = 0
        self._out: list[Action] = []

    @property
    def mode(self) -> FirmwareMode:
        return self.modes.mode

    @property
    def stream_target(self) -> SocketEntry | None:
        """The transparent connection (None outside transparent mode)."""
        return self._stream.target if self._stream is not None else None

    # ---- inputs ----------------------------------------------------------------------

    def boot(self, now_ns: int, *, announce: bool) -> list[Action]:
        """Power-on: sockets, modes and running work gone; banner, Wi-Fi, auto-transparent."""
        self._now = now_ns
        self._boot(announce=announce)
        return self._take()

    def _boot(self, *, announce: bool) -> None:
        self.modes.enter(FirmwareMode.BOOTING)
        for con_id in self.sockets.clear():
            self._out.append(Close(con_id))
        self._work.clear()
        self._awaiting = 0
        self._reboot_at = None
        self._stream = None
        self._payload = None
        self._framer = CommandFramer()
        self.active_mode = False
        self.wifi_joined = False
        self.modes.enter(FirmwareMode.COMMAND)
        if announce:
            self.emit(BANNER)
        if self.flash.auto_connect and self.flash.ssid:
            self.wifi_joined = True
            if announce:
                self.urc("WIFI_CONNECT")
                self.urc("WIFI_GOT_IP")
        auto = self.flash.auto_transparent
        if auto.type and self.wifi_joined:
            self.commands.auto_transparent_on_boot(auto)

    def receive(self, data: bytes, now_ns: int) -> list[Action]:
        """Bytes from the host, in whatever mode the module is in."""
        self._now = now_ns
        mode = self.mode
        if mode is FirmwareMode.TRANSPARENT:
            self._stream_input(data)
        elif mode is not FirmwareMode.BOOTING:  # (while booting, input is lost)
            self._framer.push(data)
            self._process_commands()
        return self._take()

    def received(
        self, con_id: int, data: bytes, peer: tuple[str, int] | None = None
    ) -> list[Action]:
        """Data from the peer of ``con_id`` (``peer``: who sent a UDP server's datagram)."""
        entry = self.sockets.get(con_id)
        if entry is None:
            return []
        stream = self._stream
        if peer is not None and (
            entry.udp_peer is None
            or (stream is not None and stream.target is entry and stream.follow_last_peer)
        ):
            entry.udp_peer = peer
            entry.remote_host, entry.remote_port = peer
        if stream is not None and stream.target is entry:
            self.emit(data)
        elif self.active_mode and stream is None:
            self.emit(b"+EVENT:SocketDown,%d,%d,%s\r\n" % (con_id, len(data), data))
        elif entry.queue(data):
            self.urc(f"SocketDown,{con_id},{len(data)}")
        else:
            log.warning("ConID %d receive queue full: datagram dropped (%d so far)",
                        con_id, entry.dropped)  # fmt: skip
        return self._take()

    def disconnected(self, con_id: int) -> list[Action]:
        """The peer of ``con_id`` closed, or its host socket failed."""
        entry = self.sockets.get(con_id)
        if entry is not None and entry.status != Status.DISCONNECTED:
            entry.status = Status.DISCONNECTED
            self._out.append(Close(con_id))
            self.urc(f"SocketDisconnect,{con_id}")
        return self._take()

    def accepted(
        self, server_id: int, remote_host: str, remote_port: int
    ) -> tuple[int | None, list[Action]]:
        """A client reached server ``server_id``: its seed's ConID (None: refused, the
        server is gone or no ConID is free)."""
        server = self.sockets.get(server_id)
        if server is None:
            return None, []
        try:
            con_id = self.sockets.allocate()
        except CommandFailed:
            return None, []
        tls = server.type == SocketType.SSL_SERVER
        self.sockets.add(
            SocketEntry(
                con_id,
                SocketType.SSL_SEED if tls else SocketType.TCP_SEED,
                remote_host=remote_host,
                remote_port=remote_port,
                local_port=server.local_port,
                server_con_id=server_id,
            )
        )
        self.urc(f"SocketSeed,{con_id},{server_id}")
        return con_id, self._take()

    def expects(self, token: int) -> bool:
        """Whether work ``token`` is still wanted (not since a reboot)."""
        return token in self._work

    def work_done(self, token: int, result: Result) -> list[Action]:
        """The host finished work ``token`` (a reboot since: nothing happens)."""
        then = self._work.pop(token, None)
        if then is not None:
            then(result)
            self._process_commands()
        return self._take()

    def escape(self, after: bytes, now_ns: int) -> list[Action]:
        """The host's pump saw ``+++`` with its guard times: leave transparent mode, then
        take ``after`` (what followed the escape) as command input."""
        self._now = now_ns
        self._leave_stream()
        if after:
            self._framer.push(after)
            self._process_commands()
        return self._take()

    def poll(self, now_ns: int) -> list[Action]:
        """What is due by ``now_ns``: the reboot, the guard's release, idle packets."""
        self._now = now_ns
        if self._reboot_at is not None and self._reboot_at <= now_ns:
            self._boot(announce=True)
        if self._stream is not None:
            escaped, data = self.guard.poll(now_ns)
            if data:
                self._stream_data(data)
            if escaped:
                self._leave_stream()
            elif self.packets.deadline is not None:
                packet = self.packets.poll(now_ns)
                if packet:
                    self._send(self._stream.target, packet)
        elif self._payload is not None and self._payload.packets is not None:
            packet = self._payload.packets.poll(now_ns)
            if packet:
                self._payload.sink(packet)
        return self._take()

    def next_deadline(self) -> int | None:
        """When :meth:`poll` has something to do next (ns), if ever."""
        deadlines: list[int | None] = [self._reboot_at]
        if self._stream is not None:
            deadlines += [self.guard.deadline, self.packets.deadline]
        elif self._payload is not None and self._payload.packets is not None:
            deadlines.append(self._payload.packets.deadline)
        due = [ns for ns in deadlines if ns is not None]
        return min(due) if due else None

    # ---- what handlers do ----------------------------------------------------------------

    def emit(self, data: bytes) -> None:
        if data:
            self._out.append(Emit(data))

    def line(self, text: str | bytes) -> None:
        self.emit((text.encode() if isinstance(text, str) else text) + b"\r\n")

    def ok(self) -> None:
        self.emit(b"OK\r\n")

    def urc(self, text: str | bytes) -> None:
        """An unsolicited ``+EVENT:`` line; held back while in transparent mode."""
        data = b"+EVENT:" + (text.encode() if isinstance(text, str) else text) + b"\r\n"
        if self._stream is not None:
            self._stream.deferred_urcs.append(data)
        else:
            self.emit(data)

    def save_flash(self) -> None:
        self._out.append(SaveFlash())

    def request(
        self,
        make: Callable[[int], Action],
        then: Continuation,
        *,
        busy: bool = False,
        at_once: bool = False,
    ) -> None:
        """Asks the host for work (``make`` builds the action from its token); ``then``
        gets the result. ``busy``: other command lines get ``[Busy]Cmd running`` until
        then; ``at_once``: the host answers before its next action (a bind)."""
        token = self._next_token
        self._next_token += 1
        if busy:
            self.modes.enter(FirmwareMode.BUSY)

            def settle(result: Result) -> None:
                self.modes.leave(FirmwareMode.BUSY)
                then(result)

            self._work[token] = settle
        elif at_once:
            self._awaiting += 1

            def answered(result: Result) -> None:
                self._awaiting -= 1
                then(result)

            self._work[token] = answered
        else:
            self._work[token] = then
        self._out.append(make(token))

    def send(
        self, entry: SocketEntry, data: bytes, receipt: Callable[[bool], None] | None = None
    ) -> None:
        """One packet to the peer (a UDP server's to its peer); ``receipt`` hears
        whether it went (before the host does anything else)."""
        if receipt is None:
            self._send(entry, data)
            return
        self.request(
            lambda token: Send(entry.con_id, data, entry.udp_peer, token),
            lambda result: receipt(isinstance(result, Done)),
            at_once=True,
        )

    def delete(self, con_id: int) -> None:
        """Forgets ``con_id``; the host closes what it has for it."""
        self.sockets.remove(con_id)
        self._out.append(Close(con_id))

    def expect_payload(
        self,
        length: int,
        sink: Callable[[bytes], None],
        done: Callable[[], None],
        *,
        packetize: bool,
    ) -> None:
        """Prints ``>``, hands the next ``length`` host bytes to ``sink``, then calls ``done``."""
        self.modes.enter(FirmwareMode.PAYLOAD)
        self._payload = _Payload(sink, done, Packetizer() if packetize else None)
        self._framer.expect_raw(length)
        self.emit(b">")

    def enter_transparent(self, target: SocketEntry, *, follow_last_peer: bool = False) -> None:
        """Prints ``>`` and streams between the UART and ``target`` until ``+++``."""
        self.modes.enter(FirmwareMode.TRANSPARENT)
        self._stream = _Stream(target, follow_last_peer)
        self.guard.reset(self._now)
        self.packets = Packetizer()
        self.emit(b">")
        while target.rx:  # passive-mode packets not read yet: nothing is lost
            self.emit(target.pop())
        self._out.append(StreamStarted(target.con_id))
        leftover = self._framer.buffered
        if leftover:
            self._framer.expect_raw(leftover)
            rest = bytearray()
            while (event := self._framer.next_event()) is not None:
                rest += event[1]
            self._stream_input(bytes(rest))

    def reboot(self) -> None:
        """AT+RST: after its OK, the module restarts (what the host sends meanwhile is lost)."""
        self.modes.enter(FirmwareMode.BOOTING)
        self._reboot_at = self._now + BOOT_DELAY_NS

    # ---- inside ----------------------------------------------------------------------------

    def _take(self) -> list[Action]:
        out, self._out = self._out, []
        return out

    def _send(self, entry: SocketEntry, data: bytes | memoryview) -> None:
        if entry.status == Status.CONNECTED:
            self._out.append(Send(entry.con_id, bytes(data), entry.udp_peer))

    def _process_commands(self) -> None:
        while self.mode in FRAMING and not self._awaiting:
            try:
                event = self._framer.next_event()
            except FramingError:
                self.emit(b"ERROR\r\n")  # line longer than the firmware's 256 bytes
                continue
            if event is None:
                return
            kind, payload = event
            if kind == "raw":
                self._on_payload(payload)
            else:
                self._on_line(payload)

    def _on_line(self, line: bytes) -> None:
        if self.flash.echo:
            self.emit(line + b"\r\n")
        if self.mode is FirmwareMode.BUSY:
            self.emit(BUSY_REPLY)
            return
        try:
            self.commands.dispatch(line)
        except CommandFailed as failed:
            self.emit(failed.reply())

    def _on_payload(self, chunk: bytes) -> None:
        payload = self._payload
        if payload is None:
            return
        if payload.packets is None:
            payload.sink(chunk)
        else:
            for packet in payload.packets.push(chunk, self._now):
                payload.sink(packet)
        if self._framer.raw_remaining == 0:
            if payload.packets is not None:
                rest = payload.packets.flush()
                if rest:
                    payload.sink(rest)
            self._payload = None
            self.modes.leave(FirmwareMode.PAYLOAD)
            payload.done()

    def _stream_input(self, data: bytes) -> None:
        escaped, forward = self.guard.feed(data, self._now)
        if escaped:
            self._leave_stream()
            if forward:
                self._framer.push(forward)
                self._process_commands()
            return
        if forward:
            self._stream_data(forward)

    def _stream_data(self, data: bytes) -> None:
        stream = self._stream
        if stream is None:
            return
        target = stream.target
        if not target.type.is_udp:
            ready = tcp_ready(self.packets, data, self._now)
            if ready:
                self._send(target, ready)
            return
        for packet in self.packets.push(data, self._now):
            self._send(target, packet)

    def _leave_stream(self) -> None:
        stream = self._stream
        if stream is None:
            return
        rest = self.packets.flush()
        if rest:
            self._send(stream.target, rest)
        self._stream = None
        self.modes.leave(FirmwareMode.TRANSPARENT)
        self.emit(TRANSPARENT_EXIT)
        for urc in stream.deferred_urcs:
            self.emit(urc)
        self._framer = CommandFramer()
