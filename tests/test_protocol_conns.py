"""The ConID table (atsock.protocol.conns) on its own: URCs booked, buffers bounded,
seeds kept per server, and a reset that clears everything, the receive mode included."""

from __future__ import annotations

import pytest

from atsock import (
    ModuleReset,
    ReceiveMode,
    SocketAutoDeleted,
    SocketClosed,
    SocketData,
    SocketDisconnected,
    SocketReconnected,
    SocketSeed,
)
from atsock.protocol import conns
from atsock.protocol.conns import ConnTable, in_range


def test_announced_packets_are_counted_and_read_down() -> None:
    table = ConnTable()
    table.on_event(SocketData(1, 5))
    table.on_event(SocketData(1, 7))
    assert table.announced() == {1: 0}
    table.packet_read(1, b"12345")
    assert table.ensure(1).notified == 1
    table.packet_read(1, b"")  # an empty read: nothing is left, whatever was counted
    assert table.announced() == {}
    assert table.announced(every=True) == {1: 0}


def test_active_data_is_buffered_up_to_the_bound_then_counted_as_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(conns, "RX_BUFFER_MAX", 8)
    table = ConnTable()
    assert table.on_event(SocketData(2, 5, b"hello")) == 0
    assert table.on_event(SocketData(2, 5, b"world")) == 5  # would pass the bound
    assert table.take_buffered(2, 3) == b"hel"
    assert table.take_buffered(2, 100) == b"lo"
    assert table.dropped(2) == 5 and table.dropped_total == 5


def test_data_keeps_its_order_across_receive_mode_switches() -> None:
    """Active data, then packets announced after a switch to passive, then active data
    again after a switch back: a reader gets them in the order the module received them
    (the announced packets are read from the module between the two)."""
    table = ConnTable()
    table.on_event(SocketData(3, 2, b"d1"))  # active
    table.on_event(SocketData(3, 2))  # passive: announced, still on the module
    table.on_event(SocketData(3, 2, b"d3"))  # active again: it follows the announced one
    assert table.take_buffered(3, 1) == b"d"
    table.packet_read(3, b"p2", keep=True)  # AT+SOCKETREAD: behind d1, ahead of d3
    assert table.take_buffered(3, 100) == b"1p2d3"
    table.on_event(SocketData(3, 2))
    table.on_event(SocketData(3, 2, b"d5"))
    table.packet_read(3, b"p4")  # (not kept: the reader has it; d5 is next)
    assert table.take_buffered(3, 100) == b"d5"


def test_held_back_data_counts_against_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conns, "RX_BUFFER_MAX", 6)
    table = ConnTable()
    table.on_event(SocketData(4, 3, b"abc"))
    table.on_event(SocketData(4, 1))
    assert table.on_event(SocketData(4, 3, b"def")) == 0
    assert table.on_event(SocketData(4, 1, b"g")) == 1  # 3 buffered + 3 held back: full
    table.packet_read(4, b"")  # (an empty read: nothing was left on the module)
    assert table.take_buffered(4, 100) == b"abcdef"


def test_seeds_peers_and_deletions() -> None:
    table = ConnTable()
    table.on_event(SocketSeed(5, 3))
    assert list(table.ensure(3).seeds) == [5]
    table.on_event(SocketDisconnected(5))
    assert table.ensure(5).peer_closed
    table.on_event(SocketReconnected(5))
    assert not table.ensure(5).peer_closed
    conn = table.ensure(5)
    table.on_event(SocketAutoDeleted(5))
    assert table.get(5) is None
    assert isinstance(conn.gone, SocketClosed) and "deleted by the module" in str(conn.gone)


def test_a_new_connection_on_a_conid_ends_the_old_one() -> None:
    table = ConnTable()
    old = table.ensure(1)
    new = table.renew(1)
    assert new is not old and new.gone is None
    assert isinstance(old.gone, SocketClosed)
    assert table.get(1) is new


def test_a_reset_clears_every_connection_and_the_receive_mode() -> None:
    table = ConnTable()
    table.receive_mode = ReceiveMode.ACTIVE
    kept = [table.ensure(1), table.ensure(2)]
    reason = ModuleReset("rebooted")
    table.reset(reason)
    assert all(conn.gone is reason for conn in kept)
    assert table.announced(every=True) == {}
    assert table.receive_mode == ReceiveMode.PASSIVE


def test_events_naming_impossible_conids_are_not_booked() -> None:
    assert in_range(SocketData(conns.MAX_CON_ID, 1))
    assert not in_range(SocketData(conns.MAX_CON_ID + 1, 1))
    assert not in_range(SocketSeed(1, -1))
