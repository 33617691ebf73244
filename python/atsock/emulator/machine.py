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
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from atsock.emulator.firmware.actions import (
    Action,
    Close,
    Connect,
    Done,
    Emit,
    Failed,
    Listen,
    Resolve,
    Result,
    SaveFlash,
    Send,
    StreamStarted,
)
from atsock.emulator.firmware.commands import CommandSet
from atsock.emulator.firmware.core import BANNER, Firmware
from atsock.emulator.firmware.errors import DNS, SEND, SOCKET_CREATE, CommandFailed
from atsock.emulator.firmware.mode import FirmwareMode
from atsock.emulator.firmware.sockets import SocketEntry
from atsock.emulator.flash import Flash, FlashStore
from atsock.emulator.netsock import PACKET, HostSocket, Status, connect, listen, server_tls_context
from atsock.emulator.pump import TransparentPump
from atsock.emulator.resolver import resolve
from atsock.emulator.uart import READ_SIZE, PtyUart, TcpUart, Uart
from atsock.protocol.rules import GUARD_TIME, MAX_GUARD_TIME
from atsock.types import SocketType

__all__ = ["BANNER", "TX_HIGH", "Emulator"]

log = logging.getLogger("atsock.emulator")
wire = logging.getLogger("atsock.emulator.wire")

T = TypeVar("T")

#: Output buffered for the UART above which sockets stop being read (backpressure).
OUT_HIGH = 256 * 1024
#: Data queued for a peer above which the module stops taking UART input (backpressure).
TX_HIGH = 256 * 1024
#: Largest piece handed to one send() call.
TX_CHUNK = 256 * 1024
#: How far a late paced read may catch up with the line (the UART's receive FIFO).
RX_CATCH_UP = 0.05


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
        self.uart: Uart = PtyUart() if transport == "pty" else TcpUart(host, port)
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

        #: the real socket behind each ConID that has one
        self.sockets: dict[int, HostSocket] = {}
        self._pump: TransparentPump | None = None
        #: the pump may run in this transparent session (not after the UART failed under it)
        self._pump_allowed = False

        self._out = bytearray()
        self._drop_out = 0
        self._drop_in = 0
        self._stall_until = 0.0
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

    # ---- what the firmware knows ---------------------------------------------------------

    @property
    def guard_time(self) -> float:
        """The ``+++`` guard time (seconds)."""
        return self.firmware.guard.guard_ns / 1e9

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
        return self._pump is not None

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
        for hs in self.sockets.values():
            hs.close()
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
                more = self._send(action)
                todo.extendleft(reversed(more))
            elif isinstance(action, Listen):
                todo.extendleft(reversed(self._listen(action)))
            elif isinstance(action, Connect):
                self._connect(action)
            elif isinstance(action, Resolve):
                self._resolve(action)
            elif isinstance(action, Close):
                self._close(action.con_id)
            elif isinstance(action, SaveFlash):
                self.save_flash()
            elif isinstance(action, StreamStarted):
                self._pump_allowed = True
                log.info("transparent mode on ConID %d", action.con_id)

    def _boot(self, *, announce: bool) -> None:
        self._carry_out(self.firmware.boot(time.monotonic_ns(), announce=announce))

    def _close(self, con_id: int) -> None:
        hs = self.sockets.pop(con_id, None)
        if hs is not None:
            hs.close()

    def _listen(self, action: Listen) -> list[Action]:
        result: Result
        try:
            sock = listen(action, self.listen_host, self.firmware.flash.certs)
        except CommandFailed as exc:
            result = Failed(exc.code or SOCKET_CREATE)
        else:
            self._register(action.con_id, sock)
            result = Done()
        return self.firmware.work_done(action.token, result)

    def _connect(self, action: Connect) -> None:
        def connected(sock: socket.socket) -> Result:
            if action.con_id in self.sockets:  # (the ConID was reused meanwhile)
                sock.close()
                return Failed(SOCKET_CREATE)
            self._register(action.con_id, sock)
            return Done()

        self.run_in_worker(
            action.token,
            lambda: connect(action, dns_port=self.dns_port, timeout=self.connect_timeout),
            connected,
            SOCKET_CREATE,
        )

    def _resolve(self, action: Resolve) -> None:
        def lookup() -> str:
            return resolve(
                action.name, list(action.dns), port=self.dns_port, timeout=self.connect_timeout
            )

        self.run_in_worker(action.token, lookup, Done, DNS)

    def _register(self, con_id: int, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sockets[con_id] = HostSocket(sock)

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
                kind, con_id = key.data
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
                        self._carry_out(self._flush_socket(con_id)[1])
                    if mask & selectors.EVENT_READ:
                        self._on_socket_readable(con_id)
            self._run_calls()
            if self._pump is None:  # (the pump keeps the guard's and the packetizer's time)
                self._carry_out(self.firmware.poll(time.monotonic_ns()))
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

    def _next_timeout(self, now: float) -> float | None:
        deadlines = []
        if self._pump is None:
            due = self.firmware.next_deadline()
            if due is not None:
                deadlines.append(due / 1e9)
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
            reading = reading and all(len(hs.tx) < TX_HIGH for hs in self.sockets.values())
            writer = self.uart.writer_fd()
            for fd in self.uart.fds():
                if reading or fd != writer:
                    want[fd] = (selectors.EVENT_READ, uart)
            if self._out and writer is not None and self._out_due() <= now:
                events = want.get(writer, (0, uart))[0] | selectors.EVENT_WRITE
                want[writer] = (events, uart)
        out_room = len(self._out) < OUT_HIGH
        streaming = self.firmware.stream_target
        for con_id, hs in self.sockets.items():
            entry = self.firmware.sockets.get(con_id)
            if hs.sock is None or entry is None:
                continue
            if self._pump is not None and entry is streaming:
                continue
            events = selectors.EVENT_WRITE if hs.tx else 0
            # TCP backpressure: the peer waits while the host does not read
            if out_room and not (
                entry.rx_full and not entry.type.is_udp and streaming is not entry
            ):
                events |= selectors.EVENT_READ
            if events:
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
        self._carry_out(self.firmware.receive(data, time.monotonic_ns()))
        self._take_tls_pending()

    # ---- the transparent-mode fast path (pump.py) --------------------------------------

    def _maybe_start_pump(self, now: float) -> None:
        """Hands the stream to a pump when nothing but moving bytes is left to do."""
        target = self.firmware.stream_target
        hs = self.sockets.get(target.con_id) if target is not None else None
        if (
            target is None
            or hs is None
            or self._pump is not None
            or not self._pump_allowed
            or self._rate is not None
            or not isinstance(self.uart, PtyUart)
            or target.type not in (SocketType.TCP_CLIENT, SocketType.TCP_SEED)
            or target.status != Status.CONNECTED
            or hs.sock is None
            or isinstance(hs.sock, ssl.SSLSocket)
            or self._out
            or self._drop_in
            or self._drop_out
            or self._stall_until > now
            or wire.isEnabledFor(logging.DEBUG)
        ):
            return
        pending = bytes(hs.tx)
        hs.tx.clear()
        fw = self.firmware
        self._pump = TransparentPump(
            self.uart.master, hs.sock, fw.guard, fw.packets, pending, self._wake
        )

    def _pause_pump(self) -> None:
        """Stops the pump, takes back what it held, and acts on why it ended, if it did."""
        pump, self._pump = self._pump, None
        if pump is None:
            return
        pump.stop()
        target = self.firmware.stream_target
        hs = self.sockets.get(target.con_id) if target is not None else None
        if pump.unwritten:
            self._out[:0] = pump.unwritten
            self._out_since = time.monotonic()
        if pump.unsent and hs is not None:
            hs.tx[:0] = pump.unsent
        if pump.uart_failed:
            self._pump_allowed = False  # the loop finds out what became of the UART
        if target is not None and (pump.peer_closed or pump.peer_error is not None):
            if pump.peer_error is not None:
                log.info("ConID %d failed: %s", target.con_id, pump.peer_error)
            self._carry_out(self.firmware.disconnected(target.con_id))
        if pump.escaped:
            self._carry_out(self.firmware.escape(pump.after_escape, time.monotonic_ns()))

    # ---- sockets ---------------------------------------------------------------------

    def _send(self, action: Send) -> list[Action]:
        """Sends one packet; a receipt, and what a failure leads to, go to the firmware."""
        went, more = self._send_packet(action)
        if action.token is not None:
            more += self.firmware.work_done(action.token, Done() if went else Failed(SEND))
        return more

    def _send_packet(self, action: Send) -> tuple[bool, list[Action]]:
        """Sends without ever blocking the loop: what the kernel does not take now waits
        in the socket's queue (TCP/TLS) and goes when it is writable; a UDP datagram the
        kernel refuses is dropped and counted. False if the socket cannot send."""
        con_id, data = action.con_id, action.data
        hs = self.sockets.get(con_id)
        entry = self.firmware.sockets.get(con_id)
        sock = hs.sock if hs is not None else None
        if hs is None or sock is None or entry is None or entry.status != Status.CONNECTED:
            return False, []
        if not entry.type.is_udp:
            hs.tx += data
            return self._flush_socket(con_id)
        try:
            if entry.type == SocketType.UDP_SERVER:
                if action.to is None:
                    return False, []
                sock.sendto(data, action.to)
            else:
                sock.send(data)
        except (BlockingIOError, ssl.SSLWantWriteError):
            hs.tx_dropped += 1
            log.warning("ConID %d: datagram dropped, host socket buffer full", con_id)
        except ConnectionRefusedError as exc:  # (an earlier datagram's ICMP error)
            hs.tx_dropped += 1
            log.info("ConID %d: datagram dropped, the peer's port refused: %s", con_id, exc)
        except OSError as exc:
            log.info("send on ConID %d failed: %s", con_id, exc)
            return False, self.firmware.disconnected(con_id)
        return True, []

    def _flush_socket(self, con_id: int) -> tuple[bool, list[Action]]:
        hs = self.sockets.get(con_id)
        while hs is not None and hs.tx and hs.sock is not None:
            try:
                sent = hs.sock.send(hs.tx[:TX_CHUNK])
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                return True, []  # the loop writes the rest when the socket is writable
            except OSError as exc:
                log.info("send on ConID %d failed: %s", con_id, exc)
                hs.tx.clear()  # what waited for the peer can never go
                return False, self.firmware.disconnected(con_id)
            del hs.tx[:sent]
        return True, []

    def _on_socket_readable(self, con_id: int) -> None:
        hs = self.sockets.get(con_id)
        entry = self.firmware.sockets.get(con_id)
        if hs is None or hs.sock is None or entry is None:
            return
        if entry.type in (SocketType.TCP_SERVER, SocketType.SSL_SERVER):
            self._accept(entry, hs.sock)
            return
        fw = self.firmware
        sock = hs.sock
        try:
            if entry.type == SocketType.UDP_SERVER:
                data, addr = sock.recvfrom(65535)
                self._carry_out(fw.received(con_id, data, (addr[0], addr[1])))
                return
            if entry.type.is_udp:  # a UDP client: whole datagrams, and no end of stream
                data = sock.recv(65535)
                if data:  # (an empty datagram carries nothing to announce)
                    self._carry_out(fw.received(con_id, data))
                return
            size = 65536 if fw.stream_target is entry else PACKET
            data = sock.recv(size)
            if not data:
                self._carry_out(fw.disconnected(con_id))
                return
            self._carry_out(fw.received(con_id, data))
            # TLS may hold decrypted bytes the selector cannot see
            while isinstance(sock, ssl.SSLSocket) and sock.pending() and not entry.rx_full:
                self._carry_out(fw.received(con_id, sock.recv(size)))
        except (ssl.SSLWantReadError, BlockingIOError):
            return
        except OSError as exc:
            if entry.type.is_udp and isinstance(exc, ConnectionRefusedError):
                # an ICMP "port unreachable" for an earlier datagram: UDP has no connection
                # to lose, the socket stays usable (a server may come up later)
                log.info("ConID %d: the peer's port refused a datagram (%s)", con_id, exc)
                return
            log.info("receive on ConID %d failed: %s", con_id, exc)
            self._carry_out(fw.disconnected(con_id))

    def _take_tls_pending(self) -> None:
        """A SOCKETREAD may have made room in a receive queue: TLS may hold decrypted
        bytes it stopped taking when the queue was full, which the selector cannot see
        (the kernel's buffer may be empty), so they are taken now."""
        for con_id, hs in list(self.sockets.items()):
            entry = self.firmware.sockets.get(con_id)
            sock = hs.sock
            if (
                isinstance(sock, ssl.SSLSocket)
                and entry is not None
                and not entry.rx_full
                and sock.pending()
            ):
                self.call_soon(functools.partial(self._on_socket_readable, con_id))

    def _peer_vanished(self, con_id: int) -> None:
        hs = self.sockets.get(con_id)
        if hs is not None and hs.sock is not None:
            try:
                hs.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
            except OSError:
                pass
            self._carry_out(self.firmware.disconnected(con_id))

    def _accept(self, server: SocketEntry, listener: socket.socket) -> None:
        try:
            conn, addr = listener.accept()
        except (BlockingIOError, OSError):
            return
        tls = server.type == SocketType.SSL_SERVER
        certs = dict(self.firmware.flash.certs)
        server_id = server.con_id

        def handshake() -> socket.socket:
            conn.settimeout(self.connect_timeout)
            return server_tls_context(certs).wrap_socket(conn, server_side=True) if tls else conn

        def accepted(future: Future[socket.socket]) -> None:
            exc = future.exception()
            if exc is not None:
                log.info("client %s not accepted: %s", addr, exc)
                conn.close()
                return
            sock = future.result()
            con_id, actions = self.firmware.accepted(server_id, addr[0], addr[1])
            if con_id is None:
                log.warning("client %s refused: its server is gone or no ConID is free", addr)
                sock.close()
                return
            self._register(con_id, sock)
            self._carry_out(actions)

        self._workers.submit(handshake).add_done_callback(
            lambda future: self.call_soon(lambda: accepted(future))
        )

    # ---- workers -----------------------------------------------------------------------

    def run_in_worker(
        self,
        token: int,
        work: Callable[[], T],
        done: Callable[[T], Result],
        code: int,
    ) -> None:
        """Runs ``work`` off the loop; its result (``done`` of it, or Failed with the
        CommandFailed's code, else ``code``) goes to the firmware as ``token``'s.
        Work the firmware no longer wants (it rebooted since) is discarded, never shown."""

        def finished(future: Future[T]) -> None:
            def on_loop() -> None:
                if not self.firmware.expects(token):
                    self._discard(future)
                    return
                exc = future.exception()
                result: Result
                if exc is None:
                    result = done(future.result())
                else:
                    if not isinstance(exc, CommandFailed):
                        log.info("work for token %d failed: %s", token, exc)
                    result = Failed(getattr(exc, "code", None) or code)
                self._carry_out(self.firmware.work_done(token, result))

            self.call_soon(on_loop)

        self._workers.submit(work).add_done_callback(finished)

    @staticmethod
    def _discard(future: Future[Any]) -> None:
        """Closes what a worker made for the module before it rebooted (a socket)."""
        if future.exception() is None:
            close = getattr(future.result(), "close", None)
            if callable(close):
                close()

    def save_flash(self) -> None:
        try:
            self._store.save(self.firmware.flash)
        except OSError as exc:
            log.error("could not save emulator state: %s", exc)
