"""``codegen lint``: the spec's examples match their schemas, and each broken rule is one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _codegen_support import (
    SPEC,
    Example,
    copy_repo,
    iter_examples,
    run_codegen,
    spec_document,
    write_spec,
)

from codegen import _lint
from codegen.__main__ import main

EXAMPLES = list(iter_examples(spec_document()))


class TestSpecExamples:
    def test_every_operation_documents_examples(self) -> None:
        """Every operation of the spec has request or response examples to check."""
        operations = {e.operation_id for e in EXAMPLES}
        assert {"submit", "status", "result", "cancel"} <= operations
        assert any(e.status is None for e in EXAMPLES)
        assert any(e.media == "text/html" for e in EXAMPLES)

    @pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.id)
    def test_example_matches_its_schema(self, example: Example) -> None:
        """Each documented example validates against the schema of its media type."""
        checker = _lint._Examples(spec_document())
        assert checker.problem(example.schema_pointer, example.value) is None

    def test_a_wrong_example_is_caught(self) -> None:
        """The example checker is not vacuous: an out-of-enum duration is refused."""
        checker = _lint._Examples(spec_document())
        submit = next(e for e in EXAMPLES if e.operation_id == "submit" and e.status is None)
        problem = checker.problem(submit.schema_pointer, {**submit.value, "seconds": -1})
        assert problem is not None
        assert "seconds" in problem

    def test_the_real_spec_is_clean(self) -> None:
        """``lint_document`` finds no problem in the working tree's spec."""
        assert _lint.lint_document(spec_document()) == []


def _submit(document: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = document["paths"]["/v1/models/openai/sora-2/text-to-video"]["post"]
    return op


def _drop_operation_id(document: dict[str, Any]) -> None:
    del _submit(document)["operationId"]


def _drop_422(document: dict[str, Any]) -> None:
    del _submit(document)["responses"]["422"]


def _break_example(document: dict[str, Any]) -> None:
    examples = _submit(document)["requestBody"]["content"]["application/json"]["examples"]
    examples["landscape12"]["value"]["seconds"] = "twelve"


BREAKAGES = {
    "missing-operation-id": (_drop_operation_id, ["no operationId"]),
    "missing-422": (_drop_422, ["no 422 response"]),
    "example-breaks-schema": (_break_example, ["'landscape12' does not match its schema"]),
}


class TestLintCommand:
    def test_real_spec_exits_0(self) -> None:
        """``python -m codegen lint`` passes on the repository's spec, as a subprocess."""
        root = SPEC.parents[1]
        proc = run_codegen(root, "lint")
        assert proc.returncode == 0, proc.stderr
        assert "no problems" in proc.stdout

    @pytest.mark.parametrize("name", sorted(BREAKAGES))
    def test_broken_copy_exits_1_with_one_line(
        self, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A copy with one broken rule fails with exactly one line naming that rule."""
        breakage, expected = BREAKAGES[name]
        document = spec_document()
        breakage(document)
        write_spec(tmp_path / "spec" / "sora2.openapi.yaml", document)
        assert main(["--root", str(tmp_path), "lint"]) == 1
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 1, lines
        assert all(text in lines[0] for text in expected), lines[0]
        assert "POST /v1/models/openai/sora-2/text-to-video" in lines[0]

    def test_all_breakages_give_one_line_each(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Three broken rules at once give three lines, one per problem."""
        document = spec_document()
        for breakage, _ in BREAKAGES.values():
            breakage(document)
        write_spec(tmp_path / "spec" / "sora2.openapi.yaml", document)
        assert main(["--root", str(tmp_path), "lint"]) == 1
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 3, lines

    def test_copied_spec_is_clean(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Copying the spec into another root changes nothing: the clean copy exits 0."""
        copy_repo(tmp_path, ("spec",))
        assert main(["--root", str(tmp_path), "lint"]) == 0
        assert capsys.readouterr().err == ""
