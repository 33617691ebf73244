"""AT parameter lists through the bindings: splitting, quoting, refusing line breaks."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from atsock import format_param, format_params, needs_quoting, parse_params


def test_spec_examples_split_as_expected() -> None:
    assert parse_params(b"4,192.168.31.239,60000") == [b"4", b"192.168.31.239", b"60000"]
    assert parse_params("2,10,1234567890") == ["2", "10", "1234567890"]
    assert parse_params(b'2,5,"a,\\"b"') == [b"2", b"5", b'a,"b']


def test_values_are_quoted_only_when_needed() -> None:
    assert format_params([b"4", "example.org", b"80"]) == b"4,example.org,80"
    assert format_param('say "hi", \\o/') == b'"say \\"hi\\", \\\\o/"'
    assert format_param("") == b'""'
    assert needs_quoting(" lead") and not needs_quoting("plain")


@pytest.mark.parametrize("bad", [b"a\rb", "line\n", b"\r\n"])
def test_line_breaks_are_refused_with_a_clear_error(bad: str | bytes) -> None:
    with pytest.raises(ValueError, match="CR or LF"):
        format_param(bad)
    with pytest.raises(ValueError, match="SOCKETSEND"):
        format_params(["ok", bad])


@pytest.mark.parametrize(
    ("text", "message"),
    [(b'"open', "never closes"), (b'"a\\', "backslash"), (b'"a"b', "closing double quote")],
)
def test_malformed_lists_raise_value_error(text: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_params(text)


_value = st.binary(max_size=40).filter(lambda v: b"\r" not in v and b"\n" not in v)
_text = st.text(max_size=40).filter(lambda v: "\r" not in v and "\n" not in v)


@given(st.lists(_value, max_size=8))
def test_bytes_round_trip(values: list[bytes]) -> None:
    line = format_params(values)
    assert b"\r" not in line and b"\n" not in line
    assert parse_params(line) == values


@given(st.lists(_text, max_size=8))
def test_text_round_trip(values: list[str]) -> None:
    assert parse_params(format_params(values).decode()) == values


@given(st.binary(max_size=200))
def test_parsing_any_bytes_gives_values_or_value_error(data: bytes) -> None:
    with contextlib.suppress(ValueError):
        parse_params(data)
