"""``emu://`` — open an in-process module emulator as if it were a serial port.

``serial.serial_for_url("emu://")`` starts an :class:`~atsock.emulator.Emulator` on a
pseudo-terminal and opens that pty; closing the port stops the emulator. Options go in
the query string: ``emu://?echo=0&guard_time=0.05&baud=115200&state=/tmp/flash.json``.
Because it is a real pty, ``spy://`` can wrap it: ``spy://emu://`` is not a thing, but
``atsock.emulator.Emulator().url`` under ``spy://`` is.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from serial import SerialException
from serial.serialposix import Serial as PosixSerial

from atsock.emulator import Emulator


def _options(url: str) -> dict[str, Any]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "emu":
        raise SerialException(f"expected an emu:// URL, got {url!r}")
    options: dict[str, Any] = {}
    for key, value in urllib.parse.parse_qsl(parts.query, strict_parsing=bool(parts.query)):
        try:
            if key == "echo":
                options["echo"] = value not in ("0", "false", "no")
            elif key == "guard_time":
                options["guard_time"] = float(value)
            elif key == "baud":
                options["baud"] = int(value)
            elif key == "state":
                options["state"] = value
            elif key == "dns_port":
                options["dns_port"] = int(value)
            else:
                raise SerialException(f"unknown emu:// option {key!r}")
        except ValueError:
            raise SerialException(f"bad value for emu:// option {key}: {value!r}") from None
    return options


class Serial(PosixSerial):
    """A pyserial port whose other end is a freshly started module emulator.

    It also tells :class:`atsock.Module` what a pty cannot: the emulator's ``guard_time``
    and, with ``baud``, its ``link_rate`` (bytes/s)."""

    emulator: Emulator | None = None
    guard_time: float | None = None
    link_rate: float | None = None

    def open(self) -> None:
        if self.is_open:  # (a second emulator would replace the one serving this port)
            raise SerialException("Port is already open.")
        url = str(self.port)
        options = _options(url)
        self.emulator = Emulator(transport="pty", **options).start()
        self._port = self.name = self.portstr = self.emulator.url
        try:
            super().open()
        except BaseException:
            self.emulator.stop()
            self.emulator = None
            raise
        finally:
            self._port = self.name = self.portstr = url
        self.guard_time = self.emulator.guard_time
        baud = options.get("baud")
        self.link_rate = baud / 10 if baud else None

    def close(self) -> None:
        super().close()
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None
