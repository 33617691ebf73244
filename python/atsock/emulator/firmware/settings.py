"""The firmware's settings that survive ``AT+RST`` and restarts (its "flash"):
certificates, DNS servers, the auto-transparent and auto-connect configuration, the
saved access point and the echo setting, and their JSON form. Where they are kept is
the host's (:class:`~atsock.emulator.flash.FlashStore`).
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field
from typing import Any

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
