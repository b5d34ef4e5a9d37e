"""Hosted-file inputs, found from the spec: a local path or http:// is refused with a clear
message, and the file's host is asked (HEAD) before paying; a host that says no refuses the
job, one that cannot be reached lets it go on."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sora2 import InvalidInputError
from sora2._hosted import hosted_file_limits
from sora2._inputs import hosted_inputs
from sora2._spec import models
from sora2.emulator import Emulator

from .helpers import Api, stats_submissions

pytestmark = pytest.mark.anyio

FILE_MODELS = [m for m in models() if hosted_inputs(m)]
URL = "https://files.example/cat.jpg"


def _inputs(model_id: str, url: str) -> dict[str, Any]:
    return dict.fromkeys(hosted_inputs(model_id), url)


def _host(
    status: int = 200, headers: dict[str, str] | None = None
) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, headers=headers or {})

    return httpx.MockTransport(handler), seen


def test_file_inputs_come_from_the_spec() -> None:
    """The hosted-file inputs are the properties referring to a Hosted<Kind>Url schema, each
    with a kind the spec gives a size limit."""
    assert FILE_MODELS
    for model_id in FILE_MODELS:
        assert set(hosted_inputs(model_id).values()) <= set(hosted_file_limits())


@pytest.mark.parametrize("model_id", FILE_MODELS)
class TestBeforePaying:
    @pytest.mark.parametrize("value", ["./cat.jpg", "/home/me/cat.jpg", "cat.jpg"])
    async def test_a_local_path_is_refused_as_such(
        self, api: Api, emulator: Emulator, model_id: str, value: str
    ) -> None:
        """A path says the API takes hosted files only; nothing is sent."""
        with pytest.raises(InvalidInputError) as caught:
            await api.submit("x", model=model_id, **_inputs(model_id, value))
        assert caught.value.field in hosted_inputs(model_id)
        assert "local path" in str(caught.value) and "HTTPS URL" in str(caught.value)
        assert 0 == stats_submissions(emulator)

    async def test_plain_http_is_refused(self, api: Api, emulator: Emulator, model_id: str) -> None:
        """http:// is refused, saying HTTPS only; nothing is sent."""
        with pytest.raises(InvalidInputError) as caught:
            await api.submit("x", model=model_id, **_inputs(model_id, "http://files.example/a.jpg"))
        assert "HTTPS" in str(caught.value)
        assert 0 == stats_submissions(emulator)

    async def test_the_host_is_asked_with_a_head(
        self, api: Api, emulator: Emulator, model_id: str
    ) -> None:
        """A public file of the right type and size: one HEAD without the token, then the job."""
        transport, seen = _host(headers={"Content-Length": "1000", "Content-Type": "image/jpeg"})
        api.client._hosted_transport = transport
        await api.submit("x", model=model_id, **_inputs(model_id, URL))
        assert ["HEAD"] == [r.method for r in seen]
        assert all("authorization" not in r.headers for r in seen)
        assert 1 == stats_submissions(emulator)

    @pytest.mark.parametrize(
        ("status", "headers", "words"),
        [
            (403, {}, "login"),
            (404, {}, "404"),
            (200, {"Content-Length": str(10**12), "Content-Type": "image/jpeg"}, "limit"),
            (200, {"Content-Length": "10", "Content-Type": "text/html"}, "text/html"),
        ],
    )
    async def test_a_host_that_says_no_refuses_the_job(
        self,
        api: Api,
        emulator: Emulator,
        model_id: str,
        status: int,
        headers: dict[str, str],
        words: str,
    ) -> None:
        """A login wall, a missing file, a file over the limit or of another type: refused,
        naming the input and why; nothing is paid."""
        transport, _ = _host(status, headers)
        api.client._hosted_transport = transport
        with pytest.raises(InvalidInputError) as caught:
            await api.submit("x", model=model_id, **_inputs(model_id, URL))
        assert caught.value.field in hosted_inputs(model_id)
        assert words in str(caught.value)
        assert 0 == stats_submissions(emulator)

    async def test_an_unreachable_host_lets_the_job_go_on(
        self, api: Api, emulator: Emulator, model_id: str
    ) -> None:
        """A host this machine cannot reach may still be reachable by the service: sent."""

        def handler(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("no route", request=request)

        api.client._hosted_transport = httpx.MockTransport(handler)
        await api.submit("x", model=model_id, **_inputs(model_id, URL))
        assert 1 == stats_submissions(emulator)
