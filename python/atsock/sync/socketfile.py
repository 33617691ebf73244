"""``Socket.makefile()`` as the standard library builds it: a raw I/O object over the
socket, buffered, and wrapped for text unless the mode says binary.

The socket keeps its ConID while a file object made here is open (``http.client``
closes its socket after the headers and reads the body through the file), as a stdlib
socket keeps its descriptor: the last file object to close deletes the ConID if the
socket was closed meanwhile.
"""

from __future__ import annotations

import io
import locale
from typing import IO, Any, Protocol


class FileSocket(Protocol):
    """What a file object needs of its socket."""

    _io_refs: int
    _closed: bool

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int: ...
    def send(self, data: Any) -> int: ...
    def _delete(self) -> None: ...


class SocketIO(io.RawIOBase):
    """Raw reads and writes of a module socket (``"r"``, ``"w"`` or ``"rw"``)."""

    def __init__(self, sock: FileSocket, mode: str) -> None:
        super().__init__()
        self._sock = sock
        self._reading = "r" in mode
        self._writing = "w" in mode
        sock._io_refs += 1

    def readable(self) -> bool:
        return self._reading

    def writable(self) -> bool:
        return self._writing

    def readinto(self, buffer: Any) -> int:
        self._checkClosed()
        return self._sock.recv_into(buffer)

    def write(self, data: Any) -> int:
        self._checkClosed()
        return self._sock.send(data)

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        sock = self._sock
        sock._io_refs -= 1
        if sock._closed and sock._io_refs <= 0:
            sock._delete()


def make_file(
    sock: FileSocket,
    mode: str = "r",
    buffering: int | None = None,
    *,
    encoding: str | None = None,
    errors: str | None = None,
    newline: str | None = None,
) -> IO[Any]:
    """The file object ``socket.socket.makefile`` would return for these arguments."""
    if not set(mode) <= {"r", "w", "b"}:
        raise ValueError(f"invalid mode {mode!r} (only r, w, b allowed)")
    writing = "w" in mode
    reading = "r" in mode or not writing
    binary = "b" in mode
    raw = SocketIO(sock, ("r" if reading else "") + ("w" if writing else ""))
    size = io.DEFAULT_BUFFER_SIZE if buffering is None or buffering < 0 else buffering
    if size == 0:
        if not binary:
            raw.close()
            raise ValueError("unbuffered streams must be binary")
        return raw  # type: ignore[return-value]
    buffer: IO[bytes]
    if reading and writing:
        buffer = io.BufferedRWPair(raw, raw, size)  # type: ignore[assignment]
    elif reading:
        buffer = io.BufferedReader(raw, size)
    else:
        buffer = io.BufferedWriter(raw, size)
    if binary:
        return buffer
    text = io.TextIOWrapper(buffer, encoding or locale.getpreferredencoding(False), errors, newline)
    text.mode = mode  # type: ignore[misc]
    return text
