"""An asyncio client over the module: ``atsock.aio``, its connections asyncio streams.

Shows ``atsock.aio.open_module`` (the event loop drives the port, no thread) and
``AsyncModule.open_connection``, which returns the ``(StreamReader, StreamWriter)``
pair ``asyncio.open_connection`` does: it sends a line to an echo server through the
module, reads the echo and prints it. The port must have a file descriptor (a tty, a
pty, ``socket://``, ``emu://``); ``rfc2217://`` needs the threaded ``atsock.Module``.

On real hardware, to an echo server on the module's network:

    python examples/asyncio_client.py /dev/ttyUSB0 192.0.2.10:7 --message "hello"

On the emulator (``emu://`` runs one in this process, or give the ``socket://`` URL of
``atsock emulate --tcp 127.0.0.1:0``), with an echo server on this host, such as
``atsock.testing.TcpEcho(port=7007)`` in a Python shell:

    python examples/asyncio_client.py emu:// 127.0.0.1:7007
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import atsock
import atsock.aio

PROG = "asyncio_client.py"


def host_port(text: str) -> tuple[str, int]:
    """An argparse type: HOST:PORT."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"not HOST:PORT: {text!r}")
    return host, int(port)


async def echo(url: str, host: str, port: int, message: str, timeout: float) -> bytes:
    """Sends ``message`` and a newline to ``host:port`` through the module; the line back."""
    async with atsock.aio.open_module(url, timeout=timeout) as m:
        await m.at()  # atsock.Timeout if nothing answers on the port
        reader, writer = await m.open_connection(host, port)  # AT+SOCKET=4
        try:
            writer.write(message.encode() + b"\n")  # queued, sent as AT+SOCKETSEND
            await writer.drain()
            return await asyncio.wait_for(reader.readline(), timeout)
        finally:
            writer.close()
            await writer.wait_closed()  # queued data sent, the ConID deleted


def main() -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="Send a line, print its echo.")
    parser.add_argument("url", help="the module's port: /dev/ttyUSB0, socket://HOST:PORT, emu://")
    parser.add_argument("peer", metavar="HOST:PORT", type=host_port, help="an echo server")
    parser.add_argument("--message", metavar="TEXT", default="hello, module", help="a line")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="S", help="default: 5 s")
    args = parser.parse_args()
    if "\n" in args.message:
        parser.error("--message: one line, without a newline")
    try:
        host, port = args.peer
        line = asyncio.run(echo(args.url, host, port, args.message, args.timeout))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (OSError, asyncio.TimeoutError, atsock.ATError) as exc:
        print(f"{PROG}: error: {exc or type(exc).__name__}", file=sys.stderr)
        return 1
    print(f"echoed: {line.decode(errors='replace').rstrip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
