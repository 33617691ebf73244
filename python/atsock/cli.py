"""The ``atsock`` command line (also ``python -m atsock``).

Errors are one clear line on stderr and a non-zero status, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from types import FrameType
from typing import Callable

from serial import SerialException

import atsock
from atsock.emulator.machine import MAX_GUARD_TIME

EPILOG_EMULATE = """examples:
  atsock emulate --pty                    # prints /dev/pts/N, then serves it
  atsock emulate --tcp 127.0.0.1:0        # prints socket://127.0.0.1:PORT
  atsock emulate --pty --baud 115200 --state flash.json
"""


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _size(text: str) -> int:
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    number, unit = text.upper().rstrip("IB"), ""
    if number and number[-1] in units:
        number, unit = number[:-1], number[-1]
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


def _tcp_port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {text!r}")
    return int(text)


def _state_file(path: str) -> str:
    """A flash file the emulator can write: an existing writable file, or a new one in
    a writable directory."""
    folder = os.path.dirname(os.path.abspath(path))
    writable = os.access(path, os.W_OK) if os.path.exists(path) else os.access(folder, os.W_OK)
    if os.path.isdir(path) or not os.path.isdir(folder) or not writable:
        raise argparse.ArgumentTypeError(f"cannot write the state file {path!r}")
    return path


EPILOG_DEMO = """examples:
  atsock demo                             # 64 MiB through an emulated module, unpaced
  atsock demo --size 4M --baud 2000000    # paced like a 2 Mbaud UART
  atsock demo --port /dev/ttyUSB0 --peer 192.0.2.10:7   # a real module, a real echo peer
"""


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="atsock",
        description="Drive a Wi-Fi module's TCP/IP AT command set (Ai-WB2 class) over a UART.",
    )
    parser.add_argument("--version", action="version", version=f"atsock {atsock.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="stream data through an (emulated) module to a TCP echo peer and verify it",
        description="Stream a payload full of +++ and \\r\\nOK\\r\\n through transparent mode "
        "to a TCP echo peer, read the echo back, and verify both ways with sha256. "
        "Exit status 0 only if verified.",
        epilog=EPILOG_DEMO,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--size", type=_size, default=64 << 20, help="payload size (default 64M)")
    demo.add_argument("--baud", type=int, metavar="N",
                      help="pace the emulated UART at N baud; with --port, the UART's speed "
                      "(default 115200)")  # fmt: skip
    demo.add_argument("--port", metavar="URL", help="a real module's port (pyserial URL)")
    demo.add_argument("--peer", type=_host_port, metavar="HOST:PORT",
                      help="the echo peer to use with --port")  # fmt: skip

    emulate = sub.add_parser(
        "emulate",
        help="run the module emulator on a pty or a TCP port",
        description="Run the module emulator. The first line on stdout is the pyserial URL "
        "to open; logs go to stderr. Stops cleanly on Ctrl-C / SIGTERM.",
        epilog=EPILOG_EMULATE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = emulate.add_mutually_exclusive_group()
    where.add_argument("--pty", action="store_true", help="serve on a pseudo-terminal (default)")
    where.add_argument("--tcp", type=_host_port, metavar="HOST:PORT", help="serve on a TCP port")
    emulate.add_argument("--guard-time", type=_bounded(0, MAX_GUARD_TIME), default=0.02,
                         metavar="SECONDS",
                         help=f"+++ guard time, 0 to {MAX_GUARD_TIME:g}; default 0.02")  # fmt: skip
    emulate.add_argument("--baud", type=int, metavar="N",
                         help="pace the UART at N baud (N/10 B/s); default unpaced")  # fmt: skip
    emulate.add_argument("--state", type=_state_file, metavar="FILE",
                         help="the module's flash file (certificates, DNS, …)")  # fmt: skip
    emulate.add_argument("--no-echo", action="store_true", help="start with echo off (ATE0)")
    emulate.add_argument("--listen-host", default="127.0.0.1",
                         help="where AT+SOCKET servers bind (default 127.0.0.1)")  # fmt: skip
    emulate.add_argument("--dns-port", type=_tcp_port, default=53,
                         help="port of the DNS servers set with AT+WDNS (default 53)")  # fmt: skip
    emulate.add_argument("-v", "--verbose", action="count", default=0, help="more logging")

    info = sub.add_parser(
        "info",
        help="show a module's firmware, sockets, DNS servers and auto-transparent setting",
        epilog="example:\n  atsock info /dev/ttyUSB0\n  atsock info socket://127.0.0.1:4000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _port_args(info)

    term = sub.add_parser(
        "term",
        help="interactive AT terminal (URCs and payloads decoded; Ctrl-] quits)",
        epilog="example:\n  atsock term /dev/ttyUSB0 --baud 115200 --trace",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _port_args(term)

    stream = sub.add_parser(
        "stream",
        help="netcat through the module: stdin to a peer, the peer to stdout",
        epilog="examples:\n  echo hello | atsock stream /dev/ttyUSB0 --tcp 192.0.2.10:7\n"
        "  atsock stream socket://127.0.0.1:4000 --udp 127.0.0.1:9999 < data.bin\n"
        "  atsock stream /dev/pts/7 --link-rate 200000 --tcp 127.0.0.1:7 < data.bin",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _port_args(stream)
    peer = stream.add_mutually_exclusive_group(required=True)
    peer.add_argument("--tcp", type=_host_port, metavar="HOST:PORT", help="a TCP peer")
    peer.add_argument("--udp", type=_host_port, metavar="HOST:PORT", help="a UDP peer")
    peer.add_argument("--tls", type=_host_port, metavar="HOST:PORT", help="a TLS peer")
    stream.add_argument("--idle", type=_bounded(0, 3600), default=1.0, metavar="SECONDS",
                        help="after stdin ends, stop once the peer is quiet this long")  # fmt: skip
    stream.add_argument("--link-rate", type=_positive, metavar="BYTES/S",
                        help="the line's speed where the port cannot tell it: a pty of "
                             "'atsock emulate --baud N' carries N/10")  # fmt: skip
    return parser


def _port_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", metavar="URL", help="the module's port: /dev/tty…, socket://…")
    parser.add_argument("--baud", type=int, default=115200, help="UART speed (default 115200)")
    parser.add_argument("--trace", action="store_true", help="hexdump the wire on stderr")


def _setup_trace(args: argparse.Namespace) -> None:
    if getattr(args, "trace", False):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        wire = logging.getLogger("atsock.wire")
        wire.addHandler(handler)
        wire.setLevel(logging.DEBUG)


def _info(args: argparse.Namespace) -> int:
    from atsock.module import Module

    with Module(args.url, baudrate=args.baud) as module:
        module.at()
        for line in module.version():
            print(line)
        rows = module.sockets()
        print(f"sockets: {len(rows) or 'none'}")
        for row in rows:
            print(
                f"  ConID {row.con_id}: {_name(row.type)} {_name(row.status)} "
                f"remote {row.remote_host or '-'}:{row.remote_port} local port {row.local_port}"
            )
        print("DNS servers: " + ", ".join(module.dns_servers()))
        auto = module.auto_transparent()
        if auto.enabled:
            print(f"auto-transparent: {_name(auto.type)} {auto.host}:{auto.port}")
        else:
            print("auto-transparent: off")
    return 0


def _name(value: object) -> str:
    name = getattr(value, "name", None)
    return str(name) if name else str(value)


def _stream(args: argparse.Namespace) -> int:
    from atsock.netcat import run_stream
    from atsock.types import SocketType

    if args.tcp:
        kind, peer = SocketType.TCP_CLIENT, args.tcp
    elif args.udp:
        kind, peer = SocketType.UDP_CLIENT, args.udp
    else:
        kind, peer = SocketType.SSL_CLIENT, args.tls
    return run_stream(
        args.url, kind, peer, baudrate=args.baud, idle=args.idle, link_rate=args.link_rate
    )


def _emulate(args: argparse.Namespace) -> int:
    from atsock.emulator import Emulator

    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(name)s: %(message)s")
    host, port = args.tcp if args.tcp else ("127.0.0.1", 0)
    emu = Emulator(
        transport="tcp" if args.tcp else "pty",
        host=host,
        port=port,
        guard_time=args.guard_time,
        baud=args.baud,
        state=args.state,
        echo=False if args.no_echo else None,
        listen_host=args.listen_host,
        dns_port=args.dns_port,
    )
    print(emu.url, flush=True)

    def stop(signum: int, frame: FrameType | None) -> None:
        emu.stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    emu.serve_forever()
    return 0


def _demo(args: argparse.Namespace) -> int:
    from atsock.demo import run_demo

    report = run_demo(size=args.size, baud=args.baud, port=args.port, peer=args.peer)
    return 0 if report.verified else 1


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo" and (args.port is None) != (args.peer is None):
        parser.error("demo: --port and --peer go together (a real module and a real echo peer)")
    try:
        if args.command == "emulate":
            return _emulate(args)
        _setup_trace(args)
        if args.command == "demo":
            return _demo(args)
        if args.command == "info":
            return _info(args)
        if args.command == "stream":
            return _stream(args)
        if args.command == "term":
            from atsock.terminal import run_terminal

            return run_terminal(args.url, args.baud)
    except KeyboardInterrupt:
        print(f"atsock {args.command}: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, RuntimeError, atsock.ATError, SerialException) as exc:
        print(f"atsock {args.command}: error: {exc}", file=sys.stderr)
        return 1
    parser.print_help(sys.stderr)
    return 2
