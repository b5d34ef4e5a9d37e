"""Reading a batch: JSONL and CSV rows, typed from the spec, checked, keyed, and planned."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from sora2._batch._rows import (
    duration_property,
    load_rows,
    make_plan,
    row_seconds,
    size_property,
)
from sora2._exceptions import InvalidInputError
from sora2._inputs import input_fields
from sora2._spec import resolve, spec_document

from .helpers import SECONDS, SIZE, durations, rows, sizes, write_jsonl


def _spec_titles() -> dict[str, str]:
    schema = resolve(spec_document()["components"]["schemas"]["Input"])
    return {name: prop.get("title") for name, prop in schema["properties"].items()}


class TestSpecProperties:
    def test_size_and_duration_are_the_properties_titled_so(self) -> None:
        """The plan's size and duration are the properties the spec titles Resolution/Duration."""
        titles = _spec_titles()
        assert "Resolution" == titles[size_property() or ""]
        assert "Duration" == titles[duration_property() or ""]

    def test_a_left_out_duration_counts_as_the_default(self) -> None:
        """A row without a duration asks for the spec's default seconds."""
        default = input_fields()[SECONDS or ""].default
        assert float(default) == row_seconds({"prompt": "x"})


class TestDefaults:
    def test_every_row_gets_the_defaults_and_its_own_values_win(self, tmp_path: Path) -> None:
        """defaults fill what a row leaves out (the prompt too); a row's own value wins; the
        defaults are part of the key, so other defaults make other jobs."""
        first, last = sizes()[0], sizes()[-1]
        source = write_jsonl(tmp_path / "rows.jsonl", [{}, {"prompt": "own", SIZE: last}])
        defaults = {"prompt": "shared", SIZE: first}
        found = load_rows(source, defaults=defaults)
        assert [("shared", first), ("own", last)] == [
            (r.input["prompt"], r.input[SIZE]) for r in found
        ]
        assert all(r.valid for r in found)
        other = load_rows(source, defaults={"prompt": "shared", SIZE: last})
        assert found[0].key != other[0].key and found[1].key == other[1].key


class TestJsonl:
    def test_rows_are_checked_and_numbered_by_line(self, tmp_path: Path) -> None:
        """Blank lines are skipped; bad JSON, a non-object and a bad value are invalid rows
        carrying their line number, and the valid ones keep only what they gave."""
        bad_seconds = max(durations()) + 1
        text = (
            '{"prompt": "one"}\n'
            "\n"
            "{not json\n"
            "[1, 2]\n"
            f'{{"prompt": "two", "{SECONDS}": {bad_seconds}}}\n'
            '{"prompt": "three", "name": "third"}\n'
        )
        path = tmp_path / "rows.jsonl"
        path.write_text(text, encoding="utf-8")
        found = load_rows(path)
        assert [1, 3, 4, 5, 6] == [row.line for row in found]
        assert [True, False, False, False, True] == [row.valid for row in found]
        assert {"prompt": "one"} == found[0].input
        assert SECONDS == found[3].field
        assert "third" == found[4].name
        assert "name" not in found[4].input

    def test_identical_rows_are_two_jobs_and_keys_survive_reordering(self, tmp_path: Path) -> None:
        """Two identical rows get different keys; moving rows around keeps each row's key."""
        items = [{"prompt": "same"}, {"prompt": "same"}, {"prompt": "other"}]
        first = load_rows(write_jsonl(tmp_path / "a.jsonl", items))
        second = load_rows(write_jsonl(tmp_path / "b.jsonl", items[::-1]))
        assert 3 == len({row.key for row in first})
        assert {row.key for row in first} == {row.key for row in second}

    def test_a_name_used_twice_is_invalid(self, tmp_path: Path) -> None:
        """Two rows may not write the same files: the second use of a name is refused."""
        items = [{"prompt": "a", "name": "x"}, {"prompt": "b", "name": "x"}]
        found = load_rows(write_jsonl(tmp_path / "rows.jsonl", items))
        assert [True, False] == [row.valid for row in found]
        assert "line 1" in (found[1].error or "")


class TestCsv:
    def test_cells_become_the_spec_types(self, tmp_path: Path) -> None:
        """A CSV duration cell becomes the integer the spec wants, and an empty cell is unset."""
        seconds = durations()[-1]
        path = tmp_path / "rows.csv"
        path.write_text(
            f"prompt,{SIZE},{SECONDS},name\n"
            f'"a, quoted prompt",{sizes()[0]},{seconds},first\n'
            f"plain,,,\n",
            encoding="utf-8",
        )
        found = load_rows(path)
        assert [True, True] == [row.valid for row in found]
        assert {"prompt": "a, quoted prompt", SIZE: sizes()[0], SECONDS: seconds} == found[0].input
        assert "first" == found[0].name
        assert {"prompt": "plain"} == found[1].input

    def test_a_cell_that_is_not_the_type_names_the_field(self, tmp_path: Path) -> None:
        """A duration that is not a number is an invalid row naming the field, at its line."""
        path = tmp_path / "rows.csv"
        path.write_text(f"prompt,{SECONDS}\nok,{durations()[0]}\nbad,soon\n", encoding="utf-8")
        found = load_rows(path)
        assert [2, 3] == [row.line for row in found]
        assert found[0].valid
        assert f"{SECONDS}='soon'" in (found[1].error or "")

    def test_stdin_is_sniffed(self) -> None:
        """``-`` reads standard input, as CSV when it does not start with a JSON object."""
        found = load_rows("-", stdin=io.StringIO(f"prompt,{SECONDS}\nx,{durations()[0]}\n"))
        assert [{"prompt": "x", SECONDS: durations()[0]}] == [row.input for row in found]
        found = load_rows("-", stdin=io.StringIO('{"prompt": "y"}\n'))
        assert [{"prompt": "y"}] == [row.input for row in found]

    def test_a_semicolon_separated_header_is_refused_saying_why(self, tmp_path: Path) -> None:
        """A header that names no input property (a ';'-separated file) is one clear error,
        not a 'prompt is required' on every row."""
        path = tmp_path / "rows.csv"
        path.write_text(f"prompt;{SECONDS}\na cat;{durations()[0]}\n", encoding="utf-8")
        with pytest.raises(InvalidInputError) as caught:
            load_rows(path)
        assert "header" == caught.value.field
        assert "cannot read the CSV header" in str(caught.value)
        assert "separated by ';'" in str(caught.value)


class TestEmpty:
    @pytest.mark.parametrize(
        "text", ["", "\n\n", "prompt,name\n"], ids=["empty", "blank", "header"]
    )
    def test_a_file_without_rows_is_refused(self, tmp_path: Path, text: str) -> None:
        """A file (or stdin) holding no row is a mistake, refused naming it, not an empty run."""
        path = tmp_path / "rows.csv"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(InvalidInputError, match=r"rows\.csv holds no rows"):
            load_rows(path)
        with pytest.raises(InvalidInputError, match="standard input holds no rows"):
            load_rows("-", stdin=io.StringIO(text))


class TestPlan:
    def test_jobs_and_seconds_by_size(self) -> None:
        """The plan counts jobs and seconds of video per size, in the spec's size order."""
        items = rows(2 * len(sizes()) * len(durations()))
        plan = make_plan(items)
        assert len(items) == plan.jobs
        assert sum(item[SECONDS] for item in items) == plan.seconds
        assert [str(size) for size in sizes()] == list(plan.by_size)
        for size, (jobs, seconds) in plan.by_size.items():
            mine = [item for item in items if str(item[SIZE]) == size]
            assert (len(mine), float(sum(item[SECONDS] for item in mine))) == (jobs, seconds)
