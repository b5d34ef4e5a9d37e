"""The submit body's validation, through the spec layer: no hand-written field rules.

Each model is checked against its own input schema: the model is the submit path's, and the
spec layer finds its schema, so a model added to the spec is validated with no edit here.

The validator is the spec layer's compiled Draft 2020-12 validator of the submit operation's
request body schema (``sora2._inputs.input_validator``), the very one the client checks input
with, so a property, size or duration added to the spec is accepted after regeneration with no
edit here.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from .._inputs import input_fields, input_schema, input_validator
from .._spec import resolve
from ._constants import MAX_MESSAGE_CHARS

if TYPE_CHECKING:
    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

__all__ = ["body_defaults", "body_schema", "submit_validator", "validation_details"]


def body_schema(model: str | None = None) -> dict[str, Any]:
    """A model's submit body schema (None: the default model's), its top-level ``$ref``
    followed."""
    return input_schema(model)


def submit_validator(model: str | None = None) -> Validator:
    """The compiled validator of a model's submit body (the spec layer's, shared with the
    client)."""
    return input_validator(model)


@functools.cache
def body_defaults(model: str | None = None) -> dict[str, Any]:
    """The ``default`` of every property of a model's body schema that has one (what the
    service applies to a property left out), read as the client reads the input's fields."""
    return {name: field.default for name, field in input_fields(model).items() if field.has_default}


def _cut(message: str) -> str:
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return message[: MAX_MESSAGE_CHARS - 3] + "..."


def _allowed(schema: Any) -> list[Any] | None:
    schema = resolve(schema)
    if not isinstance(schema, dict):
        return None
    if "enum" in schema:
        return list(schema["enum"])
    if "const" in schema:
        return [schema["const"]]
    return None


def _details_of(error: ValidationError) -> list[dict[str, Any]]:
    loc: list[str | int] = ["body", *error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        properties = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        required: Any = error.validator_value
        found: list[dict[str, Any]] = []
        for name in required:
            if name in error.instance:
                continue
            item: dict[str, Any] = {
                "loc": [*loc, name],
                "msg": f"{name!r} is a required property",
                "type": "required",
            }
            allowed = _allowed(properties.get(name, {}))
            if allowed is not None:
                item["allowed"] = allowed
            found.append(item)
        return found
    item = {"loc": loc, "msg": _cut(error.message), "type": str(error.validator)}
    allowed = _allowed(error.schema)
    if allowed is not None:
        item["allowed"] = allowed
    return [item]


def validation_details(body: Any, model: str | None = None) -> list[dict[str, Any]]:
    """The spec's ``ErrorDetail`` items for every way ``body`` breaks the schema of ``model``'s
    submit body (None: the default model's); [] if valid."""
    details: list[dict[str, Any]] = []
    for error in submit_validator(model).iter_errors(body):
        for item in _details_of(error):
            if item not in details:
                details.append(item)
    details.sort(key=lambda item: ([str(part) for part in item["loc"]], item["type"]))
    return details
