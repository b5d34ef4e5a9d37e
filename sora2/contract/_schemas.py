"""The contract checker's use of the spec layer's compiled validators.

Compiling (``$ref`` inlining, formats) lives in ``sora2._spec``; this module adds what checking
traffic needs: a fast path for plain string schemas, and violations with JSON pointers into the
exchange.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .._spec import DOCUMENT_URI, escape_pointer, is_uri, schema_compiler, spec_document
from .._spec import SchemaCompiler as _SpecCompiler
from ._violations import Side, Violation, one_line

if TYPE_CHECKING:
    from jsonschema import FormatChecker
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

__all__ = ["DOCUMENT_URI", "SchemaCompiler", "escape_pointer", "schema_violations"]


class SchemaCompiler(_SpecCompiler):
    """The spec layer's compiler, plus checks that report violations."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        shared = schema_compiler() if document is spec_document() else None
        if shared is not None:
            # The packaged spec: the same registry and compiled validators as the client.
            self.__dict__.update(shared.__dict__)
        else:
            super().__init__(document)
        self._quick: dict[str, Callable[[Any], bool] | None] = {}

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
            quick = self._quick[location] = _plain_string_check(schema) or self._compiled_check(
                location, schema
            )
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

    def _compiled_check(self, location: str, schema: Any) -> Callable[[Any], bool] | None:
        """jsonschema-rs's verdict on the same inlined schema, with the same formats asserted.

        A whole body through jsonschema's ``iter_errors`` was two thirds of a checked exchange
        (``descend``/``evolve`` per keyword); jsonschema-rs says "valid" in about a
        microsecond. Only a body it rejects goes through jsonschema, which explains it. None
        (jsonschema alone) for a schema it cannot take: a recursive ``$ref`` left in place.
        """
        import jsonschema_rs

        validator = self.validator(location, schema)
        inlined = validator.schema
        if not isinstance(inlined, dict) or _has_ref(inlined):
            return None
        checker = validator.format_checker
        formats: dict[str, Callable[[Any], bool]] = {}
        for name in _format_names(inlined):
            if name in _NATIVE and checker is not None and _is_spec_check(checker, name):
                continue  # jsonschema-rs's own check, the same verdict without a Python call
            if checker is not None and name in checker.checkers:
                formats[name] = functools.partial(_conforms, checker, name)
            else:
                formats[name] = _any  # not asserted by jsonschema either
        try:
            compiled = jsonschema_rs.Draft202012Validator(
                inlined, validate_formats=True, formats=formats
            )
        except (ValueError, TypeError):  # a schema jsonschema-rs refuses: jsonschema alone
            return None
        check: Callable[[Any], bool] = compiled.is_valid
        return check


_NATIVE = frozenset({"uri"})
"""Formats whose jsonschema-rs check gives the spec layer's verdict (RFC 3986 ``URI``; pinned
by tests/contract/test_schemas.py), so no Python callback runs for them."""


def _is_spec_check(checker: FormatChecker, name: str) -> bool:
    """Whether ``checker`` checks ``name`` with the spec layer's own function."""
    found = checker.checkers.get(name)
    return found is not None and found[0] is {"uri": is_uri}.get(name)


def _conforms(checker: FormatChecker, name: str, value: Any) -> bool:
    return checker.conforms(value, name)


def _any(value: Any) -> bool:
    return True


def _format_names(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        found = {schema["format"]} if isinstance(schema.get("format"), str) else set()
        return found.union(*(_format_names(v) for v in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_format_names(v) for v in schema))
    return set()


def _has_ref(schema: Any) -> bool:
    if isinstance(schema, dict):
        return "$ref" in schema or any(_has_ref(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_has_ref(v) for v in schema)
    return False


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
