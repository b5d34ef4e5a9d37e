"""Contract checking: ``sora2.contract`` against openapi-core on the same two exchanges.

Both sides check a whole exchange, request and response: a status poll (GET, path parameter,
bearer token, the ``RequestStatus`` body) and a submit (POST, the ``Input`` body, the
``SubmitResponse`` body). The httpx objects, and openapi-core's request/response objects built
from them, are made once; each sample times a batch of checks with ``perf_counter_ns``, the
candidates interleaved round by round, and the result is the median per exchange.

Run alone with ``python -m benchmarks.bench_contract [ROUNDS]``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx

from ._timing import interleaved, median

__all__ = ["run"]

BATCH = 10
"""Checks per sample: enough to dwarf the timer's own cost, few enough to interleave finely."""


def _example(node: Any) -> Any:
    from sora2._spec import resolve

    examples = resolve(node).get("examples", {})
    values = [resolve(example)["value"] for example in examples.values()]
    return max(values, key=lambda value: len(value) if isinstance(value, dict) else 0)


def exchanges() -> dict[str, tuple[httpx.Request, httpx.Response]]:
    """A status and a submit exchange, built from the spec's own examples."""
    from sora2._spec import operation, resolve, server_url

    built: dict[str, tuple[httpx.Request, httpx.Response]] = {}
    headers = {"authorization": "Bearer sk-benchmark"}
    for name in ("status", "submit"):
        op = operation(name)
        raw = op.raw
        ok = resolve(raw["responses"]["200"])["content"]["application/json"]
        body = _example(ok)
        params = {p: body.get(p, "0b7c8f9e") for p in op.parameters}
        url = server_url() + op.url_path(**params)
        if "requestBody" in raw:
            content = resolve(raw["requestBody"])["content"]["application/json"]
            request = httpx.Request(op.method, url, headers=headers, json=_example(content))
        else:
            request = httpx.Request(op.method, url, headers=headers)
        response = httpx.Response(200, json=body, headers={"x-request-id": "bench"})
        built[name] = (request, response)
    return built


def _ours(request: httpx.Request, response: httpx.Response) -> Callable[[], float]:
    from sora2.contract import check_request, check_response

    if check_request(request) or check_response(request, response):
        raise AssertionError("the benchmark exchange must be valid")

    def sample() -> float:
        start = time.perf_counter_ns()
        for _ in range(BATCH):
            check_request(request)
            check_response(request, response)
        return (time.perf_counter_ns() - start) / BATCH / 1000

    return sample


def _openapi_core(request: httpx.Request, response: httpx.Response) -> Callable[[], float]:
    """openapi-core has no httpx adapter; its raw ``MockRequest``/``MockResponse`` are one."""
    from openapi_core import OpenAPI
    from openapi_core.testing import MockRequest, MockResponse

    from sora2._spec import spec_document

    app = OpenAPI.from_dict(json.loads(json.dumps(spec_document())))
    url = request.url
    their_request = MockRequest(
        host_url=f"{url.scheme}://{url.netloc.decode('ascii')}",
        method=request.method,
        path=url.path,
        headers=dict(request.headers),
        data=request.content or None,
        content_type=request.headers.get("content-type", "application/json"),
    )
    their_response = MockResponse(
        data=response.content,
        status_code=response.status_code,
        headers=dict(response.headers),
        content_type=response.headers.get("content-type", "application/json"),
    )
    app.validate_request(their_request)
    app.validate_response(their_request, their_response)

    def sample() -> float:
        start = time.perf_counter_ns()
        for _ in range(BATCH):
            app.validate_request(their_request)
            app.validate_response(their_request, their_response)
        return (time.perf_counter_ns() - start) / BATCH / 1000

    return sample


def run(rounds: int) -> list[dict[str, Any]]:
    """One row per exchange: ``name``, ``ours_us``, ``openapi_core_us`` and ``ratio``.

    ``ratio`` is openapi-core's time over ours (how many times faster ours is).
    """
    candidates: dict[str, Callable[[], float]] = {}
    for name, (request, response) in exchanges().items():
        candidates[f"{name}/ours"] = _ours(request, response)
        candidates[f"{name}/openapi-core"] = _openapi_core(request, response)
    for sample in candidates.values():
        sample()  # warm-up: compile validators, fill caches
    samples = interleaved(candidates, max(1, rounds))
    rows = []
    for name in exchanges():
        ours = median(samples[f"{name}/ours"])
        theirs = median(samples[f"{name}/openapi-core"])
        rows.append(
            {
                "name": f"{name} exchange",
                "ours_us": ours,
                "openapi_core_us": theirs,
                "ratio": theirs / ours if ours else float("inf"),
            }
        )
    return rows


def main(argv: list[str]) -> int:
    rounds = int(argv[0]) if argv else 200
    print(f"{'exchange':<18}{'ours µs':>10}{'openapi-core µs':>18}{'ratio':>9}")
    for row in run(rounds):
        print(
            f"{row['name']:<18}{row['ours_us']:>10.1f}{row['openapi_core_us']:>18.1f}"
            f"{row['ratio']:>8.1f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
