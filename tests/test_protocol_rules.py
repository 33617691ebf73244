"""The rules the driver and the emulator share (atsock.protocol.rules): which connection
AT+SOCKETTT streams through, for every shape of socket table."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from atsock import SocketStatus as St
from atsock import SocketType as T
from atsock.protocol.rules import transparent_target


@dataclass(frozen=True)
class Row:
    con_id: int
    type: T | int
    status: St | int = St.CONNECTED
    server_con_id: int = -1


@pytest.mark.parametrize("kind", [T.UDP_SERVER, T.UDP_CLIENT, T.TCP_CLIENT, T.SSL_CLIENT])
def test_the_only_connected_client_or_udp_server_is_the_target(kind: T) -> None:
    row = Row(1, kind)
    assert transparent_target([row]) is row
    assert transparent_target([row, Row(2, T.TCP_CLIENT, St.CONNECTING)]) is row


@pytest.mark.parametrize(
    "rows",
    [
        [],
        [Row(1, T.TCP_SERVER)],
        [Row(1, T.TCP_CLIENT, St.DISCONNECTED)],
        [Row(1, T.TCP_CLIENT), Row(2, T.UDP_CLIENT)],
        [Row(1, 42)],  # a type this library does not know
        [Row(1, T.TCP_SERVER), Row(2, T.TCP_SEED, server_con_id=3)],  # another's seed
        [Row(1, T.TCP_SERVER), Row(2, T.TCP_SEED, St.DISCONNECTED, server_con_id=1)],
        [Row(1, T.TCP_SERVER), Row(2, T.TCP_SERVER)],
        [Row(1, T.TCP_SERVER), Row(2, T.TCP_SEED, server_con_id=1), Row(3, T.TCP_SEED, 1, 1)],
    ],
)
def test_no_target_unless_exactly_one_connection_can_stream(rows: list[Row]) -> None:
    assert transparent_target(rows) is None


@pytest.mark.parametrize(
    ("server", "seed"), [(T.TCP_SERVER, T.TCP_SEED), (T.SSL_SERVER, T.SSL_SEED)]
)
def test_a_server_with_its_one_connected_seed_streams_through_the_seed(server: T, seed: T) -> None:
    rows = [Row(1, server), Row(2, seed, server_con_id=1)]
    assert transparent_target(rows) is rows[1]
    assert transparent_target([Row(1, int(server)), Row(2, int(seed), 1, 1)]) == Row(2, seed, 1, 1)
