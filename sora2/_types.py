"""The typed values the clients return: thin, frozen views over the generated attrs models.

Each keeps the generated model as ``raw`` so fields the service adds later stay reachable
(``status.raw.additional_properties``) without this layer having to know them.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from sora2_api.models import RequestResult, RequestStatus, SubmitResponse

__all__ = [
    "CANCELLED",
    "COMPLETED",
    "FAILED",
    "GONE",
    "IN_PROGRESS",
    "IN_QUEUE",
    "NOT_GIVEN",
    "TERMINAL_STATES",
    "JobRef",
    "JobResult",
    "JobStatus",
    "NotGiven",
    "OutputFile",
    "Submission",
    "has_ended",
    "is_cancelled_state",
    "is_completed_state",
    "is_failed_state",
    "is_terminal_state",
    "known_states",
    "outcome_of",
    "state_outcomes",
    "terminal_states",
]

# The job states code must name: each is one of the spec's KnownRequestState values (a test
# checks them against the generated KNOWN_REQUEST_STATE_VALUES and ``x-terminal-states``).
IN_QUEUE: Final = "in_queue"
"""A job accepted and waiting for a worker: the only state in which it can be cancelled."""
IN_PROGRESS: Final = "in_progress"
"""A job being rendered: its processing time starts here."""
COMPLETED: Final = "completed"
"""The outcome of a job whose outputs can be fetched (states such as ``succeeded`` share it)."""
CANCELLED: Final = "cancelled"
"""The outcome of a job cancelled on request (``canceled`` shares it)."""
FAILED: Final = "failed"
"""The outcome of a job that ended without output, through no request of the caller."""
GONE: Final = "gone"
"""Not a service state but the journal's (and a batch row's): the service answered 404001
(unknown or expired) for the id. Terminal: nothing more can be fetched, so ``resume`` leaves it
alone."""
_OUTCOMES_KEY: Final = "x-terminal-states"


@functools.cache
def state_outcomes() -> dict[str, str]:
    """``{state: outcome}`` for every final state, from the spec's ``x-terminal-states``.

    The outcomes are :data:`COMPLETED`, :data:`CANCELLED` and :data:`FAILED`; which states
    lead to each is the spec's decision, so a state the service adds is one spec edit away.
    """
    from ._spec import spec_document

    schema = spec_document()["components"]["schemas"]["KnownRequestState"]
    found: dict[str, str] = {}
    for outcome, states in (schema.get(_OUTCOMES_KEY) or {}).items():
        for state in states:
            found[str(state)] = str(outcome)
    return found


def terminal_states() -> frozenset[str]:
    """States a job never leaves. Any other state, known or not, means "not finished yet"."""
    return frozenset(state_outcomes())


def outcome_of(state: str) -> str | None:
    """What a final ``state`` means (completed, cancelled, failed); None while not finished."""
    return state_outcomes().get(state)


def is_terminal_state(state: str) -> bool:
    return state in state_outcomes()


def is_completed_state(state: str) -> bool:
    return outcome_of(state) == COMPLETED


def is_cancelled_state(state: str) -> bool:
    return outcome_of(state) == CANCELLED


def is_failed_state(state: str) -> bool:
    return outcome_of(state) == FAILED


def has_ended(state: str) -> bool:
    """A job in ``state`` will not change any more: a final state of the spec (however spelt,
    so an outcome such as a batch row's ``completed`` too), or :data:`GONE`."""
    return state == GONE or is_terminal_state(state)


TERMINAL_STATES: frozenset[str]
"""States a job never leaves (the spec's ``x-terminal-states``), read on first access."""


def __getattr__(name: str) -> Any:
    # TERMINAL_STATES stays importable, computed from the spec on first use (cheap imports).
    if name == "TERMINAL_STATES":
        return terminal_states()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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


class _Outcome:
    """What a job's ``state`` means, read from the spec's ``x-terminal-states``."""

    state: str

    @property
    def is_terminal(self) -> bool:
        """True in a final state of the spec (completed, cancelled or failed, however spelt);
        an unknown state is not final."""
        return is_terminal_state(self.state)

    @property
    def is_completed(self) -> bool:
        """``completed`` or a state the spec says means the same (``succeeded``): the outputs
        are there."""
        return is_completed_state(self.state)

    @property
    def is_cancelled(self) -> bool:
        """True once the job was cancelled."""
        return is_cancelled_state(self.state)

    @property
    def is_failed(self) -> bool:
        """True once the job failed; ``error`` may say why."""
        return is_failed_state(self.state)


@dataclass(frozen=True)
class JobStatus(_Outcome):
    """A job's state at one moment. ``state`` is a plain string: the service may add states."""

    request_id: str
    """The job's id."""
    state: str
    """One of the spec's states (``KnownRequestState``), or a state the service added later."""
    queue_position: int | None
    """Jobs ahead of this one while queued (0: next); None otherwise."""
    raw: RequestStatus = field(repr=False, compare=False)
    """The generated model of the answer, with any field this version does not know."""
    retry_after: float | None = field(default=None, repr=False, compare=False)
    """The service's Retry-After hint on this answer, if it sent one (seconds)."""
    error: Mapping[str, Any] | None = field(default=None, compare=False)
    """The service's account of a failed job (the answer's ``error`` object), if it gave one."""

    @property
    def is_known(self) -> bool:
        """False for a state the spec does not list yet (treated as "not finished")."""
        return self.state in known_states()


@dataclass(frozen=True)
class OutputFile:
    """One file a completed job produced.

    Attributes:
        url: where to download it (no token needed).
        kind: ``"image"`` or ``"video"`` (the spec's ``x-output-kind`` of its field, or a guess
            for a field the spec does not know yet), ``"file"`` when unknown.
        field: the output property it came from (``video``, ``images``, ...).
    """

    url: str
    kind: str
    field: str


@dataclass(frozen=True)
class JobResult(_Outcome):
    """A job's outputs once ``completed``; before that, its state and no files."""

    request_id: str
    """The job's id."""
    state: str
    """The job's state when the result was fetched."""
    video_url: str | None
    """The first video among ``files``, or None (kept for callers that want one video)."""
    outputs: dict[str, Any]
    """The raw ``output`` object, every field as the service sent it."""
    created_at: datetime.datetime | None
    """When the service created the job, if it said."""
    finished_at: datetime.datetime | None
    """When the job finished, if the service said."""
    raw: RequestResult | RequestStatus = field(repr=False, compare=False)
    """The generated model of the answer, with any field this version does not know."""
    files: tuple[OutputFile, ...] = ()
    """Every output file: the spec's output fields in spec order, then any other field whose
    value is an absolute http(s) URL or a list of them; identical URLs appear once."""
    error: Mapping[str, Any] | None = field(default=None, compare=False)
    """The service's account of a failed job, if it gave one."""


JobRef = str | Submission | JobStatus | JobResult
"""What names a job wherever an id is taken: the id itself, or any value a call returned for it
(``client.wait(client.submit(...))``)."""
