"""Every response: a request-id header, the spec's error body, 404/405 routing, the spec route."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from sora2._spec import operations, spec_document
from sora2.emulator import Emulator, SyncASGITransport, create_app

from .helpers import BASE_URL, PROMPT, assert_conforms, path_of, submit, submit_path


def _submit_path_methods() -> set[str]:
    """The methods the spec documents on the submit path."""
    return {op.method for op in operations().values() if op.path == submit_path()}


class TestRequestId:
    def test_every_kind_of_response_carries_a_distinct_request_id(
        self, client: httpx.Client
    ) -> None:
        """Success, error, routing errors and the video all carry their own X-Request-Id."""
        request_id = submit(client)
        responses = [
            client.get(path_of("status", request_id)),
            client.get(path_of("status", "unknown")),
            client.post(submit_path(), json={}),
            client.get("/nowhere"),
            client.delete(submit_path()),
            client.get("/openapi.json"),
        ]
        ids = [response.headers.get("x-request-id") for response in responses]
        assert all(ids)
        assert len(set(ids)) == len(ids)

    @pytest.mark.parametrize("kind", ["429", "500", "502", "503", "truncate", "slow=0"])
    def test_injected_faults_carry_a_request_id_too(self, kind: str) -> None:
        """Fault answers have the header like any other answer."""
        app = create_app(faults=f"status:{kind}")
        with httpx.Client(transport=SyncASGITransport(app), base_url=BASE_URL) as http:
            response = http.get(path_of("status", "x"), headers={"Authorization": "Bearer t"})
        assert response.headers["x-request-id"]


class TestRouting:
    def test_an_unknown_path_gets_the_spec_404(self, client: httpx.Client) -> None:
        """A path the spec does not have gets 404 with a JSON error body."""
        response = client.get("/v2/nothing")
        assert response.status_code == 404
        assert response.json()["error_code"] == 404001

    @pytest.mark.parametrize(
        "method", [m for m in ("GET", "PUT", "DELETE", "PATCH") if m not in _submit_path_methods()]
    )
    def test_an_undocumented_method_gets_405_with_allow(
        self, client: httpx.Client, method: str
    ) -> None:
        """A method the spec does not list for a path gets 405 naming the allowed ones."""
        response = client.request(method, submit_path())
        assert response.status_code == 405
        allowed = _submit_path_methods() | ({"HEAD"} if "GET" in _submit_path_methods() else set())
        assert ", ".join(sorted(allowed)) == response.headers["allow"]
        assert response.json()["error_code"] == 405001

    def test_head_of_a_get_operation_is_answered_without_a_body(self, client: httpx.Client) -> None:
        """HEAD on status behaves like GET, minus the body."""
        request_id = submit(client)
        response = client.head(path_of("status", request_id))
        assert response.status_code == 200
        assert response.content == b""

    def test_the_spec_is_served_without_a_token(self, emulator: Emulator) -> None:
        """GET /openapi.json returns the spec the emulator implements, no auth needed."""
        with httpx.Client(transport=SyncASGITransport(emulator), base_url=BASE_URL) as http:
            response = http.get("/openapi.json")
        assert response.json() == spec_document()

    def test_an_internal_failure_is_the_spec_500(
        self, client: httpx.Client, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A bug in a handler answers 500001 with a request id, not a traceback."""

        def broken(request_id: str) -> None:
            raise RuntimeError("boom")

        monkeypatch.setattr(emulator._jobs, "get", broken)
        response = client.get(path_of("status", "x"))
        assert response.status_code == 500
        assert response.json()["error_code"] == 500001
        assert response.headers["x-request-id"]
        assert "boom" not in response.text
        assert_conforms("status", response)

    def test_submit_answers_conform_to_the_spec(self, client: httpx.Client) -> None:
        """A successful submit matches SubmitResponse (URIs included)."""
        response = client.post(submit_path(), json={"prompt": PROMPT})
        assert_conforms("submit", response)


def test_importing_the_package_stays_cheap() -> None:
    """`import sora2.emulator` loads neither Starlette, uvicorn, PyAV nor numpy."""
    code = (
        "import sys, sora2.emulator; "
        "print(sorted(m for m in ('starlette', 'uvicorn', 'av', 'numpy') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
