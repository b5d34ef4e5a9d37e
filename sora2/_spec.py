"""The spec layer: the OpenAPI document shipped inside ``sora2_api``, loaded once and lazily, its
``$ref``s resolved, its operations and models, and its schemas compiled into validators.

The rest of sora2 reads operations, models, paths, enums and defaults from here rather than from
literals, so a spec change plus ``nox -s generate`` is all the client, CLI, emulator and contract
checker need. ``$ref``s are resolved by ``referencing`` (the registry jsonschema uses), never by a
hand-written walk. A validator is jsonschema's Draft 2020-12 (which explains a failure) behind
jsonschema-rs's verdict (which says "valid" in about a microsecond); both read ``pattern`` as
ECMA-262 and assert the formats the spec relies on (``uri``, ``date-time``) exactly.
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
    "JSON_MEDIA",
    "MODELS_PREFIX",
    "Model",
    "Operation",
    "SchemaCompiler",
    "default_model",
    "ecma_pattern",
    "escape_pointer",
    "is_uri",
    "known_models",
    "lookup",
    "model",
    "models",
    "operation",
    "operations",
    "pattern_keyword",
    "resolve",
    "resolve_with_location",
    "schema_compiler",
    "server_url",
    "spec_document",
    "strict_formats",
]

MODELS_PREFIX = "/v1/models/"
"""A model's path is this prefix and its id: ``/v1/models/openai/sora-2/text-to-video``."""
DOCUMENT_URI = "urn:sora2:openapi"
"""The URI the spec is registered under, for ``$ref``s that must stay references."""
JSON_MEDIA = "application/json"

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


def lookup(ref: str) -> Any:
    """The node of the packaged spec at local reference ``ref`` (``#/components/...``)."""
    return schema_compiler().lookup(ref)


def resolve_with_location(node: Any, pointer: str = "") -> tuple[Any, str]:
    """Follow local ``$ref``s of the packaged spec to a non-reference node; it and its
    ``#/...`` location (``pointer`` when ``node`` is not a reference)."""
    return schema_compiler().resolve_with_location(node, pointer)


def resolve(node: Any) -> Any:
    """Follow local ``$ref``s of the packaged spec until a non-reference node is reached."""
    return resolve_with_location(node)[0]


# Operations and models ------------------------------------------------------------------------


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
        found = self.pattern.fullmatch(path) if method.upper() == self.method else None
        return found.groupdict() if found else None

    @property
    def raw(self) -> dict[str, Any]:
        """The operation object of the spec."""
        return dict(spec_document()["paths"][self.path][self.method.lower()])


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
    with a POST that takes a JSON body, so a model added to the spec is one more entry."""
    found: dict[str, Model] = {}
    by_path: dict[str, dict[str, Operation]] = {}
    for op in operations().values():
        by_path.setdefault(op.path, {})[op.method] = op
    for path, ops in by_path.items():
        submit = ops.get("POST")
        if not path.startswith(MODELS_PREFIX) or "{" in path or submit is None:
            continue
        if JSON_MEDIA in (resolve(submit.raw.get("requestBody", {})).get("content") or {}):
            model_id = path[len(MODELS_PREFIX) :]
            found[model_id] = Model(model_id, submit, ops.get("GET"))
    return found


def known_models() -> tuple[str, ...]:
    """The ids of the spec's models, in the spec's order (``sora2.known_models()``)."""
    return tuple(models())


def default_model() -> str:
    """The model used when none is chosen: the spec's ``x-default-model``, else its first."""
    named = spec_document().get("x-default-model")
    return named if isinstance(named, str) and named in models() else next(iter(models()))


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


# Patterns, as ECMA-262 reads them -------------------------------------------------------------
# JSON Schema patterns are ECMA-262 regular expressions, whose \s, \d and \w are not Python's:
# Python's \s also matches U+001C..U+001F and U+0085, its \d and \w any Unicode digit or letter.
# So "pattern: \S" would refuse the prompt "\x1d\x85", which the spec (and schemathesis) calls
# valid. Every validator compiled here spells the shorthand classes out as ECMA-262 defines them.

_SPACE = "\\t\\n\\x0b\\x0c\\r \\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"
_INSIDE = {"s": _SPACE, "d": "0-9", "w": "A-Za-z0-9_"}
"""What each shorthand means inside a character class (its negation has no such form)."""
_OUTSIDE = {
    **{letter: f"[{chars}]" for letter, chars in _INSIDE.items()},
    **{letter.upper(): f"[^{chars}]" for letter, chars in _INSIDE.items()},
}
_TOKEN = re.compile(r"\\.|[\[\]]", re.DOTALL)
"""An escape (a backslash and the character after it), or a bracket opening or closing a class."""


@functools.lru_cache(maxsize=256)
def ecma_pattern(pattern: str) -> str:
    """``pattern`` with its ``\\s \\S \\d \\D \\w \\W`` spelled out as ECMA-262 means them."""
    in_class = False

    def spell(found: re.Match[str]) -> str:
        nonlocal in_class
        token = found.group()
        if len(token) == 1:  # "[" opens a class (or is literal in one), "]" closes it
            in_class = token == "["
            return token
        return (_INSIDE if in_class else _OUTSIDE).get(token[1], token)

    return _TOKEN.sub(spell, pattern)


def pattern_keyword(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    """jsonschema's ``pattern`` keyword, with the pattern read as ECMA-262."""
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not re.search(ecma_pattern(pattern), instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# Formats and validators -----------------------------------------------------------------------

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
    """Compiles schemas of one OpenAPI document into validators, each location at most once.

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
        # jsonschema is imported on the first compile only, so `sora2 --help` stays cheap.
        self._format_checker = format_checker
        self._cache: dict[str, Validator] = {}
        self._verdicts: dict[str, Callable[[Any], bool] | None] = {}

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
        """jsonschema-rs's verdict on the same inlined schema and formats (``checker``'s when a
        caller checks formats its own way, as the client does), compiled once per location.

        It says "valid" in about a microsecond, where jsonschema's ``iter_errors`` was our largest
        cost in a submit; jsonschema explains the bodies it rejects. None (jsonschema alone) for
        a schema it cannot take, such as a recursive ``$ref`` left in place.
        """
        try:
            return self._verdicts[location]
        except KeyError:
            pass
        import jsonschema_rs

        self._verdicts[location] = None
        inlined = self.validator(location, schema).schema
        if not isinstance(inlined, dict) or _has_ref(inlined):
            return None
        if checker is None:
            checker = self._format_checker  # the one the validator was compiled with
        formats: dict[str, Callable[[Any], bool]] = {}
        for name in _format_names(inlined):
            if checker is None or name not in checker.checkers:
                formats[name] = _any  # not asserted by jsonschema either
            elif name != "uri" or checker.checkers[name][0] is not is_uri:
                formats[name] = functools.partial(_conforms, checker, name)
            # else jsonschema-rs's own RFC 3986 check: the same verdict without a Python call
        try:
            compiled = jsonschema_rs.Draft202012Validator(
                inlined, validate_formats=True, formats=formats
            )
        except (ValueError, TypeError):  # a schema jsonschema-rs refuses: jsonschema alone
            return None
        check: Callable[[Any], bool] = compiled.is_valid
        self._verdicts[location] = check
        return check


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
    return isinstance(schema, list) and any(_has_ref(v) for v in schema)


@functools.cache
def _validator_class() -> Any:
    """Draft 2020-12 with its ``pattern`` read as ECMA-262 (:func:`pattern_keyword`)."""
    from jsonschema import Draft202012Validator, validators

    return validators.extend(Draft202012Validator, {"pattern": pattern_keyword})  # type: ignore[no-untyped-call]


@functools.cache
def schema_compiler() -> SchemaCompiler:
    """The compiler of the packaged spec, shared by the client, the CLI and the emulator."""
    return SchemaCompiler(spec_document())
