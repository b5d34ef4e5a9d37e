"""Compiled JSON Schema validators for locations in the OpenAPI document.

Each schema is compiled once into a ``Draft202012Validator``. Local ``$ref``s are inlined at
compile time, because resolving them through the registry on every validation doubles the cost
of checking a body; a recursive reference (none today) stays a ``$ref`` and goes through the
``referencing.Registry`` that holds the whole document.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._violations import Side, Violation, one_line

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

__all__ = ["DOCUMENT_URI", "SchemaCompiler", "escape_pointer", "schema_violations"]

DOCUMENT_URI = "urn:sora2:openapi"

_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})\Z", re.ASCII
)


def _is_date_time(value: object) -> bool:
    """RFC 3339 ``date-time``: the exact grammar, then a calendar check."""
    if not isinstance(value, str):
        return True
    if not _RFC3339.match(value):
        return False
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    from rfc3986_validator import validate_rfc3986

    return bool(validate_rfc3986(value, rule="URI"))


def escape_pointer(token: str) -> str:
    """One RFC 6901 reference token."""
    return token.replace("~", "~0").replace("/", "~1")


class SchemaCompiler:
    """Compiles schemas of one OpenAPI document, each location at most once."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        from jsonschema import Draft202012Validator, FormatChecker
        from referencing import Registry
        from referencing.jsonschema import DRAFT202012

        self._document = document
        self._registry: Registry[Any] = Registry().with_resource(
            DOCUMENT_URI, DRAFT202012.create_resource(dict(document))
        )
        checker = FormatChecker(formats=())
        checker.checks("uri")(_is_uri)
        checker.checks("date-time")(_is_date_time)
        self._format_checker = checker
        self._validator_class = Draft202012Validator
        self._cache: dict[str, Validator] = {}
        self._quick: dict[str, Callable[[Any], bool] | None] = {}

    def _lookup(self, ref: str) -> Any:
        node: Any = self._document
        for token in ref[2:].split("/") if ref != "#" else ():
            node = node[token.replace("~1", "/").replace("~0", "~")]
        return node

    def _inline(self, node: Any, stack: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [self._inline(item, stack) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            rest = {k: self._inline(v, stack) for k, v in node.items() if k != "$ref"}
            if ref in stack:
                return {**rest, "$ref": DOCUMENT_URI + ref}
            target = self._inline(self._lookup(ref), (*stack, ref))
            if not rest:
                return target
            return {**rest, "allOf": [*rest.get("allOf", []), target]}
        return {key: self._inline(value, stack) for key, value in node.items()}

    def validator(self, location: str, schema: Any) -> Validator:
        """The validator for ``schema``, found at JSON pointer ``location`` of the document."""
        found = self._cache.get(location)
        if found is None:
            inlined = self._inline(schema, (location,) if location.startswith("#") else ())
            found = self._validator_class(
                inlined, registry=self._registry, format_checker=self._format_checker
            )
            self._cache[location] = found
        return found

    def check(
        self,
        location: str,
        schema: Any,
        instance: Any,
        *,
        prefix: str,
        side: Side,
        operation_id: str | None,
        status: int | None = None,
    ) -> list[Violation]:
        """Every violation of ``schema`` by ``instance``, reported under pointer ``prefix``."""
        try:
            quick = self._quick[location]
        except KeyError:
            quick = self._quick[location] = _plain_string_check(schema)
        if quick is not None and quick(instance):
            return []
        return schema_violations(
            self.validator(location, schema),
            instance,
            prefix=prefix,
            side=side,
            operation_id=operation_id,
            status=status,
        )


_ANNOTATIONS = frozenset(
    {"title", "description", "default", "example", "examples", "deprecated", "$comment"}
)


def _plain_string_check(schema: Any) -> Callable[[Any], bool] | None:
    """A direct test for ``{"type": "string", "minLength": n}``-like schemas, else None.

    Header values and path parameters are strings checked on every exchange; their schemas are
    usually this plain, and a jsonschema call for them costs more than the rest of the check.
    The test only says "valid"; anything else goes through jsonschema for the exact error.
    """
    if not isinstance(schema, dict) or schema.get("type") != "string":
        return None
    extra = {k for k in schema if k not in _ANNOTATIONS and not k.startswith("x-")}
    if not extra <= {"type", "minLength", "maxLength"}:
        return None
    low = schema.get("minLength", 0)
    high = schema.get("maxLength")
    if not isinstance(low, int) or not (high is None or isinstance(high, int)):
        return None
    if high is None:
        return lambda value: isinstance(value, str) and len(value) >= low
    return lambda value: isinstance(value, str) and low <= len(value) <= high


def _pointer(prefix: str, path: Iterator[Any] | Any) -> str:
    return prefix + "".join("/" + escape_pointer(str(part)) for part in path)


def _explain(error: ValidationError) -> list[ValidationError]:
    """The errors that explain ``error``: for ``anyOf``/``oneOf``, those of the closest branch.

    The closest branch is the one with the fewest errors (then the deepest ones), so a body
    that is almost a ``RequestStatus`` is reported at its bad field, not as a missing
    ``output`` of the other branch.
    """
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return [error]
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        key = sub.relative_schema_path[0] if sub.relative_schema_path else None
        branches.setdefault(key, []).append(sub)
    closest = min(
        branches.values(),
        key=lambda errors: (len(errors), -max(len(e.absolute_path) for e in errors)),
    )
    return [found for sub in closest for found in _explain(sub)]


def schema_violations(
    validator: Validator,
    instance: Any,
    *,
    prefix: str,
    side: Side,
    operation_id: str | None,
    status: int | None = None,
) -> list[Violation]:
    """Every schema error of ``instance`` as a Violation under pointer ``prefix``.

    A ``required`` error points at the missing member (``/body/prompt``), not at its parent.
    """
    violations: list[Violation] = []
    for error in (e for top in validator.iter_errors(instance) for e in _explain(top)):
        pointer = _pointer(prefix, error.absolute_path)
        rule = str(error.validator)
        expected = error.validator_value
        if rule == "required" and isinstance(error.instance, dict) and isinstance(expected, list):
            missing = [
                name
                for name in expected
                if name not in error.instance and repr(name) in error.message
            ]
            if missing:
                pointer += "/" + escape_pointer(str(missing[0]))
        violations.append(
            Violation(
                pointer=pointer,
                rule=rule,
                message=one_line(error.message),
                side=side,
                operation_id=operation_id,
                status=status,
            )
        )
    return violations
