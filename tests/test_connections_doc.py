"""docs/connections.md: its Python examples run offline, as the README's do."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "connections.md"
_BLOCK = re.compile(r"(?P<before>[^\n]*)\n```python\n(?P<code>.*?)\n```", re.S)
_NOT_RUN = re.compile(r"<!--\s*not-run:\s*(?P<reason>.+?)\s*-->")


def _blocks() -> list[tuple[int, str, str | None]]:
    text = PAGE.read_text(encoding="utf-8")
    found = []
    for match in _BLOCK.finditer(text):
        skip = _NOT_RUN.search(match.group("before"))
        line = text.count("\n", 0, match.start("code")) + 1
        found.append((line, textwrap.dedent(match.group("code")), skip and skip.group("reason")))
    return found


def test_the_page_has_python_blocks() -> None:
    """The block finder sees the page's examples (an empty list would pass vacuously)."""
    assert len(_blocks()) >= 3


@pytest.mark.parametrize(("line", "code", "not_run"), _blocks(), ids=lambda v: str(v)[:20])
def test_every_python_block_runs_offline(
    line: int,
    code: str,
    not_run: str | None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each block runs as written, on the in-process emulator and a fake clock; resolving any
    host at all fails it, and every download it refuses says "refusing"."""
    import socket

    import stamina
    from _fakes import FakeClock

    import sora2._base_client

    if not_run is not None:
        pytest.skip(f"the page marks it not-run: {not_run}")
    clock = FakeClock()
    monkeypatch.setattr(sora2._base_client, "SystemClock", lambda: clock)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SORA2_JOURNAL", str(tmp_path / "journal.sqlite3"))
    monkeypatch.delenv("SORA2_TRUSTED_HOSTS", raising=False)

    def no_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        raise OSError(f"docs/connections.md:{line} tried to resolve {host}")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
    with stamina.set_testing(True):
        exec(compile(code, f"docs/connections.md:{line}", "exec"), {"__name__": "doc"})
    printed = capsys.readouterr().out
    if "DownloadError" in code:
        lines = printed.splitlines()
        assert lines and all(shown.startswith("refusing") for shown in lines), printed
