"""What ``atsock check`` changes on the module and puts back afterwards: the DNS
servers, the auto-transparent setting, the three certificate slots and the receive
mode (which has no query: it goes back to passive, the firmware's default).

The saved certificates (a private key among them) live in memory only, never in a log.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from atsock.errors import ATError
from atsock.sync.module import Module
from atsock.types import AutoTransparentConfig, CertKind, ReceiveMode


@dataclass(frozen=True)
class SavedSettings:
    dns: tuple[str, ...]
    auto_transparent: AutoTransparentConfig
    certificates: dict[CertKind, bytes]

    def __repr__(self) -> str:  # never show the bodies
        return f"SavedSettings(dns={self.dns}, auto_transparent={self.auto_transparent})"


def save_settings(module: Module, timeout: float) -> SavedSettings:
    return SavedSettings(
        dns=module.dns_servers(timeout=timeout),
        auto_transparent=module.auto_transparent(timeout=timeout),
        certificates={kind: module.certificate(kind, timeout=timeout) for kind in CertKind},
    )


def restore_settings(module: Module, saved: SavedSettings, timeout: float) -> list[str]:
    """Puts every setting back, each on its own; what could not be, one line each."""
    problems: list[str] = []

    def attempt(what: str, step: Callable[[], object]) -> None:
        try:
            step()
        except (ATError, ValueError) as exc:  # (ValueError: a setting the driver refuses)
            problems.append(f"{what} not restored: {exc}")

    attempt(
        "the receive mode", lambda: module.set_receive_mode(ReceiveMode.PASSIVE, timeout=timeout)
    )
    if saved.dns:
        attempt("the DNS servers", lambda: module.set_dns_servers(*saved.dns[:2], timeout=timeout))
    auto = saved.auto_transparent
    if auto.enabled:
        attempt(
            "AT+SOCKETAUTOTT",
            lambda: module.set_auto_transparent(
                auto.type, auto.host or None, auto.port, timeout=timeout
            ),
        )
    else:
        attempt("AT+SOCKETAUTOTT", lambda: module.disable_auto_transparent(timeout=timeout))
    for kind, body in saved.certificates.items():
        attempt(f"certificate slot {kind:d}", functools.partial(_put, module, kind, body, timeout))
    return problems


def _put(module: Module, kind: CertKind, body: bytes, timeout: float) -> None:
    module.set_certificate(kind, body, timeout=timeout)
