"""Import time of ``import sora2`` against ``import httpx`` and ``import openai``.

Each import runs in a fresh interpreter and times only the import statement, so interpreter
start-up (the same for all three) does not dilute the ratio. A warm-up round compiles bytecode.
"""

from __future__ import annotations

import subprocess
import sys
from functools import partial

from ._proc import child_env
from ._table import Row
from ._timing import interleaved, median

__all__ = ["run"]

TARGET_RATIO = 1.25
"""Issue 7: ``import sora2`` within 1.25x of ``import httpx``."""

_STATEMENTS = {
    "sora2": "import sora2",
    "httpx": "import httpx",
    "openai": "import openai",
    "sora2.Client": "import sora2; sora2.Client",
}
_CODE = "import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"


def _import_seconds(statement: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _CODE.format(statement=statement)],
        env=child_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> list[Row]:
    rounds = 2 if quick else 30
    candidates = {name: partial(_import_seconds, text) for name, text in _STATEMENTS.items()}
    for measure in candidates.values():
        measure()  # warm-up: write .pyc files, fill the page cache
    samples = interleaved(candidates, rounds)
    ms = {name: median(values) * 1000 for name, values in samples.items()}
    metric = f"import time, fresh process (median of {rounds})"
    sora2, httpx, openai = ms["sora2"], ms["httpx"], ms["openai"]
    return [
        Row(
            "import: sora2 vs httpx",
            metric,
            sora2,
            httpx,
            sora2 / httpx,
            target=f"<= {TARGET_RATIO}x httpx",
            passed=sora2 / httpx <= TARGET_RATIO,
            unit="ms",
            baseline_name="httpx",
        ),
        Row(
            "import: sora2 vs openai",
            metric,
            sora2,
            openai,
            sora2 / openai,
            unit="ms",
            baseline_name="openai",
        ),
        Row(
            "import: sora2.Client vs httpx",
            metric + "; first use of the client",
            ms["sora2.Client"],
            httpx,
            ms["sora2.Client"] / httpx,
            unit="ms",
            baseline_name="httpx",
        ),
    ]
