"""Certificates for the TLS checks, made on the spot with the ``openssl`` command: a CA
of the run's own, a server certificate for the peer host and one for the module (both
signed by it), and a foreign CA that signed neither. Keys are EC P-256, so every PEM
fits in one of the module's 2048-byte certificate slots.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: How long the certificates are valid (days): a run lasts minutes.
VALID_DAYS = 2
#: Bound on one openssl run (seconds).
OPENSSL_TIMEOUT = 30.0

_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


class CertificateError(RuntimeError):
    """The certificates could not be made (no openssl, or it failed)."""


@dataclass(frozen=True)
class Identity:
    """A certificate and its private key, as PEM."""

    cert: bytes
    key: bytes


@dataclass(frozen=True)
class CheckCertificates:
    ca: bytes
    foreign_ca: bytes
    peer: Identity
    module: Identity


def _openssl(folder: Path, *args: str) -> None:
    command = [shutil.which("openssl") or "openssl", *args]
    try:
        subprocess.run(
            command, cwd=folder, check=True, capture_output=True, timeout=OPENSSL_TIMEOUT
        )
    except FileNotFoundError:
        raise CertificateError(
            "the TLS checks need the openssl command (Debian/Ubuntu: apt-get install openssl)"
        ) from None
    except subprocess.CalledProcessError as exc:
        lines = exc.stderr.decode(errors="replace").strip().splitlines()
        detail = lines[-1] if lines else str(exc)
        raise CertificateError(f"openssl {args[0]} failed: {detail}") from None
    except subprocess.TimeoutExpired:
        raise CertificateError(f"openssl {args[0]} took over {OPENSSL_TIMEOUT:g} s") from None


def _make_ca(folder: Path, name: str) -> None:
    _openssl(
        folder, "req", "-x509", *_KEY, "-keyout", f"{name}.key", "-out", f"{name}.pem",
        "-days", str(VALID_DAYS), "-subj", f"/CN=atsock check {name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip


def _make_leaf(folder: Path, name: str, host: str) -> Identity:
    kind = "IP" if _is_ip(host) else "DNS"
    (folder / f"{name}.ext").write_text(
        f"subjectAltName={kind}:{host}\nextendedKeyUsage=serverAuth,clientAuth\n"
    )
    _openssl(
        folder, "req", *_KEY, "-keyout", f"{name}.key", "-out", f"{name}.csr",
        "-subj", f"/CN={host}",
    )  # fmt: skip
    _openssl(
        folder, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", f"{name}.pem", "-days", str(VALID_DAYS),
        "-extfile", f"{name}.ext",
    )  # fmt: skip
    return Identity((folder / f"{name}.pem").read_bytes(), (folder / f"{name}.key").read_bytes())


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def make_certificates(peer_host: str, module_host: str) -> CheckCertificates:
    """A fresh CA, a foreign CA and two server identities (raises CertificateError)."""
    with tempfile.TemporaryDirectory(prefix="atsock-check-") as name:
        folder = Path(name)
        _make_ca(folder, "ca")
        _make_ca(folder, "foreign")
        return CheckCertificates(
            ca=(folder / "ca.pem").read_bytes(),
            foreign_ca=(folder / "foreign.pem").read_bytes(),
            peer=_make_leaf(folder, "peer", peer_host),
            module=_make_leaf(folder, "module", module_host),
        )
