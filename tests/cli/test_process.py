"""``python -m sora2`` as a real process: the README's main-job command, real Ctrl-C, exit codes."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from sora2 import Client
from sora2._cli import EXIT_CONFIG, EXIT_INTERRUPTED, EXIT_TERMINATED
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
SAFETY_TIMEOUT = 300
"""The interrupt tests wait on the child's own words; only a hung child runs into this."""


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


class Child:
    """A running ``python -m sora2`` whose stdout and stderr are read by threads as lines come.

    A step waits for what the child says (submitted, polled, cancelled), never for a time:
    ``SAFETY_TIMEOUT`` only turns a hung child into a failure instead of a hung suite.
    """

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.seen: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._ended: set[str] = set()
        self._lines: queue.Queue[tuple[str, str]] = queue.Queue()
        self._deadline = time.monotonic() + SAFETY_TIMEOUT
        for name in ("stdout", "stderr"):
            stream = getattr(process, name)
            threading.Thread(target=self._pump, args=(name, stream), daemon=True).start()

    def _pump(self, name: str, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put((name, line))
        self._lines.put((name, ""))  # end of stream

    def _next(self) -> tuple[str, str]:
        try:
            name, line = self._lines.get(timeout=max(0.0, self._deadline - time.monotonic()))
        except queue.Empty:
            self.process.kill()
            raise AssertionError(f"the child hung; it said: {self.seen}") from None
        if line:
            self.seen[name].append(line)
        else:
            self._ended.add(name)
        return name, line

    def wait_for(self, stream: str, needle: str) -> str:
        """The first line on ``stream`` (stdout or stderr) that contains ``needle``."""
        while True:
            name, line = self._next()
            if name == stream and needle in line:
                return line
            assert stream not in self._ended, f"{stream} ended before {needle!r}: {self.seen}"

    def finish(self) -> tuple[int, str]:
        """Wait for the child to exit and both streams to end: its exit code and its stderr."""
        while len(self._ended) < 2:
            self._next()
        code = self.process.wait(timeout=max(0.0, self._deadline - time.monotonic()))
        return code, "".join(self.seen["stderr"])


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


@pytest.fixture
def sigint_reaches_children() -> Iterator[None]:
    """Children start with SIGINT's default action, whatever this process inherited.

    A shell starts a background job (``pytest &``, a CI runner) with SIGINT ignored; its
    children inherit that, Python then never raises KeyboardInterrupt, and a SIGINT sent to
    ``sora2`` would do nothing. A handler set here is reset to the default by exec.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


@pytest.mark.usefixtures("sigint_reaches_children")
class TestRealInterrupt:
    def test_sigint_while_queued_cancels_the_job(
        self, server: str, fake_time: FakeClock, isolated: Path
    ) -> None:
        """A real SIGINT while queued, with no terminal to ask: cancelled, exit 130."""
        child = Child(sora2("generate", PROMPT, "--base-url", server, cwd=isolated, env=TOKEN_ENV))
        submitted = child.wait_for("stdout", "request_id: ")
        request_id = submitted.strip().removeprefix("request_id: ")
        child.wait_for("stderr", "in_queue")  # polling: the child knows the job is queued
        child.process.send_signal(signal.SIGINT)
        returncode, stderr = child.finish()
        assert returncode == EXIT_INTERRUPTED, stderr
        assert f"cancelled {request_id}." in stderr
        assert "Traceback" not in stderr
        with Client(TOKEN, base_url=server, journal=False, _clock=fake_time) as client:
            assert client.status(request_id).state == "cancelled"

    def test_sigint_while_in_progress_prints_the_resume_command(
        self, server: str, fake_time: FakeClock, isolated: Path
    ) -> None:
        """A real SIGINT in progress: not cancelled, the exact resume command, exit 130."""
        child = Child(sora2("generate", PROMPT, "--base-url", server, cwd=isolated, env=TOKEN_ENV))
        submitted = child.wait_for("stdout", "request_id: ")
        request_id = submitted.strip().removeprefix("request_id: ")
        fake_time.advance(QUEUE_TIME + RUN_BASE_SECONDS / 2)  # running, far from done
        child.wait_for("stderr", "in_progress")
        child.process.send_signal(signal.SIGINT)
        returncode, stderr = child.finish()
        assert returncode == EXIT_INTERRUPTED, stderr
        assert "cannot be cancelled" in stderr
        assert f"sora2 resume {request_id} --base-url {server}" in stderr
        with Client(TOKEN, base_url=server, journal=False, _clock=fake_time) as client:
            assert client.status(request_id).state == "in_progress"


class TestSigterm:
    def test_sigterm_while_queued_leaves_the_job_and_says_how_to_resume(
        self, server: str, fake_time: FakeClock, isolated: Path
    ) -> None:
        """SIGTERM (a container stop, `timeout`) while queued: nothing cancelled, the resume
        command printed, the job kept in the journal, exit 143."""
        child = Child(sora2("generate", PROMPT, "--base-url", server, cwd=isolated, env=TOKEN_ENV))
        submitted = child.wait_for("stdout", "request_id: ")
        request_id = submitted.strip().removeprefix("request_id: ")
        child.wait_for("stderr", "in_queue")
        child.process.send_signal(signal.SIGTERM)
        returncode, stderr = child.finish()
        assert EXIT_TERMINATED == returncode, stderr
        assert f"sora2 resume {request_id} --base-url {server}" in stderr
        assert stderr.rstrip().endswith("sora2: error: terminated")
        assert "Traceback" not in stderr
        with Client(TOKEN, base_url=server, _clock=fake_time) as client:
            assert "in_queue" == client.status(request_id).state
            assert [request_id] == [record.request_id for record in client.jobs()]

    def test_sigterm_restores_the_terminal_cursor(
        self, server: str, fake_time: FakeClock, isolated: Path
    ) -> None:
        """On a terminal, the progress line hides the cursor; SIGTERM shows it again."""
        import pty

        leader, follower = pty.openpty()
        process = subprocess.Popen(
            [sys.executable, "-m", "sora2", "generate", PROMPT, "--base-url", server],
            cwd=isolated,
            env={**os.environ, **TOKEN_ENV},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
        )
        os.close(follower)
        seen = bytearray()
        try:
            assert process.stdout is not None
            process.stdout.readline()  # request_id: ...
            deadline = time.monotonic() + SAFETY_TIMEOUT
            while b"in_queue" not in seen:
                assert time.monotonic() < deadline, f"the child hung: {bytes(seen)!r}"
                seen += os.read(leader, 4096)
            process.send_signal(signal.SIGTERM)
            while True:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            assert EXIT_TERMINATED == process.wait(PROCESS_TIMEOUT)
        finally:
            os.close(leader)
            if process.poll() is None:
                process.kill()
                process.wait()
        hide, show = b"\x1b[?25l", b"\x1b[?25h"
        assert hide in seen
        assert seen.rindex(show) > seen.rindex(hide)


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
