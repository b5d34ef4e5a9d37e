"""Spec lint: structural validity, examples against their schemas, and the house rules.

House rules (each breach is one line): every operation has an operationId, a tag, a summary, a
description and bearer security, and documents the shared error responses; every request body
and every response with content carries at least one example.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = ["REQUIRED_ERROR_STATUSES", "lint", "lint_document"]

REQUIRED_ERROR_STATUSES = ("400", "401", "403", "404", "422", "429", "500")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
DOC_URI = "urn:sora2:spec"


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _pointer(*tokens: str) -> str:
    return "/" + "/".join(_escape(t) for t in tokens)


class _Examples:
    """Validates example values against schemas addressed by JSON pointer into the document."""

    def __init__(self, document: dict[str, Any]) -> None:
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(DOC_URI, resource)
        self._checker = FormatChecker()

    def problem(self, schema_pointer: str, value: Any) -> str | None:
        validator = Draft202012Validator(
            {"$ref": f"{DOC_URI}#{schema_pointer}"},
            registry=self._registry,
            format_checker=self._checker,
        )
        error = best_match(validator.iter_errors(value))
        if error is None:
            return None
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        return f"at {where}: {error.message}"


def _deref(document: dict[str, Any], node: Any) -> tuple[Any, str | None]:
    """Follow a local $ref; returns the target and its pointer (None if not a ref)."""
    if (
        isinstance(node, dict)
        and isinstance(node.get("$ref"), str)
        and node["$ref"].startswith("#")
    ):
        pointer = node["$ref"][1:]
        target: Any = document
        for token in pointer.strip("/").split("/"):
            target = target[token.replace("~1", "/").replace("~0", "~")]
        return target, pointer
    return node, None


def _media_examples(
    document: dict[str, Any], checker: _Examples, where: str, base: str, content: dict[str, Any]
) -> Iterator[str]:
    for media, body in content.items():
        pointer = f"{base}/content/{_escape(media)}"
        examples: dict[str, Any] = dict(body.get("examples") or {})
        if "example" in body:
            examples["example"] = {"value": body["example"]}
        if not examples:
            yield f"{where} {media}: no example"
        if "schema" not in body:
            yield f"{where} {media}: no schema"
            continue
        for name, example in examples.items():
            example, _ = _deref(document, example)
            problem = checker.problem(f"{pointer}/schema", example.get("value"))
            if problem:
                yield f"{where} {media} example {name!r} does not match its schema {problem}"


def _schema_examples(document: dict[str, Any], checker: _Examples) -> Iterator[str]:
    """JSON Schema ``examples`` arrays in components, checked against their own schema."""

    def walk(node: Any, pointer: str) -> Iterator[str]:
        if isinstance(node, dict):
            for i, value in (
                enumerate(node.get("examples") or [])
                if isinstance(node.get("examples"), list)
                else []
            ):
                problem = checker.problem(pointer, value)
                if problem:
                    yield f"schema {pointer} examples[{i}] does not match {problem}"
            for key, child in node.items():
                if key != "examples":
                    yield from walk(child, f"{pointer}/{_escape(str(key))}")

    yield from walk(document.get("components", {}).get("schemas", {}), "/components/schemas")


def _operation_rules(document: dict[str, Any], checker: _Examples) -> Iterator[str]:
    global_security = document.get("security")
    seen_ids: set[str] = set()
    for path, item in (document.get("paths") or {}).items():
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            where = f"{method.upper()} {path}"
            base = _pointer("paths", path, method)
            op_id = op.get("operationId")
            if not op_id:
                yield f"{where}: no operationId"
            elif op_id in seen_ids:
                yield f"{where}: duplicate operationId {op_id!r}"
            else:
                seen_ids.add(op_id)
            for key in ("summary", "description", "tags"):
                if not op.get(key):
                    yield f"{where}: no {key}"
            security = op.get("security", global_security)
            if not security or not all("bearerAuth" in s for s in security):
                yield f"{where}: not protected by bearerAuth"
            responses = op.get("responses") or {}
            for status in REQUIRED_ERROR_STATUSES:
                if status not in responses:
                    yield f"{where}: no {status} response"
            for status, response in responses.items():
                response, ref = _deref(document, response)
                rbase = ref if ref else f"{base}/responses/{_escape(str(status))}"
                if isinstance(response, dict) and response.get("content"):
                    yield from _media_examples(
                        document, checker, f"{where} {status}", rbase, response["content"]
                    )
            body = op.get("requestBody")
            if body is not None:
                body, ref = _deref(document, body)
                yield from _media_examples(
                    document,
                    checker,
                    f"{where} request body",
                    ref or f"{base}/requestBody",
                    body.get("content") or {},
                )


def lint_document(document: dict[str, Any]) -> list[str]:
    """All problems with one spec document, one line each; empty when it is clean."""
    try:
        validate(document)
    except OpenAPIValidationError as exc:
        return [f"not a valid OpenAPI 3.1 document: {exc.message}"]
    checker = _Examples(document)
    problems = list(_operation_rules(document, checker))
    problems += list(_schema_examples(document, checker))
    return list(dict.fromkeys(problems))


def lint(spec: Path) -> list[str]:
    document = yaml.safe_load(spec.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        return [f"{spec}: not a YAML mapping"]
    return lint_document(document)
