"""Helpers of the batch tests: rows built from the spec's own choices, and manifest readers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from _fakes import FakeClock as FakeClock  # re-exported for the tests here

from sora2._inputs import duration_property, input_fields, size_property
from sora2.emulator import Emulator

TOKEN = "sk-batch-test-7c2e1f-secret"
BASE_URL = "http://localhost"


def choices(name: str | None) -> tuple[Any, ...]:
    assert name is not None
    found = input_fields()[name].choices
    assert found is not None
    return found


def sizes() -> tuple[Any, ...]:
    """Every size the spec allows."""
    return choices(size_property())


def durations() -> tuple[Any, ...]:
    """Every duration the spec allows, shortest first."""
    return tuple(sorted(choices(duration_property())))


SIZE = size_property()
SECONDS = duration_property()


def rows(count: int, *, prefix: str = "clip", named: bool = False) -> list[dict[str, Any]]:
    """``count`` distinct valid rows, cycling through every size and duration of the spec."""
    found: list[dict[str, Any]] = []
    for index in range(count):
        assert SIZE is not None and SECONDS is not None
        row: dict[str, Any] = {
            "prompt": f"{prefix} {index}",
            SIZE: sizes()[index % len(sizes())],
            SECONDS: durations()[index % len(durations())],
        }
        if named:
            row["name"] = f"{prefix}-{index}"
        found.append(row)
    return found


def write_jsonl(path: Path, items: list[Mapping[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    return path


def manifest(directory: Path) -> list[dict[str, Any]]:
    text = (directory / "manifest.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def submissions(emulator: Emulator) -> int:
    """Jobs the emulator created (accepted submissions)."""
    return sum(emulator.stats.submissions.values())


def assert_no_duplicates(emulator: Emulator, directory: Path) -> None:
    """No prompt was submitted twice, and every job the emulator made is in the manifest."""
    counts = emulator.stats.submissions
    assert [] == [prompt for prompt, count in counts.items() if count > 1]
    lines = manifest(directory)
    ids = [line["request_id"] for line in lines if line["request_id"]]
    ids += [old for line in lines for old in line["previous_request_ids"]]
    assert len(ids) == len(set(ids))
    assert sum(counts.values()) == len(ids)
    for request_id in ids:
        assert emulator.job(request_id) is not None
