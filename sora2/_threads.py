"""Blocking work (SQLite, file I/O) off the event loop, at a third of anyio's cost per hop.

``AsyncClient`` makes one such hop of its own per ``generate()`` (its video created, written
and committed: ``sora2._download``) and shares the rest with many other jobs (the output
checks, the target paths and the journal: ``sora2._journal_async.GroupCommit``). Measured
with 1,000 tasks hopping at once, a hop through ``anyio.to_thread.run_sync`` cost 70-100 µs
of CPU (its capacity limiter and cancel scopes) against 20-40 µs through the event loop's
executor (50-75 µs on a loaded machine, most of it the threads' wake-ups: fewer hops is the
larger saving). Under asyncio the loop's default executor runs the work, in a copy of the
caller's context; under another library (trio), anyio does.
As with anyio, a cancelled caller waits for the work already started to end, so a journal
write is never left running behind a journal being closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

__all__ = ["Batched", "Done", "run_in_worker"]

T = TypeVar("T")


async def run_in_worker(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in a worker thread; its value, or its exception, comes back here."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not asyncio
        import anyio.to_thread

        return await anyio.to_thread.run_sync(function, *args)
    context = contextvars.copy_context()
    future = loop.run_in_executor(None, context.run, function, *args)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        while not future.done():  # the work has started: it ends before the cancellation goes on
            try:
                await asyncio.wait([future])
            except asyncio.CancelledError:
                continue
        raise


@attrs.frozen
class Done:
    """One caller's share of a batch: its value, or its error."""

    value: Any
    error: Exception | None

    def unwrap(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


class Batched:
    """Work of many callers, one worker-thread hop per batch: what callers hand over while a
    batch runs forms the next one.

    ``run(items)`` runs in the worker thread and returns one :class:`Done` per item, in order.
    One task per event loop runs batches one after another; each caller resumes once its batch
    is done, with its own value or error. A caller cancelled while it waits leaves its item to
    be run all the same; :meth:`aclose` waits until nothing is pending. Under another async
    library than asyncio (trio), each caller makes its own hop.
    """

    def __init__(self, run: Callable[[list[Any]], list[Done]]) -> None:
        self._run = run
        self._loop: asyncio.AbstractEventLoop | None = None
        self._batch: list[Any] = []
        self._waiters: list[asyncio.Future[Any]] = []
        self._task: asyncio.Task[None] | None = None
        self.hops = 0
        """Batches run (each one worker-thread hop)."""

    async def submit(self, item: Any) -> Any:
        """``item`` run with the next batch; its value (or its error raised)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio
            return (await run_in_worker(self._run, [item]))[0].unwrap()
        if loop is not self._loop:  # a new event loop: the last one's task is gone with it
            self._loop, self._batch, self._waiters, self._task = loop, [], [], None
        done: asyncio.Future[Any] = loop.create_future()
        self._batch.append(item)
        self._waiters.append(done)
        if self._task is None:
            self._task = loop.create_task(self._drain())
        return await done

    async def _drain(self) -> None:
        """Run the collected batches until none is left."""
        try:
            while self._batch:
                batch, waiters = self._batch, self._waiters
                self._batch, self._waiters = [], []
                try:
                    found = await run_in_worker(self._run, batch)
                except BaseException as exc:
                    for waiter in waiters:
                        _settle(waiter, Done(None, exc if isinstance(exc, Exception) else None))
                    raise
                self.hops += 1
                for waiter, done in zip(waiters, found, strict=True):
                    _settle(waiter, done)
        finally:
            self._task = None

    async def aclose(self) -> None:
        """Wait until every item handed over has run (a client's ``close()``)."""
        try:
            if self._loop is not asyncio.get_running_loop():
                return
        except RuntimeError:  # not asyncio: nothing is ever pending
            return
        while self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._task)
        if self._batch:  # left by a task cancelled with its event loop's end
            with contextlib.suppress(Exception):
                await self._drain()


def _settle(waiter: asyncio.Future[Any], done: Done) -> None:
    if waiter.done():  # its caller was cancelled: its item ran all the same
        return
    if done.error is None:
        waiter.set_result(done.value)
    else:
        waiter.set_exception(done.error)
