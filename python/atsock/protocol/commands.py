"""The command set as data: for each command, the line it sends (every value checked
and passed through the core's parameter formatter, which quotes and escapes it and
refuses CR/LF, so data can never inject a second command), how it travels (a payload
after ``>``, what must stay out of traces) and a pure parser of its reply.

Any front-end runs a :class:`Command` the same way: send ``line`` (and ``payload`` after
the prompt), collect the reply's frames up to the final result, hand them to ``parse``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from atsock._core import MAX_COMMAND_LINE, Frame, format_param, format_params
from atsock.errors import ATError
from atsock.types import (
    MAX_CERT,
    AutoTransparentConfig,
    CertKind,
    ReceiveMode,
    SocketInfo,
    SocketStatus,
    SocketType,
)

R = TypeVar("R")
#: The frames of a reply before its final result (info lines, payloads, connect lines).
Reply = Sequence[Frame]

#: Host names the module accepts (and nothing that could break a command line).
_HOSTNAME = re.compile(r"[A-Za-z0-9_.:\-]{1,253}")
#: Types AT+SOCKETAUTOTT can connect at boot.
AUTO_TRANSPARENT_TYPES = frozenset(
    {SocketType.UDP_SERVER, SocketType.UDP_CLIENT, SocketType.TCP_CLIENT, SocketType.SSL_CLIENT}
)


@dataclass(frozen=True)
class Command(Generic[R]):
    """One command: its line, how it travels, and how its reply is read."""

    line: bytes
    parse: Callable[[Reply], R]
    #: raw bytes written after the module's ``>`` prompt
    payload: bytes | None = None
    #: the payload stays out of traces (a certificate or key)
    secret: bool = False
    #: the reply's payload stays out of traces
    secret_reply: bool = False
    #: the line itself (and its echo) stays out of traces (a Wi-Fi password)
    secret_line: bool = False


# ---- values ----------------------------------------------------------------------------


def enum_or_int(kind: type[Any], value: int) -> Any:
    """``kind(value)``, or the plain number for a value this library does not know."""
    try:
        return kind(value)
    except ValueError:
        return value


def host(name: str) -> str:
    """Checks a host name or IP address the module can take (``ValueError`` if not)."""
    if not _HOSTNAME.fullmatch(name):
        raise ValueError(f"not a host name or IP address: {name!r}")
    return name


def port(number: int) -> int:
    """Checks a TCP/UDP port number, 1 to 65535 (``ValueError`` if not)."""
    if not 1 <= int(number) <= 65535:
        raise ValueError(f"port must be 1..65535, not {number}")
    return int(number)


def ipv4(address: str) -> str:
    """An IPv4 address in its normal form (``ValueError`` if not one)."""
    try:
        return str(ipaddress.IPv4Address(address))
    except ValueError:
        raise ValueError(f"not an IPv4 address: {address!r}") from None


# ---- reply parsers ---------------------------------------------------------------------


def nothing(reply: Reply) -> None:
    """A reply that carries nothing but its ``OK``."""


def text_lines(reply: Reply) -> list[str]:
    """The reply's information lines as text."""
    return [f.text or "" for f in reply]


def socket_rows(reply: Reply) -> list[SocketInfo]:
    """``AT+SOCKET?``: one row per ConID (rows that do not parse are skipped)."""
    rows = []
    for frame in reply:
        fields = (frame.text or "").split(",")
        if frame.kind != "info" or len(fields) != 7:
            continue
        try:
            con_id, kind, status = int(fields[0]), int(fields[1]), int(fields[2])
            remote_port, local_port, server = (int(x) for x in fields[4:7])
        except ValueError:
            continue
        rows.append(
            SocketInfo(
                con_id,
                enum_or_int(SocketType, kind),
                enum_or_int(SocketStatus, status),
                fields[3],
                remote_port,
                local_port,
                server,
            )
        )
    return rows


def new_con_id(reply: Reply) -> int | None:
    """``AT+SOCKET=``: the ConID of ``connect success ConID=N`` (None if it was left out)."""
    return next((f.id for f in reply if f.kind == "connect"), None)


def packet(reply: Reply) -> bytes:
    """``AT+SOCKETREAD``: the packet (``b""`` if none was waiting)."""
    return next((f.payload for f in reply if f.kind == "socketread"), None) or b""


def certificate_body(reply: Reply) -> bytes:
    """``AT+SSLCRET=<kind>``: the stored body (``b""`` if none)."""
    return next((f.payload or b"" for f in reply if f.kind == "sslcret"), b"")


def query_line(name: str) -> Callable[[Reply], str]:
    """A parser taking the ``+<name>:`` line of a query's reply."""

    def parse(reply: Reply) -> str:
        for frame in reply:
            if frame.name == name and frame.text:
                return frame.text
        raise ATError(f"AT+{name}: the module answered OK without a +{name}: line")

    return parse


def _after_colon(name: str) -> Callable[[Reply], str]:
    line = query_line(name)
    return lambda reply: line(reply).split(":", 1)[1]


def _servers(reply: Reply) -> tuple[str, ...]:
    return tuple(x for x in _after_colon("WDNS")(reply).split(",") if x)


def _auto_transparent(reply: Reply) -> AutoTransparentConfig:
    line = query_line("SOCKETAUTOTT")(reply)
    fields = (line.split(":", 1)[1] if ":" in line else "").split(",")
    fields += ["0", "", "-1"][len(fields) :]
    try:
        kind, remote_port = int(fields[0]), int(fields[2] or -1)
    except ValueError:
        raise ATError(f"unexpected AT+SOCKETAUTOTT? reply: {line!r}") from None
    return AutoTransparentConfig(enum_or_int(SocketType, kind), fields[1], remote_port)


# ---- the commands ----------------------------------------------------------------------


def plain(line: bytes) -> Command[None]:
    """A command whose reply carries nothing but its ``OK``."""
    return Command(line, nothing)


def any_line(line: str) -> Command[list[str]]:
    """Any command line; its information lines as text."""
    return Command(line.encode(), text_lines)


def open_socket(
    stype: SocketType, remote: str | None, number: int, *, con_id: int = 0, keep_alive: int = 0
) -> Command[int | None]:
    """``AT+SOCKET=``; parses to the new ConID (None: the firmware did not say it)."""
    if stype.is_seed:
        raise ValueError("seeds are created by the module when a client connects")
    params: list[str] = [str(int(stype))]
    if stype.is_client:
        if not remote:
            raise ValueError(f"{stype.name} needs a remote host")
        params.append(host(remote))
    elif remote:
        raise ValueError(f"{stype.name} listens on a port; it takes no host")
    params.append(str(port(number)))
    if con_id or keep_alive:
        params += [str(int(keep_alive)), str(int(con_id))]
    return Command(b"AT+SOCKET=" + format_params(params), new_con_id)


def socket_query() -> Command[list[SocketInfo]]:
    """``AT+SOCKET?``; parses to one row per ConID."""
    return Command(b"AT+SOCKET?", socket_rows)


def send(con_id: int, chunk: bytes) -> Command[None]:
    """``AT+SOCKETSEND``: ``chunk`` goes as the payload after the prompt."""
    return Command(b"AT+SOCKETSEND=%d,%d" % (con_id, len(chunk)), nothing, payload=chunk)


def send_line(con_id: int, raw: bytes) -> Command[None] | None:
    """``AT+SOCKETSENDLINE``, quoted and escaped as needed; None for data that cannot
    travel in a command line (CR, LF, too long): that goes by :func:`send`."""
    if b"\r" in raw or b"\n" in raw:
        return None
    line = b"AT+SOCKETSENDLINE=%d,%d," % (con_id, len(raw)) + format_param(raw)
    return Command(line, nothing) if len(line) <= MAX_COMMAND_LINE else None


def read(con_id: int) -> Command[bytes]:
    """``AT+SOCKETREAD``; parses to the packet waiting on ``con_id`` (``b""`` if none)."""
    return Command(b"AT+SOCKETREAD=%d" % con_id, packet)


def delete(con_id: int) -> Command[None]:
    """``AT+SOCKETDEL``: closes and forgets socket ``con_id``."""
    return plain(b"AT+SOCKETDEL=%d" % con_id)


def receive_mode(mode: ReceiveMode) -> Command[None]:
    """``AT+SOCKETRECVCFG``: how received data reaches the host (passive or active)."""
    return plain(b"AT+SOCKETRECVCFG=%d" % mode)


def set_auto_transparent(stype: SocketType, remote: str | None, number: int) -> Command[None]:
    """``AT+SOCKETAUTOTT``: after the next reset, connect and enter transparent mode."""
    if stype not in AUTO_TRANSPARENT_TYPES:
        raise ValueError(f"{stype.name} cannot be entered automatically")
    params = [str(int(stype))]
    if stype.is_client:
        params.append(host(remote or ""))
    params.append(str(port(number)))
    return plain(b"AT+SOCKETAUTOTT=" + format_params(params))


def auto_transparent_query() -> Command[AutoTransparentConfig]:
    """``AT+SOCKETAUTOTT?``; parses to the configuration stored."""
    return Command(b"AT+SOCKETAUTOTT?", _auto_transparent)


def set_certificate(kind: CertKind, body: bytes) -> Command[None]:
    """``AT+SSLCRET=<kind>,<len>`` and the body as a secret payload (none: clears it)."""
    if len(body) > MAX_CERT:
        raise ValueError(f"a certificate slot holds at most {MAX_CERT} bytes, not {len(body)}")
    line = b"AT+SSLCRET=%d,%d" % (kind, len(body))
    return Command(line, nothing, payload=body or None, secret=True)


def certificate(kind: CertKind) -> Command[bytes]:
    """``AT+SSLCRET=<kind>``; parses to the stored body (``b""`` if none), kept out of traces."""
    return Command(b"AT+SSLCRET=%d" % kind, certificate_body, secret_reply=True)


def resolve(name: str) -> Command[str]:
    """``AT+WDOMAIN``; parses to the address the module resolved ``name`` to."""
    return Command(b"AT+WDOMAIN=" + format_param(host(name)), _after_colon("WDOMAIN"))


def dns_query() -> Command[tuple[str, ...]]:
    """``AT+WDNS?``; parses to the module's DNS servers."""
    return Command(b"AT+WDNS?", _servers)


def set_dns(primary: str, secondary: str | None) -> Command[None]:
    """``AT+WDNS``: sets the module's DNS servers (one or two IPv4 addresses)."""
    servers = [ipv4(primary)] + ([ipv4(secondary)] if secondary else [])
    return plain(b"AT+WDNS=" + format_params(servers))


def join_wifi(ssid: str, password: str) -> Command[None]:
    """``AT+WJAP``: the password stays out of wire traces, and so does the line's echo."""
    params = [ssid, password] if password else [ssid]
    return Command(b"AT+WJAP=" + format_params(params), nothing, secret_line=True)


def auto_connect(on: bool) -> Command[None]:
    """``AT+WAUTOCONN``: whether the module joins the saved access point at boot."""
    return plain(b"AT+WAUTOCONN=%d" % int(on))


def new_socket_id(rows: list[SocketInfo], stype: SocketType) -> int:
    """Firmware that omits ``connect success``: the ConID of the newest row of ``stype``."""
    matching = [s for s in rows if int(s.type) == stype]
    if not matching:
        raise ATError("the module said OK but lists no new socket")
    return max(matching, key=lambda s: s.con_id).con_id


#: SOCKETSEND payloads larger than this go as several commands.
SEND_CHUNK = 64 * 1024
#: On a line of known rate a send's commands are cut to about this much line time, so
#: other threads' commands (a recv's AT+SOCKETREAD) get a turn that often.
SEND_SLICE = 0.25


def send_step(line_rate: float | None) -> int:
    """Bytes per AT+SOCKETSEND of a long send: :data:`SEND_SLICE` of line time, in whole
    1024-byte packets, at most :data:`SEND_CHUNK` (that, where the rate is unknown)."""
    if not line_rate:
        return SEND_CHUNK
    return max(1024, min(SEND_CHUNK, int(line_rate * SEND_SLICE) // 1024 * 1024))
