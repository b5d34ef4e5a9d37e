"""Merging RunComfy's published schema into the spec, keyword by keyword (see ``codegen._sync``).

The spec is a ruamel.yaml round-trip document: what is merged in keeps the spec's formatting,
quoting and comments, and new keywords go where the hand-written parts would put them.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString

from ._dialect import Note

__all__ = [
    "JUDGEMENT_MARK",
    "MODELS_PREFIX",
    "Merger",
    "SyncError",
    "dump",
    "model_schemas",
    "open_enums",
    "output_schema",
    "submit_schema",
    "yaml_handler",
]

JUDGEMENT_MARK = "Judgement call"
MODELS_PREFIX = "/v1/models/"

# Keywords whose absence upstream means "none": the upstream owns them.
_OWNED = frozenset({"type", "enum", "const", "default", "format", "items", "properties"})
# Keywords that only document; the upstream's win where it has any.
_DOCS = frozenset({"title", "description", "examples", "example", "$comment"})
# Where a new keyword goes among the existing ones, so additions read like the hand-written parts.
_ORDER = (
    "$ref",
    "title",
    "description",
    "type",
    "format",
    "anyOf",
    "oneOf",
    "allOf",
    "enum",
    "const",
    "default",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "items",
    "required",
    "properties",
    "additionalProperties",
    "deprecated",
    "readOnly",
    "writeOnly",
    "examples",
    "example",
)


class SyncError(Exception):
    """The spec has no input schema or output object to merge into, or names another model."""


def yaml_handler() -> YAML:
    handler = YAML()
    handler.preserve_quotes = True
    handler.width = 4096  # never re-wrap a long line the author wrote on one line
    handler.indent(mapping=2, sequence=4, offset=2)
    return handler


def dump(handler: YAML, document: Any) -> str:
    out = io.StringIO()
    handler.dump(document, out)
    return out.getvalue()


def _plain(node: Any) -> Any:
    """``node`` as plain dicts, lists and scalars, for comparison and printing."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, bool):
        return bool(node)
    return node


def _rt(node: Any) -> Any:
    """``node`` as ruamel round-trip nodes (block style), for insertion into the spec."""
    if isinstance(node, dict):
        mapping = CommentedMap()
        for key in sorted(node, key=_rank):
            mapping[key] = _rt(node[key])
        return mapping
    if isinstance(node, list):
        return CommentedSeq([_rt(v) for v in node])
    if isinstance(node, str) and "\n" in node.strip():
        return LiteralScalarString(node)  # a block scalar, as the hand-written ones are
    return node


def _rank(key: str) -> int:
    return _ORDER.index(key) if key in _ORDER else len(_ORDER)


def _short(value: Any, limit: int = 70) -> str:
    text = json.dumps(_plain(value), ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _put(mapping: CommentedMap, key: str, value: Any) -> None:
    """Set ``key``: in place when present, else among its neighbours in ``_ORDER``."""
    if key in mapping:
        current = mapping[key]
        if isinstance(current, CommentedSeq) and isinstance(value, list):
            del current[:]
            current.extend(_rt(v) for v in value)
        else:
            mapping[key] = _rt(value)
        return
    rank = _rank(key)
    position = 0
    for index, existing in enumerate(mapping):
        if _rank(str(existing)) <= rank:
            position = index + 1
    mapping.insert(position, key, _rt(value))


def _is_open_enum(schema: Any) -> bool:
    branches = schema.get("anyOf") if isinstance(schema, dict) else None
    return (
        isinstance(branches, list)
        and len(branches) == 2
        and any(isinstance(b, dict) and "enum" in b for b in branches)
        and any(isinstance(b, dict) and "enum" not in b and "type" in b for b in branches)
    )


def open_enums(schema: Any, where: str, notes: list[Note]) -> Any:
    """A response schema with each closed enum rewritten as an open one (recursively)."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    if isinstance(out.get("properties"), dict):
        out["properties"] = {
            name: open_enums(sub, f"{where}.{name}", notes)
            for name, sub in out["properties"].items()
        }
    if isinstance(out.get("items"), dict):
        out["items"] = open_enums(out["items"], f"{where}.items", notes)
    if "enum" in out and isinstance(out.get("type"), str):
        kind = out.pop("type")
        values = out.pop("enum")
        out["anyOf"] = [{"type": kind, "enum": values}, {"type": kind}]
        notes.append(
            Note(where, "enum written as an open enum (anyOf the known values and a plain string)")
        )
    return out


@dataclass
class Merger:
    """Merges one normalised upstream schema into the spec's, in place."""

    document: CommentedMap
    kept: list[Note] = field(default_factory=list)

    def schema(self, ours: CommentedMap, up: dict[str, Any], where: str, response: bool) -> None:
        if response and _is_open_enum(ours) and "anyOf" not in up:
            del ours["anyOf"]
        for key, value in up.items():
            if key == "properties" and isinstance(value, dict):
                if not isinstance(ours.get(key), dict):
                    _put(ours, key, CommentedMap())
                self.properties(ours[key], value, where, response)
            elif key == "items" and isinstance(value, dict) and isinstance(ours.get(key), dict):
                self.schema(ours[key], value, f"{where}.items", response)
            elif key == "required" and isinstance(value, list):
                self.required(ours, value)
            elif key == "description" and JUDGEMENT_MARK in str(ours.get(key, "")):
                if _plain(ours[key]) != value:
                    said = f"description records a judgement call; upstream's: {_short(value)}"
                    self.kept.append(Note(where, said))
            elif _plain(ours.get(key)) != _plain(value) or key not in ours:
                _put(ours, key, value)
        for key in [str(k) for k in ours]:
            if key in up:
                continue
            if key in _OWNED or key == "required" or key.startswith("x-runcomfy-"):
                del ours[key]
            elif key not in _DOCS and not key.startswith("x-"):
                self.kept.append(Note(where, f"{key}: {_short(ours[key])}"))

    def properties(
        self, ours: CommentedMap, up: dict[str, Any], where: str, response: bool
    ) -> None:
        for name, schema in up.items():
            here = f"{where}.{name}"
            mine = ours.get(name)
            if isinstance(mine, dict) and "$ref" in mine and "$ref" not in schema:
                # A hand-authored reference to a component: merge into what it names.
                mine = _resolve(self.document, mine)
            if isinstance(mine, CommentedMap) and isinstance(schema, dict):
                self.schema(mine, schema, here, response)
            else:
                ours[name] = _rt(schema)
        for name in [str(k) for k in ours if k not in up]:
            del ours[name]

    def required(self, ours: CommentedMap, up: list[Any]) -> None:
        current = [str(v) for v in ours.get("required") or []]
        wanted = [v for v in current if v in up] + [v for v in up if v not in current]
        if not wanted:
            ours.pop("required", None)
        elif wanted != current:
            _put(ours, "required", wanted)


def _resolve(document: CommentedMap, node: Any) -> Any:
    seen: set[str] = set()
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref = str(node["$ref"])
        if not ref.startswith("#/") or ref in seen:
            raise SyncError(f"cannot follow $ref {ref!r}")
        seen.add(ref)
        node = document
        for token in ref[2:].split("/"):
            node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def model_schemas(document: CommentedMap) -> dict[str, CommentedMap]:
    """Every model of the spec and its input schema, by model id: the JSON body of each POST
    under /v1/models/, the model id being the rest of its path. Nothing names a model here."""
    found: dict[str, CommentedMap] = {}
    for path, item in (document.get("paths") or {}).items():
        post = item.get("post") if isinstance(item, dict) else None
        if not str(path).startswith(MODELS_PREFIX) or not isinstance(post, dict):
            continue
        body = _resolve(document, post.get("requestBody"))
        media = ((body or {}).get("content") or {}).get("application/json") or {}
        schema = _resolve(document, media.get("schema"))
        if isinstance(schema, CommentedMap):
            found[str(path)[len(MODELS_PREFIX) :]] = schema
    return found


def submit_schema(document: CommentedMap, model_id: str | None = None) -> tuple[str, CommentedMap]:
    """A model's path and its input schema. ``model_id`` None means the spec's only model, or
    its ``x-default-model`` when it has several."""
    found = model_schemas(document)
    if not found:
        raise SyncError(f"expected a POST {MODELS_PREFIX}... with a JSON body, found none")
    if model_id is None:
        named = document.get("x-default-model")
        if len(found) == 1:
            model_id = next(iter(found))
        elif isinstance(named, str) and named in found:
            model_id = named
        else:
            raise SyncError(
                f"the source names no model and the spec has {len(found)}: {', '.join(found)}"
            )
    chosen = model_id.strip("/")
    if chosen not in found:
        raise SyncError(
            f"the spec has no model {chosen} (no POST {MODELS_PREFIX}{chosen}); "
            f"its models: {', '.join(found)}"
        )
    return MODELS_PREFIX + chosen, found[chosen]


def output_schema(document: CommentedMap) -> CommentedMap:
    """The output object: the schema of the ``output`` property of the result."""
    targets: dict[int, CommentedMap] = {}
    schemas = (document.get("components") or {}).get("schemas") or {}
    for schema in schemas.values():
        output = (
            (schema.get("properties") or {}).get("output") if isinstance(schema, dict) else None
        )
        if output is not None:
            target = _resolve(document, output)
            if isinstance(target, CommentedMap):
                targets[id(target)] = target
    if len(targets) != 1:
        raise SyncError(f"expected one schema for the result's output, found {len(targets)}")
    return next(iter(targets.values()))
