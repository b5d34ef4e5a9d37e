"""Copies of this checkout, for the tests that regenerate or mutate one (codegen, the drill)."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_IGNORE = shutil.ignore_patterns("__pycache__", ".mypy_cache", ".ruff_cache", "*.pyc")


def copy_parts(target: Path, parts: tuple[str, ...]) -> Path:
    """Copy the named top-level parts of this checkout into ``target``; returns ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for part in parts:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, target / part, ignore=_IGNORE)
        else:
            shutil.copy2(source, target / part)
    return target
