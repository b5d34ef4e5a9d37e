"""The submit body's validation, compiled from the spec: no hand-written field rules.

The validator is Draft 2020-12 over the request body schema of the ``submit`` operation, with
``$ref``s resolved through a ``referencing`` registry holding the whole spec, so a size or a
duration added to the spec is accepted after regeneration with no edit here.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from .._spec import operation, resolve, spec_document
from ._constants import MAX_MESSAGE_CHARS

if TYPE_CHECKING:
    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

__all__ = ["body_defaults", "body_schema", "submit_validator", "validation_details"]

_SPEC_URI = "urn:sora2:openapi"
_MEDIA_TYPE = "application/json"


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _body_schema_pointer() -> str:
    """The JSON pointer, in the spec, of the submit body's schema (through a requestBody $ref)."""
    submit = operation("submit")
    tokens = ["paths", submit.path, submit.method.lower(), "requestBody"]
    node = submit.raw["requestBody"]
    ref = node.get("$ref") if isinstance(node, dict) else None
    if isinstance(ref, str) and ref.startswith("#/"):
        tokens = [t.replace("~1", "/").replace("~0", "~") for t in ref[2:].split("/")]
    tokens += ["content", _MEDIA_TYPE, "schema"]
    return "/" + "/".join(_escape(token) for token in tokens)


def body_schema() -> dict[str, Any]:
    """The submit body's schema with its top-level ``$ref`` followed."""
    node: Any = spec_document()
    for token in _body_schema_pointer()[1:].split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    resolved: dict[str, Any] = resolve(node)
    return resolved


@functools.cache
def submit_validator() -> Validator:
    """A Draft 2020-12 validator of the submit body, built once."""
    from jsonschema import Draft202012Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    registry: Registry[Any] = Registry().with_resource(
        _SPEC_URI, DRAFT202012.create_resource(spec_document())
    )
    schema = {"$ref": f"{_SPEC_URI}#{_body_schema_pointer()}"}
    validator: Validator = Draft202012Validator(schema, registry=registry)
    return validator


@functools.cache
def body_defaults() -> dict[str, Any]:
    """The ``default`` of every property of the body schema that has one."""
    defaults: dict[str, Any] = {}
    for name, prop in body_schema().get("properties", {}).items():
        resolved = resolve(prop)
        if isinstance(resolved, dict) and "default" in resolved:
            defaults[name] = resolved["default"]
    return defaults


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


def validation_details(body: Any) -> list[dict[str, Any]]:
    """The spec's ``ErrorDetail`` items for every way ``body`` breaks the schema ([] if valid)."""
    details: list[dict[str, Any]] = []
    for error in submit_validator().iter_errors(body):
        for item in _details_of(error):
            if item not in details:
                details.append(item)
    details.sort(key=lambda item: ([str(part) for part in item["loc"]], item["type"]))
    return details
