"""Name resolution for the module emulator (AT+WDOMAIN and sockets opened by name).

The real module resolves names through the DNS servers set with AT+WDNS, so the
emulator must too: when usable servers are configured, a real DNS A query goes out
over UDP (dnspython) to each of them in order, which lets tests prove that the query
really went through the configured server. With no usable server configured, the
host's system resolver stands in for the module's DHCP-provided DNS.

Every wait is bounded by ``timeout``: per server for DNS queries, and overall for the
system resolver (``getaddrinfo`` has no timeout of its own, so it runs in a daemon
thread that is abandoned, not waited for, if it overruns).
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
from collections.abc import Sequence

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

__all__ = ["MAX_LABEL_LENGTH", "MAX_NAME_LENGTH", "ResolveError", "resolve"]

#: Longest domain name accepted (RFC 1035, text form without the final dot).
MAX_NAME_LENGTH = 253
#: Longest label (the part between dots).
MAX_LABEL_LENGTH = 63

#: Server entries that mean "no server configured" (AT+WDNS with 0.0.0.0 or empty).
_UNSET_SERVERS = frozenset({"", "0.0.0.0"})

_NAME_RE = re.compile(r"[A-Za-z0-9._-]+")


class ResolveError(Exception):
    """A name could not be resolved (refused, unknown, or no server answered).

    ``name`` is the name asked for; ``reasons`` maps each server tried (or
    ``"system resolver"``) to why it failed, in the order tried.
    """

    def __init__(self, message: str, name: str, reasons: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.reasons: dict[str, str] = dict(reasons or {})


def _ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _check_name(name: str) -> None:
    if not name:
        raise ResolveError("cannot resolve an empty name", name)
    if len(name) > MAX_NAME_LENGTH:
        raise ResolveError(
            f"cannot resolve a name of {len(name)} characters (at most {MAX_NAME_LENGTH})",
            name,
        )
    if _NAME_RE.fullmatch(name) is None:
        raise ResolveError(
            f"cannot resolve {name!r}: only letters, digits, '-', '.' and '_' are allowed",
            name,
        )
    labels = name[:-1].split(".") if name.endswith(".") else name.split(".")
    if any(not label for label in labels):
        raise ResolveError(f"cannot resolve {name!r}: empty label", name)
    if any(len(label) > MAX_LABEL_LENGTH for label in labels):
        raise ResolveError(
            f"cannot resolve {name!r}: a label is longer than {MAX_LABEL_LENGTH} characters",
            name,
        )


def _query_server(name: str, server: str, port: int, timeout: float) -> tuple[str | None, str]:
    """One A query to one server: (address, "") on success, (None, reason) otherwise.

    A reason starting with "NXDOMAIN" is a definitive answer (the caller stops there).
    """
    try:
        query = dns.message.make_query(name, dns.rdatatype.A)
        response = dns.query.udp(query, server, timeout=timeout, port=port)
    except dns.exception.Timeout:
        return None, f"no answer within {timeout:g} s"
    except (OSError, ValueError, dns.exception.DNSException) as exc:
        return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    rcode = response.rcode()
    if rcode == dns.rcode.NXDOMAIN:
        return None, "NXDOMAIN (no such name)"
    if rcode != dns.rcode.NOERROR:
        return None, f"server answered {dns.rcode.to_text(rcode)}"
    # CNAME chains come back in the same answer section: take the first A record.
    for rrset in response.answer:
        if rrset.rdtype == dns.rdatatype.A:
            for rdata in rrset:
                return str(rdata.address), ""
    return None, "answer holds no A record"


def _system_resolve(name: str, timeout: float) -> str:
    result: list[str] = []
    error: list[str] = []

    def work() -> None:
        try:
            infos = socket.getaddrinfo(name, None, family=socket.AF_INET)
        except (OSError, UnicodeError) as exc:
            error.append(str(exc) or type(exc).__name__)
            return
        if infos:
            result.append(str(infos[0][4][0]))
        else:
            error.append("no IPv4 address")

    worker = threading.Thread(target=work, name="atsock-getaddrinfo", daemon=True)
    worker.start()
    worker.join(timeout)
    if result:
        return result[0]
    reason = error[0] if error else f"no answer within {timeout:g} s"
    raise ResolveError(
        f"cannot resolve {name!r} with the system resolver: {reason}",
        name,
        {"system resolver": reason},
    )


def resolve(name: str, servers: Sequence[str], *, port: int = 53, timeout: float = 2.0) -> str:
    """Resolve ``name`` to one IPv4 address, as text.

    - An IPv4 or IPv6 literal is returned unchanged (no query).
    - A name that is empty, longer than 253 characters or holds characters other than
      letters, digits, ``-``, ``.`` and ``_`` (or has an empty or over-long label) is
      refused with ResolveError (no query).
    - If ``servers`` holds entries other than ``"0.0.0.0"``/``""``, an A query is sent
      over UDP to each of them in order, at ``port``, waiting at most ``timeout``
      seconds for each; the first A record wins. A server that times out, errors or
      answers without an A record passes the turn to the next one; an NXDOMAIN answer
      is definitive and stops the search (as the module's resolver does).
    - Otherwise the system resolver is used (IPv4 only), bounded by ``timeout``.

    Raises ResolveError, naming the servers tried and why each failed.
    """
    if _ip_literal(name):
        return name
    _check_name(name)
    usable = [s.strip() for s in servers if s.strip() not in _UNSET_SERVERS]
    if not usable:
        return _system_resolve(name, timeout)
    reasons: dict[str, str] = {}
    for server in usable:
        address, reason = _query_server(name, server, port, timeout)
        if address is not None:
            return address
        reasons[f"[{server}]:{port}" if ":" in server else f"{server}:{port}"] = reason
        if reason.startswith("NXDOMAIN"):
            break
    tried = "; ".join(f"{server} -> {why}" for server, why in reasons.items())
    raise ResolveError(f"cannot resolve {name!r}: {tried}", name, reasons)
