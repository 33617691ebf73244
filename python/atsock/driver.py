"""``ModuleCore``: the machinery the driver of one Wi-Fi module runs on.

One reader thread hands everything the module prints to the sans-I/O
:class:`~atsock.protocol.machine.ModuleProtocol` (which frames it with the Rust core and
decides what it means: the command in flight, late prompts and replies, the ConID
table, the mode), and this file carries out its actions: replies reach the waiting
command (one at a time, callers in turn), URCs become typed events (a bounded queue and
callbacks), transparent-mode data goes to the open stream. A thread reading that stream
reads the port itself (:meth:`ModuleCore.pull`) while the reader thread naps: a chunk
then reaches the user without a hand-off between threads. Every wait is bounded by a
timeout. The typed command methods live in :mod:`atsock.module`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import serial

from atsock._core import FramingError
from atsock.deadline import DEFAULT, Wait, as_budget, budget_of, wait_time
from atsock.errors import ATError, CommandError, ModuleReset, SocketClosed, Timeout
from atsock.events import EventQueue
from atsock.gather import ReadGather
from atsock.linewriter import LineWriter
from atsock.portio import CHUNK, PortReader, WriteStalled, close_port, uart_rate
from atsock.protocol.conns import Conn
from atsock.protocol.exchange import Pending, command_name
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
from atsock.protocol.rules import GUARD_MARGIN, GUARD_TIME
from atsock.protocol.state import Mode
from atsock.turns import Turns
from atsock.types import Event, ModuleRestarted, ReceiveMode, SocketType
from atsock.wiretrace import trace

log = logging.getLogger(__name__)

#: How long the reader thread leaves the port to a stream reader that pulled it last.
PULL_LEASE = 0.05
#: Longest close() waits for a read under way before it closes the port anyway (a read
#: lasts at most a stream reader's pull; a late payload's write can take longer).
CLOSE_READ_WAIT = 1.0
#: Default ``stream_gather``: at 4 Mbaud, two of the paced emulator's bursts (8 KB).
STREAM_GATHER = 0.02
#: Pause before re-sending a command the module refused with ``[Busy]Cmd running``.
BUSY_RETRY = 0.05
#: Longest the next command waits for the late reply of one that failed unanswered.
RESYNC_WAIT = 0.5

EventCallback = Callable[[Event], None]


class ModuleCore:
    """The port, the reader thread, the command machinery and the event plumbing."""

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
        if not stream_gather >= 0:
            raise ValueError("stream_gather must be 0 (off) or a positive number of seconds")
        #: longest a transparent stream's reader waits between port reads while the peer
        #: streams, to take several bursts per wake-up (see :mod:`atsock.gather`)
        self.stream_gather = stream_gather
        #: every command's default timeout (seconds); ``math.inf`` if given as None
        self.timeout = as_budget(timeout)
        self.exit_delay = exit_delay
        self.serial: serial.SerialBase
        if isinstance(port, str):
            self.serial = serial.serial_for_url(
                port, baudrate=baudrate, timeout=0, **serial_options
            )
        else:
            self.serial = port
        #: every write goes through it: paced, bounded, what a stall left kept as owed
        self._line = LineWriter(self.serial, link_rate or getattr(self.serial, "link_rate", None))
        #: bytes/s of the line as far as the driver knows (the link rate, or a real serial
        #: port's baud rate); None if unknown (a pty, a TCP port)
        self.line_rate = self.link_rate or uart_rate(self.serial)
        #: the module's ``+++`` guard time: as given, or as the port knows it (``emu://``)
        if guard_time is None:
            guard_time = getattr(self.serial, "guard_time", None) or GUARD_TIME
        self.guard_time = guard_time
        self.events = EventQueue(max_events)
        self.framing_errors = 0
        #: held around every port read and what it feeds and dispatches (in read order)
        self._port_lock = threading.Lock()
        #: until then (monotonic) a stream reader pulls the port: the reader thread naps
        self._pull_lease = 0.0
        #: set to end the reader thread's nap at once (the stream ends, the module closes)
        self._lease_end = threading.Event()
        #: one command at a time, callers first come first served (see atsock.turns)
        self._turns = Turns()
        self._cond = threading.Condition()
        #: the protocol's state (under _cond): the command in flight and what timed-out
        #: ones leave behind (_x), every ConID's bookkeeping and the receive mode (_table)
        self._protocol = ModuleProtocol()
        self._x = self._protocol.exchange
        self._table = self._protocol.conns
        self._callbacks: list[EventCallback] = []
        self._callback_queue: EventQueue | None = None
        self._ready_seen = threading.Event()
        self._dead: BaseException | None = None
        self._closing = False
        self._exit_time = 0.0
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
        if self._callback_queue is not None:
            self._callback_queue.put(ModuleRestarted())  # wakes the dispatcher; it sees _closing
        # no read may be under way when the descriptor closes: its number can be reused at
        # once, and a read then would take another file's bytes (a read sees _closing first)
        held = self._port_lock.acquire(timeout=CLOSE_READ_WAIT)
        try:
            self._close_port()
        finally:
            if held:
                self._port_lock.release()
        with self._cond:
            self._table.close()
            self._cond.notify_all()

    def _close_port(self) -> None:
        try:
            self._line.close()
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
        return self._line.link_rate

    # ---- writing ----------------------------------------------------------------------

    def write(self, data: bytes, *, secret: bool = False, deadline: float = math.inf) -> None:
        """Writes raw bytes to the module (the caller owns the protocol state).

        With a ``deadline`` (monotonic) a module that stops reading its port raises
        :class:`~atsock.portio.WriteStalled` when it passes; the bytes it did not take
        are owed (it waits for them) and go out first on the next write."""
        if self._dead is not None:
            raise ATError(f"the module's port failed: {self._dead}") from self._dead
        trace("TX", data, secret=secret)
        with self._cond:
            self._x.wrote(len(data))
        self._line.write(data, deadline)

    def drain(self) -> float:
        """Waits until written bytes have left the host (or, on a pty, are estimated to);
        returns when the last of them reached the module, as far as the host can tell."""
        return self._line.drain()

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
        read may first wait for more of a stream's bursts (see :mod:`atsock.gather`).

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
        with self._cond:
            actions = self._protocol.receive_data(data, time.monotonic())
            self._carry_out_locked(actions)
            self._cond.notify_all()
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
                    self._carry_out(action)
            except Exception:
                log.exception("carrying out %r failed", action)
        if not kept:
            return b""
        return kept[0] if len(kept) == 1 else b"".join(kept)

    def _port_failed(self, exc: BaseException) -> None:
        if self._dead is not None:
            return
        log.error("reading the module's port failed: %s", exc)
        with self._cond:
            self._dead = exc
            self._cond.notify_all()
        self.transparent_exited.set()
        if self.transparent_end is not None:
            self.transparent_end()

    def _carry_out_locked(self, actions: list[Action]) -> None:
        """(Under _cond, before any waiter wakes.) Events are queued first: a command that
        fails with ModuleReset finds ModuleRestarted already published."""
        for action in actions:
            if isinstance(action, Publish):
                self._publish(action.event)
            elif isinstance(action, WriteLatePayload):
                # nothing else may be written first: the write lock is taken before
                # _cond is let go (no thread holding it ever waits for _cond)
                self._line.lock.acquire()
            elif isinstance(action, Rebooted):
                self._line.drop_owed()  # the rebooted module waits for nothing
                self._after_reset(expected=action.expected)
            elif isinstance(action, FramingFailed):
                self.framing_errors += 1

    def _carry_out(self, action: Action) -> None:
        """What an action asks of the front-end outside the lock (I/O, waking threads)."""
        if isinstance(action, WriteLatePayload):
            log.warning("late prompt of a timed-out send: writing its payload now")
            self._send_late_payload(*action.payload)
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

    def _send_late_payload(self, payload: bytes, secret: bool) -> None:
        """Writes a claimed late payload and releases the write lock."""
        try:
            trace("TX", payload, secret=secret)
            self._line.write_held(payload)
        except ATError as exc:
            log.error("could not write the late payload: %s", exc)
        finally:
            self._line.lock.release()

    def module_was_reset(self, reason: ModuleReset, *, expected: bool = False) -> None:
        """The module rebooted: every ConID is gone (``reason`` for whoever uses one), the
        command in flight fails with ``reason`` unless the reboot was asked for, and
        :class:`ModuleRestarted` is published."""
        with self._cond:
            self._protocol.reset(reason, expected=expected)
            self._line.drop_owed()  # the rebooted module waits for nothing
            self._after_reset(expected=expected)
            self._cond.notify_all()

    def _after_reset(self, *, expected: bool) -> None:
        if not expected:
            log.warning("module reset unexpectedly: every ConID is gone")
        self._publish(ModuleRestarted())

    def _publish(self, event: Event) -> None:
        self.events.put(event)
        if self._callback_queue is not None:
            self._callback_queue.put(event)

    # ---- callbacks ---------------------------------------------------------------------

    def on_event(self, callback: EventCallback) -> None:
        """Calls ``callback(event)`` for every event, on a dispatcher thread of its own
        (so a callback may run module commands)."""
        self._callbacks.append(callback)
        if self._callback_queue is None:
            self._callback_queue = EventQueue()
            threading.Thread(target=self._run_callbacks, name="atsock-events", daemon=True).start()

    def _run_callbacks(self) -> None:
        assert self._callback_queue is not None
        while not self._closing:
            try:
                event = self._callback_queue.get(timeout=0.2)
            except TimeoutError:
                continue
            if self._closing:
                return
            for callback in list(self._callbacks):
                try:
                    callback(event)
                except Exception:
                    log.exception("event callback %r failed", callback)

    # ---- commands ----------------------------------------------------------------------

    def execute(
        self,
        line: bytes,
        *,
        timeout: Wait = DEFAULT,
        payload: bytes | None = None,
        secret: bool = False,
        secret_reply: bool = False,
        secret_line: bool = False,
        until_prompt: bool = False,
    ) -> Pending:
        """Sends one command line, waits for its final result and returns what came back.

        ``payload`` is written after the ``>`` prompt; ``until_prompt`` returns as soon as
        the prompt arrives (AT+SOCKETTT). ``[Busy]Cmd running`` is retried until the
        timeout. Raises :class:`CommandError` on ``ERROR``, :class:`Timeout`,
        :class:`ModuleReset`, or the framing error that garbled the reply.
        """
        if b"\r" in line or b"\n" in line:
            raise ValueError("a command line cannot contain CR or LF")
        budget = budget_of(timeout, self.timeout)
        deadline = time.monotonic() + budget
        with self._command_turn(line, deadline, budget):
            # checked under the lock: a command queued behind AT+SOCKETTT must not go out
            # once the module streams (its line would reach the peer as data)
            if not self._protocol.may_send(line):
                raise ATError("the module is in transparent mode: close the stream first")
            self._pay_owed(line, deadline, budget)
            self._settle(deadline)
            if payload is not None or until_prompt:
                self._await_late_prompt(deadline, budget)
            elif line != b"AT+RST":  # (a reset pads what the module may wait for)
                self._await_prompt_settled(line, deadline, budget)
                self._await_late_reply(line, deadline, budget)
            if time.monotonic() >= deadline:  # a reply could not come in time: not sent
                raise Timeout(f"{command_name(line)}: not sent, its {budget:g} s ran out first")
            after_busy = False
            while True:
                wants_prompt = payload is not None or until_prompt
                pending = Pending(
                    line,
                    after_busy=after_busy,
                    wants_prompt=wants_prompt,
                    enters_stream=until_prompt,
                    opens_socket=line.startswith(b"AT+SOCKET="),
                )
                with self._cond:  # (the echo of a secret line repeats it)
                    self._x.start(pending, secret_rx=secret_reply or secret_line)
                payload_sent = False
                try:
                    self._write_in_time(line + b"\r\n", secret_line, deadline, budget, line)
                    if payload is not None or until_prompt:
                        self._wait(pending, deadline, budget, lambda p: p.prompted)
                        if until_prompt and pending.prompted:
                            return pending  # (the protocol took the '>' as the stream's start)
                        if pending.prompted and payload is not None:
                            payload_sent = True  # all of it goes, if need be later (owed)
                            self._write_in_time(payload, secret, deadline, budget, line)
                    self._wait(pending, deadline, budget, lambda p: False)
                except Timeout as exc:
                    if payload is not None:
                        exc.sent = len(payload) if payload_sent else 0
                    with self._cond:  # one decision, with the reader thread held off
                        claimed, streaming = self._x.gave_up(
                            pending,
                            payload=payload,
                            payload_sent=payload_sent,
                            secret=secret,
                            until_prompt=until_prompt,
                        )
                        if claimed is not None:  # its '>' came as the wait gave up
                            self._line.lock.acquire()
                        self._cond.notify_all()
                    if claimed is not None:
                        self._send_late_payload(*claimed)
                    if streaming:  # the module entered transparent mode as the wait gave up
                        return pending
                    self._timed_out()
                    raise
                finally:
                    with self._cond:
                        self._x.end(pending, secret_reply=secret_reply)
                if pending.busy and pending.final is None:
                    if time.monotonic() + BUSY_RETRY >= deadline:
                        raise Timeout(f"{pending.name}: module still busy after {budget:g} s")
                    time.sleep(BUSY_RETRY)
                    after_busy = True
                    continue
                with self._cond:
                    self._x.answered()
                return self._finish(pending)

    def _write_in_time(
        self, data: bytes, secret: bool, deadline: float, budget: float, line: bytes
    ) -> None:
        """Writes a command's line or payload; Timeout if the module stops taking bytes
        for the rest of the command's time (what it did not take goes out later)."""
        try:
            self.write(data, secret=secret, deadline=deadline)
        except WriteStalled as stall:
            raise Timeout(
                f"{command_name(line)}: the module stopped reading its port after "
                f"{stall.written} of {len(data)} bytes and took no more within {budget:g} s "
                "(its buffers are full: is the peer not reading?); the rest goes out "
                "before the next command"
            ) from None

    def _pay_owed(self, line: bytes, deadline: float, budget: float) -> None:
        """Before a command: the rest of a stalled write goes out (the module waits for
        it); the command it completes answers late."""
        try:
            if self._line.write_owed(deadline):
                with self._cond:
                    self._x.wrote_late()
        except WriteStalled:
            raise Timeout(
                f"{command_name(line)}: not sent, the module still has not taken the rest "
                f"of an earlier command within {budget:g} s (is the peer not reading?)"
            ) from None

    def _await_late_reply(self, line: bytes, deadline: float, budget: float) -> None:
        """The reply of a command whose bytes went out late (a stalled write's rest, a
        late payload) is waited for: it would be taken for this one's."""
        self._wait_while(
            self._x.late_reply_due,
            deadline,
            f"{command_name(line)}: not sent, the module has not answered an earlier "
            f"command it took late within {budget:g} s",
        )

    def _wait_while(self, busy: Callable[[], bool], deadline: float, why: str) -> None:
        """Waits while ``busy()`` (checked with ``_cond`` held); Timeout(why) at the
        deadline."""
        with self._cond:
            while busy():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Timeout(why)
                self._cond.wait(wait_time(remaining))

    def _settle(self, deadline: float) -> None:
        """Before a command line goes out: the module is taken out of a transparent mode
        it entered late, keeps its quiet after leaving transparent mode, and a late reply
        of a command that timed out is waited for (briefly)."""
        for _ in range(2):  # (a late '>' may come while the late reply is waited for)
            if self._x.tt_stray:
                self._leave_stray_transparent()
            wait = self._exit_time - time.monotonic()
            if wait > 0:  # the firmware wants quiet after leaving transparent mode
                time.sleep(wait)
            self._await_resync(deadline)
            if not self._x.tt_stray:
                return

    def _leave_stray_transparent(self) -> None:
        """The module entered transparent mode after its AT+SOCKETTT timed out (the
        stream was never handed out): ``+++`` with the guard-time silence around it takes
        it back to command mode; the next command waits for its OK and the exit delay."""
        with self._cond:
            self._x.tt_stray = False
        silence = self.guard_time * GUARD_MARGIN
        self.drain()
        time.sleep(silence)
        self.write(b"+++")
        self.drain()
        time.sleep(silence)
        with self._cond:
            self._x.timed_out()  # its '\r\nOK\r\n' is still to come
        self.mark_transparent_exit()

    @contextlib.contextmanager
    def _command_turn(self, line: bytes, deadline: float, budget: float) -> Iterator[None]:
        """Holds the module's turn (one command in flight), waiting for other threads'
        commands no longer than this command's own timeout."""
        if not self._turns.acquire(deadline):
            raise Timeout(
                f"{command_name(line)}: not sent, other commands held the module for all "
                f"of its {budget:g} s"
            )
        try:
            yield
        finally:
            self._turns.release()

    @contextlib.contextmanager
    def turn(self, timeout: Wait = DEFAULT) -> Iterator[None]:
        """Holds the module for several commands of this thread in a row (others wait
        their turn, first come first served): ``with module.turn(): ...``."""
        budget = budget_of(timeout, self.timeout)
        with self._command_turn(b"a turn", time.monotonic() + budget, budget):
            yield

    def _await_late_prompt(self, deadline: float, budget: float) -> None:
        """A command that takes a payload is sent only once no earlier send may still
        prompt: otherwise its '>' could be the earlier one's, and its payload would reach
        the module while it reads command lines — data turned into commands."""
        with self._cond:
            # also the final reply of a command that timed out: taken for this command's
            # it would end the wait for our '>' with the payload never sent
            x = self._x
            while (x.late_payload is not None or x.late_reply_due()) and not x.prompt_ambiguous:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(wait_time(remaining))
            if x.late_reply_due() and not x.prompt_ambiguous:
                raise Timeout(
                    "an earlier command that timed out is still unanswered; no payload is "
                    f"sent until its reply comes or the module is reset (waited {budget:g} s)"
                )
            if self._x.late_payload is not None or self._x.prompt_ambiguous:
                raise ATError(
                    "an earlier send timed out before the module's '>' prompt, and the module "
                    "may still take the next bytes as its payload; no payload is sent until "
                    "it is reset (Module.reset()) or its late prompt comes "
                    f"(waited {budget:g} s)"
                )

    def _await_prompt_settled(self, line: bytes, deadline: float, budget: float) -> None:
        """A command line goes out only once no earlier send may still prompt: after a
        late '>' the module would take the line as that send's payload (sent to the peer,
        the command lost)."""
        self._wait_while(
            self._x.prompt_unsettled,
            deadline,
            f"{command_name(line)}: not sent, an earlier send timed out before the "
            "module's '>' prompt and the module may still take the next bytes as its "
            f"payload (waited {budget:g} s for that prompt; Module.reset() starts afresh)",
        )

    def _await_resync(self, deadline: float) -> None:
        """After a command that failed unanswered, waits (once, briefly) for its late
        reply or a quiet line, so that reply is not taken for the next command's."""
        with self._cond:
            if not self._x.resync:
                return
            self._x.resync = False
            started = time.monotonic()
            limit = min(deadline, started + RESYNC_WAIT)
            while self._x.orphaned and not self._x.tt_stray:
                now = time.monotonic()
                quiet_until = self._protocol.resync_until(started)
                if now >= quiet_until or now >= limit:
                    return
                self._cond.wait(min(quiet_until, limit) - now)

    def _timed_out(self) -> None:
        """A command got no (complete) reply: the protocol decides what may still come."""
        with self._cond:
            actions = self._protocol.timeout(time.monotonic())
        for action in actions:
            self._carry_out(action)

    def _wait(
        self, pending: Pending, deadline: float, budget: float, done: Callable[[Pending], bool]
    ) -> None:
        with self._cond:
            while not (done(pending) or pending.final is not None or pending.busy):
                if pending.failure is not None and not isinstance(pending.failure, FramingError):
                    raise pending.failure
                if self._dead is not None:
                    raise ATError(f"the module's port failed: {self._dead}") from self._dead
                if self._closing:
                    raise ATError("the module was closed")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise Timeout(f"{pending.name}: no reply from the module within {budget:g} s")
                self._cond.wait(wait_time(remaining))

    def _finish(self, pending: Pending) -> Pending:
        final = pending.final
        assert final is not None
        if pending.failure is not None:
            raise pending.failure
        if final.kind == "error":
            detail = next(
                (f.text for f in pending.frames if f.text and f.text.startswith("Unknown cmd")),
                None,
            )
            raise CommandError(pending.name, final.code, detail)
        return pending

    # ---- ConID bookkeeping (for socket objects) --------------------------------------------

    def dropped(self, con_id: int | None = None) -> int:
        """Received bytes the driver had to throw away for ``con_id`` (all ConIDs, since
        the module was opened, if None) because nobody read them and the buffer
        (:data:`~atsock.protocol.conns.RX_BUFFER_MAX` per ConID, active receive mode) was
        full. Each drop is also logged as a warning."""
        with self._cond:
            return self._table.dropped_total if con_id is None else self._table.dropped(con_id)

    @property
    def receive_mode(self) -> ReceiveMode:
        """The module's receive mode as far as the driver knows (a reset makes it passive)."""
        return self._table.receive_mode

    def _set_receive_mode(self, mode: ReceiveMode) -> ReceiveMode:
        """Records the mode the module took; returns the one it had."""
        with self._cond:
            was, self._table.receive_mode = self._table.receive_mode, mode
            return was

    def conn(self, con_id: int) -> Conn:
        with self._cond:
            return self._table.ensure(con_id)

    def fresh_conn(self, con_id: int, stype: SocketType, *, announced: bool) -> None:
        """A new connection got ``con_id``: nothing of an earlier one on it carries over.
        ``announced``: its ``connect success`` line came, and the reader thread renewed the
        ConID then (events after it, such as data the peer sent at once, are kept)."""
        with self._cond:
            if not announced:
                self._table.renew(con_id)
            conn = self._table.get(con_id)
            if conn is not None:  # (None: already closed and deleted by the module)
                conn.type = stype
            self._cond.notify_all()

    def packet_read(self, con_id: int, got: bool) -> None:
        """AT+SOCKETREAD answered: one announced packet fewer, or none left if it was empty."""
        with self._cond:
            self._table.packet_read(con_id, got)

    def cancel_expect_ready(self) -> None:
        with self._cond:
            self._x.expect_ready = False

    def forget(self, con_id: int, reason: BaseException) -> None:
        with self._cond:
            self._table.forget(con_id, reason)
            self._cond.notify_all()

    def known(self, con_id: int) -> bool:
        with self._cond:
            conn = self._table.get(con_id)
            return conn is not None and conn.gone is None and conn.type is not None

    def wait_conn(
        self,
        con_id: int,
        ready: Callable[[Conn], bool],
        timeout: float | None,
        *,
        expect: Conn | None = None,
    ) -> Conn:
        """Waits until ``ready(conn)`` (or the ConID is gone); Timeout after ``timeout``.

        With ``expect``, the wait is for that very connection: once it is gone (deleted,
        module reset), a new connection that reuses the ConID is not it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if expect is not None and expect.gone is not None:
                    raise expect.gone
                conn = self._table.get(con_id)
                if conn is None or (expect is not None and conn is not expect):
                    raise SocketClosed(f"ConID {con_id} is gone")
                if conn.gone is not None:
                    raise conn.gone
                if ready(conn):
                    return conn
                if self._dead is not None:
                    raise ATError(f"the module's port failed: {self._dead}") from self._dead
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise Timeout(f"ConID {con_id}: nothing within {timeout:g} s")
                self._cond.wait(remaining if remaining is not None else 1.0)

    def take_seed(self, server_id: int, timeout: float | None, *, expect: Conn) -> int:
        """Waits for a client of server ``server_id`` and takes its seed's ConID: each seed
        goes to exactly one caller, however many threads accept at once."""
        taken: list[int] = []

        def take(conn: Conn) -> bool:  # (called with _cond held)
            if conn.seeds:
                taken.append(conn.seeds.popleft())
            return bool(taken)

        self.wait_conn(server_id, take, timeout, expect=expect)
        return taken[0]

    def return_seed(self, server_id: int, seed_id: int) -> None:
        """Puts a taken seed back first in line (its accept failed before returning it)."""
        with self._cond:
            conn = self._table.get(server_id)
            if conn is not None and conn.gone is None:
                conn.seeds.appendleft(seed_id)
                self._cond.notify_all()

    def take_buffered(self, con_id: int, limit: int) -> bytes:
        """Up to ``limit`` bytes of data the module already delivered for ``con_id``."""
        with self._cond:
            return self._table.take_buffered(con_id, limit)

    def store_buffered(self, con_id: int, data: bytes, *, at: int = 0) -> None:
        """Puts read data in front of what is buffered for ``con_id`` (or at offset ``at``)."""
        with self._cond:
            self._table.store_buffered(con_id, data, at=at)
            self._cond.notify_all()

    def announced(self, *, every: bool = False) -> dict[int, int]:
        """ConIDs with packets announced (passive mode) and not read (``every``: all
        ConIDs), with the length of what is buffered for each."""
        with self._cond:
            return self._table.announced(every=every)

    def publish(self, event: Event) -> None:
        """Hands an event to the queue and the callbacks as if the module had sent it."""
        self._publish(event)

    def pad_owed_payload(self) -> None:
        """Before a reset, with a send's '>' still due or ambiguous: completes the payload
        the module may be reading or about to read (with LF bytes, blank lines if it is
        not), so the next line is a command."""
        with self._cond:
            owed = self._x.padding()
        if owed:
            log.warning("padding %d payload bytes the module may still expect", owed)
            self.write(b"\n" * owed)

    def expect_ready(self) -> None:
        with self._cond:
            self._x.expect_ready = True
        self._ready_seen.clear()

    def wait_ready(self, timeout: float) -> None:
        if not self._ready_seen.wait(wait_time(timeout)):
            raise Timeout(f"the module did not print 'ready' within {timeout:g} s of AT+RST")

    # ---- transparent mode support ----------------------------------------------------------

    @property
    def mode(self) -> Mode:
        """The module's mode as far as the protocol knows (command lines, or streaming)."""
        return self._protocol.mode

    def arm_transparent(self, *, boot: bool) -> None:
        """AT+SOCKETTT (``boot``: a reset into auto-transparent mode) is about to go out."""
        with self._cond:
            self._protocol.arm_transparent(boot=boot)

    def begin_exit(self) -> bytes:
        """The guard time before ``+++`` passed: returns the bytes to write."""
        with self._cond:
            return self._protocol.begin_exit()

    def leave_transparent(self) -> None:
        """The stream is over or never began: the module's output is lines again."""
        with self._cond:
            self._protocol.leave_transparent()

    def mark_transparent_exit(self) -> None:
        self._exit_time = time.monotonic() + self.exit_delay
