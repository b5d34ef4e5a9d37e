"""Benchmarks for sora2, each measured against the baseline a user would pick instead.

Run them all with ``python -m benchmarks`` (what ``nox -s bench`` does); see ``BENCHMARKS.md``.
Absolute times on a shared machine are noise, so every comparison is measured in the same run,
interleaved, as the median over repeated rounds, and the result is a ratio.
"""

from __future__ import annotations

__all__: list[str] = []
