"""The proxy's pure parts: the handshake as steps (no I/O), SOCKS5's wire format
(addresses, replies, relayed UDP datagrams: any bytes parse or are dropped, never
raise), the counts and the ``--verbose`` view over them."""

from __future__ import annotations

import io
import socket
from collections.abc import Generator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atsock.proxy import handshake, socks5
from atsock.proxy.live import LiveView
from atsock.proxy.server import follow
from atsock.proxy.stats import ProxyStats, Relayed


def test_addresses_are_encoded_by_their_kind() -> None:
    assert socks5.encode_address(("10.1.2.3", 80)) == b"\x01\x0a\x01\x02\x03\x00\x50"
    assert socks5.encode_address(("::1", 443)) == b"\x04" + bytes(15) + b"\x01\x01\xbb"
    assert socks5.encode_address(("example.org", 53)) == b"\x03\x0bexample.org\x00\x35"
    assert socks5.reply(socks5.REFUSED) == b"\x05\x05\x00\x01" + bytes(6)


@given(st.sampled_from(["192.0.2.7", "2001:db8::5", "host.example"]), st.integers(0, 65535))
def test_a_datagram_parses_back_to_its_destination_and_payload(host: str, port: int) -> None:
    header = b"\x00\x00\x00" + socks5.encode_address((host, port))
    parsed = socks5.parse_udp_datagram(header + b"payload")
    assert parsed == socks5.UdpDatagram((host, port), b"payload", header)


@given(st.binary(max_size=64))
def test_any_bytes_parse_or_are_dropped(data: bytes) -> None:
    parsed = socks5.parse_udp_datagram(data)
    if parsed is not None:
        assert parsed.header + parsed.payload == data
        assert data[2] == 0 and data[3] in (socks5.IPV4, socks5.DOMAIN, socks5.IPV6)


def test_fragments_and_truncated_headers_are_dropped() -> None:
    good = b"\x00\x00\x00" + socks5.encode_address(("127.0.0.1", 7))
    assert socks5.parse_udp_datagram(good) is not None  # (an empty payload is a datagram)
    assert socks5.parse_udp_datagram(good[:2] + b"\x01" + good[3:]) is None  # FRAG 1
    for cut in range(len(good)):
        assert socks5.parse_udp_datagram(good[:cut]) is None


def test_following_the_steps_names_what_a_client_left_out() -> None:
    def address_after_its_type() -> Generator[handshake.Step, bytes, socks5.Address]:
        (atype,) = yield handshake.Need(1)
        return (yield from handshake.read_address(atype))

    def three_bytes() -> Generator[handshake.Step, bytes, bytes]:
        return (yield handshake.Need(3))

    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(b"\x09\x00")
        theirs.shutdown(socket.SHUT_WR)
        with pytest.raises(socks5.UnknownAddressType, match=r"^address type 9$"):
            follow(address_after_its_type(), ours)
        with pytest.raises(socks5.HandshakeError, match=r"^the client left after 1 of 3 bytes$"):
            follow(three_bytes(), ours)


def test_the_handshake_as_steps_without_any_io() -> None:
    """Greeting, RFC 1929 and a CONNECT to a name, fed by hand: what it says, what it
    returns; a BIND is answered and not returned."""
    steps = handshake.negotiate({"me": "pw"})
    assert next(steps) == handshake.Need(2)
    assert steps.send(b"\x05\x01") == handshake.Need(1)
    assert steps.send(b"\x02") == handshake.Say(b"\x05\x02")
    said = [steps.send(b""), steps.send(b"\x01"), steps.send(b"\x02"), steps.send(b"me")]
    assert said == [handshake.Need(1)] * 2 + [handshake.Need(2), handshake.Need(1)]
    assert steps.send(b"\x02") == handshake.Need(2)
    assert steps.send(b"pw") == handshake.Say(b"\x01\x00")
    assert steps.send(b"") == handshake.Need(4)
    assert steps.send(b"\x05\x01\x00\x03") == handshake.Need(1)
    assert steps.send(b"\x04") == handshake.Need(4)
    assert steps.send(b"host") == handshake.Need(2)
    with pytest.raises(StopIteration) as done:
        steps.send(b"\x00\x50")
    assert done.value.value == (socks5.CONNECT, ("host", 80))
    bind = handshake.negotiate(None)
    next(bind)
    bind.send(b"\x05\x01")
    bind.send(b"\x00")
    bind.send(b"")
    bind.send(b"\x05\x02\x00\x01")
    assert bind.send(b"\x7f\x00\x00\x01") == handshake.Need(2)
    assert bind.send(b"\x00\x07") == handshake.Say(socks5.reply(socks5.COMMAND_NOT_SUPPORTED))
    with pytest.raises(StopIteration) as done:
        bind.send(b"")
    assert done.value.value is None


def test_stats_count_open_and_closed_relays() -> None:
    stats = ProxyStats()
    first = Relayed(("127.0.0.1", 5000), ("example.org", 80), con_ids=[1], up=2000, down=3500)
    second = Relayed(("::1", 5001), ("::1", 53), udp=True, con_ids=[2, 3], up=10)
    stats.opened(first)
    stats.opened(second)
    stats.closed(first)
    stats.closed(first)  # (closing twice counts once)
    assert stats.open_relays() == [second]
    assert stats.bytes_moved() == (2010, 3500)
    assert stats.summary() == "1 open, 2 served, 2.0 KB up, 3.5 KB down"
    assert second.describe() == (
        "UDP [::1]:5001 -> [::1]:53 ConID 2,3: 10 B up, 0 B down "
        "(0 datagrams up, 0 down, 0 dropped)"
    )


def test_the_live_view_prints_only_what_changed() -> None:
    stats, out = ProxyStats(), io.StringIO()
    view = LiveView(stats, out, interval=3600)
    view.show()
    view.show()
    relay = Relayed(("127.0.0.1", 5000), ("10.0.0.1", 80), con_ids=[4])
    stats.opened(relay)
    relay.up = 1_500_000
    view.show()
    assert out.getvalue().splitlines() == [
        "atsock proxy: 0 open, 0 served, 0 B up, 0 B down",
        "atsock proxy: 1 open, 1 served, 1.5 MB up, 0 B down",
        "  TCP 127.0.0.1:5000 -> 10.0.0.1:80 ConID 4: 1500000 B up, 0 B down",
    ]
