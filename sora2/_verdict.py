"""Whether a 200 body is what the spec says: one verdict per answer, compiled once per operation.

The fast verdict is jsonschema-rs's; jsonschema explains a body that fails it. Both check the
one format the generated models parse (``date-time``) the way they parse it.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = ["schema_error"]

_SPEC_URI: Final = "urn:sora2:client-spec"


def _is_date_time(value: object) -> bool:
    """What the generated models can parse: ``datetime.fromisoformat``."""
    if not isinstance(value, str):
        return True
    try:
        datetime.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


@functools.cache
def _validator(operation_id: str) -> Validator | None:
    """The compiled check of ``operation_id``'s 200 body, its local ``$ref``s inlined.

    Resolving ``$ref``s through a registry on every call was most of the client's overhead
    per call, so the spec layer's compiler inlines them once here; the format check is the
    client's own: a ``date-time`` is what the generated models can parse.
    """
    from jsonschema import FormatChecker

    from ._spec import operation, resolve, schema_compiler

    answer = resolve(operation(operation_id).raw.get("responses", {}).get("200", {}))
    schema = answer.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return None
    checker = FormatChecker(formats=())
    checker.checks("date-time")(_is_date_time)
    # Not a JSON pointer: the schema's own $ref must be inlined, not seen as recursion.
    compiled = schema_compiler().validator(f"{_SPEC_URI}:{operation_id}:200", schema)
    validator: Validator = compiled.evolve(format_checker=checker)
    return validator


@functools.cache
def _quick(operation_id: str) -> Callable[[Any], bool] | None:
    """The fast verdict on a 200 body of ``operation_id``: jsonschema-rs, compiled once.

    jsonschema walks a schema through generic validator objects on every call (about 20 µs for a
    status body, as much as the rest of the client's work per call); jsonschema-rs gives the
    same verdict in well under a microsecond. jsonschema still explains an invalid body.
    """
    import jsonschema_rs

    validator = _validator(operation_id)
    if validator is None or not isinstance(validator.schema, dict):
        return None
    schema: dict[str, Any] = validator.schema
    # The same formats as the jsonschema validator: only date-time is asserted.
    formats: dict[str, Callable[[Any], bool]] = dict.fromkeys(_format_names(schema), _any)
    formats["date-time"] = _is_date_time
    fast = jsonschema_rs.validator_for(schema, validate_formats=True, formats=formats)
    check: Callable[[Any], bool] = fast.is_valid
    return check


def _any(value: object) -> bool:
    return True


def _format_names(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        found = {schema["format"]} if isinstance(schema.get("format"), str) else set()
        return found.union(*(_format_names(v) for v in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_format_names(v) for v in schema))
    return set()


def schema_error(operation_id: str, data: Any) -> str | None:
    """Why ``data`` is not the spec's 200 body of ``operation_id``, or None if it is."""
    quick = _quick(operation_id)
    if quick is not None and quick(data):
        return None
    validator = _validator(operation_id)
    if validator is None:
        return None
    error = next(iter(validator.iter_errors(data)), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "body"
    return f"{where}: {error.message}"
