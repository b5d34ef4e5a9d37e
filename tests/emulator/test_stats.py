"""The counters: requests per operation, submissions per prompt, faults per kind, statuses."""

from __future__ import annotations

import httpx
import pytest

from sora2.emulator import create_app

from .helpers import client_for, path_of, submit, submit_path


class TestStats:
    def test_requests_are_counted_per_operation(self) -> None:
        """Each request is counted under its operationId, unknown paths under 'other'."""
        app = create_app()
        with client_for(app) as http:
            request_id = submit(http)
            http.get(path_of("status", request_id))
            http.get(path_of("status", request_id))
            http.get(path_of("result", request_id))
            http.post(path_of("cancel", request_id))
            http.get("/nowhere")
        assert dict(app.stats.requests) == {
            "submit": 1,
            "status": 2,
            "result": 1,
            "cancel": 1,
            "other": 1,
        }

    def test_submissions_are_counted_per_prompt(self) -> None:
        """Only accepted submissions count, per prompt, so a duplicate submit shows up."""
        app = create_app()
        with client_for(app) as http:
            submit(http, prompt="a")
            submit(http, prompt="a")
            submit(http, prompt="b")
            http.post(submit_path(), json={"prompt": "c", "seconds": -1})
        assert dict(app.stats.submissions) == {"a": 2, "b": 1}

    def test_faults_and_statuses_are_counted(self) -> None:
        """Injected faults are counted per kind and responses per status code."""
        app = create_app(faults="status:429@first=2,status:slow=0@first=1")
        with client_for(app) as http:
            codes = [http.get(path_of("status", "x")).status_code for _ in range(3)]
        assert codes == [429, 429, 404]
        assert dict(app.stats.faults) == {"429": 2, "slow": 1}
        assert dict(app.stats.statuses) == {429: 2, 404: 1}

    def test_a_dropped_response_counts_no_status(self) -> None:
        """A dropped exchange counts the request and the fault but sends no status."""
        app = create_app(faults="status:drop")
        with client_for(app) as http, pytest.raises(httpx.RemoteProtocolError):
            http.get(path_of("status", "x"))
        assert dict(app.stats.requests) == {"status": 1}
        assert dict(app.stats.faults) == {"drop": 1}
        assert dict(app.stats.statuses) == {}

    def test_reset_zeroes_everything(self) -> None:
        """Emulator.reset() forgets jobs, counters and fault schedules."""
        app = create_app(faults="status:429@first=1")
        with client_for(app) as http:
            submit(http)
            http.get(path_of("status", "x"))
            app.reset()
            assert (app.stats.snapshot()) == {
                "requests": {},
                "submissions": {},
                "inputs": {},
                "faults": {},
                "statuses": {},
            }
            assert app.job_count() == 0
            assert http.get(path_of("status", "x")).status_code == 429
