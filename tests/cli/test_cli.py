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
    JsonOutput,
    cli,
    exit_code_for,
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
        assert exit_code_for(error) == code  # type: ignore[arg-type]


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


def test_generate_loads_no_other_command(tmp_path: Path) -> None:
    """``sora2 generate`` imports none of the modules of the other commands, nor the checker."""
    others = sorted(
        {target.partition(":")[0] for target in COMMANDS.values()} - {"sora2._cli._jobs"}
    )
    code = (
        "import json, sys\n"
        "from sora2._cli import main\n"
        "code = main(['generate', '--emulator', '-q', 'a cat', '--out', sys.argv[1]])\n"
        "print(json.dumps([code, sorted(m for m in sys.modules if m in sys.argv[2:]"
        " or m.startswith('sora2.contract'))]))"
    )
    argv = [sys.executable, "-c", code, str(tmp_path / "v.mp4"), *others]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert 4 <= len(others)
    assert [0, []] == json.loads(out.splitlines()[-1])


def test_click_is_not_handed_a_command_it_cannot_load() -> None:
    """Every entry of the lazy table names a click command."""
    for name in COMMANDS:
        assert isinstance(cli.get_command(click.Context(cli), name), click.Command)
