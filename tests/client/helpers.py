"""Helpers of the client tests: a fake clock, scripted answers, and one face for both clients."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _fakes import FakeClock

from sora2 import AsyncClient, Client
from sora2._spec import operation
from sora2.emulator import Emulator, SyncASGITransport

TOKEN = "sk-test-9f8e7d6c5b4a-secret"
BASE_URL = "http://localhost"
"""Loopback, so the emulator's http video URLs pass the download policy."""


class Api:
    """One face for both clients: ``await api.submit(...)`` works for sync and async alike."""

    def __init__(self, client: Client | AsyncClient) -> None:
        self.client = client
        self.is_async = isinstance(client, AsyncClient)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.client, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            value = method(*args, **kwargs)
            if inspect.isawaitable(value):
                value = await value
            return value

        return call


@dataclass
class Factory:
    """Makes clients of one flavour (sync or async) over a given app or transport."""

    flavour: str
    clock: FakeClock
    journal_path: Path
    made: list[Client | AsyncClient] = field(default_factory=list)

    def __call__(
        self,
        app: Any = None,
        *,
        handler: Callable[[httpx.Request], httpx.Response] | None = None,
        **options: Any,
    ) -> Api:
        options.setdefault("api_key", TOKEN)
        options.setdefault("base_url", BASE_URL)
        options.setdefault("journal", self.journal_path)
        options.setdefault("_clock", self.clock)
        transport: Any
        if self.flavour == "sync":
            if handler is not None:
                transport = httpx.MockTransport(handler)
            elif app is not None:
                transport = SyncASGITransport(app)
            else:
                transport = options.pop("transport", None)
            client: Client | AsyncClient = Client(transport=transport, **options)
        else:
            if handler is not None:
                transport = httpx.MockTransport(handler)
            elif app is not None:
                transport = httpx.ASGITransport(app=app)
            else:
                transport = options.pop("transport", None)
            client = AsyncClient(transport=transport, **options)
        self.made.append(client)
        return Api(client)


# Scripted answers, for what the emulator cannot produce ----------------------------------------


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def submit_body(request_id: str = "req-1") -> dict[str, str]:
    urls = {
        f"{name}_url": BASE_URL + operation(name).url_path(request_id=request_id)
        for name in ("status", "result", "cancel")
    }
    return {"request_id": request_id, **urls}


def status_body(
    state: str, request_id: str = "req-1", position: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"request_id": request_id, "status": state}
    if position is not None:
        body["queue_position"] = position
    return body


def _fresh(response: httpx.Response) -> httpx.Response:
    """A new copy of a canned response: a response object can be sent only once."""
    return httpx.Response(response.status_code, headers=response.headers, content=response.content)


@dataclass
class Script:
    """A fake service: per operation, a list of answers played in order (the last repeats)."""

    answers: dict[str, list[Callable[[httpx.Request], httpx.Response] | httpx.Response]] = field(
        default_factory=dict
    )
    requests: list[httpx.Request] = field(default_factory=list)
    files: dict[str, Callable[[httpx.Request], httpx.Response] | httpx.Response] = field(
        default_factory=dict
    )

    def on(self, operation_id: str, *answers: Any) -> Script:
        self.answers[operation_id] = list(answers)
        return self

    def calls(self, operation_id: str) -> int:
        op = operation(operation_id)
        return sum(1 for r in self.requests if op.match(r.method, r.url.path) is not None)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for operation_id, answers in self.answers.items():
            if operation(operation_id).match(request.method, request.url.path) is None:
                continue
            answer = answers.pop(0) if len(answers) > 1 else answers[0]
            return answer(request) if callable(answer) else _fresh(answer)
        file_answer = self.files.get(str(request.url))
        if file_answer is not None:
            return file_answer(request) if callable(file_answer) else _fresh(file_answer)
        return httpx.Response(404, text="no script for " + str(request.url))


def stats_submissions(emulator: Emulator) -> int:
    """Jobs the emulator created."""
    return sum(emulator.stats.submissions.values())
