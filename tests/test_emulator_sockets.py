"""TCP and UDP sockets of the emulated module, against real peers on 127.0.0.1.

AT+SOCKET for every plain type (UDPServer, UDPClient, TCPServer, TCPClient) with and
without the optional ConID, the ``AT+SOCKET?`` rows, refused connections; SOCKETSEND
(prompt, exactly N raw bytes, 1024-byte packets), SOCKETSENDLINE (quoting), SOCKETREAD
(one packet per call), SOCKETDEL (seed lifecycle), SOCKETRECVCFG (passive/active),
SocketDisconnect, and the UDP server's "reply to the first peer" rule.
"""

from __future__ import annotations

import socket
import time

import pytest

from at_wire import Wire, free_port
from peers import TcpCollector, TcpEchoServer, UdpPeer, wait_until

TIMEOUT = 2.0
#: Every byte value, so payloads hold ``\r\n``, ``OK``, ``>`` and NULs.
ALL_BYTES = bytes(range(256))


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def send_payload(wire: Wire, con_id: int, payload: bytes) -> bytes:
    """AT+SOCKETSEND: the prompt, the payload; returns what followed the payload."""
    wire.send_line(f"AT+SOCKETSEND={con_id},{len(payload)}")
    assert wire.expect_prompt() == b""
    wire.write(payload)
    return wire.read_final()


# ---- TCP client --------------------------------------------------------------------------


def test_tcp_client_connects_and_is_listed(wire: Wire) -> None:
    with TcpEchoServer() as echo:
        port = echo.address[1]
        reply = wire.command(f"AT+SOCKET=4,127.0.0.1,{port}")
        assert reply == b"connect success ConID=1\r\nOK\r\n"
        assert wait_until(lambda: echo.connections == 1)
        assert wire.command("AT+SOCKET?") == f"1,4,1,127.0.0.1,{port},-1,-1\r\nOK\r\n".encode()


def test_tcp_client_takes_the_conid_asked_for(wire: Wire) -> None:
    with TcpEchoServer() as echo:
        port = echo.address[1]
        assert wire.open_socket(f"4,127.0.0.1,{port},0,5") == 5
        assert wire.open_socket(f"4,127.0.0.1,{port},0,0") == 1  # 0: the module picks
        assert wire.open_socket(f"4,127.0.0.1,{port}") == 2
        taken = wire.command(f"AT+SOCKET=4,127.0.0.1,{port},0,5", b"ERROR\r\n")
        assert taken == b"+SOCKET:110\r\nERROR\r\n"
        rows = wire.command("AT+SOCKET?").split(b"\r\n")
        assert [row.split(b",")[0] for row in rows[:-2]] == [b"1", b"2", b"5"]


def test_a_refused_connection_answers_code_97_and_leaves_no_socket(wire: Wire) -> None:
    port = free_port()
    reply = wire.command(f"AT+SOCKET=4,127.0.0.1,{port}", b"ERROR\r\n")
    assert reply == b"+SOCKET:97\r\nERROR\r\n"
    assert wire.command("AT+SOCKET?") == b"OK\r\n"


def test_socketsend_prompts_then_takes_exactly_n_raw_bytes(wire: Wire) -> None:
    payload = ALL_BYTES * 3 + b"\r\nAT\r\n+++OK\r\nERROR\r\n>"
    with TcpCollector() as peer:
        con_id = wire.open_socket(f"4,127.0.0.1,{peer.address[1]}")
        wire.send_line(f"AT+SOCKETSEND={con_id},{len(payload)}")
        assert wire.expect_prompt() == b""
        wire.write(payload + b"AT\r\n")  # the bytes after the N-th are a command again
        assert wire.read_final() == b"\r\nOK\r\n"
        assert wire.read_final() == b"OK\r\n"
        assert wire.command(f"AT+SOCKETDEL={con_id}") == b"OK\r\n"
        assert peer.data(TIMEOUT) == payload


def test_socketsend_payload_may_arrive_in_pieces(wire: Wire) -> None:
    with TcpCollector() as peer:
        con_id = wire.open_socket(f"4,127.0.0.1,{peer.address[1]}")
        wire.send_line(f"AT+SOCKETSEND={con_id},6")
        wire.expect_prompt()
        for piece in (b"ab", b"\r\n", b"c"):
            wire.write(piece)
            wire.assert_silent(0.03)  # still waiting for the rest
        wire.write(b"d")
        assert wire.read_final() == b"\r\nOK\r\n"
        wire.command(f"AT+SOCKETDEL={con_id}")
        assert peer.data(TIMEOUT) == b"ab\r\ncd"


def test_echoed_data_is_announced_then_read_one_packet_per_call(wire: Wire) -> None:
    with TcpEchoServer() as echo:
        con_id = wire.open_socket(f"4,127.0.0.1,{echo.address[1]}")
        assert send_payload(wire, con_id, b"hello\r\nOK\r\n").endswith(b"\r\nOK\r\n")
        wire.read_until(f"+EVENT:SocketDown,{con_id},11\r\n".encode())
        wire.send_line(f"AT+SOCKETREAD={con_id}")
        expected = f"+SOCKETREAD,{con_id},11,".encode() + b"hello\r\nOK\r\n\r\nOK\r\n"
        assert wire.read_exactly(len(expected)) == expected
        wire.assert_silent(0.05)


def test_tcp_data_is_read_in_packets_of_at_most_1024_bytes(wire: Wire) -> None:
    data = ALL_BYTES * 12  # 3072 bytes
    with TcpCollector() as peer:
        con_id = wire.open_socket(f"4,127.0.0.1,{peer.address[1]}")
        peer.send_to_client(data)
        lengths: list[int] = []
        while sum(lengths) < len(data):
            urc = wire.read_until(b"\r\n")
            assert urc.startswith(f"+EVENT:SocketDown,{con_id},".encode())
            lengths.append(int(urc.split(b",")[2]))
            assert 0 < lengths[-1] <= 1024
        received = b""
        for length in lengths:
            wire.send_line(f"AT+SOCKETREAD={con_id}")
            head = f"+SOCKETREAD,{con_id},{length},".encode()
            assert wire.read_exactly(len(head)) == head
            received += wire.read_exactly(length)
            assert wire.read_exactly(6) == b"\r\nOK\r\n"
        assert received == data


def test_active_receive_mode_prints_the_data_with_the_event(wire: Wire) -> None:
    with TcpCollector() as peer:
        con_id = wire.open_socket(f"4,127.0.0.1,{peer.address[1]}")
        assert wire.command("AT+SOCKETRECVCFG=1") == b"OK\r\n"
        peer.send_to_client(b"hi\r\nOK")
        expected = f"+EVENT:SocketDown,{con_id},6,".encode() + b"hi\r\nOK\r\n"
        assert wire.read_exactly(len(expected)) == expected
        assert wire.command("AT+SOCKETRECVCFG=0") == b"OK\r\n"
        peer.send_to_client(b"later")
        assert wire.read_until(b"\r\n") == f"+EVENT:SocketDown,{con_id},5\r\n".encode()
        assert wire.command(f"AT+SOCKETREAD={con_id}") == (
            f"+SOCKETREAD,{con_id},5,later\r\nOK\r\n".encode()
        )


def test_a_peer_closing_is_reported_and_unread_data_survives_it(wire: Wire) -> None:
    with TcpCollector() as peer:
        port = peer.address[1]
        con_id = wire.open_socket(f"4,127.0.0.1,{port}")
        peer.send_to_client(b"bye")
        assert wire.read_until(b"\r\n") == f"+EVENT:SocketDown,{con_id},3\r\n".encode()
        assert wait_until(lambda: peer.connections == 1)  # registered, so it can be closed
        peer.close_all_clients()
        assert wire.read_until(b"\r\n") == f"+EVENT:SocketDisconnect,{con_id}\r\n".encode()
        assert (
            wire.command("AT+SOCKET?") == f"{con_id},4,2,127.0.0.1,{port},-1,-1\r\nOK\r\n".encode()
        )
        assert wire.command(f"AT+SOCKETREAD={con_id}") == (
            f"+SOCKETREAD,{con_id},3,bye\r\nOK\r\n".encode()
        )
        failed = wire.command(f"AT+SOCKETSENDLINE={con_id},1,x", b"ERROR\r\n")
        assert failed == b"+SOCKETSENDLINE:99\r\nERROR\r\n"
        assert wire.command(f"AT+SOCKETDEL={con_id}") == b"OK\r\n"
        assert wire.command("AT+SOCKET?") == b"OK\r\n"


def test_socketdel_closes_the_connection_and_drops_unread_data(wire: Wire) -> None:
    with TcpCollector() as peer:
        con_id = wire.open_socket(f"4,127.0.0.1,{peer.address[1]}")
        peer.send_to_client(b"unread")
        wire.read_until(b"+EVENT:SocketDown")
        wire.read_until(b"\r\n")
        assert wire.command(f"AT+SOCKETDEL={con_id}") == b"OK\r\n"
        assert peer.wait_closed(TIMEOUT)
        # the ConID is free again, with nothing left from the old connection
        assert wire.open_socket(f"4,127.0.0.1,{peer.address[1]},0,{con_id}") == con_id
        assert (
            wire.command(f"AT+SOCKETREAD={con_id}") == f"+SOCKETREAD,{con_id},0,\r\nOK\r\n".encode()
        )


# ---- SOCKETSENDLINE ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("param", "data"),
    [
        (b"1234567890", b"1234567890"),
        (b'"a,b c"', b"a,b c"),
        (b'"say \\"hi\\" \\\\o/"', b'say "hi" \\o/'),
        (b'"AT+SOCKET?"', b"AT+SOCKET?"),
    ],
)
def test_socketsendline_sends_the_unquoted_unescaped_data(
    wire: Wire, param: bytes, data: bytes
) -> None:
    with UdpPeer() as peer:
        con_id = wire.open_socket(f"2,127.0.0.1,{peer.address[1]}")
        line = f"AT+SOCKETSENDLINE={con_id},{len(data)},".encode() + param
        assert wire.command(line) == b"OK\r\n"
        assert peer.recv(TIMEOUT)[0] == data


def test_socketsendline_length_longer_than_the_data_is_a_bad_value(wire: Wire) -> None:
    with UdpPeer() as peer:
        con_id = wire.open_socket(f"2,127.0.0.1,{peer.address[1]}")
        reply = wire.command(f"AT+SOCKETSENDLINE={con_id},5,abc", b"ERROR\r\n")
        assert reply == b"+SOCKETSENDLINE:4\r\nERROR\r\n"
        with pytest.raises(TimeoutError):
            peer.recv(0.1)


# ---- UDP client ----------------------------------------------------------------------------


def test_udp_client_sends_long_data_in_datagrams_of_1024_bytes(wire: Wire) -> None:
    payload = (ALL_BYTES * 10)[:2500]
    with UdpPeer() as peer:
        port = peer.address[1]
        assert wire.command(f"AT+SOCKET=2,127.0.0.1,{port}") == b"connect success ConID=1\r\nOK\r\n"
        assert wire.command("AT+SOCKET?") == f"1,2,1,127.0.0.1,{port},-1,-1\r\nOK\r\n".encode()
        assert send_payload(wire, 1, payload) == b"\r\nOK\r\n"
        datagrams = peer.datagrams(3, TIMEOUT)
        assert [len(d) for d in datagrams] == [1024, 1024, 452]
        assert b"".join(datagrams) == payload


def test_udp_client_reads_one_datagram_per_socketread(wire: Wire) -> None:
    with UdpPeer() as peer:
        con_id = wire.open_socket(f"2,127.0.0.1,{peer.address[1]}")
        wire.command(f"AT+SOCKETSENDLINE={con_id},4,ping")
        _, module = peer.recv(TIMEOUT)
        for datagram in (b"one", b"two\r\n", b"three"):
            peer.sendto(datagram, module)
        for datagram in (b"one", b"two\r\n", b"three"):
            urc = f"+EVENT:SocketDown,{con_id},{len(datagram)}\r\n".encode()
            assert wire.read_until(b"\r\n") == urc
        for datagram in (b"one", b"two\r\n", b"three"):
            head = f"+SOCKETREAD,{con_id},{len(datagram)},".encode()
            assert wire.command(f"AT+SOCKETREAD={con_id}") == head + datagram + b"\r\nOK\r\n"


def test_udp_client_reads_whole_datagrams_and_empty_ones_end_nothing(wire: Wire) -> None:
    big = (ALL_BYTES * 8)[:1500]
    with UdpPeer() as peer:
        con_id = wire.open_socket(f"2,127.0.0.1,{peer.address[1]}")
        wire.command(f"AT+SOCKETSENDLINE={con_id},4,ping")
        _, module = peer.recv(TIMEOUT)
        peer.sendto(b"", module)
        peer.sendto(big, module)
        assert wire.read_until(b"\r\n") == f"+EVENT:SocketDown,{con_id},1500\r\n".encode()
        head = f"+SOCKETREAD,{con_id},1500,".encode()
        assert wire.command(f"AT+SOCKETREAD={con_id}") == head + big + b"\r\nOK\r\n"
        assert wire.command("AT+SOCKET?").startswith(f"{con_id},2,1,".encode())


def test_udp_client_to_a_port_nobody_has_yet_stays_usable(wire: Wire) -> None:
    """A datagram to a closed port brings an ICMP error back; UDP has no connection to
    lose, so the ConID stays and works once a peer listens."""
    port = free_port(socket.SOCK_DGRAM)
    con_id = wire.open_socket(f"2,127.0.0.1,{port}")
    heard = b""
    for _ in range(3):  # (the error is reported on the socket's next use)
        heard += wire.command(f"AT+SOCKETSENDLINE={con_id},5,early")
        time.sleep(0.05)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
        peer.bind(("127.0.0.1", port))
        peer.settimeout(TIMEOUT)
        heard += wire.command(f"AT+SOCKETSENDLINE={con_id},4,late")
        assert peer.recv(100) == b"late"
    heard += wire.drain()
    assert b"SocketDisconnect" not in heard
    assert heard.count(b"OK\r\n") == 4


# ---- UDP server ----------------------------------------------------------------------------


def test_udp_server_cannot_send_before_it_has_heard_a_peer(wire: Wire) -> None:
    port = free_port(socket.SOCK_DGRAM)
    assert wire.command(f"AT+SOCKET=1,{port}") == b"connect success ConID=1\r\nOK\r\n"
    assert wire.command("AT+SOCKET?") == f"1,1,1,,-1,{port},-1\r\nOK\r\n".encode()
    assert wire.command("AT+SOCKETSENDLINE=1,2,hi", b"ERROR\r\n") == (
        b"+SOCKETSENDLINE:99\r\nERROR\r\n"
    )
    wire.send_line("AT+SOCKETSEND=1,2")
    assert wire.read_final() == b"+SOCKETSEND:99\r\nERROR\r\n"  # no prompt


def test_udp_server_replies_to_the_first_peer_it_heard(wire: Wire) -> None:
    port = free_port(socket.SOCK_DGRAM)
    wire.open_socket(f"1,{port}")
    with UdpPeer() as first, UdpPeer() as second:
        first.sendto(b"from first", ("127.0.0.1", port))
        assert wire.read_until(b"\r\n") == b"+EVENT:SocketDown,1,10\r\n"
        second.sendto(b"from second", ("127.0.0.1", port))
        assert wire.read_until(b"\r\n") == b"+EVENT:SocketDown,1,11\r\n"
        first_port = first.address[1]
        row = f"1,1,1,127.0.0.1,{first_port},{port},-1\r\nOK\r\n".encode()
        assert wire.command("AT+SOCKET?") == row
        assert wire.command("AT+SOCKETSENDLINE=1,5,reply") == b"OK\r\n"
        assert first.recv(TIMEOUT)[0] == b"reply"
        with pytest.raises(TimeoutError):
            second.recv(0.1)
        assert wire.command("AT+SOCKETREAD=1") == b"+SOCKETREAD,1,10,from first\r\nOK\r\n"
        assert wire.command("AT+SOCKETREAD=1") == b"+SOCKETREAD,1,11,from second\r\nOK\r\n"


# ---- TCP server and seeds ------------------------------------------------------------------


def test_tcp_server_makes_a_seed_per_client_with_its_own_lifecycle(wire: Wire) -> None:
    port = free_port()
    assert wire.command(f"AT+SOCKET=3,{port}") == b"connect success ConID=1\r\nOK\r\n"
    assert wire.command("AT+SOCKET?") == f"1,3,1,,-1,{port},-1\r\nOK\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as client:
        assert wire.read_until(b"\r\n") == b"+EVENT:SocketSeed,2,1\r\n"
        client_port = client.getsockname()[1]
        assert wire.command("AT+SOCKET?") == (
            f"1,3,1,,-1,{port},-1\r\n2,5,1,127.0.0.1,{client_port},{port},1\r\nOK\r\n".encode()
        )
        # the server itself carries no data; its seed does, both ways
        refused = wire.command("AT+SOCKETSENDLINE=1,2,hi", b"ERROR\r\n")
        assert refused == b"+SOCKETSENDLINE:100\r\nERROR\r\n"
        assert wire.command("AT+SOCKETREAD=1", b"ERROR\r\n") == b"+SOCKETREAD:100\r\nERROR\r\n"
        assert send_payload(wire, 2, b"to client") == b"\r\nOK\r\n"
        assert recv_exactly(client, 9) == b"to client"
        client.sendall(b"to module")
        assert wire.read_until(b"\r\n") == b"+EVENT:SocketDown,2,9\r\n"
        assert wire.command("AT+SOCKETREAD=2") == b"+SOCKETREAD,2,9,to module\r\nOK\r\n"
    assert wire.read_until(b"\r\n") == b"+EVENT:SocketDisconnect,2\r\n"
    assert wire.command("AT+SOCKET?") == (
        f"1,3,1,,-1,{port},-1\r\n2,5,2,127.0.0.1,{client_port},{port},1\r\nOK\r\n".encode()
    )
    assert wire.command("AT+SOCKETDEL=2") == b"OK\r\n"
    assert wire.command("AT+SOCKET?") == f"1,3,1,,-1,{port},-1\r\nOK\r\n".encode()


def test_tcp_server_accepts_the_empty_host_form_and_several_clients(wire: Wire) -> None:
    port = free_port()
    assert wire.open_socket(f"3,,{port}") == 1
    clients = [socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) for _ in range(2)]
    try:
        assert wire.read_until(b"\r\n") == b"+EVENT:SocketSeed,2,1\r\n"
        assert wire.read_until(b"\r\n") == b"+EVENT:SocketSeed,3,1\r\n"
    finally:
        for client in clients:
            client.close()
    wire.read_until(b"+EVENT:SocketDisconnect,")
    wire.read_until(b"+EVENT:SocketDisconnect,")


def test_a_server_port_in_use_answers_bind_error_104(wire: Wire) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        reply = wire.command(f"AT+SOCKET=3,{port}", b"ERROR\r\n")
        assert reply == b"+SOCKET:104\r\nERROR\r\n"
    assert wire.command("AT+SOCKET?") == b"OK\r\n"


@pytest.mark.parametrize("reuse", [False, True])
def test_a_udp_port_in_use_answers_bind_error_104(wire: Wire, reuse: bool) -> None:
    """Also when the port's owner allows address reuse: one UDP port, one owner."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        if reuse:
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        reply = wire.command(f"AT+SOCKET=1,{port}", b"ERROR\r\n")
        assert reply == b"+SOCKET:104\r\nERROR\r\n"


def test_deleting_a_server_stops_it_listening(wire: Wire) -> None:
    port = free_port()
    wire.open_socket(f"3,{port}")
    assert wire.command("AT+SOCKETDEL=1") == b"OK\r\n"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()


# ---- every creatable type, ConIDs ----------------------------------------------------------


@pytest.mark.parametrize("kind", [1, 2, 3, 4])
def test_every_plain_type_takes_the_conid_asked_for(wire: Wire, kind: int) -> None:
    with TcpEchoServer() as echo, UdpPeer() as udp:
        target = {
            1: f"{free_port(socket.SOCK_DGRAM)}",
            2: f"127.0.0.1,{udp.address[1]}",
            3: f"{free_port()}",
            4: f"127.0.0.1,{echo.address[1]}",
        }[kind]
        assert wire.command(f"AT+SOCKET={kind},{target},0,9") == (
            b"connect success ConID=9\r\nOK\r\n"
        )
        assert wire.command("AT+SOCKET?").startswith(f"9,{kind},1,".encode())


def test_conids_run_out_after_16_sockets(wire: Wire) -> None:
    with UdpPeer() as peer:
        for con_id in range(1, 17):
            assert wire.open_socket(f"2,127.0.0.1,{peer.address[1]}") == con_id
        full = wire.command(f"AT+SOCKET=2,127.0.0.1,{peer.address[1]}", b"ERROR\r\n")
        assert full == b"+SOCKET:96\r\nERROR\r\n"
        assert wire.command("AT+SOCKETDEL=7") == b"OK\r\n"
        assert wire.open_socket(f"2,127.0.0.1,{peer.address[1]}") == 7


def test_a_conid_beyond_the_module_limit_is_refused(wire: Wire) -> None:
    with UdpPeer() as peer:
        reply = wire.command(f"AT+SOCKET=2,127.0.0.1,{peer.address[1]},0,17", b"ERROR\r\n")
        assert reply == b"+SOCKET:110\r\nERROR\r\n"


def test_socketsend_of_zero_bytes_is_a_bad_value_and_prompts_nothing(wire: Wire) -> None:
    with UdpPeer() as peer:
        con_id = wire.open_socket(f"2,127.0.0.1,{peer.address[1]}")
        reply = wire.command(f"AT+SOCKETSEND={con_id},0", b"ERROR\r\n")
        assert reply == b"+SOCKETSEND:4\r\nERROR\r\n"
        assert wire.command("AT") == b"OK\r\n"


def test_socketsend_to_a_server_conid_is_refused_without_a_prompt(wire: Wire) -> None:
    wire.open_socket(f"3,{free_port()}")
    assert wire.command("AT+SOCKETSEND=1,5", b"ERROR\r\n") == b"+SOCKETSEND:100\r\nERROR\r\n"
    assert wire.command("AT") == b"OK\r\n"


def test_a_payload_written_with_its_command_is_still_the_payload(wire: Wire) -> None:
    with UdpPeer() as peer:
        con_id = wire.open_socket(f"2,127.0.0.1,{peer.address[1]}")
        wire.write(f"AT+SOCKETSEND={con_id},5\r\nAT\r\n\r\nAT\r\n".encode())
        assert wire.read_until(b">") == b">"
        assert wire.read_final() == b"\r\nOK\r\n"
        assert wire.read_final() == b"OK\r\n"  # the second AT is a command
        assert peer.recv(TIMEOUT)[0] == b"AT\r\n\r"  # five bytes, nothing parsed


def test_socketsend_flushes_a_datagram_when_the_host_pauses(wire: Wire) -> None:
    with UdpPeer() as peer:
        con_id = wire.open_socket(f"2,127.0.0.1,{peer.address[1]}")
        wire.send_line(f"AT+SOCKETSEND={con_id},20")
        wire.expect_prompt()
        wire.write(b"0123456789")
        assert peer.recv(TIMEOUT)[0] == b"0123456789"  # sent after the idle time
        wire.write(b"abcdefghij")
        assert wire.read_final() == b"\r\nOK\r\n"
        assert peer.recv(TIMEOUT)[0] == b"abcdefghij"


def test_a_server_made_right_after_a_delete_still_accepts(wire: Wire) -> None:
    # the new listening socket reuses the deleted one's descriptor number
    first, second = free_port(), free_port()
    wire.open_socket(f"3,{first}")
    wire.write(f"AT+SOCKETDEL=1\r\nAT+SOCKET=3,{second}\r\n".encode())
    assert wire.read_final() == b"OK\r\n"
    assert wire.read_final() == b"connect success ConID=1\r\nOK\r\n"
    with socket.create_connection(("127.0.0.1", second), timeout=TIMEOUT):
        assert wire.read_until(b"\r\n") == b"+EVENT:SocketSeed,2,1\r\n"
