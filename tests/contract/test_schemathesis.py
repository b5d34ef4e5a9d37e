"""Schemathesis generates requests from the spec; the checker and the emulator must agree.

A request our checker passes must not be refused by the emulator as malformed (400, 401,
413, 415, 422); a request it flags must be refused with a 4xx. Every emulator answer must in
turn pass the response check. Positive and negative generation are both used, derandomized so
CI sees the same cases on every run.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode

from sora2._spec import operations, spec_document
from sora2.contract import Contract, load_contract
from sora2.contract._contract import split_target

pytest.importorskip("starlette")

BASE_URL = "http://emulator.test"
MALFORMED = frozenset({400, 401, 413, 415, 422})
EXAMPLES_PER_MODE = 40


@pytest.fixture(scope="module")
def emulator() -> Iterator[httpx.Client]:
    from sora2.emulator import SyncASGITransport, create_app

    with httpx.Client(transport=SyncASGITransport(create_app()), base_url=BASE_URL) as client:
        yield client


def to_httpx(kwargs: dict[str, Any]) -> httpx.Request:
    """The httpx request equal to Schemathesis's requests-style keyword arguments."""
    content = json.dumps(kwargs["json"]).encode() if "json" in kwargs else kwargs.get("data")
    if isinstance(content, str):
        content = content.encode()
    return httpx.Request(
        kwargs["method"],
        kwargs["url"],
        params=kwargs.get("params") or None,
        headers=kwargs.get("headers"),
        content=content,
    )


def verdict(contract: Contract, request: httpx.Request, response: httpx.Response) -> str:
    """Check one generated exchange and say how it was classified ("valid" or "invalid")."""
    path, query = split_target(request.url)
    found = contract.match(request.method, path)
    where = f"{request.method} {path} -> {response.status_code}: {response.text[:200]}"
    if found is None:
        assert response.status_code in (404, 405), f"not an API path, yet answered: {where}"
        return "not-api"
    violations = contract.request_violations(found, request, query)
    assert contract.response_violations(found, response) == [], where
    if violations:
        assert 400 <= response.status_code < 500, f"we flag {violations}, emulator took {where}"
        assert response.status_code != 429, where
        return "invalid"
    assert response.status_code not in MALFORMED, f"we pass it, emulator refused: {where}"
    return "valid"


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("operation_id", sorted(operations()))
def test_checker_agrees_with_the_emulator(
    emulator: httpx.Client, operation_id: str, mode: GenerationMode
) -> None:
    """For generated requests, our verdict and the emulator's status code agree."""
    contract = load_contract()
    op = operations()[operation_id]
    api_operation = schemathesis.openapi.from_dict(spec_document())[op.path][op.method]
    seen: Counter[str] = Counter()

    @settings(
        max_examples=EXAMPLES_PER_MODE,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=api_operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        kwargs = case.as_transport_kwargs(
            base_url=BASE_URL, headers={"Authorization": "Bearer contract-test"}
        )
        request = to_httpx(kwargs)
        response = emulator.send(request)
        seen[verdict(contract, request, response)] += 1

    run()
    expected = "valid" if mode is GenerationMode.POSITIVE else "invalid"
    assert seen[expected] > 0, seen  # the run exercised the side it was meant to


def test_missing_token_is_refused_by_both(emulator: httpx.Client) -> None:
    """A request without a token is flagged by us and refused with 401 by the emulator."""
    contract = load_contract()
    op = operations()["status"]
    request = httpx.Request("GET", BASE_URL + op.url_path(request_id="abc"))
    response = emulator.send(request)
    assert verdict(contract, request, response) == "invalid"
    assert response.status_code == 401
