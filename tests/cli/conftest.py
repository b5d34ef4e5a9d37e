"""Fixtures of the CLI tests: an isolated environment, fake time, and a real emulator server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sora2 import Client, JobStatus
from sora2._cli import _common
from sora2._cli._common import Settings
from sora2.emulator import SyncASGITransport, create_app, serve

from .helpers import BASE_URL, TOKEN, FakeClock


@pytest.fixture(autouse=True)
def _isolated(isolated: Path) -> None:
    """Every test here runs isolated (tests/conftest.py)."""


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_time(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Commands get real clients and real emulators that share one fake clock, so waiting
    takes no real time. ``--emulator`` still gets a fresh in-process emulator per command."""

    def make_client(settings: Settings) -> Client:
        if settings.emulator:
            app = create_app(clock=clock.monotonic)
            return Client(
                api_key="emulator",
                base_url=BASE_URL,
                transport=SyncASGITransport(app),
                journal=settings.journal_option,
                _clock=clock,
            )
        return Client(base_url=settings.base_url, journal=settings.journal_option, _clock=clock)

    monkeypatch.setattr(_common, "make_client", make_client)
    return clock


@pytest.fixture
def server(fake_time: FakeClock) -> Iterator[str]:
    """A real emulator over HTTP on 127.0.0.1, on the tests' fake clock; only TOKEN gets in."""
    with serve(create_app(clock=fake_time.monotonic, token=TOKEN)) as url:
        yield url


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", TOKEN)
    return TOKEN


@pytest.fixture
def interrupt_when(monkeypatch: pytest.MonkeyPatch) -> Callable[[str | None], None]:
    """Simulate Ctrl-C: a KeyboardInterrupt raised from the progress hook once a state is seen;
    a job is seen ``in_queue`` from its submission on (its id shown), as the display records it.

    Call it with a state to arm it, with None to disarm it.
    """
    from sora2._cli._generate import Progress

    armed: list[str | None] = [None]
    original_update, original_start = Progress.update, Progress.start

    def update(self: Progress, status: JobStatus) -> None:
        original_update(self, status)
        if armed[0] is not None and status.state == armed[0]:
            raise KeyboardInterrupt

    def start(self: Progress) -> None:
        original_start(self)
        if armed[0] is not None and self.state == armed[0]:
            raise KeyboardInterrupt

    monkeypatch.setattr(Progress, "update", update)
    monkeypatch.setattr(Progress, "start", start)

    def arm(state: str | None) -> None:
        armed[0] = state

    return arm
