"""``AsyncClient``: the same surface as ``Client``, with async methods and ``async with``.

Only the I/O differs from ``sora2._client``; every decision lives in ``sora2._base_client``,
``sora2._responses`` and ``sora2._journal_glue``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

import attrs
import httpx

from ._aiohttp import default_async_transport
from ._base_client import (
    FATAL_FOR_RESUME,
    BaseClient,
    SharedState,
    observed,
    request_id_of,
    submitted,
)
from ._constants import (
    DEFAULT_BATCH_CONCURRENCY,
    DEFAULT_CONNECTION_LIMIT,
    DEFAULT_MAX_DOWNLOAD_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    DEFAULT_WAIT_TIMEOUT,
)
from ._download import (
    absolute_target,
    check_output_target,
    names_files,
    target_paths,
)
from ._errors import is_gone
from ._exceptions import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    DownloadError,
    Sora2Error,
)
from ._fetching import AsyncFetcher
from ._journal import JobRecord
from ._journal_glue import Adopted, Change, Failed, Saved, is_adhoc, resume_target
from ._logging import logger
from ._operations import Result, Status
from ._options import ClientOptions, JournalOption
from ._polling import Clock
from ._responses import files_to_download
from ._retry import acall_with_retries
from ._telemetry import job_attributes, measure, remember_job, span
from ._threads import run_in_worker
from ._transports import AsyncBorrowedTransport, InFlight
from ._types import JobRef, JobResult, JobStatus, OutputFile, Submission, is_completed_state
from ._waiting import TRANSIENT_POLL_ERRORS, WaitTracker

if TYPE_CHECKING:
    from sora2_models.typed_dicts import InputOptions

    from ._batch import BatchProgress, BatchRow, BatchSummary
    from ._batch._api import BatchSource
    from ._client import Client
    from ._operations import Operation
    from ._pricing import CostEstimate


__all__ = ["AsyncClient"]

T = TypeVar("T")


class AsyncClient(BaseClient):
    """The asynchronous client: the same surface as :class:`Client`, with async methods."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        transport: httpx.AsyncBaseTransport | None = None,
        emulator: bool | Mapping[str, Any] = False,
        journal: JournalOption = None,
        wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        connection_limit: int = DEFAULT_CONNECTION_LIMIT,
        trusted_hosts: Iterable[str] = (),
        _clock: Clock | None = None,
        _shared: SharedState | None = None,
    ) -> None:
        options = ClientOptions.pick(locals())
        transport = self._emulated(emulator, transport, _clock, _shared, sync=False)
        self._setup(options, transport, _clock, _shared)

    def _connect(self, options: ClientOptions) -> None:
        """The httpx clients of the API and of downloads (see ``BaseClient._setup``)."""
        source = self._shared.transport
        if source is not None and not isinstance(source, httpx.AsyncBaseTransport):
            raise ConfigurationError(
                "AsyncClient needs an async transport (httpx.AsyncBaseTransport)"
            )
        api_transport: httpx.AsyncBaseTransport | None = source
        if self._borrowed and source is not None:
            api_transport = AsyncBorrowedTransport(source)
        if api_transport is None:  # the network: aiohttp's pool when installed (sora2._aiohttp)
            api_transport = default_async_transport(options.limits())
        self._http = httpx.AsyncClient(transport=api_transport, **self._http_settings())
        self._api_slots = InFlight(options.connection_limit, options.timeout.pool)
        self._fetcher = AsyncFetcher(
            self._shared,
            timeout=options.timeout,
            limits=options.limits(),
            retry=self._retry,
            policy=self._host_policy,
            limit=options.connection_limit,
            in_thread=self._in_thread,
        )

    @classmethod
    def from_client(cls, client: Client) -> AsyncClient:
        """A new ``AsyncClient`` with a sync client's settings, journal, clock, prices read and
        hosted-file checks, on the same in-process emulator (the same jobs) when it has one;
        the caller closes it.

        Raises:
            ConfigurationError: ``client`` was given a custom sync transport, which an
                ``AsyncClient`` cannot use.
        """
        source = client._shared.transport
        transport: httpx.AsyncBaseTransport | None = None
        if source is not None:
            app = getattr(source, "app", None)
            if app is None:
                raise ConfigurationError(
                    "Client.batch cannot reuse a custom sync transport; "
                    "use AsyncClient.batch with an async transport"
                )
            transport = httpx.ASGITransport(app=app)
        options = client._options
        if source is not None:  # the emulator's app, on another transport: its stand-in token
            options = attrs.evolve(options, api_key=client._token())
        twin = cls._from_options(options, transport=transport, clock=client._shared.clock)
        # What the sync client decided and learned: whether hosted files are checked (and how),
        # and the prices it already read.
        twin._file_checks = client._file_checks
        twin._hosted_transport = client._hosted_transport
        twin._price_documents = client._price_documents
        return twin

    async def _call(self, op: Operation[T]) -> T:
        """Run one operation (see ``Client._call``); the journal changes its answer implies are
        written in a worker thread before its value or error goes on."""
        self._require_key()
        request = op.request()
        shared, http, slots = self._shared, self._http, self._api_slots

        async def attempt() -> T:
            try:
                slot = await slots.acquire()
                try:
                    raw = await http.request(**request)
                finally:
                    slot.release()
            except httpx.RequestError as exc:
                raise op.failure(exc) from exc
            logger.debug("%s: %s %s", op.name, raw.status_code, raw.request.url.path)
            outcome = op.interpret(raw, shared, shared.clock.time())
            if outcome.changes:
                await self._apply(outcome.changes)
            return outcome.unwrap()

        return await acall_with_retries(self._retry, op.name, attempt, submit=op.name == "submit")

    async def _apply(self, changes: tuple[Change, ...]) -> None:
        """Journal changes: noted at once, committed with every other job's waiting changes in
        one worker-thread transaction (``GroupCommit``; never on the loop)."""
        if self._keeper.remember(changes):
            await self._keeper.group_commit().write(changes)

    async def _in_thread(self, function: Callable[..., T], *args: Any) -> T:
        """Run blocking work (SQLite, file I/O) in a worker thread, off the event loop."""
        return await run_in_worker(function, *args)

    async def _journal_read(self, function: Callable[..., T], *args: Any) -> T:
        """A step that reads the journal: in the worker-thread hop of the journal's next batch
        (``GroupCommit``), or inline without a journal (nothing blocks then, and a thread hop
        would be pure cost)."""
        if self._journal is None:
            return function(*args)
        return await self._keeper.group_commit().call(function, *args)

    async def submit(
        self,
        prompt: str,
        *,
        model: str | None = None,
        target: str | os.PathLike[str] | None = None,
        max_cost: float | None = None,
        **inputs: Unpack[InputOptions],
    ) -> Submission:
        """See :meth:`Client.submit`."""
        where = None if target is None else absolute_target(target)
        return await self._submit(prompt, inputs, target=where, model=model, max_cost=max_cost)

    async def _submit(
        self,
        prompt: str,
        inputs: Mapping[str, Any],
        *,
        target: str | None,
        model: str | None = None,
        max_cost: float | None = None,
    ) -> Submission:
        """submit(), journaling ``target`` (generate's output path) in the job's first row."""
        from ._file_inputs import check_file_inputs, hosted_inputs
        from ._inputs import job_seconds
        from ._prices import check_max_cost, judge_cost

        check_max_cost(max_cost)
        op = self._submit_op(prompt, inputs, model, target)
        await self._journal_read(self._check_journal)
        estimate = await self._estimate(op.model, job_seconds(op.body, op.model))
        judge_cost(estimate, max_cost)
        body = op.body  # a thread hop only when there is a hosted file to ask about
        if self._checks_files() and any(
            isinstance(body.get(n), str) for n in hosted_inputs(op.model)
        ):
            model_id, hosted = op.model, self._hosted_transport
            await self._in_thread(lambda: check_file_inputs(body, model_id, transport=hosted))
        op = attrs.evolve(op, estimate_usd=estimate.usd)  # journaled with the job's id
        with span("submit", job_attributes(op.body, model=op.model)):
            return submitted(await self._call(op), op.body, op.model)

    async def check_ready(self) -> None:
        """See :meth:`Client.check_ready`."""
        self._require_key()
        await self._journal_read(self._check_journal)

    async def status(self, job: JobRef) -> JobStatus:
        """See :meth:`Client.status`."""
        request_id = request_id_of(job)
        with span("poll", job_attributes(None, request_id)):
            return observed(await self._call(Status(request_id)))

    async def result(self, job: JobRef) -> JobResult:
        """See :meth:`Client.result`."""
        return await self._call(Result(request_id_of(job)))

    async def cancel(self, job: JobRef) -> JobStatus:
        """See :meth:`Client.cancel`."""
        return observed(await self._call(Status(request_id_of(job), "cancel")))

    async def wait(
        self,
        job: JobRef,
        *,
        timeout: float | None = None,
        on_update: Callable[[JobStatus], None] | None = None,
        cancel_on_timeout: bool = False,
    ) -> JobStatus:
        """See :meth:`Client.wait`."""
        request_id = request_id_of(job)
        self._require_key()
        tracker = await self._journal_read(self._tracker, request_id, timeout, on_update)
        with span("wait", job_attributes(None, request_id), timed="wait"):
            return await self._wait_loop(request_id, tracker, cancel_on_timeout)

    async def _wait_loop(
        self, request_id: str, tracker: WaitTracker, cancel_on_timeout: bool
    ) -> JobStatus:
        while True:
            try:
                status = await self.status(request_id)
            except TRANSIENT_POLL_ERRORS as exc:
                delay = tracker.failed(exc)
            else:
                next_delay, changes = tracker.observe(status)
                if changes:
                    await self._apply(changes)
                if next_delay is None:
                    return self._ended(status)
                delay = next_delay
            remaining = tracker.remaining()
            if remaining <= 0:
                cancelled = (
                    cancel_on_timeout and tracker.queued and await self._cancel_quietly(request_id)
                )
                raise tracker.timeout_error(cancelled=cancelled)
            await self._shared.clock.asleep(min(delay, remaining))

    async def _cancel_quietly(self, request_id: str) -> bool:
        try:
            return (await self.cancel(request_id)).is_cancelled
        except ConflictError:
            logger.debug("%s: started before it could be cancelled", request_id)
            return False

    async def download(
        self,
        result: JobRef,
        path: str | os.PathLike[str],
        *,
        max_bytes: int | None = None,
        on_progress: Callable[[int, int | None], None] | None = None,
    ) -> list[Path]:
        """See :meth:`Client.download`."""
        files, request_id = files_to_download(
            result if isinstance(result, JobResult) else request_id_of(result)
        )
        with self._paid(request_id) as job:
            if files is None:
                assert request_id is not None
                files, request_id = files_to_download(await self.result(request_id))
            assert files is not None
            job.output_urls = tuple(item.url for item in files)
            with span("download", job_attributes(None, request_id)):
                saved = await self._download_to(files, request_id, path, max_bytes, on_progress)
            measure("download", sum(p.stat().st_size for p in saved if p.is_file()))
            return saved

    async def _download_to(
        self,
        files: tuple[OutputFile, ...],
        request_id: str | None,
        path: str | os.PathLike[str],
        max_bytes: int | None,
        on_progress: Callable[[int, int | None], None] | None = None,
    ) -> list[Path]:
        cap = self._options.max_download_bytes if max_bytes is None else max_bytes
        for item in files:
            self._host_policy.check_url(item.url, request_id=request_id)
        targets = await self._in_thread(target_paths, path, files, request_id)
        named = names_files(path, len(files))
        saved = [
            await self._fetcher.fetch(item, target, cap, request_id, on_progress, named=named)
            for item, target in zip(files, targets, strict=True)
        ]
        if request_id is not None and saved:
            await self._apply((Saved(request_id, str(saved[0])),))
        return saved

    async def generate(
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
        """See :meth:`Client.generate`."""
        await self._in_thread(check_output_target, out)
        target = absolute_target(out)
        submission = await self._submit(
            prompt, inputs, target=target, model=model, max_cost=max_cost
        )
        request_id = submission.request_id
        if on_submit is not None:
            on_submit(submission)
        with self._paid(request_id):
            status = await self.wait(request_id, timeout=timeout, on_update=on_update)
            if not status.is_completed:
                raise DownloadError(
                    f"{request_id} was {status.state}; there is no output", request_id=request_id
                )
            return await self.download(
                await self.result(request_id), target, on_progress=on_progress
            )

    async def price(self, *, model: str | None = None, **inputs: Any) -> CostEstimate:
        """See :meth:`Client.price`."""
        from ._inputs import job_seconds, known_model
        from ._prices import check_price_inputs

        model_id = known_model(model)
        check_price_inputs(inputs, model_id)
        return await self._estimate(model_id, job_seconds(inputs, model_id))

    async def _estimate(self, model_id: str, seconds: int | None) -> CostEstimate:
        from ._prices import estimate_from

        if model_id not in self._price_documents:
            import anyio

            # Many concurrent submits (a batch) ask the price once, not once each.
            lock = self._price_locks.setdefault(model_id, anyio.Lock())
            async with lock:
                if model_id not in self._price_documents:
                    self._price_documents[model_id] = await self._read_price(model_id)
        return estimate_from(model_id, self._price_documents[model_id], seconds)

    async def _read_price(self, model_id: str) -> Any:
        from ._operations import Price
        from ._prices import Unread, document_request

        if document_request(model_id) is None:
            return Unread("the spec gives the model no document operation")
        try:
            return await self._call(Price(model_id))
        except (ConfigurationError, AuthenticationError):
            raise
        except Sora2Error as exc:
            return Unread(f"the model document could not be read: {exc}")

    async def jobs(self, *, unfinished: bool = False) -> list[JobRecord]:
        """See :meth:`Client.jobs`."""
        return await self._journal_read(self._keeper.jobs, unfinished)

    async def forget(self, request_id: str) -> bool:
        """See :meth:`Client.forget`."""
        return await self._in_thread(self._keeper.forget, request_id)

    async def prune(self, *, older_than: float | None = None) -> list[str]:
        """See :meth:`Client.prune`."""
        return await self._in_thread(self._keeper.prune, older_than)

    async def resume(
        self,
        request_id: str | None = None,
        *,
        out_dir: str | os.PathLike[str] | None = None,
        on_update: Callable[[JobStatus], None] | None = None,
        on_progress: Callable[[int, int | None], None] | None = None,
    ) -> list[JobRecord]:
        """See :meth:`Client.resume`."""
        self._require_key()
        finished: list[JobRecord] = []
        for record in await self._journal_read(self._keeper.to_resume, request_id):
            try:
                with self._paid(record.request_id):
                    remember_job(record.request_id, record.model, record.params)
                    await self._resume_one(record, out_dir, on_update, on_progress)
            except FATAL_FOR_RESUME:
                raise
            except Sora2Error as exc:
                if request_id is not None:
                    raise
                if not is_gone(exc):
                    await self._apply((Failed(record.request_id, str(exc)),))
            finished.append(await self._journal_read(self._keeper.refresh, record))
        return finished

    async def resume_pending(
        self,
        *,
        out_dir: str | os.PathLike[str] | None = None,
        every: float | None = None,
    ) -> list[JobRecord]:
        """For a service: adopt this service's unfinished jobs that no live process follows
        (never submitted again), and finish them all at once.

        On a PostgreSQL journal shared by replicas, a job is followed by one process at a time
        through a lease; a replica that dies stops renewing its leases, and once they expire
        this sweep adopts its jobs. With ``every``, sweeps again every ``every`` seconds until
        cancelled (start it with the app, cancel it at shut-down); otherwise returns the jobs
        of one sweep. Each job's error is recorded in its row; the others go on.
        """
        import anyio

        async def follow(record: JobRecord, finished: list[JobRecord]) -> None:
            try:
                finished.extend(await self.resume(record.request_id, out_dir=out_dir))
            except FATAL_FOR_RESUME:
                raise
            except Sora2Error as exc:
                if not is_gone(exc):
                    await self._apply((Failed(record.request_id, str(exc)),))

        while True:
            finished: list[JobRecord] = []
            self._require_key()
            async with anyio.create_task_group() as group:
                for record in await self._journal_read(self._keeper.to_resume, None):
                    group.start_soon(follow, record, finished)
            if every is None:
                return finished
            await self._shared.clock.asleep(every)

    async def _resume_one(
        self,
        record: JobRecord,
        out_dir: str | os.PathLike[str] | None,
        on_update: Callable[[JobStatus], None] | None,
        on_progress: Callable[[int, int | None], None] | None = None,
    ) -> None:
        if is_adhoc(record):  # never journaled: a typo must not become a row
            await self.status(record.request_id)
            await self._apply((Adopted(record.request_id),))
        state = record.state
        if not record.is_terminal:
            state = (await self.wait(record.request_id, on_update=on_update)).state
        target = await self._in_thread(resume_target, record, out_dir)
        if is_completed_state(state) and target is not None:
            await self.download(
                await self.result(record.request_id), target, on_progress=on_progress
            )

    async def batch(
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
        """See :meth:`Client.batch`."""
        from ._batch._runner import run_batch

        return await run_batch(
            self,
            rows,
            out_dir=out_dir,
            concurrency=concurrency,
            max_jobs=max_jobs,
            max_seconds=max_seconds,
            max_cost=max_cost,
            dry_run=dry_run,
            cancel_queued_on_interrupt=cancel_queued_on_interrupt,
            resubmit_unknown=resubmit_unknown,
            defaults=defaults,
            on_progress=on_progress,
        )

    async def close(self) -> None:
        await self._keeper.group_commit().aclose()
        await self._http.aclose()
        await self._fetcher.aclose()
        if self._owns_journal and self._journal is not None:
            await self._in_thread(self._journal.close)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
