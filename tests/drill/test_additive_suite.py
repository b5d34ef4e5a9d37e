"""Tests follow the spec (issue 11, item 7), on a lighter subset: after an additive change and a
regeneration, the tests most about inputs, outputs and states pass unchanged.

A copy of the repository, tests included, gets ``additive_bundle()`` (new optional inputs with
and without defaults, a new value of every request enum, a new output field, a new state, a new
error code), is regenerated, and runs ``SUBSET`` with its own code and tests. The whole suite was
checked the same way by hand (docs/schema-changes.md, "How the pipeline is tested"); this keeps
the cheap part of that check in CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _mutations import PARTS, additive_bundle, apply_all, copy_repo

pytestmark = pytest.mark.slow

SUBSET = (
    "tests/client/test_inputs.py",
    "tests/client/test_outputs.py",
    "tests/client/test_states.py",
    "tests/cli/test_common.py",
    "tests/cli/test_jobs.py",
    "tests/cli/test_outputs.py",
    "tests/emulator/test_validation.py",
    "tests/emulator/test_outputs.py",
    "tests/contract/test_contract.py",
)
"""The test files that read the field set, the enums, the outputs and the states the most."""


def test_the_subset_passes_unchanged_after_an_additive_change(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The subset passes on a copy whose spec gained the additive bundle and was regenerated."""
    root = copy_repo(tmp_path_factory.mktemp("additive") / "repo", (*PARTS, "tests"))
    facts = apply_all(root, additive_bundle())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SORA2_", "RUNCOMFY_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(root), str(root / "generated")])

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )

    generated = run("-m", "codegen", "--root", str(root), "generate")
    assert 0 == generated.returncode, generated.stderr
    assert facts["integer_plain"]["name"] in (root / "generated").joinpath(
        "sora2_models", "typed_dicts.py"
    ).read_text(encoding="utf-8")
    basetemp = Path(root) / ".pytest-tmp"  # apart from this run's own temporary directories
    tested = run("-m", "pytest", "-q", "-p", "no:randomly", "--basetemp", str(basetemp), *SUBSET)
    assert 0 == tested.returncode, tested.stdout[-6000:]
    assert " passed" in tested.stdout
