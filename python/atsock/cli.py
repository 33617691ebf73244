"""The ``atsock`` command line (also ``python -m atsock``).

Errors are one clear line on stderr and a non-zero status, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from types import FrameType

from serial import SerialException

import atsock
from atsock.cli_args import build_parser


def _setup_trace(args: argparse.Namespace) -> None:
    if getattr(args, "trace", False):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        wire = logging.getLogger("atsock.wire")
        wire.addHandler(handler)
        wire.setLevel(logging.DEBUG)


def _info(args: argparse.Namespace) -> int:
    from atsock.sync.module import Module

    with Module(args.url, baudrate=args.baud, timeout=args.timeout) as module:
        _probe(module, args)
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


def _probe(module: atsock.Module, args: argparse.Namespace) -> None:
    """AT, or an error saying that nothing answers on the URL."""
    try:
        module.at()
    except atsock.Timeout:
        raise atsock.ATError(
            f"no module answering on {args.url}: nothing answered AT within "
            f"{args.timeout:g} s (wrong port or baud rate, or the module is off?)"
        ) from None


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
        args.url,
        kind,
        peer,
        baudrate=args.baud,
        idle=args.idle,
        link_rate=args.link_rate,
        timeout=args.timeout,
    )


def _proxy(args: argparse.Namespace) -> int:
    from atsock.proxy.live import LiveView
    from atsock.sync.module import Module

    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(name)s: %(message)s")
    stop = threading.Event()
    with Module(args.url, baudrate=args.baud, timeout=args.timeout) as module:
        _probe(module, args)
        users = dict([args.user]) if args.user else None
        with module.serve_socks(args.listen, users=users) as proxy:
            print(f"{proxy.address[0]}:{proxy.address[1]}", flush=True)
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda *_: stop.set())
            view = LiveView(proxy.stats, sys.stderr) if args.verbose else contextlib.nullcontext()
            with view:
                while not stop.wait(0.5):
                    pass
    return 0


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


def _check(args: argparse.Namespace) -> int:
    from atsock.check import CHECKS, CheckOptions, run_checks, select
    from atsock.check.report import ProgressLine, format_json, format_table

    if args.list:
        width = max(len(c.name) for c in CHECKS)
        for known in CHECKS:
            print(f"{known.name:<{width}}  {known.summary}")
        return 0
    options = CheckOptions(
        peer_host=args.peer_host,
        module_host=args.module_host,
        dns_port=args.dns_port,
        timeout=args.timeout,
    )
    progress = ProgressLine(sys.stderr)
    try:
        report = run_checks(
            args.url, select(args.only, args.skip), options, progress=progress, baudrate=args.baud
        )
    finally:
        progress.done()
    print(format_json(report) if args.json else format_table(report))
    return 0 if report.passed else 1


def _demo(args: argparse.Namespace) -> int:
    from atsock.demo import run_demo

    report = run_demo(size=args.size, baud=args.baud, port=args.port, peer=args.peer)
    return 0 if report.verified else 1


def _explain(exc: BaseException, args: argparse.Namespace) -> str:
    """The error as one line a person can act on."""
    text = str(exc)
    if isinstance(exc, SerialException) and "Inappropriate ioctl" in text:
        # pyserial: "Could not configure port: (25, 'Inappropriate ioctl for device')"
        url = getattr(args, "url", None) or getattr(args, "port", None) or "the port"
        return f"{url} is not a serial port (it takes no terminal settings: ENOTTY)"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo" and (args.port is None) != (args.peer is None):
        parser.error("demo: --port and --peer go together (a real module and a real echo peer)")
    if args.command == "check" and args.url is None and not args.list:
        parser.error("check: the URL of the module to check is required (or --list)")
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
        if args.command == "proxy":
            return _proxy(args)
        if args.command == "check":
            return _check(args)
        if args.command == "term":
            from atsock.terminal import run_terminal

            return run_terminal(args.url, args.baud, timeout=args.timeout)
    except KeyboardInterrupt:
        print(f"atsock {args.command}: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, RuntimeError, atsock.ATError, SerialException) as exc:
        print(f"atsock {args.command}: error: {_explain(exc, args)}", file=sys.stderr)
        return 1
    parser.print_help(sys.stderr)
    return 2
