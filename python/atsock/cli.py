"""The ``atsock`` command line.

Subcommands arrive with their issues; until the demo lands, ``atsock demo`` says so
plainly instead of pretending.
"""

from __future__ import annotations

import argparse
import sys

import atsock


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="atsock",
        description="Drive a Wi-Fi module's TCP/IP AT command set (Ai-WB2 class) over a UART.",
    )
    parser.add_argument("--version", action="version", version=f"atsock {atsock.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("demo", help="stream data through an emulated module (not yet available)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    if args.command == "demo":
        print(
            "atsock demo: not yet — the emulator and driver it runs on are still being built.\n"
            f"The core is ready: atsock {atsock.__version__} ({atsock.build_profile()} build). "
            "Run `make test` to see it tested.",
        )
        return 0
    _build_parser().print_help(sys.stderr)
    return 2
