"""An emulator server in its own process, for the load test: its memory is then its own.

Usage: ``python _load_server.py SPEED WORKERS MAX_REQUESTS TTL FAULTS``. Prints the base URL on the
first line of stdout, then answers each line read on stdin with one JSON line: the jobs held,
the emulator's counters and the process's resident memory. Exits at the end of stdin.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sora2.emulator import create_app, serve

__all__ = ["main", "rss_kib"]


def rss_kib(pid: str = "self") -> int:
    """Resident set size in KiB, from ``/proc`` (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/{pid}/status")


def main(argv: list[str]) -> None:
    speed, workers, max_requests, ttl = float(argv[0]), int(argv[1]), int(argv[2]), float(argv[3])
    app = create_app(
        speed=speed, workers=workers, max_requests=max_requests, ttl=ttl, faults=argv[4] or None
    )
    with serve(app) as url:
        print(url, flush=True)
        for _ in sys.stdin:
            snapshot = app.stats.snapshot()
            answer = {
                "jobs": app.job_count(),
                "rss_kib": rss_kib(),
                "statuses": {str(k): v for k, v in snapshot["statuses"].items()},
                "faults": snapshot["faults"],
                "requests": snapshot["requests"],
                "submissions": sum(snapshot["submissions"].values()),
                "videos_cached": len(app.videos),
            }
            print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
