"""Fixtures of the emulator tests: a fake clock, an emulator on it, and an in-process client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sora2.emulator import Emulator, SyncASGITransport, create_app

from .helpers import AUTH, BASE_URL, TOKEN, FakeClock


@pytest.fixture
def emulator(clock: FakeClock) -> Emulator:
    return create_app(token=TOKEN, clock=clock)


@pytest.fixture
def client(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(
        transport=SyncASGITransport(emulator), base_url=BASE_URL, headers=AUTH
    ) as http:
        yield http
