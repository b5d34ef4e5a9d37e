"""Both sides of the comparison: a document that follows its own ``$ref``s, the shape of a
schema (types, enum, open or closed to unknown properties), and where the walk is (``Ctx``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._change import Side

__all__ = ["Ctx", "Document", "as_schema", "ref_name", "schema_types"]


class Document:
    """One side of the comparison: follows local ``$ref``s in its own document."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.raw = document

    def pointer(self, ref: str) -> Any:
        node: Any = self.raw
        for token in ref[2:].split("/") if ref != "#" else []:
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list):
                node = node[int(token)]
            elif isinstance(node, dict) and token in node:
                node = node[token]
            else:
                return None
        return node

    def resolve(self, node: Any) -> tuple[Any, str | None]:
        """The node behind any chain of local refs, and the last ref followed (or None)."""
        last: str | None = None
        seen: set[str] = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref: str = node["$ref"]
            if not ref.startswith("#") or ref in seen:
                break
            seen.add(ref)
            last = ref
            node = self.pointer(ref)
        return node, last


def ref_name(ref: str | None) -> str | None:
    return ref.rsplit("/", 1)[-1] if ref else None


def as_schema(node: Any) -> dict[str, Any]:
    if node is True or node is None:
        return {}
    if node is False:
        return {"not": {}}
    return node if isinstance(node, dict) else {}


def schema_types(schema: dict[str, Any]) -> set[str] | None:
    raw = schema.get("type")
    if raw is None:
        return None
    found = {raw} if isinstance(raw, str) else set(raw)
    if schema.get("nullable") is True:
        found.add("null")
    return found


def _covers(types: set[str], kind: str) -> bool:
    return kind in types or (kind == "integer" and "number" in types)


def _enum(schema: dict[str, Any]) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    values = schema.get("enum")
    return list(values) if isinstance(values, list) else None


def _open_additional(schema: dict[str, Any]) -> bool | None:
    """True when unknown properties are allowed, False when refused, None when constrained."""
    extra = schema.get("additionalProperties", True)
    if extra is True or extra == {}:
        return True
    if extra is False:
        return False
    return None


def _is_plain(schema: dict[str, Any], kinds: set[str] | None) -> bool:
    """A branch that accepts any value of its type: what makes a sibling enum an open enum."""
    constraining = {"enum", "const", "pattern", "format", "anyOf", "oneOf", "allOf", "not"}
    return kinds is not None and schema_types(schema) == kinds and not constraining & schema.keys()


@dataclass
class Ctx:
    """Where the walk is: the operation, which end of the wire writes, and the schema path."""

    operation: str | None
    operation_id: str | None
    side: Side
    where: str
    path: str
    open_enum: bool = False

    def at(self, suffix: str, *, open_enum: bool = False) -> Ctx:
        return Ctx(
            self.operation,
            self.operation_id,
            self.side,
            self.where,
            self.path + suffix,
            open_enum,
        )

    def under(self, where: str, side: Side | None = None) -> Ctx:
        """A fresh location in the same operation, e.g. a parameter or a response."""
        return Ctx(self.operation, self.operation_id, side or self.side, where, "")
