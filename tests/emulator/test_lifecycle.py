"""The job lifecycle, computed from a fake clock: states, queue positions, timing, expiry."""

from __future__ import annotations

import threading

import httpx
import pytest

from sora2.emulator import Emulator, create_app
from sora2.emulator._constants import DEFAULT_SPEED

from .helpers import (
    AUTH,
    BASE_URL,
    TOKEN,
    FakeClock,
    assert_conforms,
    choices,
    client_for,
    default,
    path_of,
    state,
    submit,
    submit_path,
)


class TestPhases:
    def test_a_job_is_queued_then_in_progress_then_completed(
        self, client: httpx.Client, emulator: Emulator, clock: FakeClock
    ) -> None:
        """A job is in_queue until its admission time, in_progress for its run time, then done."""
        queue_time, run_time = emulator.phase_durations(default("seconds"))
        request_id = submit(client)
        assert state(client, request_id)["status"] == "in_queue"
        clock.advance(queue_time - 0.01)
        assert state(client, request_id)["status"] == "in_queue"
        clock.advance(0.02)
        assert state(client, request_id)["status"] == "in_progress"
        clock.advance(run_time - 0.04)
        assert state(client, request_id)["status"] == "in_progress"
        clock.advance(0.04)
        assert state(client, request_id)["status"] == "completed"

    def test_phase_durations_grow_with_seconds(self, emulator: Emulator) -> None:
        """Both phases take longer for a longer video, for every duration the spec allows."""
        durations = [emulator.phase_durations(s) for s in sorted(choices("seconds"))]
        assert durations == sorted(durations)
        assert len({run for _, run in durations}) == len(durations)

    def test_speed_divides_every_phase(self) -> None:
        """At speed 4 each phase takes a quarter of its time at speed 1."""
        seconds = max(choices("seconds"))
        slow = create_app(speed=1.0).phase_durations(seconds)
        fast = create_app(speed=4.0).phase_durations(seconds)
        assert pytest.approx([t / 4 for t in slow]) == list(fast)

    def test_default_speed_keeps_the_shortest_demo_under_ten_seconds(self) -> None:
        """At the default speed the shortest video the spec allows is done within ~10 s."""
        queue_time, run_time = create_app(speed=DEFAULT_SPEED).phase_durations(
            min(choices("seconds"))
        )
        assert queue_time + run_time < 10

    def test_status_bodies_conform_to_the_spec(
        self, client: httpx.Client, emulator: Emulator, clock: FakeClock
    ) -> None:
        """status and result answers conform in every state, before and after completion."""
        request_id = submit(client)
        for _ in range(3):
            assert_conforms("status", client.get(path_of("status", request_id)))
            assert_conforms("result", client.get(path_of("result", request_id)))
            clock.advance(sum(emulator.phase_durations(max(choices("seconds")))))


class TestQueue:
    def test_queue_positions_fall_as_the_queue_drains(self, clock: FakeClock) -> None:
        """With one worker, positions are 0, 1, 2 and fall by one as each job finishes."""
        app = create_app(token=TOKEN, clock=clock, workers=1)
        with client_for(app) as http:
            ids = [submit(http) for _ in range(3)]
            assert [state(http, i)["queue_position"] for i in ids] == [0, 1, 2]
            queue_time, run_time = app.phase_durations(default("seconds"))
            clock.advance(queue_time)
            first = state(http, ids[0])
            assert first["status"] == "in_progress"
            assert "queue_position" not in first
            assert [state(http, i)["queue_position"] for i in ids[1:]] == [0, 1]
            clock.advance(run_time)
            assert state(http, ids[0])["status"] == "completed"
            assert state(http, ids[1])["status"] == "in_progress"
            assert state(http, ids[2])["queue_position"] == 0
            clock.advance(run_time)
            assert state(http, ids[2])["status"] == "in_progress"

    def test_workers_run_jobs_at_the_same_time(self, clock: FakeClock) -> None:
        """With two workers, two jobs run at once and the third waits at position 0."""
        app = create_app(token=TOKEN, clock=clock, workers=2)
        with client_for(app) as http:
            ids = [submit(http) for _ in range(3)]
            clock.advance(app.phase_durations(default("seconds"))[0])
            assert [state(http, i)["status"] for i in ids] == [
                "in_progress",
                "in_progress",
                "in_queue",
            ]
            assert state(http, ids[2])["queue_position"] == 0

    def test_a_long_gap_plays_every_start_and_finish_in_order(self, clock: FakeClock) -> None:
        """One access after a long idle time sees every queued job completed."""
        app = create_app(token=TOKEN, clock=clock, workers=1)
        with client_for(app) as http:
            ids = [submit(http, seconds=s) for s in choices("seconds")]
            clock.advance(1_000)
            views = [app.job(i) for i in ids]
            assert all(v is not None and v.state == "completed" for v in views)
            finishes = [v.finished_at for v in views if v is not None]
            assert finishes == sorted(finishes)

    def test_concurrent_submissions_get_distinct_ids(self, emulator: Emulator) -> None:
        """Submissions from many threads at once all succeed, each with its own request_id."""
        found: list[str] = []
        lock = threading.Lock()

        def worker() -> None:
            with client_for(emulator) as http:
                for _ in range(5):
                    request_id = submit(http)
                    with lock:
                        found.append(request_id)

        threads = [threading.Thread(target=worker) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(found)) == 30
        assert emulator.job_count() == 30


class TestResult:
    def test_result_of_an_unfinished_job_is_its_state(self, client: httpx.Client) -> None:
        """Before completion, result answers with the current state and no output."""
        request_id = submit(client)
        body = client.get(path_of("result", request_id)).json()
        assert body["status"] == "in_queue"
        assert "output" not in body

    def test_result_of_a_completed_job_has_a_video_url_and_times(
        self, client: httpx.Client, emulator: Emulator, clock: FakeClock
    ) -> None:
        """Once completed, result carries output.video and created/finished timestamps."""
        request_id = submit(client)
        clock.advance(sum(emulator.phase_durations(default("seconds"))))
        body = client.get(path_of("result", request_id)).json()
        assert body["status"] == "completed"
        assert body["output"]["video"].startswith(BASE_URL + "/")
        assert body["created_at"] < body["finished_at"]

    def test_urls_point_back_at_the_request_base_url(self, emulator: Emulator) -> None:
        """status_url, result_url and cancel_url use the base URL the request came in on."""
        base = "http://127.0.0.1:4321"
        with client_for(emulator, base_url=base) as http:
            body = http.post(submit_path(), json={"prompt": "p"}).json()
        request_id = body["request_id"]
        for name in ("status", "result", "cancel"):
            assert base + path_of(name, request_id) == body[f"{name}_url"]

    @pytest.mark.parametrize("operation_id", ["status", "result"])
    def test_unknown_request_id_is_404(self, client: httpx.Client, operation_id: str) -> None:
        """An id the emulator never issued gets 404 with error_code 404001."""
        response = client.get(path_of(operation_id, "no-such-request"))
        assert response.status_code == 404
        assert response.json()["error_code"] == 404001
        assert_conforms(operation_id, response)


class TestStorage:
    def test_finished_jobs_expire_after_the_ttl(self, clock: FakeClock) -> None:
        """A completed job is readable until its TTL runs out, then gets 404."""
        app = create_app(token=TOKEN, clock=clock, ttl=60)
        with client_for(app) as http:
            request_id = submit(http)
            done = sum(app.phase_durations(default("seconds")))
            clock.advance(done + 59)
            assert state(http, request_id)["status"] == "completed"
            clock.advance(2)
            assert http.get(path_of("status", request_id)).status_code == 404
            assert app.job_count() == 0

    def test_the_oldest_finished_job_makes_room(self, clock: FakeClock) -> None:
        """At max_requests, a new submission evicts the oldest finished job."""
        app = create_app(token=TOKEN, clock=clock, max_requests=2)
        with client_for(app) as http:
            first = submit(http)
            clock.advance(sum(app.phase_durations(default("seconds"))))
            second = submit(http)
            third = submit(http)
            assert app.job(first) is None
            assert app.job(second) is not None
            assert app.job(third) is not None

    def test_a_full_store_of_unfinished_jobs_answers_503(self, clock: FakeClock) -> None:
        """When every slot holds an unfinished job, submit gets 503 with Retry-After."""
        app = create_app(token=TOKEN, clock=clock, max_requests=1)
        with client_for(app) as http:
            submit(http)
            response = http.post(submit_path(), json={"prompt": "p"})
        assert response.status_code == 503
        assert response.json()["error_code"] == 503001
        assert int(response.headers["retry-after"]) >= 1
        assert app.job_count() == 1


@pytest.mark.anyio
async def test_the_lifecycle_is_the_same_through_httpx_asgi_transport(clock: FakeClock) -> None:
    """Through httpx.ASGITransport (async) the same fake clock drives the same states."""
    app = create_app(clock=clock, workers=1)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE_URL, headers=AUTH
    ) as http:
        response = await http.post(submit_path(), json={"prompt": "async"})
        request_id = response.json()["request_id"]
        seen = []
        for _ in range(3):
            body = (await http.get(path_of("status", request_id))).json()
            seen.append(body["status"])
            clock.advance(app.phase_durations(default("seconds"))[1])
    assert seen == ["in_queue", "in_progress", "completed"]
