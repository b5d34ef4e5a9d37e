"""``codegen sync``: the seed round trip, each kind of upstream change, sources and exit codes.

Each upstream change is an edited copy of the seed page; each sync runs on a copy of the spec.
How the dialect is normalised is pinned in ``test_sync_dialect.py``; ``--live`` in
``test_sync_live.py``.
"""

from __future__ import annotations

import difflib
import html
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from _codegen_support import ROOT, SPEC, run_codegen
from _sync_support import (
    SEED,
    edited_page,
    input_of,
    output_of,
    seed_blocks,
    seed_text,
    spec_copy,
    spec_of,
    write_page,
)

from codegen.__main__ import main
from codegen._sync import sync_text
from codegen._upstream import page_schemas

NEW_SIZE = "1792x1024"


def _sync(root: Path, source: Path, *flags: str) -> int:
    return main(["--root", str(root), "sync", str(source), *flags])


def _kinds(root: Path, page: str, tmp_path: Path) -> list[str]:
    """The kinds of change ``sync`` finds for ``page`` against the spec at ``root``."""
    upstream = page_schemas(page, "page")
    spec_text = (root / "spec" / SPEC.name).read_text(encoding="utf-8")
    return [change.kind for change in sync_text(spec_text, upstream).diff.changes]


class TestSeedRoundTrip:
    def test_check_exits_0_as_the_issue_runs_it(self) -> None:
        """`python -m codegen sync spec/upstream/<page> --check` from the repository root exits
        0: the spec already matches the seed, up to its judgement calls."""
        relative = os.path.relpath(SEED, ROOT)
        env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'generated'}"}
        proc = subprocess.run(
            [sys.executable, "-m", "codegen", "sync", relative, "--check"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert 0 == proc.returncode, proc.stdout + proc.stderr
        assert "No changes." in proc.stdout
        assert "is in step with the upstream schema" in proc.stdout

    def test_reports_the_normalisations_and_the_kept_judgement_calls(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The report lists what was read differently (empty descriptions, the prompt's default)
        and the spec's own constraints that the seed does not mention."""
        assert 0 == _sync(spec_copy(tmp_path), SEED, "--check")
        out = capsys.readouterr().out
        required = seed_blocks()[0]["required"]
        for name in required:
            assert f"input.{name}: default" in out
            assert "of a required property -> examples" in out
        assert "empty description dropped: the spec's own is kept" in out
        assert "input: additionalProperties: true" in out

    def test_a_judgement_call_added_to_the_spec_is_kept(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A hand-authored constraint the upstream does not mention (a prompt ``pattern``) is a
        judgement call: the seed still round-trips, and the report says it was kept."""
        prompt = seed_blocks()[0]["required"][0]
        root = spec_copy(tmp_path)
        path = root / "spec" / SPEC.name
        document = spec_of(root)
        schema = input_of(document)["properties"][prompt]
        text = path.read_text(encoding="utf-8")
        anchor = "          minLength: 1\n"
        assert anchor in text
        if "pattern" not in schema:
            text = text.replace(anchor, anchor + "          pattern: '\\S'\n", 1)
            path.write_text(text, encoding="utf-8")
        before = path.read_bytes()
        assert 0 == _sync(root, SEED, "--check")
        assert f"input.{prompt}: pattern:" in capsys.readouterr().out
        assert before == path.read_bytes()


class TestChanges:
    """Each kind of change an upstream page can bring, merged into a copy of the spec."""

    def test_new_property(self, tmp_path: Path) -> None:
        """A new input property is added with its type, bounds and default; an unknown keyword
        is kept as ``x-runcomfy-*``; the diff calls it a new optional request property."""

        def edit(schema: dict[str, Any]) -> None:
            schema["properties"]["seed"] = {
                "title": "Seed",
                "description": "Same seed, same video.",
                "type": "int",
                "minimum": 0,
                "maximum": 2147483647,
                "default": None,
                "ui_widget": "number",
            }

        root = spec_copy(tmp_path)
        assert 0 == _sync(root, write_page(tmp_path, edited_page(edit)), "--write")
        added = input_of(spec_of(root))["properties"]["seed"]
        assert {
            "title": "Seed",
            "description": "Same seed, same video.",
            "type": "integer",
            "minimum": 0,
            "maximum": 2147483647,
            "x-runcomfy-ui_widget": "number",
        } == added
        assert ["property-added"] == _kinds(
            spec_copy(tmp_path / "again"), edited_page(edit), tmp_path
        )

    def test_removed_property(self, tmp_path: Path) -> None:
        """A property the upstream no longer lists is removed from the spec (breaking for
        servers built from the old spec, which still expect it)."""
        name = next(
            n for n in seed_blocks()[0]["properties"] if n not in seed_blocks()[0]["required"]
        )
        page = edited_page(lambda s: s["properties"].pop(name))
        root = spec_copy(tmp_path)
        assert ["property-removed"] == _kinds(root, page, tmp_path)
        _sync(root, write_page(tmp_path, page), "--write")
        assert name not in input_of(spec_of(root))["properties"]

    def test_enum_value_added(self, tmp_path: Path) -> None:
        """A new enum value lands at the end of the spec's enum."""
        page = edited_page(lambda s: s["properties"]["size"]["enum"].append(NEW_SIZE))
        root = spec_copy(tmp_path)
        assert 0 == _sync(root, write_page(tmp_path, page), "--write")
        assert [*seed_blocks()[0]["properties"]["size"]["enum"], NEW_SIZE] == input_of(
            spec_of(root)
        )["properties"]["size"]["enum"]
        assert ["enum-value-added"] == _kinds(spec_copy(tmp_path / "b"), page, tmp_path)

    def test_enum_value_removed_that_an_example_uses(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Removing an enum value a spec example uses is merged, and the lint problem it causes
        is reported with exit 1, for a human to fix the example."""
        values = seed_blocks()[0]["properties"]["size"]["enum"]
        default = seed_blocks()[0]["properties"]["size"]["default"]
        gone = next(v for v in values if v != default)
        page = edited_page(lambda s: s["properties"]["size"]["enum"].remove(gone))
        root = spec_copy(tmp_path)
        assert 1 == _sync(root, write_page(tmp_path, page), "--write")
        out = capsys.readouterr().out
        assert "enum: value" in out and "removed" in out
        assert "does not pass `codegen lint`" in out
        assert gone not in input_of(spec_of(root))["properties"]["size"]["enum"]

    def test_changed_default(self, tmp_path: Path) -> None:
        """A new default replaces the spec's, in place."""
        values = seed_blocks()[0]["properties"]["seconds"]["enum"]
        new = values[-1]
        page = edited_page(lambda s: s["properties"]["seconds"].update(default=new))
        root = spec_copy(tmp_path)
        assert ["default-changed"] == _kinds(root, page, tmp_path)
        _sync(root, write_page(tmp_path, page), "--write")
        assert new == input_of(spec_of(root))["properties"]["seconds"]["default"]

    def test_changed_constraint(self, tmp_path: Path) -> None:
        """A bound the upstream gives is the upstream's: a new maxLength is added and a different
        minLength replaces the spec's judgement call."""
        prompt = seed_blocks()[0]["required"][0]
        page = edited_page(lambda s: s["properties"][prompt].update(minLength=3, maxLength=2000))
        root = spec_copy(tmp_path)
        assert {"constraint-changed"} == set(_kinds(root, page, tmp_path))
        _sync(root, write_page(tmp_path, page), "--write")
        schema = input_of(spec_of(root))["properties"][prompt]
        assert (3, 2000) == (schema["minLength"], schema["maxLength"])

    def test_required_change(self, tmp_path: Path) -> None:
        """A property the upstream now requires joins ``required``, after the spec's own."""
        required = seed_blocks()[0]["required"]
        page = edited_page(lambda s: s["required"].append("size"))
        root = spec_copy(tmp_path)
        assert "property-required-changed" in _kinds(root, page, tmp_path)
        _sync(root, write_page(tmp_path, page), "--write")
        assert [*required, "size"] == input_of(spec_of(root))["required"]

    def test_new_output_field(self, tmp_path: Path) -> None:
        """A new output property is added to the output object, ``float`` read as ``number``;
        the diff calls it a new optional response property."""
        page = edited_page(
            edit_output=lambda o: o["properties"].update(
                duration={"type": "float", "description": "seconds of video"}
            )
        )
        root = spec_copy(tmp_path)
        assert ["property-added"] == _kinds(root, page, tmp_path)
        _sync(root, write_page(tmp_path, page), "--write")
        assert {"type": "number", "description": "seconds of video"} == output_of(spec_of(root))[
            "properties"
        ]["duration"]

    def test_output_enum_is_written_open(self, tmp_path: Path) -> None:
        """An enum in the output is written as the spec's open enum (anyOf the values and a
        string), so clients built from it parse a value added later."""
        page = edited_page(
            edit_output=lambda o: o["properties"].update(
                container={"type": "string", "enum": ["mp4", "webm"]}
            )
        )
        root = spec_copy(tmp_path)
        _sync(root, write_page(tmp_path, page), "--write")
        assert {
            "anyOf": [{"type": "string", "enum": ["mp4", "webm"]}, {"type": "string"}]
        } == output_of(spec_of(root))["properties"]["container"]
        # And a value added to it later updates the known values, still open.
        page = edited_page(
            edit_output=lambda o: o["properties"].update(
                container={"type": "string", "enum": ["mp4", "webm", "mov"]}
            )
        )
        _sync(root, write_page(tmp_path, page, "again.txt"), "--write")
        assert ["mp4", "webm", "mov"] == output_of(spec_of(root))["properties"]["container"][
            "anyOf"
        ][0]["enum"]

    def test_upstream_description_replaces_ours_unless_it_records_a_judgement_call(
        self, tmp_path: Path
    ) -> None:
        """A non-empty upstream description wins over a plain hand-written one; one recording a
        "Judgement call" stays the spec's."""

        def edit(schema: dict[str, Any]) -> None:
            schema["description"] = "The model's input."
            schema["properties"]["size"]["description"] = "Output resolution."

        root = spec_copy(tmp_path)
        assert "Judgement call" in input_of(spec_of(root))["description"]
        kept = input_of(spec_of(root))["description"]
        _sync(root, write_page(tmp_path, edited_page(edit)), "--write")
        synced = input_of(spec_of(root))
        assert kept == synced["description"]
        assert "Output resolution." == synced["properties"]["size"]["description"]


class TestSources:
    def test_html_page(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A page saved as HTML (tags, entities, highlighted JSON) gives the same merge as the
        same page saved as text."""
        text = edited_page(lambda s: s["properties"]["size"]["enum"].append(NEW_SIZE))
        body = "".join(
            f"<pre><code>{''.join(f'<span>{html.escape(c)}</span>' for c in part)}</code></pre>"
            if part.lstrip().startswith("{")
            else f"<h3>{html.escape(part)}</h3>"
            for part in _split_blocks(text)
        )
        page = f"<!DOCTYPE html><html><head><style>h3{{}}</style></head><body>{body}</body></html>"
        assert "&quot;" in page
        root_html, root_text = spec_copy(tmp_path / "h"), spec_copy(tmp_path / "t")
        assert 0 == _sync(root_html, write_page(tmp_path, page, "page.html"), "--write")
        assert 0 == _sync(root_text, write_page(tmp_path, text), "--write")
        assert (root_text / "spec" / SPEC.name).read_text() == (
            root_html / "spec" / SPEC.name
        ).read_text()
        assert NEW_SIZE in input_of(spec_of(root_html))["properties"]["size"]["enum"]

    def test_links_to_other_models_do_not_decide_the_model(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The page's model is the one its curl examples call, not a related model it links to."""
        other = "/v1/models/openai/sora-2/image-to-video"
        nav = f'<nav><a href="{other}">{other}</a></nav>'
        page = f"<html><body>{nav}<pre>{html.escape(seed_text())}</pre></body></html>"
        root = spec_copy(tmp_path)
        assert 0 == _sync(root, write_page(tmp_path, page, "page.html"), "--check")
        assert "(model openai/sora-2/text-to-video)" in capsys.readouterr().out

    def test_bare_input_schema(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A JSON file holding just an input schema merges the input and leaves the output."""
        schema = seed_blocks()[0]
        schema["properties"]["size"]["enum"].append(NEW_SIZE)
        source = write_page(tmp_path, json.dumps(schema), "input.json")
        root = spec_copy(tmp_path)
        output_before = output_of(spec_of(root))
        assert 1 == _sync(root, source, "--check")
        assert "No output schema upstream" in capsys.readouterr().out
        assert 0 == _sync(root, source, "--write")
        assert NEW_SIZE in input_of(spec_of(root))["properties"]["size"]["enum"]
        assert output_before == output_of(spec_of(root))

    @pytest.mark.parametrize("missing", ["input_schema", "output_schema"])
    def test_model_document_with_a_missing_schema(self, tmp_path: Path, missing: str) -> None:
        """A model document may lack either schema: the other one is merged, the missing side
        of the spec is left as it is."""
        input_schema, output_block = seed_blocks()
        input_schema["properties"]["size"]["enum"].append(NEW_SIZE)
        output_block["output"]["properties"]["duration"] = {"type": "number"}
        document: dict[str, Any] = {
            "model_id": "openai/sora-2/text-to-video",
            "input_schema": input_schema,
            "output_schema": output_block,
        }
        del document[missing]
        root = spec_copy(tmp_path)
        before = spec_of(root)
        assert 0 == _sync(root, write_page(tmp_path, json.dumps(document), "m.json"), "--write")
        after = spec_of(root)
        sizes = input_of(after)["properties"]["size"]["enum"]
        assert (missing == "input_schema") == (NEW_SIZE not in sizes)
        if missing == "input_schema":
            assert input_of(before) == input_of(after)
            assert "duration" in output_of(after)["properties"]
        else:
            assert output_of(before) == output_of(after)

    def test_model_document_with_neither_schema_is_refused(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Nothing to merge is a usage error (exit 2), not "in step"."""
        source = write_page(tmp_path, json.dumps({"model_id": "x"}), "m.json")
        assert 2 == _sync(spec_copy(tmp_path), source, "--check")
        assert "neither schema" in capsys.readouterr().err

    def test_another_model_is_refused(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A model document for another model is refused (exit 2) rather than merged."""
        document = {"model_id": "someone/else/image-to-video", "input_schema": seed_blocks()[0]}
        source = write_page(tmp_path, json.dumps(document), "m.json")
        root = spec_copy(tmp_path)
        before = (root / "spec" / SPEC.name).read_bytes()
        assert 2 == _sync(root, source, "--write")
        assert "someone/else/image-to-video" in capsys.readouterr().err
        assert before == (root / "spec" / SPEC.name).read_bytes()

    def test_a_page_without_schemas_is_refused(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A page with no schema block exits 2 and says which headings it looked for."""
        source = write_page(tmp_path, seed_text().split("5. Schema")[0])
        assert 2 == _sync(spec_copy(tmp_path), source, "--check")
        assert "Input schema" in capsys.readouterr().err


def _split_blocks(text: str) -> list[str]:
    """The page cut into prose and JSON-block parts at the two schema blocks."""
    decoder = json.JSONDecoder()
    parts: list[str] = []
    rest = text
    for heading in ("Input schema", "Output schema"):
        start = rest.index("{", rest.index(heading))
        _, end = decoder.raw_decode(rest, start)
        parts += [rest[:start], rest[start:end]]
        rest = rest[end:]
    return [*parts, rest]


class TestModes:
    def test_check_exits_1_and_writes_nothing(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--check on a differing upstream exits 1 and leaves the spec byte for byte."""
        page = write_page(
            tmp_path, edited_page(lambda s: s["properties"]["size"]["enum"].append(NEW_SIZE))
        )
        root = spec_copy(tmp_path)
        before = (root / "spec" / SPEC.name).read_bytes()
        assert 1 == _sync(root, page, "--check")
        assert "nothing written" in capsys.readouterr().out
        assert before == (root / "spec" / SPEC.name).read_bytes()

    def test_without_a_flag_it_only_reports(self, tmp_path: Path) -> None:
        """No flag: the report, exit 0, nothing written."""
        page = write_page(
            tmp_path, edited_page(lambda s: s["properties"]["size"]["enum"].append(NEW_SIZE))
        )
        root = spec_copy(tmp_path)
        before = (root / "spec" / SPEC.name).read_bytes()
        assert 0 == _sync(root, page)
        assert before == (root / "spec" / SPEC.name).read_bytes()

    def test_write_then_check_is_in_step(self, tmp_path: Path) -> None:
        """After --write, --check on the same upstream exits 0: the merge is idempotent."""
        page = write_page(
            tmp_path,
            edited_page(
                lambda s: s["properties"]["size"]["enum"].append(NEW_SIZE),
                lambda o: o["properties"].update(container={"type": "string", "enum": ["mp4"]}),
            ),
        )
        root = spec_copy(tmp_path)
        assert 0 == _sync(root, page, "--write")
        written = (root / "spec" / SPEC.name).read_bytes()
        assert 0 == _sync(root, page, "--check")
        assert 0 == _sync(root, page, "--write")
        assert written == (root / "spec" / SPEC.name).read_bytes()

    def test_source_and_live_are_exclusive(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Exactly one of SOURCE and --live: neither or both is a usage error."""
        assert 2 == main(["sync"])
        assert 2 == main(["sync", str(SEED), "--live", "openai/sora-2/text-to-video"])


class TestFormatting:
    def test_only_the_changed_lines_change_and_comments_stay(self, tmp_path: Path) -> None:
        """The written spec equals the old one line for line except the merged lines: quoting,
        block scalars, flow lists, long lines and comments all stay."""

        def commented(text: str) -> str:
            lines = text.splitlines(keepends=True)
            at = next(i for i, line in enumerate(lines) if line.strip() == "enum:")
            lines.insert(at, "          # The sizes the service renders.\n")
            lines.insert(0, "# sora2's spec, hand-authored.\n")
            return "".join(lines)

        root = spec_copy(tmp_path, commented)
        path = root / "spec" / SPEC.name
        before = path.read_text(encoding="utf-8")
        page = edited_page(lambda s: s["properties"]["size"]["enum"].append(NEW_SIZE))
        assert 0 == _sync(root, write_page(tmp_path, page), "--write")
        after = path.read_text(encoding="utf-8")
        changed = [
            line
            for line in difflib.unified_diff(
                before.splitlines(), after.splitlines(), lineterm="", n=0
            )
            if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
        ]
        assert [f"+            - {NEW_SIZE}"] == changed
        assert "# The sizes the service renders." in after
        assert after.startswith("# sora2's spec, hand-authored.\n")

    def test_new_property_lines_follow_the_house_layout(self, tmp_path: Path) -> None:
        """A new property is written in block style, keys in the spec's order, at the end of the
        properties, and nothing else moves."""

        def edit(schema: dict[str, Any]) -> None:
            schema["properties"]["seed"] = {"type": "integer", "title": "Seed", "minimum": 0}

        root = spec_copy(tmp_path)
        path = root / "spec" / SPEC.name
        before = path.read_text(encoding="utf-8")
        _sync(root, write_page(tmp_path, edited_page(edit)), "--write")
        added = [
            line[1:]
            for line in difflib.unified_diff(
                before.splitlines(), path.read_text("utf-8").splitlines(), lineterm="", n=0
            )
            if line.startswith("+") and not line.startswith("+++")
        ]
        assert [
            "        seed:",
            "          title: Seed",
            "          type: integer",
            "          minimum: 0",
        ] == added


def _size_as_ref(text: str) -> str:
    """The spec with the ``size`` property moved to a component it refers to."""
    lines = text.splitlines(keepends=True)
    start = lines.index("        size:\n")
    end = start + 1
    while lines[end].startswith("          "):
        end += 1
    body = [line[4:] for line in lines[start + 1 : end]]
    lines[start:end] = ["        size:\n", "          $ref: '#/components/schemas/SizeChoice'\n"]
    at = lines.index("  schemas:\n") + 1
    lines[at:at] = ["    SizeChoice:\n", *body]
    return "".join(lines)


class TestReferences:
    def test_a_property_that_refers_to_a_component_is_merged_into_it(self, tmp_path: Path) -> None:
        """A hand-authored ``$ref`` stays; the upstream's change lands in the component it names,
        and the seed still round-trips."""
        root = spec_copy(tmp_path, _size_as_ref)
        assert 0 == _sync(root, SEED, "--check")
        page = edited_page(lambda s: s["properties"]["size"]["enum"].append(NEW_SIZE))
        assert 0 == _sync(root, write_page(tmp_path, page), "--write")
        document = spec_of(root)
        assert {"$ref": "#/components/schemas/SizeChoice"} == input_of(document)["properties"][
            "size"
        ]
        assert NEW_SIZE in document["components"]["schemas"]["SizeChoice"]["enum"]


class TestMultiline:
    def test_a_multiline_description_is_a_block_scalar_and_round_trips(
        self, tmp_path: Path
    ) -> None:
        """A description with line breaks is written as a ``|`` block, like the hand-written
        ones, and reads back equal, so a second sync finds nothing to do."""
        text = "Random seed.\n\nThe same seed and prompt give the same video."

        def edit(schema: dict[str, Any]) -> None:
            schema["properties"]["seed"] = {"type": "integer", "description": text}

        root = spec_copy(tmp_path)
        page = write_page(tmp_path, edited_page(edit))
        assert 0 == _sync(root, page, "--write")
        assert "          description: |-\n" in (root / "spec" / SPEC.name).read_text("utf-8")
        assert text == input_of(spec_of(root))["properties"]["seed"]["description"]
        assert 0 == _sync(root, page, "--check")


class TestGenerate:
    def test_generate_writes_and_regenerates(self, repo: Path) -> None:
        """--generate writes the spec and regenerates generated/ from it: `codegen check` then
        finds no drift, and the generated spec copy has the new value."""
        page = write_page(
            repo.parent, edited_page(lambda s: s["properties"]["size"]["enum"].append(NEW_SIZE))
        )
        proc = run_codegen(repo, "sync", str(page), "--generate")
        assert 0 == proc.returncode, proc.stdout + proc.stderr
        assert "regenerated generated" in proc.stdout
        shipped = json.loads((repo / "generated" / "sora2_api" / "openapi.json").read_text())
        assert NEW_SIZE in input_of(shipped)["properties"]["size"]["enum"]
        check = run_codegen(repo, "check")
        assert 0 == check.returncode, check.stdout + check.stderr
