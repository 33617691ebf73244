"""atsock for asyncio: :func:`open_module` and :class:`AsyncModule`, the awaitable twin
of :class:`atsock.Module`, on the same sans-I/O protocol machine
(:mod:`atsock.protocol`); the event loop reads and writes the port, no thread::

    async with atsock.aio.open_module("emu://?guard_time=0.05", timeout=5.0) as m:
        await m.at()
        cid = await m.open_socket(atsock.SocketType.TCP_CLIENT, "127.0.0.1", port)
        await m.send(cid, b"hello")
        async for event in m.events(timeout=1.0):
            ...
"""

from atsock.aio.datagrams import ConIDDatagramTransport
from atsock.aio.module import AsyncModule, open_module
from atsock.aio.socks_proxy import AsyncSocksProxy

__all__ = ["AsyncModule", "AsyncSocksProxy", "ConIDDatagramTransport", "open_module"]
