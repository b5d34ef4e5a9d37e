"""Helpers of the reliability tests: a distinctive token, a fake clock, spec-shaped answers, and
a way to report counts that shows in ``pytest -rA`` and in the JUnit XML."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from _fakes import FakeClock

from sora2._inputs import input_fields
from sora2._spec import operation

__all__ = [
    "API_URL",
    "TOKEN",
    "FakeClock",
    "choices",
    "leftovers",
    "report",
    "submit_answer",
]

TOKEN = "sk-reliability-7c3e91a0d4-do-not-leak"
"""Distinctive enough that finding it anywhere (a log, a file, a header) is a leak."""
API_URL = "https://api.sora2.test"
"""The API's origin in MockTransport tests (``.test`` never resolves; nothing is sent)."""


def choices(name: str) -> tuple[Any, ...]:
    """The allowed values of a submit field, from the generated model (never written here)."""
    found = input_fields()[name].choices
    assert found is not None, name
    return found


def submit_answer(request_id: str, base: str = API_URL) -> dict[str, str]:
    """A spec-shaped submit answer whose URLs point at ``base``."""
    urls = {
        f"{name}_url": base + operation(name).url_path(request_id=request_id)
        for name in ("status", "result", "cancel")
    }
    return {"request_id": request_id, **urls}


def leftovers(directory: Path) -> list[str]:
    """Temporary download files left in ``directory`` (hidden ``.part`` files)."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


def report(
    record_property: Callable[[str, object], None], title: str, counts: Mapping[str, Any]
) -> None:
    """Print ``counts`` (shown by ``pytest -rA`` or ``-s``) and attach them to the JUnit XML."""
    print(f"\n== {title} ==")
    for name, value in counts.items():
        shown = json.dumps(value, sort_keys=True, default=str)
        print(f"{name}: {shown}")
        record_property(name, shown)
