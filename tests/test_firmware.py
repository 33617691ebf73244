"""The emulated firmware alone (atsock.emulator.firmware.core.Firmware): bytes, socket
events, work results and times in, exact output and actions out — no pty, no socket,
no clock. Every transition of the mode table is made here with the bytes that make
it on the chip, and the ordering rules between replies and the host's work."""

from __future__ import annotations

import pytest

from atsock.emulator.firmware.actions import (
    Action,
    Close,
    Connect,
    Done,
    Emit,
    Failed,
    Listen,
    Resolve,
    SaveFlash,
    Send,
    StreamStarted,
)
from atsock.emulator.firmware.core import BANNER, BOOT_DELAY_NS, BUSY_REPLY, Firmware
from atsock.emulator.firmware.errors import CONNECT, SEND
from atsock.emulator.firmware.mode import FirmwareMode
from atsock.emulator.firmware.settings import Flash
from atsock.types import SocketType

M = FirmwareMode
GUARD_NS = 20_000_000
WIFI = b"+EVENT:WIFI_CONNECT\r\n+EVENT:WIFI_GOT_IP\r\n"


def emitted(actions: list[Action]) -> bytes:
    return b"".join(a.data for a in actions if isinstance(a, Emit))


def others(actions: list[Action]) -> list[Action]:
    return [a for a in actions if not isinstance(a, Emit)]


class Clock:
    def __init__(self) -> None:
        self.ns = 1_000_000_000

    def after(self, ns: int) -> int:
        self.ns += ns
        return self.ns


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fw(clock: Clock) -> Firmware:
    firmware = Firmware(Flash(echo=False), guard_ns=GUARD_NS)
    assert firmware.mode is M.BOOTING
    assert firmware.boot(clock.ns, announce=False) == []  # power-on: silent, Wi-Fi up
    assert firmware.mode is M.COMMAND and firmware.wifi_joined
    return firmware


def command(fw: Firmware, clock: Clock, line: bytes) -> list[Action]:
    return fw.receive(line + b"\r\n", clock.after(1000))


def connect_client(fw: Firmware, clock: Clock) -> int:
    [ask] = command(fw, clock, b"AT+SOCKET=4,127.0.0.1,7")
    assert isinstance(ask, Connect) and (ask.con_id, ask.type, ask.port) == (1, 4, 7)
    assert emitted(fw.work_done(ask.token, Done())) == b"connect success ConID=1\r\nOK\r\n"
    return ask.con_id


def test_at_and_echo(fw: Firmware, clock: Clock) -> None:
    assert command(fw, clock, b"AT") == [Emit(b"OK\r\n")]
    assert others(command(fw, clock, b"ATE1")) == [SaveFlash()]
    assert emitted(command(fw, clock, b"AT")) == b"AT\r\nOK\r\n"


def test_command_busy_command(fw: Firmware, clock: Clock) -> None:
    [ask] = command(fw, clock, b"AT+WDOMAIN=echo.test")
    assert isinstance(ask, Resolve) and ask.name == "echo.test"
    assert fw.mode is M.BUSY
    assert command(fw, clock, b"AT") == [Emit(BUSY_REPLY)]
    assert emitted(fw.work_done(ask.token, Done("127.0.0.9"))) == b"+WDOMAIN:127.0.0.9\r\nOK\r\n"
    assert fw.mode is M.COMMAND


def test_a_failed_connect_answers_its_code_and_leaves_no_conid(fw: Firmware, clock: Clock) -> None:
    [ask] = command(fw, clock, b"AT+SOCKET=4,127.0.0.1,7")
    assert emitted(fw.work_done(ask.token, Failed(CONNECT))) == b"+SOCKET:97\r\nERROR\r\n"
    assert fw.mode is M.COMMAND and len(fw.sockets) == 0


def test_command_payload_command(fw: Firmware, clock: Clock) -> None:
    con_id = connect_client(fw, clock)
    assert command(fw, clock, b"AT+SOCKETSEND=1,5") == [Emit(b">")]
    assert fw.mode is M.PAYLOAD
    [send] = fw.receive(b"AT\r\nA", clock.after(1000))  # data, not a command
    assert isinstance(send, Send) and (send.con_id, send.data) == (con_id, b"AT\r\nA")
    assert fw.mode is M.COMMAND
    assert emitted(fw.work_done(send.token or 0, Done())) == b"\r\nOK\r\n"


def test_a_send_that_fails_answers_send_error(fw: Firmware, clock: Clock) -> None:
    connect_client(fw, clock)
    [send] = command(fw, clock, b"AT+SOCKETSENDLINE=1,2,hi")
    assert isinstance(send, Send) and send.token is not None
    reply = fw.work_done(send.token, Failed(SEND))
    assert emitted(reply) == b"+SOCKETSENDLINE:101\r\nERROR\r\n"


def test_command_transparent_command(fw: Firmware, clock: Clock) -> None:
    con_id = connect_client(fw, clock)
    assert command(fw, clock, b"AT+SOCKETTT") == [Emit(b">"), StreamStarted(con_id)]
    assert fw.mode is M.TRANSPARENT
    assert fw.receive(b"data", clock.after(1000)) == []  # a short packet waits for idle
    due = fw.next_deadline()
    assert due is not None
    assert fw.poll(due) == [Send(con_id, b"data")]
    clock.ns = due
    assert fw.receive(b"+++", clock.after(2 * GUARD_NS)) == []  # held: an escape?
    due = fw.next_deadline()
    assert due == clock.ns + GUARD_NS
    assert fw.poll(due) == [Emit(b"\r\nOK\r\n")]
    assert fw.mode is M.COMMAND


def test_a_plus_group_inside_data_is_data(fw: Firmware, clock: Clock) -> None:
    con_id = connect_client(fw, clock)
    command(fw, clock, b"AT+SOCKETTT")
    fw.receive(b"a+++b", clock.after(2 * GUARD_NS))
    due = fw.next_deadline()
    assert due is not None
    assert fw.poll(due) == [Send(con_id, b"a+++b")]
    assert fw.mode is M.TRANSPARENT


def test_events_wait_while_transparent_and_come_after_the_exit(fw: Firmware, clock: Clock) -> None:
    con_id = connect_client(fw, clock)
    command(fw, clock, b"AT+SOCKETTT")
    assert fw.received(con_id, b"from the peer") == [Emit(b"from the peer")]
    assert fw.disconnected(con_id) == [Close(con_id)]  # (its URC held back)
    fw.receive(b"+++", clock.after(2 * GUARD_NS))
    assert emitted(fw.poll(clock.after(GUARD_NS))) == (b"\r\nOK\r\n+EVENT:SocketDisconnect,1\r\n")


def test_command_booting_loses_input_then_command(fw: Firmware, clock: Clock) -> None:
    assert command(fw, clock, b"AT+RST") == [Emit(b"OK\r\n")]
    assert fw.mode is M.BOOTING
    assert command(fw, clock, b"AT") == []  # lost
    due = fw.next_deadline()
    assert due == clock.ns + BOOT_DELAY_NS - 1000
    assert emitted(fw.poll(due)) == BANNER + WIFI
    assert fw.mode is M.COMMAND


@pytest.mark.parametrize("mode", [M.PAYLOAD, M.TRANSPARENT, M.BUSY, M.BOOTING])
def test_a_reset_from_any_mode_boots_and_forgets_the_work(
    fw: Firmware, clock: Clock, mode: M
) -> None:
    con_id = connect_client(fw, clock)
    pending = {
        M.PAYLOAD: b"AT+SOCKETSEND=1,100",
        M.TRANSPARENT: b"AT+SOCKETTT",
        M.BUSY: b"AT+WDOMAIN=slow.test",
        M.BOOTING: b"AT+RST",
    }[mode]
    asked = command(fw, clock, pending)
    assert fw.mode is mode
    rebooted = fw.boot(clock.after(1000), announce=True)
    assert others(rebooted) == [Close(con_id)]
    assert emitted(rebooted) == BANNER + WIFI
    assert fw.mode is M.COMMAND and len(fw.sockets) == 0
    for work in asked:
        if isinstance(work, Resolve):
            assert not fw.expects(work.token)
            assert fw.work_done(work.token, Done("127.0.0.1")) == []  # the old boot's


def test_replies_keep_their_order_behind_a_bind(fw: Firmware, clock: Clock) -> None:
    [bind] = fw.receive(b"AT+SOCKET=3,8888\r\nAT\r\n", clock.after(1000))
    assert isinstance(bind, Listen) and (bind.type, bind.port) == (SocketType.TCP_SERVER, 8888)
    assert emitted(fw.work_done(bind.token, Done())) == (
        b"connect success ConID=1\r\nOK\r\nOK\r\n"  # the AT's OK after the bind's
    )


def test_a_seed_in_passive_and_active_mode(fw: Firmware, clock: Clock) -> None:
    [bind] = command(fw, clock, b"AT+SOCKET=3,8888")
    fw.work_done(bind.token, Done())
    seed, actions = fw.accepted(1, "127.0.0.1", 40000)
    assert seed == 2 and emitted(actions) == b"+EVENT:SocketSeed,2,1\r\n"
    assert fw.received(2, b"abc") == [Emit(b"+EVENT:SocketDown,2,3\r\n")]
    assert emitted(command(fw, clock, b"AT+SOCKETREAD=2")) == b"+SOCKETREAD,2,3,abc\r\nOK\r\n"
    command(fw, clock, b"AT+SOCKETRECVCFG=1")
    assert fw.received(2, b"x\r\n") == [Emit(b"+EVENT:SocketDown,2,3,x\r\n\r\n")]


def test_a_udp_server_answers_the_peer_it_heard(fw: Firmware, clock: Clock) -> None:
    [bind] = command(fw, clock, b"AT+SOCKET=1,9999")
    fw.work_done(bind.token, Done())
    assert emitted(command(fw, clock, b"AT+SOCKETSENDLINE=1,2,hi")) == (
        b"+SOCKETSENDLINE:99\r\nERROR\r\n"  # nobody spoke to it yet
    )
    fw.received(1, b"ping", ("127.0.0.1", 5555))
    [send] = command(fw, clock, b"AT+SOCKETSENDLINE=1,4,pong")
    assert isinstance(send, Send) and send.to == ("127.0.0.1", 5555)
