"""Checks of the modes: ``AT+SOCKETTT`` (binary data both ways, a ``+++`` inside data
that must not leave, ``+++`` with the guard time that must, and nothing of it reaching
the peer) and ``AT+SOCKETAUTOTT`` set and query.
"""

from __future__ import annotations

import time

from atsock.check.checks_data import BINARY
from atsock.check.context import CheckContext, expect
from atsock.check.peers import CheckPeers
from atsock.check.registry import check
from atsock.sync.transparent import TransparentStream
from atsock.types import SocketType

#: A ``+++`` with data on both sides and no guard silence: data, not an escape.
INNER_ESCAPE = b"before+++after"


def _read_stream(ctx: CheckContext, stream: TransparentStream, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = stream.read(size - len(data), timeout=ctx.left())
        expect(bool(chunk), f"transparent mode ended after {len(data)} of {size} bytes")
        data += chunk
    return bytes(data)


@check("transparent", "AT+SOCKETTT: binary both ways, +++ inside data stays, +++ alone leaves",
       payload=2 * len(BINARY))  # fmt: skip
def check_transparent(ctx: CheckContext, peers: CheckPeers) -> str:
    con_id = ctx.open(SocketType.TCP_CLIENT, ctx.options.peer_host, peers.tcp.port)
    start = len(peers.tcp.received)
    guard = ctx.module.guard_time
    with ctx.module.transparent(timeout=ctx.left()) as stream:
        stream.write(BINARY)
        got = _read_stream(ctx, stream, len(BINARY))
        expect(got == BINARY, f"the echo of {len(BINARY)} bytes came back different")
        stream.write(INNER_ESCAPE)
        time.sleep(guard * 1.5)  # past the guard: an exit now would be the module's
        stream.write(b"still transparent")
        got = _read_stream(ctx, stream, len(INNER_ESCAPE) + len(b"still transparent"))
        expect(
            got == INNER_ESCAPE + b"still transparent",
            f"after a +++ inside data the echo gave {got!r} (the module left transparent mode?)",
        )
    ctx.module.at(timeout=ctx.left())
    sent = BINARY + INNER_ESCAPE + b"still transparent"
    received = peers.tcp.received[start:]
    expect(received == sent, f"the peer received {len(received)} bytes, not the {len(sent)} sent "
           f"(the exit's +++ reached it?)")  # fmt: skip
    listed = [row.con_id for row in ctx.module.sockets(timeout=ctx.left())]
    expect(con_id in listed, "the connection did not survive leaving transparent mode")
    return f"{len(sent)} bytes each way, guard time {guard:g} s"


@check("autott", "AT+SOCKETAUTOTT: set, query, disable (query type 0)")
def check_autott(ctx: CheckContext, peers: CheckPeers) -> None:
    host, port = ctx.options.peer_host, peers.tcp.port
    ctx.module.set_auto_transparent(SocketType.TCP_CLIENT, host, port, timeout=ctx.left())
    config = ctx.module.auto_transparent(timeout=ctx.left())
    got = f"{int(config.type)},{config.host},{config.port}"
    expect(got == f"4,{host},{port}", f"AT+SOCKETAUTOTT? gives {got}, not 4,{host},{port}")
    ctx.module.disable_auto_transparent(timeout=ctx.left())
    config = ctx.module.auto_transparent(timeout=ctx.left())
    expect(not config.enabled, f"after AT+SOCKETAUTOTT=0 the query gives type {int(config.type)}")
