"""``python -m codegen generate`` on a copy: it fails, and keeps ``generated/``, when a generator
leaves part of the spec out."""

from __future__ import annotations

from pathlib import Path

import pytest
from _codegen_support import copy_repo, run_codegen, schemas, spec_document, write_spec

pytestmark = pytest.mark.slow


def test_a_dropped_endpoint_fails_the_build(tmp_path: Path) -> None:
    """Two inline object inputs with one title make openapi-python-client drop ``submit`` with
    a mere warning (exit 0); ``generate`` exits 1 saying what was left out, and the copy's
    ``generated/`` is the one from before."""
    root = copy_repo(tmp_path / "repo")
    document = spec_document()
    properties = schemas(document)["Input"]["properties"]
    for name in ("twin_a", "twin_b"):
        while name in properties:
            name += "_new"
        properties[name] = {"title": "Twin", "type": "object", "additionalProperties": True}
    write_spec(root / "spec" / "sora2.openapi.yaml", document)
    before = sorted(p.name for p in (root / "generated").rglob("*.py"))

    proc = run_codegen(root, "generate")

    assert 1 == proc.returncode, proc.stdout
    assert "left parts of the spec out" in proc.stderr
    assert "Endpoint will not be generated" in proc.stderr
    assert before == sorted(p.name for p in (root / "generated").rglob("*.py"))
