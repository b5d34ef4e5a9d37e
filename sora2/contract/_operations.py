"""The OpenAPI document compiled into plain per-operation records, once.

Everything a check needs and that does not depend on the traffic is worked out here: path
regexes, parameter lists, the security rule, documented statuses, headers and media types, each
schema with its JSON pointer in the document (the key under which its validator is cached).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._spec import SchemaCompiler, escape_pointer

__all__ = [
    "Header",
    "Media",
    "OperationSpec",
    "Param",
    "ResponseSpec",
    "SecurityRule",
    "coerce",
    "compile_operations",
    "find_media",
    "media_type",
]

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_TEMPLATE_PART = re.compile(r"([^{]*)(?:\{([^}]+)\})?")


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``; missing -> ``""``."""
    if not content_type:
        return ""
    return content_type.split(";", 1)[0].strip().lower()


def _is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


@dataclass(frozen=True, slots=True)
class Media:
    """One documented media type of a body."""

    media_type: str
    location: str
    schema: Any  # None when the spec gives no schema
    is_json: bool


@dataclass(frozen=True, slots=True)
class Param:
    """One documented parameter (path, query, header or cookie)."""

    name: str
    where: str  # path | query | header | cookie
    required: bool
    location: str
    schema: Any


@dataclass(frozen=True, slots=True)
class Header:
    """One documented response header."""

    name: str  # as documented
    required: bool
    location: str
    schema: Any


@dataclass(frozen=True, slots=True)
class ResponseSpec:
    """One documented response (a status, a range like ``5XX``, or ``default``)."""

    key: str
    media: tuple[Media, ...]
    headers: tuple[Header, ...]


@dataclass(frozen=True, slots=True)
class SecurityRule:
    """One alternative of ``security``: every scheme in it must be present."""

    schemes: tuple[tuple[str, dict[str, Any]], ...]


@dataclass(slots=True)
class OperationSpec:
    """Everything checking one operation needs, worked out once."""

    operation_id: str | None
    method: str
    template: str
    regex: re.Pattern[str]
    path_names: tuple[str, ...]
    params: tuple[Param, ...]
    security: tuple[SecurityRule, ...]  # empty: no authentication
    body_required: bool
    body_media: tuple[Media, ...] | None  # None: no requestBody
    responses: dict[str, ResponseSpec] = field(default_factory=dict)

    def documented_statuses(self) -> str:
        return ", ".join(self.responses) or "none"


def find_media(media: tuple[Media, ...], found: str) -> Media | None:
    """The documented media type ``found`` falls under (exact first, then wildcards)."""
    for candidate in media:
        if candidate.media_type == found:
            return candidate
    for candidate in media:
        kind, _, sub = candidate.media_type.partition("/")
        if kind == "*" or (sub == "*" and found.startswith(kind + "/")):
            return candidate
    return None


def coerce(value: str, schema: Any) -> Any:
    """A parameter arrives as text; read it as the type its schema asks for, when it can be."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    try:
        if kind == "integer" and re.fullmatch(r"[+-]?\d+", value):
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        return value
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


class _Compiler:
    """Compiles operations, resolving ``$ref``s through the spec layer and remembering where
    each node came from."""

    def __init__(self, document: Mapping[str, Any], schemas: SchemaCompiler | None = None) -> None:
        self._document = document
        self._schemas = schemas if schemas is not None else SchemaCompiler(document)

    def resolve(self, node: Any, pointer: str = "") -> Any:
        return self._resolve_with_location(node, pointer)[0]

    def _resolve_with_location(self, node: Any, pointer: str) -> tuple[Any, str]:
        return self._schemas.resolve_with_location(node, pointer)

    def compile_operation(
        self, template: str, item: dict[str, Any], method: str, raw: dict[str, Any]
    ) -> OperationSpec:
        base = f"#/paths/{escape_pointer(template)}"
        names: list[str] = []
        parts: list[str] = []
        for literal, name in _TEMPLATE_PART.findall(template):
            parts.append(re.escape(literal))
            if name:
                names.append(name)
                parts.append("([^/]+)")
        regex = re.compile("(?:.*?)" + "".join(parts) + r"\Z", re.DOTALL)

        params: dict[tuple[str, str], Param] = {}
        for owner, at in ((item, base), (raw, f"{base}/{method}")):
            for index, ref in enumerate(owner.get("parameters", [])):
                param, where = self._resolve_with_location(ref, f"{at}/parameters/{index}")
                key = (param["name"], param["in"])
                params[key] = Param(
                    name=param["name"],
                    where=param["in"],
                    required=bool(param.get("required", param["in"] == "path")),
                    location=f"{where}/schema",
                    schema=param.get("schema", {}),
                )

        security_doc = raw.get("security", self._document.get("security", []))
        schemes = self._document.get("components", {}).get("securitySchemes", {})
        security = tuple(
            SecurityRule(tuple((name, self.resolve(schemes.get(name, {}))) for name in rule))
            for rule in security_doc
        )
        if any(not rule.schemes for rule in security):
            security = ()  # an empty requirement makes authentication optional

        body_required = False
        body_media: tuple[Media, ...] | None = None
        if "requestBody" in raw:
            body, where = self._resolve_with_location(
                raw["requestBody"], f"{base}/{method}/requestBody"
            )
            body_required = bool(body.get("required", False))
            body_media = self.media(body.get("content", {}), f"{where}/content")

        spec = OperationSpec(
            operation_id=raw.get("operationId"),
            method=method.upper(),
            template=template,
            regex=regex,
            path_names=tuple(names),
            params=tuple(params.values()),
            security=security,
            body_required=body_required,
            body_media=body_media,
        )
        for key, ref in raw.get("responses", {}).items():
            response, where = self._resolve_with_location(
                ref, f"{base}/{method}/responses/{escape_pointer(str(key))}"
            )
            headers = []
            for name, header_ref in response.get("headers", {}).items():
                if name.lower() == "content-type":
                    continue
                header, at = self._resolve_with_location(
                    header_ref, f"{where}/headers/{escape_pointer(name)}"
                )
                headers.append(
                    Header(
                        name,
                        bool(header.get("required", False)),
                        f"{at}/schema",
                        header.get("schema", {}),
                    )
                )
            spec.responses[str(key).upper()] = ResponseSpec(
                key=str(key),
                media=self.media(response.get("content", {}), f"{where}/content"),
                headers=tuple(headers),
            )
        return spec

    def media(self, content: Mapping[str, Any], where: str) -> tuple[Media, ...]:
        found = []
        for name, item in content.items():
            lowered = media_type(name)
            found.append(
                Media(
                    media_type=lowered,
                    location=f"{where}/{escape_pointer(name)}/schema",
                    schema=item.get("schema") if isinstance(item, dict) else None,
                    is_json=_is_json(lowered),
                )
            )
        return tuple(found)


def compile_operations(
    document: Mapping[str, Any], schemas: SchemaCompiler | None = None
) -> list[OperationSpec]:
    """Every operation of ``document``, in document order (``schemas``: its compiler, reused)."""
    compiler = _Compiler(document, schemas)
    found = []
    for template, item in document.get("paths", {}).items():
        item = compiler.resolve(item)
        for method in _METHODS:
            raw = item.get(method)
            if isinstance(raw, dict):
                found.append(compiler.compile_operation(template, item, method, raw))
    return found
