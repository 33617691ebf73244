"""The documentation site stays whole: the API reference is generated from docstrings
(mkdocstrings), so a public name without one is a hole in the site; the site builds
with ``mkdocs build --strict`` (a broken reference, a link to nothing or a warning of
the docstring parser fails it); and every relative link of the hand-written pages
points to a page and an anchor that exist.

The compiled core's docstrings live in the extension (PyO3 doc comments) or, where it
has none, in ``python/atsock/_core.pyi``; both count, and the stubs are read with
:mod:`ast`. Constants and attributes are documented by a ``#:`` comment above them or a
string right after them (the docs' griffe extension shows either).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import logging
import os
import pkgutil
import re
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from markdown.extensions.toc import slugify

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
STUBS = ROOT / "python" / "atsock" / "_core.pyi"
CORE = "atsock._core"

#: The packages whose public names must all be documented (their ``__all__``, or for a
#: module without one, the names it defines without a leading underscore).
PACKAGES = ("atsock", "atsock.aio", "atsock.protocol", "atsock.testing")

# ---- (a) every public name has a docstring --------------------------------------------------


def stub_docstrings() -> dict[str, str | None]:
    """Docstrings of ``_core.pyi`` by qualified name (``"Frame"``, ``"Frame.kind"``)."""
    found: dict[str, str | None] = {}

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + node.name
                found[name] = found.get(name) or ast.get_docstring(node)
                if isinstance(node, ast.ClassDef):
                    visit(node.body, name + ".")

    visit(ast.parse(STUBS.read_text(encoding="utf-8")).body, "")
    return found


def source_of(module_name: str) -> tuple[ast.Module, list[str]]:
    """The syntax tree and lines of a module's source (the stubs for the core)."""
    if module_name == CORE:
        path = STUBS
    else:
        file = importlib.import_module(module_name).__file__
        assert file is not None
        path = Path(file)
    text = path.read_text(encoding="utf-8")
    return ast.parse(text), text.splitlines()


def assigned_name(node: ast.stmt) -> str | None:
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
        return target.id if isinstance(target, ast.Name) else None
    return None


def data_documented(module_name: str, name: str) -> bool:
    """Whether the constant ``name`` has a ``#:`` comment or a docstring where it is
    assigned: in ``module_name``, or in the module it is imported from."""
    tree, lines = source_of(module_name)
    for index, node in enumerate(tree.body):
        if assigned_name(node) == name:
            above = lines[node.lineno - 2].strip() if node.lineno >= 2 else ""
            after = tree.body[index + 1] if index + 1 < len(tree.body) else None
            string_after = (
                isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            )
            return above.startswith("#:") or string_after
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if (alias.asname or alias.name) == name:
                    return data_documented(node.module, alias.name)
    raise AssertionError(f"{module_name}.{name}: assignment not found")


def defined_names(module: types.ModuleType) -> list[str]:
    """What a module without ``__all__`` defines itself, without a leading underscore
    (type variables and loggers are helpers, not API)."""
    tree, _ = source_of(module.__name__)
    names = []
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.append(node.name)
        elif (name := assigned_name(node)) is not None:
            value = getattr(module, name, None)
            if not isinstance(value, (TypeVar, logging.Logger)):
                names.append(name)
    return [n for n in names if not n.startswith("_")]


def public_names(package: str) -> Iterator[tuple[str, str]]:
    """``(module, name)`` for every public name of ``package``: its ``__all__``, else what
    it defines; a package with neither (``atsock.protocol``): its modules' names."""
    module = importlib.import_module(package)
    exported = getattr(module, "__all__", None)
    names = list(exported) if exported is not None else defined_names(module)
    if not names and hasattr(module, "__path__"):
        for info in pkgutil.iter_modules(module.__path__):
            if not info.name.startswith("_"):
                yield from public_names(f"{package}.{info.name}")
        return
    for name in names:
        if not name.startswith("_"):
            yield package, name


def runtime_doc(obj: Any) -> str | None:
    """An object's own docstring (not one a base class, ``dataclass`` or ``property``
    made up for it)."""
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    if isinstance(obj, property):
        obj = obj.fget
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__")
        if dataclasses.is_dataclass(obj) and doc and doc.startswith(f"{obj.__name__}("):
            return None  # dataclass's generated signature, not a docstring
        return doc
    return getattr(inspect.unwrap(obj), "__doc__", None)


def is_member_api(value: Any, owner: type) -> bool:
    """Methods and properties (not enum members, data, ``__slots__`` fields or nested
    classes); in the compiled core, its getters too (a Rust class's fields)."""
    if isinstance(value, (staticmethod, classmethod, property)):
        return True
    if inspect.isclass(value):
        return False
    if isinstance(value, types.MemberDescriptorType) and owner.__module__ != CORE:
        return False
    return inspect.isroutine(value) or inspect.isdatadescriptor(value)


def class_members(cls: type) -> Iterator[tuple[str, Any, type]]:
    """``(name, value, owner)`` for each public method and property of ``cls``, its own
    and those it inherits from atsock classes, as attribute lookup finds them."""
    seen: set[str] = set()
    for owner in cls.__mro__:
        if not owner.__module__.startswith("atsock"):
            continue
        for name, value in vars(owner).items():
            if name.startswith("_") or name in seen or not is_member_api(value, owner):
                continue
            seen.add(name)
            yield name, value, owner


def undocumented() -> list[str]:
    stubs = stub_docstrings()

    def documented(obj: Any, qualname: str, module: str) -> bool:
        doc = runtime_doc(obj)
        if module == CORE and not (doc and doc.strip()):
            doc = stubs.get(qualname)
        return bool(doc and doc.strip())

    missing: list[str] = []
    seen: set[int] = set()
    for package, name in public_names_of_all():
        obj = getattr(importlib.import_module(package), name)
        if not (inspect.isclass(obj) or inspect.isroutine(obj)):
            if not data_documented(package, name):
                missing.append(f"{package}.{name}")
            continue
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        home = obj.__module__
        where = f"{home}.{obj.__qualname__}"
        if not documented(obj, obj.__qualname__, home):
            missing.append(where)
        if inspect.isclass(obj):
            for member, value, owner in class_members(obj):
                if not documented(value, f"{owner.__qualname__}.{member}", owner.__module__):
                    missing.append(f"{owner.__module__}.{owner.__qualname__}.{member}")
    return sorted(set(missing))


def public_names_of_all() -> Iterator[tuple[str, str]]:
    for package in PACKAGES:
        yield from public_names(package)


def test_the_public_names_are_found() -> None:
    found = {f"{module}.{name}" for module, name in public_names_of_all()}
    for name in (
        "atsock.Module",
        "atsock.ResponseFramer",
        "atsock.aio.AsyncModule",
        "atsock.protocol.machine.ModuleProtocol",
        "atsock.protocol.gate.Hold",
        "atsock.testing.TcpEcho",
    ):
        assert name in found
    assert not any(".testing._" in name or "._Peer" in name for name in found)


def test_every_public_name_has_a_docstring() -> None:
    missing = undocumented()
    assert not missing, f"{len(missing)} public names without a docstring:\n" + "\n".join(missing)


# ---- (b) the site builds, strictly ----------------------------------------------------------


def is_private(part: str) -> bool:
    """An internal name (``__version__`` is a public one, ``_core`` the core's home)."""
    special = part.startswith("__") and part.endswith("__")
    return part.startswith("_") and not special and part != "_core"


def test_the_site_builds_with_no_warnings(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    for page in ("index.html", "commands/index.html", "reference/core/index.html"):
        assert (tmp_path / page).is_file(), page
    core = (tmp_path / "reference" / "core" / "index.html").read_text(encoding="utf-8")
    assert "feed_batch" in core and "Feeds module output" in core  # the core is documented
    assert "_frame_count" not in core  # a private name in __all__ stays out
    for page in (tmp_path / "reference").rglob("*.html"):
        ids = re.findall(r'id="(atsock[\w.]*)"', page.read_text(encoding="utf-8"))
        private = [i for i in ids if any(is_private(part) for part in i.split("."))]
        assert not private, (page, private)


# ---- (c) every relative link of the pages leads somewhere -----------------------------------

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`+[^`\n]*`+")
LINK = re.compile(r"\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]\n]+\]:\s*(\S+)", re.MULTILINE)
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.MULTILINE)
ATTR_ID = re.compile(r"\{[^}]*#([\w-]+)[^}]*\}\s*$")
AUTODOC = re.compile(r"^:::\s+([\w.]+)", re.MULTILINE)


def without_code_blocks(text: str) -> str:
    """A page without its fenced and indented code blocks."""
    kept: list[str] = []
    in_code = False
    for line in FENCE.sub("", text).splitlines():
        indented = line.startswith(("    ", "\t"))
        in_code = indented and (in_code or not kept or not kept[-1].strip())
        if in_code:
            continue
        kept.append(line)
    return "\n".join(kept)


def links_in(text: str) -> Iterator[str]:
    """The relative link targets of Markdown ``text``, outside code."""
    text = CODE_SPAN.sub("", without_code_blocks(text))
    for target in [*LINK.findall(text), *REFERENCE_DEF.findall(text)]:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("/"):
            continue  # another site, or an absolute path (the strict build refuses those)
        yield target


def heading_text(raw: str) -> str:
    """A heading as the toc extension sees it: Markdown stripped to its text."""
    raw = ATTR_ID.sub("", raw)
    raw = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", raw)
    return re.sub(r"[`*_]", "", raw)


def anchors(page: Path) -> tuple[set[str], tuple[str, ...]]:
    """The heading ids of a page (as Python-Markdown's toc makes them unique) and the
    objects it documents with mkdocstrings (``::: atsock.Module``: its anchors are
    ``atsock.Module`` and ``atsock.Module.<member>``)."""
    text = without_code_blocks(page.read_text(encoding="utf-8"))
    ids: set[str] = set()
    for match in HEADING.finditer(text):
        explicit = ATTR_ID.search(match[2])
        slug = explicit[1] if explicit else slugify(heading_text(match[2]), "-")
        unique, n = slug, 0
        while unique in ids:
            n += 1
            unique = f"{slug}_{n}"
        ids.add(unique)
    return ids, tuple(AUTODOC.findall(text))


def broken_link(page: Path, target: str) -> str | None:
    """Why ``target`` (a link on ``page``) leads nowhere, or None if it is fine."""
    path, _, anchor = target.partition("#")
    goal = (page.parent / path).resolve() if path else page
    if goal.is_dir():
        goal = goal / "index.md"
    if not goal.is_file():
        return "no such page"
    if DOCS.resolve() not in goal.resolve().parents:
        return "outside docs/"
    if anchor and goal.suffix == ".md":
        ids, objects = anchors(goal)
        if anchor not in ids and not any(
            anchor == name or anchor.startswith(name + ".") for name in objects
        ):
            return f"no anchor #{anchor} in {goal.relative_to(DOCS.resolve())}"
    return None


PAGES = sorted(DOCS.rglob("*.md"))


def test_the_link_check_sees_links_anchors_and_code() -> None:
    sample = DOCS / "commands.md"
    links = list(links_in(sample.read_text(encoding="utf-8")))
    assert "#atsocketsend" in links
    ids, _ = anchors(sample)
    assert {"atsocket", "atsocket_1", "atsocketsend", "other-commands"} <= ids
    assert broken_link(sample, "#no-such-heading") is not None
    assert broken_link(sample, "no-such-page.md") is not None
    assert broken_link(sample, "reference/index.md") is None
    in_code = "see `[x](a.md)`\n\n    [y](b.md)\n\n```\n[z](c.md)\n```\n[w](https://x.org)\n"
    assert list(links_in(in_code)) == []


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_every_relative_link_leads_to_a_page_and_anchor(page: Path) -> None:
    broken = [
        f"{target}: {why}"
        for target in links_in(page.read_text(encoding="utf-8"))
        if (why := broken_link(page, target)) is not None
    ]
    assert not broken, broken
