"""The README's quickstart: exactly two commands, the second being what CI runs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest

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


# Every Python block runs ------------------------------------------------------------------------

_BLOCK = re.compile(
    r"(?P<before>[^\n]*)\n(?P<indent>[ \t]*)```python\n(?P<code>.*?)\n(?P=indent)```", re.S
)
_NOT_RUN = re.compile(r"<!--\s*not-run:\s*(?P<reason>.+?)\s*-->")
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def _python_blocks() -> list[tuple[int, str, str | None]]:
    """(line, code, reason not to run it) of every ```python block of the README."""
    import textwrap

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = []
    for match in _BLOCK.finditer(readme):
        line = readme.count("\n", 0, match.start("code")) + 1
        skip = _NOT_RUN.search(match.group("before"))
        code = textwrap.dedent(match.group("code"))
        found.append((line, code, skip.group("reason") if skip else None))
    return found


def test_the_readme_has_python_blocks() -> None:
    """The block finder sees the README's examples (an empty list would pass vacuously)."""
    blocks = _python_blocks()
    assert len(blocks) >= 8
    assert sum(reason is not None for _, _, reason in blocks) <= 1, "not-run is for rare cases"


def test_the_types_reference_matches_the_code() -> None:
    """The README's reference section is what ``python -m codegen.readme_reference`` writes."""
    from codegen.readme_reference import END, START, render

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert START in readme and END in readme
    section = START + readme.split(START, 1)[1].split(END, 1)[0] + END
    assert render() == section, "run: python -m codegen.readme_reference"


@pytest.mark.parametrize(
    ("line", "code", "not_run"), _python_blocks(), ids=[f"line-{b[0]}" for b in _python_blocks()]
)
def test_every_python_block_runs_against_the_emulator(
    line: int,
    code: str,
    not_run: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each block runs as written in a temporary directory: ``emulator=True`` in process, and
    the token and base URL of the environment pointing at an emulator on 127.0.0.1, on a fake
    clock. Any attempt to resolve a host other than loopback fails the block."""
    import socket

    import stamina
    from _fakes import FakeClock

    import sora2._base_client
    from sora2.contract._transport import ContractRecorder
    from sora2.emulator import create_app, serve

    if not_run is not None:
        pytest.skip(f"README marks it not-run: {not_run}")
    clock = FakeClock()
    monkeypatch.setattr(sora2._base_client, "SystemClock", lambda: clock)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SORA2_JOURNAL", str(tmp_path / "journal.sqlite3"))
    for name in ("RUNCOMFY_TOKEN", "YOUR_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    real_getaddrinfo = socket.getaddrinfo

    def loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        if str(host) not in _LOOPBACK:
            raise OSError(f"README block at line {line} tried to reach {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    token = "sk-readme-test"
    with serve(create_app(clock=clock.monotonic, token=token)) as url, stamina.set_testing(True):
        monkeypatch.setenv("RUNCOMFY_API_TOKEN", token)
        monkeypatch.setenv("RUNCOMFY_BASE_URL", url)
        namespace: dict[str, Any] = {"__name__": f"readme_line_{line}"}
        exec(compile(code, f"README.md:{line}", "exec"), namespace)
        for name, value in list(namespace.items()):
            if name.startswith("test_") and callable(value):
                recorder = ContractRecorder(label=f"README.md:{line}")
                value(recorder)
                assert [] == recorder.violations
    capsys.readouterr()
