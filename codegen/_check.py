"""Drift detection: does ``generated/`` still match what the spec and config generate?"""

from __future__ import annotations

import filecmp
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ._generate import generate_into, spec_sha256
from ._paths import STAMP_NAME, Layout

__all__ = ["DriftReport", "check"]

IGNORED_PARTS = {"__pycache__", ".mypy_cache", ".ruff_cache"}


@dataclass
class DriftReport:
    """What differs between the committed output and a fresh generation."""

    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    spec_changed: bool = False

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.extra)

    def lines(self) -> list[str]:
        if self.ok:
            return ["generated/ matches spec/ and codegen/config/"]
        cause = (
            "the spec changed since generated/ was last written: run `nox -s generate`"
            if self.spec_changed
            else "the spec is unchanged, so generated/ was edited by hand: run `nox -s generate`"
            " to restore it, and change the spec or codegen/config/ instead"
        )
        out = [f"drift: {cause}"]
        out += [f"  differs: generated/{p}" for p in self.changed]
        out += [f"  missing from generated/: {p}" for p in self.missing]
        out += [f"  not produced by the generators: generated/{p}" for p in self.extra]
        return out


def _files(base: Path) -> set[str]:
    return {
        p.relative_to(base).as_posix()
        for p in base.rglob("*")
        if p.is_file() and not IGNORED_PARTS.intersection(p.relative_to(base).parts)
    }


def _recorded_spec_sha(generated: Path) -> str | None:
    try:
        stamp = json.loads((generated / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = stamp.get("spec_sha256") if isinstance(stamp, dict) else None
    return value if isinstance(value, str) else None


def check(layout: Layout) -> DriftReport:
    committed = layout.generated
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch) / "generated"
        generate_into(layout, fresh)
        want, have = _files(fresh), _files(committed) if committed.exists() else set()
        report = DriftReport(
            missing=sorted(want - have),
            extra=sorted(have - want),
            changed=sorted(
                p for p in want & have if not filecmp.cmp(fresh / p, committed / p, shallow=False)
            ),
        )
    report.spec_changed = _recorded_spec_sha(committed) != spec_sha256(layout.spec)
    return report
