"""Per-call cost of one status call, four ways, against one emulator server on 127.0.0.1.

The floor is a raw ``httpx.Client.get``; then the generated ``sora2_api`` function over an
``AuthenticatedClient``; then ``sora2.Client.status`` (which adds retries, typed errors and a
schema check of the answer), with ``journal=False`` and in its default configuration (the
journal on, in a file named by ``$SORA2_JOURNAL``, written on a change of state only); and the
OpenAI SDK's generic client doing the same GET. Every
client keeps its connection alive, the job exists and is completed (so every answer is the
same), and the server runs in its own process so its work is not billed to the client.

Wall time per call is the headline; the client process's CPU time per call is shown too,
because it isolates what the client itself costs from the server's share of the round trip.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from sora2._options import JOURNAL_ENV_VAR

from ._server import BENCH_TOKEN, EmulatorProcess
from ._table import Row
from ._timing import interleaved, median

__all__ = ["TARGET_DEFAULT_VS_HTTPX", "TARGET_VS_HTTPX", "make_callers", "run"]

TARGET_VS_HTTPX = 1.15
"""Issue 7: ``sora2.Client`` within 1.15x of raw httpx (and faster than the OpenAI SDK)."""
TARGET_DEFAULT_VS_HTTPX = 1.10
"""Issue 12: the default configuration (journal on) within 1.10x of raw httpx."""

RAW = "raw httpx"
GENERATED = "sora2_api (generated)"
OURS = "sora2.Client"
DEFAULT = "sora2.Client (default: journal on)"
OPENAI = "openai SDK"


def _submit_completed_job(url: str) -> str:
    """A job that exists and has completed, so every status answer is the same."""
    from sora2._spec import operation

    headers = {"Authorization": f"Bearer {BENCH_TOKEN}"}
    with httpx.Client(base_url=url, headers=headers) as client:
        answer = client.post(operation("submit").path, json={"prompt": "benchmark"})
        answer.raise_for_status()
        request_id: str = answer.json()["request_id"]
        path = operation("status").url_path(request_id=request_id)
        deadline = time.monotonic() + 30
        while client.get(path).json()["status"] != "completed":
            if time.monotonic() > deadline:
                raise RuntimeError("the benchmark job did not complete")
            time.sleep(0.01)
    return request_id


def make_callers(url: str, request_id: str) -> tuple[dict[str, Callable[[], Any]], list[Any]]:
    """One zero-argument status call per candidate, and the clients to close afterwards."""
    import openai
    from sora2_api import AuthenticatedClient
    from sora2_api.api.requests import status as generated_status

    import sora2
    from sora2._spec import operation

    path = operation("status").url_path(request_id=request_id)
    raw = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {BENCH_TOKEN}"})
    generated = AuthenticatedClient(base_url=url, token=BENCH_TOKEN)
    ours = sora2.Client(api_key=BENCH_TOKEN, base_url=url, journal=False)
    default = sora2.Client(api_key=BENCH_TOKEN, base_url=url)  # the journal at $SORA2_JOURNAL
    theirs = openai.OpenAI(base_url=url, api_key=BENCH_TOKEN)
    callers: dict[str, Callable[[], Any]] = {
        RAW: lambda: raw.get(path),
        GENERATED: lambda: generated_status.sync_detailed(request_id, client=generated),
        OURS: lambda: ours.status(request_id),
        DEFAULT: lambda: default.status(request_id),
        OPENAI: lambda: theirs.get(path, cast_to=object),
    }
    return callers, [raw, generated.get_httpx_client(), ours, default, theirs]


@contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """``$name`` set to ``value`` for the block (the default journal's location)."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            del os.environ[name]
        else:
            os.environ[name] = previous


def _batch(call: Callable[[], Any], calls: int) -> tuple[float, float]:
    """(wall, CPU) seconds per call over ``calls`` calls."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        call()
    return (time.perf_counter() - wall) / calls, (time.process_time() - cpu) / calls


def run(quick: bool = False) -> list[Row]:
    rounds, calls = (2, 5) if quick else (21, 200)
    with (
        tempfile.TemporaryDirectory(prefix="sora2-bench-") as scratch,
        _environment(JOURNAL_ENV_VAR, str(Path(scratch) / "journal.sqlite3")),
        EmulatorProcess(speed=1000.0, workers=2) as server,
    ):
        request_id = _submit_completed_job(server.url)
        callers, to_close = make_callers(server.url, request_id)
        try:
            for call in callers.values():
                for _ in range(calls // 5 + 1):
                    call()  # warm-up: connections open, lazy imports done, caches filled
            samples = interleaved(
                {name: partial(_batch, call, calls) for name, call in callers.items()},
                rounds,
            )
        finally:
            for client in to_close:
                client.close()
    wall = {name: median([s[0] for s in values]) * 1e6 for name, values in samples.items()}
    cpu = {name: median([s[1] for s in values]) * 1e6 for name, values in samples.items()}
    metric = f"µs per status call, wall (median of {rounds} rounds x {calls})"
    cpu_metric = f"µs per status call, client CPU (median of {rounds} x {calls})"
    ours_vs_raw = wall[OURS] / wall[RAW]
    default_vs_raw = wall[DEFAULT] / wall[RAW]
    ours_vs_openai = wall[OURS] / wall[OPENAI]
    return [
        Row(
            f"calls: {GENERATED}",
            metric,
            wall[GENERATED],
            wall[RAW],
            wall[GENERATED] / wall[RAW],
            unit="µs",
            baseline_name=RAW,
        ),
        Row(
            f"calls: {OURS}",
            metric,
            wall[OURS],
            wall[RAW],
            ours_vs_raw,
            target=f"<= {TARGET_VS_HTTPX}x raw httpx",
            passed=ours_vs_raw <= TARGET_VS_HTTPX,
            unit="µs",
            baseline_name=RAW,
        ),
        Row(
            f"calls: {DEFAULT}",
            metric,
            wall[DEFAULT],
            wall[RAW],
            default_vs_raw,
            target=f"<= {TARGET_DEFAULT_VS_HTTPX}x raw httpx",
            passed=default_vs_raw <= TARGET_DEFAULT_VS_HTTPX,
            unit="µs",
            baseline_name=RAW,
        ),
        Row(
            f"calls: {OURS} vs openai",
            metric,
            wall[OURS],
            wall[OPENAI],
            ours_vs_openai,
            target="< 1x openai SDK",
            passed=ours_vs_openai < 1.0,
            unit="µs",
            baseline_name=OPENAI,
        ),
        Row(
            f"calls: {OURS} (CPU)",
            cpu_metric,
            cpu[OURS],
            cpu[RAW],
            cpu[OURS] / cpu[RAW],
            unit="µs",
            baseline_name=RAW,
        ),
        Row(
            f"calls: {DEFAULT} (CPU)",
            cpu_metric,
            cpu[DEFAULT],
            cpu[RAW],
            cpu[DEFAULT] / cpu[RAW],
            unit="µs",
            baseline_name=RAW,
        ),
        Row(
            f"calls: {OURS} vs openai (CPU)",
            cpu_metric,
            cpu[OURS],
            cpu[OPENAI],
            cpu[OURS] / cpu[OPENAI],
            unit="µs",
            baseline_name=OPENAI,
        ),
    ]
