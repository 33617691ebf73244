"""A SOCKS5 proxy over the module (``Module.serve_socks``), and a page fetched through it.

The proxy (on 127.0.0.1) makes every connection a module connection, for programs that
need a real socket or cannot be changed: ``curl --socks5-hostname 127.0.0.1:PORT URL``,
``requests`` with ``socks5h://``. The client here is a stdlib socket speaking SOCKS5
(RFC 1928) itself, naming the host for the module to resolve, then HTTP/1.0. Prints the
status line, the body's length and sha256 and the bytes the proxy moved. (To keep a
proxy up for other programs, ``atsock proxy URL`` does that until Ctrl-C.)

On real hardware: ``python examples/socks_proxy.py /dev/ttyUSB0 http://example.org/``

On the emulator (``emu://`` runs one in this process; or the ``socket://`` URL that
``atsock emulate --tcp 127.0.0.1:0`` prints), with a page on this host:

    python -m http.server --bind 127.0.0.1 8000 &
    python examples/socks_proxy.py emu:// http://127.0.0.1:8000/
"""

from __future__ import annotations

import argparse
import hashlib
import socket
import sys
import urllib.parse

import atsock

PROG = "socks_proxy.py"


def exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        if not (more := sock.recv(size - len(data))):
            raise ConnectionError("the SOCKS5 proxy closed the connection")
        data += more
    return data


def socks5_connect(sock: socket.socket, host: str, port: int) -> None:
    """The SOCKS5 handshake on ``sock``: no authentication, CONNECT to host:port by name."""
    sock.sendall(b"\x05\x01\x00")  # version 5, one method offered: 0, no authentication
    if exactly(sock, 2) != b"\x05\x00":
        raise ConnectionError("the SOCKS5 proxy wants authentication")
    name = host.encode("idna")  # address type 3: a name (an IP address as text works too)
    sock.sendall(b"\x05\x01\x00\x03" + bytes([len(name)]) + name + port.to_bytes(2, "big"))
    _, reply, _, kind = exactly(sock, 4)
    if reply != 0:  # 1 general failure, 4 host unreachable, 5 refused, 6 TTL expired …
        raise ConnectionError(f"the SOCKS5 proxy could not connect: reply {reply}")
    exactly(sock, ({1: 4, 4: 16}.get(kind) or exactly(sock, 1)[0]) + 2)  # its address, port


def main() -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="Fetch a page over a SOCKS5 proxy.")
    parser.add_argument("url", help="the module's port: /dev/ttyUSB0, socket://HOST:PORT, emu://")
    parser.add_argument("http_url", metavar="HTTP-URL", nargs="?", default="http://example.org/")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="S", help="default: 10 s")
    args = parser.parse_args()
    target = urllib.parse.urlsplit(args.http_url)
    if target.scheme != "http" or not target.hostname:
        parser.error(f"HTTP-URL must be http://HOST[:PORT]/PATH: {args.http_url!r}")
    path = (target.path or "/") + (f"?{target.query}" if target.query else "")
    request = f"GET {path} HTTP/1.0\r\nHost: {target.netloc}\r\n\r\n".encode()
    try:
        with atsock.Module(args.url, timeout=args.timeout) as m, m.serve_socks() as proxy:
            print(f"SOCKS5 proxy on {proxy.address[0]}:{proxy.address[1]}", flush=True)
            with socket.create_connection(proxy.address, timeout=args.timeout) as sock:
                socks5_connect(sock, target.hostname, target.port or 80)
                sock.sendall(request)
                response = b"".join(iter(lambda: sock.recv(65536), b""))  # to the end
            head, _, body = response.partition(b"\r\n\r\n")
            print(head.split(b"\r\n")[0].decode(errors="replace"))  # HTTP/1.0 200 OK
            print(f"body {len(body)} bytes sha256 {hashlib.sha256(body).hexdigest()}")
            up, down = proxy.stats.bytes_moved()
            print(f"proxy: {proxy.connections} served, {up} bytes up, {down} down")
    except KeyboardInterrupt:  # closing the proxy deleted every ConID it made
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (OSError, atsock.ATError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
