"""The submit input's fields and their checks, read from the spec's input schema at run time.

Nothing here names a field, a size or a duration: every property of the submit body's schema
(through the spec layer, ``sora2._spec``) is a field, with its type, choices, bounds, lengths,
pattern, title and description. So regenerating after a spec change is enough for the client
and the CLI to follow, and a property the spec adds tomorrow is a keyword and an option.

File inputs (``sora2._spec.hosted_inputs``) are hosted URLs: the API takes no upload, so a local
path or a plain ``http://`` URL is refused with a message saying so (before the schema's own
check, whose words would be vaguer); asking the file's host is ``sora2._hosted``'s.

What is sent is what the caller gave, checked, and nothing else: a property the caller leaves
out is not sent (the service applies its default), and ``None`` or ``NOT_GIVEN`` means "left
out".
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._exceptions import InvalidInputError
from ._types import NotGiven

__all__ = [
    "NO_DEFAULT",
    "PROMPT_INPUT",
    "InputField",
    "duration_property",
    "input_fields",
    "job_seconds",
    "known_model",
    "refuse_local_files",
    "size_property",
    "spec_default",
    "validate_input",
]

logger = logging.getLogger("sora2")  # sora2._transports keeps the token out of its records

PROMPT_INPUT = "prompt"
"""The input property the clients and the CLI take positionally (``generate("a cat")``); the
generated ``InputOptions`` holds every other one (codegen/config/typed-dicts.toml)."""


class _Missing:
    def __repr__(self) -> str:
        return "<no default>"


NO_DEFAULT: Any = _Missing()
"""``InputField.default`` of a property the spec gives no default."""
_SIZE_TITLE = "Resolution"
_DURATION_TITLE = "Duration"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

_PYTHON_TYPES: dict[str, type] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "array": list,
    "object": dict,
}
_KIND_WORDS: dict[type, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "an object",
}


@dataclass(frozen=True)
class InputField:
    """One property of the submit body, as the spec states it."""

    name: str
    python_type: type
    """``str``, ``int``, ``float``, ``bool``, ``list``, ``dict``; ``object`` when the schema
    does not say one type."""
    required: bool
    choices: tuple[Any, ...] | None
    default: Any
    """The spec's default (applied by the service, never sent), or ``NO_DEFAULT``."""
    title: str | None = None
    description: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    schema: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The property's schema with ``$ref`` and ``allOf`` folded in."""

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT

    def describe_allowed(self) -> str:
        """What the spec allows, in words: ``'a', 'b'`` or ``an integer >= 1 and <= 10``."""
        if self.choices is not None:
            return ", ".join(repr(c) for c in self.choices)
        parts = [_KIND_WORDS.get(self.python_type, "any JSON value")]
        bounds = [
            f"{op} {_plain(value)}"
            for op, value in (
                (">=", self.minimum),
                (">", self.exclusive_minimum),
                ("<=", self.maximum),
                ("<", self.exclusive_maximum),
            )
            if value is not None
        ]
        if bounds:
            parts.append(" and ".join(bounds))
        if self.min_length is not None:
            parts.append(f"of at least {_chars(self.min_length)}")
        if self.max_length is not None:
            parts.append(f"of at most {_chars(self.max_length)}")
        if self.pattern is not None:
            parts.append(f"matching the pattern {self.pattern}")
        return " ".join(parts)


def _plain(value: float) -> str:
    """``2147483647``, ``0.5``: a bound as the spec writes it, never ``2.14748e+09``."""
    return str(int(value)) if float(value).is_integer() else repr(value)


def _chars(count: int) -> str:
    return f"{count} character" + ("" if count == 1 else "s")


def _flatten(schema: Any) -> dict[str, Any]:
    """One property's schema with ``$ref``s followed and ``allOf`` members merged; an
    ``anyOf``/``oneOf`` of one type and ``null`` is read as that type."""
    from ._spec import resolve

    node = resolve(schema)
    if not isinstance(node, dict):
        return {}
    merged: dict[str, Any] = {}
    for member in node.get("allOf", ()):
        merged.update(_flatten(member))
    for key in ("anyOf", "oneOf"):
        branches = [_flatten(b) for b in node.get(key, ())]
        typed = [b for b in branches if b.get("type") != "null"]
        if branches and len(typed) == 1:
            merged.update(typed[0])
    merged.update({k: v for k, v in node.items() if k not in ("allOf", "anyOf", "oneOf")})
    return merged


def _python_type(schema: Mapping[str, Any], choices: tuple[Any, ...] | None) -> type:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
    if isinstance(kind, str) and kind in _PYTHON_TYPES:
        return _PYTHON_TYPES[kind]
    if choices:
        first = type(choices[0])
        if all(type(c) is first for c in choices):
            return first
    return object


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None


def _field(name: str, raw: Any, required: bool) -> InputField:
    schema = _flatten(raw)
    enum = schema.get("enum")
    if enum is None and "const" in schema:
        enum = [schema["const"]]
    choices = tuple(enum) if isinstance(enum, list) else None
    title, description = schema.get("title"), schema.get("description")
    return InputField(
        name=name,
        python_type=_python_type(schema, choices),
        required=required,
        choices=choices,
        default=schema.get("default", NO_DEFAULT),
        title=title if isinstance(title, str) else None,
        description=description if isinstance(description, str) else None,
        minimum=_number(schema.get("minimum")),
        maximum=_number(schema.get("maximum")),
        exclusive_minimum=_number(schema.get("exclusiveMinimum")),
        exclusive_maximum=_number(schema.get("exclusiveMaximum")),
        min_length=schema.get("minLength"),
        max_length=schema.get("maxLength"),
        pattern=schema.get("pattern"),
        schema=schema,
    )


def known_model(model: str | None) -> str:
    """The spec's id of ``model`` (None: the spec's default model).

    Raises:
        InvalidInputError: the spec has no such model; the message lists the known ones.
    """
    from ._spec import default_model, models

    if model is None:
        return default_model()
    known = models()
    if not isinstance(model, str) or model.strip("/") not in known:
        raise InvalidInputError(
            f"unknown model {model!r}; known models: {', '.join(known)}",
            field="model",
            value=model,
            allowed=tuple(known),
        )
    return model.strip("/")


@functools.cache
def input_fields(model: str | None = None) -> dict[str, InputField]:
    """Every property of a model's submit body schema (None: the default model's), in the
    spec's order."""
    from ._spec import input_schema

    schema = _flatten(input_schema(known_model(model)))
    required = set(schema.get("required", ()))
    return {
        name: _field(name, raw, name in required)
        for name, raw in schema.get("properties", {}).items()
    }


def _titled(title: str, model: str | None = None) -> InputField | None:
    return next((field for field in input_fields(model).values() if field.title == title), None)


def size_property() -> str | None:
    """The input property that is the video's size: the one the spec titles ``Resolution``
    (the model page's own name), so a renamed property is still found."""
    found = _titled(_SIZE_TITLE)
    return found.name if found is not None else None


def duration_property() -> str | None:
    """The input property that is the video's length in seconds: the one titled ``Duration``."""
    found = _titled(_DURATION_TITLE)
    return found.name if found is not None else None


def job_seconds(body: Mapping[str, Any], model: str | None = None) -> int | None:
    """How many seconds of video a job of ``model`` with this ``body`` asks for: its duration
    input when given, else the default the spec states for it (the model's own, else the
    default model's, which is what the emulator renders); None when nothing says.

    A model whose schema describes no duration (the Pro models) is read with the default
    model's property, since its open schema sends that input as given.
    """
    chosen = known_model(model)
    own = _titled(_DURATION_TITLE, chosen)
    name = own.name if own is not None else duration_property()
    if name is None:
        return None
    value = body.get(name)
    if value is None:
        value = own.default if own is not None and own.has_default else spec_default(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def spec_default(name: str | None) -> Any:
    """The spec's default of input ``name`` (what the service applies when it is not sent), or
    None when it has none."""
    found = input_fields().get(name) if name is not None else None
    return found.default if found is not None and found.has_default else None


def _type_ok(value: Any, kind: type) -> bool:
    """Strict: ``"8"`` is not ``8``, ``True`` is not ``1`` and ``8.0`` is not ``8``, because
    the service would refuse them only after the request was sent (and paid for)."""
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is object:
        return True
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


def _refusal(name: str, value: Any, spec: InputField | None, reason: str) -> InvalidInputError:
    allowed = spec.describe_allowed() if spec is not None else None
    message = f"{name}={_short(value)} is not allowed: {reason}"
    if spec is not None and spec.choices is not None:
        message += f"; allowed values: {allowed}"
    elif allowed is not None:
        message += f"; allowed: {allowed}"
    return InvalidInputError(
        message, field=name, value=value, allowed=spec.choices if spec is not None else None
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _missing_name(error: Any) -> str | None:
    expected = error.validator_value
    if isinstance(expected, list) and isinstance(error.instance, dict):
        for name in expected:
            if name not in error.instance and re.search(re.escape(repr(name)), error.message):
                return str(name)
    return None


def validate_input(values: Mapping[str, Any], model: str | None = None) -> dict[str, Any]:
    """The checked submit body: exactly the properties given (``None`` and ``NOT_GIVEN`` mean
    "not given"), validated against every constraint the spec states.

    A property the spec does not describe is sent as given (the input schema is open: the
    service may know it already) and logged. Raises ``InvalidInputError`` naming the field and
    what is allowed. ``model`` chooses whose input schema applies (None: the default model's);
    an unknown one is refused, naming the known ones.
    """
    from ._compiler import input_validator, input_verdict

    model = known_model(model)
    fields = input_fields(model)
    body = {
        name: value
        for name, value in values.items()
        if value is not None and not isinstance(value, NotGiven)
    }
    for name, spec in fields.items():
        if name not in body:
            if spec.required:
                raise InvalidInputError(
                    f"{name} is required ({spec.describe_allowed()})",
                    field=name,
                    allowed=spec.choices,
                )
            continue
        value = body[name]
        if not _type_ok(value, spec.python_type):
            raise _refusal(
                name,
                value,
                spec,
                f"it must be {_KIND_WORDS.get(spec.python_type, 'a JSON value')}, "
                f"not {type(value).__name__}",
            )
        if spec.choices is not None and not any(
            _type_ok(value, type(c)) and value == c for c in spec.choices
        ):
            raise _refusal(name, value, spec, "it is not one of the allowed values")
    for name in body.keys() - fields.keys():
        logger.info("sending input %r, which the spec does not describe", name)
    _check_sendable(body)
    verdict = input_verdict(model)
    if verdict is not None and verdict(body):
        return body
    error = next(iter(input_validator(model).iter_errors(body)), None)
    if error is not None:
        where = str(error.path[0]) if error.path else None
        if where is None and error.validator == "required":
            where = _missing_name(error)
        if where is None:
            raise InvalidInputError(f"input: {error.message}", field="body")
        found = fields.get(where)
        if error.validator in ("pattern", "format") and found is not None and found.description:
            reason = found.description.strip().splitlines()[0].rstrip(".")
        else:
            reason = error.message
        raise _refusal(where, body.get(where), found, reason)
    return body


# File inputs ---------------------------------------------------------------------------------


def refuse_local_files(values: Mapping[str, Any], model: str) -> None:
    """Refuse a hosted-file input given as a local path or a non-https URL, naming it.

    Raises:
        InvalidInputError: naming the input; nothing was sent.
    """
    from ._spec import hosted_inputs

    for name, kind in hosted_inputs(model).items():
        value = values.get(name)
        if not isinstance(value, str):
            continue
        if not _SCHEME.match(value):
            raise InvalidInputError(
                f"{name}={value!r} looks like a local path: the API takes hosted files only, "
                f"as a publicly reachable HTTPS URL of the {kind} (https://...); upload it "
                "(object storage, a CDN) and pass its URL",
                field=name,
                value=value,
            )
        if not value.lower().startswith("https://"):
            raise InvalidInputError(
                f"{name}={value!r} is not allowed: the service fetches files from HTTPS URLs "
                "only (https://...)",
                field=name,
                value=value,
            )
