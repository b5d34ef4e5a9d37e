"""A ``model`` column: each row runs on the model it names (default: the spec's default model),
checked against that model's own input schema; an unknown model makes the row invalid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sora2 import AsyncClient
from sora2._batch._rows import MODEL_FIELD, load_rows
from sora2._inputs import input_fields
from sora2._journal import Journal
from sora2._spec import default_model, known_models, resolve
from sora2.emulator import Emulator

from .helpers import manifest, submissions, write_jsonl

pytestmark = pytest.mark.anyio


def _row(model_id: str, prompt: str) -> dict[str, Any]:
    """A valid row for ``model_id``: the prompt and each required input from the spec's
    examples."""
    row: dict[str, Any] = {"prompt": prompt, MODEL_FIELD: model_id}
    for name, field in input_fields(model_id).items():
        if field.required and name not in row:
            row[name] = (field.schema.get("examples") or resolve(field.schema)["examples"])[0]
    return row


def test_a_row_is_checked_against_its_models_schema(tmp_path: Path) -> None:
    """A row valid for one model is invalid for another that requires more, naming the
    missing input; an unknown model is invalid, naming the known ones."""
    needy = next((m for m in known_models() if len(_row(m, "x")) > 2), None)
    if needy is None:
        pytest.skip("no model requires more than a prompt")
    extra = next(k for k in _row(needy, "x") if k not in ("prompt", MODEL_FIELD))
    found = load_rows(
        [
            _row(needy, "ok"),
            {"prompt": "missing", MODEL_FIELD: needy},
            {"prompt": "unknown", MODEL_FIELD: "openai/sora-9/nothing"},
        ]
    )
    assert [True, False, False] == [r.valid for r in found]
    assert needy == found[0].model
    assert extra == found[1].field
    assert "model" == found[2].field
    assert all(m in (found[2].error or "") for m in known_models())


def test_a_row_without_a_model_keeps_its_key() -> None:
    """Naming the default model changes a row's key, leaving it out does not: a manifest
    written before the column existed still matches its rows."""
    plain, named = load_rows([{"prompt": "x"}, {"prompt": "x", MODEL_FIELD: default_model()}])
    assert plain.model is None and default_model() == named.model
    assert plain.key != named.key


async def test_a_batch_mixing_every_model_completes(
    aclient: AsyncClient, emulator: Emulator, tmp_path: Path
) -> None:
    """One batch with a row per model: every row completes, its manifest line and its journal
    row name its model, and a re-run submits nothing."""
    items = [_row(m, f"clip {i}") for i, m in enumerate(known_models())]
    source = write_jsonl(tmp_path / "rows.jsonl", items)
    out = tmp_path / "out"
    summary = await aclient.batch(source, out_dir=out)
    assert summary.ok
    lines = manifest(out)
    assert list(known_models()) == [line["model"] for line in lines]
    assert ["completed"] * len(items) == [line["state"] for line in lines]
    journal = Journal(tmp_path / "journal.sqlite3")
    try:
        by_id = {r.request_id: r.model for r in journal.records()}
    finally:
        journal.close()
    assert [line["model"] for line in lines] == [by_id[line["request_id"]] for line in lines]
    before = submissions(emulator)
    again = await aclient.batch(source, out_dir=out)
    assert 0 == again.submitted
    assert before == submissions(emulator)
