"""``python -m codegen changes`` (``nox -s changes``): draft a CHANGELOG entry from the spec diff.

The working tree's spec is compared with the last release tag (``v*``), or with ``main`` when
no release is tagged yet, or with ``HEAD`` when there is no ``main`` either. The entry lands in
``CHANGELOG.md`` between two markers, so running the command again replaces the draft instead of
stacking a second one; a maintainer edits it into release notes by hand.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ._compare import Change
from ._diff import DiffError, SpecDiff, diff_versions, load_version
from ._paths import Layout

__all__ = ["CHANGELOG_NAME", "draft_entry", "release_base", "run_changes", "write_entry"]

CHANGELOG_NAME = "CHANGELOG.md"
BEGIN = "<!-- codegen changes: draft -->"
END = "<!-- codegen changes: end of draft -->"
HEADER = (
    "# Changelog\n\n"
    "All notable changes to sora2. Entries are drafted from the spec diff by `nox -s changes`"
    " and edited by hand.\n"
)


def _git(root: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def release_base(root: Path) -> str:
    """The ref to compare with: the last ``v*`` tag, else ``main``, else ``HEAD``."""
    tag = _git(root, "describe", "--tags", "--abbrev=0", "--match", "v*")
    if tag:
        return tag
    if _git(root, "rev-parse", "--verify", "--quiet", "refs/heads/main") is not None:
        return "main"
    return "HEAD"


def _item(change: Change, *, also_servers: bool = False) -> str:
    scope = f"`{change.operation}` ({change.operation_id})" if change.operation else "Document"
    line = f"- {scope}: {change.location}: {change.message}"
    if also_servers:
        line += " (breaks old servers too)"
    if change.generated_client:
        line += f". sora2_api: {change.generated_client}"
    return line


def draft_entry(diff: SpecDiff, base: str) -> str:
    """The Markdown of one draft entry, markers included."""
    old_v, new_v = diff.old.version or "?", diff.new.version or "?"
    lines = [BEGIN, f"## Unreleased (draft): spec {old_v} -> {new_v}", ""]
    lines.append(
        f"Drafted by `python -m codegen changes` from the spec changes since `{base}`. "
        f"Recommended version bump: **{diff.bump}**"
        + (f" ({diff.next_version})" if diff.next_version else "")
        + "."
    )
    if diff.next_version and new_v == old_v and diff.bump != "none":
        lines.append(f"The spec's `info.version` is still {new_v}: set it to {diff.next_version}.")
    sections: list[tuple[str, list[str]]] = [
        (
            "Breaking for clients",
            [_item(c, also_servers=c.breaks_servers) for c in diff.breaks_clients],
        ),
        (
            "Breaking for servers built from the old spec (regenerate the emulator and mocks)",
            [_item(c) for c in diff.changes if c.breaks_servers and not c.breaks_clients],
        ),
        (
            "Compatible",
            [_item(c) for c in diff.changes if not (c.breaking or c.documentation_only)],
        ),
        ("Documentation", [_item(c) for c in diff.changes if c.documentation_only]),
    ]
    for title, items in sections:
        if items:
            lines += ["", f"### {title}", "", *items]
    lines.append(END)
    return "\n".join(lines) + "\n"


def write_entry(changelog: Path, entry: str) -> None:
    """Put ``entry`` in place of an earlier draft, else above the newest entry, else at the end."""
    text = changelog.read_text(encoding="utf-8") if changelog.exists() else HEADER
    start, end = text.find(BEGIN), text.find(END)
    if start != -1 and end > start:
        text = text[:start] + entry + text[end + len(END) :].lstrip("\n")
    else:
        at = text.find("\n## ")
        if at == -1:
            text = text.rstrip("\n") + "\n\n" + entry
        else:
            text = text[: at + 1] + entry + "\n" + text[at + 1 :]
    changelog.write_text(text, encoding="utf-8")


def run_changes(
    layout: Layout, *, base: str | None = None, changelog: Path | None = None, dry_run: bool = False
) -> int:
    """The ``changes`` command; 2 when a version cannot be read."""
    ref = base or release_base(layout.root)
    try:
        diff = diff_versions(load_version(layout, ref), load_version(layout, None))
    except DiffError as exc:
        print(f"changes: {exc}", file=sys.stderr)
        return 2
    target = changelog or layout.root / CHANGELOG_NAME
    if not diff.changes:
        print(f"changes: the spec is unchanged since {ref}; {target.name} left as it is")
        return 0
    entry = draft_entry(diff, ref)
    if dry_run:
        print(entry, end="")
        return 0
    write_entry(target, entry)
    print(
        f"changes: drafted an entry in {target} from {len(diff.changes)} spec changes since "
        f"{ref} (recommended bump: {diff.bump})"
    )
    return 0
