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


@pytest.fixture(autouse=True)
def _isolated(isolated: Path) -> Iterator[None]:
    """Every test here runs isolated (tests/conftest.py), and retries never sleep."""
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


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
