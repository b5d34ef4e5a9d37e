"""Emulator throughput on the status endpoint, beside Prism's mock server on the same spec.

One load generator (``benchmarks._loadgen``, async httpx in its own process, bounded in count
and time, loopback only) hits each server in turn, round after round, and the median
requests per second is reported. Prism runs where ``npx`` exists (``@stoplight/prism-cli@5``,
its log level lowered to ``warn`` as the emulator logs no access lines either); it is started
in a process group of its own and that group is ended afterwards.

On two cores the load generator and the server share the machine, so these are the numbers of
this pairing, and the Python load generator may cap a faster server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ._loadgen import TOKEN_ENV_VAR
from ._proc import REPO_ROOT, child_env, python_command
from ._server import BENCH_TOKEN, EmulatorProcess
from ._table import Row
from ._timing import interleaved, median

__all__ = ["CONCURRENCY", "PRISM", "cpu_seconds", "prism", "run"]

PRISM = "@stoplight/prism-cli@5"
CONCURRENCY = 16
"""Connections the load generator keeps busy."""
PRISM_STARTUP = 300.0
"""Seconds to wait for Prism to listen; the first ``npx`` run downloads it."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(*, pid: int | None = None, group: int | None = None) -> float:
    """CPU seconds (user + system) used so far by one process, or every process of a group.

    Read from ``/proc`` (Linux); 0.0 where there is none.
    """
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    stats = [Path(f"/proc/{pid}/stat")] if pid is not None else Path("/proc").glob("[0-9]*/stat")
    for stat in stats:
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if group is None or int(fields[2]) == group:  # field 5 of stat: process group
                total += int(fields[11]) + int(fields[12])  # fields 14, 15: utime, stime
    return total / tick


@contextlib.contextmanager
def prism(npx: str) -> Iterator[tuple[str, int]]:
    """Prism's mock server of our spec on 127.0.0.1; yields (base URL, process group)."""
    port = _free_port()
    process = subprocess.Popen(
        [
            npx,
            "--yes",
            PRISM,
            "mock",
            "spec/sora2.openapi.yaml",
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-v",
            "warn",
        ],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + PRISM_STARTUP
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"prism exited with {process.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("prism did not listen in time")
            time.sleep(0.25)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)  # npx and the node process it started
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _measured(
    url: str, server_cpu: Callable[[], float], seconds: float, requests: int
) -> Callable[[], dict[str, Any]]:
    """One round against one server: the load generator's numbers plus the server's CPU."""

    def measure() -> dict[str, Any]:
        before = server_cpu()
        result = _load(url, seconds, requests)
        spent = server_cpu() - before
        result["server_cpu_us"] = spent / result["requests"] * 1e6 if result["requests"] else 0.0
        return result

    return measure


def _load(url: str, seconds: float, requests: int) -> dict[str, Any]:
    env = child_env()
    env[TOKEN_ENV_VAR] = BENCH_TOKEN
    done = subprocess.run(
        python_command(
            "benchmarks._loadgen",
            url,
            "--concurrency",
            str(CONCURRENCY),
            "--requests",
            str(requests),
            "--seconds",
            str(seconds),
        ),
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=True,
    )
    import json

    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _status_path(url: str) -> str:
    import httpx

    from sora2._spec import operation

    headers = {"Authorization": f"Bearer {BENCH_TOKEN}"}
    answer = httpx.post(url + operation("submit").path, json={"prompt": "load"}, headers=headers)
    answer.raise_for_status()
    return operation("status").url_path(request_id=answer.json()["request_id"])


def run(quick: bool = False) -> list[Row]:
    rounds, seconds, requests = (1, 0.5, 500) if quick else (5, 3.0, 100_000)
    npx = None if quick else shutil.which("npx")
    note = "" if npx else "npx not found (or quick mode): Prism not run"
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(EmulatorProcess(speed=1000.0))
        path = _status_path(server.url)
        emulator_pid = server.pid
        targets = {"emulator": (server.url + path, lambda: cpu_seconds(pid=emulator_pid))}
        if npx is not None:
            try:
                prism_url, group = stack.enter_context(prism(npx))
                targets["prism"] = (prism_url + path, lambda: cpu_seconds(group=group))
            except (RuntimeError, OSError) as error:
                note = "; ".join(filter(None, [note, f"Prism did not start: {error}"]))
        for url, _ in targets.values():
            _load(url, min(seconds, 1.0), requests)  # warm-up round, not counted
        samples = interleaved(
            {name: _measured(url, cpu, seconds, requests) for name, (url, cpu) in targets.items()},
            rounds,
        )
    rps = {name: median([s["rps"] for s in values]) for name, values in samples.items()}
    p50 = {name: median([s["p50_ms"] for s in values]) for name, values in samples.items()}
    cpu = {name: median([s["server_cpu_us"] for s in values]) for name, values in samples.items()}
    busy = {name: median([s["cpu_busy"] for s in values]) for name, values in samples.items()}
    errors = {name: sum(s["errors"] for s in values) for name, values in samples.items()}
    prism_rps, prism_p50, prism_cpu = rps.get("prism"), p50.get("prism"), cpu.get("prism")
    note = "; ".join(
        filter(
            None,
            [
                note,
                "load generator CPU busy: "
                + ", ".join(f"{name} {value:.0%}" for name, value in busy.items()),
                "errors: " + ", ".join(f"{name} {value:g}" for name, value in errors.items()),
            ],
        )
    )
    label = f"throughput: status, {CONCURRENCY} connections"
    return [
        Row(
            label,
            f"requests/s (median of {rounds} x {seconds:g} s); ratio = emulator / Prism",
            rps["emulator"],
            prism_rps,
            rps["emulator"] / prism_rps if prism_rps else None,
            baseline_name="Prism",
            target="no error",
            passed=errors["emulator"] == 0,
            note=note,
        ),
        Row(
            label,
            "server CPU per request (all its processes)",
            cpu["emulator"],
            prism_cpu,
            cpu["emulator"] / prism_cpu if prism_cpu else None,
            unit="µs",
            baseline_name="Prism",
        ),
        Row(
            label,
            "p50 latency under load",
            p50["emulator"],
            prism_p50,
            p50["emulator"] / prism_p50 if prism_p50 else None,
            unit="ms",
            baseline_name="Prism",
        ),
    ]
