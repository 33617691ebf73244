"""The SOCKS5 handshake (RFC 1928 greeting and request, RFC 1929 username/password) as
steps, apart from any I/O: the generators yield :class:`Need` (read exactly this many
bytes and send them in) and :class:`Say` (write these bytes), and return what was
asked. The threaded proxy follows them over a socket (``server.follow``), the asyncio
one over streams (``aio.socks_proxy``): one set of rules for both."""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Generator
from dataclasses import dataclass
from typing import Optional, Union

from atsock.proxy import socks5
from atsock.proxy.socks5 import Address, HandshakeError, UnknownAddressType

#: longest a client may take over its handshake (seconds)
HANDSHAKE_TIMEOUT = 10.0


@dataclass(frozen=True)
class Need:
    """Read exactly ``size`` bytes from the client and send them in."""

    size: int


@dataclass(frozen=True)
class Say:
    """Write ``data`` to the client."""

    data: bytes


Step = Union[Need, Say]
#: the steps of a whole handshake: (command, target), or None once the client was told
#: why not
Handshake = Generator[Step, bytes, Optional[tuple[int, Address]]]


def negotiate(users: dict[str, str] | None) -> Handshake:
    """Greeting, authentication (``users``: username to password; None: none) and the
    request; CONNECT and UDP ASSOCIATE are returned, others are answered here."""
    version, count = yield Need(2)
    if version != socks5.VERSION:
        raise HandshakeError(f"not SOCKS5 (version byte {version})")
    methods = yield Need(count)
    wanted = socks5.NO_AUTH if users is None else socks5.USER_PASS
    if wanted not in methods:
        yield Say(bytes([socks5.VERSION, socks5.NO_METHOD]))
        return None
    yield Say(bytes([socks5.VERSION, wanted]))
    if users is not None and not (yield from _authenticate(users)):
        return None
    version, command, _, atype = yield Need(4)
    if version != socks5.VERSION:
        raise HandshakeError(f"request of version {version}")
    try:
        target = yield from read_address(atype)
    except UnknownAddressType:
        yield Say(socks5.reply(socks5.ADDRESS_NOT_SUPPORTED))
        return None
    if command not in (socks5.CONNECT, socks5.UDP_ASSOCIATE):
        yield Say(socks5.reply(socks5.COMMAND_NOT_SUPPORTED))  # BIND
        return None
    return command, target


def _authenticate(users: dict[str, str]) -> Generator[Step, bytes, bool]:
    """RFC 1929 username/password; whether they were right (the client is told)."""
    (version,) = yield Need(1)
    if version != socks5.USER_PASS_VERSION:
        raise HandshakeError(f"username/password of version {version}")
    user = (yield Need((yield Need(1))[0])).decode("utf-8", "replace")
    password = (yield Need((yield Need(1))[0])).decode("utf-8", "replace")
    ok = users.get(user) == password
    yield Say(bytes([socks5.USER_PASS_VERSION, 0 if ok else 1]))
    return ok


def read_address(atype: int) -> Generator[Step, bytes, Address]:
    """The address that follows an address type byte (DST.ADDR and DST.PORT)."""
    if atype == socks5.IPV4:
        host = str(ipaddress.IPv4Address((yield Need(4))))
    elif atype == socks5.IPV6:
        host = str(ipaddress.IPv6Address((yield Need(16))))
    elif atype == socks5.DOMAIN:
        host = (yield Need((yield Need(1))[0])).decode("ascii", "replace")
    else:
        raise UnknownAddressType(f"address type {atype}")
    (port,) = struct.unpack("!H", (yield Need(2)))
    return host, port
