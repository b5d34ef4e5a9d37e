"""The contract checker's use of the spec layer's compiled validators.

Compiling (``$ref`` inlining, formats) lives in ``sora2._spec``; this module adds what
checking traffic needs: a fast path for plain string schemas, and violations with JSON pointers
into the exchange.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .._spec import SchemaCompiler as _SpecCompiler
from .._spec import escape_pointer, schema_compiler, spec_document
from ._violations import Side, Violation, one_line

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

__all__ = ["SchemaCompiler"]


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
            quick = self._quick[location] = _plain_string_check(schema) or self.verdict(
                location, schema
            )
        if quick is not None and quick(instance):
            return []
        validator = self.validator(location, schema)
        violations: list[Violation] = []
        for error in (e for top in validator.iter_errors(instance) for e in _explain(top)):
            pointer = _pointer(prefix, error.absolute_path)
            rule = str(error.validator)
            expected = error.validator_value
            if (
                rule == "required"
                and isinstance(error.instance, dict)
                and isinstance(expected, list)
            ):
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
