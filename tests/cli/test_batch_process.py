"""``python -m sora2 batch`` as a real process against a real emulator server: SIGKILL in the
middle and a re-run, and Ctrl-C (SIGINT) with and without ``--cancel-queued-on-interrupt``."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from sora2._cli import EXIT_BATCH_INCOMPLETE, EXIT_INTERRUPTED, EXIT_TERMINATED
from sora2._inputs import duration_property
from sora2.emulator import Emulator, create_app, serve

from .helpers import TOKEN, choices

SECONDS = duration_property() or ""
_COMMAND = (sys.executable, "-m", "sora2", "batch")
PROCESS_TIMEOUT = 90
"""A hung child fails the test instead of hanging the suite; no test waits this long."""


def _start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sora2", "batch", *args],
        cwd=cwd,
        env={**os.environ, "RUNCOMFY_API_TOKEN": TOKEN},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _pump(stream: IO[str]) -> queue.Queue[str]:
    found: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            found.put(line)
        found.put("")

    threading.Thread(target=pump, daemon=True).start()
    return found


def _wait_for(lines: queue.Queue[str], needle: str, times: int) -> list[str]:
    seen: list[str] = []
    while times:
        line = lines.get(timeout=PROCESS_TIMEOUT)
        seen.append(line)
        assert line, f"the output ended before {needle!r} x{times}: {''.join(seen)}"
        times -= needle in line
    return seen


def _finish(process: subprocess.Popen[str]) -> int:
    try:
        return process.wait(PROCESS_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _rows(path: Path, count: int) -> Path:
    shortest = min(choices(SECONDS))
    items = [{"prompt": f"clip {i}", SECONDS: shortest} for i in range(count)]
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    return path


def _manifest(directory: Path) -> list[dict[str, Any]]:
    text = (directory / "manifest.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line]


def _rerun(source: Path, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_COMMAND, str(source), "--out-dir", "out", "--base-url", url, "--concurrency", "3"],
        cwd=cwd,
        env={**os.environ, "RUNCOMFY_API_TOKEN": TOKEN},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
    )


def _live_jobs_per_prompt(app: Emulator, lines: list[dict[str, Any]]) -> dict[str, int]:
    """Per row, its jobs on the emulator that were not cancelled (paid for)."""
    found: dict[str, int] = {}
    for line in lines:
        ids = [line["request_id"], *line["previous_request_ids"]]
        views = [app.job(i) for i in ids if i]
        found[line["input"]["prompt"]] = sum(
            1 for view in views if view is not None and view.state != "cancelled"
        )
    return found


@pytest.fixture
def fast_app() -> Emulator:
    return create_app(token=TOKEN, speed=4.0, workers=2)


@pytest.fixture
def slow_app() -> Emulator:
    """One worker at speed 2: jobs behind the first stay queued for seconds."""
    return create_app(token=TOKEN, speed=2.0, workers=1)


def _serve(app: Emulator) -> Iterator[str]:
    with serve(app) as url:
        yield url


class TestKill:
    def test_sigkill_then_rerun_makes_no_duplicates(
        self, fast_app: Emulator, isolated: Path
    ) -> None:
        """A batch SIGKILLed after its first submissions, run again, completes every row with
        each job submitted exactly once."""
        source = _rows(isolated / "rows.jsonl", 6)
        with serve(fast_app) as url:
            process = _start(
                str(source),
                "--out-dir",
                "out",
                "--base-url",
                url,
                "--concurrency",
                "3",
                cwd=isolated,
            )
            assert process.stderr is not None
            _wait_for(_pump(process.stderr), "submitted", 2)
            process.send_signal(signal.SIGKILL)
            assert -signal.SIGKILL == _finish(process)
            done = _rerun(source, url, isolated)
        lines = _manifest(isolated / "out")
        submitted = fast_app.stats.submissions
        assert [] == [prompt for prompt, count in submitted.items() if count > 1]
        # A submit on the wire when the process died has no id anywhere: that row is held
        # back (the job may exist), never submitted again; every other row completes.
        unknown = [line for line in lines if line["submit_unknown"]]
        assert all(line["request_id"] is None for line in unknown)
        completed = [line for line in lines if line["state"] == "completed"]
        assert 6 == len(completed) + len(unknown)
        assert len({line["request_id"] for line in completed}) == len(completed)
        assert (EXIT_BATCH_INCOMPLETE if unknown else 0) == done.returncode, done.stderr


class TestInterrupt:
    def test_off_a_terminal_ctrl_c_leaves_jobs_running(
        self, slow_app: Emulator, isolated: Path
    ) -> None:
        """SIGINT without a terminal stops submitting, cancels nothing, exits 130 with every
        id in the manifest; the re-run completes the batch with 0 duplicates."""
        source = _rows(isolated / "rows.jsonl", 4)
        with serve(slow_app) as url:
            process = _start(
                str(source),
                "--out-dir",
                "out",
                "--base-url",
                url,
                "--concurrency",
                "3",
                cwd=isolated,
            )
            assert process.stderr is not None
            lines = _pump(process.stderr)
            _wait_for(lines, "submitted", 3)
            process.send_signal(signal.SIGINT)
            assert EXIT_INTERRUPTED == _finish(process)
            stopped = _manifest(isolated / "out")
            assert 3 == sum(1 for line in stopped if line["request_id"])
            assert [] == [line for line in stopped if line["state"] == "cancelled"]
            assert all(
                slow_app.job(line["request_id"]).state != "cancelled"  # type: ignore[union-attr]
                for line in stopped
                if line["request_id"]
            )
            done = _rerun(source, url, isolated)
        assert 0 == done.returncode, done.stderr
        assert {f"clip {i}": 1 for i in range(4)} == dict(slow_app.stats.submissions)

    def test_sigterm_leaves_jobs_running_and_exits_143(
        self, slow_app: Emulator, isolated: Path
    ) -> None:
        """SIGTERM (a container stop) stops like an unasked Ctrl-C: nothing cancelled, the
        command that finishes the batch printed, every id in the manifest, exit 143."""
        source = _rows(isolated / "rows.jsonl", 3)
        with serve(slow_app) as url:
            process = _start(
                str(source),
                "--out-dir",
                "out",
                "--base-url",
                url,
                "--concurrency",
                "3",
                cwd=isolated,
            )
            assert process.stderr is not None
            lines = _pump(process.stderr)
            _wait_for(lines, "submitted", 3)
            process.send_signal(signal.SIGTERM)
            assert EXIT_TERMINATED == _finish(process)
            said = []
            while line := lines.get(timeout=PROCESS_TIMEOUT):
                said.append(line)
            stopped = _manifest(isolated / "out")
        assert 3 == sum(1 for line in stopped if line["request_id"])
        assert all(
            slow_app.job(line["request_id"]).state != "cancelled"  # type: ignore[union-attr]
            for line in stopped
        )
        text = "".join(said)
        assert "terminated: 3 jobs left running" in text
        assert f"run: sora2 batch {source} --out-dir out" in text
        assert "Traceback" not in text

    def test_the_flag_cancels_the_queued_jobs(self, slow_app: Emulator, isolated: Path) -> None:
        """With --cancel-queued-on-interrupt, the jobs still queued are cancelled on SIGINT;
        the re-run completes the batch, every row with exactly one job that was not cancelled."""
        source = _rows(isolated / "rows.jsonl", 3)
        with serve(slow_app) as url:
            process = _start(
                str(source),
                "--out-dir",
                "out",
                "--base-url",
                url,
                "--concurrency",
                "3",
                "--cancel-queued-on-interrupt",
                cwd=isolated,
            )
            assert process.stderr is not None
            _wait_for(_pump(process.stderr), "submitted", 3)
            process.send_signal(signal.SIGINT)
            assert EXIT_INTERRUPTED == _finish(process)
            stopped = _manifest(isolated / "out")
            cancelled = [line for line in stopped if line["state"] == "cancelled"]
            assert cancelled  # one worker: the jobs behind the first were still queued
            for line in cancelled:
                assert "cancelled" == slow_app.job(line["request_id"]).state  # type: ignore[union-attr]
            done = _rerun(source, url, isolated)
            assert 0 == done.returncode, done.stderr
            final = _manifest(isolated / "out")
            assert {f"clip {i}": 1 for i in range(3)} == _live_jobs_per_prompt(slow_app, final)
