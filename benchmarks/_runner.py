"""The registry of benchmarks and the run that prints, and optionally records, one table.

A benchmark is a function ``(quick: bool) -> list[Row]``, imported only when selected so that
``-k import`` does not pay for starting servers. ``quick`` runs it at a tiny size: the smoke
test uses it so the code cannot rot; its numbers mean nothing.
"""

from __future__ import annotations

import importlib
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._machine import machine_facts
from ._table import Row, format_markdown

__all__ = [
    "BEGIN_MARKER",
    "BENCHMARKS",
    "END_MARKER",
    "Run",
    "render_markdown",
    "run_benchmarks",
    "select",
    "write_markdown",
]

BENCHMARKS: dict[str, str] = {
    "calls": "benchmarks.bench_calls:run",
    "import": "benchmarks.bench_import:run",
    "modules": "benchmarks.bench_modules:run",
    "contract": "benchmarks._runner:run_contract",
    "scale": "benchmarks.bench_scale:run",
    "polling": "benchmarks.bench_polling:run",
    "throughput": "benchmarks.bench_throughput:run",
    "batch": "benchmarks.bench_batch:run",
    "workers": "benchmarks.bench_workers:run",
}
"""Benchmark name -> ``module:function``, in the order the table shows them."""

BEGIN_MARKER = "<!-- bench:begin: written by `python -m benchmarks --write`; edit outside -->"
END_MARKER = "<!-- bench:end -->"

CONTRACT_TARGET = 25.0
"""Issue 21: contract checking at least 25x faster than openapi-core (issue 7 asked 10x)."""


def run_contract(quick: bool = False) -> list[Row]:
    """The contract checker's own benchmark (``bench_contract.run``), shown as table rows."""
    from . import bench_contract  # written by the contract checker's author

    rows: list[dict[str, Any]] = bench_contract.run(rounds=3 if quick else 200)
    table: list[Row] = []
    for found in rows:
        ours, theirs = float(found["ours_us"]), float(found["openapi_core_us"])
        speedup = float(found["ratio"])  # openapi-core time over ours
        table.append(
            Row(
                f"contract: {found['name']}",
                "µs per exchange checked; ratio = openapi-core / ours",
                ours,
                theirs,
                speedup,
                target=f">= {CONTRACT_TARGET:g}x faster",
                passed=speedup >= CONTRACT_TARGET,
                unit="µs",
                baseline_name="openapi-core",
            )
        )
    return table


def _load(name: str) -> Callable[[bool], list[Row]]:
    module, function = BENCHMARKS[name].split(":")
    loaded: Callable[[bool], list[Row]] = getattr(importlib.import_module(module), function)
    return loaded


def select(patterns: Sequence[str]) -> list[str]:
    """The benchmarks whose name contains any of ``patterns`` (all of them when none is given)."""
    if not patterns:
        return list(BENCHMARKS)
    return [name for name in BENCHMARKS if any(p in name for p in patterns)]


@dataclass
class Run:
    """What one invocation measured, and how long it took."""

    rows: list[Row] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    quick: bool = False

    @property
    def missed(self) -> list[Row]:
        return [row for row in self.rows if row.passed is False]


def run_benchmarks(
    names: Sequence[str],
    *,
    quick: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Run:
    """Run each named benchmark in turn; one that crashes is reported, not fatal."""
    result = Run(quick=quick)
    for name in names:
        if progress is not None:
            progress(f"running {name} ...")
        started = time.perf_counter()
        try:
            result.rows.extend(_load(name)(quick))
        except Exception as error:  # one broken benchmark must not hide the rest
            result.errors[name] = f"{type(error).__name__}: {error}"
            if progress is not None:
                progress(traceback.format_exc())
        result.seconds[name] = time.perf_counter() - started
        if progress is not None:
            progress(f"  {name}: {result.seconds[name]:.1f} s")
    from ._server import NOTICES

    result.notices = sorted(NOTICES)
    return result


def render_markdown(run: Run, command: str) -> str:
    """The generated part of ``BENCHMARKS.md``: when, where, what, and every number."""
    facts = machine_facts()
    total = sum(run.seconds.values())
    lines = [
        BEGIN_MARKER,
        "## Latest recorded run",
        "",
        f"`{command}`, {facts.pop('date')}, {total:.0f} s of benchmarks"
        + (" (quick mode: the numbers mean nothing)" if run.quick else "")
        + ".",
        "",
        "| machine | |",
        "| --- | --- |",
        *(f"| {key} | {value} |" for key, value in facts.items()),
        "",
        format_markdown(run.rows),
        "",
        "Seconds per benchmark: "
        + ", ".join(f"{name} {seconds:.0f}" for name, seconds in run.seconds.items())
        + ".",
    ]
    notes = [row for row in run.rows if row.note]
    if notes or run.errors or run.notices:
        lines += ["", "Notes:", ""]
        lines += [f"- **{row.name}**: {row.note}" for row in notes]
        lines += [f"- {notice}" for notice in run.notices]
        lines += [f"- **{name} did not run**: {error}" for name, error in run.errors.items()]
    lines.append(END_MARKER)
    return "\n".join(lines) + "\n"


def write_markdown(path: Path, generated: str) -> None:
    """Replace the generated block of ``path``, keeping whatever was written around it."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    begin, end = old.find(BEGIN_MARKER), old.find(END_MARKER)
    if begin == -1 or end < begin:
        text = "# Benchmarks\n\n" + generated if not old else old.rstrip() + "\n\n" + generated
    else:
        text = old[:begin] + generated + old[end + len(END_MARKER) :].lstrip("\n")
    path.write_text(text, encoding="utf-8")
