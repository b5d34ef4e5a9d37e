"""Helpers of the CLI tests: a fake clock, and a runner that goes through ``sora2._cli.main``."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from _fakes import FakeClock as FakeClock  # re-exported for the tests here
from click.testing import CliRunner, Result

from sora2 import Client
from sora2._cli import main
from sora2._inputs import PROMPT_INPUT, input_fields, input_schema

TOKEN = "sk-cli-test-4b1d9e-very-secret"
"""A token distinctive enough that finding it in any output is a leak."""
BASE_URL = "http://localhost"
"""Loopback, so the in-process emulator's http video URLs pass the download policy."""


class _Main(click.Command):
    """Lets ``CliRunner`` drive ``sora2._cli.main``: its error mapping and exit codes included."""

    def main(self, args: Sequence[str] | None = None, *_: Any, **__: Any) -> Any:
        sys.exit(main(list(args or ())))


def run(*args: str, input: str | None = None) -> Result:
    """``sora2 ARGS`` in process, stdout and stderr captured apart."""
    return CliRunner().invoke(_Main("sora2"), list(args), input=input, catch_exceptions=False)


def documented_prompt() -> str:
    """The documentation's Tokyo night market prompt, as the spec's Input example records it."""
    prompt: str = input_schema()["properties"][PROMPT_INPUT]["examples"][0]
    return prompt


def choices(name: str) -> tuple[Any, ...]:
    found = input_fields()[name].choices
    assert found is not None
    return found


def default(name: str) -> Any:
    return input_fields()[name].default


def other_choice(name: str) -> Any:
    """An allowed value that is not the default, to prove the option is passed through."""
    return next(c for c in choices(name) if c != default(name))


def choice_options() -> dict[str, Any]:
    """For every input of the spec with choices (but the prompt): a value that is not its
    default, so a test proves each option is passed through as the model's type."""
    return {
        name: next((c for c in field.choices if c != field.default), field.choices[0])
        for name, field in input_fields().items()
        if field.choices and name != PROMPT_INPUT
    }


def as_args(values: dict[str, Any]) -> list[str]:
    """``--kebab-name VALUE`` for each input."""
    args: list[str] = []
    for name, value in values.items():
        args += ["--" + name.replace("_", "-"), str(value)]
    return args


def journal_rows(path: Path) -> list[sqlite3.Row]:
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute("SELECT * FROM jobs").fetchall()


def one_json(stdout: str) -> dict[str, Any]:
    """stdout holds exactly one JSON object and nothing else."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, stdout
    value = json.loads(lines[0])
    assert isinstance(value, dict)
    return value


def server_state(url: str, request_id: str, clock: FakeClock) -> str:
    with Client(TOKEN, base_url=url, journal=False, _clock=clock) as client:
        return client.status(request_id).state


def submit_one(url: str) -> str:
    """Submit the documented prompt to the service at ``url``; its request id."""
    submitted = run("submit", documented_prompt(), "--base-url", url)
    assert submitted.exit_code == 0, submitted.stderr
    return submitted.stdout.strip()
