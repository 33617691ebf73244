"""The emulator exposes nothing beyond the machine by default: its TCP UART and every
server socket it opens for the host (TCP, UDP, TLS) listen on loopback only.

(Command injection and secrets: tests/test_driver_security.py; the state file's 0600
mode: tests/test_emulator_autott.py.)
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest

import atsock
from atsock import SocketType
from atsock.emulator import Emulator
from driver_fixtures import open_module
from peers import TlsCertificates


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_loopback(host: str) -> bool:
    return ipaddress.ip_address(host).is_loopback


def test_tcp_uart_binds_to_loopback_by_default() -> None:
    with Emulator(transport="tcp") as emu:
        assert emu.url.startswith("socket://127.0.0.1:")
        listener = emu.uart.listener  # type: ignore[attr-defined]
        assert is_loopback(listener.getsockname()[0])


@pytest.mark.parametrize(
    "kind", [SocketType.TCP_SERVER, SocketType.UDP_SERVER, SocketType.SSL_SERVER]
)
def test_module_servers_listen_on_loopback_by_default(kind: SocketType, tmp_path: Path) -> None:
    tls_certs = TlsCertificates() if kind == SocketType.SSL_SERVER else None
    with (
        Emulator(state=tmp_path / "state.json", transport="pty", echo=False) as emu,
        open_module(emu.url) as m,
    ):
        if tls_certs is not None:
            m.set_certificate(atsock.CertKind.CLIENT_CERT, tls_certs.server_cert_pem)
            m.set_certificate(atsock.CertKind.CLIENT_KEY, tls_certs.server_key_pem)
        cid = m.open_socket(kind, port=free_port())
        bound = emu.sockets[cid].sock
        assert bound is not None
        assert is_loopback(bound.getsockname()[0])
