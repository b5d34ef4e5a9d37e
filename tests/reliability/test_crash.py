"""Crash safety: ``sora2 generate`` killed with SIGKILL mid-wait and mid-download, as real
processes against a real emulator server; ``sora2 resume`` then finishes both jobs without
submitting either again."""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from sora2._inputs import input_fields
from sora2.emulator import Emulator, create_app

from .helpers import TOKEN, FakeClock, leftovers, report

PROCESS_TIMEOUT = 60.0
"""A hung child fails the test instead of hanging the suite; nothing here waits this long."""
HOLD_VIDEO = 3.0
"""Seconds the emulator holds the first video answer (its ``slow`` fault): the window in which
the downloading process is killed. Short, because the server finishes the held answer before
it shuts down."""


class Child:
    """``python -m sora2 ARGS`` with its output read line by line as it comes."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sora2", *args],
            cwd=cwd,
            env={**os.environ, "RUNCOMFY_API_TOKEN": TOKEN},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[tuple[str, str]] = queue.Queue()
        self.seen: list[tuple[str, str]] = []
        self._next: dict[str, int] = {}
        """Per stream, where its next ``expect`` starts looking in ``seen``."""
        assert self.process.stdout is not None and self.process.stderr is not None
        self._pumps = [
            threading.Thread(target=self._pump, args=(name, stream), daemon=True)
            for name, stream in (("stdout", self.process.stdout), ("stderr", self.process.stderr))
        ]
        for pump in self._pumps:
            pump.start()

    def _pump(self, name: str, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put((name, line.rstrip("\n")))

    def expect(self, stream: str, needle: str) -> str:
        """The first line of ``stream`` after its last match containing ``needle`` (fails after
        the timeout). Each stream is read on its own thread, so a line of one may arrive while
        a test waits on the other: it stays there for the other's next ``expect``."""
        deadline = time.monotonic() + PROCESS_TIMEOUT
        start = self._next.get(stream, 0)
        while True:
            for index in range(start, len(self.seen)):
                name, line = self.seen[index]
                if name == stream and needle in line:
                    self._next[stream] = index + 1
                    return line
            start = len(self.seen)
            try:
                self.seen.append(self.lines.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                pytest.fail(f"no {needle!r} on {stream}; saw {self.seen}")

    def kill(self) -> int:
        self.process.send_signal(signal.SIGKILL)
        code = self.process.wait(PROCESS_TIMEOUT)
        for pump in self._pumps:
            pump.join(PROCESS_TIMEOUT)
        return code


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def _row(journal: Path, request_id: str) -> dict[str, Any]:
    with sqlite3.connect(journal) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM jobs WHERE request_id = ?", (request_id,)).fetchone()
    assert row is not None, request_id
    return dict(row)


@pytest.fixture
def emulator(clock: FakeClock) -> Emulator:
    """Jobs move only when the test advances the clock; the first video answer is held."""
    return create_app(
        token=TOKEN, clock=clock.monotonic, faults=f"video:slow={HOLD_VIDEO:g}@first=1"
    )


def test_sigkill_mid_wait_and_mid_download_then_resume(
    emulator: Emulator,
    server: str,
    clock: FakeClock,
    isolated: Path,
    record_property: Callable[[str, object], None],
) -> None:
    """Two generate processes die by SIGKILL, one waiting and one downloading: neither leaves
    a file at its target, and one resume finishes both without any second submission."""
    journal = isolated / "journal.sqlite3"
    common = ("--base-url", server, "--journal", str(journal))
    seconds = input_fields()["seconds"].default
    queued, running = emulator.phase_durations(seconds)

    # A: killed while waiting (its job queued; the emulator's clock is not moving).
    waiting = Child(
        "generate", "crash test: waiting", "--out", "waiting.mp4", *common, cwd=isolated
    )
    waiting_id = waiting.expect("stdout", "request_id: ").removeprefix("request_id: ")
    waiting.expect("stderr", "in_queue")
    assert -signal.SIGKILL == waiting.kill()
    row = _row(journal, waiting_id)
    assert (None, str(isolated / "waiting.mp4")) == (row["output_path"], row["target_path"])
    assert not (isolated / "waiting.mp4").exists()

    # B: killed mid-download (its video answer held by the emulator's slow fault).
    loading = Child(
        "generate", "crash test: loading", "--out", "loading.mp4", *common, cwd=isolated
    )
    loading_id = loading.expect("stdout", "request_id: ").removeprefix("request_id: ")
    clock.advance(2 * (queued + running))  # both jobs complete (the emulator runs two at once)
    _until(lambda: emulator.stats.requests["video"] >= 1, "the video request")
    _until(lambda: bool(leftovers(isolated)), "the temporary download file")
    assert -signal.SIGKILL == loading.kill()
    row = _row(journal, loading_id)
    assert ("completed", None) == (row["state"], row["output_path"])
    assert not (isolated / "loading.mp4").exists()
    stale = leftovers(isolated)  # SIGKILL runs no cleanup: the hidden temporary stays behind
    assert all(name.startswith(".loading.mp4.") for name in stale)

    # resume: both finished, nothing submitted again.
    resume = subprocess.run(
        [sys.executable, "-m", "sora2", "resume", *common],
        cwd=isolated,
        env={**os.environ, "RUNCOMFY_API_TOKEN": TOKEN},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
        check=False,
    )
    assert 0 == resume.returncode, resume.stderr
    assert "Traceback" not in resume.stderr
    video_url = _row(journal, loading_id)["video_url"]
    expected = httpx.get(video_url).raise_for_status().content
    for name, request_id in (("waiting.mp4", waiting_id), ("loading.mp4", loading_id)):
        assert expected == (isolated / name).read_bytes()
        assert str(isolated / name) == _row(journal, request_id)["output_path"]
    assert [] == leftovers(isolated)  # the finished download swept the killed one's part file
    assert {"crash test: waiting": 1, "crash test: loading": 1} == dict(emulator.stats.submissions)
    assert 2 == emulator.stats.requests["submit"]

    # A second resume finds nothing to do and sends nothing but reads of the journal.
    before = dict(emulator.stats.requests)
    again = subprocess.run(
        [sys.executable, "-m", "sora2", "resume", *common],
        cwd=isolated,
        env={**os.environ, "RUNCOMFY_API_TOKEN": TOKEN},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,
        check=False,
    )
    assert 0 == again.returncode, again.stderr
    assert "nothing to resume" in again.stderr
    assert before == dict(emulator.stats.requests)

    report(
        record_property,
        "crash safety",
        {
            "killed_mid_wait": waiting_id,
            "killed_mid_download": loading_id,
            "stale_temporary_files_after_sigkill": len(stale),
            "submissions": dict(emulator.stats.submissions),
            "requests": dict(emulator.stats.requests),
            "resume_stdout": resume.stdout.splitlines(),
        },
    )
