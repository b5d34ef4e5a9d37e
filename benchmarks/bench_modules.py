"""How many hand-written modules one ``sora2 generate --emulator`` runs code in (issue 19).

A child process sets a ``sys.setprofile`` hook (for every thread) before anything of sora2 is
imported, then runs the installed ``sora2`` command's entry point as a user would:
``sora2 generate --emulator PROMPT --out DIR/x.mp4``, with the journal in a temporary file.
Every file under ``sora2/`` whose code runs is recorded, module bodies included; the emulator's
own modules are counted apart, since the issue counts the modules outside it. The lines of the
counted modules are reported beside the count: with no module over 450 lines, they bound how
few modules the same code can live in.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from ._proc import run_json_child
from ._table import Row

__all__ = ["run"]

TARGET_MODULES = 18
"""Issue 19: one generate runs code in at most 18 hand-written modules outside the emulator."""
MAX_MODULE_LINES = 450
"""Issue 19: no module over 450 lines."""


def run(quick: bool = False) -> list[Row]:
    found = run_json_child("benchmarks.bench_modules", timeout=300)
    modules: list[str] = found["modules"]
    lines: int = found["lines"]
    least = -(-lines // MAX_MODULE_LINES)  # ceil: the fewest modules of <= 450 lines they fit
    note = "; ".join(modules)
    return [
        Row(
            "modules: sora2 generate --emulator",
            "hand-written sora2 modules whose code runs, outside the emulator",
            len(modules),
            target=f"<= {TARGET_MODULES}",
            passed=len(modules) <= TARGET_MODULES,
            note=f"{found['emulator']} more in the emulator; {note}",
        ),
        Row(
            "modules: lines they hold",
            f"lines of those modules; the fewest modules of <= {MAX_MODULE_LINES} lines "
            f"they fit in: {least}",
            lines,
        ),
    ]


def _child() -> dict[str, Any]:
    """Run one generate under the profile hook; the modules it ran and their lines."""
    from importlib.metadata import entry_points

    package = Path(__file__).resolve().parent.parent / "sora2"
    seen: set[str] = set()

    def hook(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            seen.add(frame.f_code.co_filename)

    with tempfile.TemporaryDirectory() as folder:
        os.environ["SORA2_JOURNAL"] = str(Path(folder) / "journal.db")
        (command,) = [e for e in entry_points(group="console_scripts") if e.name == "sora2"]
        sys.argv = ["sora2", "generate", "--emulator", "a lighthouse at dawn", "-q"]
        sys.argv += ["--out", str(Path(folder) / "x.mp4")]
        threading.setprofile(hook)
        sys.setprofile(hook)
        try:
            command.load()()
        except SystemExit as end:
            if end.code not in (0, None):
                raise
        finally:
            sys.setprofile(None)
            threading.setprofile(None)
    ran = sorted(
        Path(name).relative_to(package).as_posix()
        for name in seen
        if Path(name).is_relative_to(package)
    )
    outside = [name for name in ran if not name.startswith("emulator/")]
    lines = sum(len((package / name).read_text().splitlines()) for name in outside)
    return {"modules": outside, "emulator": len(ran) - len(outside), "lines": lines}


if __name__ == "__main__":
    result = _child()
    print(json.dumps(result))
