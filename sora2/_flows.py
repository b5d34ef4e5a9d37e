"""Every call that takes more than one request, written once for both clients (sans-I/O).

A flow (submit, wait, download, generate, resume, price) is a generator: it makes every
decision and yields each piece of I/O as a step, then gets the step's value (or error)
back. ``Client._run`` does each step inline; ``AsyncClient._run`` awaits it, and runs file and
SQLite work in a worker thread. It is the shape of httpx's ``Auth.auth_flow``: one body, two
small drivers. A step is an operation of ``sora2._operations`` (its value is the answer's),
or one of the records below.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import attrs

from ._base_client import (
    FATAL_FOR_RESUME,
    BaseClient,
    TransportT,
    observed,
    request_id_of,
    submitted,
)
from ._download import absolute_target, check_output_target, names_files, target_paths
from ._exceptions import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    DownloadError,
    Sora2Error,
    is_gone,
)
from ._journal_glue import Adopted, Change, Failed, Saved, Targeted
from ._operations import Result, Status, files_to_download
from ._transports import logger
from ._types import JobRef, JobResult, JobStatus, OutputFile, Submission, is_completed_state
from ._waiting import TRANSIENT_POLL_ERRORS, job_attributes, measure, remember_job, span

if TYPE_CHECKING:
    from ._journal_glue import JobRecord
    from ._operations import Operation
    from ._options import CostEstimate

__all__ = [
    "Apply",
    "Blocking",
    "Done",
    "Fetch",
    "Flow",
    "FlowClient",
    "OnUpdate",
    "Progress",
    "ReadPrice",
    "Sleep",
    "Step",
    "Watchers",
    "Where",
    "next_step",
]

T = TypeVar("T")
Progress: TypeAlias = Callable[[int, int | None], None]
"""``on_progress(received, total)``: bytes saved so far, and the announced size (or None)."""
OnUpdate: TypeAlias = Callable[[JobStatus], None]
"""``on_update(status)``: every change of a job's state or queue position."""
Watchers: TypeAlias = tuple[OnUpdate | None, Progress | None]
"""A call's ``on_update`` and ``on_progress``."""
Where: TypeAlias = str | os.PathLike[str]
"""A file or directory to save to."""


@dataclass(frozen=True, slots=True)
class Blocking:
    """File or SQLite work: inline in ``Client``; in ``AsyncClient``, in the worker-thread hop
    of the journal's next batch (``GroupCommit``), which every job waiting then shares.
    ``journal``: it only reads the journal, so without one it runs inline there too.
    ``alone``: slow work (the network) makes a hop of its own, never holding up a batch."""

    function: Callable[..., Any]
    args: tuple[Any, ...] = ()
    journal: bool = False
    alone: bool = False


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait ``seconds`` on the client's clock."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Apply:
    """Write journal changes (``sora2._journal_glue``) before the flow goes on."""

    changes: tuple[Change, ...]


@dataclass(frozen=True, slots=True)
class Fetch:
    """Save one output file at ``target`` (at most ``cap`` bytes); its value is the path and
    the bytes saved.
    ``named``: ``target``'s name was made up, so its extension may follow the content type."""

    item: OutputFile
    target: Path
    cap: int
    request_id: str | None
    on_progress: Progress | None
    named: bool


@dataclass(frozen=True, slots=True)
class ReadPrice:
    """Read ``model_id``'s document into ``client._price_documents`` (once per client)."""

    model_id: str


Step: TypeAlias = Any
"""An operation, or one of the records above."""
Flow: TypeAlias = Generator[Step, Any, T]


@dataclass(frozen=True, slots=True)
class Done:
    """What a flow returned: the end of the drive."""

    value: Any


def next_step(flow: Flow[Any], value: Any = None, error: BaseException | None = None) -> Any:
    """The flow's next step, given the last step's value, or its error thrown into the flow
    (where its ``with`` blocks and handlers see it); :class:`Done` once the flow returns."""
    try:
        return flow.send(value) if error is None else flow.throw(error)
    except StopIteration as done:
        return Done(done.value)


class paid_for:
    """Inside: a failure is a paid job's (``sora2._paid``, loaded only then). Set
    ``output_urls`` once they are known, so the error carries them."""

    def __init__(self, request_id: str | None, client: BaseClient[Any]) -> None:
        self.request_id = request_id
        self.client = client
        self.output_urls: tuple[str, ...] = ()

    def __enter__(self) -> paid_for:
        return self

    def __exit__(self, _type: object, exc: BaseException | None, _tb: object) -> None:
        if isinstance(exc, Sora2Error | OSError):
            from ._paid import mark_failure

            client = self.client
            mark_failure(
                exc,
                self.request_id,
                self.output_urls,
                base_url=client._hint_base_url(),
                in_process=client._in_process,
            )


class FlowClient(BaseClient[TransportT]):
    """The flows of :class:`BaseClient`'s calls; a subclass adds ``_run`` (the driver)."""

    def _request(self, op: Operation[Any]) -> dict[str, Any]:
        """``op``'s request for either driver's ``_call``: its URL joined to the base URL once
        per path (``APIRoot``), not parsed again by httpx on every call."""
        self._require_key()
        request = op.request()
        request["url"] = self._api.join(request["url"])
        return request

    def _paid(self, request_id: str | None) -> paid_for:
        """Marks every failure inside as a paid job's, with the hint that reaches this client's
        service (or, in process, its own calls)."""
        return paid_for(request_id, self)

    def _submit_flow(
        self,
        prompt: str,
        inputs: Mapping[str, Any],
        target: str | None,
        model: str | None,
        max_cost: float | None,
    ) -> Flow[Submission]:
        """submit(), journaling ``target`` (generate's output path) in the job's first row."""
        from ._inputs import hosted_inputs, job_seconds
        from ._options import check_max_cost, judge_cost

        check_max_cost(max_cost)
        op = self._submit_op(prompt, inputs, model, target)
        yield Blocking(self._check_journal, journal=True)
        estimate = yield from self._estimate_flow(op.model, job_seconds(op.body, op.model))
        judge_cost(estimate, max_cost)
        hosted_names = hosted_inputs(op.model) if self._checks_files() else {}
        if any(isinstance(op.body.get(name), str) for name in hosted_names):
            from ._hosted import check_file_inputs  # a step only with a hosted file to ask about

            hosted = self._hosted_transport
            yield Blocking(
                functools.partial(check_file_inputs, transport=hosted),
                (op.body, op.model),
                alone=True,
            )
        op = attrs.evolve(op, estimate_usd=estimate.usd)  # journaled with the job's id
        with span("submit", job_attributes(op.body, model=op.model)):
            return submitted((yield op), op.body, op.model)

    def _status_flow(self, request_id: str) -> Flow[JobStatus]:
        with span("poll", job_attributes(None, request_id)) as poll:
            return observed((yield Status(request_id)), poll)

    def _wait_flow(
        self, job: JobRef, timeout: float | None, on_update: OnUpdate | None, cancel: bool = False
    ) -> Flow[JobStatus]:
        """wait(): poll at the tracker's pace until a final state or the deadline."""
        request_id = request_id_of(job)
        self._require_key()
        tracker = yield Blocking(self._tracker, (request_id, timeout, on_update), journal=True)
        with span("wait", job_attributes(None, request_id), timed="wait"):
            if (first := tracker.first_delay()) > 0:
                yield Sleep(first)
            while True:
                try:
                    status = yield from self._status_flow(request_id)
                except TRANSIENT_POLL_ERRORS as exc:
                    from ._errors import poll_failed  # failures only

                    delay = poll_failed(tracker, exc)
                else:
                    next_delay, changes = tracker.observe(status)
                    if changes:
                        yield Apply(changes)
                    if next_delay is None:
                        return self._ended(status)
                    delay = next_delay
                remaining = tracker.remaining()
                if remaining <= 0:
                    cancelled = cancel and tracker.queued
                    if cancelled:
                        cancelled = yield from self._cancel_quietly(request_id)
                    from ._errors import wait_timeout

                    raise wait_timeout(
                        tracker,
                        cancelled=cancelled,
                        base_url=self._hint_base_url(),
                        in_process=self._in_process,
                    )
                yield Sleep(min(delay, remaining))

    def _cancel_quietly(self, request_id: str) -> Flow[bool]:
        try:
            status: JobStatus = yield Status(request_id, "cancel")
        except ConflictError:
            logger.debug("%s: started before it could be cancelled", request_id)
            return False
        return observed(status).is_cancelled

    def _download_flow(
        self, result: JobRef, path: Where, max_bytes: int | None, on_progress: Progress | None
    ) -> Flow[list[Path]]:
        """download(): the result read if not given, its URLs checked, each file fetched."""
        files, request_id = files_to_download(
            result if isinstance(result, JobResult) else request_id_of(result)
        )
        with self._paid(request_id) as job:
            if files is None:
                assert request_id is not None
                files, request_id = files_to_download((yield Result(request_id)))
            assert files is not None
            job.output_urls = tuple(item.url for item in files)
            with span("download", job_attributes(None, request_id)):
                cap = self._options.max_download_bytes if max_bytes is None else max_bytes
                for item in files:
                    self._host_policy.check_url(item.url, request_id=request_id)
                targets, named = yield Blocking(_targets, (path, files, request_id))
                saved: list[Path] = []
                size = 0
                for item, target in zip(files, targets, strict=True):
                    where, received = yield Fetch(item, target, cap, request_id, on_progress, named)
                    saved.append(where)
                    size += received
                if request_id is not None and saved:
                    yield Apply((Saved(request_id, str(saved[0])),))
            measure("download", size)
            return saved

    def _generate_flow(
        self,
        prompt: str,
        inputs: Mapping[str, Any],
        out: Where,
        on_submit: Callable[[Submission], None] | None,
        watchers: Watchers,
        timeout: float | None,
        model: str | None,
        max_cost: float | None,
    ) -> Flow[list[Path]]:
        """generate(): ``out`` checked before paying, then submit, wait and download."""
        on_update, on_progress = watchers
        yield Blocking(check_output_target, (out,))
        target = absolute_target(out)
        submission = yield from self._submit_flow(prompt, inputs, target, model, max_cost)
        request_id = submission.request_id
        if on_submit is not None:
            on_submit(submission)
        with self._paid(request_id):
            status = yield from self._wait_flow(request_id, timeout, on_update)
            if not status.is_completed:
                raise DownloadError(
                    f"{request_id} was {status.state}; there is no output", request_id=request_id
                )
            result = yield Result(request_id)
            return (yield from self._download_flow(result, target, None, on_progress))

    def _price_flow(self, model: str | None, inputs: Mapping[str, Any]) -> Flow[CostEstimate]:
        """price(): the estimate of one job, its model's document read once per client."""
        from ._inputs import job_seconds, known_model
        from ._options import check_price_inputs

        model_id = known_model(model)
        check_price_inputs(inputs, model_id)
        return (yield from self._estimate_flow(model_id, job_seconds(inputs, model_id)))

    def _estimate_flow(self, model_id: str, seconds: int | None) -> Flow[CostEstimate]:
        from ._options import estimate_from

        if model_id not in self._price_documents:
            yield ReadPrice(model_id)
        return estimate_from(model_id, self._price_documents[model_id], seconds)

    def _document_flow(self, model_id: str) -> Flow[Any]:
        """A model's document, or why it could not be read (``Unread``): never an error but
        those that would fail the submit anyway."""
        from ._operations import Price
        from ._options import Unread, document_request

        if document_request(model_id) is None:
            return Unread("the spec gives the model no document operation")
        try:
            return (yield Price(model_id))
        except (ConfigurationError, AuthenticationError):
            raise
        except Sora2Error as exc:
            return Unread(f"the model document could not be read: {exc}")

    def _resume_flow(
        self, request_id: str | None, out_dir: Where | None, watchers: Watchers
    ) -> Flow[list[JobRecord]]:
        """resume(): each journaled job finished on its own (see ``Client.resume``)."""
        from ._journal_resume import to_resume

        self._require_key()
        finished: list[JobRecord] = []
        records = yield Blocking(to_resume, (self._keeper, request_id), journal=True)
        for record in records:
            try:
                with self._paid(record.request_id):
                    remember_job(record.request_id, record.model, record.params)
                    yield from self._resume_one(record, out_dir, watchers)
            except FATAL_FOR_RESUME:
                raise
            except Sora2Error as exc:
                if request_id is not None:
                    raise
                if not is_gone(exc):
                    yield Apply((Failed(record.request_id, str(exc)),))
            finished.append((yield Blocking(self._keeper.refresh, (record,), journal=True)))
        return finished

    def _resume_one(
        self, record: JobRecord, out_dir: Where | None, watchers: Watchers
    ) -> Flow[None]:
        from ._journal_resume import is_adhoc, resume_target

        on_update, on_progress = watchers
        if is_adhoc(record):  # never journaled: a typo must not become a row
            yield from self._status_flow(record.request_id)
            yield Apply((Adopted(record.request_id),))
        target = yield Blocking(resume_target, (record, out_dir))
        if target is not None and not (record.target_path or record.output_path):
            yield Apply((Targeted(record.request_id, str(target)),))  # an interrupted save resumes
        state = record.state
        if not record.is_terminal:
            state = (yield from self._wait_flow(record.request_id, None, on_update)).state
        if is_completed_state(state) and target is not None:
            result = yield Result(record.request_id)
            yield from self._download_flow(result, target, None, on_progress)


def _targets(
    path: Where, files: tuple[OutputFile, ...], request_id: str | None
) -> tuple[list[Path], bool]:
    """Where each file goes, and whether their names were made up (``Fetch.named``): both ask
    the file system whether ``path`` is a directory, so both in one blocking step."""
    return target_paths(path, files, request_id), names_files(path, len(files))
