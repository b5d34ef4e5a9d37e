"""The package reads in one direction: CLI -> core, emulator, contract checker -> spec layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sora2

ROOT = Path(sora2.__file__).parent

SPEC_LAYER = frozenset(
    {
        "sora2",
        "sora2._spec",
        "sora2._types",
        "sora2._inputs",
        "sora2._refusals",
        "sora2._text",
        "sora2._exceptions",
        "sora2._extras",
    }
)
"""The spec layer and the vocabulary every part shares (states, inputs, outputs, errors,
the words of messages); the package itself too, since Python imports it before any of its
modules and it imports nothing else at run time (its other names are imported on first use)."""

EMULATOR_ENTRY = "sora2._transports"
"""The one core module that starts the in-process emulator (``Client(emulator=True)``)."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path) -> set[str]:
    """The sora2 modules ``path`` imports at run time (anywhere but ``if TYPE_CHECKING:``)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("sora2"))
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            if module.startswith("sora2"):
                found.add(module)
                found.update(f"{module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _layer(module: str) -> str:
    if module.startswith("sora2._cli") or module == "sora2.__main__":
        return "cli"
    if module.startswith("sora2.emulator"):
        return "emulator"
    if module.startswith("sora2.contract"):
        return "contract"
    if module in SPEC_LAYER:
        return "spec"
    return "core"


ALLOWED = {
    "cli": {"cli", "core", "emulator", "contract", "spec"},
    "core": {"core", "spec"},
    "emulator": {"emulator", "spec"},
    "contract": {"contract", "spec"},
    "spec": {"spec"},
}
"""Which layers each layer may import."""

_MODULES = sorted(ROOT.rglob("*.py"))
_KNOWN = {_module_name(path) for path in _MODULES}


def _edges() -> list[tuple[str, str]]:
    edges = []
    for path in _MODULES:
        source = _module_name(path)
        for target in sorted(_imports(path)):
            if target in _KNOWN:
                edges.append((source, target))
    return edges


def test_the_import_graph_is_read() -> None:
    """The walk sees the imports it judges: the CLI imports the client, the client the spec."""
    edges = set(_edges())
    assert ("sora2._client", "sora2._base_client") in edges
    assert ("sora2._cli._jobs", "sora2._errors") in edges
    assert ("sora2.emulator._app", "sora2._spec") in edges


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_only_below_it(layer: str) -> None:
    """A layer imports only itself and the layers below it (the core never the CLI or the
    contract checker; the emulator and the checker only the spec layer)."""
    wrong = [
        f"{source} -> {target}"
        for source, target in _edges()
        if _layer(source) == layer
        and _layer(target) not in ALLOWED[layer]
        and not (source == EMULATOR_ENTRY and _layer(target) == "emulator")
    ]
    assert [] == wrong
