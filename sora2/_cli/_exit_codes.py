"""Every exit code of the ``sora2`` command, and which library error maps to which (and to which
one-line message).

One module that imports nothing from the CLI, so ``sora2._cli`` and ``sora2._cli._common``
both read it without importing each other.
"""

from __future__ import annotations

from .._exceptions import (
    ConfigurationError,
    InvalidInputError,
    JobFailedError,
    JournalError,
    Sora2Error,
    WaitTimeoutError,
)
from .._options import API_KEY_ENV_VARS

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
    "exit_code_for",
    "first_line",
    "message_for",
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
