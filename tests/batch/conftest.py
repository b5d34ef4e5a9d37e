"""Fixtures of the batch tests: an isolated environment, fake time, an in-process emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import stamina

from sora2 import AsyncClient, Client
from sora2.emulator import Emulator, SyncASGITransport, create_app

from .helpers import BASE_URL, TOKEN, FakeClock

_ENV_VARS = ("RUNCOMFY_API_TOKEN", "YOUR_API_TOKEN", "RUNCOMFY_BASE_URL", "SORA2_TRUSTED_HOSTS")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No ambient token, a journal of the test's own, a working directory; retries never sleep."""
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SORA2_JOURNAL", str(tmp_path / "journal.sqlite3"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    with stamina.set_testing(True, attempts=100, cap=True):
        yield work


class YieldingClock(FakeClock):
    """Fake time whose async sleep also lets the other tasks run, as a real sleep does: a
    batch's workers then interleave instead of each waiting its job out in one go."""

    async def asleep(self, seconds: float) -> None:
        import anyio

        self.sleep(seconds)
        await anyio.lowlevel.checkpoint()


@pytest.fixture
def clock() -> FakeClock:
    return YieldingClock()


@pytest.fixture
def emulator(clock: FakeClock) -> Emulator:
    """An emulator that accepts only ``TOKEN``, on the fake clock."""
    return create_app(token=TOKEN, clock=clock.monotonic)


@pytest.fixture
async def aclient(
    emulator: Emulator, clock: FakeClock, tmp_path: Path
) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(
        api_key=TOKEN,
        base_url=BASE_URL,
        transport=httpx.ASGITransport(app=emulator),
        journal=tmp_path / "journal.sqlite3",
        _clock=clock,
    ) as client:
        yield client


@pytest.fixture
def client(emulator: Emulator, clock: FakeClock, tmp_path: Path) -> Iterator[Client]:
    with Client(
        api_key=TOKEN,
        base_url=BASE_URL,
        transport=SyncASGITransport(emulator),
        journal=tmp_path / "journal.sqlite3",
        _clock=clock,
    ) as made:
        yield made
