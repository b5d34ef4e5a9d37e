"""Nothing the project runs reads outside its own clone: a user's clone has no ``../shared``."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Files whose text the tests, CI and a reader act on: tests, benchmarks, automation and the docs.
_SCANNED_DIRS = ("tests", "benchmarks", "codegen", "sora2", "docs", ".ci")
_SCANNED_FILES = ("README.md", "noxfile.py", "pyproject.toml", "mkdocs.yml")
# A path built above the repository root, in Python or in a command.
_ABOVE_ROOT = (
    re.compile(r"""\bROOT\.parent\s*/"""),
    re.compile(r"""\.parents?\b[^\n]*/\s*["']shared["']"""),
    re.compile(r"""(?<![\w.])\.\./shared\b"""),
    re.compile(r"""\bshared/seed\b"""),
)
_CONSOLE = re.compile(r"```(?:console|bash|shell|sh)\n(.*?)```", re.S)


def _tracked(path: str) -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", path],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if listed.returncode != 0:  # not a git checkout (an sdist): every file below
        base = ROOT / path
        return [p for p in ([base] if base.is_file() else base.rglob("*")) if p.is_file()]
    return [ROOT / name for name in listed.stdout.decode().split("\0") if name]


def _scanned() -> list[Path]:
    files = [f for d in _SCANNED_DIRS for f in _tracked(d)]
    files += [ROOT / name for name in _SCANNED_FILES if (ROOT / name).is_file()]
    this = Path(__file__).resolve()
    return [f for f in files if f.resolve() != this and f.suffix not in {".mp4", ".png", ".pyc"}]


class TestNothingReadsAboveTheRoot:
    def test_no_file_builds_a_path_above_the_repository_root(self) -> None:
        """No test, benchmark, module, CI script or document names ../shared or a path built from
        the parent of the repository root."""
        found = []
        for path in _scanned():
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            for number, line in enumerate(text.splitlines(), 1):
                if any(pattern.search(line) for pattern in _ABOVE_ROOT):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
        assert [] == found

    def test_no_documented_command_takes_a_path_above_the_root(self) -> None:
        """No command in the README or the docs takes an argument that starts with ``../``."""
        pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
        found = []
        for page in pages:
            for block in _CONSOLE.findall(page.read_text(encoding="utf-8")):
                for line in block.splitlines():
                    command = line.removeprefix("$ ").strip()
                    try:
                        words = shlex.split(command)
                    except ValueError:
                        continue
                    found += [f"{page.name}: {command}" for w in words if w.startswith("../")]
        assert [] == found

    def test_the_upstream_pages_are_in_the_repository(self) -> None:
        """Every page the spec was written from is saved under spec/upstream/, with its source."""
        import yaml

        index = yaml.safe_load((ROOT / "spec" / "upstream" / "pages.yaml").read_text("utf-8"))
        for page in index["pages"]:
            assert (ROOT / "spec" / "upstream" / page["file"]).is_file(), page
            assert page["source"].startswith("https://"), page
            assert page["model"] and page["taken"], page
