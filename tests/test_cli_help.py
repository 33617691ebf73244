"""Every subcommand's ``--help``: a description, an example, its defaults shown, upper
case metavars, and lines that fit an 80-column terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

COMMANDS = ("demo", "emulate", "info", "term", "stream", "proxy")


def help_text(*args: str) -> str:
    env = {**os.environ, "COLUMNS": "80"}
    done = subprocess.run(
        [sys.executable, "-m", "atsock", *args, "--help"],
        capture_output=True, text=True, timeout=30, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_a_subcommand_help_is_complete_and_fits_80_columns(command: str) -> None:
    text = help_text(command)
    usage, description = text.split("\n\n")[:2]
    assert usage.startswith(f"usage: atsock {command}")
    assert not description.startswith(("positional", "options")), "no description"
    assert len(description.split()) >= 8
    assert "example" in text
    too_long = [line for line in text.splitlines() if len(line) > 79]
    assert not too_long, too_long
    metavars = set(re.findall(r"--[a-z-]+ ([^\s,\]]+)", usage))
    assert all(m == m.upper() for m in metavars), metavars


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        ("demo", "(default: 64M)"),
        ("emulate", "(default: 0.02)"),
        ("emulate", "(default: 53)"),
        ("info", "(default: 115200)"),
        ("info", "(default: 5.0)"),
        ("term", "(default: 2.0)"),
        ("stream", "(default: 10.0)"),
        ("stream", "(default: 1.0)"),
    ],
)
def test_defaults_are_shown(command: str, shown: str) -> None:
    assert shown in " ".join(help_text(command).split())


def test_the_top_level_help_lists_every_command() -> None:
    text = help_text()
    for command in COMMANDS:
        assert f"    {command}" in text
