"""A UDP ASSOCIATE (RFC 1928, section 7): a local UDP relay socket for one client, and a
module UDP client ConID per destination it sends to. The client's datagrams lose their
SOCKS header on the way to the module; the module's datagrams get it back (their
source, as the client named it) on the way back. The association lasts as long as the
client's TCP control connection; then every ConID it made is deleted.

The module's UDP sockets carry datagrams of at most its packet size (1024 bytes): a
larger one would leave the module as several, so it is dropped, as are fragments and
datagrams from anyone but the client. Drops are counted, not answered (UDP has no
error to give)."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable

from atsock._core import DEFAULT_MAX_PACKET
from atsock.errors import ATError
from atsock.proxy.carrier import Carrier
from atsock.proxy.socks5 import Address, UdpClient, UdpDatagram, parse_udp_datagram
from atsock.proxy.stats import Relayed
from atsock.sync.sockets import Socket

log = logging.getLogger("atsock.proxy")

#: largest datagram read from either side (bytes)
DATAGRAM_MAX = 65535


class UdpAssociation:
    """The relay of one client; :meth:`run` serves it until its control connection ends."""

    def __init__(
        self,
        module: Carrier,
        bind_host: str,
        client: Address,
        record: Relayed,
        *,
        adopt: Callable[[Socket], bool],
    ) -> None:
        self.module = module
        self.record = record
        #: whom the datagrams may come from (``client``: its IP, the port it named)
        self._client = UdpClient(*client)
        #: registers a new module socket with the server (False: it is shutting down)
        self._adopt = adopt
        family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
        self.relay_socket = socket.socket(family, socket.SOCK_DGRAM)
        self.relay_socket.bind((bind_host, 0))
        #: where the client sends its datagrams (the reply's BND.ADDR and BND.PORT)
        self.bound: Address = self.relay_socket.getsockname()[:2]
        self._lock = threading.Lock()
        self._targets: dict[bytes, Socket] = {}  # (by the client's header)
        #: every module socket this association made (closed ones too)
        self.made: list[Socket] = []
        self._threads: list[threading.Thread] = []

    def run(self, control: socket.socket) -> None:
        """Relays until the client closes its control connection (or sends on it)."""
        self._spawn(self._from_client, "atsock-socks-udp")
        try:
            control.settimeout(None)
            with contextlib.suppress(OSError):
                while control.recv(4096):
                    pass  # (nothing more is said on it; it only has to stay open)
        finally:
            self.close()

    def close(self) -> None:
        """Ends the relay and deletes every ConID it made."""
        with contextlib.suppress(OSError):  # (ENOTCONN, but it wakes the recvfrom)
            self.relay_socket.shutdown(socket.SHUT_RDWR)
        self.relay_socket.close()
        with self._lock:
            targets = list(self._targets.values())
            self._targets.clear()
        for sock in targets:
            sock.close()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(5)

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    # ---- the client's datagrams to the module ---------------------------------------

    def _from_client(self) -> None:
        record = self.record
        while True:
            try:
                datagram, source = self.relay_socket.recvfrom(DATAGRAM_MAX)
            except OSError:
                return  # (closed)
            if source is None:
                return  # (shut down: recvfrom returns no sender)
            parsed = parse_udp_datagram(datagram) if self._client.accepts(source[:2]) else None
            if parsed is None or len(parsed.payload) > DEFAULT_MAX_PACKET:
                record.dropped += 1
                continue
            sock = self._socket_for(parsed)
            if sock is None:
                record.dropped += 1
                continue
            try:
                sock.send(parsed.payload)
            except (OSError, ATError) as exc:
                log.info("UDP to %s:%d: %s", *parsed.destination, exc)
                record.dropped += 1
                continue
            record.up += len(parsed.payload)
            record.datagrams_up += 1

    def _socket_for(self, datagram: UdpDatagram) -> Socket | None:
        """The module UDP client for the datagram's destination, made on first use
        (None: it cannot be)."""
        with self._lock:
            sock = self._targets.get(datagram.header)
        if sock is not None:
            return sock
        target = datagram.destination
        try:
            sock = self.module.create_connection(target, udp=True)
        except (OSError, ATError, ValueError) as exc:
            log.info("UDP to %s:%d: %s", *target, exc)
            return None
        if not self._adopt(sock):
            sock.close()
            return None
        with self._lock:
            self._targets[datagram.header] = sock
            self.made.append(sock)
        self.record.con_ids.append(sock.con_id)
        self._spawn(self._to_client, f"atsock-socks-udp-{sock.con_id}", datagram.header, sock)
        return sock

    # ---- the module's datagrams to the client ---------------------------------------

    def _to_client(self, header: bytes, sock: Socket) -> None:
        """The module's datagrams from one destination, each with the header the
        client's had (so its source reads as the client named it)."""
        record = self.record
        try:
            while data := sock.recv(DATAGRAM_MAX):
                if self._client.address is None:
                    continue
                self.relay_socket.sendto(header + data, self._client.address)
                record.down += len(data)
                record.datagrams_down += 1
        except (OSError, ATError) as exc:  # (closed: the association ended)
            log.debug("ConID %d: %s", sock.con_id, exc)
