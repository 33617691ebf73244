"""A scripted, misbehaving module on a pty: plays exact byte sequences, records everything.

The emulator behaves; real firmware does not always. :class:`FakeModule` lets a test
say exactly which bytes "the module" sends in answer to each command line, chunk by
chunk (a float between chunks is a pause, so a ``>`` or a URC really arrives in a read
of its own), and records everything the driver wrote, with timestamps.

    with FakeModule() as fake:
        fake.expect(b"AT", b"+EVENT:WIFI_GOT_IP\\r\\n", 0.02, b"OK\\r\\n")
        with atsock.Module(fake.url) as m:
            m.at()
        fake.check()  # every scripted step ran, nothing unexpected arrived

Steps are consumed in order. A step may expect ``payload`` raw bytes after its replies
(SOCKETSEND, SSLCRET): they are read and recorded, then ``after`` is played. A line
that matches no step is recorded in :attr:`unexpected` and answered with ``default``
(silence unless set). ``responder`` (a function of the line returning a Step) and
``auto`` (exact lines to canned answers) answer lines no scripted step is waiting for
(handy for property tests). Every wait is bounded.
"""

from __future__ import annotations

import errno
import os
import re
import select
import termios
import threading
import time
import tty
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from peers import Closing

#: Bound on any wait of the fake (seconds).
TIMEOUT = 2.0


@dataclass
class Step:
    line: bytes | re.Pattern[bytes] | Callable[[bytes], bool] | None
    replies: tuple[bytes | float, ...]
    payload: int | bytes = 0
    after: tuple[bytes | float, ...] = ()
    done: threading.Event = field(default_factory=threading.Event)

    def matches(self, line: bytes) -> bool:
        if self.line is None:
            return True
        if isinstance(self.line, bytes):
            return self.line == line
        if isinstance(self.line, re.Pattern):
            return self.line.fullmatch(line) is not None
        return bool(self.line(line))


class FakeModule(Closing):
    """A fake module on a pseudo-terminal; the driver opens :attr:`url`."""

    def __init__(self, *, echo: bool = False) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave, termios.TCSANOW)
        os.set_blocking(self.master, False)
        self.url = os.ttyname(self.slave)
        self.echo = echo
        #: every chunk the driver wrote, with its arrival time (time.monotonic())
        self.chunks: list[tuple[float, bytes]] = []
        #: every command line received (without CR LF)
        self.lines: list[bytes] = []
        #: raw payloads received after a prompt
        self.payloads: list[bytes] = []
        #: lines that matched no step
        self.unexpected: list[bytes] = []
        self.auto: dict[bytes, tuple[bytes | float, ...]] = {}
        self.default: tuple[bytes | float, ...] = ()
        #: called for a line no step matched (before ``auto``): a Step to play, or None
        self.responder: Callable[[bytes], Step | None] | None = None
        self._steps: deque[Step] = deque()
        self._buffer = bytearray()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-module", daemon=True)
        self._thread.start()

    # ---- scripting ----------------------------------------------------------------------

    def expect(
        self,
        line: bytes | re.Pattern[bytes] | Callable[[bytes], bool] | None,
        *replies: bytes | float,
        payload: int | bytes = 0,
        after: Sequence[bytes | float] = (),
    ) -> Step:
        """Adds a step: when ``line`` arrives (None: any line), play ``replies``; then, if
        ``payload``, read that many raw bytes (or, if bytes, everything up to and
        including that marker — transparent mode's ``+++``) and play ``after``."""
        step = Step(line, tuple(replies), payload, tuple(after))
        with self._lock:
            self._steps.append(step)
        return step

    def send(self, *chunks: bytes | float) -> None:
        """Plays bytes now, unasked (URCs, garbage, a reboot banner)."""
        self._play(chunks)

    def check(self) -> None:
        """Asserts every step ran and no line went unexpected."""
        with self._lock:
            left = [s.line for s in self._steps]
            unexpected = list(self.unexpected)
        assert not left, f"scripted steps never reached: {left!r}; lines received {self.lines!r}"
        assert not unexpected, f"unexpected lines: {unexpected!r}"

    def wait_lines(self, n: int, timeout: float = TIMEOUT) -> list[bytes]:
        """Waits until ``n`` command lines have arrived; returns them all."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.lines) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{len(self.lines)} of {n} lines: {self.lines!r}")
                self._changed.wait(remaining)
            return list(self.lines)

    @property
    def received(self) -> bytes:
        with self._lock:
            return b"".join(c for _, c in self.chunks)

    # ---- the pty side -------------------------------------------------------------------

    def _play(self, chunks: Sequence[bytes | float]) -> None:
        for chunk in chunks:
            if isinstance(chunk, (int, float)):
                time.sleep(chunk)
                continue
            view = memoryview(chunk)
            deadline = time.monotonic() + TIMEOUT
            while view and time.monotonic() < deadline:
                try:
                    n = os.write(self.master, view)
                except BlockingIOError:
                    select.select([], [self.master], [], 0.01)
                    continue
                view = view[n:]

    def _read(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return b""
        try:
            return os.read(self.master, 65536)
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno == errno.EIO:  # nobody has the slave open right now
                time.sleep(timeout)
                return b""
            raise

    def _read_raw(self, size: int | bytes) -> bytes:
        deadline = time.monotonic() + TIMEOUT

        def missing() -> bool:
            if isinstance(size, bytes):
                return self._buffer.find(size) < 0
            return len(self._buffer) < size

        while missing() and time.monotonic() < deadline and not self._stop.is_set():
            self._take_input(0.02)
        if isinstance(size, bytes):
            at = self._buffer.find(size)
            n = len(self._buffer) if at < 0 else at + len(size)
        else:
            n = size
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def _take_input(self, timeout: float) -> None:
        data = self._read(timeout)
        if data:
            with self._lock:
                self.chunks.append((time.monotonic(), data))
                self._changed.notify_all()
            self._buffer += data

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._take_input(0.02)
            except OSError:
                return
            while (end := self._buffer.find(b"\r\n")) >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 2]
                self._on_line(line)

    def _on_line(self, line: bytes) -> None:
        with self._lock:
            self.lines.append(line)
            self._changed.notify_all()
            step = self._steps[0] if self._steps else None
            if step is not None and step.matches(line):
                self._steps.popleft()
            else:
                step = None
        if self.echo:
            self._play([line + b"\r\n"])
        if step is None and self.responder is not None:
            step = self.responder(line)
        if step is None:
            canned = self.auto.get(line)
            if canned is None:
                with self._lock:
                    self.unexpected.append(line)
                canned = self.default
            self._play(canned)
            return
        self._play(step.replies)
        if step.payload:
            data = self._read_raw(step.payload)
            with self._lock:
                self.payloads.append(data)
            self._play(step.after)
        step.done.set()

    # ---- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        self._stop.set()
        self._thread.join(TIMEOUT)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
