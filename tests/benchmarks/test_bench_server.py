"""The emulator process the benchmarks measure against, and its control channel."""

from __future__ import annotations

import time

import httpx

from benchmarks._server import BENCH_TOKEN, EmulatorProcess
from sora2._spec import operation


def test_control_channel_reports_counters_and_job_timestamps() -> None:
    """`stats` counts what the server received and `job` gives the emulator's own timestamps."""
    headers = {"Authorization": f"Bearer {BENCH_TOKEN}"}
    with EmulatorProcess(speed=1000.0) as server:
        answer = httpx.post(
            server.url + operation("submit").path, json={"prompt": "x"}, headers=headers
        )
        request_id = answer.json()["request_id"]
        status_url = server.url + operation("status").url_path(request_id=request_id)
        deadline = time.monotonic() + 30
        while httpx.get(status_url, headers=headers).json()["status"] != "completed":
            assert time.monotonic() < deadline, "the job never completed"
            time.sleep(0.01)
        stats = server.stats()
        job = server.job(request_id)
        unknown = server.job("no-such-job")
    assert 1 == stats["requests"]["submit"]
    assert stats["requests"]["status"] >= 1
    assert "completed" == job["state"]
    assert job["submitted_at"] <= job["started_at"] <= job["finished_at"] <= job["now"]
    assert job["finished_at"] <= time.monotonic()  # one clock for both processes
    assert {"found": False, "state": None} == {k: unknown[k] for k in ("found", "state")}


def test_reset_forgets_jobs_and_counters() -> None:
    """`reset` leaves the server as if it had just started."""
    headers = {"Authorization": f"Bearer {BENCH_TOKEN}"}
    with EmulatorProcess() as server:
        answer = httpx.post(
            server.url + operation("submit").path, json={"prompt": "x"}, headers=headers
        )
        server.reset()
        assert {} == server.stats()["requests"]
        assert not server.job(answer.json()["request_id"])["found"]
