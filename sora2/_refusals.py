"""Why a submit input is refused, in the spec's words: what was wrong and what is allowed.

Loaded only when ``sora2._inputs.validate_input`` refuses a value, so a valid input never pays
for the wording.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._exceptions import InvalidInputError
from ._text import plural

if TYPE_CHECKING:
    from jsonschema import ValidationError

    from ._inputs import InputField

__all__ = ["describe_allowed", "missing", "schema_refusal", "wrong_value"]

_KIND_WORDS: dict[type, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "an object",
}


def describe_allowed(field: InputField) -> str:
    """What the spec allows, in words: ``'a', 'b'`` or ``an integer >= 1 and <= 10``."""
    if field.choices is not None:
        return ", ".join(repr(c) for c in field.choices)
    parts = [_KIND_WORDS.get(field.python_type, "any JSON value")]
    bounds = [
        f"{op} {_plain(value)}"
        for op, value in (
            (">=", field.minimum),
            (">", field.exclusive_minimum),
            ("<=", field.maximum),
            ("<", field.exclusive_maximum),
        )
        if value is not None
    ]
    if bounds:
        parts.append(" and ".join(bounds))
    if field.min_length is not None:
        parts.append(f"of at least {plural(field.min_length, 'character')}")
    if field.max_length is not None:
        parts.append(f"of at most {plural(field.max_length, 'character')}")
    if field.pattern is not None:
        parts.append(f"matching the pattern {field.pattern}")
    return " ".join(parts)


def _plain(value: float) -> str:
    """``2147483647``, ``0.5``: a bound as the spec writes it, never ``2.14748e+09``."""
    return str(int(value)) if float(value).is_integer() else repr(value)


def missing(field: InputField) -> InvalidInputError:
    """A required input left out."""
    return InvalidInputError(
        f"{field.name} is required ({describe_allowed(field)})",
        field=field.name,
        allowed=field.choices,
    )


def wrong_value(field: InputField, value: Any, *, type_ok: bool) -> InvalidInputError:
    """A value of the wrong type (``type_ok`` false), else one that is not among the choices."""
    if type_ok:
        return _refusal(field.name, value, field, "it is not one of the allowed values")
    kind = _KIND_WORDS.get(field.python_type, "a JSON value")
    return _refusal(field.name, value, field, f"it must be {kind}, not {type(value).__name__}")


def schema_refusal(
    error: ValidationError, body: Mapping[str, Any], fields: Mapping[str, InputField]
) -> InvalidInputError:
    """The input's first schema error, naming the field; a ``pattern`` or ``format`` error is
    explained by the first line of the field's description, which says what it must be."""
    where = str(error.path[0]) if error.path else None
    if where is None and error.validator == "required":
        where = _missing_name(error)
    if where is None:
        return InvalidInputError(f"input: {error.message}", field="body")
    found = fields.get(where)
    if error.validator in ("pattern", "format") and found is not None and found.description:
        reason = found.description.strip().splitlines()[0].rstrip(".")
    else:
        reason = error.message
    return _refusal(where, body.get(where), found, reason)


def _refusal(name: str, value: Any, spec: InputField | None, reason: str) -> InvalidInputError:
    text = repr(value)
    message = f"{name}={text if len(text) <= 60 else text[:57] + '...'} is not allowed: {reason}"
    if spec is not None:
        label = "allowed values" if spec.choices is not None else "allowed"
        message += f"; {label}: {describe_allowed(spec)}"
    return InvalidInputError(
        message, field=name, value=value, allowed=spec.choices if spec is not None else None
    )


def _missing_name(error: ValidationError) -> str | None:
    expected = error.validator_value
    if isinstance(expected, list) and isinstance(error.instance, dict):
        for name in expected:
            if name not in error.instance and repr(name) in error.message:
                return str(name)
    return None
