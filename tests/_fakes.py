"""Test doubles shared by every test folder (importable as ``_fakes``: tests/ is on sys.path)."""

from __future__ import annotations


class FakeClock:
    """Time that moves only when someone sleeps (a client) or a test advances it.

    It is the client's clock seam (``monotonic``, ``time``, ``sleep``, ``asleep``) and, being
    callable, the emulator's ``clock=`` too, so one fake drives both sides of an exchange.
    """

    def __init__(self, start: float = 1000.0, wall: float = 1_800_000_000.0) -> None:
        self.now = start
        self._wall_offset = wall - start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now + self._wall_offset

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
