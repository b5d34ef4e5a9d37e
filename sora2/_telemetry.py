"""What sora2 reports about itself: its log records, with API tokens kept out of them, and
OpenTelemetry spans and metrics.

Logs go to the ``sora2`` logger, which has a ``NullHandler``: the library prints nothing unless
the application configures logging (or the CLI is given ``-v``). Clients register their token
here; a filter replaces it (and anything that looks like a bearer credential) before a record
reaches any handler. Error messages built from the service's answers go through :func:`redact`
too, in case the service echoes a token back.

Spans and metrics need ``opentelemetry-api`` (the ``otel`` extra); without it every call here
is a no-op that imports nothing, and until the application sets a tracer or meter provider, a
no-op that records nothing. Spans: ``sora2.submit``, ``sora2.wait``, ``sora2.poll`` (each
status call), ``sora2.download`` and ``sora2.batch.row``. Each carries the request id once
known, the model, the size and the duration asked for; the prompt only when
``$SORA2_TRACE_PROMPTS`` is ``1`` (it may be private); never the token. Metrics: counters
``sora2.jobs.submitted``, ``sora2.jobs.completed``, ``sora2.jobs.failed``; histograms
``sora2.wait.duration`` (s) and ``sora2.download.size`` (By). The tracer and meter come from
the global providers the application configured.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

__all__ = [
    "PROMPTS_ENV_VAR",
    "REDACTED",
    "annotate",
    "count",
    "job_attributes",
    "logger",
    "measure",
    "redact",
    "register_secret",
    "remember_job",
    "span",
]

# Logs ----------------------------------------------------------------------------------------

REDACTED = "[REDACTED]"

logger = logging.getLogger("sora2")

_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\",;]+")
_JOINS = re.compile(r"[\w-]")
"""What joins characters into one word: a short token glued to one is part of another word."""
_ANYWHERE = 16
"""Secrets this long are redacted even inside other text (see ``_as_token``)."""
_patterns: dict[str, re.Pattern[str]] = {}
_lock = threading.Lock()


def register_secret(secret: str) -> None:
    """Redact ``secret`` from every later ``sora2`` log record and error message."""
    if secret:
        pattern = _as_token(secret)
        with _lock:
            _patterns[secret] = pattern


def _as_token(secret: str) -> re.Pattern[str]:
    """Where ``secret`` is to be replaced.

    A short secret only where it stands as a token of its own: not glued to a letter, digit,
    ``_`` or ``-`` on a side where it begins or ends with one. So a one-letter token is found
    in ``?token=t``, ``/t/`` or ``Authorization: t`` but never inside ``injected`` or
    ``x-request-id``; a percent escape before it (``Bearer%20t``) still counts as a boundary.
    A secret of ``_ANYWHERE`` characters or more is replaced wherever it appears: no word
    contains it by chance, so every occurrence is the token leaking.
    """
    if len(secret) >= _ANYWHERE:
        return re.compile(re.escape(secret))
    before = r"(?:(?<![\w-])|(?<=%[0-9A-Fa-f]{2}))" if _JOINS.match(secret[0]) else ""
    after = r"(?![\w-])" if _JOINS.match(secret[-1]) else ""
    return re.compile(before + re.escape(secret) + after)


def redact(text: str) -> str:
    """``text`` with every registered secret and every ``Bearer <credential>`` replaced.

    A secret is replaced where it appears as a token (a header's value, a URL's path segment
    or query value, a whole word), never inside another word, so a short token cannot mangle
    the rest of a message.
    """
    with _lock:
        patterns = [_patterns[s] for s in sorted(_patterns, key=len, reverse=True)]
    for pattern in patterns:
        if pattern.search(text):
            text = pattern.sub(REDACTED, text)
    return _BEARER.sub(lambda m: m.group(1) + REDACTED, text)


class _RedactingFilter(logging.Filter):
    """Render the record's message once, redacted, so no handler sees the raw arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return True
        record.msg = redact(message)
        record.args = None
        return True


if not any(isinstance(f, _RedactingFilter) for f in logger.filters):
    logger.addFilter(_RedactingFilter())
if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
    # A library prints nothing unless asked: without this, Python's last-resort handler would
    # put sora2's warnings (a broken journal) on stderr of every program that never configured
    # logging.
    logger.addHandler(logging.NullHandler())


# Spans and metrics --------------------------------------------------------------------------

PROMPTS_ENV_VAR: Final = "SORA2_TRACE_PROMPTS"
_SCOPE: Final = "sora2"


_Otel = tuple[Any, dict[str, Any], tuple[Any, Any]]
"""The tracer, the instruments, and the API's modules that hold the global tracer and meter
providers."""


@functools.cache
def _otel() -> _Otel | None:
    """The tracer and the instruments, or None without ``opentelemetry-api``."""
    try:
        from opentelemetry import metrics, trace
        from opentelemetry.metrics import _internal as metrics_globals
    except ImportError:
        return None
    from . import __version__

    meter = metrics.get_meter(_SCOPE, __version__)
    instruments: dict[str, Any] = {
        "submitted": meter.create_counter("sora2.jobs.submitted", "{job}", "Jobs submitted"),
        "completed": meter.create_counter("sora2.jobs.completed", "{job}", "Jobs completed"),
        "failed": meter.create_counter("sora2.jobs.failed", "{job}", "Jobs that failed"),
        "wait": meter.create_histogram(
            "sora2.wait.duration", "s", "Time from the start of wait() to a final state"
        ),
        "download": meter.create_histogram("sora2.download.size", "By", "Bytes saved per job"),
    }
    return trace.get_tracer(_SCOPE, __version__), instruments, (trace, metrics_globals)


_judged: tuple[Any, ...] = ()
"""What :func:`_recording` judged last: ``_otel()``, the two global providers, the answer."""


def _recording() -> _Otel | None:
    """:func:`_otel`, once the application has set a tracer or meter provider; before that the
    API's stand-ins record nothing, and a span, its attributes and its context would cost each
    request some microseconds for nothing.

    A provider set later counts, yet the answer is judged again only when one can have changed:
    when the API's global providers (each set at most once) are no longer the objects it was
    judged on. That costs some 0.3 us a call instead of 2.2. ``$OTEL_PYTHON_TRACER_PROVIDER``
    and ``$OTEL_PYTHON_METER_PROVIDER`` are thus read at the first judgement only.
    """
    global _judged
    otel = _otel()
    if otel is None:
        return None
    tracing, metering = otel[2]
    judged = _judged
    if (
        judged
        and judged[0] is otel
        and judged[1] is getattr(tracing, "_TRACER_PROVIDER", judged)
        and judged[2] is getattr(metering, "_METER_PROVIDER", judged)
    ):
        return judged[3]  # type: ignore[no-any-return]
    from opentelemetry import metrics, trace

    recording = not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider) or (
        type(metrics.get_meter_provider()).__name__ != "_ProxyMeterProvider"
    )
    answer = otel if recording else None
    # Read after the judgement: judging may load a provider named by the environment.
    _judged = (
        otel,
        getattr(tracing, "_TRACER_PROVIDER", None),
        getattr(metering, "_METER_PROVIDER", None),
        answer,
    )
    return answer


@functools.cache
def _model() -> str:
    from ._spec import operation

    return operation("submit").path.removeprefix("/v1/models/")


_JOBS: OrderedDict[str, tuple[str | None, Mapping[str, Any]]] = OrderedDict()
"""Each recent job's model and inputs, so its polls, wait and download carry them too."""
_JOBS_KEPT: Final = 100_000
"""Jobs remembered at most (the oldest go first): a bound on a long-running service's memory."""


def remember_job(request_id: str, model: str | None, inputs: Mapping[str, Any]) -> None:
    """Note a submitted (or resumed) job's model and inputs for its later spans; free without
    the API."""
    if _recording() is None:
        return
    _JOBS[request_id] = (model, inputs)
    _JOBS.move_to_end(request_id)
    while len(_JOBS) > _JOBS_KEPT:
        _JOBS.popitem(last=False)


def job_attributes(
    inputs: Mapping[str, Any] | None = None,
    request_id: str | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    """A job's attributes: its id, the model, the size and duration asked for (and the prompt
    when opted in). Given only the id, what :func:`remember_job` noted for it."""
    if _recording() is None:
        return {}
    from ._inputs import duration_property, size_property

    if inputs is None and request_id and request_id in _JOBS:
        model, inputs = (model or _JOBS[request_id][0]), _JOBS[request_id][1]
    found: dict[str, Any] = {"sora2.model": model or _model()}
    if request_id:
        found["sora2.request_id"] = request_id
    for key, name in (("sora2.size", size_property()), ("sora2.duration", duration_property())):
        value = inputs.get(name) if inputs and name else None
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            found[key] = value
    prompt = inputs.get("prompt") if inputs else None
    if isinstance(prompt, str) and os.environ.get(PROMPTS_ENV_VAR) == "1":
        found["sora2.prompt"] = prompt
    return found


@contextmanager
def span(
    name: str, attributes: Mapping[str, Any] | None = None, *, timed: str | None = None
) -> Iterator[Any]:
    """A span ``sora2.<name>`` around the block (None without OpenTelemetry): errors are
    recorded on it and raised on. ``timed`` names a histogram that gets the block's seconds
    when it ends normally."""
    otel = _recording()
    if otel is None:
        yield None
        return
    attributes = dict(attributes or {})
    started = time.monotonic()
    with otel[0].start_as_current_span(f"sora2.{name}", attributes=attributes) as s:
        yield s
    if timed is not None:
        measure(timed, time.monotonic() - started, attributes)


def annotate(key: str, value: str | int | float) -> None:
    """Set an attribute on the current span (the request id once the answer names it)."""
    if _recording() is not None:
        from opentelemetry import trace

        trace.get_current_span().set_attribute(key, value)


def _metric_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """Attributes fit for a metric: not one series per job (no id), never the prompt."""
    return {
        k: v for k, v in (attributes or {}).items() if k not in ("sora2.request_id", "sora2.prompt")
    }


def count(name: str, attributes: Mapping[str, Any] | None = None) -> None:
    """Count one job on a counter (``submitted``, ``completed``, ``failed``)."""
    otel = _recording()
    if otel is not None:
        otel[1][name].add(1, _metric_attributes(attributes))


def measure(name: str, value: float, attributes: Mapping[str, Any] | None = None) -> None:
    """Record on a histogram (``wait`` seconds, ``download`` bytes)."""
    otel = _recording()
    if otel is not None:
        otel[1][name].record(value, _metric_attributes(attributes))
