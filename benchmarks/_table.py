"""One row per measured number, and the two ways a run is shown: a terminal table and Markdown.

Every benchmark returns ``Row`` objects so the runner can print and record them the same way,
whatever was measured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["COLUMNS", "Row", "format_markdown", "format_table", "format_value"]

COLUMNS = ("name", "metric", "ours", "baseline", "ratio", "target", "pass")


@dataclass(frozen=True)
class Row:
    """One number of ours beside its baseline, measured in the same run.

    ``ratio`` is ``ours / baseline`` unless the benchmark says otherwise in ``metric``;
    ``passed`` is None for a number that has no target (informational).
    """

    name: str
    metric: str
    ours: float | None
    baseline: float | None = None
    ratio: float | None = None
    target: str = ""
    passed: bool | None = None
    unit: str = ""
    baseline_name: str = ""
    note: str = ""

    def cells(self) -> tuple[str, ...]:
        baseline = format_value(self.baseline, self.unit)
        if self.baseline_name and self.baseline is not None:
            baseline = f"{baseline} ({self.baseline_name})"
        ratio = "" if self.ratio is None else f"{self.ratio:.2f}x"
        verdict = {None: "-", True: "pass", False: "FAIL"}[self.passed]
        return (
            self.name,
            self.metric,
            format_value(self.ours, self.unit),
            baseline,
            ratio,
            self.target,
            verdict,
        )


def format_value(value: float | None, unit: str = "") -> str:
    """Three significant digits are all a shared machine can vouch for."""
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if isinstance(value, int) or magnitude >= 100:
        text = f"{value:,.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    elif magnitude >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".rstrip()


def format_table(rows: Sequence[Row]) -> str:
    """A plain-text table whose columns are as wide as their widest cell."""
    grid = [COLUMNS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in grid) for i in range(len(COLUMNS))]

    def join(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([join(grid[0]), rule, *(join(line) for line in grid[1:])])


def format_markdown(rows: Sequence[Row]) -> str:
    """A GitHub-flavoured Markdown table; pipes inside cells are escaped."""
    header = "| " + " | ".join(COLUMNS) + " |"
    rule = "|" + "|".join(" --- " for _ in COLUMNS) + "|"
    body = [
        "| " + " | ".join(cell.replace("|", "\\|") for cell in row.cells()) + " |" for row in rows
    ]
    return "\n".join([header, rule, *body])
