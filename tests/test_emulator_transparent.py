"""Transparent mode (AT+SOCKETTT) of the emulated module, against real peers.

Who may enter (else ``+SOCKETTT:105``), bytes streaming both ways unchanged, the
``+++`` escape with its guard silence (``\\r\\nOK\\r\\n``, never sent to the peer), ``+++``
inside data staying data, 1024-byte/idle packetizing, URCs held back until the exit,
and the UDP server's choice of peer (``AT+SOCKETTT=0`` keeps the first, ``=2`` follows
the last).
"""

from __future__ import annotations

import socket
import time

from at_wire import EmulatorFactory, Wire, free_port
from peers import TcpCollector, TcpEchoServer, UdpPeer, wait_until

TIMEOUT = 2.0
#: The emulator's default +++ guard time is 0.02 s; tests keep well clear of it.
GUARD = 0.02
SILENCE = 4 * GUARD


def escape(wire: Wire) -> None:
    """``+++`` with guard silence on both sides; the module answers ``\\r\\nOK\\r\\n``."""
    time.sleep(SILENCE)
    wire.write(b"+++")
    assert wire.read_until(b"\r\nOK\r\n") == b"\r\nOK\r\n"


def enter(wire: Wire, line: str = "AT+SOCKETTT") -> None:
    wire.send_line(line)
    assert wire.read_exactly(1) == b">"


# ---- who may enter ----------------------------------------------------------------------------


def test_without_any_socket_transparent_mode_is_refused_with_105(wire: Wire) -> None:
    assert wire.command("AT+SOCKETTT", b"ERROR\r\n") == b"+SOCKETTT:105\r\nERROR\r\n"


def test_with_two_clients_transparent_mode_is_refused_with_105(wire: Wire) -> None:
    with TcpEchoServer() as echo:
        wire.open_socket(f"4,127.0.0.1,{echo.address[1]}")
        wire.open_socket(f"4,127.0.0.1,{echo.address[1]}")
        assert wire.command("AT+SOCKETTT", b"ERROR\r\n") == b"+SOCKETTT:105\r\nERROR\r\n"


def test_a_tcp_server_without_a_seed_cannot_enter_transparent_mode(wire: Wire) -> None:
    wire.open_socket(f"3,{free_port()}")
    assert wire.command("AT+SOCKETTT", b"ERROR\r\n") == b"+SOCKETTT:105\r\nERROR\r\n"


def test_a_disconnected_client_cannot_enter_transparent_mode(wire: Wire) -> None:
    with TcpEchoServer() as echo:
        con_id = wire.open_socket(f"4,127.0.0.1,{echo.address[1]}")
        assert wait_until(lambda: echo.connections == 1)  # accepted, so it can be closed
        echo.close_all_clients()
        wire.read_until(f"+EVENT:SocketDisconnect,{con_id}\r\n".encode())
        assert wire.command("AT+SOCKETTT", b"ERROR\r\n") == b"+SOCKETTT:105\r\nERROR\r\n"


# ---- streaming and +++ ------------------------------------------------------------------------


def test_tcp_client_streams_both_ways_and_plus_escape_never_reaches_the_peer(
    wire: Wire,
) -> None:
    payload = bytes(range(256)) * 4 + b"\r\nAT\r\nOK\r\n"
    with TcpEchoServer() as echo:
        wire.open_socket(f"4,127.0.0.1,{echo.address[1]}")
        enter(wire)
        wire.write(payload)
        assert wire.read_exactly(len(payload)) == payload  # echoed, raw, no URC around it
        escape(wire)
        time.sleep(SILENCE)
        assert echo.received == len(payload)  # the +++ stayed in the module
        wire.assert_silent(0.05)
        assert wire.command("AT") == b"OK\r\n"
        assert wire.command("AT+SOCKET?").startswith(b"1,4,1,")  # the connection stays up


def test_the_peer_streams_to_the_host_unprompted(wire: Wire) -> None:
    with TcpCollector() as peer:
        wire.open_socket(f"4,127.0.0.1,{peer.address[1]}")
        enter(wire)
        chunk = b"+EVENT:SocketDown,1,5\r\nOK\r\n" + bytes(range(256))
        for _ in range(3):
            peer.send_to_client(chunk)
        assert wire.read_exactly(3 * len(chunk)) == 3 * chunk
        wire.write(b"host data")
        assert wait_until(lambda: b"".join(peer.chunks) == b"host data")
        escape(wire)


def test_plus_signs_inside_data_are_data(wire: Wire) -> None:
    with TcpCollector() as peer:
        wire.open_socket(f"4,127.0.0.1,{peer.address[1]}")
        enter(wire)
        time.sleep(SILENCE)
        wire.write(b"a+++b")
        time.sleep(SILENCE)
        wire.write(b"+++c")  # silence before, but data right after: not an escape
        time.sleep(SILENCE)
        wire.write(b"++")  # only two
        time.sleep(SILENCE)
        wire.write(b"++++")  # four
        time.sleep(SILENCE)
        assert wait_until(lambda: b"".join(peer.chunks) == b"a+++b+++c++++++")
        wire.assert_silent(0.05)  # still transparent: no OK
        escape(wire)
        assert wait_until(lambda: b"".join(peer.chunks) == b"a+++b+++c++++++")


def test_plus_escape_split_across_writes_still_exits(wire: Wire) -> None:
    with TcpCollector() as peer:
        wire.open_socket(f"4,127.0.0.1,{peer.address[1]}")
        enter(wire)
        wire.write(b"data")
        time.sleep(SILENCE)
        wire.write(b"+")
        wire.write(b"+")
        wire.write(b"+")
        assert wire.read_until(b"\r\nOK\r\n", TIMEOUT) == b"\r\nOK\r\n"
        wire.command("AT+SOCKETDEL=1")
        assert peer.data(TIMEOUT) == b"data"


def test_transparent_mode_can_be_entered_again_after_an_exit(wire: Wire) -> None:
    with TcpEchoServer() as echo:
        wire.open_socket(f"4,127.0.0.1,{echo.address[1]}")
        for round_ in range(2):
            enter(wire)
            message = f"round {round_}".encode()
            wire.write(message)
            assert wire.read_exactly(len(message)) == message
            escape(wire)


def test_data_received_before_entering_is_delivered_first(wire: Wire) -> None:
    with TcpCollector() as peer:
        wire.open_socket(f"4,127.0.0.1,{peer.address[1]}")
        peer.send_to_client(b"early")
        assert wire.read_until(b"\r\n") == b"+EVENT:SocketDown,1,5\r\n"
        enter(wire)
        peer.send_to_client(b"late")
        assert wire.read_exactly(9) == b"earlylate"
        escape(wire)


def test_events_wait_until_transparent_mode_ends(wire: Wire) -> None:
    port = free_port()
    wire.open_socket(f"3,{port}")
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as first:
        assert wire.read_until(b"\r\n") == b"+EVENT:SocketSeed,2,1\r\n"
        enter(wire)  # one server and its one seed
        first.sendall(b"in tt")
        assert wire.read_exactly(5) == b"in tt"
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT):
            wire.assert_silent(0.1)  # no +EVENT:SocketSeed inside the data stream
            escape(wire)
            assert wire.read_until(b"\r\n") == b"+EVENT:SocketSeed,3,1\r\n"


def test_transparent_udp_client_packetizes_at_1024_bytes_and_on_idle(wire: Wire) -> None:
    with UdpPeer() as peer:
        wire.open_socket(f"2,127.0.0.1,{peer.address[1]}")
        enter(wire)
        wire.write(bytes(2500))
        assert [len(d) for d in peer.datagrams(3, TIMEOUT)] == [1024, 1024, 452]
        wire.write(b"first")
        assert peer.recv(TIMEOUT)[0] == b"first"  # sent after 20 ms idle
        wire.write(b"second")
        assert peer.recv(TIMEOUT)[0] == b"second"
        escape(wire)


# ---- UDP server: which peer -------------------------------------------------------------------


def udp_server_tt(wire: Wire, line: str) -> tuple[bytes, bytes]:
    """First peer A, then B talk to a module UDP server in TT mode; what each gets."""
    port = free_port(socket.SOCK_DGRAM)
    wire.open_socket(f"1,{port}")
    with UdpPeer() as first, UdpPeer() as second:
        first.sendto(b"A1", ("127.0.0.1", port))
        wire.read_until(b"+EVENT:SocketDown,1,2\r\n")
        enter(wire, line)
        assert wire.read_exactly(2) == b"A1"  # read before the switch, kept
        second.sendto(b"B1", ("127.0.0.1", port))
        assert wire.read_exactly(2) == b"B1"  # both are heard
        wire.write(b"reply")
        got: list[bytes] = []
        for peer in (first, second):
            try:
                got.append(peer.recv(0.15)[0])
            except TimeoutError:
                got.append(b"")
        escape(wire)
        return got[0], got[1]


def test_udp_server_transparent_mode_0_keeps_the_first_peer(wire: Wire) -> None:
    assert udp_server_tt(wire, "AT+SOCKETTT=0") == (b"reply", b"")


def test_udp_server_transparent_default_keeps_the_first_peer(wire: Wire) -> None:
    assert udp_server_tt(wire, "AT+SOCKETTT") == (b"reply", b"")


def test_udp_server_transparent_mode_2_follows_the_last_peer(wire: Wire) -> None:
    assert udp_server_tt(wire, "AT+SOCKETTT=2") == (b"", b"reply")


def test_a_custom_guard_time_is_honoured(make_emulator: EmulatorFactory) -> None:
    _, wire = make_emulator(guard_time=0.2)
    with TcpCollector() as peer:
        wire.open_socket(f"4,127.0.0.1,{peer.address[1]}")
        enter(wire)
        time.sleep(0.05)  # shorter than the guard: +++ is data
        wire.write(b"+++")
        time.sleep(0.05)
        wire.write(b"x")
        wire.assert_silent(0.3)
        time.sleep(0.25)
        started = time.monotonic()
        wire.write(b"+++")
        assert wire.read_until(b"\r\nOK\r\n") == b"\r\nOK\r\n"
        assert time.monotonic() - started >= 0.19  # the trailing guard was waited for
        wire.command("AT+SOCKETDEL=1")
        assert peer.data(TIMEOUT) == b"+++x"


def test_a_peer_closing_in_transparent_mode_is_reported_after_the_exit(wire: Wire) -> None:
    with TcpCollector() as peer:
        wire.open_socket(f"4,127.0.0.1,{peer.address[1]}")
        enter(wire)
        peer.send_to_client(b"last words")
        assert wire.read_exactly(10) == b"last words"
        assert wait_until(lambda: peer.connections == 1)  # registered, so it can be closed
        peer.close_all_clients()
        wire.assert_silent(0.1)
        escape(wire)
        assert wire.read_until(b"\r\n") == b"+EVENT:SocketDisconnect,1\r\n"


def test_data_written_right_behind_the_command_is_transparent_data(wire: Wire) -> None:
    with TcpCollector() as peer:
        wire.open_socket(f"4,127.0.0.1,{peer.address[1]}")
        wire.write(b"AT+SOCKETTT\r\nearly AT\r\n")
        assert wire.read_exactly(1) == b">"
        wire.assert_silent(0.05)  # "AT" inside the data is not answered
        escape(wire)
        wire.command("AT+SOCKETDEL=1")
        assert peer.data(TIMEOUT) == b"early AT\r\n"
