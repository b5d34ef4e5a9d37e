"""The job store at scale: 10,000 jobs queue, report their positions, cancel and finish."""

from __future__ import annotations

from sora2._types import CANCELLED, COMPLETED, IN_QUEUE
from sora2.emulator._jobs import JobStore

from .helpers import FakeClock

JOBS = 10_000


def _store(clock: FakeClock, workers: int = 1) -> JobStore:
    return JobStore(workers=workers, clock=clock.monotonic, ttl=1e9, max_jobs=JOBS)


def test_ten_thousand_queued_jobs_know_their_positions() -> None:
    """Every one of 10,000 queued jobs sees the count of jobs ahead of it, in order."""
    clock = FakeClock()
    store = _store(clock)
    ids = [f"job-{i}" for i in range(JOBS)]
    for request_id in ids:
        store.submit(request_id, {}, queue_time=1.0, run_time=1.0)
    views = [store.get(request_id) for request_id in ids]
    assert list(range(JOBS)) == [view.queue_position for view in views if view is not None]


def test_a_cancelled_job_leaves_the_queue_and_the_rest_move_up() -> None:
    """Cancelling a job in the middle of 10,000 moves every later job up by one."""
    clock = FakeClock()
    store = _store(clock)
    ids = [f"job-{i}" for i in range(JOBS)]
    for request_id in ids:
        store.submit(request_id, {}, queue_time=1.0, run_time=1.0)
    found = store.cancel(ids[5000])
    assert found is not None and (CANCELLED, True) == (found[0].state, found[1])
    positions = {i: store.get(ids[i]).queue_position for i in (4999, 5001, JOBS - 1)}  # type: ignore[union-attr]
    assert {4999: 4999, 5001: 5000, JOBS - 1: JOBS - 2} == positions


def test_ten_thousand_jobs_all_finish_in_order() -> None:
    """With two workers, 10,000 jobs all complete; while they drain, positions stay exact."""
    clock = FakeClock()
    store = _store(clock, workers=2)
    ids = [f"job-{i}" for i in range(JOBS)]
    for request_id in ids:
        store.submit(request_id, {}, queue_time=0.0, run_time=1.0)
    clock.advance(1000.0)  # 2,000 jobs done, two running
    view = store.get(ids[-1])
    assert view is not None and IN_QUEUE == view.state
    assert JOBS - 2002 - 1 == view.queue_position  # 2,002 left the queue; itself excluded
    clock.advance(JOBS)
    assert {COMPLETED} == {store.get(request_id).state for request_id in ids}  # type: ignore[union-attr]
