"""The spec layer: the OpenAPI document shipped inside ``sora2_api``, loaded once and lazily,
and the one place that resolves its ``$ref``s, walks its JSON pointers and compiles its schemas.

The hand-written layer reads operations, paths, enums and defaults from here (or from the
generated models) rather than from literals, so a spec change plus ``nox -s generate`` is all it
takes for the client, CLI, emulator and contract checker to follow. ``$ref``s are resolved by
``referencing`` (the registry jsonschema itself uses), never by a hand-written walk, and every
validator of a spec location is compiled here: the inputs, the client's answer checks, the
emulator and the contract checker all ask this module.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import FormatChecker
    from jsonschema.protocols import Validator
    from referencing import Registry

__all__ = [
    "DOCUMENT_URI",
    "MODELS_PREFIX",
    "Model",
    "Operation",
    "SchemaCompiler",
    "default_model",
    "escape_pointer",
    "input_schema",
    "input_schema_pointer",
    "input_validator",
    "input_verdict",
    "is_uri",
    "known_models",
    "lookup",
    "model",
    "model_of_operation",
    "models",
    "operation",
    "operations",
    "resolve",
    "resolve_with_location",
    "schema_compiler",
    "server_url",
    "spec_document",
    "strict_formats",
    "unescape_pointer",
]

MODELS_PREFIX = "/v1/models/"
"""A model's path is this prefix and its id: ``/v1/models/openai/sora-2/text-to-video``."""
DOCUMENT_URI = "urn:sora2:openapi"
"""The URI the spec is registered under, for ``$ref``s that must stay references."""
_JSON = "application/json"

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@functools.cache
def spec_document() -> dict[str, Any]:
    """The spec as a dict; the same object on every call, so callers must not mutate it."""
    text = resources.files("sora2_api").joinpath("openapi.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def server_url() -> str:
    url: str = spec_document()["servers"][0]["url"]
    return url.rstrip("/")


def escape_pointer(token: str) -> str:
    """One RFC 6901 reference token: ``/v1/x`` -> ``~1v1~1x``."""
    return token.replace("~", "~0").replace("/", "~1")


def unescape_pointer(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def lookup(ref: str) -> Any:
    """The node of the packaged spec at local reference ``ref`` (``#/components/...``)."""
    return schema_compiler().lookup(ref)


def resolve_with_location(node: Any, pointer: str = "") -> tuple[Any, str]:
    """Follow local ``$ref``s of the packaged spec to a non-reference node; it and its
    ``#/...`` location (``pointer`` when ``node`` is not a reference)."""
    return schema_compiler().resolve_with_location(node, pointer)


def resolve(node: Any) -> Any:
    """Follow local ``$ref``s of the packaged spec until a non-reference node is reached."""
    return schema_compiler().resolve_with_location(node, "")[0]


@dataclass(frozen=True)
class Operation:
    """One operation of the spec: how to call it and how to recognise a URL as it."""

    operation_id: str
    method: str  # upper case
    path: str  # template, e.g. /v1/requests/{request_id}/status
    pattern: re.Pattern[str]
    parameters: tuple[str, ...]

    def url_path(self, **params: str) -> str:
        from urllib.parse import quote

        return self.path.format(**{k: quote(str(v), safe="") for k, v in params.items()})

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters if ``method path`` is this operation, else None."""
        if method.upper() != self.method:
            return None
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None

    @property
    def raw(self) -> dict[str, Any]:
        """The operation object of the spec."""
        item: dict[str, Any] = spec_document()["paths"][self.path]
        return dict(item[self.method.lower()])


def _compile(template: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    names: list[str] = []
    parts: list[str] = []
    for literal, name in re.findall(r"([^{]*)(?:\{([^}]+)\})?", template):
        parts.append(re.escape(literal))
        if name:
            names.append(name)
            parts.append(f"(?P<{name}>[^/]+)")
    return re.compile("".join(parts)), tuple(names)


@functools.cache
def operations() -> dict[str, Operation]:
    """Every operation of the spec, by operationId."""
    found: dict[str, Operation] = {}
    for path, item in spec_document()["paths"].items():
        for method in _METHODS:
            op = item.get(method)
            if isinstance(op, dict) and "operationId" in op:
                pattern, names = _compile(path)
                found[op["operationId"]] = Operation(
                    op["operationId"], method.upper(), path, pattern, names
                )
    return found


def operation(operation_id: str) -> Operation:
    return operations()[operation_id]


# Models -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    """One model of the spec: its id (its path after ``/v1/models/``), the POST that submits a
    job to it, and the unofficial GET of its model document, when the spec has one."""

    model_id: str
    submit: Operation
    document: Operation | None


@functools.cache
def models() -> dict[str, Model]:
    """Every model of the spec, by id, in the spec's order: each path under ``/v1/models/``
    with a POST that takes a JSON body. Nothing names a model here, so a model added to the
    spec is one more entry after regeneration."""
    found: dict[str, Model] = {}
    by_path: dict[str, dict[str, Operation]] = {}
    for op in operations().values():
        by_path.setdefault(op.path, {})[op.method] = op
    for path, ops in by_path.items():
        submit = ops.get("POST")
        if not path.startswith(MODELS_PREFIX) or "{" in path or submit is None:
            continue
        body = resolve(submit.raw.get("requestBody", {}))
        if _JSON not in (body.get("content") or {}):
            continue
        model_id = path[len(MODELS_PREFIX) :]
        found[model_id] = Model(model_id, submit, ops.get("GET"))
    return found


def known_models() -> tuple[str, ...]:
    """The ids of the spec's models, in the spec's order (``sora2.known_models()``)."""
    return tuple(models())


def default_model() -> str:
    """The model used when none is chosen: the spec's ``x-default-model``, else its first."""
    named = spec_document().get("x-default-model")
    known = models()
    if isinstance(named, str) and named in known:
        return named
    return next(iter(known))


def model(model_id: str | None = None) -> Model:
    """The spec's model ``model_id`` (None: the default one).

    Raises:
        LookupError: the spec has no such model; the message lists the known ones.
    """
    chosen = default_model() if model_id is None else model_id.strip("/")
    found = models().get(chosen)
    if found is None:
        raise LookupError(f"unknown model {model_id!r}; known models: {', '.join(models())}")
    return found


def model_of_operation(operation_id: str) -> str | None:
    """The id of the model whose submit or document operation ``operation_id`` is, else None."""
    for found in models().values():
        if operation_id == found.submit.operation_id or (
            found.document is not None and operation_id == found.document.operation_id
        ):
            return found.model_id
    return None


# Compiled schemas ---------------------------------------------------------------------------


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


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})\Z", re.ASCII
)


def is_uri(value: object) -> bool:
    """RFC 3986 ``URI`` (a scheme, then the rest): the spec layer's ``uri`` format."""
    if not isinstance(value, str):
        return True
    from rfc3986_validator import validate_rfc3986

    return bool(validate_rfc3986(value, rule="URI"))


def strict_formats() -> FormatChecker:
    """The formats the spec relies on, asserted exactly: ``uri`` and ``date-time``."""
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    checker.checks("uri")(is_uri)
    checker.checks("date-time")(_is_date_time)
    return checker


class SchemaCompiler:
    """Compiles schemas of one OpenAPI document into Draft 2020-12 validators, each location
    at most once.

    Local ``$ref``s are inlined at compile time, because resolving them through the registry on
    every validation doubles the cost of checking a body; a recursive reference (none today)
    stays a ``$ref`` and goes through the ``referencing.Registry`` holding the whole document.
    """

    def __init__(
        self, document: Mapping[str, Any], *, format_checker: FormatChecker | None = None
    ) -> None:
        from referencing import Registry
        from referencing.jsonschema import DRAFT202012

        self._document = document
        self._registry: Registry[Any] = Registry().with_resource(
            DOCUMENT_URI, DRAFT202012.create_resource(dict(document))
        )
        self._resolver = self._registry.resolver(base_uri=DOCUMENT_URI)
        # jsonschema is imported on the first compile only: resolving (the CLI's options) is
        # cheap, and `sora2 --help` must stay so.
        self._format_checker = format_checker
        self._cache: dict[str, Validator] = {}
        self._verdicts: dict[str, Callable[[Any], bool] | None] = {}

    @property
    def document(self) -> Mapping[str, Any]:
        return self._document

    def lookup(self, ref: str) -> Any:
        """The node at local reference ``ref``; raises ``LookupError`` when there is none."""
        return self._resolver.lookup(ref).contents

    def resolve_with_location(self, node: Any, pointer: str = "") -> tuple[Any, str]:
        """Follow local ``$ref``s until a non-reference node; it and its ``#/...`` location."""
        seen: set[str] = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref: str = node["$ref"]
            if not ref.startswith("#/") or ref in seen:
                break
            seen.add(ref)
            node = self.lookup(ref)
            pointer = ref
        return node, pointer

    def resolve(self, node: Any) -> Any:
        return self.resolve_with_location(node, "")[0]

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
            target = self._inline(self.lookup(ref), (*stack, ref))
            if not rest:
                return target
            return {**rest, "allOf": [*rest.get("allOf", []), target]}
        return {key: self._inline(value, stack) for key, value in node.items()}

    def validator(self, location: str, schema: Any) -> Validator:
        """The validator for ``schema``, found at JSON pointer ``location`` of the document."""
        found = self._cache.get(location)
        if found is None:
            if self._format_checker is None:
                self._format_checker = strict_formats()
            inlined = self._inline(schema, (location,) if location.startswith("#") else ())
            found = _validator_class()(
                inlined, registry=self._registry, format_checker=self._format_checker
            )
            self._cache[location] = found
        return found

    def verdict(
        self, location: str, schema: Any, checker: FormatChecker | None = None
    ) -> Callable[[Any], bool] | None:
        """jsonschema-rs's verdict on the same inlined schema, with the same formats asserted
        (those of ``checker`` when a caller checks formats its own way, as the client does).

        A whole body through jsonschema's ``iter_errors`` was two thirds of a checked exchange
        (``descend``/``evolve`` per keyword), and the submit body's check was the largest cost
        of ours in a submit; jsonschema-rs says "valid" in about a microsecond. Only a body it
        rejects goes through jsonschema, which explains it. None (jsonschema alone) for a
        schema it cannot take: a recursive ``$ref`` left in place. Compiled once per location.
        """
        try:
            return self._verdicts[location]
        except KeyError:
            pass
        import jsonschema_rs

        self._verdicts[location] = None
        validator = self.validator(location, schema)
        inlined = validator.schema
        if not isinstance(inlined, dict) or _has_ref(inlined):
            return None
        if checker is None:
            checker = self._format_checker  # the one the validator was compiled with
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
        self._verdicts[location] = check
        return check


_NATIVE = frozenset({"uri"})
"""Formats whose jsonschema-rs check gives this module's verdict (RFC 3986 ``URI``; pinned by
tests/contract/test_schemas.py), so no Python callback runs for them."""


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


@functools.cache
def _validator_class() -> Any:
    """Draft 2020-12, its ``pattern`` read as ECMA-262 (``sora2._ecma``), as JSON Schema says."""
    from jsonschema import Draft202012Validator, validators

    from ._ecma import pattern_keyword

    return validators.extend(Draft202012Validator, {"pattern": pattern_keyword})  # type: ignore[no-untyped-call]


@functools.cache
def schema_compiler() -> SchemaCompiler:
    """The compiler of the packaged spec, shared by the client, the CLI and the emulator."""
    return SchemaCompiler(spec_document())


@functools.cache
def input_schema_pointer(model_id: str | None = None) -> str:
    """The JSON pointer (``#/...``) of a model's submit body schema (None: the default model),
    through a requestBody $ref."""
    submit = model(model_id).submit
    where = f"#/paths/{escape_pointer(submit.path)}/{submit.method.lower()}/requestBody"
    body, where = resolve_with_location(submit.raw["requestBody"], where)
    schema = body["content"][_JSON]["schema"]
    _, target = resolve_with_location(schema, f"{where}/content/{escape_pointer(_JSON)}/schema")
    return target


@functools.cache
def input_schema(model_id: str | None = None) -> dict[str, Any]:
    """A model's submit body schema (the default model's is ``Input``), its top-level ``$ref``
    followed."""
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
