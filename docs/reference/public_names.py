"""A griffe extension for the API reference: the public API only, readable as Markdown.

- Only public names. mkdocstrings' ``filters: public`` follows ``__all__`` at module
  level (names a module defines but does not export stay out), but keeps special
  methods (``__enter__``, ``__repr__`` ...) and trusts ``__all__`` blindly. This marks
  every ``_`` name of a module private, except the dunders it exports
  (``__version__``), and drops the special methods of classes (``__init__`` stays: its
  parameters are the class's signature), whether a page reaches a class directly or
  through a re-export.
- The sources document constants and attributes with ``#:`` comments above them
  (Sphinx's convention, which griffe does not read): they become their docstrings.
- Docstrings use reST roles (``:class:`~atsock.Timeout```): they become code spans
  (``Timeout``), and a reST ``::`` before a literal block a plain colon.
- An attribute set in ``__init__`` shows no value (its docstring says what it is).
- A constant of the compiled core, which griffe inspects, does not take its type's
  docstring (``int``'s) for its own, nor a slot of a Rust class the descriptor's repr
  for its value.
"""

from __future__ import annotations

import inspect
import re
import types
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|meth|func|mod|attr|data|exc|obj|const):`(~?)([^`]+)`")
_LITERAL_MARK = re.compile(r"(\S)::$", re.MULTILINE)


class PublicNames(griffe.Extension):
    """Hides every ``_`` name and makes docstrings Markdown (see the module)."""

    def on_attribute_instance(
        self, *, node: Any, attr: griffe.Attribute, agent: Any, **kwargs: Any
    ) -> None:
        if isinstance(agent, griffe.Inspector):
            value = getattr(node, "obj", None)
            own = attr.docstring.value if attr.docstring else None
            if own is not None and own == inspect.getdoc(type(value)):
                attr.docstring = None
            if isinstance(value, types.MemberDescriptorType):
                attr.value = None
        elif attr.docstring is None and attr.lineno and attr.filepath:
            comment = _comment_above(attr.lines_collection[attr.filepath], attr.lineno)
            if comment:
                attr.docstring = griffe.Docstring(comment, lineno=attr.lineno, parent=attr)

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        _walk(pkg)


def _comment_above(lines: list[str], lineno: int) -> str:
    """The ``#:`` comment lines right above line ``lineno`` (1-based), as text."""
    found: list[str] = []
    index = lineno - 2
    while index >= 0 and lines[index].strip().startswith("#:"):
        found.insert(0, lines[index].strip()[2:].strip())
        index -= 1
    return "\n".join(found)


def _markdown(text: str) -> str:
    text = _ROLE.sub(lambda m: f"`{m[2].rsplit('.', 1)[-1] if m[1] else m[2]}`", text)
    return _LITERAL_MARK.sub(r"\1:", text)


def _walk(obj: griffe.Object) -> None:
    if obj.docstring is not None:
        obj.docstring.value = _markdown(obj.docstring.value)
    for name, member in list(obj.members.items()):
        if member.is_alias:
            continue
        if name.startswith("_"):
            if obj.is_class and member.is_special and name != "__init__":
                del obj.members[name]
                continue
            if not (obj.is_module and member.is_special and name in (obj.exports or ())):
                member.public = False
        if member.is_attribute and "instance-attribute" in member.labels:
            member.value = None
        _walk(member)
