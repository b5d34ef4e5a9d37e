"""AsyncClient's default transport on aiohttp: every behaviour of httpx's own, over real TCP."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from sora2 import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    DownloadError,
    SubmissionUnknownError,
    _aiohttp,
)
from sora2._aiohttp import AiohttpTransport, default_async_transport, guarded_download_transport
from sora2._errors import NOT_SENT_ERRORS
from sora2._guarded import AsyncGuardedTransport
from sora2.emulator import Emulator, serve

from .helpers import TOKEN, FakeClock

pytest.importorskip("httpx_aiohttp", reason="the aiohttp extra is not installed")
import aiohttp

pytestmark = pytest.mark.anyio


class _Recorder:
    """An ASGI app in front of the emulator that writes down each request's headers."""

    def __init__(self, app: Emulator) -> None:
        self.app = app
        self.seen: list[tuple[str, dict[str, str]]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            self.seen.append((scope["path"], headers))
        await self.app(scope, receive, send)


@pytest.fixture
def recorder(emulator: Emulator) -> _Recorder:
    return _Recorder(emulator)


@pytest.fixture
def url(recorder: _Recorder) -> Iterator[str]:
    with serve(recorder) as base_url:  # type: ignore[arg-type]
        yield base_url


def _client(url: str, **options: Any) -> AsyncClient:
    return AsyncClient(TOKEN, base_url=url, journal=False, **options)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server on 127.0.0.1 that accepts connections, reads, and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        listener.close()


class TestChoice:
    async def test_the_default_is_aiohttp_with_the_connection_limit(self) -> None:
        """With httpx-aiohttp installed, AsyncClient's API client uses it, bounded by
        connection_limit; downloads use it too, guarded: every resolved address is checked
        before connecting (docs/connections.md)."""
        async with _client("http://127.0.0.1:9", connection_limit=7) as client:
            transport = client._http._transport
            assert isinstance(transport, AiohttpTransport)
            assert 7 == transport.limits.max_connections
            files = client._fetcher._client()._transport
            assert isinstance(files, AiohttpTransport)
            assert files._allows is not None
            assert 7 == files.limits.max_connections

    async def test_a_given_transport_wins(self) -> None:
        """A transport passed by the user is the one requests go through."""
        transport = httpx.AsyncHTTPTransport()
        async with _client("http://127.0.0.1:9", transport=transport) as client:
            assert transport is client._http._transport

    def test_a_proxy_in_the_environment_keeps_httpx(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A proxy named in the environment is honoured by httpx, not by aiohttp: httpx stays."""
        monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
        assert default_async_transport(httpx.Limits()) is None


class TestOverTCP:
    async def test_generate_sends_the_token_to_the_api_only(
        self, url: str, recorder: _Recorder, tmp_path: Path, clock: FakeClock
    ) -> None:
        """Submit, poll and download work, and the video request carries no token."""
        async with _client(url, _clock=clock) as client:
            (path,) = await client.generate("over aiohttp", out=tmp_path / "a.mp4")
        assert b"ftyp" == path.read_bytes()[4:8]
        videos = [headers for path, headers in recorder.seen if path.endswith(".mp4")]
        api = [headers for path, headers in recorder.seen if not path.endswith(".mp4")]
        assert videos and api
        assert all(f"Bearer {TOKEN}" == headers["authorization"] for headers in api)
        assert all("authorization" not in headers for headers in videos)
        assert all("cookie" not in headers for _, headers in recorder.seen)

    async def test_download_cap(self, url: str, tmp_path: Path, clock: FakeClock) -> None:
        """A video over max_download_bytes is refused while streaming, and no file is left."""
        async with _client(url, _clock=clock) as client:
            submission = await client.submit("capped")
            await client.wait(submission.request_id)
            result = await client.result(submission.request_id)
            with pytest.raises(DownloadError):
                await client.download(result, tmp_path / "big.mp4", max_bytes=100)
        assert [] == list(tmp_path.iterdir())

    async def test_retry_after_over_tcp(self, url: str, emulator: Emulator) -> None:
        """A 429 with Retry-After is retried on this transport like on httpx's."""
        async with _client(url) as client:
            submission = await client.submit("limited")
            emulator.faults = "status:429=1@first=1"
            assert (await client.status(submission.request_id)).state
        assert 2 == emulator.stats.requests["status"]

    async def test_a_dropped_submit_is_unknown_not_retried(
        self, url: str, emulator: Emulator
    ) -> None:
        """A server that hangs up after taking a submit: one job, SubmissionUnknownError."""
        emulator.faults = "submit:drop"
        async with _client(url) as client:
            with pytest.raises(SubmissionUnknownError):
                await client.submit("dropped")
        assert 1 == sum(emulator.stats.submissions.values())

    async def test_read_timeout(self, silent_server: str) -> None:
        """A server that never answers: APITimeoutError after the read timeout, retried."""
        async with _client(silent_server, timeout=0.2, max_retries=1) as client:
            with pytest.raises(APITimeoutError):
                await client.status("job-1")

    async def test_refused_connection(self) -> None:
        """Nobody listening: APIConnectionError, and a submit is known not to have been sent."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        async with _client(f"http://127.0.0.1:{port}", max_retries=0) as client:
            with pytest.raises(APIConnectionError) as caught:
                await client.status("job-1")
            assert isinstance(caught.value.__cause__, NOT_SENT_ERRORS)

    async def test_the_contract_checker_wraps_it(
        self, url: str, emulator: Emulator, tmp_path: Path, clock: FakeClock
    ) -> None:
        """AsyncContractTransport over this transport checks every exchange of a generate()."""
        from sora2.contract import AsyncContractTransport

        checked = AsyncContractTransport(
            AiohttpTransport(httpx.Limits()), mode="raise", log=tmp_path / "x.jsonl"
        )
        async with _client(url, transport=checked, _clock=clock) as client:
            await client.generate("checked", out=tmp_path / "c.mp4")
        assert [] == checked.violations
        lines = (tmp_path / "x.jsonl").read_text().splitlines()
        assert len(lines) >= emulator.stats.requests["submit"] + emulator.stats.requests["status"]

    def test_a_read_response_is_freed_without_the_garbage_collector(self, url: str) -> None:
        """A response read through this transport is in no reference cycle once closed, so it
        is freed when dropped instead of waiting for the garbage collector."""
        import gc
        import weakref

        async def fetch() -> weakref.ref[httpx.Response]:
            transport = AiohttpTransport(httpx.Limits())
            async with httpx.AsyncClient(transport=transport, base_url=url) as http:
                response = await http.get("/no-such-path")
                assert response.is_closed
                return weakref.ref(response)

        enabled = gc.isenabled()
        gc.disable()  # only refcounting may free it
        try:
            found = asyncio.run(fetch())
            assert found() is None
        finally:
            if enabled:
                gc.enable()

    def test_one_client_on_two_event_loops(self, url: str) -> None:
        """A client used from two asyncio.run calls makes a session on each loop."""
        client = _client(url)

        async def poll() -> str:
            return (await client.submit("twice")).request_id

        assert asyncio.run(poll()) != asyncio.run(poll())
        asyncio.run(client.close())


@pytest.fixture
def counting_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP server on 127.0.0.1: its port, and the connections it accepted."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        listener.close()


class TestGuardedDownloads:
    @pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
    async def test_a_refused_address_never_connects(
        self, counting_server: tuple[int, list[socket.socket]], host: str
    ) -> None:
        """A host written as an address, or a name resolving to one, that the check refuses
        raises DownloadError naming it, and no connection is made."""
        port, accepted = counting_server
        seen: list[tuple[str, int]] = []

        def refuse(name: str, at: int, address: Any) -> bool:
            seen.append((name, at))
            return False

        transport = guarded_download_transport(refuse, httpx.Limits())
        async with httpx.AsyncClient(transport=transport) as files:
            with pytest.raises(DownloadError, match="not a public address"):
                await files.get(f"http://{host}:{port}/v.mp4")
        assert (host, port) == seen[0]
        assert [] == accepted

    def test_without_aiohttp_downloads_use_httpcores_guarded_pool(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without httpx-aiohttp installed, downloads keep the guarded httpx transport."""
        monkeypatch.setattr(_aiohttp, "is_available", lambda: False)
        transport = guarded_download_transport(lambda *_: True, httpx.Limits())
        assert isinstance(transport, AsyncGuardedTransport)


class TestExceptions:
    @pytest.mark.parametrize(
        ("raised", "expected"),
        [
            (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
            (aiohttp.ClientPayloadError("cut"), httpx.ReadError),
            (aiohttp.ClientOSError(104, "reset"), httpx.ReadError),
            (aiohttp.SocketTimeoutError("read"), httpx.ReadTimeout),
            (aiohttp.ConnectionTimeoutError("connect"), httpx.ConnectTimeout),
            (
                aiohttp.ClientConnectorError(
                    SimpleNamespace(host="127.0.0.1", port=9, ssl=None),  # type: ignore[arg-type]
                    OSError(111, "refused"),
                ),
                httpx.ConnectError,
            ),
        ],
    )
    async def test_mapping(self, raised: Exception, expected: type[Exception]) -> None:
        """Only a failed connect means "not sent"; a hang-up or a reset may follow a send."""
        transport = AiohttpTransport(httpx.Limits())
        inner = transport._transport()
        inner.client = lambda: _Failing(raised)  # type: ignore[attr-defined]
        request = httpx.Request("POST", "http://127.0.0.1:9/v1/x")
        with pytest.raises(expected) as caught:
            await transport.handle_async_request(request)
        assert request is caught.value.request
        sent_maybe = not isinstance(raised, aiohttp.ClientConnectorError | TimeoutError) or (
            isinstance(raised, aiohttp.SocketTimeoutError)
        )
        assert sent_maybe == (not isinstance(caught.value, NOT_SENT_ERRORS))


class _Failing:
    """Stands for an aiohttp session whose every request fails with one aiohttp error."""

    def __init__(self, error: Exception) -> None:
        self._error = error

    def request(self, *args: Any, **kwargs: Any) -> Any:
        raise self._error
