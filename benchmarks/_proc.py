"""Child processes for benchmarks: so one measurement's imports, threads and memory stay its own.

A child runs ``python -m benchmarks.<module>`` with the repository on its path and reports one
JSON object as the last line of its standard output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["REPO_ROOT", "child_env", "python_command", "run_json_child"]

REPO_ROOT = Path(__file__).resolve().parent.parent


def child_env() -> dict[str, str]:
    """This environment with the repository first on ``PYTHONPATH``, so ``benchmarks`` imports."""
    env = dict(os.environ)
    paths = [str(REPO_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def python_command(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def run_json_child(module: str, *args: str, timeout: float) -> dict[str, Any]:
    """Run a benchmark child to completion and return the JSON object it printed last."""
    done = subprocess.run(
        python_command(module, *args),
        env=child_env(),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-20:]
        raise RuntimeError(f"{module} exited {done.returncode}:\n" + "\n".join(tail))
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"{module} printed nothing")
    result: dict[str, Any] = json.loads(lines[-1])
    return result
