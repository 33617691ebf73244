"""Checks of the data commands: ``AT+SOCKETSEND`` (prompt, exact length, binary),
``AT+SOCKETREAD`` (1024-byte packets, CR/LF inside), ``AT+SOCKETSENDLINE`` (quotes,
commas, backslashes), ``AT+SOCKETDEL`` and ``AT+SOCKETRECVCFG`` passive and active.
"""

from __future__ import annotations

import socket
import time

from atsock.check.context import CheckContext, expect
from atsock.check.peers import CheckPeers
from atsock.check.registry import check
from atsock.errors import CommandError
from atsock.testing import TcpEcho
from atsock.types import ReceiveMode, SocketData, SocketType

#: Every byte value, the module's own reply lines and a +++ inside: what binary data
#: must carry untouched.
BINARY = bytes(range(256)) * 8 + b"\r\nOK\r\n+++\r\nERROR\r\n> \r\n+EVENT:SocketDown,1,3\r\n"
#: Most bytes one AT+SOCKETREAD may return (the spec's packet size).
PACKET = 1024
#: A SENDLINE payload with every character its quoting must escape.
LINE = 'say "hi", then a\\b, c=d, "quoted,comma"'


def _connect(ctx: CheckContext, peers: CheckPeers) -> int:
    return ctx.open(SocketType.TCP_CLIENT, ctx.options.peer_host, peers.tcp.port)


def _peer_got(ctx: CheckContext, echo: TcpEcho, start: int, data: bytes) -> None:
    """The echo peer received exactly ``data`` after ``start`` bytes (and no more)."""
    while len(echo.received) < start + len(data):
        ctx.left()
        time.sleep(0.01)
    ctx.module.at(timeout=ctx.left())  # a round trip: anything extra would be there by now
    got = echo.received[start:]
    expect(got == data, f"sent {len(data)} bytes, the peer received {len(got)}: {got[:80]!r}…")


@check(
    "socketsend", "AT+SOCKETSEND: prompt, exact length, binary data reach the peer", payload=4096
)
def check_socketsend(ctx: CheckContext, peers: CheckPeers) -> str:
    con_id = _connect(ctx, peers)
    start = len(peers.tcp.received)
    ctx.module.send(con_id, BINARY, timeout=ctx.left())
    _peer_got(ctx, peers.tcp, start, BINARY)
    return f"{len(BINARY)} bytes"


@check(
    "socketsend-packets",
    "AT+SOCKETSEND of 2500 bytes to a UDP peer: datagrams of at most 1024 bytes",
    payload=2500,
)
def check_socketsend_packets(ctx: CheckContext, peers: CheckPeers) -> str:
    host = ctx.host_socket(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    host.bind((ctx.options.peer_host, 0))
    con_id = ctx.open(SocketType.UDP_CLIENT, ctx.options.peer_host, host.getsockname()[1])
    data = (BINARY * 2)[:2500]
    ctx.module.send(con_id, data, timeout=ctx.left())
    got = bytearray()
    sizes = []
    while len(got) < len(data):
        host.settimeout(ctx.left())
        datagram, _ = host.recvfrom(65536)
        got += datagram
        sizes.append(len(datagram))
    expect(got == data, f"the datagrams carried {len(got)} bytes, not the {len(data)} sent")
    expect(max(sizes) <= PACKET, f"a datagram of {max(sizes)} bytes (over {PACKET})")
    return f"datagrams of {', '.join(map(str, sizes))} bytes"


@check(
    "socketread", "AT+SOCKETREAD: binary packets of at most 1024 bytes, CR/LF inside", payload=4096
)
def check_socketread(ctx: CheckContext, peers: CheckPeers) -> str:
    con_id = _connect(ctx, peers)
    ctx.module.send(con_id, BINARY, timeout=ctx.left())
    got, packets = ctx.read_exactly(con_id, len(BINARY))
    expect(got == BINARY, f"read back {len(got)} bytes that differ from the {len(BINARY)} sent")
    expect(max(packets) <= PACKET, f"a read returned {max(packets)} bytes (over {PACKET})")
    return f"{len(packets)} reads of {', '.join(map(str, packets))} bytes"


@check("socketsendline", "AT+SOCKETSENDLINE: quotes, commas, backslashes arrive as sent")
def check_socketsendline(ctx: CheckContext, peers: CheckPeers) -> None:
    con_id = _connect(ctx, peers)
    start = len(peers.tcp.received)
    ctx.module.send_line(con_id, LINE, timeout=ctx.left())
    _peer_got(ctx, peers.tcp, start, LINE.encode())


@check("socketdel", "AT+SOCKETDEL: the ConID leaves AT+SOCKET? and its commands then fail")
def check_socketdel(ctx: CheckContext, peers: CheckPeers) -> None:
    con_id = _connect(ctx, peers)
    ctx.delete(con_id)
    listed = [row.con_id for row in ctx.module.sockets(timeout=ctx.left())]
    expect(con_id not in listed, f"AT+SOCKET? still lists ConID {con_id} after AT+SOCKETDEL")
    try:
        ctx.module.command(f"AT+SOCKETREAD={con_id}", timeout=ctx.left())
    except CommandError:
        return
    expect(False, f"AT+SOCKETREAD={con_id} on the deleted ConID answered OK")


@check("recvcfg-passive", "AT+SOCKETRECVCFG=0: +EVENT:SocketDown gives the length, READ the data")
def check_recvcfg_passive(ctx: CheckContext, peers: CheckPeers) -> None:
    ctx.module.set_receive_mode(ReceiveMode.PASSIVE, timeout=ctx.left())
    con_id = _connect(ctx, peers)
    ctx.module.send(con_id, b"passive\r\n", timeout=ctx.left())
    event = ctx.event(SocketData, lambda e: e.con_id == con_id)
    expect(event.data is None, "in passive mode the event carried the data")
    expect(event.length == 9, f"the event says {event.length} bytes, not 9")
    got, _ = ctx.read_exactly(con_id, 9)
    expect(got == b"passive\r\n", f"AT+SOCKETREAD gave {got!r}")


@check("recvcfg-active", "AT+SOCKETRECVCFG=1: +EVENT:SocketDown carries the data itself")
def check_recvcfg_active(ctx: CheckContext, peers: CheckPeers) -> None:
    ctx.module.set_receive_mode(ReceiveMode.ACTIVE, timeout=ctx.left())
    try:
        con_id = _connect(ctx, peers)
        ctx.module.send(con_id, b"active\r\nOK\r\n", timeout=ctx.left())
        event = ctx.event(SocketData, lambda e: e.con_id == con_id)
        expect(event.data == b"active\r\nOK\r\n", f"the event carried {event.data!r}")
    finally:
        ctx.module.set_receive_mode(ReceiveMode.PASSIVE, timeout=ctx.options.timeout)
