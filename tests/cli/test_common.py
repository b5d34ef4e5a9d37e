"""The shared CLI pieces: the progress line, option building, exit codes and commands."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from sora2._cli._common import (
    EXIT_CONFIG,
    EXIT_ERROR,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    CommandError,
    Progress,
    Settings,
    exit_code_for,
    format_elapsed,
    input_option,
)
from sora2._exceptions import (
    ConfigurationError,
    InvalidInputError,
    NotFoundError,
    WaitTimeoutError,
)
from sora2._types import JobStatus

from .helpers import FakeClock, choices, default


def status(state: str, position: int | None = None, request_id: str = "req-1") -> JobStatus:
    return JobStatus(request_id=request_id, state=state, queue_position=position, raw=None)  # type: ignore[arg-type]


class TestProgress:
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
        assert stream.getvalue().splitlines() == [
            "req-1  in_queue  queue position 2  elapsed 0:00",
            "req-1  in_queue  queue position 1  elapsed 0:03",
            "req-1  in_progress  elapsed 1:05",
        ]
        assert "\r" not in stream.getvalue()

    def test_terminal_line_is_rewritten_in_place(self) -> None:
        """On a terminal the line is redrawn with a carriage return and ended once at close."""
        stream, clock = io.StringIO(), FakeClock()
        progress = Progress(stream, tty=True, clock=clock.monotonic, tick_interval=0)
        progress.submitted("req-1")
        assert stream.getvalue() == ""
        progress.start()
        clock.advance(7)
        progress.tick()
        progress.update(status("in_progress"))
        progress.close()
        text = stream.getvalue()
        frames = text.split("\r")[1:]
        assert [f.split("\x1b[K")[0] for f in frames] == [
            "req-1  in_queue  elapsed 0:00",
            "req-1  in_queue  elapsed 0:07",
            "req-1  in_progress  elapsed 0:07",
        ]
        assert text.endswith("\n")
        assert text.count("\n") == 1

    def test_tick_is_silent_off_a_terminal(self) -> None:
        """The elapsed-time tick writes nothing to a log."""
        stream = io.StringIO()
        progress = Progress(stream, tty=False, clock=FakeClock().monotonic)
        progress.submitted("req-1")
        progress.start()
        progress.tick()
        assert stream.getvalue() == ""

    def test_ticker_thread_stops_on_exit(self) -> None:
        """Leaving the context stops the terminal ticker thread and ends the line."""
        stream = io.StringIO()
        with Progress(stream, tty=True, clock=FakeClock().monotonic, tick_interval=60) as p:
            p.submitted("req-1")
            p.start()
            ticker = p._ticker
            assert ticker is not None and ticker.is_alive()
        assert not ticker.is_alive()
        assert stream.getvalue().endswith("\n")

    @pytest.mark.parametrize(
        ("seconds", "shown"), [(0, "0:00"), (7.9, "0:07"), (125, "2:05"), (3725, "1:02:05")]
    )
    def test_elapsed_format(self, seconds: float, shown: str) -> None:
        """Elapsed time reads like a clock: M:SS, then H:MM:SS."""
        assert format_elapsed(seconds) == shown


class TestInputOption:
    @pytest.mark.parametrize("name", ["size", "seconds"])
    def test_choices_types_and_defaults_follow_the_model(self, name: str) -> None:
        """Each choice converts back to the model's value and the default is the model's."""

        @click.command()
        @input_option(name)
        def show(**values: Any) -> None:
            click.echo(repr(values[name]))

        runner = CliRunner()
        assert runner.invoke(show, []).stdout.strip() == repr(default(name))
        for choice in choices(name):
            assert runner.invoke(show, [f"--{name}", str(choice)]).stdout.strip() == repr(choice)


class TestExitCodes:
    @pytest.mark.parametrize(
        ("error", "code"),
        [
            (WaitTimeoutError("late", request_id="r"), EXIT_TIMEOUT),
            (ConfigurationError("no key"), EXIT_CONFIG),
            (InvalidInputError("bad", field="size"), EXIT_USAGE),
            (NotFoundError("gone", status_code=404), EXIT_ERROR),
        ],
    )
    def test_each_error_family_has_its_code(self, error: Exception, code: int) -> None:
        """Library errors map to the documented exit codes."""
        assert exit_code_for(error) == code  # type: ignore[arg-type]

    def test_command_error_is_one_prefixed_line(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A CommandError prints like every other CLI error and keeps its exit code."""
        error = CommandError("it broke", 42)
        error.show()
        assert capsys.readouterr().err == "sora2: error: it broke\n"
        assert error.exit_code == 42


class TestSettings:
    def test_command_repeats_the_service_and_journal(self) -> None:
        """A printed follow-up command targets the same service and journal, shell-quoted."""
        settings = Settings(
            base_url="http://127.0.0.1:8000",
            emulator=False,
            journal=Path("/tmp/my jobs.sqlite3"),
            json_output=False,
        )
        assert settings.command("resume", "abc") == (
            "sora2 resume abc --base-url http://127.0.0.1:8000 --journal '/tmp/my jobs.sqlite3'"
        )

    def test_command_is_bare_by_default(self) -> None:
        """Without options the follow-up is just ``sora2 resume ID``."""
        settings = Settings(base_url=None, emulator=False, journal=None, json_output=False)
        assert settings.command("resume", "abc") == "sora2 resume abc"
