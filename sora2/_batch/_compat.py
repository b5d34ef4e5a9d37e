"""The batch's two calls into the client that take a row's shape rather than a keyword call.

* :func:`submit_body`: submit one checked body, every property passed through as given, the
  id journaled (with ``target``) before anything else can fail;
* :func:`download_outputs`: save every output file of a job under one stem.

Rows are checked with ``sora2._inputs.validate_input`` and states read with
``sora2._types.outcome_of`` directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._download import file_suffix
from .._inputs import PROMPT_INPUT

if TYPE_CHECKING:
    from .._async_client import AsyncClient
    from .._types import JobResult, Submission

__all__ = ["download_outputs", "submit_body"]


async def submit_body(
    client: AsyncClient, body: dict[str, Any], *, target: str, model: str | None = None
) -> Submission:
    """Submit a checked body as it is, to ``model`` (None: the default one), journaling
    ``target`` in the job's first row.

    ``target`` (the batch's output directory) is what lets a re-run adopt a job that only the
    journal knows, after a crash between the journal's write and the manifest's.
    """
    inputs = {name: value for name, value in body.items() if name != PROMPT_INPUT}
    return await client.submit(body[PROMPT_INPUT], model=model, target=target, **inputs)


async def download_outputs(client: AsyncClient, result: JobResult, stem: Path) -> list[Path]:
    """Save every output of ``result`` as ``stem`` plus each file's own extension.

    One file is ``<stem><ext>``; several are ``<stem>-1<ext>``, ``<stem>-2<ext>``: the naming
    rule of ``download`` itself, given ``<stem><ext of the first file>`` as its path.
    """
    first = result.files[0] if result.files else None
    suffix = file_suffix(first.url, first.kind) if first is not None else ""
    # With no file, download() raises the client's own NoOutputError (the row stays resumable).
    return await client.download(result, stem.with_name(stem.name + suffix))
