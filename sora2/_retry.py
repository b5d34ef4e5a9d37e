"""When a failed request may be tried again, and how long to wait first, via ``stamina``.

Two policies, one rule: retry only what cannot cost the user twice.

* ``status``, ``result`` and ``cancel`` are idempotent: retried on connection errors and
  timeouts, on 429, 500, 502, 503 and 504, and on an answer that is not JSON at all (cut short
  in transit, or a proxy's HTML page), which is as transient as a 502.
* ``submit`` creates a paid job: retried only when the service provably did not take it (the
  connection was never established, or it answered 429 or 503). The client turns every
  ambiguous failure into ``SubmissionUnknownError`` before it gets here, and that is never
  retried.

Backoff is stamina's capped exponential with jitter; a Retry-After up to ``MAX_RETRY_AFTER``
replaces it. Tests switch the delays off with ``stamina.set_testing``.

Each scheduled retry is logged once, at INFO, on the ``sora2`` logger (silent unless logging
is configured). stamina's own instrumentation would also print a bare
``stamina.retry_scheduled`` warning: on the first retry, its hooks are wrapped so that retries
of sora2 (named ``sora2.<operation>``) go to the ``sora2`` logger only, while everyone
else's retries still reach the hooks they had.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from typing import Any, TypeVar

from ._exceptions import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    RateLimitError,
    SubmissionUnknownError,
    TransientDownloadError,
    parse_retry_after,
)
from ._options import (
    DEFAULT_MAX_RETRIES,
    INITIAL_RETRY_DELAY,
    MAX_RETRY_AFTER,
    MAX_RETRY_DELAY,
    RETRY_JITTER,
)
from ._transports import logger

__all__ = [
    "IDEMPOTENT_RETRY_STATUSES",
    "SUBMIT_RETRY_STATUSES",
    "RetryPolicy",
    "acall_with_retries",
    "aretry_failed",
    "call_with_retries",
    "retry_failed",
    "route_stamina_instrumentation",
]

T = TypeVar("T")

IDEMPOTENT_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
"""Answers worth retrying when a repeat cannot cost twice: status, result, cancel, download."""
SUBMIT_RETRY_STATUSES = frozenset({429, 503})
"""The only answers that prove a submit was not taken: rate limited, or service unavailable."""


@dataclass(frozen=True)
class RetryPolicy:
    """How many retries, and the backoff between them."""

    max_retries: int = DEFAULT_MAX_RETRIES
    initial_delay: float = INITIAL_RETRY_DELAY
    max_delay: float = MAX_RETRY_DELAY
    jitter: float = RETRY_JITTER
    max_retry_after: float = MAX_RETRY_AFTER

    def decide(self, exc: Exception, *, operation: str, submit: bool) -> bool | float:
        """False to give up; True for exponential backoff; a float for a Retry-After delay."""
        if isinstance(exc, SubmissionUnknownError):
            logger.debug("%s: not retrying, the submission may have been taken: %s", operation, exc)
            return False
        if isinstance(exc, APIStatusError):
            statuses = SUBMIT_RETRY_STATUSES if submit else IDEMPOTENT_RETRY_STATUSES
            if exc.status_code not in statuses:
                logger.debug("%s: not retrying status %s", operation, exc.status_code)
                return False
            retry_after = (
                exc.retry_after
                if isinstance(exc, RateLimitError) and exc.retry_after is not None
                else (parse_retry_after(exc.response.headers) if exc.response else None)
            )
            if retry_after is None:
                logger.debug("%s: status %s, retrying with backoff", operation, exc.status_code)
                return True
            if retry_after > self.max_retry_after:
                logger.debug(
                    "%s: status %s asks to wait %.1fs, over the %.1fs cap; not retrying",
                    operation,
                    exc.status_code,
                    retry_after,
                    self.max_retry_after,
                )
                return False
            logger.debug(
                "%s: status %s, retrying after Retry-After %.1fs",
                operation,
                exc.status_code,
                retry_after,
            )
            return retry_after
        if isinstance(exc, APIResponseValidationError):
            # Valid JSON of the wrong shape would come back the same: only garbage is retried.
            if submit or exc.response is None or _is_json(exc.response.content):
                return False
            logger.debug("%s: the answer is not JSON, retrying with backoff", operation)
            return True
        if isinstance(exc, TransientDownloadError):
            # Only the download's transient failures (connection, 429, 5xx, a short body).
            logger.debug("%s: %s, retrying", operation, exc)
            if exc.retry_after is not None and exc.retry_after <= self.max_retry_after:
                return exc.retry_after
            return True
        if isinstance(exc, APIConnectionError):
            # For submit, the client only lets through errors where nothing was sent.
            logger.debug("%s: %s, retrying with backoff", operation, type(exc).__name__)
            return True
        return False

    def on(self, operation: str, *, submit: bool) -> Callable[[Exception], bool | float]:
        """The stamina backoff hook for ``operation``."""
        return lambda exc: self.decide(exc, operation=operation, submit=submit)


def _is_json(content: bytes) -> bool:
    try:
        json.loads(content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False
    return True


_RETRY_NAME_PREFIX = "sora2."


_STAMINA_LOG_HOOKS = ("stamina.instrumentation._logging", "stamina.instrumentation._structlog")
"""Modules of stamina's own log hooks: the ones that print ``stamina.retry_scheduled``."""


class _RouteSora2Retries:
    """A stamina retry hook in front of the others: a retry of sora2 is logged on the
    ``sora2`` logger instead of by stamina's log hooks, and still reaches every other hook
    (Prometheus, the application's own); anyone else's retry reaches every hook, as before."""

    def __init__(self, hooks: tuple[Any, ...]) -> None:
        self.hooks = hooks

    def __call__(self, details: Any) -> AbstractContextManager[Any] | None:
        hooks = self.hooks
        if str(details.name).startswith(_RETRY_NAME_PREFIX):
            logger.info(
                "%s: retry %d in %.2fs after %s",
                details.name.removeprefix(_RETRY_NAME_PREFIX),
                details.retry_num,
                details.wait_for,
                type(details.caused_by).__name__,
            )
            hooks = tuple(
                hook
                for hook in hooks
                if not str(getattr(hook, "__module__", "")).startswith(_STAMINA_LOG_HOOKS)
            )
        stack = ExitStack()
        for hook in hooks:
            entered = hook(details)
            if entered is not None:
                stack.enter_context(entered)
        return stack


def route_stamina_instrumentation() -> None:
    """Put ``_RouteSora2Retries`` in front of stamina's hooks, once (again if replaced)."""
    from stamina.instrumentation import get_on_retry_hooks, set_on_retry_hooks

    hooks = get_on_retry_hooks()
    if any(isinstance(hook, _RouteSora2Retries) for hook in hooks):
        return
    set_on_retry_hooks([_RouteSora2Retries(tuple(hooks))])


def _retrying(policy: RetryPolicy, operation: str, submit: bool) -> Any:
    import stamina  # only once a first attempt has failed: most calls never need it

    route_stamina_instrumentation()
    return stamina.retry_context(
        policy.on(operation, submit=submit),
        attempts=policy.max_retries + 1,
        timeout=None,
        wait_initial=policy.initial_delay,
        wait_max=policy.max_delay,
        wait_jitter=policy.jitter,
    ).with_name(_RETRY_NAME_PREFIX + operation, (), {})


def call_with_retries(
    policy: RetryPolicy, operation: str, call: Callable[[], T], *, submit: bool = False
) -> T:
    """``call()``, retried as ``policy`` allows; the last error is raised when it gives up."""
    try:
        return call()
    except Exception as exc:  # BaseException (cancellation) is never retried: let it through
        return retry_failed(policy, operation, call, exc, submit=submit)


def retry_failed(
    policy: RetryPolicy,
    operation: str,
    call: Callable[[], T],
    failure: Exception,
    *,
    submit: bool = False,
) -> T:
    """Go on after a first attempt of ``call`` failed with ``failure``, as ``policy`` allows.

    The first attempt runs outside stamina, and outside this module, which the clients import
    only once an attempt has failed: entering a retry context costs more than the rest of a
    call. The failure is handed to stamina as its first attempt (raised again, not repeated),
    so what follows is exactly stamina's: the decision, the backoff, its instrumentation and
    its test mode.
    """
    first: Exception | None = failure
    for attempt in _retrying(policy, operation, submit):
        with attempt:
            if first is not None:
                failure, first = first, None
                raise failure
            logger.debug("%s: attempt %d of %d", operation, attempt.num, policy.max_retries + 1)
            return call()
    raise AssertionError("unreachable")  # pragma: no cover


async def acall_with_retries(
    policy: RetryPolicy,
    operation: str,
    call: Callable[[], Awaitable[T]],
    *,
    submit: bool = False,
) -> T:
    """The async twin of :func:`call_with_retries`."""
    try:
        return await call()
    except Exception as exc:
        return await aretry_failed(policy, operation, call, exc, submit=submit)


async def aretry_failed(
    policy: RetryPolicy,
    operation: str,
    call: Callable[[], Awaitable[T]],
    failure: Exception,
    *,
    submit: bool = False,
) -> T:
    """The async twin of :func:`retry_failed`."""
    first: Exception | None = failure
    async for attempt in _retrying(policy, operation, submit):
        with attempt:
            if first is not None:
                failure, first = first, None
                raise failure
            logger.debug("%s: attempt %d of %d", operation, attempt.num, policy.max_retries + 1)
            return await call()
    raise AssertionError("unreachable")  # pragma: no cover
