"""A bounded load generator, run as its own process: ``python -m benchmarks._loadgen``.

It loops GET requests on one URL from ``--concurrency`` tasks over keep-alive connections until
``--requests`` have been sent or ``--seconds`` have passed, whichever comes first, then prints
one JSON line. Loopback only: it refuses any host that is not 127.0.0.0/8 or localhost. The
bearer token comes from the ``LOADGEN_TOKEN`` environment variable, never the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import statistics
import time
from urllib.parse import urlsplit

import httpx

__all__ = ["TOKEN_ENV_VAR", "check_loopback", "load"]

TOKEN_ENV_VAR = "LOADGEN_TOKEN"


def check_loopback(url: str) -> None:
    """Refuse to send load anywhere but this machine."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise SystemExit(f"refusing to load {host!r}: loopback addresses only")


async def load(
    url: str, *, headers: dict[str, str], concurrency: int, requests: int, seconds: float
) -> dict[str, float]:
    """Send at most ``requests`` GETs for at most ``seconds``; return counts and latencies."""
    check_loopback(url)
    latencies: list[float] = []
    errors = 0
    sent = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30.0) as client:
        await client.get(url)  # one warm-up request: connection set-up is not throughput
        started, cpu = time.perf_counter(), time.process_time()
        deadline = started + seconds

        async def worker() -> None:
            nonlocal errors, sent
            while sent < requests and time.perf_counter() < deadline:
                sent += 1
                before = time.perf_counter()
                try:
                    response = await client.get(url)
                    await response.aread()
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - before)
                errors += not ok

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
    ordered = sorted(latencies)
    return {
        "requests": float(len(latencies)),
        "errors": float(errors),
        "seconds": elapsed,
        "cpu_busy": cpu / elapsed if elapsed else 0.0,
        "rps": len(latencies) / elapsed if elapsed else 0.0,
        "p50_ms": statistics.median(ordered) * 1000 if ordered else 0.0,
        "p99_ms": ordered[int(0.99 * (len(ordered) - 1))] * 1000 if ordered else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._loadgen")
    parser.add_argument("url")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    token = os.environ.get(TOKEN_ENV_VAR, "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    result = asyncio.run(
        load(
            args.url,
            headers=headers,
            concurrency=args.concurrency,
            requests=args.requests,
            seconds=args.seconds,
        )
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
