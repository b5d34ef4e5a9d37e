"""``Client``: prompt in, video file out, reliably; the sync driver of ``sora2._flows``.

Each call is an operation that builds its request and reads its answer with no I/O
(``sora2._operations``); a call of several requests is a flow of ``sora2._flows`` that makes
every decision. ``Client`` does their I/O inline: ``_call`` sends an operation and writes the
journal changes its answer implies, ``_run`` drives a flow step by step.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

import httpx

from ._base_client import observed, request_id_of
from ._download import Fetcher, absolute_target
from ._exceptions import ConfigurationError
from ._flows import Apply, Blocking, Done, Fetch, Flow, FlowClient, ReadPrice, Sleep, next_step
from ._operations import Result, Status
from ._options import (
    DEFAULT_BATCH_CONCURRENCY,
    ClientOptions,
)
from ._transports import BorrowedTransport, logger
from ._types import JobRef, JobResult, JobStatus, Submission
from ._waiting import job_attributes, span

if TYPE_CHECKING:
    from sora2_models.typed_dicts import InputOptions

    from ._batch import BatchProgress, BatchRow, BatchSummary
    from ._batch._api import BatchSource
    from ._journal_glue import JobRecord
    from ._operations import Operation
    from ._options import CostEstimate


__all__ = ["Client"]

T = TypeVar("T")


class Client(FlowClient[httpx.BaseTransport]):
    """The synchronous client.

    Args:
        transport: an httpx transport for every request (tests: an ASGI or mock transport).
        emulator: talk to an in-process emulator: no network, no key. True, or the options
            of ``sora2.emulator.create_app`` as a mapping, e.g. ``{"outputs": "images"}`` or
            ``{"faults": "submit:fail"}``, to exercise another output shape or a failed job.
            The same as ``transport=sora2.emulator.transport(...)``.

    Every other keyword (``api_key``, ``base_url``, ``timeout``, ``max_retries``, ``journal``,
    ``wait_timeout``, ``max_download_bytes``, ``connection_limit``, ``trusted_hosts``) is a
    setting of :class:`~sora2._options.ClientOptions`, documented there once; each but
    ``api_key`` and ``journal`` can be read back, as the client resolved it, as a read-only
    attribute (``client.timeout``; ``client.journal`` is the journal store in use).
    """

    _SYNC = True

    def _connect(self, options: ClientOptions) -> None:
        """The httpx clients of the API and of downloads (see ``BaseClient._setup``)."""
        source = self._shared.transport
        if source is not None and not isinstance(source, httpx.BaseTransport):
            raise ConfigurationError("Client needs a sync transport (httpx.BaseTransport)")
        api_transport: httpx.BaseTransport | None = source
        if self._borrowed and source is not None:
            api_transport = BorrowedTransport(source)
        self._http = httpx.Client(transport=api_transport, **self._http_settings())
        self._fetcher = Fetcher(self._shared, self._host_policy, options, lambda: self._retry)

    # the I/O: one request path, one driver of flows ---------------------------------------------

    def _call(self, op: Operation[T]) -> T:
        """Run one operation: its request sent (retried as its policy allows), its answer
        interpreted, the journal changes the answer implies written before its value or error
        goes on."""
        request = self._request(op)
        shared, http, keeper = self._shared, self._http, self._keeper

        def attempt() -> T:
            try:
                raw = http.request(**request)
            except httpx.RequestError as exc:
                raise op.failure(exc) from exc
            if logger.isEnabledFor(logging.DEBUG):  # the URL's path is decoded only when logged
                logger.debug("%s: %s %s", op.name, raw.status_code, raw.request.url.path)
            outcome = op.interpret(raw, shared, shared.clock.time())
            if outcome.changes:
                keeper.apply(outcome.changes)
            return outcome.unwrap()

        try:
            return attempt()
        except Exception as exc:  # the retry machinery is loaded at a first failure
            from ._retry import retry_failed

            return retry_failed(self._retry, op.name, attempt, exc, submit=op.name == "submit")

    def _run(self, flow: Flow[T]) -> T:
        """Drive a flow: each step done here, its value sent back, its error thrown in."""
        step = next_step(flow)
        while not isinstance(step, Done):
            try:
                value, error = self._step(step), None
            except BaseException as exc:  # Ctrl-C and cancellation too: the flow's ``with``s see it
                value, error = None, exc
            step = next_step(flow, value, error)
        return step.value  # type: ignore[no-any-return]

    def _step(self, step: Any) -> Any:
        match step:
            case Blocking(function, args):
                return function(*args)
            case Apply(changes):
                return self._keeper.apply(changes)
            case Sleep(seconds):
                return self._shared.clock.sleep(seconds)
            case Fetch():
                return self._fetcher.fetch(step)
            case ReadPrice(model_id):
                self._price_documents[model_id] = self._run(self._document_flow(model_id))
                return None
        return self._call(step)

    # operations --------------------------------------------------------------------------------

    def submit(
        self,
        prompt: str,
        *,
        model: str | None = None,
        target: str | os.PathLike[str] | None = None,
        max_cost: float | None = None,
        **inputs: Unpack[InputOptions],
    ) -> Submission:
        """Submit a job. Retried only when the service provably did not take it.

        ``inputs`` are the spec's input properties besides ``prompt`` (``size=...``, ...), typed
        by the generated ``InputOptions``. One left out is not sent: the service applies its
        default. A keyword the spec does not describe is sent as given (the input is open).
        ``model`` is a model id of the spec (``sora2.known_models()``); None is the spec's
        default model (``sora2.default_model()``). The inputs are checked against that model's
        own input schema. ``target`` is where :meth:`resume` is to save the job's files (a
        file or a directory), journaled with the id; it is neither checked nor written here.
        A hosted-file input (``input_reference``) must be an https URL, and its host is asked
        before paying (see ``docs/models.md``).

        The job's cost is estimated first from the model's price (:meth:`price`) and written
        in the journal. With ``max_cost`` (USD), a job estimated above it, or whose cost
        cannot be estimated, is refused before anything is sent.

        Raises:
            InvalidInputError: before anything is sent, naming the field and allowed values
                (or, for an unknown ``model``, the known models).
            CostLimitError: over ``max_cost``, or no estimate while it was given.
            JournalError: the journal cannot record the id; nothing is sent.
            SubmissionUnknownError: the request may have created a job; it is not retried.
        """
        where = None if target is None else absolute_target(target)
        return self._run(self._submit_flow(prompt, inputs, where, model, max_cost))

    def check_ready(self) -> None:
        """Raise now what :meth:`submit` would raise before sending anything: no API key
        (``ConfigurationError``), a journal that cannot record an id (``JournalError``). For a
        caller about to start many jobs, such as a batch, that must stop before the first."""
        self._require_key()
        self._check_journal()

    def status(self, job: JobRef) -> JobStatus:
        """The job's current state (retried on transient failures).

        ``job`` is its id, or the ``Submission``, ``JobStatus`` or ``JobResult`` of it; anything
        else raises ``InvalidInputError(field="request_id")`` before a request is sent (as for
        :meth:`result`, :meth:`cancel`, :meth:`wait` and :meth:`download`).
        """
        request_id = request_id_of(job)
        with span("poll", job_attributes(None, request_id)) as poll:
            return observed(self._call(Status(request_id)), poll)

    def result(self, job: JobRef) -> JobResult:
        """The job's outputs once completed; before that its state, with ``video_url`` None."""
        return self._call(Result(request_id_of(job)))

    def cancel(self, job: JobRef) -> JobStatus:
        """Cancel a queued job. Raises ConflictError once it has started."""
        return observed(self._call(Status(request_id_of(job), "cancel")))

    def wait(
        self,
        job: JobRef,
        *,
        timeout: float | None = None,
        on_update: Callable[[JobStatus], None] | None = None,
        cancel_on_timeout: bool = False,
    ) -> JobStatus:
        """Poll until the job reaches a final state (the spec's ``x-terminal-states``).

        Returns the final status of a completed or cancelled job; a failed job raises
        ``JobFailedError`` at once, with the service's ``error`` as ``detail``. ``on_update``
        sees every change of state or queue position. A state this version does not know counts
        as "not finished" (logged once). At the deadline (``timeout``, default the client's
        ``wait_timeout``) raises ``WaitTimeoutError``, after cancelling the job first if
        ``cancel_on_timeout`` and it is still queued.
        """
        return self._run(self._wait_flow(job, timeout, on_update, cancel_on_timeout))

    def download(
        self,
        result: JobRef,
        path: str | os.PathLike[str],
        *,
        max_bytes: int | None = None,
        on_progress: Callable[[int, int | None], None] | None = None,
    ) -> list[Path]:
        """Save every output file of a result and return their paths, in ``files`` order.

        ``result`` is a :class:`JobResult`, a request id, a ``Submission`` or ``JobStatus`` (its
        result is fetched) or a file URL.
        One file goes to ``path`` (inside it, if a directory); several are named by
        :func:`sora2._download.target_paths`. ``max_bytes`` caps each file.
        ``on_progress(received, total)`` is called after each chunk (``total`` is the announced
        size, or None).

        Raises:
            NoOutputError: the job completed without any output file.
            JobFailedError: the job failed.
            DownloadWriteError: an ``OSError`` while saving.
            DownloadError: it has not completed, or a file could not be fetched.
        """
        return self._run(self._download_flow(result, path, max_bytes, on_progress))

    def generate(
        self,
        prompt: str,
        *,
        out: str | os.PathLike[str],
        timeout: float | None = None,
        on_update: Callable[[JobStatus], None] | None = None,
        on_submit: Callable[[Submission], None] | None = None,
        on_progress: Callable[[int, int | None], None] | None = None,
        model: str | None = None,
        max_cost: float | None = None,
        **inputs: Unpack[InputOptions],
    ) -> list[Path]:
        """Submit, wait, download: every output file, at ``out`` (see :meth:`download`).

        ``inputs`` are the spec's input properties besides ``prompt``, ``model`` the model
        (None: the spec's default) and ``max_cost`` the most it may cost, as for :meth:`submit`.
        ``out`` is checked before anything is paid for (``InvalidInputError(field="out")`` if
        the files could not be saved there). A failed job raises ``JobFailedError`` as soon as
        it is seen; one that completes with no output raises ``NoOutputError``. Every failure
        after the submission is a ``Sora2Error`` carrying the request id, whose message says
        how to fetch the paid result. If the process dies half-way, ``resume()`` finishes the
        job from the journal.
        """
        watchers = (on_update, on_progress)
        flow = self._generate_flow(
            prompt, inputs, out, on_submit, watchers, timeout, model, max_cost
        )
        return self._run(flow)

    def price(self, *, model: str | None = None, **inputs: Any) -> CostEstimate:
        """What one job of ``model`` (None: the spec's default) with these inputs would cost,
        from the model's price (``GET /v1/models/{model_id}``, an unofficial route).

        A per-second price is multiplied by the duration input given, else by the spec's
        default duration. When the price cannot be read (the route answers 404 or an error,
        or the document has no price or an unknown unit), the estimate's ``usd`` is None and
        its ``basis`` says why; nothing is raised.

        Raises:
            InvalidInputError: an unknown model, or an input the model does not allow.
        """
        return self._run(self._price_flow(model, inputs))

    def jobs(self, *, unfinished: bool = False) -> list[JobRecord]:
        """The journal, oldest first; ``unfinished`` keeps jobs that ``resume`` would finish."""
        return self._keeper.jobs(unfinished)

    def forget(self, request_id: str) -> bool:
        """Remove one job from the journal (``sora2 forget ID``); False if it was not there.

        Only the row goes: the job itself is not cancelled, and ``resume`` no longer sees it.
        """
        return self._keeper.forget(request_id)

    def prune(self, *, older_than: float | None = None) -> list[str]:
        """Remove this service's settled jobs from the journal (``sora2 jobs --prune``): saved,
        cancelled, failed or gone; optionally only those untouched for ``older_than`` seconds.
        Unfinished jobs, and completed ones whose outputs were never saved, always stay.
        Returns the removed ids."""
        return self._keeper.prune(older_than)

    def resume(
        self,
        request_id: str | None = None,
        *,
        out_dir: str | os.PathLike[str] | None = None,
        on_update: Callable[[JobStatus], None] | None = None,
        on_progress: Callable[[int, int | None], None] | None = None,
    ) -> list[JobRecord]:
        """Finish unfinished journaled jobs (or one) without submitting anything again.

        Waits for each, then downloads completed videos that ``generate`` meant to save, or
        every completed video when ``out_dir`` is given. With one ``request_id`` errors are
        raised; otherwise each job is handled on its own: its error (a ``Sora2Error``, an
        ``OSError`` while saving included) is recorded in its row and the next one goes on. Only
        errors that would fail every job alike (no key, a refused token) stop the loop. A
        journaled id the service no longer knows is marked ``gone``. One ``request_id`` the
        journal never saw is adopted once the service knows it (a typo's ``NotFoundError`` is
        raised and writes no row); with ``out_dir``, a job whose files were saved already is
        downloaded again into it.
        """
        return self._run(self._resume_flow(request_id, out_dir, (on_update, on_progress)))

    def resume_pending(
        self,
        *,
        out_dir: str | os.PathLike[str] | None = None,
        every: float | None = None,
    ) -> list[JobRecord]:
        """For a service: adopt this service's unfinished jobs that no live process follows
        (see :meth:`AsyncClient.resume_pending`), one after the other; with ``every``, sweep
        again every ``every`` seconds until interrupted."""
        while True:
            finished = self.resume(out_dir=out_dir)
            if every is None:
                return finished
            self._shared.clock.sleep(every)

    def batch(
        self,
        rows: BatchSource,
        *,
        out_dir: str | os.PathLike[str],
        concurrency: int = DEFAULT_BATCH_CONCURRENCY,
        max_jobs: int | None = None,
        max_seconds: float | None = None,
        max_cost: float | None = None,
        dry_run: bool = False,
        cancel_queued_on_interrupt: bool = False,
        resubmit_unknown: bool = False,
        defaults: Mapping[str, Any] | None = None,
        on_progress: Callable[[BatchProgress, BatchRow | None], None] | None = None,
    ) -> BatchSummary:
        """Run many jobs: at most ``concurrency`` at once, within a budget, resumable.

        ``rows`` is a JSONL or CSV file (``"-"``: stdin) or an iterable of mappings, each
        holding input properties and an optional ``name`` for its files. Every row is checked
        first; invalid ones are reported and skipped. Each job's files go into ``out_dir``,
        and ``out_dir/manifest.jsonl`` records every row, its ``request_id`` written the moment
        it is known. Calling again with the same rows submits nothing already submitted: it
        waits for and saves the unfinished jobs. ``max_jobs`` and ``max_seconds`` (seconds of
        video) stop submitting before the next job would exceed them, and so does ``max_cost``
        (USD, estimated from each model's price; jobs already paid in ``out_dir``'s manifest
        count; a row whose cost cannot be estimated stops it). ``dry_run`` checks and
        plans without submitting or writing anything.

        Interrupted (Ctrl-C), it stops submitting at once; jobs still queued are cancelled
        only with ``cancel_queued_on_interrupt``, and the rest are left running for the next
        call to pick up. A submit that got no answer (the process killed while it was on the
        wire, a connection lost after sending) may have made a job: that row is not submitted
        again unless ``resubmit_unknown`` says so. ``defaults`` are inputs every row gets
        unless it gives its own (``{"size": "1280x720"}``); they are part of each row's input,
        so a re-run must pass the same ones.
        """
        settings = {k: v for k, v in locals().items() if k not in ("self", "rows")}
        from ._batch._api import batch_sync

        return batch_sync(self, rows, **settings)  # the signature names each setting, once

    def close(self) -> None:
        self._http.close()
        self._fetcher.close()
        if self._owns_journal and self._journal is not None:
            self._journal.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
