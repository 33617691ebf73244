"""How the firmware reads a command line: its name, form (``exec``, ``query``, ``set``)
and parameters, and each parameter's checks, failing as the firmware does (``+CMD:3``
wrong count, ``+CMD:4`` bad value, ``+CMD:1`` a form it does not take).
"""

from __future__ import annotations

from atsock._core import parse_params
from atsock.emulator.firmware.errors import BAD_PARAM, PARAM_COUNT, UNSUPPORTED, CommandFailed

#: Longest host name a command takes.
MAX_HOST = 253


def split_command(line: bytes) -> tuple[str, bytes] | None:
    """``AT+NAME<suffix>`` split into the name (upper case) and the rest; None for a line
    that is not ``AT+…`` (plain ``AT``, ``ATE0`` and unknown input are the caller's)."""
    if line[:3].upper() != b"AT+":
        return None
    body = line[3:]
    cut = next((i for i, b in enumerate(body) if b in b"=?"), len(body))
    return body[:cut].decode("ascii", "replace").upper(), body[cut:]


def form_of(name: str, suffix: bytes) -> tuple[str, list[bytes]]:
    """The command's form and parameters: ``exec`` (no suffix), ``query`` (``?``) or
    ``set`` (``=`` and parameters)."""
    if suffix == b"":
        return "exec", []
    if suffix == b"?":
        return "query", []
    if suffix.startswith(b"=") and suffix != b"=?":
        try:
            return "set", parse_params(suffix[1:])
        except ValueError:
            raise CommandFailed(name, BAD_PARAM) from None
    raise CommandFailed(name, UNSUPPORTED)


def integer(cmd: str, value: bytes, low: int, high: int) -> int:
    # digits only: Python's int() would also take " 7 ", "+7" and "1_0"
    if not value.isdigit() or len(value) > 12:
        raise CommandFailed(cmd, BAD_PARAM)
    number = int(value)
    if not low <= number <= high:
        raise CommandFailed(cmd, BAD_PARAM)
    return number


def text(cmd: str, value: bytes) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise CommandFailed(cmd, BAD_PARAM) from None


def host(cmd: str, value: bytes) -> str:
    name = text(cmd, value)
    if not name or len(name) > MAX_HOST:
        raise CommandFailed(cmd, BAD_PARAM)
    return name


def count(cmd: str, params: list[bytes], *allowed: int) -> None:
    if len(params) not in allowed:
        raise CommandFailed(cmd, PARAM_COUNT)


def forms(cmd: str, form: str, *allowed: str) -> None:
    if form not in allowed:
        raise CommandFailed(cmd, UNSUPPORTED)
