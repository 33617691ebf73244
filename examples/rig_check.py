"""``atsock check`` from Python: the command set's spec checked against a module.

Shows ``atsock.check``: ``select`` picks checks by name, ``run_checks`` runs them with
real peers on this host (TCP, UDP and TLS echo servers, a DNS server) and returns a
``CheckReport``; the settings the checks change are put back before it returns. Prints
a line per check as it finishes and a summary; the exit status is 1 if any failed.

On real hardware (the peers listen on the host's address as the module sees it; the
DNS checks need the run's DNS server on port 53: root, or skip them):

    python examples/rig_check.py /dev/ttyUSB0 --peer-host 192.0.2.10 \\
        --module-host 192.0.2.77 --skip wdomain,tcp-client-by-name

On the emulator (``emu://`` runs one in this process; ``dns_port`` is the port its
AT+WDNS servers are asked on, so the run's DNS server can listen there unprivileged):

    python examples/rig_check.py "emu://?dns_port=5353" --dns-port 5353
"""

from __future__ import annotations

import argparse
import sys

import atsock
from atsock.check import Check, CheckOptions, CheckResult, run_checks, select

PROG = "rig_check.py"
LOCAL = "127.0.0.1"


def names(text: str) -> list[str]:
    """An argparse type: comma-separated check names."""
    return [name.strip() for name in text.split(",") if name.strip()]


def port(text: str) -> int:
    """An argparse type: 1 to 65535."""
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"not a port number (1-65535): {text!r}")
    return int(text)


def progress(index: int, total: int, check: Check, result: CheckResult | None) -> None:
    """Called before (result None) and after each check."""
    if result is not None:
        verdict = "pass" if result.passed else "FAIL"
        print(f"[{index + 1}/{total}] {check.name}: {verdict} ({result.seconds:.2f} s)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog=PROG, description="Check a module against the spec.")
    parser.add_argument("url", help="the module's port: /dev/ttyUSB0, socket://HOST:PORT, emu://")
    parser.add_argument("--only", type=names, metavar="NAMES", help="run only these checks (a,b,…)")
    parser.add_argument("--skip", type=names, metavar="NAMES", help="skip these checks (a,b,…)")
    parser.add_argument("--peer-host", default=LOCAL, metavar="IP", help="where the peers listen")
    parser.add_argument("--module-host", default=LOCAL, metavar="IP", help="the module's IP")
    parser.add_argument("--dns-port", type=port, default=53, metavar="N", help="where it asks DNS")
    args = parser.parse_args()
    try:
        checks = select(args.only, args.skip)  # ValueError naming an unknown check
    except ValueError as exc:
        parser.error(str(exc))
    options = CheckOptions(  # and timeout=: each check's budget (default 5 s)
        peer_host=args.peer_host, module_host=args.module_host, dns_port=args.dns_port
    )
    try:
        report = run_checks(args.url, checks, options, progress=progress)
    except KeyboardInterrupt:  # the settings were put back all the same
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (OSError, atsock.ATError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    for result in report.results:
        if not result.passed:  # why, and the last bytes each way as evidence
            print(f"{result.name}: {result.detail}\n  sent:     {result.sent!r}")
            print(f"  received: {result.received!r}")
    for line in report.leftovers:
        print(f"not restored: {line}")
    passed = sum(r.passed for r in report.results)
    print(f"{passed} of {len(report.results)} checks passed on {report.url}")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
