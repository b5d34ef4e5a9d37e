"""One wait() loop, shared by the sync and async clients: when to poll next, and what each
answer means.

The loops themselves stay explicit and short (poll, observe, sleep); :class:`WaitTracker`
decides what an observation means: whether to tell ``on_update``, when to poll next, what was
learned about processing time once the job completes, and what to raise at the deadline. When
to poll next is a :class:`PollSchedule` that adapts to the job's state and to what it has
learned. Two rules bound every interval:

* **Latency.** An interval never exceeds ``POLL_LATENCY_FRACTION`` of the job's age (with a
  floor of ``MIN_POLL_INTERVAL``), so completion is noticed within that fraction of the job's
  length even when nothing is known about it. Intervals grow with the job's age, so long jobs
  cost few requests.
* **Expectation.** Once the processing time per requested video second has been learned from
  completed jobs (an EWMA), an in-progress job is polled sparsely early and densely near its
  expected end: each sleep covers ``POLL_APPROACH_FRACTION`` of the expected remainder. Near
  that end the one-second floor gives way to ``POLL_LATENCY_FRACTION`` of the job's expected
  length (at least ``MIN_NEAR_END_POLL_INTERVAL``): a job expected to last 6 s is polled every
  0.6 s around its end, so it too is seen done within 10%, and only there.

While queued, a job far back in the queue is polled less often, and once processing times are
known a queued job is not polled before it could possibly be done. A Retry-After from the
service always wins over a shorter interval. Time comes from a :class:`Clock`, so tests never
really sleep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ._exceptions import (
    APIConnectionError,
    APIError,
    InternalServerError,
    RateLimitError,
    WaitTimeoutError,
)
from ._journal_glue import Change, Processed
from ._options import (
    MAX_POLL_INTERVAL,
    MAX_QUEUE_POLL_INTERVAL,
    MAX_RETRY_AFTER,
    MAX_WAIT_ERRORS,
    MIN_NEAR_END_POLL_INTERVAL,
    MIN_POLL_INTERVAL,
    POLL_APPROACH_FRACTION,
    POLL_LATENCY_FRACTION,
    POLL_START_FRACTION,
    PROGRESS_EWMA_ALPHA,
    QUEUE_POLL_INTERVAL,
)
from ._paid import mark_paid
from ._telemetry import logger
from ._types import IN_PROGRESS, IN_QUEUE

if TYPE_CHECKING:
    from ._types import JobStatus

__all__ = [
    "TRANSIENT_POLL_ERRORS",
    "Clock",
    "PollSchedule",
    "ProgressModel",
    "SystemClock",
    "WaitTracker",
]


class Clock(Protocol):
    """The time source of wait(): monotonic for deadlines, wall time for the journal."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    async def asleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        import anyio

        await anyio.sleep(seconds)


class ProgressModel:
    """The learned processing time per requested video second, an exponentially weighted mean.

    Shared by a client and its ``with_options`` copies, and seeded from the journal, so each
    completed job makes the next wait cheaper. Each requested duration also keeps its own mean
    processing time, used once that duration has been seen: a fixed overhead per job makes
    short videos slower per second than long ones, so one rate for all would expect a short
    job to end too soon and poll it at the near-end floor for longer than needed.
    """

    def __init__(self, alpha: float = PROGRESS_EWMA_ALPHA) -> None:
        self._alpha = alpha
        self._per_second: float | None = None
        self._by_duration: dict[float, float] = {}
        self._samples = 0
        self._lock = threading.Lock()

    @property
    def samples(self) -> int:
        return self._samples

    @property
    def seconds_per_video_second(self) -> float | None:
        return self._per_second

    def observe(self, video_seconds: float, processing_seconds: float) -> None:
        """Learn from one job that took ``processing_seconds`` to make ``video_seconds``."""
        if video_seconds <= 0 or processing_seconds <= 0:
            return
        rate = processing_seconds / video_seconds
        with self._lock:
            self._per_second = self._mean(self._per_second, rate)
            self._by_duration[video_seconds] = self._mean(
                self._by_duration.get(video_seconds), processing_seconds
            )
            self._samples += 1

    def _mean(self, previous: float | None, sample: float) -> float:
        return sample if previous is None else previous + self._alpha * (sample - previous)

    def seed(self, samples: Iterable[tuple[float, float]]) -> None:
        """Learn from past jobs, oldest first: ``(video_seconds, processing_seconds)`` pairs."""
        for video_seconds, processing_seconds in samples:
            self.observe(video_seconds, processing_seconds)

    def knows(self, video_seconds: float | None) -> bool:
        """Whether a job of this duration has been seen, so ``expected`` is not extrapolated."""
        return video_seconds is not None and video_seconds in self._by_duration

    def expected(self, video_seconds: float | None) -> float | None:
        """Expected processing time of a job, or None while nothing has been learned."""
        if video_seconds is None or self._per_second is None:
            return None
        same = self._by_duration.get(video_seconds)
        return same if same is not None else self._per_second * video_seconds


@dataclass
class PollSchedule:
    """The next sleep of one wait() loop.

    Args:
        model: what has been learned about processing times.
        video_seconds: the job's requested duration, when known (from the journal).
        submitted_at: when the job was submitted (clock time), or when waiting began.
        earliest_start: the earliest the job can have started processing (clock time): the last
            poll that still saw it queued. None means "any time since it was submitted".

    The latest it can have started is the first poll that saw it in progress after seeing it
    queued (the schedule notes it itself). Once jobs of this very duration have been seen, the
    expected end is counted from ``POLL_START_FRACTION`` of the way between the two, where
    their processing time was measured from. An expectation scaled from other durations is
    less sure, so it counts from the earliest start: the job may end later than expected, which
    costs a few polls, but not sooner, which would cost latency. The near-end floor always
    counts from the earliest start, so it never exceeds 10% of any length the job can have.
    """

    model: ProgressModel
    video_seconds: float | None
    submitted_at: float
    earliest_start: float | None = None
    _latest_start: float | None = field(default=None, init=False, repr=False)
    _seen_queued: bool = field(default=False, init=False, repr=False)

    def _latency_bound(self, now: float, floor: float = MIN_POLL_INTERVAL) -> float:
        return max(floor, POLL_LATENCY_FRACTION * (now - self.submitted_at))

    def _near_end_floor(self, expected_end: float) -> float:
        """The shortest interval for a job expected to end at ``expected_end``.

        ``POLL_LATENCY_FRACTION`` of its expected length, between ``MIN_NEAR_END_POLL_INTERVAL``
        and ``MIN_POLL_INTERVAL``: one second for jobs of 10 s or more, as without a model.
        Before the end, sleeping half the expected remainder is longer than this floor except
        in the last moments; after it, the latency bound takes over as the job ages.
        """
        length = POLL_LATENCY_FRACTION * (expected_end - self.submitted_at)
        return min(MIN_POLL_INTERVAL, max(MIN_NEAR_END_POLL_INTERVAL, length))

    def next_delay(self, status: JobStatus, now: float) -> float:
        """Seconds to sleep before polling again, after seeing ``status`` at ``now``."""
        floor = MIN_POLL_INTERVAL
        delay = self._latency_bound(now)
        expected = self.model.expected(self.video_seconds)
        if status.state == IN_QUEUE:
            self._seen_queued = True
            if expected is not None:
                # It cannot finish sooner than its whole processing time from now.
                delay = max(delay, POLL_APPROACH_FRACTION * expected)
            elif status.queue_position:
                spacing = QUEUE_POLL_INTERVAL * status.queue_position
                delay = max(delay, min(MAX_QUEUE_POLL_INTERVAL, spacing))
        elif status.state == IN_PROGRESS:
            if self._seen_queued and self._latest_start is None:
                self._latest_start = now  # noted even while nothing has been learned yet
            if expected is not None:
                floor, delay = self._approach(expected, now)
        # Any other state, including one this version does not know: not finished, keep going.
        delay = max(floor, min(MAX_POLL_INTERVAL, delay))
        if status.retry_after is not None:
            delay = max(delay, min(status.retry_after, MAX_RETRY_AFTER))
        return delay

    def _approach(self, expected: float, now: float) -> tuple[float, float]:
        """(floor, delay) for a running job expected to take ``expected`` seconds."""
        earliest = self.submitted_at if self.earliest_start is None else self.earliest_start
        start = earliest
        if (
            self._latest_start is not None
            and self._latest_start > earliest
            and self.model.knows(self.video_seconds)
        ):
            start += POLL_START_FRACTION * (self._latest_start - earliest)
        remaining = expected - (now - start)
        # The floor counts from the earliest start: never over 10% of any length it can have.
        floor = self._near_end_floor(earliest + expected)
        delay = self._latency_bound(now, floor)
        if remaining > 0:
            delay = max(delay, POLL_APPROACH_FRACTION * remaining)
        return floor, delay

    def error_delay(self, now: float, retry_after: float | None, failures: int) -> float:
        """Seconds to sleep after a failed poll: backing off, but never past the latency bound."""
        delay = min(MAX_POLL_INTERVAL, max(self._latency_bound(now), MIN_POLL_INTERVAL * failures))
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
        return delay


# The wait's bookkeeping --------------------------------------------------------------------

TRANSIENT_POLL_ERRORS = (APIConnectionError, InternalServerError, RateLimitError)
"""Failures a poll survives (after its own retries): the job goes on regardless."""


class WaitTracker:
    """State of one wait: deadline, last status, schedule, and what to learn at the end."""

    def __init__(
        self,
        request_id: str,
        *,
        timeout: float,
        clock: Clock,
        model: ProgressModel,
        video_seconds: float | None,
        submitted_wall: float | None,
        started_wall: float | None,
        on_update: Callable[[JobStatus], None] | None,
        unknown_logged: set[tuple[str, str]] | None = None,
        hint_base_url: str | None = None,
        hint_in_process: bool = False,
    ) -> None:
        self.request_id = request_id
        self._hint_base_url = hint_base_url
        self._hint_in_process = hint_in_process
        self.timeout = timeout
        self._clock = clock
        self._model = model
        self._on_update = on_update
        now = clock.monotonic()
        self._started = now
        self.deadline = now + max(0.0, timeout)
        age = 0.0 if submitted_wall is None else max(0.0, clock.time() - submitted_wall)
        self.schedule = PollSchedule(model, video_seconds, submitted_at=now - age)
        self._fresh = submitted_wall is not None and age < MIN_POLL_INTERVAL
        """Submitted under ``MIN_POLL_INTERVAL`` ago: queued then, as the submit's answer said,
        and that answer is the latest look at it, so the first poll keeps the floor from it."""
        self._first_poll_at = now - age + MIN_POLL_INTERVAL if self._fresh else now
        if started_wall is not None:
            self.schedule.earliest_start = now - max(0.0, clock.time() - started_wall)
        self.video_seconds = video_seconds
        self.last: JobStatus | None = None
        self.polls = 0
        self._failures = 0
        self._last_queued_at: float | None = now - age if self._fresh else None
        self._start_estimate: float | None = None
        self._last_progress_at: float | None = None
        self._unknown_logged = unknown_logged if unknown_logged is not None else set()
        """(request_id, state) pairs already logged, shared by the client's waits: an unknown
        state is logged once per job, not once per poll or per wait."""

    @property
    def queued(self) -> bool:
        """The job was queued at the last successful poll, or, before any, was just submitted
        (so it can still be cancelled)."""
        return self._fresh if self.last is None else self.last.state == IN_QUEUE

    def remaining(self) -> float:
        return self.deadline - self._clock.monotonic()

    def first_delay(self) -> float:
        """Seconds before the first poll: none, but for a job just submitted (see ``_fresh``)."""
        return max(0.0, min(self._first_poll_at - self._clock.monotonic(), self.remaining()))

    def observe(self, status: JobStatus) -> tuple[float | None, tuple[Change, ...]]:
        """Take one poll's answer: None when the job is over, else seconds until the next poll;
        and what the journal must record (what was learned about processing time)."""
        now = self._clock.monotonic()
        self.polls += 1
        self._failures = 0
        previous = self.last
        self.last = status
        changed = previous is None or (previous.state, previous.queue_position) != (
            status.state,
            status.queue_position,
        )
        if changed:
            logger.debug(
                "%s: %s%s",
                self.request_id,
                status.state,
                f" (queue position {status.queue_position})"
                if status.queue_position is not None
                else "",
            )
            if self._on_update is not None:
                self._on_update(status)
        key = (self.request_id, status.state)
        if not status.is_known and key not in self._unknown_logged:
            self._unknown_logged.add(key)
            logger.info(
                "%s: state %r is not in the spec; treating it as not finished (deadline in %.0fs)",
                self.request_id,
                status.state,
                max(0.0, self.deadline - now),
            )
        if status.state == IN_QUEUE:
            self._last_queued_at = now
        elif status.state == IN_PROGRESS:
            if self._start_estimate is None and self._last_queued_at is not None:
                # Started some time between the last queued poll and this one: schedule from
                # the earliest moment, learn from the middle.
                self._start_estimate = (self._last_queued_at + now) / 2
                self.schedule.earliest_start = self._last_queued_at
            self._last_progress_at = now
        if status.is_terminal:
            return None, self._learn(status, now)
        delay = self.schedule.next_delay(status, now)
        logger.debug("%s: next poll in %.1fs", self.request_id, delay)
        return delay, ()

    def _learn(self, status: JobStatus, now: float) -> tuple[Change, ...]:
        if (
            not status.is_completed
            or self._start_estimate is None
            or self._last_progress_at is None
            or self.video_seconds is None
        ):
            return ()
        finished = (self._last_progress_at + now) / 2
        processing = finished - self._start_estimate
        if processing <= 0:
            return ()
        self._model.observe(self.video_seconds, processing)
        logger.debug(
            "%s: processed in about %.1fs; now expecting %.2fs per video second",
            self.request_id,
            processing,
            self._model.seconds_per_video_second or 0.0,
        )
        return (Processed(self.request_id, processing),)

    def failed(self, exc: APIError) -> float:
        """Take a failed poll: seconds until the next try, or re-raise after too many in a row."""
        self._failures += 1
        if self._failures >= MAX_WAIT_ERRORS:
            raise exc
        retry_after = exc.retry_after if isinstance(exc, RateLimitError) else None
        delay = self.schedule.error_delay(self._clock.monotonic(), retry_after, self._failures)
        logger.debug("%s: poll failed (%s); trying again in %.1fs", self.request_id, exc, delay)
        return delay

    def timeout_error(self, *, cancelled: bool) -> WaitTimeoutError:
        state = self.last.state if self.last is not None else None
        tail = "it was still queued, so it was cancelled" if cancelled else "the job goes on"
        error = WaitTimeoutError(
            f"gave up waiting for {self.request_id} after {self.timeout:g}s "
            f"(last state: {state or 'unknown'}); {tail}",
            request_id=self.request_id,
            last_status=state,
            cancelled=cancelled,
        )
        if not cancelled:
            mark_paid(
                error,
                self.request_id,
                base_url=self._hint_base_url,
                in_process=self._hint_in_process,
            )
        return error
