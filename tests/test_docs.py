"""The documentation runs: README.md, BENCHMARKS.md and every page under docs/ (a new page is
picked up by itself).

Every fenced block has a language. ``python`` blocks run against the emulator; ``console`` blocks
have each ``sora2``, ``python -m sora2``, ``python -m codegen``, ``python -m benchmarks`` and
``nox -s`` command parsed by the real command line (a renamed option or session fails here);
``json`` blocks parse. ``<!-- not-run: reason -->`` on the line above a block exempts it and
says why. The API reference is checked on the built site: every public name has an entry.
"""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}
_FENCE = re.compile(
    r"(?P<before>[^\n]*)\n(?P<indent>[ \t]*)```(?P<lang>[^\n`]*)\n(?P<code>.*?)\n(?P=indent)```",
    re.S,
)
_NOT_RUN = re.compile(r"<!--\s*not-run:\s*(?P<reason>.+?)\s*-->")
_LANGUAGES = {"python", "console", "json", "text"}
"""``text`` is for diagrams and program output, which are not code."""


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    lang: str
    code: str
    not_run: str | None

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def pages() -> list[Path]:
    """README.md, BENCHMARKS.md (docs/benchmarks.md includes it) and every Markdown page under
    docs/, found afresh on each run."""
    return [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(lang: str | None = None) -> list[Block]:
    found = []
    for page in pages():
        text = page.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            skip = _NOT_RUN.search(match.group("before"))
            found.append(
                Block(
                    page=page.relative_to(ROOT).as_posix(),
                    line=text.count("\n", 0, match.start("code")) + 1,
                    lang=match.group("lang").strip(),
                    code=textwrap.dedent(match.group("code")),
                    not_run=skip.group("reason") if skip else None,
                )
            )
    return [b for b in found if lang is None or b.lang == lang]


class TestTheBlocks:
    def test_the_finder_sees_every_page_and_block(self) -> None:
        """README.md and the docs pages yield their blocks (an empty list would pass vacuously)."""
        found = blocks()
        assert {"README.md", "docs/client.md", "docs/cli.md"} <= {b.page for b in found}
        assert len(blocks("python")) >= 12
        assert len(blocks("console")) >= 20

    def test_every_block_names_a_known_language(self) -> None:
        """A block without a language, or with another, would be neither run nor checked."""
        assert [] == [f"{b.id}: {b.lang!r}" for b in blocks() if b.lang not in _LANGUAGES]

    def test_not_run_is_the_exception_and_says_why(self) -> None:
        """At most one block in four is exempt, and each exemption gives a reason."""
        marked = [b for b in blocks() if b.not_run is not None]
        assert [] == [b.id for b in marked if len(b.not_run or "") < 10]
        assert len(marked) * 4 <= len(blocks())


# Python blocks run ------------------------------------------------------------------------------


@pytest.mark.parametrize("block", blocks("python"), ids=lambda b: b.id)
def test_every_python_block_runs_against_the_emulator(
    block: Block,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each block runs as written in a temporary directory: ``emulator=True`` in process, and
    the token and base URL of the environment pointing at an emulator on 127.0.0.1, on a fake
    clock. Any attempt to resolve a host other than loopback fails the block; a ``test_``
    function it defines runs with a contract recorder and must leave no violation."""
    import socket

    import stamina
    from _fakes import FakeClock

    import sora2._base_client
    from sora2.contract._transport import ContractRecorder
    from sora2.emulator import create_app, serve

    if block.not_run is not None:
        pytest.skip(f"marked not-run: {block.not_run}")
    clock = FakeClock()
    monkeypatch.setattr(sora2._base_client, "SystemClock", lambda: clock)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SORA2_JOURNAL", str(tmp_path / "journal.sqlite3"))
    for name in ("RUNCOMFY_TOKEN", "YOUR_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    real_getaddrinfo = socket.getaddrinfo

    def loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        if str(host) not in _LOOPBACK:
            raise OSError(f"the block at {block.id} tried to reach {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    token = "sk-docs-test"
    with serve(create_app(clock=clock.monotonic, token=token)) as url, stamina.set_testing(True):
        monkeypatch.setenv("RUNCOMFY_API_TOKEN", token)
        monkeypatch.setenv("RUNCOMFY_BASE_URL", url)
        namespace: dict[str, Any] = {"__name__": f"docs_block_{block.line}"}
        exec(compile(block.code, block.id, "exec"), namespace)
        for name, value in list(namespace.items()):
            if name.startswith("test_") and callable(value):
                recorder = ContractRecorder(label=block.id)
                value(recorder)
                assert [] == recorder.violations
    capsys.readouterr()


# Console blocks: every command parses -----------------------------------------------------------

_SEPARATORS = {"&&", "||", "|", ";"}
_REDIRECT = re.compile(r"\s\d*>{1,2}\s*\S+")


def _command_lines(block: Block) -> list[str]:
    """The command lines of a console block: those after ``$ `` when it shows a session (the
    rest is output), otherwise every line that is not a comment."""
    lines = block.code.splitlines()
    if any(line.startswith("$ ") for line in lines):
        return [line[2:] for line in lines if line.startswith("$ ")]
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _commands(line: str) -> list[list[str]]:
    """The simple commands of a shell line, without redirections, comments or a synopsis's
    square brackets (``[--dry-run]``)."""
    lexer = shlex.shlex(_REDIRECT.sub("", line), posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    words: list[list[str]] = [[]]
    for token in lexer:
        if token in _SEPARATORS:
            words.append([])
        else:
            words[-1].append(token.strip("[]") if token.startswith("[") else token.rstrip("]"))
    return [w for w in words if w]


def _parse_sora2(args: list[str]) -> None:
    """Parse ``sora2 ARGS`` with the real click commands, without running them."""
    import click

    from sora2._cli import cli

    command: click.Command = cli
    name, parent = "sora2", None
    while isinstance(command, click.Group) and args and not args[0].startswith("-"):
        context = click.Context(command, info_name=name, parent=parent)
        found = command.get_command(context, args[0])
        assert found is not None, f"no command {args[0]!r} under {name}"
        command, name, parent, args = found, args[0], context, args[1:]
    with contextlib.suppress(click.exceptions.Exit):  # --help, --version
        command.make_context(name, list(args), parent=parent)


def _parse_argparse(module: str, args: list[str]) -> None:
    import importlib

    parser = importlib.import_module(f"{module}.__main__")._parser()
    try:
        parser.parse_args(args)
    except SystemExit as exit_:
        assert 0 == exit_.code, f"python -m {module} {shlex.join(args)}"


def _nox_sessions() -> set[str]:
    noxfile = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    return set(re.findall(r"@nox\.session\([^)]*\)\ndef (\w+)", noxfile))


def _check(words: list[str]) -> bool:
    """Parse one command if it is one of the project's; True if it was."""
    if words[0] == "sora2":
        _parse_sora2(words[1:])
    elif words[:3] == ["python", "-m", "sora2"]:
        _parse_sora2(words[3:])
    elif words[:2] == ["python", "-m"] and len(words) > 2 and words[2] in ("codegen", "benchmarks"):
        _parse_argparse(words[2], words[3:])
    elif words[0] == "nox" and "-s" in words:
        session = words[words.index("-s") + 1].split("-3.")[0]
        assert session in _nox_sessions(), f"no nox session {session!r}"
    else:
        return False
    return True


_INPUT_FILE = re.compile(r"[\w.-][\w./-]*\.(?:jsonl|ndjson|json|csv|txt)")


def _touch_input_files(words: list[str]) -> None:
    """Create (empty, in the test's folder) the relative input files a command names, as the
    reader has them: the parser checks that a batch file or an --input-file exists."""
    for word in words:
        if _INPUT_FILE.fullmatch(word) and not Path(word).exists():
            Path(word).parent.mkdir(parents=True, exist_ok=True)
            Path(word).touch()


_CONSOLE = [b for b in blocks("console") if b.not_run is None]


@pytest.mark.parametrize("block", _CONSOLE, ids=lambda b: b.id)
def test_every_documented_command_parses(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each command of the project's in a console block is accepted by the real parser: the
    subcommand, every option, its value (choices and ranges from the spec) and the arguments."""
    monkeypatch.chdir(tmp_path)
    checked = 0
    for line in _command_lines(block):
        for words in _commands(line):
            _touch_input_files(words)
            try:
                checked += _check(words)
            except Exception as error:
                raise AssertionError(f"{block.id}: {line}\n{error}") from error
    if checked == 0:
        pytest.skip("no command of the project's in this block (git, an editor, cat ...)")


@pytest.mark.parametrize("block", blocks("json"), ids=lambda b: b.id)
def test_every_json_block_parses(block: Block) -> None:
    """A JSON block is one JSON value (it may be spread over several lines)."""
    json.loads(block.code)


# The API reference ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built strictly from mkdocs.yml (what ``nox -s docs`` does) into a temporary
    directory: a broken link, anchor or reference aborts it."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    site = tmp_path_factory.mktemp("site")
    config = load_config(str(ROOT / "mkdocs.yml"), site_dir=str(site), strict=True)
    build(config)
    return site


@pytest.mark.parametrize("package", ["sora2", "sora2.emulator", "sora2.contract"])
def test_every_public_name_has_an_entry_in_the_reference(built_site: Path, package: str) -> None:
    """Each name of the package's ``__all__`` is an anchor of the generated API reference."""
    import importlib

    html = "".join(
        page.read_text(encoding="utf-8") for page in (built_site / "reference").rglob("*.html")
    )
    anchors = set(re.findall(r'id="([^"]+)"', html))
    names = importlib.import_module(package).__all__
    assert [] == [name for name in names if f"{package}.{name}" not in anchors]


def test_the_cli_reference_lists_every_command_and_the_spec_options(built_site: Path) -> None:
    """The generated CLI reference has every subcommand and the options built from the spec."""
    from sora2._cli import COMMANDS
    from sora2._inputs import PROMPT_INPUT, input_fields

    html = (built_site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    assert [] == [name for name in COMMANDS if f'id="sora2-{name}"' not in html]
    flags = ["--" + name.replace("_", "-") for name in input_fields() if name != PROMPT_INPUT]
    assert flags
    assert [] == [flag for flag in flags if flag not in html]


def test_the_readme_links_land_on_pages_and_anchors_of_the_site(built_site: Path) -> None:
    """Every relative link of the README names a file of the repository, and a link into docs/
    names a page of the built site and, with ``#``, one of its anchors."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(((?!https?:)[^)\s]+)\)", readme)
    assert any(link.startswith("docs/") for link in links)
    broken = []
    for link in links:
        path, _, anchor = link.partition("#")
        if not (ROOT / path).exists():
            broken.append(link)
        elif path.startswith("docs/") and path.endswith(".md"):
            page = path.removeprefix("docs/").removesuffix(".md")
            page = "" if page == "index" else page
            html = (built_site / page / "index.html").read_text(encoding="utf-8")
            if anchor and f'id="{anchor}"' not in html:
                broken.append(link)
    assert [] == broken
