"""``codegen check``: drift between spec/ and generated/ fails and says why, on a repository copy.

Each test runs ``python -m codegen --root <copy> check`` as a subprocess on a copy of spec/,
codegen/, generated/ and pyproject.toml, so the real checkout is never touched.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from _codegen_support import run_codegen

HAND_EDITED = [
    "sora2_api/models/input_.py",
    "sora2_models/__init__.py",
]


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def test_pristine_copy_passes(repo: Path) -> None:
    """An untouched copy has no drift: exit 0."""
    proc = run_codegen(repo, "check")
    assert proc.returncode == 0, proc.stderr
    assert "matches" in proc.stdout


@pytest.mark.parametrize("relpath", HAND_EDITED)
def test_hand_edit_is_named(repo: Path, relpath: str) -> None:
    """A hand edit under generated/ fails, naming the file and saying it was edited by hand."""
    _append(repo / "generated" / relpath, "\n# a quick fix\n")
    proc = run_codegen(repo, "check")
    assert proc.returncode == 1
    assert f"differs: generated/{relpath}" in proc.stderr
    assert "edited by hand" in proc.stderr
    assert "spec changed" not in proc.stderr


def test_extra_file_is_named(repo: Path) -> None:
    """A file the generators do not produce is reported as such."""
    (repo / "generated" / "sora2_api" / "patch.py").write_text("X = 1\n", encoding="utf-8")
    proc = run_codegen(repo, "check")
    assert proc.returncode == 1
    assert "not produced by the generators: generated/sora2_api/patch.py" in proc.stderr


def test_spec_edit_without_regeneration(repo: Path) -> None:
    """A spec edit that was not regenerated fails, saying the spec changed and what differs."""
    spec = repo / "spec" / "sora2.openapi.yaml"
    text = spec.read_text(encoding="utf-8")
    edited = text.replace("summary: Monitor request status", "summary: Poll a request's state")
    assert edited != text
    spec.write_text(edited, encoding="utf-8")
    proc = run_codegen(repo, "check")
    assert proc.returncode == 1
    assert "spec changed" in proc.stderr
    assert "differs: generated/sora2_api/api/requests/status.py" in proc.stderr
