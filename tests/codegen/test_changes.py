"""``codegen changes`` (``nox -s changes``): the base it picks and the CHANGELOG draft it writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from _codegen_support import (
    NEW_SECONDS,
    NEW_STATE,
    GitRepo,
    prop,
    schemas,
    spec_document,
    write_spec,
)

from codegen.__main__ import main
from codegen._changes import BEGIN, release_base


@pytest.fixture
def released(tmp_path: Path) -> GitRepo:
    """A repository whose spec was released as v1.0.0 and then given a new duration."""
    repo = GitRepo(tmp_path / "repo")
    document = spec_document()
    repo.commit(document, "spec 1.0.0", tag="v1.0.0")
    prop(document, "Input", "seconds")["enum"].append(NEW_SECONDS)
    write_spec(repo.spec, document)
    return repo


def _changes(repo: GitRepo, *args: str) -> int:
    return main(["--root", str(repo.root), "changes", *args])


class TestReleaseBase:
    def test_last_v_tag(self, released: GitRepo) -> None:
        """The newest ``v*`` tag is the base; other tags are not releases."""
        released.git("add", "-A")
        released.git("commit", "-q", "-m", "duration")
        released.git("tag", "v1.1.0")
        released.git("tag", "nightly")
        assert release_base(released.root) == "v1.1.0"

    def test_main_without_tags(self, tmp_path: Path) -> None:
        """Without a release tag the base is ``main``."""
        repo = GitRepo(tmp_path / "repo")
        repo.commit(spec_document(), "spec")
        assert release_base(repo.root) == "main"

    def test_head_without_main(self, tmp_path: Path) -> None:
        """Without a tag or a ``main`` branch the base is ``HEAD``."""
        repo = GitRepo(tmp_path / "repo", branch="trunk")
        repo.commit(spec_document(), "spec")
        assert release_base(repo.root) == "HEAD"


class TestDraft:
    def test_creates_changelog(self, released: GitRepo) -> None:
        """A missing CHANGELOG.md is created with a title and a draft classifying the change."""
        assert _changes(released) == 0
        text = (released.root / "CHANGELOG.md").read_text(encoding="utf-8")
        assert text.startswith("# Changelog\n")
        assert "## Unreleased (draft): spec 1.0.0 -> 1.0.0" in text
        assert "since `v1.0.0`" in text
        assert "Recommended version bump: **minor** (1.1.0)" in text
        assert "set it to 1.1.0" in text
        servers = text.index("### Breaking for servers built from the old spec")
        assert f"Input.seconds: enum: value {NEW_SECONDS} added" in text[servers:]
        assert "### Breaking for clients" not in text

    def test_rerun_replaces_the_draft(self, released: GitRepo) -> None:
        """Running again replaces the draft instead of adding a second one."""
        assert _changes(released) == 0
        document = spec_document()
        prop(document, "Input", "seconds")["enum"].append(NEW_SECONDS)
        schemas(document)["KnownRequestState"]["enum"].append(NEW_STATE)
        write_spec(released.spec, document)
        assert _changes(released) == 0
        text = (released.root / "CHANGELOG.md").read_text(encoding="utf-8")
        assert text.count(BEGIN) == 1
        assert "### Breaking for clients" in text
        assert "Recommended version bump: **major** (2.0.0)" in text

    def test_goes_above_released_entries(self, released: GitRepo) -> None:
        """In an existing changelog the draft goes above the newest release, text kept."""
        changelog = released.root / "CHANGELOG.md"
        changelog.write_text("# Changelog\n\nIntro.\n\n## 1.0.0\n\n- First.\n", encoding="utf-8")
        assert _changes(released) == 0
        text = changelog.read_text(encoding="utf-8")
        assert text.startswith("# Changelog\n\nIntro.\n\n" + BEGIN)
        assert text.index(BEGIN) < text.index("## 1.0.0") < text.index("- First.")

    def test_dry_run_prints_only(
        self, released: GitRepo, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """``--dry-run`` prints the entry and writes nothing."""
        assert _changes(released, "--dry-run") == 0
        assert BEGIN in capsys.readouterr().out
        assert not (released.root / "CHANGELOG.md").exists()

    def test_unchanged_spec(self, released: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
        """With no spec change since the base, nothing is written."""
        released.git("checkout", "-q", "--", "spec")
        assert _changes(released) == 0
        assert "unchanged since v1.0.0" in capsys.readouterr().out
        assert not (released.root / "CHANGELOG.md").exists()

    def test_explicit_base_and_file(self, released: GitRepo, tmp_path: Path) -> None:
        """``--base`` and ``--changelog`` override the defaults."""
        target = tmp_path / "NOTES.md"
        assert _changes(released, "--base", "HEAD", "--changelog", str(target)) == 0
        assert "since `HEAD`" in target.read_text(encoding="utf-8")

    def test_bad_base(self, released: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
        """A base that is not a ref exits 2 with one line."""
        assert _changes(released, "--base", "nope") == 2
        assert capsys.readouterr().err.count("\n") == 1
