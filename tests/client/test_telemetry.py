"""What sora2 reports about itself (logs: sora2._transports; spans and metrics: sora2._waiting).

Logs: the token never shows, not in logs (any logger, DEBUG), reprs, or error messages.
OpenTelemetry: spans for submit, wait, each poll, download and each batch row, with the job's
id, model, size and duration, never the token nor (unasked) the prompt; counters and
histograms of jobs, wait time and bytes; nothing at all without the API.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sora2 import AuthenticationError, Sora2Error, WaitTimeoutError, _transports, _waiting
from sora2._inputs import duration_property, input_fields, size_property
from sora2._transports import REDACTED, logger, redact, register_secret
from sora2.emulator import Emulator

from .helpers import TOKEN, Api, Factory, Script, json_response

pytestmark = pytest.mark.anyio


# Logs ----------------------------------------------------------------------------------------


async def test_no_token_in_debug_logs(
    api: Api, emulator: Emulator, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """A full lifecycle with retries, logged at DEBUG by every library, never logs the token."""
    emulator.faults = "status:429@every=3,result:502@first=1"
    with caplog.at_level(logging.DEBUG):
        await api.generate("x", out=tmp_path / "x.mp4")
        with pytest.raises(Sora2Error):
            await api.status("missing")
    assert any(r.name == "sora2" for r in caplog.records)
    assert TOKEN not in caplog.text
    for record in caplog.records:
        assert TOKEN not in record.getMessage()


async def test_no_token_in_reprs(api: Api) -> None:
    """repr(client) shows the service, never the key; nor does its auth or generated client."""
    text = repr(api.client)
    assert "localhost" in text and TOKEN not in text
    assert TOKEN not in repr(api.client._http.auth)
    from sora2_api import AuthenticatedClient

    assert TOKEN not in repr(AuthenticatedClient(base_url=api.client.base_url, token=TOKEN))


async def test_token_echoed_by_the_service_is_redacted(make_api: Factory) -> None:
    """An error message that quotes the token comes out with the token redacted."""
    body = {"error_code": 401001, "message": f"token {TOKEN} is revoked"}
    api = make_api(handler=Script().on("status", json_response(401, body)))
    with pytest.raises(AuthenticationError) as caught:
        await api.status("r")
    assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value)
    assert REDACTED in str(caught.value)
    assert TOKEN not in caught.value.message


async def test_errors_never_carry_the_header_in_text(make_api: Factory) -> None:
    """A transport failure's message and its request's repr leave the Authorization header out."""

    def handler(request: httpx.Request) -> httpx.Response:
        sent = request.headers["authorization"]
        raise httpx.ReadTimeout(f"timed out sending Authorization: {sent}", request=request)

    api = make_api(handler=handler, max_retries=0)
    with pytest.raises(Sora2Error) as caught:
        await api.status("r")
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(caught.value.request)


async def test_wait_timeout_message(api: Api) -> None:
    """The deadline error names the job and how to resume it, and nothing secret."""
    submission = await api.submit("x")
    with pytest.raises(WaitTimeoutError) as caught:
        await api.wait(submission.request_id, timeout=0)
    assert submission.request_id in str(caught.value)
    assert "sora2 resume" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_filter_redacts_records(caplog: pytest.LogCaptureFixture) -> None:
    """A record on the sora2 logger is redacted, whether the secret is in msg or args."""
    register_secret("another-secret-value")
    with caplog.at_level(logging.DEBUG, logger="sora2"):
        logger.debug("key %s", "another-secret-value")
        logger.debug("header Authorization: Bearer abc.def-123")
    assert "another-secret-value" not in caplog.text
    assert "abc.def-123" not in caplog.text
    assert caplog.text.count(REDACTED) == 2


def test_redact() -> None:
    """redact() hides registered secrets and any bearer credential, and keeps the rest."""
    register_secret("s3cr3t")
    assert redact("a s3cr3t b") == f"a {REDACTED} b"
    assert redact("Authorization: bearer xyz") == f"Authorization: bearer {REDACTED}"
    assert redact("nothing here") == "nothing here"


@pytest.fixture
def own_secrets() -> Iterator[None]:
    """Only the secrets this test registers are known while it runs (others' tokens, such as
    "emulator", are set aside), and they are forgotten after it."""
    saved = dict(_transports._patterns)
    _transports._patterns.clear()
    yield
    _transports._patterns.clear()
    _transports._patterns.update(saved)


_PROSE = "fault injected by the emulator: status 503 (x-request-id abc_t-ab tab/ab-test)"
"""Ordinary text in which a 1- or 2-letter token occurs only inside other words."""


@pytest.mark.parametrize("token", ["t", "ab", "sk-" + "Z9" * 18 + "q"], ids=["1", "2", "40"])
def test_redaction_never_mangles_other_words(token: str, own_secrets: None) -> None:
    """A token of 1, 2 or 40 characters leaves words that merely contain it intact."""
    assert 40 == len("sk-" + "Z9" * 18 + "q")
    register_secret(token)
    assert _PROSE == redact(_PROSE)


@pytest.mark.parametrize("token", ["t", "ab", "sk-" + "Z9" * 18 + "q"], ids=["1", "2", "40"])
@pytest.mark.parametrize(
    "leak",
    [
        "Authorization: {t}",
        "x-api-key: {t}",
        "GET https://api.example/v1/jobs?token={t}&page=2",
        "GET https://api.example/v1/{t}/status",
        "redirected to /download?key={t}",
        "Authorization: Bearer%20{t}",
        "token {t} is revoked.",
        '{{"token": "{t}"}}',
        "the key was '{t}'",
    ],
)
def test_redaction_finds_every_real_leak(token: str, leak: str, own_secrets: None) -> None:
    """A token of 1, 2 or 40 characters is redacted in headers, URLs, query strings, JSON and
    as a whole word."""
    register_secret(token)
    expected = f"{_PROSE}; {leak.format(t=REDACTED)}"
    assert expected == redact(f"{_PROSE}; {leak.format(t=token)}")


def test_a_long_token_is_redacted_even_glued_to_other_text(own_secrets: None) -> None:
    """A token long enough that no word holds it by chance is redacted wherever it shows."""
    token = "sk-" + "Z9" * 18 + "q"
    register_secret(token)
    assert f"key-{REDACTED}_x" == redact(f"key-{token}_x")


_QUIET_SCRIPT = """
import sys

import httpx
import stamina

from sora2 import Client

calls = []


def handler(request):
    calls.append(request)
    if len(calls) == 1:
        return httpx.Response(503, json={"error_code": 503001, "message": "busy"})
    return httpx.Response(200, json={"request_id": "r", "status": "in_queue"})


with stamina.set_testing(True, attempts=3):
    with Client(api_key="k", transport=httpx.MockTransport(handler), journal=sys.argv[1]) as c:
        print(c.status("r").state)
"""


def test_nothing_on_stderr_without_logging_configured(tmp_path: Path) -> None:
    """A program that never configured logging sees no line from a retry or a broken journal."""
    import os
    import subprocess
    import sys

    broken_journal = tmp_path / "a-directory"
    broken_journal.mkdir()
    script = tmp_path / "quiet.py"
    script.write_text(_QUIET_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(broken_journal)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
    )
    assert 0 == done.returncode, done.stderr
    assert "in_queue\n" == done.stdout
    assert "" == done.stderr


async def test_retries_are_logged_under_sora2_only(
    make_api: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    """A retry is one INFO record of the ``sora2`` logger; stamina itself logs nothing."""
    script = Script().on(
        "status",
        json_response(503, {"error_code": 503001, "message": "busy"}),
        json_response(200, {"request_id": "r", "status": "in_queue"}),
    )
    api = make_api(handler=script)
    with caplog.at_level(logging.DEBUG):
        await api.status("r")
    retries = [r for r in caplog.records if "retry" in r.getMessage() and r.levelno == logging.INFO]
    assert ["sora2"] == [r.name for r in retries]
    assert [] == [r for r in caplog.records if r.name.startswith("stamina")]


async def test_other_retry_hooks_still_see_sora2_retries(make_api: Factory) -> None:
    """Only stamina's log hooks are skipped: an application's own hook (metrics) still sees
    each retry of sora2, by name."""
    from stamina.instrumentation import get_on_retry_hooks, set_on_retry_hooks

    before = get_on_retry_hooks()
    seen: list[str] = []
    set_on_retry_hooks([lambda details: seen.append(details.name)])
    try:
        script = Script().on(
            "status",
            json_response(503, {"error_code": 503001, "message": "busy"}),
            json_response(200, {"request_id": "r", "status": "in_queue"}),
        )
        await make_api(handler=script).status("r")
    finally:
        set_on_retry_hooks(before)
    assert ["sora2.status"] == seen


# Spans and metrics ---------------------------------------------------------------------------

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
    monkeypatch.setenv(_waiting.PROMPTS_ENV_VAR, "1")
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
    _waiting._otel.cache_clear()
    try:
        with _waiting.span("submit", {"sora2.model": "m"}) as span:
            assert span is None
        assert {} == _waiting.job_attributes({"prompt": "p"})
        _waiting.count("submitted")
    finally:
        _waiting._otel.cache_clear()


def test_nothing_before_a_provider_is_set() -> None:
    """With the API installed but no tracer or meter provider set by the application, a span
    is a plain block and no job is remembered (a fresh process: this module sets providers)."""
    import subprocess

    code = (
        "from sora2 import _waiting as t\n"
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


def test_the_provider_check_is_made_again_only_when_a_provider_changed() -> None:
    """Whether anything records is asked of the API once, then again only after a provider
    was set (a fresh process: this module sets providers)."""
    import subprocess

    code = (
        "from sora2 import _waiting as t\n"
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "t._otel()\n"
        "asked = []\n"
        "real = trace.get_tracer_provider\n"
        "trace.get_tracer_provider = lambda: asked.append(1) or real()\n"
        "for _ in range(3): assert t._recording() is None\n"
        "assert 1 == len(asked), asked\n"
        "trace.set_tracer_provider(TracerProvider())\n"
        "for _ in range(3): assert t._recording() is not None\n"
        "assert 2 == len(asked), asked\n"
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
