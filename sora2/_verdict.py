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
    from jsonschema import FormatChecker
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
def _client_formats() -> FormatChecker:
    """The client's own format check: a ``date-time`` is what the generated models can parse."""
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    checker.checks("date-time")(_is_date_time)
    return checker


def _body_schema(operation_id: str) -> Any:
    from ._spec import operation, resolve

    answer = resolve(operation(operation_id).raw.get("responses", {}).get("200", {}))
    return answer.get("content", {}).get("application/json", {}).get("schema")


def _location(operation_id: str) -> str:
    # Not a JSON pointer: the schema's own $ref must be inlined, not seen as recursion.
    return f"{_SPEC_URI}:{operation_id}:200"


@functools.cache
def _validator(operation_id: str) -> Validator | None:
    """The compiled check of ``operation_id``'s 200 body, its local ``$ref``s inlined.

    Resolving ``$ref``s through a registry on every call was most of the client's overhead
    per call, so the spec layer's compiler inlines them once here; the format check is the
    client's own (:func:`_client_formats`).
    """
    from ._spec import schema_compiler

    schema = _body_schema(operation_id)
    if schema is None:
        return None
    compiled = schema_compiler().validator(_location(operation_id), schema)
    validator: Validator = compiled.evolve(format_checker=_client_formats())
    return validator


@functools.cache
def _quick(operation_id: str) -> Callable[[Any], bool] | None:
    """The fast verdict on a 200 body of ``operation_id`` (the spec layer's jsonschema-rs
    verdict, with the client's formats), compiled once; jsonschema still explains an invalid
    body.

    jsonschema walks a schema through generic validator objects on every call (about 20 µs for a
    status body, as much as the rest of the client's work per call); jsonschema-rs gives the
    same verdict in well under a microsecond.
    """
    from ._spec import schema_compiler

    schema = _body_schema(operation_id)
    if schema is None:
        return None
    return schema_compiler().verdict(_location(operation_id), schema, _client_formats())


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
