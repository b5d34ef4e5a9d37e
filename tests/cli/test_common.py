"""What the job commands share: option building, settings and the client they make."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
from click.testing import CliRunner

from sora2 import Client
from sora2._cli import (
    EXIT_CONFIG,
    _common,
)
from sora2._cli._common import (
    INPUT_PARAM_PREFIX,
    Settings,
    input_option,
    input_options,
    make_client,
    parse_input_value,
)
from sora2._inputs import NO_DEFAULT, PROMPT_INPUT, InputField, input_fields
from sora2._types import COMPLETED, JobStatus

from .helpers import BASE_URL, TOKEN, choices, run


def status(state: str, position: int | None = None, request_id: str = "req-1") -> JobStatus:
    return JobStatus(request_id=request_id, state=state, queue_position=position, raw=None)  # type: ignore[arg-type]


def _capture(*args: str, input: str | None = None) -> tuple[int, dict[str, Any], str]:
    """Run a command decorated with ``input_options``; its exit code, inputs and output."""
    seen: dict[str, Any] = {}

    @click.command()
    @input_options
    def show(inputs: dict[str, Any]) -> None:
        seen.update(inputs)

    result = CliRunner().invoke(show, list(args), input=input)
    return result.exit_code, seen, result.output


def _option_of(field: InputField) -> click.Command:
    @click.command()
    def show(**values: Any) -> None:
        click.echo(json.dumps(values[INPUT_PARAM_PREFIX + field.name]))

    show.params.append(input_option(field))
    return show


def _field(**overrides: Any) -> InputField:
    values: dict[str, Any] = {
        "name": "new_field",
        "python_type": int,
        "required": False,
        "choices": None,
        "default": NO_DEFAULT,
    }
    values.update(overrides)
    return InputField(**values)


class TestInputOptions:
    @pytest.mark.parametrize(
        "name", [n for n, f in input_fields().items() if f.choices and n != PROMPT_INPUT]
    )
    def test_choices_convert_back_to_the_models_types(self, name: str) -> None:
        """Each choice converts back to the spec's value; an option not given is not sent."""
        assert (0, {}) == _capture()[:2]
        for choice in choices(name):
            flag = "--" + name.replace("_", "-")
            assert (0, {name: choice}) == _capture(flag, str(choice))[:2]

    def test_snake_case_becomes_kebab_case_with_integer_bounds(self) -> None:
        """An integer property with bounds is --kebab-case, typed and range-checked."""
        command = _option_of(_field(name="new_field", minimum=0, maximum=10))
        assert "3" == CliRunner().invoke(command, ["--new-field", "3"]).output.strip()
        assert 2 == CliRunner().invoke(command, ["--new-field", "11"]).exit_code
        assert 2 == CliRunner().invoke(command, ["--new-field", "x"]).exit_code
        assert "null" == CliRunner().invoke(command, []).output.strip()

    def test_exclusive_integer_bounds_are_the_next_whole_number(self) -> None:
        """exclusiveMinimum 0 of an integer means at least 1."""
        command = _option_of(_field(exclusive_minimum=0, exclusive_maximum=10))
        assert "1" == CliRunner().invoke(command, ["--new-field", "1"]).output.strip()
        assert "9" == CliRunner().invoke(command, ["--new-field", "9"]).output.strip()
        assert 2 == CliRunner().invoke(command, ["--new-field", "0"]).exit_code
        assert 2 == CliRunner().invoke(command, ["--new-field", "10"]).exit_code

    def test_exclusive_number_bounds_are_open(self) -> None:
        """exclusiveMinimum/Maximum make an open float range."""
        command = _option_of(
            _field(python_type=float, exclusive_minimum=0.0, exclusive_maximum=1.0)
        )
        assert "0.5" == CliRunner().invoke(command, ["--new-field", "0.5"]).output.strip()
        assert 2 == CliRunner().invoke(command, ["--new-field", "0"]).exit_code
        assert 2 == CliRunner().invoke(command, ["--new-field", "1"]).exit_code

    def test_boolean_is_a_flag_pair(self) -> None:
        """A boolean property is --name/--no-name; neither means "not given"."""
        command = _option_of(_field(name="loop_it", python_type=bool, default=False))
        assert "true" == CliRunner().invoke(command, ["--loop-it"]).output.strip()
        assert "false" == CliRunner().invoke(command, ["--no-loop-it"]).output.strip()
        assert "null" == CliRunner().invoke(command, []).output.strip()
        text = " ".join(CliRunner().invoke(command, ["--help"]).output.split())
        assert "--loop-it / --no-loop-it" in text
        assert "[default: false]" in text

    def test_help_comes_from_title_and_description(self) -> None:
        """The help line is the title, the description's first paragraph and [required]."""
        field = _field(
            title="Seed", description="Makes runs repeatable.\n\nJudgement call: x.", required=True
        )
        text = " ".join(CliRunner().invoke(_option_of(field), ["--help"]).output.split())
        assert "Seed: Makes runs repeatable. [required]" in text
        assert "Judgement call" not in text

    def test_a_list_property_takes_json(self) -> None:
        """A property of no scalar type takes a JSON value."""
        command = _option_of(_field(python_type=list))
        assert "[1, 2]" == CliRunner().invoke(command, ["--new-field", "[1, 2]"]).output.strip()

    @pytest.mark.parametrize(
        ("text", "value"),
        [("8", 8), ("1280x720", "1280x720"), ('"8"', "8"), ("true", True), ("NaN", "NaN")],
    )
    def test_input_values_are_json_when_they_parse(self, text: str, value: Any) -> None:
        """--input VALUE is JSON when it parses (NaN is not JSON), else the text."""
        assert value == parse_input_value(text)

    def test_options_win_over_input_which_wins_over_the_file(self, tmp_path: Path) -> None:
        """Precedence: an option, then --input, then --input-file; unknown keys pass through."""
        name, field = next(
            (n, f) for n, f in input_fields().items() if f.choices and len(f.choices) > 1
        )
        first, second = field.choices[0], field.choices[1]
        flag = "--" + name.replace("_", "-")
        source = tmp_path / "inputs.json"
        source.write_text(json.dumps({name: first, "new_field": 1}), encoding="utf-8")
        file_only = _capture("--input-file", str(source))[:2]
        assert (0, {name: first, "new_field": 1}) == file_only
        pair = f"{name}={json.dumps(second)}"
        overridden = _capture("--input-file", str(source), "--input", pair)[:2]
        assert (0, {name: second, "new_field": 1}) == overridden
        winner = _capture("--input", f"{name}={json.dumps(first)}", flag, str(second))[:2]
        assert (0, {name: second}) == winner

    def test_input_file_dash_reads_stdin(self) -> None:
        """--input-file - reads the JSON object from stdin."""
        assert (0, {"new_field": [1]}) == _capture("--input-file", "-", input='{"new_field": [1]}')[
            :2
        ]

    @pytest.mark.parametrize(
        ("args", "stdin"),
        [
            (("--input", "novalue"), None),
            (("--input-file", "-"), "[1]"),
            (("--input-file", "-"), "{not json"),
        ],
    )
    def test_malformed_inputs_are_usage_errors(self, args: tuple[str, ...], stdin: Any) -> None:
        """KEY=VALUE without '=', or a file that is not a JSON object: exit 2."""
        assert 2 == _capture(*args, input=stdin)[0]


def _capture_prompt(*args: str, input: str | None = None) -> tuple[int, Any, str]:
    """Run a command with an optional PROMPT argument and ``input_options``, as generate and
    submit are: its exit code, the (prompt, inputs) it got, and its output with stderr."""
    seen: list[Any] = []

    @click.command()
    @click.argument(PROMPT_INPUT, required=False)
    @input_options
    def show(prompt: str, inputs: dict[str, Any]) -> None:
        seen.append((prompt, inputs))

    result = CliRunner().invoke(show, list(args), input=input)
    return result.exit_code, seen[0] if seen else None, result.output


class TestInputFileHoldsTheBody:
    def test_the_file_prompt_stands_in_for_prompt(self) -> None:
        """--input-file holds the whole body, as RunComfy's CLI reads it: PROMPT may be left
        out when the file gives a prompt."""
        body = {PROMPT_INPUT: "from the file", "new_field": 1}
        code, seen, _ = _capture_prompt("--input-file", "-", input=json.dumps(body))
        assert (0, ("from the file", {"new_field": 1})) == (code, seen)

    def test_prompt_wins_over_the_file_and_says_so(self) -> None:
        """PROMPT given as well wins over the file's prompt, and a note names the winner."""
        body = json.dumps({PROMPT_INPUT: "from the file"})
        code, seen, output = _capture_prompt("argument", "--input-file", "-", input=body)
        assert (0, ("argument", {})) == (code, seen)
        assert "PROMPT argument wins over the prompt in --input-file" in output

    def test_input_prompt_stands_in_too(self) -> None:
        """--input prompt=... gives the prompt as well, and wins over the file's."""
        body = json.dumps({PROMPT_INPUT: "from the file"})
        code, seen, _ = _capture_prompt(
            "--input", f"{PROMPT_INPUT}=pair", "--input-file", "-", input=body
        )
        assert (0, ("pair", {})) == (code, seen)

    def test_no_prompt_anywhere_is_a_usage_error(self) -> None:
        """Neither PROMPT nor a prompt in the file: exit 2, saying where a prompt can come from."""
        code, seen, output = _capture_prompt("--input-file", "-", input='{"new_field": 1}')
        assert (2, None) == (code, seen)
        assert "PROMPT" in output and "--input-file" in output


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


class TestTrustHost:
    def test_the_option_reaches_the_client_and_the_follow_up(self) -> None:
        """``--trust-host`` becomes the client's ``trusted_hosts`` and is repeated in the
        commands the CLI prints."""
        settings = Settings(
            base_url=None,
            emulator=True,
            journal=None,
            json_output=False,
            trusted_hosts=("files.example", "10.0.0.0/8"),
        )
        with make_client(settings) as client:
            assert ("files.example", "10.0.0.0/8") == client.trusted_hosts
        assert "sora2 resume abc --trust-host files.example --trust-host 10.0.0.0/8" == (
            settings.command("resume", "abc")
        )

    def test_a_bad_host_is_a_configuration_error(self) -> None:
        """A URL given as a host is refused with the configuration exit code, naming it."""
        result = run("status", "abc", "--emulator", "--trust-host", "https://files.example")
        assert EXIT_CONFIG == result.exit_code
        assert "https://files.example" in result.stderr

    @pytest.mark.parametrize("trusted", [False, True])
    def test_it_widens_what_result_downloads(
        self, monkeypatch: pytest.MonkeyPatch, isolated: Path, trusted: bool
    ) -> None:
        """``sora2 result --out`` refuses an untrusted file host, and downloads from it once
        ``--trust-host`` names it."""
        url = "https://files.example/v.mp4"
        seen: list[str] = []

        def service(request: httpx.Request) -> httpx.Response:
            seen.append(str(request.url))
            if request.url.host == "files.example":
                return httpx.Response(200, headers={"Content-Type": "video/mp4"}, content=b"v")
            body = {"request_id": "abc", "status": COMPLETED, "output": {"video": url}}
            return httpx.Response(200, json=body)

        def make(settings: Settings) -> Client:
            return Client(
                api_key=TOKEN,
                base_url=BASE_URL,
                transport=httpx.MockTransport(service),
                journal=False,
                trusted_hosts=settings.trusted_hosts,
            )

        monkeypatch.setattr(_common, "make_client", make)
        extra = ["--trust-host", "files.example"] if trusted else []
        result = run("result", "abc", "--out", "v.mp4", *extra)
        if trusted:
            assert 0 == result.exit_code, result.stderr
            assert b"v" == (isolated / "v.mp4").read_bytes()
            assert url in seen
        else:
            assert 0 != result.exit_code
            assert "not a trusted host" in result.stderr and "--trust-host" in result.stderr
            assert url not in seen
            assert not (isolated / "v.mp4").exists()
