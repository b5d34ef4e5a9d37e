"""One call to the service as data: its request, and the reading of its answer, with no I/O.

An operation is a small frozen object: ``request()`` is built by the generated client's module
for it (found from the spec, so a model added to the spec needs no edit here); ``interpret()``
gives an :class:`Outcome`, a value or typed error plus the journal changes the answer implies.
The clients' ``_call`` does the I/O and applies the changes (h11's sans-I/O split). A body is
decoded once and checked against the spec's 200 schema before a generated model parses it (they
let a wrong-typed field through). The typed errors come from ``sora2._errors``, imported only
when a call fails.
"""

from __future__ import annotations

import datetime
import functools
import importlib
import inspect
import json
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

import attrs
import httpx

from ._exceptions import APIError, NotFoundError, Sora2Error, is_gone, parse_retry_after
from ._journal_glue import Change, Gone, Observed, OutputSeen, Submitted
from ._types import JobResult, JobStatus, OutputFile, Submission, is_file_url, kind_of, output_files

if TYPE_CHECKING:
    from jsonschema import FormatChecker
    from sora2_api.models import RequestResult, RequestStatus, SubmitResponse
    from sora2_api.types import Unset

    from ._base_client import SharedState
    from ._spec import Operation as SpecOperation

__all__ = [
    "Operation",
    "Outcome",
    "Price",
    "Result",
    "Status",
    "Submit",
    "answer_schema",
    "client_formats",
    "files_to_download",
    "json_body",
    "named_id",
    "operation_module_name",
    "schema_error",
    "submit_request",
]

T = TypeVar("T")

_NO_CHANGES: tuple[Change, ...] = ()


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


class Operation(Generic[T]):
    """What ``Client._call`` and ``AsyncClient._call`` run: ``request()`` is the keyword
    arguments of ``httpx.Client.request``, ``interpret`` reads the answer."""

    __slots__ = ()
    name: str
    request_id: str | None

    def request(self) -> dict[str, Any]:
        raise NotImplementedError

    def interpret(self, response: httpx.Response, shared: SharedState, now: float) -> Outcome[T]:
        raise NotImplementedError

    def failure(self, exc: httpx.RequestError) -> APIError:
        """The typed error of this call's request that got no answer."""
        from ._errors import call_failure

        return call_failure(self.name, exc, self.request_id)


_WORD_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_WORD = re.compile(r"[^0-9A-Za-z]+")


def _snake(name: str) -> str:
    """``text-to-video`` -> ``text_to_video``, ``submitProText`` -> ``submit_pro_text``."""
    return _NOT_WORD.sub("_", _WORD_BREAK.sub("_", name)).strip("_").lower()


def operation_module_name(found: SpecOperation) -> str:
    """The generated module of an operation: its first tag's package, its operationId's name
    (as openapi-python-client names them)."""
    tags = found.raw.get("tags") or ["default"]
    return f"sora2_api.api.{_snake(str(tags[0]))}.{_snake(found.operation_id)}"


@functools.cache
def _submit_builder(model_id: str) -> tuple[Callable[..., dict[str, Any]], Any]:
    from ._spec import model

    module = importlib.import_module(operation_module_name(model(model_id).submit))
    build: Callable[..., dict[str, Any]] = module.build_request_kwargs
    return build, inspect.signature(build).parameters["body"].annotation


def submit_request(model_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The request that submits ``body`` (already checked) to ``model_id``, through the
    generated module and input class of that model."""
    build, body_class = _submit_builder(model_id)
    return build(body=body_class.from_dict(dict(body)))


@functools.cache
def _builder(name: str) -> Callable[[str], dict[str, Any]]:
    module = importlib.import_module(f"sora2_api.api.requests.{name}")
    build: Callable[[str], dict[str, Any]] = module.build_request_kwargs
    return build


_DECODER: Final = json.JSONDecoder()
_NOT_JSON: Final = (ValueError, UnicodeDecodeError, RecursionError)
_FROM_DICT_FAILURES: Final = (ValueError, LookupError, TypeError, AttributeError, RecursionError)
"""What a generated ``from_dict`` raises on data that is not what the spec says."""


def json_body(response: httpx.Response) -> tuple[bool, Any]:
    """``(True, data)`` for a JSON body, ``(False, None)`` otherwise: ``json.loads``'s verdict,
    a UTF-8 body read straight, any other encoding it guesses (UTF-16 or 32, a BOM) the long way."""
    content = response.content
    try:
        return True, _DECODER.decode(content.decode())
    except _NOT_JSON:
        pass
    try:
        return True, json.loads(content)
    except _NOT_JSON:
        return False, None


def named_id(data: Any) -> str | None:
    """The job id a decoded answer names, if any."""
    value = data.get("request_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


def _is_date_time(value: object) -> bool:
    try:
        return not isinstance(value, str) or bool(datetime.datetime.fromisoformat(value))
    except ValueError:
        return False


@functools.cache
def client_formats() -> FormatChecker:
    """The client's format check: a ``date-time`` is what the generated models can parse."""
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    checker.checks("date-time")(_is_date_time)
    return checker


@functools.cache
def answer_schema(operation_id: str) -> tuple[str, Any]:
    """Where the spec's 200 body of ``operation_id`` is compiled (no JSON pointer: its own
    ``$ref`` is inlined, not taken for recursion), and its schema (or None)."""
    from ._spec import operation, resolve

    answer = resolve(operation(operation_id).raw.get("responses", {}).get("200", {}))
    schema = answer.get("content", {}).get("application/json", {}).get("schema")
    return f"urn:sora2:client-spec:{operation_id}:200", schema


@functools.cache
def _quick(operation_id: str) -> Callable[[Any], bool] | None:
    """jsonschema-rs's verdict on a 200 body: well under a microsecond where jsonschema took
    about 20 µs for a status body (as much as the rest of a call); jsonschema only explains."""
    from ._spec import schema_compiler

    location, schema = answer_schema(operation_id)
    if schema is None:
        return None
    return schema_compiler().verdict(location, schema, client_formats())


def schema_error(operation_id: str, data: Any) -> str | None:
    """Why ``data`` is not the spec's 200 body of ``operation_id``, or None if it is."""
    quick = _quick(operation_id)
    if quick is not None and quick(data):
        return None
    from ._errors import explain

    return explain(operation_id, data)


def _answer(
    call: str,
    response: httpx.Response,
    request_id: str,
    parse: Callable[[Any], T],
    decoded: tuple[bool, Any] | None = None,
) -> T:
    """The 200 body of ``call``, checked against the spec, then parsed; raises the typed error
    of any other answer."""
    problem = data = None
    if response.status_code == 200:
        ok, data = decoded or json_body(response)
        problem = schema_error(call, data) if ok else "the body is not JSON"
        if problem is None:
            try:
                return parse(data)
            except _FROM_DICT_FAILURES:
                pass
    from ._errors import bad_answer

    raise bad_answer(call, response, request_id, problem, data)


@functools.cache
def _generated() -> tuple[
    type[RequestStatus], type[RequestResult], type[SubmitResponse], type[Unset]
]:
    """The generated models, imported on first use (``import sora2`` stays cheap), then found
    without an import statement: on each status answer one cost as much as the schema check."""
    from sora2_api.models import RequestResult, RequestStatus, SubmitResponse
    from sora2_api.types import Unset

    return RequestStatus, RequestResult, SubmitResponse, Unset


def _result_or_status(data: Any) -> RequestResult | RequestStatus:
    """A result answer: its outputs once complete, else the state-only shape."""
    status_model, result_model = _generated()[:2]
    done = isinstance(data, dict) and "output" in data
    return (result_model if done else status_model).from_dict(data)


def _given(value: Any) -> Any:
    """An answer's field, None where the answer left it out (``Unset``)."""
    return None if isinstance(value, _generated()[3]) else value


def _job_status(parsed: Any, request_id: str, retry_after: float | None = None) -> JobStatus:
    """The typed status of an answer; the id asked about when the answer leaves it out."""
    answered = getattr(parsed, "request_id", None)
    error = _given(getattr(parsed, "error", None))
    error = parsed.additional_properties.get("error") if error is None else error.to_dict()
    return JobStatus(
        request_id=answered if isinstance(answered, str) and answered else request_id,
        state=str(parsed.status),
        queue_position=_given(getattr(parsed, "queue_position", None)),
        raw=parsed,
        retry_after=retry_after,
        error=error if isinstance(error, dict) else None,
    )


@attrs.frozen
class Submit(Operation[Submission]):
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
        ok, data = decoded
        request_id = named_id(data) if ok and 200 <= response.status_code < 300 else None
        if request_id is None:
            from ._errors import submit_failure

            error = submit_failure(response, decoded)
            known = error.request_id  # a job that may exist is journaled too
            return Outcome(None, error, (self.submitted(known, now),) if known else _NO_CHANGES)
        changes = (self.submitted(request_id, now),)
        try:
            parsed = _answer("submit", response, request_id, _generated()[2].from_dict, decoded)
        except Sora2Error as error:
            return Outcome(None, error, changes)
        urls = parsed.status_url, parsed.result_url, parsed.cancel_url
        return Outcome(Submission(parsed.request_id, *urls, raw=parsed), None, changes)


class _JobCall(Operation[T]):
    """A call about one job: the generated builder of its name takes the job's id, and its
    answer tells the job's state (journaled when it changed) along with the value."""

    __slots__ = ()
    request_id: str

    def request(self) -> dict[str, Any]:
        return _builder(self.name)(self.request_id)

    def _read(self, response: httpx.Response) -> tuple[JobStatus, T]:
        raise NotImplementedError

    def interpret(self, response: httpx.Response, shared: SharedState, now: float) -> Outcome[T]:
        request_id = self.request_id
        try:
            status, value = self._read(response)
        except NotFoundError as error:  # a job the service no longer knows settles its row
            gone = (Gone(request_id, f"not found by the service: {error}"),)
            return Outcome(None, error, gone if is_gone(error) else _NO_CHANGES)
        except Sora2Error as error:
            return Outcome(None, error)
        changes = _NO_CHANGES  # only a change from what was written last costs a write
        if shared.journaled.get(request_id) != (status.state, status.queue_position):
            changes = (Observed(request_id, status.state, status.queue_position, now),)
        url = value.files[0].url if isinstance(value, JobResult) and value.files else None
        if url is not None and shared.journaled_urls.get(request_id) != url:
            changes += (OutputSeen(request_id, url),)
        return Outcome(value, None, changes)


@attrs.frozen
class Status(_JobCall[JobStatus]):
    """The state of job ``request_id``; ``name`` "cancel" cancels it and reads the same."""

    request_id: str
    name: str = "status"

    def _read(self, response: httpx.Response) -> tuple[JobStatus, JobStatus]:
        parsed = _answer(self.name, response, self.request_id, _generated()[0].from_dict)
        status = _job_status(parsed, self.request_id, parse_retry_after(response.headers))
        return status, status


@attrs.frozen
class Result(_JobCall[JobResult]):
    """The outputs of job ``request_id`` (its state alone until it completes)."""

    request_id: str
    name = "result"

    def _read(self, response: httpx.Response) -> tuple[JobStatus, JobResult]:
        parsed = _answer("result", response, self.request_id, _result_or_status)
        status = _job_status(parsed, self.request_id)
        outputs: dict[str, Any] = {}
        files: tuple[OutputFile, ...] = ()
        created = finished = None
        if isinstance(parsed, _generated()[1]):
            outputs = parsed.output.to_dict()
            files = output_files(outputs)
            created, finished = _given(parsed.created_at), _given(parsed.finished_at)
        return status, JobResult(
            request_id=status.request_id,
            state=status.state,
            video_url=next((f.url for f in files if f.kind == "video"), None),
            outputs=outputs,
            created_at=created,
            finished_at=finished,
            raw=parsed,
            files=files,
            error=status.error,
        )


@attrs.frozen
class Price(Operation[Any]):
    """The document of ``model`` (its price), or ``Unread`` saying why not (``sora2._options``):
    only a refused token (401) is an error."""

    model: str
    name = "model"
    request_id = None

    def request(self) -> dict[str, Any]:
        from ._options import document_request

        kwargs = document_request(self.model)
        if kwargs is None:  # the client asks only for a model that has the operation
            raise ValueError(f"the spec gives {self.model!r} no document operation")
        return kwargs

    def interpret(self, response: httpx.Response, shared: SharedState, now: float) -> Outcome[Any]:
        from ._options import read_document

        try:
            return Outcome(read_document(response))
        except Sora2Error as error:
            return Outcome(None, error)


def files_to_download(
    result: JobResult | str,
) -> tuple[tuple[OutputFile, ...] | None, str | None]:
    """(files, request_id) of a result or a URL; files None for a bare request id."""
    if isinstance(result, JobResult):
        if not result.files:
            from ._errors import nothing_to_download

            raise nothing_to_download(result)
        return result.files, result.request_id
    if is_file_url(result):
        return (OutputFile(url=result, kind=kind_of("", result), field=""),), None
    return None, result
