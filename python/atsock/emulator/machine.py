"""The emulator's host: the event loop that carries out what the firmware decides.

The module's rules are the firmware's (:mod:`atsock.emulator.firmware`, no I/O); this
loop owns everything real: the UART (paced at a baud rate, as a real one is), the
host sockets behind the ConIDs (TCP, UDP, TLS), worker threads for slow work (DNS,
connect, TLS handshakes), the flash file and fault injection. It feeds the firmware
host bytes, socket data and work results, and carries out the actions it returns.

One exception to "everything on the loop thread": while the module streams to a plain
TCP peer over a pty, unpaced, a :class:`~atsock.emulator.pump.TransparentPump` moves
the bytes on two threads of its own (see pump.py); the loop stops it before it does
anything else with the UART or that socket.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from atsock.emulator.firmware.actions import (
    Action,
    Close,
    Connect,
    Done,
    Emit,
    Listen,
    Resolve,
    SaveFlash,
    Send,
    StreamStarted,
)
from atsock.emulator.firmware.commands import CommandSet
from atsock.emulator.firmware.core import BANNER, Firmware
from atsock.emulator.firmware.errors import DNS, SOCKET_CREATE
from atsock.emulator.firmware.mode import FirmwareMode
from atsock.emulator.flash import Flash, FlashStore
from atsock.emulator.handoff import PumpHandoff
from atsock.emulator.host_sockets import HostSockets
from atsock.emulator.netsock import HostSocket
from atsock.emulator.pacing import PacedUart
from atsock.emulator.uart import PtyUart, TcpUart, Uart
from atsock.emulator.workers import Workers
from atsock.protocol.rules import GUARD_TIME, MAX_GUARD_TIME

__all__ = ["BANNER", "TX_HIGH", "Emulator"]

log = logging.getLogger("atsock.emulator")
wire = logging.getLogger("atsock.emulator.wire")

T = TypeVar("T")

#: Output buffered for the UART above which sockets stop being read (backpressure).
OUT_HIGH = 256 * 1024
#: Data queued for a peer above which the module stops taking UART input (backpressure).
TX_HIGH = 256 * 1024


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
        flash = self._store.load()
        if echo is not None:
            flash.echo = echo
        #: the module's rules, with no I/O (this loop carries out its actions)
        self.firmware = Firmware(flash, guard_ns=int(guard_time * 1e9))
        uart: Uart = PtyUart() if transport == "pty" else TcpUart(host, port)
        #: the UART, paced at ``baud`` (and its faults)
        self.line = PacedUart(uart, baud)
        self._calls: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel = selectors.DefaultSelector()
        self._registered: dict[int, tuple[int, Any]] = {}
        self._workers = Workers(self.firmware, self._carry_out, self.call_soon)
        #: the real socket behind each ConID that has one
        self.host = HostSockets(
            self.firmware, self._carry_out, self.call_soon, self._workers.submit,
            listen_host=listen_host, dns_port=dns_port, connect_timeout=connect_timeout,
        )  # fmt: skip
        self._pumps = PumpHandoff(self.firmware, self.host, self.line, self._carry_out, self._wake)
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._running = False
        self._closed = False
        self.url = uart.url

    # ---- what the firmware knows ---------------------------------------------------------

    @property
    def guard_time(self) -> float:
        """The ``+++`` guard time (seconds)."""
        return self.firmware.guard.guard_ns / 1e9

    @property
    def uart(self) -> Uart:
        return self.line.uart

    @property
    def sockets(self) -> dict[int, HostSocket]:
        """The real socket behind each ConID that has one."""
        return self.host.sockets

    @property
    def flash(self) -> Flash:
        return self.firmware.flash

    @property
    def commands(self) -> CommandSet:
        return self.firmware.commands

    @property
    def mode(self) -> FirmwareMode:
        """The firmware's mode now (see :mod:`atsock.emulator.firmware.mode`)."""
        return self.firmware.mode

    @property
    def in_transparent(self) -> bool:
        return self.firmware.mode is FirmwareMode.TRANSPARENT

    @property
    def pumping(self) -> bool:
        """Transparent data moves on the pump's threads right now (see pump.py)."""
        return self._pumps.running

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
        self._pumps.stop()
        self.host.close_all()
        self._workers.shutdown()
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
        self._apply(lambda: self.host.peer_vanished(con_id))

    def inject(self, data: bytes) -> None:
        """Writes bytes onto the UART as if the module had sent them (garbage, fake URCs)."""
        self._apply(lambda: self.emit(data))

    def drop_output(self, count: int) -> None:
        """Loses the next ``count`` bytes the module sends to the host."""
        self._apply(lambda: setattr(self.line, "drop_out", self.line.drop_out + count))

    def drop_input(self, count: int) -> None:
        """Loses the next ``count`` bytes the host sends to the module."""
        self._apply(lambda: setattr(self.line, "drop_in", self.line.drop_in + count))

    def stall(self, seconds: float) -> None:
        """The module neither reads nor writes the UART for ``seconds``."""
        self._apply(lambda: setattr(self.line, "stall_until", time.monotonic() + seconds))

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

    # ---- carrying out the firmware's actions ---------------------------------------------

    def _carry_out(self, actions: Iterable[Action]) -> None:
        """Does what the firmware asked, in order; what an action's immediate answer
        leads to is done before the actions after it."""
        todo = deque(actions)
        while todo:
            action = todo.popleft()
            if isinstance(action, Emit):
                self.emit(action.data)
            elif isinstance(action, Send):
                todo.extendleft(reversed(self.host.send(action)))
            elif isinstance(action, Listen):
                todo.extendleft(reversed(self.host.listen(action)))
            elif isinstance(action, Connect):
                connected = functools.partial(self.host.connected, action.con_id)
                self._workers.run(action.token, self.host.connect(action), connected, SOCKET_CREATE)
            elif isinstance(action, Resolve):
                self._workers.run(action.token, self.host.resolve(action), Done, DNS)
            elif isinstance(action, Close):
                self.host.close(action.con_id)
            elif isinstance(action, SaveFlash):
                self.save_flash()
            elif isinstance(action, StreamStarted):
                self._pumps.allowed = True
                log.info("transparent mode on ConID %d", action.con_id)

    def _boot(self, *, announce: bool) -> None:
        self._carry_out(self.firmware.boot(time.monotonic_ns(), announce=announce))

    # ---- output ----------------------------------------------------------------------

    def emit(self, data: bytes) -> None:
        """Queues bytes for the UART (paced and written by the loop)."""
        data = self.line.lose_output(data)
        if not data:
            return
        self._pumps.pause()  # the pump's bytes first, then these
        if wire.isEnabledFor(logging.DEBUG):
            wire.debug("module -> host %d bytes", len(data))
        self.line.write(data, time.monotonic())

    # ---- the loop ----------------------------------------------------------------------

    def _loop(self) -> None:
        self._sel.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        while not self._stopping:
            now = time.monotonic()  # one instant for both, or a paced read could stall
            self._pumps.maybe_start(now)
            self._sync_registrations(now)
            events = self._sel.select(self._next_timeout(now))
            if self._pumps.pump is not None and self._pumps.pump.ended:
                self._pumps.pause()
            for key, mask in events:
                kind, con_id = key.data
                if kind == "wake":
                    self._drain_wake()
                    continue
                if kind == "uart":
                    if mask & selectors.EVENT_WRITE:
                        self.line.flush(time.monotonic())
                    if mask & selectors.EVENT_READ:
                        self._on_uart_readable(key.fd)
                elif kind == "sock":
                    if mask & selectors.EVENT_WRITE:
                        self._carry_out(self.host.flush(con_id)[1])
                    if mask & selectors.EVENT_READ:
                        self.host.readable(con_id)
            self._run_calls()
            if not self._pumps.running:  # (the pump keeps the guard's and the packetizer's time)
                self._carry_out(self.firmware.poll(time.monotonic_ns()))
            self.line.flush(time.monotonic())

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
            self._pumps.pause()  # a fault or a worker's result may need the UART or the socket
            try:
                fn()
            except Exception:
                log.exception("emulator callback failed")

    def _next_timeout(self, now: float) -> float | None:
        deadlines = self.line.deadlines(now)
        if not self._pumps.running:
            due = self.firmware.next_deadline()
            if due is not None:
                deadlines.append(due / 1e9)
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - now)

    def _sync_registrations(self, now: float) -> None:
        want: dict[int, tuple[int, Any]] = {}
        line = self.line
        uart = ("uart", line.uart.generation)
        if not line.stalled(now) and not self._pumps.running:
            # a peer that does not keep up slows the host down, as the module's buffers fill
            reading = line.reading(now) and self.host.queued() < TX_HIGH
            writer = line.uart.writer_fd()
            for fd in line.uart.fds():
                if reading or fd != writer:
                    want[fd] = (selectors.EVENT_READ, uart)
            if line.out and writer is not None and line.out_due() <= now:
                events = want.get(writer, (0, uart))[0] | selectors.EVENT_WRITE
                want[writer] = (events, uart)
        out_room = len(line.out) < OUT_HIGH
        streaming = self.firmware.stream_target
        for con_id, hs, entry in self.host:
            if self._pumps.running and entry is streaming:
                continue
            events = selectors.EVENT_WRITE if hs.tx else 0
            # TCP backpressure: the peer waits while the host does not read
            held = entry.rx_full and not entry.type.is_udp and streaming is not entry
            if out_room and not held:
                events |= selectors.EVENT_READ
            if events and hs.sock is not None:
                want[hs.sock.fileno()] = (events, ("sock", con_id, hs))
        for fd in list(self._registered):
            if fd not in want:
                self._sel.unregister(fd)
                del self._registered[fd]
        for fd, (events, data) in want.items():
            current = self._registered.get(fd)
            if current is None:
                self._sel.register(fd, events, data[:2])
            elif current[1] != data:
                # a new owner: the old socket was closed and its fd number reused, and the
                # kernel's epoll set forgot the fd on that close: register it afresh
                self._sel.unregister(fd)
                self._sel.register(fd, events, data[:2])
            elif current[0] != events:
                self._sel.modify(fd, events, data[:2])
            self._registered[fd] = (events, data)

    # ---- host → module -------------------------------------------------------------

    def _on_uart_readable(self, fd: int) -> None:
        data = self.line.read(fd, time.monotonic())
        if not data:
            return
        if wire.isEnabledFor(logging.DEBUG):
            wire.debug("host -> module %d bytes", len(data))
        self.receive(data)

    def receive(self, data: bytes) -> None:
        """Host bytes, in whatever mode the module is in."""
        self._carry_out(self.firmware.receive(data, time.monotonic_ns()))
        self.host.take_tls_pending()

    def save_flash(self) -> None:
        try:
            self._store.save(self.firmware.flash)
        except OSError as exc:
            log.error("could not save emulator state: %s", exc)
