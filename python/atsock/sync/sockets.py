"""Socket-shaped objects over ConIDs, so code written for :mod:`socket` runs over the module.

``Socket`` follows ``socket.socket``'s contract: ``sendall``, ``send``, ``sendto``,
``recv``, ``recv_into``, ``recvfrom``, ``settimeout``/``setblocking``/``getblocking``,
``makefile`` (text or binary; the ConID lives until its last file object closes),
``shutdown``, ``getpeername``, ``getsockname``, ``family``/``type``/``proto``,
``fileno()`` (-1: nothing to select on), ``close`` and a context manager. ``recv``
returns ``b""`` at end of stream, a timeout raises :class:`atsock.Timeout` (a
``TimeoutError``, ``errno.ETIMEDOUT``), a non-blocking socket with nothing to read raises
``BlockingIOError``, and the module's errors are the ``OSError`` a stdlib socket raises
in the closest situation (:class:`atsock.SocketError`: ``ConnectionRefusedError``,
``BrokenPipeError``, ``ConnectionResetError``, ``socket.gaierror`` …, with the module's
``code`` and ``meaning``). In passive receive mode the object reads packets with
AT+SOCKETREAD when the module announces them; in active mode the data arrives with the
event.
"""

from __future__ import annotations

import errno
import random
import socket
import time
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

from atsock.deadline import DEFAULT, Wait
from atsock.errors import ATError, CommandError, SocketClosed, SocketError, Timeout
from atsock.sync.connections import Connections
from atsock.sync.socketfile import make_file
from atsock.types import ReceiveMode, SocketData, SocketInfo, SocketType

#: Ports ``create_server(0)`` picks from (the dynamic range, RFC 6335), and how many.
DYNAMIC_PORTS = range(49152, 65536)
SERVER_PORT_TRIES = 16
#: The firmware's error code for a port it cannot bind.
BIND_FAILED = 104
#: Bound on the packets read for one ConID when switching to active receive mode.
MAX_QUEUED_READS = 1024


class SocketModule(Protocol):
    """What socket objects use of a module (:class:`atsock.Module` is one)."""

    @property
    def connections(self) -> Connections: ...
    def send(self, con_id: int, data: bytes, *, timeout: Wait = ...) -> None: ...
    def read(self, con_id: int, *, timeout: Wait = ..., keep: bool = ...) -> bytes: ...
    def delete(self, con_id: int, *, timeout: Wait = ...) -> None: ...
    def sockets(self, *, timeout: Wait = ...) -> list[SocketInfo]: ...
    def open_socket(
        self,
        type: SocketType | int,
        host: str | None = ...,
        port: int = ...,
        *,
        con_id: int = ...,
        keep_alive: int = ...,
        timeout: Wait = ...,
    ) -> int: ...
    def turn(self, timeout: Wait = ...) -> AbstractContextManager[None]: ...


_S = TypeVar("_S", bound="_ModuleSocket")

#: Most bytes one ``recv()`` of a stream reads from the module in one turn (passive
#: mode: packets it announced, one AT+SOCKETREAD each): a send on another thread gets
#: one turn per ≤ 64 KiB command, so the reader drains as much per turn, or the
#: module's receive buffer would fill and stall both directions.
RECV_AHEAD = 64 * 1024


class _ModuleSocket:
    """What a connection and a server have in common: a ConID on a module, a timeout,
    the stdlib's socket attributes, and closing (deleting the ConID) once, also as a
    context manager."""

    family = socket.AF_INET
    proto = 0

    def __init__(self, module: SocketModule, con_id: int, kind: SocketType) -> None:
        self.module = module
        self.con_id = con_id
        #: the module's type of the ConID (``type`` is the stdlib's SOCK_STREAM/SOCK_DGRAM)
        self.kind = kind
        self._timeout: float | None = None
        self._closed = False
        self._deleted = False
        #: file objects from makefile() not closed yet: the ConID lives until the last
        self._io_refs = 0
        #: this connection's bookkeeping: a later connection may reuse the ConID
        self._conn = module.connections.conn(con_id)

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def type(self) -> socket.SocketKind:
        """``SOCK_DGRAM`` for a UDP ConID, else ``SOCK_STREAM`` (the module's: ``kind``)."""
        return socket.SOCK_DGRAM if self.kind.is_udp else socket.SOCK_STREAM

    def fileno(self) -> int:
        """-1, as a closed socket's: a ConID has no descriptor to ``select()`` on (for
        programs that need one, ``atsock proxy`` serves module connections as SOCKS5)."""
        return -1

    def settimeout(self, value: float | None) -> None:
        """None blocks, 0 is non-blocking, a number bounds each call (seconds)."""
        if value is not None and value < 0:
            raise ValueError("timeout must be None or >= 0")
        self._timeout = value

    def gettimeout(self) -> float | None:
        """Seconds a call waits (None: as long as it takes; 0.0: non-blocking)."""
        return self._timeout

    @property
    def timeout(self) -> float | None:
        """The timeout of each call (as :meth:`gettimeout`, like ``socket.socket``'s)."""
        return self._timeout

    def setblocking(self, flag: bool) -> None:
        """``setblocking(False)`` is ``settimeout(0.0)``, ``True`` is ``settimeout(None)``."""
        self._timeout = None if flag else 0.0

    def getblocking(self) -> bool:
        """Whether calls wait (a timeout other than 0.0)."""
        return self._timeout != 0

    def close(self) -> None:
        """Closes the socket; its ConID is deleted on the module once no file object of
        :meth:`makefile` is open any more (as a stdlib socket keeps its descriptor).
        Idempotent; quiet if the module dropped the ConID."""
        self._closed = True
        if self._io_refs <= 0:
            self._delete()

    def _delete(self) -> None:
        """Deletes the ConID once. A connection that is gone already (a module reset)
        deletes nothing: its ConID may belong to a new connection by now."""
        if self._deleted:
            return
        self._deleted = True
        if self._conn.gone is not None:
            return
        try:
            self.module.delete(self.con_id)
        except (ATError, SocketClosed):
            pass

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def getsockname(self) -> tuple[str, int]:
        """("0.0.0.0", the local port the module reports; 0 where it reports none, as
        for a client): the module listens and connects on all its addresses."""
        port = self._row().local_port
        return ("0.0.0.0", max(port, 0))

    def _row(self, con_id: int | None = None) -> SocketInfo:
        """The AT+SOCKET? row of ``con_id`` (this ConID's if None); OSError if gone."""
        wanted = self.con_id if con_id is None else con_id
        row = next((s for s in self.module.sockets() if s.con_id == wanted), None)
        if row is None:
            raise OSError(errno.ENOTCONN, f"ConID {wanted} is not on the module")
        return row

    def _remote(self, con_id: int) -> tuple[str, int]:
        """The peer of ``con_id`` as the module reports it in AT+SOCKET? (("", -1) if gone)."""
        row = next((s for s in self.module.sockets() if s.con_id == con_id), None)
        return (row.remote_host, row.remote_port) if row else ("", -1)


class Socket(_ModuleSocket):
    """One module connection (TCP, TLS, UDP client, UDP server, or an accepted seed)."""

    def __init__(self, module: SocketModule, con_id: int, kind: SocketType) -> None:
        super().__init__(module, con_id, kind)
        self._conn.type = self._conn.type or kind
        self._shut_rd = self._shut_wr = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<atsock.Socket ConID={self.con_id} {self.kind.name} {state}>"

    # ---- sending -------------------------------------------------------------------------

    def _check(self) -> None:
        if self._deleted:
            raise OSError(errno.EBADF, "socket is closed")
        if self._conn.gone is not None:  # (its ConID may be a new connection's by now)
            raise self._conn.gone

    def sendall(self, data: bytes | bytearray | memoryview) -> None:
        """Sends all of ``data`` (AT+SOCKETSEND, in pieces that let other callers' commands
        in); the module's errors as the ``OSError`` a stdlib socket would raise."""
        self._check()
        if self._shut_wr:
            raise BrokenPipeError(errno.EPIPE, "the socket was shut down for sending")
        try:
            self.module.send(self.con_id, bytes(data), timeout=self._command_timeout())
        except CommandError as exc:
            raise SocketError.of(exc) from None

    def send(self, data: bytes | bytearray | memoryview) -> int:
        """Sends all of ``data`` (as :meth:`sendall`) and returns its length."""
        self.sendall(data)
        return len(data)

    def _command_timeout(self) -> Wait:
        return self._timeout if self._timeout else DEFAULT

    # ---- receiving ---------------------------------------------------------------------------

    def recv(self, bufsize: int) -> bytes:
        """Up to ``bufsize`` bytes; ``b""`` once the peer closed and everything was read."""
        if self._shut_rd:
            return b""
        self._check()
        if bufsize <= 0:
            return b""
        module, con_id = self.module, self.con_id
        conn = self._conn
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        while True:
            if conn.gone is not None:
                raise conn.gone
            data, announced = module.connections.take(con_id, bufsize)
            if data:
                return data
            passive = module.connections.receive_mode == ReceiveMode.PASSIVE
            # announced packets wait on the module in either mode (announced while passive)
            if announced > 0 or (passive and conn.peer_closed):
                # with the module's own timeout: the module hands the packet out with its
                # reply, so a read given up early would lose it (a short socket timeout,
                # a slow line)
                if self.kind.is_udp:  # one datagram per call; its excess is discarded
                    datagram = self._read_datagram()
                    if datagram:
                        return datagram[:bufsize]
                elif self._read_into_buffer() or conn.buffer:
                    continue  # (what was read, and what was held back behind it)
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
                module.connections.wait(
                    con_id,
                    lambda c: bool(c.buffer) or c.notified > 0 or c.peer_closed,
                    remaining,
                    expect=conn,
                )
            except Timeout:
                raise Timeout(f"ConID {con_id}: no data within {self._timeout:g} s") from None

    def _read_datagram(self) -> bytes:
        """One datagram the module announced."""
        try:
            return self.module.read(self.con_id)
        except CommandError as exc:
            raise SocketError.of(exc) from None

    def _read_into_buffer(self) -> int:
        """The packets the module announced for this stream, read into its buffer (up to
        :data:`RECV_AHEAD` in one turn: a reader on another thread, or a switch of the
        receive mode, cannot read one in between); how many bytes came."""
        module, con_id = self.module, self.con_id
        try:
            with module.turn():
                total = len(module.read(con_id, keep=True))
                while 0 < total < RECV_AHEAD and self._conn.notified > 0:
                    more = len(module.read(con_id, keep=True))
                    if not more:
                        break
                    total += more
                return total
        except CommandError as exc:
            raise SocketError.of(exc) from None

    def recv_into(self, buffer: bytearray | memoryview, nbytes: int = 0) -> int:
        """As :meth:`recv`, into ``buffer`` (up to ``nbytes``, or its size); the count."""
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

    def makefile(
        self,
        mode: str = "r",
        buffering: int | None = None,
        *,
        encoding: str | None = None,
        errors: str | None = None,
        newline: str | None = None,
    ) -> Any:
        """A file object over the socket, as ``socket.socket.makefile`` makes it (text
        unless the mode has ``b``); the ConID lives until the socket and every such file
        object are closed."""
        return make_file(self, mode, buffering, encoding=encoding, errors=errors, newline=newline)

    def shutdown(self, how: int) -> None:
        """Ends reading (``SHUT_RD``: ``recv`` returns ``b""``), sending (``SHUT_WR``:
        ``send`` raises ``BrokenPipeError``) or both. The AT command set can only close a
        connection both ways: ``SHUT_WR`` alone does not tell the peer (it sees the end
        when the socket closes); ``SHUT_RDWR`` deletes the ConID now, and the peer sees
        the connection end."""
        if how not in (socket.SHUT_RD, socket.SHUT_WR, socket.SHUT_RDWR):
            raise ValueError(f"shutdown: how must be SHUT_RD, SHUT_WR or SHUT_RDWR, not {how}")
        self._check()
        self._shut_rd = self._shut_rd or how in (socket.SHUT_RD, socket.SHUT_RDWR)
        self._shut_wr = self._shut_wr or how in (socket.SHUT_WR, socket.SHUT_RDWR)
        if how == socket.SHUT_RDWR:
            self._delete()

    def getpeername(self) -> tuple[str, int]:
        """The peer as the module reports it in AT+SOCKET? (for a UDP server: the peer
        it remembers); ``OSError(ENOTCONN)`` where it reports none."""
        self._check()
        row = self._row()
        if row.remote_port < 0:
            raise OSError(errno.ENOTCONN, f"ConID {self.con_id} has no peer (yet)")
        return (row.remote_host, row.remote_port)


class ServerSocket(_ModuleSocket):
    """A TCP or TLS server on the module; :meth:`accept` yields one :class:`Socket` per client."""

    def __init__(self, module: SocketModule, con_id: int, kind: SocketType, port: int) -> None:
        super().__init__(module, con_id, kind)
        self.port = port

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        where = f"ConID={self.con_id} {self.kind.name} port={self.port}"
        return f"<atsock.ServerSocket {where} {state}>"

    def getsockname(self) -> tuple[str, int]:
        """("0.0.0.0", the port it listens on): the module listens on all its addresses."""
        return ("0.0.0.0", self.port)

    def accept(self) -> tuple[Socket, tuple[str, int]]:
        """Waits for a client (a seed); returns its socket and address."""
        try:
            seed_id = self.module.connections.take_seed(
                self.con_id, self._timeout, expect=self._conn
            )
        except Timeout:
            if self._timeout == 0:
                raise BlockingIOError(errno.EAGAIN, "no client waiting on the module") from None
            raise
        try:
            address = self._remote(seed_id)
        except BaseException:
            self.module.connections.return_seed(
                self.con_id, seed_id
            )  # the client waits for the next accept
            raise
        kind = SocketType.SSL_SEED if self.kind == SocketType.SSL_SERVER else SocketType.TCP_SEED
        return Socket(self.module, seed_id, kind), address


def create_connection(
    module: SocketModule,
    address: tuple[str, int],
    timeout: Wait = DEFAULT,
    *,
    tls: bool = False,
    udp: bool = False,
) -> Socket:
    """A connected :class:`Socket` (TCP, TLS or UDP), as :meth:`atsock.Module.create_connection`."""
    kind = SocketType.TCP_CLIENT
    if udp or tls:
        kind = SocketType.UDP_CLIENT if udp else SocketType.SSL_CLIENT
    try:
        con_id = module.open_socket(kind, address[0], address[1], timeout=timeout)
    except CommandError as exc:
        raise SocketError.of(exc) from None
    sock = Socket(module, con_id, kind)
    sock.settimeout(None if timeout is DEFAULT else timeout)
    return sock


def create_server(
    module: SocketModule, port: int = 0, *, tls: bool = False, timeout: Wait = DEFAULT
) -> ServerSocket:
    """A listening :class:`ServerSocket`, as :meth:`atsock.Module.create_server`."""
    kind = SocketType.SSL_SERVER if tls else SocketType.TCP_SERVER
    candidates = [port] if port else random.sample(DYNAMIC_PORTS, SERVER_PORT_TRIES)
    for candidate in candidates:
        try:
            con_id = module.open_socket(kind, port=candidate, timeout=timeout)
        except CommandError as exc:
            if port or exc.code != BIND_FAILED:
                raise SocketError.of(exc) from None
            continue  # taken: the next
        return ServerSocket(module, con_id, kind, candidate)
    raise ATError(
        f"no free port for a server: the module could bind none of {SERVER_PORT_TRIES} "
        f"tried from {DYNAMIC_PORTS.start}-{DYNAMIC_PORTS.stop - 1}"
    )


def udp_server(module: SocketModule, port: int) -> Socket:
    """A UDP server :class:`Socket`, as :meth:`atsock.Module.udp_server`."""
    try:
        con_id = module.open_socket(SocketType.UDP_SERVER, port=port)
    except CommandError as exc:
        raise SocketError.of(exc) from None
    return Socket(module, con_id, SocketType.UDP_SERVER)


def deliver_announced(module: SocketModule, timeout: Wait) -> None:
    """The module went from passive to active receive mode: the packets it announced
    before are read now, in one turn per ConID, and delivered as active-mode data:
    buffered for the socket objects in order (behind what came before their
    announcement, ahead of what came after) and published."""
    conns = module.connections
    for con_id in conns.announced():
        with module.turn(timeout):
            for _ in range(MAX_QUEUED_READS):
                try:
                    packet = module.read(con_id, timeout=timeout, keep=True)
                except SocketClosed:
                    break
                if not packet:
                    break
                conns.publish(SocketData(con_id, len(packet), packet))
