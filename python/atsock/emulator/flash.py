"""The emulated module's "flash": settings that survive ``AT+RST`` and restarts.

Certificates, DNS servers, the auto-transparent and auto-connect configuration, the
saved access point and the echo setting live here. With a state file they are written
atomically (temporary file, ``fsync``, rename) with mode 0600, since a private key may
be among them; without one they last as long as the emulator object.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Certificate slots of AT+SSLCRET: 1 CA, 2 client certificate, 3 client private key.
CERT_SLOTS = (1, 2, 3)


@dataclass
class AutoTransparent:
    """AT+SOCKETAUTOTT: socket type (0 = disabled), remote host, port."""

    type: int = 0
    host: str = ""
    port: int = -1


@dataclass
class Flash:
    """Everything the module keeps across resets."""

    echo: bool = True
    dns: list[str] = field(default_factory=lambda: ["0.0.0.0", "0.0.0.0"])
    auto_connect: bool = True
    ssid: str = "atsock-emulator"
    password: str = field(default="", repr=False)
    auto_transparent: AutoTransparent = field(default_factory=AutoTransparent)
    certs: dict[int, bytes] = field(default_factory=dict, repr=False)  # keys are secrets

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["certs"] = {str(k): base64.b64encode(v).decode() for k, v in self.certs.items()}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Flash:
        flash = cls()
        flash.echo = bool(data.get("echo", True))
        flash.dns = [str(x) for x in data.get("dns", flash.dns)][:2]
        flash.auto_connect = bool(data.get("auto_connect", True))
        flash.ssid = str(data.get("ssid", flash.ssid))
        flash.password = str(data.get("password", ""))
        auto = data.get("auto_transparent", {})
        flash.auto_transparent = AutoTransparent(
            int(auto.get("type", 0)), str(auto.get("host", "")), int(auto.get("port", -1))
        )
        flash.certs = {
            int(k): base64.b64decode(v)
            for k, v in data.get("certs", {}).items()
            if int(k) in CERT_SLOTS
        }
        return flash


class FlashStore:
    """Loads and saves a :class:`Flash` to an optional JSON file."""

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path) if path is not None else None

    def load(self) -> Flash:
        if self.path is None or not self.path.exists():
            return Flash()
        try:
            return Flash.from_json(json.loads(self.path.read_text()))
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            raise ValueError(f"cannot read emulator state file {self.path}: {exc}") from exc

    def save(self, flash: Flash) -> None:
        if self.path is None:
            return
        directory = self.path.parent
        fd, tmp = tempfile.mkstemp(prefix=".atsock-state-", dir=directory)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(flash.to_json(), f, indent=2)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        log.debug("state saved to %s", self.path)
