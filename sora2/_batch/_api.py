"""``Client.batch`` and ``AsyncClient.batch``: the library face of a batch.

The sync client runs the async engine with ``anyio.run`` on its twin,
``AsyncClient.from_client`` (the same settings and, for the in-process emulator, the same
emulator), so both share one code path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._client import Client
    from ._summary import BatchSummary

__all__ = ["batch_sync"]

BatchSource = str | os.PathLike[str] | Iterable[Mapping[str, Any]]


def batch_sync(client: Client, source: BatchSource, **options: Any) -> BatchSummary:
    """``Client.batch``: ``AsyncClient.batch`` on the client's async twin."""
    import anyio

    from .._async_client import AsyncClient

    async def main() -> BatchSummary:
        async with AsyncClient.from_client(client) as twin:
            return await twin.batch(source, **options)

    return anyio.run(main)
