"""The generated client ``sora2_api`` sends exactly the documented requests and parses every
documented response, through ``httpx.MockTransport``: nothing leaves the process."""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import httpx
import pytest
import sora2_api.models
from _codegen_support import Example, attrs_classes, deref, iter_examples, spec_document
from sora2_api import AuthenticatedClient

DOCUMENT = spec_document()
SERVER = DOCUMENT["servers"][0]["url"]
TOKEN = "test-token-not-real"
REQUEST_ID = "0b7c8f9e-4a51-4f1e-9d0c-6a3a2e1b5c7d"
EXAMPLES = list(iter_examples(DOCUMENT))
REQUEST_EXAMPLES = [e for e in EXAMPLES if e.status is None]
RESPONSE_EXAMPLES = [e for e in EXAMPLES if e.status is not None]
Handler = Callable[[httpx.Request], httpx.Response]


def _operations() -> dict[str, tuple[str, str, dict[str, Any]]]:
    found: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for path, item in DOCUMENT["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and "operationId" in op:
                found[op["operationId"]] = (method.upper(), path, op)
    return found


OPERATIONS = _operations()


def _module(operation_id: str) -> ModuleType:
    """The generated module of an operation: ``sora2_api.api.<tag>.<operationId>``."""
    tag = OPERATIONS[operation_id][2]["tags"][0].replace("-", "_")
    return importlib.import_module(f"sora2_api.api.{tag}.{operation_id}")


def _client(handler: Handler, seam: str) -> AuthenticatedClient:
    """A generated client whose every request reaches ``handler``.

    ``generated``: the client builds its own httpx client (and its bearer header) around the
    mock transport. ``injected``: an httpx client is passed in with ``set_httpx_client``, as the
    hand-written layer does; it must then carry the bearer header itself.
    """
    transport = httpx.MockTransport(handler)
    if seam == "generated":
        return AuthenticatedClient(
            base_url=SERVER, token=TOKEN, httpx_args={"transport": transport}
        )
    client = AuthenticatedClient(base_url=SERVER, token=TOKEN)
    return client.set_httpx_client(
        httpx.Client(
            base_url=SERVER, transport=transport, headers={"Authorization": f"Bearer {TOKEN}"}
        )
    )


def _call(operation_id: str, client: AuthenticatedClient, body: Any = None) -> Any:
    """Call an operation's ``sync_detailed`` with its path parameters and, if any, its body."""
    function = _module(operation_id).sync_detailed
    kwargs: dict[str, Any] = {"client": client}
    for name, parameter in inspect.signature(function).parameters.items():
        if name == "body":
            # Each model's submit takes its own generated input class.
            kwargs["body"] = parameter.annotation.from_dict(body)
        elif name != "client":
            kwargs[name] = REQUEST_ID
    return function(**kwargs)


def _request_body(operation_id: str) -> Any:
    """The operation's first documented request body, or None when it takes none."""
    found = [e.value for e in REQUEST_EXAMPLES if e.operation_id == operation_id]
    return found[0] if found else None


def _expected_url(operation_id: str) -> str:
    _, path, _ = OPERATIONS[operation_id]
    return f"{SERVER}{path.format(request_id=REQUEST_ID)}"


class TestRequests:
    @pytest.mark.parametrize("seam", ["generated", "injected"])
    @pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
    def test_method_path_and_bearer(self, operation_id: str, seam: str) -> None:
        """Each operation sends its documented method and path with the bearer token."""
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(404, json={"error_code": 404001, "message": "not found"})

        _call(operation_id, _client(handler, seam), _request_body(operation_id))
        assert len(seen) == 1
        method, _, _ = OPERATIONS[operation_id]
        assert method == seen[0].method
        assert _expected_url(operation_id) == str(seen[0].url)
        assert f"Bearer {TOKEN}" == seen[0].headers["Authorization"]

    @pytest.mark.parametrize("example", REQUEST_EXAMPLES, ids=lambda e: e.id)
    def test_json_body_is_the_example(self, example: Example) -> None:
        """The submit body on the wire is exactly the documented example, as JSON."""
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(500, json={"error_code": 500001, "message": "x"})

        _call(example.operation_id, _client(handler, "generated"), example.value)
        assert seen[0].headers["Content-Type"] == "application/json"
        assert example.value == json.loads(seen[0].content)

    def test_injected_client_is_used_as_is(self) -> None:
        """``set_httpx_client`` adds no bearer header: the caller's httpx client must carry it."""
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(401, json={"error_code": 401001, "message": "Unauthorized."})

        client = AuthenticatedClient(base_url=SERVER, token=TOKEN).set_httpx_client(
            httpx.Client(base_url=SERVER, transport=httpx.MockTransport(handler))
        )
        _call("status", client)
        assert "Authorization" not in seen[0].headers

    def test_token_stays_out_of_the_repr(self) -> None:
        """The generated client's repr shows neither the token nor the headers carrying it.

        Pinned by the client.py template in codegen/config/templates (repr=False).
        """
        client = AuthenticatedClient(base_url=SERVER, token=TOKEN)
        client.get_httpx_client()  # copies the token into the headers
        assert TOKEN not in repr(client)

    @pytest.mark.anyio
    async def test_async_submit(self) -> None:
        """The async twin sends the same request through ``set_async_httpx_client``."""
        seen: list[httpx.Request] = []
        accepted = next(
            e for e in RESPONSE_EXAMPLES if e.operation_id == "submit" and e.status == "200"
        )

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(200, json=accepted.value)

        client = AuthenticatedClient(base_url=SERVER, token=TOKEN).set_async_httpx_client(
            httpx.AsyncClient(
                base_url=SERVER,
                transport=httpx.MockTransport(handler),
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
        )
        body = sora2_api.models.Input.from_dict(REQUEST_EXAMPLES[-1].value)
        response = await _module("submit").asyncio_detailed(client=client, body=body)
        assert REQUEST_EXAMPLES[-1].value == json.loads(seen[0].content)
        assert accepted.value["request_id"] == response.parsed.request_id


def _respond(example: Example) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if example.media == "application/json":
            return httpx.Response(int(example.status or 0), json=example.value)
        return httpx.Response(
            int(example.status or 0),
            text=example.value,
            headers={"Content-Type": example.media},
        )

    return handler


def _expected_types(example: Example) -> tuple[type, ...]:
    """The generated classes a response may parse into, from the spec's schema."""
    schema, _ = deref(DOCUMENT, {"$ref": "#" + example.schema_pointer})
    if schema.get("type") == "string":
        return (str,)
    return attrs_classes(DOCUMENT, {"$ref": "#" + example.schema_pointer})


class TestResponses:
    def test_every_status_has_an_example(self) -> None:
        """Each documented response status of each operation contributes an example."""
        for operation_id, (_, _, op) in OPERATIONS.items():
            have = {e.status for e in RESPONSE_EXAMPLES if e.operation_id == operation_id}
            assert set(op["responses"]) == have, operation_id

    @pytest.mark.parametrize("example", RESPONSE_EXAMPLES, ids=lambda e: e.id)
    def test_parses_documented_response(self, example: Example) -> None:
        """Every documented response, errors and the 502 HTML page included, parses without
        crashing into the type its schema names."""
        response = _call(
            example.operation_id,
            _client(_respond(example), "generated"),
            _request_body(example.operation_id),
        )
        assert int(example.status or 0) == response.status_code
        assert isinstance(response.parsed, _expected_types(example))
        if isinstance(response.parsed, str):
            assert example.value == response.parsed
        else:
            # Every field but the date-times (see test_generated_models) comes back unchanged.
            parsed: dict[str, Any] = response.parsed.to_dict()  # type: ignore[attr-defined]
            for key in example.value.keys() - {"created_at", "finished_at"}:
                assert example.value[key] == parsed[key], key

    @pytest.mark.parametrize("operation_id", ["status", "result", "cancel"])
    def test_unknown_state(self, operation_id: str) -> None:
        """A state the spec does not know yet (``moderating``) parses as a plain string."""
        value = {"request_id": REQUEST_ID, "status": "moderating", "moderation": {"eta": 3}}

        def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, json=value)

        parsed = _call(operation_id, _client(handler, "generated")).parsed
        assert isinstance(parsed, sora2_api.models.RequestStatus)
        assert parsed.status == "moderating"
        assert parsed["moderation"] == {"eta": 3}

    def test_error_detail_is_parsed(self) -> None:
        """A 422's ``detail`` list becomes ErrorDetail objects with ``loc`` and ``allowed``."""
        example = next(e for e in RESPONSE_EXAMPLES if e.status == "422")
        parsed = _call(
            "submit", _client(_respond(example), "generated"), REQUEST_EXAMPLES[0].value
        ).parsed
        assert isinstance(parsed, sora2_api.models.Error)
        assert isinstance(parsed.detail, list)
        assert example.value["error_code"] == parsed.error_code
        assert example.value["detail"][0]["loc"] == parsed.detail[0].loc
        assert example.value["detail"][0]["allowed"] == parsed.detail[0].allowed

    def test_undocumented_status_does_not_crash(self) -> None:
        """A status the spec does not list gives ``parsed=None``, not an exception."""

        def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(418, text="teapot")

        response = _call("status", _client(handler, "generated"))
        assert response.status_code == 418
        assert response.parsed is None
