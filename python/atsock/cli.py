"""The ``atsock`` command line (also ``python -m atsock``).

Errors are one clear line on stderr and a non-zero status, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType

import atsock

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
    demo.add_argument("--baud", type=int, metavar="N", help="pace the emulated UART at N baud")
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
    emulate.add_argument("--guard-time", type=float, default=0.02, metavar="SECONDS",
                         help="+++ guard time (default 0.02)")  # fmt: skip
    emulate.add_argument("--baud", type=int, metavar="N",
                         help="pace the UART at N baud (N/10 B/s); default unpaced")  # fmt: skip
    emulate.add_argument("--state", metavar="FILE",
                         help="the module's flash file (certificates, DNS, …)")  # fmt: skip
    emulate.add_argument("--no-echo", action="store_true", help="start with echo off (ATE0)")
    emulate.add_argument("--listen-host", default="127.0.0.1",
                         help="where AT+SOCKET servers bind (default 127.0.0.1)")  # fmt: skip
    emulate.add_argument("--dns-port", type=int, default=53,
                         help="port of the DNS servers set with AT+WDNS (default 53)")  # fmt: skip
    emulate.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    return parser


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

    if (args.port is None) != (args.peer is None):
        raise ValueError("--port and --peer go together (a real module and a real echo peer)")
    if args.port and args.baud:
        raise ValueError("--baud paces the emulator; a real module runs at its own rate")
    report = run_demo(size=args.size, baud=args.baud, port=args.port, peer=args.peer)
    return 0 if report.verified else 1


def main(argv: list[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "emulate":
            return _emulate(args)
        if args.command == "demo":
            return _demo(args)
    except KeyboardInterrupt:
        print(f"atsock {args.command}: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, RuntimeError, atsock.ATError) as exc:
        print(f"atsock {args.command}: error: {exc}", file=sys.stderr)
        return 1
    parser.print_help(sys.stderr)
    return 2
