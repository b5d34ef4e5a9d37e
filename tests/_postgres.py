"""The tests' throwaway PostgreSQL server: the one the workers benchmark also starts
(benchmarks/_postgres.py), re-exported for tests/conftest.py."""

from __future__ import annotations

from benchmarks._postgres import HOW_TO_RUN, PostgresServer, find_bindir

__all__ = ["HOW_TO_RUN", "PostgresServer", "find_bindir"]
