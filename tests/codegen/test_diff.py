"""``codegen diff``: the recommended bump, the report, the JSON and the exit codes.

How each change is classified is pinned in ``test_compare.py``; git refs in ``test_diff_git.py``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _codegen_support import (
    CANCEL_PATH,
    NEW_OPTIONAL,
    NEW_SECONDS,
    NEW_STATE,
    STATUS_PATH,
    SUBMIT_PATH,
    Doc,
    prop,
    schemas,
    spec_document,
    write_spec,
)

from codegen.__main__ import main
from codegen._diff import SpecVersion, diff_versions

EDITS: dict[str, tuple[Callable[[Doc], None], int]] = {
    # name: (edit, exit code of --fail-on breaking)
    "request-enum-value-added": (
        lambda d: prop(d, "Input", "seconds")["enum"].append(NEW_SECONDS),
        1,
    ),
    "optional-property-added": (
        lambda d: schemas(d)["Input"]["properties"].update({NEW_OPTIONAL: {"type": "integer"}}),
        0,
    ),
    "response-enum-value-added": (
        lambda d: schemas(d)["KnownRequestState"]["enum"].append(NEW_STATE),
        1,
    ),
    "description-changed": (lambda d: schemas(d)["Input"].update(description="What."), 0),
}


def _files(tmp_path: Path, edit: Callable[[Doc], None]) -> tuple[str, str]:
    old = spec_document()
    new = copy.deepcopy(old)
    edit(new)
    return str(write_spec(tmp_path / "old.yaml", old)), str(write_spec(tmp_path / "new.yaml", new))


class TestFailOn:
    @pytest.mark.parametrize("name", sorted(EDITS))
    def test_breaking(self, name: str, tmp_path: Path) -> None:
        """``--fail-on breaking`` exits 1 exactly when a change breaks clients or servers."""
        edit, expected = EDITS[name]
        old, new = _files(tmp_path, edit)
        assert main(["diff", old, new, "--fail-on", "breaking"]) == expected
        assert main(["diff", old, new]) == 0

    def test_one_side_only(self, tmp_path: Path) -> None:
        """``client-breaking`` ignores a change that only old servers refuse; ``server-breaking``
        does not."""
        old, new = _files(tmp_path, EDITS["request-enum-value-added"][0])
        assert main(["diff", old, new, "--fail-on", "client-breaking"]) == 0
        assert main(["diff", old, new, "--fail-on", "server-breaking"]) == 1

    def test_same_file(self) -> None:
        """A spec compared with itself exits 0 even with ``--fail-on breaking``."""
        spec = str(Path(__file__).resolve().parents[2] / "spec" / "sora2.openapi.yaml")
        assert main(["diff", spec, spec, "--fail-on", "breaking"]) == 0


def _diff(edit: Callable[[Doc], None] | None = None) -> Any:
    old = spec_document()
    new = copy.deepcopy(old)
    if edit:
        edit(new)
    return diff_versions(SpecVersion("old", old), SpecVersion("new", new))


class TestBump:
    def test_no_change(self) -> None:
        """No change recommends no bump and keeps the version."""
        diff = _diff()
        assert (diff.bump, diff.next_version) == ("none", diff.old.version)

    def test_documentation_is_a_patch(self) -> None:
        """Documentation alone is a patch release."""
        diff = _diff(EDITS["description-changed"][0])
        assert diff.bump == "patch"

    def test_server_only_breakage_is_a_minor(self) -> None:
        """New request values only old servers refuse make a minor release."""
        diff = _diff(lambda d: prop(d, "Input", "seconds")["enum"].append(NEW_SECONDS))
        assert (diff.bump, diff.fails("breaking"), diff.fails("client-breaking")) == (
            "minor",
            True,
            False,
        )

    def test_client_breakage_is_a_major(self) -> None:
        """A change that breaks clients makes a major release: 1.0.0 -> 2.0.0."""
        diff = _diff(lambda d: d["paths"].pop(CANCEL_PATH))
        assert diff.bump == "major"
        assert diff.old.version == "1.0.0"
        assert diff.next_version == "2.0.0"
        assert diff.fails("client-breaking")
        assert not diff.fails("server-breaking")
        assert not diff.fails("never")


class TestOutput:
    def test_report_groups_by_operation(self) -> None:
        """The text report has a heading per operation, its changes under it, and the bump."""

        def edit(doc: Doc) -> None:
            prop(doc, "Input", "seconds")["enum"].append(NEW_SECONDS)
            schemas(doc)["KnownRequestState"]["enum"].append(NEW_STATE)

        lines = _diff(edit).report().splitlines()
        assert "Recommended version bump: major -> 2.0.0" in lines
        submit = lines.index(f"POST {SUBMIT_PATH} (submit)")
        status = lines.index(f"GET {STATUS_PATH} (status)")
        assert "BREAKING servers" in lines[submit + 1]
        assert "Input.seconds" in lines[submit + 1]
        assert "BREAKING clients" in lines[status + 1]
        assert "sora2_api: tolerated" in lines[status + 2]

    def test_json(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """``--json`` prints the bump, the counts and every change with both classifications."""
        old = spec_document()
        new = copy.deepcopy(old)
        prop(new, "Input", "seconds")["enum"].append(NEW_SECONDS)
        code = main(
            [
                "diff",
                str(write_spec(tmp_path / "a.yaml", old)),
                str(write_spec(tmp_path / "b.yaml", new)),
                "--json",
            ]
        )
        assert code == 0
        data = json.loads(capsys.readouterr().out)
        assert data["bump"] == "minor"
        assert data["next_version"] == "1.1.0"
        assert data["summary"] == {
            "changes": 1,
            "breaking_for_clients": 0,
            "breaking_for_servers": 1,
        }
        (change,) = data["changes"]
        assert change["kind"] == "enum-value-added"
        assert change["operation_id"] == "submit"
        assert (change["breaks_clients"], change["breaks_servers"]) == (False, True)

    def test_unreadable_version(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A file that is not an OpenAPI document is refused with exit 2 and one line."""
        bad = tmp_path / "bad.yaml"
        bad.write_text("- just a list\n", encoding="utf-8")
        assert main(["diff", str(bad), str(bad)]) == 2
        assert capsys.readouterr().err.count("\n") == 1
