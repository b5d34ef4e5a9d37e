"""The OpenAPI document shipped inside ``sora2_api``, loaded once and lazily.

The hand-written layer reads operations, paths, enums and defaults from here (or from the
generated models) rather than from literals, so a spec change plus ``nox -s generate`` is all it
takes for the client, CLI, emulator and contract checker to follow.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = [
    "Operation",
    "operation",
    "operations",
    "resolve",
    "server_url",
    "spec_document",
]

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@functools.cache
def spec_document() -> dict[str, Any]:
    """The spec as a dict; the same object on every call, so callers must not mutate it."""
    text = resources.files("sora2_api").joinpath("openapi.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def server_url() -> str:
    url: str = spec_document()["servers"][0]["url"]
    return url.rstrip("/")


def resolve(node: Any) -> Any:
    """Follow local ``$ref``s until a non-reference node is reached."""
    document = spec_document()
    seen: set[str] = set()
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref: str = node["$ref"]
        if not ref.startswith("#/") or ref in seen:
            break
        seen.add(ref)
        node = document
        for token in ref[2:].split("/"):
            node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


@dataclass(frozen=True)
class Operation:
    """One operation of the spec: how to call it and how to recognise a URL as it."""

    operation_id: str
    method: str  # upper case
    path: str  # template, e.g. /v1/requests/{request_id}/status
    pattern: re.Pattern[str]
    parameters: tuple[str, ...]

    def url_path(self, **params: str) -> str:
        from urllib.parse import quote

        return self.path.format(**{k: quote(str(v), safe="") for k, v in params.items()})

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters if ``method path`` is this operation, else None."""
        if method.upper() != self.method:
            return None
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None

    @property
    def raw(self) -> dict[str, Any]:
        """The operation object of the spec."""
        item: dict[str, Any] = spec_document()["paths"][self.path]
        return dict(item[self.method.lower()])


def _compile(template: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    names: list[str] = []
    parts: list[str] = []
    for literal, name in re.findall(r"([^{]*)(?:\{([^}]+)\})?", template):
        parts.append(re.escape(literal))
        if name:
            names.append(name)
            parts.append(f"(?P<{name}>[^/]+)")
    return re.compile("".join(parts)), tuple(names)


@functools.cache
def operations() -> dict[str, Operation]:
    """Every operation of the spec, by operationId."""
    found: dict[str, Operation] = {}
    for path, item in spec_document()["paths"].items():
        for method in _METHODS:
            op = item.get(method)
            if isinstance(op, dict) and "operationId" in op:
                pattern, names = _compile(path)
                found[op["operationId"]] = Operation(
                    op["operationId"], method.upper(), path, pattern, names
                )
    return found


def operation(operation_id: str) -> Operation:
    return operations()[operation_id]
