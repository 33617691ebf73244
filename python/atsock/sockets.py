"""Socket-shaped objects over ConIDs, so code written for :mod:`socket` runs over the module.

``Socket`` has the calls most code uses — ``sendall``, ``send``, ``recv``, ``recv_into``,
``settimeout``/``setblocking``, ``makefile``, ``close``, a context manager — with the
stdlib's conventions: ``recv`` returns ``b""`` at end of stream, a timeout raises
:class:`atsock.Timeout` (a ``TimeoutError`` with ``errno.ETIMEDOUT``), a non-blocking
socket with nothing to read raises ``BlockingIOError``. In passive receive mode the
object reads packets with AT+SOCKETREAD when the module announces them; in active mode
the data arrives with the event.
"""

from __future__ import annotations

import errno
import io
import time
from typing import TYPE_CHECKING, Any, TypeVar

from atsock.deadline import DEFAULT, Wait
from atsock.errors import ATError, SocketClosed, Timeout
from atsock.types import ReceiveMode, SocketType

if TYPE_CHECKING:
    from atsock.module import Module

_S = TypeVar("_S", bound="_ModuleSocket")

#: Most bytes one ``recv()`` of a stream reads from the module in one turn (passive
#: mode: packets it announced, one AT+SOCKETREAD each): a send on another thread gets
#: one turn per ≤ 64 KiB command, so the reader drains as much per turn, or the
#: module's receive buffer would fill and stall both directions.
RECV_AHEAD = 64 * 1024


class _ModuleSocket:
    """What a connection and a server have in common: a ConID on a module, a timeout,
    and closing (deleting the ConID) once, also as a context manager."""

    def __init__(self, module: Module, con_id: int, type: SocketType) -> None:
        self.module = module
        self.con_id = con_id
        self.type = type
        self._timeout: float | None = None
        self._closed = False
        #: this connection's bookkeeping: a later connection may reuse the ConID
        self._conn = module.conn(con_id)

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def settimeout(self, value: float | None) -> None:
        """None blocks, 0 is non-blocking, a number bounds each call (seconds)."""
        if value is not None and value < 0:
            raise ValueError("timeout must be None or >= 0")
        self._timeout = value

    def gettimeout(self) -> float | None:
        return self._timeout

    @property
    def timeout(self) -> float | None:
        """The timeout of each call (as :meth:`gettimeout`, like ``socket.socket``'s)."""
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        self._timeout = None if flag else 0.0

    def close(self) -> None:
        """Deletes the ConID on the module (idempotent; quiet if the module dropped it).
        A connection that is gone already (a module reset) deletes nothing: its ConID may
        belong to a new connection by now."""
        if self._closed:
            return
        self._closed = True
        if self._conn.gone is not None:
            return
        try:
            self.module.delete(self.con_id)
        except (ATError, SocketClosed):
            pass

    @property
    def closed(self) -> bool:
        return self._closed

    def _remote(self, con_id: int) -> tuple[str, int]:
        """The peer of ``con_id`` as the module reports it in AT+SOCKET? (("", -1) if gone)."""
        row = next((s for s in self.module.sockets() if s.con_id == con_id), None)
        return (row.remote_host, row.remote_port) if row else ("", -1)


class Socket(_ModuleSocket):
    """One module connection (TCP, TLS, UDP client, UDP server, or an accepted seed)."""

    def __init__(self, module: Module, con_id: int, type: SocketType) -> None:
        super().__init__(module, con_id, type)
        self._conn.type = self._conn.type or type

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<atsock.Socket ConID={self.con_id} {self.type.name} {state}>"

    # ---- sending -------------------------------------------------------------------------

    def _check(self) -> None:
        if self._closed:
            raise OSError(errno.EBADF, "socket is closed")
        if self._conn.gone is not None:  # (its ConID may be a new connection's by now)
            raise self._conn.gone

    def sendall(self, data: bytes | bytearray | memoryview) -> None:
        self._check()
        self.module.send(self.con_id, bytes(data), timeout=self._command_timeout())

    def send(self, data: bytes | bytearray | memoryview) -> int:
        self.sendall(data)
        return len(data)

    def _command_timeout(self) -> Wait:
        return self._timeout if self._timeout else DEFAULT

    # ---- receiving ---------------------------------------------------------------------------

    def recv(self, bufsize: int) -> bytes:
        """Up to ``bufsize`` bytes; ``b""`` once the peer closed and everything was read."""
        self._check()
        if bufsize <= 0:
            return b""
        module, con_id = self.module, self.con_id
        conn = self._conn
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        while True:
            if conn.gone is not None:
                raise conn.gone
            data = module.take_buffered(con_id, bufsize)
            if data:
                return data
            passive = module.receive_mode == ReceiveMode.PASSIVE
            # announced packets wait on the module in either mode (announced while passive)
            if conn.notified > 0 or (passive and conn.peer_closed):
                # with the module's own timeout: the module hands the packet out with its
                # reply, so a read given up early would lose it (a short socket timeout,
                # a slow line)
                packet = self._read_announced()
                if packet:
                    if len(packet) > bufsize:
                        if self.type in (SocketType.UDP_CLIENT, SocketType.UDP_SERVER):
                            return packet[:bufsize]  # a datagram's excess is discarded
                        module.store_buffered(con_id, packet[bufsize:])
                    return packet[:bufsize]
                if conn.peer_closed:
                    return b""
                continue
            if conn.peer_closed:
                return b""
            if self._timeout == 0:
                raise BlockingIOError(errno.EAGAIN, "no data waiting on the module")
            remaining = None if deadline is None else deadline - time.monotonic()
            try:
                if remaining is not None and remaining <= 0:
                    raise Timeout("")
                module.wait_conn(
                    con_id,
                    lambda c: bool(c.buffer) or c.notified > 0 or c.peer_closed,
                    remaining,
                    expect=conn,
                )
            except Timeout:
                raise Timeout(f"ConID {con_id}: no data within {self._timeout:g} s") from None

    def _read_announced(self) -> bytes:
        """One packet the module announced; for a stream, with the rest it announced (up
        to :data:`RECV_AHEAD`) read in the same turn."""
        module, con_id = self.module, self.con_id
        if self.type in (SocketType.UDP_CLIENT, SocketType.UDP_SERVER):
            return module.read(con_id)  # one datagram per call
        with module.turn():
            packet = module.read(con_id)
            if not packet or self._conn.notified <= 0:
                return packet
            data = bytearray(packet)
            while self._conn.notified > 0 and len(data) < RECV_AHEAD:
                more = module.read(con_id)
                if not more:
                    break
                data += more
            return bytes(data)

    def recv_into(self, buffer: bytearray | memoryview, nbytes: int = 0) -> int:
        view = memoryview(buffer).cast("B")
        data = self.recv(nbytes or len(view))
        view[: len(data)] = data
        return len(data)

    def recvfrom(self, bufsize: int) -> tuple[bytes, tuple[str, int]]:
        """For UDP: the data and the peer as the module reports it in AT+SOCKET?. The
        module does not say who sent a datagram: for a UDP server that is the peer it
        remembers (the first that spoke, the one it replies to), not necessarily the
        sender of this datagram."""
        data = self.recv(bufsize)
        return data, self._remote(self.con_id)

    def sendto(self, data: bytes | bytearray | memoryview, address: tuple[str, int]) -> int:
        """For UDP, what the module allows: a datagram to the one peer this ConID sends to
        (a client's remote; a UDP server's remembered peer). Another address is refused
        with :class:`ATError` (the module cannot address a datagram)."""
        self._check()
        peer = self._remote(self.con_id)
        if (address[0], int(address[1])) != peer:
            whom = "nobody yet (no peer has spoken)" if peer[1] < 0 else f"{peer[0]}:{peer[1]}"
            raise ATError(
                f"ConID {self.con_id}: the module sends this socket's datagrams only to "
                f"{whom}, not to {address[0]}:{address[1]}"
            )
        return self.send(data)

    # ---- the rest ------------------------------------------------------------------------------

    def makefile(self, mode: str = "rb", buffering: int = -1) -> Any:
        """A binary file object over the socket (``"rb"``, ``"wb"`` or ``"rwb"``)."""
        raw = _SocketIO(self, mode)
        if buffering == 0:
            return raw
        size = io.DEFAULT_BUFFER_SIZE if buffering < 0 else buffering
        if "r" in mode and "w" in mode:
            return io.BufferedRWPair(raw, raw, size)
        if "w" in mode:
            return io.BufferedWriter(raw, size)
        return io.BufferedReader(raw, size)


class ServerSocket(_ModuleSocket):
    """A TCP or TLS server on the module; :meth:`accept` yields one :class:`Socket` per client."""

    def __init__(self, module: Module, con_id: int, type: SocketType, port: int) -> None:
        super().__init__(module, con_id, type)
        self.port = port

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        where = f"ConID={self.con_id} {self.type.name} port={self.port}"
        return f"<atsock.ServerSocket {where} {state}>"

    def getsockname(self) -> tuple[str, int]:
        """("0.0.0.0", the port it listens on): the module listens on all its addresses."""
        return ("0.0.0.0", self.port)

    def accept(self) -> tuple[Socket, tuple[str, int]]:
        """Waits for a client (a seed); returns its socket and address."""
        try:
            seed_id = self.module.take_seed(self.con_id, self._timeout, expect=self._conn)
        except Timeout:
            if self._timeout == 0:
                raise BlockingIOError(errno.EAGAIN, "no client waiting on the module") from None
            raise
        try:
            address = self._remote(seed_id)
        except BaseException:
            self.module.return_seed(self.con_id, seed_id)  # the client waits for the next accept
            raise
        kind = SocketType.SSL_SEED if self.type == SocketType.SSL_SERVER else SocketType.TCP_SEED
        return Socket(self.module, seed_id, kind), address


class _SocketIO(io.RawIOBase):
    def __init__(self, sock: Socket, mode: str) -> None:
        super().__init__()
        self._sock, self._mode = sock, mode

    def readable(self) -> bool:
        return "r" in self._mode

    def writable(self) -> bool:
        return "w" in self._mode

    def readinto(self, buffer: Any) -> int:
        return self._sock.recv_into(buffer)

    def write(self, data: Any) -> int:
        self._sock.sendall(bytes(data))
        return len(data)
