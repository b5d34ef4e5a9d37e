"""Blocking work (SQLite, file I/O) off the event loop, at a third of anyio's cost per hop.

``AsyncClient`` makes four such hops per ``generate()`` (the output file's checks, its part
file opened, then written and committed) and shares one with many other jobs for the journal
(``sora2._journal_glue.GroupCommit``). Measured with 1,000 tasks hopping at once, a hop through
``anyio.to_thread.run_sync`` cost 70-100 µs of CPU (its capacity limiter and cancel scopes)
against 20-40 µs through the event loop's executor (50-75 µs on a loaded machine, most of it
the threads' wake-ups: fewer hops is the larger saving). Under asyncio the loop's default executor
runs the work, in a copy of the caller's context; under another library (trio), anyio does.
As with anyio, a cancelled caller waits for the work already started to end, so a journal
write is never left running behind a journal being closed.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["run_in_worker"]

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
