"""The ``sora2`` command line: how every command starts and ends.

- Subcommands live in their own modules and are imported only when invoked; ``sora2 --help``
  reads their short help from :data:`COMMANDS`, so it imports none of them, and ``sora2
  generate`` only its own.
- Every exit code is defined here, and the one translation of a library error into a CLI
  error (:func:`command_error`).
- With ``--json``, stdout gets exactly one JSON object per command, on success and on failure:
  ``main`` makes a :class:`JsonOutput` and passes it to click as the context object, commands
  hand it their payload (``record``), and ``main`` prints it once, with an ``error`` object
  (type, message, request_id, exit_code) added when the command failed. Without ``--json``
  nothing is held.
- By default SIGTERM (a container stop, ``timeout``) kills Python at once: no resume hint, no
  exit code a script can read, and a terminal left with rich's cursor hidden. While a command
  runs, SIGTERM raises :class:`Terminated` instead, a ``KeyboardInterrupt``, so every path that
  handles Ctrl-C handles it too (the progress display is closed, the journal keeps the job, the
  resume command is printed), only asking nothing and cancelling nothing that was not asked for.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import signal
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from gettext import gettext
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from .._exceptions import (
    ConfigurationError,
    InvalidInputError,
    JobFailedError,
    JournalError,
    NotFoundError,
    Sora2Error,
    WaitTimeoutError,
)

if TYPE_CHECKING:
    from ._common import Settings

__all__ = [
    "COMMANDS",
    "EMULATOR_ENDED",
    "EXIT_BATCH_INCOMPLETE",
    "EXIT_CANCELLED",
    "EXIT_CONFIG",
    "EXIT_ERROR",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_READY",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "EXIT_TIMEOUT",
    "EXIT_USAGE",
    "CommandError",
    "JsonOutput",
    "Terminated",
    "cli",
    "command_error",
    "first_line",
    "main",
    "record",
    "run",
    "translate_errors",
]

EXIT_OK = 0
EXIT_ERROR = 1
"""Anything else that failed (a job that did not finish, a download that failed, ...)."""
EXIT_USAGE = 2
"""Bad arguments or input (an unusable --journal included), refused before anything was sent."""
EXIT_TIMEOUT = 3
"""``--timeout`` passed before the job finished; the job goes on and can be resumed."""
EXIT_CONFIG = 4
"""The client is not configured: no API token, or an unusable base URL."""
EXIT_NOT_READY = 5
"""``sora2 result``: the job has not completed yet."""
EXIT_CANCELLED = 6
"""The job was cancelled, so there is no video."""
EXIT_FAILED = 7
"""The job failed (a state the spec's ``x-terminal-states`` calls failed): there is no output."""
EXIT_BATCH_INCOMPLETE = 8
"""``sora2 batch`` ran, but not every row completed (its manifest says which)."""
EXIT_INTERRUPTED = 130
"""Ctrl-C: the shell's code for SIGINT."""
EXIT_TERMINATED = 143
"""SIGTERM (a container stop, ``timeout``): the shell's code for it; handled like Ctrl-C."""


_EXIT_CODES: tuple[tuple[type[Sora2Error], int], ...] = (
    (WaitTimeoutError, EXIT_TIMEOUT),
    (JobFailedError, EXIT_FAILED),
    (JournalError, EXIT_USAGE),  # the --journal given cannot be used: a bad argument
    (ConfigurationError, EXIT_CONFIG),
    (InvalidInputError, EXIT_USAGE),
)
"""The exit code of each family of library errors, the first match winning; others exit 1."""

EMULATOR_ENDED = (
    "the in-process --emulator forgets job {request_id} when this command ends, so no later "
    "command can fetch it (run `sora2 emulator` and pass its --base-url to keep jobs across "
    "commands)"
)
"""The only honest hint for an unfinished job of ``--emulator``: ``sora2 resume`` cannot work."""


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
        click.echo(f"sora2: error: {self.format_message()}", err=True)


def command_error(error: Sora2Error, settings: Settings | None = None) -> CommandError:
    """The one translation of a library error into the CLI's: its documented exit code and one
    line, in the terms of the command that ran (``settings``: its service, journal and
    ``--emulator``), and of the command line where the library's would name a keyword argument."""
    code = next((code for kind, code in _EXIT_CODES if isinstance(error, kind)), EXIT_ERROR)
    emulator = settings is not None and settings.emulator
    # A paid job of --emulator cannot be fetched later: say so instead of the library's hint
    # (a wait timeout and a job not found word their own, below).
    own_hint = isinstance(error, (WaitTimeoutError, NotFoundError))
    if emulator and error.paid_hint is not None and error.request_id and not own_hint:
        error.paid_hint = EMULATOR_ENDED.format(request_id=error.request_id)
    message = first_line(error)
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
    elif isinstance(error, NotFoundError) and emulator:
        message += (
            " (the in-process --emulator forgets its jobs when the command ends: run `sora2 "
            "emulator` and pass its --base-url instead)"
        )
    elif isinstance(error, ConfigurationError) and error.setting == "api_key":
        from .._options import API_KEY_ENV_VARS  # imported here: it brings httpx, --help need not

        first, *others = API_KEY_ENV_VARS
        message = (
            f"no API token: set {first} (or {' or '.join(others)}); get one from your RunComfy "
            "profile, or try the local emulator with --emulator"
        )
    return CommandError(message, code, request_id=error.request_id)


@contextlib.contextmanager
def translate_errors(settings: Settings | None = None) -> Iterator[None]:
    """Raise library errors as CLI errors (:func:`command_error`)."""
    try:
        yield
    except Sora2Error as error:
        raise command_error(error, settings) from error


def first_line(error: BaseException) -> str:
    """The first line of an error's message (its type's name when it has none)."""
    text = str(error)
    return text.splitlines()[0] if text else type(error).__name__


class JsonOutput:
    """The one JSON object a command prints, assembled while it runs."""

    def __init__(self) -> None:
        self.payload: dict[str, Any] | None = None

    def flush(self, error: Mapping[str, Any] | None) -> None:
        """Print the object: the command's payload, plus ``error`` if it failed."""
        payload = dict(self.payload or {})
        if error is not None:
            payload["error"] = dict(error)
        click.echo(json.dumps(payload, default=str, sort_keys=True))


def record(output: JsonOutput | None, payload: Mapping[str, Any]) -> None:
    """A command's JSON result: held by ``output`` for ``main`` to print, or printed now when
    nothing collects it (the command run by click without ``main``)."""
    if output is None:
        click.echo(json.dumps(dict(payload), default=str, sort_keys=True))
    else:
        output.payload = dict(payload)


def _error_object(error: BaseException, message: str, exit_code: int) -> dict[str, Any]:
    """The ``error`` member: the library's error type when one caused the failure."""
    cause: BaseException = error
    while not isinstance(cause, Sora2Error) and cause.__cause__ is not None:
        cause = cause.__cause__
    if not isinstance(cause, Sora2Error):
        cause = error
    return {
        "type": type(cause).__name__,
        "message": message,
        "request_id": getattr(error, "request_id", None) or getattr(cause, "request_id", None),
        "exit_code": exit_code,
    }


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: stop like a Ctrl-C with no terminal, and exit 143."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`Terminated` in the main thread (only where this
    process has SIGTERM's default action: a handler someone else set is left alone)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


COMMANDS: dict[str, tuple[str, str]] = {
    "batch": (
        "sora2._cli._batch:batch",
        "Run every row of FILE (JSONL or CSV, - for stdin) as a job; files go to --out-dir.",
    ),
    "cancel": ("sora2._cli._jobs:cancel", "Cancel job ID."),
    "contract": (
        "sora2._cli._contract:contract",
        "Check HTTP traffic against the sora2 OpenAPI spec.",
    ),
    "emulator": (
        "sora2._cli._emulator:emulator",
        "Run the Sora 2 service emulator (queue, auth, errors, real MP4s and PNGs, faults).",
    ),
    "forget": (
        "sora2._cli._journal_commands:forget",
        "Remove job ID from the journal, so `sora2 resume` no longer tries it.",
    ),
    "generate": (
        "sora2._cli._generate:generate",
        "Turn PROMPT into a video: submit, show progress, download, print the file's path.",
    ),
    "jobs": (
        "sora2._cli._journal_commands:jobs",
        "List the journal of submitted jobs, oldest first, with the last state seen.",
    ),
    "price": (
        "sora2._cli._jobs:price",
        "What one job would cost, from the model's price (an unofficial route of the service).",
    ),
    "result": (
        "sora2._cli._jobs:result",
        "Print every output file of job ID once completed: one `KIND: URL` line each.",
    ),
    "resume": (
        "sora2._cli._journal_commands:resume",
        "Finish unfinished jobs from the journal (or job ID) without submitting again.",
    ),
    "status": (
        "sora2._cli._jobs:status",
        "Print the state of job ID (and its queue position while queued).",
    ),
    "submit": (
        "sora2._cli._jobs:submit",
        "Submit PROMPT and print the request id, without waiting.",
    ),
}
"""Each command: the ``module:attribute`` of its click command, imported only when it runs,
and its short help (the first sentence of its docstring; a test keeps them equal)."""


class _LazyGroup(click.Group):
    """click's lazy-loading group, whose command list reads :data:`COMMANDS`, not the commands."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, _, attribute = COMMANDS[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(map(len, COMMANDS))
        rows = [
            (name, click.Command(name, help=summary).get_short_help_str(limit))
            for name, (_, summary) in sorted(COMMANDS.items())
        ]
        with formatter.section(gettext("Commands")):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sora2", prog_name="sora2")
def cli() -> None:
    """Turn prompts into videos with OpenAI Sora 2 on RunComfy, or emulate the service offline.

    Reads RUNCOMFY_API_TOKEN (or RUNCOMFY_TOKEN, or YOUR_API_TOKEN) and RUNCOMFY_BASE_URL.
    """


def _fail(message: str, code: int) -> int:
    click.echo(f"sora2: error: {message}", err=True)
    return code


def _wants_json(args: Sequence[str]) -> bool:
    """``--json`` among the options (not after ``--``, where it would be an argument)."""
    options = args[: args.index("--")] if "--" in args else args
    return "--json" in options


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; every failure is one line on stderr and a non-zero exit, never a traceback.

    With ``--json``, stdout gets exactly one JSON object, failures included (its ``error``).
    """
    args = list(argv) if argv is not None else sys.argv[1:]
    output = JsonOutput() if _wants_json(args) else None
    code, error = _run(args, output)
    if output is not None:
        output.flush(error)
    return code


def _run(args: list[str], output: JsonOutput | None) -> tuple[int, dict[str, Any] | None]:
    """Run one command, ``output`` its context object (where ``--json`` payloads go)."""
    try:
        with _sigterm_interrupts():
            rc = cli.main(args=args, prog_name="sora2", standalone_mode=False, obj=output)
    except Terminated as exc:
        code = _fail("terminated", EXIT_TERMINATED)
        return code, _error_object(exc, "terminated", code)
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:
        code = _fail("interrupted", EXIT_INTERRUPTED)
        return code, _error_object(exc, "interrupted", code)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code), None
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code, _error_object(exc, exc.format_message(), exc.exit_code)
    except Sora2Error as exc:  # one that no command translated: the same translation
        shown = command_error(exc)
        code = _fail(shown.format_message(), shown.exit_code)
        return code, _error_object(exc, shown.format_message(), code)
    except OSError as exc:
        message = f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
        code = _fail(message, EXIT_ERROR)
        return code, _error_object(exc, message, code)
    # With standalone_mode=False, click returns ctx.exit()'s code instead of exiting.
    code = rc if isinstance(rc, int) else 0
    if code != 0:
        return code, {"type": "Exit", "message": "", "request_id": None, "exit_code": code}
    return code, None


def run() -> None:
    sys.exit(main())
