"""The values the clients return, and a completed job's output files read from the spec.

The values are thin, frozen views over the generated attrs models; each keeps the generated
model as ``raw`` so fields the service adds later stay reachable
(``status.raw.additional_properties``) without this layer having to know them.

The spec's ``Output`` object lists the output fields in order, each a URL or a list of URLs,
and says what each points at with ``x-output-kind`` (``image``, ``video``); a documented field
without it gets the kind its name or description names (rule 1 below). A field the spec does
not know yet still yields files when its value is an absolute http(s) URL or a list of
them, so a new output works before the spec is updated. Its kind is guessed, in this order:

1. a kind the spec uses appears as a word of the field's name (``thumbnail_image`` -> image,
   ``clips_videos`` -> video; a trailing ``s`` is dropped);
2. the media type of the URL's file extension (``.png`` -> ``image/png`` -> image), when that
   is a kind the spec uses;
3. otherwise ``"file"``.
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from sora2_api.models import RequestResult, RequestStatus, SubmitResponse

__all__ = [
    "CANCELLED",
    "COMPLETED",
    "FAILED",
    "FILE_KIND",
    "GONE",
    "IN_PROGRESS",
    "IN_QUEUE",
    "NOT_GIVEN",
    "OUTPUT_KIND_KEY",
    "JobRef",
    "JobResult",
    "JobStatus",
    "NotGiven",
    "OutputFile",
    "Submission",
    "allowed_content_types",
    "has_ended",
    "is_cancelled_state",
    "is_completed_state",
    "is_failed_state",
    "is_file_url",
    "is_terminal_state",
    "kind_of",
    "known_states",
    "outcome_of",
    "output_fields",
    "output_files",
    "output_kinds",
    "required_kind",
    "state_outcomes",
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
    """A job in ``state`` will not change any more: a final state of the spec, or :data:`GONE`."""
    return state == GONE or is_terminal_state(state)


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


# A result's output files ---------------------------------------------------------------------

FILE_KIND: Final = "file"
"""The kind of an output file whose kind neither the spec nor its name or URL tells."""
OUTPUT_KIND_KEY: Final = "x-output-kind"
_WORDS = re.compile(r"[a-z0-9]+")


@functools.cache
def _documented() -> tuple[tuple[str, str | None, str], ...]:
    """``(field, x-output-kind or None, description)`` of each documented output field."""
    from ._spec import resolve, spec_document

    result = resolve(spec_document()["components"]["schemas"]["RequestResult"])
    schema = resolve(result.get("properties", {}).get("output", {}))
    found: list[tuple[str, str | None, str]] = []
    for name, prop in (schema.get("properties") or {}).items():
        prop = resolve(prop) if isinstance(prop, dict) else {}
        items = resolve(prop.get("items", {}))
        kind = prop.get(OUTPUT_KIND_KEY) or (
            items.get(OUTPUT_KIND_KEY) if isinstance(items, dict) else None
        )
        found.append((str(name), str(kind) if kind else None, str(prop.get("description", ""))))
    return tuple(found)


@functools.cache
def output_kinds() -> frozenset[str]:
    """The kinds the spec's output fields declare with ``x-output-kind`` (image, video...)."""
    return frozenset(kind for _, kind, _ in _documented() if kind)


@functools.cache
def output_fields() -> tuple[tuple[str, str], ...]:
    """``(field, kind)`` of every documented output field, in spec order.

    A documented field without ``x-output-kind`` gets the kind its name, else its description,
    names (as for an undocumented field), else ``"file"``.
    """
    fields: list[tuple[str, str]] = []
    for name, kind, description in _documented():
        if kind is None:
            kind = _kind_in_words(name) or _kind_in_words(description) or FILE_KIND
        fields.append((name, kind))
    return tuple(fields)


def _kind_in_words(text: str) -> str | None:
    """The first kind the spec uses that is a word of ``text`` (singular or plural)."""
    kinds = output_kinds()
    for word in _WORDS.findall(text.lower()):
        for candidate in (word, word[:-1] if word.endswith("s") else word):
            if candidate in kinds:
                return str(candidate)
    return None


_SPACE = re.compile(r"\s")
r"""Any whitespace: ``\s`` on a str is ``str.isspace``, in C rather than a loop per character."""


def is_file_url(value: object) -> bool:
    """True for an absolute http(s) URL with a host: what an output file's address looks like."""
    if not isinstance(value, str) or not value or _SPACE.search(value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def kind_of(field: str, url: str) -> str:
    """The kind of a file from a field the spec does not document (see the module docstring)."""
    import mimetypes
    from pathlib import PurePosixPath

    named = _kind_in_words(field)
    if named is not None:
        return named
    guessed, _ = mimetypes.guess_type(PurePosixPath(urlsplit(url).path).name)
    major = (guessed or "").split("/", 1)[0]
    return major if major in output_kinds() else FILE_KIND


def _urls(value: Any) -> Iterator[str]:
    """The URLs of a field's value: a URL, or a list of them (anything else: none)."""
    if isinstance(value, str):
        if is_file_url(value):
            yield value
    elif isinstance(value, list) and value and all(is_file_url(item) for item in value):
        yield from value


def output_files(outputs: Mapping[str, Any]) -> tuple[OutputFile, ...]:
    """Every file of an ``output`` object: documented fields first, in spec order, then any
    other URL-valued field in the order received. A URL seen before is not repeated."""
    documented = dict(output_fields())
    order = [name for name in documented if name in outputs]
    order += [name for name in outputs if name not in documented]
    seen: set[str] = set()
    files: list[OutputFile] = []
    for name in order:
        for url in _urls(outputs[name]):
            if url in seen:
                continue
            seen.add(url)
            kind = documented.get(name) or kind_of(name, url)
            files.append(OutputFile(url=url, kind=kind, field=name))
    return tuple(files)


def allowed_content_types(kind: str | None) -> tuple[str, ...]:
    """The media types a file of ``kind`` may arrive as: its own (``image/*``...) or bytes.

    None (a bare URL of unknown kind) keeps the historical rule: a video or bytes. A ``file``
    of unknown kind may be anything.
    """
    if kind == FILE_KIND:
        return ("",)
    return ("video/" if kind is None else f"{kind}/", "application/octet-stream")


def required_kind(item: OutputFile) -> str | None:
    """The kind a file must be: a bare URL of unknown kind keeps the old rule (a video or
    bytes), not "anything"."""
    return None if not item.field and item.kind == FILE_KIND else item.kind
