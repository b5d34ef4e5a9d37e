"""The clients over real HTTP: the emulator served by uvicorn on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sora2 import AsyncClient, Client, InternalServerError, SubmissionUnknownError
from sora2.emulator import Emulator, serve

from .helpers import TOKEN, Api, FakeClock

pytestmark = pytest.mark.anyio


@pytest.fixture
def url(emulator: Emulator) -> Iterator[str]:
    with serve(emulator) as base_url:
        yield base_url


@pytest.fixture(params=["sync", "async"])
async def http_api(
    request: pytest.FixtureRequest, url: str, clock: FakeClock, journal_path: Path
) -> AsyncIterator[Api]:
    """A client of each flavour that talks to the served emulator through real sockets."""
    options = {"api_key": TOKEN, "base_url": url, "journal": journal_path, "_clock": clock}
    if request.param == "sync":
        with Client(**options) as client:  # type: ignore[arg-type]
            yield Api(client)
    else:
        async with AsyncClient(**options) as aclient:  # type: ignore[arg-type]
            yield Api(aclient)


async def test_generate(http_api: Api, emulator: Emulator, tmp_path: Path) -> None:
    """Submit, wait and download over TCP, with the video fetched without the token."""
    (path,) = await http_api.generate("over the wire", out=tmp_path / "wire.mp4")
    assert path.read_bytes()[4:8] == b"ftyp"
    assert emulator.stats.requests["video"] == 1
    assert sum(emulator.stats.submissions.values()) == 1


async def test_dropped_submit_is_not_retried(http_api: Api, emulator: Emulator) -> None:
    """A connection the server aborts after taking the job: unknown outcome, one job, no retry."""
    emulator.faults = "submit:drop"
    with pytest.raises(SubmissionUnknownError):
        await http_api.submit("dropped")
    assert emulator.stats.requests["submit"] == 1
    assert sum(emulator.stats.submissions.values()) == 1


async def test_bad_gateway_is_retried(http_api: Api, emulator: Emulator) -> None:
    """An HTML 502 page on status is retried; persistent ones end as InternalServerError."""
    submission = await http_api.submit("x")
    emulator.faults = "status:502@first=1"
    assert (await http_api.status(submission.request_id)).state == "in_queue"
    emulator.faults = "status:502"
    with pytest.raises(InternalServerError) as caught:
        await http_api.status(submission.request_id)
    assert caught.value.status_code == 502
