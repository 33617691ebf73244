"""The proxy's pure parts: SOCKS5's wire format (addresses, replies, relayed UDP
datagrams: any bytes parse or are dropped, never raise), the counts and the
``--verbose`` view over them."""

from __future__ import annotations

import io
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atsock.proxy import socks5
from atsock.proxy.live import LiveView
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


def test_the_reader_names_what_a_client_left_out() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(b"\x09\x00")
        theirs.shutdown(socket.SHUT_WR)
        reader = socks5.Reader(ours)
        with pytest.raises(socks5.UnknownAddressType, match=r"^address type 9$"):
            reader.address(reader.byte())
        with pytest.raises(socks5.HandshakeError, match=r"^the client left after 1 of 3 bytes$"):
            reader.take(3)


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
