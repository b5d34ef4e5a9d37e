"""``codegen diff`` with git refs, in a throwaway repository: tags, ``HEAD~1``, the working tree."""

from __future__ import annotations

import json
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


@pytest.fixture
def history(tmp_path: Path) -> GitRepo:
    """v1.0.0 is the real spec; the next commit adds a duration; the working tree a state."""
    repo = GitRepo(tmp_path / "repo")
    document = spec_document()
    repo.commit(document, "spec 1.0.0", tag="v1.0.0")
    prop(document, "Input", "seconds")["enum"].append(NEW_SECONDS)
    repo.commit(document, "add a duration")
    schemas(document)["KnownRequestState"]["enum"].append(NEW_STATE)
    write_spec(repo.spec, document)
    return repo


def _kinds(repo: GitRepo, capsys: pytest.CaptureFixture[str], *refs: str) -> list[str]:
    assert main(["--root", str(repo.root), "diff", *refs, "--json"]) == 0
    return [c["kind"] + ":" + c["path"] for c in json.loads(capsys.readouterr().out)["changes"]]


def test_tag_to_head(history: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    """A tag and HEAD are read from git: only the committed duration differs."""
    assert _kinds(history, capsys, "v1.0.0", "HEAD") == ["enum-value-added:Input.seconds"]


def test_previous_commit_to_working_tree(
    history: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    """With one ref, NEW is the working tree: HEAD~1 to it shows both edits."""
    kinds = _kinds(history, capsys, "HEAD~1")
    assert "enum-value-added:Input.seconds" in kinds
    assert any(k.startswith("enum-value-added:RequestStatus.status") for k in kinds)


def test_ref_and_path(history: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    """``REF:path`` reads another file of a commit."""
    assert _kinds(history, capsys, "v1.0.0:spec/sora2.openapi.yaml", "v1.0.0") == []


def test_fail_on_breaking_against_a_tag(history: GitRepo) -> None:
    """The working tree's new state breaks clients, so ``--fail-on breaking`` exits 1."""
    assert main(["--root", str(history.root), "diff", "HEAD", "--fail-on", "breaking"]) == 1


def test_unknown_ref(history: GitRepo, capsys: pytest.CaptureFixture[str]) -> None:
    """A name that is neither a file nor a ref exits 2 with one line saying so."""
    assert main(["--root", str(history.root), "diff", "v9.9.9"]) == 2
    err = capsys.readouterr().err
    assert "v9.9.9" in err
    assert "neither a file nor a git ref" in err
