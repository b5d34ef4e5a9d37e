"""Each name has one home: a private module exports what it defines, and no module renames a
state it imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sora2

ROOT = Path(sora2.__file__).parent
PRIVATE = sorted(
    path
    for path in ROOT.rglob("*.py")
    if path.name.startswith("_") and path.stem not in ("__init__", "__main__")
)
"""Every private module (a package's ``__init__`` is its public face, so it re-exports)."""
STATE_NAMES = frozenset({"IN_QUEUE", "IN_PROGRESS", "COMPLETED", "CANCELLED", "FAILED", "GONE"})
"""The state names ``sora2._types`` defines."""


def _top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """The module's statements, those inside top-level ``if``/``try`` blocks included."""
    found: list[ast.stmt] = []
    for node in body:
        found.append(node)
        if isinstance(node, ast.If):
            found += _top_level(node.body) + _top_level(node.orelse)
        elif isinstance(node, ast.Try):
            found += _top_level(node.body) + _top_level(node.orelse)
            for handler in node.handlers:
                found += _top_level(handler.body)
    return found


def _defined(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in _top_level(tree.body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _all(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            assert isinstance(node.value, ast.List | ast.Tuple)
            return [ast.literal_eval(element) for element in node.value.elts]
    return None


def _name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)


@pytest.mark.parametrize("path", PRIVATE, ids=_name)
def test_a_private_module_exports_only_what_it_defines(path: Path) -> None:
    """A private module declares ``__all__`` and lists in it only names it defines; a name it
    imports is imported from its own home by whoever needs it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    exported = _all(tree)
    assert exported is not None, f"{_name(path)} has no __all__"
    assert [] == [name for name in exported if name not in _defined(tree)]


def test_the_check_sees_a_re_export() -> None:
    """The check fails on a module that lists an imported name (so it can fail at all)."""
    tree = ast.parse('from ._types import COMPLETED\n__all__ = ["COMPLETED", "f"]\ndef f(): ...\n')
    assert ["COMPLETED"] == [name for name in _all(tree) or [] if name not in _defined(tree)]


@pytest.mark.parametrize("path", sorted(ROOT.rglob("*.py")), ids=_name)
def test_no_module_renames_a_state(path: Path) -> None:
    """States are named through ``sora2._types`` only: no ``import COMPLETED as _X`` anywhere
    and no module-level ``_QUEUED = IN_QUEUE``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    renamed = [
        f"{alias.name} as {alias.asname}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.name in STATE_NAMES and alias.asname not in (None, alias.name)
    ]
    renamed += [
        ast.unparse(node)
        for node in _top_level(tree.body)
        if isinstance(node, ast.Assign | ast.AnnAssign)
        and isinstance(node.value, ast.Name)
        and node.value.id in STATE_NAMES
    ]
    assert [] == renamed
