"""The real peers an ``atsock check`` run serves on the peer host: TCP, UDP and TLS echo
servers (the TLS one with a CA of the run's own) and a DNS server that knows one name.
"""

from __future__ import annotations

import contextlib
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from atsock.check.certs import CertificateError, CheckCertificates, make_certificates
from atsock.check.context import CheckFailed, CheckOptions
from atsock.testing import DnsServer, TcpEcho, TlsEcho, UdpEcho

#: The name the run's DNS server resolves (to the peer host); ``.test`` is reserved
#: (RFC 2606), so no real server knows it.
CHECK_NAME = "echo.atsock-check.test"


@dataclass
class CheckPeers:
    """Every peer of a run; a peer that could not start holds why, for its checks."""

    tcp: TcpEcho
    udp: UdpEcho
    certificates: CheckCertificates | None = None
    tls: TlsEcho | None = None
    dns: DnsServer | None = None
    problems: dict[str, str] = field(default_factory=dict)
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def need_tls(self) -> tuple[CheckCertificates, TlsEcho]:
        if self.certificates is None or self.tls is None:
            raise CheckFailed(f"cannot run: {self.problems.get('tls', 'no TLS peer')}")
        return self.certificates, self.tls

    def need_dns(self) -> DnsServer:
        if self.dns is None:
            raise CheckFailed(f"cannot run: {self.problems.get('dns', 'no DNS server')}")
        return self.dns

    def close(self) -> None:
        self._stack.close()


def start_peers(options: CheckOptions) -> CheckPeers:
    """Starts every peer on ``options.peer_host`` (close() stops them)."""
    host = options.peer_host
    stack = contextlib.ExitStack()
    try:
        peers = CheckPeers(
            tcp=stack.enter_context(TcpEcho(host)),
            udp=stack.enter_context(UdpEcho(host)),
            _stack=stack,
        )
        try:
            peers.certificates = make_certificates(host, options.module_host)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            with _key_files(peers.certificates) as (cert, key):
                context.load_cert_chain(cert, key)
            peers.tls = stack.enter_context(TlsEcho(context, host))
        except (CertificateError, ssl.SSLError) as exc:
            peers.problems["tls"] = str(exc)
        try:
            peers.dns = stack.enter_context(
                DnsServer({CHECK_NAME: host}, host, port=options.dns_port)
            )
        except OSError as exc:
            peers.problems["dns"] = (
                f"no DNS server on {host}:{options.dns_port} ({exc.strerror or exc}); a real "
                f"module asks on port 53, which needs root (or CAP_NET_BIND_SERVICE)"
            )
    except BaseException:
        stack.close()
        raise
    return peers


@contextlib.contextmanager
def _key_files(certificates: CheckCertificates) -> Iterator[tuple[str, str]]:
    """The peer's certificate and key as files (ssl loads chains from files only)."""
    with tempfile.TemporaryDirectory(prefix="atsock-check-") as name:
        cert, key = Path(name) / "peer.pem", Path(name) / "peer.key"
        cert.write_bytes(certificates.peer.cert)
        key.touch(mode=0o600)
        key.write_bytes(certificates.peer.key)
        yield str(cert), str(key)
