"""The emulator's transparent-mode fast path: two threads stream between the pty and a
plain TCP socket while the event loop stays out of the way.

One Python loop that moves both directions of a full-speed stream, one 4 KiB pty read
at a time, between select() calls, was the ceiling of end-to-end transparent
throughput. While the module streams to a TCP peer (no TLS, no UDP datagram rules)
unpaced and with no fault pending, a :class:`TransparentPump` owns the UART and that
socket instead: one thread reads the UART in bursts (all it has at once, up to 256 KiB:
see :func:`~atsock.sync.portio.read_burst`), runs the ``+++`` guard and the packetizer
and sends to the peer; the other receives from the peer and writes the UART. Each
waits in ``poll`` only when its descriptor is not ready, together with a wake-up pipe.

The loop (``machine.py``) stays the module: whatever else must touch the UART or the
socket (a fault, a reset, an injected byte) first :meth:`~TransparentPump.stop`\\ s the
pump, which hands back everything it held, in order — peer bytes not yet written to
the UART, host bytes not yet sent to the peer — and the guard and packetizer state it
shares with the loop. An escape, a closed UART or a closed peer ends the pump by
itself; the loop then does what the module does in that case.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from collections.abc import Callable

from atsock._core import Guard, Packetizer
from atsock.emulator.firmware.core import tcp_ready
from atsock.sync.portio import read_burst

#: Most bytes one burst from the UART brings (the host streaming at full speed fills
#: it: the guard, the packetizer and a send then run once per 256 KiB).
BURST_SIZE = 256 * 1024
#: Most bytes one receive from the peer brings.
READ_SIZE = 65536


class TransparentPump:
    """Moves transparent-mode bytes between the UART ``fd`` and ``sock`` on two threads.

    ``guard`` and ``packets`` are the loop's; the pump uses them only while it runs.
    ``pending_tx`` is what the loop had not yet sent to the peer (sent first).
    ``on_end`` is called (from a pump thread, once) when the pump ends by itself.
    """

    def __init__(
        self,
        fd: int,
        sock: socket.socket,
        guard: Guard,
        packets: Packetizer,
        pending_tx: bytes,
        on_end: Callable[[], None],
    ) -> None:
        self._fd = fd
        self._sock = sock
        self._guard = guard
        self._packets = packets
        self._on_end = on_end
        self._wake_r, self._wake_w = os.pipe()
        self._stopping = False
        self._end_lock = threading.Lock()
        self._ended = False
        #: the host sent an escape; these host bytes came after it (commands)
        self.escaped = False
        self.after_escape = b""
        #: the UART failed or reached end of file (the loop finds out which by reading)
        self.uart_failed = False
        #: the peer closed the connection (None) or it failed (the error)
        self.peer_closed = False
        self.peer_error: OSError | None = None
        #: peer bytes not yet written to the UART when the pump stopped
        self.unwritten = b""
        #: host bytes not yet sent to the peer when the pump stopped
        self.unsent = pending_tx
        # While streaming, let the kernel join small segments (Nagle): a full-speed stream
        # of 4 KiB pty reads then costs the peer far fewer wake-ups; stop() restores what
        # command mode had (SOCKETSEND packets leave at once).
        self._nodelay = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
        self._threads = [
            threading.Thread(target=self._host_to_peer, name="atsock-emu-tt-up", daemon=True),
            threading.Thread(target=self._peer_to_host, name="atsock-emu-tt-down", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @property
    def ended(self) -> bool:
        """The pump stopped by itself (escape, UART or peer gone): the loop must stop it."""
        return self._ended

    def stop(self) -> None:
        """Stops both threads and waits for them; afterwards the pump touches nothing."""
        self._stopping = True
        try:
            os.write(self._wake_w, b"\0")
        except OSError:
            pass
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join()
        os.close(self._wake_r)
        os.close(self._wake_w)
        try:
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, self._nodelay)
        except OSError:
            pass  # the peer is gone: nothing left to send

    # ---- shared ------------------------------------------------------------------------

    def _end(self) -> None:
        """The pump cannot go on by itself: tell the loop (once)."""
        self._stopping = True
        with self._end_lock:
            if self._ended:
                return
            self._ended = True
        self._on_end()

    def _poller(self, fd: int, events: int) -> select.poll:
        poller = select.poll()
        poller.register(fd, events)
        poller.register(self._wake_r, select.POLLIN)
        return poller

    # ---- host → peer -------------------------------------------------------------------

    def _host_to_peer(self) -> None:
        readable = self._poller(self._fd, select.POLLIN)
        writable = self._poller(self._sock.fileno(), select.POLLOUT)
        guard, fd = self._guard, self._fd
        buffer = memoryview(bytearray(BURST_SIZE))
        if self.unsent:
            pending, self.unsent = self.unsent, b""
            if not self._send(memoryview(pending), writable):
                return
        while not self._stopping:
            try:
                size = os.readv(fd, [buffer])
            except BlockingIOError:
                readable.poll(self._timeout_ms())
                if not self._settle_by_time(writable):
                    return
                continue
            except OSError:
                self.uart_failed = True
                self._end()
                return
            if not size:
                self.uart_failed = True
                self._end()
                return
            now_ns = time.monotonic_ns()  # when the first bytes came (the guard's clock)
            size = read_burst(fd, buffer, size)
            # one copy (the buffer is reused); the guard passes a bytes object on uncopied
            escaped, forward = guard.feed(bytes(buffer[:size]), now_ns)
            if escaped:
                self._escape(forward)
                return
            if forward and not self._send(tcp_ready(self._packets, forward, now_ns), writable):
                return

    def _timeout_ms(self) -> int:
        """How long the UART may stay silent before the guard or packetizer must be polled."""
        deadlines = [d for d in (self._guard.deadline, self._packets.deadline) if d is not None]
        if not deadlines:
            return -1
        return max(0, (min(deadlines) - time.monotonic_ns() + 999_999) // 1_000_000)

    def _settle_by_time(self, writable: select.poll) -> bool:
        """Lets time decide held ``+`` bytes and a waiting packet; False if the pump ended."""
        now_ns = time.monotonic_ns()
        escaped, released = self._guard.poll(now_ns)
        if released and not self._send(tcp_ready(self._packets, released, now_ns), writable):
            return False
        if escaped:
            self._escape(b"")
            return False
        if self._packets.deadline is not None:
            packet = self._packets.poll(now_ns)
            if packet and not self._send(memoryview(packet), writable):
                return False
        return True

    def _escape(self, after: bytes) -> None:
        self.escaped = True
        self.after_escape = after
        self._end()

    def _send(self, view: memoryview, writable: select.poll) -> bool:
        """Sends all of ``view`` (waiting while the peer is slow); False if the pump ended.
        Stopped while waiting, the rest is kept in :attr:`unsent` for the loop."""
        sock = self._sock
        while view:
            try:
                view = view[sock.send(view) :]
            except BlockingIOError:
                if self._stopping:
                    self.unsent = bytes(view)
                    return False
                writable.poll()  # an error shows as ready: the next send() raises it
            except OSError as exc:
                self.peer_error = exc
                self._end()
                return False
        return True

    # ---- peer → host -------------------------------------------------------------------

    def _peer_to_host(self) -> None:
        readable = self._poller(self._sock.fileno(), select.POLLIN)
        writable = self._poller(self._fd, select.POLLOUT)
        sock, fd = self._sock, self._fd
        while not self._stopping:
            try:
                data = sock.recv(READ_SIZE)
            except BlockingIOError:
                readable.poll()
                continue
            except OSError as exc:
                self.peer_error = exc
                self._end()
                return
            if not data:
                self.peer_closed = True
                self._end()
                return
            view = memoryview(data)
            while view:
                try:
                    view = view[os.write(fd, view) :]
                except BlockingIOError:
                    if self._stopping:
                        self.unwritten = bytes(view)
                        return
                    writable.poll()
                except OSError:
                    self.unwritten = bytes(view)
                    self.uart_failed = True
                    self._end()
                    return
