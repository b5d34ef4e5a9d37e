"""OpenTelemetry (sora2._telemetry): spans for submit, wait, each poll, download and each batch
row, with the job's id, model, size and duration, never the token nor (unasked) the prompt;
counters and histograms of jobs, wait time and bytes; nothing at all without the API."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sora2 import _telemetry
from sora2._inputs import duration_property, input_fields, size_property
from sora2.emulator import Emulator

from .helpers import TOKEN, Api, Factory

pytestmark = pytest.mark.anyio

_SPANS = InMemorySpanExporter()
_METRICS = InMemoryMetricReader()


@pytest.fixture(scope="module", autouse=True)
def _providers() -> None:
    """The SDK's in-memory exporters, installed once (OpenTelemetry's providers are global)."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_SPANS))
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[_METRICS]))


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    _SPANS.clear()
    yield _SPANS


def _totals() -> dict[str, float]:
    """Each metric's running total (counters: the sum; histograms: count and sum)."""
    found: dict[str, float] = {}
    data = _METRICS.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    if hasattr(point, "count"):
                        found[metric.name + ".count"] = found.get(metric.name + ".count", 0)
                        found[metric.name + ".count"] += point.count
                        found[metric.name] = found.get(metric.name, 0) + point.sum
                    else:
                        found[metric.name] = found.get(metric.name, 0) + point.value
    return found


def _added(before: dict[str, float]) -> dict[str, float]:
    """What each metric gained since ``before``."""
    return {k: v - before.get(k, 0) for k, v in _totals().items() if v != before.get(k, 0)}


def _inputs() -> dict[str, Any]:
    size, seconds = size_property(), duration_property()
    assert size is not None and seconds is not None
    sizes, durations = input_fields()[size].choices, input_fields()[seconds].choices
    assert sizes and durations
    return {size: sizes[-1], seconds: durations[0]}


async def test_generate_traces_every_step(
    api: Api, spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    """One generate: a submit, a wait with its polls, a download; each with the job's id and
    model; the submit with the size and duration; the prompt and token nowhere."""
    inputs = _inputs()
    before = _totals()
    [path] = await api.generate("a secret garden at noon", out=tmp_path / "v.mp4", **inputs)
    finished = spans.get_finished_spans()
    names = [s.name for s in finished]
    assert {"sora2.submit", "sora2.wait", "sora2.poll", "sora2.download"} <= set(names)
    submit = next(s for s in finished if s.name == "sora2.submit")
    request_id = submit.attributes["sora2.request_id"]
    assert inputs[size_property() or ""] == submit.attributes["sora2.size"]
    assert inputs[duration_property() or ""] == submit.attributes["sora2.duration"]
    for span in finished:
        assert request_id == span.attributes["sora2.request_id"], span.name
        assert "sora2.model" in span.attributes
        text = repr(dict(span.attributes))
        assert "secret garden" not in text and TOKEN not in text
    added = _added(before)
    assert (1, 1, 1, 1) == (
        added["sora2.jobs.submitted"],
        added["sora2.jobs.completed"],
        added["sora2.wait.duration.count"],
        added["sora2.download.size.count"],
    )
    assert path.stat().st_size == added["sora2.download.size"]


async def test_the_prompt_only_when_asked(
    api: Api, spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With SORA2_TRACE_PROMPTS=1 the submit span carries the prompt."""
    monkeypatch.setenv(_telemetry.PROMPTS_ENV_VAR, "1")
    await api.submit("a lantern in fog")
    [submit] = [s for s in spans.get_finished_spans() if s.name == "sora2.submit"]
    assert "a lantern in fog" == submit.attributes["sora2.prompt"]


async def test_a_failed_job_is_counted(
    make_api: Factory, spans: InMemorySpanExporter, clock: Any
) -> None:
    """A job that fails adds to sora2.jobs.failed, and its wait span records the error."""
    from sora2 import JobFailedError
    from sora2.emulator import create_app

    from .helpers import TOKEN as token

    failing: Emulator = create_app(token=token, clock=clock.monotonic, faults="submit:fail")
    api = make_api(failing)
    submission = await api.submit("x")
    before = _totals()
    with pytest.raises(JobFailedError):
        await api.wait(submission.request_id)
    assert 1 == _added(before)["sora2.jobs.failed"]
    [wait] = [s for s in spans.get_finished_spans() if s.name == "sora2.wait"]
    assert not wait.status.is_ok


def test_nothing_without_the_api(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without opentelemetry-api a span is a plain block and nothing is recorded."""
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    _telemetry._otel.cache_clear()
    try:
        with _telemetry.span("submit", {"sora2.model": "m"}) as span:
            assert span is None
        assert {} == _telemetry.job_attributes({"prompt": "p"})
        _telemetry.count("submitted")
    finally:
        _telemetry._otel.cache_clear()


def test_nothing_before_a_provider_is_set() -> None:
    """With the API installed but no tracer or meter provider set by the application, a span
    is a plain block and no job is remembered (a fresh process: this module sets providers)."""
    import subprocess

    code = (
        "from sora2 import _telemetry as t\n"
        "with t.span('submit', {'sora2.model': 'm'}) as s: assert s is None\n"
        "assert {} == t.job_attributes({'prompt': 'p'})\n"
        "t.remember_job('id', 'm', {}); assert not t._JOBS\n"
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "trace.set_tracer_provider(TracerProvider())\n"
        "with t.span('submit') as s: assert s is not None\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert 0 == done.returncode, done.stderr


async def test_each_batch_row_has_a_span(
    api: Api, spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    """A batch of two rows gives two ``sora2.batch.row`` spans, each with its row and job."""
    rows = [{"prompt": f"row {i}", **_inputs()} for i in range(2)]
    if api.is_async:
        await api.batch(rows, out_dir=tmp_path / "out")
    else:  # the sync client runs its own event loop
        import anyio

        await anyio.to_thread.run_sync(lambda: api.client.batch(rows, out_dir=tmp_path / "out"))
    found = [s for s in spans.get_finished_spans() if s.name == "sora2.batch.row"]
    assert [1, 2] == sorted(s.attributes["sora2.batch.row"] for s in found)
    submitted = {
        s.attributes["sora2.request_id"]
        for s in spans.get_finished_spans()
        if s.name == "sora2.submit"
    }
    assert submitted == {s.attributes["sora2.request_id"] for s in found}


async def test_every_span_of_a_job_carries_its_model_size_and_duration(
    api: Api, spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    """A job on another model than the default: its submit, wait, polls and download all carry
    that model, and the size and duration it asked for."""
    from sora2._spec import default_model, known_models

    others = [m for m in known_models() if m != default_model()]
    if not others:
        pytest.skip("the spec has one model")
    model = next((m for m in others if "image" not in m), others[0])
    from sora2._inputs import validate_input

    inputs = {k: v for k, v in _inputs().items() if _accepts(model, k, v, validate_input)}
    await api.generate("a lighthouse at dawn", out=tmp_path / "v.mp4", model=model, **inputs)
    finished = [s for s in spans.get_finished_spans() if s.name != "sora2.batch.row"]
    assert {"sora2.submit", "sora2.wait", "sora2.poll", "sora2.download"} <= {
        s.name for s in finished
    }
    for span in finished:
        assert model == span.attributes["sora2.model"], span.name
        for key, name in (("sora2.size", size_property()), ("sora2.duration", duration_property())):
            if name in inputs:
                assert inputs[name] == span.attributes[key], (span.name, key)


def _accepts(model: str, name: str, value: Any, validate: Any) -> bool:
    """Whether ``model`` takes ``name=value`` (a model's schema may not describe it)."""
    try:
        validate({"prompt": "x", name: value}, model)
    except Exception:
        return False
    return True


async def test_a_status_call_records_its_state_on_its_poll_span(
    api: Api, spans: InMemorySpanExporter
) -> None:
    """status() sets the state it read on its own poll span."""
    submission = await api.submit("x")
    status = await api.status(submission)
    [poll] = [s for s in spans.get_finished_spans() if s.name == "sora2.poll"]
    assert status.state == poll.attributes["sora2.state"]
