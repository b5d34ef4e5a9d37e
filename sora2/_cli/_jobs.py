"""The job commands but ``generate``: ``submit``, ``status``, ``result``, ``cancel``, ``price``.

Each is a thin shell over one :class:`sora2.Client` call, printing its answer for a person or
as one JSON object, with exit codes a script can branch on.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .._types import IN_QUEUE
from . import (
    EMULATOR_ENDED,
    EXIT_CANCELLED,
    EXIT_ERROR,
    EXIT_NOT_READY,
    CommandError,
    translate_errors,
)
from ._common import (
    client_options,
    echo_err,
    emit,
    id_command,
    input_options,
    max_cost_option,
    model_option,
    open_client,
    warn_unknown_cost,
)

if TYPE_CHECKING:
    from .._client import Client
    from .._types import JobResult, JobStatus
    from ._common import Settings

__all__ = ["cancel", "price", "result", "status", "submit"]


def _emit_status(settings: Settings, ask: Callable[[Client], JobStatus]) -> None:
    """Print the state of a job, as ``ask`` gets it from the client: ``status`` and ``cancel``."""
    with open_client(settings) as client:
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
    with open_client(settings) as client:
        if max_cost is None:
            warn_unknown_cost(client, model, inputs)
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


@id_command
def status(request_id: str, settings: Settings) -> None:
    """Print the state of job ID (and its queue position while queued)."""
    _emit_status(settings, lambda client: client.status(request_id))


@click.command()
@click.argument("request_id", metavar="ID")
@click.option(
    "--out",
    type=click.Path(),
    default=None,
    help="Also download every output file here: a file, or a directory (an existing one, or any "
    "path ending with /: saved inside as ID.EXT). Several files go into a directory, or beside "
    "FILE as STEM-1.EXT, STEM-2.EXT...",
)
@client_options
def result(request_id: str, out: str | None, settings: Settings) -> None:
    """Print every output file of job ID once completed: one `KIND: URL` line each.

    Exits 5 while the job is not finished, 6 if it was cancelled, 7 if it failed, and 1 if it
    completed without any output file.
    """
    paths: list[Path] = []
    with open_client(settings) as client:
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


@id_command
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
    with open_client(settings) as client:
        estimate = client.price(model=model, **inputs)
    from .._options import format_usd

    line = (
        f"{model}: {format_usd(estimate.usd)} ({estimate.basis})"
        if estimate.usd is not None
        else estimate.basis
    )
    emit(settings, estimate.to_dict(), [line])
