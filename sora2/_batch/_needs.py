"""What each manifest row of a batch still needs: a submit, a follow-up, or nothing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .._exceptions import AuthenticationError, ConfigurationError, InvalidInputError
from .._options import CostEstimate, check_max_cost, format_usd, sum_known, unpriced
from .._text import plural
from .._transports import logger
from .._types import CANCELLED, COMPLETED, FAILED, GONE, IN_QUEUE, outcome_of
from ._manifest import INVALID, PENDING, BatchRow, Manifest
from ._rows import Row, row_seconds

if TYPE_CHECKING:
    from .._async_client import AsyncClient

__all__ = [
    "BUDGET_PREFIX",
    "UNKNOWN_SUBMIT",
    "Budget",
    "adopt_from_journal",
    "budget_stop",
    "check_limits",
    "cost_by_model",
    "files_present",
    "is_paid",
    "needs_follow_up",
    "needs_submit",
    "new_entry",
    "queued_jobs",
    "row_costs",
    "to_follow",
    "within_budget",
]

UNKNOWN_SUBMIT = (
    "the submit got no answer, so the job may exist and is not submitted again (that could "
    "pay twice); check your RunComfy dashboard, then run again with --resubmit-unknown "
    "(resubmit_unknown=True) to submit it"
)
"""The error of a row whose submit got no answer: why it is not submitted again."""

BUDGET_PREFIX = "not submitted: budget "
"""How a row the budget stopped says so (its ``error``), in every worker's manifest."""


def new_entry(row: Row) -> BatchRow:
    if not row.valid:
        return BatchRow(
            row.line, row.key, row.name, row.input, state=INVALID, error=row.error, model=row.model
        )
    return BatchRow(row.line, row.key, row.name, row.input, model=row.model)


def _model_id(model: str | None) -> str:
    """A model as journaled or chosen; None (a row without a model column, a journal row from
    before the column) is the spec's default model."""
    from .._spec import default_model

    return model or default_model()


def files_present(row: BatchRow) -> bool:
    return bool(row.outputs) and all(Path(path).is_file() for path in row.outputs)


def needs_follow_up(row: BatchRow) -> bool:
    """A job was submitted and its files are not all saved, and it may still give them."""
    if row.request_id is None or row.state in (INVALID, GONE, CANCELLED):
        return False
    if row.state == COMPLETED:
        return not files_present(row)
    if row.state == FAILED:
        job = row.job_state or ""
        return outcome_of(job) != FAILED
    return True


def needs_submit(row: BatchRow, resubmit_unknown: bool = False) -> bool:
    """Never submitted (or its job was cancelled before it ran, so nothing was paid)."""
    if row.state == INVALID or (row.submit_unknown and not resubmit_unknown):
        return False
    if row.state == CANCELLED:
        return True
    return row.request_id is None and row.state in (PENDING, FAILED)


def is_paid(row: BatchRow) -> bool:
    return row.request_id is not None and row.state != CANCELLED


def adopt_from_journal(
    client: AsyncClient, manifest: Manifest, rows: list[BatchRow], target: str
) -> int:
    """Give rows without an id the jobs the journal has for this directory and no row holds.

    The manifest is written right after each submit returns; a SIGKILL between the journal's
    write and the manifest's would otherwise lose the id. Matched by input, in row order.
    """
    journal = client.journal
    if journal is None or not any(r.request_id is None for r in rows):
        return 0
    try:
        records = [r for r in journal.records(base_url=client.base_url) if r.target_path == target]
    except Exception as exc:  # a broken journal must not stop the batch
        logger.warning("journal %s: %s", journal.location, exc)
        return 0
    held = {r.request_id for r in manifest} | {
        old for r in manifest for old in r.previous_request_ids
    }
    adopted = 0
    for record in records:
        if record.request_id in held:
            continue
        body = {"prompt": record.prompt, **record.params} if record.prompt else dict(record.params)
        for row in rows:
            if (
                row.request_id is None
                and row.state != INVALID
                and row.input == body
                and _model_id(row.model) == _model_id(record.model)
            ):
                row.request_id = record.request_id
                row.state, row.error, row.submit_unknown = PENDING, None, False
                held.add(record.request_id)
                adopted += 1
                break
    return adopted


def queued_jobs(rows: Iterable[BatchRow]) -> list[BatchRow]:
    """Rows whose job was last seen queued (or not seen at all since it was submitted)."""
    return [
        r
        for r in rows
        if r.request_id is not None and r.state == PENDING and r.job_state in (None, IN_QUEUE)
    ]


def to_follow(entries: list[BatchRow]) -> list[BatchRow]:
    """The rows whose job must be followed (blocking: it looks for their saved files)."""
    return [row for row in entries if needs_follow_up(row)]


@dataclass(frozen=True)
class Budget:
    """The limits of a batch (``--max-jobs``, ``--max-seconds``, ``--max-cost``), checked one
    row at a time against what the batch has used so far: by one run (``within_budget``), or
    by every worker of a shared batch, its use counted in the database."""

    max_jobs: int | None = None
    max_seconds: float | None = None
    max_cost: float | None = None

    @property
    def limited(self) -> bool:
        """Any limit at all (without one, nothing is counted)."""
        return (self.max_jobs, self.max_seconds, self.max_cost) != (None, None, None)

    def refusal(
        self, row: BatchRow, cost: CostEstimate | None, used: tuple[int, float, float]
    ) -> str | None:
        """Why ``row`` (costing ``cost``) may not be submitted once ``used`` (jobs, seconds of
        video, estimated USD) is spent; None when it may."""
        jobs_used, seconds_used, usd_used = used
        seconds = row_seconds(row.input)
        if self.max_cost is not None:
            limit = format_usd(self.max_cost)
            if cost is None or cost.usd is None:
                why = cost.basis if cost is not None else "no estimate"
                return f"--max-cost {limit}: row {row.row}: {why}"
            if usd_used + cost.usd > self.max_cost + 1e-9:
                return (
                    f"--max-cost {limit} reached ({format_usd(usd_used)} estimated for jobs "
                    f"submitted; row {row.row} would cost {format_usd(cost.usd)} more: "
                    f"{cost.basis})"
                )
        if self.max_jobs is not None and jobs_used + 1 > self.max_jobs:
            return (
                f"--max-jobs {self.max_jobs} reached ({plural(jobs_used, 'job')} submitted; "
                f"row {row.row} would be one more)"
            )
        if self.max_seconds is not None and seconds_used + seconds > self.max_seconds:
            return (
                f"--max-seconds {self.max_seconds:g} reached ({seconds_used:g} s submitted; "
                f"row {row.row} asks for {seconds:g} s more)"
            )
        return None


def budget_stop(rows: Iterable[BatchRow]) -> str | None:
    """Why the budget stopped the batch, as its rows say (whichever worker stopped it)."""
    for row in rows:
        if row.request_id is None and row.error and row.error.startswith(BUDGET_PREFIX):
            return row.error.removeprefix(BUDGET_PREFIX)
    return None


def within_budget(
    candidates: list[BatchRow],
    manifest: Manifest,
    budget: Budget,
    costs: Mapping[str, CostEstimate] | None = None,
) -> tuple[list[BatchRow], str | None]:
    """The candidates the budget lets through, in order, and why it stops the rest (the jobs
    of earlier runs in ``manifest`` count against it too, their cost included)."""
    costs = costs or {}
    paid = [row for row in manifest if is_paid(row)]
    usd, _ = sum_known(costs[r.key] for r in paid if r.key in costs)
    used = (len(paid), sum(row_seconds(row.input) for row in paid), usd)
    to_submit: list[BatchRow] = []
    for row in candidates:
        cost = costs.get(row.key)
        refusal = budget.refusal(row, cost, used)
        if refusal is not None:
            return to_submit, refusal
        spent = cost.usd if cost is not None and cost.usd is not None else 0.0
        used = (used[0] + 1, used[1] + row_seconds(row.input), used[2] + spent)
        to_submit.append(row)
    return to_submit, None


async def row_costs(client: AsyncClient, rows: Iterable[BatchRow]) -> dict[str, CostEstimate]:
    """Each valid row's estimated cost, by key (``client.price``: one price request per model,
    at most); a row that cannot be priced (no key in a dry run) gets an estimate saying why."""
    from .._inputs import known_model

    costs: dict[str, CostEstimate] = {}
    for row in rows:
        if row.state == INVALID or row.key in costs:
            continue
        model = known_model(row.model)
        try:
            costs[row.key] = await client.price(model=model, **row.input)
        except (ConfigurationError, AuthenticationError, InvalidInputError) as exc:
            costs[row.key] = unpriced(model, str(exc))  # a dry run needs no key
    for model in {c.model for c in costs.values() if not c.known}:
        logger.warning("%s", next(c.basis for c in costs.values() if c.model == model))
    return costs


def cost_by_model(estimates: list[CostEstimate]) -> dict[str, tuple[float, int, int]]:
    """``{model: (estimated USD, jobs, jobs without an estimate)}``, as ``BatchSummary.costs``."""
    found: dict[str, tuple[float, int, int]] = {}
    for model in dict.fromkeys(e.model for e in estimates):
        mine = [e for e in estimates if e.model == model]
        total, unknown = sum_known(mine)
        found[model] = (total, len(mine), unknown)
    return found


def check_limits(
    concurrency: int,
    max_jobs: int | None,
    max_seconds: float | None,
    max_cost: float | None = None,
) -> None:
    """Refuse a concurrency or a budget no batch can run with, before anything is read."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigurationError(f"concurrency must be a whole number >= 1, not {concurrency!r}")
    for label, limit in (("max_jobs", max_jobs), ("max_seconds", max_seconds)):
        if limit is not None and (isinstance(limit, bool) or limit < 0):
            raise ConfigurationError(f"{label} must be >= 0, not {limit!r}")
    check_max_cost(max_cost)
