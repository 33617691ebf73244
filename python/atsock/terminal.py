"""``atsock term``: an interactive AT terminal that understands the module's output.

Like pyserial's miniterm, but line-based and AT-aware: you type a command (with line
editing and history from :mod:`readline`), it is sent with CR LF; the module's output
is framed by the core and shown as it comes — URCs marked, ``+SOCKETREAD`` payloads
decoded, the ``>`` prompt shown, after which your next line is sent as raw payload.
After ``AT+SOCKETTT``'s ``>`` the terminal is in transparent mode: each line you type
goes to the peer (with CR LF), the peer's bytes are shown as they come, and a line of
just ``+++`` leaves (sent with the guard-time silence around it). Ctrl-] (or Ctrl-D)
quits. On start it sends ``AT`` and says whether a module answered (a wrong port or
baud rate otherwise shows nothing at all); an ``ERROR`` with a code is shown with what
the code means.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

import serial

from atsock._core import Frame, FramingError, ResponseFramer
from atsock.errors import ERROR_CODES
from atsock.sync.portio import PortReader
from atsock.wiretrace import trace

QUIT = "\x1d"  # Ctrl-]
#: Silence kept before and after a typed ``+++`` (longer than any module's guard time).
ESCAPE_SILENCE = 0.3
#: What readline types for Ctrl-] (it would otherwise start a character search).
QUIT_LINE = "^]"


def describe(frame: Frame) -> str:
    """One display line for a frame (payloads as Python byte literals, never raw)."""
    kind = frame.kind
    if kind == "prompt":
        return "> (send the payload as the next line)"
    if kind == "exit":
        return "[transparent mode ended] OK"
    if kind in ("socketread", "sslcret") or (kind == "urc" and frame.payload is not None):
        payload = frame.payload or b""
        return f"{frame.text} ({len(payload)} bytes): {payload!r}"
    if kind == "urc":
        return f"[event] {frame.text}"
    if kind == "data":
        return f"[data] {frame.payload!r}"
    if kind == "error" and frame.code is not None:
        meaning = ERROR_CODES.get(frame.code, "unknown error code")
        return f"{frame.text} (error {frame.code}: {meaning})"
    return frame.text or kind


def _is_transparent_command(line: str) -> bool:
    return line.strip().upper().split("=", 1)[0] == "AT+SOCKETTT"


class Terminal:
    def __init__(self, port: serial.SerialBase, out: TextIO) -> None:
        self.port = port
        self.out = out
        self.framer = ResponseFramer()
        #: the framer is fed on the reading thread and armed from the typing one
        self.framer_lock = threading.Lock()
        self.prompted = threading.Event()
        #: AT+SOCKETTT was sent and its reply has not come yet
        self.entering = False
        #: the module is in transparent mode: typed lines are data
        self.streaming = threading.Event()
        self.stopping = False
        #: set while the start-up AT is answered: its reply is taken, not shown
        self.probing = threading.Event()
        self.answered = threading.Event()
        self.thread = threading.Thread(target=self._read, name="atsock-term", daemon=True)

    def _read(self) -> None:
        reader = PortReader(self.port)
        while not self.stopping:
            try:
                data = reader.read()
            except (OSError, serial.SerialException) as exc:
                print(f"[port closed: {exc}]", file=self.out, flush=True)
                return
            if not data:
                continue
            trace("RX", data)
            with self.framer_lock:
                try:
                    frames = self.framer.feed(data)
                except FramingError as exc:
                    frames = exc.frames
                    print(f"[framing error] {exc}", file=self.out, flush=True)
                for frame in frames:
                    self._show(frame)

    def _show(self, frame: Frame) -> None:
        """Prints one frame and follows the mode it starts or ends (framer lock held)."""
        kind = frame.kind
        if kind == "echo":
            return
        if self.probing.is_set() and kind in ("ok", "error"):
            self.probing.clear()
            self.answered.set()
            return
        if kind == "prompt" and self.entering:
            self.entering = False
            self.streaming.set()  # (the armed framer passes what follows through)
            print("> (transparent mode: each line goes to the peer; a line of +++ alone "
                  "leaves)", file=self.out, flush=True)  # fmt: skip
            return
        if kind == "prompt":
            self.prompted.set()
        elif kind in ("ok", "error") and self.entering:
            self.entering = False  # AT+SOCKETTT refused: a later '>' is a payload prompt
            self.framer.leave_passthrough()
        elif kind == "exit":
            self.streaming.clear()
        print(describe(frame), file=self.out, flush=True)

    def send(self, line: str) -> None:
        if self.streaming.is_set():
            if line == "+++":
                self._escape()
                return
            data = line.encode() + b"\r\n"  # a line to the peer
        elif self.prompted.is_set():
            self.prompted.clear()
            data = line.encode()  # raw payload after '>': exactly what was typed
        else:
            data = line.encode() + b"\r\n"
            if _is_transparent_command(line):
                with self.framer_lock:
                    self.entering = True
                    self.framer.arm_transparent()  # its '>' may share a read with data
        trace("TX", data)
        self.port.write(data)

    def _escape(self) -> None:
        """``+++`` alone, with silence around it, so the module takes it as the escape."""
        time.sleep(ESCAPE_SILENCE)
        with self.framer_lock:
            self.framer.begin_exit()  # the module's \r\nOK\r\n now ends the stream
        trace("TX", b"+++")
        self.port.write(b"+++")
        time.sleep(ESCAPE_SILENCE)

    def probe(self, url: str, timeout: float) -> bool:
        """Sends ``AT`` and says whether a module answered within ``timeout``."""
        self.probing.set()
        trace("TX", b"AT\r\n")
        self.port.write(b"AT\r\n")
        answered = self.answered.wait(timeout)
        self.probing.clear()
        if answered:
            print(f"module on {url} answers AT", file=self.out, flush=True)
        else:
            print(f"no module answering on {url}: nothing answered AT within {timeout:g} s "
                  "(wrong port or baud rate, or the module is off?); type on to send "
                  "anyway", file=self.out, flush=True)  # fmt: skip
        return answered

    def run(self, stdin: TextIO, url: str = "", timeout: float = 2.0) -> int:
        self.thread.start()
        print("atsock term — type AT commands; Ctrl-] or Ctrl-D quits.", file=self.out, flush=True)
        self.probe(url or str(self.port.port), timeout)
        try:
            while True:
                try:
                    line = input() if stdin is sys.stdin else stdin.readline().rstrip("\n")
                except EOFError:
                    break
                if QUIT in line or line.strip() == QUIT_LINE:
                    break
                if line or self.prompted.is_set() or self.streaming.is_set():
                    self.send(line)
        finally:
            self.stopping = True
            self.thread.join(1.0)
        return 0


def run_terminal(url: str, baudrate: int, out: TextIO = sys.stdout, *, timeout: float = 2.0) -> int:
    try:
        import readline  # line editing and history for input()

        readline.parse_and_bind(f'"\\C-]": "\\C-e\\C-u{QUIT_LINE}\\C-m"')
    except ImportError:
        pass
    port = serial.serial_for_url(url, baudrate=baudrate, timeout=0)
    try:
        return Terminal(port, out).run(sys.stdin, url, timeout)
    finally:
        port.close()
