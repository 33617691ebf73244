"""Checks of the settings: ``AT+SSLCRET`` set and query for every slot, ``AT+WDNS`` set
and query, ``AT+WDOMAIN`` through the run's DNS server, and a client opened by name.
"""

from __future__ import annotations

from atsock.check.context import CheckContext, expect
from atsock.check.peers import CHECK_NAME, CheckPeers
from atsock.check.registry import check
from atsock.errors import CommandError
from atsock.types import CertKind, SocketType

#: A name the run's DNS server does not know.
UNKNOWN_NAME = "nowhere.atsock-check.test"


@check("sslcret", "AT+SSLCRET: each slot set and queried back byte for byte")
def check_sslcret(ctx: CheckContext, peers: CheckPeers) -> str:
    certificates, _ = peers.need_tls()
    bodies = {
        CertKind.CA: certificates.ca,
        CertKind.CLIENT_CERT: certificates.module.cert,
        CertKind.CLIENT_KEY: certificates.module.key,
    }
    for kind, body in bodies.items():
        ctx.module.set_certificate(kind, body, timeout=ctx.left())
        got = ctx.module.certificate(kind, timeout=ctx.left())
        expect(
            got == body, f"AT+SSLCRET={kind:d} gives {len(got)} bytes back, not the {len(body)} set"
        )
    return ", ".join(f"slot {kind:d}: {len(body)} bytes" for kind, body in bodies.items())


@check("wdns", "AT+WDNS: set, then AT+WDNS? gives it back")
def check_wdns(ctx: CheckContext, peers: CheckPeers) -> None:
    host = ctx.options.peer_host
    ctx.module.set_dns_servers(host, timeout=ctx.left())
    servers = ctx.module.dns_servers(timeout=ctx.left())
    expect(bool(servers) and servers[0] == host, f"AT+WDNS? gives {','.join(servers)}, not {host}")


@check("wdomain", "AT+WDOMAIN: the name resolves through the DNS server set; unknown is ERROR")
def check_wdomain(ctx: CheckContext, peers: CheckPeers) -> None:
    dns = peers.need_dns()
    host = ctx.options.peer_host
    ctx.module.set_dns_servers(host, timeout=ctx.left())
    address = ctx.module.resolve(CHECK_NAME, timeout=ctx.left())
    expect(address == host, f"AT+WDOMAIN={CHECK_NAME} gives {address}, not {host}")
    expect(CHECK_NAME in dns.queries, "the answer did not come from the DNS server set")
    try:
        address = ctx.module.resolve(UNKNOWN_NAME, timeout=ctx.left())
    except CommandError:
        return
    expect(False, f"AT+WDOMAIN={UNKNOWN_NAME} (NXDOMAIN) gives {address}, not ERROR")


@check("tcp-client-by-name", "AT+SOCKET=4 to a name the module resolves; data both ways")
def check_tcp_client_by_name(ctx: CheckContext, peers: CheckPeers) -> None:
    peers.need_dns()
    ctx.module.set_dns_servers(ctx.options.peer_host, timeout=ctx.left())
    con_id = ctx.open(SocketType.TCP_CLIENT, CHECK_NAME, peers.tcp.port)
    ctx.module.send(con_id, b"by name", timeout=ctx.left())
    got, _ = ctx.read_exactly(con_id, 7)
    expect(got == b"by name", f"the echo read back {got!r}")
