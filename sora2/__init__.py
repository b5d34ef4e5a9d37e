"""sora2: a spec-driven client for RunComfy's OpenAI Sora 2 family on its Model API.

Importing ``sora2`` is cheap: the clients, the journal, the emulator and the contract checker
are imported on first use (:func:`_lazy_names`, which ``sora2.emulator`` and ``sora2.contract``
use too).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._exceptions import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    ContractViolationError,
    CostLimitError,
    DownloadError,
    DownloadWriteError,
    InsufficientBalanceError,
    InternalServerError,
    InvalidInputError,
    JobFailedError,
    JournalError,
    JournalUnavailableError,
    MissingExtraError,
    NoOutputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    Sora2Error,
    SubmissionUnknownError,
    TransientDownloadError,
    UnprocessableEntityError,
    WaitTimeoutError,
)

__version__ = "0.1.0"
"""The package version (the build reads it here too: ``[tool.hatch.version]``)."""

if TYPE_CHECKING:
    from ._async_client import AsyncClient
    from ._batch import BatchProgress, BatchRow, BatchSummary
    from ._client import Client
    from ._hosted import HostedFileVerdict, check_hosted_file
    from ._journal import Journal
    from ._journal_glue import JobRecord, JournalStore
    from ._journal_pg import PostgresJournal
    from ._options import CostEstimate
    from ._spec import default_model, known_models
    from ._types import NOT_GIVEN, JobResult, JobStatus, NotGiven, OutputFile, Submission

__all__ = [
    "NOT_GIVEN",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "BatchProgress",
    "BatchRow",
    "BatchSummary",
    "Client",
    "ConfigurationError",
    "ConflictError",
    "ContractViolationError",
    "CostEstimate",
    "CostLimitError",
    "DownloadError",
    "DownloadWriteError",
    "HostedFileVerdict",
    "InsufficientBalanceError",
    "InternalServerError",
    "InvalidInputError",
    "JobFailedError",
    "JobRecord",
    "JobResult",
    "JobStatus",
    "Journal",
    "JournalError",
    "JournalStore",
    "JournalUnavailableError",
    "MissingExtraError",
    "NoOutputError",
    "NotFoundError",
    "NotGiven",
    "OutputFile",
    "PermissionDeniedError",
    "PostgresJournal",
    "RateLimitError",
    "Sora2Error",
    "Submission",
    "SubmissionUnknownError",
    "TransientDownloadError",
    "UnprocessableEntityError",
    "WaitTimeoutError",
    "__version__",
    "check_hosted_file",
    "default_model",
    "known_models",
]

_LAZY = {
    "BatchProgress": "._batch",
    "BatchRow": "._batch",
    "BatchSummary": "._batch",
    "Client": "._client",
    "AsyncClient": "._async_client",
    "Journal": "._journal",
    "JobRecord": "._journal_glue",
    "JournalStore": "._journal_glue",
    "PostgresJournal": "._journal_pg",
    "JobStatus": "._types",
    "JobResult": "._types",
    "OutputFile": "._types",
    "Submission": "._types",
    "NOT_GIVEN": "._types",
    "NotGiven": "._types",
    "check_hosted_file": "._hosted",
    "CostEstimate": "._options",
    "default_model": "._spec",
    "known_models": "._spec",
    "HostedFileVerdict": "._hosted",
}


def _lazy_names(
    package: str, lazy: Mapping[str, str], public: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module ``__getattr__`` importing ``lazy[name]`` (relative to ``package``) on first use,
    and the matching ``__dir__``."""

    def __getattr__(name: str) -> Any:
        module = lazy.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(public)

    return __getattr__, __dir__


__getattr__, __dir__ = _lazy_names(__name__, _LAZY, __all__)
