"""run_in_worker: blocking work in a thread, its context, its errors, and cancellation."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import anyio
import pytest

from sora2._threads import run_in_worker

WHO: contextvars.ContextVar[str] = contextvars.ContextVar("WHO", default="nobody")


def test_the_work_runs_in_another_thread_with_the_callers_context() -> None:
    """The function runs off the event loop's thread and sees the caller's context variables."""

    def where() -> tuple[int, str]:
        return threading.get_ident(), WHO.get()

    async def main() -> tuple[int, str]:
        WHO.set("caller")
        return await run_in_worker(where)

    ident, who = asyncio.run(main())
    assert ident != threading.get_ident()
    assert "caller" == who


def test_an_exception_comes_back_to_the_caller() -> None:
    """An exception raised in the thread is raised by the await."""

    def fail(message: str) -> None:
        raise ValueError(message)

    with pytest.raises(ValueError, match="from the thread"):
        asyncio.run(run_in_worker(fail, "from the thread"))


def test_a_cancelled_caller_waits_for_the_work_to_end() -> None:
    """Cancelled while the work runs: the cancellation reaches the caller after the work ends."""
    started, release = threading.Event(), threading.Event()
    done: list[bool] = []

    def slow() -> None:
        started.set()
        release.wait(10)
        done.append(True)

    async def main() -> None:
        task = asyncio.create_task(run_in_worker(slow))
        while not started.is_set():
            await asyncio.sleep(0.001)
        task.cancel()
        await asyncio.sleep(0.01)
        assert not task.done()  # still waiting for the thread
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert [True] == done

    asyncio.run(main())


def test_under_trio_anyio_runs_it() -> None:
    """Outside asyncio (trio), the work still runs in a worker thread."""
    pytest.importorskip("trio")

    def where() -> int:
        return threading.get_ident()

    assert threading.get_ident() != anyio.run(run_in_worker, where, backend="trio")
