"""``Client.batch`` and ``AsyncClient.batch``: the library face of a batch.

The sync client runs the async engine with ``anyio.run`` on its ``to_async()`` twin (the same
settings and, for the in-process emulator, the same emulator), so both share one code path.
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
    """``Client.batch``: ``AsyncClient.batch`` on the client's ``to_async()`` twin."""
    import anyio

    async def main() -> BatchSummary:
        async with client.to_async() as twin:
            return await twin.batch(source, **options)

    return anyio.run(main)
