"""The four calls as data: each builds its request and reads its answer, with no I/O.

An operation (:class:`Submit`, :class:`Status`, :class:`Result`) is a small frozen object. Its
``request()`` is the keyword arguments of ``httpx.Client.request``, made by the generated
builder; its ``interpret(response, shared, now)`` turns the answer into an :class:`Outcome`: a
value or a typed error, plus the journal changes that answer implies (``sora2._journal_glue``),
as data. ``shared`` is only read, to leave out what the journal already holds. The clients run
an operation in one method each (``Client._call``, ``AsyncClient._call``) and apply the changes
(the sans-I/O split of h11: the protocol decides, the driver does the I/O).

Each request is built by the generated client's (``sora2_api``) own module for that operation:
one module per operation, under its tag. Which module is a model's is read from the spec (the
operation's tag and operationId, named as openapi-python-client names modules), so a model
added to the spec is sent through its own generated module after regeneration, with no edit
here.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import attrs
import httpx

from ._exceptions import APIError, NotFoundError, Sora2Error, SubmissionUnknownError, is_gone
from ._journal_glue import Change, Gone, Observed, OutputSeen, Submitted
from ._responses import (
    interpret_result,
    interpret_status,
    interpret_submit,
    json_body,
    submitted_id,
)
from ._types import JobResult, JobStatus, Submission

if TYPE_CHECKING:
    from ._base_client import SharedState
    from ._spec import Operation as SpecOperation

__all__ = [
    "Operation",
    "Outcome",
    "Price",
    "Result",
    "Status",
    "Submit",
    "operation_module_name",
    "submit_module_name",
    "submit_request",
]

T = TypeVar("T")

_NO_CHANGES: tuple[Change, ...] = ()
_WORD_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_WORD = re.compile(r"[^0-9A-Za-z]+")


@attrs.frozen
class Outcome(Generic[T]):
    """A call's value or its typed error, and what the journal must record either way."""

    value: T | None
    error: Sora2Error | None = None
    changes: tuple[Change, ...] = _NO_CHANGES

    def unwrap(self) -> T:
        """The value, or the error raised (after the changes were applied)."""
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


class Operation(Protocol[T]):
    """What ``Client._call`` and ``AsyncClient._call`` run."""

    @property
    def name(self) -> str: ...

    def request(self) -> dict[str, Any]: ...

    def failure(self, exc: httpx.RequestError) -> APIError: ...

    def interpret(
        self, response: httpx.Response, shared: SharedState, now: float
    ) -> Outcome[T]: ...


def _failure(name: str, exc: httpx.RequestError, request_id: str | None) -> APIError:
    """The typed error of a request that got no answer."""
    from ._errors import NOT_SENT_ERRORS, transport_error, unknown_submission

    try:
        request: httpx.Request | None = exc.request
    except RuntimeError:
        request = None
    if name == "submit" and not isinstance(exc, NOT_SENT_ERRORS):
        return unknown_submission(
            f"{type(exc).__name__} after the request was sent", request=request
        )
    return transport_error(exc, request_id=request_id, operation=name)


def _observed(
    request_id: str, status: JobStatus, shared: SharedState, now: float
) -> tuple[Change, ...]:
    """The state to journal: only a change from what was written last costs a write."""
    if shared.journaled.get(request_id) == (status.state, status.queue_position):
        return _NO_CHANGES
    return (Observed(request_id, status.state, status.queue_position, now),)


# Requests -----------------------------------------------------------------------------------


def _snake(name: str) -> str:
    """``text-to-video`` -> ``text_to_video``, ``submitProText`` -> ``submit_pro_text``."""
    return _NOT_WORD.sub("_", _WORD_BREAK.sub("_", name)).strip("_").lower()


def operation_module_name(found: SpecOperation) -> str:
    """The generated module of an operation: its first tag's package, its operationId's name."""
    tags = found.raw.get("tags") or ["default"]
    return f"sora2_api.api.{_snake(str(tags[0]))}.{_snake(found.operation_id)}"


def submit_module_name(model_id: str | None = None) -> str:
    """The generated module of a model's submit operation (None: the default model's)."""
    from ._spec import model

    return operation_module_name(model(model_id).submit)


@functools.cache
def _submit_builder(model_id: str) -> tuple[Callable[..., dict[str, Any]], Any]:
    module = importlib.import_module(submit_module_name(model_id))
    build: Callable[..., dict[str, Any]] = module.build_request_kwargs
    body_class = inspect.signature(build).parameters["body"].annotation
    return build, body_class


def submit_request(model_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """``httpx.Client.request`` keyword arguments that submit ``body`` (already checked) to
    ``model_id``, through the generated module and input class of that model."""
    build, body_class = _submit_builder(model_id)
    return build(body=body_class.from_dict(dict(body)))


@functools.cache
def _builder(name: str) -> Callable[[str], dict[str, Any]]:
    """The generated ``build_request_kwargs`` of a call about one job (imported once)."""
    module = importlib.import_module(f"sora2_api.api.requests.{name}")
    build: Callable[[str], dict[str, Any]] = module.build_request_kwargs
    return build


# Calls --------------------------------------------------------------------------------------


def _read(request_id: str, interpret: Callable[..., T], *args: Any) -> T | Outcome[Any]:
    """``interpret(*args, request_id)``, or the error it raised as an outcome: a job the
    service no longer knows settles its journal row (``Gone``)."""
    try:
        return interpret(*args, request_id)
    except NotFoundError as error:
        gone = is_gone(error)
        reason = f"not found by the service: {error}"
        return Outcome(None, error, (Gone(request_id, reason),) if gone else _NO_CHANGES)
    except Sora2Error as error:
        return Outcome(None, error)


@attrs.frozen
class Submit:
    """Submit ``body`` (already checked) to ``model``; ``target`` is generate's output path,
    ``estimate_usd`` what the job was estimated to cost (journaled with its id)."""

    model: str
    body: Mapping[str, Any]
    target: str | None = None
    estimate_usd: float | None = None
    name = "submit"
    request_id = None

    def request(self) -> dict[str, Any]:
        return submit_request(self.model, self.body)

    def failure(self, exc: httpx.RequestError) -> APIError:
        return _failure(self.name, exc, None)

    def submitted(self, request_id: str, now: float) -> Submitted:
        """The job's first row: to be written before anything else can go wrong."""
        from ._inputs import duration_property, spec_default

        params = {k: v for k, v in self.body.items() if k != "prompt"}
        duration = duration_property()
        seconds = params.get(duration, spec_default(duration)) if duration else None
        return Submitted(
            request_id,
            prompt=str(self.body.get("prompt", "")),
            params=params,
            at=now,
            target=self.target,
            model=self.model,
            seconds=seconds if isinstance(seconds, int) else None,
            estimate_usd=self.estimate_usd,
        )

    def interpret(
        self, response: httpx.Response, shared: SharedState, now: float
    ) -> Outcome[Submission]:
        decoded = json_body(response)  # the body's one decoding
        try:
            request_id = submitted_id(response, decoded)
        except SubmissionUnknownError as error:  # the job may exist: journal its id too
            known = error.request_id
            return Outcome(None, error, (self.submitted(known, now),) if known else _NO_CHANGES)
        except Sora2Error as error:
            return Outcome(None, error)
        changes = (self.submitted(request_id, now),)
        try:
            return Outcome(interpret_submit(response, decoded, request_id), None, changes)
        except Sora2Error as error:
            return Outcome(None, error, changes)


class _JobCall:
    """A call about one job (status, cancel, result): the generated builder of its name takes
    the job's id, and a failure names the job."""

    __slots__ = ()
    name: str
    request_id: str

    def request(self) -> dict[str, Any]:
        return _builder(self.name)(self.request_id)

    def failure(self, exc: httpx.RequestError) -> APIError:
        return _failure(self.name, exc, self.request_id)


@attrs.frozen
class Status(_JobCall):
    """The state of job ``request_id``; ``name`` "cancel" cancels it and reads the same."""

    request_id: str
    name: str = "status"

    def interpret(
        self, response: httpx.Response, shared: SharedState, now: float
    ) -> Outcome[JobStatus]:
        status = _read(self.request_id, interpret_status, self.name, response)
        if isinstance(status, Outcome):
            return status
        return Outcome(status, None, _observed(self.request_id, status, shared, now))


@attrs.frozen
class Result(_JobCall):
    """The outputs of job ``request_id`` (its state alone until it completes)."""

    request_id: str
    name = "result"

    def interpret(
        self, response: httpx.Response, shared: SharedState, now: float
    ) -> Outcome[JobResult]:
        read = _read(self.request_id, interpret_result, response)
        if isinstance(read, Outcome):
            return read
        status, result = read
        changes = _observed(self.request_id, status, shared, now)
        if result.files and shared.journaled_urls.get(self.request_id) != result.files[0].url:
            changes += (OutputSeen(self.request_id, result.files[0].url),)
        return Outcome(result, None, changes)


@attrs.frozen
class Price:
    """The document of ``model`` (its price), from the spec's unofficial document operation:
    the document, or ``Unread`` saying why not (an answer other than 200 is no failure); only
    a refused token (401) is an error."""

    model: str
    name = "model"
    request_id = None

    def request(self) -> dict[str, Any]:
        from ._options import document_request

        kwargs = document_request(self.model)
        if kwargs is None:  # the client asks only for a model that has the operation
            raise ValueError(f"the spec gives {self.model!r} no document operation")
        return kwargs

    def failure(self, exc: httpx.RequestError) -> APIError:
        return _failure(self.name, exc, None)

    def interpret(self, response: httpx.Response, shared: SharedState, now: float) -> Outcome[Any]:
        from ._options import read_document

        try:
            return Outcome(read_document(response))
        except Sora2Error as error:
            return Outcome(None, error)
