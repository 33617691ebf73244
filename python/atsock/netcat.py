"""``atsock stream``: netcat over the module — stdin to the peer, the peer to stdout.

Opens a TCP, UDP or TLS client socket on the module, enters transparent mode and pumps
bytes both ways. When stdin ends, it keeps printing what the peer sends until the peer
has been quiet for ``idle`` seconds, then leaves with ``+++`` and deletes the socket.
Over UDP, where nothing reports a lost datagram, a summary of the bytes that moved each
way goes to stderr at the end.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import BinaryIO, TextIO

from atsock.errors import Timeout
from atsock.sync.module import Module
from atsock.types import SocketType


def run_stream(
    url: str,
    kind: SocketType,
    peer: tuple[str, int],
    *,
    baudrate: int = 115200,
    idle: float = 1.0,
    link_rate: float | None = None,
    timeout: float = 10.0,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    source = stdin or sys.stdin.buffer
    sink = stdout or sys.stdout.buffer
    sent = received = 0
    with Module(url, baudrate=baudrate, timeout=timeout, link_rate=link_rate) as module:
        con_id = module.open_socket(kind, peer[0], peer[1])
        try:
            with module.transparent() as stream:
                done = threading.Event()
                errors: list[BaseException] = []

                def pump_in() -> None:
                    nonlocal sent
                    try:
                        fd = source.fileno()
                        while chunk := os.read(fd, 65536):
                            stream.write(chunk)
                            sent += len(chunk)
                    except BaseException as exc:
                        errors.append(exc)
                    finally:
                        done.set()

                threading.Thread(target=pump_in, name="atsock-stdin", daemon=True).start()
                quiet_since = None
                while True:
                    try:
                        data = stream.read(65536, timeout=0.1)
                    except Timeout:
                        data = b""
                    if data:
                        received += len(data)
                        sink.write(data)
                        sink.flush()
                        quiet_since = None
                    elif done.is_set():
                        quiet_since = quiet_since or time.monotonic()
                        if time.monotonic() - quiet_since >= idle:
                            break
                if errors:
                    raise errors[0]
        finally:
            module.delete(con_id)
    if kind == SocketType.UDP_CLIENT:
        print(
            f"atsock stream: UDP with {peer[0]}:{peer[1]}: sent {sent:,} bytes, received "
            f"{received:,} bytes (UDP reports no lost datagram: compare with the peer)",
            file=stderr or sys.stderr,
        )
    return 0
