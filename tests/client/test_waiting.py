"""wait(): the adaptive schedule, deadlines, cancel-on-timeout and unknown states."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sora2 import WaitTimeoutError
from sora2._inputs import input_fields
from sora2._options import (
    MAX_POLL_INTERVAL,
    MAX_RETRY_AFTER,
    MIN_NEAR_END_POLL_INTERVAL,
    MIN_POLL_INTERVAL,
    POLL_APPROACH_FRACTION,
    POLL_LATENCY_FRACTION,
    POLL_START_FRACTION,
)
from sora2._types import JobStatus
from sora2._waiting import PollSchedule, ProgressModel
from sora2.emulator import Emulator, create_app

from .helpers import TOKEN, Factory, FakeClock, Script, json_response, status_body

pytestmark = pytest.mark.anyio


def _status(state: str, position: int | None = None, retry_after: float | None = None) -> JobStatus:
    from sora2_api.models import RequestStatus

    raw = RequestStatus.from_dict(status_body(state, position=position))
    return JobStatus("r", state, position, raw, retry_after=retry_after)


def _longest_seconds() -> int:
    choices = input_fields()["seconds"].choices
    assert choices is not None
    return max(int(c) for c in choices)


class TestSchedule:
    def test_interval_never_exceeds_the_latency_bound(self) -> None:
        """Without a learned model, every interval is at most 10% of the job's age (or 1 s)."""
        schedule = PollSchedule(ProgressModel(), None, submitted_at=0.0)
        for age in (0.5, 5.0, 30.0, 120.0, 250.0):
            for state in ("in_progress", "moderating"):
                delay = schedule.next_delay(_status(state), age)
                assert (
                    MIN_POLL_INTERVAL
                    <= delay
                    <= max(MIN_POLL_INTERVAL, POLL_LATENCY_FRACTION * age)
                )
        assert schedule.next_delay(_status("in_progress"), 10_000.0) == MAX_POLL_INTERVAL

    def test_queue_position_spaces_polls(self) -> None:
        """A job far back in the queue is polled less often than one at the front."""
        schedule = PollSchedule(ProgressModel(), None, submitted_at=0.0)
        front = schedule.next_delay(_status("in_queue", 0), 10.0)
        back = schedule.next_delay(_status("in_queue", 5), 10.0)
        assert front < back

    def test_queued_job_is_not_polled_before_it_could_finish(self) -> None:
        """With a learned processing time, a queued job sleeps half of it at least."""
        model = ProgressModel()
        model.observe(4, 8.0)
        schedule = PollSchedule(model, 4, submitted_at=0.0)
        assert schedule.next_delay(_status("in_queue", 0), 1.0) == POLL_APPROACH_FRACTION * 8.0

    def test_learned_model_approaches_the_expected_end(self) -> None:
        """Once learned, an early poll sleeps half the expected remainder, not 10% of the age."""
        model = ProgressModel()
        model.observe(4, 8.0)  # 2 s of processing per video second: 16 s expected for 8 s
        schedule = PollSchedule(model, 8, submitted_at=0.0, earliest_start=2.0)
        early = schedule.next_delay(_status("in_progress"), 4.0)
        assert early == POLL_APPROACH_FRACTION * (16.0 - 2.0)
        assert early > max(MIN_POLL_INTERVAL, POLL_LATENCY_FRACTION * 4.0)
        near_end = schedule.next_delay(_status("in_progress"), 17.5)
        assert max(MIN_POLL_INTERVAL, POLL_LATENCY_FRACTION * 17.5) == near_end

    def test_retry_after_wins(self) -> None:
        """A Retry-After hint on a status lengthens the interval, up to the cap."""
        schedule = PollSchedule(ProgressModel(), None, submitted_at=0.0)
        assert schedule.next_delay(_status("in_progress", retry_after=7.0), 1.0) == 7.0
        capped = schedule.next_delay(_status("in_progress", retry_after=10 * MAX_RETRY_AFTER), 1.0)
        assert capped == MAX_RETRY_AFTER

    def test_ewma(self) -> None:
        """The model starts at the first sample and moves toward new ones by alpha."""
        model = ProgressModel(alpha=0.5)
        assert model.expected(4) is None
        model.observe(4, 8.0)
        assert model.expected(4) == 8.0
        model.observe(4, 16.0)
        assert model.expected(4) == 12.0
        model.observe(0, 5.0)  # ignored: no duration
        assert model.expected(4) == 12.0 and not model.knows(0)


class TestWait:
    async def test_a_job_just_submitted_is_first_polled_a_second_after(
        self, make_api: Factory, clock: FakeClock
    ) -> None:
        """The submit's answer is the latest look at a new job: wait() first polls it
        MIN_POLL_INTERVAL after the submission, so a job done by then costs one poll."""
        api = make_api(create_app(token=TOKEN, clock=clock.monotonic, speed=1000))
        submission = await api.submit("a cat")
        submitted = clock.monotonic()
        seen: list[tuple[str, float]] = []
        await api.wait(submission, on_update=lambda s: seen.append((s.state, clock.monotonic())))
        assert [("completed", submitted + MIN_POLL_INTERVAL)] == seen

    async def test_a_job_submitted_earlier_is_polled_at_once(
        self, make_api: Factory, clock: FakeClock
    ) -> None:
        """A job older than MIN_POLL_INTERVAL is polled as soon as wait() starts."""
        api = make_api(create_app(token=TOKEN, clock=clock.monotonic, speed=1000))
        submission = await api.submit("a cat")
        clock.advance(MIN_POLL_INTERVAL)
        started = clock.monotonic()
        seen: list[tuple[str, float]] = []
        await api.wait(submission, on_update=lambda s: seen.append((s.state, clock.monotonic())))
        assert [("completed", started)] == seen

    async def test_reports_every_change(self, make_api: Factory, clock: FakeClock) -> None:
        """on_update sees each new queue position and state, once each (at half speed, every
        job is still queued at the first poll, a second after the submissions)."""
        emulator = create_app(token=TOKEN, clock=clock.monotonic, workers=1, speed=0.5)
        api = make_api(emulator)
        ids = [(await api.submit(f"job {i}")).request_id for i in range(3)]
        seen: list[tuple[str, int | None]] = []
        final = await api.wait(ids[2], on_update=lambda s: seen.append((s.state, s.queue_position)))
        assert final.state == "completed"
        assert seen[0] == ("in_queue", 2)
        assert [state for state, _ in seen[-2:]] == ["in_progress", "completed"]
        assert len(seen) == len(set(seen))
        positions = [p for state, p in seen if state == "in_queue"]
        assert positions == sorted(positions, reverse=True)

    async def test_deadline(self, make_api: Factory, emulator: Emulator, clock: FakeClock) -> None:
        """At the deadline wait() raises WaitTimeoutError with the id; the job goes on."""
        api = make_api(emulator)
        submission = await api.submit("slow", seconds=_longest_seconds())
        start = clock.now
        with pytest.raises(WaitTimeoutError) as caught:
            await api.wait(submission.request_id, timeout=3.0)
        error = caught.value
        assert submission.request_id == error.request_id
        assert not error.cancelled
        assert error.last_status in ("in_queue", "in_progress")
        assert pytest.approx(clock.now - start) == 3.0
        view = emulator.job(submission.request_id)
        assert view is not None and view.state != "cancelled"

    async def test_zero_timeout_polls_once(self, make_api: Factory, emulator: Emulator) -> None:
        """timeout=0 polls once and gives up at once if the job is not done."""
        api = make_api(emulator)
        submission = await api.submit("x")
        with pytest.raises(WaitTimeoutError):
            await api.wait(submission.request_id, timeout=0)
        assert emulator.stats.requests["status"] == 1

    async def test_cancel_on_timeout_while_queued(
        self, make_api: Factory, clock: FakeClock
    ) -> None:
        """A job still queued at the deadline is cancelled first, and the error says so."""
        emulator = create_app(token=TOKEN, clock=clock.monotonic, workers=1)
        api = make_api(emulator)
        await api.submit("occupies the only worker", seconds=_longest_seconds())
        waiting = await api.submit("stays queued")
        with pytest.raises(WaitTimeoutError) as caught:
            await api.wait(waiting.request_id, timeout=2.0, cancel_on_timeout=True)
        assert caught.value.cancelled
        assert "cancelled" in str(caught.value)
        view = emulator.job(waiting.request_id)
        assert view is not None and view.state == "cancelled"

    async def test_cancel_on_timeout_after_start(
        self, make_api: Factory, emulator: Emulator
    ) -> None:
        """A job already running at the deadline cannot be cancelled and is left alone."""
        api = make_api(emulator)
        submission = await api.submit("running", seconds=_longest_seconds())
        with pytest.raises(WaitTimeoutError) as caught:
            await api.wait(submission.request_id, timeout=5.0, cancel_on_timeout=True)
        assert not caught.value.cancelled
        assert caught.value.last_status == "in_progress"
        assert emulator.stats.requests["cancel"] == 0

    async def test_unknown_state_is_not_finished(self, make_api: Factory) -> None:
        """A state the spec does not list is reported and polled past, not a crash."""
        script = Script().on(
            "status",
            json_response(200, status_body("moderating")),
            json_response(200, status_body("moderating")),
            json_response(200, status_body("completed")),
        )
        api = make_api(handler=script)
        seen: list[str] = []
        final = await api.wait("req-1", on_update=lambda s: seen.append(s.state))
        assert final.state == "completed"
        assert seen == ["moderating", "completed"]
        assert script.calls("status") == 3

    async def test_cancelled_is_returned_not_raised(
        self, make_api: Factory, emulator: Emulator
    ) -> None:
        """A job cancelled elsewhere ends the wait with its cancelled status."""
        api = make_api(emulator)
        submission = await api.submit("x")
        await api.cancel(submission.request_id)
        assert (await api.wait(submission.request_id)).state == "cancelled"


class TestEfficiency:
    async def test_fewer_polls_than_a_one_second_poller(
        self, make_api: Factory, clock: FakeClock, tmp_path: Path
    ) -> None:
        """Completion is seen within 10% of the job's length with fewer polls than one a second,
        and fewer still once the processing time has been learned."""
        emulator = create_app(token=TOKEN, clock=clock.monotonic, speed=0.25)
        api = make_api(emulator)
        polls: list[int] = []
        for _ in range(2):
            before = emulator.stats.requests["status"]
            submission = await api.submit("long", seconds=_longest_seconds())
            await api.wait(submission.request_id)
            view = emulator.job(submission.request_id)
            assert view is not None and view.finished_at is not None
            length = view.finished_at - view.submitted_at
            latency = clock.now - view.finished_at
            polls.append(emulator.stats.requests["status"] - before)
            assert latency <= POLL_LATENCY_FRACTION * length + 1e-9
            assert polls[-1] < length / MIN_POLL_INTERVAL
        assert polls[1] < polls[0]

    async def test_learning_survives_the_process(self, make_api: Factory, clock: FakeClock) -> None:
        """A new client seeds its model from the journal, so its first wait is already sparse."""
        emulator = create_app(token=TOKEN, clock=clock.monotonic, speed=0.25)
        first = make_api(emulator)
        before = emulator.stats.requests["status"]
        await first.wait((await first.submit("a", seconds=_longest_seconds())).request_id)
        cold = emulator.stats.requests["status"] - before
        second = make_api(emulator)
        before = emulator.stats.requests["status"]
        await second.wait((await second.submit("b", seconds=_longest_seconds())).request_id)
        assert emulator.stats.requests["status"] - before < cold


def _shortest_seconds() -> int:
    choices = input_fields()["seconds"].choices
    assert choices is not None
    return min(int(c) for c in choices)


class TestNearEndFloor:
    def _schedule(self, processing: float) -> PollSchedule:
        """A job of the shortest duration, started at 1 s, whose processing time is learned."""
        model = ProgressModel()
        model.observe(_shortest_seconds(), processing)
        return PollSchedule(model, _shortest_seconds(), submitted_at=0.0, earliest_start=1.0)

    def test_a_short_job_is_polled_at_a_tenth_of_its_length_near_its_end(self) -> None:
        """A job expected to last 6 s is polled every 0.6 s around its end, under the 1 s floor."""
        schedule = self._schedule(processing=5.0)  # expected to end 6 s after submission
        for now in (5.6, 5.8, 6.0):
            delay = schedule.next_delay(_status("in_progress"), now)
            assert pytest.approx(POLL_LATENCY_FRACTION * 6.0) == delay
            assert delay < MIN_POLL_INTERVAL

    def test_early_on_it_still_sleeps_half_the_remainder(self) -> None:
        """The lower floor changes nothing far from the end: sleeps stay long and few."""
        schedule = self._schedule(processing=5.0)
        assert POLL_APPROACH_FRACTION * 4.0 == schedule.next_delay(_status("in_progress"), 2.0)

    def test_the_floor_has_a_floor(self) -> None:
        """A job expected to take a moment is polled no faster than MIN_NEAR_END_POLL_INTERVAL."""
        schedule = self._schedule(processing=0.5)
        assert MIN_NEAR_END_POLL_INTERVAL == schedule.next_delay(_status("in_progress"), 1.5)

    def test_long_jobs_keep_the_one_second_floor(self) -> None:
        """A job expected to last 10 s or more is never polled faster than once a second, even
        in the last second before its expected end."""
        model = ProgressModel()
        model.observe(_shortest_seconds(), 3.0)
        schedule = PollSchedule(model, _shortest_seconds(), submitted_at=0.0, earliest_start=8.0)
        assert MIN_POLL_INTERVAL == schedule.next_delay(_status("in_progress"), 9.5)

    def test_the_start_is_placed_early_in_its_window(self) -> None:
        """Seen queued at 0 s and running at 3 s, the job's expected end is counted from
        POLL_START_FRACTION of that window, not from its earliest moment."""
        schedule = self._schedule(processing=5.0)
        schedule.earliest_start = None
        schedule.next_delay(_status("in_queue", 0), 0.0)
        schedule.earliest_start = 0.0  # what wait() records: the last poll that saw it queued
        start = POLL_START_FRACTION * 3.0
        expected = POLL_APPROACH_FRACTION * (5.0 - (3.0 - start))
        assert pytest.approx(expected) == schedule.next_delay(_status("in_progress"), 3.0)

    def test_only_a_running_job_gets_it(self) -> None:
        """Queued or in an unknown state, a job with a learned length keeps the 1 s floor."""
        schedule = self._schedule(processing=5.0)
        assert MIN_POLL_INTERVAL <= schedule.next_delay(_status("in_queue", 0), 0.5)
        assert MIN_POLL_INTERVAL == schedule.next_delay(_status("moderating"), 6.0)

    def test_a_job_past_its_expected_end_is_polled_by_its_age(self) -> None:
        """Overdue, the interval grows with the job's age again (10% of it), up to 1 s."""
        schedule = self._schedule(processing=5.0)
        assert pytest.approx(POLL_LATENCY_FRACTION * 8.0) == schedule.next_delay(
            _status("in_progress"), 8.0
        )

    def test_each_duration_keeps_its_own_mean(self) -> None:
        """A fixed overhead per job does not make short jobs expected too soon: each duration
        seen keeps its own mean, and the others are scaled from the rate per video second."""
        short = _shortest_seconds()
        model = ProgressModel()
        model.observe(short, short + 1.0)
        model.observe(3 * short, 3 * short + 1.0)
        assert short + 1.0 == model.expected(short)
        assert 3 * short + 1.0 == model.expected(3 * short)
        rate = model.seconds_per_video_second
        assert rate is not None and rate * 2 * short == model.expected(2 * short)
        assert model.knows(short) and not model.knows(2 * short)

    def test_the_start_window_is_noted_before_anything_is_learned(self) -> None:
        """The first poll that sees the job running bounds its start, even when the processing
        time is learned only later in the wait (another job completing meanwhile)."""
        model = ProgressModel()
        schedule = PollSchedule(model, _shortest_seconds(), submitted_at=0.0)
        schedule.next_delay(_status("in_queue", 0), 0.0)
        schedule.earliest_start = 0.0
        schedule.next_delay(_status("in_progress"), 3.0)  # nothing learned yet
        model.observe(_shortest_seconds(), 5.0)
        start = POLL_START_FRACTION * 3.0
        expected = POLL_APPROACH_FRACTION * (5.0 - (4.0 - start))
        assert pytest.approx(expected) == schedule.next_delay(_status("in_progress"), 4.0)

    def test_a_scaled_expectation_counts_from_the_earliest_start(self) -> None:
        """When only other durations have been seen, the job is assumed to have started as
        early as it can have, so a model that runs long never makes wait() late."""
        model = ProgressModel()
        model.observe(2 * _shortest_seconds(), 10.0)  # 5.0 s expected for the shortest
        schedule = PollSchedule(model, _shortest_seconds(), submitted_at=0.0)
        schedule.next_delay(_status("in_queue", 0), 0.0)
        schedule.earliest_start = 0.0
        expected = POLL_APPROACH_FRACTION * (5.0 - 3.0)
        assert pytest.approx(expected) == schedule.next_delay(_status("in_progress"), 3.0)

    async def test_a_warm_client_sees_a_short_job_end_within_a_tenth(
        self, make_api: Factory, clock: FakeClock
    ) -> None:
        """Once a job of the shortest duration has completed, the next one (a few seconds long
        at emulator speed 1) is seen done within 10% of its length, in fewer polls than a
        one-second poller."""
        emulator = create_app(token=TOKEN, clock=clock.monotonic)
        api = make_api(emulator)
        await api.wait((await api.submit("warm-up", seconds=_shortest_seconds())).request_id)
        polls = fixed = 0
        for offset in (0.0, 0.25, 0.5, 0.75):  # wait() starting late meets other phases
            before = emulator.stats.requests["status"]
            submission = await api.submit("short", seconds=_shortest_seconds())
            clock.advance(offset)
            await api.wait(submission.request_id)
            view = emulator.job(submission.request_id)
            assert view is not None and view.finished_at is not None
            length = view.finished_at - view.submitted_at
            assert length < MIN_POLL_INTERVAL / POLL_LATENCY_FRACTION
            assert clock.now - view.finished_at <= POLL_LATENCY_FRACTION * length + 1e-9
            polls += emulator.stats.requests["status"] - before
            fixed += math.ceil((length - offset) / MIN_POLL_INTERVAL) + 1  # every second
        assert polls < fixed
