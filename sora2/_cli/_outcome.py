"""How a ``sora2`` command ends: its exit code, its one-line message, and with ``--json`` its
one JSON object.

Every exit code is defined here, with which library error maps to which. With ``--json``,
stdout gets exactly one JSON object per command, on success and on failure: ``main`` makes a
:class:`JsonOutput` and passes it to click as the context object, commands hand it their
payload (``record``), and ``main`` prints it once, with an ``error`` object (type, message,
request_id, exit_code) added when the command failed. Without ``--json`` nothing is held.

It imports nothing from the CLI, so ``sora2._cli`` and every command module read it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import click

from .._constants import API_KEY_ENV_VARS
from .._exceptions import (
    ConfigurationError,
    InvalidInputError,
    JobFailedError,
    JournalError,
    Sora2Error,
    WaitTimeoutError,
)

__all__ = [
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
    "JsonOutput",
    "error_object",
    "exit_code_for",
    "first_line",
    "message_for",
    "record",
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


def exit_code_for(error: Sora2Error) -> int:
    """The documented exit code for an error of the library."""
    if isinstance(error, WaitTimeoutError):
        return EXIT_TIMEOUT
    if isinstance(error, JobFailedError):
        return EXIT_FAILED
    if isinstance(error, JournalError):
        return EXIT_USAGE  # the --journal given cannot be used: a bad argument
    if isinstance(error, ConfigurationError):
        return EXIT_CONFIG
    if isinstance(error, InvalidInputError):
        return EXIT_USAGE
    return EXIT_ERROR


def message_for(error: Sora2Error) -> str:
    """The one line the CLI prints for an error of the library: its first line, in the
    command line's terms where the library's would name a keyword argument."""
    if isinstance(error, ConfigurationError) and error.setting == "api_key":
        first, *others = API_KEY_ENV_VARS
        return (
            f"no API token: set {first} (or {' or '.join(others)}); get one from your RunComfy "
            "profile, or try the local emulator with --emulator"
        )
    return first_line(error)


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


def error_object(
    error: BaseException, message: str, exit_code: int, request_id: str | None = None
) -> dict[str, Any]:
    """The ``error`` member: the library's error type when one caused the failure."""
    cause: BaseException = error
    while not isinstance(cause, Sora2Error) and cause.__cause__ is not None:
        cause = cause.__cause__
    if not isinstance(cause, Sora2Error):
        cause = error
    found_id = (
        request_id or getattr(error, "request_id", None) or getattr(cause, "request_id", None)
    )
    return {
        "type": type(cause).__name__,
        "message": message,
        "request_id": found_id,
        "exit_code": exit_code,
    }
