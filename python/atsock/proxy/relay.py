"""A CONNECT's data: the client's socket and a module connection, both ways at once
(one thread each way, so a long upload never holds up the download), bytes counted as
they move; when either side ends, both do and the ConID is deleted."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading

from atsock.errors import ATError
from atsock.proxy.stats import Relayed
from atsock.sync.sockets import Socket

log = logging.getLogger("atsock.proxy")

#: bytes moved per read each way
CHUNK = 64 * 1024


def relay(client: socket.socket, sock: Socket, record: Relayed) -> None:
    """Both ways until either side ends; returns once both have and the ConID is gone."""
    upstream = threading.Thread(
        target=_client_to_module,
        args=(client, sock, record),
        name=f"atsock-socks-up-{sock.con_id}",
        daemon=True,
    )
    upstream.start()
    try:
        while data := sock.recv(CHUNK):
            client.sendall(data)
            record.down += len(data)
    except (OSError, ATError) as exc:  # (the module side ended, the client left)
        log.debug("ConID %d: %s", sock.con_id, exc)
    finally:
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_RDWR)  # ends the upstream thread's recv
        upstream.join()
        sock.close()


def _client_to_module(client: socket.socket, sock: Socket, record: Relayed) -> None:
    try:
        while data := client.recv(CHUNK):
            sock.sendall(data)
            record.up += len(data)
    except (OSError, ATError) as exc:
        log.debug("ConID %d: %s", sock.con_id, exc)
    finally:
        sock.close()  # the module side ends too: the other thread's recv returns
