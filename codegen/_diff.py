"""``python -m codegen diff OLD [NEW]``: what a spec change means for clients and for servers.

OLD and NEW are spec files or git refs (``HEAD~1``, ``v1.2.0``, ``main``; ``REF:path`` for
another file); NEW defaults to the working tree's spec. The comparison is hand-written over the
parsed documents (``codegen._compare``) because oasdiff, the usual tool, is a Go binary that no
package registry reachable here ships, knows nothing of our generated client, and rates an added
response enum value as a mere warning.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from ._compare import Change, compare_documents
from ._paths import SPEC_RELPATH, Layout

__all__ = [
    "FAIL_ON_CHOICES",
    "Bump",
    "DiffError",
    "SpecDiff",
    "SpecVersion",
    "diff_versions",
    "git_show",
    "load_version",
    "run_diff",
]

Bump = Literal["major", "minor", "patch", "none"]
FailOn = Literal["never", "breaking", "client-breaking", "server-breaking"]
FAIL_ON_CHOICES: tuple[FailOn, ...] = ("never", "breaking", "client-breaking", "server-breaking")
EXIT_USAGE = 2
_SEMVER = re.compile(r"(\d+)\.(\d+)\.(\d+)")


class DiffError(Exception):
    """A version could not be read: not a file, not a git ref, or not an OpenAPI document."""


@dataclass(frozen=True)
class SpecVersion:
    """One side of a diff: where it came from and the parsed document."""

    label: str
    document: dict[str, Any]

    @property
    def version(self) -> str | None:
        info = self.document.get("info")
        value = info.get("version") if isinstance(info, dict) else None
        return str(value) if value is not None else None


def _parse(text: str, label: str) -> SpecVersion:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DiffError(f"{label}: not YAML or JSON: {exc}") from exc
    if not isinstance(document, dict) or "paths" not in document:
        raise DiffError(f"{label}: not an OpenAPI document")
    return SpecVersion(label, document)


def git_show(root: Path, ref: str) -> str:
    """The text of ``REF:path`` (the spec's path when ``ref`` names no file) at ``root``."""
    # "./" makes the path relative to the root, which need not be the top of the repository.
    target = ref if ":" in ref else f"{ref}:./{SPEC_RELPATH.as_posix()}"
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "show", target],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise DiffError(f"{ref}: git is not available: {exc}") from exc
    if proc.returncode != 0:
        reason = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "git failed"
        raise DiffError(f"{ref}: neither a file nor a git ref holding {target}: {reason}")
    return proc.stdout


def load_version(layout: Layout, where: str | None) -> SpecVersion:
    """A spec from a file, a git ref, or (``None``) the working tree of ``layout``."""
    if where is None:
        path = layout.spec
        if not path.is_file():
            raise DiffError(f"{path}: no spec in the working tree")
        return _parse(path.read_text(encoding="utf-8"), "working tree")
    path = Path(where)
    if path.is_file():
        return _parse(path.read_text(encoding="utf-8"), where)
    return _parse(git_show(layout.root, where), where)


@dataclass(frozen=True)
class SpecDiff:
    """The classified changes between two versions and what they mean for the version number."""

    old: SpecVersion
    new: SpecVersion
    changes: tuple[Change, ...]

    @property
    def breaks_clients(self) -> list[Change]:
        return [c for c in self.changes if c.breaks_clients]

    @property
    def breaks_servers(self) -> list[Change]:
        return [c for c in self.changes if c.breaks_servers]

    @property
    def bump(self) -> Bump:
        """Major when a client built from OLD may fail; minor for any other change in meaning
        (including one that only old servers, such as the emulator, would fail); patch for
        documentation alone."""
        if self.breaks_clients:
            return "major"
        if any(not c.documentation_only for c in self.changes):
            return "minor"
        return "patch" if self.changes else "none"

    @property
    def next_version(self) -> str | None:
        """OLD's ``info.version`` bumped, when it is ``X.Y.Z``."""
        found = _SEMVER.fullmatch(self.old.version or "")
        if not found:
            return None
        major, minor, patch = (int(part) for part in found.groups())
        return {
            "major": f"{major + 1}.0.0",
            "minor": f"{major}.{minor + 1}.0",
            "patch": f"{major}.{minor}.{patch + 1}",
            "none": f"{major}.{minor}.{patch}",
        }[self.bump]

    def fails(self, fail_on: str) -> bool:
        if fail_on == "breaking":
            return bool(self.breaks_clients or self.breaks_servers)
        if fail_on == "client-breaking":
            return bool(self.breaks_clients)
        if fail_on == "server-breaking":
            return bool(self.breaks_servers)
        return False

    def groups(self) -> dict[str, list[Change]]:
        """Changes by operation (``"POST /path (operationId)"``), the document's last."""
        grouped: dict[str, list[Change]] = {}
        for change in self.changes:
            if change.operation is None:
                title = "Document"
            elif change.operation_id:
                title = f"{change.operation} ({change.operation_id})"
            else:
                title = change.operation
            grouped.setdefault(title, []).append(change)
        if "Document" in grouped:
            grouped["Document"] = grouped.pop("Document")
        return grouped

    def to_json(self) -> dict[str, Any]:
        return {
            "old": {"source": self.old.label, "version": self.old.version},
            "new": {"source": self.new.label, "version": self.new.version},
            "bump": self.bump,
            "next_version": self.next_version,
            "summary": {
                "changes": len(self.changes),
                "breaking_for_clients": len(self.breaks_clients),
                "breaking_for_servers": len(self.breaks_servers),
            },
            "changes": [c.to_json() for c in self.changes],
        }

    def report(self) -> str:
        return "\n".join(_report_lines(self))


def _tag(change: Change) -> str:
    if change.breaks_clients and change.breaks_servers:
        return "BREAKING clients+servers"
    if change.breaks_clients:
        return "BREAKING clients"
    if change.breaks_servers:
        return "BREAKING servers"
    return "docs" if change.documentation_only else "compatible"


def _report_lines(diff: SpecDiff) -> list[str]:
    def side(version: SpecVersion) -> str:
        return f"{version.label} ({version.version})" if version.version else version.label

    lines = [f"Spec changes from {side(diff.old)} to {side(diff.new)}"]
    if not diff.changes:
        return [*lines, "No changes."]
    bump = diff.bump + (f" -> {diff.next_version}" if diff.next_version else "")
    lines.append(f"Recommended version bump: {bump}")
    lines.append(
        f"{len(diff.changes)} changes; breaking for clients built from the old spec: "
        f"{len(diff.breaks_clients)}; for servers built from it (the emulator, mocks): "
        f"{len(diff.breaks_servers)}"
    )
    width = max(len(_tag(c)) for c in diff.changes)
    for title, changes in diff.groups().items():
        lines += ["", title]
        for change in changes:
            lines.append(f"  {_tag(change):<{width}}  {change.location}: {change.message}")
            if change.generated_client:
                lines.append(f"  {'':<{width}}  sora2_api: {change.generated_client}")
    return lines


def diff_versions(old: SpecVersion, new: SpecVersion) -> SpecDiff:
    return SpecDiff(old, new, tuple(compare_documents(old.document, new.document)))


def run_diff(
    layout: Layout, old: str, new: str | None, *, as_json: bool = False, fail_on: str = "never"
) -> int:
    """The ``diff`` command: the report (or JSON); 1 when ``fail_on`` is met, 2 on bad input."""
    try:
        result = diff_versions(load_version(layout, old), load_version(layout, new))
    except DiffError as exc:
        print(f"diff: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if as_json:
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False, default=str))
    else:
        print(result.report())
    return 1 if result.fails(fail_on) else 0
