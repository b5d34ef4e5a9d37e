"""What every job command shares: client options, its one-line errors, output and the progress
line.

Output rules: stdout carries results only (one JSON object with ``--json``); progress, prompts
and hints go to stderr, so ``sora2 generate --json ... | jq`` always sees valid JSON.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import click

from .._exceptions import NotFoundError, Sora2Error, WaitTimeoutError
from .._paid import resume_command, sora2_command
from . import EXIT_ERROR, JsonOutput, exit_code_for, first_line, message_for, record
from ._progress import Progress

if TYPE_CHECKING:
    from .._client import Client
    from .._pricing import CostEstimate

__all__ = [
    "EMULATOR_ENDED",
    "CommandError",
    "Settings",
    "client_options",
    "command_error",
    "echo_err",
    "emit",
    "make_client",
    "translate_errors",
    "warn_unknown_cost",
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


EMULATOR_ENDED = (
    "the in-process --emulator forgets job {request_id} when this command ends, so no later "
    "command can fetch it (run `sora2 emulator` and pass its --base-url to keep jobs across "
    "commands)"
)
"""The only honest hint for an unfinished job of ``--emulator``: ``sora2 resume`` cannot work."""


def command_error(error: Sora2Error, settings: Settings | None = None) -> CommandError:
    """The one translation of a library error into the CLI's: its one line and exit code, in
    the terms of the command that ran (``settings``: its service, journal and ``--emulator``)."""
    emulator = settings is not None and settings.emulator
    code = exit_code_for(error)
    if isinstance(error, WaitTimeoutError) and settings is not None:
        request_id = error.request_id or "?"
        if error.cancelled:
            tail = "it was still queued, so it was cancelled"
        elif emulator:
            tail = EMULATOR_ENDED.format(request_id=request_id)
        else:
            tail = f"the job goes on; resume with: {settings.resume_command(request_id)}"
        last = error.last_status or "unknown"
        message = f"gave up waiting for {request_id} (last state: {last}); {tail}"
        return CommandError(message, code, request_id=error.request_id)
    if isinstance(error, NotFoundError) and emulator:
        return CommandError(
            f"{first_line(error)} (the in-process --emulator forgets its jobs when the command "
            "ends: run `sora2 emulator` and pass its --base-url instead)",
            code,
            request_id=error.request_id,
        )
    if emulator and error.paid_hint is not None and error.request_id:
        error.paid_hint = EMULATOR_ENDED.format(request_id=error.request_id)
    return CommandError(message_for(error), code, request_id=error.request_id)


@contextlib.contextmanager
def translate_errors(settings: Settings | None = None) -> Iterator[None]:
    """Turn library errors into one-line CLI errors with their exit codes (``command_error``)."""
    try:
        yield
    except Sora2Error as error:
        raise command_error(error, settings) from error


def echo_err(message: str) -> None:
    click.echo(message, err=True)


def emit(settings: Settings, payload: Mapping[str, Any], lines: Sequence[str]) -> None:
    """Print a command's result: ``payload`` as one JSON object, or ``lines`` for people."""
    if settings.json_output:
        record(settings.output, payload)
    else:
        for line in lines:
            click.echo(line)


@dataclass(frozen=True)
class Settings:
    """The options every job command takes, and how to turn them into a client."""

    base_url: str | None
    emulator: bool
    journal: str | None
    json_output: bool
    quiet: bool = False
    """``-q``: no progress display."""
    trusted_hosts: tuple[str, ...] = ()
    """``--trust-host``: more hosts downloads may come from."""
    no_journal: bool = False
    """``--no-journal``: record nothing (no resume after a crash)."""
    output: JsonOutput | None = field(default=None, repr=False, compare=False)
    """Where ``--json`` payloads go: ``main``'s, given to click as the context object."""

    @property
    def journal_option(self) -> str | Literal[False] | None:
        """The client's ``journal``: the path or URL given, None for the default, False for none."""
        return False if self.no_journal else self.journal

    def progress(self) -> Progress:
        """The progress display on stderr (silent with ``-q``)."""
        return Progress(sys.stderr, quiet=self.quiet)

    def client(self) -> Client:
        with translate_errors():
            return make_client(self)

    def command(self, *words: str) -> str:
        """The shell command that repeats ``words`` against the same service and journal."""
        return sora2_command(
            *words,
            base_url=self.base_url,
            journal=self._journal_text,
            trusted_hosts=self.trusted_hosts,
        )

    def resume_command(self, request_id: str | None = None) -> str:
        """``sora2 resume [ID]`` against the same service and journal."""
        return resume_command(
            request_id,
            base_url=self.base_url,
            journal=self._journal_text,
            trusted_hosts=self.trusted_hosts,
        )

    @property
    def _journal_text(self) -> str | None:
        return None if self.journal is None else str(self.journal)


def make_client(settings: Settings) -> Client:
    """The client a command talks through. The one seam of the CLI: tests swap it for a client
    whose clock they share with the emulator, so nothing really sleeps."""
    from .._client import Client

    return Client(
        base_url=settings.base_url,
        emulator=settings.emulator,
        journal=settings.journal_option,
        trusted_hosts=settings.trusted_hosts,
    )


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
        metavar="PATH|URL",
        default=None,
        help="The journal of submitted jobs: a SQLite file, or a postgresql:// URL shared by "
        "many processes (the postgres extra) [default: $SORA2_JOURNAL, then a file in the user "
        "data directory; a separate one for --emulator]. One that cannot record a job id "
        "refuses every submit (exit 2).",
    ),
    click.option(
        "--no-journal",
        is_flag=True,
        help="Record no job ids: nothing to resume after a crash or Ctrl-C.",
    ),
    click.option(
        "--trust-host",
        "trusted_hosts",
        multiple=True,
        metavar="HOST",
        help="Also download output files from HOST (repeatable): a name, a suffix such as "
        ".example.com, an IP address or a network such as 10.0.0.0/8 (only these reach a "
        "private address). Besides the API's host and *.runcomfy.net, *.runcomfy.com; "
        "$SORA2_TRUSTED_HOSTS adds more.",
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
    """Add ``--base-url``, ``--emulator``, ``--journal``/``--no-journal``, ``--trust-host``,
    ``--json``, ``-v`` and ``-q``, passed as ``settings`` (with click's context object, the
    JSON output ``main`` collects)."""

    @click.pass_obj
    @functools.wraps(function)
    def wrapper(
        output: JsonOutput | None,
        /,
        *args: Any,
        base_url: str | None,
        emulator: bool,
        journal: str | None,
        trusted_hosts: tuple[str, ...],
        no_journal: bool,
        json_output: bool,
        verbose: bool,
        quiet: bool,
        **kwargs: Any,
    ) -> None:
        if no_journal and journal is not None:
            raise click.UsageError("--journal and --no-journal exclude each other")
        settings = Settings(
            base_url=base_url,
            emulator=emulator,
            journal=journal,
            json_output=json_output,
            quiet=quiet,
            trusted_hosts=trusted_hosts,
            no_journal=no_journal,
            output=output,
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
    from .._telemetry import logger

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


def warn_unknown_cost(estimate: CostEstimate, max_cost: float | None) -> None:
    """Say on stderr that a job's cost cannot be estimated, when no --max-cost refuses it."""
    if not estimate.known and max_cost is None:
        echo_err(f"warning: {estimate.basis}; submitting anyway")
