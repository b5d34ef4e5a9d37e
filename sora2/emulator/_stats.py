"""What the emulator received, counted, so a test can prove a client did not submit twice."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

__all__ = ["EmulatorStats"]


class EmulatorStats:
    """Counters of one emulator, safe to update from several threads.

    Attributes:
        requests: HTTP requests per target: an operationId, ``video``, ``spec`` or ``other``
            (counted on arrival, before any injected fault).
        submissions: accepted submissions (jobs created) per prompt.
        inputs: accepted submissions per input property the client sent (a property left
            out, which the service fills with its default, is not counted).
        faults: injected faults per kind (``429``, ``drop``, ``slow``, ...).
        statuses: responses sent per HTTP status code.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.submissions: Counter[str] = Counter()
        self.inputs: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()

    def count_request(self, target: str) -> None:
        with self._lock:
            self.requests[target] += 1

    def count_submission(self, prompt: str, inputs: Iterable[str] = ()) -> None:
        with self._lock:
            self.submissions[prompt] += 1
            self.inputs.update(inputs)

    def count_fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def count_status(self, status: int) -> None:
        with self._lock:
            self.statuses[status] += 1

    def reset(self) -> None:
        with self._lock:
            for counter in (
                self.requests,
                self.submissions,
                self.inputs,
                self.faults,
                self.statuses,
            ):
                counter.clear()

    def snapshot(self) -> dict[str, dict[Any, int]]:
        """A consistent copy of every counter, as plain dicts (JSON-friendly but for int keys)."""
        with self._lock:
            return {
                "requests": dict(self.requests),
                "submissions": dict(self.submissions),
                "inputs": dict(self.inputs),
                "faults": dict(self.faults),
                "statuses": dict(self.statuses),
            }

    def __repr__(self) -> str:
        return f"EmulatorStats({self.snapshot()!r})"
