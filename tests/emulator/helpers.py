"""Shared test helpers: spec-derived paths and choices, and a spec conformance check."""

from __future__ import annotations

import functools
from typing import Any

import httpx
from _fakes import FakeClock as FakeClock  # re-exported for the tests here
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from sora2._spec import operation, resolve, spec_document
from sora2.emulator import Emulator, SyncASGITransport
from sora2.emulator._validation import body_schema

TOKEN = "emulator-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BASE_URL = "http://emulator.test"
PROMPT = "A lighthouse on a cliff at dawn"


def submit_path() -> str:
    return operation("submit").path


def path_of(operation_id: str, request_id: str) -> str:
    return operation(operation_id).url_path(request_id=request_id)


def choices(field: str) -> list[Any]:
    """The spec's enum for a submit field (sizes, durations)."""
    values: list[Any] = resolve(body_schema()["properties"][field])["enum"]
    return values


def default(field: str) -> Any:
    return resolve(body_schema()["properties"][field])["default"]


@functools.cache
def _registry() -> Registry[Any]:
    return Registry().with_resource("urn:spec", DRAFT202012.create_resource(spec_document()))


def assert_conforms(operation_id: str, response: httpx.Response) -> None:
    """Fail unless the response's status, media type and JSON body are what the spec documents."""
    op = operation(operation_id)
    responses = op.raw["responses"]
    status = str(response.status_code)
    assert status in responses, f"{status} is not documented for {operation_id}"
    documented = resolve(responses[status])
    media_type = response.headers["content-type"].split(";")[0].strip()
    assert media_type in documented["content"], f"{media_type} not documented for {status}"
    pointer = f"/paths/{op.path.replace('/', '~1')}/{op.method.lower()}/responses/{status}"
    ref = responses[status].get("$ref")
    if ref:
        pointer = ref[1:]
    schema_ref = f"urn:spec#{pointer}/content/{media_type.replace('/', '~1')}/schema"
    validator = Draft202012Validator(
        {"$ref": schema_ref},
        registry=_registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )
    body = response.json() if media_type == "application/json" else response.text
    errors = [error.message for error in validator.iter_errors(body)]
    assert errors == []
    for name, header in documented.get("headers", {}).items():
        if resolve(header).get("required"):
            assert name.lower() in response.headers, f"{name} header missing"


def client_for(app: Emulator, base_url: str = BASE_URL) -> httpx.Client:
    """A sync client reaching ``app`` in process, with the test token."""
    return httpx.Client(transport=SyncASGITransport(app), base_url=base_url, headers=AUTH)


def submit(http: httpx.Client, **body: Any) -> str:
    """Submit a job (a default prompt unless given) and return its request_id."""
    response = http.post(submit_path(), json={"prompt": PROMPT, **body})
    assert response.status_code == 200, response.text
    request_id: str = response.json()["request_id"]
    return request_id


def state(http: httpx.Client, request_id: str) -> dict[str, Any]:
    response = http.get(path_of("status", request_id))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
