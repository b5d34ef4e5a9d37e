"""The bookkeeping of one wait() loop, shared by the sync and async clients.

The loops themselves stay explicit and short (poll, observe, sleep); this class decides what an
observation means: whether to tell ``on_update``, when to poll next, what was learned about
processing time once the job completes, and what to raise at the deadline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ._constants import MAX_WAIT_ERRORS
from ._exceptions import (
    APIConnectionError,
    APIError,
    InternalServerError,
    RateLimitError,
    WaitTimeoutError,
)
from ._journal_glue import Change, Processed
from ._logging import logger
from ._paid import mark_paid
from ._polling import Clock, PollSchedule, ProgressModel
from ._types import IN_PROGRESS, IN_QUEUE

if TYPE_CHECKING:
    from ._types import JobStatus

__all__ = ["TRANSIENT_POLL_ERRORS", "WaitTracker"]

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
        if started_wall is not None:
            self.schedule.earliest_start = now - max(0.0, clock.time() - started_wall)
        self.video_seconds = video_seconds
        self.last: JobStatus | None = None
        self.polls = 0
        self._failures = 0
        self._last_queued_at: float | None = None
        self._start_estimate: float | None = None
        self._last_progress_at: float | None = None
        self._unknown_logged = unknown_logged if unknown_logged is not None else set()
        """(request_id, state) pairs already logged, shared by the client's waits: an unknown
        state is logged once per job, not once per poll or per wait."""

    @property
    def queued(self) -> bool:
        """The job was queued at the last successful poll (so it can still be cancelled)."""
        return self.last is not None and self.last.state == IN_QUEUE

    def remaining(self) -> float:
        return self.deadline - self._clock.monotonic()

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
