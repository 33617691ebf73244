"""``Link``: the port, the reader thread and the protocol machine of one Wi-Fi module.

One reader thread hands everything the module prints to the sans-I/O
:class:`~atsock.protocol.machine.ModuleProtocol` (which frames it with the Rust core and
decides what it means: the command in flight, late prompts and replies, the ConID
table, the mode), and the link carries out its actions: a waiting command is woken
(:mod:`atsock.sync.command_path`), URCs become typed events (:mod:`atsock.sync.events`),
transparent-mode data goes to the open stream. A thread reading that stream reads the
port itself (:meth:`Link.pull`) while the reader thread naps: a chunk then reaches the
user without a hand-off between threads. Every write goes through one
:class:`~atsock.sync.linewriter.LineWriter` (paced, bounded by a deadline).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import serial

from atsock.deadline import as_budget, wait_time
from atsock.errors import ATError, ModuleReset, Timeout
from atsock.protocol.machine import (
    Action,
    FramingFailed,
    ModuleProtocol,
    Note,
    Publish,
    Rebooted,
    StreamData,
    StreamEnded,
    StreamStarted,
    WriteLatePayload,
)
from atsock.protocol.rules import GUARD_TIME
from atsock.protocol.state import Mode
from atsock.sync.events import EventRouter
from atsock.sync.gather import ReadGather
from atsock.sync.linewriter import LineWriter
from atsock.sync.portio import CHUNK, PortReader, close_port, uart_rate
from atsock.types import ModuleRestarted
from atsock.wiretrace import trace

log = logging.getLogger(__name__)

#: How long the reader thread leaves the port to a stream reader that pulled it last.
PULL_LEASE = 0.05
#: How long it leaves the port to a thread that read it while waiting for the module (a
#: command's reply, a socket's data): what arrives after that thread is done waits at
#: most this long to be read, and a caller that waits again soon reads its reply itself.
WAITER_LEASE = 0.01
#: Longest a waiting thread blocks on the port before it looks at the state again (a
#: change made by another thread, such as a close, is noticed within this).
WAITER_READ = 0.05
#: Longest close() waits for a read under way before it closes the port anyway (a read
#: lasts at most a stream reader's pull; a late payload's write can take longer).
CLOSE_READ_WAIT = 1.0
#: Default ``stream_gather``: at 4 Mbaud, two of the paced emulator's bursts (8 KB).
STREAM_GATHER = 0.02


class Link:
    """The port, the reader thread, the protocol machine and where its actions go."""

    def __init__(
        self,
        port: str | serial.SerialBase,
        *,
        baudrate: int = 115200,
        timeout: float | None = 5.0,
        guard_time: float | None = None,
        link_rate: float | None = None,
        stream_gather: float = STREAM_GATHER,
        max_events: int = 10_000,
        **serial_options: Any,
    ) -> None:
        if not stream_gather >= 0:
            raise ValueError("stream_gather must be 0 (off) or a positive number of seconds")
        #: longest a transparent stream's reader waits between port reads while the peer
        #: streams, to take several bursts per wake-up (see :mod:`atsock.sync.gather`)
        self.stream_gather = stream_gather
        #: every command's default timeout (seconds); ``math.inf`` if given as None
        self.timeout = as_budget(timeout)
        self.serial: serial.SerialBase
        if isinstance(port, str):
            self.serial = serial.serial_for_url(
                port, baudrate=baudrate, timeout=0, **serial_options
            )
        else:
            self.serial = port
        #: every write goes through it: paced, bounded, what a stall left kept as owed
        self.line = LineWriter(self.serial, link_rate or getattr(self.serial, "link_rate", None))
        #: bytes/s of the line as far as the driver knows (the link rate, or a real serial
        #: port's baud rate); None if unknown (a pty, a TCP port)
        self.line_rate = self.link_rate or uart_rate(self.serial)
        #: the module's ``+++`` guard time: as given, or as the port knows it (``emu://``)
        if guard_time is None:
            guard_time = getattr(self.serial, "guard_time", None) or GUARD_TIME
        self.guard_time = guard_time
        self.router = EventRouter(max_events)
        self.framing_errors = 0
        #: held around every port read and what it feeds and dispatches (in read order)
        self._port_lock = threading.Lock()
        #: until then (monotonic) a stream reader pulls the port: the reader thread naps
        self._pull_lease = 0.0
        #: set to end the reader thread's nap at once (the stream ends, the module closes)
        self._lease_end = threading.Event()
        #: how many reads of the port were dispatched (with :attr:`cond` held): a waiter
        #: that saw this count can tell whether anything came since (see read_for)
        self.reads = 0
        #: the one condition: the protocol's state is read and changed with it held, and
        #: every wait for the module (a reply, data, a seed) waits on it
        self.cond = threading.Condition()
        self.protocol = ModuleProtocol()
        self.protocol.guard_time = guard_time
        self._x = self.protocol.exchange
        self._ready_seen = threading.Event()
        #: a late payload taken from the protocol, with the write lock, for the reader
        self._late: tuple[bytes, bool] = (b"", False)
        self._dead: BaseException | None = None
        self._closing = False
        #: set by the transparent stream while it owns the port: takes each chunk of
        #: stream data, and how many bytes the thread that read it may still hand over
        #: itself (a stream reader's pull; 0 for the reader thread); False if that thread
        #: is to hand the chunk over itself
        self.transparent_sink: Callable[[bytes, int], bool] | None = None
        self.transparent_exited = threading.Event()
        self.boot_prompt = threading.Event()
        #: called when the port closes or fails, so a blocked stream read wakes up
        self.transparent_end: Callable[[], None] | None = None
        flush_input = getattr(self.serial, "reset_input_buffer", None)
        if flush_input is not None:
            try:
                flush_input()  # stale output (an old banner) is not ours
            except (OSError, serial.SerialException):
                pass
        self._reader = PortReader(self.serial)
        self._thread = threading.Thread(target=self._read_loop, name="atsock-reader", daemon=True)
        self._thread.start()

    # ---- lifecycle ------------------------------------------------------------------

    def close(self) -> None:
        """Stops the reader and closes the port (idempotent)."""
        if self._closing:
            return
        self._closing = True
        self._lease_end.set()
        if self.transparent_end is not None:
            self.transparent_end()  # ends a stream reader's wait (it then sees _closing)
        self._thread.join(2.0)
        self.router.close()
        # no read may be under way when the descriptor closes: its number can be reused at
        # once, and a read then would take another file's bytes (a read sees _closing first)
        held = self._port_lock.acquire(timeout=CLOSE_READ_WAIT)
        try:
            self._close_port()
        finally:
            if held:
                self._port_lock.release()
        with self.cond:
            self.protocol.conns.close()
            self.cond.notify_all()

    def check_alive(self) -> None:
        """Raises ATError if the port failed or the link was closed (for waiters)."""
        if self._dead is not None:
            raise ATError(f"the module's port failed: {self._dead}") from self._dead
        if self._closing:
            raise ATError("the module was closed")

    def _close_port(self) -> None:
        try:
            self.line.close()
            close_port(self.serial)
        except (OSError, serial.SerialException):
            pass

    @property
    def closed(self) -> bool:
        return self._closing

    @property
    def link_rate(self) -> float | None:
        """Bytes/s of the link where the port cannot say (a pty in front of a paced
        emulator); writes are paced to it."""
        return self.line.link_rate

    # ---- writing ----------------------------------------------------------------------

    def write(self, data: bytes, *, secret: bool = False, deadline: float = math.inf) -> None:
        """Writes raw bytes to the module (the caller owns the protocol state).

        With a ``deadline`` (monotonic) a module that stops reading its port raises
        :class:`~atsock.sync.portio.WriteStalled` when it passes; the bytes it did not take
        are owed (it waits for them) and go out first on the next write."""
        if self._dead is not None:
            raise ATError(f"the module's port failed: {self._dead}") from self._dead
        trace("TX", data, secret=secret)
        with self.cond:
            self._x.wrote(len(data))
        self.line.write(data, deadline)

    def drain(self, deadline: float = math.inf) -> float:
        """Waits until written bytes have left the host (or, on a pty, are estimated to);
        returns when the last of them reached the module, as far as the host can tell
        (a socket's queue: until ``deadline`` at most, see :meth:`LineWriter.drain`)."""
        return self.line.drain(deadline)

    # ---- the reader thread ---------------------------------------------------------------

    def _read_loop(self) -> None:
        reader = self._reader
        timeout = 0.0 if reader.waitable else None  # after wait(), or waiting in read()
        while not self._closing and self._dead is None:
            nap = self._pull_lease - time.monotonic()
            if nap > 0:
                if self._lease_end.wait(nap):
                    self._lease_end.clear()  # (set again by the next end_pull or close)
                continue
            if reader.waitable and not reader.wait(reader.poll):
                continue
            with self._port_lock:
                self._read_port(timeout)

    def pull(self, timeout: float, limit: int, gather: ReadGather | None = None) -> bytes | None:
        """Reads the port on the calling thread (a transparent stream's reader), waiting up
        to ``timeout`` seconds; what came is dispatched as the reader thread would, except
        the stream data the sink gives back (at most ``limit`` bytes, and only while it had
        nothing queued before it): that is returned (b"" if none). None if the port has no
        descriptor to wait for (the reader thread does all reading). With ``gather``, the
        read may first wait for more of a stream's bursts (see :mod:`atsock.sync.gather`).

        It reads before it waits: a stream at full speed almost always has the next
        chunk there already (one system call per chunk instead of two)."""
        if not self._reader.waitable or self._dead is not None or self._closing:
            return None
        lease = self._pull_lease = time.monotonic() + timeout + PULL_LEASE
        with self._port_lock:
            data = self._read_port(timeout, limit, gather)
        if self._pull_lease == lease:  # (not handed back meanwhile: end_pull, another pull)
            self._pull_lease = time.monotonic() + PULL_LEASE
        return data

    def read_for(self, seen: int, timeout: float) -> bool:
        """Reads the port on the calling thread while it waits for the module (a command's
        reply, a socket's data), at most ``timeout`` seconds, unless a read was dispatched
        since the caller saw :attr:`reads` be ``seen`` (then it returns at once: look
        again). False if it cannot (the port has no descriptor, or another thread is
        reading it now): wait on :attr:`cond` instead.

        The reply then reaches its caller without a hand-off from the reader thread (one
        wake-up instead of two), and the reader thread naps while callers read: they do
        not both wake for each reply. It reads again :data:`WAITER_LEASE` after the last
        waiter's read. Only on a tty or pty: what piles up in the kernel meanwhile is
        bounded by its small buffer. A socket's buffer can take megabytes, which would
        reach the driver at once when the reader thread woke (past what a receive flow
        can react to in time): there the reader thread does all reading."""
        reader = self._reader
        if not reader.kernel_holds_little or self._dead is not None or self._closing:
            return False
        if not self._port_lock.acquire(blocking=False):
            return False
        wait = min(timeout, WAITER_READ)
        lease = self._pull_lease = max(self._pull_lease, time.monotonic() + wait + WAITER_LEASE)
        try:
            if self.reads == seen:  # (reads are dispatched with the port lock held)
                self._read_port(wait)
        finally:
            self._port_lock.release()
        if self._pull_lease == lease:  # (not handed back meanwhile, nor taken by a stream)
            self._pull_lease = time.monotonic() + WAITER_LEASE
        return True

    def wait_for_module(self, seen: int, timeout: float) -> None:
        """Waits at most ``timeout`` seconds (and :data:`WAITER_READ`) for news from the
        module, ``seen`` being :attr:`reads` when the caller last looked at the state
        (without :attr:`cond` held): reads the port itself if it can (see
        :meth:`read_for`), else waits for the thread reading it now."""
        if self.read_for(seen, timeout):
            return
        with self.cond:
            if self.reads == seen:
                self.cond.wait(min(timeout, WAITER_READ))

    def end_pull(self) -> None:
        """The stream's readers are done with the port: the reader thread reads it now."""
        self._pull_lease = 0.0
        self._lease_end.set()

    def _read_port(
        self, timeout: float | None, room: int = 0, gather: ReadGather | None = None
    ) -> bytes:
        """One read of the port (with ``_port_lock`` held), fed to the framer and dispatched;
        returns the stream data (up to ``room`` bytes) a pulling stream reader hands over
        itself (see :meth:`pull`).

        A stream runs this once per burst: its data is handled here, not in
        :meth:`_dispatch`, with as few Python calls as it can."""
        if self._closing or self._dead is not None:
            return b""
        try:
            data = self._reader.read(timeout, gather, room or CHUNK)
        except (OSError, serial.SerialException, ValueError, TypeError) as exc:
            if not self._closing:
                self._port_failed(exc)
            return b""
        if not data:
            return b""
        trace("RX", data, secret=self._x.secret_rx or self._x.secret_late)
        sink = self.transparent_sink
        with self.cond:
            now = time.monotonic()
            # a burst of the stream (the hot path): no events, no copy
            stream = sink is not None and self.protocol.receive_stream(data, now)
            if not stream:
                actions = self.protocol.receive_data(data, now)
                self._carry_out_locked(actions)
            self.reads += 1
            self.cond.notify_all()
        if stream and sink is not None:
            try:
                return b"" if sink(data, room) else data
            except Exception:
                log.exception("handing %d bytes to the transparent stream failed", len(data))
                return b""
        kept: list[bytes] = []
        for action in actions:
            try:
                if type(action) is StreamData:
                    sink = self.transparent_sink
                    payload = action.payload
                    if sink is not None and payload and not sink(payload, room):
                        kept.append(payload)
                        room -= len(payload)
                else:
                    self.carry_out(action)
            except Exception:
                log.exception("carrying out %r failed", action)
        if not kept:
            return b""
        return kept[0] if len(kept) == 1 else b"".join(kept)

    def _port_failed(self, exc: BaseException) -> None:
        if self._dead is not None:
            return
        log.error("reading the module's port failed: %s", exc)
        with self.cond:
            self._dead = exc
            self.cond.notify_all()
        self.transparent_exited.set()
        if self.transparent_end is not None:
            self.transparent_end()

    def _carry_out_locked(self, actions: list[Action]) -> None:
        """(Under _cond, before any waiter wakes.) Events are queued first: a command that
        fails with ModuleReset finds ModuleRestarted already published."""
        for action in actions:
            if isinstance(action, Publish):
                self.router.publish(action.event)
            elif isinstance(action, WriteLatePayload):
                # nothing else may be written first: the write lock is taken before
                # the condition is let go (no thread holding it ever waits for that)
                self.line.lock.acquire()
                self._late = self.protocol.data_to_send()
            elif isinstance(action, Rebooted):
                self.line.drop_owed()  # the rebooted module waits for nothing
                self._after_reset(expected=action.expected)
            elif isinstance(action, FramingFailed):
                self.framing_errors += 1

    def carry_out(self, action: Action) -> None:
        """What an action asks of the front-end outside the lock (I/O, waking threads)."""
        if isinstance(action, WriteLatePayload):
            log.warning("late prompt of a timed-out send: writing its payload now")
            (late, secret), self._late = self._late, (b"", False)
            self.send_late_payload(late, secret)
        elif isinstance(action, Rebooted):
            self.transparent_exited.set()
            self._ready_seen.set()
        elif isinstance(action, StreamStarted):
            self.boot_prompt.set()
        elif isinstance(action, StreamEnded):
            self.transparent_exited.set()
        elif isinstance(action, FramingFailed):
            log.warning("module output broke framing (resynchronised): %s", action.error)
        elif isinstance(action, Note):
            log.log(logging.WARNING if action.warning else logging.DEBUG, "%s", action.text)

    def send_late_payload(self, payload: bytes, secret: bool) -> None:
        """Writes a claimed late payload and releases the write lock."""
        try:
            trace("TX", payload, secret=secret)
            self.line.write_held(payload)
        except ATError as exc:
            log.error("could not write the late payload: %s", exc)
        finally:
            self.line.lock.release()

    def module_was_reset(self, reason: ModuleReset, *, expected: bool = False) -> None:
        """The module rebooted: every ConID is gone (``reason`` for whoever uses one), the
        command in flight fails with ``reason`` unless the reboot was asked for, and
        :class:`ModuleRestarted` is published."""
        with self.cond:
            self.protocol.reset(reason, expected=expected)
            self.line.drop_owed()  # the rebooted module waits for nothing
            self._after_reset(expected=expected)
            self.cond.notify_all()

    def _after_reset(self, *, expected: bool) -> None:
        if not expected:
            log.warning("module reset unexpectedly: every ConID is gone")
        self.router.publish(ModuleRestarted())

    # ---- resets ------------------------------------------------------------------------

    def pad_owed_payload(self) -> None:
        """Before a reset, with a send's '>' still due or ambiguous: completes the payload
        the module may be reading or about to read (with LF bytes, blank lines if it is
        not), so the next line is a command."""
        with self.cond:
            self.protocol.pad()
            padding, _ = self.protocol.data_to_send()
        if padding:
            log.warning("padding %d payload bytes the module may still expect", len(padding))
            self.write(padding)

    def expect_ready(self) -> None:
        with self.cond:
            self._x.expect_ready = True
        self._ready_seen.clear()

    def cancel_expect_ready(self) -> None:
        with self.cond:
            self._x.expect_ready = False

    def wait_ready(self, timeout: float) -> None:
        if not self._ready_seen.wait(wait_time(timeout)):
            raise Timeout(f"the module did not print 'ready' within {timeout:g} s of AT+RST")

    # ---- transparent mode support ----------------------------------------------------------

    @property
    def mode(self) -> Mode:
        """The module's mode as far as the protocol knows (command lines, or streaming)."""
        return self.protocol.mode

    def arm_transparent(self, *, boot: bool) -> None:
        """AT+SOCKETTT (``boot``: a reset into auto-transparent mode) is about to go out."""
        with self.cond:
            self.protocol.arm_transparent(boot=boot)

    def begin_exit(self) -> bytes:
        """The guard time before ``+++`` passed: returns the bytes to write."""
        with self.cond:
            return self.protocol.begin_exit()

    def leave_transparent(self) -> None:
        """The stream is over or never began: the module's output is lines again."""
        with self.cond:
            self.protocol.leave_transparent()
