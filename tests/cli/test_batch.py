"""``sora2 batch``: dry run, plan, JSON summary, exit codes, CSV on stdin, budget, re-runs."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sora2._cli import EXIT_BATCH_INCOMPLETE
from sora2._cli._batch import EXIT_BATCH_INVALID
from sora2._inputs import duration_property, size_property
from sora2.emulator import Emulator, create_app, serve

from .helpers import TOKEN, FakeClock, choices, run

SIZE = size_property() or ""
SECONDS = duration_property() or ""


@pytest.fixture
def app(fake_time: FakeClock) -> Emulator:
    return create_app(clock=fake_time.monotonic, token=TOKEN)


@pytest.fixture
def url(app: Emulator, token: str) -> Iterator[str]:
    """A real emulator over HTTP on 127.0.0.1, on the tests' fake clock."""
    with serve(app) as found:
        yield found


def _rows(count: int) -> list[dict[str, Any]]:
    sizes, seconds = choices(SIZE), choices(SECONDS)
    return [
        {"prompt": f"clip {i}", SIZE: sizes[i % len(sizes)], SECONDS: seconds[i % len(seconds)]}
        for i in range(count)
    ]


def _jsonl(path: Path, items: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    return str(path)


def _submitted(app: Emulator) -> int:
    return sum(app.stats.submissions.values())


class TestDryRun:
    def test_prints_invalid_lines_and_the_plan_and_exits_2(
        self, app: Emulator, url: str, isolated: Path
    ) -> None:
        """Each invalid row's line and problem, then jobs and seconds by size; nothing sent."""
        items = _rows(4)
        items[2][SECONDS] = max(choices(SECONDS)) + 1
        source = _jsonl(isolated / "rows.jsonl", items)
        result = run("batch", source, "--out-dir", "out", "--dry-run", "--base-url", url)
        assert EXIT_BATCH_INVALID == result.exit_code
        assert f"line 3: {SECONDS}=" in result.stdout
        valid = [item for i, item in enumerate(items) if i != 2]
        total = sum(item[SECONDS] for item in valid)
        assert f"plan: {len(valid)} jobs, {total:g} seconds of video" in result.stdout
        assert "1 invalid row; nothing submitted" in result.stdout
        for size in {str(item[SIZE]) for item in valid}:
            mine = [item for item in valid if str(item[SIZE]) == size]
            seconds = sum(item[SECONDS] for item in mine)
            jobs = f"{len(mine)} job" + ("s" if len(mine) != 1 else "")
            assert f"  {size}: {jobs}, {seconds:g} s" in result.stdout
        assert 0 == _submitted(app)
        assert not (isolated / "out").exists()

    def test_all_valid_exits_0(self, url: str, isolated: Path) -> None:
        """A dry run of valid rows exits 0, and --json gives the plan as one object."""
        source = _jsonl(isolated / "rows.jsonl", _rows(3))
        result = run("batch", source, "--out-dir", "out", "--dry-run", "--json", "--base-url", url)
        assert 0 == result.exit_code
        assert 3 == json.loads(result.stdout)["plan"]["jobs"]

    def test_shows_where_the_budget_will_stop(
        self, app: Emulator, url: str, isolated: Path
    ) -> None:
        """--dry-run with --max-jobs/--max-seconds says at which row submitting would stop."""
        items = _rows(3)
        source = _jsonl(isolated / "rows.jsonl", items)
        common = ("batch", source, "--out-dir", "out", "--dry-run", "--base-url", url)
        result = run(*common, "--max-jobs", "2")
        assert 0 == result.exit_code
        assert (
            "budget: would stop submitting: --max-jobs 2 reached (2 jobs submitted; row 3 "
            "would be one more); 2 of 3 jobs would be submitted"
        ) in result.stdout
        first = float(items[0][SECONDS])
        result = run(*common, "--max-seconds", f"{first:g}", "--json")
        stop = json.loads(result.stdout)["budget_stop"]
        assert f"--max-seconds {first:g} reached ({first:g} s submitted; row 2 asks" in stop
        assert stop.endswith("1 of 3 jobs would be submitted")
        assert 0 == _submitted(app)


class TestInputFile:
    @pytest.mark.parametrize("text", ["", "prompt\n"], ids=["empty", "header-only"])
    def test_an_empty_file_is_a_usage_error(self, url: str, isolated: Path, text: str) -> None:
        """A batch file without rows exits 2 (bad input), saying so, and writes nothing."""
        (isolated / "rows.csv").write_text(text, encoding="utf-8")
        result = run("batch", "rows.csv", "--out-dir", "out", "--base-url", url)
        assert 2 == result.exit_code
        assert "rows.csv holds no rows" in result.stderr
        assert not (isolated / "out").exists()

    def test_an_unreadable_csv_header_says_so(self, url: str, isolated: Path) -> None:
        """A semicolon-separated CSV gets one error about its header, exit 2."""
        (isolated / "rows.csv").write_text("prompt;name\na cat;cat\n", encoding="utf-8")
        result = run("batch", "rows.csv", "--out-dir", "out", "--dry-run", "--base-url", url)
        assert 2 == result.exit_code
        assert "cannot read the CSV header 'prompt;name'" in result.stderr
        assert "separated by ';'" in result.stderr

    @pytest.mark.parametrize(
        "command",
        [
            ("batch", "missing.jsonl", "--out-dir", "out"),
            ("generate", "x", "--input-file", "missing.jsonl"),
            ("submit", "x", "--input-file", "missing.jsonl"),
            ("contract", "check", "missing.jsonl"),
        ],
        ids=lambda c: c[0],
    )
    def test_a_missing_input_file_exits_2_for_every_command(
        self, command: tuple[str, ...], url: str
    ) -> None:
        """A missing input file is bad input (exit 2) whichever command was given it."""
        args = [*command, "--base-url", url] if command[0] != "contract" else list(command)
        result = run(*args)
        assert 2 == result.exit_code
        assert "missing.jsonl" in result.stderr


class TestDefaults:
    def test_options_and_input_file_give_every_row_defaults(
        self, app: Emulator, url: str, isolated: Path
    ) -> None:
        """The input options and --input-file (a whole body, prompt included) give defaults to
        every row; a row's own values win. The re-run hint repeats them, so it pays nothing."""
        sizes, seconds = choices(SIZE), choices(SECONDS)
        body = isolated / "body.json"
        body.write_text(json.dumps({"prompt": "the file's prompt", SIZE: sizes[0]}))
        source = _jsonl(isolated / "rows.jsonl", [{}, {"prompt": "own prompt", SIZE: sizes[-1]}])
        common = ("--input-file", str(body), "--" + SECONDS, str(seconds[-1]), "--base-url", url)
        done = run("batch", source, "--out-dir", "out", *common, "--json")
        assert 0 == done.exit_code, done.stderr
        manifest = (isolated / "out" / "manifest.jsonl").read_text().splitlines()
        inputs = [json.loads(line)["input"] for line in manifest]
        assert [
            {"prompt": "the file's prompt", SIZE: sizes[0], SECONDS: seconds[-1]},
            {"prompt": "own prompt", SIZE: sizes[-1], SECONDS: seconds[-1]},
        ] == [{k: row[k] for k in ("prompt", SIZE, SECONDS)} for row in inputs]
        again = run("batch", source, "--out-dir", "out", *common, "--json")
        assert 0 == json.loads(again.stdout)["submitted"]
        assert 2 == _submitted(app)


class TestRun:
    def test_json_summary_then_a_rerun_submits_nothing(
        self, app: Emulator, url: str, isolated: Path
    ) -> None:
        """The summary is one JSON object; the same command again submits 0 jobs, exits 0."""
        source = _jsonl(isolated / "rows.jsonl", _rows(3))
        command = ("batch", source, "--out-dir", "out", "--json", "--base-url", url)
        first = run(*command)
        assert 0 == first.exit_code, first.stderr
        summary = json.loads(first.stdout)
        assert (True, 3, 3) == (summary["ok"], summary["counts"]["completed"], summary["submitted"])
        second = run(*command)
        assert 0 == second.exit_code
        assert 0 == json.loads(second.stdout)["submitted"]
        assert 3 == _submitted(app)
        assert TOKEN not in first.stdout + first.stderr

    def test_invalid_rows_run_the_rest_and_exit_7(
        self, app: Emulator, url: str, isolated: Path
    ) -> None:
        """Valid rows complete, the invalid one is reported, and the exit code says incomplete."""
        items = _rows(3)
        items[0]["prompt"] = ""
        source = _jsonl(isolated / "rows.jsonl", items)
        result = run("batch", source, "--out-dir", "out", "--base-url", url)
        assert EXIT_BATCH_INCOMPLETE == result.exit_code
        assert 2 == _submitted(app)
        assert "row 1: invalid" in result.stdout
        assert "row 2: submitted" in result.stderr  # plain progress lines off a terminal

    def test_csv_on_stdin(self, app: Emulator, url: str, isolated: Path) -> None:
        """``-`` reads CSV from stdin; its cells are typed from the spec before submitting."""
        items = _rows(2)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["prompt", SIZE, SECONDS, "name"])
        writer.writeheader()
        for index, item in enumerate(items):
            writer.writerow({**item, "name": f"csv{index}"})
        result = run("batch", "-", "--out-dir", "out", "--base-url", url, input=buffer.getvalue())
        assert 0 == result.exit_code, result.stderr
        assert {"csv0.mp4", "csv1.mp4", "manifest.jsonl"} == {
            p.name for p in (isolated / "out").iterdir()
        }
        lines = [
            json.loads(x)
            for x in (isolated / "out" / "manifest.jsonl").read_text().split("\n")
            if x
        ]
        assert [item[SECONDS] for item in items] == [line["input"][SECONDS] for line in lines]

    def test_budget_stop_is_said(self, app: Emulator, url: str, isolated: Path) -> None:
        """--max-jobs stops submitting, says so, and exits incomplete with the rest pending."""
        source = _jsonl(isolated / "rows.jsonl", _rows(3))
        result = run("batch", source, "--out-dir", "out", "--max-jobs", "1", "--base-url", url)
        assert EXIT_BATCH_INCOMPLETE == result.exit_code
        assert 1 == _submitted(app)
        assert "stopped submitting: --max-jobs 1 reached" in result.stdout
        assert "budget: --max-jobs 1 reached" in result.stderr

    def test_quiet_prints_nothing_on_stderr(self, url: str, isolated: Path) -> None:
        """-q: no progress lines on stderr; the summary (the result) is still on stdout."""
        source = _jsonl(isolated / "rows.jsonl", _rows(2))
        result = run("batch", source, "--out-dir", "out", "-q", "--base-url", url)
        assert 0 == result.exit_code
        assert "" == result.stderr
        assert result.stdout.startswith("2 rows: 2 completed")

    def test_quiet_still_prints_errors(self, url: str, isolated: Path) -> None:
        """-q keeps the error line of a batch that did not complete."""
        source = _jsonl(isolated / "rows.jsonl", _rows(2))
        result = run(
            "batch", source, "--out-dir", "out", "-q", "--max-jobs", "1", "--base-url", url
        )
        assert EXIT_BATCH_INCOMPLETE == result.exit_code
        assert ["sora2: error: 1 of 2 rows did not complete"] == [
            line.partition(";")[0] for line in result.stderr.splitlines()
        ]

    def test_one_row_is_said_in_the_singular(self, url: str, isolated: Path) -> None:
        """A batch of one row says "1 row" and a budget of one "1 job submitted"."""
        source = _jsonl(isolated / "rows.jsonl", _rows(2))
        result = run("batch", source, "--out-dir", "out", "--max-jobs", "1", "--base-url", url)
        assert "(1 job submitted;" in result.stdout
        single = _jsonl(isolated / "one.jsonl", _rows(1))
        result = run("batch", single, "--out-dir", "one", "--base-url", url)
        assert result.stdout.startswith("1 row: 1 completed")

    def test_a_rerun_says_it_follows_jobs_submitted_earlier(
        self, app: Emulator, url: str, isolated: Path
    ) -> None:
        """Jobs an earlier run paid for are "following ID (submitted earlier)" on a re-run,
        never "submitted"."""
        source = _jsonl(isolated / "rows.jsonl", _rows(2))
        command = ("batch", source, "--out-dir", "out", "--base-url", url)
        app.faults = "video:500"  # the jobs complete, their files cannot be fetched
        first = run(*command)
        assert EXIT_BATCH_INCOMPLETE == first.exit_code
        ids = [
            json.loads(line)["request_id"]
            for line in (isolated / "out" / "manifest.jsonl").read_text().splitlines()
        ]
        assert all(f"submitted {request_id}" in first.stderr for request_id in ids)
        app.faults = ""
        second = run(*command)
        assert 0 == second.exit_code, second.stderr
        assert 2 == _submitted(app)
        for row, request_id in enumerate(ids, start=1):
            assert f"row {row}: following {request_id} (submitted earlier)" in second.stderr
            assert f"submitted {request_id}" not in second.stderr


class TestCtrlCOnATerminal:
    @pytest.mark.parametrize("answer", ["y", "n"])
    def test_asks_whether_to_cancel_the_queued_jobs(
        self,
        fake_time: FakeClock,
        token: str,
        isolated: Path,
        monkeypatch: pytest.MonkeyPatch,
        answer: str,
    ) -> None:
        """With a person at a terminal, Ctrl-C asks about the queued jobs: yes cancels them,
        no leaves them running; either way every id is in the manifest and the exit is 130."""
        import os
        import signal

        from sora2._cli import EXIT_INTERRUPTED, _batch

        monkeypatch.setattr(_batch, "_stdin_is_tty", lambda: True)
        original = _batch._PlainDisplay.__call__
        items = _rows(2)

        interrupted: list[bool] = []

        def interrupt_once_all_submitted(self: Any, progress: Any, row: Any) -> None:
            original(self, progress, row)
            if row is not None and row.row == len(items) and row.request_id and not interrupted:
                interrupted.append(True)  # once: a second Ctrl-C would stop the cancelling too
                os.kill(os.getpid(), signal.SIGINT)

        monkeypatch.setattr(_batch._PlainDisplay, "__call__", interrupt_once_all_submitted)
        # So slow that nothing leaves the queue however far the polls move the fake clock.
        slow = create_app(clock=fake_time.monotonic, token=TOKEN, speed=1e-9)
        source = _jsonl(isolated / "rows.jsonl", items)
        with serve(slow) as url:
            result = run(
                "batch",
                source,
                "--out-dir",
                "out",
                "--concurrency",
                "2",
                "--base-url",
                url,
                input=answer + "\n",
            )
        assert EXIT_INTERRUPTED == result.exit_code
        assert "Cancel the 2 jobs still queued?" in result.stderr
        lines = [
            json.loads(x) for x in (isolated / "out" / "manifest.jsonl").read_text().splitlines()
        ]
        assert all(line["request_id"] for line in lines)
        states = {slow.job(line["request_id"]).state for line in lines}  # type: ignore[union-attr]
        if answer == "y":
            assert {"cancelled"} == {line["state"] for line in lines} == states
        else:
            assert {"pending"} == {line["state"] for line in lines}
            assert "cancelled" not in states
            assert "jobs left running" in result.stderr
