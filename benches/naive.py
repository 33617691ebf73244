"""Pure-Python baselines, written the way typical Python AT drivers and emulators do it.

Every benchmark figure is a ratio against one of these, measured in the same run. They
are deliberately ordinary (a bytearray buffer, ``find``, a regex, slicing, a byte loop)
but not strawmen: each gives exactly the results atsock gives on the benchmark inputs,
which the benchmarks check before timing anything.

- :class:`NaiveFramer`: ``ResponseFramer.feed`` producing ``(kind, line, payload, id,
  code)`` tuples.
- :class:`NaiveGuard`: ``Guard`` as a byte-at-a-time loop, as pure-Python emulators watch
  a UART for ``+++``; the escape decision is taken per feed like atsock's (all bytes of
  one feed share a timestamp).
- :class:`NaivePacketizer`: ``Packetizer`` with a bytearray and slicing.
- :func:`parse_params` / :func:`format_params`: the AT parameter grammar in Python.
"""

from __future__ import annotations

import re
from typing import Optional

# (kind, line, payload, id, code): the canonical form both framers are compared in.
FrameTuple = tuple[str, Optional[bytes], Optional[bytes], Optional[int], Optional[int]]

CR, LF, SPACE, PROMPT, PLUS = 13, 10, 32, 62, 43
U32_MAX = 0xFFFF_FFFF

_HEADER = re.compile(rb"\+(SOCKETREAD,|EVENT:SocketDown,|SSLCRET:)(\d{1,20}),(\d{1,20}),")
_PAYLOAD_KIND = {b"SOCKETREAD,": "socketread", b"EVENT:SocketDown,": "urc", b"SSLCRET:": "sslcret"}
_CONNECT = re.compile(rb"connect success ConID=(\d{1,10})")
_ERROR_CODE = re.compile(rb"\+[A-Za-z0-9_]{1,23}:(\d{1,10})")
_PROMPT_FRAME: FrameTuple = ("prompt", None, None, None, None)


class NaiveFramingError(ValueError):
    """A line or a declared payload length exceeded its limit."""

    def __init__(self, message: str, frames: list[FrameTuple]) -> None:
        super().__init__(message)
        self.frames = frames


class NaiveFramer:
    """The response framer: same grammar as ``atsock.ResponseFramer`` (lines mode)."""

    def __init__(self, max_line: int = 4096, max_payload: int = 65536) -> None:
        self.max_line = max_line
        self.max_payload = max_payload
        self.buf = bytearray()
        self.after_prompt = False
        self.skipping = False
        self.pending_code: int | None = None

    def feed(self, data: bytes | bytearray | memoryview) -> list[FrameTuple]:
        buf = self.buf
        buf += data
        frames: list[FrameTuple] = []
        errors: list[str] = []
        pos, end = 0, len(buf)
        while pos < end:
            if self.skipping:
                nl = buf.find(b"\n", pos)
                if nl < 0:
                    pos = end
                    break
                pos, self.skipping = nl + 1, False
                continue
            c = buf[pos]
            if self.after_prompt:
                self.after_prompt = False
                if c == SPACE:
                    pos += 1
                    continue
            if c in (CR, LF):
                pos += 1
                continue
            if c == PROMPT:
                frames.append(_PROMPT_FRAME)
                self.after_prompt = True
                pos += 1
                continue
            if c == PLUS:
                m = _HEADER.match(buf, pos)
                if m is not None and int(m[2]) <= U32_MAX:
                    length = int(m[3])
                    start = m.end()
                    if length > self.max_payload:
                        errors.append(f"payload of {length} bytes declared")
                        pos, self.skipping = start, True
                        continue
                    if end - start < length:
                        break
                    self.pending_code = None
                    frames.append(
                        (
                            _PAYLOAD_KIND[m[1]],
                            bytes(buf[pos : start - 1]),
                            bytes(buf[start : start + length]),
                            int(m[2]),
                            None,
                        )
                    )
                    pos = start + length
                    continue
                # No header match: a header still arriving has no line end yet, so
                # the line search below waits for it either way.
            nl = buf.find(b"\n", pos)
            if nl < 0:
                if end - pos > self.max_line:
                    errors.append("line too long")
                    pos, self.skipping = end, True
                break
            stop = nl - 1 if nl > pos and buf[nl - 1] == CR else nl
            line = bytes(buf[pos:stop])
            pos = nl + 1
            if len(line) > self.max_line:
                errors.append("line too long")
                continue
            frames.append(self._classify(line))
        del buf[:pos]
        if errors:
            raise NaiveFramingError(errors[0], frames)
        return frames

    def _classify(self, line: bytes) -> FrameTuple:
        pending, self.pending_code = self.pending_code, None
        if line == b"OK":
            return ("ok", line, None, None, None)
        if line == b"ERROR":
            return ("error", line, None, None, pending)
        if line == b"ready":
            return ("ready", line, None, None, None)
        if line.startswith(b"+EVENT:"):
            self.pending_code = pending
            return ("urc", line, None, None, None)
        if line[:1] in (b"A", b"a") and line[1:2] in (b"T", b"t") and line[2:3] not in (b" ", b":"):
            return ("echo", line, None, None, None)  # "AT version:..." (AT+GMR) is info
        if line.startswith(b"[Busy]"):
            return ("busy", line, None, None, None)
        m = _CONNECT.fullmatch(line)
        if m is not None and int(m[1]) <= U32_MAX:
            return ("connect", line, None, int(m[1]), None)
        m = _ERROR_CODE.fullmatch(line)
        if m is not None and int(m[1]) <= U32_MAX:
            self.pending_code = int(m[1])
        return ("info", line, None, None, None)


class NaiveGuard:
    """``+++`` with guard time: silence >= guard before, three ``+`` within guard, silence
    >= guard after. ``feed``/``poll`` return ``(escaped_before, bytes to forward)``."""

    def __init__(self, guard_ns: int = 20_000_000) -> None:
        if guard_ns <= 0:
            raise ValueError("guard time must be positive")
        self.guard_ns = guard_ns
        self.last_byte: int | None = None
        self.held = 0
        self.t_first = 0
        self.t_last = 0

    def reset(self, now_ns: int) -> None:
        self.held = 0
        self.last_byte = now_ns

    def feed(self, data: bytes | bytearray | memoryview, now_ns: int) -> tuple[bool, bytes]:
        out = bytearray()
        pluses = 0
        for b in bytes(data):  # the byte loop: copy out, count pluses
            if b == PLUS:
                pluses += 1
            out.append(b)
        size = len(out)
        if size == 0:
            return False, b""
        all_plus = pluses == size
        guard = self.guard_ns
        escaped = False
        released = 0
        if self.held == 3:
            if max(now_ns - self.t_last, 0) >= guard:
                escaped = True
            else:
                released = 3
            self.held = 0
        elif self.held:
            total = self.held + size
            if all_plus and total <= 3 and max(now_ns - self.t_first, 0) <= guard:
                self.held = total
                self.t_last = self.last_byte = now_ns
                return False, b""
            released, self.held = self.held, 0
        silent = self.last_byte is None or max(now_ns - self.last_byte, 0) >= guard
        self.last_byte = now_ns
        if silent and all_plus and size <= 3:
            self.held = size
            self.t_first = self.t_last = now_ns
            return escaped, b"+" * released
        if released:
            out[0:0] = b"+" * released
        return escaped, bytes(out)

    def poll(self, now_ns: int) -> tuple[bool, bytes]:
        if self.held == 3 and max(now_ns - self.t_last, 0) >= self.guard_ns:
            self.held = 0
            return True, b""
        if 0 < self.held < 3 and max(now_ns - self.t_first, 0) > self.guard_ns:
            released, self.held = self.held, 0
            return False, b"+" * released
        return False, b""


class NaivePacketizer:
    """Packets of at most ``max_packet`` bytes, a partial one flushed after ``idle_ns``."""

    def __init__(self, max_packet: int = 1024, idle_ns: int = 20_000_000) -> None:
        self.max_packet = max(max_packet, 1)
        self.idle_ns = idle_ns
        self.buf = bytearray()
        self.last_byte = 0

    @property
    def pending(self) -> int:
        return len(self.buf)

    def push(self, data: bytes | bytearray | memoryview, now_ns: int) -> list[bytes]:
        if not len(data):
            return []
        self.last_byte = now_ns
        self.buf += data
        packets = []
        size = self.max_packet
        while len(self.buf) >= size:
            packets.append(bytes(self.buf[:size]))
            del self.buf[:size]
        return packets

    def poll(self, now_ns: int) -> bytes | None:
        if self.buf and max(now_ns - self.last_byte, 0) >= self.idle_ns:
            return self.flush()
        return None

    def flush(self) -> bytes | None:
        if not self.buf:
            return None
        packet = bytes(self.buf)
        self.buf.clear()
        return packet


QUOTE, BACKSLASH, COMMA = 34, 92, 44


def parse_params(data: bytes) -> list[bytes]:
    """Splits on commas; a value starting with ``"`` is quoted, ``\\`` escapes inside."""
    if not data:
        return []
    if b'"' not in data:
        return data.split(b",")
    params: list[bytes] = []
    i, n = 0, len(data)
    while True:
        if i < n and data[i] == QUOTE:
            i += 1
            value = bytearray()
            while True:
                if i >= n:
                    raise ValueError("unterminated quote")
                c = data[i]
                if c == BACKSLASH:
                    if i + 1 >= n:
                        raise ValueError("dangling escape")
                    value.append(data[i + 1])
                    i += 2
                elif c == QUOTE:
                    i += 1
                    break
                else:
                    value.append(c)
                    i += 1
            params.append(bytes(value))
            if i == n:
                return params
            if data[i] != COMMA:
                raise ValueError(f"text after closing quote at byte {i}")
            i += 1
        else:
            j = data.find(b",", i)
            if j < 0:
                params.append(data[i:])
                return params
            params.append(data[i:j])
            i = j + 1


def format_param(value: bytes) -> bytes:
    """``value`` bare when that reads back unchanged, else quoted with escapes."""
    if b"\r" in value or b"\n" in value:
        raise ValueError("parameter contains CR or LF")
    if (
        value
        and value[0] not in b" \t"
        and value[-1] not in b" \t"
        and b"," not in value
        and b'"' not in value
        and b"\\" not in value
    ):
        return value
    return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def format_params(values: list[bytes]) -> bytes:
    return b",".join([format_param(v) for v in values])
