"""Every benchmark runs at a tiny size, so none can rot; no numbers are judged here."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmarks.__main__ import main
from benchmarks._runner import BEGIN_MARKER, BENCHMARKS, run_benchmarks

BASELINES = {"calls": "openai", "import": "openai", "contract": "openapi_core"}
"""The baseline package a benchmark compares against (the ``bench`` extra installs them)."""


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_benchmark_runs_in_quick_mode(name: str) -> None:
    """The benchmark finishes without error and yields rows whose own number is measured."""
    if name in BASELINES:
        pytest.importorskip(BASELINES[name], reason="the bench extra is not installed")
    if name == "workers":
        from _postgres import HOW_TO_RUN, find_bindir

        if find_bindir() is None:
            pytest.skip(HOW_TO_RUN)
        pytest.importorskip("psycopg", reason="psycopg is missing: pip install 'sora2[postgres]'")
    result = run_benchmarks([name], quick=True)
    assert {} == result.errors
    assert result.rows
    for row in result.rows:
        assert row.ours is not None and math.isfinite(row.ours) and row.ours >= 0, row


def test_command_line_prints_and_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m benchmarks -k polling --quick --write PATH` prints the table and records it."""
    path = tmp_path / "BENCHMARKS.md"
    assert 0 == main(["-k", "polling", "--quick", "--write", str(path)])
    out = capsys.readouterr().out
    assert "status polls per job" in out
    text = path.read_text()
    assert BEGIN_MARKER in text and "status polls per job" in text
    assert "quick mode" in text
