"""The runner's parts: rows and tables, interleaving, selection, recording, the command line."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from benchmarks.__main__ import main
from benchmarks._loadgen import check_loopback
from benchmarks._runner import (
    BEGIN_MARKER,
    BENCHMARKS,
    END_MARKER,
    Run,
    render_markdown,
    run_benchmarks,
    select,
    write_markdown,
)
from benchmarks._table import Row, format_markdown, format_table, format_value
from benchmarks._timing import interleaved, median


class TestFormatValue:
    def test_three_significant_digits(self) -> None:
        """Small numbers keep three significant digits, large ones are grouped integers."""
        assert "0.0123 s" == format_value(0.012345, "s")
        assert "1.23" == format_value(1.2345)
        assert "12.3 ms" == format_value(12.345, "ms")
        assert "1,235 µs" == format_value(1234.6, "µs")

    def test_missing_value_is_blank(self) -> None:
        """A number that was not measured shows as an empty cell, not as 'None'."""
        assert "" == format_value(None, "s")


class TestRow:
    def test_verdicts(self) -> None:
        """The pass column says pass, FAIL, or '-' for a number without a target."""
        cells = [
            Row("a", "m", 1.0, passed=True).cells()[-1],
            Row("a", "m", 1.0, passed=False).cells()[-1],
            Row("a", "m", 1.0).cells()[-1],
        ]
        assert ["pass", "FAIL", "-"] == cells

    def test_baseline_is_named_and_ratio_has_an_x(self) -> None:
        """The baseline cell names what it measured; the ratio reads like '1.50x'."""
        row = Row("calls", "µs", 3.0, 2.0, 1.5, unit="µs", baseline_name="raw httpx")
        assert ("3.00 µs", "2.00 µs (raw httpx)", "1.50x") == row.cells()[2:5]


class TestTables:
    def test_text_table_aligns_columns(self) -> None:
        """Every row starts its metric column where the header's does."""
        rows = [Row("short", "metric one", 1.0), Row("a much longer name", "metric two", 2.0)]
        lines = format_table(rows).splitlines()
        column = lines[0].index("metric")
        assert ["metric one", "metric two"] == [line[column:].split("  ")[0] for line in lines[2:]]

    def test_markdown_escapes_pipes(self) -> None:
        """A '|' inside a cell cannot break the Markdown table."""
        table = format_markdown([Row("a|b", "m", 1.0)])
        assert "| a\\|b |" in table.splitlines()[2]


class TestInterleaved:
    def test_rotates_the_order_each_round(self) -> None:
        """Candidates run once per round, and each round starts with the next candidate."""
        calls: list[str] = []

        def candidate(name: str) -> float:
            calls.append(name)
            return float(len(calls))

        samples = interleaved({n: partial(candidate, n) for n in "abc"}, rounds=3)
        assert list("abcbcacab") == calls
        assert [1.0, 6.0, 8.0] == samples["a"]

    def test_median(self) -> None:
        """The median of an even count is the mean of the middle two."""
        assert 2.5 == median([4.0, 1.0, 2.0, 3.0])


class TestSelect:
    def test_no_pattern_selects_all(self) -> None:
        """Without -k every benchmark runs, in table order."""
        assert list(BENCHMARKS) == select([])

    def test_patterns_match_substrings(self) -> None:
        """-k matches part of a name, and several -k add up."""
        assert ["calls", "polling"] == select(["call", "poll"])
        assert [] == select(["nothing-like-this"])


class TestRunBenchmarks:
    def test_a_broken_benchmark_is_reported_and_the_rest_run(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """One benchmark that cannot run is recorded as an error without hiding the others."""
        monkeypatch.setitem(BENCHMARKS, "broken", "benchmarks._table:no_such_benchmark")
        result = run_benchmarks(["broken"])
        assert ["broken"] == list(result.errors)
        assert "AttributeError" in result.errors["broken"]
        assert [] == result.rows
        assert "broken" in result.seconds


class TestMarkdown:
    def test_render_has_machine_facts_table_and_markers(self) -> None:
        """The recorded block names the command, the machine and every row, between markers."""
        run = Run(rows=[Row("calls: x", "µs", 2.0, 1.0, 2.0, passed=False)], seconds={"calls": 1.0})
        text = render_markdown(run, "python -m benchmarks --write")
        assert text.startswith(BEGIN_MARKER)
        assert text.rstrip().endswith(END_MARKER)
        for expected in ("python -m benchmarks --write", "| cpu |", "| cores |", "| calls: x |"):
            assert expected in text

    def test_write_keeps_text_outside_the_markers(self, tmp_path: Path) -> None:
        """Writing again replaces only the generated block; hand-written notes survive."""
        path = tmp_path / "BENCHMARKS.md"
        write_markdown(path, f"{BEGIN_MARKER}\nold\n{END_MARKER}\n")
        path.write_text("# Title\n\nbefore\n\n" + path.read_text().split("\n", 2)[2] + "after\n")
        write_markdown(path, f"{BEGIN_MARKER}\nnew\n{END_MARKER}\n")
        text = path.read_text()
        assert "before" in text and "after" in text and "new" in text
        assert "old" not in text

    def test_write_creates_a_missing_file(self, tmp_path: Path) -> None:
        """A first run makes the file, with a heading above the generated block."""
        path = tmp_path / "BENCHMARKS.md"
        write_markdown(path, f"{BEGIN_MARKER}\nrows\n{END_MARKER}\n")
        assert path.read_text().startswith("# Benchmarks\n\n" + BEGIN_MARKER)


class TestCommandLine:
    def test_list(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--list prints every benchmark name and runs nothing."""
        assert 0 == main(["--list"])
        assert list(BENCHMARKS) == capsys.readouterr().out.split()

    def test_unknown_name_is_a_usage_error(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A -k that matches nothing exits 2 and says so."""
        assert 2 == main(["-k", "nothing-like-this"])
        assert "no benchmark matches" in capsys.readouterr().err


class TestLoadgen:
    @pytest.mark.parametrize(
        "url", ["http://127.0.0.1:1/", "http://localhost:1/", "http://[::1]:1/"]
    )
    def test_loopback_is_allowed(self, url: str) -> None:
        """Load may go to this machine's loopback addresses."""
        check_loopback(url)

    @pytest.mark.parametrize("url", ["http://10.0.0.1/", "http://example.com/", "http://8.8.8.8/"])
    def test_anything_else_is_refused(self, url: str) -> None:
        """Load never goes to another address, private or public."""
        with pytest.raises(SystemExit, match="loopback addresses only"):
            check_loopback(url)


class TestScaleSizes:
    def test_the_flag_sets_the_job_counts(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """`--scale-jobs 1000,10_000` makes the scale benchmark measure both sizes."""
        import benchmarks.bench_scale as scale

        monkeypatch.setattr(scale, "_sizes", scale.JOBS)
        assert 2 == main(["-k", "no-such-benchmark", "--scale-jobs", "1000,10_000"])  # none ran
        assert (1000, 10_000) == scale._sizes

    @pytest.mark.parametrize("bad", ["0", "ten", "1000,-1"])
    def test_nonsense_is_refused(self, bad: str) -> None:
        """A job count that is not a whole number of at least one is a usage error."""
        with pytest.raises(SystemExit):
            main(["-k", "scale", "--scale-jobs", bad])
