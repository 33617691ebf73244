"""Random command sequences against the emulator (hypothesis RuleBasedStateMachine).

The model knows which ConIDs exist, their kind, the receive mode, and what each echo
connection still owes us; after every step the module must list exactly the ConIDs
the model has, and every byte sent must come back, in order, through the socket API.
"""

from __future__ import annotations

import socket

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

import atsock
from atsock import ReceiveMode, SocketType
from atsock.emulator import Emulator
from driver_fixtures import open_module
from peers import TcpEchoServer

MAX_SOCKETS = 4


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DriverMachine(RuleBasedStateMachine):
    clients = Bundle("clients")
    servers = Bundle("servers")

    def __init__(self) -> None:
        super().__init__()
        self.echo = TcpEchoServer()
        self.emu = Emulator(transport="pty", echo=False).start()
        self.module = open_module(self.emu.url)
        self.sockets: dict[int, atsock.Socket] = {}
        self.kinds: dict[int, SocketType] = {}
        self.owed: dict[int, bytearray] = {}

    @initialize()
    def attach(self) -> None:
        self.module.at()

    def teardown(self) -> None:
        self.module.close()
        self.emu.stop()
        self.echo.close()

    # ---- rules ----------------------------------------------------------------------------

    @precondition(lambda self: len(self.kinds) < MAX_SOCKETS)
    @rule(target=clients)
    def open_client(self) -> int:
        sock = self.module.create_connection(self.echo.address, timeout=2.0)
        assert sock.con_id not in self.kinds
        self.sockets[sock.con_id] = sock
        self.kinds[sock.con_id] = SocketType.TCP_CLIENT
        self.owed[sock.con_id] = bytearray()
        return sock.con_id

    @precondition(lambda self: len(self.kinds) < MAX_SOCKETS)
    @rule(target=servers)
    def open_server(self) -> int:
        con_id = self.module.open_socket(SocketType.TCP_SERVER, port=free_port())
        assert con_id not in self.kinds
        self.kinds[con_id] = SocketType.TCP_SERVER
        return con_id

    @rule(con_id=clients, data=st.binary(min_size=1, max_size=300))
    def send(self, con_id: int, data: bytes) -> None:
        if con_id not in self.sockets:
            return
        self.sockets[con_id].sendall(data)
        self.owed[con_id] += data

    @rule(con_id=clients, text=st.text(min_size=1, max_size=80))
    def send_line(self, con_id: int, text: str) -> None:
        if con_id not in self.sockets:
            return
        self.module.send_line(con_id, text)
        self.owed[con_id] += text.encode()

    @rule(con_id=clients, size=st.integers(min_value=1, max_value=400))
    def receive(self, con_id: int, size: int) -> None:
        if con_id not in self.sockets or not self.owed[con_id]:
            return
        want = min(size, len(self.owed[con_id]))
        got = bytearray()
        while len(got) < want:
            chunk = self.sockets[con_id].recv(want - len(got))
            assert chunk
            got += chunk
        assert bytes(got) == bytes(self.owed[con_id][:want])
        del self.owed[con_id][:want]

    @rule(con_id=consumes(clients))
    def close_client(self, con_id: int) -> None:
        if con_id not in self.sockets:
            return
        self.sockets.pop(con_id).close()
        del self.kinds[con_id], self.owed[con_id]

    @rule(con_id=consumes(servers))
    def delete_server(self, con_id: int) -> None:
        if self.kinds.get(con_id) != SocketType.TCP_SERVER:
            return  # deleted by a reset (the ConID may be a client's now)
        self.module.delete(con_id)
        del self.kinds[con_id]

    @rule(mode=st.sampled_from(ReceiveMode))
    def receive_mode(self, mode: ReceiveMode) -> None:
        self.module.set_receive_mode(mode)

    @rule()
    def at(self) -> None:
        self.module.at()

    @precondition(lambda self: len(self.kinds) == 1)
    @rule(data=st.binary(min_size=1, max_size=200))
    def transparent(self, data: bytes) -> None:
        (con_id,) = self.kinds
        if self.kinds[con_id] != SocketType.TCP_CLIENT or self.owed[con_id]:
            return
        with self.module.transparent(timeout=2.0) as stream:
            stream.write(data)
            got = bytearray()
            while len(got) < len(data):
                got += stream.read(len(data) - len(got))
        assert bytes(got) == data

    @rule()
    def reset(self) -> None:
        self.module.reset()
        for con_id, sock in self.sockets.items():
            try:
                sock.recv(1)
            except atsock.ModuleReset:
                pass
            else:  # pragma: no cover
                raise AssertionError(f"ConID {con_id} survived a reset")
            sock.close()
        self.sockets.clear()
        self.kinds.clear()
        self.owed.clear()

    # ---- invariants ----------------------------------------------------------------------

    @invariant()
    def module_lists_what_the_model_has(self) -> None:
        listed = {s.con_id: s.type for s in self.module.sockets()}
        assert listed == self.kinds


TestDriverMachine = DriverMachine.TestCase
TestDriverMachine.settings = settings(max_examples=12, stateful_step_count=20, deadline=None)
