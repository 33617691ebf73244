"""The driver over ``rfc2217://`` (a serial port shared over the network), against the
emulator behind pyserial's own RFC 2217 server: commands answer, and a transparent
stream (telnet's escape byte 0xFF included) comes back byte for byte."""

from __future__ import annotations

import pytest

from atsock import Module, SocketType
from atsock.emulator import Emulator
from peers import TcpEchoServer
from rfc2217_bridge import Rfc2217Bridge

# pyserial's RFC 2217 client names and starts its reader thread with deprecated calls
pytestmark = [
    pytest.mark.filterwarnings("ignore:setDaemon:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:setName:DeprecationWarning"),
]


def test_commands_and_a_transparent_stream_over_rfc2217() -> None:
    payload = bytes(range(256)) * 256 + b"\r\nOK\r\n+++\xff\xff"
    with (
        TcpEchoServer() as echo,
        Emulator(transport="pty", echo=False) as emu,
        Rfc2217Bridge(emu.url) as bridge,
        Module(bridge.url, timeout=5.0, exit_delay=0.05) as module,
    ):
        module.at()
        assert module.version()
        module.open_socket(SocketType.TCP_CLIENT, "127.0.0.1", echo.address[1])
        with module.transparent(timeout=10.0) as stream:
            stream.write(payload)
            echoed = b""
            while len(echoed) < len(payload):
                echoed += stream.read(65536, timeout=10.0)
        assert echoed == payload
        module.at()  # back in command mode
