"""SOCKS5's wire format (RFC 1928, RFC 1929), apart from any socket: the constants,
the addresses as they travel (IPv4, IPv6, domain name), replies, relayed UDP datagrams
and the reply each module error means (the handshake's steps: :mod:`atsock.proxy.handshake`)."""

from __future__ import annotations

import ipaddress
import struct
from typing import NamedTuple

from atsock.errors import HostNotFound, SocketRefused, Timeout

VERSION = 5
NO_AUTH, USER_PASS, NO_METHOD = 0x00, 0x02, 0xFF
USER_PASS_VERSION = 1
CONNECT, BIND, UDP_ASSOCIATE = 0x01, 0x02, 0x03
IPV4, DOMAIN, IPV6 = 0x01, 0x03, 0x04
#: reply codes (RFC 1928, section 6)
SUCCEEDED, GENERAL_FAILURE, HOST_UNREACHABLE, REFUSED = 0x00, 0x01, 0x04, 0x05
TTL_EXPIRED, COMMAND_NOT_SUPPORTED, ADDRESS_NOT_SUPPORTED = 0x06, 0x07, 0x08

Address = tuple[str, int]


class HandshakeError(Exception):
    """The client did not speak SOCKS5 as RFC 1928 says (it is disconnected)."""


class UnknownAddressType(HandshakeError):
    """An address type byte that is none of IPv4, domain name, IPv6."""


def reply_for(exc: BaseException) -> int:
    """The reply a module error means for a CONNECT: refused, host unreachable (a name
    the module cannot resolve), TTL expired (a timeout), else general failure."""
    if isinstance(exc, SocketRefused):
        return REFUSED
    if isinstance(exc, HostNotFound):
        return HOST_UNREACHABLE
    if isinstance(exc, Timeout):
        return TTL_EXPIRED
    return GENERAL_FAILURE


def encode_address(address: Address) -> bytes:
    """ATYP, ADDR and PORT for ``address`` (an IP literal, else a domain name)."""
    host, port = address
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        name = host.encode("idna")[:255]
        packed = bytes([DOMAIN, len(name)]) + name
    else:
        packed = bytes([IPV4 if ip.version == 4 else IPV6]) + ip.packed
    return packed + struct.pack("!H", port)


def reply(code: int, bound: Address = ("0.0.0.0", 0)) -> bytes:
    """A reply to a request; BND.ADDR is unspecified (0.0.0.0:0) unless given."""
    return bytes([VERSION, code, 0]) + encode_address(bound)


class UdpDatagram(NamedTuple):
    """A client's datagram: where to, what, and its header (RSV, FRAG, ATYP, DST.ADDR,
    DST.PORT as the client wrote it: the header of the replies from there)."""

    destination: Address
    payload: bytes
    header: bytes


def parse_udp_datagram(datagram: bytes) -> UdpDatagram | None:
    """A client's datagram, or None for one to drop: too short, a fragment (FRAG != 0:
    this server does not reassemble, which RFC 1928 allows), or an unknown address
    type."""
    if len(datagram) < 4 or datagram[2] != 0:
        return None
    atype, at = datagram[3], 4
    if atype == IPV4:
        end = at + 4
        host = str(ipaddress.IPv4Address(datagram[at:end])) if len(datagram) >= end else ""
    elif atype == IPV6:
        end = at + 16
        host = str(ipaddress.IPv6Address(datagram[at:end])) if len(datagram) >= end else ""
    elif atype == DOMAIN and len(datagram) > at:
        end = at + 1 + datagram[at]
        host = datagram[at + 1 : end].decode("ascii", "replace")
    else:
        return None
    if not host or len(datagram) < end + 2:
        return None
    (port,) = struct.unpack("!H", datagram[end : end + 2])
    return UdpDatagram((host, port), datagram[end + 2 :], datagram[: end + 2])


class UdpClient:
    """Whom an association's datagrams may come from: the IP of the client's control
    connection, from the port it named in its request (0: the first datagram from that
    IP fixes the port); :attr:`address` once known."""

    def __init__(self, ip: str, port: int) -> None:
        self.ip, self.port = ip, port
        self.address: Address | None = None

    def accepts(self, source: Address) -> bool:
        if self.address is None and source[0] == self.ip and self.port in (0, source[1]):
            self.address = source
        return source == self.address
