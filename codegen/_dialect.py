"""RunComfy's schema dialect, normalised into OpenAPI 3.1 / JSON Schema 2020-12.

RunComfy's published schemas are close to JSON Schema but not quite. Each rewrite below is
reported as a ``Note``, so the sync report says what was read differently from what was written:

- ``"type": "float"`` (and ``double``, ``int``, ``bool``, ``str``) is a JSON Schema type name;
- ``"nullable": true`` (OpenAPI 3.0) becomes ``"null"`` in ``type``;
- ``"default": null`` on a type that is not nullable means "no default";
- an empty ``description`` says nothing, so the spec's own description is kept;
- a ``default`` on a *required* property is an example for the web UI, not a value the service
  fills in (a client must send the property anyway): it becomes ``examples``, the spec's
  judgement call for the documented default prompt;
- any keyword JSON Schema and OpenAPI do not define is kept as ``x-runcomfy-<keyword>``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["KNOWN_KEYWORDS", "TYPE_NAMES", "Note", "normalise"]

TYPE_NAMES = {
    "float": "number",
    "double": "number",
    "int": "integer",
    "bool": "boolean",
    "str": "string",
}
"""RunComfy's type names and the JSON Schema type each one means."""
JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
KNOWN_KEYWORDS = frozenset(
    {
        # core and applicators
        "$schema", "$id", "$ref", "$anchor", "$dynamicRef", "$dynamicAnchor", "$defs",
        "$comment", "allOf", "anyOf", "oneOf", "not", "if", "then", "else",
        "dependentSchemas", "prefixItems", "items", "contains", "properties",
        "patternProperties", "additionalProperties", "propertyNames", "unevaluatedItems",
        "unevaluatedProperties",
        # validation
        "type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
        "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
        "uniqueItems", "maxContains", "minContains", "maxProperties", "minProperties",
        "required", "dependentRequired",
        # annotations, formats, content
        "title", "description", "default", "deprecated", "readOnly", "writeOnly", "examples",
        "format", "contentEncoding", "contentMediaType", "contentSchema",
        # OpenAPI 3.1's additions to the schema object
        "discriminator", "xml", "externalDocs", "example",
    }
)  # fmt: skip
EXTENSION_PREFIX = "x-runcomfy-"
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_ONE = (
    "items",
    "additionalProperties",
    "not",
    "contains",
    "propertyNames",
    "if",
    "then",
    "else",
)


@dataclass(frozen=True)
class Note:
    """One rewrite of the dialect: where (``input.seconds``) and what was done."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _types(schema: dict[str, Any]) -> list[str] | None:
    value = schema.get("type")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


class _Normaliser:
    def __init__(self) -> None:
        self.notes: list[Note] = []

    def note(self, where: str, message: str) -> None:
        self.notes.append(Note(where, message))

    def schema(self, node: Any, where: str) -> Any:
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in KNOWN_KEYWORDS or key.startswith("x-") or key == "nullable":
                out[key] = value
            else:
                out[EXTENSION_PREFIX + key] = value
                self.note(where, f"unknown keyword {key!r} kept as {EXTENSION_PREFIX}{key}")
        self._type(out, where)
        if out.get("default", 0) is None and "null" not in (_types(out) or ["null"]):
            del out["default"]
            self.note(where, f"default null on type {_short(out['type'])}: no default")
        description = out.get("description")
        if isinstance(description, str) and not description.strip():
            del out["description"]
            self.note(where, "empty description dropped: the spec's own is kept")
        for key in _SCHEMA_MAPS:
            if isinstance(out.get(key), dict):
                out[key] = {
                    name: self.schema(sub, f"{where}.{name}" if key == "properties" else where)
                    for name, sub in out[key].items()
                }
        for key in _SCHEMA_LISTS:
            if isinstance(out.get(key), list):
                out[key] = [
                    self.schema(sub, f"{where}.{key}[{i}]") for i, sub in enumerate(out[key])
                ]
        for key in _SCHEMA_ONE:
            if isinstance(out.get(key), dict):
                out[key] = self.schema(out[key], f"{where}.{key}")
        self._required_defaults(out, where)
        return out

    def _type(self, out: dict[str, Any], where: str) -> None:
        types = _types(out)
        if types is not None:
            mapped = [TYPE_NAMES.get(t, t) for t in types]
            for old, new in zip(types, mapped, strict=True):
                if old != new:
                    self.note(where, f"type {old!r} -> {new!r}")
            unknown = [t for t in mapped if t not in JSON_TYPES]
            if unknown:
                self.note(where, f"type {_short(unknown)} is no JSON Schema type: kept as it is")
            if mapped != types:
                out["type"] = mapped[0] if isinstance(out["type"], str) else mapped
        if "nullable" in out:
            nullable = out.pop("nullable")
            types = _types(out)
            if nullable is True and types is not None and "null" not in types:
                out["type"] = [*types, "null"]
                self.note(where, "nullable: true -> 'null' added to type")
            else:
                self.note(where, f"nullable: {_short(nullable)} dropped (OpenAPI 3.0 keyword)")

    def _required_defaults(self, out: dict[str, Any], where: str) -> None:
        properties = out.get("properties")
        required = out.get("required")
        if not isinstance(properties, dict) or not isinstance(required, list):
            return
        for name in required:
            prop = properties.get(name)
            if not isinstance(prop, dict) or "default" not in prop:
                continue
            value = prop.pop("default")
            examples = prop.get("examples")
            if not isinstance(examples, list):
                examples = prop["examples"] = []
            if value not in examples:
                examples.insert(0, value)
            self.note(
                f"{where}.{name}",
                f"default {_short(value)} of a required property -> examples (a client must "
                "send it, so the service never fills it in)",
            )


def normalise(schema: dict[str, Any], where: str) -> tuple[dict[str, Any], list[Note]]:
    """A JSON Schema equal in meaning to RunComfy's ``schema``, and the rewrites made."""
    normaliser = _Normaliser()
    result = normaliser.schema(copy.deepcopy(schema), where)
    return result, normaliser.notes
