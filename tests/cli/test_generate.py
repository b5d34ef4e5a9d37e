"""``sora2 generate`` through ``sora2._cli.main``, and its progress display: width-aware on a
terminal, plain lines in a log, silent with -q."""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from sora2 import Client
from sora2._cli import EXIT_CANCELLED, EXIT_INTERRUPTED, EXIT_TIMEOUT, EXIT_USAGE
from sora2._cli._generate import Progress, format_bytes, format_elapsed
from sora2._inputs import PROMPT_INPUT
from sora2._types import JobStatus

from .helpers import (
    TOKEN,
    FakeClock,
    as_args,
    choice_options,
    choices,
    documented_prompt,
    journal_rows,
    one_json,
    run,
    server_state,
)

PROMPT = documented_prompt()

_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LONG_ID = "3f1c2a9e-0b7d-4e8a-9c61-5d2f7a8b9e10"


def status(state: str, position: int | None = None, request_id: str = "req-1") -> JobStatus:
    return JobStatus(request_id=request_id, state=state, queue_position=position, raw=None)  # type: ignore[arg-type]


def frames(text: str) -> list[str]:
    """What a terminal shows after each redraw: the text between carriage returns."""
    return [_ESCAPE.sub("", frame).rstrip("\n") for frame in text.split("\r")]


class TestLog:
    def test_log_gets_one_line_per_change(self) -> None:
        """Off a terminal, each new state or queue position is one plain line; repeats are not."""
        stream, clock = io.StringIO(), FakeClock()
        progress = Progress(stream, tty=False, clock=clock.monotonic)
        progress.submitted("req-1")
        progress.start()
        progress.update(status("in_queue", 2))
        clock.advance(3)
        progress.update(status("in_queue", 2))
        progress.update(status("in_queue", 1))
        clock.advance(62)
        progress.update(status("in_progress"))
        progress.close()
        assert [
            "req-1  in_queue  queue position 2  elapsed 0:00",
            "req-1  in_queue  queue position 1  elapsed 0:03",
            "req-1  in_progress  elapsed 1:05",
        ] == stream.getvalue().splitlines()
        assert "\r" not in stream.getvalue()

    def test_a_download_is_two_lines_in_a_log(self) -> None:
        """Off a terminal a download prints its start and its end, not every chunk."""
        stream, clock = io.StringIO(), FakeClock()
        progress = Progress(stream, tty=False, clock=clock.monotonic)
        progress.update(status("completed"))
        for received in (1_000_000, 2_000_000, 3_000_000, 4_200_000):
            progress.download(received, 4_200_000)
        lines = stream.getvalue().splitlines()
        assert 3 == len(lines)
        assert lines[1].endswith("downloading 1.0 MB of 4.2 MB")
        assert lines[2].endswith("downloaded 4.2 MB of 4.2 MB")

    def test_tick_is_silent_off_a_terminal(self) -> None:
        """The elapsed-time tick writes nothing to a log."""
        stream = io.StringIO()
        progress = Progress(stream, tty=False, clock=FakeClock().monotonic)
        progress.submitted("req-1")
        progress.start()
        progress.tick()
        assert "" == stream.getvalue()


class TestTerminal:
    def test_a_narrow_terminal_keeps_one_line(self) -> None:
        """In 50 columns every redraw fits the width and replaces the last: no wrapped leftovers,
        one line ended once at close."""
        stream, clock = io.StringIO(), FakeClock()
        progress = Progress(stream, tty=True, clock=clock.monotonic, tick_interval=0, width=50)
        progress.submitted(LONG_ID)
        progress.start()
        for position in (3, 2, 1):
            clock.advance(4)
            progress.update(status("in_queue", position, LONG_ID))
        progress.update(status("in_progress", None, LONG_ID))
        progress.update(status("completed", None, LONG_ID))
        for received in range(0, 5_000_001, 500_000):
            progress.download(received, 5_000_000)
        progress.close()
        text = stream.getvalue()
        shown = frames(text)
        assert len(shown) > 10
        assert all(len(frame) <= 50 for frame in shown), shown
        assert 1 == text.count("\n")
        assert shown[-1].startswith("completed  elapsed 0:12  downloaded 5.0 MB of 5")
        assert any(f.startswith("in_queue  queue position 1  elapsed 0:12") for f in shown)
        assert shown[-1].endswith("…")

    def test_a_wide_terminal_shows_state_position_elapsed_and_bytes(self) -> None:
        """With room, the line holds the state, queue position, elapsed time, bytes and total."""
        stream, clock = io.StringIO(), FakeClock()
        progress = Progress(stream, tty=True, clock=clock.monotonic, tick_interval=0, width=200)
        progress.submitted("req-1")
        progress.start()
        clock.advance(7)
        progress.update(status("in_queue", 2))
        assert "in_queue  queue position 2  elapsed 0:07  req-1" == frames(stream.getvalue())[-1]
        progress.update(status("completed"))
        progress.download(1_500_000, 3_000_000)
        assert frames(stream.getvalue())[-1].endswith("downloading 1.5 MB of 3.0 MB  req-1")
        progress.close()

    def test_the_redraw_thread_stops_on_exit(self) -> None:
        """Leaving the context stops rich's redraw thread and ends the line."""
        stream = io.StringIO()
        with Progress(stream, tty=True, clock=FakeClock().monotonic, tick_interval=60) as p:
            p.submitted("req-1")
            p.start()
            assert any(type(t).__name__ == "_RefreshThread" for t in threading.enumerate())
        assert not any(type(t).__name__ == "_RefreshThread" for t in threading.enumerate())
        assert stream.getvalue().endswith("\n") or stream.getvalue().endswith("\x1b[?25h")

    def test_quiet_prints_nothing(self) -> None:
        """With quiet, neither a terminal nor a log gets anything."""
        for tty in (True, False):
            stream = io.StringIO()
            with Progress(stream, tty=tty, quiet=True, tick_interval=0) as progress:
                progress.submitted("req-1")
                progress.start()
                progress.update(status("in_progress"))
                progress.download(10, 10)
            assert "" == stream.getvalue()


class TestElapsed:
    @pytest.mark.parametrize(
        ("seconds", "shown"), [(0, "0:00"), (7.9, "0:07"), (125, "2:05"), (3725, "1:02:05")]
    )
    def test_elapsed_format(self, seconds: float, shown: str) -> None:
        """Elapsed time reads like a clock: M:SS, then H:MM:SS."""
        assert format_elapsed(seconds) == shown


def test_format_bytes() -> None:
    """Sizes read in decimal units, as download tools show them."""
    assert ["999 bytes", "1.5 kB", "4.2 MB", "1.0 GB"] == [
        format_bytes(n) for n in (999, 1_500, 4_200_000, 1_000_000_000)
    ]


def test_generate_quiet_shows_no_progress(fake_time: FakeClock, isolated: Path) -> None:
    """`sora2 generate -q` prints the id and the path, and no progress line on stderr."""
    loud = run("generate", "--emulator", documented_prompt())
    quiet = run("generate", "--emulator", documented_prompt(), "-q")
    assert 0 == loud.exit_code == quiet.exit_code
    assert "in_progress" in loud.stderr and "downloaded" in loud.stderr
    assert "" == quiet.stderr


class TestGenerate:
    def test_in_process_emulator_end_to_end(self, fake_time: FakeClock, isolated: Path) -> None:
        """generate --emulator prints the id, then saves ./ID.mp4 and prints its path."""
        result = run("generate", "--emulator", PROMPT)
        assert result.exit_code == 0, result.stderr
        first, last = result.stdout.splitlines()
        request_id = first.removeprefix("request_id: ")
        saved = isolated / f"{request_id}.mp4"
        assert f"saved: {saved}" == last
        assert saved.stat().st_size > 0
        assert "completed" in result.stderr

    def test_json_is_one_object_and_progress_stays_on_stderr(
        self, fake_time: FakeClock, isolated: Path
    ) -> None:
        """--json prints one object on stdout, with exactly the inputs given; the id and the
        progress go to stderr."""
        given = dict(list(choice_options().items())[:1])
        result = run("generate", "--emulator", PROMPT, *as_args(given), "--json")
        assert result.exit_code == 0, result.stderr
        payload = one_json(result.stdout)
        assert payload["state"] == "completed"
        assert given == payload["inputs"]
        assert Path(payload["path"]).is_file()
        assert f"request_id: {payload['request_id']}" in result.stderr
        assert "in_progress" in result.stderr

    def test_options_reach_the_service_in_the_models_types(
        self, fake_time: FakeClock, isolated: Path, tmp_path: Path
    ) -> None:
        """Every choice option is sent as the model's type (an int, not "8"), and nothing
        that was not given is sent."""
        given = choice_options()
        result = run("generate", "--emulator", PROMPT, *as_args(given), "--out", "clip.mp4")
        assert result.exit_code == 0, result.stderr
        assert (isolated / "clip.mp4").is_file()
        (row,) = journal_rows(tmp_path / "journal.sqlite3")
        assert given == json.loads(row["params"])

    def test_bad_size_lists_the_allowed_values(self, tmp_path: Path) -> None:
        """An unknown --size is a usage error naming every allowed size; nothing is sent."""
        result = run("generate", "--emulator", PROMPT, "--size", "1x1")
        assert result.exit_code == EXIT_USAGE
        for size in choices("size"):
            assert str(size) in result.stderr
        assert journal_rows(tmp_path / "journal.sqlite3") == []
        assert "Traceback" not in result.output

    def test_bad_seconds_is_a_usage_error(self) -> None:
        """A --seconds outside the model's choices is refused with the allowed values."""
        result = run("generate", "--emulator", PROMPT, "--seconds", "7")
        assert result.exit_code == EXIT_USAGE
        for seconds in choices("seconds"):
            assert str(seconds) in result.stderr

    def test_wait_timeout_has_its_own_exit_code(self, server: str, token: str) -> None:
        """A --timeout reached before the end exits 3 and says how to resume."""
        result = run("generate", PROMPT, "--base-url", server, "--timeout", "0.5")
        assert result.exit_code == EXIT_TIMEOUT
        request_id = result.stdout.splitlines()[0].removeprefix("request_id: ")
        assert f"sora2 resume {request_id} --base-url {server}" in result.stderr
        assert len(result.stderr.strip().splitlines()[-1:]) == 1

    def test_a_job_cancelled_elsewhere_exits_cancelled(
        self, server: str, token: str, fake_time: FakeClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """When the job is cancelled by someone else while we wait, generate exits 6."""
        from sora2._cli._generate import Progress

        original = Progress.submitted

        def submitted(self: Progress, request_id: str, state: str = "in_queue") -> None:
            original(self, request_id, state)
            with Client(TOKEN, base_url=server, journal=False, _clock=fake_time) as other:
                other.cancel(request_id)

        monkeypatch.setattr(Progress, "submitted", submitted)
        result = run("generate", PROMPT, "--base-url", server)
        assert result.exit_code == EXIT_CANCELLED
        assert "was cancelled; there is no video" in result.stderr


class TestInputFile:
    @pytest.mark.parametrize("command", ["generate", "submit"])
    def test_the_file_holds_the_whole_body(
        self, fake_time: FakeClock, isolated: Path, command: str
    ) -> None:
        """generate and submit send the prompt of --input-file when PROMPT is left out; the
        journal records it."""
        given = dict(list(choice_options().items())[:1])
        body = isolated / "body.json"
        body.write_text(json.dumps({PROMPT_INPUT: PROMPT, **given}), encoding="utf-8")
        result = run(command, "--emulator", "--input-file", str(body), "--json")
        assert 0 == result.exit_code, result.stderr
        payload = one_json(result.stdout)
        assert given == payload["inputs"]
        jobs = one_json(run("jobs", "--emulator", "--json").stdout)["jobs"]
        assert [PROMPT] == [job["prompt"] for job in jobs]

    def test_prompt_wins_over_the_file(self, fake_time: FakeClock, isolated: Path) -> None:
        """PROMPT and a file prompt both given: PROMPT is sent and stderr says it won."""
        body = isolated / "body.json"
        body.write_text(json.dumps({PROMPT_INPUT: "the file's prompt"}), encoding="utf-8")
        result = run("submit", "--emulator", PROMPT, "--input-file", str(body))
        assert 0 == result.exit_code, result.stderr
        assert "PROMPT argument wins" in result.stderr
        jobs = one_json(run("jobs", "--emulator", "--json").stdout)["jobs"]
        assert [PROMPT] == [job["prompt"] for job in jobs]

    def test_no_prompt_at_all_is_a_usage_error(self, fake_time: FakeClock) -> None:
        """Without PROMPT or a file prompt nothing is submitted and the exit code is 2."""
        result = run("submit", "--emulator", "--input-file", "-", input="{}")
        assert EXIT_USAGE == result.exit_code
        assert "PROMPT" in result.stderr


def _interrupted(
    interrupt_when: Callable[[str | None], None],
    state: str,
    server: str,
    *options: str,
    input: str | None = None,
) -> tuple[Result, str]:
    """``generate`` against ``server``, Ctrl-C'd once ``state`` is seen: it exits 130 after
    printing the job's id; the result and that id."""
    interrupt_when(state)
    result = run("generate", PROMPT, "--base-url", server, *options, input=input)
    assert result.exit_code == EXIT_INTERRUPTED
    return result, result.stdout.splitlines()[0].removeprefix("request_id: ")


class TestInterrupt:
    def test_queued_without_terminal_cancels_without_asking(
        self,
        server: str,
        token: str,
        fake_time: FakeClock,
        interrupt_when: Callable[[str | None], None],
    ) -> None:
        """Ctrl-C while queued and no terminal to ask: the job is cancelled, exit 130."""
        result, request_id = _interrupted(interrupt_when, "in_queue", server)
        assert f"cancelled {request_id}." in result.stderr
        assert "?" not in result.stderr  # nobody was asked
        assert server_state(server, request_id, fake_time) == "cancelled"

    @pytest.mark.parametrize(("answer", "expected"), [("y\n", "cancelled"), ("n\n", "in_queue")])
    def test_queued_at_a_terminal_asks_first(
        self,
        answer: str,
        expected: str,
        server: str,
        token: str,
        fake_time: FakeClock,
        interrupt_when: Callable[[str | None], None],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Ctrl-C while queued at a terminal asks; the answer decides whether it is cancelled."""
        from sora2._cli import _generate

        monkeypatch.setattr(_generate, "_stdin_is_tty", lambda: True)
        result, request_id = _interrupted(interrupt_when, "in_queue", server, input=answer)
        assert "Cancel it?" in result.stderr
        assert expected == server_state(server, request_id, fake_time)
        if expected == "in_queue":
            assert f"sora2 resume {request_id} --base-url {server}" in result.stderr

    def test_cancel_on_interrupt_does_not_ask(
        self,
        server: str,
        token: str,
        fake_time: FakeClock,
        interrupt_when: Callable[[str | None], None],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """--cancel-on-interrupt cancels a queued job even at a terminal, without a question."""
        from sora2._cli import _generate

        monkeypatch.setattr(_generate, "_stdin_is_tty", lambda: True)
        result, request_id = _interrupted(
            interrupt_when, "in_queue", server, "--cancel-on-interrupt"
        )
        assert "Cancel it?" not in result.stderr
        assert server_state(server, request_id, fake_time) == "cancelled"

    def test_in_progress_says_it_cannot_be_cancelled_and_how_to_resume(
        self,
        server: str,
        token: str,
        fake_time: FakeClock,
        interrupt_when: Callable[[str | None], None],
    ) -> None:
        """Ctrl-C in progress: not cancelled, the exact resume command is printed, exit 130."""
        result, request_id = _interrupted(interrupt_when, "in_progress", server)
        assert "cannot be cancelled" in result.stderr
        assert f"sora2 resume {request_id} --base-url {server}" in result.stderr
        assert server_state(server, request_id, fake_time) == "in_progress"

    def test_resume_after_interrupt_finishes_the_download(
        self,
        server: str,
        token: str,
        fake_time: FakeClock,
        interrupt_when: Callable[[str | None], None],
        isolated: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A generate stopped in progress is finished by resume, to the path it meant to use."""
        interrupt_when("in_progress")
        stopped = run("generate", PROMPT, "--base-url", server, "--out", "night.mp4")
        assert stopped.exit_code == EXIT_INTERRUPTED
        interrupt_when(None)
        unfinished = run("jobs", "--unfinished", "--json")
        assert len(one_json(unfinished.stdout)["jobs"]) == 1
        resumed = run("resume", "--base-url", server)
        assert resumed.exit_code == 0, resumed.stderr
        assert (isolated / "night.mp4").is_file()
        assert str(isolated / "night.mp4") in resumed.stdout
        assert one_json(run("jobs", "--unfinished", "--json").stdout)["jobs"] == []

    def test_json_on_interrupt_is_one_object(
        self,
        server: str,
        token: str,
        interrupt_when: Callable[[str | None], None],
    ) -> None:
        """With --json an interrupted generate still prints one object saying what happened."""
        interrupt_when("in_progress")
        result = run("generate", PROMPT, "--base-url", server, "--json")
        assert result.exit_code == EXIT_INTERRUPTED
        payload = one_json(result.stdout)
        assert {k: payload[k] for k in ("interrupted", "cancelled", "state")} == {
            "interrupted": True,
            "cancelled": False,
            "state": "in_progress",
        }
