"""Type stubs of the Rust core (kept honest by ``python -m mypy.stubtest atsock._core``)."""

from collections.abc import Iterable, Iterator
from typing import Literal, final, overload

from typing_extensions import Buffer

__all__ = [
    "DEFAULT_GUARD_NS",
    "DEFAULT_IDLE_NS",
    "DEFAULT_MAX_LINE",
    "DEFAULT_MAX_PACKET",
    "DEFAULT_MAX_PAYLOAD",
    "MAX_COMMAND_LINE",
    "ATError",
    "CommandFramer",
    "Frame",
    "FrameBatch",
    "FramingError",
    "Guard",
    "Packetizer",
    "PatternWatch",
    "ResponseFramer",
    "__version__",
    "_frame_count",
    "build_profile",
    "format_param",
    "format_params",
    "needs_quoting",
    "parse_params",
]

__version__: str
DEFAULT_MAX_LINE: int
"""Default longest line accepted from the module, in bytes (``ResponseFramer``): 4096."""

DEFAULT_MAX_PAYLOAD: int
"""Default largest length-prefixed payload, in bytes (``ResponseFramer``): 65536."""

DEFAULT_GUARD_NS: int
"""Default guard time of the ``+++`` escape, in ns (``Guard``): 20 ms."""

DEFAULT_MAX_PACKET: int
"""Default largest packet, in bytes (``Packetizer``): 1024."""

DEFAULT_IDLE_NS: int
"""Default idle time after which a partial packet is flushed, in ns (``Packetizer``): 20 ms."""

MAX_COMMAND_LINE: int
"""The longest command line the firmware accepts, in bytes without terminator: 256."""

_FrameKind = Literal[
    "ok",
    "error",
    "echo",
    "info",
    "ready",
    "busy",
    "connect",
    "prompt",
    "urc",
    "socketread",
    "sslcret",
    "data",
    "exit",
]

class ATError(Exception):
    """Base class of every error atsock raises about the module or its protocol."""

class FramingError(ATError):
    """The module's output broke the framing rules; the framer has resynchronised."""

    frames: list[Frame]

@final
class Frame:
    """One unit of the module's output."""

    @property
    def kind(self) -> _FrameKind: ...
    @property
    def line(self) -> bytes | None: ...
    @property
    def text(self) -> str | None: ...
    @property
    def payload(self) -> bytes | None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def fields(self) -> list[str]: ...
    @property
    def id(self) -> int | None: ...
    @property
    def code(self) -> int | None: ...

@final
class FrameBatch:
    """The frames of one ``ResponseFramer.feed_batch()`` call, held in Rust.

    ``kinds`` and ``payloads`` build one tuple each (anew on each access); ``batch[i]``
    makes a full ``Frame``. Neither the batch nor its frames are tracked by the
    garbage collector: a process can keep many without slowing its collections.
    """

    def __len__(self) -> int: ...
    def __getitem__(self, index: int, /) -> Frame: ...
    def __iter__(self) -> Iterator[Frame]: ...
    @property
    def kinds(self) -> tuple[_FrameKind, ...]: ...
    @property
    def payloads(self) -> tuple[bytes | None, ...]: ...

@final
class ResponseFramer:
    """Incremental framer of the module's output (module → host)."""

    def __new__(cls, max_line: int = ..., max_payload: int = ...) -> ResponseFramer: ...
    def feed(self, data: Buffer) -> list[Frame]: ...
    def feed_batch(self, data: Buffer) -> FrameBatch: ...
    def arm_transparent(self) -> None: ...
    def enter_passthrough(self) -> None: ...
    def begin_exit(self) -> None: ...
    def leave_passthrough(self) -> None: ...
    def reset(self) -> None: ...
    @property
    def passthrough(self) -> bool:
        """Whether every byte is passthrough data (transparent mode)."""
    @property
    def exit_pending(self) -> bool:
        """Whether a ``+++`` went out and the module's ``\\r\\nOK\\r\\n`` now ends passthrough."""
    @property
    def armed(self) -> bool:
        """Whether the next ``>`` prompt starts passthrough (``arm_transparent()`` was called)."""
    @property
    def streaming(self) -> bool:
        """Whether the next feed, whatever it holds, is one data frame of exactly its bytes
        (passthrough, no exit pending, nothing buffered)."""
    @property
    def pending(self) -> int: ...
    @property
    def max_line(self) -> int:
        """The longest line accepted from the module, in bytes."""
    @property
    def max_payload(self) -> int:
        """The largest length-prefixed payload accepted, in bytes."""

@final
class Guard:
    """``+++`` escape detector with guard time (host → module stream, transparent mode)."""

    def __new__(cls, guard_ns: int = ...) -> Guard: ...
    def feed(self, data: Buffer, now_ns: int) -> tuple[bool, bytes]: ...
    def poll(self, now_ns: int) -> tuple[bool, bytes]: ...
    def reset(self, now_ns: int) -> None: ...
    @property
    def deadline(self) -> int | None: ...
    @property
    def held(self) -> int:
        """How many ``+`` bytes are held as a possible escape."""
    @property
    def guard_ns(self) -> int:
        """The guard time, in ns."""

@final
class Packetizer:
    """Packets of at most ``max_packet`` bytes, flushed early after ``idle_ns``."""

    def __new__(cls, max_packet: int = ..., idle_ns: int = ...) -> Packetizer: ...
    def push(self, data: Buffer, now_ns: int) -> list[bytes]: ...
    def poll(self, now_ns: int) -> bytes | None: ...
    def flush(self) -> bytes | None: ...
    @property
    def deadline(self) -> int | None: ...
    @property
    def pending(self) -> int:
        """How many bytes wait for the packet to fill or the input to go idle."""
    @property
    def max_packet(self) -> int:
        """The largest packet emitted, in bytes."""
    @property
    def idle_ns(self) -> int:
        """The idle time after which a partial packet is flushed, in ns."""

@final
class CommandFramer:
    """The module side of the UART: command lines, and raw bytes after a prompt."""

    def __new__(cls, max_line: int = ...) -> CommandFramer: ...
    def push(self, data: Buffer) -> None: ...
    def next_event(self) -> tuple[Literal["line", "raw"], bytes] | None: ...
    def expect_raw(self, n: int) -> None: ...
    @property
    def raw_remaining(self) -> int:
        """Raw bytes still expected (after ``expect_raw()``)."""
    @property
    def buffered(self) -> int:
        """Bytes pushed and not yet consumed by an event."""

@final
class PatternWatch:
    """Watches a stream for a fixed byte pattern, which may be split across chunks."""

    def __new__(cls, pattern: Buffer) -> PatternWatch: ...
    def feed(self, data: Buffer) -> bool: ...
    @property
    def pattern(self) -> bytes:
        """The pattern watched for."""

@overload
def parse_params(data: str) -> list[str]: ...
@overload
def parse_params(data: Buffer) -> list[bytes]: ...
def format_param(value: str | Buffer) -> bytes: ...
def format_params(values: Iterable[str | Buffer]) -> bytes: ...
def needs_quoting(value: str | Buffer) -> bool: ...
def build_profile() -> Literal["release", "debug"]: ...
def _frame_count(data: bytes, chunk: int) -> int:
    """Frames ``data`` in Rust alone and counts the frames (for benchmarks)."""
