"""The submit input's fields, enums and defaults, read from the generated ``Input`` model.

Nothing here names a size or a duration: the choices are the ``Literal`` arguments of the
generated attrs model and the defaults are its attribute defaults, so regenerating after a spec
change is enough for the client and the CLI to follow.
"""

from __future__ import annotations

import functools
import json
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ._exceptions import InvalidInputError

__all__ = ["InputField", "input_fields", "validate_input"]


class _Missing:
    def __repr__(self) -> str:
        return "<no default>"


NO_DEFAULT: Any = _Missing()


@dataclass(frozen=True)
class InputField:
    """One property of the submit body."""

    name: str
    python_type: type
    required: bool
    choices: tuple[Any, ...] | None
    default: Any

    def describe_allowed(self) -> str:
        if self.choices is not None:
            return ", ".join(repr(c) for c in self.choices)
        return f"any {self.python_type.__name__}"


def _literal_choices(hint: Any) -> tuple[Any, ...] | None:
    if typing.get_origin(hint) is Literal:
        return tuple(typing.get_args(hint))
    for arg in typing.get_args(hint):
        found = _literal_choices(arg)
        if found is not None:
            return found
    return None


def _base_type(hint: Any, choices: tuple[Any, ...] | None) -> type:
    if choices:
        return type(choices[0])
    for arg in (hint, *typing.get_args(hint)):
        if isinstance(arg, type) and arg.__module__ == "builtins":
            return arg
    return object


@functools.cache
def input_fields() -> dict[str, InputField]:
    """The generated ``Input`` model's fields, in declaration order."""
    import attrs
    from sora2_api.models import Input

    hints = typing.get_type_hints(Input)
    fields: dict[str, InputField] = {}
    for attribute in attrs.fields(Input):
        if attribute.name == "additional_properties":
            continue
        hint = hints[attribute.name]
        choices = _literal_choices(hint)
        required = attribute.default is attrs.NOTHING
        fields[attribute.name] = InputField(
            name=attribute.name,
            python_type=_base_type(hint, choices),
            required=required,
            choices=choices,
            default=NO_DEFAULT if required else attribute.default,
        )
    return fields


@functools.cache
def _schema_validator() -> Any:
    from jsonschema import Draft202012Validator

    from ._spec import resolve, spec_document

    schema = resolve(spec_document()["components"]["schemas"]["Input"])
    return Draft202012Validator(schema)


def _is_instance(value: Any, kind: type) -> bool:
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _check_sendable(body: Mapping[str, Any]) -> None:
    """Each value must become UTF-8 JSON: a lone surrogate, a NaN or a Python object would
    otherwise fail inside httpx, after validation, as an error that names no field."""
    for name, value in body.items():
        try:
            json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError, RecursionError) as exc:  # UnicodeEncodeError included
            reason = exc.reason if isinstance(exc, UnicodeEncodeError) else str(exc)
            raise InvalidInputError(
                f"{name} cannot be sent as JSON: {reason}", field=name, value=value
            ) from None


def validate_input(values: Mapping[str, Any], *, fill_defaults: bool = True) -> dict[str, Any]:
    """A checked submit body, defaults filled in; raises InvalidInputError naming the field.

    Types are checked strictly (``"8"`` is not ``8`` and ``True`` is not ``1``), because the
    service would reject them only after the request was sent.
    """
    fields = input_fields()
    prompt = values.get("prompt")
    if (
        isinstance(prompt, str) and prompt and not prompt.strip()
    ):  # superseded by the spec's pattern
        raise InvalidInputError("prompt must not be blank", field="prompt", value=prompt)
    body: dict[str, Any] = {}
    for name, spec in fields.items():
        if name not in values or values[name] is None:
            if spec.required:
                raise InvalidInputError(
                    f"{name} is required ({spec.describe_allowed()})",
                    field=name,
                    allowed=spec.choices,
                )
            if fill_defaults:
                body[name] = spec.default
            continue
        value = values[name]
        if spec.choices is not None:
            if not any(_is_instance(value, type(c)) and value == c for c in spec.choices):
                raise InvalidInputError(
                    f"{name}={value!r} is not allowed; allowed values: {spec.describe_allowed()}",
                    field=name,
                    value=value,
                    allowed=spec.choices,
                )
        elif spec.python_type is not object and not _is_instance(value, spec.python_type):
            raise InvalidInputError(
                f"{name} must be a {spec.python_type.__name__}, not {type(value).__name__}",
                field=name,
                value=value,
            )
        body[name] = value
    for name, value in values.items():
        if name not in fields and value is not None:
            body[name] = value
    _check_sendable(body)
    error = next(iter(_schema_validator().iter_errors(body)), None)
    if error is not None:
        field = str(error.path[0]) if error.path else "body"
        raise InvalidInputError(
            f"{field}: {error.message}",
            field=field,
            value=body.get(field),
            allowed=fields[field].choices if field in fields else None,
        )
    return body
