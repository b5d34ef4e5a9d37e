"""The shared CLI pieces: the progress line, option building, exit codes and commands."""

from __future__ import annotations

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

from .helpers import choices, default


def status(state: str, position: int | None = None, request_id: str = "req-1") -> JobStatus:
    return JobStatus(request_id=request_id, state=state, queue_position=position, raw=None)  # type: ignore[arg-type]


class TestElapsed:
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
