"""Uploads a file through transparent mode (AT+SOCKETTT … +++), with a progress bar.

Shows ``Module.transparent()``: the module's one connection becomes a plain byte
stream at line rate, any bytes included (``+++``, ``\\r\\nOK\\r\\n`` inside a file are
data: the driver keeps the guard-time rule), and leaving it sends ``+++`` and waits for
the module's OK. Prints the bytes sent and the rate; the bar (tqdm) shows on a terminal.
The peer should be a sink: what it sends back waits unread, and a full buffer holds the
upload up.

On real hardware, to a host on the module's network (e.g. ``nc -l 9000 > copy.bin``):

    python examples/transparent_upload.py /dev/ttyUSB0 192.0.2.10:9000 firmware.bin

On the emulator (``emu://`` runs one in this process, or give the ``socket://`` URL of
``atsock emulate --tcp 127.0.0.1:0``), which wants only 0.05 s of quiet after ``+++``:

    nc -l 127.0.0.1 9000 > copy.bin &
    python examples/transparent_upload.py emu:// 127.0.0.1:9000 firmware.bin --exit-delay 0.05
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

import atsock

PROG = "transparent_upload.py"
CHUNK = 64 * 1024


def host_port(text: str) -> tuple[str, int]:
    """An argparse type: HOST:PORT."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"not HOST:PORT: {text!r}")
    return host, int(port)


def main() -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="Upload a file in transparent mode.")
    parser.add_argument("url", help="the module's port: /dev/ttyUSB0, socket://HOST:PORT, emu://")
    parser.add_argument("peer", metavar="HOST:PORT", type=host_port, help="where to upload to")
    parser.add_argument("file", metavar="FILE", type=Path, help="the file to send")
    parser.add_argument("--exit-delay", type=float, default=1.0, metavar="S", help="after +++")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="S", help="default: 5 s")
    args = parser.parse_args()
    if not args.file.is_file():
        parser.error(f"FILE: no such file: {str(args.file)!r}")
    size = args.file.stat().st_size
    try:
        with atsock.Module(args.url, timeout=args.timeout, exit_delay=args.exit_delay) as m:
            # transparent mode streams through the module's one connected client
            con_id = m.open_socket(atsock.SocketType.TCP_CLIENT, *args.peer)
            try:
                started = time.monotonic()
                bar = tqdm(total=size, unit="B", unit_scale=True, disable=None)  # on a tty
                with m.transparent() as stream, args.file.open("rb") as source, bar:
                    while chunk := source.read(CHUNK):
                        stream.write(chunk)  # returns once the port took it
                        bar.update(len(chunk))
                # leaving the block waited for the line to drain, then sent +++
                seconds = time.monotonic() - started
            finally:
                m.delete(con_id)  # (after the exit delay) the peer sees the end
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (OSError, atsock.ATError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    print(f"{size} bytes in {seconds:.2f} s: {size / seconds / 1e6:.2f} MB/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
