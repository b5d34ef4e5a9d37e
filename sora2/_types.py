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
    """The job's id: what every other call, the journal and ``sora2 resume`` take."""
    status_url: str
    """Where the job's state is polled."""
    result_url: str
    """Where the job's outputs are fetched once completed."""
    cancel_url: str
    """Where a queued job is cancelled."""
    raw: SubmitResponse = field(repr=False, compare=False)
    """The generated model of the answer, with any field this version does not know."""


@dataclass(frozen=True)
class JobStatus:
    """A job's state at one moment. ``state`` is a plain string: the service may add states."""

    request_id: str
    """The job's id."""
    state: str
    """``in_queue``, ``in_progress``, ``completed``, ``cancelled``, or a state added later."""
    queue_position: int | None
    """Jobs ahead of this one while queued (0: next); None otherwise."""
    raw: RequestStatus = field(repr=False, compare=False)
    """The generated model of the answer, with any field this version does not know."""
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
    """The job's id."""
    state: str
    """The job's state when the result was fetched."""
    video_url: str | None
    """The video's URL once completed; None before (or if the service gave none)."""
    outputs: dict[str, Any]
    """The raw output mapping, every field the service sent."""
    created_at: datetime.datetime | None
    """When the service created the job, if it said."""
    finished_at: datetime.datetime | None
    """When the job finished, if the service said."""
    raw: RequestResult | RequestStatus = field(repr=False, compare=False)
    """The generated model of the answer, with any field this version does not know."""

    @property
    def is_terminal(self) -> bool:
        """True for ``completed`` and ``cancelled``."""
        return self.state in TERMINAL_STATES

    @property
    def is_completed(self) -> bool:
        """True once the job completed (its outputs are there)."""
        return self.state == "completed"
