"""OpenTelemetry spans and metrics, when ``opentelemetry-api`` is installed (the ``otel``
extra); without it every call here is a no-op that imports nothing, and until the application
sets a tracer or meter provider, a no-op that records nothing.

Spans: ``sora2.submit``, ``sora2.wait``, ``sora2.poll`` (each status call), ``sora2.download``
and ``sora2.batch.row``. Each carries the request id once known, the model, the size and the
duration asked for; the prompt only when ``$SORA2_TRACE_PROMPTS`` is ``1`` (it may be private);
never the token. Metrics: counters ``sora2.jobs.submitted``, ``sora2.jobs.completed``,
``sora2.jobs.failed``; histograms ``sora2.wait.duration`` (s) and ``sora2.download.size`` (By).
The tracer and meter come from the global providers the application configured.
"""

from __future__ import annotations

import functools
import os
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

from . import __version__

__all__ = [
    "PROMPTS_ENV_VAR",
    "annotate",
    "count",
    "job_attributes",
    "measure",
    "remember_job",
    "span",
]

PROMPTS_ENV_VAR: Final = "SORA2_TRACE_PROMPTS"
_SCOPE: Final = "sora2"


@functools.cache
def _otel() -> tuple[Any, dict[str, Any]] | None:
    """The tracer and the instruments, or None without ``opentelemetry-api``."""
    try:
        from opentelemetry import metrics, trace
    except ImportError:
        return None
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
    return trace.get_tracer(_SCOPE, __version__), instruments


def _recording() -> tuple[Any, dict[str, Any]] | None:
    """:func:`_otel`, once the application has set a tracer or meter provider; before that the
    API's stand-ins record nothing, and a span, its attributes and its context would cost each
    request some microseconds for nothing (checked on each call: a provider set later counts)."""
    otel = _otel()
    if otel is None:
        return None
    from opentelemetry import metrics, trace

    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return otel
    if type(metrics.get_meter_provider()).__name__ != "_ProxyMeterProvider":
        return otel
    return None


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
