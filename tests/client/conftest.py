"""Fixtures of the client tests: a fake clock, an in-process emulator, and one ``make_api``
factory that runs each parity test against both ``Client`` and ``AsyncClient``.

Nothing here sleeps for real: the emulator's lifecycle and the clients' waits share one
``FakeClock``, and stamina's test mode switches retry backoff off.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import stamina

from sora2 import Client
from sora2.emulator import Emulator, create_app

from .helpers import TOKEN, Api, Factory, FakeClock


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test reads the developer's token or writes the real journal; retries never sleep."""
    for name in (
        "RUNCOMFY_API_TOKEN",
        "RUNCOMFY_TOKEN",
        "YOUR_API_TOKEN",
        "RUNCOMFY_BASE_URL",
        "SORA2_TRUSTED_HOSTS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SORA2_JOURNAL", str(tmp_path / "env-journal.sqlite3"))
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


@pytest.fixture
def emulator(clock: FakeClock) -> Emulator:
    """An emulator that accepts only ``TOKEN`` and runs on the fake clock."""
    return create_app(token=TOKEN, clock=clock.monotonic)


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite3"


@pytest.fixture(params=["sync", "async"])
async def make_api(
    request: pytest.FixtureRequest, clock: FakeClock, journal_path: Path
) -> AsyncIterator[Factory]:
    """A client factory, once per flavour: every parity test runs against both clients."""
    factory = Factory(request.param, clock, journal_path)
    yield factory
    for client in factory.made:
        if isinstance(client, Client):
            client.close()
        else:
            await client.close()


@pytest.fixture
def api(make_api: Factory, emulator: Emulator) -> Api:
    """A client of each flavour talking to the in-process emulator."""
    return make_api(emulator)
