"""The command set as data (atsock.protocol.commands): each command's line, exactly as
the spec spells it, and its reply parsed from the module's bytes (framed by the core),
with no port and no module."""

from __future__ import annotations

import pytest

from atsock import AutoTransparentConfig, CertKind, ReceiveMode, SocketInfo
from atsock import SocketStatus as St
from atsock import SocketType as T
from atsock._core import ResponseFramer
from atsock.errors import ATError
from atsock.protocol import commands
from atsock.protocol.commands import Command


def reply_of(command: Command[object], output: bytes) -> object:
    """What ``command`` parses from the module's ``output`` (up to its final result)."""
    frames = ResponseFramer().feed(output)
    final = next(i for i, f in enumerate(frames) if f.kind in ("ok", "error"))
    return command.parse([f for f in frames[:final] if f.kind != "echo"])


def test_socket_rows_parse_and_skip_what_does_not() -> None:
    rows = reply_of(
        commands.socket_query(),
        b"1,4,1,10.0.0.2,80,-1,-1\r\n3,3,1,,-1,8888,-1\r\n4,5,1,10.0.0.9,5555,8888,3\r\n"
        b"9,42,7,host,1,2,3\r\nnot,a,row\r\nOK\r\n",
    )
    assert rows == [
        SocketInfo(1, T.TCP_CLIENT, St.CONNECTED, "10.0.0.2", 80, -1, -1),
        SocketInfo(3, T.TCP_SERVER, St.CONNECTED, "", -1, 8888, -1),
        SocketInfo(4, T.TCP_SEED, St.CONNECTED, "10.0.0.9", 5555, 8888, 3),
        SocketInfo(9, 42, 7, "host", 1, 2, 3),  # unknown type and status kept as numbers
    ]


def test_open_socket_lines_and_the_new_conid() -> None:
    command = commands.open_socket(T.TCP_CLIENT, "example.org", 80)
    assert command.line == b"AT+SOCKET=4,example.org,80"
    assert reply_of(command, b"connect success ConID=2\r\nOK\r\n") == 2
    assert reply_of(command, b"OK\r\n") is None  # firmware that leaves the line out
    server = commands.open_socket(T.TCP_SERVER, None, 8888, con_id=5, keep_alive=60)
    assert server.line == b"AT+SOCKET=3,8888,60,5"
    with pytest.raises(ValueError, match="needs a remote host"):
        commands.open_socket(T.UDP_CLIENT, None, 9)
    with pytest.raises(ValueError, match="takes no host"):
        commands.open_socket(T.UDP_SERVER, "x", 9)
    with pytest.raises(ValueError, match="seeds are created by the module"):
        commands.open_socket(T.TCP_SEED, None, 9)
    with pytest.raises(ValueError, match="not a host name"):
        commands.open_socket(T.TCP_CLIENT, 'a",b\r\nAT+RST', 80)  # no second command
    with pytest.raises(ValueError, match="port must be"):
        commands.open_socket(T.TCP_CLIENT, "h", 70000)


def test_send_line_quotes_or_hands_over_to_send() -> None:
    command = commands.send_line(1, b'a,"b"\\c')
    assert command is not None
    assert command.line == b'AT+SOCKETSENDLINE=1,7,"a,\\"b\\"\\\\c"'
    assert commands.send_line(1, b"two\r\nlines") is None  # CR/LF never in a line
    assert commands.send_line(1, b"x" * 300) is None  # longer than a command line may be
    send = commands.send(1, b"two\r\nlines")
    assert (send.line, send.payload) == (b"AT+SOCKETSEND=1,10", b"two\r\nlines")


def test_read_takes_the_packet_whatever_it_holds() -> None:
    packet = b"OK\r\nERROR\r\n+EVENT:x\r\n"
    output = b"+SOCKETREAD,1,%d,%s\r\nOK\r\n" % (len(packet), packet)
    assert reply_of(commands.read(1), output) == packet
    assert reply_of(commands.read(1), b"+SOCKETREAD,1,0,\r\nOK\r\n") == b""


def test_queries_parse_their_line() -> None:
    assert reply_of(commands.dns_query(), b"+WDNS:8.8.8.8,1.1.1.1\r\nOK\r\n") == (
        "8.8.8.8",
        "1.1.1.1",
    )
    assert reply_of(commands.resolve("example.org"), b"+WDOMAIN:93.184.216.34\r\nOK\r\n") == (
        "93.184.216.34"
    )
    auto = reply_of(commands.auto_transparent_query(), b"+SOCKETAUTOTT:4,10.0.0.2,60000\r\nOK\r\n")
    assert auto == AutoTransparentConfig(T.TCP_CLIENT, "10.0.0.2", 60000)
    off = reply_of(commands.auto_transparent_query(), b"+SOCKETAUTOTT:0\r\nOK\r\n")
    assert off == AutoTransparentConfig(0, "", -1)
    with pytest.raises(ATError, match=r"without a \+WDNS: line"):
        reply_of(commands.dns_query(), b"OK\r\n")


def test_secrets_are_marked_and_bounded() -> None:
    cert = commands.set_certificate(CertKind.CLIENT_KEY, b"-----KEY-----")
    assert (cert.line, cert.payload, cert.secret) == (b"AT+SSLCRET=3,13", b"-----KEY-----", True)
    assert commands.set_certificate(CertKind.CA, b"").payload is None  # clears the slot
    with pytest.raises(ValueError, match="at most 2048 bytes"):
        commands.set_certificate(CertKind.CA, b"x" * 2049)
    assert commands.certificate(CertKind.CA).secret_reply
    wifi = commands.join_wifi("net", "pass,word")
    assert wifi.secret_line and wifi.line == b'AT+WJAP=net,"pass,word"'
    output = b"+SSLCRET:1,4,body\r\nOK\r\n"
    assert reply_of(commands.certificate(CertKind.CA), output) == b"body"


def test_the_other_lines_as_the_spec_spells_them() -> None:
    assert commands.receive_mode(ReceiveMode.ACTIVE).line == b"AT+SOCKETRECVCFG=1"
    assert commands.delete(3).line == b"AT+SOCKETDEL=3"
    assert commands.set_dns("8.8.8.8", None).line == b"AT+WDNS=8.8.8.8"
    assert commands.auto_connect(True).line == b"AT+WAUTOCONN=1"
    auto = commands.set_auto_transparent(T.TCP_CLIENT, "10.0.0.2", 60000)
    assert auto.line == b"AT+SOCKETAUTOTT=4,10.0.0.2,60000"
    assert commands.set_auto_transparent(T.UDP_SERVER, None, 7).line == b"AT+SOCKETAUTOTT=1,7"
    with pytest.raises(ValueError, match="cannot be entered automatically"):
        commands.set_auto_transparent(T.TCP_SERVER, None, 7)
    with pytest.raises(ValueError, match="not an IPv4 address"):
        commands.set_dns("8.8.8", None)
    assert reply_of(commands.any_line("AT+GMR"), b"AT version:1\r\nSDK:2\r\nOK\r\n") == [
        "AT version:1",
        "SDK:2",
    ]
