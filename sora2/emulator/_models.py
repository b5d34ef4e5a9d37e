"""The model document of ``GET /v1/models/{model_id}``, written from the spec in RunComfy's dialect.

RunComfy's own tools read a model's input schema from this route, but the public API reference
does not list it: the spec describes it as operation ``model``, marked ``x-unofficial: true``,
so that the emulator may serve it and still conform to its spec, and ``codegen sync --live`` can
be tested offline. The document is the spec's input schema and output object, rewritten the way
the model's API page publishes them (section "5. Schema" of the docs): no extension keywords, no
``additionalProperties``, ``number`` spelled ``float``, a required property's example given as
its ``default``, and response enums closed.
"""

from __future__ import annotations

import functools
from typing import Any

from .._spec import model, models, resolve, spec_document

__all__ = ["model_document", "model_id", "model_of_operation"]

# The keywords a published schema carries; anything else the spec adds is its own business.
_PUBLISHED = (
    "title",
    "description",
    "type",
    "format",
    "enum",
    "default",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "required",
    "items",
    "properties",
)
_TYPE_NAMES = {"number": "float"}


def model_id(chosen: str | None = None) -> str:
    """A model of the spec (None: the default one): its submit path after ``/v1/models/``."""
    return model(chosen).model_id


def model_of_operation(operation_id: str) -> str | None:
    """The id of the model whose submit or document operation ``operation_id`` is, else None."""
    for found in models().values():
        if operation_id == found.submit.operation_id or (
            found.document is not None and operation_id == found.document.operation_id
        ):
            return found.model_id
    return None


def _published(schema: Any, *, top: bool = False) -> Any:
    schema = resolve(schema)
    if not isinstance(schema, dict):
        return schema
    branches = schema.get("anyOf")
    if isinstance(branches, list):
        # An open enum is published as the closed enum it extends.
        closed = [resolve(b) for b in branches if isinstance(resolve(b), dict)]
        closed = [b for b in closed if "enum" in b]
        if len(closed) == 1:
            schema = {**{k: v for k, v in schema.items() if k != "anyOf"}, **closed[0]}
    out: dict[str, Any] = {}
    for key in _PUBLISHED:
        if key not in schema or (top and key == "description"):
            continue
        value = schema[key]
        if key == "type":
            value = _TYPE_NAMES.get(value, value) if isinstance(value, str) else value
        elif key == "items":
            value = _published(value)
        elif key == "properties":
            value = {name: _published(sub) for name, sub in value.items()}
        out[key] = value
    for name in out.get("required", []):
        prop = out.get("properties", {}).get(name)
        examples = resolve(schema["properties"][name]).get("examples") if prop else None
        if isinstance(prop, dict) and "default" not in prop and examples:
            prop["default"] = examples[0]
    return out


@functools.cache
def _document(chosen: str | None) -> dict[str, Any]:
    submit = model(chosen).submit.raw
    body = resolve(submit["requestBody"])
    input_schema = body["content"]["application/json"]["schema"]
    output: Any = None
    for schema in spec_document()["components"]["schemas"].values():
        found = (schema.get("properties") or {}).get("output")
        if found is not None:
            output = found
            break
    document: dict[str, Any] = {
        "model_id": model_id(chosen),
        "input_schema": _published(input_schema, top=True),
    }
    if output is not None:
        document["output_schema"] = {"output": _published(output, top=True)}
    for key, value in _example(chosen).items():
        # What the example adds (the model's price, unofficial): served as the spec gives it.
        document.setdefault(key, value)
    return document


def _example(chosen: str | None) -> dict[str, Any]:
    """The first example of the model's document operation's 200 answer, if it has one."""
    found = model(chosen).document
    if found is None:
        return {}
    answer = resolve(found.raw.get("responses", {}).get("200", {}))
    content = (answer.get("content") or {}).get("application/json") or {}
    for example in (content.get("examples") or {}).values():
        value = resolve(example).get("value")
        if isinstance(value, dict):
            return value
    return {}


def model_document(chosen: str | None = None) -> dict[str, Any]:
    """``{"model_id", "input_schema", "output_schema"}`` of a model of the spec (None: the
    default one), with the price its spec example gives (``base_price_usd``, ``price_unit``);
    a fresh copy."""
    import copy

    return copy.deepcopy(_document(chosen))
