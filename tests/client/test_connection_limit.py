"""connection_limit: requests in flight are bounded, and every pooled connection is kept alive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from sora2 import APITimeoutError, AsyncClient, Client, ConfigurationError
from sora2._aiohttp import AiohttpTransport
from sora2._options import DEFAULT_CONNECTION_LIMIT

from .helpers import BASE_URL, TOKEN, json_response, status_body

pytestmark = pytest.mark.anyio

_CHECKPOINTS = 5
"""Times each request yields to the event loop inside the transport, so others can pile up."""


class _CountingTransport(httpx.AsyncBaseTransport):
    """Answers every status call, counting how many requests are inside it at once."""

    def __init__(self, hold: anyio.Event | None = None) -> None:
        self.hold = hold
        self.in_flight = 0
        self.peak = 0
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.requests += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if self.hold is not None:
                await self.hold.wait()
            for _ in range(_CHECKPOINTS):
                await anyio.lowlevel.checkpoint()
            if request.url.path.endswith(".mp4"):
                return httpx.Response(200, content=b"video", headers={"content-type": "video/mp4"})
            return json_response(200, status_body("in_progress"))
        finally:
            self.in_flight -= 1


def _client(transport: httpx.AsyncBaseTransport, **options: Any) -> AsyncClient:
    return AsyncClient(
        api_key=TOKEN, base_url=BASE_URL, journal=False, transport=transport, **options
    )


async def _statuses(client: AsyncClient, count: int) -> list[str]:
    states: list[str] = []

    async def one() -> None:
        states.append((await client.status("req-1")).state)

    async with anyio.create_task_group() as tasks:
        for _ in range(count):
            tasks.start_soon(one)
    return states


class TestInFlight:
    @pytest.mark.parametrize("limit", [1, 3])
    async def test_never_more_than_the_limit(self, limit: int) -> None:
        """Twenty concurrent calls reach the transport at most ``limit`` at a time, and all
        complete."""
        transport = _CountingTransport()
        async with _client(transport, connection_limit=limit) as client:
            states = await _statuses(client, 20)
        assert ["in_progress"] * 20 == states
        assert limit == transport.peak
        assert 20 == transport.requests

    async def test_downloads_are_bounded_too(self, tmp_path: Path) -> None:
        """Concurrent downloads reach the transport at most ``connection_limit`` at a time."""
        transport = _CountingTransport()
        client = _client(transport, connection_limit=2)
        async with client, anyio.create_task_group() as tasks:
            for index in range(8):
                tasks.start_soon(client.download, f"{BASE_URL}/v.mp4", tmp_path / f"{index}.mp4")
        assert 8 == len(list(tmp_path.glob("*.mp4")))
        assert 2 == transport.peak

    async def test_the_counter_sees_concurrency(self) -> None:
        """With a limit above the load, every call is in flight at once: the count is real."""
        transport = _CountingTransport()
        async with _client(transport, connection_limit=50) as client:
            await _statuses(client, 20)
        assert 20 == transport.peak

    async def test_waiting_for_a_turn_honours_the_pool_timeout(self) -> None:
        """A call that cannot get a turn within the timeout's pool part fails as a timeout,
        like httpx's own pool, and the call holding the turn is unaffected."""
        release = anyio.Event()
        transport = _CountingTransport(hold=release)
        timeout = httpx.Timeout(5.0, pool=0.01)
        client = _client(transport, connection_limit=1, timeout=timeout, max_retries=0)
        # fail_after only keeps a broken limit from hanging the run; nothing is timed.
        with anyio.fail_after(10):
            async with client, anyio.create_task_group() as tasks:
                tasks.start_soon(client.status, "req-1")
                await anyio.wait_all_tasks_blocked()
                with pytest.raises(APITimeoutError, match="no free connection"):
                    await client.status("req-1")
                release.set()
        assert 1 == transport.requests

    async def test_a_copy_keeps_the_limit(self) -> None:
        """with_options carries connection_limit over, and can change it."""
        async with _client(_CountingTransport(), connection_limit=7) as client:
            assert 7 == client.with_options(max_retries=0).connection_limit
            assert 9 == client.with_options(connection_limit=9).connection_limit


class TestPool:
    @pytest.mark.parametrize("flavour", [Client, AsyncClient])
    @pytest.mark.parametrize("limit", [None, 5])
    async def test_every_connection_is_kept_alive(
        self, flavour: type[Client] | type[AsyncClient], limit: int | None
    ) -> None:
        """The client's own httpx pool allows ``limit`` connections (by default
        DEFAULT_CONNECTION_LIMIT) and keeps them all alive; httpx alone keeps 20 of 100."""
        options: dict[str, Any] = {} if limit is None else {"connection_limit": limit}
        client = flavour(api_key=TOKEN, base_url=BASE_URL, journal=False, **options)
        transport: Any = client._http._transport  # type: ignore[union-attr]
        expected = DEFAULT_CONNECTION_LIMIT if limit is None else limit
        if isinstance(transport, AiohttpTransport):  # aiohttp keeps every connection alive
            assert expected == transport.limits.max_connections
        else:
            pool = transport._pool
            assert (expected, expected) == (pool._max_connections, pool._max_keepalive_connections)
        if isinstance(client, Client):
            client.close()
        else:
            await client.close()

    @pytest.mark.parametrize("flavour", [Client, AsyncClient])
    @pytest.mark.parametrize("bad", [0, -1, 2.5, True, "10"])
    def test_nonsense_is_refused(self, flavour: type[Client] | type[AsyncClient], bad: Any) -> None:
        """A limit that is not a whole number of at least one is a configuration error."""
        with pytest.raises(ConfigurationError, match="connection_limit"):
            flavour(api_key=TOKEN, base_url=BASE_URL, journal=False, connection_limit=bad)
