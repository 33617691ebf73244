"""Where the emulated module's "flash" (:class:`~atsock.emulator.firmware.settings.Flash`)
is kept: with a state file, written atomically (temporary file, ``fsync``, rename) with
mode 0600, since a private key may be among them; without one it lasts as long as the
emulator object.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

from atsock.emulator.firmware.settings import CERT_SLOTS, AutoTransparent, Flash

log = logging.getLogger(__name__)

__all__ = ["CERT_SLOTS", "AutoTransparent", "Flash", "FlashStore"]


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
