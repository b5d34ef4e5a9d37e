"""Valid exchanges built from the spec's own examples, shared by the contract tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from sora2._spec import operation, operations, resolve, server_url, spec_document

TOKEN = "sk-test-4f1e9d0c-secret"


@dataclass(frozen=True)
class Example:
    """One documented example exchange: an operation, a status and a body the spec shows."""

    name: str
    operation_id: str
    status: int
    media_type: str
    body: Any
    request_body: Any = None
    headers: tuple[tuple[str, str], ...] = ()

    def request(self, **overrides: Any) -> httpx.Request:
        return build_request(self.operation_id, body=self.request_body, **overrides)

    def response(self, *, body: Any = None, content_type: str | None = None) -> httpx.Response:
        value = self.body if body is None else body
        content = value.encode() if isinstance(value, str) else json.dumps(value).encode()
        headers = [("content-type", content_type or self.media_type), *self.headers]
        return httpx.Response(self.status, headers=headers, content=content)


def request_id_example() -> str:
    example: str = resolve(spec_document()["components"]["parameters"]["RequestId"])["example"]
    return example


def request_body_examples(operation_id: str = "submit") -> dict[str, Any]:
    """The request body examples of ``operation_id`` (each model's submit has its own)."""
    raw = operation(operation_id).raw
    content = resolve(raw["requestBody"])["content"]["application/json"]
    return {name: resolve(item)["value"] for name, item in content["examples"].items()}


def build_request(
    operation_id: str,
    *,
    body: Any = None,
    token: str | None = TOKEN,
    content_type: str | None = "application/json",
    request_id: str | None = None,
    base: str | None = None,
) -> httpx.Request:
    """A request for ``operation_id`` as our client would send it."""
    op = operation(operation_id)
    params = {name: request_id or request_id_example() for name in op.parameters}
    url = (base or server_url()) + op.url_path(**params)
    headers = {}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    content = b""
    if body is not None:
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        if content_type is not None:
            headers["content-type"] = content_type
    return httpx.Request(op.method, url, headers=headers, content=content)


def _required_headers(response: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """A valid value for each header the response documents as required."""
    found = []
    for name, header in response.get("headers", {}).items():
        header = resolve(header)
        if header.get("required"):
            kind = resolve(header.get("schema", {})).get("type")
            found.append((name, "1" if kind in ("integer", "number") else "x"))
    return tuple(found)


def _response_examples() -> Iterator[Example]:
    for op_id, op in operations().items():
        first_body = (
            next(iter(request_body_examples(op_id).values())) if op.raw.get("requestBody") else None
        )
        for status, response in op.raw["responses"].items():
            response = resolve(response)
            for media, item in response.get("content", {}).items():
                for name, example in item.get("examples", {}).items():
                    yield Example(
                        name=f"{op_id}-{status}-{name}",
                        operation_id=op_id,
                        status=int(status),
                        media_type=media,
                        body=resolve(example)["value"],
                        request_body=first_body,
                        headers=_required_headers(response),
                    )


EXAMPLES = list(_response_examples())


def status_required_pointers() -> set[str]:
    """``/body/<name>`` of every property the spec's status answer requires."""
    from sora2._spec import resolve, spec_document

    schema = resolve(spec_document()["components"]["schemas"]["RequestStatus"])
    return {f"/body/{name}" for name in schema.get("required", [])}
