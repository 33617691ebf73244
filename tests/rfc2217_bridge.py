"""An RFC 2217 server on 127.0.0.1 in front of a pty, for the driver's tests.

``rfc2217://host:port`` is the URL of a serial port shared over the network (a
serial device server, ser2net). This bridge is the server side, built on pyserial's
own :class:`serial.rfc2217.PortManager`, which answers the telnet negotiation and the
port settings: one client at a time, bytes from the network filtered to the port and
bytes from the port escaped to the network, each way on a thread of its own. The pty
has no modem lines, as a 3-wire UART has none: they read as off.
"""

from __future__ import annotations

import socket
import threading

import serial
from serial.rfc2217 import PortManager

from peers import Closing

#: Bound on each wait of the bridge's threads (stopping takes at most about this).
POLL = 0.05


class _Network:
    """The ``connection`` PortManager writes its telnet answers to."""

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self._lock:
            self._conn.sendall(data)


class _ThreeWire(serial.Serial):
    """A port without modem lines: they read as off, and setting them does nothing
    (a pty refuses the modem-line ioctls)."""

    def _update_rts_state(self) -> None:
        pass

    def _update_dtr_state(self) -> None:
        pass

    @property
    def cts(self) -> bool:
        return False

    @property
    def dsr(self) -> bool:
        return False

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return False


class Rfc2217Bridge(Closing):
    """Serves the pty at ``path`` as ``rfc2217://127.0.0.1:<port>``."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(POLL)
        self.url = f"rfc2217://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="rfc2217-bridge", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn, _ThreeWire(self._path, timeout=POLL) as port:
                conn.settimeout(POLL)
                self._bridge(conn, port)

    def _bridge(self, conn: socket.socket, port: serial.SerialBase) -> None:
        network = _Network(conn)
        manager = PortManager(port, network)
        done = threading.Event()

        def port_to_network() -> None:
            while not done.is_set():
                data = port.read(port.in_waiting or 1)
                if data:
                    try:
                        network.write(b"".join(manager.escape(data)))
                    except OSError:
                        break

        sender = threading.Thread(target=port_to_network, name="rfc2217-out", daemon=True)
        sender.start()
        try:
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not data:
                    break
                port.write(b"".join(manager.filter(data)))
        finally:
            done.set()
            sender.join(5)
