"""The benchmarks package lives at the repository root, which pytest does not put on sys.path.

Every test here carries the ``bench`` marker: ``pytest -m "not bench"`` leaves them out (CI's
``nox`` runs them).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
_ROOT = str(_HERE.parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.resolve().is_relative_to(_HERE):
            item.add_marker(pytest.mark.bench)
