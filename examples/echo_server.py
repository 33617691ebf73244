"""An echo server on the module: ``Module.create_server`` and ``accept()``, as with ``socket``.

Shows a server socket on the module (AT+SOCKET=3): each client that connects to the
module is a seed ConID, accepted as an ``atsock.Socket``, echoed until it closes, and
deleted (the host must delete seeds). Serves one client after another until Ctrl-C
(``--once``: one client, then exits). Prints the port it listens on; clients connect
to the module's address on that port.

On real hardware (then e.g. ``nc MODULE-IP 7000`` from a machine on its network):

    python examples/echo_server.py /dev/ttyUSB0 --port 7000

On the emulator, whose servers listen on 127.0.0.1 (``emu://`` runs one in this
process; ``atsock emulate --tcp 127.0.0.1:0`` prints a ``socket://`` URL to use instead):

    python examples/echo_server.py emu:// --port 7000 &
    nc 127.0.0.1 7000
"""

from __future__ import annotations

import argparse
import sys

import atsock

PROG = "echo_server.py"


def port_number(text: str) -> int:
    """An argparse type: 0 (a free port) to 65535."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0-65535): {text!r}")
    return int(text)


def serve(server: atsock.ServerSocket) -> None:
    """Accepts one client and echoes what it sends until it closes."""
    conn, (host, port) = server.accept()  # waits for the module's SocketSeed event
    echoed = 0
    with conn:  # closing the socket deletes the seed's ConID
        try:
            while data := conn.recv(4096):  # b"" once the client closed
                conn.sendall(data)
                echoed += len(data)
        except OSError as exc:  # this client's trouble (it left mid-echo): not the server's
            print(f"{host}:{port}: {exc}", flush=True)
    print(f"{host}:{port}: {echoed} bytes echoed", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="An echo server on the module.")
    parser.add_argument("url", help="the module's port: /dev/ttyUSB0, socket://HOST:PORT, emu://")
    parser.add_argument("--port", type=port_number, default=0, metavar="N", help="0: a free one")
    parser.add_argument("--once", action="store_true", help="serve one client, then exit")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="S", help="default: 5 s")
    args = parser.parse_args()
    try:
        with atsock.Module(args.url, timeout=args.timeout) as m, m.create_server(args.port) as srv:
            print(f"listening on port {srv.port} of the module", flush=True)
            serve(srv)
            while not args.once:
                serve(srv)
    except KeyboardInterrupt:  # Ctrl-C: leaving the with blocks deleted the ConIDs
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (OSError, atsock.ATError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
