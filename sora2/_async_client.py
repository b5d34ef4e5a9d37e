"""``AsyncClient``: the same surface as ``Client``, with async methods and ``async with``.

Only the I/O differs from ``sora2._client``: every decision lives in the operations
(``sora2._operations``) and the flows (``sora2._flows``); ``_run`` awaits each step of a flow,
and runs file and SQLite work in a worker thread, never on the event loop.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, Unpack

import attrs
import httpx

from ._aiohttp import InFlight, default_async_transport, guarded_download_transport
from ._base_client import FATAL_FOR_RESUME, observed, request_id_of
from ._download import FetcherBase, PartFile, absolute_target, begin, job_of
from ._exceptions import ConfigurationError, DownloadError, Sora2Error, is_gone
from ._flows import Apply, Blocking, Done, Fetch, Flow, FlowClient, ReadPrice, Sleep, next_step
from ._journal_glue import Change, Failed
from ._operations import Result, Status
from ._options import (
    DEFAULT_BATCH_CONCURRENCY,
    DOWNLOAD_CHUNK_SIZE,
    MAX_DOWNLOAD_REDIRECTS,
    ClientOptions,
)
from ._threads import run_in_worker
from ._transports import BorrowedTransport, logger
from ._types import JobRef, JobResult, JobStatus, Submission
from ._waiting import job_attributes, span

if TYPE_CHECKING:
    from sora2_models.typed_dicts import InputOptions

    from ._batch import BatchProgress, BatchRow, BatchSummary
    from ._batch._api import BatchSource
    from ._client import Client
    from ._journal_glue import JobRecord
    from ._operations import Operation
    from ._options import CostEstimate


__all__ = ["AsyncClient"]

T = TypeVar("T")


_CLOSE_SECONDS = 10.0
"""How long ``close()`` may go on once its caller is cancelled."""


class AsyncClient(FlowClient[httpx.AsyncBaseTransport]):
    """The asynchronous client: the same surface as :class:`Client`, with async methods."""

    _SYNC = False

    def _connect(self, options: ClientOptions) -> None:
        """The httpx clients of the API and of downloads (see ``BaseClient._setup``)."""
        source = self._shared.transport
        if source is not None and not isinstance(source, httpx.AsyncBaseTransport):
            raise ConfigurationError(
                "AsyncClient needs an async transport (httpx.AsyncBaseTransport)"
            )
        api_transport: httpx.AsyncBaseTransport | None = source
        if self._borrowed and source is not None:
            api_transport = BorrowedTransport(source)
        if api_transport is None:  # the network: aiohttp's pool when installed (sora2._aiohttp)
            api_transport = default_async_transport(options.limits())
        self._http = httpx.AsyncClient(transport=api_transport, **self._http_settings())
        self._api_slots = InFlight(options.connection_limit, options.timeout.pool)
        self._fetcher = AsyncFetcher(self._shared, self._host_policy, options, lambda: self._retry)

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
        request = self._request(op)
        try:
            return await self._attempt(op, request)
        except Exception as exc:  # the retry machinery is loaded at a first failure
            from ._retry import aretry_failed

            def again() -> Awaitable[T]:
                return self._attempt(op, request)

            return await aretry_failed(self._retry, op.name, again, exc, submit=op.name == "submit")

    async def _attempt(self, op: Operation[T], request: dict[str, Any]) -> T:
        """One attempt of ``op``: its request sent, its answer interpreted and journaled."""
        try:  # the slot taken and released by hand: ``hold()`` is a context manager per request
            slot = await self._api_slots.acquire()  # its PoolTimeout is the op's failure too
            try:
                raw = await self._http.request(**request)
            finally:
                slot.release()
        except httpx.RequestError as exc:
            raise op.failure(exc) from exc
        if logger.isEnabledFor(logging.DEBUG):  # the path is decoded for the message only
            logger.debug("%s: %s %s", op.name, raw.status_code, raw.request.url.path)
        shared = self._shared
        outcome = op.interpret(raw, shared, shared.clock.time())
        if outcome.changes:
            await self._apply(outcome.changes)
        return outcome.unwrap()

    async def _run(self, flow: Flow[T]) -> T:
        """Drive a flow (see ``Client._run``), awaiting each step."""
        step = next_step(flow)
        while not isinstance(step, Done):
            try:
                value, error = await self._step(step), None
            except BaseException as exc:  # Ctrl-C and cancellation too: the flow's ``with``s see it
                value, error = None, exc
            step = next_step(flow, value, error)
        return step.value  # type: ignore[no-any-return]

    async def _step(self, step: Any) -> Any:
        match step:
            case Blocking(function, args, journal, alone):
                if alone:
                    return await run_in_worker(function, *args)
                if journal and self._journal is None:  # nothing blocks: a hop is pure cost
                    return function(*args)
                # in the thread hop of the journal's next batch (GroupCommit), journal or not
                return await self._keeper.group_commit().call(function, *args)
            case Apply(changes):
                return await self._apply(changes)
            case Sleep(seconds):
                return await self._shared.clock.asleep(seconds)
            case Fetch():
                return await self._fetcher.fetch(step)
            case ReadPrice(model_id):
                import anyio

                # Many concurrent submits (a batch) ask the price once, not once each.
                async with self._price_locks.setdefault(model_id, anyio.Lock()):
                    if model_id not in self._price_documents:
                        document = await self._run(self._document_flow(model_id))
                        self._price_documents[model_id] = document
                return None
        return await self._call(step)

    async def _apply(self, changes: tuple[Change, ...]) -> None:
        """Journal changes: noted at once, committed with every other job's waiting changes in
        one worker-thread transaction (``GroupCommit``; never on the loop)."""
        if self._keeper.remember(changes):
            await self._keeper.group_commit().write(changes)

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
        return await self._run(self._submit_flow(prompt, inputs, where, model, max_cost))

    async def check_ready(self) -> None:
        """See :meth:`Client.check_ready`."""
        self._require_key()
        await self._step(Blocking(self._check_journal, journal=True))

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
        return await self._run(self._wait_flow(job, timeout, on_update, cancel_on_timeout))

    async def download(
        self,
        result: JobRef,
        path: str | os.PathLike[str],
        *,
        max_bytes: int | None = None,
        on_progress: Callable[[int, int | None], None] | None = None,
    ) -> list[Path]:
        """See :meth:`Client.download`."""
        return await self._run(self._download_flow(result, path, max_bytes, on_progress))

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
        watchers = (on_update, on_progress)
        flow = self._generate_flow(
            prompt, inputs, out, on_submit, watchers, timeout, model, max_cost
        )
        return await self._run(flow)

    async def price(self, *, model: str | None = None, **inputs: Any) -> CostEstimate:
        """See :meth:`Client.price`."""
        return await self._run(self._price_flow(model, inputs))

    async def jobs(self, *, unfinished: bool = False) -> list[JobRecord]:
        """See :meth:`Client.jobs`."""
        return await self._step(Blocking(self._keeper.jobs, (unfinished,), journal=True))  # type: ignore[no-any-return]

    async def forget(self, request_id: str) -> bool:
        """See :meth:`Client.forget`."""
        return await run_in_worker(self._keeper.forget, request_id)

    async def prune(self, *, older_than: float | None = None) -> list[str]:
        """See :meth:`Client.prune`."""
        return await run_in_worker(self._keeper.prune, older_than)

    async def resume(
        self,
        request_id: str | None = None,
        *,
        out_dir: str | os.PathLike[str] | None = None,
        on_update: Callable[[JobStatus], None] | None = None,
        on_progress: Callable[[int, int | None], None] | None = None,
    ) -> list[JobRecord]:
        """See :meth:`Client.resume`."""
        return await self._run(self._resume_flow(request_id, out_dir, (on_update, on_progress)))

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

        from ._journal_resume import to_resume

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
            sweep = Blocking(to_resume, (self._keeper, None), journal=True)
            async with anyio.create_task_group() as group:
                for record in await self._step(sweep):
                    group.start_soon(follow, record, finished)
            if every is None:
                return finished
            await self._shared.clock.asleep(every)

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
        settings = {k: v for k, v in locals().items() if k not in ("self", "rows")}
        from ._batch._runner import BatchSettings, run_batch

        return await run_batch(self, rows, BatchSettings(**settings))

    async def close(self) -> None:
        """Write what the journal still holds, then close every connection: shielded (for at
        most ``_CLOSE_SECONDS``) from a cancelled caller, whose sessions would otherwise leak."""
        import anyio

        with anyio.move_on_after(_CLOSE_SECONDS, shield=True):
            await self._keeper.group_commit().aclose()
            await self._http.aclose()
            await self._fetcher.aclose()
            if self._owns_journal and self._journal is not None:
                await run_in_worker(self._journal.close)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class AsyncFetcher(FetcherBase):
    """``AsyncClient``'s downloads (see ``sora2._download``): file I/O in worker threads, at
    most ``connection_limit`` in flight (its own bound: a long download never holds up a poll)."""

    _files: httpx.AsyncClient | None = None

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._slots = InFlight(self._options.connection_limit, self._options.timeout.pool)

    def _client(self) -> httpx.AsyncClient:
        if self._files is None:
            transport: object = self._shared.transport
            if transport is not None:  # of the client's own kind (checked by its _connect)
                transport = BorrowedTransport(transport)  # type: ignore[arg-type]
            else:
                allows, limits = self._policy.allows_address, self._options.limits()
                transport = guarded_download_transport(allows, limits)
            self._files = self._made(httpx.AsyncClient, transport)
        return self._files

    async def _open(self, url: str, request_id: str | None) -> httpx.Response:
        files = self._client()
        request = files.build_request("GET", self._policy.check_url(url, request_id=request_id))
        for _ in range(MAX_DOWNLOAD_REDIRECTS + 1):
            with job_of(request_id):  # an address the transport refused
                response = await files.send(request, stream=True)
            next_request = self._next_hop(response, request_id)
            if next_request is None:
                return response
            await response.aclose()
            request = next_request
        raise DownloadError("download failed: too many redirects", request_id=request_id)

    async def fetch(self, step: Fetch) -> tuple[Path, int]:
        """See ``Fetcher.fetch``."""
        request_id = step.request_id

        async def attempt() -> tuple[Path, int]:
            # Created by its first write, in a worker thread: no hop of its own.
            with PartFile(step.target, max_bytes=step.cap, request_id=step.request_id) as part:
                try:
                    async with self._slots.hold():
                        response = await self._open(step.item.url, request_id)
                        try:
                            announced, last = begin(part, step, response), b""
                            async for chunk in response.aiter_bytes(DOWNLOAD_CHUNK_SIZE):
                                if last:  # each chunk written when the next one arrives
                                    await run_in_worker(part.write, last)
                                    if step.on_progress is not None:
                                        step.on_progress(part.size, announced)
                                last = chunk
                        finally:
                            await response.aclose()
                except (httpx.TransportError, httpx.DecodingError) as exc:
                    from ._errors import transport_failure

                    raise transport_failure(exc, request_id) from exc
                saved = await run_in_worker(part.finish, last, announced, response)
                if step.on_progress is not None and last:
                    step.on_progress(part.size, announced)
                return saved

        try:
            return await attempt()
        except Exception as exc:  # the retry machinery is loaded at a first failure
            from ._retry import aretry_failed

            return await aretry_failed(self._retry(), "download", attempt, exc)

    async def aclose(self) -> None:
        if self._files is not None:
            await self._files.aclose()
