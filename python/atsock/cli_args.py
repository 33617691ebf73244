"""The ``atsock`` command line's options: every value checked by argparse (a bad one is
exit status 2 and one line naming the option), every subcommand with a description, an
example, one metavar style (upper case) and its defaults shown by the formatter.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from typing import Callable

import atsock
from atsock.protocol.rules import GUARD_TIME, MAX_GUARD_TIME

#: Longest timeout an option takes (a day: anything longer is a typo, not a wait).
MAX_TIMEOUT = 86_400.0


class HelpFormatter(argparse.HelpFormatter):
    """Descriptions wrapped to the terminal, examples kept as written, an option's
    default shown where it has one."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("example"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "%(default)" in text or default in (None, False, argparse.SUPPRESS):
            return text
        if action.option_strings:
            text += " (default: %(default)s)"
        return text


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _user(text: str) -> tuple[str, str]:
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise argparse.ArgumentTypeError(f"expected USER:PASSWORD, got {text!r}")
    return user, password


def _size(text: str) -> int:
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    number, unit = text.rstrip("KMGkmg"), text[len(text.rstrip("KMGkmg")) :].upper()
    if not number.isdigit() or int(number) <= 0:
        raise argparse.ArgumentTypeError(f"expected a size like 4M, 64M or 1G, got {text!r}")
    return int(number) * units[unit]


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _baud(text: str) -> int:
    if not text.isdigit() or not 50 <= int(text) <= 100_000_000:
        raise argparse.ArgumentTypeError(f"expected a baud rate like 115200, got {text!r}")
    return int(text)


def _bounded(low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a number from ``low`` to ``high`` (NaN and inf refused)."""

    def number(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {low:g} to {high:g}, got {text!r}")
        return value

    return number


def _timeout(text: str) -> float:
    value = _bounded(0, MAX_TIMEOUT)(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _ip_address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an IP address, got {text!r}") from None


def _tcp_port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {text!r}")
    return int(text)


def _check_names(text: str) -> list[str]:
    """Comma-separated names of checks, each one that exists."""
    from atsock.check import select

    names = [name.strip() for name in text.split(",") if name.strip()]
    try:
        select(names, None)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return names


def _state_file(path: str) -> str:
    """A flash file the emulator can write: an existing writable file, or a new one in
    a writable directory."""
    folder = os.path.dirname(os.path.abspath(path))
    writable = os.access(path, os.W_OK) if os.path.exists(path) else os.access(folder, os.W_OK)
    if os.path.isdir(path) or not os.path.isdir(folder) or not writable:
        raise argparse.ArgumentTypeError(f"cannot write the state file {path!r}")
    return path


EPILOG_DEMO = """examples:
  atsock demo                           # 64 MiB through an emulated module
  atsock demo --size 4M --baud 2000000  # paced like a 2 Mbaud UART
  atsock demo --port /dev/ttyUSB0 --peer 192.0.2.10:7  # a real module
"""

EPILOG_EMULATE = """examples:
  atsock emulate --pty                  # prints /dev/pts/N, then serves it
  atsock emulate --tcp 127.0.0.1:0      # prints socket://127.0.0.1:PORT
  atsock emulate --pty --baud 115200 --state flash.json
"""

EPILOG_INFO = """examples:
  atsock info /dev/ttyUSB0
  atsock info socket://127.0.0.1:4000 --timeout 2
"""

EPILOG_TERM = """example:
  atsock term /dev/ttyUSB0 --baud 115200 --trace
"""

EPILOG_PROXY = """examples:
  atsock proxy /dev/ttyUSB0              # prints 127.0.0.1:1080, then serves
  curl --socks5-hostname 127.0.0.1:1080 http://example.org/
  atsock proxy socket://127.0.0.1:4000 --listen 127.0.0.1:0 --user me:secret
"""

EPILOG_CHECK = """examples:
  atsock check /dev/ttyUSB0 --peer-host 192.0.2.10 --module-host 192.0.2.77
  atsock check /dev/pts/7 --dns-port 5353   # 'atsock emulate --pty --dns-port 5353'
  atsock check /dev/ttyUSB0 --only tcp-client,transparent --json > report.json
  atsock check --list
"""

EPILOG_STREAM = """examples:
  echo hello | atsock stream /dev/ttyUSB0 --tcp 192.0.2.10:7
  atsock stream socket://127.0.0.1:4000 --udp 127.0.0.1:9999 < data.bin
  atsock stream /dev/pts/7 --link-rate 200000 --tcp 127.0.0.1:7 < data.bin
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="atsock",
        description="Drive a Wi-Fi module's TCP/IP AT command set (Ai-WB2 class) over a UART.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"atsock {atsock.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, summary: str, description: str, epilog: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name, help=summary, description=description, epilog=epilog,
            formatter_class=HelpFormatter,
        )  # fmt: skip

    demo = command(
        "demo",
        "stream data through an (emulated) module to a TCP echo peer and verify it",
        "Stream a payload full of +++ and \\r\\nOK\\r\\n through transparent mode to a "
        "TCP echo peer, read the echo back and verify both ways with sha256. Exit status "
        "0 only if verified; Ctrl-C stops it (exit status 130).",
        EPILOG_DEMO,
    )
    demo.add_argument("--size", type=_size, default="64M", metavar="SIZE",
                      help="payload size, like 4M or 1G")  # fmt: skip
    demo.add_argument("--baud", type=_baud, metavar="N",
                      help="pace the emulated UART at N baud; with --port, the real "
                      "UART's speed (then 115200 if not given)")  # fmt: skip
    demo.add_argument("--port", metavar="URL", help="a real module's port (pyserial URL)")
    demo.add_argument("--peer", type=_host_port, metavar="HOST:PORT",
                      help="the echo peer to use with --port")  # fmt: skip

    emulate = command(
        "emulate",
        "run the module emulator on a pty or a TCP port",
        "Run the module emulator. The first line on stdout is the pyserial URL to open; "
        "logs go to stderr. Stops cleanly on Ctrl-C or SIGTERM.",
        EPILOG_EMULATE,
    )
    where = emulate.add_mutually_exclusive_group()
    where.add_argument("--pty", action="store_true", help="serve on a pseudo-terminal (the "
                       "default)")  # fmt: skip
    where.add_argument("--tcp", type=_host_port, metavar="HOST:PORT", help="serve on a TCP port")
    emulate.add_argument("--guard-time", type=_bounded(0, MAX_GUARD_TIME), default=GUARD_TIME,
                         metavar="SECONDS",
                         help=f"+++ guard time, 0 to {MAX_GUARD_TIME:g}")  # fmt: skip
    emulate.add_argument("--baud", type=_baud, metavar="N",
                         help="pace the UART at N baud (N/10 bytes/s); unpaced if not "
                         "given")  # fmt: skip
    emulate.add_argument("--state", type=_state_file, metavar="FILE",
                         help="the module's flash file (certificates, DNS, …)")  # fmt: skip
    emulate.add_argument("--no-echo", action="store_true", help="start with echo off (ATE0)")
    emulate.add_argument("--listen-host", type=_ip_address, default="127.0.0.1", metavar="IP",
                         help="where AT+SOCKET servers bind")  # fmt: skip
    emulate.add_argument("--dns-port", type=_tcp_port, default=53, metavar="PORT",
                         help="port of the DNS servers set with AT+WDNS")  # fmt: skip
    emulate.add_argument("-v", "--verbose", action="count", default=0,
                         help="more logging (-vv: the most)")  # fmt: skip

    info = command(
        "info",
        "show a module's firmware, sockets, DNS servers and auto-transparent setting",
        "Ask the module for its firmware version, its sockets (AT+SOCKET?), its DNS "
        "servers and its auto-transparent setting, and print them.",
        EPILOG_INFO,
    )
    _port_args(info, timeout=5.0)

    term = command(
        "term",
        "interactive AT terminal (URCs and payloads decoded; Ctrl-] quits)",
        "An interactive AT terminal: type commands, see the module's output framed "
        "(events marked, payloads decoded, error codes explained). Probes the module "
        "with AT first. Ctrl-] or Ctrl-D quits.",
        EPILOG_TERM,
    )
    _port_args(term, timeout=2.0, timeout_help="how long the first AT may take")

    stream = command(
        "stream",
        "netcat through the module: stdin to a peer, the peer to stdout",
        "Open a connection on the module, enter transparent mode and copy stdin to the "
        "peer and the peer to stdout; when stdin ends, leave once the peer is quiet. "
        "For UDP a summary of what moved goes to stderr at the end.",
        EPILOG_STREAM,
    )
    _port_args(stream, timeout=10.0)
    peer = stream.add_mutually_exclusive_group(required=True)
    peer.add_argument("--tcp", type=_host_port, metavar="HOST:PORT", help="a TCP peer")
    peer.add_argument("--udp", type=_host_port, metavar="HOST:PORT", help="a UDP peer")
    peer.add_argument("--tls", type=_host_port, metavar="HOST:PORT", help="a TLS peer")
    stream.add_argument("--idle", type=_bounded(0, 3600), default=1.0, metavar="SECONDS",
                        help="after stdin ends, stop once the peer is quiet this long")  # fmt: skip
    stream.add_argument("--link-rate", type=_positive, metavar="BYTES/S",
                        help="the line's speed where the port cannot tell it: a pty of "
                        "'atsock emulate --baud N' carries N/10")  # fmt: skip
    check = command(
        "check",
        "check a module (or the emulator) against the TCP/IP command set's spec",
        "Run every command of the spec against the module on URL, with real peers "
        "(TCP/UDP/TLS echo, a DNS server) on --peer-host, and print a table of the "
        "checks with the wire's bytes for each failure. Settings it changes "
        "(certificates, DNS servers, receive mode, auto-transparent) are put back "
        "afterwards. Exit status 0 only if every check passes.",
        EPILOG_CHECK,
    )
    check.add_argument("url", metavar="URL", nargs="?",
                       help="the module's port: /dev/tty…, socket://…")  # fmt: skip
    check.add_argument("--baud", type=_baud, default=115200, metavar="N", help="UART speed")
    check.add_argument("--timeout", type=_timeout, default=5.0, metavar="SECONDS",
                       help="each check's budget for all its waits (the line time of "
                       "its data added)")  # fmt: skip
    check.add_argument("--trace", action="store_true", help="hexdump the wire on stderr")
    check.add_argument("--peer-host", type=_ip_address, default="127.0.0.1", metavar="IP",
                       help="the host's address on the module's network: the peers "
                       "listen there")  # fmt: skip
    check.add_argument("--module-host", type=_ip_address, default="127.0.0.1", metavar="IP",
                       help="the module's address: the host connects there to its "
                       "servers")  # fmt: skip
    check.add_argument("--dns-port", type=_tcp_port, default=53, metavar="PORT",
                       help="the UDP port of the run's DNS server (a real module asks "
                       "on 53, which needs root)")  # fmt: skip
    check.add_argument("--only", type=_check_names, action="extend", metavar="NAMES",
                       help="run only these checks (comma-separated; see --list)")  # fmt: skip
    check.add_argument("--skip", type=_check_names, action="extend", metavar="NAMES",
                       help="skip these checks (comma-separated)")  # fmt: skip
    check.add_argument("--json", action="store_true", help="the report as JSON on stdout")
    check.add_argument("--list", action="store_true", help="list the checks and exit")

    proxy = command(
        "proxy",
        "SOCKS5 proxy: every connection a module connection (curl, requests, ...)",
        "Serve SOCKS5 (RFC 1928: CONNECT to IPv4 and IPv6 addresses and names the "
        "module resolves, UDP ASSOCIATE; no authentication, or --user) on a local "
        "address, each connection made by the module. The first line on stdout is "
        "the address it listens on. Ctrl-C or SIGTERM stops it, deleting every ConID.",
        EPILOG_PROXY,
    )
    _port_args(proxy, timeout=10.0)
    proxy.add_argument("--listen", type=_host_port, default="127.0.0.1:1080",
                       metavar="HOST:PORT",
                       help="where to listen (port 0: a free one)")  # fmt: skip
    proxy.add_argument("--user", type=_user, metavar="USER:PASSWORD",
                       help="require this username and password (RFC 1929)")  # fmt: skip
    proxy.add_argument("-v", "--verbose", action="count", default=0,
                       help="show open connections and their bytes live, "
                            "log each one (-vv: more)")  # fmt: skip
    return parser


def _port_args(
    parser: argparse.ArgumentParser,
    *,
    timeout: float,
    timeout_help: str = "each command's timeout",
) -> None:
    parser.add_argument("url", metavar="URL", help="the module's port: /dev/tty…, socket://…")
    parser.add_argument("--baud", type=_baud, default=115200, metavar="N", help="UART speed")
    parser.add_argument("--timeout", type=_timeout, default=timeout, metavar="SECONDS",
                        help=timeout_help)  # fmt: skip
    parser.add_argument("--trace", action="store_true", help="hexdump the wire on stderr")
