"""A model's submit input, read from its schema in the spec at run time: the schema and its
compiled validator, its fields, its hosted-file inputs, and the check of a caller's values.

Nothing here names a field, a size or a duration: every property of the schema is a field, with
its type, choices, bounds, lengths, pattern, title and description, so a property the spec adds
is a keyword and an option after regeneration. A hosted-file input (one referring to a
``Hosted<Kind>Url`` schema) takes a hosted HTTPS URL: the API takes no upload. What is sent is
what the caller gave, checked, and nothing else: a property left out (``None``, ``NOT_GIVEN``)
is not sent, and the service applies its default. ``sora2._refusals`` words a refusal.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._exceptions import InvalidInputError
from ._spec import (
    JSON_MEDIA,
    default_model,
    escape_pointer,
    lookup,
    models,
    resolve,
    resolve_with_location,
    schema_compiler,
)
from ._spec import model as spec_model
from ._types import NotGiven

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = [
    "HOSTED_SCHEMA",
    "NO_DEFAULT",
    "PROMPT_INPUT",
    "InputField",
    "duration_property",
    "hosted_inputs",
    "input_fields",
    "input_schema",
    "input_schema_pointer",
    "input_validator",
    "input_verdict",
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


def known_model(model: str | None) -> str:
    """The spec's id of ``model`` (None: the spec's default model).

    Raises:
        InvalidInputError: the spec has no such model; the message lists the known ones.
    """
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


# The schema and its validator -----------------------------------------------------------------


@functools.cache
def input_schema_pointer(model_id: str | None = None) -> str:
    """The JSON pointer (``#/...``) of a model's submit body schema (None: the default model),
    through a requestBody $ref."""
    submit = spec_model(model_id).submit
    where = f"#/paths/{escape_pointer(submit.path)}/{submit.method.lower()}/requestBody"
    body, where = resolve_with_location(submit.raw["requestBody"], where)
    schema = body["content"][JSON_MEDIA]["schema"]
    where = f"{where}/content/{escape_pointer(JSON_MEDIA)}/schema"
    return resolve_with_location(schema, where)[1]


@functools.cache
def input_schema(model_id: str | None = None) -> dict[str, Any]:
    """A model's submit body schema (the default model's is ``Input``), its ``$ref`` followed."""
    found: dict[str, Any] = lookup(input_schema_pointer(model_id))
    return found


def input_validator(model_id: str | None = None) -> Validator:
    """The compiled validator of a model's submit body: what both client and emulator enforce."""
    pointer = input_schema_pointer(model_id)
    return schema_compiler().validator(pointer, lookup(pointer))


def input_verdict(model_id: str | None = None) -> Callable[[Any], bool] | None:
    """The fast verdict on a model's submit body (``SchemaCompiler.verdict``); None: ask
    jsonschema."""
    pointer = input_schema_pointer(model_id)
    return schema_compiler().verdict(pointer, lookup(pointer))


# Fields ---------------------------------------------------------------------------------------


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


def _flatten(schema: Any) -> dict[str, Any]:
    """One property's schema with ``$ref``s followed and ``allOf`` members merged; an
    ``anyOf``/``oneOf`` of one type and ``null`` is read as that type."""
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
    if choices and all(type(c) is type(choices[0]) for c in choices):
        return type(choices[0])
    return object


def _number(value: Any) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


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


@functools.cache
def input_fields(model: str | None = None) -> dict[str, InputField]:
    """Every property of a model's submit body schema (None: the default model's), in the
    spec's order."""
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
    input when given, else the spec's default for it (the model's own, else the default
    model's, which is what the emulator renders); None when nothing says.

    A model whose schema describes no duration (the Pro models) is read with the default
    model's property, since its open schema sends that input as given.
    """
    own = _titled(_DURATION_TITLE, known_model(model))
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


# Checking a caller's values -------------------------------------------------------------------


def _type_ok(value: Any, kind: type) -> bool:
    """Strict: ``"8"`` is not ``8``, ``True`` is not ``1`` and ``8.0`` is not ``8``, because
    the service would refuse them only after the request was sent (and paid for)."""
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return kind is object or isinstance(value, kind)


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


def validate_input(values: Mapping[str, Any], model: str | None = None) -> dict[str, Any]:
    """The checked submit body: exactly the properties given (``None`` and ``NOT_GIVEN`` mean
    "not given"), validated against every constraint the spec states.

    A property the spec does not describe is sent as given (the input schema is open: the
    service may know it already) and logged. Raises ``InvalidInputError`` naming the field and
    what is allowed. ``model`` chooses whose input schema applies (None: the default model's);
    an unknown one is refused, naming the known ones.
    """
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
                from ._refusals import missing

                raise missing(spec)
            continue
        value = body[name]
        type_ok = _type_ok(value, spec.python_type)
        if not type_ok or (
            spec.choices is not None
            and not any(_type_ok(value, type(c)) and value == c for c in spec.choices)
        ):
            from ._refusals import wrong_value

            raise wrong_value(spec, value, type_ok=type_ok)
    for name in body.keys() - fields.keys():
        logger.info("sending input %r, which the spec does not describe", name)
    _check_sendable(body)
    verdict = input_verdict(model)
    if verdict is not None and verdict(body):
        return body
    error = next(iter(input_validator(model).iter_errors(body)), None)
    if error is None:
        return body
    from ._refusals import schema_refusal

    raise schema_refusal(error, body, fields)


# Hosted files ---------------------------------------------------------------------------------

_SCHEMAS = "#/components/schemas/"
HOSTED_SCHEMA = re.compile(r"Hosted(?P<kind>[A-Z][a-z]+)Url")
"""A file the service fetches is a ``Hosted<Kind>Url`` schema: its kind, and its size limit in
``x-max-bytes``; an input that refers to one is a hosted-file input of that kind."""


def _kind_of(node: Any) -> str | None:
    """The hosted-file kind a schema refers to, through ``$ref`` and ``allOf``, if any."""
    if isinstance(node, list):
        return next((k for k in map(_kind_of, node) if k is not None), None)
    if not isinstance(node, dict):
        return None
    ref = node.get("$ref")
    if isinstance(ref, str):
        found = HOSTED_SCHEMA.fullmatch(ref.removeprefix(_SCHEMAS))
        if ref.startswith(_SCHEMAS) and found:
            return found.group("kind").lower()
        try:
            return _kind_of(lookup(ref))
        except LookupError:
            return None
    return next(
        (k for key in ("allOf", "anyOf", "oneOf") if (k := _kind_of(node.get(key))) is not None),
        None,
    )


@functools.cache
def hosted_inputs(model: str | None = None) -> dict[str, str]:
    """``{input name: hosted-file kind}`` of a model's input schema (None: the default model)."""
    properties = input_schema(model).get("properties") or {}
    return {name: kind for name, raw in properties.items() if (kind := _kind_of(raw)) is not None}


def refuse_local_files(values: Mapping[str, Any], model: str) -> None:
    """Refuse a hosted-file input given as a local path or a non-https URL, naming it (asking
    the file's host is ``sora2._hosted``'s).

    Raises:
        InvalidInputError: naming the input; nothing was sent.
    """
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
