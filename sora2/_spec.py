"""The spec layer: the OpenAPI document shipped inside ``sora2_api``, loaded once and lazily,
and the one place that resolves its ``$ref``s and walks its JSON pointers.

The hand-written layer reads operations, models, hosted-file kinds, paths, enums and defaults
from here (or from the generated models) rather than from literals, so a spec change plus
``nox -s generate`` is all it takes for the client, CLI, emulator and contract checker to follow.
``$ref``s are resolved by ``referencing`` (the registry jsonschema itself uses, held by
``sora2._compiler``), never by a hand-written walk; the validators of the spec's schemas are
compiled there.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = [
    "DOCUMENT_URI",
    "MODELS_PREFIX",
    "Model",
    "Operation",
    "default_model",
    "escape_pointer",
    "hosted_file_limits",
    "hosted_inputs",
    "input_schema",
    "input_schema_pointer",
    "known_models",
    "lookup",
    "model",
    "model_of_operation",
    "models",
    "operation",
    "operations",
    "resolve",
    "resolve_with_location",
    "server_url",
    "spec_document",
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
    from ._compiler import schema_compiler

    return schema_compiler().lookup(ref)


def resolve_with_location(node: Any, pointer: str = "") -> tuple[Any, str]:
    """Follow local ``$ref``s of the packaged spec to a non-reference node; it and its
    ``#/...`` location (``pointer`` when ``node`` is not a reference)."""
    from ._compiler import schema_compiler

    return schema_compiler().resolve_with_location(node, pointer)


def resolve(node: Any) -> Any:
    """Follow local ``$ref``s of the packaged spec until a non-reference node is reached."""
    return resolve_with_location(node)[0]


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


# Hosted files ---------------------------------------------------------------------------------

_SCHEMAS = "#/components/schemas/"
_HOSTED_SCHEMA = re.compile(r"Hosted(?P<kind>[A-Z][a-z]+)Url")
"""A file the service fetches is a ``Hosted<Kind>Url`` schema: its kind, and its size limit in
``x-max-bytes``; an input that refers to one is a hosted-file input of that kind."""


@functools.cache
def hosted_file_limits() -> dict[str, int]:
    """``{kind: max bytes}`` for every hosted-file kind of the spec (e.g. image, video)."""
    limits: dict[str, int] = {}
    for name, schema in spec_document()["components"]["schemas"].items():
        found = _HOSTED_SCHEMA.fullmatch(name)
        limit = schema.get("x-max-bytes") if isinstance(schema, dict) else None
        if found and isinstance(limit, int):
            limits[found.group("kind").lower()] = limit
    return limits


def _kind_of(node: Any) -> str | None:
    """The hosted-file kind a schema refers to, through ``$ref`` and ``allOf``, if any."""
    if isinstance(node, list):
        return next((k for k in map(_kind_of, node) if k is not None), None)
    if not isinstance(node, dict):
        return None
    ref = node.get("$ref")
    if isinstance(ref, str):
        found = _HOSTED_SCHEMA.fullmatch(ref.removeprefix(_SCHEMAS))
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
