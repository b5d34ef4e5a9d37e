"""``python -m benchmarks``: run the benchmarks, print one table, optionally record it."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from ._proc import REPO_ROOT
from ._runner import BENCHMARKS, render_markdown, run_benchmarks, select, write_markdown
from ._table import format_table


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Benchmarks of sora2 against the baselines a user would pick instead.",
    )
    parser.add_argument(
        "-k",
        dest="patterns",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run only benchmarks whose name contains NAME (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes: checks the code runs; numbers mean nothing",
    )
    parser.add_argument(
        "--write",
        nargs="?",
        const=REPO_ROOT / "BENCHMARKS.md",
        type=Path,
        metavar="PATH",
        help="record the run in PATH (default: BENCHMARKS.md of the repository)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a target is missed, not only on a crash"
    )
    parser.add_argument(
        "--scale-jobs",
        type=_sizes,
        metavar="N[,N...]",
        help="job counts of the scale benchmark (default 1000), e.g. 1000,10000",
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return parser


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of job counts: {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"job counts must be >= 1: {text!r}")
    return sizes


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.list:
        print("\n".join(BENCHMARKS))
        return 0
    if args.scale_jobs:
        from .bench_scale import set_sizes

        set_sizes(args.scale_jobs)
    names = select(args.patterns)
    if not names:
        print(f"no benchmark matches {args.patterns}; try --list", file=sys.stderr)
        return 2
    run = run_benchmarks(
        names, quick=args.quick, progress=lambda text: print(text, file=sys.stderr, flush=True)
    )
    print(format_table(run.rows))
    for name, error in run.errors.items():
        print(f"{name}: did not run: {error}")
    for row in run.rows:
        if row.note:
            print(f"note: {row.name}: {row.note}")
    for notice in run.notices:
        print(f"note: {notice}")
    if args.write is not None:
        command = shlex.join(
            ["python", "-m", "benchmarks", *(argv if argv is not None else sys.argv[1:])]
        )
        write_markdown(args.write, render_markdown(run, command))
        print(f"recorded in {args.write}")
    if run.errors:
        return 1
    return 1 if args.strict and run.missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
