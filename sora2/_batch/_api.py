"""``Client.batch`` and ``AsyncClient.batch``: the library face of a batch.

The sync client runs the async engine with ``anyio.run`` on an ``AsyncClient`` made with the
same settings (and, for the in-process emulator, the same emulator), so both share one code path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import httpx

from .._exceptions import ConfigurationError

if TYPE_CHECKING:
    from .._async_client import AsyncClient
    from .._client import Client
    from ._manifest import BatchRow
    from ._summary import BatchProgress, BatchSummary

__all__ = ["async_twin", "batch_sync"]

BatchSource = str | os.PathLike[str] | Iterable[Mapping[str, Any]]


def async_twin(client: Client) -> AsyncClient:
    """An ``AsyncClient`` with ``client``'s settings, journal, clock and emulator."""
    from .._async_client import AsyncClient

    source = client._shared.transport
    transport: httpx.AsyncBaseTransport | None = None
    if source is not None:
        app = getattr(source, "app", None)
        if app is None:
            raise ConfigurationError(
                "Client.batch cannot reuse a custom sync transport; "
                "use AsyncClient.batch with an async transport"
            )
        transport = httpx.ASGITransport(app=app)
    options = client._options
    if source is not None:  # the emulator's app, on another transport: its stand-in token
        options = attrs.evolve(options, api_key=client._token())
    twin = AsyncClient._from_options(options, transport=transport, clock=client._shared.clock)
    # What the sync client decided and learned: whether hosted files are checked (and how),
    # and the prices it already read.
    twin._file_checks = client._file_checks
    twin._hosted_transport = client._hosted_transport
    twin._price_documents = client._price_documents
    return twin


def batch_sync(
    client: Client,
    source: BatchSource,
    *,
    out_dir: str | os.PathLike[str],
    concurrency: int,
    max_jobs: int | None,
    max_seconds: float | None,
    dry_run: bool,
    cancel_queued_on_interrupt: bool,
    resubmit_unknown: bool,
    on_progress: Callable[[BatchProgress, BatchRow | None], None] | None,
    defaults: Mapping[str, Any] | None = None,
    max_cost: float | None = None,
) -> BatchSummary:
    import anyio

    from ._runner import run_batch

    async def main() -> BatchSummary:
        async with async_twin(client) as twin:
            return await run_batch(
                twin,
                source,
                out_dir=out_dir,
                concurrency=concurrency,
                max_jobs=max_jobs,
                max_seconds=max_seconds,
                max_cost=max_cost,
                dry_run=dry_run,
                cancel_queued_on_interrupt=cancel_queued_on_interrupt,
                resubmit_unknown=resubmit_unknown,
                defaults=defaults,
                on_progress=on_progress,
            )

    return anyio.run(main)
