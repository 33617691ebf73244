"""An HTTP GET over a module socket: the stdlib's ``http.client``, its socket the module's.

Shows the one change a stdlib client needs to run over the module: its ``connect()``
hook returns ``Module.create_connection(...)`` (``tls=True`` for https://, the module's
own TLS) instead of a host socket. Names in the URL are resolved by the module, through
its DNS servers (AT+WDNS), not by the host.

On real hardware (any pyserial URL; ``rfc2217://HOST:PORT?ign_set_control`` for ser2net):

    python examples/http_get.py /dev/ttyUSB0 http://192.0.2.10:8000/index.html

On the emulator (``emu://`` runs one in this process; or start ``atsock emulate --tcp
127.0.0.1:0`` and give the ``socket://`` URL it prints), with a page on this host:

    python -m http.server --bind 127.0.0.1 8000 &
    python examples/http_get.py emu:// http://127.0.0.1:8000/
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import sys
import urllib.parse

import atsock

PROG = "http_get.py"


class ModuleHTTPConnection(http.client.HTTPConnection):
    """``http.client``'s connection, its socket made by the module."""

    def __init__(
        self, module: atsock.Module, host: str, port: int, *, tls: bool, timeout: float
    ) -> None:
        super().__init__(host, port, timeout=timeout)
        self.module, self.tls = module, tls

    def connect(self) -> None:
        # an atsock.Socket keeps socket.socket's contract: http.client sends with
        # sendall() and reads the response through makefile("rb")
        self.sock = self.module.create_connection(
            (self.host, self.port), self.timeout, tls=self.tls
        )


def main() -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="HTTP GET through the module.")
    parser.add_argument("url", help="the module's port: /dev/ttyUSB0, socket://HOST:PORT, emu://")
    parser.add_argument("http_url", metavar="HTTP-URL", help="the http:// or https:// URL to get")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="S", help="default: 10 s")
    args = parser.parse_args()
    target = urllib.parse.urlsplit(args.http_url)
    if target.scheme not in ("http", "https") or not target.hostname:
        parser.error(f"HTTP-URL must be http://HOST[:PORT]/PATH or https://…: {args.http_url!r}")
    tls = target.scheme == "https"
    path = (target.path or "/") + (f"?{target.query}" if target.query else "")
    try:
        with atsock.Module(args.url, timeout=args.timeout) as m:
            port = target.port or (443 if tls else 80)
            conn = ModuleHTTPConnection(m, target.hostname, port, tls=tls, timeout=args.timeout)
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
            finally:
                conn.close()  # deletes the ConID on the module
    except (OSError, atsock.ATError, http.client.HTTPException) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)  # one line, no traceback
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    print(f"status {response.status} {response.reason}")
    print(f"headers {len(response.getheaders())}")
    print(f"body {len(body)} bytes sha256 {hashlib.sha256(body).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
