"""Helpers for the ``codegen sync`` tests: the seed page, edited copies of it, spec copies."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from _codegen_support import ROOT, SPEC

# The published model page the spec was written from, kept in the repository (spec/upstream/).
SEED = ROOT / "spec" / "upstream" / "openai-sora-2-text-to-video.txt"
INPUT_HEADING = "Input schema"
OUTPUT_HEADING = "Output schema"

Edit = Callable[[dict[str, Any]], None]


def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


def _block(text: str, heading: str) -> tuple[int, int, dict[str, Any]]:
    """Start, end and value of the JSON object right after ``heading`` in the seed page."""
    start = text.index("{", text.index(heading))
    value, end = json.JSONDecoder().raw_decode(text, start)
    return start, end, value


def seed_blocks() -> tuple[dict[str, Any], dict[str, Any]]:
    """The seed page's input schema and output schema block (``{"output": {...}}``)."""
    text = seed_text()
    return _block(text, INPUT_HEADING)[2], _block(text, OUTPUT_HEADING)[2]


def edited_page(edit_input: Edit | None = None, edit_output: Edit | None = None) -> str:
    """The seed page with its input schema and output object edited in place."""
    text = seed_text()
    for heading, edit, inner in (
        (OUTPUT_HEADING, edit_output, True),  # the later block first, so offsets stay valid
        (INPUT_HEADING, edit_input, False),
    ):
        if edit is None:
            continue
        start, end, value = _block(text, heading)
        edit(value["output"] if inner else value)
        text = text[:start] + json.dumps(value, indent=1, ensure_ascii=False) + text[end:]
    return text


def write_page(tmp_path: Path, text: str, name: str = "page.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def in_step_with_seed(spec_text: str) -> str:
    """``spec_text`` merged with the seed page, as ``sync --write`` would leave it.

    The checkout's spec already matches the seed (the round-trip test pins that); a spec that
    has since gained a field upstream does not say yet, such as after an additive change in
    progress, must not turn each kind-of-change test into a report of that field too.
    """
    from codegen._sync import sync_text
    from codegen._upstream import page_schemas

    return sync_text(spec_text, page_schemas(seed_text(), str(SEED))).new_text


def spec_copy(
    tmp_path: Path, edit: Callable[[str], str] | None = None, *, seed: bool = True
) -> Path:
    """A repository root holding only a copy of the spec (all ``sync`` reads), maybe edited.

    With ``seed`` (for tests whose upstream is an edited seed page) the copy is first brought
    in step with the seed page (see ``in_step_with_seed``); without it (for tests whose
    upstream is the emulator, which serves the spec itself) it is the spec as it is.
    """
    root = tmp_path / "repo"
    (root / "spec").mkdir(parents=True)
    text = SPEC.read_text(encoding="utf-8")
    if seed:
        text = in_step_with_seed(text)
    (root / "spec" / SPEC.name).write_text(text, encoding="utf-8")
    if edit is not None:
        target = root / "spec" / SPEC.name
        target.write_text(edit(target.read_text(encoding="utf-8")), encoding="utf-8")
    return root


def spec_of(root: Path) -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load((root / "spec" / SPEC.name).read_text("utf-8"))
    return found


def input_of(document: dict[str, Any]) -> dict[str, Any]:
    """The spec's input schema: the JSON body of the submit operation, $ref followed."""
    for item in document["paths"].values():
        body = (item.get("post") or {}).get("requestBody")
        if body:
            ref = body["content"]["application/json"]["schema"]["$ref"]
            found: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
            return found
    raise AssertionError("no request body")


def output_of(document: dict[str, Any]) -> dict[str, Any]:
    """The spec's output object: the schema of the result's ``output`` property."""
    for schema in document["components"]["schemas"].values():
        ref = (schema.get("properties") or {}).get("output", {}).get("$ref")
        if ref:
            found: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
            return found
    raise AssertionError("no output")


def deep(value: Any) -> Any:
    return copy.deepcopy(value)
