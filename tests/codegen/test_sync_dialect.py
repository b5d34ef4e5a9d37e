"""``codegen._dialect``: each quirk of RunComfy's schema dialect, normalised and reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _sync_support import edited_page, input_of, seed_blocks, spec_copy, spec_of, write_page
from jsonschema import Draft202012Validator

from codegen.__main__ import main
from codegen._dialect import normalise


def _one(schema: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    result, notes = normalise(schema, "input")
    return result, [str(note) for note in notes]


class TestQuirks:
    @pytest.mark.parametrize(
        ("dialect", "expected"),
        [("float", "number"), ("double", "number"), ("int", "integer"), ("bool", "boolean")],
    )
    def test_type_names(self, dialect: str, expected: str) -> None:
        """RunComfy's type names become JSON Schema's, in a list of types too."""
        result, notes = _one({"properties": {"a": {"type": dialect}, "b": {"type": [dialect]}}})
        assert {"a": {"type": expected}, "b": {"type": [expected]}} == result["properties"]
        assert f"input.a: type {dialect!r} -> {expected!r}" in notes

    def test_default_null_on_a_non_nullable_type_is_no_default(self) -> None:
        """``"default": null`` on a plain type is dropped; on a nullable type it stays."""
        result, notes = _one(
            {
                "properties": {
                    "seed": {"type": "integer", "default": None},
                    "tag": {"type": ["string", "null"], "default": None},
                    "any": {"default": None},
                }
            }
        )
        assert {"type": "integer"} == result["properties"]["seed"]
        assert {"type": ["string", "null"], "default": None} == result["properties"]["tag"]
        assert {"default": None} == result["properties"]["any"]
        assert ['input.seed: default null on type "integer": no default'] == notes

    def test_nullable_becomes_a_null_type(self) -> None:
        """OpenAPI 3.0's ``nullable: true`` becomes ``"null"`` in ``type`` (3.1 has no
        ``nullable``), after which ``default: null`` is a real default."""
        result, _ = _one({"type": "float", "nullable": True, "default": None})
        assert {"type": ["number", "null"], "default": None} == result

    @pytest.mark.parametrize("empty", ["", "  "])
    def test_empty_description_says_nothing(self, empty: str) -> None:
        """An empty description is dropped, so the spec's own description is kept."""
        result, notes = _one({"properties": {"size": {"type": "string", "description": empty}}})
        assert {"type": "string"} == result["properties"]["size"]
        assert ["input.size: empty description dropped: the spec's own is kept"] == notes

    def test_default_of_a_required_property_is_an_example(self) -> None:
        """A required property's default (the documented prompt) becomes an example; an optional
        property's default stays a default."""
        result, notes = _one(
            {
                "required": ["prompt"],
                "properties": {
                    "prompt": {"type": "string", "default": "A cat"},
                    "size": {"type": "string", "default": "small"},
                },
            }
        )
        assert {"type": "string", "examples": ["A cat"]} == result["properties"]["prompt"]
        assert {"type": "string", "default": "small"} == result["properties"]["size"]
        assert 1 == len(notes)
        assert notes[0].startswith('input.prompt: default "A cat" of a required property')

    def test_unknown_keywords_are_kept_as_extensions(self) -> None:
        """A keyword JSON Schema and OpenAPI do not define is kept as ``x-runcomfy-*``; known
        keywords and existing extensions pass unchanged."""
        result, notes = _one(
            {"type": "string", "ui_widget": "textarea", "x-order": 1, "maxLength": 5}
        )
        assert {
            "type": "string",
            "x-runcomfy-ui_widget": "textarea",
            "x-order": 1,
            "maxLength": 5,
        } == result
        assert ["input: unknown keyword 'ui_widget' kept as x-runcomfy-ui_widget"] == notes

    def test_nested_schemas_are_normalised(self) -> None:
        """Quirks are found in items and anyOf branches too."""
        result, notes = _one(
            {"type": "array", "items": {"type": "float"}, "anyOf": [{"type": "int"}]}
        )
        assert {"type": "number"} == result["items"]
        assert [{"type": "integer"}] == result["anyOf"]
        assert 2 == len(notes)

    def test_the_seed_normalises_to_valid_json_schema(self) -> None:
        """The seed's schemas, normalised, are valid Draft 2020-12 schemas; the input is left
        untouched."""
        input_schema, output_block = seed_blocks()
        original = repr(input_schema)
        for schema in (input_schema, output_block["output"]):
            result, _ = normalise(schema, "x")
            Draft202012Validator.check_schema(result)
        assert original == repr(input_schema)


class TestQuirksThroughSync:
    def test_a_float_property_with_a_null_default_lands_as_number_without_default(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """End to end: the written spec has ``type: number`` and no default, and the report
        lists both rewrites."""

        def edit(schema: dict[str, Any]) -> None:
            schema["properties"]["guidance"] = {
                "type": "float",
                "description": "",
                "default": None,
                "step": 0.5,
            }

        root = spec_copy(tmp_path)
        assert 0 == main(
            ["--root", str(root), "sync", str(write_page(tmp_path, edited_page(edit))), "--write"]
        )
        assert {"type": "number", "x-runcomfy-step": 0.5} == input_of(spec_of(root))["properties"][
            "guidance"
        ]
        out = capsys.readouterr().out
        for expected in (
            "input.guidance: type 'float' -> 'number'",
            'input.guidance: default null on type "number": no default',
            "input.guidance: empty description",
            "input.guidance: unknown keyword 'step' kept as x-runcomfy-step",
        ):
            assert expected in out
