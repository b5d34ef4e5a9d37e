"""``sora2 emulator``: the real server started as a subprocess on a free port, driven over HTTP."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from .helpers import PROMPT, path_of, submit_path

TOKEN = "cli-test-token"


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`python -m sora2 emulator` on port 0 (a free port), with its printed base URL."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sora2",
            "emulator",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--token",
            TOKEN,
            "--speed",
            "1000",
            "--workers",
            "1",
            "--seed",
            "3",
            "--faults",
            "status:429=0@first=1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


class TestCommand:
    def test_the_server_runs_a_job_over_http_and_stops_cleanly(
        self, server: tuple[subprocess.Popen[str], str]
    ) -> None:
        """The printed URL serves the API with the options given; SIGTERM stops it with 0."""
        process, url = server
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=url, timeout=10, trust_env=False) as http:
            assert http.post(submit_path(), json={"prompt": PROMPT}).status_code == 401
            submitted = http.post(submit_path(), json={"prompt": PROMPT}, headers=auth).json()
            request_id = submitted["request_id"]
            status_path = path_of("status", request_id)
            assert http.get(status_path, headers=auth).status_code == 429
            deadline = time.monotonic() + 10  # the job takes ~6 ms at speed 1000
            while http.get(status_path, headers=auth).json()["status"] != "completed":
                assert time.monotonic() < deadline, "the job did not complete"
                time.sleep(0.005)
            result = http.get(path_of("result", request_id), headers=auth).json()
            video = http.get(result["output"]["video"])
        assert result["status"] == "completed"
        assert video.status_code == 200
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
        assert process.returncode == 0
        assert TOKEN not in stderr

    def test_a_port_in_use_is_named_in_one_line(self) -> None:
        """`sora2 emulator --port P` with P taken: one line naming the port, exit 1."""
        taken = socket.socket()
        try:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            done = subprocess.run(
                [sys.executable, "-m", "sora2", "emulator", "--port", str(port)],
                capture_output=True,
                text=True,
                timeout=60,
            )
        finally:
            taken.close()
        assert 1 == done.returncode
        assert [f"sora2: error: cannot listen on 127.0.0.1:{port}: "] == [
            line[: line.index(": ", 14) + 2] for line in done.stderr.splitlines()
        ]
        assert "--port 0" in done.stderr

    def test_a_bad_fault_spec_is_a_usage_error(self) -> None:
        """--faults that break the grammar exit 2 with a one-line reason, no traceback."""
        done = subprocess.run(
            [sys.executable, "-m", "sora2", "emulator", "--faults", "status:teapot"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2
        assert "bad fault rule" in done.stderr
        assert "Traceback" not in done.stderr
