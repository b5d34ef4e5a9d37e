"""``codegen sync --all``: every saved page of spec/upstream/pages.yaml, each merged into the
operation of the model the page itself names, on a copy of spec/."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from _codegen_support import ROOT
from _sync_support import seed_text

from codegen.__main__ import main
from codegen._paths import Layout
from codegen._sync import read_pages

UPSTREAM = ROOT / "spec" / "upstream"


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "spec", root / "spec")
    return root


def _spec(root: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(
        (root / "spec" / "sora2.openapi.yaml").read_text("utf-8")
    )
    return document


def _input_of(document: dict[str, Any], model_id: str) -> dict[str, Any]:
    body = document["paths"]["/v1/models/" + model_id]["post"]["requestBody"]
    ref = body["content"]["application/json"]["schema"]["$ref"]
    found: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return found


def _index(root: Path) -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load((root / "spec" / "upstream" / "pages.yaml").read_text())
    return found


def _save_index(root: Path, index: dict[str, Any]) -> None:
    (root / "spec" / "upstream" / "pages.yaml").write_text(yaml.safe_dump(index), "utf-8")


def _page_for(model_id: str, new_property: str) -> str:
    """The seed page, retold as ``model_id``'s page with one more input property."""
    text = seed_text().replace("openai/sora-2/text-to-video", model_id)
    start = text.index("{", text.index("Input schema"))
    schema, end = json.JSONDecoder().raw_decode(text, start)
    schema["properties"] = {
        "prompt": schema["properties"]["prompt"],
        new_property: {"title": "Style", "description": "", "type": "string", "enum": ["a", "b"]},
    }
    return text[:start] + json.dumps(schema, indent=1) + text[end:]


def _sync_all(root: Path, *flags: str) -> int:
    return main(["--root", str(root), "sync", "--all", *flags])


def test_the_repository_is_in_step(capsys: pytest.CaptureFixture[str]) -> None:
    """``sync --all --check`` on this checkout exits 0 and reports every page by its model."""
    assert 0 == _sync_all(ROOT, "--check")
    out = capsys.readouterr().out
    for page in read_pages(Layout(ROOT)):
        assert f"== {page.model}" in out


def test_a_page_syncs_into_the_model_it_names(tmp_path: Path) -> None:
    """A page of a non-default model merges into that model's input schema and no other."""
    root = _copy(tmp_path)
    index = _index(root)
    other = next(p for p in index["pages"] if p["model"] != _spec(root)["x-default-model"])
    (root / "spec" / "upstream" / other["file"]).write_text(
        _page_for(other["model"], "drill_style"), "utf-8"
    )
    other.pop("complete", None)
    _save_index(root, index)
    assert 1 == _sync_all(root, "--check")
    assert 0 == _sync_all(root, "--write")
    document = _spec(root)
    assert "drill_style" in _input_of(document, other["model"])["properties"]
    for model_id in (p["model"] for p in index["pages"] if p is not other):
        assert "drill_style" not in _input_of(document, model_id)["properties"]
    assert 0 == _sync_all(root, "--check")


def test_a_page_of_a_model_the_spec_lacks_stops_the_sync(tmp_path: Path) -> None:
    """A page naming a model the spec has no path for exits 2 and writes nothing."""
    root = _copy(tmp_path)
    before = (root / "spec" / "sora2.openapi.yaml").read_text("utf-8")
    (root / "spec" / "upstream" / "extra.txt").write_text(
        _page_for("openai/sora-3/text-to-video", "x_new"), "utf-8"
    )
    index = _index(root)
    index["pages"].append(
        {"model": "openai/sora-3/text-to-video", "file": "extra.txt", "source": "https://x"}
    )
    _save_index(root, index)
    assert 2 == _sync_all(root, "--write")
    assert before == (root / "spec" / "sora2.openapi.yaml").read_text("utf-8")


def test_the_index_and_the_page_must_agree(tmp_path: Path) -> None:
    """An entry whose page names another model than the index says exits 2."""
    root = _copy(tmp_path)
    index = _index(root)
    models = [p["model"] for p in index["pages"]]
    index["pages"][0]["model"] = models[-1]
    _save_index(root, index)
    assert 2 == _sync_all(root, "--check")


def test_a_page_without_schema_must_be_marked_incomplete(tmp_path: Path) -> None:
    """A page with no schema block is an error unless the index marks it ``complete: false``."""
    root = _copy(tmp_path)
    index = _index(root)
    incomplete = [p for p in index["pages"] if p.get("complete") is False]
    if not incomplete:
        pytest.skip("every saved page has its schema")
    incomplete[0].pop("complete")
    _save_index(root, index)
    assert 2 == _sync_all(root, "--check")


def test_one_source_form_still_takes_a_page(capsys: pytest.CaptureFixture[str]) -> None:
    """The single-SOURCE form still syncs the seed's page, into the model it names."""
    page = next(p for p in read_pages(Layout(ROOT)) if p.complete)
    assert 0 == main(["--root", str(ROOT), "sync", str(page.file), "--check"])
    assert page.model in capsys.readouterr().out
