"""``AsyncClient``'s way to its journal: group commit.

The changes of every job waiting at one moment are written by one worker thread in one
transaction (one thread hop, one commit, instead of one each), so SQLite never runs on the
event loop and 1,000 concurrent jobs do not queue for 1,000 commits. Each caller resumes only
once its own changes are committed: a submit's id is durable before ``generate`` goes on. A
batch that fails is written again change by change, each failure logged (or raised to its
caller) as it would have been alone. A sync client never loads this module.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from ._threads import Batched, Done

if TYPE_CHECKING:
    from ._journal_glue import Change, JournalKeeper

__all__ = ["Call", "GroupCommit", "write_batch"]

T = TypeVar("T")


class GroupCommit:
    """Every caller waiting at once shares one worker-thread hop (``sora2._threads.Batched``),
    and their changes one transaction. A caller cancelled while it waits leaves its changes
    to be written all the same."""

    def __init__(self, keeper: JournalKeeper) -> None:
        self.batched = Batched(functools.partial(_run_batch, keeper))

    async def write(self, changes: tuple[Change, ...]) -> None:
        """Write ``changes``; returns once they are committed (or their failure logged)."""
        await self.batched.submit(changes)

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` (a journal read) in the next batch's worker thread."""
        value: T = await self.batched.submit(Call(function, args))
        return value

    async def aclose(self) -> None:
        """Wait until every change handed over is written (a client's ``close()``)."""
        await self.batched.aclose()


@dataclass(frozen=True, slots=True)
class Call:
    """A journal read (or quick file check) to run in a batch: ``function(*args)``."""

    function: Callable[..., Any]
    args: tuple[Any, ...]


def write_batch(keeper: JournalKeeper, batch: list[tuple[Change, ...]]) -> list[Exception | None]:
    """Write several callers' changes in one transaction when the journal offers one
    (``transaction()``); per caller, what its own write raised beyond the journal's logged
    errors, or None. A failed transaction is rolled back and written again caller by caller:
    one bad change never costs the others their rows."""
    from ._journal_glue import write_change

    journal = keeper.journal
    transaction = getattr(journal, "transaction", None)
    if journal is not None and transaction is not None and len(batch) > 1:
        try:
            with transaction():
                for changes in batch:
                    for change in changes:
                        write_change(journal, change, keeper.base_url)
        except Exception:  # each caller's changes again, on their own (below)
            pass
        else:
            return [None] * len(batch)
    found: list[Exception | None] = []
    for changes in batch:
        try:
            keeper.write(changes)
        except Exception as exc:  # not the journal's own errors: the caller's to see
            found.append(exc)
        else:
            found.append(None)
    return found


def _run_batch(keeper: JournalKeeper, batch: list[tuple[Change, ...] | Call]) -> list[Done]:
    """A batch, in order, in a worker thread: each run of consecutive writes in one
    transaction, each read on its own."""
    found: list[Done] = []
    writes: list[tuple[Change, ...]] = []

    def flush() -> None:
        if writes:
            found.extend(Done(None, error) for error in write_batch(keeper, writes))
            writes.clear()

    for entry in batch:
        if not isinstance(entry, Call):
            writes.append(entry)
            continue
        flush()
        try:
            found.append(Done(entry.function(*entry.args), None))
        except Exception as exc:  # the caller's to see
            found.append(Done(None, exc))
    flush()
    return found
