"""Fixtures of the reliability tests: an isolated environment, and no test reads a real token.

Servers bind to 127.0.0.1 only; nothing here touches the internet.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated(isolated: Path) -> None:
    """Every test here runs isolated (tests/conftest.py)."""
