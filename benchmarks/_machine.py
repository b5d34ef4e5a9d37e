"""The facts about the machine and the software a run needs next to its numbers to be read."""

from __future__ import annotations

import datetime
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

__all__ = ["PACKAGES", "machine_facts"]

PACKAGES = (
    "sora2",
    "httpx",
    "attrs",
    "pydantic",
    "starlette",
    "uvicorn",
    "openai",
    "openapi-core",
    "jsonschema",
)
"""The packages whose versions decide the numbers: ours, the baselines and the server."""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                kib = int(line.split()[1])
                return f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError):
        pass
    return "unknown"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_facts() -> dict[str, str]:
    """Ordered facts: date, CPU, cores, memory, OS, Python and package versions."""
    facts = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "memory": _memory(),
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
    }
    facts["packages"] = ", ".join(f"{name} {_version(name)}" for name in PACKAGES)
    return facts
