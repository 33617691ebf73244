"""Raw AT conversations over a pyserial port, for the emulator's tests (not the driver).

:class:`Wire` wraps an open :class:`serial.Serial` (a pty or a ``socket://`` URL) and
keeps what it has read but not yet consumed, so a test can say exactly which bytes
the module sent, in which order: ``command()`` reads up to a final result,
``read_until()`` up to any marker, ``expect_prompt()`` up to the ``>`` of SOCKETSEND,
SSLCRET and transparent mode. Every read is bounded by a timeout and fails with the
transcript so far, so a silent module can never hang a test.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import serial

from atsock.sync.portio import close_port
from peers import Closing

if TYPE_CHECKING:
    from atsock.emulator import Emulator

#: Default bound on one wait for the module (seconds).
TIMEOUT = 2.0
#: How long one read of the port waits for a first byte (seconds).
POLL = 0.02
#: A final result: a whole line ``OK`` or ``ERROR`` (the latter after any ``+CMD:n``).
_FINAL = re.compile(rb"(?:^|\r\n)(OK|ERROR)\r\n")


#: The ``make_emulator`` fixture: builds a started emulator with the given options on the
#: test's transport and returns it with a raw conversation (echo off unless ``echo=``).
EmulatorFactory = Callable[..., "tuple[Emulator, Wire]"]


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that nothing listens on right now (for the module's servers)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class WireTimeout(AssertionError):
    """The module did not send what was expected in time (carries what it did send)."""


class Wire(Closing):
    """One raw conversation with the module over ``port``."""

    def __init__(self, port: serial.Serial) -> None:
        self.port = port
        self.port.timeout = POLL
        self.buffer = bytearray()

    @classmethod
    def open(cls, url: str) -> Wire:
        return cls(serial.serial_for_url(url, timeout=POLL))

    def close(self) -> None:
        close_port(self.port)

    # ---- writing ---------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        self.port.write(data)
        self.port.flush()

    def send_line(self, line: str | bytes) -> None:
        """Writes a command line with its ``\\r\\n``."""
        self.write((line.encode() if isinstance(line, str) else line) + b"\r\n")

    # ---- reading ---------------------------------------------------------------------

    def _fill(self, deadline: float) -> bool:
        """Reads what arrives next (at most one short poll); True if anything came."""
        if deadline <= time.monotonic():
            return False
        chunk = self.port.read(max(1, self.port.in_waiting))
        if chunk:
            self.buffer += chunk
        return bool(chunk)

    def _take(self, n: int) -> bytes:
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def read_until(self, marker: bytes, timeout: float = TIMEOUT) -> bytes:
        """Everything up to and including the first ``marker``."""
        deadline = time.monotonic() + timeout
        while (at := self.buffer.find(marker)) < 0:
            if time.monotonic() >= deadline:
                raise WireTimeout(
                    f"no {marker!r} within {timeout:g} s; received {bytes(self.buffer)!r}"
                )
            self._fill(deadline)
        return self._take(at + len(marker))

    def read_exactly(self, n: int, timeout: float = TIMEOUT) -> bytes:
        """The next ``n`` bytes."""
        deadline = time.monotonic() + timeout
        while len(self.buffer) < n:
            if time.monotonic() >= deadline:
                raise WireTimeout(
                    f"{len(self.buffer)} of {n} bytes within {timeout:g} s: {bytes(self.buffer)!r}"
                )
            self._fill(deadline)
        return self._take(n)

    def read_final(self, timeout: float = TIMEOUT) -> bytes:
        """Everything up to and including the next final result line (``OK``/``ERROR``)."""
        deadline = time.monotonic() + timeout
        while (match := _FINAL.search(self.buffer)) is None:
            if time.monotonic() >= deadline:
                raise WireTimeout(
                    f"no final result within {timeout:g} s; received {bytes(self.buffer)!r}"
                )
            self._fill(deadline)
        return self._take(match.end())

    def command(
        self, line: str | bytes, expect: bytes | None = b"OK\r\n", timeout: float = TIMEOUT
    ) -> bytes:
        """Sends ``line``; returns the reply up to its final result.

        With ``expect`` (the default ``OK``), the reply must end with it; pass the
        whole error tail (``b"+SOCKET:97\\r\\nERROR\\r\\n"``) to check a failure, or
        ``None`` to accept any final result.
        """
        self.send_line(line)
        reply = self.read_final(timeout)
        if expect is not None and not reply.endswith(expect):
            raise AssertionError(f"{line!r}: expected a reply ending {expect!r}, got {reply!r}")
        return reply

    def expect_prompt(self, timeout: float = TIMEOUT) -> bytes:
        """Reads up to the ``>`` prompt; returns what came before it (URCs, echo)."""
        return self.read_until(b">", timeout)[:-1]

    def drain(self, quiet: float = 0.1, timeout: float = TIMEOUT) -> bytes:
        """Everything the module sends until it has been silent for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        quiet_until = time.monotonic() + quiet
        while time.monotonic() < min(quiet_until, deadline):
            if self._fill(min(quiet_until, deadline)):
                quiet_until = time.monotonic() + quiet
        return self._take(len(self.buffer))

    def assert_silent(self, duration: float = 0.1) -> None:
        """Fails if the module sends anything within ``duration``."""
        got = self.drain(quiet=duration, timeout=duration)
        if got:
            raise AssertionError(f"expected silence, received {got!r}")

    # ---- conveniences ----------------------------------------------------------------

    def open_socket(self, params: str, timeout: float = TIMEOUT) -> int:
        """``AT+SOCKET=<params>``; returns the ConID of ``connect success ConID=N``."""
        reply = self.command(f"AT+SOCKET={params}", timeout=timeout)
        match = re.search(rb"connect success ConID=(\d+)\r\nOK\r\n$", reply)
        if match is None:
            raise AssertionError(f"AT+SOCKET={params}: unexpected reply {reply!r}")
        return int(match.group(1))

    def set_certificate(self, slot: int, pem: bytes) -> None:
        """``AT+SSLCRET=<slot>,<len>``, the prompt, the certificate bytes, ``OK``."""
        self.send_line(f"AT+SSLCRET={slot},{len(pem)}")
        self.expect_prompt()
        self.write(pem)
        assert self.read_final() == b"\r\nOK\r\n"
