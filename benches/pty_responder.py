"""The latency baseline's far end: the smallest possible "module" on a pty.

Run as a script (``python pty_responder.py``): opens a pty in raw mode, prints the
slave's path on stdout, then answers every ``AT\\r\\n`` with ``OK\\r\\n`` until its
stdin closes. No framing, no parsing, no echo: what a pyserial ping-pong costs on this
machine, and nothing else.
"""

from __future__ import annotations

import os
import select
import sys
import tty


def serve(master: int, stop: int) -> None:
    pending = b""
    while True:
        ready, _, _ = select.select([master, stop], [], [])
        if stop in ready:
            return
        try:
            pending += os.read(master, 4096)
        except OSError:  # EIO: the host closed the slave; wait for the next one
            continue
        count = pending.count(b"AT\r\n")
        if count:
            pending = pending[pending.rfind(b"AT\r\n") + 4 :]
            os.write(master, b"OK\r\n" * count)


def main() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    print(os.ttyname(slave), flush=True)
    try:
        serve(master, sys.stdin.fileno())
    finally:
        os.close(master)
        os.close(slave)


if __name__ == "__main__":
    main()
