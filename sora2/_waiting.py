"""Following a job: when to poll it, what its processing time teaches, and the spans and
metrics that report it.

:class:`WaitTracker` reads each poll of a wait() (either client): whether to tell ``on_update``,
when to poll next (:class:`PollSchedule`: at most ``POLL_LATENCY_FRACTION`` of the job's age,
and densely only near the end :class:`ProgressModel` expects), what to learn once it completes.

Spans and metrics (listed in docs/services.md) need ``opentelemetry-api`` (the ``otel`` extra)
and record nothing until the application sets a tracer or meter provider.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from ._exceptions import APIConnectionError, InternalServerError, RateLimitError
from ._journal_glue import Change, Processed
from ._options import (
    MAX_POLL_INTERVAL,
    MAX_QUEUE_POLL_INTERVAL,
    MAX_RETRY_AFTER,
    MIN_NEAR_END_POLL_INTERVAL,
    MIN_POLL_INTERVAL,
    POLL_APPROACH_FRACTION,
    POLL_LATENCY_FRACTION,
    POLL_START_FRACTION,
    PROGRESS_EWMA_ALPHA,
    QUEUE_POLL_INTERVAL,
)
from ._transports import logger
from ._types import IN_PROGRESS, IN_QUEUE

if TYPE_CHECKING:
    from ._transports import Clock
    from ._types import JobStatus

__all__ = [
    "PROMPTS_ENV_VAR",
    "TRANSIENT_POLL_ERRORS",
    "PollSchedule",
    "ProgressModel",
    "WaitTracker",
    "annotate",
    "count",
    "job_attributes",
    "measure",
    "remember_job",
    "span",
]


class ProgressModel:
    """The learned processing time per requested video second (an exponentially weighted
    mean), shared by a client and its copies and seeded from the journal; and per duration,
    since a fixed overhead per job makes short videos slower per second than long ones."""

    def __init__(self, alpha: float = PROGRESS_EWMA_ALPHA) -> None:
        self._alpha = alpha
        self._per_second: float | None = None
        self._by_duration: dict[float, float] = {}
        self._lock = threading.Lock()

    @property
    def seconds_per_video_second(self) -> float | None:
        return self._per_second

    def observe(self, video_seconds: float, processing_seconds: float) -> None:
        """Learn from one job that took ``processing_seconds`` to make ``video_seconds``."""
        if video_seconds <= 0 or processing_seconds <= 0:
            return
        with self._lock:
            self._per_second = self._mean(self._per_second, processing_seconds / video_seconds)
            self._by_duration[video_seconds] = self._mean(
                self._by_duration.get(video_seconds), processing_seconds
            )

    def _mean(self, previous: float | None, sample: float) -> float:
        return sample if previous is None else previous + self._alpha * (sample - previous)

    def seed(self, samples: Iterable[tuple[float, float]]) -> None:
        """Learn from past jobs, oldest first: ``(video_seconds, processing_seconds)`` pairs."""
        for video_seconds, processing_seconds in samples:
            self.observe(video_seconds, processing_seconds)

    def knows(self, video_seconds: float | None) -> bool:
        """A job of this duration has been seen: ``expected`` is not extrapolated."""
        return video_seconds is not None and video_seconds in self._by_duration

    def expected(self, video_seconds: float | None) -> float | None:
        """Expected processing time of a job, or None while nothing has been learned."""
        if video_seconds is None or self._per_second is None:
            return None
        same = self._by_duration.get(video_seconds)
        return same if same is not None else self._per_second * video_seconds


@dataclass
class PollSchedule:
    """The next sleep of one wait() loop, for a job of ``video_seconds`` (when known)
    submitted at ``submitted_at`` (clock time, or when waiting began).

    The job started between ``earliest_start`` (the last poll that saw it queued; None: since
    it was submitted) and the first poll that saw it running. A duration already seen is
    expected to end counting from ``POLL_START_FRACTION`` of the way in, where processing
    times are measured from; an extrapolated one, and the near-end floor, from the earliest.
    """

    model: ProgressModel
    video_seconds: float | None
    submitted_at: float
    earliest_start: float | None = None
    _latest_start: float | None = field(default=None, init=False, repr=False)
    _seen_queued: bool = field(default=False, init=False, repr=False)

    def latency_bound(self, now: float, floor: float = MIN_POLL_INTERVAL) -> float:
        return max(floor, POLL_LATENCY_FRACTION * (now - self.submitted_at))

    def next_delay(self, status: JobStatus, now: float) -> float:
        """Seconds to sleep before polling again, after seeing ``status`` at ``now``."""
        floor = MIN_POLL_INTERVAL
        delay = self.latency_bound(now)
        expected = self.model.expected(self.video_seconds)
        if status.state == IN_QUEUE:
            self._seen_queued = True
            if expected is not None:  # it cannot end sooner than its processing time from now
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
        # The floor: that fraction of the shortest length it can have, within both minimums.
        length = POLL_LATENCY_FRACTION * (earliest + expected - self.submitted_at)
        floor = min(MIN_POLL_INTERVAL, max(MIN_NEAR_END_POLL_INTERVAL, length))
        delay = self.latency_bound(now, floor)
        remaining = expected - (now - start)
        if remaining > 0:
            delay = max(delay, POLL_APPROACH_FRACTION * remaining)
        return floor, delay


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
    ) -> None:
        self.request_id = request_id
        self.timeout = timeout
        self.clock = clock
        self._on_update = on_update
        now = clock.monotonic()
        self.deadline = now + max(0.0, timeout)
        age = 0.0 if submitted_wall is None else max(0.0, clock.time() - submitted_wall)
        self.schedule = PollSchedule(model, video_seconds, submitted_at=now - age)
        # Submitted under a poll interval ago: queued, as the submit's answer said just now.
        self._fresh = submitted_wall is not None and age < MIN_POLL_INTERVAL
        self._first_poll_at = now - age + MIN_POLL_INTERVAL if self._fresh else now
        if started_wall is not None:
            self.schedule.earliest_start = now - max(0.0, clock.time() - started_wall)
        self.last: JobStatus | None = None
        self.failures = 0
        self._last_queued_at: float | None = now - age if self._fresh else None
        self._start_estimate: float | None = None
        self._last_progress_at: float | None = None
        # (request_id, state) pairs logged, shared by the client's waits: once per job.
        self._unknown_logged = unknown_logged if unknown_logged is not None else set()

    @property
    def queued(self) -> bool:
        """Queued at the last poll, or, before any, just submitted (so it can be cancelled)."""
        return self._fresh if self.last is None else self.last.state == IN_QUEUE

    def remaining(self) -> float:
        return self.deadline - self.clock.monotonic()

    def first_delay(self) -> float:
        """Seconds before the first poll: none, but for a job just submitted (see ``_fresh``)."""
        return max(0.0, min(self._first_poll_at - self.clock.monotonic(), self.remaining()))

    def observe(self, status: JobStatus) -> tuple[float | None, tuple[Change, ...]]:
        """Take one poll's answer: None when the job is over, else seconds until the next poll;
        and what the journal must record (what was learned about processing time)."""
        now = self.clock.monotonic()
        self.failures = 0
        previous, self.last = self.last, status
        seen = (previous.state, previous.queue_position) if previous is not None else None
        if seen != (status.state, status.queue_position):
            position = status.queue_position
            where = f" (queue position {position})" if position is not None else ""
            logger.debug("%s: %s%s", self.request_id, status.state, where)
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
                # Started between the last queued poll and this one: schedule from the
                # earliest moment, learn from the middle.
                self._start_estimate = (self._last_queued_at + now) / 2
                self.schedule.earliest_start = self._last_queued_at
            self._last_progress_at = now
        if status.is_terminal:
            return None, self._learn(status, now)
        delay = self.schedule.next_delay(status, now)
        logger.debug("%s: next poll in %.1fs", self.request_id, delay)
        return delay, ()

    def _learn(self, status: JobStatus, now: float) -> tuple[Change, ...]:
        start, last = self._start_estimate, self._last_progress_at
        seconds = self.schedule.video_seconds
        if not status.is_completed or start is None or last is None or seconds is None:
            return ()
        processing = (last + now) / 2 - start
        if processing <= 0:
            return ()
        model = self.schedule.model
        model.observe(seconds, processing)
        logger.debug(
            "%s: processed in about %.1fs; now expecting %.2fs per video second",
            self.request_id,
            processing,
            model.seconds_per_video_second or 0.0,
        )
        return (Processed(self.request_id, processing),)


# Spans and metrics ------------------------------------------------------------------------

PROMPTS_ENV_VAR: Final = "SORA2_TRACE_PROMPTS"
_SCOPE: Final = "sora2"
_Otel = tuple[Any, dict[str, Any], tuple[Any, Any]]  # tracer, instruments, provider modules


@functools.cache
def _otel() -> _Otel | None:
    """The tracer and the instruments, or None without ``opentelemetry-api``."""
    try:
        from opentelemetry import metrics, trace
        from opentelemetry.metrics import _internal as metrics_globals
    except ImportError:
        return None
    from . import __version__

    meter = metrics.get_meter(_SCOPE, __version__)
    instruments: dict[str, Any] = {
        "submitted": meter.create_counter("sora2.jobs.submitted", "{job}", "Jobs submitted"),
        "completed": meter.create_counter("sora2.jobs.completed", "{job}", "Jobs completed"),
        "failed": meter.create_counter("sora2.jobs.failed", "{job}", "Jobs that failed"),
        "wait": meter.create_histogram("sora2.wait.duration", "s", "Seconds wait() took"),
        "download": meter.create_histogram("sora2.download.size", "By", "Bytes saved per job"),
    }
    return trace.get_tracer(_SCOPE, __version__), instruments, (trace, metrics_globals)


_judged: tuple[Any, ...] = ()
"""What :func:`_recording` judged last: ``_otel()``, the two global providers, the answer."""


def _recording() -> _Otel | None:
    """:func:`_otel`, once the application has set a tracer or meter provider (before, a span
    would cost each request microseconds to record nothing). Judged again only when a global
    provider changed: 0.3 us a call instead of 2.2 (``$OTEL_PYTHON_*_PROVIDER`` read once)."""
    global _judged
    otel = _otel()
    if otel is None:
        return None
    tracing, metering = otel[2]
    judged = _judged
    if (
        judged
        and judged[0] is otel
        and judged[1] is getattr(tracing, "_TRACER_PROVIDER", judged)
        and judged[2] is getattr(metering, "_METER_PROVIDER", judged)
    ):
        return judged[3]  # type: ignore[no-any-return]
    from opentelemetry import metrics, trace

    recording = not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider) or (
        type(metrics.get_meter_provider()).__name__ != "_ProxyMeterProvider"
    )
    answer = otel if recording else None
    # Read after the judgement: judging may load a provider named by the environment.
    _judged = (
        otel,
        getattr(tracing, "_TRACER_PROVIDER", None),
        getattr(metering, "_METER_PROVIDER", None),
        answer,
    )
    return answer


@functools.cache
def _model() -> str:
    from ._spec import operation

    return operation("submit").path.removeprefix("/v1/models/")


_JOBS: OrderedDict[str, tuple[str | None, Mapping[str, Any]]] = OrderedDict()
"""Recent jobs' model and inputs, for their later spans (the oldest forgotten first)."""
_JOBS_KEPT: Final = 100_000


def remember_job(request_id: str, model: str | None, inputs: Mapping[str, Any]) -> None:
    """Note a submitted (or resumed) job's model and inputs for its later spans."""
    if _recording() is None:
        return
    _JOBS[request_id] = (model, inputs)
    _JOBS.move_to_end(request_id)
    while len(_JOBS) > _JOBS_KEPT:
        _JOBS.popitem(last=False)


def job_attributes(
    inputs: Mapping[str, Any] | None = None,
    request_id: str | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    """A job's attributes: its id, the model, the size and duration asked for (and the prompt
    when opted in). Given only the id, what :func:`remember_job` noted for it."""
    if _recording() is None:
        return {}
    from ._inputs import duration_property, size_property

    if inputs is None and request_id and request_id in _JOBS:
        model, inputs = (model or _JOBS[request_id][0]), _JOBS[request_id][1]
    found: dict[str, Any] = {"sora2.model": model or _model()}
    if request_id:
        found["sora2.request_id"] = request_id
    for key, name in (("sora2.size", size_property()), ("sora2.duration", duration_property())):
        value = inputs.get(name) if inputs and name else None
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            found[key] = value
    prompt = inputs.get("prompt") if inputs else None
    if isinstance(prompt, str) and os.environ.get(PROMPTS_ENV_VAR) == "1":
        found["sora2.prompt"] = prompt
    return found


@contextmanager
def span(
    name: str, attributes: Mapping[str, Any] | None = None, *, timed: str | None = None
) -> Iterator[Any]:
    """A span ``sora2.<name>`` around the block (None without OpenTelemetry), recording its
    errors; ``timed`` names a histogram that gets the block's seconds if it ends normally."""
    otel = _recording()
    if otel is None:
        yield None
        return
    attributes = dict(attributes or {})
    started = time.monotonic()
    with otel[0].start_as_current_span(f"sora2.{name}", attributes=attributes) as s:
        yield s
    if timed is not None:
        measure(timed, time.monotonic() - started, attributes)


def annotate(key: str, value: str | int | float) -> None:
    """Set an attribute on the current span (the request id once the answer names it)."""
    if _recording() is not None:
        from opentelemetry import trace

        trace.get_current_span().set_attribute(key, value)


def _metric_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """Not one series per job (no id), never the prompt."""
    return {k: v for k, v in (attributes or {}).items() if k not in _PER_JOB}


_PER_JOB: Final = ("sora2.request_id", "sora2.prompt")


def count(name: str, attributes: Mapping[str, Any] | None = None) -> None:
    """Count one job on a counter (``submitted``, ``completed``, ``failed``)."""
    otel = _recording()
    if otel is not None:
        otel[1][name].add(1, _metric_attributes(attributes))


def measure(name: str, value: float, attributes: Mapping[str, Any] | None = None) -> None:
    """Record on a histogram (``wait`` seconds, ``download`` bytes)."""
    otel = _recording()
    if otel is not None:
        otel[1][name].record(value, _metric_attributes(attributes))
