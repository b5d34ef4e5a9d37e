"""``python -m sora2`` as a real process: the README's main-job command, real Ctrl-C, exit codes."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

from sora2 import Client
from sora2._cli._common import EXIT_CONFIG, EXIT_INTERRUPTED
from sora2.emulator import parse_size
from sora2.emulator._constants import (
    QUEUE_BASE_SECONDS,
    QUEUE_PER_VIDEO_SECOND,
    RUN_BASE_SECONDS,
)

from .helpers import TOKEN, FakeClock, default, documented_prompt

PROMPT = "night market"
TOKEN_ENV = {"RUNCOMFY_API_TOKEN": TOKEN}
QUEUE_TIME = QUEUE_BASE_SECONDS + QUEUE_PER_VIDEO_SECOND * default("seconds")
"""How long the emulator keeps a default job queued (at speed 1)."""
PROCESS_TIMEOUT = 60
"""A hung child fails the test instead of hanging the suite; no test waits this long."""


def sora2(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sora2", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextmanager
def lines_of(stream: IO[str]) -> Iterator[queue.Queue[str]]:
    """The stream's lines as they come, read by a thread so the test can wait for one."""
    found: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            found.put(line)
        found.put("")  # end of stream

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    yield found
    thread.join(PROCESS_TIMEOUT)


def wait_for(lines: queue.Queue[str], needle: str, seen: list[str]) -> None:
    while True:
        line = lines.get(timeout=PROCESS_TIMEOUT)
        seen.append(line)
        assert line, f"the stream ended before {needle!r}: {''.join(seen)}"
        if needle in line:
            return


class TestReadmeCommand:
    def test_generate_with_the_emulator_makes_a_playable_mp4(self, isolated: Path) -> None:
        """The README's offline command writes tokyo.mp4, a playable video of the default size."""
        import av

        command = ["generate", "--emulator", documented_prompt(), "--out", "tokyo.mp4"]
        process = subprocess.run(
            [sys.executable, "-m", "sora2", *command],
            cwd=isolated,
            capture_output=True,
            text=True,
            timeout=PROCESS_TIMEOUT,
            check=False,
        )
        assert process.returncode == 0, process.stderr
        video = isolated / "tokyo.mp4"
        assert process.stdout.splitlines()[-1] == f"saved: {video}"
        assert "Traceback" not in process.stderr
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            assert (stream.width, stream.height) == parse_size(default("size"))
            assert container.streams.audio
            assert container.duration is not None
            assert abs(container.duration / av.time_base - default("seconds")) < 0.5
            assert next(container.decode(video=0)).width == stream.width


class TestRealInterrupt:
    def test_sigint_while_queued_cancels_the_job(
        self, server: str, fake_time: FakeClock, isolated: Path
    ) -> None:
        """A real SIGINT while queued, with no terminal to ask: cancelled, exit 130."""
        process = sora2("generate", PROMPT, "--base-url", server, cwd=isolated, env=TOKEN_ENV)
        assert process.stdout is not None
        request_id = process.stdout.readline().strip().removeprefix("request_id: ")
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=PROCESS_TIMEOUT)
        assert process.returncode == EXIT_INTERRUPTED, stderr
        assert f"cancelled {request_id}." in stderr
        assert "Traceback" not in stderr
        with Client(TOKEN, base_url=server, journal=False, _clock=fake_time) as client:
            assert client.status(request_id).state == "cancelled"

    def test_sigint_while_in_progress_prints_the_resume_command(
        self, server: str, fake_time: FakeClock, isolated: Path
    ) -> None:
        """A real SIGINT in progress: not cancelled, the exact resume command, exit 130."""
        process = sora2("generate", PROMPT, "--base-url", server, cwd=isolated, env=TOKEN_ENV)
        assert process.stdout is not None and process.stderr is not None
        request_id = process.stdout.readline().strip().removeprefix("request_id: ")
        seen: list[str] = []
        with lines_of(process.stderr) as stderr_lines:
            fake_time.advance(QUEUE_TIME + RUN_BASE_SECONDS / 2)  # running, far from done
            wait_for(stderr_lines, "in_progress", seen)
            process.send_signal(signal.SIGINT)
            process.wait(timeout=PROCESS_TIMEOUT)
        while not stderr_lines.empty():
            seen.append(stderr_lines.get())
        stderr = "".join(seen)
        assert process.returncode == EXIT_INTERRUPTED, stderr
        assert "cannot be cancelled" in stderr
        assert f"sora2 resume {request_id} --base-url {server}" in stderr
        with Client(TOKEN, base_url=server, journal=False, _clock=fake_time) as client:
            assert client.status(request_id).state == "in_progress"


class TestProcessErrors:
    def test_missing_token_is_one_line_with_exit_4(self, isolated: Path) -> None:
        """Without a token the process exits 4 with one line naming both variables."""
        process = subprocess.run(
            [sys.executable, "-m", "sora2", "status", "abc", "--base-url", "http://127.0.0.1:9"],
            cwd=isolated,
            capture_output=True,
            text=True,
            timeout=PROCESS_TIMEOUT,
            check=False,
        )
        assert process.returncode == EXIT_CONFIG
        assert process.stdout == ""
        (line,) = process.stderr.splitlines()
        assert line.startswith("sora2: error:")
        assert "RUNCOMFY_API_TOKEN" in line and "YOUR_API_TOKEN" in line


@pytest.fixture(autouse=True)
def _no_inherited_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """Child processes inherit the environment; make sure no real token leaks into them."""
    for name in ("RUNCOMFY_API_TOKEN", "RUNCOMFY_TOKEN", "YOUR_API_TOKEN", "RUNCOMFY_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
