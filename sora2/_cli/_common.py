"""What every job command shares: client options, exit codes, output and the progress line.

Output rules: stdout carries results only (one JSON object with ``--json``); progress, prompts
and hints go to stderr, so ``sora2 generate --json ... | jq`` always sees valid JSON.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import shlex
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .._exceptions import Sora2Error
from .._inputs import input_fields
from ._exit_codes import (
    EXIT_CANCELLED,
    EXIT_CONFIG,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_NOT_READY,
    EXIT_OK,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    exit_code_for,
)
from ._progress import Progress, format_elapsed

if TYPE_CHECKING:
    from .._client import Client

__all__ = [
    "EXIT_CANCELLED",
    "EXIT_CONFIG",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_READY",
    "EXIT_OK",
    "EXIT_TIMEOUT",
    "EXIT_USAGE",
    "CommandError",
    "Progress",
    "Settings",
    "client_options",
    "echo_err",
    "emit",
    "exit_code_for",
    "format_elapsed",
    "input_option",
    "make_client",
    "translate_errors",
]

_PROG = "sora2"


class CommandError(click.ClickException):
    """A failure shown as one ``sora2: error: ...`` line, with a chosen exit code."""

    def __init__(
        self, message: str, exit_code: int = EXIT_ERROR, *, request_id: str | None = None
    ) -> None:
        super().__init__(message)
        # click types exit_code as a ClassVar but reads it from the instance.
        self.exit_code = exit_code  # type: ignore[misc]
        self.request_id = request_id

    def show(self, file: Any = None) -> None:
        click.echo(f"{_PROG}: error: {self.format_message()}", err=True)


@contextlib.contextmanager
def translate_errors() -> Iterator[None]:
    """Turn library errors into one-line CLI errors with their exit codes."""
    try:
        yield
    except Sora2Error as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CommandError(message, exit_code_for(error)) from error


def echo_err(message: str) -> None:
    click.echo(message, err=True)


def emit(settings: Settings, payload: Mapping[str, Any], lines: Sequence[str]) -> None:
    """Print a command's result: ``payload`` as one JSON object, or ``lines`` for people."""
    if settings.json_output:
        from ._output import record

        record(payload)
    else:
        for line in lines:
            click.echo(line)


@dataclass(frozen=True)
class Settings:
    """The options every job command takes, and how to turn them into a client."""

    base_url: str | None
    emulator: bool
    journal: Path | None
    json_output: bool
    quiet: bool = False
    """``-q``: no progress display."""

    def progress(self) -> Progress:
        """The progress display on stderr (silent with ``-q``)."""
        return Progress(sys.stderr, quiet=self.quiet)

    def client(self) -> Client:
        with translate_errors():
            return make_client(self)

    def command(self, *words: str) -> str:
        """The shell command that repeats ``words`` against the same service and journal."""
        argv = [_PROG, *words]
        if self.base_url is not None:
            argv += ["--base-url", self.base_url]
        if self.journal is not None:
            argv += ["--journal", str(self.journal)]
        return shlex.join(argv)


def make_client(settings: Settings) -> Client:
    """The client a command talks through. The one seam of the CLI: tests swap it for a client
    whose clock they share with the emulator, so nothing really sleeps."""
    from .._client import Client

    return Client(base_url=settings.base_url, emulator=settings.emulator, journal=settings.journal)


_COMMON_OPTIONS = (
    click.option(
        "--base-url",
        metavar="URL",
        default=None,
        help="Service URL [default: $RUNCOMFY_BASE_URL, then the spec's server].",
    ),
    click.option(
        "--emulator",
        is_flag=True,
        help="Run against an in-process emulator: no network, no token. Its jobs live only "
        "as long as this command.",
    ),
    click.option(
        "--journal",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="The SQLite journal of submitted jobs [default: $SORA2_JOURNAL, then a file in "
        "the user data directory; a separate one for --emulator].",
    ),
    click.option("--json", "json_output", is_flag=True, help="Print one JSON object on stdout."),
    click.option(
        "-v",
        "--verbose",
        is_flag=True,
        help="Log requests, retries and polls on stderr (the token is redacted).",
    ),
    click.option("-q", "--quiet", is_flag=True, help="Show no progress on stderr."),
)


def client_options(function: Callable[..., None]) -> Callable[..., None]:
    """Add ``--base-url``, ``--emulator``, ``--journal`` and ``--json``, passed as ``settings``."""

    @functools.wraps(function)
    def wrapper(
        *args: Any,
        base_url: str | None,
        emulator: bool,
        journal: Path | None,
        json_output: bool,
        verbose: bool,
        quiet: bool,
        **kwargs: Any,
    ) -> None:
        settings = Settings(
            base_url=base_url,
            emulator=emulator,
            journal=journal,
            json_output=json_output,
            quiet=quiet,
        )
        with _log_to_stderr(verbose):
            function(*args, settings=settings, **kwargs)

    decorated: Callable[..., None] = wrapper
    for option in reversed(_COMMON_OPTIONS):
        decorated = option(decorated)
    return decorated


@contextlib.contextmanager
def _log_to_stderr(enabled: bool) -> Iterator[None]:
    """DEBUG records of the ``sora2`` logger on stderr for one command; the logger's filter
    has already redacted the token from them."""
    if not enabled:
        yield
        return
    from .._logging import logger

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def input_option(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A ``--name`` option whose choices, type and default come from the generated Input model.

    Choices are offered as strings (that is how they are typed) and converted back to the
    field's own type, so ``--seconds`` yields what the model expects, not ``"8"``.
    """
    field = input_fields()[name]
    flag = "--" + name.replace("_", "-")
    default = None if field.required else field.default
    if field.choices is None:
        return click.option(
            flag, type=field.python_type, default=default, show_default=True, help=name
        )
    by_text = {str(choice): choice for choice in field.choices}

    def convert(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
        return None if value is None else by_text[value]

    title = _field_title(name)
    return click.option(
        flag,
        type=click.Choice(list(by_text)),
        default=None if default is None else str(default),
        show_default=True,
        callback=convert,
        help=title,
    )


def _field_title(name: str) -> str:
    from .._spec import resolve, spec_document

    schema = resolve(spec_document()["components"]["schemas"]["Input"])
    prop: dict[str, Any] = schema.get("properties", {}).get(name, {})
    text = prop.get("description") or prop.get("title") or name
    return str(text)
