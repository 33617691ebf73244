"""Checks of ``AT+SOCKET`` for every creatable type and its ``AT+SOCKET?`` rows: TCP and
UDP clients and servers, seeds from a client that connects to a module server, SSL
clients (verifying against the CA set with ``AT+SSLCRET``) and SSL servers.
"""

from __future__ import annotations

import socket
import ssl

from atsock.check.context import CheckContext, expect, free_port
from atsock.check.peers import CheckPeers
from atsock.check.registry import check
from atsock.errors import CommandError
from atsock.types import CertKind, SocketDisconnected, SocketSeed, SocketStatus, SocketType


def _row_is(ctx: CheckContext, con_id: int, stype: SocketType, port: int, *, remote: bool) -> None:
    row = ctx.row(con_id)
    expect(row.type == stype, f"AT+SOCKET? gives ConID {con_id} type {row.type}, not {stype:d}")
    if remote:
        expect(
            row.status == SocketStatus.CONNECTED,
            f"AT+SOCKET? gives ConID {con_id} status {row.status}, not 1 (connected)",
        )
        expect(
            (row.remote_host, row.remote_port) == (ctx.options.peer_host, port),
            f"AT+SOCKET? gives ConID {con_id} remote {row.remote_host}:{row.remote_port}, "
            f"not {ctx.options.peer_host}:{port}",
        )
    else:
        expect(
            row.local_port == port,
            f"AT+SOCKET? gives ConID {con_id} local port {row.local_port}, not {port}",
        )


def _round_trip(ctx: CheckContext, con_id: int, data: bytes) -> None:
    ctx.module.send(con_id, data, timeout=ctx.left())
    got, _ = ctx.read_exactly(con_id, len(data))
    expect(got == data, f"sent {data!r}, the echo read back {got!r}")


@check("at", "AT answers OK")
def check_at(ctx: CheckContext, peers: CheckPeers) -> None:
    ctx.module.at(timeout=ctx.left())


@check("tcp-client", "AT+SOCKET=4 connects; its AT+SOCKET? row; data both ways")
def check_tcp_client(ctx: CheckContext, peers: CheckPeers) -> None:
    con_id = ctx.open(SocketType.TCP_CLIENT, ctx.options.peer_host, peers.tcp.port)
    _row_is(ctx, con_id, SocketType.TCP_CLIENT, peers.tcp.port, remote=True)
    _round_trip(ctx, con_id, b"tcp client\r\n")


@check("udp-client", "AT+SOCKET=2; its row; a datagram to an echo peer and back")
def check_udp_client(ctx: CheckContext, peers: CheckPeers) -> None:
    con_id = ctx.open(SocketType.UDP_CLIENT, ctx.options.peer_host, peers.udp.port)
    _row_is(ctx, con_id, SocketType.UDP_CLIENT, peers.udp.port, remote=True)
    _round_trip(ctx, con_id, b"udp client datagram")


@check("udp-server", "AT+SOCKET=1 listens; its row; a host datagram in, the reply out")
def check_udp_server(ctx: CheckContext, peers: CheckPeers) -> None:
    port = free_port(socket.SOCK_DGRAM, ctx.options.module_host)
    con_id = ctx.open(SocketType.UDP_SERVER, None, port)
    _row_is(ctx, con_id, SocketType.UDP_SERVER, port, remote=False)
    host = ctx.host_socket(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    host.bind((ctx.options.peer_host, 0))
    host.sendto(b"to the module's server", (ctx.options.module_host, port))
    got, _ = ctx.read_exactly(con_id, len(b"to the module's server"))
    expect(got == b"to the module's server", f"the server read {got!r}")
    ctx.module.send(con_id, b"reply from the server", timeout=ctx.left())
    host.settimeout(ctx.left())
    reply, _ = host.recvfrom(2048)
    expect(reply == b"reply from the server", f"the host got {reply!r} back")


def _seed_of(ctx: CheckContext, server_id: int, seed_type: SocketType) -> int:
    seed = ctx.event(SocketSeed, lambda e: e.server_con_id == server_id)
    ctx.adopt(seed.con_id)
    row = ctx.row(seed.con_id)
    expect(row.type == seed_type, f"the seed's row gives type {row.type}, not {seed_type:d}")
    expect(
        row.server_con_id == server_id,
        f"the seed's row names server ConID {row.server_con_id}, not {server_id}",
    )
    return seed.con_id


def _seed_round_trip(ctx: CheckContext, seed_id: int, client: socket.socket) -> None:
    client.sendall(b"client to seed")
    got, _ = ctx.read_exactly(seed_id, len(b"client to seed"))
    expect(got == b"client to seed", f"the seed read {got!r}")
    ctx.module.send(seed_id, b"seed to client", timeout=ctx.left())
    back = ctx.recv_exactly(client, len(b"seed to client"))
    expect(back == b"seed to client", f"the client got {back!r}")


@check("tcp-server", "AT+SOCKET=3 listens; a host client makes a seed (type 5) both ways")
def check_tcp_server(ctx: CheckContext, peers: CheckPeers) -> None:
    port = free_port(socket.SOCK_STREAM, ctx.options.module_host)
    server_id = ctx.open(SocketType.TCP_SERVER, None, port)
    _row_is(ctx, server_id, SocketType.TCP_SERVER, port, remote=False)
    client = ctx.host_socket(socket.create_connection((ctx.options.module_host, port), ctx.left()))
    seed_id = _seed_of(ctx, server_id, SocketType.TCP_SEED)
    _seed_round_trip(ctx, seed_id, client)
    client.close()
    ctx.event(SocketDisconnected, lambda e: e.con_id == seed_id)


@check("ssl-client", "AT+SOCKET=7 verifies the peer against AT+SSLCRET=1, refuses a foreign CA")
def check_ssl_client(ctx: CheckContext, peers: CheckPeers) -> str:
    certificates, tls = peers.need_tls()
    ctx.module.set_certificate(CertKind.CA, certificates.ca, timeout=ctx.left())
    con_id = ctx.open(SocketType.SSL_CLIENT, ctx.options.peer_host, tls.port)
    _row_is(ctx, con_id, SocketType.SSL_CLIENT, tls.port, remote=True)
    _round_trip(ctx, con_id, b"through TLS\r\n")
    ctx.delete(con_id)
    ctx.module.set_certificate(CertKind.CA, certificates.foreign_ca, timeout=ctx.left())
    try:
        stray = ctx.open(SocketType.SSL_CLIENT, ctx.options.peer_host, tls.port)
    except CommandError as exc:
        return f"a foreign CA is refused: {exc}"
    status = ctx.row(stray).status
    expect(
        status != SocketStatus.CONNECTED,
        "AT+SOCKET=7 connected to a peer whose certificate the CA set does not sign",
    )
    return f"a foreign CA: status {status}"


@check("ssl-server", "AT+SOCKET=6 serves TLS with AT+SSLCRET=2/3; a seed (type 8) both ways")
def check_ssl_server(ctx: CheckContext, peers: CheckPeers) -> None:
    certificates, _ = peers.need_tls()
    ctx.module.set_certificate(CertKind.CLIENT_CERT, certificates.module.cert, timeout=ctx.left())
    ctx.module.set_certificate(CertKind.CLIENT_KEY, certificates.module.key, timeout=ctx.left())
    port = free_port(socket.SOCK_STREAM, ctx.options.module_host)
    server_id = ctx.open(SocketType.SSL_SERVER, None, port)
    _row_is(ctx, server_id, SocketType.SSL_SERVER, port, remote=False)
    context = ssl.create_default_context(cadata=certificates.ca.decode("ascii"))
    plain = ctx.host_socket(socket.create_connection((ctx.options.module_host, port), ctx.left()))
    client = ctx.host_socket(context.wrap_socket(plain, server_hostname=ctx.options.module_host))
    seed_id = _seed_of(ctx, server_id, SocketType.SSL_SEED)
    _seed_round_trip(ctx, seed_id, client)
