"""``sora2 generate``: one job from PROMPT to a saved file, with its progress display (which
``sora2 resume`` shows too).

What the CLI adds to :meth:`sora2.Client.generate` is what a person at a terminal needs: the
request id at once, a live progress line, an honest answer to Ctrl-C (a queued job can be
cancelled, a running one cannot and is resumed later), and exit codes a script can branch on.

The progress display, on stderr: on a terminal, one line kept up to date by ``rich``, cut to
the terminal's width (so a narrow or resized terminal never collects wrapped copies) and
redrawn every second so the elapsed time moves, showing the job's state, its queue position,
the elapsed time and, while the video downloads, the bytes received and the total. Anywhere
else (a pipe, a CI log), one plain line per change. With ``-q``, nothing. ``rich`` is imported
only when a terminal needs it.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import click

from .._exceptions import ConflictError, DownloadError, Sora2Error
from .._types import (
    CANCELLED,
    COMPLETED,
    IN_PROGRESS,
    IN_QUEUE,
    is_cancelled_state,
    is_completed_state,
)
from . import EXIT_CANCELLED, EXIT_INTERRUPTED, EXIT_TERMINATED, CommandError, Terminated
from ._common import (
    client_options,
    echo_err,
    emit,
    input_options,
    max_cost_option,
    model_option,
    open_client,
    timeout_option,
    warn_unknown_cost,
)

if TYPE_CHECKING:
    from .._client import Client
    from .._types import JobStatus, Submission
    from ._common import Settings

__all__ = ["Progress", "format_bytes", "format_elapsed", "generate"]


def _stdin_is_tty() -> bool:
    """Whether there is a person at a terminal to ask (a seam for tests)."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


@click.command()
@click.argument("prompt", required=False)
@model_option
@input_options
@click.option(
    "--out",
    type=click.Path(),
    default=None,
    help="Where to save the output: a file, or a directory (an existing one, or any path ending "
    "with /: saved inside as ID.EXT). Several files go into a directory as ID-1.EXT..., or "
    "beside FILE as STEM-1.EXT, STEM-2.EXT... [default: ./ID.EXT].",
)
@timeout_option
@max_cost_option
@click.option(
    "--cancel-on-interrupt",
    is_flag=True,
    help="On Ctrl-C, cancel a queued job without asking.",
)
@client_options
def generate(
    prompt: str,
    model: str,
    inputs: dict[str, Any],
    out: str | None,
    timeout: float | None,
    max_cost: float | None,
    cancel_on_interrupt: bool,
    settings: Settings,
) -> None:
    """Turn PROMPT into a video: submit, show progress, download, print the file's path.

    Every input of the service's schema is an option; one not given is left to the service's
    default. --input KEY=VALUE and --input-file FILE set any input (options win over them).
    --input-file holds the whole body: PROMPT may be left out when the file has a prompt, and
    wins over it when given.

    The request id is printed as soon as the service accepts the job. Ctrl-C while the job is
    queued offers to cancel it (no question asked with --cancel-on-interrupt or without a
    terminal); a job in progress cannot be cancelled, and `sora2 resume ID` finishes it later.
    With --max-cost, a job estimated above it (or not estimable) is refused before sending.
    """
    with open_client(settings) as client, Progress(sys.stderr, quiet=settings.quiet) as progress:
        if max_cost is None:
            warn_unknown_cost(client, model, inputs)

        def on_submit(submission: Submission) -> None:
            # Remember the id before showing it: a Ctrl-C right after must know the job.
            progress.submitted(submission.request_id)
            if settings.json_output:
                echo_err(f"request_id: {submission.request_id}")
            else:
                click.echo(f"request_id: {submission.request_id}")
            progress.start()

        try:
            paths = client.generate(
                prompt,
                **inputs,
                model=model,
                max_cost=max_cost,
                out=out if out is not None else Path.cwd(),
                timeout=timeout,
                on_update=progress.update,
                on_submit=on_submit,
                on_progress=progress.download,
            )
        except KeyboardInterrupt as interrupt:
            progress.close()
            _interrupted(
                client,
                settings,
                progress,
                cancel_on_interrupt,
                terminated=isinstance(interrupt, Terminated),
            )
        except DownloadError as error:
            if is_cancelled_state(progress.state or "") and progress.request_id is not None:
                progress.close()
                _emit_ended(settings, progress.request_id, CANCELLED)
                raise CommandError(
                    f"{progress.request_id} was cancelled; there is no video",
                    EXIT_CANCELLED,
                    request_id=progress.request_id,
                ) from error
            raise
        progress.close()
        request_id = progress.request_id
        emit(
            settings,
            {
                "request_id": request_id,
                "state": COMPLETED,
                "path": str(paths[0]),
                "paths": [str(path) for path in paths],
                "model": model,
                "inputs": inputs,
            },
            [f"saved: {path}" for path in paths],
        )


def _emit_ended(settings: Settings, request_id: str, state: str, **extra: Any) -> None:
    if settings.json_output:
        emit(settings, {"request_id": request_id, "state": state, **extra}, [])


def _interrupted(
    client: Client,
    settings: Settings,
    progress: Progress,
    cancel_on_interrupt: bool,
    *,
    terminated: bool = False,
) -> NoReturn:
    """Ctrl-C during generate: cancel a queued job (asking first if we can), else say how to
    resume; always exit 130, the shell's code for SIGINT.

    SIGTERM (``terminated``) asks nothing and cancels only with --cancel-on-interrupt: a stop
    of the container is no decision about the job, which goes on and can be resumed. It exits
    143, the shell's code for SIGTERM.
    """
    word, code = (
        ("terminated", EXIT_TERMINATED) if terminated else ("interrupted", EXIT_INTERRUPTED)
    )
    request_id = progress.request_id
    if request_id is None:
        echo_err(
            f"{word} before the service returned a request id; if the job was created, "
            "`sora2 jobs` and your RunComfy dashboard show it."
        )
        raise CommandError(word, code)
    if settings.emulator:
        follow_up = "The in-process emulator stops with this command, so the job ends here."
    else:
        follow_up = "To wait for it and download the video: " + settings.resume_command(request_id)
    state = progress.state or IN_QUEUE
    cancelled = False
    if state == IN_QUEUE:
        if terminated:
            wanted = cancel_on_interrupt
        elif cancel_on_interrupt or not _stdin_is_tty():
            wanted = True
        else:
            try:
                wanted = click.confirm(
                    f"{request_id} is still queued. Cancel it?", default=True, err=True
                )
            except (click.Abort, EOFError, KeyboardInterrupt):
                wanted = False
        if wanted:
            cancelled = _cancel_after_interrupt(client, request_id)
            state = CANCELLED if cancelled else IN_PROGRESS
        if not cancelled:
            echo_err(f"{request_id} was not cancelled. {follow_up}")
    elif is_completed_state(state):
        echo_err(f"{request_id} has completed. {follow_up}")
    else:
        echo_err(f"{request_id} is {state} and cannot be cancelled: it goes on. {follow_up}")
    _emit_ended(settings, request_id, state, interrupted=True, cancelled=cancelled)
    raise CommandError(word, code, request_id=request_id)


def _cancel_after_interrupt(client: Client, request_id: str) -> bool:
    try:
        status = client.cancel(request_id)
    except ConflictError:
        echo_err(f"{request_id} started before it could be cancelled.")
        return False
    except Sora2Error as error:
        echo_err(f"could not cancel {request_id}: {error}")
        return False
    if status.is_cancelled:
        echo_err(f"cancelled {request_id}.")
        return True
    echo_err(f"{request_id} is {status.state}; it was not cancelled.")
    return False


# The progress display ----------------------------------------------------------------------


def format_elapsed(seconds: float) -> str:
    """``0:07``, ``2:05``, ``1:02:05``: the elapsed time as a clock shows it."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def format_bytes(size: int) -> str:
    """``512 bytes``, ``3.2 MB``: decimal units, as download tools show them."""
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size = size / 1000  # type: ignore[assignment]
    raise AssertionError("unreachable")  # pragma: no cover


class Progress:
    """A job's state, queue position, elapsed time and download on stderr.

    Args:
        stream: where to draw (stderr).
        tty: whether ``stream`` is a terminal (default: ask it).
        clock: the elapsed time's clock (tests pass a fake one).
        tick_interval: seconds between redraws on a terminal; 0 redraws only on a change.
        quiet: print nothing at all (``-q``).
        width: the terminal's width (default: rich asks the terminal, on every redraw).
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        tick_interval: float = 1.0,
        quiet: bool = False,
        width: int | None = None,
    ) -> None:
        self._stream = stream
        self._tty = _isatty(stream) if tty is None else tty
        self._clock = clock
        self._tick_interval = tick_interval
        self._quiet = quiet
        self._width = width
        self._started = clock()
        self.request_id: str | None = None
        """The job shown (the last one, for ``resume``), or None before the submit."""
        self.state: str | None = None
        """The last state reported, or None before the first update."""
        self._queue_position: int | None = None
        self._received: int | None = None
        self._total: int | None = None
        self._last_printed: tuple[Any, ...] | None = None
        self._lock = threading.RLock()
        self._live: Any = None
        self._closed = False

    def submitted(self, request_id: str, state: str = IN_QUEUE) -> None:
        """Remember the job (queued until a poll says otherwise), showing nothing yet."""
        self.request_id = request_id
        self.state = state

    def start(self) -> None:
        """Start the terminal line; a log gets its first line from the first poll instead."""
        if self._tty and not self._quiet:
            self._ensure_live()

    def update(self, status: JobStatus) -> None:
        """``on_update`` hook of ``Client.wait``: show the new state."""
        with self._lock:
            if self.request_id != status.request_id and status.request_id:
                # resume: the next job; its download starts from nothing.
                self._received = self._total = None
                self._started = self._clock()
            self.request_id = status.request_id or self.request_id
            self.state = str(status.state)
            self._queue_position = status.queue_position
        self._render()

    def download(self, received: int, total: int | None) -> None:
        """``on_progress`` hook of ``Client.download``: bytes received so far, of ``total``."""
        with self._lock:
            first = self._received is None
            self._received, self._total = received, total
            done = total is not None and received >= total
        if self._tty or first or done:
            self._render()

    def line(self) -> str:
        """The progress as one line of a log: the job's id first, then what changed."""
        return "  ".join([self.request_id or "-", *self._parts()])

    def terminal_line(self) -> str:
        """The progress on a terminal, which cuts it to its width: what changes first, the id
        (already printed on stdout) last, so a narrow terminal still shows the state."""
        return "  ".join([*self._parts(), self.request_id or "-"])

    def _parts(self) -> list[str]:
        parts = [self.state or "submitting"]
        if self._queue_position is not None and self.state == IN_QUEUE:
            parts.append(f"queue position {self._queue_position}")
        parts.append(f"elapsed {format_elapsed(self._clock() - self._started)}")
        if self._received is not None:
            total = f" of {format_bytes(self._total)}" if self._total is not None else ""
            verb = (
                "downloaded"
                if self._total is not None and self._received >= self._total
                else "downloading"
            )
            parts.append(f"{verb} {format_bytes(self._received)}{total}")
        return parts

    def _render(self) -> None:
        if self._quiet or self._closed:
            return
        if self._tty:
            self._ensure_live().refresh()
            return
        with self._lock:
            key = (self.state, self._queue_position, self._received is None, self._done())
            if key == self._last_printed:
                return
            self._last_printed = key
            self._stream.write(self.line() + "\n")
            self._stream.flush()

    def _done(self) -> bool:
        return self._total is not None and (self._received or 0) >= self._total

    def _ensure_live(self) -> Any:
        with self._lock:
            if self._live is None:
                from rich.console import Console
                from rich.live import Live
                from rich.text import Text

                console = Console(
                    file=self._stream,
                    force_terminal=True,
                    width=self._width,
                    color_system=None,
                    highlight=False,
                )
                self._live = Live(
                    get_renderable=lambda: Text(
                        self.terminal_line(), no_wrap=True, overflow="ellipsis"
                    ),
                    console=console,
                    auto_refresh=self._tick_interval > 0,
                    refresh_per_second=1 / self._tick_interval if self._tick_interval > 0 else 1,
                    transient=False,
                    redirect_stdout=False,
                    redirect_stderr=False,
                )
                self._live.start()
            return self._live

    def tick(self) -> None:
        """Redraw the terminal line so the elapsed time moves; a no-op off a terminal."""
        if self._tty and self._live is not None and not self._closed:
            self._live.refresh()

    def close(self) -> None:
        """Stop redrawing and end the terminal line (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            live, self._live = self._live, None
        if live is not None:
            thread = getattr(live, "_refresh_thread", None)
            live.stop()
            if isinstance(thread, threading.Thread):
                thread.join()  # woken by stop(): no redraw after close

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
