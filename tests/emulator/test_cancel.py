"""The cancel rules: only a queued job can be cancelled; everything else gets the spec's error."""

from __future__ import annotations

import httpx

from sora2.emulator import Emulator, create_app

from .helpers import (
    TOKEN,
    FakeClock,
    assert_conforms,
    client_for,
    default,
    path_of,
    state,
    submit,
)


def _cancel(http: httpx.Client, request_id: str) -> httpx.Response:
    response = http.post(path_of("cancel", request_id))
    assert_conforms("cancel", response)
    return response


class TestCancel:
    def test_a_queued_job_becomes_cancelled(self, client: httpx.Client) -> None:
        """Cancelling a queued job answers 200 cancelled, and status says cancelled after."""
        request_id = submit(client)
        response = _cancel(client, request_id)
        assert response.status_code == 200
        assert {"request_id": request_id, "status": "cancelled"} == response.json()
        assert state(client, request_id)["status"] == "cancelled"
        assert "output" not in client.get(path_of("result", request_id)).json()

    def test_an_in_progress_job_gets_409_with_its_state(
        self, client: httpx.Client, emulator: Emulator, clock: FakeClock
    ) -> None:
        """An in-progress job cannot be cancelled: 409, 409001, the state in detail."""
        request_id = submit(client)
        clock.advance(emulator.phase_durations(default("seconds"))[0])
        response = _cancel(client, request_id)
        assert response.status_code == 409
        body = response.json()
        assert body["error_code"] == 409001
        assert body["detail"] == [{"loc": ["status"], "msg": "in_progress", "type": "state"}]
        assert state(client, request_id)["status"] == "in_progress"

    def test_a_completed_job_gets_409(
        self, client: httpx.Client, emulator: Emulator, clock: FakeClock
    ) -> None:
        """A completed job cannot be cancelled and stays completed."""
        request_id = submit(client)
        clock.advance(sum(emulator.phase_durations(default("seconds"))))
        response = _cancel(client, request_id)
        assert response.status_code == 409
        assert response.json()["detail"][0]["msg"] == "completed"

    def test_cancelling_twice_gets_409(self, client: httpx.Client) -> None:
        """A second cancel of the same job gets 409 naming the cancelled state."""
        request_id = submit(client)
        assert _cancel(client, request_id).status_code == 200
        response = _cancel(client, request_id)
        assert response.status_code == 409
        assert response.json()["detail"][0]["msg"] == "cancelled"

    def test_an_unknown_id_gets_404(self, client: httpx.Client) -> None:
        """An unknown request_id gets 404 with 404001."""
        response = _cancel(client, "never-issued")
        assert response.status_code == 404
        assert response.json()["error_code"] == 404001

    def test_a_cancelled_job_leaves_the_queue(self, clock: FakeClock) -> None:
        """Jobs behind a cancelled one move up a position at once."""
        app = create_app(token=TOKEN, clock=clock, workers=1)
        with client_for(app) as http:
            ids = [submit(http) for _ in range(3)]
            assert _cancel(http, ids[1]).status_code == 200
            assert [state(http, i)["queue_position"] for i in (ids[0], ids[2])] == [0, 1]
