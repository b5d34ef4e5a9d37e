"""``sora2._cli`` itself: exit codes, the JSON object of ``--json``, what a command loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sora2._cli import (
    COMMANDS,
    EXIT_CONFIG,
    EXIT_ERROR,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    CommandError,
    JsonOutput,
    cli,
    command_error,
    record,
)
from sora2._exceptions import (
    ConfigurationError,
    InvalidInputError,
    NotFoundError,
    WaitTimeoutError,
)


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
        assert code == command_error(error).exit_code  # type: ignore[arg-type]


class TestCommandError:
    def test_command_error_is_one_prefixed_line(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A CommandError prints like every other CLI error and keeps its exit code."""
        error = CommandError("it broke", 42)
        error.show()
        assert capsys.readouterr().err == "sora2: error: it broke\n"
        assert error.exit_code == 42


class TestJsonOutput:
    def test_a_held_payload_is_printed_once_with_the_error(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """What a command records is held, then printed as one object with the failure added."""
        output = JsonOutput()
        record(output, {"request_id": "r-1"})
        assert "" == capsys.readouterr().out
        output.flush({"type": "X", "message": "m", "request_id": "r-1", "exit_code": 1})
        printed = capsys.readouterr().out
        assert 1 == len(printed.splitlines())
        assert {
            "request_id": "r-1",
            "error": {"type": "X", "message": "m", "request_id": "r-1", "exit_code": 1},
        } == json.loads(printed)

    def test_nothing_collecting_prints_at_once(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A payload with no JsonOutput to hold it (click run without ``main``) prints now."""
        record(None, {"state": "x"})
        assert {"state": "x"} == json.loads(capsys.readouterr().out)

    def test_the_output_reaches_commands_as_clicks_context_object(self) -> None:
        """``main`` hands the JsonOutput to click as ``obj``; a command run with another one
        (here through click alone) writes into that one, nothing global."""
        output = JsonOutput()
        result = CliRunner().invoke(
            cli, ["price", "--emulator", "--json", "--no-journal"], obj=output
        )
        assert 0 == result.exit_code, result.output
        assert "" == result.stdout
        assert output.payload is not None and "estimate_usd" in output.payload


def _modules_after(tmp_path: Path, *args: str) -> tuple[int, list[str]]:
    """Run ``sora2 ARGS`` in a fresh interpreter: its exit code and the ``sora2._cli`` and
    ``sora2.contract`` modules it imported, and httpx if it did."""
    code = (
        "import json, sys\n"
        "from sora2._cli import main\n"
        "code = main(sys.argv[1:])\n"
        "print(json.dumps([code, sorted(m for m in sys.modules"
        " if m in ('sora2._cli', 'httpx') or m.startswith(('sora2._cli.', 'sora2.contract')))]))"
    )
    argv = [sys.executable, "-c", code, *args]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    found: tuple[int, list[str]] = tuple(json.loads(out.splitlines()[-1]))  # type: ignore[assignment]
    return found


def test_generate_loads_only_its_own_module(tmp_path: Path) -> None:
    """``sora2 generate`` imports the CLI's frame, the shared options and its own module: none
    of the other commands' modules, nor the checker."""
    args = ["generate", "--emulator", "-q", "a cat", "--out", str(tmp_path / "v.mp4")]
    others = {target.partition(":")[0] for target, _ in COMMANDS.values()}
    assert 4 <= len(others - {"sora2._cli._generate"})
    expected = ["httpx", "sora2._cli", "sora2._cli._common", "sora2._cli._generate"]
    assert (0, expected) == _modules_after(tmp_path, *args)


def test_help_loads_no_command(tmp_path: Path) -> None:
    """``sora2 --help`` lists every command from the lazy table without importing one, nor
    the HTTP stack."""
    assert (0, ["sora2._cli"]) == _modules_after(tmp_path, "--help")


@pytest.mark.parametrize("width", [50, 80, 200])
def test_the_table_holds_each_commands_short_help(width: int) -> None:
    """``sora2 --help`` shows, at any width, the short help each command's docstring gives."""
    for name, (_, summary) in COMMANDS.items():
        command = cli.get_command(click.Context(cli), name)
        assert command is not None
        limit = width - 6 - max(map(len, COMMANDS))
        shown = click.Command(name, help=summary).get_short_help_str(limit)
        assert command.get_short_help_str(limit) == shown


def test_click_is_not_handed_a_command_it_cannot_load() -> None:
    """Every entry of the lazy table names a click command."""
    for name in COMMANDS:
        assert isinstance(cli.get_command(click.Context(cli), name), click.Command)
