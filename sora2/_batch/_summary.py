"""What a batch reports: live counts while it runs, and a summary when it ends."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._types import CANCELLED, COMPLETED, FAILED, GONE
from ._manifest import INVALID, PENDING, BatchRow
from ._rows import Plan

__all__ = ["BatchProgress", "BatchSummary"]


@dataclass
class BatchProgress:
    """The live counts of a running batch, handed to ``on_progress`` after every change.

    Attributes:
        total: rows in the input.
        done: rows completed (earlier runs included).
        failed: rows that ended failed, cancelled or gone.
        invalid: rows that failed validation.
        queued: rows waiting for a free slot.
        in_flight: rows holding a slot, by row key (each row's ``job_state`` is the job's
            last state seen).
        message: why submitting stopped, when it stopped early.
        started: ``time.monotonic()`` when the run began.
        earlier: the request id of each row whose job an earlier run submitted, by row key:
            this run follows those jobs and does not pay for them again.
    """

    total: int = 0
    done: int = 0
    failed: int = 0
    invalid: int = 0
    queued: int = 0
    in_flight: dict[str, BatchRow] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    message: str | None = None
    earlier: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchSummary:
    """What a batch run ended with; ``ok`` only when every row completed.

    Attributes:
        manifest: the manifest file (None for a dry run, which writes nothing).
        rows: the input's rows, in order (the manifest also keeps paid rows of earlier runs
            that the input no longer has).
        plan: jobs and seconds of video of the valid rows, by size.
        submitted: jobs this run submitted (a re-run of a finished batch: 0).
        resumed: jobs of earlier runs this run followed.
        budget_stop: why submitting stopped early, if the budget stopped it.
        interrupted: the run was interrupted (Ctrl-C, or SIGTERM with ``handle_sigint``).
        terminated: the interruption was SIGTERM (a container stop, ``timeout``).
        dry_run: nothing was submitted or written.
        elapsed: seconds the run took.
    """

    manifest: Path | None
    rows: tuple[BatchRow, ...]
    plan: Plan
    submitted: int = 0
    resumed: int = 0
    budget_stop: str | None = None
    interrupted: bool = False
    terminated: bool = False
    dry_run: bool = False
    elapsed: float = 0.0
    costs: Mapping[str, tuple[float, int, int]] = field(default_factory=dict)
    """Per model, the estimated cost of the jobs submitted (a dry run: that would be):
    ``(USD, jobs, jobs without an estimate)``."""

    def count(self, state: str) -> int:
        return sum(1 for row in self.rows if row.state == state)

    @property
    def counts(self) -> dict[str, int]:
        """Rows per state, every state listed."""
        return {
            state: self.count(state) for state in (COMPLETED, FAILED, INVALID, CANCELLED, GONE)
        } | {PENDING: self.count(PENDING)}

    @property
    def ok(self) -> bool:
        """Every row completed (a dry run: every row is valid)."""
        if self.dry_run:
            return all(row.state != INVALID for row in self.rows)
        return all(row.state == COMPLETED for row in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "manifest": str(self.manifest) if self.manifest is not None else None,
            "rows": len(self.rows),
            "counts": self.counts,
            "submitted": self.submitted,
            "resumed": self.resumed,
            "budget_stop": self.budget_stop,
            "interrupted": self.interrupted,
            "dry_run": self.dry_run,
            "elapsed": round(self.elapsed, 3),
            "plan": self.plan.to_dict(),
            "costs": {
                model: {"estimate_usd": usd, "jobs": jobs, "jobs_without_estimate": unknown}
                for model, (usd, jobs, unknown) in self.costs.items()
            },
            "invalid": [
                {"row": row.row, "error": row.error} for row in self.rows if row.state == INVALID
            ],
        }
