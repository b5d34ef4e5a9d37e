"""``python -m codegen``: generate, check for drift, lint, diff, draft changes, sync upstream."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ._paths import Layout, default_root

__all__ = ["main", "missing_extra_message", "run"]

EXIT_MISSING_EXTRA = 2
"""The generators or their libraries are not installed: nothing was run."""


def missing_extra_message(module: str | None, root: Path, cwd: Path | None = None) -> str:
    """One line for a run without the ``codegen`` extra: what is missing, and the pip command
    that installs the extra into this clone (codegen runs from a clone, never from a wheel)."""
    folder = "." if root.resolve() == (cwd or Path.cwd()).resolve() else str(root)
    missing = f" (no module named {module!r})" if module else ""
    return (
        f"python -m codegen needs the [codegen] extra{missing}; install it with: "
        f"python -m pip install -e {shlex.quote(f'{folder}[codegen]')}"
    )


def run(argv: Sequence[str] | None = None) -> int:
    """``main``, with a missing third-party module (the codegen extra not installed) reported
    as one line on stderr instead of a traceback."""
    try:
        return main(argv)
    except ModuleNotFoundError as exc:
        top = (exc.name or "").partition(".")[0]
        if not top or top in ("codegen", "sora2"):
            raise
        print(missing_extra_message(exc.name, default_root()), file=sys.stderr)
        return EXIT_MISSING_EXTRA


def _parser() -> argparse.ArgumentParser:
    from ._diff import FAIL_ON_CHOICES

    parser = argparse.ArgumentParser(prog="python -m codegen", description=__doc__)
    parser.add_argument(
        "--root", type=Path, default=None, help="repository root (default: this checkout)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("generate", help="regenerate generated/ from spec/")
    sub.add_parser("check", help="fail if generated/ does not match spec/ (drift)")
    sub.add_parser("lint", help="validate the spec, its examples and the house rules")
    diff = sub.add_parser("diff", help="classify the changes between two versions of the spec")
    diff.add_argument("old", help="a spec file, or a git ref such as HEAD~1 or v1.0.0")
    diff.add_argument(
        "new", nargs="?", default=None, help="a spec file or git ref (default: the working tree)"
    )
    diff.add_argument("--json", action="store_true", help="print JSON instead of a report")
    diff.add_argument(
        "--fail-on",
        choices=FAIL_ON_CHOICES,
        default="never",
        help="exit 1 on a change breaking for clients or servers, or for one side only"
        " (default: never)",
    )
    changes = sub.add_parser(
        "changes", help="draft a CHANGELOG.md entry from the spec changes since the last release"
    )
    changes.add_argument(
        "--base", default=None, help="compare with this ref (default: last v* tag, else main)"
    )
    changes.add_argument(
        "--changelog", type=Path, default=None, help="file to write (default: <root>/CHANGELOG.md)"
    )
    changes.add_argument(
        "--dry-run", action="store_true", help="print the entry instead of writing it"
    )
    sync = sub.add_parser(
        "sync",
        help="merge RunComfy's published input/output schema into the spec",
        description="Merge the model's published input schema and output object into the spec"
        " and report the normalisations and the `codegen diff` of the result. Without --check,"
        " --write or --generate nothing is written.",
    )
    sync.add_argument(
        "source",
        nargs="?",
        type=Path,
        default=None,
        help="the model's API page saved as text or HTML, a model document (JSON) or a bare"
        " input schema (JSON)",
    )
    sync.add_argument(
        "--live",
        metavar="MODEL_ID",
        default=None,
        help="unofficial: GET /v1/models/MODEL_ID from the service, with the token from"
        " RUNCOMFY_API_TOKEN, RUNCOMFY_TOKEN or YOUR_API_TOKEN",
    )
    sync.add_argument(
        "--all",
        dest="all_pages",
        action="store_true",
        help="every saved page of spec/upstream/pages.yaml, each into the model its page names",
    )
    sync.add_argument(
        "--base-url", default=None, help="the service for --live (default: the spec's server)"
    )
    mode = sync.add_mutually_exclusive_group()
    mode.add_argument(
        "--check",
        dest="mode",
        action="store_const",
        const="check",
        help="exit 1 if the upstream differs from the spec; write nothing",
    )
    mode.add_argument(
        "--write", dest="mode", action="store_const", const="write", help="write the spec"
    )
    mode.add_argument(
        "--generate",
        dest="mode",
        action="store_const",
        const="generate",
        help="write the spec, then regenerate generated/",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    layout = Layout((args.root or default_root()).resolve())
    if args.command == "generate":
        from ._generate import GeneratorError, generate

        started = time.perf_counter()
        try:
            target = generate(layout)
        except GeneratorError as exc:
            print(f"generate failed: {exc}", file=sys.stderr)
            return 1
        print(f"generated {target} in {time.perf_counter() - started:.1f}s")
        return 0
    if args.command == "check":
        from ._check import check
        from ._generate import GeneratorError

        try:
            report = check(layout)
        except GeneratorError as exc:
            print(f"check failed: {exc}", file=sys.stderr)
            return 1
        for line in report.lines():
            print(line, file=sys.stdout if report.ok else sys.stderr)
        return 0 if report.ok else 1
    if args.command == "lint":
        from ._lint import lint

        problems = lint(layout.spec)
        for line in problems:
            print(line, file=sys.stderr)
        if not problems:
            print(f"{layout.spec.relative_to(layout.root)}: no problems")
        return 1 if problems else 0
    if args.command == "diff":
        from ._diff import run_diff

        return run_diff(layout, args.old, args.new, as_json=args.json, fail_on=args.fail_on)
    if args.command == "changes":
        from ._changes import run_changes

        return run_changes(layout, base=args.base, changelog=args.changelog, dry_run=args.dry_run)
    if args.command == "sync":
        from ._sync import run_sync, run_sync_all

        given = [args.source is not None, args.live is not None, args.all_pages]
        if sum(given) != 1:
            print("sync: give exactly one of SOURCE, --live MODEL_ID and --all", file=sys.stderr)
            return 2
        if args.all_pages:
            return run_sync_all(layout, mode=args.mode or "report")
        return run_sync(
            layout,
            args.source,
            live=args.live,
            base_url=args.base_url,
            mode=args.mode or "report",
        )
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(run())
