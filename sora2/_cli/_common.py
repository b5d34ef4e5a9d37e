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
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

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

if TYPE_CHECKING:
    from .._client import Client
    from .._types import JobStatus

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
        **kwargs: Any,
    ) -> None:
        settings = Settings(
            base_url=base_url, emulator=emulator, journal=journal, json_output=json_output
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


def format_elapsed(seconds: float) -> str:
    """``0:07``, ``2:05``, ``1:02:05``: the elapsed time as a clock shows it."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


class Progress:
    """A job's state, queue position and elapsed time on stderr.

    On a terminal it is one line, rewritten in place and ticking every second; anywhere else
    (a pipe, a CI log) it prints one plain line per change, so logs stay readable.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        tick_interval: float = 1.0,
    ) -> None:
        self._stream = stream
        self._tty = stream.isatty() if tty is None else tty
        self._clock = clock
        self._tick_interval = tick_interval
        self._started = clock()
        self._request_id: str | None = None
        self._state: str | None = None
        self._queue_position: int | None = None
        self._last_printed: tuple[str | None, int | None] | None = None
        self._line_open = False
        self._live = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    @property
    def tty(self) -> bool:
        return self._tty

    @property
    def state(self) -> str | None:
        """The last state reported, or None before the first update."""
        return self._state

    @property
    def request_id(self) -> str | None:
        return self._request_id

    def submitted(self, request_id: str, state: str = "in_queue") -> None:
        """Remember the job (queued until a poll says otherwise), showing nothing yet."""
        self._request_id = request_id
        self._state = state

    def start(self) -> None:
        """Start the terminal line; a log gets its first line from the first poll instead."""
        self._live = True
        if self._tty:
            self._render(force=True)

    def update(self, status: JobStatus) -> None:
        """``on_update`` hook of ``Client.wait``: show the new state."""
        self._live = True
        self._request_id = status.request_id or self._request_id
        self._state = str(status.state)
        self._queue_position = status.queue_position
        self._render(force=False)

    def line(self) -> str:
        parts = [self._request_id or "-", self._state or "submitting"]
        if self._queue_position is not None and self._state == "in_queue":
            parts.append(f"queue position {self._queue_position}")
        parts.append(f"elapsed {format_elapsed(self._clock() - self._started)}")
        return "  ".join(parts)

    def _render(self, *, force: bool) -> None:
        with self._lock:
            if self._tty:
                self._stream.write("\r" + self.line() + "\x1b[K")
                self._line_open = True
            else:
                key = (self._state, self._queue_position)
                if not force and key == self._last_printed:
                    return
                self._last_printed = key
                self._stream.write(self.line() + "\n")
            self._stream.flush()

    def tick(self) -> None:
        """Rewrite the terminal line so the elapsed time moves; a no-op off a terminal."""
        if self._tty and self._live:
            self._render(force=True)

    def close(self) -> None:
        """Stop ticking and end the terminal line."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        with self._lock:
            if self._line_open:
                self._stream.write("\n")
                self._stream.flush()
                self._line_open = False

    def __enter__(self) -> Progress:
        if self._tty and self._tick_interval > 0:
            self._ticker = threading.Thread(target=self._run_ticker, daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run_ticker(self) -> None:
        while not self._stop.wait(self._tick_interval):
            self.tick()
