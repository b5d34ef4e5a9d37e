"""Our client and emulator, end to end through the contract transport: no exchange breaks the spec.

These tests use the plugin's own ``sora2_contract`` fixture, so a violation anywhere fails them
with the list of problems, exactly as it would in a user's suite.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import sora2
from sora2._spec import operation
from sora2.contract import ContractRecorder

pytest.importorskip("starlette")

BASE_URL = "http://127.0.0.1"  # loopback: the client downloads over http only there
TOKEN = "sk-emulator-contract"


class FakeClock:
    """The emulator's monotonic clock, moved by hand so jobs finish without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sync_transport(recorder: ContractRecorder, **options: object) -> httpx.BaseTransport:
    from sora2.emulator import SyncASGITransport, create_app

    return recorder.transport(SyncASGITransport(create_app(**options)))  # type: ignore[arg-type]


def test_client_lifecycle_conforms(sora2_contract: ContractRecorder, tmp_path: Path) -> None:
    """submit, status, result, download, cancel and a 404 from our Client all match the spec."""
    clock = FakeClock()
    transport = sync_transport(sora2_contract, clock=clock)
    with sora2.Client(TOKEN, base_url=BASE_URL, transport=transport, journal=False) as client:
        submission = client.submit(prompt="a lighthouse at dawn")
        assert client.status(submission.request_id).request_id == submission.request_id
        clock.now += 600  # long enough to finish, short of the time-to-live
        result = client.result(submission.request_id)
        client.download(result, tmp_path / "video.mp4")
        with pytest.raises(sora2.ConflictError):
            client.cancel(submission.request_id)
        with pytest.raises(sora2.NotFoundError):
            client.status("no-such-request")
    checked = {(e.method, e.status) for e in sora2_contract.exchanges}
    assert {("POST", 200), ("GET", 200), ("POST", 409), ("GET", 404)} <= checked
    assert not [e.url for e in sora2_contract.exchanges if e.url.endswith(".mp4")]  # not API
    assert (tmp_path / "video.mp4").stat().st_size > 0


class _Seen(httpx.BaseTransport):
    """Notes each request's User-Agent on its way to the inner transport."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.agents: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.agents.append((request.url.path, request.headers.get("user-agent", "")))
        return self.inner.handle_request(request)


def test_requests_carry_the_sora2_user_agent(
    sora2_contract: ContractRecorder, tmp_path: Path
) -> None:
    """API calls and the download say ``sora2/<version>`` with httpx's token after it, and
    the contract checker and the emulator accept it."""
    clock = FakeClock()
    seen = _Seen(sync_transport(sora2_contract, clock=clock))
    with sora2.Client(TOKEN, base_url=BASE_URL, transport=seen, journal=False) as client:
        submission = client.submit(prompt="a lighthouse at dawn")
        clock.now += 600
        client.download(client.result(submission.request_id), tmp_path / "video.mp4")
    expected = f"sora2/{sora2.__version__} python-httpx/{httpx.__version__}"
    assert {expected} == {agent for _, agent in seen.agents}
    assert any(path.endswith(".mp4") for path, _ in seen.agents)  # the download too
    assert [] == sora2_contract.violations


@pytest.mark.anyio
async def test_async_client_conforms(sora2_contract: ContractRecorder) -> None:
    """The async client's submit, status and queued cancel match the spec."""
    from sora2.emulator import create_app

    transport = sora2_contract.async_transport(
        httpx.ASGITransport(app=create_app(clock=FakeClock(), workers=1))
    )
    async with sora2.AsyncClient(
        TOKEN, base_url=BASE_URL, transport=transport, journal=False
    ) as client:
        first = await client.submit(prompt="first")
        second = await client.submit(prompt="second")
        assert (await client.status(second.request_id)).state == "in_queue"
        assert (await client.cancel(second.request_id)).state == "cancelled"
        assert first.request_id
    # The model's price (its unofficial document) once, two submits, a status, a cancel.
    assert len(sora2_contract.exchanges) == 5


@pytest.mark.parametrize("kind", ["429", "500", "502", "503"])
def test_injected_faults_conform(sora2_contract: ContractRecorder, kind: str) -> None:
    """The emulator's fault answers (errors, Retry-After, the HTML 502) match the spec."""
    transport = sync_transport(sora2_contract, faults=f"status:{kind}")
    path = operation("status").url_path(request_id="abc")
    with httpx.Client(transport=transport, base_url=BASE_URL) as http:
        response = http.get(path, headers={"authorization": f"Bearer {TOKEN}"})
    assert int(kind) == response.status_code
    assert len(sora2_contract.exchanges) == 1


@pytest.mark.sora2_contract(request=False)  # bad requests on purpose; answers still checked
@pytest.mark.parametrize(
    ("headers", "content", "status", "flagged"),
    [
        ({"content-type": "application/json"}, b'{"prompt": "x"}', 401, "/headers/authorization"),
        ({"content-type": "text/plain"}, b'{"prompt": "x"}', 415, "/headers/content-type"),
        ({"content-type": "application/json"}, b"{prompt", 400, "/body"),
        ({"content-type": "application/json"}, b'{"prompt": ""}', 422, "/body/prompt"),
    ],
    ids=["no-token", "wrong-type", "not-json", "invalid"],
)
def test_refusals_conform_while_the_request_is_flagged(
    sora2_contract: ContractRecorder,
    headers: dict[str, str],
    content: bytes,
    status: int,
    flagged: str,
) -> None:
    """A bad request is flagged on the request side and refused with a conforming error."""
    transport = sync_transport(sora2_contract)
    if status != 401:
        headers = {**headers, "authorization": f"Bearer {TOKEN}"}
    with httpx.Client(transport=transport, base_url=BASE_URL) as http:
        response = http.post(operation("submit").path, headers=headers, content=content)
    assert status == response.status_code
    assert {("request", flagged)} == {(v.side, v.pointer) for v in sora2_contract.violations}
