"""Fixtures for the codegen tests: the real spec as a dict, and repository copies to break."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from _codegen_support import copy_repo, spec_document


@pytest.fixture
def spec() -> dict[str, Any]:
    """A deep copy of the working tree's spec, for a test to edit."""
    return spec_document()


@pytest.fixture(scope="module")
def pristine_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of spec/, codegen/, generated/ and pyproject.toml per module; never edited."""
    return copy_repo(tmp_path_factory.mktemp("pristine") / "repo")


@pytest.fixture
def repo(pristine_repo: Path, tmp_path: Path) -> Path:
    """A copy of the pipeline's part of the repository that a test may edit."""
    target = tmp_path / "repo"
    shutil.copytree(pristine_repo, target)
    return target
