"""Batches of jobs: ``Client.batch`` / ``AsyncClient.batch`` and ``sora2 batch``.

A private package: the public names (``BatchSummary``, ``BatchRow``, ``BatchProgress``) are
re-exported from ``sora2``. Everything that touches the parts of the client still changing
(input validation, submit, outputs, download) goes through ``_compat``.
"""

from __future__ import annotations

from ._manifest import MANIFEST_NAME, ROW_STATES, BatchRow, Manifest
from ._rows import Plan, Row, load_rows, make_plan
from ._runner import run_batch
from ._summary import BatchProgress, BatchSummary

__all__ = [
    "MANIFEST_NAME",
    "ROW_STATES",
    "BatchProgress",
    "BatchRow",
    "BatchSummary",
    "Manifest",
    "Plan",
    "Row",
    "load_rows",
    "make_plan",
    "run_batch",
]
