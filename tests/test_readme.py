"""The README's quickstart: exactly two commands, the second being what CI runs.

The README's code blocks, like every page's under docs/, run in tests/test_docs.py.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from sora2._spec import resolve, spec_document

ROOT = Path(__file__).resolve().parent.parent


def _quickstart_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```console\n(.*?)```", section, re.S)]


class TestQuickstart:
    def test_has_exactly_two_commands(self) -> None:
        """One runs the main job, one runs the whole test suite; nothing else."""
        commands = _quickstart_commands()
        assert 2 == len(commands)
        assert all("\n" not in command for command in commands)

    def test_ci_runs_the_readme_test_command(self) -> None:
        """.ci/run calls the README's test command, unchanged."""
        ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        assert _quickstart_commands()[1] in ci

    def test_main_job_generates_the_documented_prompt_offline(self) -> None:
        """The main job is `sora2 generate --emulator` on the documentation's example prompt."""
        install, run = _quickstart_commands()[0].split(" && ")
        assert install.startswith("python -m pip install")
        argv = shlex.split(run)
        schema = resolve(spec_document()["components"]["schemas"]["Input"])
        prompt = schema["properties"]["prompt"]["examples"][0]
        assert ["python", "-m", "sora2", "generate", "--emulator"] == argv[:5]
        assert prompt == argv[5]
        assert ["--out", "tokyo.mp4"] == argv[6:]
