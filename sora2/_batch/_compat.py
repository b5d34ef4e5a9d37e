"""The batch's contact with the client: the checks, the submit, the outcomes and the files.

Four seams, each a small function over the client's own API:

* :func:`validate_row`: a row's input checked with the same validation as ``generate``,
  holding only the properties the row gave (the service fills in its own defaults);
* :func:`submit_body`: submit one checked body, every property passed through as given, the
  id journaled (with ``target``) before anything else can fail;
* :func:`output_urls`: every output URL of a completed job;
* :func:`download_outputs`: save every output file of a job under one stem.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._download import file_suffix
from .._exceptions import NoOutputError
from .._inputs import PROMPT_INPUT
from .._types import CANCELLED, COMPLETED, IN_QUEUE, outcome_of

if TYPE_CHECKING:
    from .._async_client import AsyncClient
    from .._types import JobResult, Submission

__all__ = [
    "CANCELLED",
    "COMPLETED",
    "QUEUED",
    "download_outputs",
    "job_outcome",
    "output_urls",
    "submit_body",
    "validate_row",
]

QUEUED = IN_QUEUE
"""The state in which the spec lets a job be cancelled (as ``sora2 generate`` uses it)."""
_DEFAULT_SUFFIX = ".mp4"


def validate_row(values: Mapping[str, Any]) -> dict[str, Any]:
    """The checked body of one row, only the properties it gave; raises InvalidInputError."""
    from .._inputs import validate_input

    return validate_input(values)


async def submit_body(client: AsyncClient, body: dict[str, Any], *, target: str) -> Submission:
    """Submit a checked body as it is, journaling ``target`` in the job's first row.

    ``target`` (the batch's output directory) is what lets a re-run adopt a job that only the
    journal knows, after a crash between the journal's write and the manifest's.
    """
    inputs = {name: value for name, value in body.items() if name != PROMPT_INPUT}
    return await client._submit(body[PROMPT_INPUT], inputs, target=target)


def job_outcome(state: str) -> str | None:
    """``"completed"``, ``"cancelled"`` or ``"failed"`` for a terminal state; None otherwise.

    What each final state means is the spec's ``x-terminal-states`` (``succeeded`` is
    completed, ``canceled`` is cancelled), read through :func:`sora2._types.outcome_of`.
    """
    return outcome_of(state)


def output_urls(result: JobResult) -> list[str]:
    """Every output URL of a completed job, in the order of ``JobResult.files``."""
    return [file.url for file in result.files]


async def download_outputs(client: AsyncClient, result: JobResult, stem: Path) -> list[Path]:
    """Save every output of ``result`` as ``stem`` plus each file's own extension.

    One file is ``<stem><ext>``; several are ``<stem>-1<ext>``, ``<stem>-2<ext>``: the naming
    rule of ``download`` itself, given ``<stem><ext of the first file>`` as its path.
    """
    if not result.files:
        raise NoOutputError(
            f"{result.request_id} completed without an output file", request_id=result.request_id
        )
    first = result.files[0]
    return await client.download(
        result, stem.with_name(stem.name + file_suffix(first.url, first.kind))
    )
