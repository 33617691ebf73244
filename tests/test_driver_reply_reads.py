"""Who reads the port while a thread waits for the module: on a tty or pty the waiting
thread itself (a command's caller its reply, a socket's reader its data), so the reply
needs no hand-off from the reader thread; on a TCP port the reader thread, whose nap
would let megabytes pile up in the socket's buffer. What arrives while nobody waits is
still read by the reader thread.

Every test runs over a real pty and over the emulator's TCP URL.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterator

import atsock
from at_wire import free_port
from driver_fixtures import *  # noqa: F403  (the fixtures)
from driver_fixtures import wait_event
from peers import TcpEchoServer

COMMANDS = 50


class _ReadsByThread(logging.Handler):
    """Counts the port reads (the ``RX`` wire traces) by the thread that made them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if record.args and record.args[0] == "RX":  # type: ignore[index]
            with self._lock:
                self.counts[record.threadName or "?"] = (
                    self.counts.get(record.threadName or "?", 0) + 1
                )


@contextlib.contextmanager
def reads_by_thread() -> Iterator[_ReadsByThread]:
    wire = logging.getLogger("atsock.wire")
    handler, level = _ReadsByThread(), wire.level
    wire.addHandler(handler)
    wire.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        wire.removeHandler(handler)
        wire.setLevel(level)


def test_a_command_caller_reads_its_reply_itself_on_a_tty(
    module: atsock.Module, emu_transport: str
) -> None:
    caller = threading.current_thread().name
    with reads_by_thread() as reads:
        for _ in range(COMMANDS):
            module.at()
    total = sum(reads.counts.values())
    assert total >= COMMANDS, reads.counts
    if emu_transport == "pty":
        # (the reader thread may take a reply when it did not see a waiter in time)
        assert reads.counts.get(caller, 0) >= 0.8 * total, reads.counts
    else:
        assert set(reads.counts) == {"atsock-reader"}, reads.counts


def test_a_socket_reader_reads_its_data_itself_and_gets_all_of_it(
    module: atsock.Module, echo_server: TcpEchoServer, emu_transport: str
) -> None:
    module.set_receive_mode(atsock.ReceiveMode.ACTIVE)
    sock = module.create_connection(echo_server.address, timeout=2.0)
    got: list[bytes] = []

    def receive(size: int) -> None:
        while sum(map(len, got)) < size:
            got.append(sock.recv(4096))

    with reads_by_thread() as reads:
        for round_ in range(10):
            message = bytes([round_]) * 300
            reader = threading.Thread(target=receive, args=(300 * (round_ + 1),), name="recv")
            reader.start()
            sock.sendall(message)
            reader.join(10)
            assert not reader.is_alive(), "the echo did not come back"
    assert b"".join(got) == b"".join(bytes([r]) * 300 for r in range(10))
    if emu_transport == "pty":
        assert reads.counts.get("recv", 0) >= 1, reads.counts
    else:
        assert "recv" not in reads.counts, reads.counts
    sock.close()


def test_what_comes_while_nobody_waits_is_still_read(module: atsock.Module) -> None:
    port = free_port()
    with module.create_server(port):
        module.at()  # (its caller read the reply: the reader thread naps a moment)
        with socket.create_connection(("127.0.0.1", port), timeout=2.0):
            assert wait_event(module, atsock.SocketSeed).con_id > 0
