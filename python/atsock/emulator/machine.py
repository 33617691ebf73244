"""The emulated module: one event loop that owns the UART, the sockets and the modes.

Everything the module does happens on the loop thread: bytes from the host go through
the core's :class:`~atsock.CommandFramer` (command mode), a raw sink (after a ``>``
prompt), or the ``+++`` :class:`~atsock.Guard` and the 1024-byte
:class:`~atsock.Packetizer` (transparent mode); bytes from sockets become URCs, queued
packets or transparent data. Slow work (DNS, connect, TLS handshakes) runs on worker
threads while the module answers ``[Busy]Cmd running``; results come back to the loop.
Output can be paced at a baud rate, as a real UART is. Fault injection (reset, dropped
peers, garbage, lost bytes, stalls) is posted to the loop from any thread.

One exception to "everything on the loop thread": while the module streams to a plain
TCP peer over a pty, unpaced, a :class:`~atsock.emulator.pump.TransparentPump` moves
the bytes on two threads of its own (see pump.py); the loop stops it before it does
anything else with the UART or that socket.
"""

from __future__ import annotations

import logging
import os
import queue
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from atsock._core import CommandFramer, FramingError, Guard, Packetizer
from atsock.emulator.commands import CommandSet
from atsock.emulator.firmware.errors import BAD_CONID, SOCKET_CREATE, CommandFailed
from atsock.emulator.firmware.mode import FRAMING, FirmwareMode, ModeState
from atsock.emulator.flash import Flash, FlashStore
from atsock.emulator.netsock import PACKET, ModuleSocket, Status
from atsock.emulator.pump import TransparentPump, tcp_ready
from atsock.emulator.uart import READ_SIZE, PtyUart, TcpUart, Uart
from atsock.protocol.rules import GUARD_TIME, MAX_GUARD_TIME, TRANSPARENT_EXIT
from atsock.types import SocketType

log = logging.getLogger("atsock.emulator")
wire = logging.getLogger("atsock.emulator.wire")

T = TypeVar("T")

#: Output buffered for the UART above which sockets stop being read (backpressure).
OUT_HIGH = 256 * 1024
#: Time a reboot takes before the banner.
BOOT_DELAY = 0.01
#: Data queued for a peer above which the module stops taking UART input (backpressure).
TX_HIGH = 256 * 1024
#: Largest piece handed to one send() call.
TX_CHUNK = 256 * 1024
#: How far a late paced read may catch up with the line (the UART's receive FIFO).
RX_CATCH_UP = 0.05
BANNER = b"\r\nCombo-AT emulator (atsock)\r\nready\r\n"


class Emulator:
    """An Ai-WB2-class module speaking the TCP/IP AT command set on a pty or TCP port.

    Use as a context manager (``with Emulator() as emu: serial_for_url(emu.url)``) or
    ``start()``/``stop()``; ``serve_forever()`` runs the loop on the calling thread.
    """

    def __init__(
        self,
        *,
        transport: str = "pty",
        host: str = "127.0.0.1",
        port: int = 0,
        guard_time: float = GUARD_TIME,
        baud: int | None = None,
        state: str | os.PathLike[str] | None = None,
        echo: bool | None = None,
        listen_host: str = "127.0.0.1",
        dns_port: int = 53,
        connect_timeout: float = 5.0,
    ) -> None:
        if transport not in ("pty", "tcp"):
            raise ValueError(f"transport must be 'pty' or 'tcp', not {transport!r}")
        if baud is not None and baud <= 0:
            raise ValueError(f"baud must be positive, not {baud}")
        if not 0 <= guard_time <= MAX_GUARD_TIME:  # (NaN fails too)
            raise ValueError(
                f"guard_time must be 0 to {MAX_GUARD_TIME:g} seconds, not {guard_time}"
            )
        self._store = FlashStore(state)
        self.flash: Flash = self._store.load()
        if echo is not None:
            self.flash.echo = echo
        self.uart: Uart = PtyUart() if transport == "pty" else TcpUart(host, port)
        self.guard_ns = int(guard_time * 1e9)
        self.listen_host = listen_host
        self.dns_port = dns_port
        self.connect_timeout = connect_timeout
        self._rate = baud / 10 if baud else None
        #: Paced output reaches the host in bursts of this long (64 bytes' worth, at least
        #: 10 ms: the latency timer of a USB-serial adapter); input is taken in 2 ms steps,
        #: as a UART receives continuously.
        self._burst_out = max(0.01, 64 / self._rate) if self._rate else 0.0
        self._burst_in = max(0.002, 64 / self._rate) if self._rate else 0.0
        self._tx_free = 0.0
        self._out_since = 0.0
        self._rx_free = 0.0

        self.sockets: dict[int, ModuleSocket] = {}
        self.active_mode = False
        self.wifi_joined = False
        self.commands = CommandSet(self)
        self._framer = CommandFramer()
        self._raw_sink: Callable[[bytes], None] | None = None
        self._raw_packets: Packetizer | None = None
        self._raw_done: Callable[[], None] | None = None
        self._tt: ModuleSocket | None = None
        self._tt_follow_last = False
        self._guard = Guard(self.guard_ns)
        self._packets = Packetizer()
        self._pump: TransparentPump | None = None
        #: the pump may run in this transparent session (not after the UART failed under it)
        self._pump_allowed = False
        self._deferred_urcs: list[bytes] = []
        #: the firmware's one mode (mode.py: its transitions)
        self.modes = ModeState()
        self._boots = 0

        self._out = bytearray()
        self._drop_out = 0
        self._drop_in = 0
        self._stall_until = 0.0
        self._timers: list[tuple[float, Callable[[], None]]] = []
        self._calls: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel = selectors.DefaultSelector()
        self._registered: dict[int, tuple[int, Any]] = {}
        self._workers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="atsock-emu-worker")
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._running = False
        self._closed = False
        self.url = self.uart.url

    # ---- lifecycle ------------------------------------------------------------------

    def start(self) -> Emulator:
        """Runs the module on a background thread; returns at once."""
        if self._thread is not None:
            raise RuntimeError("emulator already started")
        self._thread = threading.Thread(
            target=self.serve_forever, name="atsock-emulator", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Boots the module and runs its loop on this thread until :meth:`stop`."""
        if self._closed:
            raise RuntimeError("emulator already stopped")
        self._running = True
        log.info("module emulator on %s", self.url)
        self._boot(announce=False)
        try:
            self._loop()
        finally:
            self._shutdown()

    def stop(self, timeout: float = 5.0) -> None:
        """Stops the loop, closes every socket and saves the state (safe from a signal handler)."""
        self._stopping = True
        self._wake()
        if not self._running:
            self._shutdown()
        elif self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"emulator loop did not stop within {timeout} s")

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._pump is not None:
            self._pump.stop()
            self._pump = None
        for ms in list(self.sockets.values()):
            ms.close()
        self.sockets.clear()
        self._workers.shutdown(wait=False, cancel_futures=True)
        self.save_flash()
        self._sel.close()
        self.uart.close()
        self._wake_r.close()
        self._wake_w.close()
        log.info("module emulator stopped")

    # ---- fault injection (any thread; in effect when the call returns) ----------------

    def reset(self) -> None:
        """The module reboots by itself (power glitch): sockets gone, banner, ``ready``."""
        self._apply(lambda: self._boot(announce=True))

    def drop_peer(self, con_id: int) -> None:
        """The peer behind ``con_id`` vanishes (its host socket is torn down)."""
        self._apply(lambda: self._peer_vanished(con_id))

    def inject(self, data: bytes) -> None:
        """Writes bytes onto the UART as if the module had sent them (garbage, fake URCs)."""
        self._apply(lambda: self.emit(data))

    def drop_output(self, count: int) -> None:
        """Loses the next ``count`` bytes the module sends to the host."""
        self._apply(lambda: setattr(self, "_drop_out", self._drop_out + count))

    def drop_input(self, count: int) -> None:
        """Loses the next ``count`` bytes the host sends to the module."""
        self._apply(lambda: setattr(self, "_drop_in", self._drop_in + count))

    def stall(self, seconds: float) -> None:
        """The module neither reads nor writes the UART for ``seconds``."""
        self._apply(lambda: setattr(self, "_stall_until", time.monotonic() + seconds))

    def _apply(self, fn: Callable[[], None], timeout: float = 5.0) -> None:
        """Runs a fault on the loop thread and returns once it is in effect, so bytes the
        host sends after this call meet the fault (the loop reads the UART before it runs
        queued calls, so a fault merely queued could miss the next command)."""
        thread = self._thread
        if thread is None or thread is threading.current_thread() or self._closed or self._stopping:
            self.call_soon(fn)  # not looping yet (or on the loop): applied in order
            return
        applied = threading.Event()

        def run() -> None:
            try:
                fn()
            finally:
                applied.set()

        self.call_soon(run)
        if not applied.wait(timeout):
            raise TimeoutError(f"emulator loop did not apply a fault within {timeout} s")

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Runs ``fn`` on the loop thread."""
        self._calls.put(fn)
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:
            pass

    # ---- output ----------------------------------------------------------------------

    def emit(self, data: bytes) -> None:
        """Queues bytes for the UART (paced and written by the loop)."""
        if self._drop_out:
            cut = min(self._drop_out, len(data))
            self._drop_out -= cut
            data = data[cut:]
        if not data:
            return
        self._pause_pump()  # the pump's bytes first, then these
        if wire.isEnabledFor(logging.DEBUG):
            wire.debug("module -> host %d bytes", len(data))
        if not self._out:
            now = time.monotonic()
            if self._rate is None and self._stall_until <= now:
                # unpaced and nothing queued: straight to the UART, no loop round trip
                sent = self.uart.write(memoryview(data))
                if sent >= len(data):
                    return
                data = data[sent:]
            self._out_since = now
        self._out += data

    def line(self, text: str | bytes) -> None:
        self.emit((text.encode() if isinstance(text, str) else text) + b"\r\n")

    def ok(self) -> None:
        self.emit(b"OK\r\n")

    def urc(self, text: str | bytes) -> None:
        """An unsolicited ``+EVENT:`` line; held back while in transparent mode."""
        data = b"+EVENT:" + (text.encode() if isinstance(text, str) else text) + b"\r\n"
        if self.mode is FirmwareMode.TRANSPARENT:
            self._deferred_urcs.append(data)
        else:
            self.emit(data)

    # ---- the loop ----------------------------------------------------------------------

    def _loop(self) -> None:
        self._sel.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        while not self._stopping:
            now = time.monotonic()  # one instant for both, or a paced read could stall
            self._maybe_start_pump(now)
            self._sync_registrations(now)
            events = self._sel.select(self._next_timeout(now))
            if self._pump is not None and self._pump.ended:
                self._pause_pump()
            for key, mask in events:
                kind, obj = key.data
                if kind == "wake":
                    self._drain_wake()
                    continue
                if kind == "uart":
                    if mask & selectors.EVENT_WRITE:
                        self._flush_output()
                    if mask & selectors.EVENT_READ:
                        self._on_uart_readable(key.fd)
                elif kind == "sock":
                    if mask & selectors.EVENT_WRITE:
                        self._flush_socket(obj)
                    if mask & selectors.EVENT_READ and obj.sock is not None:
                        self._on_socket_readable(obj)
            self._run_calls()
            self._run_timers()
            self._flush_output()

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _run_calls(self) -> None:
        while True:
            try:
                fn = self._calls.get_nowait()
            except queue.Empty:
                return
            self._pause_pump()  # a fault or a worker's result may need the UART or the socket
            try:
                fn()
            except Exception:
                log.exception("emulator callback failed")

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        self._timers.append((time.monotonic() + delay, fn))

    def _run_timers(self) -> None:
        now = time.monotonic()
        due = [t for t in self._timers if t[0] <= now]
        if due:
            self._pause_pump()
            self._timers = [t for t in self._timers if t[0] > now]
            for _, fn in due:
                try:
                    fn()
                except Exception:
                    log.exception("emulator timer failed")
        if self._pump is not None:
            return  # the pump keeps the guard's and the packetizer's time
        now_ns = time.monotonic_ns()
        if self._tt is not None and self.mode is FirmwareMode.TRANSPARENT:
            escaped, data = self._guard.poll(now_ns)
            if data:
                self._tt_data(data, now_ns)
            if escaped:
                self._exit_transparent()
            elif self._packets.deadline is not None:
                packet = self._packets.poll(now_ns)
                if packet:
                    self._send_packet(self._tt, packet)
        elif self._raw_packets is not None and self._raw_sink is not None:
            packet = self._raw_packets.poll(now_ns)
            if packet:
                self._raw_sink(packet)

    def _next_timeout(self, now: float) -> float | None:
        deadlines = [t for t, _ in self._timers]
        if self.mode is FirmwareMode.TRANSPARENT and self._pump is None:
            for ns in (self._guard.deadline, self._packets.deadline):
                if ns is not None:
                    deadlines.append(ns / 1e9)
        elif self._raw_packets is not None and self._raw_packets.deadline is not None:
            deadlines.append(self._raw_packets.deadline / 1e9)
        if self._stall_until > now:
            deadlines.append(self._stall_until)
        if self._rate is not None:
            if self._out:
                deadlines.append(self._out_due())
            if self._rx_free > now:
                deadlines.append(self._rx_free)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - now)

    def _sync_registrations(self, now: float) -> None:
        stalled = self._stall_until > now
        want: dict[int, tuple[int, Any]] = {}
        uart = ("uart", self.uart.generation)
        if not stalled and self._pump is None:
            reading = self._rate is None or self._rx_free <= now
            # a peer that does not keep up slows the host down, as the module's buffers fill
            reading = reading and all(len(ms.tx) < TX_HIGH for ms in self.sockets.values())
            writer = self.uart.writer_fd()
            for fd in self.uart.fds():
                if reading or fd != writer:
                    want[fd] = (selectors.EVENT_READ, uart)
            if self._out and writer is not None and self._out_due() <= now:
                events = want.get(writer, (0, uart))[0] | selectors.EVENT_WRITE
                want[writer] = (events, uart)
        out_room = len(self._out) < OUT_HIGH
        for ms in self.sockets.values():
            if ms.sock is None or ms.status == Status.CONNECTING:
                continue
            if self._pump is not None and ms is self._tt:
                continue
            events = selectors.EVENT_WRITE if ms.tx else 0
            # TCP backpressure: the peer waits while the host does not read
            if out_room and not (ms.rx_full and not ms.type.is_udp and self._tt is not ms):
                events |= selectors.EVENT_READ
            if events:
                want[ms.sock.fileno()] = (events, ("sock", ms))
        for fd in list(self._registered):
            if fd not in want:
                self._sel.unregister(fd)
                del self._registered[fd]
        for fd, (events, data) in want.items():
            current = self._registered.get(fd)
            if current is None:
                self._sel.register(fd, events, data)
            elif current[1] != data:
                # a new owner: the old socket was closed and its fd number reused, and the
                # kernel's epoll set forgot the fd on that close: register it afresh
                self._sel.unregister(fd)
                self._sel.register(fd, events, data)
            elif current[0] != events:
                self._sel.modify(fd, events, data)
            self._registered[fd] = (events, data)

    def _out_due(self) -> float:
        """When pending output may go: at once unpaced; paced, like a USB-serial adapter,
        once a burst's worth is pending or the oldest byte waited a burst (latency timer),
        and no earlier than the line is free."""
        if self._rate is None:
            return 0.0
        if len(self._out) >= self._burst_out * self._rate:
            return self._tx_free
        return max(self._tx_free, self._out_since + self._burst_out)

    def _flush_output(self) -> None:
        now = time.monotonic()
        if not self._out or self._stall_until > now or self._out_due() > now:
            return
        view = memoryview(self._out)
        budget = len(view)
        start = now
        if self._rate is not None:
            start = self._paced_start(self._tx_free, now, self._burst_out)
            budget = min(budget, int((now + self._burst_out - start) * self._rate))
            if budget <= 0:
                return
        written = 0
        while written < budget:
            n = self.uart.write(view[written:budget])
            if n <= 0:
                break
            written += n
        view.release()
        if written:
            del self._out[:written]
            self._out_since = now
            if self._rate is not None:
                self._tx_free = start + written / self._rate

    @staticmethod
    def _paced_start(free: float, now: float, burst: float) -> float:
        """When the next paced byte goes out (or in): at ``free``, the end of the last one.

        A loop that wakes up a little after ``free`` keeps that cadence, so the average
        rate is the baud rate and not a little under it; after a longer idle the clock
        restarts at ``now`` (a UART does not save up time).
        """
        return free if now - free < burst else now

    # ---- host → module -------------------------------------------------------------

    def _on_uart_readable(self, fd: int) -> None:
        # paced: what the line delivered since the last read (a late loop catches up, as
        # the module's UART FIFO would), at most a burst ahead; the rest waits in the buffer
        limit = READ_SIZE
        if self._rate is not None:
            now = time.monotonic()
            start = self._paced_start(self._rx_free, now, RX_CATCH_UP)
            limit = max(1, int((now + self._burst_in - start) * self._rate))
        data = self.uart.on_readable(fd, limit)
        if not data:
            return
        if self._rate is not None:
            self._rx_free = start + len(data) / self._rate
        if self._drop_in:
            cut = min(self._drop_in, len(data))
            self._drop_in -= cut
            data = data[cut:]
        if wire.isEnabledFor(logging.DEBUG):
            wire.debug("host -> module %d bytes", len(data))
        self.receive(data)

    def receive(self, data: bytes) -> None:
        """Host bytes, in whatever mode the module is in."""
        mode = self.mode
        if mode is FirmwareMode.TRANSPARENT:
            self._tt_input(data, time.monotonic_ns())
            return
        if mode is FirmwareMode.BOOTING:
            log.debug("%d bytes lost: the module is rebooting", len(data))
            return
        self._framer.push(data)
        self._process_commands()

    def _process_commands(self) -> None:
        while self.mode in FRAMING:
            try:
                event = self._framer.next_event()
            except FramingError:
                self.emit(b"ERROR\r\n")  # line longer than the firmware's 256 bytes
                continue
            if event is None:
                return
            kind, payload = event
            if kind == "raw":
                self._on_raw(payload)
            else:
                self._on_line(payload)

    def _on_line(self, line: bytes) -> None:
        if self.flash.echo:
            self.emit(line + b"\r\n")
        if self.mode is FirmwareMode.BUSY:
            self.emit(b"[Busy]Cmd running\r\n")
            return
        try:
            self.commands.dispatch(line)
        except CommandFailed as failed:
            self.emit(failed.reply())

    # ---- raw payload after a prompt (SOCKETSEND, SSLCRET) ----------------------------

    def expect_raw(
        self,
        length: int,
        sink: Callable[[bytes], None],
        done: Callable[[], None],
        *,
        packetize: bool,
    ) -> None:
        """Prints ``>``, hands the next ``length`` host bytes to ``sink``, then calls ``done``."""
        self.modes.enter(FirmwareMode.PAYLOAD)
        self._raw_sink = sink
        self._raw_done = done
        self._raw_packets = Packetizer() if packetize else None
        self._framer.expect_raw(length)
        self.emit(b">")

    def _on_raw(self, chunk: bytes) -> None:
        sink, packets = self._raw_sink, self._raw_packets
        if sink is None:
            return
        if packets is None:
            sink(chunk)
        else:
            for packet in packets.push(chunk, time.monotonic_ns()):
                sink(packet)
        if self._framer.raw_remaining == 0:
            if packets is not None:
                rest = packets.flush()
                if rest:
                    sink(rest)
            done = self._raw_done
            self._raw_sink = self._raw_done = self._raw_packets = None
            self.modes.leave(FirmwareMode.PAYLOAD)
            if done is not None:
                done()

    # ---- transparent mode --------------------------------------------------------------

    def enter_transparent(self, target: ModuleSocket, *, follow_last_peer: bool = False) -> None:
        """Prints ``>`` and streams between the UART and ``target`` until ``+++``."""
        self.modes.enter(FirmwareMode.TRANSPARENT)  # before the prompt: a host that saw
        self._tt = target  # '>' finds the module in it
        self._tt_follow_last = follow_last_peer
        self._pump_allowed = True
        now_ns = time.monotonic_ns()
        self._guard.reset(now_ns)
        self._packets = Packetizer()
        self.emit(b">")
        while target.rx:  # passive-mode packets not read yet: nothing is lost
            self.emit(target.pop())
        leftover = self._framer.buffered
        if leftover:
            self._framer.expect_raw(leftover)
            rest = bytearray()
            while (event := self._framer.next_event()) is not None:
                rest += event[1]
            self._tt_input(bytes(rest), now_ns)
        log.info("transparent mode on ConID %d", target.con_id)

    def _tt_input(self, data: bytes, now_ns: int) -> None:
        escaped, forward = self._guard.feed(data, now_ns)
        if escaped:
            self._exit_transparent()
            if forward:
                self.receive(forward)
            return
        if forward:
            self._tt_data(forward, now_ns)

    def _tt_data(self, data: bytes, now_ns: int) -> None:
        target = self._tt
        if target is None:
            return
        if not target.type.is_udp:
            ready = tcp_ready(self._packets, data, now_ns)
            if ready:
                self._send_packet(target, ready)
            return
        for packet in self._packets.push(data, now_ns):
            self._send_packet(target, packet)

    def _exit_transparent(self) -> None:
        target = self._tt
        if target is None:
            return
        rest = self._packets.flush()
        if rest:
            self._send_packet(target, rest)
        self._tt = None
        self.modes.leave(FirmwareMode.TRANSPARENT)
        self.emit(TRANSPARENT_EXIT)
        for urc in self._deferred_urcs:
            self.emit(urc)
        self._deferred_urcs.clear()
        self._framer = CommandFramer()
        log.info("transparent mode off")

    @property
    def in_transparent(self) -> bool:
        return self.mode is FirmwareMode.TRANSPARENT

    @property
    def mode(self) -> FirmwareMode:
        """The firmware's mode now (see :mod:`atsock.emulator.firmware.mode`)."""
        return self.modes.mode

    @property
    def pumping(self) -> bool:
        """Transparent data moves on the pump's threads right now (see pump.py)."""
        return self._pump is not None

    # ---- the transparent-mode fast path (pump.py) --------------------------------------

    def _maybe_start_pump(self, now: float) -> None:
        """Hands the stream to a pump when nothing but moving bytes is left to do."""
        target = self._tt
        if (
            target is None
            or self._pump is not None
            or not self._pump_allowed
            or self._rate is not None
            or not isinstance(self.uart, PtyUart)
            or target.type not in (SocketType.TCP_CLIENT, SocketType.TCP_SEED)
            or target.status != Status.CONNECTED
            or target.sock is None
            or isinstance(target.sock, ssl.SSLSocket)
            or self._out
            or self._drop_in
            or self._drop_out
            or self._stall_until > now
            or wire.isEnabledFor(logging.DEBUG)
        ):
            return
        pending = bytes(target.tx)
        target.tx.clear()
        self._pump = TransparentPump(
            self.uart.master, target.sock, self._guard, self._packets, pending, self._wake
        )

    def _pause_pump(self) -> None:
        """Stops the pump, takes back what it held, and acts on why it ended, if it did."""
        pump, self._pump = self._pump, None
        if pump is None:
            return
        pump.stop()
        target = self._tt
        if pump.unwritten:
            self._out[:0] = pump.unwritten
            self._out_since = time.monotonic()
        if pump.unsent and target is not None:
            target.tx[:0] = pump.unsent
        if pump.uart_failed:
            self._pump_allowed = False  # the loop finds out what became of the UART
        if target is not None and (pump.peer_closed or pump.peer_error is not None):
            if pump.peer_error is not None:
                log.info("ConID %d failed: %s", target.con_id, pump.peer_error)
            self._disconnected(target)
        if pump.escaped:
            self._exit_transparent()
            if pump.after_escape:
                self.receive(pump.after_escape)

    # ---- sockets ---------------------------------------------------------------------

    def allocate_con_id(self, wanted: int = 0) -> int:
        from atsock.emulator.netsock import MAX_SOCKETS

        if wanted:
            if wanted in self.sockets or not 1 <= wanted <= MAX_SOCKETS:
                raise CommandFailed("SOCKET", BAD_CONID)
            return wanted
        for con_id in range(1, MAX_SOCKETS + 1):
            if con_id not in self.sockets:
                return con_id
        raise CommandFailed("SOCKET", SOCKET_CREATE)

    def add_socket(self, ms: ModuleSocket) -> None:
        if ms.sock is not None:
            ms.sock.setblocking(False)
        self.sockets[ms.con_id] = ms

    def delete_socket(self, con_id: int) -> None:
        ms = self.sockets.pop(con_id)
        ms.close()

    def send(self, ms: ModuleSocket, data: bytes) -> bool:
        """Sends one packet to a socket's peer; False if it could not be sent."""
        return self._send_packet(ms, data)

    def _send_packet(self, ms: ModuleSocket, data: bytes | memoryview) -> bool:
        """Sends without ever blocking the loop: what the kernel does not take now waits
        in the socket's queue (TCP/TLS) and goes when it is writable; a UDP datagram the
        kernel refuses is dropped and counted. False if the socket cannot send."""
        sock = ms.sock
        if sock is None or ms.status != Status.CONNECTED:
            return False
        if ms.type.is_udp:
            try:
                if ms.type == SocketType.UDP_SERVER:
                    if ms.udp_peer is None:
                        return False
                    sock.sendto(data, ms.udp_peer)
                else:
                    sock.send(data)
            except (BlockingIOError, ssl.SSLWantWriteError):
                ms.tx_dropped += 1
                log.warning("ConID %d: datagram dropped, host socket buffer full", ms.con_id)
            except ConnectionRefusedError as exc:  # (an earlier datagram's ICMP error)
                ms.tx_dropped += 1
                log.info("ConID %d: datagram dropped, the peer's port refused: %s",
                         ms.con_id, exc)  # fmt: skip
            except OSError as exc:
                log.info("send on ConID %d failed: %s", ms.con_id, exc)
                self._disconnected(ms)
                return False
            return True
        ms.tx += data
        return self._flush_socket(ms)

    def _flush_socket(self, ms: ModuleSocket) -> bool:
        sock = ms.sock
        while ms.tx and sock is not None:
            try:
                sent = sock.send(ms.tx[:TX_CHUNK])
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                return True  # the loop writes the rest when the socket is writable
            except OSError as exc:
                log.info("send on ConID %d failed: %s", ms.con_id, exc)
                ms.tx.clear()
                self._disconnected(ms)
                return False
            del ms.tx[:sent]
        return True

    def _on_socket_readable(self, ms: ModuleSocket) -> None:
        if ms.sock is None:
            return
        if ms.type in (SocketType.TCP_SERVER, SocketType.SSL_SERVER):
            self._accept(ms)
            return
        try:
            if ms.type == SocketType.UDP_SERVER:
                data, addr = ms.sock.recvfrom(65535)
                if ms.udp_peer is None or (self._tt is ms and self._tt_follow_last):
                    ms.udp_peer = (addr[0], addr[1])
                    ms.remote_host, ms.remote_port = ms.udp_peer
                self._deliver(ms, data)
                return
            if ms.type.is_udp:  # a UDP client: whole datagrams, and no end of stream
                data = ms.sock.recv(65535)
                if data:  # (an empty datagram carries nothing to announce)
                    self._deliver(ms, data)
                return
            size = 65536 if self._tt is ms else PACKET
            data = ms.sock.recv(size)
            if not data:
                self._disconnected(ms)
                return
            self._deliver(ms, data)
            # TLS may hold decrypted bytes the selector cannot see
            while isinstance(ms.sock, ssl.SSLSocket) and ms.sock.pending() and not ms.rx_full:
                self._deliver(ms, ms.sock.recv(size))
        except (ssl.SSLWantReadError, BlockingIOError):
            return
        except OSError as exc:
            if ms.type.is_udp and isinstance(exc, ConnectionRefusedError):
                # an ICMP "port unreachable" for an earlier datagram: UDP has no connection
                # to lose, the socket stays usable (a server may come up later)
                log.info("ConID %d: the peer's port refused a datagram (%s)", ms.con_id, exc)
                return
            log.info("receive on ConID %d failed: %s", ms.con_id, exc)
            self._disconnected(ms)

    def room_again(self, ms: ModuleSocket) -> None:
        """A SOCKETREAD made room in ``ms``'s receive queue: TLS may hold decrypted bytes
        it stopped taking when the queue was full, which the selector cannot see (the
        kernel's buffer may be empty), so they are taken now."""
        if isinstance(ms.sock, ssl.SSLSocket) and ms.sock.pending() and not ms.rx_full:
            self.call_soon(lambda: self._on_socket_readable(ms))

    def _deliver(self, ms: ModuleSocket, data: bytes) -> None:
        if self._tt is ms:
            self.emit(data)
        elif self.active_mode and self.mode is not FirmwareMode.TRANSPARENT:
            self.emit(b"+EVENT:SocketDown,%d,%d,%s\r\n" % (ms.con_id, len(data), data))
        elif ms.queue(data):
            self.urc(f"SocketDown,{ms.con_id},{len(data)}")
        else:
            log.warning(
                "ConID %d receive queue full: datagram dropped (%d so far)", ms.con_id, ms.dropped
            )

    def _disconnected(self, ms: ModuleSocket) -> None:
        if ms.status == Status.DISCONNECTED:
            return
        ms.status = Status.DISCONNECTED
        ms.close()
        # what still waited for the peer can never go: it must not hold the UART back
        ms.tx.clear()
        self.urc(f"SocketDisconnect,{ms.con_id}")

    def _peer_vanished(self, con_id: int) -> None:
        ms = self.sockets.get(con_id)
        if ms is not None and ms.sock is not None:
            try:
                ms.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
            except OSError:
                pass
            self._disconnected(ms)

    def _accept(self, server: ModuleSocket) -> None:
        assert server.sock is not None
        try:
            conn, addr = server.sock.accept()
        except (BlockingIOError, OSError):
            return
        tls = server.type == SocketType.SSL_SERVER

        def handshake() -> socket.socket:
            conn.settimeout(self.connect_timeout)
            return self.commands.server_tls(conn) if tls else conn

        def accepted(sock: socket.socket) -> None:
            if server.con_id not in self.sockets:
                sock.close()
                return
            try:
                con_id = self.allocate_con_id()
            except CommandFailed:
                log.warning("no free ConID: client %s refused", addr)
                sock.close()
                return
            seed = ModuleSocket(
                con_id,
                SocketType.SSL_SEED if tls else SocketType.TCP_SEED,
                sock,
                remote_host=addr[0],
                remote_port=addr[1],
                local_port=server.local_port,
                server_con_id=server.con_id,
            )
            self.add_socket(seed)
            self.urc(f"SocketSeed,{con_id},{server.con_id}")

        def failed(exc: BaseException) -> None:
            log.info("client %s not accepted: %s", addr, exc)
            conn.close()

        self.run_in_worker(handshake, accepted, failed, busy=False)

    # ---- workers -----------------------------------------------------------------------

    def run_in_worker(
        self,
        work: Callable[[], T],
        done: Callable[[T], None],
        failed: Callable[[BaseException], None],
        *,
        busy: bool = True,
    ) -> None:
        """Runs ``work`` off the loop; ``done``/``failed`` run on the loop afterwards.

        With ``busy`` the module answers other commands with ``[Busy]Cmd running``.
        Work that finishes after the module rebooted is discarded (never printed).
        """
        if busy:
            self.modes.enter(FirmwareMode.BUSY)
        boot = self._boots

        def finished(future: Future[T]) -> None:
            def on_loop() -> None:
                if boot != self._boots:
                    self._discard(future)
                    return
                if busy:
                    self.modes.leave(FirmwareMode.BUSY)
                exc = future.exception()
                if exc is not None:
                    failed(exc)
                else:
                    done(future.result())
                self._process_commands()

            self.call_soon(on_loop)

        self._workers.submit(work).add_done_callback(finished)

    @staticmethod
    def _discard(future: Future[Any]) -> None:
        """Closes what a worker made for the module before it rebooted (a socket)."""
        if future.exception() is None:
            close = getattr(future.result(), "close", None)
            if callable(close):
                close()

    # ---- boot ------------------------------------------------------------------------

    def _boot(self, *, announce: bool) -> None:
        """Power-on: sockets, modes and running commands gone; banner, Wi-Fi, auto-transparent."""
        self._boots += 1
        self.modes.enter(FirmwareMode.BOOTING)
        for ms in list(self.sockets.values()):
            ms.close()
        self.sockets.clear()
        self._tt = None
        self._deferred_urcs.clear()
        self._framer = CommandFramer()
        self._raw_sink = self._raw_done = self._raw_packets = None
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

    def reboot(self) -> None:
        """AT+RST: after its OK, the module restarts (what the host sends meanwhile is lost)."""
        self.modes.enter(FirmwareMode.BOOTING)
        self.call_later(BOOT_DELAY, lambda: self._boot(announce=True))

    def save_flash(self) -> None:
        try:
            self._store.save(self.flash)
        except OSError as exc:
            log.error("could not save emulator state: %s", exc)
