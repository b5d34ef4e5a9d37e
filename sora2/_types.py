"""The typed values the clients return: thin, frozen views over the generated attrs models.

Each keeps the generated model as ``raw`` so fields the service adds later stay reachable
(``status.raw.additional_properties``) without this layer having to know them.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from sora2_api.models import RequestResult, RequestStatus, SubmitResponse

__all__ = [
    "NOT_GIVEN",
    "TERMINAL_STATES",
    "JobResult",
    "JobStatus",
    "NotGiven",
    "Submission",
    "known_states",
]

TERMINAL_STATES: Final = frozenset({"completed", "cancelled"})
"""States a job never leaves. Any other state, known or not, means "not finished yet"."""


class NotGiven:
    """The type of ``NOT_GIVEN``: "the caller did not pass this", as distinct from ``None``."""

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __reduce__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()


def known_states() -> frozenset[str]:
    """The states the spec lists, read from the generated ``KnownRequestState``."""
    from sora2_api.models.known_request_state import KNOWN_REQUEST_STATE_VALUES

    return frozenset(KNOWN_REQUEST_STATE_VALUES)


@dataclass(frozen=True)
class Submission:
    """An accepted job: its id and the URLs the service gave to follow it."""

    request_id: str
    status_url: str
    result_url: str
    cancel_url: str
    raw: SubmitResponse = field(repr=False, compare=False)


@dataclass(frozen=True)
class JobStatus:
    """A job's state at one moment. ``state`` is a plain string: the service may add states."""

    request_id: str
    state: str
    queue_position: int | None
    raw: RequestStatus = field(repr=False, compare=False)
    retry_after: float | None = field(default=None, repr=False, compare=False)
    """The service's Retry-After hint on this answer, if it sent one (seconds)."""

    @property
    def is_terminal(self) -> bool:
        """True for ``completed`` and ``cancelled``; an unknown state is not terminal."""
        return self.state in TERMINAL_STATES

    @property
    def is_known(self) -> bool:
        """False for a state the spec does not list yet (treated as "not finished")."""
        return self.state in known_states()


@dataclass(frozen=True)
class JobResult:
    """A job's outputs once ``completed``; before that, its state and no video."""

    request_id: str
    state: str
    video_url: str | None
    outputs: dict[str, Any]
    created_at: datetime.datetime | None
    finished_at: datetime.datetime | None
    raw: RequestResult | RequestStatus = field(repr=False, compare=False)

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def is_completed(self) -> bool:
        return self.state == "completed"
