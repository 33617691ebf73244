"""``atsock proxy``: a SOCKS5 server (RFC 1928) whose every connection is a module
connection, so any program that speaks SOCKS (curl, requests, a browser, an MQTT
client) runs over the Wi-Fi module unchanged.

CONNECT to IPv4, IPv6 and domain-name targets (names are resolved by the module),
UDP ASSOCIATE over module UDP clients, no authentication or username/password (RFC
1929). A module error becomes the SOCKS reply it means (refused, host unreachable, TTL
expired, general failure); BIND gets "command not supported". The proxy runs on the
command path (AT+SOCKETSEND / AT+SOCKETREAD), so many connections share the module;
each connection runs on two threads, one each way.

:class:`SocksProxy` is the server (also ``Module.serve_socks``); ``socks5`` the wire
format, ``relay`` a CONNECT's data, ``udp`` a UDP ASSOCIATE, ``stats`` the counts.
"""

from atsock.proxy.handshake import HANDSHAKE_TIMEOUT
from atsock.proxy.server import SocksProxy
from atsock.proxy.socks5 import HandshakeError
from atsock.proxy.stats import ProxyStats, Relayed

__all__ = ["HANDSHAKE_TIMEOUT", "HandshakeError", "ProxyStats", "Relayed", "SocksProxy"]
