"""The job commands: ``generate``, ``submit``, ``status``, ``result``, ``cancel``.

Each is a thin shell over one :class:`sora2.Client` call. What the CLI adds is what a person
at a terminal needs: the request id at once, a live progress line, an honest answer to Ctrl-C
(a queued job can be cancelled, a running one cannot and is resumed later), and exit codes a
script can branch on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from .._exceptions import (
    ConflictError,
    DownloadError,
    Sora2Error,
)
from .._options import DEFAULT_WAIT_TIMEOUT
from .._types import (
    CANCELLED,
    COMPLETED,
    IN_PROGRESS,
    IN_QUEUE,
    is_cancelled_state,
    is_completed_state,
)
from . import (
    EXIT_CANCELLED,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_NOT_READY,
    EXIT_TERMINATED,
    Terminated,
)
from ._common import (
    EMULATOR_ENDED,
    CommandError,
    Settings,
    client_options,
    echo_err,
    emit,
    translate_errors,
    warn_unknown_cost,
)
from ._input_options import input_options, max_cost_option, model_option
from ._progress import Progress

if TYPE_CHECKING:
    from .._client import Client
    from .._types import JobResult, JobStatus, Submission

__all__ = ["cancel", "generate", "price", "result", "status", "submit"]

_request_id_argument = click.argument("request_id", metavar="ID")


def _out_option(help_text: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """``--out PATH``: where ``generate`` and ``result`` save the output files."""
    return click.option("--out", type=click.Path(), default=None, help=help_text)


def _id_command(function: Callable[..., None]) -> click.Command:
    """A command whose one argument is a job's ID, with the client options."""
    return click.command()(_request_id_argument(client_options(function)))


_timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help=f"Stop waiting after this long; the job goes on [default: {DEFAULT_WAIT_TIMEOUT:g}].",
)


def _stdin_is_tty() -> bool:
    """Whether there is a person at a terminal to ask (a seam for tests)."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def _client(settings: Settings) -> Iterator[Client]:
    """An open client for one command, its library errors turned into CLI errors."""
    client = settings.client()
    try:
        with translate_errors(settings):
            yield client
    finally:
        client.close()


def _emit_status(settings: Settings, ask: Callable[[Client], JobStatus]) -> None:
    """Print the state of a job, as ``ask`` gets it from the client: ``status`` and ``cancel``."""
    with _client(settings) as client:
        status = ask(client)
    line = f"{status.request_id}  {status.state}"
    if status.queue_position is not None and status.state == IN_QUEUE:
        line += f"  queue position {status.queue_position}"
    payload = {
        "request_id": status.request_id,
        "state": status.state,
        "queue_position": status.queue_position,
        "terminal": status.is_terminal,
    }
    emit(settings, payload, [line])


# generate ------------------------------------------------------------------------------------


@click.command()
@click.argument("prompt", required=False)
@model_option
@input_options
@_out_option(
    "Where to save the output: a file, or a directory (an existing one, or any path ending "
    "with /: saved inside as ID.EXT). Several files go into a directory as ID-1.EXT..., or "
    "beside FILE as STEM-1.EXT, STEM-2.EXT... [default: ./ID.EXT]."
)
@_timeout_option
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
    with _client(settings) as client, settings.progress() as progress:
        if max_cost is None:
            with contextlib.suppress(Sora2Error):  # the submit says what is wrong with inputs
                warn_unknown_cost(client.price(model=model, **inputs), max_cost)

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


# submit, status, result, cancel ---------------------------------------------------------------


@click.command()
@click.argument("prompt", required=False)
@model_option
@input_options
@max_cost_option
@client_options
def submit(
    prompt: str, model: str, inputs: dict[str, Any], max_cost: float | None, settings: Settings
) -> None:
    """Submit PROMPT and print the request id, without waiting.

    Inputs are given as for `sora2 generate` (PROMPT may come from --input-file; PROMPT
    wins when both give one), and so is --max-cost.

    Follow it with `sora2 status ID`, fetch it with `sora2 result ID --out FILE` or
    `sora2 resume ID --out-dir DIR`.
    """
    with _client(settings) as client:
        if max_cost is None:
            with contextlib.suppress(Sora2Error):  # the submit says what is wrong with inputs
                warn_unknown_cost(client.price(model=model, **inputs), max_cost)
        submission = client.submit(prompt, model=model, max_cost=max_cost, **inputs)
    emit(
        settings,
        {
            "request_id": submission.request_id,
            "state": IN_QUEUE,
            "status_url": submission.status_url,
            "result_url": submission.result_url,
            "cancel_url": submission.cancel_url,
            "model": model,
            "inputs": inputs,
        },
        [submission.request_id],
    )
    if settings.emulator:  # `sora2 status/result/resume ID` cannot reach this emulator later
        echo_err("note: " + EMULATOR_ENDED.format(request_id=submission.request_id))


@_id_command
def status(request_id: str, settings: Settings) -> None:
    """Print the state of job ID (and its queue position while queued)."""
    _emit_status(settings, lambda client: client.status(request_id))


@click.command()
@_request_id_argument
@_out_option(
    "Also download every output file here: a file, or a directory (an existing one, or any "
    "path ending with /: saved inside as ID.EXT). Several files go into a directory, or beside "
    "FILE as STEM-1.EXT, STEM-2.EXT..."
)
@client_options
def result(request_id: str, out: str | None, settings: Settings) -> None:
    """Print every output file of job ID once completed: one `KIND: URL` line each.

    Exits 5 while the job is not finished, 6 if it was cancelled, 7 if it failed, and 1 if it
    completed without any output file.
    """
    paths: list[Path] = []
    with _client(settings) as client:
        found = client.result(request_id)
        if out is not None and found.is_completed and found.files:
            paths = client.download(found, out)
    payload = _result_payload(found)
    if paths:
        payload["path"] = str(paths[0])
        payload["paths"] = [str(path) for path in paths]
    lines = [f"{found.request_id}  {found.state}"]
    lines += [f"{item.kind}: {item.url}" for item in found.files]
    if found.is_failed and found.error:
        lines.append(f"error: {json.dumps(found.error, sort_keys=True, default=str)}")
    lines += [f"saved: {path}" for path in paths]
    emit(settings, payload, lines)
    if found.is_cancelled:
        raise CommandError(
            f"{request_id} was {found.state}; there is no video",
            EXIT_CANCELLED,
            request_id=found.request_id,
        )
    if found.is_failed:
        from .._errors import job_failed

        with translate_errors():
            raise job_failed(found.request_id, found.state, found.error)
    if not found.is_completed:
        raise CommandError(
            f"{request_id} is {found.state}; not finished yet",
            EXIT_NOT_READY,
            request_id=found.request_id,
        )
    if not found.files:
        raise CommandError(
            f"{request_id} completed without any output file (output fields: "
            f"{', '.join(sorted(found.outputs)) or 'none'})",
            EXIT_ERROR,
            request_id=found.request_id,
        )


def _result_payload(found: JobResult) -> dict[str, Any]:
    return {
        "request_id": found.request_id,
        "state": found.state,
        "video_url": found.video_url,
        "files": [dataclasses.asdict(item) for item in found.files],
        "outputs": found.outputs,
        "error": dict(found.error) if found.error is not None else None,
        "created_at": found.created_at.isoformat() if found.created_at else None,
        "finished_at": found.finished_at.isoformat() if found.finished_at else None,
    }


@_id_command
def cancel(request_id: str, settings: Settings) -> None:
    """Cancel job ID. Only a queued job can be cancelled; one in progress goes on."""
    _emit_status(settings, lambda client: client.cancel(request_id))


@click.command()
@model_option
@input_options
@client_options
def price(model: str, inputs: dict[str, Any], settings: Settings) -> None:
    """What one job would cost, from the model's price (an unofficial route of the service).

    A per-second price is multiplied by --seconds (or the duration input given), else by the
    spec's default duration. When the price cannot be read, the line says why.
    """
    inputs = {k: v for k, v in inputs.items() if k != "prompt"}
    with _client(settings) as client:
        estimate = client.price(model=model, **inputs)
    from .._pricing import format_usd

    line = (
        f"{model}: {format_usd(estimate.usd)} ({estimate.basis})"
        if estimate.usd is not None
        else estimate.basis
    )
    emit(settings, estimate.to_dict(), [line])
